//! A REST-cloud refresh, in list calls only, never one call per object: the lineage's nodes
//! (none listed when this run made the lineage), and the keys and firewalls only when the
//! state holds some, the three at once (each cloud's lists are its [`RestCloud`]'s); the
//! nodes listed seed the adoption of this run's creates. What it makes of the lists is pure:
//! the state's nodes, keys and firewalls looked up by id in what the lists returned, each
//! read by its driver's `observed`, and a key keeps whether oss owns it (a key the account
//! held before is never oss's to delete).

use std::collections::HashMap;

use serde_json::Value;

use super::driver::RestCloud;
use super::node::id_of;
use crate::driver::{DriverError, Refreshed};
use crate::resource::{Attributes, Existing, Kind};

/// What exists of `known` in `cloud`, for lineage `lineage` (see
/// [`crate::driver::Driver::refresh`]); seeds the cloud's adoption.
pub async fn lineage<C: RestCloud>(
    cloud: &C,
    lineage: &str,
    known: &[Existing],
) -> Result<Refreshed, DriverError> {
    let has = |kind: Kind| known.iter().any(|e| e.kind == kind);
    let new = cloud.adoption().is_new(lineage);
    let nodes = async {
        if new {
            Ok(Vec::new())
        } else {
            cloud.list_nodes(lineage).await
        }
    };
    let keys = async {
        if has(Kind::Key) {
            cloud.list_keys(lineage).await
        } else {
            Ok(Vec::new())
        }
    };
    let firewalls = async {
        if has(Kind::Firewall) {
            cloud.list_firewalls(lineage).await
        } else {
            Ok(Vec::new())
        }
    };
    let (nodes, keys, firewalls) = tokio::try_join!(nodes, keys, firewalls)?;
    cloud.adoption().seed_listed(lineage, &nodes);
    Ok(refreshed(known, &nodes, &keys, &firewalls, &C::OBSERVERS))
}

/// How one driver reads what its lists return.
pub struct Observers {
    pub node: fn(&Value) -> Attributes,
    /// A key, and whether oss owns it.
    pub key: fn(&Value, bool) -> Attributes,
    pub firewall: fn(&Value) -> Attributes,
}

/// What the lists say of each of `known` (`None`: gone).
pub fn refreshed(
    known: &[Existing],
    nodes: &[Value],
    keys: &[Value],
    firewalls: &[Value],
    read: &Observers,
) -> Refreshed {
    let mut seen: HashMap<(Kind, String), Attributes> = HashMap::new();
    for (kind, list) in [(Kind::Node, nodes), (Kind::Firewall, firewalls)] {
        for object in list {
            let Some(id) = id_of(object) else { continue };
            let observed = match kind {
                Kind::Node => (read.node)(object),
                _ => (read.firewall)(object),
            };
            seen.insert((kind, id), observed);
        }
    }
    let owned: HashMap<&str, bool> = known
        .iter()
        .filter(|e| e.kind == Kind::Key)
        .map(|e| {
            let owned = e.observed.get("owned") != Some(&Value::Bool(false));
            (e.provider_id.as_str(), owned)
        })
        .collect();
    for k in keys {
        let Some(id) = id_of(k) else { continue };
        let mine = owned.get(id.as_str()).copied().unwrap_or(true);
        seen.insert((Kind::Key, id), (read.key)(k, mine));
    }
    let mut refreshed = Refreshed::default();
    for existing in known {
        let observed = seen
            .get(&(existing.kind, existing.provider_id.clone()))
            .cloned();
        refreshed.known.insert(existing.address.clone(), observed);
    }
    refreshed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::rest_cloud::driver::testing;
    use crate::resource::Address;
    use serde_json::json;

    fn known(address: &str, kind: Kind, id: &str, owned: Option<bool>) -> Existing {
        let mut known = testing::known(address, kind, id);
        if let Some(owned) = owned {
            known.observed.insert("owned".into(), Value::Bool(owned));
        }
        known
    }

    fn key_observed(key: &Value, owned: bool) -> Attributes {
        let mut a = Attributes::new();
        a.insert("name".into(), key["name"].clone());
        a.insert("owned".into(), Value::Bool(owned));
        a
    }

    #[test]
    fn what_was_listed_is_observed_the_rest_is_gone_and_a_users_key_stays_unowned() {
        let state = [
            known("node.web[0]", Kind::Node, "1", None),
            known("node.web[1]", Kind::Node, "2", None),
            known("key.p.l", Kind::Key, "7", Some(false)),
            known("key.p.m", Kind::Key, "8", None),
            known("firewall.p.l", Kind::Firewall, "9", None),
        ];
        let mut up = Attributes::new();
        up.insert("status".into(), json!("running"));
        let keys = [
            json!({"id": 7, "name": "mine"}),
            json!({"id": 8, "name": "oss"}),
        ];
        let nodes = [json!({"id": 1, "status": "running"})];
        let read = Observers {
            node: |n| {
                let mut a = Attributes::new();
                a.insert("status".into(), n["status"].clone());
                a
            },
            key: key_observed,
            firewall: |_| Attributes::new(),
        };
        let r = refreshed(&state, &nodes, &keys, &[], &read);
        let seen = |a: &str| r.known[&Address(a.into())].clone();
        assert_eq!(seen("node.web[0]"), Some(up));
        assert_eq!(seen("node.web[1]"), None, "not listed: gone");
        assert_eq!(seen("key.p.l").unwrap()["owned"], false);
        assert_eq!(seen("key.p.m").unwrap()["owned"], true);
        assert_eq!(seen("firewall.p.l"), None);
        assert!(r.orphans.is_empty());
    }
}
