//! Compile: strategy + provider catalogs (+ the prior state, for sticky placement) → the
//! desired graph, each node with its chosen placement and ranked fall-backs.
//!
//! Pure: no I/O, no provider calls. An option that matches no offering is a located strategy
//! error listing what exists.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::graph::{DesiredGraph, GraphError};
use crate::resource::{Address, Desired, Kind, Placement};
use crate::state::State;
use crate::strategy::{Choice, Pick, Strategy, StrategyError};

/// How many fall-backs each node carries beyond its chosen placement.
pub const MAX_FALLBACKS: usize = 15;

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
}

/// Turns the strategy into the desired graph.
pub fn compile(input: &Input<'_>) -> Result<DesiredGraph, CompileError> {
    let strategy = input.strategy;
    let spec = &strategy.node;
    let blocks = [
        ("location", &spec.location),
        ("hardware", &spec.hardware),
        ("image", &spec.image),
    ];
    let mut problems = Vec::new();
    for (block, choice) in blocks {
        for (i, option) in choice.options.iter().enumerate() {
            let matched = input
                .catalogs
                .iter()
                .any(|(_, c)| !offerings(c, block, option).is_empty());
            if !matched {
                problems.push(strategy.problem(
                    &format!("/node/{block}/options/{i}"),
                    format!(
                        "No offering of {} matches {}.",
                        provider_names(input.catalogs),
                        Value::Object(option.clone())
                    ),
                    Some(format!("available: {}", available(input.catalogs, block))),
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(strategy.invalid(problems).into());
    }

    let random_pick = [
        strategy.provider.pick,
        spec.location.pick,
        spec.hardware.pick,
        spec.image.pick,
    ]
    .iter()
    .any(|p| strategy.pick(*p) == Pick::Random);
    // Without a random pick every node ranks the same candidates: compute them once.
    let shared = (!random_pick).then(|| candidates(input, None));

    let mut resources = Vec::with_capacity(spec.count);
    for index in 0..spec.count {
        let address = Address::node(&spec.name, index);
        let mut ranked = match &shared {
            Some(shared) => shared.clone(),
            None => {
                // Each node draws its own random order, reproducibly from the seed.
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                    input.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                candidates(input, Some(&mut rng))
            }
        };
        if ranked.is_empty() {
            return Err(no_combination(strategy).into());
        }
        // Sticky placement: an existing node keeps its place while the strategy allows it.
        if let Some(existing) = input.state.and_then(|s| s.resources.get(&address))
            && let Some(pos) = ranked
                .iter()
                .position(|c| c.same_place(&existing.placement))
        {
            let kept = ranked.remove(pos);
            ranked.insert(0, kept);
        }
        ranked.truncate(MAX_FALLBACKS + 1);
        let placement = ranked.remove(0);
        let mut attributes = crate::resource::Attributes::new();
        attributes.insert("name".into(), json!(format!("{}-{index}", spec.name)));
        attributes.insert("index".into(), json!(index));
        attributes.insert("command".into(), json!(spec.command));
        attributes.insert("ports".into(), json!(spec.ports));
        attributes.insert("tags".into(), json!(spec.tags));
        resources.push(Desired {
            address,
            kind: Kind::Node,
            placement,
            fallbacks: ranked,
            attributes,
            depends_on: Vec::new(),
        });
    }
    Ok(DesiredGraph::new(resources)?)
}

fn no_combination(strategy: &Strategy) -> StrategyError {
    strategy.invalid(vec![strategy.problem(
        "/node",
        "No provider offers a location, size and image that all match together.".into(),
        Some("each provider must match at least one option of location, hardware and image".into()),
    )])
}

/// Every (provider, location, size, image) the strategy allows, ranked by its picks: each
/// block's pick orders its own dimension (`first`: as written; `random`: shuffled with `rng`),
/// nested provider → location → size → image; then `cheapest`/`priciest` anywhere ranks the
/// whole list by price, across all providers and locations at once (stable, so ties keep the
/// order above).
fn candidates(input: &Input<'_>, mut rng: Option<&mut Xoshiro256PlusPlus>) -> Vec<Placement> {
    let strategy = input.strategy;
    let spec = &strategy.node;
    let mut order = |items: &mut Vec<usize>, pick: Option<Pick>| {
        if strategy.pick(pick) == Pick::Random
            && let Some(rng) = rng.as_deref_mut()
        {
            items.shuffle(rng);
        }
    };
    let mut providers: Vec<usize> = (0..input.catalogs.len()).collect();
    order(&mut providers, strategy.provider.pick);
    let mut all = Vec::new();
    for p in providers {
        let (provider, catalog) = &input.catalogs[p];
        let mut locations = ordered(catalog, "location", &spec.location);
        let mut sizes = ordered(catalog, "hardware", &spec.hardware);
        let mut images = ordered(catalog, "image", &spec.image);
        order(&mut locations, spec.location.pick);
        order(&mut sizes, spec.hardware.pick);
        order(&mut images, spec.image.pick);
        for location in &locations {
            let location = &catalog.locations[*location];
            for size in &sizes {
                let size = &catalog.sizes[*size];
                let Some(price) = catalog
                    .prices
                    .iter()
                    .find(|p| p.location == location.id && p.size == size.id)
                else {
                    continue; // not offered there
                };
                for image in &images {
                    all.push(Placement {
                        provider: provider.clone(),
                        location: location.id.clone(),
                        size: size.id.clone(),
                        image: catalog.images[*image].id.clone(),
                        hourly_price: Some(price.hourly_price),
                        currency: Some(price.currency.clone()),
                    });
                }
            }
        }
    }
    let picks = [
        strategy.pick(strategy.provider.pick),
        strategy.pick(spec.location.pick),
        strategy.pick(spec.hardware.pick),
        strategy.pick(spec.image.pick),
    ];
    let price = |p: &Placement| p.hourly_price.unwrap_or(f64::INFINITY);
    if picks.contains(&Pick::Cheapest) {
        all.sort_by(|a, b| price(a).total_cmp(&price(b)));
    } else if picks.contains(&Pick::Priciest) {
        all.sort_by(|a, b| price(b).total_cmp(&price(a)));
    }
    all
}

/// Indexes of the offerings of one block matched by the options, in option order, each once.
fn ordered(catalog: &Catalog, block: &str, choice: &Choice) -> Vec<usize> {
    let mut seen = HashSet::new();
    choice
        .options
        .iter()
        .flat_map(|option| offerings(catalog, block, option))
        .filter(|i| seen.insert(*i))
        .collect()
}

/// Whether an offering's serialized attributes hold every key of a strategy option.
fn matches_option<T: Serialize>(offering: &T, option: &Map<String, Value>) -> bool {
    let Ok(Value::Object(attrs)) = serde_json::to_value(offering) else {
        return false;
    };
    option
        .iter()
        .all(|(key, want)| match (attrs.get(key), want) {
            (Some(Value::Number(have)), Value::Number(want)) => have.as_f64() == want.as_f64(),
            (Some(have), want) => have == want,
            (None, _) => false,
        })
}

fn offerings(catalog: &Catalog, block: &str, option: &Map<String, Value>) -> Vec<usize> {
    fn find<T: Serialize>(items: &[T], option: &Map<String, Value>) -> Vec<usize> {
        (0..items.len())
            .filter(|&i| matches_option(&items[i], option))
            .collect()
    }
    match block {
        "location" => find(&catalog.locations, option),
        "hardware" => find(&catalog.sizes, option),
        _ => find(&catalog.images, option),
    }
}

fn provider_names(catalogs: &[(String, Catalog)]) -> String {
    catalogs
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn available(catalogs: &[(String, Catalog)], block: &str) -> String {
    let mut names: Vec<String> = Vec::new();
    for (provider, catalog) in catalogs {
        let ids: Vec<String> = match block {
            "location" => catalog
                .locations
                .iter()
                .map(|l| format!("{{\"id\": \"{}\"}}", l.id))
                .collect(),
            "hardware" => catalog
                .sizes
                .iter()
                .map(|s| format!("{{\"name\": \"{}\"}}", s.name))
                .collect(),
            _ => catalog
                .images
                .iter()
                .map(|i| format!("{{\"name\": \"{}\"}}", i.name))
                .collect(),
        };
        let shown: Vec<String> = ids.iter().take(8).cloned().collect();
        let more = ids.len().saturating_sub(shown.len());
        let mut line = format!("{provider}: {}", shown.join(", "));
        if more > 0 {
            line.push_str(&format!(" and {more} more (see `oss catalog`)"));
        }
        names.push(line);
    }
    names.join("; ")
}
