//! Offerings: what a provider can give, the raw material placement matches strategy options
//! against. Locations (with geography), sizes, images, and the prices that say which size is
//! offered where and for how much (AWS prices differ per region; not every size is everywhere).
//!
//! Pure data. Catalogs come from drivers (`Driver::catalog`), which read them from the
//! provider's API or from a price table shipped in the program; nothing here calls a provider.

pub mod aws;
pub mod aws_types;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A place where nodes can run: a zone of a region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// What strategies and placements name (`ap-southeast-2a`, `local-a`).
    pub id: String,
    pub name: String,
    pub region: String,
    pub zone: String,
    /// ISO 3166-1 alpha-2 country code (`AU`).
    pub country: String,
    /// `africa`, `antarctica`, `asia`, `europe`, `north-america`, `oceania`, `south-america`.
    pub continent: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A hardware size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Size {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    /// The disk that comes with the size; 0 when it has none of its own and boots from a
    /// network volume sized at launch (EBS), so any disk minimum (`min_disk_gib`) fits it.
    pub disk_gib: u32,
    /// `x86_64` or `arm64`.
    pub arch: String,
}

/// An operating-system image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// OS family (`linux`, `ubuntu`, `debian`, `amazon-linux`...).
    pub os: String,
    pub version: String,
    /// `x86_64`, `arm64`, or `any` for images that run on both.
    pub arch: String,
}

/// One size offered at one location, and what it costs there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub location: String,
    pub size: String,
    pub hourly_price: f64,
    pub currency: String,
    /// How many more nodes of this size the location can take, when the provider says
    /// (`None`: no known limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

/// Everything one provider offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub locations: Vec<Location>,
    pub sizes: Vec<Size>,
    pub images: Vec<Image>,
    /// Which size is offered where, at what price.
    pub prices: Vec<Price>,
    /// Where the prices come from and how current they are, for people
    /// (`AWS EC2 on-demand Linux prices of 2025-03-02, from apache-libcloud 3.9.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Catalog {
    /// A catalog that offers every size at every location at the same price (for providers
    /// whose prices do not vary by place).
    pub fn uniform(
        locations: Vec<Location>,
        sizes: Vec<(Size, f64)>,
        images: Vec<Image>,
        currency: &str,
    ) -> Catalog {
        let prices = locations
            .iter()
            .flat_map(|l| {
                sizes.iter().map(|(s, price)| Price {
                    location: l.id.clone(),
                    size: s.id.clone(),
                    hourly_price: *price,
                    currency: currency.to_string(),
                    capacity: None,
                })
            })
            .collect();
        Catalog {
            locations,
            sizes: sizes.into_iter().map(|(s, _)| s).collect(),
            images,
            prices,
            source: None,
        }
    }
}

impl Catalog {
    /// This catalog with every price in a currency that `rates` names (US dollars per unit)
    /// converted to US dollars; prices in other currencies stay as they are. Borrowed when
    /// nothing converts.
    pub fn in_dollars(&self, rates: &BTreeMap<String, f64>) -> Cow<'_, Catalog> {
        if !self.prices.iter().any(|p| rates.contains_key(&p.currency)) {
            return Cow::Borrowed(self);
        }
        let mut converted = self.clone();
        for price in &mut converted.prices {
            if let Some(rate) = rates.get(&price.currency) {
                price.hourly_price *= rate;
                price.currency = DOLLARS.to_string();
            }
        }
        Cow::Owned(converted)
    }
}

/// The currency the price tables and most providers use, and that `exchange_rates` convert to.
pub const DOLLARS: &str = "USD";

/// Hours in a month, for monthly prices (365 × 24 / 12, as cloud bills count).
pub const HOURS_PER_MONTH: f64 = 730.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn priced(currency: &str, hourly_price: f64) -> Catalog {
        Catalog {
            prices: vec![Price {
                location: "fsn1".into(),
                size: "cx22".into(),
                hourly_price,
                currency: currency.into(),
                capacity: None,
            }],
            ..Catalog::default()
        }
    }

    #[test]
    fn a_rate_converts_its_currency_and_nothing_else() {
        let rates = BTreeMap::from([("EUR".to_string(), 1.25)]);
        let euros = priced("EUR", 0.008);
        let converted = euros.in_dollars(&rates);
        assert!(matches!(converted, Cow::Owned(_)));
        assert_eq!(converted.prices[0].currency, "USD");
        assert!((converted.prices[0].hourly_price - 0.01).abs() < 1e-12);
        let pounds = priced("GBP", 0.008);
        assert!(matches!(pounds.in_dollars(&rates), Cow::Borrowed(c) if *c == pounds));
        assert!(matches!(
            euros.in_dollars(&BTreeMap::new()),
            Cow::Borrowed(_)
        ));
    }
}
