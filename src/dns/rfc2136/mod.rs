//! The `rfc2136` DNS provider: any authoritative server that takes dynamic updates (RFC 2136)
//! signed with TSIG (RFC 8945): BIND, Knot, PowerDNS. Reads are signed queries over TCP;
//! every [`Edit`] is one UPDATE whose prerequisite section carries its ownership guard, so
//! a name someone else took meanwhile is never overwritten.

mod settings;
pub mod wire;

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use hickory_proto::op::{OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde_json::{Map, Value};

pub use settings::{SECRET_SETTINGS, check};

use super::Zone;
use super::record::{Edit, Guard, RecordSet, Rtype};
use crate::driver::DriverError;
use wire::Wire;

/// A zone on one server, with the key that may change it.
pub struct Rfc2136 {
    wire: Wire,
    zone: Name,
}

impl Rfc2136 {
    /// From the provider's resolved settings; `name` is the provider's, for messages.
    pub fn new(name: &str, zone: &str, settings: &Map<String, Value>) -> Result<Self, DriverError> {
        let parsed = settings::parse(settings).map_err(|e| e.into_driver_error("rfc2136", name))?;
        let server: SocketAddr = parsed.server.parse().map_err(|_| {
            DriverError::fatal("The rfc2136 setting `server` is not an IP address and port.")
        })?;
        let secret = parsed
            .secret()
            .ok_or_else(|| DriverError::fatal("The rfc2136 setting `key_secret` is not base64."))?;
        let wire = Wire::new(
            server,
            zone,
            &parsed.key_name,
            &parsed.key_algorithm,
            secret,
            parsed.timeout(),
        )?;
        Ok(Rfc2136 {
            wire,
            zone: dns_name(zone)?,
        })
    }
}

#[async_trait]
impl Zone for Rfc2136 {
    async fn check(&self) -> Result<(), DriverError> {
        let mut conn = self.wire.connect().await?;
        let mut query = wire::message(OpCode::Query);
        query.add_query(Query::query(self.zone.clone(), RecordType::SOA));
        let answer = conn.exchange(query).await?;
        let unserved = || {
            DriverError::fatal(format!(
                "DNS server {} does not serve zone {} (no authoritative SOA record for it)",
                self.wire.server, self.wire.zone
            ))
        };
        if answer.metadata.response_code == ResponseCode::Refused {
            return Err(unserved());
        }
        if let Some(error) = self.wire.answer_error(&answer) {
            return Err(error);
        }
        let apex = answer
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::SOA && r.name == self.zone);
        if !answer.metadata.authoritative || !apex {
            return Err(unserved());
        }
        // An UPDATE that changes nothing (its one prerequisite: the zone's apex exists) shows
        // whether the server takes updates for the zone from this key at all.
        let mut update = wire::message(OpCode::Update);
        let mut zone = Query::new();
        zone.set_name(self.zone.clone())
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        update.add_query(zone);
        let mut in_use = Record::update0(self.zone.clone(), 0, RecordType::ANY);
        in_use.dns_class = DNSClass::ANY;
        update.add_answer(in_use);
        let answer = conn.exchange(update).await?;
        match self.wire.answer_error(&answer) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    async fn read(&self, names: &[String]) -> Result<Vec<Vec<RecordSet>>, DriverError> {
        let mut conn = self.wire.connect().await?;
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let owner = dns_name(name)?;
            let mut sets = Vec::new();
            for rtype in [Rtype::A, Rtype::Aaaa, Rtype::Srv, Rtype::Txt] {
                let mut query = wire::message(OpCode::Query);
                query.add_query(Query::query(owner.clone(), record_type(rtype)));
                let answer = conn.exchange(query).await?;
                if answer.metadata.response_code == ResponseCode::NXDomain {
                    break;
                }
                if let Some(error) = self.wire.answer_error(&answer) {
                    return Err(error);
                }
                let records: Vec<&Record> = answer
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == record_type(rtype) && r.name == owner)
                    .collect();
                if records.is_empty() {
                    continue;
                }
                let mut values: Vec<String> =
                    records.iter().filter_map(|r| text(&r.data)).collect();
                values.sort();
                sets.push(RecordSet {
                    name: name.clone(),
                    rtype,
                    ttl: records[0].ttl,
                    values,
                    alias: None,
                });
            }
            found.push(sets);
        }
        Ok(found)
    }

    async fn edit(&self, edits: &[Edit]) -> Result<(), DriverError> {
        let mut update = wire::message(OpCode::Update);
        let mut zone = Query::new();
        zone.set_name(self.zone.clone())
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        update.add_query(zone);
        for edit in edits {
            let name = dns_name(&edit.name)?;
            if !self.zone.zone_of(&name) {
                return Err(DriverError::fatal(format!(
                    "{} is not in zone {}",
                    edit.name, self.wire.zone
                )));
            }
            // Prerequisites (RFC 2136 2.4): the answer section.
            match &edit.guard {
                Guard::Unclaimed => {
                    let mut types: Vec<Rtype> = edit.write.iter().map(|s| s.rtype).collect();
                    types.push(Rtype::Txt);
                    types.sort();
                    types.dedup();
                    for rtype in types {
                        // "RRset does not exist" (RFC 2136 2.4.3).
                        let mut none = Record::update0(name.clone(), 0, record_type(rtype));
                        none.dns_class = DNSClass::NONE;
                        update.add_answer(none);
                    }
                }
                Guard::Owner(owner) => {
                    let data = RData::TXT(TXT::new(vec![owner.clone()]));
                    update.add_answer(Record::from_rdata(name.clone(), 0, data));
                }
            }
            // Updates (RFC 2136 2.5): the authority section, applied in order.
            let cleared = edit
                .write
                .iter()
                .map(|s| s.rtype)
                .chain(edit.remove.iter().copied());
            for rtype in cleared {
                let mut all = Record::update0(name.clone(), 0, record_type(rtype));
                all.dns_class = DNSClass::ANY;
                update.add_authority(all);
            }
            for set in &edit.write {
                if set.alias.is_some() {
                    return Err(DriverError::fatal(format!(
                        "{} would be an alias record, which RFC 2136 DNS servers do not have (Route53 does)",
                        edit.name
                    )));
                }
                for value in &set.values {
                    let data = rdata(set.rtype, value)?;
                    update.add_authority(Record::from_rdata(name.clone(), set.ttl, data));
                }
            }
        }
        let mut conn = self.wire.connect().await?;
        let answer = conn.exchange(update).await?;
        // Retrying the same UPDATE gets the same answer: the server's log says which rule.
        if answer.metadata.response_code == ResponseCode::ServFail {
            let names: Vec<&str> = edits.iter().take(3).map(|e| e.name.as_str()).collect();
            return Err(DriverError::fatal(format!(
                "DNS server {} could not apply the update of {}{} in zone {} (SERVFAIL); a usual cause is more records at one name than the server allows (BIND: max-records-per-type, 100 by default); the server's log says which",
                self.wire.server,
                names.join(", "),
                if edits.len() > 3 { " and more" } else { "" },
                self.wire.zone
            ))
            .with_code(wire::UPDATE_FAILED));
        }
        match self.wire.answer_error(&answer) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }
}

