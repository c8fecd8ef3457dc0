//! The `sim` provider: a simulated cloud, for rehearsing strategies and for testing the engine
//! against cloud-like behaviour. It is never a cloud: nothing runs, nothing is billed.
//!
//! Its offerings are a catalog given in the strategy (inline or as a JSON file). Its
//! "instances" are records in a JSON state file (`STATE_DIR/sim/<name>.json` unless the
//! `state_file` setting says otherwise), each marked with the resource address and the state
//! lineage like a real cloud's tags, so a crash between create and save ends in adoption.
//!
//! Every API call (refresh, create, update, delete) waits `latency_ms` and may be refused, all
//! before it has any effect: by injected errors (throttling, 503s, timeouts, drawn from a
//! seedable generator), by a per-process rate limit, or, for creates, by per-location capacity,
//! which `catalog()` reports as the remaining capacity of each price.
//!
//! Several processes may share one state file: every read-modify-write holds an exclusive
//! `flock` on `<state file>.lock` and replaces the file atomically. Each driver caches the
//! parsed file and re-reads it when another writer changed it (the lock file holds a generation
//! counter every writer bumps, and the file's identity, size and times are compared too).
//! Calls made concurrently within one process are batched: one lock, one read check and one
//! write serve them all, so applies of thousands of nodes do not rewrite the file per node.
//!
//! [`instances`] and [`terminate`] let tests look at, and tamper with, what "really" exists.
//!
//! This driver never reads or writes the oss state file and never prints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use super::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed, Scope};
use crate::catalog::Catalog;
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};

const SETTINGS: [&str; 11] = [
    "catalog",
    "latency_ms",
    "errors",
    "seed",
    "capacity",
    "advertise_capacity",
    "rate_limit",
    "state_file",
    "api_key",
    "require_api_key",
    "regional_resources",
];
const ERROR_KINDS: [&str; 3] = ["throttle", "unavailable", "timeout"];

/// The version of the state file's layout.
const FORMAT: u32 = 1;
/// What an injected throttle asks to wait when the provider has no latency.
const THROTTLE_WAIT: Duration = Duration::from_millis(50);

const CODE_THROTTLE: &str = "RequestLimitExceeded";
const CODE_UNAVAILABLE: &str = "ServiceUnavailable";
const CODE_TIMEOUT: &str = "RequestTimeout";
const CODE_CAPACITY: &str = "InsufficientInstanceCapacity";
const CODE_INVALID: &str = "InvalidParameterValue";
const CODE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";
const CODE_AUTH: &str = "AuthFailure";

/// One simulated instance, as the sim state file records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimInstance {
    /// `i-` and 17 hex digits.
    pub id: String,
    /// The state lineage of the oss state that created it.
    pub lineage: String,
    pub address: Address,
    #[serde(default = "node_kind")]
    pub kind: Kind,
    /// Where it runs; `placement.provider` is the sim provider's name.
    pub placement: Placement,
    /// The attributes it was created (or last updated) with.
    pub attributes: Attributes,
    pub tags: BTreeMap<String, String>,
    /// `10.N.x.y`, N from the location's position in the catalog; unique within the file.
    pub private_ip: Ipv4Addr,
    /// RFC 3339 UTC.
    pub launched_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Address>,
}

fn node_kind() -> Kind {
    Kind::Node
}

impl SimInstance {
    /// What refresh and create report about it.
    fn observed(&self) -> Attributes {
        let mut observed = Attributes::new();
        observed.insert("id".to_string(), Value::from(self.id.clone()));
        observed.insert(
            "private_ip".to_string(),
            Value::from(self.private_ip.to_string()),
        );
        observed.insert(
            "launched_at".to_string(),
            Value::from(self.launched_at.clone()),
        );
        observed
    }

    fn existing(&self) -> Existing {
        Existing {
            address: self.address.clone(),
            kind: self.kind,
            placement: self.placement.clone(),
            provider_id: self.id.clone(),
            attributes: self.attributes.clone(),
            observed: self.observed(),
            dependencies: self.dependencies.clone(),
        }
    }
}

/// Every instance recorded in the sim state file `state_file`, ordered by address, for tests
/// that check what "really" exists. A missing file holds none.
pub fn instances(state_file: &Path) -> Result<Vec<SimInstance>, DriverError> {
    let (list, written) = transact(state_file, &mut None, |ledger| {
        ledger.ordered().cloned().collect()
    })?;
    written?;
    Ok(list)
}

/// Remove instance `id` from the sim state file, as if it died behind oss's back. Returns
/// whether it existed.
pub fn terminate(state_file: &Path, id: &str) -> Result<bool, DriverError> {
    let (found, written) = transact(state_file, &mut None, |ledger| ledger.remove(id).is_some())?;
    written?;
    Ok(found)
}

/// The `sim` driver. See the module documentation.
pub struct SimDriver {
    cloud: Arc<Cloud>,
    latency: Duration,
    faults: Faults,
    /// Show remaining capacity in `catalog()` (real clouds do not).
    advertise_capacity: bool,
    /// `api_key` differs from `require_api_key`: every call fails as an auth error.
    credentials_rejected: bool,
    rng: Mutex<Xoshiro256PlusPlus>,
    bucket: Option<Mutex<Bucket>>,
    store: Arc<Store>,
}

impl SimDriver {
    /// Build the driver from its strategy block; see `docs/sim.md` for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        let name = config.name.as_str();
        let settings = &config.settings;
        if let Some(key) = settings
            .keys()
            .find(|key| !SETTINGS.contains(&key.as_str()))
        {
            return Err(DriverError::fatal(format!(
                "Unknown sim setting `{key}` (provider `{name}`); known settings: {}.",
                SETTINGS.join(", ")
            )));
        }
        let bad = |key: &str, what: &str| {
            DriverError::fatal(format!(
                "The sim setting `{key}` (provider `{name}`) must be {what}."
            ))
        };

        let catalog = load_catalog(name, settings.get("catalog"), &config.base_dir)?;
        let flag = |key: &str| match settings.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(key, "true or false")),
        };
        let advertise_capacity = flag("advertise_capacity")?;
        let regional = flag("regional_resources")?;
        let string = |key: &str| match settings.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(key, "a string")),
        };
        let (api_key, required_key) = (string("api_key")?, string("require_api_key")?);
        // Checked once here; only the verdict is kept, so the key lives nowhere in the driver.
        let credentials_rejected = required_key.is_some() && api_key != required_key;
        let capacity = Capacity::parse(name, &catalog, settings.get("capacity"))?;
        let latency = match settings.get("latency_ms") {
            None => Duration::ZERO,
            Some(value) => value
                .as_f64()
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
                .ok_or_else(|| bad("latency_ms", "a non-negative number of milliseconds"))?,
        };
        let faults = Faults::parse(name, settings.get("errors"))?;
        let seed = match settings.get("seed") {
            None => rand::random(),
            Some(value) => value
                .as_u64()
                .ok_or_else(|| bad("seed", "a non-negative integer"))?,
        };
        let bucket = match settings.get("rate_limit") {
            None => None,
            Some(value) => {
                let rate = value
                    .as_f64()
                    .filter(|rate| rate.is_finite() && *rate > 0.0)
                    .ok_or_else(|| bad("rate_limit", "a positive number of calls per second"))?;
                Some(Mutex::new(Bucket::new(rate)))
            }
        };
        let state_file = match settings.get("state_file") {
            Some(Value::String(path)) if !path.is_empty() => PathBuf::from(path),
            Some(_) => return Err(bad("state_file", "a file path")),
            None if plain_name(name) => config.state_dir.join("sim").join(format!("{name}.json")),
            None => {
                return Err(DriverError::fatal(format!(
                    "The sim provider name `{name}` cannot name a state file; \
                     use letters, digits, `-` and `_`, or set `state_file`."
                )));
            }
        };
        let state_file =
            std::path::absolute(&state_file).map_err(|e| io_error("resolve", &state_file, e))?;

        let networks = catalog
            .locations
            .iter()
            .enumerate()
            .map(|(n, location)| (location.id.clone(), (n % 254) as u8 + 1))
            .collect();
        let offered = catalog
            .prices
            .iter()
            .map(|p| (p.location.clone(), p.size.clone()))
            .collect();
        Ok(SimDriver {
            cloud: Arc::new(Cloud {
                name: name.to_string(),
                catalog,
                capacity,
                networks,
                offered,
                regional,
            }),
            latency,
            faults,
            advertise_capacity,
            credentials_rejected,
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
            bucket,
            store: Arc::new(Store::new(state_file)),
        })
    }

    /// The simulated cloud's state file.
    pub fn state_file(&self) -> &Path {
        &self.store.path
    }

    /// One simulated API round trip: wait the latency, then answer with the rate limit's or an
    /// injected error, if any. Runs before the call has any effect.
    async fn call(&self) -> Result<(), DriverError> {
        let name = &self.cloud.name;
        if self.credentials_rejected {
            tokio::time::sleep(self.latency).await;
            return Err(DriverError::fatal(format!(
                "Simulated provider `{name}` could not validate the provided credentials \
                 (api_key does not match require_api_key)."
            ))
            .with_code(CODE_AUTH));
        }
        let limited = self.bucket.as_ref().and_then(|bucket| {
            let mut bucket = lock(bucket);
            let wait = bucket.take(Instant::now())?;
            Some((bucket.rate, wait))
        });
        // Drawn on every call, so the sequence depends only on the seed and the call order.
        let draw: f64 = lock(&self.rng).random();
        let fault = self.faults.pick(draw);
        let timed_out = limited.is_none() && fault == Some(Fault::Timeout);
        let wait = if timed_out {
            self.latency * 2
        } else {
            self.latency
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if let Some((rate, after)) = limited {
            let mut error = DriverError::retry(format!(
                "Simulated provider `{name}` refused the call: more than {rate} calls per second \
                 (its rate_limit)."
            ))
            .with_code(CODE_THROTTLE);
            error.retry_after = Some(after);
            return Err(error);
        }
        match fault {
            None => Ok(()),
            Some(Fault::Throttle) => {
                let mut error = DriverError::retry(format!(
                    "Simulated provider `{name}` throttled the call (injected error)."
                ))
                .with_code(CODE_THROTTLE);
                error.retry_after = Some(if self.latency.is_zero() {
                    THROTTLE_WAIT
                } else {
                    self.latency
                });
                Err(error)
            }
            Some(Fault::Unavailable) => Err(DriverError::retry(format!(
                "Simulated provider `{name}` is unavailable (injected error)."
            ))
            .with_code(CODE_UNAVAILABLE)),
            Some(Fault::Timeout) => Err(DriverError::retry(format!(
                "Simulated provider `{name}` timed out (injected error)."
            ))
            .with_code(CODE_TIMEOUT)),
        }
    }
}

