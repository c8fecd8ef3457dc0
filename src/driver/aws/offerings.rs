//! The AWS provider's offerings: zones, instance types and images read from the EC2 API of
//! the configured regions, priced from the price table shipped in oss
//! (`catalog::aws::price_table()`), which also gives each region its geography.
//!
//! Pure assembly: the driver makes the calls and hands the answers in. An instance type
//! without a price in a region cannot be ranked and is left out there; a zone of a region the
//! price table does not know is left out. When the API cannot be reached, [`from_price_table`]
//! gives the table's own offerings for the configured regions, so planning still works and
//! apply fails over.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Image, Location, Price, Size, aws};

use super::images::ImageSpec;
use crate::net::aws::xml::Element;

/// What the price table knows per region: its facts (one zone's location) and prices.
struct Table {
    /// region → a location of that region (name, country, coordinates).
    regions: HashMap<String, Location>,
    /// (region, instance type) → hourly USD.
    prices: HashMap<(String, String), f64>,
    /// instance type → its position in the table (family by family, smallest first).
    order: HashMap<String, usize>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let catalog = aws::price_table();
        let region_of: HashMap<&str, &str> = catalog
            .locations
            .iter()
            .map(|l| (l.id.as_str(), l.region.as_str()))
            .collect();
        let mut regions = HashMap::new();
        for location in &catalog.locations {
            // The Local Zone group `us-west-2-lax-1` shares its parent's region id; keep the
            // region's own zones as its facts.
            if location.zone.starts_with(&location.region)
                && location.zone.len() == location.region.len() + 1
            {
                regions
                    .entry(location.region.clone())
                    .or_insert_with(|| location.clone());
            }
        }
        let prices = catalog
            .prices
            .iter()
            .filter_map(|p| {
                let region = region_of.get(p.location.as_str())?;
                // Local Zone prices share the parent region id but differ: take the
                // region's own zones only.
                (p.location.len() == region.len() + 1)
                    .then(|| ((region.to_string(), p.size.clone()), p.hourly_price))
            })
            .collect();
        let order = catalog
            .sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        Table {
            regions,
            prices,
            order,
        }
    })
}

/// The hourly USD price of `size` in `region`, from the price table.
pub fn price(region: &str, size: &str) -> Option<f64> {
    table()
        .prices
        .get(&(region.to_string(), size.to_string()))
        .copied()
}

/// The architecture of `size`: the shipped instance-type facts', else the one the price table
/// derives from its name.
pub fn table_arch(size: &str) -> Option<String> {
    if let Some(known) = crate::catalog::aws_types::instance_type(size) {
        return Some(known.arch);
    }
    aws::price_table()
        .sizes
        .iter()
        .find(|s| s.id == size)
        .map(|s| s.arch.clone())
}

/// The instance types DescribeInstanceTypeOfferings lists that the shipped facts do not know,
/// sorted: the only ones DescribeInstanceTypes is asked about.
pub fn unshipped_types(offerings: &[Element]) -> Vec<String> {
    let offered: BTreeSet<&str> = offerings
        .iter()
        .flat_map(|page| page.items("instanceTypeOfferingSet"))
        .filter_map(|item| item.text_at(&["instanceType"]))
        .collect();
    offered
        .into_iter()
        .filter(|t| !crate::catalog::aws_types::is_known(t))
        .map(String::from)
        .collect()
}

/// What one region's API answered.
pub struct RegionAnswers {
    pub region: String,
    /// Zones, instance types and where they are offered (slow to read, slow to change).
    pub facts: RegionFacts,
    /// Per image name: architecture → AMI id, as resolved in this region.
    pub images: BTreeMap<String, BTreeMap<String, String>>,
}

/// The slow-changing offerings of one region: its available zones, the instance types it
/// knows (vCPUs, memory, architecture) and which zone offers which type. Plain data, so it can
/// be kept between runs (`cache`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionFacts {
    /// Available zones of type `availability-zone`, sorted.
    pub zones: Vec<String>,
    /// Instance types with their facts (Mac and 32-bit-only types left out).
    pub sizes: Vec<Size>,
    /// (zone, instance type) pairs DescribeInstanceTypeOfferings lists.
    pub offered: Vec<(String, String)>,
}

