//! SSH keys and firewall groups. Both carry the state's lineage in their names (a key's
//! `name`, a group's `description`): a create after a crash finds its own by name and adopts
//! it.
//!
//! A key is registered once per public key: the key resources of several regions of one
//! state share it (the second finds the first's), and a public key the account already held
//! under another name is used but marked `owned: false`, so oss never deletes it.
//!
//! A firewall group holds one inbound rule per port, address family and source block (Vultr
//! drops all other inbound traffic and leaves outbound open). Rules are added and removed one
//! by one, so create and update both bring the group's rules to the group's ports: a group a
//! crash left half-ruled is completed, not duplicated.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{VultrCloud, attribute_name};
use crate::driver::rest_cloud::driver::RestObjects;
use crate::driver::rest_cloud::objects::{made, ports, sources};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Attributes, Desired, Existing, Kind};

/// One inbound TCP rule as oss states it: (ip_type, subnet, subnet_size, port).
type Rule = (String, String, u64, String);

/// The name of the key or firewall named `base`: the region and the lineage's first 8
/// characters added, so a create after a crash finds its own.
pub(super) fn object_name(base: &str, region: Option<&str>, lineage: &str) -> String {
    let short: String = lineage.chars().take(8).collect();
    match region {
        Some(region) => format!("{base}-{region}-{short}"),
        None => format!("{base}-{short}"),
    }
}

/// What state reports of a key.
pub(super) fn key_observed(key: &Value, owned: bool) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("key_name".into(), key["name"].clone());
    observed.insert("owned".into(), Value::Bool(owned));
    observed
}

/// What state reports of a firewall group: its description and rule count.
pub(super) fn firewall_observed(group: &Value) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("firewall_description".into(), group["description"].clone());
    observed.insert("rule_count".into(), group["rule_count"].clone());
    observed
}

/// A CIDR block as Vultr's rule fields: (ip_type, subnet, subnet_size).
fn block(cidr: &str) -> (String, String, u64) {
    let v6 = cidr.contains(':');
    let (subnet, size) = cidr.split_once('/').unwrap_or((cidr, ""));
    let size = size.parse().unwrap_or(if v6 { 128 } else { 32 });
    let ip_type = if v6 { "v6" } else { "v4" };
    (ip_type.into(), subnet.into(), size)
}

/// The group's ports as rules: TCP from anywhere (IPv4 and IPv6), or from the blocks of the
/// port's `sources` entry.
fn rules(attributes: &Attributes) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    for port in ports(attributes) {
        let blocks: Vec<String> = match sources(attributes, port) {
            Some(blocks) => blocks
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            None => vec!["0.0.0.0/0".into(), "::/0".into()],
        };
        for b in blocks {
            let (ip_type, subnet, size) = block(&b);
            out.insert((ip_type, subnet, size, port.to_string()));
        }
    }
    out
}

/// A rule as the API lists it, in oss's terms; `None` for a rule oss does not write.
fn listed_rule(rule: &Value) -> Option<Rule> {
    if !rule["protocol"].as_str()?.eq_ignore_ascii_case("tcp") {
        return None;
    }
    Some((
        rule["ip_type"].as_str()?.to_string(),
        rule["subnet"].as_str()?.to_string(),
        rule["subnet_size"].as_u64()?,
        rule["port"].as_str()?.to_string(),
    ))
}

#[async_trait]
impl RestObjects for VultrCloud {
    /// The account's keys.
    async fn list_keys(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/v2/ssh-keys", &[], "ssh_keys").await
    }

    /// The account's firewall groups.
    async fn list_firewalls(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/v2/firewalls", &[], "firewall_groups").await
    }

