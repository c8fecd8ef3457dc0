//! Refresh: what exists of one lineage, batched per region (one DescribeInstances per page
//! of 1,000 instances), matched against what the state knows; objects of the lineage the
//! state does not know are rebuilt from their tags (orphans to adopt, or debris when they no
//! longer run).
//!
//! Key pairs and security groups are listed (one DescribeKeyPairs, one DescribeSecurityGroups
//! by lineage tag) only where the instances cannot vouch for them ([`Held::needs`]): a group
//! an instance uses exists (EC2 refuses to delete it), and so, as far as refresh tells, does
//! its key pair. They are listed when the state holds one that no instance uses, when an
//! instance uses one the state does not hold, when a node's recorded dependencies name one the
//! state lacks, and in a region where the state holds no node (a crash may have left them
//! alone). A steady fleet thus costs one call per region and 1,000 instances.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use tokio::task::JoinSet;

use super::client::{Api, Params, Repeat};
use super::ec2::{
    self, Group, Instance, KeyPair, TAG_ADDRESS, TAG_COMMAND, TAG_DEPENDENCIES, TAG_IMAGE,
    TAG_LINEAGE, TAG_NAME, TAG_PORTS, Tags, region_of,
};
use super::node::USER_DATA_HEAD;
use super::{AwsDriver, PAGE, lock, offerings, pages};
use crate::driver::{DriverError, Refreshed, Scope};
use crate::resource::{Address, Attributes, Existing, Kind, Placement};

impl AwsDriver {
    /// What exists of `lineage` in the configured regions and those `known` lives in.
    pub(super) async fn refresh_lineage(
        &self,
        lineage: &str,
        known: &[Existing],
    ) -> Result<Refreshed, DriverError> {
        if !self.api.has_credentials() {
            // Like an unreachable provider: planning goes on if it holds nothing of ours.
            return Err(DriverError::fail_over(format!(
                "Provider `{}` found no AWS credentials (provider block, profile, \
                 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials).",
                self.name
            ))
            .with_code("NoCredentials")
            .with_scope(Scope::Provider));
        }
        let regions: BTreeSet<String> = self
            .regions
            .iter()
            .cloned()
            .chain(known.iter().map(|e| region_of(&e.placement.location)))
            .collect();
        let mut tasks = JoinSet::new();
        for region in regions {
            let held = Held::of(known, &region);
            tasks.spawn(scan(self.api.clone(), region, lineage.to_string(), held));
        }
        let mut scans = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            scans.push(joined.map_err(|e| DriverError::fatal(format!("{e}")))??);
        }
        scans.sort_by(|a, b| a.region.cmp(&b.region));
        // What refresh saw is what launches of this process look in for instances to adopt.
        for scan in &scans {
            let live = self.by_address(scan.instances.iter().cloned());
            lock(&self.live).insert(
                (scan.region.clone(), lineage.to_string()),
                Arc::new(tokio::sync::OnceCell::new_with(Some(live))),
            );
        }

