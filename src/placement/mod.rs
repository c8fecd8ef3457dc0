//! Placement: chooses where every node of the fleet runs. Matches the strategy's options against
//! each provider's catalog, ranks what matches by the picks (`first`, `random`, `cheapest`,
//! `priciest`), applies redundancy and spread, keeps existing nodes in place (unless
//! rebalancing), and gives each node its ranked fall-backs for fail-over at apply time.
//!
//! One phase per step of [`place`], over one list of candidates: `matching` (options against
//! catalogs), `offers` (the candidates in preference order), `ranking` (by price or by each
//! node's preference), keep sticky nodes, `allocate` (the spread and capacity rules), then the
//! fall-backs.
//!
//! Pure: catalogs come in, placements go out. Errors are located strategy problems.

mod allocate;
pub mod filter;
mod matching;
mod offers;
mod ranking;

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::resource::Placement;
use crate::strategy::{Group, Spread, Strategy, StrategyError};
use allocate::{Fleet, Problem as Allocation};
use offers::Offers;
use ranking::Ranker;

/// How many fall-backs each node carries beyond its chosen placement.
pub const MAX_FALLBACKS: usize = 15;

/// What placement reads.
pub struct Input<'a> {
    pub strategy: &'a Strategy,
    /// The group to place.
    pub group: &'a Group,
    /// One catalog per provider the group may use, in the strategy's order (groups that
    /// share providers share their catalogs).
    pub catalogs: &'a [(&'a str, &'a Catalog)],
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
    /// Shared by the nodes whose fall-backs are the same (most of a group's).
    pub fallbacks: Arc<[Placement]>,
}

