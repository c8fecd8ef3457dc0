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

/// The secrets met so far (values of `env.` and `secret.` references), replaced in every
/// error printed.
#[derive(Default)]
pub struct Secrets(zeroize::Zeroizing<Vec<String>>);

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
    // The vault is opened at the first `secret.NAME` (shares, agent or terminal) and only
    // then; an unlock that fails is the error, naming the share at fault.
    let how = super::shares::unlock_settings(cli, true);
    let vault = std::cell::RefCell::new(None);
    let lookup = |name: &str| -> Result<String, String> {
        let mut slot = vault.borrow_mut();
        match slot.get_or_insert_with(|| super::shares::unlock(&how)) {
            Ok((vault, keys)) => vault
                .get(&keys.data, name)
                .map(|v| v.expose().to_string())
                .map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "secret.{name} cannot be read: the vault is locked."
            )),
        }
    };
    let loaded =
        strategy::load_resolving(&path, &|name| std::env::var(name).ok(), &lookup, &cli.vars);
    if let Some(Err(failure)) = vault.take() {
        return Err(failure);
    }
    let strategy = loaded.map_err(|e| {
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
    let backend = crate::state::open_backend_with(
        &backend_spec(cli, &strategy),
        &cli.state_dir,
        &strategy.name,
        &key_context(cli),
    )
    .await
    .map_err(Failure::from)?;
    Session::open(strategy, &cli.state_dir, backend).map_err(failure::engine)
}

/// What the state's key providers may use: the vault's shares (`--share`, `OSS_SHARES`, the
/// agent), as `secret.` references do.
pub fn key_context(cli: &Cli) -> crate::state::encryption::provider::Context {
    crate::state::encryption::provider::Context {
        unlock: Some(super::shares::unlock_settings(cli, true)),
    }
}

/// The state backend: `--backend`/`OSS_BACKEND` first, then the strategy's `state` block,
/// else the local files. The strategy's encryption holds whichever backend is used.
pub fn backend_spec(cli: &Cli, strategy: &Strategy) -> crate::state::BackendSpec {
    match &cli.backend {
        Some(kind) => crate::state::BackendSpec {
            kind: kind.clone(),
            url: cli.backend_url.clone(),
            encryption: strategy.state.as_ref().and_then(|s| s.encryption.clone()),
        },
        None => strategy.state.clone().unwrap_or_default(),
    }
}