        // Key pair names repeat across regions: ids are per region.
        let known_ids: HashSet<(Kind, String, &str)> = known
            .iter()
            .map(|e| {
                (
                    e.kind,
                    region_of(&e.placement.location),
                    e.provider_id.as_str(),
                )
            })
            .collect();
        let known_addresses: HashSet<&Address> = known.iter().map(|e| &e.address).collect();
        let unknown =
            |kind: Kind, region: &str, id: &str, tags: &Tags, address: Option<Address>| {
                !known_ids.contains(&(kind, region.to_string(), id))
                    && address.is_some_and(|a| !known_addresses.contains(&a))
                    && self.ours(tags)
            };
        let tagged = |tags: &Tags| tags.get(TAG_ADDRESS).map(|a| Address(a.clone()));
        let mut refreshed = Refreshed::default();
        let mut seen: HashMap<(Kind, String, String), Attributes> = HashMap::new();
        for scan in &scans {
            for i in &scan.instances {
                if i.is_live() {
                    seen.insert(
                        (Kind::Node, scan.region.clone(), i.id.clone()),
                        i.observed(),
                    );
                }
                if unknown(Kind::Node, &scan.region, &i.id, &i.tags, i.address())
                    && let Some(existing) = self.node_from_tags(&scan.region, i).await
                {
                    if i.is_live() {
                        refreshed.orphans.push(existing);
                    } else {
                        refreshed.debris.push(existing);
                    }
                }
            }
            for key in &scan.keys {
                seen.insert(
                    (Kind::Key, scan.region.clone(), key.name.clone()),
                    key.observed(),
                );
                if unknown(
                    Kind::Key,
                    &scan.region,
                    &key.name,
                    &key.tags,
                    tagged(&key.tags),
                ) {
                    let mut extra = Attributes::new();
                    extra.insert(
                        "public_key".into(),
                        key.public_key
                            .as_deref()
                            .map_or(Value::Null, |k| Value::from(k.trim())),
                    );
                    refreshed.orphans.extend(self.regional_from_tags(
                        Kind::Key,
                        &scan.region,
                        &key.name,
                        &key.tags,
                        key.observed(),
                        extra,
                    ));
                }
            }
            for group in &scan.groups {
                seen.insert(
                    (Kind::Firewall, scan.region.clone(), group.id.clone()),
                    group.observed(),
                );
                if unknown(
                    Kind::Firewall,
                    &scan.region,
                    &group.id,
                    &group.tags,
                    tagged(&group.tags),
                ) {
                    let ports: Value = group
                        .tags
                        .get(TAG_PORTS)
                        .and_then(|p| serde_json::from_str(p).ok())
                        .unwrap_or_else(|| Value::from(group.open_ports.clone()));
                    let mut extra = Attributes::new();
                    let numbers: Vec<u16> =
                        serde_json::from_value(ports.clone()).unwrap_or_default();
                    if let Some(sources) = ec2::sources_of(&group.rules, &numbers) {
                        extra.insert("sources".into(), sources);
                    }
                    extra.insert("ports".into(), ports);
                    extra.insert("tags".into(), tags_value(&ec2::user_tags(&group.tags)));
                    refreshed.orphans.extend(self.regional_from_tags(
                        Kind::Firewall,
                        &scan.region,
                        &group.id,
                        &group.tags,
                        group.observed(),
                        extra,
                    ));
                }
            }
        }
        // What was not listed is vouched for by the instances that use it: as it was.
        for existing in known {
            let region = region_of(&existing.placement.location);
            let listed =
                scans
                    .iter()
                    .find(|s| s.region == region)
                    .is_none_or(|s| match existing.kind {
                        Kind::Key => s.listed.keys,
                        Kind::Firewall => s.listed.groups,
                        _ => true,
                    });
            if !listed {
                seen.insert(
                    (existing.kind, region, existing.provider_id.clone()),
                    existing.observed.clone(),
                );
            }
        }
        for existing in known {
            let region = region_of(&existing.placement.location);
            let observed = seen.remove(&(existing.kind, region, existing.provider_id.clone()));
            refreshed.known.insert(existing.address.clone(), observed);
        }
        Ok(refreshed)
    }

    /// Rebuilds the resource a lineage-tagged instance was created for, from its tags.
    pub(super) async fn node_from_tags(&self, region: &str, i: &Instance) -> Option<Existing> {
        let address = i.address()?;
        let index = address
            .as_str()
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.trim_end_matches(']').parse::<u64>().ok())
            .unwrap_or_default();
        let name = i.name();
        let ports: Value = i
            .tags
            .get(TAG_PORTS)
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_else(|| Value::Array(Vec::new()));
        let command = if i.tags.contains_key(TAG_COMMAND) {
            self.command_of(region, &i.id).await.unwrap_or_default()
        } else {
            String::new()
        };
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), Value::from(name));
        attributes.insert("index".into(), Value::from(index));
        attributes.insert("command".into(), Value::from(command));
        attributes.insert("ports".into(), ports);
        attributes.insert("tags".into(), tags_value(&ec2::user_tags(&i.tags)));
        let price = offerings::price(region, &i.instance_type);
        Some(Existing {
            address,
            kind: Kind::Node,
            placement: Placement {
                provider: self.name.clone(),
                location: i.zone.clone(),
                size: i.instance_type.clone(),
                image: i
                    .tags
                    .get(TAG_IMAGE)
                    .cloned()
                    .unwrap_or_else(|| i.image_id.clone()),
                hourly_price: price,
                currency: price.map(|_| "USD".to_string()),
            },
            provider_id: i.id.clone(),
            attributes,
            observed: i.observed(),
            dependencies: dependencies_of(&i.tags),
        })
    }

    /// The node command carried as an instance's user data.
    pub(super) async fn command_of(&self, region: &str, id: &str) -> Option<String> {
        let answer = self
            .call(
                region,
                "DescribeInstanceAttribute",
                Params::new()
                    .set("InstanceId", id)
                    .set("Attribute", "userData"),
            )
            .await
            .ok()?;
        let encoded = answer.text_at(&["userData", "value"])?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let body = text.strip_prefix(USER_DATA_HEAD).unwrap_or(&text);
        Some(body.strip_suffix('\n').unwrap_or(body).to_string())
    }

    pub(super) fn regional_from_tags(
        &self,
        kind: Kind,
        region: &str,
        id: &str,
        tags: &Tags,
        observed: Attributes,
        extra: Attributes,
    ) -> Option<Existing> {
        let mut attributes = Attributes::new();
        attributes.insert(
            "name".into(),
            Value::from(tags.get(TAG_NAME).cloned().unwrap_or_default()),
        );
        attributes.insert("region".into(), Value::from(region.to_string()));
        attributes.extend(extra);
        Some(Existing {
            address: Address(tags.get(TAG_ADDRESS)?.clone()),
            kind,
            placement: Placement {
                provider: self.name.clone(),
                location: region.to_string(),
                size: String::new(),
                image: String::new(),
                hourly_price: None,
                currency: None,
            },
            provider_id: id.to_string(),
            attributes,
            observed,
            dependencies: dependencies_of(tags),
        })
    }
}

