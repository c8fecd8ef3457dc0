//! The `sim` provider: a simulated cloud, for rehearsing strategies and for testing the engine
//! against cloud-like behaviour. It is never a cloud: nothing runs, nothing is billed.
//!
//! Its offerings are a catalog given in the strategy (inline or as a JSON file). Its
//! "instances" are records in a JSON state file (`STATE_DIR/sim/<name>.json` unless the
//! `state_file` setting says otherwise), each marked with the resource address and the state
//! lineage like a real cloud's tags, so a crash between create and save ends in adoption.
//!
//! Every API call (refresh, create, update, delete) waits `latency_ms` and may be refused, all
//! before it has any effect: by injected errors (`faults`: throttling, 503s, timeouts, drawn
//! from a seedable generator), by a per-process rate limit (`bucket`), or, for creates, by
//! per-location capacity (`capacity`, enforced by `cloud`), which `catalog()` reports as the
//! remaining capacity of each price. The calls' effects on the instances are in `calls`, the
//! instances and their indexes in `ledger`, the locked, cached, batched state file in `store`,
//! the settings in `settings`.
//!
//! [`instances`] and [`terminate`] let tests look at, and tamper with, what "really" exists.
//!
//! This driver never reads or writes the oss state file and never prints.

mod bucket;
mod calls;
mod capacity;
mod catalog;
mod cloud;
mod faults;
mod ledger;
mod settings;
pub use settings::SECRET_SETTINGS;
mod store;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};

use super::settings::SettingsError;
use super::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed};
use crate::catalog::Catalog;
use crate::net::pace::Pace;
use crate::resource::{Address, Desired, Existing, Kind};
use bucket::Bucket;
use calls::{Order, create_in, instance_of, refresh_in, remark_in, update_in};
use cloud::Cloud;
use faults::{Fault, Faults};
pub use ledger::SimInstance;
use store::{Store, transact};

/// What an injected throttle asks to wait when the provider has no latency.
const THROTTLE_WAIT: Duration = Duration::from_millis(50);

const CODE_THROTTLE: &str = "RequestLimitExceeded";
const CODE_UNAVAILABLE: &str = "ServiceUnavailable";
const CODE_TIMEOUT: &str = "RequestTimeout";
const CODE_CAPACITY: &str = "InsufficientInstanceCapacity";
const CODE_INVALID: &str = "InvalidParameterValue";
const CODE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";
const CODE_AUTH: &str = "AuthFailure";

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

/// Checks sim settings as written in the strategy (see [`crate::driver::check_settings`]).
pub fn check_settings(settings: &Map<String, Value>, base_dir: &Path) -> Result<(), SettingsError> {
    settings::check(settings, base_dir)
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
    /// This client's own pacing (the sim stands for the provider, this for oss's side of it).
    pace: Pace,
    store: Arc<Store>,
}

impl SimDriver {
    /// Build the driver from its strategy block; see `docs/sim.md` for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        let name = config.name.as_str();
        let resolved = settings::resolve(&config.settings, &config.base_dir)
            .map_err(|e| e.into_driver_error("sim", name))?;
        let settings = &resolved.settings;
        let state_file = match &settings.state_file {
            Some(path) => PathBuf::from(path),
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
        let catalog = resolved.catalog;
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
                capacity: resolved.capacity,
                networks,
                offered,
                regional: settings.regional_resources,
            }),
            latency: settings.latency(),
            faults: settings.errors.unwrap_or_default(),
            advertise_capacity: settings.advertise_capacity,
            credentials_rejected: settings.credentials_rejected(),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(
                settings.seed.unwrap_or_else(rand::random),
            )),
            bucket: settings
                .rate_limit
                .map(|rate| Mutex::new(Bucket::new(rate))),
            pace: Pace::new(),
            store: Arc::new(Store::new(state_file)),
        })
    }

    /// The simulated cloud's state file.
    pub fn state_file(&self) -> &Path {
        &self.store.path
    }

    /// One API call as oss makes it: paced (`crate::net::pace`), then sent.
    async fn call(&self) -> Result<(), DriverError> {
        let permit = self.pace.ready().await;
        let answer = self.round_trip().await;
        self.pace
            .answered(permit, answer.as_ref().is_err_and(DriverError::is_throttle));
        self.counted(answer)
    }

    /// `answer`, an error in it counted as the call's failure: the round trip's own (rate
    /// limit, injected fault), or the simulated cloud refusing what the call asked (no
    /// capacity, unknown id...).
    fn counted<T>(&self, answer: Result<T, DriverError>) -> Result<T, DriverError> {
        if let Err(error) = &answer {
            self.pace.failed(error.class);
        }
        answer
    }

    /// One simulated API round trip: wait the latency, then answer with the rate limit's or an
    /// injected error, if any. Runs before the call has any effect.
    async fn round_trip(&self) -> Result<(), DriverError> {
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

    fn api_calls(&self) -> crate::net::calls::CallCounts {
        self.pace.counts()
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
            replacing: request
                .replacing
                .iter()
                .map(|r| r.provider_id.clone())
                .collect(),
        };
        let answer = self
            .store
            .run(move |ledger| create_in(ledger, &cloud, order))
            .await;
        self.counted(answer)
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
        let answer = self
            .store
            .run(move |ledger| update_in(ledger, &name, existing, tags, ports))
            .await;
        self.counted(answer)
    }

    async fn import(&self, address: &Address, id: &str) -> Result<Existing, DriverError> {
        self.call().await?;
        let (name, id) = (self.cloud.name.clone(), id.to_string());
        let address = address.clone();
        let answer = self
            .store
            .run(move |ledger| {
                let mut found = instance_of(ledger, &name, &id)?.existing();
                found.address = address;
                Ok(found)
            })
            .await;
        self.counted(answer)
    }

    async fn remark(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        self.call().await?;
        let name = self.cloud.name.clone();
        let (id, lineage) = (existing.provider_id.clone(), lineage.to_string());
        let to = to.cloned();
        let answer = self
            .store
            .run(move |ledger| remark_in(ledger, &name, &id, &lineage, to.as_ref()))
            .await;
        self.counted(answer)
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        self.call().await?;
        let id = existing.provider_id.clone();
        let name = self.cloud.name.clone();
        let answer = self
            .store
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
            .await;
        self.counted(answer)
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
mod tests;