#[async_trait]
impl Driver for SimDriver {
    fn name(&self) -> &str {
        &self.cloud.name
    }

    fn supports(&self, kind: Kind) -> bool {
        kind == Kind::Node || self.cloud.regional
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        let mut catalog = self.cloud.catalog.clone();
        // Keep where the offerings come from (the AWS table's date) beside the rehearsal note.
        let origin = catalog
            .source
            .take()
            .map_or(String::new(), |s| format!("; offerings: {s}"));
        catalog.source = Some(format!(
            "simulated provider {} (rehearsal, not a cloud){origin}",
            self.cloud.name
        ));
        // Like real clouds, capacity shows only when a create is refused, unless advertised.
        if self.cloud.capacity.is_empty() || !self.advertise_capacity {
            return Ok(catalog);
        }
        let cloud = Arc::clone(&self.cloud);
        let remaining: Vec<Option<u64>> = self
            .store
            .run(move |ledger| {
                Ok(cloud
                    .catalog
                    .prices
                    .iter()
                    .map(|price| cloud.remaining(ledger, &price.location, &price.size))
                    .collect())
            })
            .await?;
        for (price, left) in catalog.prices.iter_mut().zip(remaining) {
            price.capacity = left;
        }
        Ok(catalog)
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        self.call().await?;
        let cloud = Arc::clone(&self.cloud);
        let lineage = lineage.to_string();
        let known: Vec<(Address, String)> = known
            .iter()
            .map(|e| (e.address.clone(), e.provider_id.clone()))
            .collect();
        self.store
            .run(move |ledger| Ok(refresh_in(ledger, &cloud.name, &lineage, &known)))
            .await
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        self.call().await?;
        let cloud = Arc::clone(&self.cloud);
        let order = Order {
            lineage: request.lineage.to_string(),
            desired: request.desired.clone(),
            placement: request.placement.clone(),
            dependencies: request.dependencies.to_vec(),
        };
        self.store
            .run(move |ledger| create_in(ledger, &cloud, order))
            .await
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        self.call().await?;
        let name = self.cloud.name.clone();
        let existing = existing.clone();
        let tags = desired.attributes.get("tags").cloned();
        // A firewall's rules change in place too.
        let ports = (existing.kind == Kind::Firewall)
            .then(|| desired.attributes.get("ports").cloned())
            .flatten();
        self.store
            .run(move |ledger| update_in(ledger, &name, existing, tags, ports))
            .await
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        self.call().await?;
        let id = existing.provider_id.clone();
        let name = self.cloud.name.clone();
        self.store
            .run(move |ledger| {
                // Like a cloud, refuse to remove a key pair or firewall a machine still uses.
                if let Some(object) = ledger.instances.get(&id)
                    && object.kind != Kind::Node
                    && let Some(user) = ledger.instances.values().find(|i| {
                        i.lineage == object.lineage && i.dependencies.contains(&object.address)
                    })
                {
                    return Err(DriverError::fatal(format!(
                        "Simulated provider `{name}` cannot delete {}: {} still uses it.",
                        object.address, user.address
                    ))
                    .with_code("DependencyViolation"));
                }
                ledger.remove(&id);
                Ok(())
            })
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// The API calls' effects, applied to the ledger under the file lock. Each checks everything
// before it changes anything, so a refused call leaves no trace.

/// What a create needs, owned so it can travel to the blocking thread.
struct Order {
    lineage: String,
    desired: Desired,
    placement: Placement,
    dependencies: Vec<Existing>,
}

fn refresh_in(
    ledger: &Ledger,
    provider: &str,
    lineage: &str,
    known: &[(Address, String)],
) -> Refreshed {
    let mut refreshed = Refreshed::default();
    for (address, id) in known {
        let seen = ledger.instances.get(id).map(SimInstance::observed);
        refreshed.known.insert(address.clone(), seen);
    }
    let known_ids: HashSet<&str> = known.iter().map(|(_, id)| id.as_str()).collect();
    let known_addresses: HashSet<&Address> = known.iter().map(|(address, _)| address).collect();
    // A second instance for an address the caller knows is left alone (not ours to judge).
    refreshed.orphans = ledger
        .ordered()
        .filter(|i| i.lineage == lineage && i.placement.provider == provider)
        .filter(|i| !known_ids.contains(i.id.as_str()) && !known_addresses.contains(&i.address))
        .map(SimInstance::existing)
        .collect();
    refreshed
}

fn create_in(ledger: &mut Ledger, cloud: &Cloud, order: Order) -> Result<Existing, DriverError> {
    let desired = &order.desired;
    if let Some(found) = ledger.find(&cloud.name, &order.lineage, &desired.address) {
        return Ok(found.existing());
    }
    let network = match desired.kind {
        Kind::Node => {
            let network = cloud.check_placement(&order.placement)?;
            cloud.check_regional(&order)?;
            network
        }
        _ => cloud.check_region(&order.placement)?,
    };
    let tags = parse_tags(&desired.address, desired.attributes.get("tags"))?;
    if desired.kind == Kind::Node {
        cloud.check_capacity(ledger, &order.placement)?;
    }
    let private_ip = ledger.new_ip(network).ok_or_else(|| {
        DriverError::fail_over(format!(
            "Simulated provider `{}` has no free private address left in 10.{network}.0.0/16 \
             (location `{}`).",
            cloud.name, order.placement.location
        ))
        .with_code(CODE_CAPACITY)
    })?;
    let instance = SimInstance {
        id: ledger.new_id(),
        lineage: order.lineage,
        address: desired.address.clone(),
        kind: desired.kind,
        placement: order.placement,
        attributes: desired.attributes.clone(),
        tags,
        private_ip,
        launched_at: crate::clock::now_rfc3339(),
        dependencies: desired.depends_on.clone(),
    };
    let existing = instance.existing();
    ledger.insert(instance);
    Ok(existing)
}

fn update_in(
    ledger: &mut Ledger,
    provider: &str,
    existing: Existing,
    tags: Option<Value>,
    ports: Option<Value>,
) -> Result<Existing, DriverError> {
    let parsed = parse_tags(&existing.address, tags.as_ref())?;
    let retag = |instance: &mut SimInstance| {
        instance.tags = parsed;
        if let Some(ports) = ports {
            instance.attributes.insert("ports".to_string(), ports);
        }
        match tags {
            Some(tags) => instance.attributes.insert("tags".to_string(), tags),
            None => instance.attributes.remove("tags"),
        };
    };
    let Some(instance) = ledger.change(&existing.provider_id, retag) else {
        return Err(DriverError::fatal(format!(
            "Simulated provider `{provider}` has no instance `{}` (node `{}`), so its tags \
             cannot be updated.",
            existing.provider_id, existing.address
        ))
        .with_code(CODE_NOT_FOUND));
    };
    Ok(Existing {
        attributes: instance.attributes.clone(),
        observed: instance.observed(),
        ..existing
    })
}

fn parse_tags(
    address: &Address,
    tags: Option<&Value>,
) -> Result<BTreeMap<String, String>, DriverError> {
    match tags {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(tags)) => tags
            .iter()
            .map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid_tags(address)),
        Some(_) => Err(invalid_tags(address)),
    }
}

fn invalid_tags(address: &Address) -> DriverError {
    DriverError::fatal(format!(
        "Node `{address}`: attribute `tags` must map names to strings."
    ))
    .with_code(CODE_INVALID)
}

