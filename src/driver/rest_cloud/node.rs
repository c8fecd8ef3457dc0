//! What a REST-cloud node create shares across providers: the snapshot of a lineage's live
//! nodes that creates adopt from (so a crash ends in adoption, not a duplicate), the check
//! that a node's key and firewall exist in its region, the poll pacing of a wait until
//! running and its state record, and the node command as user data. Node ids are numbers
//! (DigitalOcean, Linode) or strings (Vultr's UUIDs); state keeps either as text.
//!
//! Adoption looks in one snapshot of the lineage's nodes (seeded by refresh, else listed by
//! the first create, empty without asking for a lineage this run made), so N creates do not
//! make N list calls; a create this process already attempted lists afresh.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{lock, marks};
use crate::backoff::Policy;
use crate::driver::{CreateRequest, DriverError, Scope};
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};

/// Live nodes of one lineage by the address they were created for (the lowest id of any
/// twins).
pub type Live = HashMap<Address, Value>;
type LiveCell = Arc<tokio::sync::OnceCell<Live>>;

/// The first and the longest pause between two polls of a node being created.
const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(5);

/// Polls a node being created until `ready` holds of it, at the shared pacing, for at most
/// `timeout`; then `timed_out` is the error. `get` reads the node once: `Ok(None)` while it
/// is not visible yet (right after the create).
pub async fn wait_until<F, Fut>(
    timeout: Duration,
    mut get: F,
    ready: impl Fn(&Value) -> bool,
    timed_out: impl FnOnce() -> DriverError,
) -> Result<Value, DriverError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Value>, DriverError>>,
{
    let mut polls = Policy::until(POLL_FIRST, POLL_MAX, timeout)
        .with_jitter(0.0)
        .start();
    loop {
        if let Some(node) = get().await?
            && ready(&node)
        {
            return Ok(node);
        }
        if !polls.wait(None).await {
            return Err(timed_out());
        }
    }
}

/// The state record of the node `desired` at `placement` is now, `observed` as its driver
/// reads it.
pub fn existing(
    desired: &Desired,
    placement: &Placement,
    node: &Value,
    observed: Attributes,
) -> Existing {
    Existing {
        address: desired.address.clone(),
        kind: Kind::Node,
        placement: placement.clone(),
        provider_id: id_of(node).unwrap_or_default(),
        attributes: desired.attributes.clone(),
        observed,
        dependencies: desired.depends_on.clone(),
    }
}

/// Reads the address a listed node was created for from its marks (`None`: not one of
/// oss's nodes).
pub type AddressOf = fn(&Value) -> Option<Address>;

/// The address a droplet's or instance's `tags` name (`marks`).
pub fn tagged(node: &Value) -> Option<Address> {
    marks::address_of(&marks::tags(node))
}

