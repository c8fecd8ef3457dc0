//! Offerings from DigitalOcean's own API: regions (`GET /v2/regions`), sizes with their
//! hourly prices and the regions that have them (`GET /v2/sizes`), and distribution images
//! (`GET /v2/images?type=distribution`). The API tells no geography, so each datacenter's
//! country and coordinates come from the table below, keyed by the slug's city part (`nyc`
//! of `nyc3`).
//!
//! Pure: turns the API's answers into a [`Catalog`].

use serde_json::Value;

use crate::catalog::{Catalog, Image, Location, Price, Size};

/// City part of a region slug → (country, continent, latitude, longitude).
const CITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("nyc", "US", "north-america", 40.71, -74.01),
    ("sfo", "US", "north-america", 37.77, -122.42),
    ("atl", "US", "north-america", 33.75, -84.39),
    ("ric", "US", "north-america", 37.54, -77.44),
    ("tor", "CA", "north-america", 43.65, -79.38),
    ("ams", "NL", "europe", 52.37, 4.90),
    ("lon", "GB", "europe", 51.51, -0.13),
    ("fra", "DE", "europe", 50.11, 8.68),
    ("sgp", "SG", "asia", 1.35, 103.82),
    ("blr", "IN", "asia", 12.97, 77.59),
    ("syd", "AU", "oceania", -33.87, 151.21),
];

/// The catalog of the regions in `only` (every available one when `None`).
pub fn assemble(
    regions: &[Value],
    sizes: &[Value],
    images: &[Value],
    only: Option<&[String]>,
    source: String,
) -> Catalog {
    let wanted = |slug: &str| only.is_none_or(|only| only.iter().any(|r| r == slug));
    let mut catalog = Catalog {
        source: Some(source),
        ..Catalog::default()
    };
    for region in regions {
        let (Some(slug), Some(true)) = (region["slug"].as_str(), region["available"].as_bool())
        else {
            continue;
        };
        if !wanted(slug) {
            continue;
        }
        let city: String = slug.chars().take_while(char::is_ascii_alphabetic).collect();
        let (country, continent, latitude, longitude) = CITIES
            .iter()
            .find(|(c, ..)| *c == city)
            .map_or(("", "", 0.0, 0.0), |(_, country, continent, lat, lon)| {
                (*country, *continent, *lat, *lon)
            });
        catalog.locations.push(Location {
            id: slug.to_string(),
            name: region["name"].as_str().unwrap_or(slug).to_string(),
            region: slug.to_string(),
            zone: slug.to_string(),
            country: country.to_string(),
            continent: continent.to_string(),
            latitude,
            longitude,
        });
    }
    for size in sizes {
        let Some(slug) = size["slug"].as_str() else {
            continue;
        };
        if size["available"].as_bool() == Some(false) {
            continue;
        }
        let Some(price) = size["price_hourly"].as_f64() else {
            continue;
        };
        catalog.sizes.push(Size {
            id: slug.to_string(),
            name: slug.to_string(),
            vcpus: size["vcpus"].as_u64().unwrap_or(0) as u32,
            memory_gib: size["memory"].as_f64().unwrap_or(0.0) / 1024.0,
            disk_gib: size["disk"].as_u64().unwrap_or(0) as u32,
            arch: "x86_64".into(),
        });
        for region in size["regions"].as_array().into_iter().flatten() {
            let Some(region) = region.as_str() else {
                continue;
            };
            if catalog.locations.iter().any(|l| l.id == region) {
                catalog.prices.push(Price {
                    location: region.to_string(),
                    size: slug.to_string(),
                    hourly_price: price,
                    currency: "USD".into(),
                    capacity: None,
                });
            }
        }
    }
    for image in images {
        let Some(slug) = image["slug"].as_str() else {
            continue;
        };
        if image["status"].as_str().is_some_and(|s| s != "available") {
            continue;
        }
        let os = image["distribution"]
            .as_str()
            .unwrap_or("linux")
            .to_ascii_lowercase()
            .replace(' ', "-");
        let version = image["name"]
            .as_str()
            .and_then(|n| n.split_whitespace().next())
            .unwrap_or_default()
            .to_string();
        catalog.images.push(Image {
            id: slug.to_string(),
            name: slug.to_string(),
            os,
            version,
            arch: if slug.contains("x64") {
                "x86_64"
            } else {
                "any"
            }
            .into(),
        });
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regions_sizes_and_images_become_a_priced_catalog() {
        let regions = [
            json!({"slug": "nyc3", "name": "New York 3", "available": true}),
            json!({"slug": "ams3", "name": "Amsterdam 3", "available": true}),
            json!({"slug": "sfo1", "name": "San Francisco 1", "available": false}),
        ];
        let sizes = [
            json!({"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25,
                   "price_hourly": 0.00893, "available": true, "regions": ["nyc3", "sfo1"]}),
            json!({"slug": "gone", "memory": 1024, "vcpus": 1, "disk": 25,
                   "price_hourly": 0.1, "available": false, "regions": ["nyc3"]}),
        ];
        let images = [
            json!({"slug": "ubuntu-24-04-x64", "name": "24.04 (LTS) x64",
                   "distribution": "Ubuntu", "status": "available"}),
            json!({"slug": null, "name": "private", "distribution": "Ubuntu"}),
        ];
        let c = assemble(&regions, &sizes, &images, None, "test".into());
        let ids: Vec<&str> = c.locations.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["nyc3", "ams3"]);
        assert_eq!(c.locations[0].country, "US");
        assert_eq!(c.locations[1].continent, "europe");
        assert_eq!(c.sizes.len(), 1);
        assert_eq!(c.sizes[0].memory_gib, 1.0);
        assert_eq!(c.prices.len(), 1, "sfo1 is unavailable: {:?}", c.prices);
        assert_eq!(c.prices[0].hourly_price, 0.00893);
        assert_eq!(c.images.len(), 1);
        assert_eq!(
            (c.images[0].os.as_str(), c.images[0].version.as_str()),
            ("ubuntu", "24.04")
        );
        let only = ["ams3".to_string()];
        let c = assemble(&regions, &sizes, &images, Some(&only), "test".into());
        assert_eq!(c.locations.len(), 1);
        assert!(c.prices.is_empty());
    }
}
