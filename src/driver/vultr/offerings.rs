//! Offerings from Vultr's own API: regions with their city, country and continent
//! (`GET /v2/regions`), plans with their monthly prices and the regions that sell them
//! (`GET /v2/plans`, `locations`), and operating systems (`GET /v2/os`). The API tells no
//! coordinates, so each region's come from the table below (its city, rounded to 0.01°);
//! the hourly price is the monthly one over [`HOURS_PER_MONTH`] (the document gives no other).
//!
//! Pure: turns the API's answers into a [`Catalog`].

use serde_json::Value;

use crate::catalog::{Catalog, HOURS_PER_MONTH, Image, Location, Price, Size};

/// Region id → (latitude, longitude) of the city Vultr names for it.
const REGIONS: &[(&str, f64, f64)] = &[
    ("ams", 52.37, 4.90),
    ("atl", 33.75, -84.39),
    ("blr", 12.97, 77.59),
    ("bom", 19.08, 72.88),
    ("cdg", 48.86, 2.35),
    ("del", 28.61, 77.21),
    ("dfw", 32.78, -96.80),
    ("ewr", 40.55, -74.46),
    ("fra", 50.11, 8.68),
    ("hnl", 21.31, -157.86),
    ("icn", 37.57, 126.98),
    ("itm", 34.69, 135.50),
    ("jnb", -26.20, 28.05),
    ("lax", 34.05, -118.24),
    ("lhr", 51.51, -0.13),
    ("mad", 40.42, -3.70),
    ("man", 53.48, -2.24),
    ("mel", -37.81, 144.96),
    ("mex", 19.43, -99.13),
    ("mia", 25.76, -80.19),
    ("nrt", 35.68, 139.69),
    ("ord", 41.88, -87.63),
    ("sao", -23.55, -46.63),
    ("scl", -33.45, -70.67),
    ("sea", 47.61, -122.33),
    ("sgp", 1.35, 103.82),
    ("sjc", 37.34, -121.89),
    ("sto", 59.33, 18.07),
    ("syd", -33.87, 151.21),
    ("tlv", 32.09, 34.78),
    ("waw", 52.23, 21.01),
    ("yto", 43.65, -79.38),
];

/// OS families that are not installable systems (uploads, snapshots, one-click apps).
const NOT_SYSTEMS: &[&str] = &["iso", "snapshot", "backup", "application"];

/// Vultr's continent name as oss writes continents (`North America` → `north-america`;
/// `Australia` → `oceania`).
fn continent(name: &str) -> String {
    let c = name.trim().to_ascii_lowercase().replace(' ', "-");
    if c == "australia" {
        "oceania".into()
    } else {
        c
    }
}

