//! Images: the symbolic names strategies use (`ubuntu-24.04`, `amazon-linux-2023`...) mapped
//! to AMIs, per region and architecture.
//!
//! A name maps either to an AMI owner and name patterns (the newest available match per
//! architecture wins, as `aws ec2 describe-images` users pick "the latest Ubuntu") or to one
//! fixed `ami-…` id. The defaults name the publishers' official AMIs on real AWS; moto ships
//! the Amazon Linux 2023 AMIs under the same names, so `amazon-linux-2023` resolves there too.
//! The `images` setting adds names or overrides these.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::net::aws::xml::Element;

/// Where the AMIs of one image name come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The newest available AMI of `owner` (an account id or `amazon`) whose name matches
    /// one of `names` (EC2 filter wildcards `*` and `?`).
    Pattern { owner: String, names: Vec<String> },
    /// This AMI (ids are per region: for an emulator or a one-region fleet).
    Id(String),
}

/// One image name of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSpec {
    pub name: String,
    pub os: String,
    pub version: String,
    pub source: Source,
}

const CANONICAL: &str = "099720109477";
const DEBIAN: &str = "136693071363";

/// The built-in names, matching `catalog::aws::price_table()`'s symbolic images.
pub fn defaults() -> Vec<ImageSpec> {
    let pattern = |owner: &str, names: &[&str]| Source::Pattern {
        owner: owner.to_string(),
        names: names.iter().map(|n| n.to_string()).collect(),
    };
    vec![
        ImageSpec {
            name: "ubuntu-24.04".into(),
            os: "ubuntu".into(),
            version: "24.04".into(),
            source: pattern(
                CANONICAL,
                &["ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-*-server-*"],
            ),
        },
        ImageSpec {
            name: "ubuntu-22.04".into(),
            os: "ubuntu".into(),
            version: "22.04".into(),
            source: pattern(
                CANONICAL,
                &["ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-*-server-*"],
            ),
        },
        ImageSpec {
            name: "debian-12".into(),
            os: "debian".into(),
            version: "12".into(),
            source: pattern(DEBIAN, &["debian-12-amd64-*", "debian-12-arm64-*"]),
        },
        ImageSpec {
            name: "amazon-linux-2023".into(),
            os: "amazon-linux".into(),
            version: "2023".into(),
            source: pattern(
                "amazon",
                &["al2023-ami-2023.*-x86_64", "al2023-ami-2023.*-arm64"],
            ),
        },
    ]
}

/// The defaults with the `images` setting applied: `{"NAME": "ami-…"}` or
/// `{"NAME": {"owner": "…", "name": "pattern" | ["patterns"], "os": "…", "version": "…"}}`.
pub fn with_setting(value: Option<&Value>) -> Result<Vec<ImageSpec>, String> {
    let mut specs = defaults();
    let Some(value) = value else {
        return Ok(specs);
    };
    let Value::Object(map) = value else {
        return Err(
            "must be an object mapping image names to an AMI id or {\"owner\", \"name\"}".into(),
        );
    };
    for (name, entry) in map {
        let known = specs.iter().position(|s| s.name == *name);
        let (os, version) = known.map_or_else(
            || ("linux".to_string(), String::new()),
            |i| (specs[i].os.clone(), specs[i].version.clone()),
        );
        let spec = match entry {
            Value::String(id) if id.starts_with("ami-") => ImageSpec {
                name: name.clone(),
                os,
                version,
                source: Source::Id(id.clone()),
            },
            Value::Object(fields) => {
                if let Some(key) = fields
                    .keys()
                    .find(|k| !["owner", "name", "os", "version"].contains(&k.as_str()))
                {
                    return Err(format!(
                        "image \"{name}\": unknown key \"{key}\" (known: owner, name, os, version)"
                    ));
                }
                let text = |key: &str| fields.get(key).and_then(Value::as_str).map(String::from);
                let owner = text("owner").ok_or_else(|| {
                    format!("image \"{name}\" needs \"owner\" (an account id or \"amazon\")")
                })?;
                let names = match fields.get("name") {
                    Some(Value::String(p)) => vec![p.clone()],
                    Some(Value::Array(list)) if !list.is_empty() => list
                        .iter()
                        .map(|p| p.as_str().map(String::from))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            format!("image \"{name}\": \"name\" patterns must be strings")
                        })?,
                    _ => {
                        return Err(format!(
                            "image \"{name}\" needs \"name\": an AMI name pattern or a list of them"
                        ));
                    }
                };
                ImageSpec {
                    name: name.clone(),
                    os: text("os").unwrap_or(os),
                    version: text("version").unwrap_or(version),
                    source: Source::Pattern { owner, names },
                }
            }
            _ => {
                return Err(format!(
                    "image \"{name}\" must be an AMI id (\"ami-…\") or {{\"owner\": …, \"name\": …}}"
                ));
            }
        };
        match known {
            Some(i) => specs[i] = spec,
            None => specs.push(spec),
        }
    }
    Ok(specs)
}

