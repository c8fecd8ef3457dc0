//! The local provider's settings: the strategy block as a typed struct, checked for ranges,
//! errors pointing at the setting.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{Checked, SettingsError, parse};

/// Settings that hold credentials: none (see [`crate::driver::secret_settings`]).
pub const SECRET_SETTINGS: &[&str] = &[];

/// The `local` block of a provider option, `name` removed. All optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    /// Seconds a node may take to accept connections (default 30).
    pub ready_timeout: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL (default 5).
    pub stop_grace: Option<f64>,
    /// The address-claim directory, meant for tests and isolated setups (default
    /// `$OSS_LOCAL_RUNTIME_DIR`, else `$TMPDIR/oss-local-UID`).
    pub runtime_dir: Option<String>,
}

impl Checked for Settings {
    fn check(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("ready_timeout", self.ready_timeout),
            ("stop_grace", self.stop_grace),
        ] {
            if let Some(seconds) = value
                && Duration::try_from_secs_f64(seconds).is_err()
            {
                return Err(SettingsError::at(
                    format!("/{key}"),
                    format!("Expected a non-negative number of seconds, found {seconds}."),
                ));
            }
        }
        if self.runtime_dir.as_deref() == Some("") {
            return Err(SettingsError::at(
                "/runtime_dir",
                "Expected a directory path, found \"\".",
            ));
        }
        Ok(())
    }
}

impl Settings {
    pub fn ready_timeout(&self) -> Duration {
        seconds(self.ready_timeout, 30.0)
    }

    pub fn stop_grace(&self) -> Duration {
        seconds(self.stop_grace, 5.0)
    }

    pub fn runtime_dir(&self) -> PathBuf {
        match &self.runtime_dir {
            Some(dir) => PathBuf::from(dir),
            None => default_runtime_dir(),
        }
    }
}

fn seconds(value: Option<f64>, default: f64) -> Duration {
    Duration::try_from_secs_f64(value.unwrap_or(default)).unwrap_or_default()
}

fn default_runtime_dir() -> PathBuf {
    match std::env::var_os("OSS_LOCAL_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            std::env::temp_dir().join(format!("oss-local-{uid}"))
        }
    }
}

/// The check `oss validate` and `plan` make on the settings as written.
pub fn check(settings: &Map<String, Value>) -> Result<(), SettingsError> {
    parse::<Settings>(settings).map(|_| ())
}

/// The checked settings a driver is built from.
pub(super) fn resolve(settings: &Map<String, Value>) -> Result<Settings, SettingsError> {
    parse(settings)
}
