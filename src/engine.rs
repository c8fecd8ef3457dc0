//! The flow in one place: open a strategy's session (drivers and state store), make a plan
//! (load state → refresh → catalogs → compile → diff), and carry a plan out (executor, journal,
//! final state write). Commands in the CLI are thin sequences of these calls.
//!
//! The engine never prints and never asks; confirmation and rendering are the caller's.
//!
//! A provider that state holds resources of but the strategy no longer names is built from
//! what state recorded of it (`recorded`), so its resources can still be refreshed and deleted.
//!
//! Every apply ends with a summary record (`applies`), whatever its outcome. `refresh` asks
//! the providers what exists; `carry_out` runs a plan's steps.

pub mod applies;
mod carry_out;
pub mod logs;
pub mod recorded;
mod refresh;

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
}