// ---------------------------------------------------------------------------------------------
// The simulated cloud's fixed traits: its catalog and capacity.

struct Cloud {
    name: String,
    catalog: Catalog,
    capacity: Capacity,
    /// The second octet of each location's private network `10.N.0.0/16`.
    networks: HashMap<String, u8>,
    /// (location, size) pairs that have a price.
    offered: HashSet<(String, String)>,
    /// Simulates key pairs and firewalls per region (`regional_resources`).
    regional: bool,
}

impl Cloud {
    /// Key pairs and firewalls name a region of this provider; returns a network octet for it.
    fn check_region(&self, placement: &Placement) -> Result<u8, DriverError> {
        if !self.regional {
            return Err(DriverError::fatal(format!(
                "Simulated provider `{}` has no key pairs or firewalls (set regional_resources).",
                self.name
            ))
            .with_code(CODE_INVALID));
        }
        let location = self
            .catalog
            .locations
            .iter()
            .find(|l| l.region == placement.location)
            .ok_or_else(|| {
                let valid = self.catalog.locations.iter().map(|l| l.region.as_str());
                DriverError::fatal(unknown(&self.name, "region", &placement.location, valid))
                    .with_code(CODE_INVALID)
            })?;
        Ok(self.networks[&location.id])
    }

    /// With regional resources, a node needs its region's firewall (and key pair, if the
    /// strategy has one) handed to it, as a cloud needs their ids to launch it.
    fn check_regional(&self, order: &Order) -> Result<(), DriverError> {
        if !self.regional {
            return Ok(());
        }
        let region = self
            .catalog
            .locations
            .iter()
            .find(|l| l.id == order.placement.location)
            .map_or("", |l| l.region.as_str());
        let has = |kind: Kind| {
            order
                .dependencies
                .iter()
                .any(|d| d.kind == kind && d.placement.location == region)
        };
        if !has(Kind::Firewall) {
            return Err(DriverError::fatal(format!(
                "Simulated provider `{}` cannot launch {} in {region}: no firewall of that region \
                 was given.",
                self.name, order.desired.address
            ))
            .with_code("InvalidGroup.NotFound"));
        }
        let wants_key = order
            .desired
            .depends_on
            .iter()
            .any(|a| a.as_str().starts_with("key."));
        if wants_key && !has(Kind::Key) {
            return Err(DriverError::fatal(format!(
                "Simulated provider `{}` cannot launch {} in {region}: no key pair of that \
                 region was given.",
                self.name, order.desired.address
            ))
            .with_code("InvalidKeyPair.NotFound"));
        }
        Ok(())
    }

    /// Check that the placement names this provider's offerings; returns the location's
    /// network octet.
    fn check_placement(&self, placement: &Placement) -> Result<u8, DriverError> {
        let name = &self.name;
        let invalid = |message: String| DriverError::fatal(message).with_code(CODE_INVALID);
        if placement.provider != *name {
            return Err(invalid(format!(
                "The placement {placement} names provider `{}`, not the simulated provider \
                 `{name}`.",
                placement.provider
            )));
        }
        let catalog = &self.catalog;
        let Some(network) = self.networks.get(&placement.location) else {
            let valid = catalog.locations.iter().map(|l| l.id.as_str());
            return Err(invalid(unknown(
                name,
                "location",
                &placement.location,
                valid,
            )));
        };
        if !catalog.sizes.iter().any(|s| s.id == placement.size) {
            let valid = catalog.sizes.iter().map(|s| s.id.as_str());
            return Err(invalid(unknown(name, "size", &placement.size, valid)));
        }
        if !catalog.images.iter().any(|i| i.id == placement.image) {
            let valid = catalog.images.iter().map(|i| i.id.as_str());
            return Err(invalid(unknown(name, "image", &placement.image, valid)));
        }
        let pair = (placement.location.clone(), placement.size.clone());
        if !self.offered.contains(&pair) {
            let there: Vec<&str> = catalog
                .prices
                .iter()
                .filter(|p| p.location == placement.location)
                .map(|p| p.size.as_str())
                .collect();
            return Err(invalid(format!(
                "Simulated provider `{name}` does not offer size `{}` in location `{}`; sizes \
                 offered there: {}.",
                placement.size,
                placement.location,
                list_or_none(&there)
            )));
        }
        Ok(*network)
    }

    /// Refuse a create that would exceed a configured capacity.
    fn check_capacity(&self, ledger: &Ledger, placement: &Placement) -> Result<(), DriverError> {
        let (location, size) = (&placement.location, &placement.size);
        let full = |rule: String| {
            DriverError::fail_over(format!(
                "Simulated provider `{}` has no capacity for size `{size}` in location \
                 `{location}`: {rule}.",
                self.name
            ))
            .with_code(CODE_CAPACITY)
        };
        let pair = (location.clone(), size.clone());
        if let Some(&limit) = self.capacity.per_size.get(&pair) {
            let running = ledger.running(&self.name, location, Some(size));
            if running >= limit {
                return Err(full(format!(
                    "it holds {limit} of that size there and {running} are running"
                )));
            }
        }
        if let Some(&limit) = self.capacity.per_location.get(location) {
            let running = ledger.running(&self.name, location, None);
            if running >= limit {
                return Err(full(format!(
                    "the location holds {limit} instances and {running} are running"
                ))
                .with_scope(Scope::Location));
            }
        }
        Ok(())
    }

