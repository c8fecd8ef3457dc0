//! The contract between the executor and the providers: one async trait every driver
//! implements, and the error classes that decide retry, fail-over or failure.
//!
//! A driver speaks to one provider. It never reads or writes the state file: it is handed what
//! it needs and returns what it observed. Every object it creates carries the resource address
//! and the state lineage, so a crash between "created" and "saved" ends in adoption, not a
//! duplicate.

pub mod aws;
pub mod digitalocean;
pub mod hetzner;
pub mod linode;
pub mod local;
pub mod rest_cloud;
pub mod settings;
pub mod sim;
pub mod vultr;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};

/// What to do about a failed driver call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient (rate limit, 5xx, timeout): back off and call again.
    Retry,
    /// The provider refused this placement (capacity, quota, unavailable size or location,
    /// unreachable): try the next candidate.
    FailOver,
    /// Auth errors, invalid requests, bugs: stop this step.
    Fatal,
}

/// How much a fail-over refusal rules out for the rest of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// This size at this location (capacity, quota for the size).
    #[default]
    Offer,
    /// Everything at this location (zone unavailable).
    Location,
    /// Everything at this provider (unreachable, account-wide quota).
    Provider,
}

/// A classified driver error. `message` is shown to the user and must hold no secret.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}{message}", code.as_ref().map_or(String::new(), |c| format!("{c}: ")))]
pub struct DriverError {
    pub class: ErrorClass,
    /// The provider's own error code, when it has one (`InsufficientInstanceCapacity`).
    pub code: Option<String>,
    pub message: String,
    /// The wait the provider asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// For fail-over errors: what to stop trying.
    pub scope: Scope,
}

impl DriverError {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Fatal, message)
    }

    pub fn retry(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Retry, message)
    }

    pub fn fail_over(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::FailOver, message)
    }

    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        DriverError {
            class,
            code: None,
            message: message.into(),
            retry_after: None,
            scope: Scope::Offer,
        }
    }

    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Whether the provider refused the call for its rate limit: it did nothing and asked
    /// the caller to slow down, which is no sign that the call itself is failing.
    pub fn is_throttle(&self) -> bool {
        self.class == ErrorClass::Retry
            && self
                .code
                .as_deref()
                .is_some_and(|code| THROTTLE_CODES.contains(&code))
    }
}

/// Error codes providers use for "too many requests" (EC2's and the common HTTP APIs').
const THROTTLE_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequests",
    "TooManyRequestsException",
    "SlowDown",
    "RateLimitExceeded",
];

/// What a create call needs: the resource, the placement to try (the chosen one or a
/// fall-back) and the state lineage to mark the object with.
#[derive(Clone, Debug)]
pub struct CreateRequest<'a> {
    pub desired: &'a Desired,
    pub placement: &'a Placement,
    pub lineage: &'a str,
    /// What the resource depends on, as it exists now (a node's key pair and firewall).
    pub dependencies: &'a [Existing],
    /// Objects at the same address that this create replaces and that may still exist: the
    /// old node of a create-before-destroy replace, deposed objects not deleted yet. A
    /// driver never adopts one of them as the created object, and gives the new object an
    /// id of its own.
    pub replacing: &'a [Existing],
}

/// The answer of a batched refresh.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// For each known address: what the provider sees now, or `None` if it is gone.
    pub known: HashMap<Address, Option<Attributes>>,
    /// Objects marked with this lineage that the caller did not know about (a crash between
    /// create and save left them behind). They are adopted into state.
    pub orphans: Vec<Existing>,
    /// Leftovers of this lineage that the caller did not know and that no longer run (a crash
    /// before the object was ready). They are adopted as gone, so apply deletes or recreates
    /// them under the lock; refresh itself never removes anything.
    pub debris: Vec<Existing>,
}

/// The end of one of a node's output streams, oldest line first.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LogStream {
    /// `stderr`, `stdout`, `console`.
    pub name: String,
    pub lines: Vec<String>,
}

/// One provider.
#[async_trait]
pub trait Driver: Send + Sync {
    /// The provider's name (see [`DriverConfig::name`]).
    fn name(&self) -> &str;