/// A node's `id` as state records it: DigitalOcean's and Linode's numbers, Vultr's UUIDs.
pub fn id_of(node: &Value) -> Option<String> {
    match &node["id"] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The order twins are told apart in: numeric ids by number (the first created), string ids
/// by their text; a node without an id last.
fn id_order(node: &Value) -> (u64, String) {
    match &node["id"] {
        Value::Number(n) => (n.as_u64().unwrap_or(u64::MAX - 1), String::new()),
        Value::String(s) => (0, s.clone()),
        _ => (u64::MAX, String::new()),
    }
}

/// The nodes of a list (droplets, instances: objects with an `id` and `tags`) by the address
/// their tags name.
pub fn by_address(nodes: &[Value]) -> Live {
    by_address_of(nodes, tagged)
}

/// The nodes of a list (objects with an `id`) by the address `address_of` reads from their
/// marks (tags, Hetzner's labels); of twins, the first by [`id_order`].
pub fn by_address_of(nodes: &[Value], address_of: AddressOf) -> Live {
    let mut live = Live::new();
    for n in nodes {
        let Some(address) = address_of(n) else {
            continue;
        };
        match live.get(&address) {
            Some(old) if id_order(old) <= id_order(n) => {}
            _ => {
                live.insert(address, n.clone());
            }
        }
    }
    live
}

/// What one driver knows of the lineages it creates in, for adoption.
pub struct Adoption {
    /// Where a listed node's address is read from (its tags by default).
    address_of: AddressOf,
    /// Per lineage: the live nodes of the lineage, read once (by refresh, or by the first
    /// create).
    live: Mutex<HashMap<String, LiveCell>>,
    /// Lineages this run created: nothing of them can exist yet.
    new_lineages: Mutex<HashSet<String>>,
    /// Addresses this process sent a create for: a retry looks afresh.
    launched: Mutex<HashSet<String>>,
    /// Ids of nodes this process deleted (the old node of a destroy-then-create replace is
    /// still in the snapshot refresh took, and must not be adopted).
    deleted: Mutex<HashSet<String>>,
}

impl Default for Adoption {
    fn default() -> Self {
        Adoption::reading(tagged)
    }
}

impl Adoption {
    /// Adoption of nodes whose address `address_of` reads (Hetzner: from labels).
    pub fn reading(address_of: AddressOf) -> Self {
        Adoption {
            address_of,
            live: Mutex::default(),
            new_lineages: Mutex::default(),
            launched: Mutex::default(),
            deleted: Mutex::default(),
        }
    }

    pub fn lineage_is_new(&self, lineage: &str) {
        lock(&self.new_lineages).insert(lineage.to_string());
    }

    /// Whether this run created `lineage` (so nothing of it can exist to list).
    pub fn is_new(&self, lineage: &str) -> bool {
        lock(&self.new_lineages).contains(lineage)
    }

    /// What refresh listed of `lineage`: the snapshot creates adopt from.
    pub fn seed(&self, lineage: &str, live: Live) {
        lock(&self.live).insert(
            lineage.to_string(),
            Arc::new(tokio::sync::OnceCell::new_with(Some(live))),
        );
    }

    /// What refresh listed of `lineage` (its nodes, read by this adoption's `address_of`):
    /// the snapshot creates adopt from.
    pub fn seed_listed(&self, lineage: &str, nodes: &[Value]) {
        self.seed(lineage, by_address_of(nodes, self.address_of));
    }

    /// Called once the node `id` is deleted: it is never adopted afterwards.
    pub fn deleted(&self, id: &str) {
        lock(&self.deleted).insert(id.to_string());
    }

    /// Called right before the create call is sent for `address`.
    pub fn launching(&self, address: &Address) {
        lock(&self.launched).insert(address.to_string());
    }

    /// The node of this lineage and address a crash left behind, never one this create
    /// replaces. `list` lists the lineage's nodes; it is called at most once per lineage,
    /// and again for a create this process already sent.
    pub async fn find<F, Fut>(
        &self,
        request: &CreateRequest<'_>,
        list: F,
    ) -> Result<Option<Value>, DriverError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<Value>, DriverError>>,
    {
        let address = &request.desired.address;
        let replacing: Vec<&str> = request
            .replacing
            .iter()
            .map(|r| r.provider_id.as_str())
            .collect();
        let deleted = lock(&self.deleted).clone();
        let kept = |n: &Value| {
            id_of(n).is_none_or(|id| !replacing.contains(&id.as_str()) && !deleted.contains(&id))
        };
        if lock(&self.launched).contains(address.as_str()) {
            let nodes: Vec<Value> = list().await?.into_iter().filter(kept).collect();
            return Ok(by_address_of(&nodes, self.address_of).remove(address));
        }
        let cell = lock(&self.live)
            .entry(request.lineage.to_string())
            .or_default()
            .clone();
        let new = self.is_new(request.lineage);
        let address_of = self.address_of;
        cell.get_or_try_init(|| async {
            if new {
                return Ok(Live::new());
            }
            Ok::<Live, DriverError>(by_address_of(&list().await?, address_of))
        })
        .await?;
        Ok(cell
            .get()
            .and_then(|live| live.get(address))
            .filter(|n| kept(n))
            .cloned())
    }
}

/// The dependency of `kind` (key, firewall) the node of `request` uses in its region.
pub fn dependency<'r>(request: &CreateRequest<'r>, kind: Kind) -> Option<&'r Existing> {
    let desired = request.desired;
    let region = request.placement.location.as_str();
    request.dependencies.iter().find(|d| {
        d.kind == kind && d.placement.location == region && desired.depends_on.contains(&d.address)
    })
}

/// Refuses, as a fail-over of the location, a node whose region's key or firewall of
/// provider `provider` was planned but does not exist (its creation failed).
pub fn check_dependencies(request: &CreateRequest<'_>, provider: &str) -> Result<(), DriverError> {
    let desired = request.desired;
    let region = request.placement.location.as_str();
    for kind in [Kind::Firewall, Kind::Key] {
        if let Some(address) = desired
            .depends_on
            .iter()
            .find(|a| a.is_regional(kind, provider, region))
            && dependency(request, kind).is_none()
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
    Ok(())
}

/// The node command as user data: a shell script cloud-init runs at first boot, the group's
/// `env` exported first (names are checked by the schema; values single-quoted).
pub fn user_data(command: &str, attributes: &Attributes) -> String {
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
    use serde_json::json;

    #[test]
    fn twins_resolve_to_the_lowest_id_and_addresses_come_from_tags() {
        let nodes = [
            json!({"id": 9, "tags": ["oss:lineage:L", "oss:node:web:0"]}),
            json!({"id": 3, "tags": ["oss:lineage:L", "oss:node:web:0"]}),
            json!({"id": 4, "tags": ["oss:lineage:L", "oss:node:web:1"]}),
            json!({"id": 5, "tags": ["oss:lineage:L"]}),
        ];
        let live = by_address(&nodes);
        assert_eq!(live.len(), 2);
        assert_eq!(live[&Address::node("web", 0)]["id"], 3);
        let uuids = [
            json!({"id": "c9b2", "tags": ["oss:node:web:0"]}),
            json!({"id": "0a41", "tags": ["oss:node:web:0"]}),
        ];
        assert_eq!(by_address(&uuids)[&Address::node("web", 0)]["id"], "0a41");
        assert_eq!(id_of(&uuids[0]).as_deref(), Some("c9b2"));
        assert_eq!(id_of(&nodes[0]).as_deref(), Some("9"));
        assert_eq!(id_of(&json!({"id": ""})), None);
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
