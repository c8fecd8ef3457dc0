//! SSH keys and cloud firewalls. Both are account-wide at DigitalOcean, and carry the state's
//! lineage in their names: a create after a crash finds its own by name and adopts it.
//!
//! A key is registered once per public key: the key resources of several regions of one
//! state share it (the second finds the first's), and a public key the account already held
//! under another name is used but marked `owned: false`, so oss never deletes it.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{DigitalOceanCloud, attribute_name, marks};
use crate::driver::rest_cloud::driver::RestObjects;
use crate::driver::rest_cloud::objects::{made, ports, sources};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Attributes, Desired, Existing, Kind};

/// What state reports of a key.
pub(super) fn key_observed(key: &Value, owned: bool) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("fingerprint".into(), key["fingerprint"].clone());
    observed.insert("key_name".into(), key["name"].clone());
    observed.insert("owned".into(), Value::Bool(owned));
    observed
}

/// What state reports of a firewall: its name, the tag it applies to, its status.
pub(super) fn firewall_observed(firewall: &Value) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("firewall_name".into(), firewall["name"].clone());
    observed.insert(
        "target_tag".into(),
        firewall["tags"].get(0).cloned().unwrap_or(Value::Null),
    );
    observed.insert("status".into(), firewall["status"].clone());
    observed
}

/// The group's ports as DigitalOcean firewall rules: inbound TCP from anywhere, or from the
/// blocks of the port's `sources` entry; outbound open (a firewall without outbound rules
/// drops all outbound traffic).
fn rules(attributes: &Attributes) -> (Value, Value) {
    let anywhere = json!({"addresses": ["0.0.0.0/0", "::/0"]});
    let inbound: Vec<Value> = ports(attributes)
        .iter()
        .map(|p| {
            let from = sources(attributes, *p)
                .map_or_else(|| anywhere.clone(), |blocks| json!({"addresses": blocks}));
            json!({"protocol": "tcp", "ports": p.to_string(), "sources": from})
        })
        .collect();
    let outbound = json!([
        {"protocol": "tcp", "ports": "0", "destinations": anywhere},
        {"protocol": "udp", "ports": "0", "destinations": anywhere},
        {"protocol": "icmp", "ports": "0", "destinations": anywhere},
    ]);
    (Value::from(inbound), outbound)
}

fn id_of(object: &Value) -> String {
    match &object["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl RestObjects for DigitalOceanCloud {
    /// The account's keys.
    async fn list_keys(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/v2/account/keys", &[], "ssh_keys").await
    }

    /// The account's firewalls.
    async fn list_firewalls(&self, _lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list("/v2/firewalls", &[], "firewalls").await
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
        let name = marks::object_name(&attribute_name(desired), None, request.lineage);
        let fresh = self.parts.adoption.is_new(request.lineage);
        // One list finds the key registered before (by another region of this state, or by
        // the user); a lineage this run made can hold none, but the user's key may be there,
        // which the create's refusal tells.
        if !fresh && let Some(existing) = self.find_key(public_key).await? {
            let owned = existing["name"] == name.as_str();
            return Ok(made(
                request,
                Kind::Key,
                id_of(&existing),
                key_observed(&existing, owned),
            ));
        }
        let body = json!({"name": name, "public_key": public_key});
        match self
            .parts
            .rest
            .client()?
            .call(
                Method::Post,
                "/v2/account/keys",
                &[],
                Some(&body),
                Repeat::Once,
            )
            .await
        {
            Ok(answer) => {
                let key = &answer["ssh_key"];
                Ok(made(
                    request,
                    Kind::Key,
                    id_of(key),
                    key_observed(key, true),
                ))
            }
            // "SSH Key is already in use on your account": registered meanwhile, or the user's.
            Err(e) if e.failure.status == Some(422) => match self.find_key(public_key).await? {
                Some(existing) => {
                    let owned = existing["name"] == name.as_str();
                    Ok(made(
                        request,
                        Kind::Key,
                        id_of(&existing),
                        key_observed(&existing, owned),
                    ))
                }
                None => Err(self.parts.rest.error(e)),
            },
            Err(e) => Err(self.parts.rest.error(e)),
        }
    }

    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let region = request.placement.location.as_str();
        let name = marks::object_name(&attribute_name(desired), Some(region), request.lineage);
        let tag = marks::firewall_tag(request.lineage, &desired.address);
        if !self.parts.adoption.is_new(request.lineage) {
            let firewalls = self.list("/v2/firewalls", &[], "firewalls").await?;
            if let Some(found) = firewalls
                .iter()
                .find(|f| f["name"] == name.as_str() && f["tags"].get(0) == Some(&json!(tag)))
            {
                return Ok(made(
                    request,
                    Kind::Firewall,
                    id_of(found),
                    firewall_observed(found),
                ));
            }
        }
        let body = self.firewall_body(desired, &name, &tag);
        let answer = self
            .parts
            .rest
            .call(Method::Post, "/v2/firewalls", Some(&body), Repeat::Once)
            .await?;
        let firewall = &answer["firewall"];
        Ok(made(
            request,
            Kind::Firewall,
            id_of(firewall),
            firewall_observed(firewall),
        ))
    }

    async fn update_firewall(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<(), DriverError> {
        let name = existing
            .observed
            .get("firewall_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let tag = existing
            .observed
            .get("target_tag")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body = self.firewall_body(desired, &name, &tag);
        self.parts
            .rest
            .call(
                Method::Put,
                &format!("/v2/firewalls/{}", existing.provider_id),
                Some(&body),
                Repeat::Safe,
            )
            .await
            .map(drop)
    }
}

impl DigitalOceanCloud {
    /// The registered key with this public key.
    async fn find_key(&self, public_key: &str) -> Result<Option<Value>, DriverError> {
        let keys = self.list("/v2/account/keys", &[], "ssh_keys").await?;
        Ok(keys
            .into_iter()
            .find(|k| k["public_key"].as_str().map(str::trim) == Some(public_key)))
    }

    fn firewall_body(&self, desired: &Desired, name: &str, tag: &str) -> Value {
        let (inbound, outbound) = rules(&desired.attributes);
        json!({
            "name": name,
            "inbound_rules": inbound,
            "outbound_rules": outbound,
            "tags": [tag],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_inbound_rules_and_outbound_stays_open() {
        let attributes: Attributes = serde_json::from_value(json!({
            "ports": [22, 443],
            "sources": {"22": ["203.0.113.0/24", "2001:db8::/32"]}
        }))
        .unwrap();
        let (inbound, outbound) = rules(&attributes);
        assert_eq!(inbound[1]["ports"], "443");
        assert_eq!(inbound[1]["sources"]["addresses"][0], "0.0.0.0/0");
        assert_eq!(
            inbound[0]["sources"]["addresses"],
            json!(["203.0.113.0/24", "2001:db8::/32"])
        );
        assert_eq!(outbound.as_array().unwrap().len(), 3);
    }
}
