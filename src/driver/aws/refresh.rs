//! Refresh: what exists of one lineage, batched per region (one DescribeInstances per page
//! of 1,000 instances, one DescribeKeyPairs, one DescribeSecurityGroups), matched against what
//! the state knows; objects of the lineage the state does not know are rebuilt from their tags
//! (orphans to adopt, or debris when they no longer run).

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
            tasks.spawn(scan(self.api.clone(), region, lineage.to_string()));
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
}

/// One region's instances (by lineage tag, one call per page of 1,000), key pairs and
/// security groups of `lineage`.
async fn scan(api: Arc<Api>, region: String, lineage: String) -> Result<Scan, DriverError> {
    let lineage_filter = format!("tag:{TAG_LINEAGE}");
    let instances = pages(
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
    );
    let key_params = Params::new()
        .filter(1, &lineage_filter, &[lineage.as_str()])
        .set("IncludePublicKey", "true");
    let keys = api.call(&region, "DescribeKeyPairs", &key_params, Repeat::Safe);
    let groups = pages(
        &api,
        &region,
        "DescribeSecurityGroups",
        Params::new().filter(1, &lineage_filter, &[lineage.as_str()]),
    );
    let (instances, keys, groups) = tokio::try_join!(instances, keys, groups)?;
    Ok(Scan {
        instances: instances.iter().flat_map(Instance::all).collect(),
        keys: KeyPair::all(&keys),
        groups: groups.iter().flat_map(Group::all).collect(),
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
