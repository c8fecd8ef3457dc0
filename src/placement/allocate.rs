//! The allocator: gives each node of a fleet one offer, under the fleet's spread rule (at most
//! `per_domain` nodes in one failure domain; replicas of one slot in distinct domains) and
//! each pool's capacity, keeping existing nodes where they are when allowed.
//!
//! Which nodes form a slot is not tied to their indexes: `n` slots of `r` replicas in distinct
//! domains exist exactly when no domain holds more than `n` nodes (lay the nodes out domain by
//! domain and deal them round the slots), so the allocator only caps each domain
//! ([`Fleet::domain_cap`]) and [`Fleet::slots`] derives the slots from the chosen domains. An
//! existing node is thus replaced only when its domain or pool is really full: growing the
//! redundancy keeps every node, each the first replica of its own slot.
//!
//! By price, it is exact: a domain's cost for x nodes is the sum of its x cheapest units, which
//! is convex in x, so taking the globally cheapest units under the per-domain cap minimises the
//! aggregate price of the whole fleet (separable convex allocation). The tests compare it with
//! exhaustive search. In preference order (`first`, `random`), each node takes the first offer
//! of its own ranking that still fits.
//!
//! Abstract on purpose: offers are prices, domains and pools, so it knows nothing of catalogs.

/// One concrete placement as the allocator sees it.
#[derive(Clone, Debug)]
pub struct Offer {
    pub price: f64,
    /// Failure domain (a location, or a provider, depending on the spread).
    pub domain: usize,
    /// Capacity pool (offers sharing a provider, location and size share capacity).
    pub pool: usize,
}

/// The fleet's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fleet {
    /// Nodes in all.
    pub nodes: usize,
    /// Replicas per slot, whose domains must differ (the `r` of `r:1`); which nodes form a
    /// slot follows from where they are ([`Fleet::slots`]).
    pub slot: usize,
    /// Most nodes one domain may hold.
    pub per_domain: usize,
}

impl Fleet {
    /// How many slots the fleet has.
    fn slot_count(&self) -> usize {
        self.nodes.div_ceil(self.slot.max(1))
    }

    /// Most nodes one domain may hold: the spread's cap, and one replica per slot.
    pub fn domain_cap(&self) -> usize {
        self.per_domain.min(self.slot_count())
    }

    /// Which nodes form each slot, given each node's domain: consecutive indexes (`i / slot`)
    /// when those already sit in distinct domains, else the nodes laid out domain by domain
    /// (domains in order of their first node) and dealt round the slots, which keeps a slot's
    /// replicas in distinct domains whenever no domain exceeds [`Fleet::domain_cap`].
    /// Deterministic: the same domains give the same slots. Each slot lists its nodes in
    /// index order.
    pub fn slots(&self, domains: &[usize]) -> Vec<Vec<usize>> {
        let slot = self.slot.max(1);
        let by_index: Vec<Vec<usize>> = (0..domains.len())
            .collect::<Vec<_>>()
            .chunks(slot)
            .map(<[usize]>::to_vec)
            .collect();
        let distinct = |members: &Vec<usize>| {
            members
                .iter()
                .enumerate()
                .all(|(k, &a)| members[..k].iter().all(|&b| domains[a] != domains[b]))
        };
        if by_index.iter().all(distinct) {
            return by_index;
        }
        let mut first_of = vec![usize::MAX; domains.iter().max().map_or(0, |d| d + 1)];
        for (node, &d) in domains.iter().enumerate().rev() {
            first_of[d] = node;
        }
        let mut laid_out: Vec<usize> = (0..domains.len()).collect();
        laid_out.sort_by_key(|&n| (first_of[domains[n]], n));
        let count = domains.len().div_ceil(slot);
        let mut slots = vec![Vec::with_capacity(slot); count];
        for (k, node) in laid_out.into_iter().enumerate() {
            slots[k % count].push(node);
        }
        for members in &mut slots {
            members.sort_unstable();
        }
        slots
    }
}

/// How nodes choose.
pub enum Ranking<'a> {
    /// Minimise (or, descending, maximise) the fleet's aggregate price. `order` lists every
    /// offer, ties are broken by its order.
    Price {
        order: &'a [usize],
        descending: bool,
    },
    /// Each node takes the first offer of its own ranking that fits.
    Preference(&'a dyn Fn(usize) -> Box<dyn Iterator<Item = usize> + 'a>),
}

