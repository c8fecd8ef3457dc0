//! From edits to Route53 changes (pure): each [`Edit`]'s guard checked against what its name
//! holds now, then a CREATE for each set written that the name does not hold yet, an UPSERT
//! for each it holds, and exact DELETEs (the current values and TTL, as Route53 requires) for
//! the sets emptied or removed. A CREATE is what is correct against the real service for a
//! set read as absent: Route53 refuses the whole batch if the set appeared meanwhile (moto
//! does not), and it counts once against the request quotas where an UPSERT counts twice.
//! Also the change batch as `ChangeResourceRecordSets` XML, TXT quoting both ways, and the
//! cutting of edits into batches within Route53's per-request quotas.

use super::super::record::{Edit, Guard, RecordSet, Rtype};

/// Change elements in one request.
pub const MAX_CHANGES: usize = 1000;
/// ResourceRecord elements in one request (an UPSERT counts twice).
pub const MAX_RECORDS: usize = 1000;
/// Characters of all Value elements in one request (an UPSERT counts twice).
pub const MAX_VALUE_CHARS: usize = 32_000;

/// What a change does to its set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Makes a set the name does not hold; refused by Route53 if it does.
    Create,
    /// Replaces a set the name holds.
    Upsert,
    /// Removes a set, given exactly as it is.
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        }
    }
}

/// One change of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub set: RecordSet,
}

impl Change {
    /// What it counts against the quotas: (records, value characters).
    fn weight(&self) -> (usize, usize) {
        let factor = if self.action == Action::Upsert { 2 } else { 1 };
        let chars: usize = self
            .set
            .values
            .iter()
            .map(|v| wire_value(self.set.rtype, v).len())
            .sum();
        // An alias holds no ResourceRecord; reckoned as one, to stay on the safe side.
        let records = self
            .set
            .values
            .len()
            .max(usize::from(self.set.alias.is_some()));
        (factor * records, factor * chars)
    }
}

/// The changes that carry out `edit` on a name holding `now`, or `None` when its guard does
/// not hold.
pub fn changes(edit: &Edit, now: &[RecordSet]) -> Option<Vec<Change>> {
    let current = |rtype: Rtype| now.iter().find(|s| s.rtype == rtype && s.holds());
    let holds = match &edit.guard {
        Guard::Unclaimed => {
            current(Rtype::Txt).is_none() && edit.write.iter().all(|s| current(s.rtype).is_none())
        }
        Guard::Owner(owner) => current(Rtype::Txt).is_some_and(|t| t.values == [owner.clone()]),
    };
    if !holds {
        return None;
    }
    let mut changes = Vec::new();
    for set in &edit.write {
        if set.holds() {
            let old = current(set.rtype);
            // A set that turns into an alias, or back, is deleted and made again in the same
            // (atomic) batch: an UPSERT does not change what kind of set it is.
            let action = match old {
                Some(old) if old.alias.is_some() != set.alias.is_some() => {
                    changes.push(Change {
                        action: Action::Delete,
                        set: old.clone(),
                    });
                    Action::Create
                }
                Some(_) => Action::Upsert,
                None => Action::Create,
            };
            changes.push(Change {
                action,
                set: RecordSet {
                    name: edit.name.clone(),
                    ..set.clone()
                },
            });
        } else if let Some(old) = current(set.rtype) {
            changes.push(Change {
                action: Action::Delete,
                set: old.clone(),
            });
        }
    }
    for rtype in &edit.remove {
        if let Some(old) = current(*rtype)
            && !edit.write.iter().any(|s| s.rtype == *rtype)
        {
            changes.push(Change {
                action: Action::Delete,
                set: old.clone(),
            });
        }
    }
    Some(changes)
}

/// The changes of each edit cut into requests within the quotas; an edit's changes stay in
/// one request. Each item: the indexes of its edits and its changes.
pub fn requests(per_edit: Vec<Vec<Change>>) -> Vec<(Vec<usize>, Vec<Change>)> {
    let mut requests: Vec<(Vec<usize>, Vec<Change>)> = Vec::new();
    let (mut records, mut chars) = (0, 0);
    for (index, changes) in per_edit.into_iter().enumerate() {
        let (r, c) = changes
            .iter()
            .map(Change::weight)
            .fold((0, 0), |a, w| (a.0 + w.0, a.1 + w.1));
        let count = requests.last().map_or(0, |last| last.1.len());
        let full = records + r > MAX_RECORDS
            || chars + c > MAX_VALUE_CHARS
            || count + changes.len() > MAX_CHANGES;
        match requests.last_mut() {
            Some(last) if !full => {
                last.0.push(index);
                last.1.extend(changes);
            }
            _ => {
                requests.push((vec![index], changes));
                (records, chars) = (0, 0);
            }
        }
        records += r;
        chars += c;
    }
    requests
}

