//! Droplets: one per node, created after looking for one of this lineage and address to
//! adopt, polled until `active` with an address, deleted idempotently.
//!
//! Adoption, the dependency check, the poll pacing and the user data are the shared
//! REST-cloud ones (`crate::driver::rest_cloud::node`).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{DigitalOceanCloud, marks};
use crate::driver::rest_cloud::driver::RestNodes;
use crate::driver::rest_cloud::{self, node::user_data};
use crate::driver::{CreateRequest, DriverError};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Address, Attributes, Existing, Kind};

/// What refresh and state report of a droplet: its addresses, status and region.
pub(super) fn observed(droplet: &Value) -> Attributes {
    let mut observed = Attributes::new();
    let ip = |kind: &str| {
        droplet["networks"]["v4"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["type"] == kind)
            .and_then(|n| n["ip_address"].as_str())
            .map_or(Value::Null, Value::from)
    };
    observed.insert("public_ip".into(), ip("public"));
    observed.insert("private_ip".into(), ip("private"));
    observed.insert("status".into(), droplet["status"].clone());
    observed.insert("region".into(), droplet["region"]["slug"].clone());
    observed
}

#[async_trait]
impl RestNodes for DigitalOceanCloud {
    /// Every droplet tagged with `lineage`, one call per page.
    async fn list_nodes(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list(
            "/v2/droplets",
            &[("tag_name", marks::lineage_tag(lineage))],
            "droplets",
        )
        .await
    }

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        let region = placement.location.as_str();
        rest_cloud::node::check_dependencies(request, self.parts.rest.name())?;
        let dependency = |kind: Kind| rest_cloud::node::dependency(request, kind);
        let address_tag = marks::address_tag(&desired.address).ok_or_else(|| {
            DriverError::fatal(format!(
                "{} is not a node address DigitalOcean tags can carry.",
                desired.address
            ))
        })?;

        // Adoption: a droplet of this lineage and address a crash left behind, but never the
        // old droplet of a replace.
        let found = self
            .parts
            .adoption
            .find(request, || self.list_nodes(request.lineage))
            .await?;
        if let Some(found) = found {
            let id = found["id"].as_u64().unwrap_or_default();
            let active = self.wait_active(id, &desired.address).await?;
            return Ok(rest_cloud::node::existing(
                desired,
                placement,
                &active,
                observed(&active),
            ));
        }

        let attributes = &desired.attributes;
        let mut tags = vec![marks::lineage_tag(request.lineage), address_tag];
        if let Some(firewall) = dependency(Kind::Firewall)
            && let Some(tag) = firewall.observed.get("target_tag").and_then(Value::as_str)
        {
            tags.push(tag.to_string());
        }
        let mut body = json!({
            "name": marks::name(&super::attribute_name(desired), 255),
            "region": region,
            "size": placement.size,
            "image": placement.image,
            "tags": tags,
        });
        if let Some(key) = dependency(Kind::Key) {
            body["ssh_keys"] = json!([key.provider_id]);
        }
        let command = attributes
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !command.is_empty() {
            body["user_data"] = Value::from(user_data(command, attributes));
        }
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the droplet by its tags instead of creating another.
        self.parts.adoption.launching(&desired.address);
        let answer = self
            .parts
            .rest
            .call(Method::Post, "/v2/droplets", Some(&body), Repeat::Once)
            .await?;
        let id = answer["droplet"]["id"].as_u64().ok_or_else(|| {
            DriverError::retry(format!(
                "DigitalOcean POST /v2/droplets answered without a droplet id (provider `{}`).",
                self.parts.rest.name()
            ))
            .with_code("MalformedResponse")
        })?;
        let active = self.wait_active(id, &desired.address).await?;
        Ok(rest_cloud::node::existing(
            desired,
            placement,
            &active,
            observed(&active),
        ))
    }
}

impl DigitalOceanCloud {
    /// Polls the droplet until it is active with a public address.
    async fn wait_active(&self, id: u64, address: &Address) -> Result<Value, DriverError> {
        let path = &format!("/v2/droplets/{id}");
        let get = || async move {
            Ok(self
                .parts
                .rest
                .get(path)
                .await?
                .map(|answer| answer["droplet"].clone()))
        };
        let ready =
            |node: &Value| node["status"] == "active" && !observed(node)["public_ip"].is_null();
        rest_cloud::node::wait_until(self.parts.ready_timeout, get, ready, || {
            DriverError::retry(format!(
                "Droplet {id} for {address} was not active after {}s; it is left as it is \
                 and adopted by the next attempt.",
                self.parts.ready_timeout.as_secs()
            ))
            .with_code("WaitTimeout")
        })
        .await
    }
}