/// Why the fleet does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// Nodes that could be placed.
    pub placed: usize,
}

/// What the allocator works with. `O` is anything that shows an [`Offer`] (placement passes
/// its candidates, which carry one each).
pub struct Problem<'a, O: AsRef<Offer> = Offer> {
    pub offers: &'a [O],
    /// Remaining capacity per pool (`None`: unlimited).
    pub capacity: &'a [Option<u64>],
    pub fleet: Fleet,
    /// The offer each node has now, if it still exists and is allowed.
    pub sticky: &'a [Option<usize>],
    pub ranking: Ranking<'a>,
}

impl AsRef<Offer> for Offer {
    fn as_ref(&self) -> &Offer {
        self
    }
}

struct Tally<'p, 'a, O: AsRef<Offer>> {
    problem: &'p Problem<'a, O>,
    domain_used: Vec<usize>,
    pool_used: Vec<u64>,
    chosen: Vec<Option<usize>>,
}

impl<'p, 'a, O: AsRef<Offer>> Tally<'p, 'a, O> {
    fn new(problem: &'p Problem<'a, O>) -> Self {
        let domains = problem
            .offers
            .iter()
            .map(|o| o.as_ref().domain + 1)
            .max()
            .unwrap_or(0);
        Tally {
            problem,
            domain_used: vec![0; domains],
            pool_used: vec![0; problem.capacity.len()],
            chosen: vec![None; problem.fleet.nodes],
        }
    }

    fn pool_room(&self, offer: usize) -> u64 {
        let pool = self.offer(offer).pool;
        match self.problem.capacity[pool] {
            Some(cap) => cap.saturating_sub(self.pool_used[pool]),
            None => u64::MAX,
        }
    }

    fn domain_room(&self, domain: usize) -> usize {
        self.problem
            .fleet
            .domain_cap()
            .saturating_sub(self.domain_used[domain])
    }

    /// Whether a node of `node`'s index slot (`i / slot`) already sits in `domain`: only a
    /// preference when placing new nodes, so that fresh fleets keep index slots.
    fn index_sibling_in(&self, node: usize, domain: usize) -> bool {
        let slot = self.problem.fleet.slot.max(1);
        let first = node / slot * slot;
        (first..(first + slot).min(self.chosen.len()))
            .filter(|&n| n != node)
            .any(|n| self.chosen[n].is_some_and(|o| self.offer(o).domain == domain))
    }

    fn offer(&self, offer: usize) -> &'a Offer {
        self.problem.offers[offer].as_ref()
    }

    fn fits(&self, offer: usize) -> bool {
        let domain = self.offer(offer).domain;
        self.pool_room(offer) > 0 && self.domain_room(domain) > 0
    }

    fn take(&mut self, node: usize, offer: usize) {
        let o = self.offer(offer);
        self.domain_used[o.domain] += 1;
        self.pool_used[o.pool] += 1;
        self.chosen[node] = Some(offer);
    }
}

/// Gives every node an offer (index into `offers`), or says how many could be placed.
///
/// Existing nodes are kept first, in index order, each whose pool and domain still have
/// room: that keeps as many as any arrangement can (a pool lies within one domain, so the
/// caps nest and taking any node that fits never costs another one its place), and keeping
/// one never makes the rest infeasible (it uses one unit of exactly the room it leaves).
pub fn allocate<O: AsRef<Offer>>(problem: &Problem<'_, O>) -> Result<Vec<usize>, Shortfall> {
    let mut tally = Tally::new(problem);
    for (node, offer) in problem.sticky.iter().enumerate() {
        if let Some(offer) = *offer
            && tally.fits(offer)
        {
            tally.take(node, offer);
        }
    }
    match &problem.ranking {
        Ranking::Preference(rank) => {
            for node in 0..problem.fleet.nodes {
                if tally.chosen[node].is_some() {
                    continue;
                }
                // Preferring a domain the node's index slot does not hold yet keeps a fresh
                // fleet's slots at consecutive indexes, as before slots were free.
                let offer = rank(node)
                    .find(|&o| {
                        tally.fits(o) && !tally.index_sibling_in(node, tally.offer(o).domain)
                    })
                    .or_else(|| rank(node).find(|&o| tally.fits(o)));
                match offer {
                    Some(offer) => tally.take(node, offer),
                    None => return Err(shortfall(&tally)),
                }
            }
        }
        Ranking::Price { order, descending } => by_price(&mut tally, order, *descending)?,
    }
    Ok(tally
        .chosen
        .into_iter()
        .map(|c| c.expect("every node placed"))
        .collect())
}