    /// Whether this provider has resources of `kind` (every provider has nodes; cloud
    /// providers also key pairs and firewalls, which compile then adds per region).
    fn supports(&self, kind: Kind) -> bool {
        kind == Kind::Node
    }

    /// The API calls this driver made so far: sent, failed by class, throttled (counted
    /// where they go out, `crate::net::pace`). The engine reads them after an apply for its
    /// summary record. A provider with no API of its own counts its operations.
    fn api_calls(&self) -> crate::net::calls::CallCounts {
        crate::net::calls::CallCounts::default()
    }

    /// What this provider offers.
    async fn catalog(&self) -> Result<Catalog, DriverError>;

    /// Ask what really exists, for many resources at once (one call where the provider
    /// allows it), and find objects of this lineage the caller does not know.
    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError>;

    /// Told before an apply whose state (and so its lineage) this run has just created:
    /// nothing of `lineage` can exist at the provider yet, so creates need not look for
    /// objects a crash left behind.
    fn lineage_is_new(&self, _lineage: &str) {}

    /// Told, as an apply starts, the chosen placements of the nodes it is about to create, so
    /// the driver can look up in advance what those creates will need (an image id) while
    /// the first steps run. Runs alongside the apply; failures are left for the creates.
    async fn prepare(&self, _lineage: &str, _placements: Vec<crate::resource::Placement>) {}

    /// Create one resource at `request.placement` and wait until it is ready. If an object with
    /// the same address and lineage already exists (a crash left it), adopt it instead.
    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError>;

    /// Change updatable attributes in place.
    async fn update(&self, existing: &Existing, desired: &Desired)
    -> Result<Existing, DriverError>;

    /// Remove the object; removing something already gone succeeds.
    async fn delete(&self, existing: &Existing) -> Result<(), DriverError>;

    /// The last `lines` lines of each output stream of `existing` (a local node's
    /// `stderr.log` and `stdout.log`, an EC2 instance's console output), for the dashboard
    /// and `oss logs`. Only reads. `None`: this provider
    /// keeps no logs it can show.
    async fn logs(
        &self,
        existing: &Existing,
        lines: usize,
    ) -> Result<Option<Vec<LogStream>>, DriverError> {
        let _ = (existing, lines);
        Ok(None)
    }

    /// Reads the existing object `id` for `oss import`, as the resource it would be at
    /// `address`. Only reads: the engine checks it against the strategy, then marks it with
    /// [`Driver::remark`].
    async fn import(&self, address: &Address, id: &str) -> Result<Existing, DriverError> {
        let _ = address;
        Err(DriverError::fatal(format!(
            "Provider `{}` cannot import existing objects (asked for `{id}`).",
            self.name()
        )))
    }

    /// Change the marker of an object: `Some(address)` marks it as that address of `lineage`
    /// (an import, or a rename by `moved` or `oss state mv`, so a later create of the old
    /// address does not adopt it); `None` when
    /// state forgets it (`oss state rm`), so it no longer carries the lineage and neither
    /// refresh nor create adopts it again. Returns the object as it now is (its provider id
    /// may change). The default, for a provider that marks nothing, returns it unchanged.
    async fn remark(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        let _ = lineage;
        let mut renamed = existing.clone();
        if let Some(to) = to {
            renamed.address = to.clone();
        }
        Ok(renamed)
    }
}

/// What a driver is built from: its block in the strategy (with `env.` references already
/// resolved) and where the engine keeps its files.
#[derive(Clone)]
pub struct DriverConfig {
    /// The provider's name in placements and state: the option's `name` setting, else its
    /// kind (`local`, `sim`). Several providers of one kind differ by name.
    pub name: String,
    /// The option's settings, `name` removed.
    pub settings: crate::secret::Resolved,
    /// The state directory; drivers that keep local files (`local`) put them under it.
    pub state_dir: PathBuf,
    /// The strategy file's directory: relative paths in settings resolve against it.
    pub base_dir: PathBuf,
}

impl fmt::Debug for DriverConfig {
    // Setting names only, never their values: they may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverConfig")
            .field("name", &self.name)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("state_dir", &self.state_dir)
            .field("base_dir", &self.base_dir)
            .finish()
    }
}

/// Providers this build knows, for schema checks and hints.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "local",
    "sim",
    "aws",
    "digitalocean",
    "linode",
    "hetzner",
    "vultr",
];

