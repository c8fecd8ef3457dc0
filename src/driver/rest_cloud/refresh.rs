//! The end of a REST cloud's refresh, written once: what the list calls saw (nodes and
//! firewalls by id with what state reports of them, the account's keys) matched against
//! what state knows, so each known resource is either observed or gone. A key state marked
//! `owned: false` (the user's, used but never deleted) stays so. Pure.

use std::collections::HashMap;

use serde_json::Value;

use crate::driver::Refreshed;
use crate::resource::{Attributes, Existing, Kind};

/// The refresh of `known` from what the lists held: `nodes` and `firewalls` as (id, what
/// state reports), `keys` as listed, reported through `key_observed(key, owned)`.
pub fn refreshed(
    known: &[Existing],
    nodes: impl IntoIterator<Item = (String, Attributes)>,
    keys: &[Value],
    key_observed: fn(&Value, bool) -> Attributes,
    firewalls: impl IntoIterator<Item = (String, Attributes)>,
) -> Refreshed {
    let mut seen: HashMap<(Kind, String), Attributes> = HashMap::new();
    for (id, observed) in nodes {
        seen.insert((Kind::Node, id), observed);
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
        let id = k["id"].to_string();
        let mine = owned.get(id.as_str()).copied().unwrap_or(true);
        seen.insert((Kind::Key, id), key_observed(k, mine));
    }
    for (id, observed) in firewalls {
        seen.insert((Kind::Firewall, id), observed);
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
    use crate::resource::{Address, Placement};
    use serde_json::json;

    fn known(address: &str, kind: Kind, id: &str, owned: Option<bool>) -> Existing {
        let mut observed = Attributes::new();
        if let Some(owned) = owned {
            observed.insert("owned".into(), Value::Bool(owned));
        }
        Existing {
            address: Address(address.into()),
            kind,
            placement: Placement {
                provider: "p".into(),
                location: "l".into(),
                size: String::new(),
                image: String::new(),
                hourly_price: None,
                currency: None,
            },
            provider_id: id.into(),
            attributes: Attributes::new(),
            observed,
            dependencies: Vec::new(),
        }
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
        let r = refreshed(
            &state,
            [("1".to_string(), up.clone())],
            &keys,
            key_observed,
            std::iter::empty(),
        );
        let seen = |a: &str| r.known[&Address(a.into())].clone();
        assert_eq!(seen("node.web[0]"), Some(up));
        assert_eq!(seen("node.web[1]"), None, "not listed: gone");
        assert_eq!(seen("key.p.l").unwrap()["owned"], false);
        assert_eq!(seen("key.p.m").unwrap()["owned"], true);
        assert_eq!(seen("firewall.p.l"), None);
        assert!(r.orphans.is_empty());
    }
}
