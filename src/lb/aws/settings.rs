//! The `aws` load-balancer provider's settings: the strategy block as a typed struct, checked,
//! errors pointing at the setting and never echoing a value. Credentials are only carried
//! here; finding them is `crate::net::aws::credentials`'.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{self, Checked, SettingsError, is_env_reference, parse};
use crate::secret::Secret;

/// Settings that hold credentials (never recorded in state as literals).
pub const SECRET_SETTINGS: &[&str] = &["access_key_id", "secret_access_key", "session_token"];

/// The `aws` block of a balancer's provider. All optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub profile: Option<String>,
    /// An http:// or https:// URL (an emulator); default: AWS's regional endpoints.
    pub endpoint: Option<String>,
    /// The region; default `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1.
    pub region: Option<String>,
    /// An internal balancer instead of an internet-facing one.
    #[serde(default)]
    pub internal: bool,
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
            ("region", self.region.as_deref()),
        ])?;
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(SettingsError::at(
                "/secret_access_key",
                "access_key_id and secret_access_key go together: give both or neither.",
            ));
        }
        settings::check_endpoint(&self.endpoint)?;
        if let Some(region) = &self.region
            && !is_env_reference(region)
            && !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SettingsError::at(
                "/region",
                "Expected a region id such as ap-southeast-2.",
            ));
        }
        Ok(())
    }
}

/// The check `oss validate` and `plan` make on the settings as written.
pub fn check(settings: &Map<String, Value>) -> Result<(), SettingsError> {
    parse::<Settings>(settings).map(|_| ())
}

/// The checked settings the driver is built from.
pub(super) fn resolve(settings: &Map<String, Value>) -> Result<Settings, SettingsError> {
    parse(settings)
}
