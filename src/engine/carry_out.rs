//! Carrying out a plan: the starting point made durable (lineage, adoptions, provider
//! records, renames), then the executor over the drivers with the journal, then the folded
//! state written whole.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{EngineError, Planned, Session, recorded};
use crate::apply::{self, Outcome};
use crate::driver::Driver;
use crate::plan;
use crate::report::Reporter;
use crate::state::State;

impl Session {
    /// [`Session::apply`] without its summary; `used` gets the drivers of departed providers
    /// it built, so their calls are counted too.
    pub(super) async fn carry_out(
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
