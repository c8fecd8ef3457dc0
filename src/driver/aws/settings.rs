//! The aws provider's settings (docs/aws.md): the strategy block as a typed struct, checked
//! for ranges and formats, errors pointing at the setting. Credentials are only carried here;
//! finding and checking them is `credentials`'. No message echoes a setting's value.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::images::{self, ImageSpec};
use crate::driver::settings::{Checked, SettingsError, check_common, parse};
use crate::secret::Secret;

/// How long a region's zones, instance types and their offerings are kept between runs by
/// default: an instance type's facts never change and offerings seldom do (a stale one is
/// refused at launch and failed over like a capacity refusal).
const OFFERINGS_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a node may take to run (and answer on port 22) by default.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest `offerings_ttl`: 30 days.
const OFFERINGS_TTL_MAX: f64 = 2_592_000.0;

/// Settings that hold credentials: a literal value of one of them is never recorded in state
/// (an `env.NAME` reference is, since the name of a variable is not a secret).
pub const SECRET_SETTINGS: &[&str] = &["access_key_id", "secret_access_key", "session_token"];

/// The `aws` block of a provider option, `name` removed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub profile: Option<String>,
    /// An http:// or https:// URL (an emulator); default: AWS's regional endpoints.
    pub endpoint: Option<String>,
    /// Region ids; default: `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1.
    pub regions: Option<Vec<String>>,
    /// Wait until port 22 answers.
    #[serde(default)]
    pub ssh_check: bool,
    /// Image names to an AMI id or `{"owner", "name", "os", "version"}` (see `images`).
    pub images: Option<Value>,
    /// Seconds, 1 to 3600.
    pub ready_timeout: Option<f64>,
    /// Seconds, 0 (never keep) to 30 days.
    pub offerings_ttl: Option<f64>,
}

impl Checked for Settings {
    fn check(&self) -> Result<(), SettingsError> {
        check_common(
            &[
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
            ],
            &self.endpoint,
            &self.regions,
            plain_region,
            ("region id", "ap-southeast-2"),
        )?;
        if let Some(seconds) = self.ready_timeout
            && !(seconds > 0.0 && seconds <= 3600.0)
        {
            return Err(SettingsError::at(
                "/ready_timeout",
                format!("Expected a number of seconds from 1 to 3600, found {seconds}."),
            ));
        }
        if let Some(seconds) = self.offerings_ttl
            && !(0.0..=OFFERINGS_TTL_MAX).contains(&seconds)
        {
            return Err(SettingsError::at(
                "/offerings_ttl",
                format!(
                    "Expected a number of seconds from 0 (never keep) to 2592000 (30 days), \
                     found {seconds}."
                ),
            ));
        }
        self.image_specs().map(|_| ())
    }
}

impl Settings {
    /// The images the driver knows: the shipped defaults with the `images` setting over them.
    pub fn image_specs(&self) -> Result<Vec<ImageSpec>, SettingsError> {
        images::with_setting(self.images.as_ref())
            .map_err(|e| SettingsError::at("/images", format!("Invalid images setting: {e}.")))
    }

    pub fn ready_timeout(&self) -> Duration {
        self.ready_timeout
            .map_or(READY_TIMEOUT, Duration::from_secs_f64)
    }

    pub fn offerings_ttl(&self) -> Duration {
        self.offerings_ttl
            .map_or(OFFERINGS_TTL, Duration::from_secs_f64)
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

fn plain_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.chars().any(|c| c.is_ascii_digit())
}
