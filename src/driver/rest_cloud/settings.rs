//! The settings block every REST-cloud provider takes (docs/providers.md): `token`,
//! `endpoint`, `regions`, `ready_timeout`, `request_timeout`, as one typed struct, checked
//! for ranges and formats, errors pointing at the setting; and the API client built from it.
//! Each provider names its API, its token variable and its region ids through [`Cloud`]. No
//! message echoes a setting's value: `token` is a credential.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::DriverError;
use crate::driver::settings::{Checked, SettingsError, check_common, parse};
use crate::net::rest::{Classify, Client, Paging, Token};
use crate::secret::Secret;

/// Settings that hold credentials: a literal value is never recorded in state.
pub const SECRET_SETTINGS: &[&str] = &["token"];

/// How long a node may take to be running by default.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// What one REST cloud's settings differ in.
pub trait Cloud {
    /// The provider's API.
    const ENDPOINT: &'static str;
    /// The variable the token is read from when the block names none.
    const TOKEN_VARIABLE: &'static str;
    /// What a region id is called and an example, for messages (`("region slug", "nyc1")`).
    const REGION: (&'static str, &'static str);
    /// Whether `region` is written as the provider writes region ids.
    fn region_id(region: &str) -> bool;
}

/// The provider's block of a provider option, `name` removed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct Settings<C: Cloud> {
    /// The API token, normally `"env.VARIABLE"`; default: `C::TOKEN_VARIABLE`.
    pub token: Option<Secret>,
    /// An http:// or https:// URL (a test double); default: `C::ENDPOINT`.
    pub endpoint: Option<String>,
    /// Region ids to offer; default: every region the API offers.
    pub regions: Option<Vec<String>>,
    /// Seconds, 1 to 3600: how long a node may take to be running.
    pub ready_timeout: Option<f64>,
    /// Seconds, 1 to 300: how long one API call may take.
    pub request_timeout: Option<f64>,
    #[serde(skip)]
    cloud: PhantomData<fn() -> C>,
}

impl<C: Cloud> Checked for Settings<C> {
    fn check(&self) -> Result<(), SettingsError> {
        check_common(
            &[
                ("token", self.token.as_ref().map(Secret::expose)),
                ("endpoint", self.endpoint.as_deref()),
            ],
            &self.endpoint,
            &self.regions,
            C::region_id,
            C::REGION,
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

impl<C: Cloud> Settings<C> {
    /// The check `oss validate` and `plan` make on the settings as written.
    pub fn check_block(settings: &Map<String, Value>) -> Result<(), SettingsError> {
        parse::<Self>(settings).map(|_| ())
    }

    /// The checked settings a driver is built from.
    pub fn resolve(settings: &Map<String, Value>) -> Result<Self, SettingsError> {
        parse(settings)
    }

    pub fn ready_timeout(&self) -> Duration {
        self.ready_timeout
            .map_or(READY_TIMEOUT, Duration::from_secs_f64)
    }

    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout.map(Duration::from_secs_f64)
    }

    /// The API client of provider `name`: the token from the block or `C::TOKEN_VARIABLE`
    /// (read through `var`), at the block's endpoint or `C::ENDPOINT`. `None` without a
    /// token: the driver refuses its first call, so `validate` works without one.
    pub fn client(
        &self,
        name: &str,
        var: &dyn Fn(&str) -> Option<String>,
        classify: Box<dyn Classify>,
        paging: Paging,
    ) -> Result<Option<Client>, DriverError> {
        let Some(token) = self
            .token
            .clone()
            .or_else(|| var(C::TOKEN_VARIABLE).map(Secret::new))
            .filter(|t| !t.expose().is_empty())
        else {
            return Ok(None);
        };
        let endpoint = self.endpoint.as_deref().unwrap_or(C::ENDPOINT);
        let mut client = Client::new(endpoint, Token::new(token), classify, paging)
            .map_err(|e| DriverError::fatal(format!("Provider `{name}`: {e}.")))?;
        if let Some(timeout) = self.request_timeout() {
            client = client.with_timeout(timeout);
        }
        Ok(Some(client))
    }
}
