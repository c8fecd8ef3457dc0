//! Offerings from Linode's own API: regions with their country (`GET /v4/regions`), types
//! with their hourly prices, a region's own price where the type lists one
//! (`GET /v4/linode/types`, `region_prices`), and public images (`GET /v4/images`). The API
//! tells no coordinates, so each region's continent and coordinates come from the table
//! below (the city its label names, rounded to 0.01°).
//!
//! Pure: turns the API's answers into a [`Catalog`].

use serde_json::Value;

use crate::catalog::{Catalog, Image, Location, Price, Size};

/// Region id → (continent, latitude, longitude) of the city Linode names for it.
const REGIONS: &[(&str, &str, f64, f64)] = &[
    ("us-east", "north-america", 40.74, -74.17),
    ("us-central", "north-america", 32.78, -96.80),
    ("us-west", "north-america", 37.55, -121.99),
    ("us-southeast", "north-america", 33.75, -84.39),
    ("us-iad", "north-america", 38.91, -77.04),
    ("us-ord", "north-america", 41.88, -87.63),
    ("us-sea", "north-america", 47.61, -122.33),
    ("us-lax", "north-america", 34.05, -118.24),
    ("us-mia", "north-america", 25.76, -80.19),
    ("ca-central", "north-america", 43.65, -79.38),
    ("br-gru", "south-america", -23.55, -46.63),
    ("eu-west", "europe", 51.51, -0.13),
    ("eu-central", "europe", 50.11, 8.68),
    ("fr-par", "europe", 48.86, 2.35),
    ("nl-ams", "europe", 52.37, 4.90),
    ("se-sto", "europe", 59.33, 18.07),
    ("it-mil", "europe", 45.46, 9.19),
    ("es-mad", "europe", 40.42, -3.70),
    ("ap-south", "asia", 1.35, 103.82),
    ("ap-northeast", "asia", 35.68, 139.69),
    ("ap-west", "asia", 19.08, 72.88),
    ("in-maa", "asia", 13.08, 80.27),
    ("jp-osa", "asia", 34.69, 135.50),
    ("id-cgk", "asia", -6.21, 106.85),
    ("ap-southeast", "oceania", -33.87, 151.21),
    ("au-mel", "oceania", -37.81, 144.96),
];

/// The catalog of the regions in `only` (every region that is up and takes Linodes when
/// `None`).
pub fn assemble(
    regions: &[Value],
    types: &[Value],
    images: &[Value],
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
        let takes_linodes = region["capabilities"]
            .as_array()
            .is_none_or(|c| c.iter().any(|c| c == "Linodes"));
        if region["status"] != "ok" || !takes_linodes || !wanted(id) {
            continue;
        }
        let (continent, latitude, longitude) = REGIONS
            .iter()
            .find(|(r, ..)| *r == id)
            .map_or(("", 0.0, 0.0), |(_, continent, lat, lon)| {
                (*continent, *lat, *lon)
            });
        catalog.locations.push(Location {
            id: id.to_string(),
            name: region["label"].as_str().unwrap_or(id).to_string(),
            region: id.to_string(),
            zone: id.to_string(),
            country: region["country"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            continent: continent.to_string(),
            latitude,
            longitude,
        });
    }
    for kind in types {
        let Some(id) = kind["id"].as_str() else {
            continue;
        };
        let Some(hourly) = kind["price"]["hourly"].as_f64() else {
            continue;
        };
        catalog.sizes.push(Size {
            id: id.to_string(),
            name: id.to_string(),
            vcpus: kind["vcpus"].as_u64().unwrap_or(0) as u32,
            memory_gib: kind["memory"].as_f64().unwrap_or(0.0) / 1024.0,
            disk_gib: (kind["disk"].as_u64().unwrap_or(0) / 1024) as u32,
            arch: "x86_64".into(),
        });
        for location in &catalog.locations {
            let own = kind["region_prices"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["id"] == location.id.as_str())
                .and_then(|p| p["hourly"].as_f64());
            catalog.prices.push(Price {
                location: location.id.clone(),
                size: id.to_string(),
                hourly_price: own.unwrap_or(hourly),
                currency: "USD".into(),
                capacity: None,
            });
        }
    }
    for image in images {
        let Some(id) = image["id"].as_str() else {
            continue;
        };
        if image["is_public"] != true
            || image["deprecated"] == true
            || image["status"].as_str().is_some_and(|s| s != "available")
        {
            continue;
        }
        let os = image["vendor"]
            .as_str()
            .unwrap_or("linux")
            .to_ascii_lowercase()
            .replace(' ', "-");
        let version = image["label"]
            .as_str()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string();
        catalog.images.push(Image {
            id: id.to_string(),
            name: id.to_string(),
            os,
            version,
            arch: "x86_64".into(),
        });
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regions_types_and_images_become_a_priced_catalog() {
        let regions = [
            json!({"id": "us-east", "label": "Newark, NJ", "country": "us", "status": "ok",
                   "capabilities": ["Linodes", "Cloud Firewall"]}),
            json!({"id": "id-cgk", "label": "Jakarta, ID", "country": "id", "status": "ok",
                   "capabilities": ["Linodes"]}),
            json!({"id": "eu-west", "label": "London, UK", "country": "uk", "status": "outage",
                   "capabilities": ["Linodes"]}),
            json!({"id": "us-obj", "label": "Storage", "country": "us", "status": "ok",
                   "capabilities": ["Object Storage"]}),
        ];
        let types = [
            json!({"id": "g6-nanode-1", "vcpus": 1, "memory": 1024, "disk": 25600,
                   "price": {"hourly": 0.0075, "monthly": 5.0},
                   "region_prices": [{"id": "id-cgk", "hourly": 0.009, "monthly": 6.0}]}),
        ];
        let images = [
            json!({"id": "linode/ubuntu24.04", "label": "Ubuntu 24.04 LTS", "vendor": "Ubuntu",
                   "is_public": true, "deprecated": false, "status": "available"}),
            json!({"id": "linode/centos7", "label": "CentOS 7", "vendor": "CentOS",
                   "is_public": true, "deprecated": true, "status": "available"}),
            json!({"id": "private/1", "label": "mine", "is_public": false}),
        ];
        let c = assemble(&regions, &types, &images, None, "test".into());
        let ids: Vec<&str> = c.locations.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["us-east", "id-cgk"]);
        assert_eq!(c.locations[0].country, "US");
        assert_eq!(c.locations[0].continent, "north-america");
        assert_eq!(c.sizes.len(), 1);
        assert_eq!((c.sizes[0].memory_gib, c.sizes[0].disk_gib), (1.0, 25));
        let price = |l: &str| {
            c.prices
                .iter()
                .find(|p| p.location == l)
                .unwrap()
                .hourly_price
        };
        assert_eq!(price("us-east"), 0.0075);
        assert_eq!(price("id-cgk"), 0.009, "the region's own price");
        assert_eq!(c.images.len(), 1);
        assert_eq!(
            (c.images[0].os.as_str(), c.images[0].version.as_str()),
            ("ubuntu", "24.04")
        );
        let only = ["id-cgk".to_string()];
        let c = assemble(&regions, &types, &images, Some(&only), "test".into());
        assert_eq!(c.locations.len(), 1);
        assert_eq!(c.prices.len(), 1);
    }
}
