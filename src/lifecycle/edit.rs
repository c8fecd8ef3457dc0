//! `oss state rm`, `oss state mv` and `oss import` as session calls: load the state, check
//! the request against it (and against the strategy, for an import), change the object's
//! marker at its provider, write a new state version. Call them with the state lock held.
//! `dry_run` checks and reports without touching anything.

use super::{LifecycleError, Mismatch, Rename, expand, is_group, rename, taken};
use crate::engine::{EngineError, Session};
use crate::resource::{Address, Existing, Kind, Placement};
use crate::state::State;
use crate::state::document::Forgotten;

/// Up to three addresses of `state` (or group prefixes) nearest to `given`.
fn nearest_in_state(state: &State, given: &str) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    for address in state.resources.keys() {
        if let Some(group) = address.group() {
            let prefix = format!("node.{group}");
            if !candidates.contains(&prefix) {
                candidates.push(prefix);
            }
        }
        candidates.push(address.to_string());
    }
    crate::suggest::nearest(given, candidates, 3)
}

fn not_in_state(state: &State, given: &str) -> EngineError {
    LifecycleError::NotInState {
        address: given.to_string(),
        nearest: nearest_in_state(state, given),
    }
    .into()
}

impl Session {
    async fn existing_state(&self, what: &'static str) -> Result<State, EngineError> {
        self.backend
            .load()
            .await?
            .state
            .ok_or_else(|| LifecycleError::NoState { what }.into())
    }

    /// `oss state rm`: forgets the resources `patterns` name (addresses, or group prefixes
    /// like `node.web`) without destroying them. Each is unmarked at its provider and recorded
    /// in the state's `forgotten` list, so refresh never adopts it again. Returns them.
    pub async fn state_rm(
        &self,
        patterns: &[String],
        dry_run: bool,
    ) -> Result<Vec<Existing>, EngineError> {
        let mut state = self.existing_state("remove").await?;
        let mut chosen: Vec<Existing> = Vec::new();
        for pattern in patterns {
            let matched: Vec<&Existing> = state
                .resources
                .values()
                .filter(|r| r.address.matches(pattern))
                .collect();
            if matched.is_empty() {
                return Err(not_in_state(&state, pattern));
            }
            for r in matched {
                if !chosen.iter().any(|c| c.address == r.address) {
                    chosen.push(r.clone());
                }
            }
        }
        if dry_run {
            return Ok(chosen);
        }
        for resource in &chosen {
            let provider = &resource.placement.provider;
            self.provider(provider, Some(&state))?
                .remark(resource, &state.lineage, None)
                .await
                .map_err(|source| EngineError::Driver {
                    provider: provider.clone(),
                    source,
                })?;
            state.resources.remove(&resource.address);
            state.forgotten.push(Forgotten {
                provider: provider.clone(),
                provider_id: resource.provider_id.clone(),
                address: resource.address.clone(),
            });
        }
        self.backend.write(&mut state).await?;
        Ok(chosen)
    }

    /// `oss state mv FROM TO`: renames a node (`node.web[0]` → `node.web[5]`) or a whole group
    /// (`node.web` → `node.frontend`) in state, and at the provider the objects' markers, so
    /// nothing is replaced or adopted twice. Returns the renames.
    pub async fn state_mv(
        &self,
        from: &str,
        to: &str,
        dry_run: bool,
    ) -> Result<Vec<Rename>, EngineError> {
        let bad = |why| LifecycleError::BadMove {
            from: from.to_string(),
            to: to.to_string(),
            why,
        };
        if !from.starts_with("node.") || !to.starts_with("node.") {
            return Err(bad("only node addresses and node groups can be moved").into());
        }
        if is_group(from) != is_group(to) {
            return Err(bad("a group moves to a group and a node to a node").into());
        }
        if !is_group(to) && Address(to.to_string()).group().is_none_or(str::is_empty) {
            return Err(bad("the target is not a node address").into());
        }
        let mut state = self.existing_state("move").await?;
        let renames = expand(&state, from, to);
        if renames.is_empty() {
            return Err(not_in_state(&state, from));
        }
        if let Some(address) = taken(&state, &renames) {
            return Err(LifecycleError::Taken {
                address: address.clone(),
            }
            .into());
        }
        if dry_run {
            return Ok(renames);
        }
        self.remark_renamed(&mut state, &renames).await?;
        self.backend.write(&mut state).await?;
        Ok(renames)
    }

    /// Renames in `state` and changes each object's marker to its new address.
    pub(crate) async fn remark_renamed(
        &self,
        state: &mut State,
        renames: &[Rename],
    ) -> Result<(), EngineError> {
        rename(state, renames);
        for r in renames {
            let Some(resource) = state.resources.get(&r.to).cloned() else {
                continue;
            };
            let provider = resource.placement.provider.clone();
            let remarked = self
                .provider(&provider, Some(state))?
                .remark(&resource, &state.lineage, Some(&r.to))
                .await
                .map_err(|source| EngineError::Driver { provider, source })?;
            state.resources.insert(r.to.clone(), remarked);
        }
        Ok(())
    }

