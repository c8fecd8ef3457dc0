//! The AWS EC2 catalog, derived from the price table shipped in the program.
//!
//! `data/aws-ec2-linux-prices.json` (on-demand Linux prices per instance type and region, from
//! apache-libcloud's Apache-2.0 pricing data; its `source` field says exactly where) is embedded
//! with `include_str!` and turned into a [`Catalog`] once, on first use. [`price_table`] is what
//! `oss catalog` shows for AWS, what the `sim` provider rehearses against, and where the AWS
//! driver takes its prices from.
//!
//! The price file holds prices only, so everything else is derived here:
//!
//! - **Locations**: one per availability zone. Region facts (display name, country, continent,
//!   approximate coordinates of the region's city) come from a hand-written table (`REGIONS`);
//!   a region in the price file without an entry there gets no locations and no prices (a unit
//!   test fails if that happens). Zones are *assumed* to be `<region>a`, `<region>b` and
//!   `<region>c` in every region; the real zone list (which differs per account and region)
//!   comes from `DescribeAvailabilityZones` in the AWS driver. The one price-file key that is not
//!   a region, the Los Angeles Local Zone group `us-west-2-lax-1`, becomes the zones
//!   `us-west-2-lax-1a` and `us-west-2-lax-1b` of region `us-west-2` (its parent region, the one
//!   whose API launches instances there).
//! - **Sizes**: one per instance type named `family.size`; see `spec` for the rules that
//!   derive vCPUs, memory and architecture from the name. Entries that are not `family.size`
//!   (the file has bare family names such as `c3` or `mac2`) are skipped. `disk_gib` is 0 for
//!   every size: the root disk is an EBS volume sized at launch, and instance-store volumes
//!   (`d` families, `i` families...) are not modelled.
//! - **Images**: symbolic, region-independent names (`IMAGES`) that the AWS driver resolves to
//!   AMI ids per region; ids equal names.
//! - **Prices**: for every (instance type, region) price in the file, one [`Price`] per zone of
//!   that region, in USD, with no known capacity.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use super::{Catalog, Image, Location, Price, Size};

/// The shipped price table.
const PRICE_FILE: &str = include_str!("../../data/aws-ec2-linux-prices.json");

/// The AWS EC2 catalog of the shipped price table, built on first call and shared afterwards.
pub fn price_table() -> &'static Catalog {
    &built().catalog
}

/// The date of the shipped price table (its `updated` field, `2025-03-02`).
pub fn price_table_date() -> &'static str {
    &built().updated
}

/// Where a price-file key is on the map. `key` is the price file's region key; `region` is the
/// AWS region whose API serves it (the same, except for Local Zone groups).
struct RegionFacts {
    key: &'static str,
    region: &'static str,
    name: &'static str,
    /// ISO 3166-1 alpha-2.
    country: &'static str,
    continent: &'static str,
    latitude: f64,
    longitude: f64,
    /// Zone letters, appended to `key` to name the zones.
    zones: &'static [&'static str],
}

const ABC: &[&str] = &["a", "b", "c"];

const fn region(
    key: &'static str,
    name: &'static str,
    country: &'static str,
    continent: &'static str,
    latitude: f64,
    longitude: f64,
) -> RegionFacts {
    RegionFacts {
        key,
        region: key,
        name,
        country,
        continent,
        latitude,
        longitude,
        zones: ABC,
    }
}

