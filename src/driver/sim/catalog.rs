//! The sim provider's offerings: the `catalog` setting (an inline catalog object, the path of
//! a JSON catalog file relative to the strategy, or `"aws"` for the price table shipped in oss),
//! read and checked for consistency. Reading a file is all it does.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::cloud::list_or_none;
use crate::catalog::Catalog;
use crate::driver::settings::{SettingsError, is_env_reference};

/// Read and check the `catalog` setting. `Ok(None)` for a path still written as an `env.`
/// reference (checked once it is resolved).
pub(super) fn load_catalog(
    value: &Value,
    base_dir: &Path,
) -> Result<Option<Catalog>, SettingsError> {
    let at = |message: String| SettingsError::at("/catalog", message);
    let (catalog, origin) = match value {
        // AWS's real offerings, from the price table shipped in oss.
        Value::String(builtin) if builtin == "aws" => {
            return Ok(Some(crate::catalog::aws::price_table().clone()));
        }
        Value::String(path) if is_env_reference(path) => return Ok(None),
        Value::String(path) if !path.is_empty() => {
            let origin = format!("The catalog file {path}");
            let bytes = fs::read(base_dir.join(path))
                .map_err(|e| at(format!("{origin} could not be read: {e}.")))?;
            let catalog = serde_json::from_slice::<Catalog>(&bytes)
                .map_err(|e| at(format!("{origin} is not a catalog: {e}.")))?;
            (catalog, origin)
        }
        Value::Object(_) => {
            let origin = "The catalog".to_string();
            let catalog = serde_path_to_error::deserialize::<_, Catalog>(value).map_err(|e| {
                let inner = e.path().to_string();
                at(format!(
                    "{origin} is not a catalog: {} (at {inner}).",
                    e.into_inner()
                ))
            })?;
            (catalog, origin)
        }
        _ => {
            return Err(at(
                "Expected a catalog object, \"aws\" or the path of a JSON \
                 catalog file."
                    .to_string(),
            ));
        }
    };
    check_catalog(&catalog).map_err(|problem| at(format!("{origin} {problem}.")))?;
    Ok(Some(catalog))
}

/// Ids are unique, every price names a known location and size once, prices are sane.
pub(super) fn check_catalog(catalog: &Catalog) -> Result<(), String> {
    fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), String> {
        let mut seen = HashSet::new();
        match ids.into_iter().find(|id| !seen.insert(*id)) {
            Some(id) => Err(format!("lists the {what} `{id}` twice")),
            None => Ok(()),
        }
    }
    unique("location", catalog.locations.iter().map(|l| l.id.as_str()))?;
    unique("size", catalog.sizes.iter().map(|s| s.id.as_str()))?;
    unique("image", catalog.images.iter().map(|i| i.id.as_str()))?;
    let locations: Vec<&str> = catalog.locations.iter().map(|l| l.id.as_str()).collect();
    let sizes: Vec<&str> = catalog.sizes.iter().map(|s| s.id.as_str()).collect();
    let mut priced = HashSet::new();
    for price in &catalog.prices {
        let (location, size) = (price.location.as_str(), price.size.as_str());
        if !locations.contains(&location) {
            return Err(format!(
                "has a price for the unknown location `{location}`; its locations: {}",
                list_or_none(&locations)
            ));
        }
        if !sizes.contains(&size) {
            return Err(format!(
                "has a price for the unknown size `{size}`; its sizes: {}",
                list_or_none(&sizes)
            ));
        }
        if !priced.insert((location, size)) {
            return Err(format!(
                "prices size `{size}` in location `{location}` twice"
            ));
        }
        if !price.hourly_price.is_finite() || price.hourly_price < 0.0 {
            return Err(format!(
                "has a negative or invalid price for size `{size}` in location `{location}`"
            ));
        }
        if price.capacity.is_some() {
            return Err(format!(
                "sets `capacity` on the price of size `{size}` in location `{location}`; \
                 set capacity with the sim setting `capacity` instead"
            ));
        }
    }
    Ok(())
}
