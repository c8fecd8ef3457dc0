//! Offers: every concrete placement the fleet may take (a provider's matched location, size
//! and image, priced), as ONE list of candidates in preference order: provider → location →
//! size → image, then nearest first when a location option says `near`.
//!
//! Pure: catalogs and matches in, candidates out; ranking by price and allocation come later.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Input;
use super::allocate::Offer;
use super::filter::{Filter, arch_fits, distance_km};
use super::matching::Matched;
use crate::resource::Placement;
use crate::strategy::{Pick, Spread};

/// A candidate's make-up: indexes of its provider, location, size and image.
pub(super) type Key = (usize, usize, usize, usize);

/// One offer the fleet may take: what it is made of (indexes into its provider's catalog) and
/// how the allocator sees it.
pub(super) struct Candidate<'a> {
    pub provider: usize,
    pub location: usize,
    pub size: usize,
    pub image: usize,
    pub currency: &'a str,
    pub offer: Offer,
}

impl AsRef<Offer> for Candidate<'_> {
    fn as_ref(&self) -> &Offer {
        &self.offer
    }
}

impl Candidate<'_> {
    pub fn key(&self) -> Key {
        (self.provider, self.location, self.size, self.image)
    }

    /// The placement this candidate stands for.
    pub fn placement(&self, input: &Input<'_>) -> Placement {
        let (name, catalog) = &input.catalogs[self.provider];
        Placement {
            provider: name.to_string(),
            location: catalog.locations[self.location].id.clone(),
            size: catalog.sizes[self.size].id.clone(),
            image: catalog.images[self.image].id.clone(),
            hourly_price: Some(self.offer.price),
            currency: Some(self.currency.to_string()),
        }
    }
}

/// The candidates in preference order, the capacity of their pools, and where each make-up
/// sits in the list.
pub(super) struct Offers<'a> {
    pub list: Vec<Candidate<'a>>,
    /// Remaining capacity per pool (`Offer::pool` indexes it; `None`: unlimited).
    pub capacity: Vec<Option<u64>>,
    pub index: HashMap<Key, usize>,
    /// The currencies of the prices matched (before any price bound), each with the
    /// providers that price in it.
    pub currencies: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// Whether a size option bounds the price (`max_hourly_price`).
    pub bounded: bool,
}

impl<'a> Offers<'a> {
    /// Builds the candidates of every provider's matches, in preference order.
    pub fn build(input: &Input<'a>, matched: &[Matched], spread: Spread) -> Self {
        let mut offers = Offers {
            list: Vec::new(),
            capacity: Vec::new(),
            index: HashMap::new(),
            currencies: BTreeMap::new(),
            bounded: false,
        };
        offers.collect(input, matched, spread);
        offers.nearest_first(input);
        offers.index = offers
            .list
            .iter()
            .enumerate()
            .map(|(o, c)| (c.key(), o))
            .collect();
        offers
    }

    /// Every priced (location, size) of each provider, within the size option's price bound,
    /// with each image of a fitting architecture: provider → location → size → image.
    fn collect(&mut self, input: &Input<'a>, matched: &[Matched], spread: Spread) {
        let mut pools: HashMap<(usize, usize, usize), usize> = HashMap::new();
        let mut domains: HashMap<(usize, usize), usize> = HashMap::new();
        for (p, (provider, catalog)) in input.catalogs.iter().enumerate() {
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
                    self.currencies
                        .entry(&price.currency)
                        .or_default()
                        .insert(provider);
                    self.bounded |= bound.is_some();
                    if bound.is_some_and(|b| price.hourly_price > b) {
                        continue;
                    }
                    let pool = *pools.entry((p, l, s)).or_insert_with(|| {
                        self.capacity.push(price.capacity);
                        self.capacity.len() - 1
                    });
                    let domain_key = match spread {
                        Spread::Location => (p, l),
                        Spread::Provider => (p, 0),
                        Spread::None => (0, 0),
                    };
                    let next = domains.len();
                    let domain = *domains.entry(domain_key).or_insert(next);
                    for &i in &matched[p].images {
                        if !arch_fits(&catalog.images[i].arch, &size.arch) {
                            continue;
                        }
                        self.list.push(Candidate {
                            provider: p,
                            location: l,
                            size: s,
                            image: i,
                            currency: &price.currency,
                            offer: Offer {
                                price: price.hourly_price,
                                domain,
                                pool,
                            },
                        });
                    }
                }
            }
        }
    }

    /// `near` ranks locations across providers under `first`: by the location option that
    /// matches, then nearest first, before provider order (a stable sort keeps the rest).
    fn nearest_first(&mut self, input: &Input<'_>) {
        let strategy = input.strategy;
        let locations = &input.group.spec.location;
        if strategy.pick(locations.pick) != Pick::First
            || !locations
                .options
                .iter()
                .any(|o| Filter::new(o).near().is_some())
        {
            return;
        }
        let rank = |c: &Candidate<'_>| {
            let place = &input.catalogs[c.provider].1.locations[c.location];
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
        let mut ranked: Vec<((usize, f64), Candidate<'a>)> =
            self.list.drain(..).map(|c| (rank(&c), c)).collect();
        ranked.sort_by(|(a, _), (b, _)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        self.list = ranked.into_iter().map(|(_, c)| c).collect();
    }

    /// Where node `node` runs now, when that is still one of the candidates (and not
    /// rebalancing).
    pub fn sticky(&self, input: &Input<'_>, node: usize) -> Option<usize> {
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
        self.index.get(&(p, l, s, i)).copied()
    }
}