fn shortfall<O: AsRef<Offer>>(tally: &Tally<'_, '_, O>) -> Shortfall {
    Shortfall {
        placed: tally.chosen.iter().filter(|c| c.is_some()).count(),
    }
}

/// The cheapest (or priciest) units under the caps, then handed to the new nodes.
fn by_price<O: AsRef<Offer>>(
    tally: &mut Tally<'_, '_, O>,
    order: &[usize],
    descending: bool,
) -> Result<(), Shortfall> {
    let problem = tally.problem;
    let offer = |o: usize| problem.offers[o].as_ref();
    let mut sorted: Vec<usize> = order.to_vec();
    let price = |o: &usize| offer(*o).price;
    if descending {
        sorted.sort_by(|a, b| price(b).total_cmp(&price(a)));
    } else {
        sorted.sort_by(|a, b| price(a).total_cmp(&price(b)));
    }
    let open: Vec<usize> = (0..problem.fleet.nodes)
        .filter(|&n| tally.chosen[n].is_none())
        .collect();
    // Units: (offer, how many), in price order; every domain's units form a prefix of its own.
    let mut bag: Vec<(usize, usize)> = Vec::new();
    let mut needed = open.len();
    for o in sorted {
        if needed == 0 {
            break;
        }
        let domain = offer(o).domain;
        let room = tally
            .pool_room(o)
            .min(tally.domain_room(domain) as u64)
            .min(needed as u64) as usize;
        if room > 0 {
            tally.domain_used[domain] += room;
            tally.pool_used[offer(o).pool] += room as u64;
            bag.push((o, room));
            needed -= room;
        }
    }
    if needed > 0 {
        return Err(Shortfall {
            placed: problem.fleet.nodes - needed,
        });
    }
    // Arrange: each node takes the domain with the most units left, preferring one its index
    // slot does not hold yet, and there the cheapest unit left. For a fresh fleet the
    // preference always holds (largest-remaining-first succeeds when no domain exceeds the
    // slot count), so its slots are consecutive indexes, as they were before slots were free.
    let domains = tally.domain_used.len();
    let mut left = vec![0usize; domains];
    for (o, count) in &bag {
        left[offer(*o).domain] += count;
    }
    for node in open {
        let most_left = |d: &usize| (left[*d], std::cmp::Reverse(*d));
        let domain = (0..domains)
            .filter(|&d| left[d] > 0 && !tally.index_sibling_in(node, d))
            .max_by_key(most_left)
            .or_else(|| (0..domains).filter(|&d| left[d] > 0).max_by_key(most_left))
            .expect("as many units as open nodes");
        let unit = bag
            .iter_mut()
            .find(|(o, count)| *count > 0 && offer(*o).domain == domain)
            .expect("a domain with units left has a unit");
        unit.1 -= 1;
        left[domain] -= 1;
        tally.chosen[node] = Some(unit.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Exactness against exhaustive search on random small catalogs.
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    /// The aggregate price of an allocation.
    fn total(offers: &[Offer], chosen: &[usize]) -> f64 {
        chosen.iter().map(|&o| offers[o].price).sum()
    }

    /// A random catalog: providers × locations × sizes, some sizes not offered somewhere,
    /// random prices (with ties) and random capacities; domains by location or provider.
    fn catalog(rng: &mut Xoshiro256PlusPlus, by_provider: bool) -> (Vec<Offer>, Vec<Option<u64>>) {
        let providers = rng.random_range(1..=4);
        let mut offers = Vec::new();
        let mut capacity = Vec::new();
        let mut location_id = 0;
        for p in 0..providers {
            let locations = rng.random_range(1..=5);
            let sizes = rng.random_range(1..=10);
            for _ in 0..locations {
                for _ in 0..sizes {
                    if rng.random_bool(0.2) {
                        continue; // not offered here
                    }
                    let pool = capacity.len();
                    capacity.push(if rng.random_bool(0.3) {
                        Some(rng.random_range(0..=3))
                    } else {
                        None
                    });
                    let offer = Offer {
                        // Few distinct prices, so ties happen.
                        price: f64::from(rng.random_range(1..=12u32)) * 0.25,
                        domain: if by_provider { p } else { location_id },
                        pool,
                    };
                    if rng.random_bool(0.2) {
                        offers.push(offer.clone()); // a second image of the same size
                    }
                    offers.push(offer);
                }
                location_id += 1;
            }
        }
        (offers, capacity)
    }

    /// Whether nodes in domains with these counts can form slots of `slot` replicas in
    /// distinct domains, by trying every way of filling one slot after another.
    fn partitionable(counts: &mut [usize], slot: usize) -> bool {
        fn fill(counts: &mut [usize], slot: usize, from: usize, open: usize) -> bool {
            if open == 0 {
                return partitionable(counts, slot);
            }
            (from..counts.len()).any(|d| {
                if counts[d] == 0 {
                    return false;
                }
                counts[d] -= 1;
                let ok = fill(counts, slot, d + 1, open - 1);
                counts[d] += 1;
                ok
            })
        }
        let left: usize = counts.iter().sum();
        left == 0 || fill(counts, slot, 0, slot.min(left))
    }

    /// The optimum by exhaustive search over how many nodes each domain holds, with the
    /// `kept` offers fixed (one node each), each domain's other nodes on its cheapest units
    /// (optimal within one domain: any x of its units cost at least its x cheapest), and the
    /// slots checked by [`partitionable`], not by the allocator's cap. `None` when nothing fits.
    fn brute_force(
        offers: &[Offer],
        capacity: &[Option<u64>],
        fleet: Fleet,
        kept: &[usize],
        descending: bool,
    ) -> Option<f64> {
        let domains = offers.iter().map(|o| o.domain + 1).max().unwrap_or(0);
        let mut fixed = vec![0usize; domains];
        let mut pool_used = vec![0u64; capacity.len()];
        for &o in kept {
            fixed[offers[o].domain] += 1;
            pool_used[offers[o].pool] += 1;
        }
        if (0..capacity.len()).any(|p| capacity[p].is_some_and(|c| pool_used[p] > c)) {
            return None;
        }
        let kept_cost: f64 = kept.iter().map(|&o| offers[o].price).sum();
        // Per domain, the unit prices in best-first order: each pool gives what is left of its
        // `capacity` at its price (offers sharing a pool, like one size's images, share price
        // and capacity).
        let mut units: Vec<Vec<f64>> = vec![Vec::new(); domains];
        let mut seen_pools = std::collections::HashSet::new();
        for o in offers {
            if seen_pools.insert(o.pool) {
                let all = fleet.nodes as u64;
                let n = capacity[o.pool].map_or(all, |c| c.min(all)) - pool_used[o.pool].min(all);
                units[o.domain].extend(std::iter::repeat_n(o.price, n as usize));
            }
        }
        for list in &mut units {
            list.sort_by(|a, b| {
                if descending {
                    b.total_cmp(a)
                } else {
                    a.total_cmp(b)
                }
            });
        }
        struct Search<'s> {
            units: &'s [Vec<f64>],
            fixed: &'s [usize],
            fleet: Fleet,
            descending: bool,
            counts: Vec<usize>,
            best: Option<f64>,
        }
        fn walk(s: &mut Search<'_>, d: usize, left: usize) {
            let domains = s.units.len();
            if left == 0 {
                // Every node has a domain (the domains from `d` on hold none of the new ones).
                let mut all: Vec<usize> = (0..domains)
                    .map(|d| s.counts[d] + s.fixed[d])
                    .filter(|&n| n > 0)
                    .collect();
                if s.fleet.slot <= 1 || partitionable(&mut all, s.fleet.slot) {
                    let cost: f64 = (0..domains)
                        .map(|d| s.units[d][..s.counts[d]].iter().sum::<f64>())
                        .sum();
                    let better = match s.best {
                        None => true,
                        Some(b) if s.descending => cost > b,
                        Some(b) => cost < b,
                    };
                    if better {
                        s.best = Some(cost);
                    }
                }
                return;
            }
            if d == domains {
                return;
            }
            // More nodes than slots in one domain cannot be split (pigeonhole): pruned here,
            // the rest is left to `partitionable`.
            let slots = s.fleet.nodes.div_ceil(s.fleet.slot.max(1));
            let room = s.fleet.per_domain.min(slots).saturating_sub(s.fixed[d]);
            for x in 0..=left.min(room).min(s.units[d].len()) {
                s.counts[d] = x;
                walk(s, d + 1, left - x);
            }
            s.counts[d] = 0;
        }
        if fixed.iter().any(|&n| n > fleet.per_domain.min(fleet.nodes)) {
            return None;
        }
        let mut search = Search {
            units: &units,
            fixed: &fixed,
            fleet,
            descending,
            counts: vec![0; domains],
            best: None,
        };
        walk(&mut search, 0, fleet.nodes - kept.len());
        search.best.map(|cost| kept_cost + cost)
    }

    /// Every rule holds: per-domain cap, pool capacity, and the slots [`Fleet::slots`] derives
    /// split the fleet into slots of `slot` replicas in distinct domains.
    fn check_rules(offers: &[Offer], capacity: &[Option<u64>], fleet: Fleet, chosen: &[usize]) {
        assert_eq!(chosen.len(), fleet.nodes);
        let mut per_domain = std::collections::HashMap::new();
        let mut per_pool = std::collections::HashMap::new();
        for &o in chosen {
            *per_domain.entry(offers[o].domain).or_insert(0) += 1;
            *per_pool.entry(offers[o].pool).or_insert(0u64) += 1;
        }
        assert!(
            per_domain.values().all(|&n| n <= fleet.per_domain),
            "domain cap broken"
        );
        for (pool, used) in per_pool {
            assert!(
                capacity[pool].is_none_or(|c| used <= c),
                "pool capacity broken"
            );
        }
        let domains: Vec<usize> = chosen.iter().map(|&o| offers[o].domain).collect();
        let slots = fleet.slots(&domains);
        let mut members: Vec<usize> = slots.concat();
        members.sort_unstable();
        assert_eq!(
            members,
            (0..fleet.nodes).collect::<Vec<_>>(),
            "not a partition"
        );
        for slot in slots {
            assert_eq!(slot.len(), fleet.slot, "slot size");
            let mut in_slot: Vec<usize> = slot.iter().map(|&n| domains[n]).collect();
            in_slot.sort_unstable();
            in_slot.dedup();
            assert_eq!(in_slot.len(), slot.len(), "slot replicas share a domain");
        }
    }

    fn fleet_for(rng: &mut Xoshiro256PlusPlus) -> Fleet {
        // 1:1, 2:1, 3:1 (slots of replicas: capped by the spread, or by the slots alone) or
        // +k (spares), at most 6 nodes in all.
        match rng.random_range(0..4) {
            0 => {
                let n = rng.random_range(1..=6);
                Fleet {
                    nodes: n,
                    slot: 1,
                    per_domain: n,
                }
            }
            1 | 2 => {
                let r = rng.random_range(2..=3);
                let n = rng.random_range(1..=6 / r);
                Fleet {
                    nodes: n * r,
                    slot: r,
                    per_domain: if rng.random_bool(0.3) { n * r } else { n },
                }
            }
            _ => {
                let k = rng.random_range(1..=3);
                let n = rng.random_range(1..=6 - k);
                Fleet {
                    nodes: n + k,
                    slot: 1,
                    per_domain: k,
                }
            }
        }
    }

    #[test]
    fn cheapest_matches_exhaustive_search_on_thousands_of_random_catalogs() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(20261125);
        let (mut solved, mut infeasible) = (0, 0);
        for case in 0..3000 {
            let by_provider = rng.random_bool(0.3);
            let (offers, capacity) = catalog(&mut rng, by_provider);
            let fleet = fleet_for(&mut rng);
            let descending = rng.random_bool(0.2);
            let order: Vec<usize> = (0..offers.len()).collect();
            let problem = Problem {
                offers: &offers,
                capacity: &capacity,
                fleet,
                sticky: &vec![None; fleet.nodes],
                ranking: Ranking::Price {
                    order: &order,
                    descending,
                },
            };
            let got = allocate(&problem);
            let want = brute_force(&offers, &capacity, fleet, &[], descending);
            match (got, want) {
                (Ok(chosen), Some(best)) => {
                    check_rules(&offers, &capacity, fleet, &chosen);
                    let cost = total(&offers, &chosen);
                    assert!(
                        (cost - best).abs() < 1e-9,
                        "case {case}: {cost} vs optimum {best} ({fleet:?})"
                    );
                    solved += 1;
                }
                (Err(_), None) => infeasible += 1,
                (got, want) => {
                    panic!("case {case}: allocator {got:?}, exhaustive {want:?} ({fleet:?})")
                }
            }
        }
        assert!(
            solved >= 1000,
            "only {solved} solvable cases ({infeasible} infeasible)"
        );
    }

    /// With existing nodes on random offers: as many stay as any allocation could keep (by
    /// exhaustive search over which of them stay), and the rest is the cheapest completion of
    /// those that stay, with slots free of the nodes' indexes.
    #[test]
    fn kept_nodes_are_the_most_any_allocation_keeps_and_the_rest_is_exact() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(20261202);
        let (mut solved, mut moved) = (0, 0);
        for case in 0..800 {
            let by_provider = rng.random_bool(0.3);
            let (offers, capacity) = catalog(&mut rng, by_provider);
            if offers.is_empty() {
                continue;
            }
            let fleet = fleet_for(&mut rng);
            let descending = rng.random_bool(0.2);
            let sticky: Vec<Option<usize>> = (0..fleet.nodes)
                .map(|_| {
                    rng.random_bool(0.6)
                        .then(|| rng.random_range(0..offers.len()))
                })
                .collect();
            let order: Vec<usize> = (0..offers.len()).collect();
            // Sometimes each node by its own preference (`first`): kept nodes and
            // feasibility are checked, the price is not.
            let by_preference = rng.random_bool(0.3);
            let count = offers.len();
            let rank = move |_: usize| -> Box<dyn Iterator<Item = usize>> { Box::new(0..count) };
            let problem = Problem {
                offers: &offers,
                capacity: &capacity,
                fleet,
                sticky: &sticky,
                ranking: if by_preference {
                    Ranking::Preference(&rank)
                } else {
                    Ranking::Price {
                        order: &order,
                        descending,
                    }
                },
            };
            let got = allocate(&problem);
            let feasible = brute_force(&offers, &capacity, fleet, &[], descending).is_some();
            let Ok(chosen) = got else {
                assert!(!feasible, "case {case}: allocator {got:?} but a fleet fits");
                continue;
            };
            check_rules(&offers, &capacity, fleet, &chosen);
            // The most existing nodes any allocation keeps.
            let existing: Vec<(usize, usize)> = sticky
                .iter()
                .enumerate()
                .filter_map(|(n, o)| o.map(|o| (n, o)))
                .collect();
            let most = (0u32..1 << existing.len())
                .filter(|mask| {
                    let kept: Vec<usize> = (0..existing.len())
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| existing[i].1)
                        .collect();
                    brute_force(&offers, &capacity, fleet, &kept, descending).is_some()
                })
                .map(u32::count_ones)
                .max()
                .unwrap_or(0) as usize;
            let kept: Vec<usize> = existing
                .iter()
                .filter(|&&(n, o)| chosen[n] == o)
                .map(|&(_, o)| o)
                .collect();
            assert_eq!(
                kept.len(),
                most,
                "case {case}: kept ({fleet:?}, {sticky:?})"
            );
            solved += 1;
            moved += usize::from(kept.len() < existing.len());
            if by_preference {
                continue;
            }
            let best = brute_force(&offers, &capacity, fleet, &kept, descending)
                .expect("the allocator's own arrangement fits");
            let cost = total(&offers, &chosen);
            assert!(
                (cost - best).abs() < 1e-9,
                "case {case}: {cost} vs optimum {best} keeping {kept:?} ({fleet:?})"
            );
        }
        assert!(
            solved >= 500 && moved >= 50,
            "only {solved} solved, {moved} with moves"
        );
    }

    #[test]
    fn preference_takes_the_first_offer_that_fits() {
        let offers: Vec<Offer> = (0..3)
            .map(|d| Offer {
                price: 1.0,
                domain: d,
                pool: d,
            })
            .collect();
        let capacity = vec![Some(1), None, None];
        let rank = |_: usize| -> Box<dyn Iterator<Item = usize>> { Box::new(0..3) };
        let fleet = Fleet {
            nodes: 4,
            slot: 2,
            per_domain: 2,
        };
        let problem = Problem {
            offers: &offers,
            capacity: &capacity,
            fleet,
            sticky: &[None; 4],
            ranking: Ranking::Preference(&rank),
        };
        // Domain 0 holds one node; slot siblings differ; no domain holds more than two.
        assert_eq!(allocate(&problem).unwrap(), vec![0, 1, 1, 2]);
        // Without the capacity limit a fresh fleet's slots are consecutive indexes; two nodes
        // that run in domain 0 both stay, each the first replica of its own slot. New nodes
        // still avoid their index sibling's domain when they can, as before (node 3 beside
        // node 2), so fresh fleets place as they always did.
        let unlimited = vec![None; 3];
        let fresh = Problem {
            capacity: &unlimited,
            ..problem
        };
        assert_eq!(allocate(&fresh).unwrap(), vec![0, 1, 0, 1]);
        let sticky = [Some(0), Some(0), None, None];
        let kept = Problem {
            sticky: &sticky,
            ..fresh
        };
        let chosen = allocate(&kept).unwrap();
        assert_eq!(chosen, vec![0, 0, 1, 2]);
        check_rules(&offers, &unlimited, fleet, &chosen);
    }

    #[test]
    fn kept_nodes_stay_unless_the_rules_forbid() {
        let offers: Vec<Offer> = (0..3)
            .map(|d| Offer {
                price: 3.0 - d as f64,
                domain: d,
                pool: d,
            })
            .collect();
        let capacity = vec![None; 3];
        let order = [0, 1, 2];
        let solve = |fleet: Fleet, sticky: &[Option<usize>]| {
            let chosen = allocate(&Problem {
                offers: &offers,
                capacity: &capacity,
                fleet,
                sticky,
                ranking: Ranking::Price {
                    order: &order,
                    descending: false,
                },
            })
            .unwrap();
            check_rules(&offers, &capacity, fleet, &chosen);
            chosen
        };
        // A 1:1 fleet of two in domain 0 (pricey) grows to 2:1: both stay, each the first
        // replica of its own slot, though consecutive indexes would pair them.
        let two_by_two = Fleet {
            nodes: 4,
            slot: 2,
            per_domain: 2,
        };
        let chosen = solve(two_by_two, &[Some(0), Some(0), None, None]);
        assert_eq!(chosen, [0, 0, 2, 2]);
        assert_eq!(
            two_by_two.slots(&[0, 0, 2, 2]),
            [vec![0, 2], vec![1, 3]],
            "slots dealt round the domains"
        );
        // Three in domain 0 with two slots: one replica per slot, so the last one moves.
        let chosen = solve(two_by_two, &[Some(0), Some(0), Some(0), None]);
        assert_eq!(&chosen[..2], [0, 0], "the first two keep their place");
        assert_ne!(offers[chosen[2]].domain, 0);
    }

    #[test]
    fn slots_are_consecutive_indexes_when_those_already_differ() {
        let fleet = Fleet {
            nodes: 6,
            slot: 3,
            per_domain: 2,
        };
        assert_eq!(
            fleet.slots(&[4, 1, 2, 1, 2, 4]),
            [vec![0, 1, 2], vec![3, 4, 5]]
        );
        // Otherwise by domain in order of first node, dealt round: [4,4 | 1,1 | 2,2].
        assert_eq!(
            fleet.slots(&[4, 4, 1, 2, 1, 2]),
            [vec![0, 2, 3], vec![1, 4, 5]]
        );
    }

    #[test]
    fn impossible_spread_is_a_shortfall() {
        let offers = vec![Offer {
            price: 1.0,
            domain: 0,
            pool: 0,
        }];
        let order = [0];
        let problem = Problem {
            offers: &offers,
            capacity: &[None],
            fleet: Fleet {
                nodes: 2,
                slot: 2,
                per_domain: 1,
            },
            sticky: &[None, None],
            ranking: Ranking::Price {
                order: &order,
                descending: false,
            },
        };
        assert_eq!(allocate(&problem), Err(Shortfall { placed: 1 }));
    }
}
