//! The digitalocean provider's settings (docs/providers.md): the strategy block as a typed
//! struct, checked for ranges and formats, errors pointing at the setting. No message echoes
//! a setting's value: `token` is a credential.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{Checked, SettingsError, check_common, parse};

/// DigitalOcean's API.
pub const ENDPOINT: &str = "https://api.digitalocean.com";
/// The variable the token is read from when the block names none (doctl's and Terraform's).
pub const TOKEN_VARIABLE: &str = "DIGITALOCEAN_TOKEN";
/// How long a droplet may take to become active by default.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Settings that hold credentials: a literal value is never recorded in state.
pub const SECRET_SETTINGS: &[&str] = &["token"];

/// The `digitalocean` block of a provider option, `name` removed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    /// The API token, normally `"env.DIGITALOCEAN_TOKEN"`; default: that variable.
    pub token: Option<String>,
    /// An http:// or https:// URL (a test double); default: DigitalOcean's API.
    pub endpoint: Option<String>,
    /// Region slugs to offer (`["nyc1", "ams3"]`); default: every available region.
    pub regions: Option<Vec<String>>,
    /// Seconds, 1 to 3600: how long a droplet may take to become active.
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
            plain_slug,
            ("region slug", "nyc1"),
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

fn plain_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 16
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