impl RegionFacts {
    /// Reads DescribeAvailabilityZones, DescribeInstanceTypeOfferings (by availability zone)
    /// and DescribeInstanceTypes answers; an offered type no answer describes takes the
    /// shipped facts (`catalog::aws_types`).
    pub fn from_answers(zones: &Element, offerings: &[Element], types: &[Element]) -> Self {
        let mut zones: Vec<String> = zones
            .items("availabilityZoneInfo")
            .filter(|z| z.text_at(&["zoneState"]).is_none_or(|s| s == "available"))
            .filter(|z| {
                z.text_at(&["zoneType"])
                    .is_none_or(|t| t == "availability-zone")
            })
            .filter_map(|z| z.text_at(&["zoneName"]).map(String::from))
            .collect();
        zones.sort();
        let mut sizes: Vec<Size> = types
            .iter()
            .flat_map(|page| page.items("instanceTypeSet"))
            .filter_map(size)
            .collect();
        let offered: Vec<(String, String)> = offerings
            .iter()
            .flat_map(|page| page.items("instanceTypeOfferingSet"))
            .filter_map(|item| {
                Some((
                    item.text_at(&["location"])?.to_string(),
                    item.text_at(&["instanceType"])?.to_string(),
                ))
            })
            .collect();
        let described: BTreeSet<String> = sizes.iter().map(|s| s.id.clone()).collect();
        let shipped: BTreeSet<&str> = offered
            .iter()
            .map(|(_, t)| t.as_str())
            .filter(|t| !described.contains(*t))
            .collect();
        sizes.extend(
            shipped
                .into_iter()
                .filter_map(crate::catalog::aws_types::instance_type),
        );
        RegionFacts {
            zones,
            sizes,
            offered,
        }
    }
}

/// A location for `zone` of `region`, with the region's geography from the price table.
fn location(region: &str, zone: &str) -> Option<Location> {
    let facts = table().regions.get(region)?;
    // "Asia Pacific (Sydney) a" → "Asia Pacific (Sydney)".
    let region_name = facts
        .name
        .rsplit_once(' ')
        .map_or(facts.name.as_str(), |(n, _)| n);
    let letter = zone.strip_prefix(region).unwrap_or(zone);
    Some(Location {
        id: zone.to_string(),
        name: format!("{region_name} {letter}"),
        region: region.to_string(),
        zone: zone.to_string(),
        country: facts.country.clone(),
        continent: facts.continent.clone(),
        latitude: facts.latitude,
        longitude: facts.longitude,
    })
}

/// A size from a DescribeInstanceTypes item (`None`: Mac or 32-bit-only types).
fn size(item: &Element) -> Option<Size> {
    let id = item.text_at(&["instanceType"])?;
    let vcpus = item.text_at(&["vCpuInfo", "defaultVCpus"])?.parse().ok()?;
    let mib: f64 = item.text_at(&["memoryInfo", "sizeInMiB"])?.parse().ok()?;
    let arches: Vec<&str> = item
        .at(&["processorInfo"])?
        .items("supportedArchitectures")
        .map(|a| a.text.trim())
        .collect();
    let arch = ["x86_64", "arm64"]
        .into_iter()
        .find(|a| arches.contains(a))?;
    Some(Size {
        id: id.to_string(),
        name: id.to_string(),
        vcpus,
        memory_gib: mib / 1024.0,
        // The root disk is an EBS volume sized at launch, as in the price table.
        disk_gib: 0,
        arch: arch.to_string(),
    })
}

