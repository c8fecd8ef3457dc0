//! Strategy options as filters over offerings: attribute equality as in the original tool
//! (`{"name": "small"}`, `{"id": "local-a"}`; a location's `name` matches its name or its id,
//! as the original tool named data centres: `{"name": "syd01"}`) plus constraints
//! (`min_vcpus`, `min_memory_gib`, `min_disk_gib`, `max_hourly_price`, `arch`, image
//! `os`/`version`/`name_pattern`, location `country`, `continent`, `region`, `near`). Also
//! ranks the closest non-matching offerings, for errors.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::{Image, Location, Size};

/// Option keys with a meaning beyond "the offering's attribute equals this".
const CONSTRAINTS: &[&str] = &[
    "min_vcpus",
    "max_vcpus",
    "min_memory_gib",
    "max_memory_gib",
    "min_disk_gib",
    "max_hourly_price",
    "near",
    "within_km",
    "name_pattern",
];

/// One strategy option of one block.
#[derive(Debug)]
pub struct Filter<'a> {
    option: &'a Map<String, Value>,
}

impl<'a> Filter<'a> {
    pub fn new(option: &'a Map<String, Value>) -> Self {
        Filter { option }
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.option.get(key).and_then(Value::as_f64)
    }

    /// The `max_hourly_price` bound, checked per offering (the price depends on the location).
    pub fn max_hourly_price(&self) -> Option<f64> {
        self.number("max_hourly_price")
    }

    /// How many of this option's conditions `attrs` fails (0: it matches). `extra` checks the
    /// constraints of the block; equality covers every other key.
    fn misses(
        &self,
        attrs: &Map<String, Value>,
        extra: impl Fn(&str, &Value) -> Option<bool>,
    ) -> usize {
        self.option
            .iter()
            .filter(|(key, want)| match extra(key, want) {
                Some(ok) => !ok,
                None if CONSTRAINTS.contains(&key.as_str()) => false,
                None => !equal(attrs.get(key.as_str()), want),
            })
            .count()
    }

    /// Conditions a location fails.
    pub fn location_misses(&self, location: &Location) -> usize {
        let attrs = attributes(location);
        self.misses(&attrs, |key, want| match key {
            "country" | "continent" | "region" | "zone" => Some(
                want.as_str()
                    .zip(attrs.get(key).and_then(Value::as_str))
                    .is_some_and(|(w, h)| w.eq_ignore_ascii_case(h)),
            ),
            "within_km" => Some(match (self.near(), want.as_f64()) {
                (Some(point), Some(km)) => distance_km(point, location) <= km,
                _ => false,
            }),
            "near" => Some(self.near().is_some()),
            "name" => Some(want.as_str().is_some_and(|w| {
                w.eq_ignore_ascii_case(&location.name) || w.eq_ignore_ascii_case(&location.id)
            })),
            _ => None,
        })
    }

    /// Conditions a size fails (`max_hourly_price` is checked per offering).
    pub fn size_misses(&self, size: &Size) -> usize {
        let attrs = attributes(size);
        self.misses(&attrs, |key, want| {
            let bound = want.as_f64();
            match key {
                "min_vcpus" => Some(bound.is_some_and(|b| f64::from(size.vcpus) >= b)),
                "max_vcpus" => Some(bound.is_some_and(|b| f64::from(size.vcpus) <= b)),
                "min_memory_gib" => Some(bound.is_some_and(|b| size.memory_gib >= b)),
                "max_memory_gib" => Some(bound.is_some_and(|b| size.memory_gib <= b)),
                // A size without a disk of its own (0) boots from a volume sized at launch.
                "min_disk_gib" => {
                    Some(bound.is_some_and(|b| size.disk_gib == 0 || f64::from(size.disk_gib) >= b))
                }
                "max_hourly_price" => Some(true),
                "arch" => Some(want.as_str().is_some_and(|a| arch_fits(a, &size.arch))),
                _ => None,
            }
        })
    }

    /// Conditions an image fails.
    pub fn image_misses(&self, image: &Image) -> usize {
        let attrs = attributes(image);
        self.misses(&attrs, |key, want| match key {
            "name_pattern" => Some(want.as_str().is_some_and(|p| glob(p, &image.name))),
            "os" | "version" => Some(
                want.as_str()
                    .zip(attrs.get(key).and_then(Value::as_str))
                    .is_some_and(|(w, h)| w.eq_ignore_ascii_case(h)),
            ),
            "arch" => Some(want.as_str().is_some_and(|a| arch_fits(a, &image.arch))),
            _ => None,
        })
    }

    /// The `near` point, if the option has one.
    pub fn near(&self) -> Option<(f64, f64)> {
        let near = self.option.get("near")?;
        Some((near.get("lat")?.as_f64()?, near.get("lon")?.as_f64()?))
    }
}

