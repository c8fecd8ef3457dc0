//! Instances: one per node, created after looking for one of this lineage and address to
//! adopt, polled until `active` and `running` with an address, deleted idempotently.
//!
//! Adoption, the dependency check, the poll pacing and the user data are the shared
//! REST-cloud ones (`crate::driver::rest_cloud::node`). The create's answer carries the
//! instance's `default_password`; only the id is read from it, and login is by the SSH key.

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};

use super::VultrCloud;
use crate::driver::rest_cloud::driver::RestNodes;
use crate::driver::rest_cloud::marks::{address_tag, lineage_tag, tags};
use crate::driver::rest_cloud::{self, node::id_of, node::user_data};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Address, Attributes, Existing, Kind};

/// An address Vultr has assigned (a pending instance lists `0.0.0.0` or nothing).
fn assigned(ip: &Value) -> Value {
    match ip.as_str() {
        Some(ip) if !ip.is_empty() && ip != "0.0.0.0" => Value::from(ip),
        _ => Value::Null,
    }
}

/// What refresh and state report of an instance: its addresses, status and region.
pub(super) fn observed(instance: &Value) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("public_ip".into(), assigned(&instance["main_ip"]));
    observed.insert("private_ip".into(), assigned(&instance["internal_ip"]));
    observed.insert("status".into(), instance["status"].clone());
    observed.insert("region".into(), instance["region"].clone());
    observed
}

#[async_trait]
impl RestNodes for VultrCloud {
    /// Every instance tagged with `lineage`, one call per page: the list filtered with `tag`,
    /// and the tags checked again here (the document marks the filter deprecated).
    async fn list_nodes(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        let tag = lineage_tag(lineage);
        let listed = self
            .list("/v2/instances", &[("tag", tag.clone())], "instances")
            .await?;
        Ok(listed
            .into_iter()
            .filter(|i| tags(i).contains(&tag))
            .collect())
    }

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        rest_cloud::node::check_dependencies(request, self.parts.rest.name())?;
        let dependency = |kind: Kind| rest_cloud::node::dependency(request, kind);
        let address_tag = address_tag(&desired.address).ok_or_else(|| {
            DriverError::fatal(format!(
                "{} is not a node address Vultr tags can carry.",
                desired.address
            ))
        })?;
        let os_id: u64 = placement.image.parse().map_err(|_| {
            DriverError::fatal(format!(
                "{}: `{}` is not a Vultr operating-system id (see `oss catalog`).",
                desired.address, placement.image
            ))
            .with_code("InvalidImage")
        })?;

        // Adoption: an instance of this lineage and address a crash left behind, but never
        // the old instance of a replace.
        let found = self
            .parts
            .adoption
            .find(request, || self.list_nodes(request.lineage))
            .await?;
        if let Some(found) = found {
            let id = id_of(&found).unwrap_or_default();
            let running = self.wait_running(&id, &desired.address).await?;
            return Ok(rest_cloud::node::existing(
                desired,
                placement,
                &running,
                observed(&running),
            ));
        }

        let short: String = request.lineage.chars().take(8).collect();
        let label = format!(
            "{}-{short}",
            desired.address.as_str().replace(['[', ']', '.'], "-")
        );
        let mut body = json!({
            "region": placement.location,
            "plan": placement.size,
            "os_id": os_id,
            "label": label.trim_end_matches('-'),
            "tags": [lineage_tag(request.lineage), address_tag],
            "backups": "disabled",
            "activation_email": false,
        });
        if let Some(firewall) = dependency(Kind::Firewall) {
            body["firewall_group_id"] = json!(firewall.provider_id);
        }
        if let Some(key) = dependency(Kind::Key) {
            body["sshkey_id"] = json!([key.provider_id]);
        }
        let attributes = &desired.attributes;
        let command = attributes
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !command.is_empty() {
            let script = user_data(command, attributes);
            body["user_data"] = json!(base64::engine::general_purpose::STANDARD.encode(script));
        }
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the instance by its tags instead of creating another.
        self.parts.adoption.launching(&desired.address);
        let answer = self
            .parts
            .rest
            .call(Method::Post, "/v2/instances", Some(&body), Repeat::Once)
            .await?;
        // The answer holds the default root password: only the id is kept.
        let id = id_of(&answer["instance"]).ok_or_else(|| {
            DriverError::retry(format!(
                "Vultr POST /v2/instances answered without an instance id (provider `{}`).",
                self.parts.rest.name()
            ))
            .with_code("MalformedResponse")
        })?;
        drop(answer);
        let running = self.wait_running(&id, &desired.address).await?;
        Ok(rest_cloud::node::existing(
            desired,
            placement,
            &running,
            observed(&running),
        ))
    }
}

impl VultrCloud {
    /// Polls the instance until it is active and running with a public address.
    async fn wait_running(&self, id: &str, address: &Address) -> Result<Value, DriverError> {
        let path = &format!("/v2/instances/{id}");
        let get = || async {
            Ok(self.parts.rest.get(path).await?.map(|answer| {
                let mut instance = answer["instance"].clone();
                // Never kept past this read.
                if let Some(fields) = instance.as_object_mut() {
                    fields.remove("default_password");
                }
                instance
            }))
        };
        let ready = |node: &Value| {
            node["status"] == "active"
                && node["power_status"] == "running"
                && !observed(node)["public_ip"].is_null()
        };
        rest_cloud::node::wait_until(self.parts.ready_timeout, get, ready, || {
            DriverError::retry(format!(
                "Vultr instance {id} for {address} was not running after {}s; it is left as \
                 it is and adopted by the next attempt.",
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
    fn a_pending_instance_has_no_address_yet() {
        let pending = json!({"main_ip": "0.0.0.0", "internal_ip": "", "status": "pending",
                             "region": "ewr"});
        assert!(observed(&pending)["public_ip"].is_null());
        assert!(observed(&pending)["private_ip"].is_null());
        let active = json!({"main_ip": "203.0.113.9", "internal_ip": "10.1.96.3",
                            "status": "active", "region": "ewr"});
        assert_eq!(observed(&active)["public_ip"], "203.0.113.9");
        assert_eq!(observed(&active)["private_ip"], "10.1.96.3");
    }
}