    async fn create_key(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let public_key = desired
            .attributes
            .get("public_key")
            .and_then(Value::as_str)
            .map(str::trim)
            .ok_or_else(|| {
                DriverError::fatal(format!(
                    "{} has no public key (set node.ssh_public_key).",
                    desired.address
                ))
                .with_code("MissingParameter")
            })?;
        let name = object_name(&attribute_name(desired), None, request.lineage);
        // One list finds the key registered before (by another region of this state, or by
        // the user); the account may hold the user's key even for a lineage this run made.
        let keys = self.list("/v2/ssh-keys", &[], "ssh_keys").await?;
        if let Some(existing) = keys
            .iter()
            .find(|k| k["ssh_key"].as_str().map(str::trim) == Some(public_key))
        {
            let owned = existing["name"] == name.as_str();
            return Ok(made(
                request,
                Kind::Key,
                id_text(existing),
                key_observed(existing, owned),
            ));
        }
        let body = json!({"name": name, "ssh_key": public_key});
        let answer = self
            .parts
            .rest
            .call(Method::Post, "/v2/ssh-keys", Some(&body), Repeat::Once)
            .await?;
        let key = &answer["ssh_key"];
        Ok(made(
            request,
            Kind::Key,
            id_text(key),
            key_observed(key, true),
        ))
    }

    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let region = request.placement.location.as_str();
        let name = object_name(&attribute_name(desired), Some(region), request.lineage);
        let mut found = None;
        if !self.parts.adoption.is_new(request.lineage) {
            let groups = self.list("/v2/firewalls", &[], "firewall_groups").await?;
            found = groups
                .into_iter()
                .find(|g| g["description"] == name.as_str());
        }
        let group = match found {
            Some(group) => group,
            None => {
                let body = json!({"description": name});
                let answer = self
                    .parts
                    .rest
                    .call(Method::Post, "/v2/firewalls", Some(&body), Repeat::Once)
                    .await?;
                answer["firewall_group"].clone()
            }
        };
        let id = id_text(&group);
        self.sync_rules(&id, &desired.attributes).await?;
        let mut observed = firewall_observed(&group);
        observed.insert("rule_count".into(), json!(rules(&desired.attributes).len()));
        Ok(made(request, Kind::Firewall, id, observed))
    }

    async fn update_firewall(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<(), DriverError> {
        self.sync_rules(&existing.provider_id, &desired.attributes)
            .await
    }
}

impl VultrCloud {
    /// Brings the rules of group `id` to the group's ports: the missing ones added, the
    /// others removed.
    async fn sync_rules(&self, id: &str, attributes: &Attributes) -> Result<(), DriverError> {
        let path = format!("/v2/firewalls/{id}/rules");
        let listed = self.list(&path, &[], "firewall_rules").await?;
        let wanted = rules(attributes);
        let mut have = BTreeSet::new();
        for rule in &listed {
            match listed_rule(rule) {
                Some(r) if wanted.contains(&r) && !have.contains(&r) => {
                    have.insert(r);
                }
                _ => {
                    let rule_path = format!("{path}/{}", id_text(rule));
                    self.parts.rest.delete(&rule_path).await?;
                }
            }
        }
        for (ip_type, subnet, size, port) in wanted.difference(&have) {
            let body = json!({
                "ip_type": ip_type, "protocol": "tcp", "subnet": subnet,
                "subnet_size": size, "port": port, "source": "", "notes": "oss",
            });
            // Not repeated here: a lost answer is healed by the next sync, which lists first.
            self.parts
                .rest
                .call(Method::Post, &path, Some(&body), Repeat::Once)
                .await?;
        }
        Ok(())
    }
}

/// An object's `id` as text (Vultr's ids are strings; a rule's is a number).
fn id_text(object: &Value) -> String {
    crate::driver::rest_cloud::node::id_of(object).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_tcp_rules_per_family_and_source_block() {
        let attributes: Attributes = serde_json::from_value(json!({
            "ports": [22, 443],
            "sources": {"22": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]}
        }))
        .unwrap();
        let r: Vec<Rule> = rules(&attributes).into_iter().collect();
        let rule = |t: &str, s: &str, n: u64, p: &str| (t.into(), s.into(), n, p.into());
        assert_eq!(
            r,
            [
                rule("v4", "0.0.0.0", 0, "443"),
                rule("v4", "198.51.100.7", 32, "22"),
                rule("v4", "203.0.113.0", 24, "22"),
                rule("v6", "2001:db8::", 32, "22"),
                rule("v6", "::", 0, "443"),
            ]
        );
        let listed = json!({"id": 3, "ip_type": "v4", "protocol": "tcp", "port": "443",
                            "subnet": "0.0.0.0", "subnet_size": 0});
        assert_eq!(listed_rule(&listed), Some(rule("v4", "0.0.0.0", 0, "443")));
        assert_eq!(listed_rule(&json!({"protocol": "icmp"})), None);
        assert_eq!(
            object_name("web", Some("ewr"), "0123456789"),
            "web-ewr-01234567"
        );
    }
}
