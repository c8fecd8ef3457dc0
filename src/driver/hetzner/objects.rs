//! SSH keys and Firewalls. Both carry the state's lineage in their names and labels: a
//! create after a crash finds its own by name and adopts it.
//!
//! A key is registered once per public key (Hetzner refuses a second key of the same
//! fingerprint): the key resources of several locations of one state share it (a create that
//! loses the race to register it uses the winner's), and a public
//! key the project already held under another name is used but marked `owned: false`, so
//! oss never deletes it. A firewall holds one inbound TCP rule per port of the group, from
//! anywhere or from the port's `sources`; Hetzner drops inbound traffic no rule allows and,
//! with no outbound rule, lets all outbound traffic out. It is applied at each server's
//! create; an update replaces its rules (`set_rules`).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{HetznerCloud, attribute_name, marks};
use crate::driver::rest_cloud::driver::RestObjects;
use crate::driver::rest_cloud::objects::{made, ports, sources};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Attributes, Desired, Existing, Kind};

/// Names of keys and firewalls: at most 63 characters (hostname-shaped, as servers').
const NAME_MAX: usize = 63;

/// What state reports of a key.
pub(super) fn key_observed(key: &Value, owned: bool) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("key_name".into(), key["name"].clone());
    observed.insert("fingerprint".into(), key["fingerprint"].clone());
    observed.insert("owned".into(), Value::Bool(owned));
    observed
}

/// What state reports of a firewall: its name and the servers it is applied to.
pub(super) fn firewall_observed(firewall: &Value) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("firewall_name".into(), firewall["name"].clone());
    let applied = firewall["applied_to"].as_array().map_or(0, Vec::len);
    observed.insert("applied_to".into(), Value::from(applied));
    observed
}

/// The group's ports as Hetzner firewall rules: inbound TCP from anywhere, or from the
/// blocks of the port's `sources` entry.
fn rules(attributes: &Attributes) -> Value {
    let rules: Vec<Value> = ports(attributes)
        .iter()
        .map(|p| {
            let from = match sources(attributes, *p) {
                Some(blocks) => blocks.clone(),
                None => json!(["0.0.0.0/0", "::/0"]),
            };
            json!({
                "direction": "in", "protocol": "tcp", "port": p.to_string(),
                "source_ips": from, "description": format!("oss tcp {p}"),
            })
        })
        .collect();
    Value::from(rules)
}

#[async_trait]
impl RestObjects for HetznerCloud {
    /// The project's keys.
    async fn list_keys(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/ssh_keys", "ssh_keys", None).await
    }

    /// The firewalls labelled with `lineage`, one call per page.
    async fn list_firewalls(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        let selector = marks::lineage_selector(lineage);
        self.list("/firewalls", "firewalls", Some(&selector)).await
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
        let name = marks::object_name(&attribute_name(desired), None, request.lineage, NAME_MAX);
        // One list finds the key registered before (by another location of this state, or
        // by the user); the project may hold the user's key even for a lineage this run made.
        if let Some(found) = self.registered(request, public_key, &name).await? {
            return Ok(found);
        }
        let body = json!({
            "name": name,
            "public_key": public_key,
            "labels": marks::lineage_labels(request.lineage),
        });
        let answer = match self
            .parts
            .rest
            .call(Method::Post, "/ssh_keys", Some(&body), Repeat::Once)
            .await
        {
            Ok(answer) => answer,
            // The key of another location of this state, registered meanwhile (Hetzner
            // takes one key per fingerprint): use that one.
            Err(e) if e.code.as_deref() == Some("uniqueness_error") => {
                return self.registered(request, public_key, &name).await?.ok_or(e);
            }
            Err(e) => return Err(e),
        };
        let key = &answer["ssh_key"];
        Ok(made(
            request,
            Kind::Key,
            key["id"].to_string(),
            key_observed(key, true),
        ))
    }

    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let location = request.placement.location.as_str();
        let name = marks::object_name(
            &attribute_name(desired),
            Some(location),
            request.lineage,
            NAME_MAX,
        );
        if !self.parts.adoption.is_new(request.lineage) {
            let firewalls = self.list_firewalls(request.lineage).await?;
            if let Some(found) = firewalls.iter().find(|f| f["name"] == name.as_str()) {
                return Ok(made(
                    request,
                    Kind::Firewall,
                    found["id"].to_string(),
                    firewall_observed(found),
                ));
            }
        }
        let body = json!({
            "name": name,
            "labels": marks::lineage_labels(request.lineage),
            "rules": rules(&desired.attributes),
        });
        let answer = self
            .parts
            .rest
            .call(Method::Post, "/firewalls", Some(&body), Repeat::Once)
            .await?;
        let firewall = &answer["firewall"];
        Ok(made(
            request,
            Kind::Firewall,
            firewall["id"].to_string(),
            firewall_observed(firewall),
        ))
    }

    async fn update_firewall(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<(), DriverError> {
        let body = json!({"rules": rules(&desired.attributes)});
        self.parts
            .rest
            .call(
                Method::Post,
                &format!("/firewalls/{}/actions/set_rules", existing.provider_id),
                Some(&body),
                Repeat::Safe,
            )
            .await
            .map(drop)
    }
}

impl HetznerCloud {
    /// The project's key holding `public_key`, as the key `request` made (owned when it is
    /// named `name`, oss's name for it), from one list of the keys.
    async fn registered(
        &self,
        request: &CreateRequest<'_>,
        public_key: &str,
        name: &str,
    ) -> Result<Option<Existing>, DriverError> {
        let keys = self.list("/ssh_keys", "ssh_keys", None).await?;
        Ok(keys
            .iter()
            .find(|k| k["public_key"].as_str().map(str::trim) == Some(public_key))
            .map(|existing| {
                let owned = existing["name"] == name;
                made(
                    request,
                    Kind::Key,
                    existing["id"].to_string(),
                    key_observed(existing, owned),
                )
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_inbound_tcp_rules_from_anywhere_or_their_sources() {
        let attributes: Attributes = serde_json::from_value(json!({
            "ports": [22, 443],
            "sources": {"22": ["203.0.113.0/24", "2001:db8::/32"]}
        }))
        .unwrap();
        let r = rules(&attributes);
        assert_eq!(r.as_array().unwrap().len(), 2);
        assert_eq!(r[0]["direction"], "in");
        assert_eq!(r[0]["protocol"], "tcp");
        assert_eq!(r[0]["port"], "22");
        assert_eq!(
            r[0]["source_ips"],
            json!(["203.0.113.0/24", "2001:db8::/32"])
        );
        assert_eq!(r[1]["source_ips"], json!(["0.0.0.0/0", "::/0"]));
    }
}
