//! EC2 objects as the driver reads them from Describe* answers: instances, key pairs and
//! security groups, with their oss tags, plus the tags oss puts on what it creates.
//!
//! Parsing and tag bookkeeping only; the calls are made in `mod.rs`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::net::aws::xml::Element;
use crate::resource::Address;

/// The address of the resource an object was created for (`node.web[0]`).
pub const TAG_ADDRESS: &str = "oss:address";
/// The addresses of the nodes one RunInstances launched together, in launch order, written
/// compactly (`node.web[0-19,25]`, see [`compact`]): every instance of the call carries the
/// same tags, and its `amiLaunchIndex` picks its own address from the list.
pub const TAG_ADDRESSES: &str = "oss:addresses";
/// The lineage of the oss state that created it.
pub const TAG_LINEAGE: &str = "oss:lineage";
/// The provider's name in that state (several AWS providers may share an account).
pub const TAG_PROVIDER: &str = "oss:provider";
/// The resource's `name` attribute.
pub const TAG_NAME: &str = "oss:name";
/// A node's symbolic image (`ubuntu-24.04`), which the AMI id does not tell.
pub const TAG_IMAGE: &str = "oss:image";
/// The `ports` attribute as JSON (`[22,443]`).
pub const TAG_PORTS: &str = "oss:ports";
/// Present when the node's command is its user data.
pub const TAG_COMMAND: &str = "oss:command";
/// What the resource depends on, comma-separated addresses.
pub const TAG_DEPENDENCIES: &str = "oss:dependencies";
/// The tag the console shows as the name.
pub const TAG_NAME_CONSOLE: &str = "Name";

/// Tags as a map.
pub type Tags = BTreeMap<String, String>;

