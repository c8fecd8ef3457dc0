//! The words every stage shares: a resource's address, its placement, what the strategy wants
//! of it ([`Desired`]) and what is known to exist ([`Existing`]).
//!
//! Plain data only: no I/O, no provider logic. Attributes are JSON values so every stage can
//! diff, render and store them without knowing the resource kind.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A stable resource address such as `node.web[0]`. Ordered naturally: `node.web[9]` comes
/// before `node.web[10]`, so state files and plans list nodes by index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(pub String);

impl Address {
    /// (text before `[`, the index, the rest) for natural ordering.
    fn sort_key(&self) -> (&str, u64, &str) {
        let text = self.0.as_str();
        match (text.find('['), text.find(']')) {
            (Some(open), Some(close)) if open < close => match text[open + 1..close].parse() {
                Ok(index) => (&text[..open], index, &text[close..]),
                Err(_) => (text, 0, ""),
            },
            _ => (text, 0, ""),
        }
    }
}

impl Ord for Address {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key()
            .cmp(&other.sort_key())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Address {
    /// The address of the `index`th node of the node group `group`.
    pub fn node(group: &str, index: usize) -> Self {
        Address(format!("node.{group}[{index}]"))
    }

    /// The address of a per-region resource of one node group (`firewall.web.aws.us-east-1`),
    /// or of a strategy written with the `node` shorthand (`firewall.aws.ap-southeast-2`, as
    /// before groups).
    pub fn regional(kind: Kind, group: Option<&str>, provider: &str, region: &str) -> Self {
        match group {
            Some(group) => Address(format!("{}.{group}.{provider}.{region}", kind.word())),
            None => Address(format!("{}.{provider}.{region}", kind.word())),
        }
    }

    /// Whether this is the address of a `kind` resource of `provider` in `region`, of any
    /// group.
    pub fn is_regional(&self, kind: Kind, provider: &str, region: &str) -> bool {
        self.0
            .strip_prefix(kind.word())
            .is_some_and(|rest| rest.starts_with('.'))
            && self.0.ends_with(&format!(".{provider}.{region}"))
    }

    /// The address of a DNS record set: a node's (`dns.web[0]`), a group's round-robin name
    /// (`dns.web`) or a service's `SRV` records (`dns._http._tcp`).
    pub fn record(name: &str) -> Self {
        Address(format!("dns.{name}"))
    }

    /// The address of the network of load-balancer provider `provider` (`network.aws-elb`).
    pub fn network(provider: &str) -> Self {
        Address(format!("network.{provider}"))
    }

    /// The address of the load balancer `name` (`lb.web`).
    pub fn balancer(name: &str) -> Self {
        Address(format!("lb.{name}"))
    }

    /// The group of a node address (`web` of `node.web[3]`).
    pub fn group(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("node.")?;
        Some(rest.split_once('[').map_or(rest, |(g, _)| g))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a `--target`/`--exclude` pattern names this address: either the whole address
    /// or a prefix ending before `[` or `.` (`node.web` names `node.web[3]`).
    pub fn matches(&self, pattern: &str) -> bool {
        match self.0.strip_prefix(pattern) {
            Some("") => true,
            Some(rest) => rest.starts_with('[') || rest.starts_with('.'),
            None => false,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a resource; decides which attributes can change in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A machine running the node's command.
    Node,
    /// An SSH key pair registered with a provider in one region.
    Key,
    /// A firewall (security group) opening the node's ports, in one region.
    Firewall,
    /// A DNS record set (with its ownership TXT record) a DNS provider publishes.
    Record,
    /// A load balancer sending its listeners' connections to a node group's nodes.
    Balancer,
    /// The network a provider's load balancers live in (`aws`: the region's default VPC, or
    /// a VPC of oss's own with an internet gateway and two subnets in two zones).
    Network,
}

impl Kind {
    /// Attributes a driver can change without replacing the resource.
    pub fn updatable(self, attribute: &str) -> bool {
        match self {
            Kind::Node => attribute == "tags" || LIFECYCLE.contains(&attribute),
            Kind::Firewall => matches!(attribute, "ports" | "sources" | "tags"),
            Kind::Key => false,
            // The name and type are the record's identity; what it holds changes in place.
            Kind::Record => attribute == "values" || attribute == "ttl",
            // Its name is its identity; members, listeners and check change in place.
            Kind::Balancer => attribute != "name",
            // Its address range and shape are its identity.
            Kind::Network => false,
        }
    }

    /// The first word of its addresses (`node`, `key`, `firewall`, `dns`).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Key => "key",
            Kind::Firewall => "firewall",
            Kind::Record => "dns",
            Kind::Balancer => "lb",
            Kind::Network => "network",
        }
    }
}

/// A node's lifecycle controls, kept among its attributes (only when `true`) so that state
/// remembers them: `prevent_destroy` still guards a node whose group left the strategy. They
/// change in place, and no provider ever sees them.
pub const LIFECYCLE: [&str; 2] = ["create_before_destroy", "prevent_destroy"];

/// Whether `attributes` set the lifecycle control `name` (one of [`LIFECYCLE`]).
pub fn lifecycle(attributes: &Attributes, name: &str) -> bool {
    attributes.get(name).and_then(Value::as_bool) == Some(true)
}

/// Where a resource lives: one offering of one provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub provider: String,
    pub location: String,
    pub size: String,
    pub image: String,
    /// Hourly price of the size at this location, in `currency`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `provider/location/size/image`; a resource without a size or an image (a balancer, a record)
/// shows only the parts it has (`haproxy/default`), never empty segments.
impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.location)?;
        match (self.size.is_empty(), self.image.is_empty()) {
            (true, true) => Ok(()),
            _ => write!(f, "/{}/{}", self.size, self.image),
        }
    }
}

