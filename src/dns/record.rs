//! The records oss publishes, as every DNS provider sees them: record sets (name, type, TTL,
//! values as zone-file text, or an [`Alias`] to a load balancer where the provider has
//! them), the ownership TXT text that marks a name as this state's, and an [`Edit`]: what
//! one name should hold, guarded by who must own it first.
//!
//! Pure: no I/O, no protocol.

use std::net::IpAddr;

use serde_json::Value;

use crate::resource::{Address, Attributes};

/// The record types oss writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rtype {
    A,
    Aaaa,
    Srv,
    Txt,
}

impl Rtype {
    pub fn as_str(self) -> &'static str {
        match self {
            Rtype::A => "A",
            Rtype::Aaaa => "AAAA",
            Rtype::Srv => "SRV",
            Rtype::Txt => "TXT",
        }
    }

    /// The types that hold what a record resource of `written` type (`A`, `SRV`) publishes:
    /// an address record is A for IPv4 values and AAAA for IPv6 ones.
    pub fn family(written: &str) -> &'static [Rtype] {
        match written {
            "SRV" => &[Rtype::Srv],
            _ => &[Rtype::A, Rtype::Aaaa],
        }
    }
}

/// One record set: every record of one type at one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSet {
    /// Lower case, ending in a dot.
    pub name: String,
    pub rtype: Rtype,
    pub ttl: u32,
    /// Zone-file text of each record's data (`127.0.0.2`, `0 0 8080 web-0.oss.test.`, the
    /// TXT string unquoted), sorted. Empty for an alias.
    pub values: Vec<String>,
    /// Route53's alias: the set answers with the addresses of another name (a load
    /// balancer's), instead of `values`; its TTL is the target's.
    pub alias: Option<Alias>,
}

impl RecordSet {
    /// Whether the set holds anything: values, or an alias.
    pub fn holds(&self) -> bool {
        !self.values.is_empty() || self.alias.is_some()
    }
}

/// What an alias record set points at (Route53's `AliasTarget`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// The hosted zone of the target's name (a load balancer's `CanonicalHostedZoneId`).
    pub zone_id: String,
    /// The target's DNS name, lower case, ending in a dot.
    pub dns_name: String,
    /// Whether Route53 answers only while the target is healthy.
    pub evaluate_target_health: bool,
}

impl Alias {
    /// How it shows among a record's values: `alias ZONE NAME`.
    pub fn text(&self) -> String {
        format!("alias {} {}", self.zone_id, self.dns_name)
    }
}

/// The attribute of an alias record resource: `{"zone_id": …, "name": …}` (its values are
/// the balancer's, known once it exists); beside it `evaluate_target_health`.
pub const ALIAS: &str = "alias";
/// A DNS name as alias targets are compared: lower case, ending in a dot.
pub fn alias_name(text: &str) -> String {
    let mut name = text.trim().to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// Who must own a name before an [`Edit`] may change it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Nobody claims the name: it holds no TXT record and nothing of the types written.
    Unclaimed,
    /// The TXT records at the name are exactly this ownership text.
    Owner(String),
}

/// What one name should hold after the change, applied atomically: the sets in `write`
/// replace what is there of their types, the types in `remove` are taken away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub name: String,
    pub guard: Guard,
    pub write: Vec<RecordSet>,
    pub remove: Vec<Rtype>,
}

/// The ownership text at every name oss publishes: a digest of the state's lineage (12 hex
/// digits of its SHA-256, which any copy of the state recomputes) and the resource's address,
/// `heritage=oss,l=0b6f6c1e5d1e,a=dns.web[0]`. Short, since Route53 counts every character
/// of a request's values (32,000 a request: 500 names of an A record and this text fit one).
/// A name whose TXT records are not exactly this (or its [`legacy_owner_text`]) is not ours.
pub fn owner_text(lineage: &str, address: &Address) -> String {
    let digest = crate::digest::sha256_hex(lineage.as_bytes());
    format!("heritage=oss,l={},a={address}", &digest[..12])
}

/// The ownership text oss wrote before [`owner_text`] (the lineage in full): names written so
/// are still this state's, and get the short text when next written.
pub fn legacy_owner_text(lineage: &str, address: &Address) -> String {
    format!("heritage=oss,oss/lineage={lineage},oss/address={address}")
}

/// The texts that mark a name as `address`'s of the state `lineage`: today's and the legacy one.
pub fn owner_texts(lineage: &str, address: &Address) -> [String; 2] {
    [
        owner_text(lineage, address),
        legacy_owner_text(lineage, address),
    ]
}

/// The ownership text to write where `found` (an ownership text of this state, as state
/// recorded it or the name holds it) is: a legacy text becomes today's, today's stays.
pub fn upgraded(found: &str) -> String {
    let legacy = found
        .strip_prefix("heritage=oss,oss/lineage=")
        .and_then(|rest| rest.split_once(",oss/address="));
    match legacy {
        Some((lineage, address)) => owner_text(lineage, &Address(address.to_string())),
        None => found.to_string(),
    }
}

/// Whether `text` is an ownership text of oss (of any state).
pub fn is_oss_owner(text: &str) -> bool {
    text.starts_with("heritage=oss,")
}

