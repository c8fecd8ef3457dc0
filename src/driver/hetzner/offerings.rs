//! Offerings from Hetzner Cloud's own API: locations with their country, city and
//! coordinates (`GET /locations`), server types with cores, memory, disk, architecture and a
//! price per location (`GET /server_types`, `prices[].price_hourly.net`: the price without
//! VAT, as the other providers state theirs; in the project's currency, EUR), and system
//! images by name, flavour and version (`GET /images?type=system&status=available`). The
//! continent is the location's network zone's (`eu-central` is Europe).
//!
//! Pure: turns the API's answers into a [`Catalog`].

use serde_json::Value;

use crate::catalog::{Catalog, Image, Location, Price, Size};

/// The currency of the prices: Hetzner bills in euros.
pub const CURRENCY: &str = "EUR";

/// The continent of a network zone (`None`: one this table does not know yet).
fn continent(network_zone: &str) -> Option<&'static str> {
    Some(match network_zone.split('-').next()? {
        "eu" => "europe",
        "us" => "north-america",
        "ap" => "asia",
        _ => return None,
    })
}

/// `x86` → `x86_64`, `arm` → `arm64`.
fn arch(architecture: &str) -> String {
    match architecture {
        "arm" => "arm64".into(),
        "x86" => "x86_64".into(),
        other => other.into(),
    }
}

