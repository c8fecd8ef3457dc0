//! The `haproxy` provider's settings: the strategy block as a typed struct, checked, errors
//! pointing at the setting.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::driver::settings::{Checked, SettingsError, parse};

/// Settings that hold credentials: none.
pub const SECRET_SETTINGS: &[&str] = &[];

/// The `haproxy` block of a balancer's provider. All optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    /// The HAProxy program (default `/usr/sbin/haproxy`, Debian's).
    pub bin: Option<String>,
    /// The loopback address the listeners bind (default 127.0.0.1).
    pub address: Option<String>,
    /// Seconds HAProxy may take to start or to take a new configuration (default 10).
    pub ready_timeout: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL when it stops (default 5).
    pub stop_grace: Option<f64>,
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
        if let Some(address) = &self.address {
            match address.parse::<Ipv4Addr>() {
                Ok(ip) if ip.is_loopback() => {}
                _ => {
                    return Err(SettingsError::at(
                        "/address",
                        format!(
                            "Expected a loopback IPv4 address, found {}.",
                            crate::echo::Echo(address)
                        ),
                    )
                    .with_hint("HAProxy runs on this machine for local nodes: use 127.0.0.1"));
                }
            }
        }
        if self.bin.as_deref() == Some("") {
            return Err(SettingsError::at(
                "/bin",
                "Expected a program path, found \"\".",
            ));
        }
        Ok(())
    }
}

impl Settings {
    pub fn bin(&self) -> PathBuf {
        PathBuf::from(self.bin.as_deref().unwrap_or("/usr/sbin/haproxy"))
    }

    pub fn address(&self) -> Ipv4Addr {
        self.address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(Ipv4Addr::LOCALHOST)
    }

    pub fn ready_timeout(&self) -> Duration {
        seconds(self.ready_timeout, 10.0)
    }

    pub fn stop_grace(&self) -> Duration {
        seconds(self.stop_grace, 5.0)
    }
}

fn seconds(value: Option<f64>, default: f64) -> Duration {
    Duration::try_from_secs_f64(value.unwrap_or(default)).unwrap_or_default()
}

/// The check `oss validate` and `plan` make on the settings as written.
pub fn check(settings: &Map<String, Value>) -> Result<(), SettingsError> {
    parse::<Settings>(settings).map(|_| ())
}

/// The checked settings the driver is built from.
pub(super) fn resolve(settings: &Map<String, Value>) -> Result<Settings, SettingsError> {
    parse(settings)
}

/// The address the balancers of these settings listen on (as written, unchecked: `None`
/// when it does not parse), for the DNS name that points at them.
pub fn listen_address(settings: &Map<String, Value>) -> Option<Ipv4Addr> {
    resolve(settings).ok().map(|s| s.address())
}