/// What one region holds of a lineage.
struct Scan {
    region: String,
    instances: Vec<Instance>,
    keys: Vec<KeyPair>,
    groups: Vec<Group>,
    /// Which of key pairs and security groups were listed (the others were vouched for).
    listed: Needs,
}

/// Whether key pairs and security groups must be listed in a region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Needs {
    keys: bool,
    groups: bool,
}

/// What the state holds of this provider in one region, as far as listing keys and groups
/// depends on it.
#[derive(Debug, Default)]
struct Held {
    nodes: bool,
    /// Key pair names.
    keys: HashSet<String>,
    /// Security group ids.
    groups: HashSet<String>,
    /// A node's recorded dependency on a key pair (or group) the state does not hold.
    key_missing: bool,
    group_missing: bool,
}

impl Held {
    fn of(known: &[Existing], region: &str) -> Held {
        let here: Vec<&Existing> = known
            .iter()
            .filter(|e| region_of(&e.placement.location) == region)
            .collect();
        let ids = |kind: Kind| -> HashSet<String> {
            here.iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.provider_id.clone())
                .collect()
        };
        let addresses: HashSet<&Address> = known.iter().map(|e| &e.address).collect();
        let missing = |kind: Kind| {
            here.iter()
                .filter(|e| e.kind == Kind::Node)
                .flat_map(|e| &e.dependencies)
                .any(|d| {
                    d.as_str().starts_with(&format!("{}.", kind.word())) && !addresses.contains(d)
                })
        };
        Held {
            nodes: here.iter().any(|e| e.kind == Kind::Node),
            keys: ids(Kind::Key),
            groups: ids(Kind::Firewall),
            key_missing: missing(Kind::Key),
            group_missing: missing(Kind::Firewall),
        }
    }

    /// What the region's instances of the lineage leave unvouched.
    fn needs(&self, instances: &[Instance]) -> Needs {
        if !self.nodes {
            return Needs {
                keys: true,
                groups: true,
            };
        }
        let used_keys: HashSet<&str> = instances
            .iter()
            .filter_map(|i| i.key_name.as_deref())
            .collect();
        let used_groups: HashSet<&str> = instances
            .iter()
            .flat_map(|i| i.groups.iter().map(String::as_str))
            .collect();
        let differ = |held: &HashSet<String>, used: &HashSet<&str>| {
            held.len() != used.len() || held.iter().any(|h| !used.contains(h.as_str()))
        };
        Needs {
            keys: self.key_missing || differ(&self.keys, &used_keys),
            groups: self.group_missing || differ(&self.groups, &used_groups),
        }
    }
}

