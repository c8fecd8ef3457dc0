//! What the REST-cloud drivers' keys and firewalls share: a firewall's TCP ports and their
//! allowed source blocks as the group states them (each driver shapes them into its API's
//! rules), and the state record of a created key or firewall.

use serde_json::Value;

use crate::driver::CreateRequest;
use crate::resource::{Attributes, Existing, Kind};

/// The firewall's TCP ports, in the order the group lists them.
pub fn ports(attributes: &Attributes) -> Vec<u64> {
    attributes
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect()
}

/// The CIDR blocks `port` accepts from (its `sources` entry); `None`: from anywhere.
pub fn sources(attributes: &Attributes, port: u64) -> Option<&Value> {
    attributes
        .get("sources")
        .and_then(Value::as_object)
        .and_then(|s| s.get(&port.to_string()))
}

/// The state record of the key or firewall `request` created (or found) as `id`.
pub fn made(request: &CreateRequest<'_>, kind: Kind, id: String, observed: Attributes) -> Existing {
    Existing {
        address: request.desired.address.clone(),
        kind,
        placement: request.placement.clone(),
        provider_id: id,
        attributes: request.desired.attributes.clone(),
        observed,
        dependencies: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_and_their_sources_come_from_the_group() {
        let mut attributes = Attributes::new();
        attributes.insert("ports".into(), json!([22, "x", 443]));
        attributes.insert("sources".into(), json!({"22": ["10.0.0.0/8"]}));
        assert_eq!(ports(&attributes), [22, 443]);
        assert_eq!(sources(&attributes, 22), Some(&json!(["10.0.0.0/8"])));
        assert_eq!(sources(&attributes, 443), None);
    }
}