/// `edits` cut into runs that fit one request each, from what they write (a removal is
/// reckoned as one record of 255 characters per type, its values being unknown until read).
/// An unclaimed name's sets are reckoned as CREATEs (its guard holds only if it has none),
/// an owned name's as UPSERTs.
pub fn split(edits: &[Edit]) -> Vec<&[Edit]> {
    let weight = |edit: &Edit| {
        let action = match edit.guard {
            Guard::Unclaimed => Action::Create,
            Guard::Owner(_) => Action::Upsert,
        };
        let written: Vec<Change> = edit
            .write
            .iter()
            .map(|s| Change {
                action,
                set: s.clone(),
            })
            .collect();
        let (r, c) = written
            .iter()
            .map(Change::weight)
            .fold((0, 0), |a, w| (a.0 + w.0, a.1 + w.1));
        let emptied = edit.write.iter().filter(|s| !s.holds()).count() + edit.remove.len();
        (r + emptied, c + emptied * 255)
    };
    let mut runs = Vec::new();
    let (mut start, mut records, mut chars, mut count) = (0, 0, 0, 0);
    for (i, edit) in edits.iter().enumerate() {
        let (r, c) = weight(edit);
        let n = edit.write.len() + edit.remove.len();
        if i > start
            && (records + r > MAX_RECORDS || chars + c > MAX_VALUE_CHARS || count + n > MAX_CHANGES)
        {
            runs.push(&edits[start..i]);
            (start, records, chars, count) = (i, 0, 0, 0);
        }
        records += r;
        chars += c;
        count += n;
    }
    if start < edits.len() {
        runs.push(&edits[start..]);
    }
    runs
}

/// A record's data as Route53 writes it: TXT strings quoted (in parts of at most 255
/// characters), the rest as zone-file text.
pub fn wire_value(rtype: Rtype, value: &str) -> String {
    if rtype != Rtype::Txt {
        return value.to_string();
    }
    let escaped: Vec<String> = value
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c => c.to_string(),
        })
        .collect();
    let mut parts = Vec::new();
    for chunk in escaped.chunks(255) {
        parts.push(format!("\"{}\"", chunk.concat()));
    }
    if parts.is_empty() {
        parts.push("\"\"".into());
    }
    parts.join(" ")
}

/// A TXT value as Route53 returns it (`"a" "b"`, with `\"`, `\\` and `\NNN` escapes) as one
/// unquoted string.
pub fn txt_text(wire: &str) -> String {
    let mut out = Vec::new();
    let bytes = wire.as_bytes();
    let (mut i, mut quoted) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'\\' if i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit) => {
                let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("0");
                out.push(u8::from_str_radix(digits, 8).unwrap_or(b'?'));
                i += 3;
            }
            b'\\' if i + 1 < bytes.len() => {
                out.push(bytes[i + 1]);
                i += 1;
            }
            b' ' if !quoted => {}
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `ChangeResourceRecordSets` request body.
pub fn body(changes: &[Change]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch><Comment>oss</Comment><Changes>",
    );
    for change in changes {
        let set = &change.set;
        xml.push_str(&format!(
            "<Change><Action>{}</Action><ResourceRecordSet><Name>{}</Name><Type>{}</Type>",
            change.action.as_str(),
            escape(&set.name),
            set.rtype.as_str(),
        ));
        if let Some(alias) = &set.alias {
            // An alias has no TTL and no records of its own (Route53 API reference,
            // ResourceRecordSet: AliasTarget).
            xml.push_str(&format!(
                "<AliasTarget><HostedZoneId>{}</HostedZoneId><DNSName>{}</DNSName><EvaluateTargetHealth>{}</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change>",
                escape(&alias.zone_id),
                escape(&alias.dns_name),
                alias.evaluate_target_health
            ));
            continue;
        }
        xml.push_str(&format!("<TTL>{}</TTL><ResourceRecords>", set.ttl));
        for value in &set.values {
            xml.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                escape(&wire_value(set.rtype, value))
            ));
        }
        xml.push_str("</ResourceRecords></ResourceRecordSet></Change>");
    }
    xml.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    xml
}

