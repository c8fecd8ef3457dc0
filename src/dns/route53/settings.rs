//! The `route53` provider's settings: credentials (as the aws provider takes them), an
//! `endpoint` (an emulator such as moto), the hosted zone's id when the name is not enough,
//! and how long a change may take to reach every Route53 server. Typed, with located problems;
//! no message echoes a value.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{self, Checked, SettingsError, is_env_reference};
use crate::secret::Secret;

/// Settings that hold credentials (left out of state's provider record when literal).
pub const SECRET_SETTINGS: &[&str] = &["access_key_id", "secret_access_key", "session_token"];

/// Route53's one global endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub profile: Option<String>,
    /// An http:// or https:// URL; default [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    /// `Z…` or `/hostedzone/Z…`; default: the zone found by its name.
    pub hosted_zone_id: Option<String>,
    /// Seconds a change may stay PENDING, 1 to 3600.
    #[serde(default = "default_change_timeout")]
    pub change_timeout_seconds: u64,
}

fn default_change_timeout() -> u64 {
    300
}

impl Checked for Settings {
    fn check(&self) -> Result<(), SettingsError> {
        settings::check_non_empty(&[
            (
                "access_key_id",
                self.access_key_id.as_ref().map(Secret::expose),
            ),
            (
                "secret_access_key",
                self.secret_access_key.as_ref().map(Secret::expose),
            ),
            (
                "session_token",
                self.session_token.as_ref().map(Secret::expose),
            ),
            ("profile", self.profile.as_deref()),
            ("endpoint", self.endpoint.as_deref()),
            ("hosted_zone_id", self.hosted_zone_id.as_deref()),
        ])?;
        settings::check_endpoint(&self.endpoint)?;
        if let Some(id) = &self.hosted_zone_id
            && !is_env_reference(id)
            && bare_id(id).is_none()
        {
            return Err(SettingsError::at(
                "/hosted_zone_id",
                "Expected a hosted zone id (letters and digits).",
            )
            .with_hint("e.g. \"Z0123456789ABCDEFGHIJ\" or \"/hostedzone/Z0123456789ABCDEFGHIJ\""));
        }
        if !(1..=3600).contains(&self.change_timeout_seconds) {
            return Err(SettingsError::at(
                "/change_timeout_seconds",
                "The timeout must be from 1 to 3600 seconds.",
            ));
        }
        Ok(())
    }
}

impl Settings {
    pub fn change_timeout(&self) -> Duration {
        Duration::from_secs(self.change_timeout_seconds)
    }

    /// The endpoint without a trailing slash.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
            .to_string()
    }
}

/// A hosted zone id without its `/hostedzone/` prefix (`None`: not an id).
pub fn bare_id(id: &str) -> Option<&str> {
    let bare = id.strip_prefix("/hostedzone/").unwrap_or(id);
    (!bare.is_empty() && bare.len() <= 64 && bare.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(bare)
}

/// Checks the settings as written (see [`crate::driver::settings`]).
pub fn check(settings: &Map<String, Value>) -> Result<(), SettingsError> {
    settings::parse::<Settings>(settings).map(drop)
}

/// The settings, resolved and checked.
pub fn parse(settings: &Map<String, Value>) -> Result<Settings, SettingsError> {
    settings::parse::<Settings>(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value) -> Result<Settings, SettingsError> {
        parse(value.as_object().unwrap())
    }

    #[test]
    fn ids_endpoints_and_timeouts_are_checked() {
        let s = parsed(json!({"hosted_zone_id": "/hostedzone/Z123"})).unwrap();
        assert_eq!(bare_id(s.hosted_zone_id.as_deref().unwrap()), Some("Z123"));
        assert_eq!(s.endpoint(), DEFAULT_ENDPOINT);
        assert_eq!(s.change_timeout(), Duration::from_secs(300));
        assert!(parsed(json!({"hosted_zone_id": "Z12/../x"})).is_err());
        assert!(parsed(json!({"endpoint": "127.0.0.1:5000"})).is_err());
        assert!(parsed(json!({"change_timeout_seconds": 0})).is_err());
        assert!(parsed(json!({"region": "us-east-1"})).is_err());
        let s = parsed(json!({"endpoint": "http://127.0.0.1:5000/"})).unwrap();
        assert_eq!(s.endpoint(), "http://127.0.0.1:5000");
    }
}
