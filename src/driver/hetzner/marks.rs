//! How oss marks what it creates at Hetzner: labels, whose keys are `prefix/name` and whose
//! values are at most 63 characters of letters, digits, `-`, `_` and `.`, beginning and
//! ending with a letter or digit (the API description's "Labels"). A server carries
//! `oss/lineage=LINEAGE` and `oss/node=GROUP.INDEX` (its address `node.GROUP[INDEX]`; a
//! group name starts with a letter and holds no `.`, and an index ends in a digit, so the
//! value always fits); a firewall and a key carry the lineage label and the lineage in
//! their names. Refresh selects by `oss/lineage=LINEAGE` (a label selector). Pure text.

use serde_json::Value;

use crate::resource::Address;

pub use crate::driver::rest_cloud::marks::{name, object_name};

pub const LINEAGE_KEY: &str = "oss/lineage";
pub const NODE_KEY: &str = "oss/node";

/// The longest label value Hetzner takes.
const VALUE_MAX: usize = 63;

/// Whether `value` is a label value Hetzner accepts.
pub fn valid_value(value: &str) -> bool {
    let edge = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    value.len() <= VALUE_MAX
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && edge(value.chars().next())
        && edge(value.chars().last())
}

/// The selector of a lineage's objects (`label_selector`).
pub fn lineage_selector(lineage: &str) -> String {
    format!("{LINEAGE_KEY}={lineage}")
}

/// `web.3` for `node.web[3]`; `None` for an address of another shape or a value the labels
/// cannot hold.
pub fn node_value(address: &Address) -> Option<String> {
    let group = address.group()?;
    let index = address
        .as_str()
        .strip_prefix(&format!("node.{group}["))?
        .strip_suffix(']')?;
    index.parse::<usize>().ok()?;
    let value = format!("{group}.{index}");
    valid_value(&value).then_some(value)
}

/// The labels of a server of `lineage` at `address`; `None` when they cannot be written.
pub fn node_labels(lineage: &str, address: &Address) -> Option<Value> {
    let node = node_value(address)?;
    let mut labels = lineage_labels(lineage);
    labels[NODE_KEY] = Value::from(node);
    valid_value(lineage).then_some(labels)
}

/// The labels of a key or firewall of `lineage`.
pub fn lineage_labels(lineage: &str) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert(LINEAGE_KEY.into(), Value::from(lineage));
    Value::Object(labels)
}

/// The address a listed server's labels name.
pub fn address_of(server: &Value) -> Option<Address> {
    let value = server["labels"][NODE_KEY].as_str()?;
    let (group, index) = value.rsplit_once('.')?;
    Some(Address::node(group, index.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_round_trip_through_labels_within_hetzners_charset() {
        let a = Address::node("web_1-x", 12);
        let labels = node_labels("0f3c-9a", &a).unwrap();
        assert_eq!(
            labels,
            json!({"oss/lineage": "0f3c-9a", "oss/node": "web_1-x.12"})
        );
        assert_eq!(address_of(&json!({"labels": labels})), Some(a));
        assert_eq!(address_of(&json!({"labels": {"oss/node": "web"}})), None);
        assert_eq!(address_of(&json!({"labels": {}})), None);
        assert_eq!(node_value(&Address("firewall.h.fsn1".into())), None);
        assert!(node_labels("bad lineage", &Address::node("web", 0)).is_none());
        assert!(valid_value("") && valid_value("a.b-c_d"));
        assert!(!valid_value("-a") && !valid_value("a_") && !valid_value(&"a".repeat(64)));
        assert_eq!(lineage_selector("L"), "oss/lineage=L");
    }
}
