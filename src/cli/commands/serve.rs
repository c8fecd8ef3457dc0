//! `oss serve`: the dashboard. Resolves the flags (the token read once, the loopback rule
//! checked) before anything starts, says where it listens on stderr, and serves until Ctrl-C
//! or SIGTERM.

use std::sync::Arc;

use super::super::args::{Cli, ServeArgs};
use super::super::failure::{ExitStatus, Failure};
use super::super::output::errln;
use super::super::session::{self, Secrets};
use crate::serve::{self, Options, ServeError, Token, TokenError};

pub async fn run(
    cli: &Cli,
    args: &ServeArgs,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let token = match &args.token_file {
        Some(path) => Some(Token::read(path).map_err(token_failure)?),
        None => None,
    };
    let options = Options {
        listen: args.listen,
        token,
        poll: args.poll,
        plans: args.plans.clone(),
    };
    options.check().map_err(serve_failure)?;
    let session = Arc::new(session::open(cli, secrets).await?);
    let guarded = options.token.is_some();
    serve::run(
        session,
        options,
        |bound| {
            let note = if guarded { " (token required)" } else { "" };
            errln!("Serving the dashboard on http://{bound}/{note}; Ctrl-C stops it.");
        },
        stopped(),
    )
    .await
    .map_err(serve_failure)?;
    Ok(ExitStatus::Success)
}

/// Completes on Ctrl-C or SIGTERM.
pub(super) async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        }
        _ => std::future::pending().await,
    }
}

fn token_failure(e: TokenError) -> Failure {
    let hint = match &e {
        TokenError::Shared { path, .. } => format!("chmod 600 {}", path.display()),
        TokenError::Empty { .. } => "write the token on the file's first line".to_string(),
        TokenError::Read { .. } => "give a readable file with --token-file".to_string(),
    };
    Failure::from(e).with_hint(hint)
}

fn serve_failure(e: ServeError) -> Failure {
    let hint = match &e {
        ServeError::NeedsToken { .. } => Some(
            "listen on 127.0.0.1 (the default), or give --token-file FILE holding a token"
                .to_string(),
        ),
        ServeError::Bind { .. } => {
            Some("pick another port with --listen 127.0.0.1:PORT (0: any free one)".to_string())
        }
        _ => None,
    };
    let failure = Failure::from(e);
    match hint {
        Some(hint) => failure.with_hint(hint),
        None => failure,
    }
}
