//! What a panic does, on any thread or tokio task: release every state lock this process
//! holds, print one line saying it is an internal error of oss and how to report it (the
//! backtrace only when `RUST_BACKTRACE` asks for one), and exit 1. The journal an apply leaves
//! is folded in by the next run, as after a crash; the lock must not outlive us.
//!
//! Locks are registered here by [`track`] while a command holds them.
//!
//! `OSS_DEBUG_PANIC=<where>` makes oss panic on purpose, to check all this end to end (a
//! debug hook: `tests/cli_defects.rs` uses it). `<where>` is `apply` (in a tokio task, after
//! the lock is taken and before anything changes) or `main` (on the main thread).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::state::backend::Held;

/// The locks held now, and the secrets to keep out of the panic's line.
#[derive(Default)]
struct Registry {
    locks: Vec<(u64, Arc<dyn Held>)>,
    next: u64,
    secrets: zeroize::Zeroizing<Vec<String>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A lock registered for release on panic; unregistered when dropped.
pub struct Tracked {
    id: u64,
    /// Keeps the lock held until this is dropped.
    _held: Arc<dyn Held>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(r) = registry().as_mut() {
            r.locks.retain(|(id, _)| *id != self.id);
        }
    }
}

/// Registers `lock` so that a panic releases it.
pub fn track(lock: Arc<dyn Held>) -> Tracked {
    let mut guard = registry();
    let r = guard.get_or_insert_with(Registry::default);
    r.next += 1;
    let id = r.next;
    r.locks.push((id, Arc::clone(&lock)));
    Tracked { id, _held: lock }
}

/// Secrets a panic message must not show.
pub fn keep_secret(secrets: &[String]) {
    let mut guard = registry();
    let r = guard.get_or_insert_with(Registry::default);
    r.secrets
        .extend(secrets.iter().filter(|s| !s.is_empty()).cloned());
}

/// Releases every tracked lock now (for exits that skip destructors).
pub fn release_all() {
    // Take them out first: releasing must not run under our mutex.
    let locks: Vec<Arc<dyn Held>> = registry()
        .as_mut()
        .map(|r| r.locks.drain(..).map(|(_, l)| l).collect())
        .unwrap_or_default();
    for lock in locks {
        lock.release_now();
    }
}

fn redact(text: &str) -> String {
    let guard = registry();
    let secrets = guard.as_ref().map(|r| r.secrets.as_slice()).unwrap_or(&[]);
    secrets.iter().fold(text.to_string(), |t, s| {
        t.replace(s.as_str(), "(sensitive)")
    })
}

/// Installs the hook. Call first thing in `main`.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        release_all();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        let line = format!("{what}{at}");
        let line = crate::echo::cap(&redact(&line), 1000).into_owned();
        super::output::errln!("error: oss panicked ({line}); {}", super::failure::REPORT);
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            super::output::err(&redact(&format!("{backtrace}\n")));
        }
        std::process::exit(1);
    }));
}

/// Panics when `OSS_DEBUG_PANIC` names `place` (see the module's note).
pub fn debug_hook(place: &str) {
    if std::env::var("OSS_DEBUG_PANIC").is_ok_and(|v| v == place) {
        panic!("OSS_DEBUG_PANIC={place} asked for this panic");
    }
}