/// Every region of the price file, with the city its data centres are near (approximate
/// coordinates; the UAE, Spain, Mexico and GovCloud regions are placed at a plausible city).
#[rustfmt::skip]
const REGIONS: &[RegionFacts] = &[
    region("us-east-1", "US East (N. Virginia)", "US", "north-america", 39.04, -77.49),
    region("us-east-2", "US East (Ohio)", "US", "north-america", 39.96, -83.00),
    region("us-west-1", "US West (N. California)", "US", "north-america", 37.35, -121.96),
    region("us-west-2", "US West (Oregon)", "US", "north-america", 45.84, -119.70),
    RegionFacts {
        key: "us-west-2-lax-1",
        region: "us-west-2",
        name: "US West (Los Angeles)",
        country: "US",
        continent: "north-america",
        latitude: 34.05,
        longitude: -118.24,
        zones: &["a", "b"],
    },
    region("us-gov-east-1", "AWS GovCloud (US-East)", "US", "north-america", 39.96, -83.00),
    region("us-gov-west-1", "AWS GovCloud (US-West)", "US", "north-america", 45.60, -121.18),
    region("ca-central-1", "Canada (Central)", "CA", "north-america", 45.50, -73.57),
    region("ca-west-1", "Canada West (Calgary)", "CA", "north-america", 51.05, -114.07),
    region("mx-central-1", "Mexico (Central)", "MX", "north-america", 20.59, -100.39),
    region("sa-east-1", "South America (Sao Paulo)", "BR", "south-america", -23.55, -46.63),
    region("eu-west-1", "Europe (Ireland)", "IE", "europe", 53.35, -6.26),
    region("eu-west-2", "Europe (London)", "GB", "europe", 51.51, -0.13),
    region("eu-west-3", "Europe (Paris)", "FR", "europe", 48.86, 2.35),
    region("eu-central-1", "Europe (Frankfurt)", "DE", "europe", 50.11, 8.68),
    region("eu-central-2", "Europe (Zurich)", "CH", "europe", 47.38, 8.54),
    region("eu-north-1", "Europe (Stockholm)", "SE", "europe", 59.33, 18.07),
    region("eu-south-1", "Europe (Milan)", "IT", "europe", 45.46, 9.19),
    region("eu-south-2", "Europe (Spain)", "ES", "europe", 41.65, -0.88),
    region("af-south-1", "Africa (Cape Town)", "ZA", "africa", -33.92, 18.42),
    region("il-central-1", "Israel (Tel Aviv)", "IL", "asia", 32.09, 34.78),
    region("me-south-1", "Middle East (Bahrain)", "BH", "asia", 26.23, 50.59),
    region("me-central-1", "Middle East (UAE)", "AE", "asia", 25.20, 55.27),
    region("ap-south-1", "Asia Pacific (Mumbai)", "IN", "asia", 19.08, 72.88),
    region("ap-south-2", "Asia Pacific (Hyderabad)", "IN", "asia", 17.39, 78.49),
    region("ap-east-1", "Asia Pacific (Hong Kong)", "HK", "asia", 22.32, 114.17),
    region("ap-northeast-1", "Asia Pacific (Tokyo)", "JP", "asia", 35.68, 139.69),
    region("ap-northeast-2", "Asia Pacific (Seoul)", "KR", "asia", 37.57, 126.98),
    region("ap-northeast-3", "Asia Pacific (Osaka)", "JP", "asia", 34.69, 135.50),
    region("ap-southeast-1", "Asia Pacific (Singapore)", "SG", "asia", 1.35, 103.82),
    region("ap-southeast-3", "Asia Pacific (Jakarta)", "ID", "asia", -6.21, 106.85),
    region("ap-southeast-5", "Asia Pacific (Malaysia)", "MY", "asia", 3.139, 101.687),
    region("ap-southeast-7", "Asia Pacific (Thailand)", "TH", "asia", 13.76, 100.50),
    region("ap-southeast-2", "Asia Pacific (Sydney)", "AU", "oceania", -33.87, 151.21),
    region("ap-southeast-4", "Asia Pacific (Melbourne)", "AU", "oceania", -37.81, 144.96),
];

/// Symbolic images: (name, OS family, version).
const IMAGES: &[(&str, &str, &str)] = &[
    ("ubuntu-24.04", "ubuntu", "24.04"),
    ("ubuntu-22.04", "ubuntu", "22.04"),
    ("debian-12", "debian", "12"),
    ("amazon-linux-2023", "amazon-linux", "2023"),
];

/// What an instance type is, as far as its name tells.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spec {
    vcpus: u32,
    memory_gib: f64,
    arch: &'static str,
}

