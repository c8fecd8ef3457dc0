//! The `rfc2136` provider's settings: the primary server, the TSIG key (name, algorithm,
//! base64 secret) and the exchange timeout, typed with located problems. The secret is
//! checked as base64 only once resolved, and never echoed.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{self, Checked, SettingsError, is_env_reference};
use crate::secret::Secret;

/// Settings that hold credentials (left out of state's provider record when literal).
pub const SECRET_SETTINGS: &[&str] = &["key_secret"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: String,
    pub key_name: String,
    #[serde(default = "default_algorithm")]
    pub key_algorithm: String,
    pub key_secret: Secret,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_algorithm() -> String {
    "hmac-sha256".into()
}

fn default_timeout() -> u64 {
    10
}

impl Checked for Settings {
    fn check(&self) -> Result<(), SettingsError> {
        if !is_env_reference(&self.server) && self.server.parse::<SocketAddr>().is_err() {
            return Err(
                SettingsError::at("/server", "The server must be an IP address and port.")
                    .with_hint("e.g. \"127.0.0.1:53\" or \"[::1]:5353\""),
            );
        }
        if !["hmac-sha256", "hmac-sha384", "hmac-sha512"].contains(&self.key_algorithm.as_str()) {
            return Err(SettingsError::at(
                "/key_algorithm",
                "The TSIG algorithm is not one oss signs with.",
            )
            .with_hint("use hmac-sha256, hmac-sha384 or hmac-sha512"));
        }
        if !is_env_reference(self.key_secret.expose()) && self.secret().is_none() {
            return Err(
                SettingsError::at("/key_secret", "The TSIG secret is not base64.")
                    .with_hint("give the secret line of the key file tsig-keygen wrote"),
            );
        }
        if !(1..=600).contains(&self.timeout_seconds) {
            return Err(SettingsError::at(
                "/timeout_seconds",
                "The timeout must be from 1 to 600 seconds.",
            ));
        }
        Ok(())
    }
}

impl Settings {
    /// The secret's bytes (`None`: not base64, or empty).
    pub fn secret(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(self.key_secret.expose().trim())
            .ok()
            .filter(|bytes| !bytes.is_empty())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }
}

/// Checks the settings as written (see [`crate::driver::settings`]).
pub fn check(settings: &Map<String, Value>) -> Result<(), SettingsError> {
    settings::parse::<Settings>(settings).map(drop)
}

/// The settings, resolved and checked.
pub fn parse(settings: &Map<String, Value>) -> Result<Settings, SettingsError> {
    settings::parse::<Settings>(settings)
}
