//! The flow in one place: open a strategy's session (drivers and state store), make a plan
//! (load state → refresh → catalogs → compile → diff), and carry a plan out (executor, journal,
//! final state write). Commands in the CLI are thin sequences of these calls.
//!
//! The engine never prints and never asks; confirmation and rendering are the caller's.
//!
//! A provider that state holds resources of but the strategy no longer names is built from
//! what state recorded of it (`recorded`), so its resources can still be refreshed and deleted.
//!
//! Every apply ends with a summary record (`applies`), whatever its outcome.

pub mod applies;
pub mod logs;
pub mod recorded;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::apply::{self, Outcome};
use crate::catalog::Catalog;
use crate::compile::{self, CompileError};
use crate::driver::{self, Driver, DriverConfig, DriverError};
use crate::graph::DesiredGraph;
use crate::net::calls::CallCounts;
use crate::plan::{self, Current, Plan, Scope};
use crate::report::{Event, Reporter};
use crate::resource::{Address, Existing};
use crate::state::State;
use crate::state::StateError;
use crate::state::backend::{Backend, Held};
use crate::state::lock::LockError;
use crate::strategy::Strategy;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Store(#[from] StateError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("Provider {provider}: {source}")]
    Driver {
        provider: String,
        #[source]
        source: DriverError,
    },
    #[error(transparent)]
    Scope(#[from] plan::ScopeError),
    #[error(transparent)]
    Protected(#[from] plan::guard::ProtectedError),
    #[error("The saved plan is stale: {0}")]
    StalePlan(String),
    #[error("The saved plan was made for strategy `{plan}`, not `{strategy}`")]
    WrongStrategy { plan: String, strategy: String },
    #[error(transparent)]
    Departed(#[from] recorded::DepartedError),
    #[error(transparent)]
    Lifecycle(#[from] crate::lifecycle::LifecycleError),
}

/// A strategy opened for work: its drivers and its state backend.
pub struct Session {
    pub strategy: Strategy,
    pub backend: Arc<dyn Backend>,
    drivers: HashMap<String, Arc<dyn Driver>>,
    /// The `dns` block's provider (also among `drivers`), checked before every plan.
    dns: Option<Arc<crate::dns::RecordDriver>>,
    state_dir: PathBuf,
    /// How refresh calls are retried (the budgets apply's steps use).
    retries: apply::retry::Retries,
    /// Where each apply's summary goes.
    applies: applies::Store,
    /// The drivers' call counts when the current command began (open, or its plan), so its
    /// summary counts its own calls only.
    calls_mark: Mutex<BTreeMap<String, CallCounts>>,
}

/// What planning produced, with the refreshed state it was made against.
pub struct Planned {
    pub plan: Plan,
    /// The state as loaded (journal folded) and refreshed, or `None` if there is none yet.
    pub state: Option<State>,
    /// Resources found by refresh that state did not list (adopted on apply).
    pub adopted: Vec<Existing>,
    /// Journal steps of an unfinished apply folded in at load.
    pub recovered_steps: usize,
}

/// How to plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    pub refresh: bool,
    pub scope: Scope,
    pub destroy: bool,
    /// Seed for `random` picks; default: the one in state, else a new one.
    pub seed: Option<u64>,
    /// Place every node afresh (cheaper placements may move nodes).
    pub rebalance: bool,
}

impl Session {
    /// Builds a driver for every provider option of the strategy, over `backend`.
    pub fn open(
        strategy: Strategy,
        state_dir: &Path,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, EngineError> {
        let mut drivers = HashMap::new();
        for (i, option) in strategy.provider.options.iter().enumerate() {
            let config = DriverConfig {
                name: option.name.clone(),
                settings: option.settings.clone(),
                state_dir: state_dir.to_path_buf(),
                base_dir: strategy.dir().to_path_buf(),
            };
            // Settings a driver refuses are strategy problems, located like the others.
            let driver = driver::build(&option.kind, config).map_err(|e| {
                let pointer = format!("/provider/options/{i}/{}", option.kind);
                let problem = strategy.problem(&pointer, strategy.redact(&e.message), None);
                EngineError::Compile(strategy.invalid(vec![problem]).into())
            })?;
            drivers.insert(option.name.clone(), driver);
        }
        let mut dns = None;
        if let Some(block) = &strategy.dns {
            let option = &block.provider;
            let built =
                crate::dns::build(&option.kind, &option.name, &option.settings).map_err(|e| {
                    let pointer = format!("/dns/provider/{}", option.kind);
                    let problem = strategy.problem(&pointer, strategy.redact(&e.message), None);
                    EngineError::Compile(strategy.invalid(vec![problem]).into())
                })?;
            let built = Arc::new(built);
            drivers.insert(option.name.clone(), built.clone() as Arc<dyn Driver>);
            dns = Some(built);
        }
        // Load-balancer providers, one driver per provider name however many balancers use it.
        for balancer in &strategy.lb {
            let option = &balancer.provider;
            if drivers.contains_key(&option.name) {
                continue;
            }
            let config = DriverConfig {
                name: option.name.clone(),
                settings: option.settings.clone(),
                state_dir: state_dir.to_path_buf(),
                base_dir: strategy.dir().to_path_buf(),
            };
            let driver = driver::build(&option.kind, config).map_err(|e| {
                let pointer = format!("/lb/{}/provider/{}", balancer.name, option.kind);
                let problem = strategy.problem(&pointer, strategy.redact(&e.message), None);
                EngineError::Compile(strategy.invalid(vec![problem]).into())
            })?;
            drivers.insert(option.name.clone(), driver);
        }
        Ok(Session {
            backend,
            strategy,
            drivers,
            dns,
            state_dir: state_dir.to_path_buf(),
            retries: apply::retry::Retries::default(),
            applies: applies::Store::in_dir(state_dir),
            calls_mark: Mutex::default(),
        })
    }

    /// The local state directory (`--state-dir`): where local-only files such as the health
    /// store live, whatever the backend.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Takes the state lock for `operation`.
    pub async fn lock(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<Arc<dyn Held>, EngineError> {
        Ok(self.backend.lock(operation, timeout).await?)
    }

    /// The driver for `provider` (see [`Session::driver`]), for the state edits.
    pub(crate) fn provider(
        &self,
        provider: &str,
        state: Option<&State>,
    ) -> Result<Arc<dyn Driver>, EngineError> {
        self.driver(provider, state)
    }

    /// The driver for `provider`: the strategy's, or for a provider that state holds
    /// resources of but the strategy no longer names, one built from what state recorded of
    /// it (kind and settings, `env.` references read from the environment now).
    fn driver(
        &self,
        provider: &str,
        state: Option<&State>,
    ) -> Result<Arc<dyn Driver>, EngineError> {
        if let Some(d) = self.drivers.get(provider) {
            return Ok(d.clone());
        }
        let unrecorded = || recorded::DepartedError::Unrecorded {
            provider: provider.to_string(),
        };
        let Some(record) = state.and_then(|s| s.providers.get(provider)) else {
            // A state written before providers were recorded: a provider that needs no
            // settings (`local`) can still be built from its name alone.
            let config = DriverConfig {
                name: provider.to_string(),
                settings: Default::default(),
                state_dir: self.state_dir.clone(),
                base_dir: self.strategy.dir().to_path_buf(),
            };
            return driver::build(provider, config).map_err(|_| unrecorded().into());
        };
        let env = |name: &str| std::env::var(name).ok();
        let (settings, _read) = recorded::resolve(provider, record, &env)?;
        let config = DriverConfig {
            name: provider.to_string(),
            settings,
            state_dir: self.state_dir.clone(),
            base_dir: self.strategy.dir().to_path_buf(),
        };
        driver::build(&record.kind, config).map_err(|source| EngineError::Driver {
            provider: provider.to_string(),
            source,
        })
    }

    /// Every provider a plan may touch: the strategy's and those state still holds.
    fn drivers_for(
        &self,
        state: Option<&State>,
    ) -> Result<HashMap<String, Arc<dyn Driver>>, EngineError> {
        let mut all = self.drivers.clone();
        let deposed = state.iter().flat_map(|s| &s.deposed);
        for resource in state
            .iter()
            .flat_map(|s| s.resources.values())
            .chain(deposed)
        {
            let name = &resource.placement.provider;
            if !all.contains_key(name) {
                all.insert(name.clone(), self.driver(name, state)?);
            }
        }
        Ok(all)
    }

    /// Loads state, refreshes it (if asked), compiles the strategy and diffs.
    pub async fn plan(
        &self,
        options: &PlanOptions,
        reporter: &dyn Reporter,
    ) -> Result<Planned, EngineError> {
        self.mark_calls(&self.drivers);
        let loaded = self.backend.load().await?;
        if loaded.recovered_steps > 0 {
            reporter.report(Event::Recovered {
                steps: loaded.recovered_steps,
            });
        }
        let mut state = loaded.state;
        // A zone the server does not serve, or a key it refuses, stops the plan before
        // anything changes.
        if let Some(dns) = &self.dns {
            dns.check().await.map_err(|source| EngineError::Driver {
                provider: crate::driver::Driver::name(dns.as_ref()).to_string(),
                source,
            })?;
        }
        // Renamed first, so refresh (which knows objects by provider id) and compile see the
        // new addresses.
        let moved = match state.as_mut() {
            Some(state) => self.apply_moved(state)?,
            None => HashMap::new(),
        };
        let mut gone = HashSet::new();
        let mut adopted = Vec::new();
        if options.refresh
            && let Some(state) = state.as_mut()
        {
            (gone, adopted) = self.refresh(state, reporter).await?;
        }
        let seed = options
            .seed
            .or(state.as_ref().and_then(|s| s.seed))
            .unwrap_or_else(rand::random);
        let desired = if options.destroy {
            None
        } else {
            Some(
                self.compile(state.as_ref(), seed, options.rebalance)
                    .await?,
            )
        };
        let desired_addresses = desired
            .iter()
            .flat_map(|d| d.resources().map(|r| &r.address));
        let state_addresses = state.iter().flat_map(|s| s.resources.keys());
        options
            .scope
            .check(desired_addresses.chain(state_addresses), options.destroy)?;
        options
            .scope
            .check_replaces(state.iter().flat_map(|s| s.resources.keys()))?;
        let current = Current {
            departed: self.departed(state.as_ref()),
            state: state.as_ref(),
            gone,
            adopted: adopted.iter().map(|r| r.address.clone()).collect(),
            moved,
        };
        let changes = plan::diff(desired, &current, &options.scope);
        // A name the plan would create that someone else holds is refused now, not after
        // the nodes it points at were made.
        if let Some(dns) = &self.dns {
            let created: Vec<(Address, String)> = changes
                .iter()
                .filter(|c| c.action == plan::Action::Create)
                .filter_map(|c| c.after.as_ref())
                .filter(|d| d.kind == crate::resource::Kind::Record)
                .filter_map(|d| {
                    let name = d.attributes.get("name")?.as_str()?;
                    Some((d.address.clone(), name.to_string()))
                })
                .collect();
            let lineage = state.as_ref().map(|s| s.lineage.as_str());
            dns.check_claims(lineage, &created)
                .await
                .map_err(|source| EngineError::Driver {
                    provider: crate::driver::Driver::name(dns.as_ref()).to_string(),
                    source,
                })?;
        }
        // Refused before anything changes (refresh changed only this in-memory copy). A
        // departed provider's deletes and replaces are changes like any other, so the
        // protection holds for those too.
        plan::guard::check(&changes, &self.guards())?;
        let plan = Plan {
            format_version: plan::FORMAT_VERSION,
            strategy: self.strategy.name.clone(),
            strategy_hash: self.strategy.hash.clone(),
            lineage: state.as_ref().map(|s| s.lineage.clone()),
            serial: state.as_ref().map_or(0, |s| s.serial),
            seed,
            destroy: options.destroy,
            sensitive: plan::sensitive::find(&changes, &self.strategy.secrets),
            warnings: plan::exposure::warnings(&changes, &self.strategy.ssh_ports()),
            changes,
        };
        Ok(Planned {
            plan,
            state,
            adopted,
            recovered_steps: loaded.recovered_steps,
        })
    }

    /// Providers that state holds resources of and the strategy no longer names.
    fn departed(&self, state: Option<&State>) -> HashSet<String> {
        state
            .iter()
            .flat_map(|s| s.resources.values())
            .map(|r| &r.placement.provider)
            .filter(|name| !self.drivers.contains_key(*name))
            .cloned()
            .collect()
    }

    /// Renames what the strategy's `moved` blocks name in `state`; a target state already
    /// holds is a located error. Returns, per new address, the old one.
    fn apply_moved(&self, state: &mut State) -> Result<HashMap<Address, Address>, EngineError> {
        crate::lifecycle::apply_moved(&self.strategy.moved, state).map_err(|(index, to)| {
            let pointer = format!("/moved/{index}/to");
            let message = format!(
                "{to} is already in state, so `{}` cannot move there",
                self.strategy.moved[index].from
            );
            let hint = "remove the moved block, or `oss state rm` what is there".to_string();
            let problem = self.strategy.problem(&pointer, message, Some(hint));
            EngineError::Compile(self.strategy.invalid(vec![problem]).into())
        })
    }

    /// Each group's `prevent_destroy`, with where to lift it.
    fn guards(&self) -> BTreeMap<String, plan::guard::GroupGuard> {
        let strategy = &self.strategy;
        strategy
            .groups
            .iter()
            .map(|group| {
                let written = format!("{}/prevent_destroy", group.pointer);
                let at = match strategy.problem(&written, String::new(), None).position {
                    Some(p) => format!(
                        "{written} ({}:{}:{})",
                        crate::echo::EchoPath(&strategy.path),
                        p.line,
                        p.column
                    ),
                    None => format!(
                        "{} in {}",
                        group.pointer,
                        crate::echo::EchoPath(&strategy.path)
                    ),
                };
                let guard = plan::guard::GroupGuard {
                    protected: group.spec.prevent_destroy,
                    lift_at: at,
                };
                (group.name.clone(), guard)
            })
            .collect()
    }

    /// The desired graph, for `oss graph` and planning.
    pub async fn compile(
        &self,
        state: Option<&State>,
        seed: u64,
        rebalance: bool,
    ) -> Result<DesiredGraph, EngineError> {
        let catalogs = self.catalogs().await?;
        Ok(compile::compile(&compile::Input {
            strategy: &self.strategy,
            catalogs: &catalogs,
            state,
            seed,
            rebalance,
            supports: &|provider, kind| {
                self.drivers.get(provider).is_some_and(|d| d.supports(kind))
            },
        })?)
    }

    /// Each provider's offerings, in the strategy's order.
    pub async fn catalogs(&self) -> Result<Vec<(String, Catalog)>, EngineError> {
        let mut catalogs = Vec::new();
        for option in &self.strategy.provider.options {
            let driver = &self.drivers[&option.name];
            let catalog = driver
                .catalog()
                .await
                .map_err(|source| EngineError::Driver {
                    provider: option.name.clone(),
                    source,
                })?;
            catalogs.push((option.name.clone(), catalog));
        }
        Ok(catalogs)
    }

    /// Asks each provider (one batched call each, retried like apply's calls) what exists.
    /// Updates `state` in memory: observed attributes refreshed, orphans added. Returns the
    /// gone addresses and the adopted.
    async fn refresh(
        &self,
        state: &mut State,
        reporter: &dyn Reporter,
    ) -> Result<(HashSet<Address>, Vec<Existing>), EngineError> {
        let mut by_provider: BTreeMap<String, Vec<Existing>> = BTreeMap::new();
        for resource in state.resources.values() {
            by_provider
                .entry(resource.placement.provider.clone())
                .or_default()
                .push(resource.clone());
        }
        for option in &self.strategy.provider.options {
            by_provider.entry(option.name.clone()).or_default();
        }
        let mut gone = HashSet::new();
        let mut adopted = Vec::new();
        for (provider, known) in by_provider {
            reporter.report(Event::RefreshStarted {
                provider: &provider,
                resources: known.len(),
            });
            let driver = self.driver(&provider, Some(state))?;
            let refresh = || driver.refresh(&state.lineage, &known);
            let never = CancellationToken::new();
            let refreshed = match apply::retry::retrying(&self.retries, &never, refresh, |retry| {
                reporter.report(Event::RefreshRetrying {
                    provider: &provider,
                    attempt: retry.attempt,
                    wait: retry.wait,
                    error: retry.error,
                })
            })
            .await
            {
                Ok(refreshed) => refreshed,
                // A provider that holds nothing of ours and cannot be reached now is only
                // looked at for orphans: say so and plan on; apply fails over if it must.
                Err(e) if known.is_empty() && e.class == crate::driver::ErrorClass::FailOver => {
                    reporter.report(Event::ProviderUnreachable {
                        provider: &provider,
                        error: &e,
                    });
                    continue;
                }
                Err(source) => {
                    return Err(EngineError::Driver {
                        provider: provider.clone(),
                        source,
                    });
                }
            };
            let mut present = 0;
            let mut provider_gone = 0;
            for resource in &known {
                match refreshed.known.get(&resource.address) {
                    Some(Some(observed)) => {
                        present += 1;
                        if let Some(r) = state.resources.get_mut(&resource.address) {
                            r.observed = observed.clone();
                        }
                    }
                    _ => {
                        provider_gone += 1;
                        gone.insert(resource.address.clone());
                    }
                }
            }
            let mut provider_adopted = 0;
            let debris = refreshed.debris.into_iter().map(|d| (d, true));
            let found = refreshed.orphans.into_iter().map(|o| (o, false));
            for (orphan, dead) in found.chain(debris) {
                // A deposed object is the old one of a replace, not the address's: it is
                // deleted, never adopted back. One forgotten with `oss state rm` is not ours
                // any more, whatever its marker says.
                let deposed = state.deposed.iter().any(|d| {
                    d.provider_id == orphan.provider_id
                        && d.placement.provider == orphan.placement.provider
                });
                if deposed
                    || state.resources.contains_key(&orphan.address)
                    || state.is_forgotten(&provider, &orphan.provider_id)
                {
                    continue;
                }
                provider_adopted += 1;
                if dead {
                    // Adopted as gone: the plan recreates or forgets it; apply cleans it up.
                    provider_gone += 1;
                    gone.insert(orphan.address.clone());
                }
                state
                    .resources
                    .insert(orphan.address.clone(), orphan.clone());
                adopted.push(orphan);
            }
            reporter.report(Event::RefreshFinished {
                provider: &provider,
                present,
                gone: provider_gone,
                adopted: provider_adopted,
            });
        }
        Ok((gone, adopted))
    }

    /// Checks that a saved plan still fits the current state and strategy.
    pub async fn check_saved(&self, plan: &Plan) -> Result<Planned, EngineError> {
        if plan.strategy != self.strategy.name {
            return Err(EngineError::WrongStrategy {
                plan: plan.strategy.clone(),
                strategy: self.strategy.name.clone(),
            });
        }
        let loaded = self.backend.load().await?;
        let state = loaded.state;
        let lineage = state.as_ref().map(|s| s.lineage.clone());
        let serial = state.as_ref().map_or(0, |s| s.serial);
        if plan.lineage != lineage {
            return Err(EngineError::StalePlan(format!(
                "it was made for state lineage {}, but the state's lineage is now {}",
                plan.lineage.as_deref().unwrap_or("(no state)"),
                lineage.as_deref().unwrap_or("(no state)")
            )));
        }
        if plan.serial != serial || loaded.recovered_steps > 0 {
            return Err(EngineError::StalePlan(format!(
                "it was made at state serial {}, but the state is now at serial {serial}{}",
                plan.serial,
                if loaded.recovered_steps > 0 {
                    " with unfinished apply steps"
                } else {
                    ""
                }
            )));
        }
        if plan.strategy_hash != self.strategy.hash {
            return Err(EngineError::StalePlan(format!(
                "the strategy file {} changed since the plan was made",
                crate::echo::EchoPath(&self.strategy.path)
            )));
        }
        // The renames the plan was made with (state holds the old addresses until applied).
        let mut state = state;
        if let Some(state) = state.as_mut() {
            let renames: Vec<crate::lifecycle::Rename> = plan
                .changes
                .iter()
                .filter_map(|c| {
                    Some(crate::lifecycle::Rename {
                        from: c.moved_from.clone()?,
                        to: c.address.clone(),
                    })
                })
                .collect();
            crate::lifecycle::rename(state, &renames);
        }
        Ok(Planned {
            plan: plan.clone(),
            state,
            adopted: Vec::new(),
            recovered_steps: 0,
        })
    }

    /// Carries out a plan as `command`. Call with the lock held. State is durable after every
    /// step (the journal) and written whole at the end, even when steps failed or an
    /// interrupt came. Whatever happened, a summary is appended to the applies store.
    pub async fn apply(
        &self,
        planned: Planned,
        options: apply::Options,
        reporter: Arc<dyn Reporter>,
        cancel: CancellationToken,
        command: applies::Command,
    ) -> Result<Outcome, EngineError> {
        let started = Instant::now();
        let tally = Arc::new(applies::Tally::new(reporter));
        let mut used = self.drivers.clone();
        let outcome = self
            .carry_out(planned, options, tally.clone(), cancel, &mut used)
            .await;
        let mark = self
            .calls_mark
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let record = applies::Record {
            at: crate::clock::now_rfc3339(),
            command,
            seconds: started.elapsed().as_secs_f64(),
            steps: tally.steps(),
            providers: applies::calls_since(&used, &mark),
        };
        if let Err(error) = self.applies.append(&record) {
            tally.report(Event::ApplyNotRecorded {
                path: self.applies.path(),
                error: &error,
            });
        }
        self.mark_calls(&used);
        outcome
    }

    /// Notes the drivers' call counts as the start of the next command's.
    fn mark_calls(&self, drivers: &HashMap<String, Arc<dyn Driver>>) {
        *self
            .calls_mark
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = applies::calls_of(drivers);
    }

    /// [`Session::apply`] without its summary; `used` gets the drivers of departed providers
    /// it built, so their calls are counted too.
    async fn carry_out(
        &self,
        planned: Planned,
        options: apply::Options,
        reporter: Arc<dyn Reporter>,
        cancel: CancellationToken,
        used: &mut HashMap<String, Arc<dyn Driver>>,
    ) -> Result<Outcome, EngineError> {
        let Planned {
            plan,
            state,
            adopted,
            recovered_steps,
        } = planned;
        let fresh = state.is_none();
        let mut state = state.unwrap_or_else(|| State::new(&self.strategy.name));
        let seed_changed = state.seed != Some(plan.seed);
        state.seed = Some(plan.seed);
        // Every provider the apply may create on is recorded before it starts (a crash
        // leaves nothing unrecorded); the final write keeps those that hold resources.
        let providers = recorded::records(&state, &self.strategy, plan.has_changes());
        let providers_changed = providers != state.providers;
        state.providers = providers;
        // Make the starting point durable first: a new lineage (so a crash can be recovered
        // by it), adopted orphans, folded journal steps, a new seed, the provider records,
        // names given by `moved` blocks.
        let starting_point_changed = fresh
            || !adopted.is_empty()
            || recovered_steps > 0
            || seed_changed
            || providers_changed;
        // The drivers first: a departed provider whose `env.` variable is missing stops the
        // apply before anything is written.
        let steps = plan.changes.iter().any(|c| c.action != plan::Action::NoOp);
        let drivers = match plan.has_changes() {
            true => Some(self.drivers_for(Some(&state))?),
            false => None,
        };
        // Renamed by `moved` blocks: the objects' markers follow, and the new names are
        // written even when nothing else changes.
        let moved: Vec<&plan::Change> = plan
            .changes
            .iter()
            .filter(|c| c.moved_from.is_some())
            .collect();
        for change in &moved {
            let address = &change.address;
            // Its name and index follow the new address (see `plan::diff`).
            if let (Some(resource), Some(before)) =
                (state.resources.get_mut(address), change.before.as_ref())
            {
                resource.attributes = before.attributes.clone();
            }
            let Some(resource) = state
                .resources
                .get(address)
                .filter(|_| !change.gone)
                .cloned()
            else {
                continue;
            };
            let provider = resource.placement.provider.clone();
            let remarked = self
                .driver(&provider, Some(&state))?
                .remark(&resource, &state.lineage, Some(address))
                .await
                .map_err(|source| EngineError::Driver { provider, source })?;
            state.resources.insert(address.clone(), remarked);
        }
        if starting_point_changed || !moved.is_empty() {
            self.backend.write(&mut state).await?;
        }
        let Some(drivers) = drivers.filter(|_| steps) else {
            return Ok(Outcome::default());
        };
        used.extend(
            drivers
                .iter()
                .map(|(name, d)| (name.clone(), Arc::clone(d))),
        );
        if fresh {
            for driver in drivers.values() {
                driver.lineage_is_new(&state.lineage);
            }
        }
        let mut warmups = prepare(&drivers, &state.lineage, &plan.changes);
        let run = apply::Run {
            drivers,
            lineage: state.lineage.clone(),
            journal: self.backend.begin_journal(&state).await?,
            reporter,
            existing: state.resources.clone().into_iter().collect(),
        };
        let outcome = apply::execute(plan.changes, run, options, cancel).await;
        warmups.abort_all();
        let mut folded = self.backend.load().await?.state.unwrap_or(state);
        folded.providers = recorded::records(&folded, &self.strategy, false);
        self.backend.write(&mut folded).await?;
        Ok(outcome)
    }
}

/// Tells each driver, in the background, where the apply's new nodes go, so lookups the
/// creates need overlap the first steps. Only the chosen placements: a fall-back is looked up
/// if a create ever turns to it, not for every region fall-backs could reach.
fn prepare(
    drivers: &HashMap<String, Arc<dyn Driver>>,
    lineage: &str,
    changes: &[plan::Change],
) -> tokio::task::JoinSet<()> {
    let mut by_provider: HashMap<&str, Vec<crate::resource::Placement>> = HashMap::new();
    for desired in changes.iter().filter_map(|c| c.after.as_ref()) {
        if desired.kind != crate::resource::Kind::Node {
            continue;
        }
        let placement = &desired.placement;
        let list = by_provider.entry(placement.provider.as_str()).or_default();
        if !list.contains(placement) {
            list.push(placement.clone());
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (provider, placements) in by_provider {
        if let Some(driver) = drivers.get(provider) {
            let driver = Arc::clone(driver);
            let lineage = lineage.to_string();
            tasks.spawn(async move { driver.prepare(&lineage, placements).await });
        }
    }
    tasks
}
