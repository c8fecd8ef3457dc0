//! Ranking: the order in which each node considers the candidates. Under a price pick
//! (`cheapest`, `priciest`) every node shares one order, by price across all providers,
//! locations, sizes and images, ties in preference order; otherwise preference order, with
//! each `random` block's dimension shuffled per node from the seed.
//!
//! The strategy guarantees the picks agree (no `cheapest` beside `priciest`, no `random`
//! beside a price pick): see `strategy::pick`.

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::Input;
use super::allocate::Ranking;
use super::matching::Matched;
use super::offers::Offers;
use crate::strategy::Pick;

/// How the fleet ranks, from the blocks' picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Price { descending: bool },
    Preference { random: bool },
}

/// Ranks the candidates for each node.
pub(super) struct Ranker<'r, 'a> {
    input: &'r Input<'a>,
    matched: &'r [Matched],
    offers: &'r Offers<'a>,
    order: Order,
    /// Under a price pick, the candidates best price first (ties in preference order); else
    /// in preference order.
    shared: Vec<usize>,
}

impl<'r, 'a> Ranker<'r, 'a> {
    pub fn new(input: &'r Input<'a>, matched: &'r [Matched], offers: &'r Offers<'a>) -> Self {
        let picks = input.strategy.picks(input.group);
        let by_price = picks.iter().find(|p| p.by_price());
        let order = match by_price {
            Some(pick) => Order::Price {
                descending: *pick == Pick::Priciest,
            },
            None => Order::Preference {
                random: picks.contains(&Pick::Random),
            },
        };
        let mut shared: Vec<usize> = (0..offers.list.len()).collect();
        if let Order::Price { descending } = order {
            let price = |o: &usize| offers.list[*o].offer.price;
            if descending {
                shared.sort_by(|a, b| price(b).total_cmp(&price(a)));
            } else {
                shared.sort_by(|a, b| price(a).total_cmp(&price(b)));
            }
        }
        Ranker {
            input,
            matched,
            offers,
            order,
            shared,
        }
    }

    /// Node `node`'s ranking of the candidates, best first.
    pub fn ranked(&self, node: usize) -> Box<dyn Iterator<Item = usize> + '_> {
        match self.order {
            Order::Preference { random: true } => Box::new(self.random_order(node).into_iter()),
            _ => Box::new(self.shared.iter().copied()),
        }
    }

    /// How the allocator ranks: by aggregate price, or each node its own preference through
    /// `preference` (a closure over [`Ranker::ranked`]).
    pub fn allocation<'s>(
        &'s self,
        preference: &'s dyn Fn(usize) -> Box<dyn Iterator<Item = usize> + 's>,
    ) -> Ranking<'s> {
        match self.order {
            Order::Price { descending } => Ranking::Price {
                order: &self.shared,
                descending,
            },
            Order::Preference { .. } => Ranking::Preference(preference),
        }
    }

    /// Node `node`'s own random order: each `random` block's dimension shuffled with a seed
    /// drawn from the strategy's seed and the node's index, nested provider → location → size
    /// → image.
    fn random_order(&self, node: usize) -> Vec<usize> {
        let (input, matched) = (self.input, self.matched);
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
            if random(input.group.spec.location.pick) {
                locations.shuffle(&mut rng);
            }
            if random(input.group.spec.hardware.pick) {
                sizes.shuffle(&mut rng);
            }
            if random(input.group.spec.image.pick) {
                images.shuffle(&mut rng);
            }
            for &l in &locations {
                for &s in &sizes {
                    for &i in &images {
                        if let Some(&o) = self.offers.index.get(&(p, l, s, i)) {
                            order.push(o);
                        }
                    }
                }
            }
        }
        order
    }
}
