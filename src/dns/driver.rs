//! Record resources for the executor: a [`Zone`] behind the driver trait, so records are
//! planned, ordered after their nodes, retried, journaled and refreshed like every other
//! resource. The rules of ownership live here: oss writes a name only when its TXT record
//! is this state's ownership text, or when nobody claims the name and it holds nothing of
//! the record's types; anything else is refused, and the error names the name and what
//! holds it. Every write is guarded on the server too (see [`Guard`]), so a name taken
//! between the read and the write is refused, not overwritten.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Zone;
use super::record::{self, Edit, Guard, RecordSet, Rtype};
use crate::catalog::Catalog;
use crate::driver::{CreateRequest, Driver, DriverError, Refreshed};
use crate::resource::{Attributes, Desired, Existing, Kind};

/// One DNS provider's records in one zone.
pub struct RecordDriver {
    name: String,
    zone: Arc<dyn Zone>,
    /// Edits of steps running at once go out together (see [`super::batch`]); started with
    /// the first write, on the runtime that makes it.
    batcher: OnceLock<super::batch::Batcher>,
}

impl RecordDriver {
    pub fn new(name: &str, zone: Arc<dyn Zone>) -> Self {
        RecordDriver {
            name: name.to_string(),
            zone,
            batcher: OnceLock::new(),
        }
    }

    /// Checks that the server serves the zone and takes the key, changing nothing: run
    /// before a plan, so bad settings stop it before any node is touched.
    pub async fn check(&self) -> Result<(), DriverError> {
        self.zone.check().await
    }

    /// Refuses, before anything changes, the first of `records` (address and name) whose
    /// name is held by something that is not this state's (`lineage`; `None`: no state yet,
    /// so nothing is ours).
    pub async fn check_claims(
        &self,
        lineage: Option<&str>,
        records: &[(crate::resource::Address, String)],
    ) -> Result<(), DriverError> {
        if records.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = records.iter().map(|(_, name)| name.clone()).collect();
        let found = self.zone.read(&names).await?;
        for ((address, name), sets) in records.iter().zip(found) {
            let owners: Vec<String> = match lineage {
                Some(lineage) => record::owner_texts(lineage, address).to_vec(),
                None => Vec::new(),
            };
            if let Some(refused) = refusal(name, &sets, &owners) {
                return Err(refused);
            }
        }
        Ok(())
    }

    /// Writes `edit`; a failed guard is explained by what the name holds now (`owners`: the
    /// ownership texts that are this record's).
    async fn write(&self, edit: Edit, owners: &[String]) -> Result<(), DriverError> {
        match self.batcher().submit(edit.clone()).await {
            Err(e) if e.code.as_deref() == Some(super::PREREQUISITE) => {
                let now = self.read_one(&edit.name).await?;
                Err(refusal(&edit.name, &now, owners).unwrap_or_else(|| {
                    DriverError::retry(format!(
                        "{} changed while oss wrote it; trying again",
                        edit.name
                    ))
                }))
            }
            other => other,
        }
    }

    fn batcher(&self) -> &super::batch::Batcher {
        self.batcher
            .get_or_init(|| super::batch::Batcher::start(&self.name, self.zone.clone()))
    }

    async fn read_one(&self, name: &str) -> Result<Vec<RecordSet>, DriverError> {
        let mut found = self.zone.read(&[name.to_string()]).await?;
        Ok(found.pop().unwrap_or_default())
    }
}

/// The ownership text at a name holding `sets` when it is exactly one of `owners`.
fn our_text<'a>(sets: &'a [RecordSet], owners: &[String]) -> Option<&'a str> {
    match sets
        .iter()
        .find(|s| s.rtype == Rtype::Txt)?
        .values
        .as_slice()
    {
        [text] if owners.contains(text) => Some(text),
        _ => None,
    }
}

