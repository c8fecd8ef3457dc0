//! Placement: chooses where every node of the fleet runs. Matches the strategy's options against
//! each provider's catalog, ranks what matches by the picks (`first`, `random`, `cheapest`,
//! `priciest`), applies redundancy and spread, keeps existing nodes in place (unless
//! rebalancing), and gives each node its ranked fall-backs for fail-over at apply time.
//!
//! Pure: catalogs come in, placements go out. Errors are located strategy problems.

mod allocate;
pub mod filter;

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::resource::Placement;
use crate::strategy::{Choice, Pick, Problem, Spread, Strategy, StrategyError};
use allocate::{Fleet, Offer, Problem as Allocation, Ranking};
use filter::{Filter, arch_fits, distance_km};

/// How many fall-backs each node carries beyond its chosen placement.
pub const MAX_FALLBACKS: usize = 15;

/// What placement reads.
pub struct Input<'a> {
    pub strategy: &'a Strategy,
    /// One catalog per provider option, in the strategy's order.
    pub catalogs: &'a [(String, Catalog)],
    /// Where node `i` runs now, if it exists.
    pub current: &'a dyn Fn(usize) -> Option<&'a Placement>,
    pub seed: u64,
    /// Ignore where nodes run now and place the whole fleet afresh.
    pub rebalance: bool,
}

/// Where one node goes, and where it may go instead.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub placement: Placement,
    pub fallbacks: Vec<Placement>,
}

/// The fleet's shape from `node.count`, `redundancy` and `spread`.
pub fn fleet(strategy: &Strategy) -> Fleet {
    let n = strategy.node.count;
    let r = strategy.redundancy;
    let (nodes, slot, spread_cap) = match r {
        crate::strategy::Redundancy::Ratio(r) => (n * r, r, n),
        crate::strategy::Redundancy::Spares(k) => (n + k, 1, k),
    };
    let per_domain = match spread(strategy) {
        Spread::None => nodes,
        _ => spread_cap,
    };
    Fleet {
        nodes,
        slot,
        per_domain,
    }
}

/// The spread in force: as written, else by location when there is redundancy.
pub fn spread(strategy: &Strategy) -> Spread {
    strategy
        .spread
        .unwrap_or(if strategy.redundancy.is_redundant() {
            Spread::Location
        } else {
            Spread::None
        })
}

/// One offer with what it is made of (indexes into its provider's catalog).
struct Source {
    provider: usize,
    location: usize,
    size: usize,
    image: usize,
    currency: usize,
}

/// Matched offerings of one provider, in preference order, per block.
struct Matched {
    locations: Vec<usize>,
    /// Size index and the price bound of the option that matched it.
    sizes: Vec<(usize, Option<f64>)>,
    images: Vec<usize>,
}