/// Attribute map, sorted so that output and hashes are stable.
pub type Attributes = BTreeMap<String, Value>;

/// A resource as the strategy wants it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    pub address: Address,
    pub kind: Kind,
    /// The chosen placement (the first candidate).
    pub placement: Placement,
    /// Ranked fall-backs tried in order when a create is refused for capacity or quota.
    /// Shared by the nodes of a group whose fall-backs are the same.
    #[serde(default, skip_serializing_if = "no_fallbacks")]
    pub fallbacks: std::sync::Arc<[Placement]>,
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// Attributes written with references (`${node.db[0].address}`), as written: rendered
    /// again at apply time, once what they refer to exists. Shared by a group's nodes.
    #[serde(default, skip_serializing_if = "no_templates")]
    pub templates: std::sync::Arc<Attributes>,
    /// Attributes whose value is known only after apply (they refer to something this plan
    /// creates or replaces); `attributes` holds `null` for them until then.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub unknown: std::collections::BTreeSet<String>,
}

fn no_fallbacks(fallbacks: &std::sync::Arc<[Placement]>) -> bool {
    fallbacks.is_empty()
}

fn no_templates(templates: &std::sync::Arc<Attributes>) -> bool {
    templates.is_empty()
}

/// A resource known to exist, as recorded in state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Existing {
    pub address: Address,
    pub kind: Kind,
    pub placement: Placement,
    /// The provider's own id for the object.
    pub provider_id: String,
    /// The attributes it was created (or last updated) with.
    pub attributes: Attributes,
    /// What the provider reports about it (addresses, process ids...).
    #[serde(default)]
    pub observed: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Address>,
}

impl Existing {
    /// The value of one of the attributes references read (see [`crate::reference::ATTRIBUTES`]):
    /// `address` is the public address where there is one, else the private one; `port` the
    /// first of the node's ports; `zone_id` a load balancer's own DNS zone (the hosted zone
    /// of its DNS name, which a Route53 alias record names). `None`: not an attribute, or the
    /// provider reports none.
    pub fn exposed(&self, attribute: &str) -> Option<Value> {
        let observed = |key: &str| self.observed.get(key).filter(|v| !v.is_null()).cloned();
        let value = match attribute {
            "id" => Some(Value::from(self.provider_id.clone())),
            "name" => self.attributes.get("name").cloned(),
            "address" => observed("public_ip")
                .or_else(|| observed("addr"))
                .or_else(|| observed("private_ip")),
            "private_address" => observed("private_ip").or_else(|| observed("addr")),
            "port" => self.attributes.get("ports").and_then(|p| p.get(0)).cloned(),
            "provider" => Some(Value::from(self.placement.provider.clone())),
            "location" => Some(Value::from(self.placement.location.clone())),
            "region" => observed("region")
                .or_else(|| self.attributes.get("region").cloned())
                .or_else(|| Some(Value::from(self.placement.location.clone()))),
            "size" => Some(Value::from(self.placement.size.clone())),
            "hourly_price" => self.placement.hourly_price.map(Value::from),
            "zone_id" => observed("zone_id"),
            _ => None,
        };
        value.filter(|v| !v.is_null())
    }
}

impl Desired {
    /// The value of an attribute references read that is known before the resource exists
    /// (`name`, `port`); placement attributes may still change by fail-over, and addresses
    /// and ids come from the provider.
    pub fn exposed_before_apply(&self, attribute: &str) -> Option<Value> {
        match attribute {
            "name" => self.attributes.get("name").cloned(),
            "port" => self.attributes.get("ports").and_then(|p| p.get(0)).cloned(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placement_without_size_or_image_shows_no_empty_segments() {
        let mut p = Placement {
            provider: "haproxy".into(),
            location: "default".into(),
            size: String::new(),
            image: String::new(),
            hourly_price: None,
            currency: None,
        };
        assert_eq!(p.to_string(), "haproxy/default");
        p.size = "t3.micro".into();
        p.image = "ubuntu-22.04".into();
        assert_eq!(p.to_string(), "haproxy/default/t3.micro/ubuntu-22.04");
    }

    #[test]
    fn addresses_sort_by_index_and_match_prefixes() {
        let mut list: Vec<Address> = [10, 2, 9, 0]
            .iter()
            .map(|i| Address::node("web", *i))
            .collect();
        list.push(Address("key.aws".into()));
        list.sort();
        let text: Vec<&str> = list.iter().map(Address::as_str).collect();
        assert_eq!(
            text,
            [
                "key.aws",
                "node.web[0]",
                "node.web[2]",
                "node.web[9]",
                "node.web[10]"
            ]
        );
        let a = Address::node("web", 3);
        assert!(a.matches("node.web") && a.matches("node.web[3]") && a.matches("node"));
        assert!(!a.matches("node.we") && !a.matches("node.web[31]"));
    }
}