/// Instance types whose specs no family rule gives: previous-generation oddities, sizes with
/// more (or fewer) vCPUs than their name suggests, and HPC types (one core per vCPU, the same
/// memory at every size). Exact, from the EC2 instance-type documentation.
const EXACT: &[(&str, u32, f64)] = &[
    ("t1.micro", 1, 0.613),
    ("m1.small", 1, 1.7),
    ("m2.xlarge", 2, 17.1),
    ("m2.2xlarge", 4, 34.2),
    ("m2.4xlarge", 8, 68.4),
    ("c1.medium", 2, 1.7),
    ("c1.xlarge", 8, 7.0),
    ("cc2.8xlarge", 32, 60.5),
    ("c4.8xlarge", 36, 60.0),
    ("c5n.9xlarge", 36, 96.0),
    ("c5n.18xlarge", 72, 192.0),
    ("c5n.metal", 72, 192.0),
    ("d2.8xlarge", 36, 244.0),
    ("hs1.8xlarge", 16, 117.0),
    ("i3.metal", 72, 512.0),
    ("g4dn.metal", 96, 384.0),
    ("p2.16xlarge", 64, 732.0),
    ("hpc6a.48xlarge", 96, 384.0),
    ("hpc6id.32xlarge", 64, 1024.0),
    ("hpc7a.12xlarge", 24, 768.0),
    ("hpc7a.24xlarge", 48, 768.0),
    ("hpc7a.48xlarge", 96, 768.0),
    ("hpc7a.96xlarge", 192, 768.0),
    ("hpc7g.4xlarge", 16, 128.0),
    ("hpc7g.8xlarge", 32, 128.0),
    ("hpc7g.16xlarge", 64, 128.0),
];

/// Burstable sizes: (size, vCPUs in t2, vCPUs in t3/t3a/t4g, memory GiB).
const BURSTABLE: &[(&str, u32, u32, f64)] = &[
    ("nano", 1, 2, 0.5),
    ("micro", 1, 2, 1.0),
    ("small", 1, 2, 2.0),
    ("medium", 2, 2, 4.0),
    ("large", 2, 2, 8.0),
    ("xlarge", 4, 4, 16.0),
    ("2xlarge", 8, 8, 32.0),
];

/// GiB of memory per vCPU of families that differ from their series' default (see
/// [`gib_per_vcpu`]): older generations, accelerated families, storage families.
const FAMILY_MEMORY: &[(&str, f64)] = &[
    ("a1", 2.0),
    ("c3", 1.875),
    ("c4", 1.875),
    ("c5n", 2.625),
    ("m1", 3.75),
    ("m3", 3.75),
    ("r3", 7.625),
    ("r4", 7.625),
    ("cr1", 7.625),
    ("x1", 15.25),
    ("x1e", 30.5),
    ("i2", 7.625),
    ("i3", 7.625),
    ("i3p", 7.625),
    ("im4gn", 4.0),
    ("is4gen", 6.0),
    ("d2", 7.625),
    ("d3en", 4.0),
    ("g2", 1.875),
    ("g3", 7.625),
    ("g3s", 7.625),
    ("g5g", 2.0),
    ("g6e", 8.0),
    ("gr6", 8.0),
    ("p2", 15.25),
    ("p3", 7.625),
    ("p3dn", 8.0),
    ("p4d", 12.0),
    ("p4de", 12.0),
    ("p5", 2048.0 / 192.0),
    ("p5en", 2048.0 / 192.0),
    ("f1", 15.25),
    ("f2", 2048.0 / 192.0),
    ("inf1", 2.0),
    ("vt1", 2.0),
    ("dl1", 8.0),
    ("dl2q", 8.0),
];

/// A family name split at its generation: `c7gn` is series `c`, generation 7, attributes
/// `gn`; `u-12tb1` is series `u-`, generation 12, attributes `tb1`.
fn split_family(family: &str) -> Option<(&str, u32, &str)> {
    let digits_at = family.find(|c: char| c.is_ascii_digit())?;
    let (series, rest) = family.split_at(digits_at);
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let generation = rest[..digits_end].parse().ok()?;
    Some((series, generation, &rest[digits_end..]))
}

/// `arm64` for Graviton families (`a1`, and any family whose attributes start with `g`: `m6g`,
/// `c7gn`, `t4g`, `r8g`, `im4gn`, `g5g`...) and the Apple-silicon `mac2` families; else `x86_64`.
fn arch(family: &str) -> &'static str {
    let graviton = family == "a1"
        || split_family(family).is_some_and(|(_, _, attributes)| attributes.starts_with('g'));
    if graviton || family.starts_with("mac2") {
        "arm64"
    } else {
        "x86_64"
    }
}

/// vCPUs of a size suffix that scales with the family's default shape: `medium` 1, `large` 2,
/// `xlarge` 4, `Nxlarge` 4N, and `metal-Nxl` as `Nxlarge`. `None` for `metal` and burstable
/// suffixes, which need the family.
fn scaled_vcpus(size: &str) -> Option<u32> {
    let multiple = match size {
        "medium" => return Some(1),
        "large" => return Some(2),
        "xlarge" => 1,
        _ => {
            let n = size
                .strip_suffix("xlarge")
                .or_else(|| size.strip_prefix("metal-")?.strip_suffix("xl"))?;
            n.parse::<u32>().ok().filter(|n| *n > 0)?
        }
    };
    Some(4 * multiple)
}

