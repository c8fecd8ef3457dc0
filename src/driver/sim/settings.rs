//! The sim provider's settings (docs/sim.md): the strategy block as a typed struct, checked
//! for ranges, and resolved into what the driver runs with (catalog read, capacity keys
//! matched against it). Errors point at the setting they are about.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::capacity::Capacity;
use super::catalog::load_catalog;
use super::faults::Faults;
use crate::catalog::Catalog;
use crate::driver::settings::{Checked, SettingsError, parse};

/// Settings that hold credentials: a literal value of one of them is never recorded in state
/// (an `env.NAME` reference is, since the name of a variable is not a secret).
pub const SECRET_SETTINGS: &[&str] = &["api_key", "require_api_key"];

/// The `sim` block of a provider option, `name` removed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    /// An inline catalog object, the path of a JSON catalog file, or `"aws"`.
    pub catalog: Value,
    /// How long every API call takes, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Probabilities of injected errors per call.
    pub errors: Option<Faults>,
    /// Seed of the error draws (default: random).
    pub seed: Option<u64>,
    /// `{"LOCATION": n, "LOCATION/SIZE": n}`.
    pub capacity: Option<BTreeMap<String, u64>>,
    /// Show remaining capacity in the catalog (real clouds do not).
    #[serde(default)]
    pub advertise_capacity: bool,
    /// Calls per second this process may make.
    pub rate_limit: Option<f64>,
    pub state_file: Option<String>,
    pub api_key: Option<crate::secret::Secret>,
    pub require_api_key: Option<crate::secret::Secret>,
    /// Simulate key pairs and firewalls per region.
    #[serde(default)]
    pub regional_resources: bool,
}

impl Checked for Settings {
    fn check(&self) -> Result<(), SettingsError> {
        if let Some(ms) = self.latency_ms
            && !(ms.is_finite() && ms >= 0.0 && Duration::try_from_secs_f64(ms / 1000.0).is_ok())
        {
            return Err(SettingsError::at(
                "/latency_ms",
                format!("Expected a non-negative number of milliseconds, found {ms}."),
            ));
        }
        if let Some(rate) = self.rate_limit
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(SettingsError::at(
                "/rate_limit",
                format!("Expected a positive number of calls per second, found {rate}."),
            ));
        }
        if let Some(faults) = &self.errors {
            faults.check()?;
        }
        if self.state_file.as_deref() == Some("") {
            return Err(SettingsError::at(
                "/state_file",
                "Expected a file path, found \"\".",
            ));
        }
        Ok(())
    }
}

/// What the driver is built from: the settings with the catalog read.
pub(super) struct Resolved {
    pub settings: Settings,
    pub catalog: Catalog,
    pub capacity: Capacity,
}

impl Settings {
    pub fn latency(&self) -> Duration {
        self.latency_ms
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .unwrap_or(Duration::ZERO)
    }

    /// Whether a call presents the wrong key. Only this verdict is kept, never the key.
    pub fn credentials_rejected(&self) -> bool {
        self.require_api_key.is_some() && self.api_key != self.require_api_key
    }
}

/// Parses, checks and resolves settings; `Ok(None)` when the catalog is a path still written
/// as an `env.` reference (the settings as written, before resolution).
fn resolve_with(
    settings: &Map<String, Value>,
    base_dir: &Path,
) -> Result<Option<Resolved>, SettingsError> {
    let settings: Settings = parse(settings)?;
    let Some(catalog) = load_catalog(&settings.catalog, base_dir)? else {
        return Ok(None);
    };
    let capacity = match &settings.capacity {
        Some(limits) => Capacity::new(&catalog, limits)?,
        None => Capacity::default(),
    };
    Ok(Some(Resolved {
        settings,
        catalog,
        capacity,
    }))
}

/// The check `oss validate` and `plan` make on the settings as written.
pub fn check(settings: &Map<String, Value>, base_dir: &Path) -> Result<(), SettingsError> {
    resolve_with(settings, base_dir).map(|_| ())
}

/// The resolved settings a driver is built from.
pub(super) fn resolve(
    settings: &Map<String, Value>,
    base_dir: &Path,
) -> Result<Resolved, SettingsError> {
    resolve_with(settings, base_dir)?.ok_or_else(|| {
        SettingsError::at(
            "/catalog",
            "The catalog path is an env. reference that was not resolved.",
        )
    })
}