/// Why oss may not write `name`, holding `sets`, as the owner of one of `owners` (`None`: it
/// may).
fn refusal(name: &str, sets: &[RecordSet], owners: &[String]) -> Option<DriverError> {
    let txt = sets.iter().find(|s| s.rtype == Rtype::Txt);
    match txt {
        Some(_) if our_text(sets, owners).is_some() => None,
        Some(txt) => {
            let holder = match txt.values.iter().find(|v| record::is_oss_owner(v)) {
                Some(other) => format!("another oss state or resource ({other})"),
                None => format!(
                    "TXT record \"{}\", which is not oss's",
                    crate::echo::echo(&txt.values.join("\" \""))
                ),
            };
            Some(DriverError::fatal(format!(
                "{name} is already taken: it is claimed by {holder}; oss changes only the names it owns (free the name, or leave its group out of dns.groups)"
            )))
        }
        None => {
            let taken = sets.iter().find(|s| s.rtype != Rtype::Txt && s.holds())?;
            let shown = shown_values(taken);
            Some(DriverError::fatal(format!(
                "{name} is already taken: it has {} record{} ({}) that oss does not own; oss changes only the names it owns (free the name, or leave its group out of dns.groups)",
                taken.rtype.as_str(),
                if shown.len() == 1 { "" } else { "s" },
                crate::echo::echo(&shown.join(", "))
            )))
        }
    }
}

/// What the provider reports of a record: its values, TTL and ownership text.
fn observed(sets: &[RecordSet], written: &str, owner: &str) -> Attributes {
    let family = Rtype::family(written);
    let mut values: Vec<String> = sets
        .iter()
        .filter(|s| family.contains(&s.rtype))
        .flat_map(shown_values)
        .collect();
    values.sort();
    let ttl = sets
        .iter()
        .find(|s| family.contains(&s.rtype) && !s.values.is_empty())
        .map(|s| s.ttl);
    let mut observed = Attributes::new();
    observed.insert("values".into(), json!(values));
    observed.insert("ttl".into(), json!(ttl));
    observed.insert("owner".into(), json!(owner));
    observed
}

/// A set's values as shown: its records' data, or its alias target.
fn shown_values(set: &RecordSet) -> Vec<String> {
    match &set.alias {
        Some(alias) => vec![alias.text()],
        None => set.values.clone(),
    }
}

fn attribute<'a>(attributes: &'a Attributes, key: &str) -> &'a str {
    attributes.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The ownership TXT set written beside a record.
fn owner_set(name: &str, ttl: u32, owner: &str) -> RecordSet {
    RecordSet {
        name: name.to_string(),
        rtype: Rtype::Txt,
        ttl,
        values: vec![owner.to_string()],
        alias: None,
    }
}

/// The record sets and TTL of `desired`, or a fatal error naming it.
fn wanted(desired: &Desired) -> Result<(Vec<RecordSet>, u32), DriverError> {
    let sets = record::sets_of(&desired.attributes).map_err(DriverError::fatal)?;
    let ttl = sets
        .first()
        .map_or(crate::strategy::dns::DEFAULT_TTL, |s| s.ttl);
    Ok((sets, ttl))
}

