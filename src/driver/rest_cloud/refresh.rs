//! What a REST-cloud refresh makes of its list calls: the state's nodes, keys and firewalls
//! looked up by id in what the lists returned, each read by its driver's `observed`, and a
//! key keeps whether oss owns it (a key the account held before is never oss's to delete).
//! Pure: the listing is the driver's.

use std::collections::HashMap;

use serde_json::Value;

use super::node::id_of;
use crate::driver::Refreshed;
use crate::resource::{Attributes, Existing, Kind};

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