    /// How many more instances of `size` `location` can take, if a capacity limits it.
    fn remaining(&self, ledger: &Ledger, location: &str, size: &str) -> Option<u64> {
        let per_size = self
            .capacity
            .per_size
            .get(&(location.to_string(), size.to_string()))
            .map(|limit| limit.saturating_sub(ledger.running(&self.name, location, Some(size))));
        let per_location = self
            .capacity
            .per_location
            .get(location)
            .map(|limit| limit.saturating_sub(ledger.running(&self.name, location, None)));
        match (per_size, per_location) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn unknown<'a>(
    provider: &str,
    what: &str,
    value: &str,
    valid: impl Iterator<Item = &'a str>,
) -> String {
    let valid: Vec<&str> = valid.collect();
    format!(
        "Simulated provider `{provider}` has no {what} `{value}`; its {what}s: {}.",
        list_or_none(&valid)
    )
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// The `capacity` setting: how many instances a location, or a size in a location, holds.
#[derive(Debug, Default)]
struct Capacity {
    per_location: HashMap<String, u64>,
    per_size: HashMap<(String, String), u64>,
}

impl Capacity {
    fn parse(name: &str, catalog: &Catalog, value: Option<&Value>) -> Result<Self, DriverError> {
        let mut capacity = Capacity::default();
        let Some(value) = value else {
            return Ok(capacity);
        };
        let bad = |problem: String| {
            DriverError::fatal(format!(
                "The sim setting `capacity` (provider `{name}`) {problem}."
            ))
        };
        let Value::Object(entries) = value else {
            return Err(bad(
                "must be an object such as {\"LOCATION\": 10, \"LOCATION/SIZE\": 2}".into(),
            ));
        };
        let is_location = |id: &str| catalog.locations.iter().any(|l| l.id == id);
        let is_size = |id: &str| catalog.sizes.iter().any(|s| s.id == id);
        for (key, limit) in entries {
            let limit = limit
                .as_u64()
                .ok_or_else(|| bad(format!("`{key}` must be a non-negative integer")))?;
            if is_location(key) {
                capacity.per_location.insert(key.clone(), limit);
                continue;
            }
            match key.split_once('/') {
                Some((location, size)) if is_location(location) && is_size(size) => {
                    let pair = (location.to_string(), size.to_string());
                    capacity.per_size.insert(pair, limit);
                }
                _ => {
                    return Err(bad(format!(
                        "names `{key}`, which is neither a location of the catalog nor \
                         LOCATION/SIZE of one of its locations and sizes"
                    )));
                }
            }
        }
        Ok(capacity)
    }

    fn is_empty(&self) -> bool {
        self.per_location.is_empty() && self.per_size.is_empty()
    }
}

/// Read and check the `catalog` setting: an inline catalog or the path of a JSON file.
fn load_catalog(
    name: &str,
    value: Option<&Value>,
    base_dir: &Path,
) -> Result<Catalog, DriverError> {
    let (catalog, origin) = match value {
        None => {
            return Err(DriverError::fatal(format!(
                "The sim provider `{name}` needs the setting `catalog`: a catalog object or the \
                 path of a JSON catalog file."
            )));
        }
        // AWS's real offerings, from the price table shipped in oss.
        Some(Value::String(builtin)) if builtin == "aws" => {
            return Ok(crate::catalog::aws::price_table().clone());
        }
        Some(Value::String(path)) => {
            let origin = format!("The catalog file {path} (sim provider `{name}`)");
            let bytes = fs::read(base_dir.join(path))
                .map_err(|e| DriverError::fatal(format!("{origin} could not be read: {e}.")))?;
            let catalog = serde_json::from_slice::<Catalog>(&bytes)
                .map_err(|e| DriverError::fatal(format!("{origin} is not a catalog: {e}.")))?;
            (catalog, origin)
        }
        Some(value @ Value::Object(_)) => {
            let origin = format!("The catalog of sim provider `{name}`");
            let catalog = serde_json::from_value::<Catalog>(value.clone())
                .map_err(|e| DriverError::fatal(format!("{origin} is not a catalog: {e}.")))?;
            (catalog, origin)
        }
        Some(_) => {
            return Err(DriverError::fatal(format!(
                "The sim setting `catalog` (provider `{name}`) must be a catalog object or the \
                 path of a JSON catalog file."
            )));
        }
    };
    check_catalog(&catalog)
        .map_err(|problem| DriverError::fatal(format!("{origin} {problem}.")))?;
    Ok(catalog)
}

/// Ids are unique, every price names a known location and size once, prices are sane.
fn check_catalog(catalog: &Catalog) -> Result<(), String> {
    fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), String> {
        let mut seen = HashSet::new();
        match ids.into_iter().find(|id| !seen.insert(*id)) {
            Some(id) => Err(format!("lists the {what} `{id}` twice")),
            None => Ok(()),
        }
    }
    unique("location", catalog.locations.iter().map(|l| l.id.as_str()))?;
    unique("size", catalog.sizes.iter().map(|s| s.id.as_str()))?;
    unique("image", catalog.images.iter().map(|i| i.id.as_str()))?;
    let locations: Vec<&str> = catalog.locations.iter().map(|l| l.id.as_str()).collect();
    let sizes: Vec<&str> = catalog.sizes.iter().map(|s| s.id.as_str()).collect();
    let mut priced = HashSet::new();
    for price in &catalog.prices {
        let (location, size) = (price.location.as_str(), price.size.as_str());
        if !locations.contains(&location) {
            return Err(format!(
                "has a price for the unknown location `{location}`; its locations: {}",
                list_or_none(&locations)
            ));
        }
        if !sizes.contains(&size) {
            return Err(format!(
                "has a price for the unknown size `{size}`; its sizes: {}",
                list_or_none(&sizes)
            ));
        }
        if !priced.insert((location, size)) {
            return Err(format!(
                "prices size `{size}` in location `{location}` twice"
            ));
        }
        if !price.hourly_price.is_finite() || price.hourly_price < 0.0 {
            return Err(format!(
                "has a negative or invalid price for size `{size}` in location `{location}`"
            ));
        }
        if price.capacity.is_some() {
            return Err(format!(
                "sets `capacity` on the price of size `{size}` in location `{location}`; \
                 set capacity with the sim setting `capacity` instead"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Refusals: injected errors and the rate limit.

/// Per-call probabilities of injected errors (the `errors` setting).
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    throttle: f64,
    unavailable: f64,
    timeout: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Throttle,
    Unavailable,
    Timeout,
}

impl Faults {
    fn parse(name: &str, value: Option<&Value>) -> Result<Self, DriverError> {
        let bad = |problem: String| {
            DriverError::fatal(format!(
                "The sim setting `errors` (provider `{name}`) {problem}."
            ))
        };
        let Some(value) = value else {
            return Ok(Faults::default());
        };
        let Value::Object(entries) = value else {
            return Err(bad(
                "must be an object such as {\"throttle\": 0.1, \"unavailable\": 0.05, \
                 \"timeout\": 0.02}"
                    .into(),
            ));
        };
        let mut faults = Faults::default();
        for (key, probability) in entries {
            let probability = probability
                .as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| bad(format!("`{key}` must be a probability from 0 to 1")))?;
            match key.as_str() {
                "throttle" => faults.throttle = probability,
                "unavailable" => faults.unavailable = probability,
                "timeout" => faults.timeout = probability,
                _ => {
                    return Err(bad(format!(
                        "has the unknown key `{key}`; known keys: {}",
                        ERROR_KINDS.join(", ")
                    )));
                }
            }
        }
        if faults.throttle + faults.unavailable + faults.timeout > 1.0 + 1e-9 {
            return Err(bad("has probabilities that add up to more than 1".into()));
        }
        Ok(faults)
    }

    /// The error a call gets for a uniform draw in [0, 1).
    fn pick(&self, draw: f64) -> Option<Fault> {
        let mut bound = self.throttle;
        if draw < bound {
            return Some(Fault::Throttle);
        }
        bound += self.unavailable;
        if draw < bound {
            return Some(Fault::Unavailable);
        }
        bound += self.timeout;
        (draw < bound).then_some(Fault::Timeout)
    }
}

/// A token bucket: bursts of up to `rate` calls (at least one), refilled at `rate` per second.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Self {
        let burst = rate.max(1.0);
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Take a token; if there is none, how long until there is one.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger: the state file's instances in memory, with indexes.

#[derive(Debug, Default)]
struct Ledger {
    instances: BTreeMap<String, SimInstance>,
    /// Each instance as its line in the state file, in file order (by address, then id).
    /// Kept up to date so a write copies lines instead of encoding every instance again.
    lines: BTreeMap<(Address, String), String>,
    /// Ids by (provider, lineage, address), for adoption.
    owners: HashMap<(String, String, Address), Vec<String>>,
    ips: HashSet<Ipv4Addr>,
    /// Instances by (provider, location) and by (provider, location, size), for capacity.
    at_location: HashMap<(String, String), u64>,
    at_size: HashMap<(String, String, String), u64>,
    /// Where the next free-address search starts in each network (in memory only).
    cursors: HashMap<u8, u32>,
    /// Whether the ledger changed since it was read or written.
    dirty: bool,
}

impl Ledger {
    fn from_instances(list: Vec<SimInstance>) -> Result<Self, String> {
        let mut ledger = Ledger::default();
        for instance in list {
            if ledger.instances.contains_key(&instance.id) {
                return Err(format!("it lists the instance `{}` twice", instance.id));
            }
            ledger.insert(instance);
        }
        ledger.dirty = false;
        Ok(ledger)
    }

    fn insert(&mut self, instance: SimInstance) {
        let placement = &instance.placement;
        let provider = placement.provider.clone();
        self.owners
            .entry((
                provider.clone(),
                instance.lineage.clone(),
                instance.address.clone(),
            ))
            .or_default()
            .push(instance.id.clone());
        self.ips.insert(instance.private_ip);
        // Only machines take capacity (not key pairs or firewalls).
        if instance.kind == Kind::Node {
            *self
                .at_location
                .entry((provider.clone(), placement.location.clone()))
                .or_default() += 1;
            *self
                .at_size
                .entry((provider, placement.location.clone(), placement.size.clone()))
                .or_default() += 1;
        }
        self.lines.insert(
            (instance.address.clone(), instance.id.clone()),
            encode(&instance),
        );
        self.instances.insert(instance.id.clone(), instance);
        self.dirty = true;
    }

    /// Apply `change` to instance `id`, which must keep its id, address and placement.
    fn change(&mut self, id: &str, change: impl FnOnce(&mut SimInstance)) -> Option<&SimInstance> {
        let instance = self.instances.get_mut(id)?;
        change(instance);
        let key = (instance.address.clone(), instance.id.clone());
        self.lines.insert(key, encode(instance));
        self.dirty = true;
        Some(instance)
    }

    fn remove(&mut self, id: &str) -> Option<SimInstance> {
        let instance = self.instances.remove(id)?;
        self.lines
            .remove(&(instance.address.clone(), instance.id.clone()));
        let placement = &instance.placement;
        let provider = placement.provider.clone();
        let owner = (
            provider.clone(),
            instance.lineage.clone(),
            instance.address.clone(),
        );
        if let Some(ids) = self.owners.get_mut(&owner) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.owners.remove(&owner);
            }
        }
        self.ips.remove(&instance.private_ip);
        if instance.kind == Kind::Node {
            let location = (provider.clone(), placement.location.clone());
            if let Some(count) = self.at_location.get_mut(&location) {
                *count = count.saturating_sub(1);
            }
            let size = (provider, placement.location.clone(), placement.size.clone());
            if let Some(count) = self.at_size.get_mut(&size) {
                *count = count.saturating_sub(1);
            }
        }
        self.dirty = true;
        Some(instance)
    }

    fn find(&self, provider: &str, lineage: &str, address: &Address) -> Option<&SimInstance> {
        let owner = (provider.to_string(), lineage.to_string(), address.clone());
        let id = self.owners.get(&owner)?.first()?;
        self.instances.get(id)
    }

    /// Instances of `provider` at `location` (of `size`, if given).
    fn running(&self, provider: &str, location: &str, size: Option<&str>) -> u64 {
        let (provider, location) = (provider.to_string(), location.to_string());
        match size {
            None => self.at_location.get(&(provider, location)),
            Some(size) => self.at_size.get(&(provider, location, size.to_string())),
        }
        .copied()
        .unwrap_or(0)
    }

    /// A fresh instance id: `i-` and 17 hex digits.
    fn new_id(&self) -> String {
        loop {
            let bits: u128 = rand::random();
            let id = format!("i-{:017x}", bits & ((1u128 << 68) - 1));
            if !self.instances.contains_key(&id) {
                return id;
            }
        }
    }

    /// A free address in `10.{network}.0.0/16`: `.0.4` upward, skipping `.0` and `.255` in
    /// the last octet (like a cloud subnet's reserved addresses).
    fn new_ip(&mut self, network: u8) -> Option<Ipv4Addr> {
        const HOSTS: u32 = 1 << 16;
        let cursor = self.cursors.entry(network).or_insert(0);
        for step in 0..HOSTS {
            let host = (*cursor + step) % HOSTS;
            let last = host & 0xff;
            if host < 4 || last == 0 || last == 0xff {
                continue;
            }
            let ip = Ipv4Addr::new(10, network, (host >> 8) as u8, last as u8);
            if !self.ips.contains(&ip) {
                *cursor = (host + 1) % HOSTS;
                return Some(ip);
            }
        }
        None
    }

    /// Instances in file order: by address, then id.
    fn ordered(&self) -> impl Iterator<Item = &SimInstance> {
        self.lines
            .keys()
            .filter_map(|(_, id)| self.instances.get(id))
    }
}

/// An instance as one line of JSON.
fn encode(instance: &SimInstance) -> String {
    // Its fields are strings, numbers and JSON values with string keys: encoding cannot fail.
    serde_json::to_string(instance).expect("an instance encodes as JSON")
}

// ---------------------------------------------------------------------------------------------
// The state file: locked, cached, written atomically.

/// The state file's layout.
#[derive(Deserialize)]
struct SimFile {
    format: u32,
    instances: Vec<SimInstance>,
}

/// The identity and change times of a file, to notice that someone replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Result<Option<Stamp>, DriverError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("inspect", path, e)),
    }
}