/// A group's shape from its `count`, `redundancy` and `spread`.
pub fn fleet(group: &Group) -> Fleet {
    let n = group.spec.count;
    let r = group.redundancy;
    let (nodes, slot, spread_cap) = match r {
        crate::strategy::Redundancy::Ratio(r) => (n * r, r, n),
        crate::strategy::Redundancy::Spares(k) => (n + k, 1, k),
    };
    let per_domain = match spread(group) {
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
pub fn spread(group: &Group) -> Spread {
    group.spread.unwrap_or(if group.redundancy.is_redundant() {
        Spread::Location
    } else {
        Spread::None
    })
}

/// Places the whole fleet: build offers, rank, keep sticky nodes, allocate, fall-backs.
pub fn place(input: &Input<'_>) -> Result<Vec<Placed>, StrategyError> {
    let strategy = input.strategy;
    let group = input.group;
    // Build offers: options matched against catalogs, one candidate list in preference order.
    let matched = matching::match_options(input)?;
    let fleet = fleet(group);
    if fleet.nodes == 0 {
        return Ok(Vec::new());
    }
    let offers = Offers::build(input, &matched, spread(group));
    if let Some(problem) = incomparable(input, &offers) {
        return Err(strategy.invalid(vec![problem]));
    }
    if offers.list.is_empty() {
        return Err(strategy.invalid(vec![strategy.problem(
            &group.pointer,
            "No provider offers a location, size and image that all match together.".into(),
            Some(
                "each provider must offer a matching size at a matching location, with an image of the same architecture (see `oss catalog`)"
                    .into(),
            ),
        )]));
    }
    // Rank: by price, or each node its own preference.
    let ranker = Ranker::new(input, &matched, &offers);
    // Keep sticky nodes: where nodes run now, when still a candidate.
    let sticky: Vec<Option<usize>> = (0..fleet.nodes)
        .map(|node| offers.sticky(input, node))
        .collect();
    // Allocate under the spread and capacity rules, then give each node its fall-backs.
    let preference = |node: usize| ranker.ranked(node);
    let problem = Allocation {
        offers: &offers.list,
        capacity: &offers.capacity,
        fleet,
        sticky: &sticky,
        ranking: ranker.allocation(&preference),
    };
    let chosen = allocate::allocate(&problem)
        .map_err(|short| shortfall(input, fleet, short.placed, &offers))?;
    Ok(fallbacks(input, &offers, &ranker, fleet, &chosen))
}

/// Prices in more than one currency where placement compares them (a price pick) or bounds
/// them (`max_hourly_price`): there is no honest order without a rate, so the strategy must
/// give one in `exchange_rates` (the catalogs are then in US dollars) or leave a currency out.
fn incomparable(input: &Input<'_>, offers: &Offers<'_>) -> Option<crate::strategy::Problem> {
    let by_price = input
        .strategy
        .picks(input.group)
        .into_iter()
        .find(|p| p.by_price());
    let what = match by_price {
        Some(pick) => format!("`{}`", pick.name()),
        None if offers.bounded => "`max_hourly_price`".to_string(),
        None => return None,
    };
    if offers.currencies.len() < 2 {
        return None;
    }
    let named: Vec<String> = offers
        .currencies
        .iter()
        .map(|(currency, providers)| {
            let providers: Vec<&str> = providers.iter().copied().collect();
            format!("{currency} at {}", providers.join(", "))
        })
        .collect();
    let example: Vec<String> = offers
        .currencies
        .keys()
        .filter(|c| **c != crate::catalog::DOLLARS)
        .map(|c| format!("\"{c}\": <US dollars per {c}>"))
        .collect();
    Some(input.strategy.problem(
        &input.group.pointer,
        format!(
            "The matching offers are priced in more than one currency ({}), so {what} cannot compare them.",
            named.join("; ")
        ),
        Some(format!(
            "add \"exchange_rates\": {{{}}} to the strategy (the rate you budget with), or leave out the providers of one currency",
            example.join(", ")
        )),
    ))
}

/// Each node's place, with its own ranking as fall-backs: without its place and without the
/// failure domains its slot siblings hold (slots as [`Fleet::slots`] derives them from the
/// chosen domains, so the same placements give the same fall-backs).
fn fallbacks(
    input: &Input<'_>,
    offers: &Offers<'_>,
    ranker: &Ranker<'_, '_>,
    fleet: Fleet,
    chosen: &[usize],
) -> Vec<Placed> {
    let domain = |o: usize| offers.list[o].offer.domain;
    let domains: Vec<usize> = chosen.iter().map(|&o| domain(o)).collect();
    let mut slot_of = vec![0; chosen.len()];
    let slots = fleet.slots(&domains);
    for (s, members) in slots.iter().enumerate() {
        for &node in members {
            slot_of[node] = s;
        }
    }
    // Lists already made, by their offers: 100,000 nodes share a handful.
    let mut made: HashMap<Vec<usize>, Arc<[Placement]>> = HashMap::new();
    (0..fleet.nodes)
        .map(|node| {
            let taken: Vec<usize> = slots[slot_of[node]]
                .iter()
                .filter(|&&n| n != node)
                .map(|&n| domains[n])
                .collect();
            let ranked: Vec<usize> = ranker
                .ranked(node)
                .filter(|&o| o != chosen[node] && !taken.contains(&domain(o)))
                .take(MAX_FALLBACKS)
                .collect();
            let fallbacks = made
                .entry(ranked)
                .or_insert_with_key(|ranked| {
                    ranked
                        .iter()
                        .map(|&o| offers.list[o].placement(input))
                        .collect()
                })
                .clone();
            Placed {
                placement: offers.list[chosen[node]].placement(input),
                fallbacks,
            }
        })
        .collect()
}

/// Explains why the fleet does not fit: too few failure domains for the spread, or too little
/// capacity.
fn shortfall(input: &Input<'_>, fleet: Fleet, placed: usize, offers: &Offers<'_>) -> StrategyError {
    let (strategy, group) = (input.strategy, input.group);
    let mut domains: Vec<usize> = offers.list.iter().map(|c| c.offer.domain).collect();
    domains.sort_unstable();
    domains.dedup();
    let needed_domains = fleet
        .nodes
        .div_ceil(fleet.per_domain.max(1))
        .max(fleet.slot);
    let spread = spread(group);
    if spread != Spread::None && domains.len() < needed_domains {
        let kind = if spread == Spread::Location {
            "location"
        } else {
            "provider"
        };
        let mut names: Vec<String> = Vec::new();
        for candidate in &offers.list {
            let (provider, catalog) = &input.catalogs[candidate.provider];
            let name = match spread {
                Spread::Location => {
                    format!("{provider}/{}", catalog.locations[candidate.location].id)
                }
                _ => provider.to_string(),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        return strategy.invalid(vec![strategy.problem(
            &group.redundancy_pointer,
            format!(
                "Redundancy {} with spread by {kind} needs at least {needed_domains} {kind}s for {} node(s), but the strategy allows {}: {}.",
                group.redundancy,
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
        &format!("{}/count", group.pointer),
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
        run_on(&catalogs(), strategy, current, seed, rebalance)
    }

    fn run_on(
        catalogs: &[(String, Catalog)],
        strategy: &Strategy,
        current: &[Option<Placement>],
        seed: u64,
        rebalance: bool,
    ) -> Result<Vec<Placed>, StrategyError> {
        let catalogs: Vec<(&str, &Catalog)> =
            catalogs.iter().map(|(n, c)| (n.as_str(), c)).collect();
        let lookup = |i: usize| current.get(i).and_then(Option::as_ref);
        place(&Input {
            strategy,
            group: &strategy.groups[0],
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
    fn prices_in_two_currencies_are_compared_by_no_pick_and_no_bound() {
        let mut euros = catalogs();
        for price in &mut euros[1].1.prices {
            price.currency = "EUR".into();
        }
        let refused = |extra| {
            let e = run_on(&euros, &strategy(extra), &[], 1, false).unwrap_err();
            e.problems()[0].message.clone()
        };
        assert_eq!(
            refused(json!({"default_pick": "cheapest"})),
            "The matching offers are priced in more than one currency (EUR at west; USD at east, syd), so `cheapest` cannot compare them."
        );
        let bounded =
            json!({"node": {"hardware": {"options": [{"min_vcpus": 1, "max_hourly_price": 1.0}]}}});
        assert!(refused(bounded).contains("so `max_hourly_price` cannot compare them"));
        // `first` compares no price: the fleet is placed in preference order.
        let placed = run_on(&euros, &strategy(json!({})), &[], 1, false).unwrap();
        assert_eq!(places(&placed)[0].split('/').next(), Some("east"));
        // One currency alone ranks as it is.
        let mut all = catalogs();
        for (_, catalog) in &mut all {
            for price in &mut catalog.prices {
                price.currency = "EUR".into();
            }
        }
        let s = strategy(json!({"default_pick": "cheapest"}));
        assert_eq!(
            places(&run_on(&all, &s, &[], 1, false).unwrap()),
            places(&run(&s, &[], 1, false).unwrap())
        );
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
    fn growing_the_redundancy_keeps_every_node_and_fall_backs_follow_the_slots() {
        let s = strategy(json!({"default_pick": "cheapest"}));
        let now: Vec<Option<Placement>> = run(&s, &[], 1, false)
            .unwrap()
            .into_iter()
            .map(|p| Some(p.placement))
            .collect();
        assert_eq!(places(&placed_now(&now)), ["east/use-1a/small"; 2]);
        // 2:1: both stay, each the first replica of its own slot; the new replicas go next door.
        let s = strategy(json!({"default_pick": "cheapest", "redundancy": "2:1"}));
        let placed = run(&s, &now, 1, false).unwrap();
        assert_eq!(
            places(&placed),
            [
                "east/use-1a/small",
                "east/use-1a/small",
                "east/use-1b/small",
                "east/use-1b/small"
            ]
        );
        // Slots {0, 2} and {1, 3}: no node falls back into its slot sibling's location.
        for (node, sibling) in [(0, 2), (1, 3), (2, 0), (3, 1)] {
            let theirs = &placed[sibling].placement.location;
            assert!(
                placed[node].fallbacks.iter().all(|f| f.location != *theirs),
                "node {node} may fall back into {theirs}: {:?}",
                placed[node].fallbacks
            );
            assert!(!placed[node].fallbacks.is_empty());
        }
    }

    fn placed_now(now: &[Option<Placement>]) -> Vec<Placed> {
        now.iter()
            .map(|p| Placed {
                placement: p.clone().unwrap(),
                fallbacks: Default::default(),
            })
            .collect()
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

    #[test]
    fn an_option_matching_nothing_in_an_empty_catalog_says_so() {
        let s = strategy(json!({}));
        let mut catalogs = catalogs();
        for (_, catalog) in &mut catalogs {
            catalog.locations.clear();
        }
        let lookup = |_: usize| None;
        let catalogs: Vec<(&str, &Catalog)> =
            catalogs.iter().map(|(n, c)| (n.as_str(), c)).collect();
        let err = place(&Input {
            strategy: &s,
            group: &s.groups[0],
            catalogs: &catalogs,
            current: &lookup,
            seed: 1,
            rebalance: false,
        })
        .unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.pointer, "/node/location/options/0");
        assert_eq!(
            p.hint.as_deref(),
            Some(
                "east, west, syd offer no locations at all: check the provider settings (regions, catalog); see `oss catalog`"
            )
        );
    }
}