/// The catalog of the locations in `only` (every location when `None`).
pub fn assemble(
    locations: &[Value],
    server_types: &[Value],
    images: &[Value],
    only: Option<&[String]>,
    source: String,
) -> Catalog {
    let wanted = |name: &str| only.is_none_or(|only| only.iter().any(|l| l == name));
    let mut catalog = Catalog {
        source: Some(source),
        ..Catalog::default()
    };
    for location in locations {
        let Some(name) = location["name"].as_str() else {
            continue;
        };
        if !wanted(name) {
            continue;
        }
        let zone = location["network_zone"].as_str().unwrap_or_default();
        catalog.locations.push(Location {
            id: name.to_string(),
            name: location["city"].as_str().unwrap_or(name).to_string(),
            region: name.to_string(),
            zone: name.to_string(),
            country: location["country"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            continent: continent(zone).unwrap_or_default().to_string(),
            latitude: location["latitude"].as_f64().unwrap_or(0.0),
            longitude: location["longitude"].as_f64().unwrap_or(0.0),
        });
    }
    for kind in server_types {
        let Some(name) = kind["name"].as_str() else {
            continue;
        };
        if kind["deprecated"] == true {
            continue;
        }
        // A location where the type is being retired is not offered any more.
        let retiring = |location: &str| {
            kind["locations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["name"] == location && !l["deprecation"].is_null())
        };
        let mut priced = false;
        for price in kind["prices"].as_array().into_iter().flatten() {
            let Some(location) = price["location"].as_str() else {
                continue;
            };
            let Some(hourly) = price["price_hourly"]["net"]
                .as_str()
                .and_then(|p| p.trim().parse::<f64>().ok())
            else {
                continue;
            };
            if !catalog.locations.iter().any(|l| l.id == location) || retiring(location) {
                continue;
            }
            priced = true;
            catalog.prices.push(Price {
                location: location.to_string(),
                size: name.to_string(),
                hourly_price: hourly,
                currency: CURRENCY.into(),
                capacity: None,
            });
        }
        if priced {
            catalog.sizes.push(Size {
                id: name.to_string(),
                name: name.to_string(),
                vcpus: kind["cores"].as_u64().unwrap_or(0) as u32,
                memory_gib: kind["memory"].as_f64().unwrap_or(0.0),
                disk_gib: kind["disk"].as_f64().unwrap_or(0.0) as u32,
                arch: arch(kind["architecture"].as_str().unwrap_or("x86")),
            });
        }
    }
    for image in images {
        let Some(name) = image["name"].as_str() else {
            continue;
        };
        if image["type"] != "system"
            || image["status"] != "available"
            || !image["deprecated"].is_null()
        {
            continue;
        }
        let arch = arch(image["architecture"].as_str().unwrap_or("x86"));
        // One name per image, the arm and x86 builds alike: the server type picks the build.
        if let Some(seen) = catalog.images.iter_mut().find(|i| i.id == name) {
            if seen.arch != arch {
                seen.arch = "any".into();
            }
            continue;
        }
        catalog.images.push(Image {
            id: name.to_string(),
            name: name.to_string(),
            os: image["os_flavor"].as_str().unwrap_or("linux").to_string(),
            version: image["os_version"].as_str().unwrap_or_default().to_string(),
            arch,
        });
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn price(location: &str, net: &str) -> Value {
        json!({"location": location, "price_hourly": {"net": net, "gross": "9"},
               "price_monthly": {"net": "1", "gross": "1"}})
    }

    #[test]
    fn locations_types_and_images_become_a_priced_catalog() {
        let locations = [
            json!({"name": "fsn1", "city": "Falkenstein", "country": "DE", "latitude": 50.47612,
                   "longitude": 12.370071, "network_zone": "eu-central"}),
            json!({"name": "ash", "city": "Ashburn, VA", "country": "US", "latitude": 39.0438,
                   "longitude": -77.4874, "network_zone": "us-east"}),
            json!({"name": "sin", "city": "Singapore", "country": "SG", "latitude": 1.28,
                   "longitude": 103.85, "network_zone": "ap-southeast"}),
        ];
        let types = [
            json!({"name": "cx22", "description": "CX22", "cores": 2, "memory": 4.0,
                   "disk": 40, "architecture": "x86", "deprecated": false,
                   "prices": [price("fsn1", "0.0060000000"), price("ash", "0.0080"),
                              price("sin", "0.01")],
                   "locations": [{"name": "sin", "deprecation": {"announced": "x"}}]}),
            json!({"name": "cax11", "cores": 2, "memory": 4.0, "disk": 40,
                   "architecture": "arm", "deprecated": false,
                   "prices": [price("fsn1", "0.0050")], "locations": []}),
            json!({"name": "cx11", "cores": 1, "memory": 2.0, "disk": 20,
                   "architecture": "x86", "deprecated": true,
                   "prices": [price("fsn1", "0.004")], "locations": []}),
        ];
        let images = [
            json!({"name": "ubuntu-24.04", "type": "system", "status": "available",
                   "deprecated": null, "os_flavor": "ubuntu", "os_version": "24.04",
                   "architecture": "x86"}),
            json!({"name": "ubuntu-24.04", "type": "system", "status": "available",
                   "deprecated": null, "os_flavor": "ubuntu", "os_version": "24.04",
                   "architecture": "arm"}),
            json!({"name": "centos-7", "type": "system", "status": "available",
                   "deprecated": "2024-06-30T00:00:00Z", "os_flavor": "centos",
                   "os_version": "7", "architecture": "x86"}),
            json!({"name": null, "type": "snapshot", "status": "available"}),
        ];
        let c = assemble(&locations, &types, &images, None, "test".into());
        let continents: Vec<&str> = c.locations.iter().map(|l| l.continent.as_str()).collect();
        assert_eq!(continents, ["europe", "north-america", "asia"]);
        assert_eq!(c.locations[1].country, "US");
        assert_eq!(c.locations[0].latitude, 50.47612);
        let sizes: Vec<(&str, &str)> = c
            .sizes
            .iter()
            .map(|s| (s.id.as_str(), s.arch.as_str()))
            .collect();
        assert_eq!(sizes, [("cx22", "x86_64"), ("cax11", "arm64")]);
        assert_eq!(
            (c.sizes[0].vcpus, c.sizes[0].memory_gib, c.sizes[0].disk_gib),
            (2, 4.0, 40)
        );
        let at = |l: &str, s: &str| {
            c.prices
                .iter()
                .find(|p| p.location == l && p.size == s)
                .map(|p| (p.hourly_price, p.currency.as_str()))
        };
        assert_eq!(at("fsn1", "cx22"), Some((0.006, "EUR")), "the net price");
        assert_eq!(at("ash", "cx22"), Some((0.008, "EUR")));
        assert_eq!(at("sin", "cx22"), None, "retiring there");
        assert_eq!(c.images.len(), 1);
        assert_eq!(
            (
                c.images[0].os.as_str(),
                c.images[0].version.as_str(),
                c.images[0].arch.as_str()
            ),
            ("ubuntu", "24.04", "any")
        );
        let only = ["ash".to_string()];
        let c = assemble(&locations, &types, &images, Some(&only), "test".into());
        assert_eq!(c.locations.len(), 1);
        assert_eq!(c.prices.len(), 1);
        assert_eq!(c.sizes.len(), 1, "cax11 is not offered at ash");
    }
}