/// A parsed state file and what it looked like when read or written.
#[derive(Debug)]
struct Cached {
    generation: u64,
    stamp: Option<Stamp>,
    ledger: Ledger,
}

/// Run `work` on the ledger of `path` under the exclusive file lock, reusing `cache` if no one
/// changed the file since, and write the file back if `work` changed the ledger.
///
/// The outer error means `work` did not run (lock or read failed); the inner result is the
/// write's, after `work` ran.
fn transact<T>(
    path: &Path,
    cache: &mut Option<Cached>,
    work: impl FnOnce(&mut Ledger) -> T,
) -> Result<(T, Result<(), DriverError>), DriverError> {
    let lock = FileLock::acquire(path)?;
    let generation = lock.generation()?;
    let current = stamp(path)?;
    let cached = match cache.take() {
        Some(cached) if cached.generation == generation && cached.stamp == current => {
            cache.insert(cached)
        }
        // Another writer changed the file (or nothing is cached yet).
        _ => cache.insert(Cached {
            generation,
            stamp: current,
            ledger: read_ledger(path)?,
        }),
    };
    cached.ledger.dirty = false;
    let value = work(&mut cached.ledger);
    if !cached.ledger.dirty {
        return Ok((value, Ok(())));
    }
    // The generation goes up before the file changes: a crash in between costs others a
    // needless re-read, never a stale cache.
    let next = generation.wrapping_add(1);
    let written = lock
        .set_generation(next)
        .and_then(|()| write_ledger(path, &cached.ledger))
        .and_then(|()| stamp(path));
    match written {
        Ok(stamp) => {
            cached.generation = next;
            cached.stamp = stamp;
            cached.ledger.dirty = false;
            Ok((value, Ok(())))
        }
        Err(error) => {
            *cache = None;
            Ok((value, Err(error)))
        }
    }
}

fn read_ledger(path: &Path) -> Result<Ledger, DriverError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ledger::default()),
        Err(e) => return Err(io_error("read", path, e)),
    };
    let corrupt = |problem: String| {
        DriverError::fatal(format!(
            "The sim state file {} is damaged: {problem}.",
            path.display()
        ))
    };
    let file: SimFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.format != FORMAT {
        return Err(corrupt(format!(
            "its format is {}, this build reads format {FORMAT}",
            file.format
        )));
    }
    Ledger::from_instances(file.instances).map_err(corrupt)
}

/// Write the ledger atomically: temporary file, fsync, rename, fsync of the directory. One
/// instance per line, so the file reads well in a pager and diffs line by line.
fn write_ledger(path: &Path, ledger: &Ledger) -> Result<(), DriverError> {
    let dir = parent_dir(path);
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);
    let write = || -> io::Result<()> {
        let file = File::create(&temp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write!(out, "{{\n  \"format\": {FORMAT},\n  \"instances\": [")?;
        for (n, line) in ledger.lines.values().enumerate() {
            out.write_all(if n == 0 { b"\n    " } else { b",\n    " })?;
            out.write_all(line.as_bytes())?;
        }
        out.write_all(if ledger.instances.is_empty() {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        })?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    };
    write().map_err(|e| io_error("write", path, e))
}

/// An exclusive `flock` on `<state file>.lock`, held until dropped. The lock file holds the
/// generation: a counter every writer bumps, so cached readers notice any change.
struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn acquire(state_file: &Path) -> Result<Self, DriverError> {
        let dir = parent_dir(state_file);
        fs::create_dir_all(&dir).map_err(|e| io_error("create the directory", &dir, e))?;
        let mut name = state_file.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error("open", &path, e))?;
        loop {
            // SAFETY: flock on a descriptor we own; it does not touch memory.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock { file, path });
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(io_error("lock", &path, error));
            }
        }
    }

    fn generation(&self) -> Result<u64, DriverError> {
        let mut text = String::new();
        (&self.file)
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).read_to_string(&mut text))
            .map_err(|e| io_error("read", &self.path, e))?;
        Ok(text.trim().parse().unwrap_or(0))
    }

    fn set_generation(&self, generation: u64) -> Result<(), DriverError> {
        let text = format!("{generation}\n");
        self.file
            .set_len(0)
            .and_then(|()| self.file.write_all_at(text.as_bytes(), 0))
            .map_err(|e| io_error("write", &self.path, e))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first is merely explicit.
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The state file of one driver, with a cache and a queue of calls waiting for the lock.
///
/// A call queues its work, starts a drain on a blocking thread and waits for its answer. A
/// drain takes the cache mutex, then every queued work, and runs them all in one [`transact`]:
/// one file lock, one freshness check and at most one write for the batch. Works queued while
/// a batch is being written wait for the next drain, so batches grow with the load; a drain
/// that finds the queue empty (an earlier one took its work) ends at once.
struct Store {
    path: PathBuf,
    queue: Mutex<Vec<Box<dyn Job>>>,
    cache: Mutex<Option<Cached>>,
}

impl Store {
    fn new(path: PathBuf) -> Self {
        Store {
            path,
            queue: Mutex::new(Vec::new()),
            cache: Mutex::new(None),
        }
    }

    async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T, DriverError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ledger) -> Result<T, DriverError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        lock(&self.queue).push(Box::new(Task { work, reply }));
        let store = Arc::clone(self);
        // Not awaited: the answer may come from an earlier drain, and waiting for this one
        // to get the cache too would undo the batching.
        drop(tokio::task::spawn_blocking(move || store.drain()));
        answer.await.map_err(|_| {
            DriverError::fatal("A sim driver call was dropped before it was answered.")
        })?
    }

    fn drain(&self) {
        let mut cache = lock(&self.cache);
        let jobs = std::mem::take(&mut *lock(&self.queue));
        if jobs.is_empty() {
            return;
        }
        let mut pending = Some(jobs);
        let outcome = transact(&self.path, &mut cache, |ledger| {
            let jobs = pending.take().unwrap_or_default();
            jobs.into_iter()
                .map(|job| job.run(ledger))
                .collect::<Vec<_>>()
        });
        match outcome {
            Ok((replies, written)) => {
                for reply in replies {
                    reply(written.clone());
                }
            }
            Err(error) => {
                for job in pending.into_iter().flatten() {
                    job.fail(error.clone());
                }
            }
        }
    }
}

/// Sends a work's answer once the batch's write is done (or failed).
type Reply = Box<dyn FnOnce(Result<(), DriverError>) + Send>;

trait Job: Send {
    fn run(self: Box<Self>, ledger: &mut Ledger) -> Reply;
    fn fail(self: Box<Self>, error: DriverError);
}

struct Task<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, DriverError>>,
}