fn attributes<T: Serialize>(offering: &T) -> Map<String, Value> {
    match serde_json::to_value(offering) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn equal(have: Option<&Value>, want: &Value) -> bool {
    match (have, want) {
        (Some(Value::Number(h)), Value::Number(w)) => h.as_f64() == w.as_f64(),
        (Some(h), w) => h == w,
        (None, _) => false,
    }
}

/// Whether something built for `want` runs on `have` (`any` fits both).
pub fn arch_fits(want: &str, have: &str) -> bool {
    want == "any" || have == "any" || want.eq_ignore_ascii_case(have)
}

/// Great-circle distance in km (haversine, mean Earth radius).
pub fn distance_km((lat, lon): (f64, f64), location: &Location) -> f64 {
    let (p1, p2) = (lat.to_radians(), location.latitude.to_radians());
    let dp = p2 - p1;
    let dl = (location.longitude - lon).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}

/// Shell-style pattern: `*` any run of characters, `?` one character; case-sensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn sydney() -> Location {
        Location {
            id: "ap-southeast-2a".into(),
            name: "Sydney a".into(),
            region: "ap-southeast-2".into(),
            zone: "ap-southeast-2a".into(),
            country: "AU".into(),
            continent: "oceania".into(),
            latitude: -33.87,
            longitude: 151.21,
        }
    }

    #[test]
    fn locations_match_by_attribute_geography_and_distance() {
        let l = sydney();
        let f = |v| Filter::new(&filter(v)).location_misses(&l);
        assert_eq!(f(json!({"id": "ap-southeast-2a"})), 0);
        assert_eq!(f(json!({"country": "au", "continent": "Oceania"})), 0);
        assert_eq!(f(json!({"region": "us-east-1"})), 1);
        assert_eq!(
            f(json!({"near": {"lat": -37.81, "lon": 144.96}, "within_km": 800})),
            0
        );
        assert_eq!(
            f(json!({"near": {"lat": -37.81, "lon": 144.96}, "within_km": 500})),
            1
        );
        assert_eq!(f(json!({"name": "Sydney a"})), 0);
        assert_eq!(
            f(json!({"name": "AP-SOUTHEAST-2A"})),
            0,
            "a name matches the id too"
        );
        assert_eq!(f(json!({"name": "syd01"})), 1);
        let syd01 = Location {
            id: "syd01".into(),
            name: "Sydney 1".into(),
            ..sydney()
        };
        assert_eq!(
            Filter::new(&filter(json!({"name": "syd01"}))).location_misses(&syd01),
            0
        );
        let km = distance_km((-37.81, 144.96), &l);
        assert!(
            (700.0..730.0).contains(&km),
            "Melbourne–Sydney is about 714 km, got {km}"
        );
    }

    #[test]
    fn sizes_match_by_constraints() {
        let s = Size {
            id: "m5.large".into(),
            name: "m5.large".into(),
            vcpus: 2,
            memory_gib: 8.0,
            disk_gib: 0,
            arch: "x86_64".into(),
        };
        let f = |v| Filter::new(&filter(v)).size_misses(&s);
        assert_eq!(f(json!({"min_vcpus": 2, "min_memory_gib": 8})), 0);
        assert_eq!(f(json!({"min_vcpus": 4, "min_memory_gib": 16})), 2);
        assert_eq!(f(json!({"arch": "arm64"})), 1);
        assert_eq!(f(json!({"vcpus": 2, "max_hourly_price": 0.01})), 0);
        assert_eq!(f(json!({"name": "m5.xlarge"})), 1);
        // No disk of its own: the root volume is sized at launch, any minimum fits.
        assert_eq!(f(json!({"min_disk_gib": 100})), 0);
        let with_disk = |disk_gib| Size {
            disk_gib,
            ..s.clone()
        };
        let d = |v, size: &Size| Filter::new(&filter(v)).size_misses(size);
        assert_eq!(d(json!({"min_disk_gib": 100}), &with_disk(100)), 0);
        assert_eq!(d(json!({"min_disk_gib": 100}), &with_disk(80)), 1);
        assert_eq!(
            d(
                json!({"min_vcpus": 4, "min_memory_gib": 8, "min_disk_gib": 100}),
                &with_disk(10)
            ),
            2
        );
    }

    #[test]
    fn images_match_by_os_version_and_pattern() {
        let i = Image {
            id: "ubuntu-22.04".into(),
            name: "ubuntu-22.04".into(),
            os: "ubuntu".into(),
            version: "22.04".into(),
            arch: "any".into(),
        };
        let f = |v| Filter::new(&filter(v)).image_misses(&i);
        assert_eq!(
            f(json!({"os": "Ubuntu", "version": "22.04", "arch": "arm64"})),
            0
        );
        assert_eq!(f(json!({"name_pattern": "ubuntu-2?.*"})), 0);
        assert_eq!(f(json!({"name_pattern": "debian-*"})), 1);
    }

    #[test]
    fn glob_patterns() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*-22.04*", "ubuntu-22.04-lts"));
        assert!(!glob("ubuntu", "ubuntu-22"));
    }
}
