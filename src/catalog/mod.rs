//! Offerings: what a provider can give, the raw material placement matches strategy options
//! against. Locations (with geography), sizes, images, and the prices that say which size is
//! offered where and for how much (AWS prices differ per region; not every size is everywhere).
//!
//! Pure data. Catalogs come from drivers (`Driver::catalog`), which read them from the
//! provider's API or from a price table shipped in the program; nothing here calls a provider.

pub mod aws;
pub mod aws_types;

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

/// Hours in a month, for monthly prices (365 × 24 / 12, as cloud bills count).
pub const HOURS_PER_MONTH: f64 = 730.0;
