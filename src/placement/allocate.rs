//! The allocator: gives each node of a fleet one offer, under the fleet's spread rule (at most
//! `per_domain` nodes in one failure domain; replicas of one slot in distinct domains) and
//! each pool's capacity, keeping existing nodes where they are when allowed.
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
    /// Consecutive nodes forming one slot, whose domains must differ (the `r` of `r:1`).
    pub slot: usize,
    /// Most nodes one domain may hold.
    pub per_domain: usize,
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
            .per_domain
            .saturating_sub(self.domain_used[domain])
    }

    /// Whether a slot-sibling of `node` already sits in `domain`.
    fn sibling_in(&self, node: usize, domain: usize) -> bool {
        let slot = self.problem.fleet.slot.max(1);
        let first = node / slot * slot;
        (first..(first + slot).min(self.chosen.len()))
            .filter(|&n| n != node)
            .any(|n| self.chosen[n].is_some_and(|o| self.offer(o).domain == domain))
    }

    fn offer(&self, offer: usize) -> &'a Offer {
        self.problem.offers[offer].as_ref()
    }

    fn fits(&self, node: usize, offer: usize) -> bool {
        let domain = self.offer(offer).domain;
        self.pool_room(offer) > 0 && self.domain_room(domain) > 0 && !self.sibling_in(node, domain)
    }

    fn take(&mut self, node: usize, offer: usize) {
        let o = self.offer(offer);
        self.domain_used[o.domain] += 1;
        self.pool_used[o.pool] += 1;
        self.chosen[node] = Some(offer);
    }
}

/// Gives every node an offer (index into `offers`), or says how many could be placed.
pub fn allocate<O: AsRef<Offer>>(problem: &Problem<'_, O>) -> Result<Vec<usize>, Shortfall> {
    match solve(problem, true) {
        Ok(chosen) => Ok(chosen),
        // Kept nodes can make an arrangement impossible that a fresh one allows.
        Err(_) if problem.sticky.iter().any(Option::is_some) => solve(problem, false),
        Err(e) => Err(e),
    }
}

fn solve<O: AsRef<Offer>>(problem: &Problem<'_, O>, keep: bool) -> Result<Vec<usize>, Shortfall> {
    let mut tally = Tally::new(problem);
    if keep {
        for (node, offer) in problem.sticky.iter().enumerate() {
            if let Some(offer) = *offer
                && tally.fits(node, offer)
            {
                tally.take(node, offer);
            }
        }
    }
    match &problem.ranking {
        Ranking::Preference(rank) => {
            for node in 0..problem.fleet.nodes {
                if tally.chosen[node].is_some() {
                    continue;
                }
                let offer = rank(node).find(|&o| tally.fits(node, o));
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

/// The cheapest (or priciest) units under the caps, then arranged into slots.
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
    // Arrange: each node takes the domain with the most units left that no sibling holds
    // (largest-remaining-first always succeeds when no domain exceeds the slot count), and
    // there the cheapest unit left.
    let domains = tally.domain_used.len();
    let mut left = vec![0usize; domains];
    for (o, count) in &bag {
        left[offer(*o).domain] += count;
    }
    for node in open {
        let domain = (0..domains)
            .filter(|&d| left[d] > 0 && !tally.sibling_in(node, d))
            .max_by_key(|&d| (left[d], std::cmp::Reverse(d)));
        let Some(domain) = domain else {
            return Err(shortfall(tally));
        };
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

    /// The optimum by exhaustive search over how many nodes each domain holds, each domain
    /// filled with its cheapest units (optimal within one domain: any x of its units cost at
    /// least its x cheapest). `None` when nothing fits.
    fn brute_force(
        offers: &[Offer],
        capacity: &[Option<u64>],
        fleet: Fleet,
        descending: bool,
    ) -> Option<f64> {
        let domains = offers.iter().map(|o| o.domain + 1).max().unwrap_or(0);
        // Per domain, the unit prices in best-first order: each pool gives `capacity` units at
        // its price (offers sharing a pool, like one size's images, share price and capacity).
        let mut units: Vec<Vec<f64>> = vec![Vec::new(); domains];
        let mut seen_pools = std::collections::HashSet::new();
        for o in offers {
            if seen_pools.insert(o.pool) {
                let n = capacity[o.pool].map_or(fleet.nodes as u64, |c| c.min(fleet.nodes as u64));
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
        let mut best: Option<f64> = None;
        let mut counts = vec![0usize; domains];
        fn walk(
            d: usize,
            left: usize,
            counts: &mut Vec<usize>,
            units: &[Vec<f64>],
            fleet: Fleet,
            descending: bool,
            best: &mut Option<f64>,
        ) {
            if d == units.len() {
                if left == 0 {
                    let cost: f64 = counts
                        .iter()
                        .enumerate()
                        .map(|(d, &x)| units[d][..x].iter().sum::<f64>())
                        .sum();
                    let better = match best {
                        None => true,
                        Some(b) if descending => cost > *b,
                        Some(b) => cost < *b,
                    };
                    if better {
                        *best = Some(cost);
                    }
                }
                return;
            }
            let most = left.min(fleet.per_domain).min(units[d].len());
            for x in 0..=most {
                counts[d] = x;
                walk(d + 1, left - x, counts, units, fleet, descending, best);
            }
            counts[d] = 0;
        }
        walk(
            0,
            fleet.nodes,
            &mut counts,
            &units,
            fleet,
            descending,
            &mut best,
        );
        best
    }

    /// Every rule holds: per-domain cap, slot siblings in distinct domains, pool capacity.
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
        for slot in chosen.chunks(fleet.slot) {
            let mut domains: Vec<usize> = slot.iter().map(|&o| offers[o].domain).collect();
            domains.sort();
            domains.dedup();
            assert_eq!(domains.len(), slot.len(), "slot siblings share a domain");
        }
    }

    fn fleet_for(rng: &mut Xoshiro256PlusPlus) -> Fleet {
        // 1:1, 2:1, 3:1 (slots of replicas) or +k (spares), at most 6 nodes in all.
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
                    per_domain: n,
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
            let want = brute_force(&offers, &capacity, fleet, descending);
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
        let fleet = Fleet {
            nodes: 4,
            slot: 2,
            per_domain: 2,
        };
        // Nodes 0 and 1 already run in domain 0 (pricey); they are siblings, so one must move.
        let sticky = [Some(0), Some(0), None, None];
        let problem = Problem {
            offers: &offers,
            capacity: &capacity,
            fleet,
            sticky: &sticky,
            ranking: Ranking::Price {
                order: &order,
                descending: false,
            },
        };
        let chosen = allocate(&problem).unwrap();
        assert_eq!(chosen[0], 0, "node 0 keeps its place");
        assert_ne!(offers[chosen[1]].domain, 0);
        check_rules(&offers, &capacity, fleet, &chosen);
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