/// The user's tags of an object: everything but oss's own and a `Name` oss derived.
pub fn user_tags(tags: &Tags) -> Tags {
    let derived_name = tags.get(TAG_NAME);
    tags.iter()
        .filter(|(k, _)| !k.starts_with("oss:"))
        .filter(|(k, v)| !(k.as_str() == TAG_NAME_CONSOLE && Some(*v) == derived_name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The user's tags from an attribute map's `tags` (strings only).
pub fn attribute_tags(attributes: &crate::resource::Attributes) -> Tags {
    match attributes.get("tags") {
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        _ => Tags::new(),
    }
}

/// The user's tags plus a console `Name` (`name`) unless they give one.
pub fn visible_tags(user: &Tags, name: &str) -> Tags {
    let mut tags = user.clone();
    if !name.is_empty() {
        tags.entry(TAG_NAME_CONSOLE.to_string())
            .or_insert_with(|| name.to_string());
    }
    tags
}

fn tag_map(element: &Element) -> Tags {
    element.tags().into_iter().collect()
}

/// One EC2 instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub id: String,
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`.
    pub state: String,
    pub zone: String,
    pub instance_type: String,
    pub image_id: String,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub tags: Tags,
    /// Why it stopped or ended (`Server.InsufficientInstanceCapacity: ...`).
    pub state_reason: Option<String>,
    /// Its place in the RunInstances call that launched it (`amiLaunchIndex`, from 0).
    pub launch_index: Option<usize>,
    /// The key pair it was launched with (`keyName`).
    pub key_name: Option<String>,
    /// The ids of its security groups (`groupSet`).
    pub groups: Vec<String>,
}

impl Instance {
    pub fn from_item(item: &Element) -> Option<Instance> {
        let text = |path: &[&str]| item.text_at(path).map(String::from);
        Some(Instance {
            id: text(&["instanceId"])?,
            state: text(&["instanceState", "name"]).unwrap_or_default(),
            zone: text(&["placement", "availabilityZone"]).unwrap_or_default(),
            instance_type: text(&["instanceType"]).unwrap_or_default(),
            image_id: text(&["imageId"]).unwrap_or_default(),
            private_ip: text(&["privateIpAddress"]),
            public_ip: text(&["ipAddress"]),
            tags: tag_map(item),
            state_reason: match (
                item.text_at(&["stateReason", "code"]),
                item.text_at(&["stateReason", "message"]),
            ) {
                (Some(code), Some(message)) => Some(format!("{code}: {message}")),
                (code, message) => code.or(message).map(String::from),
            },
            launch_index: item
                .text_at(&["amiLaunchIndex"])
                .and_then(|n| n.trim().parse().ok()),
            key_name: text(&["keyName"]),
            groups: item
                .items("groupSet")
                .filter_map(|g| g.text_at(&["groupId"]).map(String::from))
                .collect(),
        })
    }

    /// Every instance of a DescribeInstances or RunInstances answer.
    pub fn all(answer: &Element) -> Vec<Instance> {
        let reserved = answer
            .items("reservationSet")
            .flat_map(|r| r.items("instancesSet"));
        // RunInstances answers hold `instancesSet` at the top.
        reserved
            .chain(answer.items("instancesSet"))
            .filter_map(Instance::from_item)
            .collect()
    }

    /// The address it was created for: its `oss:address` (a single launch, or a rename),
    /// else its place in its batch's `oss:addresses`.
    pub fn address(&self) -> Option<Address> {
        if let Some(address) = self.tags.get(TAG_ADDRESS) {
            return Some(Address(address.clone()));
        }
        let (prefix, indexes) = expand(self.tags.get(TAG_ADDRESSES)?)?;
        let index = indexes.get(self.launch_index?)?;
        Some(Address(format!("{prefix}[{index}]")))
    }

    /// Its `name` attribute: the `oss:name` tag of a single launch; in a batch (whose tags
    /// hold the names of all, see [`batch_name`]) the group's name and the node's index.
    pub fn name(&self) -> String {
        if self.tags.contains_key(TAG_ADDRESSES)
            && let Some((group, index)) = self.address().as_ref().and_then(node_index)
        {
            return format!("{group}-{index}");
        }
        self.tags.get(TAG_NAME).cloned().unwrap_or_default()
    }

    /// Whether it is (or is about to be) running.
    pub fn is_live(&self) -> bool {
        matches!(self.state.as_str(), "pending" | "running")
    }

    /// What refresh and create report about it.
    pub fn observed(&self) -> crate::resource::Attributes {
        let mut observed = attributes([
            ("id", Value::from(self.id.clone())),
            ("state", Value::from(self.state.clone())),
            ("zone", Value::from(self.zone.clone())),
            ("instance_type", Value::from(self.instance_type.clone())),
            ("image_id", Value::from(self.image_id.clone())),
        ]);
        if let Some(ip) = &self.private_ip {
            observed.insert("private_ip".into(), Value::from(ip.clone()));
        }
        if let Some(ip) = &self.public_ip {
            observed.insert("public_ip".into(), Value::from(ip.clone()));
        }
        observed
    }
}

/// One key pair.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyPair {
    pub name: String,
    pub id: String,
    pub fingerprint: String,
    pub public_key: Option<String>,
    pub tags: Tags,
}

impl KeyPair {
    pub fn all(answer: &Element) -> Vec<KeyPair> {
        answer
            .items("keySet")
            .filter_map(|item| {
                Some(KeyPair {
                    name: item.text_at(&["keyName"])?.to_string(),
                    id: item.text_at(&["keyPairId"]).unwrap_or_default().to_string(),
                    fingerprint: item
                        .text_at(&["keyFingerprint"])
                        .unwrap_or_default()
                        .to_string(),
                    public_key: item.text_at(&["publicKey"]).map(String::from),
                    tags: tag_map(item),
                })
            })
            .collect()
    }

    pub fn observed(&self) -> crate::resource::Attributes {
        attributes([
            ("key_name", Value::from(self.name.clone())),
            ("key_pair_id", Value::from(self.id.clone())),
            ("fingerprint", Value::from(self.fingerprint.clone())),
        ])
    }
}

/// One security group.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    /// TCP ports open to 0.0.0.0/0, one port per rule (as oss opens them), sorted.
    pub open_ports: Vec<u16>,
    /// Every single-port TCP rule: port and source block (IPv4 or IPv6), sorted.
    pub rules: Vec<Rule>,
    pub tags: Tags,
}

/// One ingress rule as oss makes them: one TCP port from one CIDR block.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub port: u16,
    pub cidr: String,
}

impl Group {
    pub fn all(answer: &Element) -> Vec<Group> {
        answer
            .items("securityGroupInfo")
            .filter_map(|item| {
                let mut open_ports: Vec<u16> = item
                    .items("ipPermissions")
                    .filter(|p| p.text_at(&["ipProtocol"]) == Some("tcp"))
                    .filter(|p| {
                        p.items("ipRanges")
                            .any(|r| r.text_at(&["cidrIp"]) == Some("0.0.0.0/0"))
                    })
                    .filter_map(|p| {
                        let from: u16 = p.text_at(&["fromPort"])?.parse().ok()?;
                        let to: u16 = p.text_at(&["toPort"])?.parse().ok()?;
                        (from == to).then_some(from)
                    })
                    .collect();
                open_ports.sort_unstable();
                open_ports.dedup();
                let mut rules: Vec<Rule> = item
                    .items("ipPermissions")
                    .filter(|p| p.text_at(&["ipProtocol"]) == Some("tcp"))
                    .filter_map(|p| {
                        let from: u16 = p.text_at(&["fromPort"])?.parse().ok()?;
                        let to: u16 = p.text_at(&["toPort"])?.parse().ok()?;
                        let v4 = p.items("ipRanges").filter_map(|r| r.text_at(&["cidrIp"]));
                        let v6 = p
                            .items("ipv6Ranges")
                            .filter_map(|r| r.text_at(&["cidrIpv6"]));
                        let cidrs: Vec<String> = v4.chain(v6).map(String::from).collect();
                        (from == to).then_some((from, cidrs))
                    })
                    .flat_map(|(port, cidrs)| {
                        cidrs.into_iter().map(move |cidr| Rule { port, cidr })
                    })
                    .collect();
                rules.sort();
                rules.dedup();
                Some(Group {
                    id: item.text_at(&["groupId"])?.to_string(),
                    name: item.text_at(&["groupName"]).unwrap_or_default().to_string(),
                    vpc_id: item.text_at(&["vpcId"]).unwrap_or_default().to_string(),
                    open_ports,
                    rules,
                    tags: tag_map(item),
                })
            })
            .collect()
    }

    pub fn observed(&self) -> crate::resource::Attributes {
        attributes([
            ("group_id", Value::from(self.id.clone())),
            ("group_name", Value::from(self.name.clone())),
            ("vpc_id", Value::from(self.vpc_id.clone())),
            ("open_ports", Value::from(self.open_ports.clone())),
        ])
    }
}

/// The group and index of a node address (`node.web[3]` → `web`, 3).
pub fn node_index(address: &Address) -> Option<(&str, u64)> {
    let rest = address.as_str().strip_prefix("node.")?;
    let (group, index) = rest.strip_suffix(']')?.split_once('[')?;
    Some((group, index.parse().ok()?))
}

/// The longest `oss:addresses` value: EC2 takes at most 256 characters per tag value.
pub const TAG_VALUE_MAX: usize = 256;
/// The most indexes [`expand`] reads out of one tag (a guard against a hand-made tag).
const EXPAND_MAX: usize = 10_000;

/// `prefix[ranges]` for the ascending `indexes` (`node.web[0-19,25]`): runs of consecutive
/// indexes as `first-last`, the others alone, in order.
pub fn compact(prefix: &str, indexes: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let mut j = i;
        while j + 1 < indexes.len() && indexes[j + 1] == indexes[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            indexes[i].to_string()
        } else {
            format!("{}-{}", indexes[i], indexes[j])
        });
        i = j + 1;
    }
    format!("{prefix}[{}]", parts.join(","))
}

/// The prefix and the indexes, in order, of a [`compact`] text; `None` when it is not one
/// (or lists more than a batch could hold).
pub fn expand(text: &str) -> Option<(String, Vec<u64>)> {
    let (prefix, rest) = text.strip_suffix(']')?.split_once('[')?;
    let mut indexes = Vec::new();
    for part in rest.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?),
            None => {
                let n = part.parse::<u64>().ok()?;
                (n, n)
            }
        };
        if last < first || (last - first) as usize >= EXPAND_MAX - indexes.len() {
            return None;
        }
        indexes.extend(first..=last);
    }
    Some((prefix.to_string(), indexes))
}

/// The `oss:name` (and console `Name`) of a batch of group `group`: `web-[0-19,25]`.
pub fn batch_name(group: &str, indexes: &[u64]) -> String {
    compact(&format!("{group}-"), indexes)
}

/// Observed attributes from (name, value) pairs.
fn attributes<const N: usize>(pairs: [(&str, Value); N]) -> crate::resource::Attributes {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// The region of a zone or region id: `ap-southeast-2a` → `ap-southeast-2`,
/// `us-west-2-lax-1a` → `us-west-2`, `us-gov-west-1` → `us-gov-west-1`.
pub fn region_of(location: &str) -> String {
    let parts: Vec<&str> = location.split('-').collect();
    match parts
        .iter()
        .position(|p| p.starts_with(|c: char| c.is_ascii_digit()))
    {
        Some(i) => {
            let number = parts[i].trim_end_matches(|c: char| c.is_ascii_lowercase());
            let mut region: Vec<&str> = parts[..i].to_vec();
            region.push(number);
            region.join("-")
        }
        None => location.to_string(),
    }
}

/// The ports of an attribute map (`ports`: a list of numbers).
pub fn attribute_ports(attributes: &crate::resource::Attributes) -> Vec<u16> {
    attributes
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// The rules a firewall's attributes ask for: each of its `ports` from each block of its
/// `sources` entry, or from 0.0.0.0/0 when it has none; sorted.
pub fn attribute_rules(attributes: &crate::resource::Attributes) -> Vec<Rule> {
    let sources = attributes.get("sources").and_then(Value::as_object);
    let mut rules: Vec<Rule> = attribute_ports(attributes)
        .into_iter()
        .flat_map(|port| {
            let from: Vec<String> = sources
                .and_then(|s| s.get(&port.to_string()))
                .and_then(Value::as_array)
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter_map(|b| b.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_else(|| vec!["0.0.0.0/0".to_string()]);
            from.into_iter().map(move |cidr| Rule { port, cidr })
        })
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

/// The `sources` attribute that `rules` (as a group has them) amount to for `ports`: only
/// the ports open to something other than exactly 0.0.0.0/0.
pub fn sources_of(rules: &[Rule], ports: &[u16]) -> Option<Value> {
    let mut sources = serde_json::Map::new();
    for port in ports {
        let from: Vec<&str> = rules
            .iter()
            .filter(|r| r.port == *port)
            .map(|r| r.cidr.as_str())
            .collect();
        if !from.is_empty() && from != ["0.0.0.0/0"] {
            sources.insert(port.to_string(), Value::from(from));
        }
    }
    (!sources.is_empty()).then_some(Value::Object(sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_zones_local_zones_and_govcloud() {
        assert_eq!(region_of("ap-southeast-2a"), "ap-southeast-2");
        assert_eq!(region_of("ap-southeast-2"), "ap-southeast-2");
        assert_eq!(region_of("us-west-2-lax-1a"), "us-west-2");
        assert_eq!(region_of("us-gov-west-1b"), "us-gov-west-1");
        assert_eq!(region_of("local"), "local");
    }

    #[test]
    fn batch_addresses_are_written_compactly_and_read_back_by_launch_index() {
        let text = compact("node.web", &[0, 1, 2, 3, 7, 9, 10]);
        assert_eq!(text, "node.web[0-3,7,9-10]");
        let (prefix, indexes) = expand(&text).unwrap();
        assert_eq!(
            (prefix.as_str(), indexes),
            ("node.web", vec![0, 1, 2, 3, 7, 9, 10])
        );
        assert_eq!(compact("node.db", &[4]), "node.db[4]");
        for bad in [
            "node.web",
            "node.web[]",
            "node.web[3-1]",
            "node.web[a]",
            "x[0-99999999]",
        ] {
            assert_eq!(expand(bad), None, "{bad}");
        }
        let mut instance = Instance {
            id: "i-1".into(),
            state: "running".into(),
            zone: String::new(),
            instance_type: String::new(),
            image_id: String::new(),
            private_ip: None,
            public_ip: None,
            tags: [
                (TAG_ADDRESSES.to_string(), text.clone()),
                (
                    TAG_NAME.to_string(),
                    batch_name("web", &[0, 1, 2, 3, 7, 9, 10]),
                ),
            ]
            .into_iter()
            .collect(),
            state_reason: None,
            launch_index: Some(4),
            key_name: None,
            groups: Vec::new(),
        };
        assert_eq!(instance.address(), Some(Address("node.web[7]".into())));
        assert_eq!(instance.name(), "web-7");
        assert!(user_tags(&instance.tags).is_empty());
        instance.launch_index = Some(7);
        assert_eq!(instance.address(), None, "past the end of the batch");
        // A rename (`moved`) writes `oss:address`, which wins.
        instance
            .tags
            .insert(TAG_ADDRESS.into(), "node.front[2]".into());
        assert_eq!(instance.address(), Some(Address("node.front[2]".into())));
        assert_eq!(instance.name(), "front-2");
    }

    #[test]
    fn user_tags_drop_oss_tags_and_the_derived_name() {
        let tags: Tags = [
            ("oss:address", "node.web[0]"),
            ("oss:name", "web-0"),
            ("Name", "web-0"),
            ("team", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let user = user_tags(&tags);
        assert_eq!(user.len(), 1);
        assert_eq!(user["team"], "a");
        let own_name = visible_tags(&user, "web-0");
        assert_eq!(own_name["Name"], "web-0");
        let mut named = user.clone();
        named.insert("Name".into(), "front".into());
        assert_eq!(visible_tags(&named, "web-0")["Name"], "front");
    }

    #[test]
    fn groups_report_single_port_tcp_rules_open_to_all() {
        let answer = Element::parse(
            "<R><securityGroupInfo><item><groupId>sg-1</groupId><groupName>g</groupName><vpcId>vpc-1</vpcId>\
             <ipPermissions>\
             <item><ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>\
             <item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>\
             <item><ipProtocol>tcp</ipProtocol><fromPort>1000</fromPort><toPort>2000</toPort><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>\
             <item><ipProtocol>udp</ipProtocol><fromPort>53</fromPort><toPort>53</toPort><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>\
             <item><ipProtocol>tcp</ipProtocol><fromPort>5432</fromPort><toPort>5432</toPort><ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges></item>\
             </ipPermissions><tagSet><item><key>oss:lineage</key><value>L</value></item></tagSet></item></securityGroupInfo></R>",
        )
        .unwrap();
        let groups = Group::all(&answer);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].open_ports, vec![22, 443]);
        assert_eq!(groups[0].tags["oss:lineage"], "L");
    }
}
