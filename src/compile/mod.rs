//! Compile: strategy + provider catalogs (+ the current state, for sticky placement) → the
//! desired graph: every node with its attributes, its chosen placement and its ranked
//! fall-backs, plus the key pairs and firewalls that providers with such resources need in
//! each region a node may run in, the DNS records the `dns` block asks for, and the load
//! balancers of the `lb` block.
//!
//! Pure: no I/O, no provider calls. Placement decisions live in `placement`; references
//! between groups are checked and wired in `references`.

mod balancers;
mod records;
mod references;

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use crate::catalog::Catalog;
use crate::graph::{DesiredGraph, GraphError};
use crate::placement::{self, Placed};
use crate::resource::{Address, Attributes, Desired, Kind, Placement};
use crate::state::State;
use crate::strategy::{Group, Strategy, StrategyError};

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

/// Turns the strategy into the desired graph: each group placed on the catalogs of the
/// providers it may use, then its regional resources and its nodes.
pub fn compile(input: &Input<'_>) -> Result<DesiredGraph, CompileError> {
    let strategy = input.strategy;
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
    // Counts are known at plan time: references are checked against them.
    let nodes: HashMap<&str, usize> = strategy
        .groups
        .iter()
        .map(|g| (g.name.as_str(), placement::fleet(g).nodes))
        .collect();
    let mut problems = Vec::new();
    let wired: Vec<references::Wired> = strategy
        .groups
        .iter()
        .map(|group| references::wire(strategy, group, &nodes, &mut problems))
        .collect();
    references::check_outputs(strategy, &nodes, &mut problems);
    if !problems.is_empty() {
        return Err(strategy.invalid(problems).into());
    }
    // Prices in a currency of `exchange_rates` are placed (and recorded) in US dollars.
    let priced: Vec<(&str, std::borrow::Cow<'_, Catalog>)> = input
        .catalogs
        .iter()
        .map(|(name, catalog)| (name.as_str(), catalog.in_dollars(&strategy.exchange_rates)))
        .collect();
    let mut resources: Vec<Desired> = Vec::new();
    for (group, wired) in strategy.groups.iter().zip(&wired) {
        // Groups that share providers share the catalogs fetched once.
        let catalogs: Vec<(&str, &Catalog)> = priced
            .iter()
            .filter(|(name, _)| group.allows(name))
            .map(|(name, catalog)| (*name, catalog.as_ref()))
            .collect();
        let addresses: Vec<Address> = (0..placement::fleet(group).nodes)
            .map(|i| Address::node(&group.name, i))
            .collect();
        let current = |i: usize| {
            let existing = input.state?.resources.get(addresses.get(i)?)?;
            Some(&existing.placement)
        };
        let placed = placement::place(&placement::Input {
            strategy,
            group,
            catalogs: &catalogs,
            current: &current,
            seed: input.seed,
            rebalance: input.rebalance,
        })?;
        // Key pairs only when the group gives a public key.
        let kinds: Vec<Kind> = [Kind::Firewall, Kind::Key]
            .into_iter()
            .filter(|kind| *kind != Kind::Key || group.spec.public_key.is_some())
            .collect();
        let scope = (!strategy.shorthand).then_some(group.name.as_str());
        let mut regional: BTreeSet<(Kind, String, String)> = BTreeSet::new();
        let needs: Vec<Vec<Address>> = placed
            .iter()
            .map(
                |Placed {
                     placement,
                     fallbacks,
                 }| {
                    let mut deps = BTreeSet::new();
                    for p in std::iter::once(placement).chain(fallbacks.iter()) {
                        let Some(region) =
                            region_of.get(&(p.provider.as_str(), p.location.as_str()))
                        else {
                            continue;
                        };
                        for kind in kinds.iter().filter(|k| (input.supports)(&p.provider, **k)) {
                            regional.insert((*kind, p.provider.clone(), region.to_string()));
                            deps.insert(Address::regional(*kind, scope, &p.provider, region));
                        }
                    }
                    deps.into_iter().collect()
                },
            )
            .collect();
        resources.extend(regional.iter().map(|(kind, provider, region)| {
            regional_resource(strategy, group, *kind, provider, region)
        }));
        for (index, ((placed, address), mut depends_on)) in
            placed.into_iter().zip(&addresses).zip(needs).enumerate()
        {
            depends_on.extend(wired.depends_on.iter().cloned());
            let mut attributes = node_attributes(group, index);
            // Written with references: the value comes when the plan renders the template.
            attributes.retain(|name, _| !wired.templates.contains_key(name));
            resources.push(Desired {
                address: address.clone(),
                kind: Kind::Node,
                placement: placed.placement,
                fallbacks: placed.fallbacks,
                attributes,
                depends_on,
                templates: wired.templates.clone(),
                unknown: Default::default(),
            });
        }
    }
    if let Some(dns) = &strategy.dns {
        resources.extend(records::records(dns, &nodes, &strategy.lb));
    }
    resources.extend(balancers::balancers(&strategy.lb, &nodes));
    DesiredGraph::new(resources).map_err(|e| match e {
        GraphError::Cycle(members) => cycle(strategy, &members).into(),
        other => other.into(),
    })
}

/// References that go round in a circle, located at the first member's group.
fn cycle(strategy: &Strategy, members: &[Address]) -> StrategyError {
    let pointer = members
        .first()
        .and_then(Address::group)
        .and_then(|g| strategy.group(g))
        .map_or(String::new(), |g| g.pointer.clone());
    let mut names: Vec<String> = members.iter().take(10).map(Address::to_string).collect();
    if members.len() > 10 {
        names.push(format!("and {} more", members.len() - 10));
    }
    let message = match members {
        [one] => format!("{one} refers to (or depends on) itself: it would wait for itself."),
        _ => format!(
            "References and depends_on form a cycle: {} each wait for another of them.",
            names.join(", ")
        ),
    };
    let hint = "break the circle: one of these groups must not refer to (or depend on) the others";
    strategy.invalid(vec![strategy.problem(&pointer, message, Some(hint.into()))])
}

/// What a node is created with. Attributes that came with node groups are left out when
/// unset, so nodes created before them show no change.
fn node_attributes(group: &Group, index: usize) -> Attributes {
    let spec = &group.spec;
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(format!("{}-{index}", group.name)));
    attributes.insert("index".into(), json!(index));
    attributes.insert("command".into(), json!(spec.command));
    attributes.insert("ports".into(), json!(spec.ports));
    attributes.insert("tags".into(), json!(spec.tags));
    if !spec.env.is_empty() {
        attributes.insert("env".into(), json!(spec.env));
    }
    for (name, set) in [
        (
            "create_before_destroy",
            spec.create_before_destroy == Some(true),
        ),
        ("prevent_destroy", spec.prevent_destroy),
    ] {
        if set {
            attributes.insert(name.into(), json!(true));
        }
    }
    attributes
}