/// The record sets a record resource's attributes (`name`, `type`, `ttl`, `values` as
/// `a, b`, or an [`ALIAS`]) publish, one per type of its family (empty sets included, so a
/// write removes what moved to the other type).
pub fn sets_of(attributes: &Attributes) -> Result<Vec<RecordSet>, String> {
    let text = |key: &str| attributes.get(key).and_then(Value::as_str).unwrap_or("");
    let name = text("name").to_string();
    let written = text("type");
    let ttl = attributes
        .get("ttl")
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .unwrap_or(crate::strategy::dns::DEFAULT_TTL);
    let values = split_values(text("values"));
    let mut sets: Vec<RecordSet> = Rtype::family(written)
        .iter()
        .map(|rtype| RecordSet {
            name: name.clone(),
            rtype: *rtype,
            ttl,
            values: Vec::new(),
            alias: None,
        })
        .collect();
    if let Some(alias) = attributes.get(ALIAS) {
        let field = |key: &str| alias.get(key).and_then(Value::as_str).unwrap_or("");
        let (zone_id, target) = (field("zone_id"), field("name"));
        if zone_id.is_empty() || target.is_empty() || !values.is_empty() || written != "A" {
            return Err(format!(
                "{name} would be an alias without both a target name and its zone, or beside values"
            ));
        }
        sets[0].alias = Some(Alias {
            zone_id: zone_id.to_string(),
            dns_name: alias_name(target),
            evaluate_target_health: attributes
                .get("evaluate_target_health")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
        return Ok(sets);
    }
    for value in values {
        let index = match written {
            "SRV" => 0,
            _ => match value.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => 0,
                Ok(IpAddr::V6(_)) => 1,
                Err(_) => {
                    return Err(format!(
                        "{name} would point at \"{}\", which is not an IP address",
                        crate::echo::echo(&value)
                    ));
                }
            },
        };
        sets[index].values.push(value);
    }
    for set in &mut sets {
        set.values.sort();
        set.values.dedup();
    }
    Ok(sets)
}

/// The `values` attribute's text as a list (`a, b` → `[a, b]`; empty parts dropped: a node
/// without an address yet gives none).
pub fn split_values(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `values` attribute's text for a list of values.
pub fn join_values(values: &[String]) -> String {
    values.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(rtype: &str, values: &str) -> Attributes {
        let mut a = Attributes::new();
        a.insert("name".into(), json!("web.oss.test."));
        a.insert("type".into(), json!(rtype));
        a.insert("ttl".into(), json!(30));
        a.insert("values".into(), json!(values));
        a
    }

    #[test]
    fn address_records_split_into_a_and_aaaa_sorted() {
        let sets = sets_of(&attributes("A", "127.0.0.3, ::1, 127.0.0.2,")).unwrap();
        assert_eq!(sets[0].rtype, Rtype::A);
        assert_eq!(sets[0].values, ["127.0.0.2", "127.0.0.3"]);
        assert_eq!(sets[1].rtype, Rtype::Aaaa);
        assert_eq!(sets[1].values, ["::1"]);
        assert!(sets.iter().all(|s| s.ttl == 30));
        let e = sets_of(&attributes("A", "web-0")).unwrap_err();
        assert!(e.contains("not an IP address"), "{e}");
        let srv = sets_of(&attributes("SRV", "0 0 80 a.oss.test., 0 0 80 b.oss.test.")).unwrap();
        assert_eq!(srv.len(), 1);
        assert_eq!(srv[0].values.len(), 2);
    }

    #[test]
    fn an_alias_record_is_an_a_set_naming_its_target_and_nothing_else() {
        let mut a = attributes("A", "");
        a.insert(
            ALIAS.into(),
            json!({"zone_id": "Z1GM3OXH4ZPM65", "name": "Web-1.ELB.example"}),
        );
        a.insert("evaluate_target_health".into(), json!(true));
        let sets = sets_of(&a).unwrap();
        let alias = sets[0].alias.clone().unwrap();
        assert_eq!(alias.dns_name, "web-1.elb.example.");
        assert!(alias.evaluate_target_health && sets[0].holds() && sets[0].values.is_empty());
        assert!(!sets[1].holds(), "no AAAA beside it");
        a.insert("values".into(), json!("127.0.0.1"));
        assert!(sets_of(&a).unwrap_err().contains("alias"));
        a.insert("values".into(), json!(""));
        a.insert(ALIAS.into(), json!({"zone_id": null, "name": "x."}));
        assert!(sets_of(&a).is_err(), "a target not known yet is no alias");
    }

    #[test]
    fn ownership_text_names_lineage_and_address() {
        let lineage = "0b6f6c1e-5d1e-4c1f-9a57-8f4ad3f7c0de";
        let address = Address::record("web[999]");
        let text = owner_text(lineage, &address);
        let digest = crate::digest::sha256_hex(lineage.as_bytes());
        assert_eq!(
            text,
            format!("heritage=oss,l={},a=dns.web[999]", &digest[..12])
        );
        // Quoted for Route53 it stays under 45 characters (see BENCHMARKS.md, DNS).
        assert!(text.len() + 2 <= 45, "{}", text.len());
        assert_ne!(text, owner_text("another-lineage", &address));
        assert!(is_oss_owner(&text) && !is_oss_owner("v=spf1 -all"));
        let legacy = legacy_owner_text(lineage, &address);
        assert_eq!(
            legacy,
            format!("heritage=oss,oss/lineage={lineage},oss/address=dns.web[999]")
        );
        assert!(is_oss_owner(&legacy));
        assert_eq!(
            owner_texts(lineage, &address),
            [text.clone(), legacy.clone()]
        );
        assert_eq!(upgraded(&legacy), text);
        assert_eq!(upgraded(&text), text);
    }
}
