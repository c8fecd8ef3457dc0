//! Droplets: one per node, created after looking for one of this lineage and address to
//! adopt, polled until `active` with an address, deleted idempotently.
//!
//! Adoption looks in one snapshot of the lineage's droplets (seeded by refresh, else listed
//! by the first create, empty without asking for a lineage this run made), so N creates do
//! not make N list calls; a create this process already attempted lists afresh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::marks;
use super::{DigitalOceanDriver, lock};
use crate::backoff::Policy;
use crate::driver::{CreateRequest, DriverError, Scope};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};

/// Live droplets of one lineage by the address they were created for (the lowest id of any
/// twins).
pub(super) type Live = HashMap<Address, Value>;
pub(super) type LiveCell = Arc<tokio::sync::OnceCell<Live>>;

const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(5);

/// The droplets of a list by address.
pub(super) fn by_address(droplets: &[Value]) -> Live {
    let mut live = Live::new();
    for d in droplets {
        let Some(address) = marks::address_of(&tags(d)) else {
            continue;
        };
        let id = d["id"].as_u64().unwrap_or(u64::MAX);
        match live.get(&address) {
            Some(old) if old["id"].as_u64().unwrap_or(u64::MAX) <= id => {}
            _ => {
                live.insert(address, d.clone());
            }
        }
    }
    live
}

