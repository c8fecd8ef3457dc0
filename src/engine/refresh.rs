//! Refresh: each provider asked, in one batched call retried like apply's, what of this
//! lineage exists. The state in memory gets the observed attributes; what is gone and what
//! was found unlisted (orphans, adopted; debris, adopted as gone) go back to planning.

use std::collections::{BTreeMap, HashSet};

use tokio_util::sync::CancellationToken;

use super::{EngineError, Session};
use crate::apply;
use crate::report::{Event, Reporter};
use crate::resource::{Address, Existing};
use crate::state::State;

impl Session {
    /// Asks each provider (one batched call each, retried like apply's calls) what exists.
    /// Updates `state` in memory: observed attributes refreshed, orphans added. Returns the
    /// gone addresses and the adopted.
    pub(super) async fn refresh(
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
}
