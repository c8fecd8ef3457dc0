//! The fleet as the pages and `/api/fleet` show it: one row per resource (group, provider,
//! location, status, placement, $/hour and $/month), the totals, the counts per group,
//! provider and location, and the points of the map. Pure: built from a state and the
//! catalogs' locations.

use std::collections::BTreeMap;

use serde::Serialize;

use super::source::Locations;
use crate::catalog::{DOLLARS, HOURS_PER_MONTH};
use crate::resource::{Existing, Kind};
use crate::state::State;

/// One resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub address: String,
    pub kind: Kind,
    pub group: Option<String>,
    pub provider: String,
    pub location: String,
    pub size: String,
    pub image: String,
    pub provider_id: String,
    /// Where it answers (public address, else private), when the provider said.
    pub ip: Option<String>,
    /// `running` (recorded in state), or `deposed` (the old object of a create-before-destroy
    /// replace, still to be deleted).
    pub status: &'static str,
    pub hourly_price: Option<f64>,
    pub monthly_price: Option<f64>,
    pub currency: Option<String>,
    /// The latest verdict of its group's health check (`None`: no check, or not a node);
    /// filled in by the dashboard's health view, not from state.
    pub health: Option<crate::health::Status>,
}

impl Row {
    pub fn of(resource: &Existing, deposed: bool) -> Row {
        let placement = &resource.placement;
        Row {
            address: resource.address.to_string(),
            kind: resource.kind,
            group: resource.address.group().map(str::to_string),
            provider: placement.provider.clone(),
            location: placement.location.clone(),
            size: placement.size.clone(),
            image: placement.image.clone(),
            provider_id: resource.provider_id.clone(),
            ip: resource
                .exposed("address")
                .and_then(|v| v.as_str().map(str::to_string)),
            status: if deposed { "deposed" } else { "running" },
            hourly_price: placement.hourly_price,
            monthly_price: placement.hourly_price.map(|h| h * HOURS_PER_MONTH),
            currency: placement.currency.clone(),
            health: None,
        }
    }
}

/// What resources in one currency cost together.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    pub currency: String,
    pub hourly: f64,
    pub monthly: f64,
}

/// Prices summed apart by currency (different currencies are never added up): US dollars
/// first, then the others by code; none when nothing is priced.
fn by_currency<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<Cost> {
    let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
    for row in rows {
        if let Some(price) = row.hourly_price {
            let currency = row.currency.as_deref().unwrap_or(DOLLARS);
            *sums.entry(currency).or_default() += price;
        }
    }
    let cost = |(currency, hourly): (&str, f64)| Cost {
        currency: currency.to_string(),
        hourly,
        monthly: hourly * HOURS_PER_MONTH,
    };
    let dollars = sums.remove_entry(DOLLARS);
    dollars.into_iter().chain(sums).map(cost).collect()
}

/// Sums over every resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub resources: usize,
    pub nodes: usize,
    /// The first of `costs` (US dollars when any are), zero when nothing is priced.
    pub hourly: f64,
    pub monthly: f64,
    /// The currency of `hourly` and `monthly` (`None`: no price known).
    pub currency: Option<String>,
    /// One sum per currency: more than one when providers price in different currencies
    /// and the strategy gives no `exchange_rates` to convert them.
    pub costs: Vec<Cost>,
    /// Resources without a known price (not in the sums).
    pub unpriced: usize,
}

impl Totals {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Row> + Clone) -> Totals {
        let mut totals = Totals::default();
        for row in rows.clone() {
            totals.resources += 1;
            if row.kind == Kind::Node {
                totals.nodes += 1;
                if row.hourly_price.is_none() {
                    totals.unpriced += 1;
                }
            }
        }
        totals.costs = by_currency(rows);
        if let Some(first) = totals.costs.first() {
            totals.hourly = first.hourly;
            totals.monthly = first.monthly;
            totals.currency = Some(first.currency.clone());
        }
        totals
    }

    /// The monthly cost in the one currency both `self` and `before` price in: `None` when
    /// either prices in several, or they differ.
    pub fn monthly_change(&self, before: &Totals) -> Option<f64> {
        match (self.costs.as_slice(), before.costs.as_slice()) {
            ([now], [then]) if now.currency == then.currency => Some(now.monthly - then.monthly),
            ([now], []) => Some(now.monthly),
            ([], [then]) => Some(-then.monthly),
            ([], []) => Some(0.0),
            _ => None,
        }
    }
}

