//! Instances: one per node, created after looking for one of this lineage and address to
//! adopt, polled until `running` with an address, deleted idempotently.
//!
//! Adoption looks in one snapshot of the lineage's instances (seeded by refresh, else listed
//! by the first create, empty without asking for a lineage this run made), so N creates do
//! not make N list calls; a create this process already attempted lists afresh.
//!
//! Linode wants a root password with every image deploy: each create draws a random one,
//! sends it once and forgets it (login is by the SSH key in `authorized_keys`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::marks;
use super::{LinodeDriver, lock};
use crate::backoff::Policy;
use crate::driver::{CreateRequest, DriverError, Scope};
use crate::net::rest::{Method, Repeat};
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};

/// Live instances of one lineage by the address they were created for (the lowest id of any
/// twins).
pub(super) type Live = HashMap<Address, Value>;
pub(super) type LiveCell = Arc<tokio::sync::OnceCell<Live>>;

const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(5);

/// The instances of a list by address.
pub(super) fn by_address(instances: &[Value]) -> Live {
    let mut live = Live::new();
    for i in instances {
        let Some(address) = marks::address_of(&tags(i)) else {
            continue;
        };
        let id = i["id"].as_u64().unwrap_or(u64::MAX);
        match live.get(&address) {
            Some(old) if old["id"].as_u64().unwrap_or(u64::MAX) <= id => {}
            _ => {
                live.insert(address, i.clone());
            }
        }
    }
    live
}

fn tags(instance: &Value) -> Vec<String> {
    instance["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

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

impl LinodeDriver {
    /// The live instances of `lineage`, listed at most once per process.
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
            Ok::<Live, DriverError>(by_address(&self.lineage_instances(lineage).await?))
        })
        .await?;
        Ok(cell)
    }

    /// Every instance tagged with `lineage`, one call per page (`X-Filter` on the tag).
    pub(super) async fn lineage_instances(&self, lineage: &str) -> Result<Vec<Value>, DriverError> {
        let filter = json!({"tags": marks::lineage_tag(lineage)});
        self.list("/v4/linode/instances", Some(&filter)).await
    }

    pub(super) fn seed_live(&self, lineage: &str, live: Live) {
        lock(&self.live).insert(
            lineage.to_string(),
            Arc::new(tokio::sync::OnceCell::new_with(Some(live))),
        );
    }

    pub(super) async fn create_instance(
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
                "{} is not a node address Linode tags can carry.",
                desired.address
            ))
        })?;

        // Adoption: an instance of this lineage and address a crash left behind, but never
        // the old instance of a replace.
        let replacing: Vec<u64> = request
            .replacing
            .iter()
            .filter_map(|r| r.provider_id.parse().ok())
            .collect();
        let retried = lock(&self.launched).contains(desired.address.as_str());
        let found = if retried {
            by_address(
                &self
                    .lineage_instances(request.lineage)
                    .await?
                    .into_iter()
                    .filter(|i| !replacing.contains(&i["id"].as_u64().unwrap_or(0)))
                    .collect::<Vec<_>>(),
            )
            .remove(&desired.address)
        } else {
            let cell = self.live(request.lineage).await?;
            cell.get()
                .and_then(|live| live.get(&desired.address))
                .filter(|i| !replacing.contains(&i["id"].as_u64().unwrap_or(0)))
                .cloned()
        };
        if let Some(found) = found {
            let id = found["id"].as_u64().unwrap_or_default();
            let running = self.wait_running(id, &desired.address).await?;
            return Ok(self.existing(desired, placement, &running));
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
            let script = crate::driver::digitalocean::node::user_data(command, attributes);
            body["metadata"] =
                json!({"user_data": base64::engine::general_purpose::STANDARD.encode(script)});
        }
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the instance by its tags instead of creating another.
        lock(&self.launched).insert(desired.address.to_string());
        let answer = self
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
                self.name
            ))
            .with_code("MalformedResponse")
        })?;
        let running = self.wait_running(id, &desired.address).await?;
        Ok(self.existing(desired, placement, &running))
    }

    fn existing(&self, desired: &Desired, placement: &Placement, instance: &Value) -> Existing {
        Existing {
            address: desired.address.clone(),
            kind: Kind::Node,
            placement: placement.clone(),
            provider_id: instance["id"].as_u64().unwrap_or_default().to_string(),
            attributes: desired.attributes.clone(),
            observed: observed(instance),
            dependencies: desired.depends_on.clone(),
        }
    }

    /// Polls the instance until it is running with a public address.
    async fn wait_running(&self, id: u64, address: &Address) -> Result<Value, DriverError> {
        let mut polls = Policy::until(POLL_FIRST, POLL_MAX, self.ready_timeout)
            .with_jitter(0.0)
            .start();
        loop {
            match self
                .api()?
                .call(
                    Method::Get,
                    &format!("/v4/linode/instances/{id}"),
                    &[],
                    None,
                    Repeat::Safe,
                )
                .await
            {
                Ok(instance) => {
                    if instance["status"] == "running"
                        && !observed(&instance)["public_ip"].is_null()
                    {
                        return Ok(instance);
                    }
                }
                // Not visible yet right after the create.
                Err(e) if super::api::is_not_found(&e) => {}
                Err(e) => return Err(super::api::driver_error(&self.name, e)),
            }
            if !polls.wait(None).await {
                return Err(DriverError::retry(format!(
                    "Linode {id} for {address} was not running after {}s; it is left as it is \
                     and adopted by the next attempt.",
                    self.ready_timeout.as_secs()
                ))
                .with_code("WaitTimeout"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_resolve_to_the_lowest_id_and_addresses_come_from_tags() {
        let instances = [
            json!({"id": 9, "tags": ["oss:lineage:L", "oss:node:web:0"]}),
            json!({"id": 3, "tags": ["oss:lineage:L", "oss:node:web:0"]}),
            json!({"id": 4, "tags": ["oss:lineage:L", "oss:node:web:1"]}),
            json!({"id": 5, "tags": ["oss:lineage:L"]}),
        ];
        let live = by_address(&instances);
        assert_eq!(live.len(), 2);
        assert_eq!(live[&Address::node("web", 0)]["id"], 3);
    }

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