    /// `oss import ADDR ID`: adopts the existing object `id` as node `address`, which the
    /// strategy must define and state must not hold yet. It is read from `provider` (default:
    /// each provider the node may be placed at, in order), checked against the node's
    /// candidate placements, marked, and written into state. With `dry_run`, only read and
    /// checked.
    pub async fn import(
        &self,
        address: &str,
        id: &str,
        provider: Option<&str>,
        dry_run: bool,
    ) -> Result<Existing, EngineError> {
        let loaded = self.backend.load().await?.state;
        let address = Address(address.to_string());
        if let Some(state) = &loaded
            && state.resources.contains_key(&address)
        {
            return Err(LifecycleError::Taken { address }.into());
        }
        let seed = loaded
            .as_ref()
            .and_then(|s| s.seed)
            .unwrap_or_else(rand::random);
        let desired = self.compile(loaded.as_ref(), seed, false).await?;
        let Some(want) = desired
            .get(&address)
            .filter(|d| d.kind == Kind::Node)
            .cloned()
        else {
            let nodes = desired
                .resources()
                .filter(|d| d.kind == Kind::Node)
                .map(|d| d.address.to_string());
            return Err(LifecycleError::NotInStrategy {
                nearest: crate::suggest::nearest(address.as_str(), nodes, 3),
                address: address.to_string(),
            }
            .into());
        };
        let candidates: Vec<&Placement> = std::iter::once(&want.placement)
            .chain(want.fallbacks.iter())
            .collect();
        let mut providers: Vec<String> = Vec::new();
        match provider {
            Some(p) => providers.push(p.to_string()),
            None => {
                for c in &candidates {
                    if !providers.contains(&c.provider) {
                        providers.push(c.provider.clone());
                    }
                }
            }
        }
        let mut found = None;
        let mut first_error = None;
        for name in &providers {
            match self
                .provider(name, loaded.as_ref())?
                .import(&address, id)
                .await
            {
                Ok(existing) => {
                    found = Some(existing);
                    break;
                }
                Err(source) => {
                    first_error.get_or_insert(EngineError::Driver {
                        provider: name.clone(),
                        source,
                    });
                }
            }
        }
        let Some(found) = found else {
            return Err(first_error.expect("at least one provider was asked"));
        };
        check_fits(&address, id, &found.placement, &candidates)?;
        let mut state = loaded.unwrap_or_else(|| State::new(&self.strategy.name));
        if let Some(other) = state.resources.values().find(|r| {
            r.provider_id == found.provider_id && r.placement.provider == found.placement.provider
        }) {
            return Err(LifecycleError::Taken {
                address: other.address.clone(),
            }
            .into());
        }
        if dry_run {
            return Ok(found);
        }
        let provider = found.placement.provider.clone();
        let mut imported = self
            .provider(&provider, Some(&state))?
            .remark(&found, &state.lineage, Some(&address))
            .await
            .map_err(|source| EngineError::Driver {
                provider: provider.clone(),
                source,
            })?;
        imported.address = address.clone();
        state
            .forgotten
            .retain(|f| !(f.provider == provider && f.provider_id == imported.provider_id));
        state.seed.get_or_insert(seed);
        state.resources.insert(address, imported.clone());
        self.backend.write(&mut state).await?;
        Ok(imported)
    }
}

/// Refuses an object whose placement is none of the node's candidates, naming each field the
/// candidates do not allow (or, when each field is allowed alone but not together, the whole
/// placement).
fn check_fits(
    address: &Address,
    id: &str,
    found: &Placement,
    candidates: &[&Placement],
) -> Result<(), LifecycleError> {
    let same = |c: &&&Placement| {
        c.provider == found.provider
            && c.location == found.location
            && c.size == found.size
            && c.image == found.image
    };
    if candidates.iter().any(|c| same(&c)) {
        return Ok(());
    }
    type Field = (&'static str, fn(&Placement) -> &str);
    let fields: [Field; 4] = [
        ("provider", |p| &p.provider),
        ("location", |p| &p.location),
        ("size", |p| &p.size),
        ("image", |p| &p.image),
    ];
    let mut mismatches = Vec::new();
    for (field, get) in fields {
        let mut allowed: Vec<String> = Vec::new();
        for c in candidates {
            let value = get(c).to_string();
            if !allowed.contains(&value) {
                allowed.push(value);
            }
        }
        if !allowed.iter().any(|a| a == get(found)) {
            mismatches.push(Mismatch {
                field,
                found: get(found).to_string(),
                allowed,
            });
        }
    }
    if mismatches.is_empty() {
        mismatches.push(Mismatch {
            field: "placement",
            found: found.to_string(),
            allowed: candidates.iter().map(|c| c.to_string()).collect(),
        });
    }
    Err(LifecycleError::Mismatch {
        address: address.clone(),
        id: id.to_string(),
        mismatches,
    })
}