/// One region's instances (by lineage tag, one call per page of 1,000), then the key pairs
/// and security groups of `lineage` that they leave unvouched.
async fn scan(
    api: Arc<Api>,
    region: String,
    lineage: String,
    held: Held,
) -> Result<Scan, DriverError> {
    let lineage_filter = format!("tag:{TAG_LINEAGE}");
    let instances: Vec<Instance> = pages(
        &api,
        &region,
        "DescribeInstances",
        Params::new()
            .filter(1, &lineage_filter, &[lineage.as_str()])
            .filter(
                2,
                "instance-state-name",
                &["pending", "running", "stopping", "stopped"],
            )
            .set("MaxResults", PAGE),
    )
    .await?
    .iter()
    .flat_map(Instance::all)
    .collect();
    let listed = held.needs(&instances);
    let keys = async {
        if !listed.keys {
            return Ok(Vec::new());
        }
        let params = Params::new()
            .filter(1, &lineage_filter, &[lineage.as_str()])
            .set("IncludePublicKey", "true");
        let answer = api
            .call(&region, "DescribeKeyPairs", &params, Repeat::Safe)
            .await?;
        Ok::<_, DriverError>(KeyPair::all(&answer))
    };
    let groups = async {
        if !listed.groups {
            return Ok(Vec::new());
        }
        let params = Params::new().filter(1, &lineage_filter, &[lineage.as_str()]);
        let pages = pages(&api, &region, "DescribeSecurityGroups", params).await?;
        Ok::<_, DriverError>(pages.iter().flat_map(Group::all).collect::<Vec<_>>())
    };
    let (keys, groups) = tokio::try_join!(keys, groups)?;
    Ok(Scan {
        instances,
        keys,
        groups,
        listed,
        region,
    })
}

fn tags_value(tags: &Tags) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

fn dependencies_of(tags: &Tags) -> Vec<Address> {
    tags.get(TAG_DEPENDENCIES)
        .map(|d| {
            d.split(',')
                .filter(|a| !a.is_empty())
                .map(|a| Address(a.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(kind: Kind, address: &str, location: &str, id: &str, deps: &[&str]) -> Existing {
        Existing {
            address: Address(address.into()),
            kind,
            placement: Placement {
                provider: "aws".into(),
                location: location.into(),
                size: String::new(),
                image: String::new(),
                hourly_price: None,
                currency: None,
            },
            provider_id: id.into(),
            attributes: Attributes::new(),
            observed: Attributes::new(),
            dependencies: deps.iter().map(|d| Address(d.to_string())).collect(),
        }
    }

    fn instance(key: Option<&str>, groups: &[&str]) -> Instance {
        Instance {
            id: "i-1".into(),
            state: "running".into(),
            zone: "eu-west-1a".into(),
            instance_type: String::new(),
            image_id: String::new(),
            private_ip: None,
            public_ip: None,
            tags: Tags::new(),
            state_reason: None,
            launch_index: None,
            key_name: key.map(String::from),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn keys_and_groups_are_listed_only_where_the_instances_leave_them_unvouched() {
        let deps = ["key.aws.eu-west-1", "firewall.aws.eu-west-1"];
        let fleet = vec![
            existing(Kind::Key, deps[0], "eu-west-1", "oss-k", &[]),
            existing(Kind::Firewall, deps[1], "eu-west-1", "sg-1", &[]),
            existing(Kind::Node, "node.web[0]", "eu-west-1a", "i-1", &deps),
        ];
        let held = Held::of(&fleet, "eu-west-1");
        let none = Needs::default();
        let both = Needs {
            keys: true,
            groups: true,
        };
        // Every held object in use, nothing unknown in use: nothing to list.
        assert_eq!(held.needs(&[instance(Some("oss-k"), &["sg-1"])]), none);
        // A group no instance uses (or one the state does not hold) is listed.
        assert_eq!(
            held.needs(&[instance(Some("oss-k"), &["sg-2"])]),
            Needs {
                keys: false,
                groups: true
            }
        );
        // No instance left: nothing vouches.
        assert_eq!(held.needs(&[]), both);
        // A region without nodes in the state: a crash may have left objects alone.
        assert_eq!(Held::of(&fleet, "us-east-1").needs(&[]), both);
        // A node depends on a key the state lost: listed, to adopt it.
        let lost = vec![fleet[1].clone(), fleet[2].clone()];
        assert_eq!(
            Held::of(&lost, "eu-west-1").needs(&[instance(None, &["sg-1"])]),
            Needs {
                keys: true,
                groups: false
            }
        );
    }
}