/// Checks the settings of a provider of kind `kind` as written in the strategy (`env.`
/// references unresolved, `name` removed), so `oss validate` and `plan` refuse bad settings
/// before anything changes, each problem pointing at its setting. Relative paths resolve
/// against `base_dir`, the strategy's directory. Unknown kinds are the schema's to refuse.
/// The `name` attribute of a resource (`oss` when it has none): what cloud objects are named.
pub fn attribute_name(desired: &Desired) -> String {
    desired
        .attributes
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("oss")
        .to_string()
}

/// What a compute driver answers when asked for a DNS record: records belong to the `dns`
/// block's provider.
pub fn no_records(provider: &str) -> DriverError {
    DriverError::fatal(format!(
        "The {provider} compute provider holds no DNS records."
    ))
}

/// What a compute driver answers when asked for a load balancer: balancers belong to the
/// `lb` block's provider.
pub fn no_balancers(provider: &str) -> DriverError {
    DriverError::fatal(format!(
        "The {provider} compute provider holds no load balancers."
    ))
}

pub fn check_settings(
    kind: &str,
    settings: &Map<String, Value>,
    base_dir: &Path,
) -> Result<(), settings::SettingsError> {
    match kind {
        "local" => local::check_settings(settings),
        "sim" => sim::check_settings(settings, base_dir),
        "aws" => aws::check_settings(settings),
        "digitalocean" => digitalocean::DigitalOceanDriver::check_settings(settings),
        "linode" => linode::LinodeDriver::check_settings(settings),
        "hetzner" => hetzner::HetznerDriver::check_settings(settings),
        "vultr" => vultr::VultrDriver::check_settings(settings),
        kind if crate::dns::is_dns_kind(kind) => {
            crate::dns::check_settings(kind, settings, base_dir)
        }
        kind if crate::lb::is_lb_kind(kind) => crate::lb::check_settings(kind, settings),
        _ => Ok(()),
    }
}

/// The settings of a provider of kind `kind` that hold credentials (each driver lists them
/// next to its typed settings). State records a provider's settings without their literal
/// values, so oss can still manage what it made after the provider leaves the strategy.
/// Unknown kinds have none.
pub fn secret_settings(kind: &str) -> &'static [&'static str] {
    match kind {
        "local" => local::SECRET_SETTINGS,
        "sim" => sim::SECRET_SETTINGS,
        "aws" => aws::SECRET_SETTINGS,
        "digitalocean" => digitalocean::SECRET_SETTINGS,
        "linode" => linode::SECRET_SETTINGS,
        "hetzner" => hetzner::SECRET_SETTINGS,
        "vultr" => vultr::SECRET_SETTINGS,
        kind if crate::dns::is_dns_kind(kind) => crate::dns::secret_settings(kind),
        kind if crate::lb::is_lb_kind(kind) => crate::lb::secret_settings(kind),
        _ => &[],
    }
}

/// Builds the driver of provider kind `kind`.
pub fn build(kind: &str, config: DriverConfig) -> Result<Arc<dyn Driver>, DriverError> {
    match kind {
        "local" => Ok(Arc::new(local::LocalDriver::new(config)?)),
        "sim" => Ok(Arc::new(sim::SimDriver::new(config)?)),
        "aws" => Ok(Arc::new(aws::AwsDriver::new(config)?)),
        "digitalocean" => Ok(Arc::new(digitalocean::DigitalOceanDriver::new(config)?)),
        "linode" => Ok(Arc::new(linode::LinodeDriver::new(config)?)),
        "hetzner" => Ok(Arc::new(hetzner::HetznerDriver::new(config)?)),
        "vultr" => Ok(Arc::new(vultr::VultrDriver::new(config)?)),
        kind if crate::dns::is_dns_kind(kind) => Ok(Arc::new(crate::dns::build(
            kind,
            &config.name,
            &config.settings,
        )?)),
        kind if crate::lb::is_lb_kind(kind) => crate::lb::build(kind, config),
        other => Err(DriverError::fatal(format!(
            "Unknown provider `{other}`; known providers: {}",
            KNOWN_PROVIDERS.join(", ")
        ))),
    }
}
