//! `oss serve`: the fleet in a browser. An HTTP server (axum) over one engine session that
//! only reads: HTML pages (maud templates compiled into the binary, CSS and JS embedded, no
//! download at run time) and the same data as JSON under `/api/`.
//!
//! It never takes the state lock, never asks a provider to change anything, and never prints:
//! the CLI learns the bound address through `ready`. Live apply progress comes from the
//! backend's journal: [`watch`] loads the state (journal folded in) every `poll` and streams
//! what changed to the pages as server-sent events. Secrets never reach a page: the state
//! holds none, and any value that holds one of the strategy's secrets anyway is shown as
//! `(sensitive)` ([`source::redact`]). Health comes from the monitor's loop run in-process
//! without repairs ([`health`]).

mod auth;
mod detail;
mod fleet;
mod health;
mod history;
mod metrics;
mod pages;
mod plans;
mod routes;
mod source;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Token, TokenError};

use crate::engine::Session;

/// What `oss serve` was asked for, resolved before anything starts.
pub struct Options {
    pub listen: SocketAddr,
    /// Required to listen on anything but loopback; when given, every request must carry it.
    pub token: Option<Token>,
    /// How often the state is loaded again for live progress.
    pub poll: Duration,
    /// Saved plans (`oss plan --out`) the Plans page renders.
    pub plans: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "Refusing to listen on {listen}: it is not a loopback address and no --token-file was given"
    )]
    NeedsToken { listen: SocketAddr },
    #[error("Cannot listen on {listen}")]
    Bind {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("The state cannot be read")]
    State(#[from] crate::state::StateError),
    #[error("The server stopped")]
    Stopped(#[source] std::io::Error),
}

impl Options {
    /// Checks the rule of the listening address: loopback, or a token.
    pub fn check(&self) -> Result<(), ServeError> {
        if self.token.is_none() && !self.listen.ip().is_loopback() {
            return Err(ServeError::NeedsToken {
                listen: self.listen,
            });
        }
        Ok(())
    }
}

/// Serves until `shutdown` completes. `ready` is called with the bound address once the
/// server accepts connections.
pub async fn run(
    session: Arc<Session>,
    options: Options,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    options.check()?;
    let source = source::Source::open(session, &options).await?;
    let stopping = source.stopping.clone();
    let app = routes::router(source, options.token);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            listen: options.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Bind {
        listen: options.listen,
        source,
    })?;
    ready(bound);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping.cancel();
        })
        .await
        .map_err(ServeError::Stopped)
}