/// Places the whole fleet.
pub fn place(input: &Input<'_>) -> Result<Vec<Placed>, StrategyError> {
    let strategy = input.strategy;
    let matched = match_options(input)?;
    let fleet = fleet(strategy);
    if fleet.nodes == 0 {
        return Ok(Vec::new());
    }

    // Offers in nested preference order: provider → location → size → image.
    let spread = spread(strategy);
    let mut offers = Vec::new();
    let mut sources = Vec::new();
    let mut capacity = Vec::new();
    let mut pools: HashMap<(usize, usize, usize), usize> = HashMap::new();
    let mut domains: HashMap<(usize, usize), usize> = HashMap::new();
    let mut currencies: Vec<String> = Vec::new();
    for (p, (_, catalog)) in input.catalogs.iter().enumerate() {
        let prices: HashMap<(&str, &str), &crate::catalog::Price> = catalog
            .prices
            .iter()
            .map(|price| ((price.location.as_str(), price.size.as_str()), price))
            .collect();
        for &l in &matched[p].locations {
            for &(s, bound) in &matched[p].sizes {
                let (location, size) = (&catalog.locations[l], &catalog.sizes[s]);
                let Some(price) = prices.get(&(location.id.as_str(), size.id.as_str())) else {
                    continue; // this size is not offered at this location
                };
                if bound.is_some_and(|b| price.hourly_price > b) {
                    continue;
                }
                let pool = *pools.entry((p, l, s)).or_insert_with(|| {
                    capacity.push(price.capacity);
                    capacity.len() - 1
                });
                let domain_key = match spread {
                    Spread::Location => (p, l),
                    Spread::Provider => (p, 0),
                    Spread::None => (0, 0),
                };
                let next = domains.len();
                let domain = *domains.entry(domain_key).or_insert(next);
                let currency = match currencies.iter().position(|c| *c == price.currency) {
                    Some(i) => i,
                    None => {
                        currencies.push(price.currency.clone());
                        currencies.len() - 1
                    }
                };
                for &i in &matched[p].images {
                    if !arch_fits(&catalog.images[i].arch, &size.arch) {
                        continue;
                    }
                    offers.push(Offer {
                        price: price.hourly_price,
                        domain,
                        pool,
                    });
                    sources.push(Source {
                        provider: p,
                        location: l,
                        size: s,
                        image: i,
                        currency,
                    });
                }
            }
        }
    }
    if offers.is_empty() {
        return Err(strategy.invalid(vec![strategy.problem(
            "/node",
            "No provider offers a location, size and image that all match together.".into(),
            Some(
                "each provider must offer a matching size at a matching location, with an image of the same architecture (see `oss catalog`)"
                    .into(),
            ),
        )]));
    }

    // `near` ranks locations across providers: nearest first, before provider order.
    let locations = &strategy.node.location;
    if strategy.pick(locations.pick) == Pick::First
        && locations
            .options
            .iter()
            .any(|o| Filter::new(o).near().is_some())
    {
        let rank = |src: &Source| {
            let place = &input.catalogs[src.provider].1.locations[src.location];
            locations
                .options
                .iter()
                .enumerate()
                .find(|(_, o)| Filter::new(o).location_misses(place) == 0)
                .map_or((usize::MAX, 0.0), |(i, o)| {
                    (
                        i,
                        Filter::new(o)
                            .near()
                            .map_or(0.0, |point| distance_km(point, place)),
                    )
                })
        };
        let mut order: Vec<usize> = (0..offers.len()).collect();
        let ranks: Vec<(usize, f64)> = sources.iter().map(rank).collect();
        order.sort_by(|a, b| {
            let (ra, rb) = (ranks[*a], ranks[*b]);
            ra.0.cmp(&rb.0).then(ra.1.total_cmp(&rb.1))
        });
        let mut taken_offers: Vec<Option<Offer>> = offers.into_iter().map(Some).collect();
        let mut taken_sources: Vec<Option<Source>> = sources.into_iter().map(Some).collect();
        offers = order
            .iter()
            .map(|&o| taken_offers[o].take().expect("each once"))
            .collect();
        sources = order
            .iter()
            .map(|&o| taken_sources[o].take().expect("each once"))
            .collect();
    }
    let index: HashMap<(usize, usize, usize, usize), usize> = sources
        .iter()
        .enumerate()
        .map(|(o, src)| ((src.provider, src.location, src.size, src.image), o))
        .collect();

    let to_placement = |o: usize| {
        let src = &sources[o];
        let (name, catalog) = &input.catalogs[src.provider];
        Placement {
            provider: name.clone(),
            location: catalog.locations[src.location].id.clone(),
            size: catalog.sizes[src.size].id.clone(),
            image: catalog.images[src.image].id.clone(),
            hourly_price: Some(offers[o].price),
            currency: Some(currencies[src.currency].clone()),
        }
    };

    // Where nodes run now, when that is still allowed.
    let sticky: Vec<Option<usize>> = (0..fleet.nodes)
        .map(|node| {
            if input.rebalance {
                return None;
            }
            let now = (input.current)(node)?;
            let p = input
                .catalogs
                .iter()
                .position(|(name, _)| *name == now.provider)?;
            let catalog = &input.catalogs[p].1;
            let l = catalog
                .locations
                .iter()
                .position(|l| l.id == now.location)?;
            let s = catalog.sizes.iter().position(|s| s.id == now.size)?;
            let i = catalog.images.iter().position(|i| i.id == now.image)?;
            index.get(&(p, l, s, i)).copied()
        })
        .collect();

    let picks = [
        strategy.pick(strategy.provider.pick),
        strategy.pick(strategy.node.location.pick),
        strategy.pick(strategy.node.hardware.pick),
        strategy.pick(strategy.node.image.pick),
    ];
    let by_price = picks
        .iter()
        .find(|p| matches!(p, Pick::Cheapest | Pick::Priciest))
        .copied();
    let in_order: Vec<usize> = (0..offers.len()).collect();
    let random = picks.contains(&Pick::Random);
    let shuffled = |node: usize| -> Box<dyn Iterator<Item = usize> + '_> {
        if !random {
            return Box::new(in_order.iter().copied());
        }
        Box::new(random_order(input, &matched, &index, node).into_iter())
    };
    let descending = by_price == Some(Pick::Priciest);
    let mut price_order: Vec<usize> = Vec::new();
    let ranking = match by_price {
        Some(_) => Ranking::Price {
            order: &in_order,
            descending,
        },
        None => Ranking::Preference(&shuffled),
    };
    let problem = Allocation {
        offers: &offers,
        capacity: &capacity,
        fleet,
        sticky: &sticky,
        ranking,
    };
    let chosen = allocate::allocate(&problem)
        .map_err(|short| shortfall(strategy, fleet, short.placed, &offers, &sources, input))?;

    // Fall-backs: the node's own ranking, without its place and its slot siblings' domains.
    if by_price.is_some() {
        price_order = in_order.clone();
        let price = |o: &usize| offers[*o].price;
        if descending {
            price_order.sort_by(|a, b| price(b).total_cmp(&price(a)));
        } else {
            price_order.sort_by(|a, b| price(a).total_cmp(&price(b)));
        }
    }
    let slot = fleet.slot.max(1);
    let placed = (0..fleet.nodes)
        .map(|node| {
            let first = node / slot * slot;
            let taken: Vec<usize> = (first..(first + slot).min(fleet.nodes))
                .filter(|&n| n != node)
                .map(|n| offers[chosen[n]].domain)
                .collect();
            let ranked: Box<dyn Iterator<Item = usize>> = match by_price {
                Some(_) => Box::new(price_order.iter().copied()),
                None => shuffled(node),
            };
            let fallbacks = ranked
                .filter(|&o| o != chosen[node] && !taken.contains(&offers[o].domain))
                .take(MAX_FALLBACKS)
                .map(to_placement)
                .collect();
            Placed {
                placement: to_placement(chosen[node]),
                fallbacks,
            }
        })
        .collect();
    Ok(placed)
}

