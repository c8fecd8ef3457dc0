//! Compile: strategy + provider catalogs (+ the current state, for sticky placement) → the
//! desired graph: every node with its attributes, its chosen placement and its ranked
//! fall-backs, plus the key pairs and firewalls that providers with such resources need in
//! each region a node may run in.
//!
//! Pure: no I/O, no provider calls. Placement decisions live in `placement`.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use crate::catalog::Catalog;
use crate::graph::{DesiredGraph, GraphError};
use crate::placement::{self, Placed};
use crate::resource::{Address, Attributes, Desired, Kind, Placement};
use crate::state::State;
use crate::strategy::{Strategy, StrategyError};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// What compile reads.
pub struct Input<'a> {
    pub strategy: &'a Strategy,
    /// One catalog per provider option, in the strategy's order.
    pub catalogs: &'a [(String, Catalog)],
    /// The current state, so existing nodes keep their place.
    pub state: Option<&'a State>,
    /// Seed for `random` picks.
    pub seed: u64,
    /// Place every node afresh, ignoring where it runs now.
    pub rebalance: bool,
    /// Whether provider `name` has resources of a kind (key pairs, firewalls).
    pub supports: &'a dyn Fn(&str, Kind) -> bool,
}

/// Turns the strategy into the desired graph.
pub fn compile(input: &Input<'_>) -> Result<DesiredGraph, CompileError> {
    let spec = &input.strategy.node;
    let addresses: Vec<Address> = (0..placement::fleet(input.strategy).nodes)
        .map(|i| Address::node(&spec.name, i))
        .collect();
    let current = |i: usize| {
        let existing = input.state?.resources.get(addresses.get(i)?)?;
        Some(&existing.placement)
    };
    let placed = placement::place(&placement::Input {
        strategy: input.strategy,
        catalogs: input.catalogs,
        current: &current,
        seed: input.seed,
        rebalance: input.rebalance,
    })?;

    // Regions where a provider with key pairs or firewalls may run a node (its placement or a
    // fall-back) get them, and the node depends on those of all its candidate regions, so
    // fail-over at apply time finds them ready.
    let region_of: HashMap<(&str, &str), &str> = input
        .catalogs
        .iter()
        .flat_map(|(provider, c)| {
            c.locations
                .iter()
                .map(move |l| ((provider.as_str(), l.id.as_str()), l.region.as_str()))
        })
        .collect();
    // Key pairs only when the strategy gives a public key.
    let kinds: Vec<Kind> = [Kind::Firewall, Kind::Key]
        .into_iter()
        .filter(|kind| *kind != Kind::Key || spec.public_key.is_some())
        .collect();
    let mut regional: BTreeSet<(Kind, String, String)> = BTreeSet::new();
    let needs: Vec<Vec<Address>> = placed
        .iter()
        .map(
            |Placed {
                 placement,
                 fallbacks,
             }| {
                let mut deps = BTreeSet::new();
                for p in std::iter::once(placement).chain(fallbacks) {
                    let Some(region) = region_of.get(&(p.provider.as_str(), p.location.as_str()))
                    else {
                        continue;
                    };
                    for kind in kinds.iter().filter(|k| (input.supports)(&p.provider, **k)) {
                        regional.insert((*kind, p.provider.clone(), region.to_string()));
                        deps.insert(Address::regional(*kind, &p.provider, region));
                    }
                }
                deps.into_iter().collect()
            },
        )
        .collect();
    let mut resources: Vec<Desired> = regional
        .iter()
        .map(|(kind, provider, region)| regional_resource(input.strategy, *kind, provider, region))
        .collect();

    for (index, ((placed, address), depends_on)) in
        placed.into_iter().zip(&addresses).zip(needs).enumerate()
    {
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), json!(format!("{}-{index}", spec.name)));
        attributes.insert("index".into(), json!(index));
        attributes.insert("command".into(), json!(spec.command));
        attributes.insert("ports".into(), json!(spec.ports));
        attributes.insert("tags".into(), json!(spec.tags));
        resources.push(Desired {
            address: address.clone(),
            kind: Kind::Node,
            placement: placed.placement,
            fallbacks: placed.fallbacks,
            attributes,
            depends_on,
        });
    }
    Ok(DesiredGraph::new(resources)?)
}

/// A key pair or firewall for the fleet in one region of one provider.
fn regional_resource(strategy: &Strategy, kind: Kind, provider: &str, region: &str) -> Desired {
    let spec = &strategy.node;
    let mut attributes = Attributes::new();
    // One per strategy and region; the driver also marks it with the state's lineage.
    attributes.insert("name".into(), json!(format!("oss-{}", strategy.name)));
    attributes.insert("region".into(), json!(region));
    match kind {
        Kind::Firewall => {
            attributes.insert("ports".into(), json!(spec.ports));
            attributes.insert("tags".into(), json!(spec.tags));
        }
        _ => {
            attributes.insert("public_key".into(), json!(spec.public_key));
        }
    }
    Desired {
        address: Address::regional(kind, provider, region),
        kind,
        placement: Placement {
            provider: provider.to_string(),
            location: region.to_string(),
            size: String::new(),
            image: String::new(),
            hourly_price: None,
            currency: None,
        },
        fallbacks: Vec::new(),
        attributes,
        depends_on: Vec::new(),
    }
}