/// How many resources share one value (a group, a provider, a location) and what they cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Count {
    pub name: String,
    pub resources: usize,
    /// The first of `costs` (US dollars when any are), zero when nothing is priced.
    pub hourly: f64,
    pub monthly: f64,
    /// One sum per currency, as in [`Totals`].
    pub costs: Vec<Cost>,
}

/// A place on the map: the nodes at one provider's location.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub provider: String,
    pub location: String,
    pub name: String,
    pub country: String,
    /// `None` for locations without geography (the `local` provider's).
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub nodes: usize,
}

/// One page of the fleet.
#[derive(Clone, Debug, Serialize)]
pub struct Fleet {
    pub strategy: Option<String>,
    pub lineage: Option<String>,
    pub serial: Option<u64>,
    pub totals: Totals,
    pub groups: Vec<Count>,
    pub providers: Vec<Count>,
    pub locations: Vec<Count>,
    pub map: Vec<Point>,
    /// Rows `offset..offset + rows.len()` of `total_rows`, ordered by address (deposed
    /// objects last).
    pub offset: usize,
    pub limit: usize,
    pub total_rows: usize,
    pub rows: Vec<Row>,
}

/// Every row of `state`: its resources by address, then its deposed objects.
pub fn rows(state: Option<&State>) -> Vec<Row> {
    let Some(state) = state else {
        return Vec::new();
    };
    let current = state.resources.values().map(|r| Row::of(r, false));
    let deposed = state.deposed.iter().map(|r| Row::of(r, true));
    current.chain(deposed).collect()
}

/// The fleet of `state`, with rows `offset..offset + limit`.
pub fn build(state: Option<&State>, locations: &Locations, offset: usize, limit: usize) -> Fleet {
    let all = rows(state);
    let count_by = |key: &dyn Fn(&Row) -> Option<String>| {
        let mut by: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for row in &all {
            if let Some(name) = key(row) {
                by.entry(name).or_default().push(row);
            }
        }
        by.into_iter()
            .map(|(name, rows)| {
                let costs = by_currency(rows.iter().copied());
                Count {
                    name,
                    resources: rows.len(),
                    hourly: costs.first().map_or(0.0, |c| c.hourly),
                    monthly: costs.first().map_or(0.0, |c| c.monthly),
                    costs,
                }
            })
            .collect::<Vec<_>>()
    };
    let groups = count_by(&|r| r.group.clone());
    let providers = count_by(&|r| Some(r.provider.clone()));
    let by_location = count_by(&|r| Some(format!("{}/{}", r.provider, r.location)));
    let map = points(&all, locations);
    let total_rows = all.len();
    let offset = offset.min(total_rows);
    let limit = limit.max(1);
    Fleet {
        strategy: state.map(|s| s.strategy.clone()),
        lineage: state.map(|s| s.lineage.clone()),
        serial: state.map(|s| s.serial),
        totals: Totals::of(&all),
        groups,
        providers,
        locations: by_location,
        map,
        offset,
        limit,
        total_rows,
        rows: all.into_iter().skip(offset).take(limit).collect(),
    }
}