/// The catalog of the regions in `only` (every region when `None`).
pub fn assemble(
    regions: &[Value],
    plans: &[Value],
    systems: &[Value],
    only: Option<&[String]>,
    source: String,
) -> Catalog {
    let wanted = |id: &str| only.is_none_or(|only| only.iter().any(|r| r == id));
    let mut catalog = Catalog {
        source: Some(source),
        ..Catalog::default()
    };
    for region in regions {
        let Some(id) = region["id"].as_str() else {
            continue;
        };
        if !wanted(id) {
            continue;
        }
        let (latitude, longitude) = REGIONS
            .iter()
            .find(|(r, ..)| *r == id)
            .map_or((0.0, 0.0), |(_, lat, lon)| (*lat, *lon));
        catalog.locations.push(Location {
            id: id.to_string(),
            name: region["city"].as_str().unwrap_or(id).to_string(),
            region: id.to_string(),
            zone: id.to_string(),
            country: region["country"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            continent: continent(region["continent"].as_str().unwrap_or_default()),
            latitude,
            longitude,
        });
    }
    for plan in plans {
        let (Some(id), Some(monthly)) = (plan["id"].as_str(), plan["monthly_cost"].as_f64()) else {
            continue;
        };
        let sold: Vec<&str> = plan["locations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let here: Vec<&Location> = catalog
            .locations
            .iter()
            .filter(|l| sold.contains(&l.id.as_str()))
            .collect();
        if here.is_empty() {
            continue;
        }
        let prices: Vec<Price> = here
            .iter()
            .map(|l| Price {
                location: l.id.clone(),
                size: id.to_string(),
                hourly_price: monthly / HOURS_PER_MONTH,
                currency: "USD".into(),
                capacity: None,
            })
            .collect();
        catalog.prices.extend(prices);
        catalog.sizes.push(Size {
            id: id.to_string(),
            // Strategies name plans by id (`vc2-1c-1gb`), as Vultr's own tools do.
            name: id.to_string(),
            vcpus: plan["vcpu_count"].as_u64().unwrap_or(0) as u32,
            memory_gib: plan["ram"].as_f64().unwrap_or(0.0) / 1024.0,
            disk_gib: plan["disk"].as_u64().unwrap_or(0) as u32,
            arch: "x86_64".into(),
        });
    }
    for system in systems {
        let (Some(id), Some(name)) = (system["id"].as_u64(), system["name"].as_str()) else {
            continue;
        };
        let family = system["family"].as_str().unwrap_or("linux");
        if NOT_SYSTEMS.contains(&family) {
            continue;
        }
        // "Ubuntu 24.04 LTS x64": the first word that starts with a digit.
        let version = name
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or_default()
            .to_string();
        let arch = match system["arch"].as_str() {
            Some("arm64" | "aarch64") => "arm64",
            _ => "x86_64",
        };
        catalog.images.push(Image {
            id: id.to_string(),
            name: name.to_string(),
            os: family.to_ascii_lowercase(),
            version,
            arch: arch.into(),
        });
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regions_plans_and_systems_become_a_priced_catalog() {
        let regions = [
            json!({"id": "ewr", "city": "New Jersey", "country": "US",
                   "continent": "North America", "options": ["ddos_protection"]}),
            json!({"id": "syd", "city": "Sydney", "country": "AU", "continent": "Australia",
                   "options": []}),
            json!({"id": "ams", "city": "Amsterdam", "country": "NL", "continent": "Europe",
                   "options": []}),
        ];
        let plans = [
            json!({"id": "vc2-1c-1gb", "name": "Cloud Compute", "vcpu_count": 1, "ram": 1024,
                   "disk": 25, "bandwidth": 1024, "monthly_cost": 5, "type": "vc2",
                   "locations": ["ewr", "syd"]}),
            json!({"id": "vc2-2c-4gb", "vcpu_count": 2, "ram": 4096, "disk": 80,
                   "monthly_cost": 20, "type": "vc2", "locations": ["lax"]}),
        ];
        let systems = [
            json!({"id": 2284, "name": "Ubuntu 24.04 LTS x64", "arch": "x64",
                   "family": "ubuntu"}),
            json!({"id": 159, "name": "Custom", "arch": "x64", "family": "iso"}),
            json!({"id": 2187, "name": "Debian 12 arm64", "arch": "arm64", "family": "debian"}),
        ];
        let c = assemble(&regions, &plans, &systems, None, "test".into());
        let ids: Vec<&str> = c.locations.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["ewr", "syd", "ams"]);
        assert_eq!(
            (c.locations[0].continent.as_str(), c.locations[0].latitude),
            ("north-america", 40.55)
        );
        assert_eq!(c.locations[1].continent, "oceania");
        assert_eq!(c.sizes.len(), 1, "a plan sold nowhere offered is left out");
        assert_eq!((c.sizes[0].memory_gib, c.sizes[0].disk_gib), (1.0, 25));
        let at: Vec<&str> = c.prices.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(at, ["ewr", "syd"], "priced only where the plan is sold");
        assert!((c.prices[0].hourly_price - 5.0 / 730.0).abs() < 1e-12);
        assert_eq!(c.images.len(), 2);
        assert_eq!(
            (
                c.images[0].id.as_str(),
                c.images[0].os.as_str(),
                c.images[0].version.as_str()
            ),
            ("2284", "ubuntu", "24.04")
        );
        assert_eq!(c.images[1].arch, "arm64");
        let only = ["syd".to_string()];
        let c = assemble(&regions, &plans, &systems, Some(&only), "test".into());
        assert_eq!(c.locations.len(), 1);
        assert_eq!(c.prices.len(), 1);
    }
}