#[async_trait]
impl Driver for RecordDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, kind: Kind) -> bool {
        kind == Kind::Record
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        Ok(Catalog::default())
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        let names: Vec<String> = known
            .iter()
            .map(|e| attribute(&e.attributes, "name").to_string())
            .collect();
        let found = match names.is_empty() {
            true => Vec::new(),
            false => self.zone.read(&names).await?,
        };
        let mut refreshed = Refreshed::default();
        for (existing, sets) in known.iter().zip(found) {
            let owners = record::owner_texts(lineage, &existing.address);
            let written = attribute(&existing.attributes, "type");
            // The text found is what the next write's guard names (a legacy one included).
            refreshed.known.insert(
                existing.address.clone(),
                our_text(&sets, &owners).map(|found| observed(&sets, written, found)),
            );
        }
        Ok(refreshed)
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let name = attribute(&desired.attributes, "name").to_string();
        let owners = record::owner_texts(request.lineage, &desired.address);
        let owner = owners[0].clone();
        let (sets, ttl) = wanted(desired)?;
        let mut write = sets;
        write.push(owner_set(&name, ttl, &owner));
        let mut edit = Edit {
            name: name.clone(),
            guard: Guard::Unclaimed,
            write: write.clone(),
            remove: Vec::new(),
        };
        // Most names are free (the plan checked them): written at once, guarded on the
        // server. Only when the guard fails is the name read, to refuse it or, when it is
        // ours already (an apply that stopped between writing and saving), to write it again.
        match self.batcher().submit(edit.clone()).await {
            Ok(()) => {}
            Err(e) if e.code.as_deref() == Some(super::PREREQUISITE) => {
                let now = self.read_one(&name).await?;
                if let Some(refused) = refusal(&name, &now, &owners) {
                    return Err(refused);
                }
                edit.guard = match our_text(&now, &owners) {
                    Some(found) => Guard::Owner(found.to_string()),
                    None => Guard::Unclaimed,
                };
                self.write(edit, &owners).await?;
            }
            Err(e) => return Err(e),
        }
        let written = attribute(&desired.attributes, "type");
        Ok(Existing {
            address: desired.address.clone(),
            kind: Kind::Record,
            placement: request.placement.clone(),
            provider_id: format!("{name} {written}"),
            attributes: desired.attributes.clone(),
            observed: observed(&write, written, &owner),
            dependencies: desired.depends_on.clone(),
        })
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        let name = attribute(&existing.attributes, "name").to_string();
        let found = attribute(&existing.observed, "owner").to_string();
        if found.is_empty() {
            return Err(DriverError::fatal(format!(
                "{} has no ownership record in state; run `oss plan` (refresh) first",
                existing.address
            )));
        }
        // A legacy ownership text is replaced by today's in the same change.
        let owner = record::upgraded(&found);
        let (sets, ttl) = wanted(desired)?;
        let mut write = sets;
        write.push(owner_set(&name, ttl, &owner));
        self.write(
            Edit {
                name: name.clone(),
                guard: Guard::Owner(found.clone()),
                write: write.clone(),
                remove: Vec::new(),
            },
            &[found, owner.clone()],
        )
        .await?;
        let written = attribute(&desired.attributes, "type");
        Ok(Existing {
            attributes: desired.attributes.clone(),
            observed: observed(&write, written, &owner),
            dependencies: desired.depends_on.clone(),
            ..existing.clone()
        })
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        let name = attribute(&existing.attributes, "name").to_string();
        let recorded = attribute(&existing.observed, "owner").to_string();
        if recorded.is_empty() {
            return Ok(());
        }
        let owners = [recorded.clone(), record::upgraded(&recorded)];
        let now = self.read_one(&name).await?;
        let Some(owner) = our_text(&now, &owners).map(str::to_string) else {
            // Gone already, or no longer ours: nothing of ours to remove.
            return Ok(());
        };
        let mut remove: Vec<Rtype> =
            Rtype::family(attribute(&existing.attributes, "type")).to_vec();
        remove.push(Rtype::Txt);
        self.write(
            Edit {
                name,
                guard: Guard::Owner(owner),
                write: Vec::new(),
                remove,
            },
            &owners,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rtype: Rtype, values: &[&str]) -> RecordSet {
        RecordSet {
            name: "web.oss.test.".into(),
            rtype,
            ttl: 60,
            values: values.iter().map(|v| v.to_string()).collect(),
            alias: None,
        }
    }

    #[test]
    fn only_unclaimed_empty_names_and_our_own_may_be_written() {
        let address = crate::resource::Address::record("web");
        let owners = record::owner_texts("l", &address).to_vec();
        let (ours, legacy) = (owners[0].as_str(), owners[1].as_str());
        assert!(refusal("web.oss.test.", &[], &owners).is_none());
        assert!(refusal("web.oss.test.", &[set(Rtype::Txt, &[ours])], &owners).is_none());
        // A name written with the legacy text is still ours.
        let old = [set(Rtype::Txt, &[legacy])];
        assert!(refusal("web.oss.test.", &old, &owners).is_none());
        assert_eq!(our_text(&old, &owners), Some(legacy));
        let taken = refusal("web.oss.test.", &[set(Rtype::A, &["10.0.0.1"])], &owners).unwrap();
        assert!(
            taken.message.contains("web.oss.test. is already taken")
                && taken.message.contains("A record (10.0.0.1)"),
            "{}",
            taken.message
        );
        let other = record::owner_text("m", &address);
        let e = refusal("web.oss.test.", &[set(Rtype::Txt, &[&other])], &owners).unwrap();
        assert!(e.message.contains("another oss state"), "{}", e.message);
        let other_legacy = record::legacy_owner_text("m", &address);
        let e = refusal(
            "web.oss.test.",
            &[set(Rtype::Txt, &[&other_legacy])],
            &owners,
        );
        assert!(e.is_some(), "another state's legacy text is not ours");
        let spf = refusal(
            "web.oss.test.",
            &[set(Rtype::Txt, &["v=spf1 -all"])],
            &owners,
        )
        .unwrap();
        assert!(spf.message.contains("not oss's"), "{}", spf.message);
        let both = [set(Rtype::Txt, &[ours, legacy])];
        assert!(
            refusal("web.oss.test.", &both, &owners).is_some(),
            "exactly one text"
        );
    }
}