impl<F, T> Job for Task<F, T>
where
    T: Send + 'static,
    F: FnOnce(&mut Ledger) -> Result<T, DriverError> + Send + 'static,
{
    fn run(self: Box<Self>, ledger: &mut Ledger) -> Reply {
        let result = (self.work)(ledger);
        let reply = self.reply;
        Box::new(move |written| {
            let _ = reply.send(result.and_then(|value| written.map(|()| value)));
        })
    }

    fn fail(self: Box<Self>, error: DriverError) {
        let _ = self.reply.send(Err(error));
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn io_error(what: &str, path: &Path, error: io::Error) -> DriverError {
    DriverError::fatal(format!("Could not {what} {}: {error}.", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::ErrorClass;
    use serde_json::{Map, json};
    use tempfile::TempDir;

    const LINEAGE: &str = "lineage-test";

    fn location(id: &str) -> Value {
        json!({
            "id": id, "name": id.to_uppercase(), "region": "sim-1", "zone": id,
            "country": "AU", "continent": "oceania", "latitude": -33.9, "longitude": 151.2
        })
    }

    /// Two locations and two sizes; `large` is only offered in `sim-a`.
    fn catalog() -> Value {
        json!({
            "locations": [location("sim-a"), location("sim-b")],
            "sizes": [
                {"id": "small", "name": "Small", "vcpus": 1, "memory_gib": 1.0, "disk_gib": 10, "arch": "x86_64"},
                {"id": "large", "name": "Large", "vcpus": 8, "memory_gib": 32.0, "disk_gib": 100, "arch": "x86_64"}
            ],
            "images": [
                {"id": "ubuntu-24.04", "name": "Ubuntu 24.04", "os": "ubuntu", "version": "24.04", "arch": "any"}
            ],
            "prices": [
                {"location": "sim-a", "size": "small", "hourly_price": 0.01, "currency": "USD"},
                {"location": "sim-a", "size": "large", "hourly_price": 0.4, "currency": "USD"},
                {"location": "sim-b", "size": "small", "hourly_price": 0.02, "currency": "USD"}
            ]
        })
    }

    struct Env {
        tmp: TempDir,
    }

    impl Env {
        fn new() -> Self {
            Env {
                tmp: tempfile::tempdir().expect("temp dir"),
            }
        }

        /// A driver named `sim` on this environment's state directory; `extra` is merged into
        /// settings that hold the test catalog.
        fn driver(&self, extra: Value) -> SimDriver {
            self.try_driver(extra).expect("driver")
        }

        fn try_driver(&self, extra: Value) -> Result<SimDriver, DriverError> {
            let mut settings = Map::new();
            settings.insert("catalog".into(), catalog());
            if let Value::Object(extra) = extra {
                settings.extend(extra);
            }
            SimDriver::new(DriverConfig {
                base_dir: PathBuf::from("."),
                name: "sim".into(),
                settings,
                state_dir: self.tmp.path().join("state"),
            })
        }

        fn state_file(&self) -> PathBuf {
            self.tmp.path().join("state/sim/sim.json")
        }

        fn instances(&self) -> Vec<SimInstance> {
            instances(&self.state_file()).expect("instances")
        }
    }

    fn placement(location: &str, size: &str) -> Placement {
        Placement {
            provider: "sim".into(),
            location: location.into(),
            size: size.into(),
            image: "ubuntu-24.04".into(),
            hourly_price: Some(0.01),
            currency: Some("USD".into()),
        }
    }

    fn node(index: usize) -> Desired {
        let attributes = json!({
            "name": format!("web-{index}"),
            "index": index,
            "command": "true",
            "tags": {"team": "a"},
        });
        Desired {
            address: Address::node("web", index),
            kind: Kind::Node,
            placement: placement("sim-a", "small"),
            fallbacks: Vec::new(),
            attributes: serde_json::from_value(attributes).expect("attributes"),
            depends_on: Vec::new(),
        }
    }

    async fn create_at(
        driver: &SimDriver,
        index: usize,
        location: &str,
        size: &str,
    ) -> Result<Existing, DriverError> {
        let desired = node(index);
        let placement = placement(location, size);
        let request = CreateRequest {
            desired: &desired,
            placement: &placement,
            lineage: LINEAGE,
            dependencies: &[],
        };
        driver.create(request).await
    }

    async fn create(driver: &SimDriver, index: usize) -> Result<Existing, DriverError> {
        create_at(driver, index, "sim-a", "small").await
    }

    #[tokio::test]
    async fn catalog_comes_from_an_inline_object_or_a_file() {
        let env = Env::new();
        let inline = env.driver(json!({})).catalog().await.expect("catalog");
        assert_eq!(inline.locations.len(), 2);
        assert_eq!(inline.sizes[1].id, "large");
        assert_eq!(inline.prices.len(), 3);
        assert!(inline.prices.iter().all(|p| p.capacity.is_none()));
        assert_eq!(
            inline.source.as_deref(),
            Some("simulated provider sim (rehearsal, not a cloud)")
        );

        let path = env.tmp.path().join("catalog.json");
        fs::write(&path, catalog().to_string()).expect("write catalog");
        let from_file = env
            .driver(json!({"catalog": path.to_str().expect("utf-8")}))
            .catalog()
            .await
            .expect("catalog");
        assert_eq!(from_file, inline);
    }

    #[test]
    fn bad_catalogs_are_refused() {
        let env = Env::new();
        let refused = |settings: Value| {
            let error = env.try_driver(settings).err().expect("refused");
            assert_eq!(error.class, ErrorClass::Fatal);
            error.message
        };

        let mut config = DriverConfig {
            base_dir: PathBuf::from("."),
            name: "sim".into(),
            settings: Map::new(),
            state_dir: env.tmp.path().to_path_buf(),
        };
        let missing = SimDriver::new(config.clone()).err().expect("refused");
        assert!(missing.message.contains("`catalog`"), "{}", missing.message);
        config.settings.insert("catalog".into(), json!(3));
        assert!(SimDriver::new(config).is_err());

        let mut bad_location = catalog();
        bad_location["prices"][0]["location"] = json!("sim-z");
        let message = refused(json!({"catalog": bad_location}));
        assert!(message.contains("unknown location `sim-z`"), "{message}");
        assert!(message.contains("sim-a, sim-b"), "{message}");

        let mut bad_size = catalog();
        bad_size["prices"][2]["size"] = json!("huge");
        let message = refused(json!({"catalog": bad_size}));
        assert!(message.contains("unknown size `huge`"), "{message}");

        let mut incomplete = catalog();
        incomplete["locations"][0]
            .as_object_mut()
            .expect("object")
            .remove("zone");
        let message = refused(json!({"catalog": incomplete}));
        assert!(message.contains("not a catalog"), "{message}");
        assert!(message.contains("zone"), "{message}");

        let mut with_capacity = catalog();
        with_capacity["prices"][0]["capacity"] = json!(3);
        let message = refused(json!({"catalog": with_capacity}));
        assert!(message.contains("sim setting `capacity`"), "{message}");

        let absent = env.tmp.path().join("absent.json");
        let message = refused(json!({"catalog": absent.to_str().expect("utf-8")}));
        assert!(message.contains("could not be read"), "{message}");

        let broken = env.tmp.path().join("broken.json");
        fs::write(&broken, "{\"locations\": [").expect("write");
        let message = refused(json!({"catalog": broken.to_str().expect("utf-8")}));
        assert!(message.contains("broken.json"), "{message}");
        assert!(message.contains("not a catalog"), "{message}");
    }

    #[test]
    fn unknown_and_malformed_settings_are_refused() {
        let env = Env::new();
        let message = |settings: Value| env.try_driver(settings).err().expect("refused").message;

        let unknown = message(json!({"latency": 5}));
        assert!(unknown.contains("`latency`"), "{unknown}");
        assert!(
            unknown.contains("catalog, latency_ms, errors, seed, capacity, advertise_capacity, rate_limit, state_file"),
            "{unknown}"
        );
        let unknown = message(json!({"errors": {"throttling": 0.1}}));
        assert!(unknown.contains("`throttling`"), "{unknown}");
        assert!(
            unknown.contains("throttle, unavailable, timeout"),
            "{unknown}"
        );

        assert!(
            message(json!({"errors": {"throttle": 0.7, "timeout": 0.7}})).contains("more than 1")
        );
        assert!(message(json!({"errors": {"timeout": 2}})).contains("probability"));
        assert!(message(json!({"latency_ms": -1})).contains("latency_ms"));
        assert!(message(json!({"seed": "x"})).contains("seed"));
        assert!(message(json!({"rate_limit": 0})).contains("rate_limit"));
        assert!(message(json!({"capacity": {"sim-z": 1}})).contains("`sim-z`"));
        assert!(message(json!({"capacity": {"sim-a/huge": 1}})).contains("`sim-a/huge`"));
        assert!(message(json!({"capacity": {"sim-a": -1}})).contains("non-negative"));
    }

    #[tokio::test]
    async fn create_refresh_delete_round_trip() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        assert_eq!(driver.name(), "sim");
        assert_eq!(driver.state_file(), env.state_file());

        let existing = create(&driver, 0).await.expect("create");
        let id = &existing.provider_id;
        assert!(id.starts_with("i-") && id.len() == 19, "{id}");
        assert!(id[2..].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_eq!(existing.placement, placement("sim-a", "small"));
        assert_eq!(existing.attributes, node(0).attributes);
        assert_eq!(existing.observed["id"], json!(id));
        assert_eq!(existing.observed["private_ip"], json!("10.1.0.4"));
        assert!(
            existing.observed["launched_at"]
                .as_str()
                .expect("time")
                .ends_with('Z')
        );

        let recorded = env.instances();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].lineage, LINEAGE);
        assert_eq!(recorded[0].address, Address::node("web", 0));
        assert_eq!(recorded[0].tags["team"], "a");

        let second = create_at(&driver, 1, "sim-b", "small")
            .await
            .expect("create");
        assert_eq!(second.observed["private_ip"], json!("10.2.0.4"));

        let known = [existing.clone(), second.clone()];
        let refreshed = driver.refresh(LINEAGE, &known).await.expect("refresh");
        assert_eq!(refreshed.known.len(), 2);
        assert_eq!(
            refreshed.known[&existing.address].as_ref(),
            Some(&existing.observed)
        );
        assert!(refreshed.orphans.is_empty() && refreshed.debris.is_empty());

        driver.delete(&existing).await.expect("delete");
        let refreshed = driver.refresh(LINEAGE, &known).await.expect("refresh");
        assert_eq!(refreshed.known[&existing.address], None);
        assert!(refreshed.known[&second.address].is_some());
        assert_eq!(env.instances().len(), 1);
        driver
            .delete(&existing)
            .await
            .expect("deleting an unknown id succeeds");
    }

    #[tokio::test]
    async fn create_twice_adopts_the_first_instance() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        let first = create(&driver, 0).await.expect("create");
        let again = create(&driver, 0).await.expect("create again");
        assert_eq!(again, first);
        assert_eq!(env.instances().len(), 1);
    }

    #[tokio::test]
    async fn invalid_placements_are_fatal_and_name_the_value() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        let cases = [
            ("sim-z", "small", "location `sim-z`"),
            ("sim-a", "huge", "size `huge`"),
            (
                "sim-b",
                "large",
                "does not offer size `large` in location `sim-b`",
            ),
        ];
        for (location, size, expected) in cases {
            let error = create_at(&driver, 0, location, size).await.unwrap_err();
            assert_eq!(error.class, ErrorClass::Fatal);
            assert_eq!(error.code.as_deref(), Some("InvalidParameterValue"));
            assert!(error.message.contains(expected), "{}", error.message);
        }
        let desired = node(0);
        let mut image = placement("sim-a", "small");
        image.image = "windows".into();
        let request = CreateRequest {
            desired: &desired,
            placement: &image,
            lineage: LINEAGE,
            dependencies: &[],
        };
        let error = driver.create(request).await.unwrap_err();
        assert!(
            error.message.contains("image `windows`"),
            "{}",
            error.message
        );
        assert!(env.instances().is_empty());
    }

    #[tokio::test]
    async fn zero_capacity_fails_over() {
        let env = Env::new();
        let driver = env.driver(json!({"capacity": {"sim-a": 0}}));
        let error = create(&driver, 0).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::FailOver);
        assert_eq!(error.code.as_deref(), Some("InsufficientInstanceCapacity"));
        assert!(error.message.contains("`sim-a`"), "{}", error.message);
        assert!(error.message.contains("`small`"), "{}", error.message);
        assert!(env.instances().is_empty());
        // Other locations are not limited.
        create_at(&driver, 0, "sim-b", "small")
            .await
            .expect("sim-b has room");
    }

    #[tokio::test]
    async fn capacity_is_enforced_and_shown_as_remaining() {
        let env = Env::new();
        let driver = env.driver(
            json!({"capacity": {"sim-a/small": 1, "sim-b": 2}, "advertise_capacity": true}),
        );
        let capacities = |catalog: &Catalog| -> Vec<Option<u64>> {
            catalog.prices.iter().map(|p| p.capacity).collect()
        };
        let catalog = driver.catalog().await.expect("catalog");
        assert_eq!(capacities(&catalog), [Some(1), None, Some(2)]);

        let first = create(&driver, 0).await.expect("first fits");
        let error = create(&driver, 1).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::FailOver);
        assert_eq!(error.code.as_deref(), Some("InsufficientInstanceCapacity"));
        assert!(
            error.message.contains("size `small` in location `sim-a`"),
            "{}",
            error.message
        );
        create_at(&driver, 1, "sim-a", "large")
            .await
            .expect("another size still fits");
        create_at(&driver, 2, "sim-b", "small")
            .await
            .expect("sim-b fits");
        let catalog = driver.catalog().await.expect("catalog");
        assert_eq!(capacities(&catalog), [Some(0), None, Some(1)]);

        driver.delete(&first).await.expect("delete");
        let catalog = driver.catalog().await.expect("catalog");
        assert_eq!(capacities(&catalog), [Some(1), None, Some(1)]);
        create(&driver, 3).await.expect("room again");
    }

    /// The outcome of `count` sequential refreshes: `ok` or the error code.
    async fn outcomes(driver: &SimDriver, count: usize) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..count {
            seen.push(match driver.refresh(LINEAGE, &[]).await {
                Ok(_) => "ok".to_string(),
                Err(e) => {
                    assert_eq!(e.class, ErrorClass::Retry);
                    e.code.expect("code")
                }
            });
        }
        seen
    }

    #[tokio::test]
    async fn seeded_errors_are_reproducible() {
        let env = Env::new();
        let settings = json!({
            "errors": {"throttle": 0.2, "unavailable": 0.2, "timeout": 0.2},
            "seed": 7
        });
        let first = outcomes(&env.driver(settings.clone()), 60).await;
        let second = outcomes(&env.driver(settings), 60).await;
        assert_eq!(first, second);
        for code in [
            "ok",
            "RequestLimitExceeded",
            "ServiceUnavailable",
            "RequestTimeout",
        ] {
            assert!(
                first.iter().any(|c| c == code),
                "{code} never seen: {first:?}"
            );
        }
        let other = outcomes(
            &env.driver(json!({"errors": {"throttle": 0.5}, "seed": 8})),
            60,
        )
        .await;
        assert_ne!(other, first);
    }

    #[tokio::test]
    async fn retried_create_after_injected_errors_never_duplicates() {
        let env = Env::new();
        let driver = env.driver(json!({
            "errors": {"throttle": 0.3, "unavailable": 0.2, "timeout": 0.2},
            "seed": 11
        }));
        let mut failures = 0;
        for index in 0..5 {
            loop {
                match create(&driver, index).await {
                    Ok(_) => break,
                    Err(error) => {
                        assert_eq!(error.class, ErrorClass::Retry);
                        if error.code.as_deref() == Some("RequestLimitExceeded") {
                            assert_eq!(error.retry_after, Some(THROTTLE_WAIT));
                        }
                        // The refused call left nothing behind.
                        assert_eq!(env.instances().len(), index);
                        failures += 1;
                    }
                }
            }
        }
        assert!(failures > 0, "the seed injected no error");
        // A create repeated after success adopts, however often the call is retried.
        while create(&driver, 0).await.is_err() {}
        let recorded = env.instances();
        assert_eq!(recorded.len(), 5);
        let addresses: HashSet<&Address> = recorded.iter().map(|i| &i.address).collect();
        assert_eq!(addresses.len(), 5);
    }

    #[tokio::test]
    async fn latency_applies_to_api_calls_not_to_the_catalog() {
        let env = Env::new();
        let latency = Duration::from_millis(20);
        let driver = env.driver(json!({"latency_ms": 20}));

        let started = Instant::now();
        let existing = create(&driver, 0).await.expect("create");
        assert!(started.elapsed() >= latency);
        let started = Instant::now();
        driver.refresh(LINEAGE, &[]).await.expect("refresh");
        assert!(started.elapsed() >= latency);
        let started = Instant::now();
        driver.update(&existing, &node(0)).await.expect("update");
        assert!(started.elapsed() >= latency);
        let started = Instant::now();
        driver.delete(&existing).await.expect("delete");
        assert!(started.elapsed() >= latency);

        let slow = env.driver(json!({"latency_ms": 1000}));
        let started = Instant::now();
        slow.catalog().await.expect("catalog");
        assert!(started.elapsed() < Duration::from_millis(1000));

        // An injected timeout takes twice the latency.
        let timing_out = env.driver(json!({"latency_ms": 10, "errors": {"timeout": 1}}));
        let started = Instant::now();
        let error = timing_out.refresh(LINEAGE, &[]).await.unwrap_err();
        assert_eq!(error.code.as_deref(), Some("RequestTimeout"));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[tokio::test]
    async fn rate_limit_throttles_calls_beyond_it() {
        let env = Env::new();
        let driver = env.driver(json!({"rate_limit": 3}));
        let mut results = Vec::new();
        for _ in 0..5 {
            results.push(driver.refresh(LINEAGE, &[]).await);
        }
        assert!(results[..3].iter().all(Result::is_ok));
        let error = results[3].as_ref().unwrap_err();
        assert_eq!(error.class, ErrorClass::Retry);
        assert_eq!(error.code.as_deref(), Some("RequestLimitExceeded"));
        let wait = error.retry_after.expect("retry_after");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
        assert!(results[4].is_err());

        tokio::time::sleep(wait).await;
        driver
            .refresh(LINEAGE, &[])
            .await
            .expect("a token came back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drivers_sharing_a_state_file_see_each_other() {
        let env = Env::new();
        // Two drivers, two caches: like two oss processes on one simulated cloud.
        let one = Arc::new(env.driver(json!({"capacity": {"sim-a": 30}})));
        let two =
            Arc::new(env.driver(json!({"capacity": {"sim-a": 30}, "advertise_capacity": true})));

        let first = create(&one, 0).await.expect("create");
        let refreshed = two.refresh(LINEAGE, &[]).await.expect("refresh");
        assert_eq!(refreshed.orphans, std::slice::from_ref(&first));
        assert_eq!(create(&two, 0).await.expect("adopt"), first);

        // Concurrent creates from both: every one recorded once, addresses unique, capacity
        // counted across both.
        let mut tasks = tokio::task::JoinSet::new();
        for index in 1..40 {
            let driver = Arc::clone(if index % 2 == 0 { &one } else { &two });
            tasks.spawn(async move { create(&driver, index).await });
        }
        let mut created = 1;
        let mut refused = 0;
        while let Some(result) = tasks.join_next().await {
            match result.expect("task") {
                Ok(_) => created += 1,
                Err(e) => {
                    assert_eq!(e.code.as_deref(), Some("InsufficientInstanceCapacity"));
                    refused += 1;
                }
            }
        }
        assert_eq!((created, refused), (30, 10));
        let recorded = env.instances();
        assert_eq!(recorded.len(), 30);
        let ips: HashSet<Ipv4Addr> = recorded.iter().map(|i| i.private_ip).collect();
        let ids: HashSet<&str> = recorded.iter().map(|i| i.id.as_str()).collect();
        assert_eq!((ips.len(), ids.len()), (30, 30));

        let seen_by_one = one.refresh(LINEAGE, &[]).await.expect("refresh");
        assert_eq!(seen_by_one.orphans.len(), 30);
        let catalog = two.catalog().await.expect("catalog");
        assert_eq!(catalog.prices[0].capacity, Some(0));
    }

    #[tokio::test]
    async fn update_changes_only_tags() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        let existing = create(&driver, 0).await.expect("create");
        let mut desired = node(0);
        desired
            .attributes
            .insert("tags".into(), json!({"team": "b", "tier": "web"}));
        desired.attributes.insert("command".into(), json!("false"));

        let updated = driver.update(&existing, &desired).await.expect("update");
        assert_eq!(updated.provider_id, existing.provider_id);
        assert_eq!(
            updated.attributes["tags"],
            json!({"team": "b", "tier": "web"})
        );
        assert_eq!(updated.attributes["command"], json!("true"));
        let recorded = &env.instances()[0];
        assert_eq!(recorded.tags.len(), 2);
        assert_eq!(recorded.tags["tier"], "web");
        assert_eq!(
            recorded.attributes["tags"],
            json!({"team": "b", "tier": "web"})
        );
        assert_eq!(json!(recorded.private_ip), existing.observed["private_ip"]);

        desired.attributes.insert("tags".into(), json!({"team": 3}));
        let error = driver.update(&existing, &desired).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Fatal);
        assert_eq!(env.instances()[0].tags["team"], "b");

        driver.delete(&existing).await.expect("delete");
        let error = driver.update(&existing, &node(0)).await.unwrap_err();
        assert_eq!(error.code.as_deref(), Some("InvalidInstanceID.NotFound"));
    }

    #[tokio::test]
    async fn refresh_finds_orphans_of_its_lineage_only() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        let known = create(&driver, 0).await.expect("create");
        let orphan = create(&driver, 1).await.expect("create");
        let desired = node(2);
        let placement = placement("sim-a", "small");
        let foreign = CreateRequest {
            desired: &desired,
            placement: &placement,
            lineage: "another-lineage",
            dependencies: &[],
        };
        driver.create(foreign).await.expect("create foreign");

        let refreshed = driver
            .refresh(LINEAGE, std::slice::from_ref(&known))
            .await
            .expect("refresh");
        assert_eq!(refreshed.orphans, [orphan]);
        assert!(refreshed.debris.is_empty());

        // Another sim provider on the same state file has its own instances.
        let mut settings = Map::new();
        settings.insert("catalog".into(), catalog());
        settings.insert(
            "state_file".into(),
            json!(env.state_file().to_str().expect("utf-8")),
        );
        let other = SimDriver::new(DriverConfig {
            base_dir: PathBuf::from("."),
            name: "sim-2".into(),
            settings,
            state_dir: env.tmp.path().join("state"),
        })
        .expect("driver");
        let refreshed = other.refresh(LINEAGE, &[]).await.expect("refresh");
        assert!(refreshed.orphans.is_empty());
    }

    #[tokio::test]
    async fn terminated_instances_are_reported_gone() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        let existing = create(&driver, 0).await.expect("create");
        // Warm the driver's cache before the instance dies behind its back.
        driver.refresh(LINEAGE, &[]).await.expect("refresh");

        assert!(terminate(&env.state_file(), &existing.provider_id).expect("terminate"));
        assert!(!terminate(&env.state_file(), &existing.provider_id).expect("again"));
        let refreshed = driver
            .refresh(LINEAGE, std::slice::from_ref(&existing))
            .await
            .expect("refresh");
        assert_eq!(refreshed.known[&existing.address], None);
        assert!(refreshed.orphans.is_empty());

        // The next create makes a new instance rather than adopting the dead one.
        let again = create(&driver, 0).await.expect("create");
        assert_ne!(again.provider_id, existing.provider_id);
    }

    #[tokio::test]
    async fn state_file_is_readable_json_and_damage_is_reported() {
        let env = Env::new();
        let driver = env.driver(json!({}));
        create(&driver, 0).await.expect("create");
        create(&driver, 1).await.expect("create");
        let text = fs::read_to_string(env.state_file()).expect("read");
        let parsed: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(parsed["format"], json!(1));
        assert_eq!(parsed["instances"].as_array().expect("array").len(), 2);
        assert_eq!(text.lines().count(), 7, "{text}");

        fs::write(env.state_file(), "{\"format\": 1, \"instances\": [").expect("damage");
        let error = driver.refresh(LINEAGE, &[]).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Fatal);
        assert!(error.message.contains("damaged"), "{}", error.message);
    }

    #[tokio::test]
    async fn builtin_aws_catalog_and_paths_relative_to_the_strategy() {
        let env = Env::new();
        let aws = env.driver(json!({"catalog": "aws"}));
        let catalog = aws.catalog().await.expect("catalog");
        let table = crate::catalog::aws::price_table();
        assert!(
            catalog.prices == table.prices && catalog.locations == table.locations,
            "AWS offerings"
        );
        assert!(catalog.source.unwrap().contains("rehearsal, not a cloud"));

        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
        let file = dir.path().join("sub/cat.json");
        let inline = env.driver(json!({})).catalog().await.expect("catalog");
        fs::write(&file, serde_json::to_vec(&inline).expect("json")).expect("write");
        let mut config = DriverConfig {
            base_dir: dir.path().to_path_buf(),
            name: "rel".into(),
            settings: json!({"catalog": "sub/cat.json"})
                .as_object()
                .expect("object")
                .clone(),
            state_dir: dir.path().join("state"),
        };
        let driver = SimDriver::new(config.clone()).expect("relative to base_dir");
        assert_eq!(
            driver.catalog().await.expect("catalog").prices,
            inline.prices
        );
        config.base_dir = PathBuf::from("/nonexistent");
        assert!(SimDriver::new(config).is_err());
    }

    #[tokio::test]
    async fn a_wrong_api_key_is_an_auth_failure_that_never_names_the_key() {
        let env = Env::new();
        let driver =
            env.driver(json!({"api_key": "wrong-secret-123", "require_api_key": "right-456"}));
        let error = create_at(&driver, 0, "sim-a", "small")
            .await
            .expect_err("refused");
        assert_eq!(error.class, ErrorClass::Fatal);
        assert_eq!(error.code.as_deref(), Some("AuthFailure"));
        assert!(
            !error.message.contains("wrong-secret-123") && !error.message.contains("right-456")
        );
        assert!(env.instances().is_empty());
        let ok = env.driver(json!({"api_key": "right-456", "require_api_key": "right-456"}));
        create_at(&ok, 0, "sim-a", "small")
            .await
            .expect("the right key works");
    }

    #[tokio::test]
    async fn a_full_location_refuses_the_whole_location() {
        let env = Env::new();
        let driver = env.driver(json!({"capacity": {"sim-a": 0}}));
        let error = create_at(&driver, 0, "sim-a", "small")
            .await
            .expect_err("full");
        assert_eq!(error.scope, Scope::Location);
        let driver = env.driver(json!({"capacity": {"sim-a/small": 0}}));
        let error = create_at(&driver, 0, "sim-a", "small")
            .await
            .expect_err("full");
        assert_eq!(error.scope, Scope::Offer);
        // Not advertised by default: placement learns of it only when a create is refused.
        assert!(
            driver
                .catalog()
                .await
                .expect("catalog")
                .prices
                .iter()
                .all(|p| p.capacity.is_none())
        );
    }
}
