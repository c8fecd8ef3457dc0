//! `oss state list|show|pull|push|versions|migrate`: reading and moving the state document
//! (`rm` and `mv` are in [`super::state_rm`] and [`super::state_mv`]).

use super::super::args::{Cli, StateCommand};
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::{self, outln};
use super::super::session::{self, Secrets};
use super::show::to_json;
use crate::echo::{Echo, EchoPath};
use crate::engine::{EngineError, Session};

pub async fn run(
    cli: &Cli,
    sub: &StateCommand,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    match sub {
        StateCommand::List | StateCommand::Show { .. } => show(&session, sub).await,
        StateCommand::Pull { serial } => pull(&session, *serial).await,
        StateCommand::Versions { json } => versions(&session, *json).await,
        StateCommand::Push { file, force } => push(cli, &session, file, *force).await,
        StateCommand::Rm { addresses, dry_run } => {
            super::state_rm::run(cli, &session, addresses, *dry_run).await
        }
        StateCommand::Mv { from, to, dry_run } => {
            super::state_mv::run(cli, &session, from, to, *dry_run).await
        }
        StateCommand::Migrate {
            to,
            to_url,
            to_state_dir,
        } => {
            // The target keeps the strategy's encryption: a migration moves, never decrypts.
            let spec = crate::state::BackendSpec {
                kind: to.clone(),
                url: to_url.clone(),
                encryption: session::backend_spec(cli, &session.strategy)
                    .encryption
                    .clone(),
            };
            let dir = to_state_dir
                .clone()
                .unwrap_or_else(|| cli.state_dir.clone());
            migrate(cli, &session, &spec, &dir).await
        }
    }
}

async fn show(session: &Session, sub: &StateCommand) -> Result<ExitStatus, Failure> {
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    let resources = state.map(|s| s.resources).unwrap_or_default();
    if let StateCommand::Show { address } = sub {
        let key = crate::resource::Address(address.clone());
        let resource = resources.get(&key).ok_or_else(|| {
            Failure::user(
                format!("No resource {} in state", Echo(address)),
                "list addresses with `oss state list`",
            )
        })?;
        outln!("{}", to_json(resource)?);
    } else {
        for address in resources.keys() {
            outln!("{address}");
        }
    }
    Ok(ExitStatus::Success)
}

async fn pull(session: &Session, serial: Option<u64>) -> Result<ExitStatus, Failure> {
    let backend = &session.backend;
    let bytes = backend
        .raw(serial)
        .await
        .map_err(Failure::from)?
        .ok_or_else(|| {
            Failure::user(
                format!(
                    "No state {} in {}",
                    serial.map_or("yet".into(), |s| format!("version {s}")),
                    backend.describe()
                ),
                "list versions with `oss state versions`",
            )
        })?;
    output::out_bytes(&bytes);
    Ok(ExitStatus::Success)
}

async fn versions(session: &Session, json: bool) -> Result<ExitStatus, Failure> {
    let backend = &session.backend;
    let versions = backend.versions().await.map_err(Failure::from)?;
    if json {
        outln!("{}", to_json(&versions)?);
    } else {
        outln!("Versions of {}:", backend.describe());
        for v in &versions {
            outln!(
                "  serial {:>4}  {}  {}  {}  sha256 {}",
                v.serial,
                v.written_at.as_deref().unwrap_or("-"),
                v.written_by.as_deref().unwrap_or("-"),
                v.lineage,
                v.hash.get(..12).unwrap_or(&v.hash)
            );
        }
    }
    Ok(ExitStatus::Success)
}

async fn push(
    cli: &Cli,
    session: &Session,
    file: &std::path::Path,
    force: bool,
) -> Result<ExitStatus, Failure> {
    let backend = &session.backend;
    let bytes = std::fs::read(file).map_err(|e| {
        Failure::user(
            format!("Cannot read {}: {e}", EchoPath(file)),
            "give a state file saved with `oss state pull`",
        )
    })?;
    let _lock = super::change::lock(session, "state push", cli.lock_timeout).await?;
    let state = backend.push(&bytes, force).await.map_err(|e| {
        Failure::from(e).with_hint("pull the current state, or pass --force to overwrite it")
    })?;
    outln!(
        "Pushed serial {} (lineage {}) to {}.",
        state.serial,
        state.lineage,
        backend.describe()
    );
    Ok(ExitStatus::Success)
}

async fn migrate(
    cli: &Cli,
    session: &Session,
    spec: &crate::state::BackendSpec,
    dir: &std::path::Path,
) -> Result<ExitStatus, Failure> {
    let backend = &session.backend;
    let target = crate::state::open_backend_with(
        spec,
        dir,
        &session.strategy.name,
        &session::key_context(cli),
    )
    .await
    .map_err(Failure::from)?;
    if target.describe() == backend.describe() {
        return Err(Failure::user(
            "The source and the target are the same backend",
            "name another backend with --to",
        ));
    }
    let _source_lock = super::change::lock(session, "state migrate", cli.lock_timeout).await?;
    let _target_lock = super::super::panic::track(
        target
            .lock("state migrate", cli.lock_timeout)
            .await
            .map_err(|e| failure::engine(EngineError::Lock(e)))?,
    );
    let bytes = backend
        .raw(None)
        .await
        .map_err(Failure::from)?
        .ok_or_else(|| {
            Failure::user(
                format!("No state in {} to migrate", backend.describe()),
                "apply something first",
            )
        })?;
    target.push(&bytes, false).await.map_err(|e| {
        Failure::from(e)
            .with_hint("the target already holds a state of another lineage or a newer serial")
    })?;
    // Verify: the target now returns exactly the bytes of the source.
    let copied = target.raw(None).await.map_err(Failure::from)?;
    if copied.as_deref() != Some(bytes.as_slice()) {
        return Err(Failure::user(
            format!("The copy in {} differs from the source", target.describe()),
            "the source is unchanged; check the target and try again",
        ));
    }
    outln!(
        "Migrated state (sha256 {}) from {} to {}; verified. The source is unchanged.",
        &crate::digest::sha256_hex(&bytes)[..12],
        backend.describe(),
        target.describe()
    );
    Ok(ExitStatus::Success)
}