/// The catalog of the API's answers for every configured region.
pub fn assemble(answers: &[RegionAnswers], specs: &[ImageSpec], source: String) -> Catalog {
    let mut locations = Vec::new();
    let mut prices = Vec::new();
    let mut sizes: BTreeMap<String, Size> = BTreeMap::new();
    let mut priced: BTreeSet<String> = BTreeSet::new();
    let mut arches: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for answer in answers {
        let region = answer.region.as_str();
        for size in &answer.facts.sizes {
            sizes.entry(size.id.clone()).or_insert_with(|| size.clone());
        }
        let zones: Vec<Location> = answer
            .facts
            .zones
            .iter()
            .filter_map(|zone| location(region, zone))
            .collect();
        let zone_ids: BTreeSet<&str> = zones.iter().map(|z| z.id.as_str()).collect();
        let offered: BTreeSet<(String, String)> = answer
            .facts
            .offered
            .iter()
            .filter(|(zone, size)| zone_ids.contains(zone.as_str()) && sizes.contains_key(size))
            .cloned()
            .collect();
        for (zone, size) in offered {
            let Some(hourly_price) = price(region, &size) else {
                continue;
            };
            priced.insert(size.clone());
            prices.push(Price {
                location: zone,
                size,
                hourly_price,
                currency: "USD".into(),
                capacity: None,
            });
        }
        locations.extend(zones);
        for (name, by_arch) in &answer.images {
            arches
                .entry(name.as_str())
                .or_default()
                .extend(by_arch.keys().map(String::as_str));
        }
    }
    let order = &table().order;
    let mut sizes: Vec<Size> = sizes
        .into_values()
        .filter(|s| priced.contains(&s.id))
        .collect();
    sizes.sort_by_key(|s| {
        (
            order.get(&s.id).copied().unwrap_or(usize::MAX),
            s.id.clone(),
        )
    });
    let rank: HashMap<&str, usize> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    prices.sort_by(|a, b| {
        (a.location.as_str(), rank.get(a.size.as_str()))
            .cmp(&(b.location.as_str(), rank.get(b.size.as_str())))
    });
    locations.sort_by(|a, b| a.id.cmp(&b.id));
    let images = specs
        .iter()
        .filter_map(|spec| {
            let found = arches.get(spec.name.as_str())?;
            let arch = match (found.contains("x86_64"), found.contains("arm64")) {
                (true, true) => "any",
                (true, false) => "x86_64",
                (false, true) => "arm64",
                (false, false) => return None,
            };
            Some(image(spec, arch))
        })
        .collect();
    Catalog {
        locations,
        sizes,
        images,
        prices,
        source: Some(source),
    }
}

fn image(spec: &ImageSpec, arch: &str) -> Image {
    Image {
        id: spec.name.clone(),
        name: spec.name.clone(),
        os: spec.os.clone(),
        version: spec.version.clone(),
        arch: arch.to_string(),
    }
}

