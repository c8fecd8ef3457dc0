//! The capacity model: how many instances a location, or a size in a location, holds (the
//! `capacity` setting, its keys checked against the catalog). Counting what runs is the
//! ledger's; refusing a create is the cloud's.

use std::collections::{BTreeMap, HashMap};

use crate::catalog::Catalog;
use crate::driver::settings::SettingsError;

/// The `capacity` setting, resolved against the catalog.
#[derive(Debug, Default)]
pub(super) struct Capacity {
    pub per_location: HashMap<String, u64>,
    pub per_size: HashMap<(String, String), u64>,
}

impl Capacity {
    /// Sorts `{"LOCATION": n, "LOCATION/SIZE": n}` into limits; a key naming neither is an
    /// error at that key.
    pub fn new(catalog: &Catalog, limits: &BTreeMap<String, u64>) -> Result<Self, SettingsError> {
        let mut capacity = Capacity::default();
        let is_location = |id: &str| catalog.locations.iter().any(|l| l.id == id);
        let is_size = |id: &str| catalog.sizes.iter().any(|s| s.id == id);
        for (key, &limit) in limits {
            if is_location(key) {
                capacity.per_location.insert(key.clone(), limit);
                continue;
            }
            match key.split_once('/') {
                Some((location, size)) if is_location(location) && is_size(size) => {
                    let pair = (location.to_string(), size.to_string());
                    capacity.per_size.insert(pair, limit);
                }
                _ => {
                    let pointer =
                        format!("/capacity/{}", key.replace('~', "~0").replace('/', "~1"));
                    return Err(SettingsError::at(
                        pointer,
                        format!(
                            "Names `{key}`, which is neither a location of the catalog nor \
                             LOCATION/SIZE of one of its locations and sizes."
                        ),
                    )
                    .with_hint("write {\"LOCATION\": 10, \"LOCATION/SIZE\": 2}"));
                }
            }
        }
        Ok(capacity)
    }

    pub fn is_empty(&self) -> bool {
        self.per_location.is_empty() && self.per_size.is_empty()
    }
}