/// A name as hickory reads it (always fully qualified).
fn dns_name(text: &str) -> Result<Name, DriverError> {
    let mut name = Name::from_ascii(text).map_err(|_| {
        DriverError::fatal(format!("`{}` is not a DNS name", crate::echo::echo(text)))
    })?;
    name.set_fqdn(true);
    Ok(name)
}

fn record_type(rtype: Rtype) -> RecordType {
    match rtype {
        Rtype::A => RecordType::A,
        Rtype::Aaaa => RecordType::AAAA,
        Rtype::Srv => RecordType::SRV,
        Rtype::Txt => RecordType::TXT,
    }
}

/// A record's data from its zone-file text.
fn rdata(rtype: Rtype, value: &str) -> Result<RData, DriverError> {
    let bad = || {
        DriverError::fatal(format!(
            "\"{}\" is not {} record data",
            crate::echo::echo(value),
            rtype.as_str()
        ))
    };
    Ok(match rtype {
        Rtype::A => match value.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => RData::A(A(ip)),
            _ => return Err(bad()),
        },
        Rtype::Aaaa => match value.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => RData::AAAA(AAAA(ip)),
            _ => return Err(bad()),
        },
        Rtype::Srv => {
            let parts: Vec<&str> = value.split_whitespace().collect();
            let [priority, weight, port, target] = parts.as_slice() else {
                return Err(bad());
            };
            let number = |t: &str| t.parse::<u16>().map_err(|_| bad());
            RData::SRV(SRV::new(
                number(priority)?,
                number(weight)?,
                number(port)?,
                dns_name(target)?,
            ))
        }
        Rtype::Txt => RData::TXT(TXT::new(vec![value.to_string()])),
    })
}

/// A record's data as zone-file text (names lower case, with their dot).
fn text(data: &RData) -> Option<String> {
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            fqdn(&srv.target)
        ),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
        _ => return None,
    })
}

fn fqdn(name: &Name) -> String {
    let mut text = name.to_ascii().to_ascii_lowercase();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}