pub(super) fn tags(droplet: &Value) -> Vec<String> {
    droplet["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

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

impl DigitalOceanDriver {
    /// The live droplets of `lineage`, listed at most once per process.
    async fn live(&self, lineage: &str) -> Result<LiveCell, DriverError> {
        let cell = lock(&self.live)
            .entry(lineage.to_string())
            .or_default()
            .clone();
        let new = lock(&self.new_lineages).contains(lineage);
        cell.get_or_try_init(|| async {
            if new {
                return Ok(Live::new());
            }
            Ok::<Live, DriverError>(by_address(&self.lineage_droplets(lineage).await?))
        })
        .await?;
        Ok(cell)
    }

    /// Every droplet tagged with `lineage`, one call per page.
    pub(super) async fn lineage_droplets(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        self.list(
            "/v2/droplets",
            &[("tag_name", marks::lineage_tag(lineage))],
            "droplets",
        )
        .await
    }

    pub(super) fn seed_live(&self, lineage: &str, live: Live) {
        lock(&self.live).insert(
            lineage.to_string(),
            Arc::new(tokio::sync::OnceCell::new_with(Some(live))),
        );
    }

    pub(super) async fn create_droplet(
        &self,
        request: &CreateRequest<'_>,
    ) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        let region = placement.location.as_str();
        let dependency = |kind: Kind| {
            request.dependencies.iter().find(|d| {
                d.kind == kind
                    && d.placement.location == region
                    && desired.depends_on.contains(&d.address)
            })
        };
        for kind in [Kind::Firewall, Kind::Key] {
            if let Some(address) = desired
                .depends_on
                .iter()
                .find(|a| a.is_regional(kind, &self.name, region))
                && dependency(kind).is_none()
            {
                return Err(DriverError::fail_over(format!(
                    "{} cannot be created in {region}: {address} does not exist (its creation \
                     failed).",
                    desired.address
                ))
                .with_code("DependencyMissing")
                .with_scope(Scope::Location));
            }
        }
        let address_tag = marks::address_tag(&desired.address).ok_or_else(|| {
            DriverError::fatal(format!(
                "{} is not a node address DigitalOcean tags can carry.",
                desired.address
            ))
        })?;

        // Adoption: a droplet of this lineage and address a crash left behind, but never the
        // old droplet of a replace.
        let replacing: Vec<u64> = request
            .replacing
            .iter()
            .filter_map(|r| r.provider_id.parse().ok())
            .collect();
        let retried = lock(&self.launched).contains(desired.address.as_str());
        let found = if retried {
            by_address(
                &self
                    .lineage_droplets(request.lineage)
                    .await?
                    .into_iter()
                    .filter(|d| !replacing.contains(&d["id"].as_u64().unwrap_or(0)))
                    .collect::<Vec<_>>(),
            )
            .remove(&desired.address)
        } else {
            let cell = self.live(request.lineage).await?;
            cell.get()
                .and_then(|live| live.get(&desired.address))
                .filter(|d| !replacing.contains(&d["id"].as_u64().unwrap_or(0)))
                .cloned()
        };
        if let Some(found) = found {
            let id = found["id"].as_u64().unwrap_or_default();
            let active = self.wait_active(id, &desired.address).await?;
            return Ok(self.existing(desired, placement, &active));
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
        lock(&self.launched).insert(desired.address.to_string());
        let answer = self
            .call(Method::Post, "/v2/droplets", Some(&body), Repeat::Once)
            .await?;
        let id = answer["droplet"]["id"].as_u64().ok_or_else(|| {
            DriverError::retry(format!(
                "DigitalOcean POST /v2/droplets answered without a droplet id (provider `{}`).",
                self.name
            ))
            .with_code("MalformedResponse")
        })?;
        let active = self.wait_active(id, &desired.address).await?;
        Ok(self.existing(desired, placement, &active))
    }

    fn existing(&self, desired: &Desired, placement: &Placement, droplet: &Value) -> Existing {
        Existing {
            address: desired.address.clone(),
            kind: Kind::Node,
            placement: placement.clone(),
            provider_id: droplet["id"].as_u64().unwrap_or_default().to_string(),
            attributes: desired.attributes.clone(),
            observed: observed(droplet),
            dependencies: desired.depends_on.clone(),
        }
    }

    /// Polls the droplet until it is active with a public address.
    async fn wait_active(&self, id: u64, address: &Address) -> Result<Value, DriverError> {
        let mut polls = Policy::until(POLL_FIRST, POLL_MAX, self.ready_timeout)
            .with_jitter(0.0)
            .start();
        loop {
            match self
                .api()?
                .call(
                    Method::Get,
                    &format!("/v2/droplets/{id}"),
                    &[],
                    None,
                    Repeat::Safe,
                )
                .await
            {
                Ok(answer) => {
                    let droplet = &answer["droplet"];
                    if droplet["status"] == "active" && !observed(droplet)["public_ip"].is_null() {
                        return Ok(droplet.clone());
                    }
                }
                // Not visible yet right after the create.
                Err(e) if super::api::is_not_found(&e) => {}
                Err(e) => return Err(super::api::driver_error(&self.name, e)),
            }
            if !polls.wait(None).await {
                return Err(DriverError::retry(format!(
                    "Droplet {id} for {address} was not active after {}s; it is left as it is \
                     and adopted by the next attempt.",
                    self.ready_timeout.as_secs()
                ))
                .with_code("WaitTimeout"));
            }
        }
    }
}

/// The node command as user data: a shell script cloud-init runs at first boot, the group's
/// `env` exported first (names are checked by the schema; values single-quoted).
pub(crate) fn user_data(command: &str, attributes: &Attributes) -> String {
    let exports: String = attributes
        .get("env")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name, value.as_str()?)))
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', "'\\''")))
        .collect();
    format!("#!/bin/sh\n{exports}{command}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_resolve_to_the_lowest_id_and_addresses_come_from_tags() {
        let droplets = [
            json!({"id": 9, "tags": ["oss:lineage:L", "oss:node:web:0"]}),
            json!({"id": 3, "tags": ["oss:lineage:L", "oss:node:web:0"]}),
            json!({"id": 4, "tags": ["oss:lineage:L", "oss:node:web:1"]}),
            json!({"id": 5, "tags": ["oss:lineage:L"]}),
        ];
        let live = by_address(&droplets);
        assert_eq!(live.len(), 2);
        assert_eq!(live[&Address::node("web", 0)]["id"], 3);
    }

    #[test]
    fn user_data_exports_env_then_runs_the_command() {
        let mut attributes = Attributes::new();
        attributes.insert("env".into(), json!({"A": "it's"}));
        assert_eq!(
            user_data("echo hi", &attributes),
            "#!/bin/sh\nexport A='it'\\''s'\necho hi\n"
        );
    }
}