/// Node `node`'s own random order: each `random` block's dimension shuffled with a seed drawn
/// from the strategy's seed and the node's index, nested provider → location → size → image.
fn random_order(
    input: &Input<'_>,
    matched: &[Matched],
    index: &HashMap<(usize, usize, usize, usize), usize>,
    node: usize,
) -> Vec<usize> {
    let strategy = input.strategy;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        input.seed ^ (node as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let random = |pick: Option<Pick>| strategy.pick(pick) == Pick::Random;
    let mut providers: Vec<usize> = (0..matched.len()).collect();
    if random(strategy.provider.pick) {
        providers.shuffle(&mut rng);
    }
    let mut order = Vec::new();
    for p in providers {
        let mut locations = matched[p].locations.clone();
        let mut sizes: Vec<usize> = matched[p].sizes.iter().map(|(s, _)| *s).collect();
        let mut images = matched[p].images.clone();
        if random(strategy.node.location.pick) {
            locations.shuffle(&mut rng);
        }
        if random(strategy.node.hardware.pick) {
            sizes.shuffle(&mut rng);
        }
        if random(strategy.node.image.pick) {
            images.shuffle(&mut rng);
        }
        for &l in &locations {
            for &s in &sizes {
                for &i in &images {
                    if let Some(&o) = index.get(&(p, l, s, i)) {
                        order.push(o);
                    }
                }
            }
        }
    }
    order
}

/// Matches every option of every block against every provider; an option that matches
/// nothing anywhere is a located error listing the closest offerings.
fn match_options(input: &Input<'_>) -> Result<Vec<Matched>, StrategyError> {
    let strategy = input.strategy;
    let spec = &strategy.node;
    let mut matched: Vec<Matched> = input
        .catalogs
        .iter()
        .map(|_| Matched {
            locations: Vec::new(),
            sizes: Vec::new(),
            images: Vec::new(),
        })
        .collect();
    let mut problems = Vec::new();
    let blocks: [(&str, &Choice); 3] = [
        ("location", &spec.location),
        ("hardware", &spec.hardware),
        ("image", &spec.image),
    ];
    for (block, choice) in blocks {
        for (o, option) in choice.options.iter().enumerate() {
            let filter = Filter::new(option);
            let mut any = false;
            for (p, (_, catalog)) in input.catalogs.iter().enumerate() {
                let found = match block {
                    "location" => {
                        let mut found: Vec<usize> = (0..catalog.locations.len())
                            .filter(|&l| filter.location_misses(&catalog.locations[l]) == 0)
                            .collect();
                        if let Some(point) = filter.near() {
                            let km = |l: &usize| distance_km(point, &catalog.locations[*l]);
                            found.sort_by(|a, b| km(a).total_cmp(&km(b)));
                        }
                        push_new(&mut matched[p].locations, found)
                    }
                    "hardware" => {
                        // Smallest fitting size first.
                        let mut found: Vec<usize> = (0..catalog.sizes.len())
                            .filter(|&s| filter.size_misses(&catalog.sizes[s]) == 0)
                            .collect();
                        let key = |s: &usize| {
                            let size = &catalog.sizes[*s];
                            (size.vcpus, size.memory_gib, size.id.clone())
                        };
                        found.sort_by(|a, b| {
                            key(a)
                                .partial_cmp(&key(b))
                                .unwrap_or(std::cmp::Ordering::Equal)
                        });
                        let bound = filter.max_hourly_price();
                        let before = matched[p].sizes.len();
                        for s in found {
                            if !matched[p].sizes.iter().any(|(have, _)| *have == s) {
                                matched[p].sizes.push((s, bound));
                            }
                        }
                        matched[p].sizes.len() > before
                            || catalog.sizes.iter().any(|s| filter.size_misses(s) == 0)
                    }
                    _ => {
                        let found = (0..catalog.images.len())
                            .filter(|&i| filter.image_misses(&catalog.images[i]) == 0)
                            .collect();
                        push_new(&mut matched[p].images, found)
                    }
                };
                any |= found;
            }
            if !any {
                problems.push(no_match(input, block, o, option));
            }
        }
    }
    if problems.is_empty() {
        Ok(matched)
    } else {
        Err(strategy.invalid(problems))
    }
}

/// Appends what is not there yet; true when `found` was not empty.
fn push_new(list: &mut Vec<usize>, found: Vec<usize>) -> bool {
    let any = !found.is_empty();
    for f in found {
        if !list.contains(&f) {
            list.push(f);
        }
    }
    any
}

fn no_match(
    input: &Input<'_>,
    block: &str,
    o: usize,
    option: &serde_json::Map<String, Value>,
) -> Problem {
    let filter = Filter::new(option);
    // The closest offerings: fewest failed conditions, then by name.
    let mut near: Vec<(usize, String)> = Vec::new();
    for (provider, catalog) in input.catalogs {
        match block {
            "location" => near.extend(catalog.locations.iter().map(|l| {
                let what = format!(
                    "{provider} {} ({}, {}, {})",
                    l.id, l.region, l.country, l.continent
                );
                (filter.location_misses(l), what)
            })),
            "hardware" => near.extend(catalog.sizes.iter().map(|s| {
                let what = format!(
                    "{provider} {} ({} vCPU, {} GiB, {})",
                    s.id, s.vcpus, s.memory_gib, s.arch
                );
                (filter.size_misses(s), what)
            })),
            _ => near.extend(catalog.images.iter().map(|i| {
                let what = format!("{provider} {} ({} {}, {})", i.id, i.os, i.version, i.arch);
                (filter.image_misses(i), what)
            })),
        }
    }
    near.sort();
    let closest: Vec<String> = near.into_iter().take(5).map(|(_, w)| w).collect();
    let providers: Vec<&str> = input.catalogs.iter().map(|(n, _)| n.as_str()).collect();
    input.strategy.problem(
        &format!("/node/{block}/options/{o}"),
        format!(
            "No offering of {} matches {}.",
            providers.join(", "),
            Value::Object(option.clone())
        ),
        Some(format!(
            "closest: {}; see `oss catalog`",
            closest.join("; ")
        )),
    )
}

/// Explains why the fleet does not fit: too few failure domains for the spread, or too little
/// capacity.
fn shortfall(
    strategy: &Strategy,
    fleet: Fleet,
    placed: usize,
    offers: &[Offer],
    sources: &[Source],
    input: &Input<'_>,
) -> StrategyError {
    let mut domains: Vec<usize> = offers.iter().map(|o| o.domain).collect();
    domains.sort_unstable();
    domains.dedup();
    let needed_domains = fleet
        .nodes
        .div_ceil(fleet.per_domain.max(1))
        .max(fleet.slot);
    let spread = spread(strategy);
    if spread != Spread::None && domains.len() < needed_domains {
        let kind = if spread == Spread::Location {
            "location"
        } else {
            "provider"
        };
        let mut names: Vec<String> = Vec::new();
        for source in sources {
            let (provider, catalog) = &input.catalogs[source.provider];
            let name = match spread {
                Spread::Location => format!("{provider}/{}", catalog.locations[source.location].id),
                _ => provider.clone(),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        return strategy.invalid(vec![strategy.problem(
            "/redundancy",
            format!(
                "Redundancy {} with spread by {kind} needs at least {needed_domains} {kind}s for {} node(s), but the strategy allows {}: {}.",
                strategy.redundancy,
                fleet.nodes,
                domains.len(),
                names.join(", ")
            ),
            Some(format!(
                "add {kind} options (or providers), lower the redundancy, or set \"spread\" to another failure domain"
            )),
        )]);
    }
    strategy.invalid(vec![strategy.problem(
        "/node/count",
        format!(
            "Only {placed} of {} node(s) fit: the matching offerings have no capacity left for the rest{}.",
            fleet.nodes,
            if spread == Spread::None { "" } else { " under the spread rule" }
        ),
        Some("allow more locations, sizes or providers, or lower the count".into()),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Image, Location, Price, Size};
    use serde_json::json;

    fn location(id: &str, country: &str, continent: &str, lat: f64, lon: f64) -> Location {
        Location {
            id: id.into(),
            name: id.into(),
            region: id
                .trim_end_matches(|c: char| c.is_ascii_lowercase() && id.ends_with(c))
                .into(),
            zone: id.into(),
            country: country.into(),
            continent: continent.into(),
            latitude: lat,
            longitude: lon,
        }
    }

    fn size(id: &str, vcpus: u32, memory: f64, arch: &str) -> Size {
        Size {
            id: id.into(),
            name: id.into(),
            vcpus,
            memory_gib: memory,
            disk_gib: 0,
            arch: arch.into(),
        }
    }

    /// A provider with `prices`: (location, size, hourly).
    fn catalog(
        locations: Vec<Location>,
        sizes: Vec<Size>,
        prices: &[(&str, &str, f64)],
    ) -> Catalog {
        Catalog {
            locations,
            sizes,
            images: vec![Image {
                id: "ubuntu".into(),
                name: "ubuntu-24.04".into(),
                os: "ubuntu".into(),
                version: "24.04".into(),
                arch: "any".into(),
            }],
            prices: prices
                .iter()
                .map(|(l, s, p)| Price {
                    location: (*l).into(),
                    size: (*s).into(),
                    hourly_price: *p,
                    currency: "USD".into(),
                    capacity: None,
                })
                .collect(),
            source: None,
        }
    }

    /// Three providers: `east` (US, cheap small), `west` (US, cheapest medium), `syd` (AU).
    fn catalogs() -> Vec<(String, Catalog)> {
        let sizes = || {
            vec![
                size("small", 1, 2.0, "x86_64"),
                size("medium", 2, 4.0, "x86_64"),
                size("arm", 2, 4.0, "arm64"),
            ]
        };
        vec![
            (
                "east".into(),
                catalog(
                    vec![
                        location("use-1a", "US", "north-america", 39.0, -77.5),
                        location("use-1b", "US", "north-america", 39.0, -77.4),
                    ],
                    sizes(),
                    &[
                        ("use-1a", "small", 0.010),
                        ("use-1b", "small", 0.011),
                        ("use-1a", "medium", 0.030),
                        ("use-1b", "arm", 0.012),
                    ],
                ),
            ),
            (
                "west".into(),
                catalog(
                    vec![location("usw-2a", "US", "north-america", 45.5, -122.7)],
                    sizes(),
                    &[("usw-2a", "small", 0.012), ("usw-2a", "medium", 0.020)],
                ),
            ),
            (
                "syd".into(),
                catalog(
                    vec![
                        location("aps-2a", "AU", "oceania", -33.9, 151.2),
                        location("aps-2b", "AU", "oceania", -33.8, 151.1),
                    ],
                    sizes(),
                    &[
                        ("aps-2a", "small", 0.015),
                        ("aps-2b", "small", 0.016),
                        ("aps-2a", "medium", 0.040),
                    ],
                ),
            ),
        ]
    }

    fn strategy(extra: serde_json::Value) -> Strategy {
        let mut doc = json!({
            "name": "t",
            "provider": {"options": [{"local": {"name": "east"}}, {"local": {"name": "west"}}, {"local": {"name": "syd"}}]},
            "node": {
                "name": "web", "count": 2,
                "image": {"options": [{"os": "ubuntu"}]},
                "hardware": {"options": [{"min_vcpus": 1}]},
                "location": {"options": [{"continent": "north-america"}, {"continent": "oceania"}]}
            }
        });
        merge(&mut doc, extra);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        crate::strategy::parse(std::path::Path::new("s.json"), &text, &|_| None).unwrap()
    }

    fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
        match (into, from) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (slot, v) => *slot = v,
        }
    }

    fn run(
        strategy: &Strategy,
        current: &[Option<Placement>],
        seed: u64,
        rebalance: bool,
    ) -> Result<Vec<Placed>, StrategyError> {
        let catalogs = catalogs();
        let lookup = |i: usize| current.get(i).and_then(Option::as_ref);
        place(&Input {
            strategy,
            catalogs: &catalogs,
            current: &lookup,
            seed,
            rebalance,
        })
    }

    fn places(placed: &[Placed]) -> Vec<String> {
        placed
            .iter()
            .map(|p| {
                format!(
                    "{}/{}/{}",
                    p.placement.provider, p.placement.location, p.placement.size
                )
            })
            .collect()
    }

    #[test]
    fn cheapest_ranks_across_providers_and_locations() {
        let s = strategy(json!({"default_pick": "cheapest"}));
        let placed = run(&s, &[], 1, false).unwrap();
        assert_eq!(places(&placed), ["east/use-1a/small", "east/use-1a/small"]);
        let fallback: Vec<f64> = placed[0]
            .fallbacks
            .iter()
            .map(|p| p.hourly_price.unwrap())
            .collect();
        assert!(
            fallback.windows(2).all(|w| w[0] <= w[1]),
            "fall-backs by price: {fallback:?}"
        );
        assert_eq!(placed[0].fallbacks[0].location, "use-1b");
    }

    #[test]
    fn priciest_takes_the_most_expensive() {
        let s = strategy(json!({"node": {"hardware": {"pick": "priciest"}}}));
        let placed = run(&s, &[], 1, false).unwrap();
        assert_eq!(places(&placed)[0], "syd/aps-2a/medium");
    }

    #[test]
    fn first_follows_provider_then_option_order_and_falls_back_in_that_order() {
        let s = strategy(
            json!({"node": {"location": {"options": [{"continent": "oceania"}, {"continent": "north-america"}]}}}),
        );
        let placed = run(&s, &[], 1, false).unwrap();
        // Providers first (east is first), then its locations in option order; smallest size first.
        assert_eq!(places(&placed)[0], "east/use-1a/small");
        assert_eq!(placed[0].fallbacks[0].location, "use-1a");
        assert_eq!(placed[0].fallbacks[0].size, "medium");
    }

    #[test]
    fn random_is_reproducible_with_a_seed() {
        let s = strategy(
            json!({"node": {"count": 6, "location": {"pick": "random"}}, "provider": {"pick": "random"}}),
        );
        let a = places(&run(&s, &[], 42, false).unwrap());
        assert_eq!(a, places(&run(&s, &[], 42, false).unwrap()));
        let others: Vec<Vec<String>> = (0..5)
            .map(|seed| places(&run(&s, &[], seed, false).unwrap()))
            .collect();
        assert!(
            others.iter().any(|o| *o != a),
            "different seeds give different placements"
        );
        let distinct: std::collections::HashSet<&String> = a.iter().collect();
        assert!(distinct.len() > 1, "each node draws its own: {a:?}");
    }

    #[test]
    fn existing_nodes_stay_unless_rebalancing() {
        let s = strategy(json!({"default_pick": "cheapest"}));
        let mut now = run(&s, &[], 1, false).unwrap()[0].placement.clone();
        now.provider = "syd".into();
        now.location = "aps-2b".into();
        let current = [Some(now), None];
        assert_eq!(
            places(&run(&s, &current, 1, false).unwrap()),
            ["syd/aps-2b/small", "east/use-1a/small"]
        );
        assert_eq!(
            places(&run(&s, &current, 1, true).unwrap()),
            ["east/use-1a/small", "east/use-1a/small"]
        );
    }

    #[test]
    fn two_to_one_puts_replicas_in_distinct_locations_at_least_total_cost() {
        let s = strategy(json!({"default_pick": "cheapest", "redundancy": "2:1"}));
        let placed = run(&s, &[], 1, false).unwrap();
        assert_eq!(
            places(&placed),
            [
                "east/use-1a/small",
                "east/use-1b/small",
                "east/use-1a/small",
                "east/use-1b/small"
            ]
        );
        let s = strategy(
            json!({"default_pick": "cheapest", "redundancy": "2:1", "spread": "provider"}),
        );
        let placed = places(&run(&s, &[], 1, false).unwrap());
        assert_eq!(
            placed,
            [
                "east/use-1a/small",
                "west/usw-2a/small",
                "east/use-1a/small",
                "west/usw-2a/small"
            ]
        );
    }

    #[test]
    fn spares_never_put_more_than_k_in_one_location() {
        let s =
            strategy(json!({"default_pick": "cheapest", "redundancy": "+2", "node": {"count": 3}}));
        let placed = places(&run(&s, &[], 1, false).unwrap());
        assert_eq!(placed.len(), 5);
        for loc in ["use-1a", "use-1b", "usw-2a", "aps-2a"] {
            assert!(
                placed.iter().filter(|p| p.contains(loc)).count() <= 2,
                "{placed:?}"
            );
        }
    }

    #[test]
    fn impossible_spread_names_what_is_missing() {
        let s = strategy(
            json!({"redundancy": "3:1", "node": {"location": {"options": [{"country": "AU"}]}}}),
        );
        let err = run(&s, &[], 1, false).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.pointer, "/redundancy");
        assert_eq!(
            p.message,
            "Redundancy 3:1 with spread by location needs at least 3 locations for 6 node(s), but the strategy allows 2: syd/aps-2a, syd/aps-2b."
        );
    }

    #[test]
    fn geography_price_and_arch_filter_offerings() {
        // Near Sydney first.
        let s = strategy(
            json!({"node": {"location": {"options": [{"near": {"lat": -37.8, "lon": 145.0}}]}}}),
        );
        assert_eq!(
            places(&run(&s, &[], 1, false).unwrap())[0],
            "syd/aps-2a/small"
        );
        // A price ceiling leaves only the cheap smalls.
        let s =
            strategy(json!({"node": {"hardware": {"options": [{"max_hourly_price": 0.0105}]}}}));
        let placed = run(&s, &[], 1, false).unwrap();
        assert!(placed[0].fallbacks.is_empty(), "{:?}", placed[0].fallbacks);
        // arm64 only where an arm size is offered.
        let s = strategy(json!({"node": {"hardware": {"options": [{"arch": "arm64"}]}}}));
        assert_eq!(
            places(&run(&s, &[], 1, false).unwrap())[0],
            "east/use-1b/arm"
        );
    }

    #[test]
    fn an_option_matching_nothing_lists_the_closest() {
        let s = strategy(json!({"node": {"hardware": {"options": [{"min_vcpus": 64}]}}}));
        let err = run(&s, &[], 1, false).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.pointer, "/node/hardware/options/0");
        assert!(
            p.message
                .starts_with("No offering of east, west, syd matches {\"min_vcpus\":64}"),
            "{}",
            p.message
        );
        assert!(
            p.hint
                .as_deref()
                .unwrap()
                .starts_with("closest: east arm (2 vCPU"),
            "{:?}",
            p.hint
        );
    }
}
