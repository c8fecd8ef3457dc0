//! DNS: the record sets oss publishes for its node groups and the providers that publish
//! them. A provider speaks one protocol behind [`Zone`] (read names, apply guarded edits);
//! [`RecordDriver`] puts a zone behind the executor's driver trait, so records are resources
//! of the graph like nodes. Which records a strategy wants is compile's (`compile/records`).
//!
//! A DNS provider is not a compute driver: it offers no catalog and places nothing.

pub mod batch;
pub mod driver;
pub mod record;
pub mod rfc2136;
pub mod route53;

use std::path::Path;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use driver::RecordDriver;
pub use rfc2136::wire::{PREREQUISITE, UPDATE_FAILED};

use crate::driver::DriverError;
use crate::driver::settings::SettingsError;
use record::{Edit, RecordSet};

/// One zone at one DNS provider.
#[async_trait]
pub trait Zone: Send + Sync {
    /// Whether the provider serves the zone and accepts the credentials; changes nothing.
    async fn check(&self) -> Result<(), DriverError>;

    /// The A, AAAA, SRV and TXT sets at each of `names`, in the same order (empty: nothing).
    async fn read(&self, names: &[String]) -> Result<Vec<Vec<RecordSet>>, DriverError>;

    /// Applies the edits in one atomic change: all of them or, when one's guard fails (an
    /// error with code [`PREREQUISITE`]) or one breaks the server's rules ([`UPDATE_FAILED`]),
    /// none.
    async fn edit(&self, edits: &[Edit]) -> Result<(), DriverError>;

    /// `edits` cut into runs that fit one change each (default: [`batch::MAX_BYTES`] of
    /// record data, an RFC 2136 UPDATE's bound).
    fn split<'a>(&self, edits: &'a [Edit]) -> Vec<&'a [Edit]> {
        batch::chunks(edits)
    }
}

/// Whether `kind` is a DNS provider kind.
pub fn is_dns_kind(kind: &str) -> bool {
    crate::strategy::dns::DNS_PROVIDERS.contains(&kind)
}

/// The setting the strategy's `dns` block adds to its provider's: the zone (so state's
/// provider record says which zone a departed provider's records are in).
pub const ZONE_SETTING: &str = "zone";

/// Builds the record driver of a DNS provider of kind `kind`, from its settings with the
/// zone among them (see [`ZONE_SETTING`]).
pub fn build(
    kind: &str,
    name: &str,
    settings: &Map<String, Value>,
) -> Result<RecordDriver, DriverError> {
    // A copy of resolved credentials: wiped when dropped, like the original.
    let mut settings = crate::secret::Resolved::from(settings.clone());
    let zone = match settings.remove(ZONE_SETTING) {
        Some(Value::String(zone)) => crate::strategy::dns::zone_name(&zone),
        _ => {
            return Err(DriverError::fatal(format!(
                "DNS provider `{name}` has no zone in its settings"
            )));
        }
    };
    let (zone, settings) = (zone.as_str(), &settings);
    let zone_impl: std::sync::Arc<dyn Zone> = match kind {
        "rfc2136" => std::sync::Arc::new(rfc2136::Rfc2136::new(name, zone, settings)?),
        "route53" => std::sync::Arc::new(route53::Route53::new(name, zone, settings)?),
        other => {
            return Err(DriverError::fatal(format!(
                "Unknown DNS provider `{other}`; known: {}",
                crate::strategy::dns::DNS_PROVIDERS.join(", ")
            )));
        }
    };
    Ok(RecordDriver::new(name, zone_impl))
}

/// Checks a DNS provider's settings as written (the zone among them or not).
pub fn check_settings(
    kind: &str,
    settings: &Map<String, Value>,
    _base_dir: &Path,
) -> Result<(), SettingsError> {
    let mut settings = settings.clone();
    settings.remove(ZONE_SETTING);
    match kind {
        "rfc2136" => rfc2136::check(&settings),
        "route53" => route53::check(&settings),
        _ => Ok(()),
    }
}

/// The settings of DNS provider kind `kind` that hold credentials.
pub fn secret_settings(kind: &str) -> &'static [&'static str] {
    match kind {
        "rfc2136" => rfc2136::SECRET_SETTINGS,
        "route53" => route53::SECRET_SETTINGS,
        _ => &[],
    }
}
