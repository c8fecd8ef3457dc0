//! The tags a REST-cloud node carries: `oss:lineage:LINEAGE` and `oss:node:GROUP:INDEX` (its
//! address `node.GROUP[INDEX]`). The text fits both DigitalOcean's bare-name tags
//! (`^[a-zA-Z0-9_\-\:]+$`) and Linode's free-text tags. And the hostname-shaped names
//! DigitalOcean and Hetzner give droplets, servers, keys and firewalls. Pure text.

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

/// A hostname-shaped name (letters, digits, `.` and `-`, starting and ending with a letter
/// or digit), at most `max` characters: what DigitalOcean and Hetzner accept for servers,
/// firewalls and keys.
pub fn name(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "oss".into()
    } else {
        trimmed.to_string()
    }
}

/// The name of a firewall or key named `base`: the region and the lineage's first 8
/// characters added (the suffix kept whole within `max`), so a create after a crash finds
/// its own by name.
pub fn object_name(base: &str, region: Option<&str>, lineage: &str, max: usize) -> String {
    let short: String = lineage.chars().take(8).collect();
    let suffix = match region {
        Some(region) => format!("-{region}-{short}"),
        None => format!("-{short}"),
    };
    let whole = format!("{base}{suffix}");
    if whole.len() <= max {
        return name(&whole, max);
    }
    let room = max.saturating_sub(suffix.len()).max(1);
    name(&format!("{}{suffix}", name(base, room)), max)
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

    #[test]
    fn names_are_hostname_shaped_and_keep_their_lineage_suffix() {
        assert_eq!(name("oss-my_app-web", 64), "oss-my-app-web");
        assert_eq!(name("__", 64), "oss");
        assert_eq!(
            object_name("oss-a", Some("nyc1"), "0123456789", 255),
            "oss-a-nyc1-01234567"
        );
        let long = object_name(&"x".repeat(80), Some("fsn1"), "0123456789", 63);
        assert!(
            long.len() <= 63 && long.ends_with("-fsn1-01234567"),
            "{long}"
        );
    }
}