/// GiB of memory per vCPU: [`FAMILY_MEMORY`] if the family is there, else by series: `c` 2,
/// `m` 4, `r` 8, `x` 16 (32 when the attributes have an `e`, as in `x2iedn`), `i`/`d`/`z` 8,
/// `g`/`h`/`inf`/`trn` 4. `None` for a family no rule covers.
fn gib_per_vcpu(family: &str) -> Option<f64> {
    if let Some((_, gib)) = FAMILY_MEMORY.iter().find(|(f, _)| *f == family) {
        return Some(*gib);
    }
    let (series, _, attributes) = split_family(family)?;
    Some(match series {
        "c" => 2.0,
        "m" => 4.0,
        "r" => 8.0,
        "x" if attributes.contains('e') => 32.0,
        "x" => 16.0,
        "i" | "d" | "z" => 8.0,
        "g" | "h" | "inf" | "trn" => 4.0,
        _ => return None,
    })
}

/// Total memory of the high-memory `u` families, in GiB, from the TiB in their name
/// (`u-12tb1`, `u7in-16tb`).
fn high_memory_gib(family: &str) -> Option<f64> {
    if !family.starts_with('u') {
        return None;
    }
    let before_tb = &family[..family.find("tb")?];
    let digits_at = before_tb
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let tib: u32 = before_tb[digits_at..].parse().ok()?;
    Some(f64::from(tib) * 1024.0)
}

/// The specs of instance type `family.size`, derived from its name (the price file has no
/// specs). `largest` gives the vCPUs of the family's largest non-metal size in the price file,
/// which plain `metal` sizes take.
///
/// In order:
/// 1. [`EXACT`] lists the types no rule fits.
/// 2. Burstable `t2`/`t3`/`t3a`/`t4g` sizes come from [`BURSTABLE`] (`t2` has 1 vCPU up to
///    `small`, the others 2; memory doubles from 0.5 GiB at `nano` to 32 GiB at `2xlarge`).
/// 3. Otherwise vCPUs from the size ([`scaled_vcpus`]; `metal` takes the family's largest
///    size's vCPUs) times memory per vCPU ([`gib_per_vcpu`]); the `u` high-memory families have
///    their memory in their name ([`high_memory_gib`]).
///
/// Meant to be exact (the tests check documented specs of each kind) for the common families,
/// where memory per vCPU is the same at every size: t2, t3, t3a, t4g, a1, m4–m8, c4–c8 (c5n
/// through [`EXACT`]), r4–r8, x1, x1e, x2*, z1d, i3, i3en, i4*, d2, d3*, g4–g6, u. Memory that
/// does not divide evenly (`p5`, `f2`: 2048 GiB over 192 vCPUs) is rounded to 0.001 GiB.
/// Approximate, in decreasing confidence: plain `metal` sizes outside [`EXACT`] take the
/// family's largest size's shape (true of the documented metal sizes we know, not checked one
/// by one, `c6gn.metal` for one); previous-generation and specialised families (`m1`–`m3`,
/// `c3`, `r3`, `cr1`, `i2`, `i3p`, `g2`, `g3`, `p2`–`p5`, `f1`, `f2`, `inf*`, `trn*`, `vt1`,
/// `dl*`) had fewer checks; and a family new to the file takes its series' default, which can
/// be wrong (a `FAMILY_MEMORY` entry fixes it).
fn spec(family: &str, size: &str, largest: Option<u32>) -> Option<Spec> {
    let arch = arch(family);
    let name_is = |t: &str| t.split_once('.') == Some((family, size));
    if let Some((_, vcpus, memory_gib)) = EXACT.iter().find(|(t, _, _)| name_is(t)) {
        return Some(Spec {
            vcpus: *vcpus,
            memory_gib: *memory_gib,
            arch,
        });
    }
    let (series, generation, _) = split_family(family)?;
    if series == "t" && generation >= 2 {
        let (_, t2, later, memory_gib) = BURSTABLE.iter().find(|(s, ..)| *s == size)?;
        let vcpus = if generation == 2 { *t2 } else { *later };
        return Some(Spec {
            vcpus,
            memory_gib: *memory_gib,
            arch,
        });
    }
    let vcpus = match size {
        "metal" => largest?,
        _ => scaled_vcpus(size)?,
    };
    let memory_gib = match high_memory_gib(family) {
        Some(total) => total,
        None => (f64::from(vcpus) * gib_per_vcpu(family)? * 1000.0).round() / 1000.0,
    };
    Some(Spec {
        vcpus,
        memory_gib,
        arch,
    })
}

