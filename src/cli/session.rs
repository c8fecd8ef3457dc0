//! What every command starts from: the strategy (found, read, its secrets noted for
//! redaction), the state backend it names, the engine session over both, and how output
//! looks (colour and progress only on a terminal, `NO_COLOR` honoured).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::Cli;
use super::failure::{self, Failure};
use super::progress::Progress;
use crate::engine::Session;
use crate::strategy::{self, Strategy};

/// The secrets met so far (values of `env.` references), replaced in every error printed.
#[derive(Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    fn extend(&mut self, secrets: &[String]) {
        super::panic::keep_secret(secrets);
        self.0
            .extend(secrets.iter().filter(|s| !s.is_empty()).cloned());
    }

    /// `text` with every secret replaced by `(sensitive)`.
    pub fn redact(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, s| {
            t.replace(s.as_str(), "(sensitive)")
        })
    }
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && !no_color()
}

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && !no_color()
}

/// The progress reporter for stderr.
pub fn progress() -> Arc<Progress> {
    Arc::new(Progress::new(
        std::io::stderr().is_terminal(),
        stderr_color(),
    ))
}

fn strategy_path(given: &Option<PathBuf>) -> PathBuf {
    match given {
        Some(p) => p.clone(),
        None if Path::new("strategy.json").exists() => PathBuf::from("strategy.json"),
        None => PathBuf::from("strategy.sample.json"),
    }
}

fn load_strategy(cli: &Cli, secrets: &mut Secrets) -> Result<Strategy, Failure> {
    let path = strategy_path(&cli.strategy);
    let strategy = strategy::load_with(&path, &|name| std::env::var(name).ok(), &cli.vars)
        .map_err(|e| {
            let read = matches!(e, strategy::StrategyError::Read { .. });
            let failure = Failure::from(e);
            if read {
                failure.with_hint("pass -s FILE, or run oss where strategy.json is")
            } else {
                failure
            }
        })?;
    secrets.extend(&strategy.secrets);
    // Old spellings read as today's: said once, on stderr, with how to write them now.
    for note in &strategy.notes {
        super::output::errln!("warning: {}", note.located(&strategy.path));
    }
    Ok(strategy)
}

/// Opens the strategy's session: its drivers and its state backend.
pub async fn open(cli: &Cli, secrets: &mut Secrets) -> Result<Session, Failure> {
    let strategy = load_strategy(cli, secrets)?;
    let backend = crate::state::open_backend(
        &backend_spec(cli, &strategy),
        &cli.state_dir,
        &strategy.name,
    )
    .await
    .map_err(Failure::from)?;
    Session::open(strategy, &cli.state_dir, backend).map_err(failure::engine)
}

/// The state backend: `--backend`/`OSS_BACKEND` first, then the strategy's `state` block,
/// else the local files.
fn backend_spec(cli: &Cli, strategy: &Strategy) -> crate::state::BackendSpec {
    match &cli.backend {
        Some(kind) => crate::state::BackendSpec {
            kind: kind.clone(),
            url: cli.backend_url.clone(),
        },
        None => strategy.state.clone().unwrap_or_default(),
    }
}
