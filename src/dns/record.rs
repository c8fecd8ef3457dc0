//! The records oss publishes, as every DNS provider sees them: record sets (name, type, TTL,
//! values as zone-file text), the ownership TXT text that marks a name as this state's, and
//! an [`Edit`]: what one name should hold, guarded by who must own it first.
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
    /// TXT string unquoted), sorted.
    pub values: Vec<String>,
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

/// The ownership text at every name oss publishes: the state's lineage and the resource's
/// address (neither is secret). A name whose TXT records are not exactly this is not ours.
pub fn owner_text(lineage: &str, address: &Address) -> String {
    format!("heritage=oss,oss/lineage={lineage},oss/address={address}")
}

/// Whether `text` is an ownership text of oss (of any state).
pub fn is_oss_owner(text: &str) -> bool {
    text.starts_with("heritage=oss,")
}

/// The record sets a record resource's attributes (`name`, `type`, `ttl`, `values` as
/// `a, b`) publish, one per type of its family (empty sets included, so a write removes
/// what moved to the other type).
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
        })
        .collect();
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
    fn ownership_text_names_lineage_and_address() {
        let text = owner_text("l-1", &Address::record("web[0]"));
        assert_eq!(text, "heritage=oss,oss/lineage=l-1,oss/address=dns.web[0]");
        assert!(is_oss_owner(&text) && !is_oss_owner("v=spf1 -all"));
    }
}