/// Text as XML character data.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rtype: Rtype, ttl: u32, values: &[&str]) -> RecordSet {
        RecordSet {
            name: "web.oss.test.".into(),
            rtype,
            ttl,
            values: values.iter().map(|v| v.to_string()).collect(),
            alias: None,
        }
    }

    const OURS: &str = "heritage=oss,oss/lineage=l,oss/address=dns.web";

    #[test]
    fn creates_what_is_new_upserts_what_is_held_and_deletes_exactly_what_is_there() {
        let edit = Edit {
            name: "web.oss.test.".into(),
            guard: Guard::Owner(OURS.into()),
            write: vec![
                set(Rtype::A, 30, &["127.0.0.2"]),
                set(Rtype::Aaaa, 30, &[]),
                set(Rtype::Txt, 30, &[OURS]),
            ],
            remove: Vec::new(),
        };
        let now = [set(Rtype::Aaaa, 60, &["::1"]), set(Rtype::Txt, 60, &[OURS])];
        let changes = changes(&edit, &now).unwrap();
        assert_eq!(changes.len(), 3);
        // The A set is new to the name: a CREATE; the TXT it holds: an UPSERT.
        assert_eq!(changes[0].action, Action::Create);
        assert_eq!(changes[0].set.values, ["127.0.0.2"]);
        assert!(
            changes[1].action == Action::Delete && changes[1].set == now[0],
            "{changes:?}"
        );
        assert_eq!(changes[2].action, Action::Upsert);
        assert_eq!(changes[2].set.rtype, Rtype::Txt);
        // Someone else's name, or a taken one: the guard fails.
        assert!(super::changes(&edit, &[set(Rtype::Txt, 60, &["v=spf1"])]).is_none());
        let fresh = Edit {
            guard: Guard::Unclaimed,
            ..edit.clone()
        };
        assert!(super::changes(&fresh, &now).is_none());
        let made = super::changes(&fresh, &[]).unwrap();
        assert_eq!(made.len(), 2);
        assert!(made.iter().all(|c| c.action == Action::Create), "{made:?}");
        let delete = Edit {
            write: Vec::new(),
            remove: vec![Rtype::A, Rtype::Aaaa, Rtype::Txt],
            ..edit
        };
        let gone = super::changes(&delete, &now).unwrap();
        assert!(gone.iter().all(|c| c.action == Action::Delete) && gone.len() == 2);
    }

    #[test]
    fn an_alias_goes_as_its_target_and_replaces_an_address_set_in_one_batch() {
        let alias = RecordSet {
            alias: Some(crate::dns::record::Alias {
                zone_id: "Z1GM3OXH4ZPM65".into(),
                dns_name: "web-1.elb.example.".into(),
                evaluate_target_health: true,
            }),
            ..set(Rtype::A, 60, &[])
        };
        let edit = Edit {
            name: "web.oss.test.".into(),
            guard: Guard::Owner(OURS.into()),
            write: vec![alias.clone(), set(Rtype::Txt, 60, &[OURS])],
            remove: Vec::new(),
        };
        let before = [
            set(Rtype::A, 60, &["10.0.0.1"]),
            set(Rtype::Txt, 60, &[OURS]),
        ];
        let made = changes(&edit, &before).unwrap();
        let actions: Vec<Action> = made.iter().map(|c| c.action).collect();
        assert_eq!(actions, [Action::Delete, Action::Create, Action::Upsert]);
        let xml = body(&made[1..2]);
        assert!(
            xml.contains("<Type>A</Type><AliasTarget><HostedZoneId>Z1GM3OXH4ZPM65</HostedZoneId><DNSName>web-1.elb.example.</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget>")
                && !xml.contains("<TTL>"),
            "{xml}"
        );
        // Held already: an UPSERT, and a delete names it exactly.
        let now = [alias.clone(), set(Rtype::Txt, 60, &[OURS])];
        let again = changes(&edit, &now).unwrap();
        assert_eq!(again[0].action, Action::Upsert);
        let gone = Edit {
            write: Vec::new(),
            remove: vec![Rtype::A, Rtype::Aaaa, Rtype::Txt],
            ..edit
        };
        let deleted = changes(&gone, &now).unwrap();
        assert_eq!(deleted[0].set, alias);
        assert_eq!(deleted[0].weight(), (1, 0));
    }

    #[test]
    fn txt_is_quoted_and_read_back() {
        assert_eq!(wire_value(Rtype::Txt, "a\"b"), "\"a\\\"b\"");
        assert_eq!(txt_text("\"a\\\"b\""), "a\"b");
        assert_eq!(txt_text("\"ab\" \"cd\""), "abcd");
        assert_eq!(txt_text("\"a\\053b\""), "a+b");
        let long = "x".repeat(300);
        assert_eq!(txt_text(&wire_value(Rtype::Txt, &long)), long);
        let xml = body(&[Change {
            action: Action::Upsert,
            set: set(Rtype::Txt, 30, &["a<b"]),
        }]);
        assert!(xml.contains("<Value>&quot;a&lt;b&quot;</Value>"), "{xml}");
    }

    #[test]
    fn requests_stay_within_the_quotas() {
        let per_edit: Vec<Vec<Change>> = (0..1000)
            .map(|i| {
                vec![Change {
                    action: if i % 2 == 0 {
                        Action::Upsert
                    } else {
                        Action::Create
                    },
                    set: set(Rtype::A, 30, &[&format!("127.0.{}.{}", i / 250, i % 250)]),
                }]
            })
            .collect();
        let requests = requests(per_edit);
        // 500 UPSERTs count 1,000 records and 500 CREATEs 500: two requests, not one.
        assert_eq!(requests.len(), 2);
        assert_eq!(requests.iter().map(|r| r.0.len()).sum::<usize>(), 1000);
        for (_, changes) in &requests {
            let records: usize = changes.iter().map(|c| c.weight().0).sum();
            assert!(records <= MAX_RECORDS);
        }
    }
}
