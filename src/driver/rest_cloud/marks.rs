//! The tags a REST-cloud node carries: `oss:lineage:LINEAGE` and `oss:node:GROUP:INDEX` (its
//! address `node.GROUP[INDEX]`). The text fits both DigitalOcean's bare-name tags
//! (`^[a-zA-Z0-9_\-\:]+$`) and Linode's free-text tags. Pure text.

use serde_json::Value;

use crate::resource::Address;

pub fn lineage_tag(lineage: &str) -> String {
    format!("oss:lineage:{lineage}")
}

/// `oss:node:web:3` for `node.web[3]`; `None` for an address of another shape.
pub fn address_tag(address: &Address) -> Option<String> {
    let group = address.group()?;
    let index = address
        .as_str()
        .strip_prefix(&format!("node.{group}["))?
        .strip_suffix(']')?;
    index.parse::<usize>().ok()?;
    Some(format!("oss:node:{group}:{index}"))
}

/// The address a node's tags name.
pub fn address_of(tags: &[String]) -> Option<Address> {
    tags.iter().find_map(|t| {
        let (group, index) = t.strip_prefix("oss:node:")?.rsplit_once(':')?;
        Some(Address::node(group, index.parse().ok()?))
    })
}

/// The `tags` of a droplet or instance as the API lists it.
pub fn tags(node: &Value) -> Vec<String> {
    node["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_tags() {
        let a = Address::node("web", 12);
        let tag = address_tag(&a).unwrap();
        assert_eq!(tag, "oss:node:web:12");
        assert_eq!(address_of(&["x".into(), tag]), Some(a));
        assert_eq!(address_tag(&Address("firewall.do.nyc1".into())), None);
        assert_eq!(address_of(&["oss:node:web:x".into()]), None);
        let node = serde_json::json!({"tags": ["a", 5, "b"]});
        assert_eq!(tags(&node), ["a", "b"]);
    }
}