#[derive(Deserialize)]
struct PriceFile {
    source: String,
    updated: String,
    /// Instance type → region key → USD per hour.
    prices: BTreeMap<String, BTreeMap<String, f64>>,
}

struct Built {
    catalog: Catalog,
    updated: String,
    /// Price-file entries not named `family.size`, skipped. This and the next two fields are
    /// what the build left out; the tests check them, so nothing is dropped unnoticed.
    #[cfg_attr(not(test), expect(dead_code))]
    skipped: Vec<String>,
    /// `family.size` entries no rule gives specs for (none in the shipped file).
    #[cfg_attr(not(test), expect(dead_code))]
    unknown: Vec<String>,
    /// Region keys of the price file with no [`REGIONS`] entry (none in the shipped file).
    #[cfg_attr(not(test), expect(dead_code))]
    unknown_regions: Vec<String>,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| build(PRICE_FILE))
}

fn build(text: &str) -> Built {
    let file: PriceFile =
        serde_json::from_str(text).expect("the shipped AWS price table is valid JSON");

    let present: BTreeSet<&str> = file
        .prices
        .values()
        .flat_map(|by_region| by_region.keys().map(String::as_str))
        .collect();
    let regions: Vec<&RegionFacts> = REGIONS.iter().filter(|r| present.contains(r.key)).collect();
    let unknown_regions = present
        .iter()
        .filter(|key| !REGIONS.iter().any(|r| r.key == **key))
        .map(|key| key.to_string())
        .collect();

    let mut locations = Vec::new();
    let mut zone_ids: HashMap<&str, Vec<String>> = HashMap::new();
    for facts in &regions {
        let ids = zone_ids.entry(facts.key).or_default();
        for letter in facts.zones {
            let zone = format!("{}{letter}", facts.key);
            ids.push(zone.clone());
            locations.push(Location {
                id: zone.clone(),
                name: format!("{} {letter}", facts.name),
                region: facts.region.to_string(),
                zone,
                country: facts.country.to_string(),
                continent: facts.continent.to_string(),
                latitude: facts.latitude,
                longitude: facts.longitude,
            });
        }
    }

    // Split the names; the largest non-metal size of each family sizes its `metal`.
    let mut skipped = Vec::new();
    let mut named = Vec::new();
    for (name, by_region) in &file.prices {
        match name.split_once('.') {
            Some((family, size)) if !family.is_empty() && !size.is_empty() => {
                named.push((name.as_str(), family, size, by_region))
            }
            _ => skipped.push(name.clone()),
        }
    }
    let mut largest: HashMap<&str, u32> = HashMap::new();
    for (_, family, size, _) in &named {
        if *size != "metal"
            && let Some(spec) = spec(family, size, None)
        {
            let most = largest.entry(*family).or_default();
            *most = (*most).max(spec.vcpus);
        }
    }

    let mut unknown = Vec::new();
    let mut sized = Vec::new();
    for (name, family, size, by_region) in named {
        match spec(family, size, largest.get(family).copied()) {
            Some(spec) => sized.push((name, family, spec, by_region)),
            None => unknown.push(name.to_string()),
        }
    }
    // Family by family, smallest first.
    sized.sort_by(|a, b| {
        (a.1.cmp(b.1))
            .then(a.2.vcpus.cmp(&b.2.vcpus))
            .then(a.2.memory_gib.total_cmp(&b.2.memory_gib))
            .then(a.0.cmp(b.0))
    });

    let mut sizes = Vec::with_capacity(sized.len());
    let mut prices = Vec::new();
    for (name, _, spec, by_region) in &sized {
        sizes.push(Size {
            id: name.to_string(),
            name: name.to_string(),
            vcpus: spec.vcpus,
            memory_gib: spec.memory_gib,
            disk_gib: 0,
            arch: spec.arch.to_string(),
        });
        for facts in &regions {
            let Some(hourly_price) = by_region.get(facts.key) else {
                continue;
            };
            for zone in &zone_ids[facts.key] {
                prices.push(Price {
                    location: zone.clone(),
                    size: name.to_string(),
                    hourly_price: *hourly_price,
                    currency: "USD".to_string(),
                    capacity: None,
                });
            }
        }
    }

    let images = IMAGES
        .iter()
        .map(|(name, os, version)| Image {
            id: name.to_string(),
            name: name.to_string(),
            os: os.to_string(),
            version: version.to_string(),
            arch: "any".to_string(),
        })
        .collect();

    // "apache-libcloud 3.9.1, file libcloud/data/pricing.json, ..." → "apache-libcloud 3.9.1".
    let origin = file.source.split(',').next().unwrap_or_default().trim();
    let source = format!(
        "AWS EC2 on-demand Linux prices of {}, from {origin} pricing data",
        file.updated
    );

    Built {
        catalog: Catalog {
            locations,
            sizes,
            images,
            prices,
            source: Some(source),
        },
        updated: file.updated,
        skipped,
        unknown,
        unknown_regions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(id: &str) -> &'static Size {
        price_table()
            .sizes
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{id} is in the catalog"))
    }

    #[track_caller]
    fn assert_spec(id: &str, vcpus: u32, memory_gib: f64, arch: &str) {
        let s = size(id);
        assert_eq!(
            (s.vcpus, s.memory_gib, s.arch.as_str()),
            (vcpus, memory_gib, arch),
            "{id}"
        );
    }

    fn file() -> serde_json::Value {
        serde_json::from_str(PRICE_FILE).unwrap()
    }

    fn file_price(size: &str, region: &str) -> f64 {
        file()["prices"][size][region].as_f64().unwrap()
    }

    fn price(size: &str, location: &str) -> &'static Price {
        price_table()
            .prices
            .iter()
            .find(|p| p.size == size && p.location == location)
            .unwrap_or_else(|| panic!("{size} is priced in {location}"))
    }

    #[test]
    fn every_region_of_the_file_has_facts() {
        assert_eq!(built().unknown_regions, Vec::<String>::new());
    }

    #[test]
    fn every_named_type_has_specs() {
        assert_eq!(built().unknown, Vec::<String>::new());
    }

    #[test]
    fn only_bare_family_names_are_skipped() {
        let skipped = &built().skipped;
        assert!(skipped.iter().all(|name| !name.contains('.')));
        assert!(skipped.contains(&"c3".to_string()));
        assert_eq!(skipped.len(), 77);
    }

    #[test]
    fn counts_match_the_file() {
        let catalog = price_table();
        let file = file();
        let prices = file["prices"].as_object().unwrap();
        let regions: BTreeSet<&str> = prices
            .values()
            .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
            .collect();
        assert_eq!(regions.len(), 35);
        // 34 regions of three zones, and the two zones of the Los Angeles Local Zone group.
        assert_eq!(catalog.locations.len(), 34 * 3 + 2);
        let named: Vec<(&String, &serde_json::Value)> = prices
            .iter()
            .filter(|(name, _)| name.contains('.'))
            .collect();
        assert_eq!(catalog.sizes.len(), named.len());
        assert_eq!(catalog.sizes.len(), 958 - 77);
        let zones = |key: &str| if key == "us-west-2-lax-1" { 2 } else { 3 };
        let expected: usize = named
            .iter()
            .flat_map(|(_, r)| r.as_object().unwrap().keys())
            .map(|key| zones(key.as_str()))
            .sum();
        assert_eq!(catalog.prices.len(), expected);
        assert!(catalog.prices.len() > 35_000);
    }

    #[test]
    fn prices_are_the_file_prices_in_every_zone() {
        let micro = file_price("t3.micro", "us-east-1");
        assert_eq!(micro, 0.0104);
        for zone in ["us-east-1a", "us-east-1b", "us-east-1c"] {
            let p = price("t3.micro", zone);
            assert_eq!(p.hourly_price, micro);
            assert_eq!(p.currency, "USD");
            assert_eq!(p.capacity, None);
        }
        assert_eq!(
            price("m5.large", "eu-west-1b").hourly_price,
            file_price("m5.large", "eu-west-1")
        );
        assert_eq!(
            price("c5.metal", "us-west-2-lax-1a").hourly_price,
            file_price("c5.metal", "us-west-2-lax-1")
        );
        // Types are only offered where the file prices them.
        let a1_regions = file()["prices"]["a1.large"].as_object().unwrap().len();
        let a1_prices = price_table()
            .prices
            .iter()
            .filter(|p| p.size == "a1.large")
            .count();
        assert_eq!(a1_prices, a1_regions * 3);
    }

    #[test]
    fn every_price_names_a_location_and_a_size() {
        let catalog = price_table();
        let locations: BTreeSet<&str> = catalog.locations.iter().map(|l| l.id.as_str()).collect();
        let sizes: BTreeSet<&str> = catalog.sizes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(locations.len(), catalog.locations.len());
        assert_eq!(sizes.len(), catalog.sizes.len());
        for p in &catalog.prices {
            assert!(locations.contains(p.location.as_str()), "{}", p.location);
            assert!(sizes.contains(p.size.as_str()), "{}", p.size);
            assert!(p.hourly_price > 0.0);
        }
    }

    #[test]
    fn locations_are_zones_with_geography() {
        let catalog = price_table();
        let sydney = catalog
            .locations
            .iter()
            .find(|l| l.id == "ap-southeast-2a")
            .unwrap();
        assert_eq!(sydney.name, "Asia Pacific (Sydney) a");
        assert_eq!(sydney.region, "ap-southeast-2");
        assert_eq!(sydney.zone, "ap-southeast-2a");
        assert_eq!(sydney.country, "AU");
        assert_eq!(sydney.continent, "oceania");
        assert!((sydney.latitude + 33.9).abs() < 1.0 && (sydney.longitude - 151.2).abs() < 1.0);
        let lax = catalog
            .locations
            .iter()
            .find(|l| l.id == "us-west-2-lax-1b")
            .unwrap();
        assert_eq!(
            (lax.region.as_str(), lax.zone.as_str()),
            ("us-west-2", "us-west-2-lax-1b")
        );
        let continents = [
            "africa",
            "asia",
            "europe",
            "north-america",
            "oceania",
            "south-america",
        ];
        for l in &catalog.locations {
            assert!(continents.contains(&l.continent.as_str()), "{}", l.id);
            assert!(
                l.country.len() == 2 && l.country.chars().all(|c| c.is_ascii_uppercase()),
                "{}",
                l.id
            );
            assert!(l.latitude.abs() <= 90.0 && l.longitude.abs() <= 180.0);
            assert!(l.id.starts_with(&l.region), "{}", l.id);
        }
        // Every region of the file, GovCloud included, is there.
        for region in ["us-gov-west-1", "us-gov-east-1", "af-south-1", "sa-east-1"] {
            assert!(
                catalog.locations.iter().any(|l| l.region == region),
                "{region}"
            );
        }
    }

    #[test]
    fn burstable_specs() {
        assert_spec("t3.nano", 2, 0.5, "x86_64");
        assert_spec("t3.micro", 2, 1.0, "x86_64");
        assert_spec("t3.medium", 2, 4.0, "x86_64");
        assert_spec("t3.2xlarge", 8, 32.0, "x86_64");
        assert_spec("t3a.xlarge", 4, 16.0, "x86_64");
        assert_spec("t2.micro", 1, 1.0, "x86_64");
        assert_spec("t2.medium", 2, 4.0, "x86_64");
        assert_spec("t4g.small", 2, 2.0, "arm64");
        assert_spec("t1.micro", 1, 0.613, "x86_64");
    }

    #[test]
    fn general_compute_and_memory_specs() {
        assert_spec("m5.large", 2, 8.0, "x86_64");
        assert_spec("m5.24xlarge", 96, 384.0, "x86_64");
        assert_spec("m5.metal", 96, 384.0, "x86_64");
        assert_spec("m4.10xlarge", 40, 160.0, "x86_64");
        assert_spec("m6g.large", 2, 8.0, "arm64");
        assert_spec("m6g.medium", 1, 4.0, "arm64");
        assert_spec("m7i.metal-48xl", 192, 768.0, "x86_64");
        assert_spec("m7i-flex.large", 2, 8.0, "x86_64");
        assert_spec("m3.medium", 1, 3.75, "x86_64");
        assert_spec("c5.xlarge", 4, 8.0, "x86_64");
        assert_spec("c5.9xlarge", 36, 72.0, "x86_64");
        assert_spec("c4.large", 2, 3.75, "x86_64");
        assert_spec("c4.8xlarge", 36, 60.0, "x86_64");
        assert_spec("c5n.large", 2, 5.25, "x86_64");
        assert_spec("c5n.18xlarge", 72, 192.0, "x86_64");
        assert_spec("c6a.metal", 192, 384.0, "x86_64");
        assert_spec("c7gn.xlarge", 4, 8.0, "arm64");
        assert_spec("r5.2xlarge", 8, 64.0, "x86_64");
        assert_spec("r4.large", 2, 15.25, "x86_64");
        assert_spec("r8g.metal-24xl", 96, 768.0, "arm64");
        assert_spec("r7iz.metal-16xl", 64, 512.0, "x86_64");
        assert_spec("x1e.xlarge", 4, 122.0, "x86_64");
        assert_spec("x1.32xlarge", 128, 1952.0, "x86_64");
        assert_spec("x2iedn.xlarge", 4, 128.0, "x86_64");
        assert_spec("x2gd.medium", 1, 16.0, "arm64");
        assert_spec("z1d.metal", 48, 384.0, "x86_64");
        assert_spec("a1.medium", 1, 2.0, "arm64");
        assert_spec("a1.metal", 16, 32.0, "arm64");
    }

    #[test]
    fn storage_accelerated_and_high_memory_specs() {
        assert_spec("i3.large", 2, 15.25, "x86_64");
        assert_spec("i3.metal", 72, 512.0, "x86_64");
        assert_spec("i3en.3xlarge", 12, 96.0, "x86_64");
        assert_spec("im4gn.large", 2, 8.0, "arm64");
        assert_spec("is4gen.medium", 1, 6.0, "arm64");
        assert_spec("d2.8xlarge", 36, 244.0, "x86_64");
        assert_spec("d3en.xlarge", 4, 16.0, "x86_64");
        assert_spec("g4dn.xlarge", 4, 16.0, "x86_64");
        assert_spec("g4dn.metal", 96, 384.0, "x86_64");
        assert_spec("g5g.xlarge", 4, 8.0, "arm64");
        assert_spec("p4d.24xlarge", 96, 1152.0, "x86_64");
        assert_spec("p5.48xlarge", 192, 2048.0, "x86_64");
        assert_spec("hpc7g.16xlarge", 64, 128.0, "arm64");
        assert_spec("u-6tb1.56xlarge", 224, 6144.0, "x86_64");
        assert_spec("u7in-32tb.224xlarge", 896, 32768.0, "x86_64");
        for s in &price_table().sizes {
            assert_eq!(s.disk_gib, 0, "{}", s.id);
            assert!(s.vcpus > 0 && s.memory_gib > 0.0, "{}", s.id);
        }
    }

    #[test]
    fn name_rules() {
        assert_eq!(split_family("c7gn"), Some(("c", 7, "gn")));
        assert_eq!(split_family("u-12tb1"), Some(("u-", 12, "tb1")));
        assert_eq!(split_family("mac"), None);
        assert_eq!(scaled_vcpus("metal-32xl"), Some(128));
        assert_eq!(scaled_vcpus("24xlarge"), Some(96));
        assert_eq!(scaled_vcpus("metal"), None);
        assert_eq!(scaled_vcpus("0xlarge"), None);
        assert_eq!(arch("g4dn"), "x86_64");
        assert_eq!(arch("c8g"), "arm64");
        assert_eq!(arch("u7i-12tb"), "x86_64");
        assert_eq!(high_memory_gib("u-12tb1"), Some(12288.0));
        assert_eq!(high_memory_gib("r5"), None);
    }

    #[test]
    fn images_and_source() {
        let catalog = price_table();
        let names: Vec<&str> = catalog.images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            names,
            [
                "ubuntu-24.04",
                "ubuntu-22.04",
                "debian-12",
                "amazon-linux-2023"
            ]
        );
        let al = &catalog.images[3];
        assert_eq!(
            (al.os.as_str(), al.version.as_str()),
            ("amazon-linux", "2023")
        );
        assert!(
            catalog
                .images
                .iter()
                .all(|i| i.arch == "any" && i.name == i.id)
        );
        assert_eq!(price_table_date(), "2025-03-02");
        assert_eq!(
            catalog.source.as_deref(),
            Some(
                "AWS EC2 on-demand Linux prices of 2025-03-02, from apache-libcloud 3.9.1 pricing data"
            )
        );
        assert!(
            file()["unit"]
                .as_str()
                .unwrap()
                .starts_with("USD per instance-hour")
        );
    }

    #[test]
    fn built_once() {
        assert!(std::ptr::eq(price_table(), price_table()));
    }
}
