//! Servers: one per node, created after looking for one of this lineage and address to
//! adopt, waited for by polling the create's action (`GET /actions/{id}`) until it ends,
//! then the server until it is `running` with an address, deleted idempotently.
//!
//! Adoption, the dependency check, the poll pacing and the user data are the shared
//! REST-cloud ones (`crate::driver::rest_cloud::node`). Hetzner takes the user data as text
//! (cloud-init reads it), the key by id and the firewall by id at the create. A server
//! created without a key would come with a root password in the answer; oss always sends
//! the key when the group has one and never keeps the answer's password.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{HetznerCloud, api, marks};
use crate::driver::rest_cloud::driver::RestNodes;
use crate::driver::rest_cloud::{self, node::user_data};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Address, Attributes, Existing, Kind};

/// Server names are hostnames: at most 63 characters.
const NAME_MAX: usize = 63;

/// What refresh and state report of a server: its addresses, status and location.
pub(super) fn observed(server: &Value) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert(
        "public_ip".into(),
        server["public_net"]["ipv4"]["ip"].clone(),
    );
    observed.insert("private_ip".into(), server["private_net"][0]["ip"].clone());
    observed.insert("status".into(), server["status"].clone());
    observed.insert("location".into(), server["location"]["name"].clone());
    observed
}

#[async_trait]
impl RestNodes for HetznerCloud {
    /// Every server labelled with `lineage`, one call per page of 50 (`label_selector`).
    async fn list_nodes(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list(
            "/servers",
            "servers",
            Some(&marks::lineage_selector(lineage)),
        )
        .await
    }

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        rest_cloud::node::check_dependencies(request, self.parts.rest.name())?;
        let dependency = |kind: Kind| rest_cloud::node::dependency(request, kind);
        let labels = marks::node_labels(request.lineage, &desired.address).ok_or_else(|| {
            DriverError::fatal(format!(
                "{} is not a node address Hetzner labels can carry.",
                desired.address
            ))
        })?;

        // Adoption: a server of this lineage and address a crash left behind, but never the
        // old server of a replace.
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

        // Names are unique per project: the lineage and a random part keep two states, and
        // the two servers of a replace, apart.
        let short: String = request.lineage.chars().take(8).collect();
        let salt: u16 = rand::random();
        let base = marks::name(&super::attribute_name(desired), 40);
        let name = marks::name(&format!("{base}-{short}-{salt:04x}"), NAME_MAX);
        let mut body = json!({
            "name": name,
            "server_type": placement.size,
            "image": placement.image,
            "location": placement.location,
            "labels": labels,
            "start_after_create": true,
        });
        if let Some(key) = dependency(Kind::Key) {
            body["ssh_keys"] = json!([key.provider_id]);
        }
        if let Some(firewall) = dependency(Kind::Firewall)
            && let Ok(id) = firewall.provider_id.parse::<u64>()
        {
            body["firewalls"] = json!([{"firewall": id}]);
        }
        let attributes = &desired.attributes;
        let command = attributes
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !command.is_empty() {
            body["user_data"] = json!(user_data(command, attributes));
        }
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the server by its labels instead of creating another.
        self.parts.adoption.launching(&desired.address);
        let answer = self
            .parts
            .rest
            .call(Method::Post, "/servers", Some(&body), Repeat::Once)
            .await?;
        let id = answer["server"]["id"].as_u64().ok_or_else(|| {
            DriverError::retry(format!(
                "Hetzner POST /servers answered without a server id (provider `{}`).",
                self.parts.rest.name()
            ))
            .with_code("MalformedResponse")
        })?;
        if let Some(action) = answer["action"]["id"].as_u64() {
            self.wait_action(action, &desired.address).await?;
        }
        let running = self.wait_running(id, &desired.address).await?;
        Ok(rest_cloud::node::existing(
            desired,
            placement,
            &running,
            observed(&running),
        ))
    }
}

impl HetznerCloud {
    /// Polls the action until it ends; an action ending in `error` is sorted by its code
    /// (a placement failure fails over).
    async fn wait_action(&self, id: u64, address: &Address) -> Result<(), DriverError> {
        let path = &format!("/actions/{id}");
        let get = || async move {
            Ok::<_, DriverError>(
                self.parts
                    .rest
                    .get(path)
                    .await?
                    .map(|answer| answer["action"].clone()),
            )
        };
        let ended = |action: &Value| action["status"] != "running";
        let action = rest_cloud::node::wait_until(self.parts.ready_timeout, get, ended, || {
            self.timed_out(&format!("action {id}"), address)
        })
        .await?;
        if action["status"] == "error" {
            return Err(api::action_error(
                self.parts.rest.name(),
                address.as_str(),
                &action,
            ));
        }
        Ok(())
    }

    /// Polls the server until it is running with a public address.
    async fn wait_running(&self, id: u64, address: &Address) -> Result<Value, DriverError> {
        let path = &format!("/servers/{id}");
        let get = || async move {
            Ok::<_, DriverError>(
                self.parts
                    .rest
                    .get(path)
                    .await?
                    .map(|answer| answer["server"].clone()),
            )
        };
        let ready = |server: &Value| {
            server["status"] == "running" && !observed(server)["public_ip"].is_null()
        };
        rest_cloud::node::wait_until(self.parts.ready_timeout, get, ready, || {
            self.timed_out(&format!("server {id}"), address)
        })
        .await
    }

    fn timed_out(&self, what: &str, address: &Address) -> DriverError {
        DriverError::retry(format!(
            "Hetzner {what} for {address} was not done after {}s; the server is left as it \
             is and adopted by the next attempt.",
            self.parts.ready_timeout.as_secs()
        ))
        .with_code("WaitTimeout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_status_and_location_are_read_from_the_server() {
        let o = observed(&json!({"public_net": {"ipv4": {"ip": "203.0.113.7"}},
                                 "private_net": [{"ip": "10.0.0.2"}],
                                 "status": "running", "location": {"name": "fsn1"}}));
        assert_eq!(o["public_ip"], "203.0.113.7");
        assert_eq!(o["private_ip"], "10.0.0.2");
        assert_eq!(o["location"], "fsn1");
        let o = observed(&json!({"public_net": {"ipv4": null}, "private_net": [],
                                 "status": "initializing", "location": {"name": "fsn1"}}));
        assert!(o["public_ip"].is_null() && o["private_ip"].is_null());
    }
}
