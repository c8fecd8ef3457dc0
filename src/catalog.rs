//! Offerings: what a provider can give (locations, sizes, images), the raw material the
//! compiler matches strategy options against.
//!
//! Pure data plus attribute look-up for matching; it never calls a provider itself.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A place where nodes can run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub id: String,
    pub name: String,
    pub region: String,
    pub zone: String,
}

/// A hardware size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Size {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    pub disk_gib: u32,
    pub arch: String,
    pub hourly_price: f64,
    pub currency: String,
}

/// An operating-system image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub os: String,
    pub version: String,
    pub arch: String,
}

/// Everything one provider offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub locations: Vec<Location>,
    pub sizes: Vec<Size>,
    pub images: Vec<Image>,
}

/// Whether an offering's serialized attributes satisfy every key of a strategy option
/// (`{"name": "small"}`, `{"id": "local-a"}`). Strings compare exactly, numbers numerically.
pub fn matches_option<T: Serialize>(offering: &T, option: &Map<String, Value>) -> bool {
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
