//! The linode provider's settings (docs/providers.md): the strategy block as a typed struct,
//! checked for ranges and formats, errors pointing at the setting. No message echoes a
//! setting's value: `token` is a credential.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{Checked, SettingsError, check_common, parse};

/// Linode's API.
pub const ENDPOINT: &str = "https://api.linode.com";
/// The variable the token is read from when the block names none (linode-cli's and
/// Terraform's).
pub const TOKEN_VARIABLE: &str = "LINODE_TOKEN";
/// How long an instance may take to be running by default.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Settings that hold credentials: a literal value is never recorded in state.
pub const SECRET_SETTINGS: &[&str] = &["token"];

/// The `linode` block of a provider option, `name` removed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    /// The personal access token, normally `"env.LINODE_TOKEN"`; default: that variable.
    pub token: Option<String>,
    /// An http:// or https:// URL (a test double); default: Linode's API.
    pub endpoint: Option<String>,
    /// Region ids to offer (`["us-east", "eu-central"]`); default: every region that is up.
    pub regions: Option<Vec<String>>,
    /// Seconds, 1 to 3600: how long an instance may take to be running.
    pub ready_timeout: Option<f64>,
    /// Seconds, 1 to 300: how long one API call may take.
    pub request_timeout: Option<f64>,
}

impl Checked for Settings {
    fn check(&self) -> Result<(), SettingsError> {
        check_common(
            &[("token", &self.token), ("endpoint", &self.endpoint)],
            &self.endpoint,
            &self.regions,
            region_id,
            ("region id", "us-east"),
        )?;
        for (key, value, max) in [
            ("ready_timeout", self.ready_timeout, 3600.0),
            ("request_timeout", self.request_timeout, 300.0),
        ] {
            if let Some(seconds) = value
                && !(seconds > 0.0 && seconds <= max)
            {
                return Err(SettingsError::at(
                    format!("/{key}"),
                    format!("Expected a number of seconds from 1 to {max}, found {seconds}."),
                ));
            }
        }
        Ok(())
    }
}

impl Settings {
    pub fn ready_timeout(&self) -> Duration {
        self.ready_timeout
            .map_or(READY_TIMEOUT, Duration::from_secs_f64)
    }

    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout.map(Duration::from_secs_f64)
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

/// `us-east`, `ap-south`, `us-ord`: lower-case letters and digits joined by dashes.
fn region_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 24
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