/// The price table's offerings for `regions` (its assumed zones `a`, `b`, `c`), for when the
/// API cannot be asked. `why` says why, for `source`.
pub fn from_price_table(regions: &[String], specs: &[ImageSpec], why: &str) -> Catalog {
    let table = aws::price_table();
    let locations: Vec<Location> = table
        .locations
        .iter()
        .filter(|l| regions.contains(&l.region) && l.zone.len() == l.region.len() + 1)
        .cloned()
        .collect();
    let ids: BTreeSet<&str> = locations.iter().map(|l| l.id.as_str()).collect();
    let prices: Vec<Price> = table
        .prices
        .iter()
        .filter(|p| ids.contains(p.location.as_str()))
        .cloned()
        .collect();
    let priced: BTreeSet<&str> = prices.iter().map(|p| p.size.as_str()).collect();
    let sizes = table
        .sizes
        .iter()
        .filter(|s| priced.contains(s.id.as_str()))
        .cloned()
        .collect();
    Catalog {
        locations,
        sizes,
        images: specs.iter().map(|spec| image(spec, "any")).collect(),
        prices,
        source: Some(format!(
            "AWS price table only ({why}); {}",
            table.source.as_deref().unwrap_or("shipped price table")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::aws::images;

    fn parse(text: &str) -> Element {
        Element::parse(text).unwrap()
    }

    fn sydney() -> RegionAnswers {
        let zones = parse(
            "<R><availabilityZoneInfo>\
                 <item><zoneName>ap-southeast-2b</zoneName><zoneState>available</zoneState><zoneType>availability-zone</zoneType></item>\
                 <item><zoneName>ap-southeast-2a</zoneName><zoneState>available</zoneState></item>\
                 <item><zoneName>ap-southeast-2-akl-1a</zoneName><zoneState>available</zoneState><zoneType>local-zone</zoneType></item>\
                 <item><zoneName>ap-southeast-2c</zoneName><zoneState>impaired</zoneState></item>\
                 </availabilityZoneInfo></R>",
        );
        let offerings = vec![parse(
            "<R><instanceTypeOfferingSet>\
                 <item><instanceType>t3.micro</instanceType><location>ap-southeast-2a</location></item>\
                 <item><instanceType>t3.micro</instanceType><location>ap-southeast-2b</location></item>\
                 <item><instanceType>t4g.micro</instanceType><location>ap-southeast-2b</location></item>\
                 <item><instanceType>zz9.plural</instanceType><location>ap-southeast-2b</location></item>\
                 <item><instanceType>mac1.metal</instanceType><location>ap-southeast-2b</location></item>\
                 </instanceTypeOfferingSet></R>",
        )];
        let types = vec![parse(
            "<R><instanceTypeSet>\
                 <item><instanceType>t3.micro</instanceType><vCpuInfo><defaultVCpus>2</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>1024</sizeInMiB></memoryInfo><processorInfo><supportedArchitectures><item>x86_64</item></supportedArchitectures></processorInfo></item>\
                 <item><instanceType>t4g.micro</instanceType><vCpuInfo><defaultVCpus>2</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>1024</sizeInMiB></memoryInfo><processorInfo><supportedArchitectures><item>arm64</item></supportedArchitectures></processorInfo></item>\
                 <item><instanceType>zz9.plural</instanceType><vCpuInfo><defaultVCpus>9</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>9216</sizeInMiB></memoryInfo><processorInfo><supportedArchitectures><item>x86_64</item></supportedArchitectures></processorInfo></item>\
                 <item><instanceType>mac1.metal</instanceType><vCpuInfo><defaultVCpus>12</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>32768</sizeInMiB></memoryInfo><processorInfo><supportedArchitectures><item>x86_64_mac</item></supportedArchitectures></processorInfo></item>\
                 </instanceTypeSet></R>",
        )];
        RegionAnswers {
            region: "ap-southeast-2".into(),
            facts: RegionFacts::from_answers(&zones, &offerings, &types),
            images: BTreeMap::from([(
                "amazon-linux-2023".to_string(),
                BTreeMap::from([
                    ("x86_64".to_string(), "ami-x".to_string()),
                    ("arm64".to_string(), "ami-a".to_string()),
                ]),
            )]),
        }
    }

    #[test]
    fn zones_types_and_images_from_the_api_with_table_prices() {
        let catalog = assemble(&[sydney()], &images::defaults(), "test".into());
        let zones: Vec<&str> = catalog.locations.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(zones, ["ap-southeast-2a", "ap-southeast-2b"]);
        let a = &catalog.locations[0];
        assert_eq!(
            (a.country.as_str(), a.continent.as_str(), a.region.as_str()),
            ("AU", "oceania", "ap-southeast-2")
        );
        assert_eq!(a.name, "Asia Pacific (Sydney) a");
        // Unpriced (zz9.plural) and Mac types are left out.
        let sizes: Vec<&str> = catalog.sizes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(sizes, ["t3.micro", "t4g.micro"]);
        assert_eq!(catalog.sizes[1].arch, "arm64");
        assert_eq!(catalog.sizes[0].memory_gib, 1.0);
        let offers: Vec<(&str, &str)> = catalog
            .prices
            .iter()
            .map(|p| (p.location.as_str(), p.size.as_str()))
            .collect();
        assert_eq!(
            offers,
            [
                ("ap-southeast-2a", "t3.micro"),
                ("ap-southeast-2b", "t3.micro"),
                ("ap-southeast-2b", "t4g.micro")
            ]
        );
        assert_eq!(
            Some(catalog.prices[0].hourly_price),
            price("ap-southeast-2", "t3.micro")
        );
        // Only the image that resolved is offered; it runs on both architectures.
        assert_eq!(catalog.images.len(), 1);
        assert_eq!(
            (
                catalog.images[0].id.as_str(),
                catalog.images[0].arch.as_str()
            ),
            ("amazon-linux-2023", "any")
        );
    }

    #[test]
    fn the_price_table_stands_in_for_an_unreachable_api() {
        let regions = vec!["ap-southeast-2".to_string(), "eu-west-1".to_string()];
        let catalog = from_price_table(&regions, &images::defaults(), "connection refused");
        let zones: BTreeSet<&str> = catalog.locations.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(zones.len(), 6, "{zones:?}");
        assert!(zones.contains("eu-west-1c"));
        assert!(
            catalog
                .prices
                .iter()
                .all(|p| zones.contains(p.location.as_str()))
        );
        assert_eq!(catalog.images.len(), 4);
        assert!(
            catalog
                .source
                .as_deref()
                .unwrap()
                .starts_with("AWS price table only (connection refused)")
        );
    }
}
