//! SSH keys and Cloud Firewalls. Both carry the state's lineage in their labels: a create
//! after a crash finds its own by label and adopts it.
//!
//! A key is registered once per public key: the key resources of several regions of one
//! state share it (the second finds the first's), and a public key the profile already held
//! under another label is used but marked `owned: false`, so oss never deletes it.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{LinodeCloud, attribute_name, marks};
use crate::driver::rest_cloud::driver::RestObjects;
use crate::driver::rest_cloud::objects::{made, ports, sources};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Attributes, Desired, Existing, Kind};

/// Firewall labels are at most 32 characters; key labels 64.
const FIREWALL_LABEL_MAX: usize = 32;
const KEY_LABEL_MAX: usize = 64;

/// What state reports of a key.
pub(super) fn key_observed(key: &Value, owned: bool) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("key_label".into(), key["label"].clone());
    observed.insert("owned".into(), Value::Bool(owned));
    observed
}

/// What state reports of a firewall: its label and status.
pub(super) fn firewall_observed(firewall: &Value) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("firewall_label".into(), firewall["label"].clone());
    observed.insert("status".into(), firewall["status"].clone());
    observed
}

/// The group's ports as Linode firewall rules: inbound TCP accepted from anywhere, or from
/// the blocks of the port's `sources` entry, everything else dropped; outbound open.
fn rules(attributes: &Attributes) -> Value {
    let inbound: Vec<Value> = ports(attributes)
        .iter()
        .map(|p| {
            let addresses = match sources(attributes, *p) {
                Some(blocks) => {
                    let blocks: Vec<&str> = blocks
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let (v6, v4): (Vec<&str>, Vec<&str>) =
                        blocks.into_iter().partition(|b| b.contains(':'));
                    let mut a = serde_json::Map::new();
                    if !v4.is_empty() {
                        a.insert("ipv4".into(), json!(v4));
                    }
                    if !v6.is_empty() {
                        a.insert("ipv6".into(), json!(v6));
                    }
                    Value::Object(a)
                }
                None => json!({"ipv4": ["0.0.0.0/0"], "ipv6": ["::/0"]}),
            };
            json!({
                "action": "ACCEPT", "protocol": "TCP", "ports": p.to_string(),
                "addresses": addresses, "label": format!("tcp-{p}"),
            })
        })
        .collect();
    json!({
        "inbound": inbound,
        "inbound_policy": "DROP",
        "outbound": [],
        "outbound_policy": "ACCEPT",
    })
}

#[async_trait]
impl RestObjects for LinodeCloud {
    /// The profile's keys.
    async fn list_keys(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/v4/profile/sshkeys", None).await
    }

    /// The account's firewalls.
    async fn list_firewalls(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/v4/networking/firewalls", None).await
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
        let label = marks::object_label(
            &attribute_name(desired),
            None,
            request.lineage,
            KEY_LABEL_MAX,
        );
        // One list finds the key registered before (by another region of this state, or by
        // the user); the profile may hold the user's key even for a lineage this run made.
        let keys = self.list("/v4/profile/sshkeys", None).await?;
        if let Some(existing) = keys
            .iter()
            .find(|k| k["ssh_key"].as_str().map(str::trim) == Some(public_key))
        {
            let owned = existing["label"] == label.as_str();
            return Ok(made(
                request,
                Kind::Key,
                existing["id"].to_string(),
                key_observed(existing, owned),
            ));
        }
        let body = json!({"label": label, "ssh_key": public_key});
        let key = self
            .parts
            .rest
            .call(
                Method::Post,
                "/v4/profile/sshkeys",
                Some(&body),
                Repeat::Once,
            )
            .await?;
        Ok(made(
            request,
            Kind::Key,
            key["id"].to_string(),
            key_observed(&key, true),
        ))
    }

    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let region = request.placement.location.as_str();
        let label = marks::object_label(
            &attribute_name(desired),
            Some(region),
            request.lineage,
            FIREWALL_LABEL_MAX,
        );
        if !self.parts.adoption.is_new(request.lineage) {
            let firewalls = self.list("/v4/networking/firewalls", None).await?;
            if let Some(found) = firewalls.iter().find(|f| f["label"] == label.as_str()) {
                return Ok(made(
                    request,
                    Kind::Firewall,
                    found["id"].to_string(),
                    firewall_observed(found),
                ));
            }
        }
        let body = json!({"label": label, "rules": rules(&desired.attributes)});
        let firewall = self
            .parts
            .rest
            .call(
                Method::Post,
                "/v4/networking/firewalls",
                Some(&body),
                Repeat::Once,
            )
            .await?;
        Ok(made(
            request,
            Kind::Firewall,
            firewall["id"].to_string(),
            firewall_observed(&firewall),
        ))
    }

    async fn update_firewall(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<(), DriverError> {
        self.parts
            .rest
            .call(
                Method::Put,
                &format!("/v4/networking/firewalls/{}/rules", existing.provider_id),
                Some(&rules(&desired.attributes)),
                Repeat::Safe,
            )
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_accepted_inbound_rules_the_rest_dropped_and_outbound_open() {
        let attributes: Attributes = serde_json::from_value(json!({
            "ports": [22, 443],
            "sources": {"22": ["203.0.113.0/24", "2001:db8::/32"]}
        }))
        .unwrap();
        let r = rules(&attributes);
        assert_eq!(r["inbound_policy"], "DROP");
        assert_eq!(r["outbound_policy"], "ACCEPT");
        assert_eq!(r["inbound"][1]["ports"], "443");
        assert_eq!(r["inbound"][1]["addresses"]["ipv4"][0], "0.0.0.0/0");
        assert_eq!(
            r["inbound"][0]["addresses"],
            json!({"ipv4": ["203.0.113.0/24"], "ipv6": ["2001:db8::/32"]})
        );
    }
}