/// A key pair or firewall for one group in one region of one provider.
fn regional_resource(
    strategy: &Strategy,
    group: &Group,
    kind: Kind,
    provider: &str,
    region: &str,
) -> Desired {
    let spec = &group.spec;
    let scope = (!strategy.shorthand).then_some(group.name.as_str());
    let mut attributes = Attributes::new();
    // One per group and region; the driver also marks it with the state's lineage.
    let name = match scope {
        Some(group) => format!("oss-{}-{group}", strategy.name),
        None => format!("oss-{}", strategy.name),
    };
    attributes.insert("name".into(), json!(name));
    attributes.insert("region".into(), json!(region));
    match kind {
        Kind::Firewall => {
            attributes.insert("ports".into(), json!(spec.ports));
            // Only where some port is restricted, so firewalls made before show no change.
            if !spec.ports.sources().is_empty() {
                attributes.insert("sources".into(), json!(spec.ports.sources()));
            }
            attributes.insert("tags".into(), json!(spec.tags));
        }
        _ => {
            attributes.insert("public_key".into(), json!(spec.public_key));
        }
    }
    Desired {
        address: Address::regional(kind, scope, provider, region),
        kind,
        placement: Placement {
            provider: provider.to_string(),
            location: region.to_string(),
            size: String::new(),
            image: String::new(),
            hourly_price: None,
            currency: None,
        },
        fallbacks: Default::default(),
        attributes,
        depends_on: Vec::new(),
        templates: Default::default(),
        unknown: Default::default(),
    }
}