/// The nodes per provider location, placed by the catalog's coordinates; a location of the
/// `local` provider (country `ZZ`) or one no catalog knows has none.
fn points(rows: &[Row], locations: &Locations) -> Vec<Point> {
    let mut points: BTreeMap<(String, String), Point> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.kind == Kind::Node) {
        let key = (row.provider.clone(), row.location.clone());
        let point = points.entry(key.clone()).or_insert_with(|| {
            let known = locations.get(&key);
            let placed = known.filter(|l| l.country != "ZZ");
            Point {
                provider: row.provider.clone(),
                location: row.location.clone(),
                name: known.map_or_else(|| row.location.clone(), |l| l.name.clone()),
                country: known.map_or_else(String::new, |l| l.country.clone()),
                latitude: placed.map(|l| l.latitude),
                longitude: placed.map(|l| l.longitude),
                nodes: 0,
            }
        });
        point.nodes += 1;
    }
    points.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Location;
    use crate::state::document::tests::node;

    fn priced(i: usize, location: &str, price: Option<f64>) -> Existing {
        let mut n = node(i);
        n.placement.provider = "cloud".into();
        n.placement.location = location.into();
        n.placement.hourly_price = price;
        n.placement.currency = price.map(|_| "USD".into());
        n
    }

    #[test]
    fn totals_counts_and_points_add_up_and_pages_cut_the_rows() {
        let mut state = State::new("t");
        for (i, location, price) in [
            (0, "syd", Some(0.5)),
            (1, "syd", Some(0.25)),
            (2, "fra", None),
        ] {
            let n = priced(i, location, price);
            state.resources.insert(n.address.clone(), n);
        }
        state.deposed.push(priced(9, "fra", Some(1.0)));
        let mut locations = Locations::new();
        locations.insert(
            ("cloud".into(), "syd".into()),
            Location {
                id: "syd".into(),
                name: "Sydney".into(),
                region: "au".into(),
                zone: "syd".into(),
                country: "AU".into(),
                continent: "oceania".into(),
                latitude: -33.9,
                longitude: 151.2,
            },
        );
        let fleet = build(Some(&state), &locations, 1, 2);
        assert_eq!(fleet.total_rows, 4);
        assert_eq!(
            fleet
                .rows
                .iter()
                .map(|r| (r.address.as_str(), r.status))
                .collect::<Vec<_>>(),
            [("node.web[1]", "running"), ("node.web[2]", "running")]
        );
        assert_eq!(fleet.totals.nodes, 4);
        assert_eq!(fleet.totals.unpriced, 1);
        assert!((fleet.totals.hourly - 1.75).abs() < 1e-9);
        assert!((fleet.totals.monthly - 1.75 * 730.0).abs() < 1e-6);
        assert_eq!(fleet.totals.currency.as_deref(), Some("USD"));
        assert_eq!(fleet.groups.len(), 1);
        assert_eq!(fleet.groups[0].resources, 4);
        let syd = fleet.map.iter().find(|p| p.location == "syd").unwrap();
        assert_eq!((syd.nodes, syd.latitude), (2, Some(-33.9)));
        let fra = fleet.map.iter().find(|p| p.location == "fra").unwrap();
        assert_eq!((fra.nodes, fra.latitude), (2, None));
        // An offset past the end gives no rows, not a panic.
        assert!(build(Some(&state), &locations, 99, 10).rows.is_empty());
    }

    #[test]
    fn prices_in_two_currencies_are_summed_apart() {
        let mut state = State::new("t");
        for (i, location, price, currency) in [
            (0, "fsn1", 0.01, "EUR"),
            (1, "fsn1", 0.02, "EUR"),
            (2, "syd", 0.5, "USD"),
        ] {
            let mut n = priced(i, location, Some(price));
            n.placement.currency = Some(currency.into());
            state.resources.insert(n.address.clone(), n);
        }
        let fleet = build(Some(&state), &Locations::new(), 0, 10);
        let t = &fleet.totals;
        let sums: Vec<(&str, f64)> = t
            .costs
            .iter()
            .map(|c| (c.currency.as_str(), c.hourly))
            .collect();
        assert_eq!(sums.len(), 2, "{sums:?}");
        assert_eq!(sums[0], ("USD", 0.5), "dollars first");
        assert_eq!(sums[1].0, "EUR");
        assert!((sums[1].1 - 0.03).abs() < 1e-12);
        assert_eq!((t.hourly, t.currency.as_deref()), (0.5, Some("USD")));
        // The one group holds both currencies, each summed apart.
        assert_eq!(fleet.groups[0].costs.len(), 2);
        let fsn1 = fleet
            .locations
            .iter()
            .find(|c| c.name == "cloud/fsn1")
            .unwrap();
        assert_eq!(fsn1.costs.len(), 1);
        assert_eq!(fsn1.costs[0].currency, "EUR");
        // No change is given between fleets that are not in one same currency.
        let dollars_only = Totals::of(&fleet.rows[2..]);
        assert_eq!(t.monthly_change(&dollars_only), None);
        let change = dollars_only.monthly_change(&Totals::default()).unwrap();
        assert!((change - 0.5 * 730.0).abs() < 1e-9);
        let page = crate::serve::pages::sums(&t.costs, false);
        assert_eq!(page, "365.00 USD + 21.90 EUR");
    }
}
