//! Instances: one per node, created after looking for one of this lineage and address to
//! adopt, polled until `running` with an address, deleted idempotently.
//!
//! Adoption, the dependency check, the poll pacing and the user data are the shared
//! REST-cloud ones (`crate::driver::rest_cloud::node`).
//!
//! Linode wants a root password with every image deploy: each create draws a random one,
//! sends it once and forgets it (login is by the SSH key in `authorized_keys`).

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};

use super::{LinodeCloud, marks};
use crate::driver::rest_cloud::driver::RestNodes;
use crate::driver::rest_cloud::{self, node::user_data};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Address, Attributes, Existing, Kind};

/// Whether an IPv4 address is in a private range (Linode lists private addresses in `ipv4`
/// next to the public one).
fn private(ip: &str) -> bool {
    ip.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_private())
}

/// What refresh and state report of an instance: its addresses, status and region.
pub(super) fn observed(instance: &Value) -> Attributes {
    let ips: Vec<&str> = instance["ipv4"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let pick = |want_private: bool| {
        ips.iter()
            .find(|ip| private(ip) == want_private)
            .map_or(Value::Null, |ip| Value::from(*ip))
    };
    let mut observed = Attributes::new();
    observed.insert("public_ip".into(), pick(false));
    observed.insert("private_ip".into(), pick(true));
    observed.insert("status".into(), instance["status"].clone());
    observed.insert("region".into(), instance["region"].clone());
    observed
}

/// A root password Linode's strength check accepts: 32 characters drawn at random from
/// letters, digits and punctuation, every class present.
fn root_password() -> String {
    const CLASSES: [&[u8]; 4] = [
        b"abcdefghijkmnopqrstuvwxyz",
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"23456789",
        b"!#%+-.:=@^_~",
    ];
    let bytes: [u8; 32] = rand::random();
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let class = CLASSES[if i < 4 { i } else { *b as usize % 4 }];
            class[(*b as usize / 4) % class.len()] as char
        })
        .collect()
}

#[async_trait]
impl RestNodes for LinodeCloud {
    /// Every instance tagged with `lineage`, one call per page (`X-Filter` on the tag).
    async fn list_nodes(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        let filter = json!({"tags": marks::lineage_tag(lineage)});
        self.list("/v4/linode/instances", Some(&filter)).await
    }

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        let region = placement.location.as_str();
        rest_cloud::node::check_dependencies(request, self.parts.rest.name())?;
        let dependency = |kind: Kind| rest_cloud::node::dependency(request, kind);
        let address_tag = marks::address_tag(&desired.address).ok_or_else(|| {
            DriverError::fatal(format!(
                "{} is not a node address Linode tags can carry.",
                desired.address
            ))
        })?;

        // Adoption: an instance of this lineage and address a crash left behind, but never
        // the old instance of a replace.
        let found = self
            .parts
            .adoption
            .find(request, || self.list_nodes(request.lineage))
            .await?;
        if let Some(found) = found {
            let id = found["id"].as_u64().unwrap_or_default();
            let running = self.wait_running(id, &desired.address).await?;
            return Ok(rest_cloud::node::existing(
                desired,
                placement,
                &running,
                observed(&running),
            ));
        }

        // Labels are unique per account: the lineage and a random part keep two states, and
        // the two instances of a replace, apart.
        let short: String = request.lineage.chars().take(8).collect();
        let salt: u16 = rand::random();
        let label = marks::label(
            &format!(
                "{}-{short}-{salt:04x}",
                marks::label(&super::attribute_name(desired), 50)
            ),
            64,
        );
        let mut body = json!({
            "label": label,
            "region": region,
            "type": placement.size,
            "image": placement.image,
            "root_pass": root_password(),
            "tags": [marks::lineage_tag(request.lineage), address_tag],
            "booted": true,
        });
        if let Some(firewall) = dependency(Kind::Firewall)
            && let Ok(id) = firewall.provider_id.parse::<u64>()
        {
            body["firewall_id"] = json!(id);
        }
        if let Some(key) = dependency(Kind::Key)
            && let Some(public_key) = key.attributes.get("public_key").and_then(Value::as_str)
        {
            body["authorized_keys"] = json!([public_key.trim()]);
        }
        let attributes = &desired.attributes;
        let command = attributes
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !command.is_empty() {
            let script = user_data(command, attributes);
            body["metadata"] =
                json!({"user_data": base64::engine::general_purpose::STANDARD.encode(script)});
        }
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the instance by its tags instead of creating another.
        self.parts.adoption.launching(&desired.address);
        let answer = self
            .parts
            .rest
            .call(
                Method::Post,
                "/v4/linode/instances",
                Some(&body),
                Repeat::Once,
            )
            .await;
        drop(body);
        let answer = answer?;
        let id = answer["id"].as_u64().ok_or_else(|| {
            DriverError::retry(format!(
                "Linode POST /v4/linode/instances answered without an instance id (provider \
                 `{}`).",
                self.parts.rest.name()
            ))
            .with_code("MalformedResponse")
        })?;
        let running = self.wait_running(id, &desired.address).await?;
        Ok(rest_cloud::node::existing(
            desired,
            placement,
            &running,
            observed(&running),
        ))
    }
}

impl LinodeCloud {
    /// Polls the instance until it is running with a public address.
    async fn wait_running(&self, id: u64, address: &Address) -> Result<Value, DriverError> {
        let path = &format!("/v4/linode/instances/{id}");
        let get = || self.parts.rest.get(path);
        let ready =
            |node: &Value| node["status"] == "running" && !observed(node)["public_ip"].is_null();
        rest_cloud::node::wait_until(self.parts.ready_timeout, get, ready, || {
            DriverError::retry(format!(
                "Linode {id} for {address} was not running after {}s; it is left as it is \
                 and adopted by the next attempt.",
                self.parts.ready_timeout.as_secs()
            ))
            .with_code("WaitTimeout")
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses_are_told_apart() {
        let o = observed(&json!({"ipv4": ["192.168.139.5", "203.0.113.7"],
                                 "status": "running", "region": "us-east"}));
        assert_eq!(o["public_ip"], "203.0.113.7");
        assert_eq!(o["private_ip"], "192.168.139.5");
    }

    #[test]
    fn root_passwords_are_long_mixed_and_never_the_same() {
        let (a, b) = (root_password(), root_password());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_digit()));
        assert!(a.chars().any(|c| !c.is_ascii_alphanumeric()));
    }
}