/// The newest AMI per architecture (`x86_64`, `arm64`) of a DescribeImages answer.
pub fn newest_by_arch(answer: &Element) -> BTreeMap<String, String> {
    let mut best: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for image in answer.items("imagesSet") {
        let (Some(id), Some(arch)) = (
            image.text_at(&["imageId"]),
            image.text_at(&["architecture"]),
        ) else {
            continue;
        };
        if image
            .text_at(&["imageState"])
            .is_some_and(|s| s != "available")
        {
            continue;
        }
        let created = image.text_at(&["creationDate"]).unwrap_or_default();
        let name = image.text_at(&["name"]).unwrap_or_default();
        let candidate = (created.to_string(), name.to_string(), id.to_string());
        let entry = best.entry(arch.to_string()).or_default();
        if candidate > *entry {
            *entry = candidate;
        }
    }
    best.into_iter()
        .map(|(arch, (.., id))| (arch, id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_setting_overrides_and_adds_names() {
        let specs = with_setting(Some(&json!({
            "ubuntu-24.04": "ami-0123456789abcdef0",
            "ubuntu-16.04": {"owner": "099720109477", "name": "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-*", "os": "ubuntu", "version": "16.04"}
        })))
        .unwrap();
        let find = |n: &str| specs.iter().find(|s| s.name == n).unwrap();
        assert_eq!(
            find("ubuntu-24.04").source,
            Source::Id("ami-0123456789abcdef0".into())
        );
        assert_eq!(find("ubuntu-24.04").os, "ubuntu");
        assert_eq!(find("ubuntu-16.04").version, "16.04");
        assert_eq!(specs.len(), 5);
        for bad in [
            json!([]),
            json!({"x": 3}),
            json!({"x": "not-an-ami"}),
            json!({"x": {"owner": "amazon"}}),
            json!({"x": {"name": "p"}}),
            json!({"x": {"owner": "amazon", "name": "p", "colour": "red"}}),
        ] {
            assert!(with_setting(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_newest_available_image_wins_per_arch() {
        let answer = Element::parse(
            "<DescribeImagesResponse><imagesSet>\
             <item><imageId>ami-old</imageId><architecture>x86_64</architecture><creationDate>2024-01-01T00:00:00.000Z</creationDate><imageState>available</imageState><name>a</name></item>\
             <item><imageId>ami-new</imageId><architecture>x86_64</architecture><creationDate>2025-01-01T00:00:00.000Z</creationDate><imageState>available</imageState><name>b</name></item>\
             <item><imageId>ami-pending</imageId><architecture>x86_64</architecture><creationDate>2026-01-01T00:00:00.000Z</creationDate><imageState>pending</imageState><name>c</name></item>\
             <item><imageId>ami-arm</imageId><architecture>arm64</architecture><creationDate>2023-01-01T00:00:00.000Z</creationDate><imageState>available</imageState><name>d</name></item>\
             </imagesSet></DescribeImagesResponse>",
        )
        .unwrap();
        let best = newest_by_arch(&answer);
        assert_eq!(best["x86_64"], "ami-new");
        assert_eq!(best["arm64"], "ami-arm");
    }
}
