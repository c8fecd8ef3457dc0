//! The state's history as the backend keeps it: each version with its writer, time, counts
//! and cost (and the change from the version before), and the diff of any two versions, by
//! resource and attribute and as text. Versions are read with [`Backend::raw`], redacted, and
//! summarised once per (serial, hash).
//!
//! [`Backend::raw`]: crate::state::backend::Backend::raw

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::fleet::{self, Totals};
use super::source::{Source, redact};
use crate::state::{State, StateError, document};

/// One version, summarised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub serial: u64,
    pub written_at: Option<String>,
    pub written_by: Option<String>,
    pub lineage: String,
    pub hash: String,
    /// `None` when the stored version cannot be read (its problem is in `problem`).
    pub totals: Option<Totals>,
    /// Monthly cost change from the version before (`None` for the first, or unreadable).
    pub monthly_change: Option<f64>,
    pub problem: Option<String>,
}

/// Every version, oldest first.
pub async fn versions(source: &Source) -> Result<Vec<Summary>, StateError> {
    let versions = source.session.backend.versions().await?;
    let mut out: Vec<Summary> = Vec::with_capacity(versions.len());
    for version in versions {
        let key = (version.serial, version.hash.clone());
        let cached = source
            .summaries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let mut summary = match cached {
            Some(summary) => summary,
            None => {
                let (totals, problem) = match read(source, version.serial).await {
                    Ok(state) => (Some(Totals::of(&fleet::rows(Some(&state)))), None),
                    Err(e) => (None, Some(source.redact_text(&e.to_string()))),
                };
                let summary = Summary {
                    serial: version.serial,
                    written_at: version.written_at.clone(),
                    written_by: version.written_by.clone(),
                    lineage: version.lineage.clone(),
                    hash: version.hash.clone(),
                    totals,
                    monthly_change: None,
                    problem,
                };
                source
                    .summaries
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, summary.clone());
                summary
            }
        };
        let before = out.last().and_then(|s| s.totals.as_ref());
        summary.monthly_change = match (before, summary.totals.as_ref()) {
            (Some(before), Some(now)) => now.monthly_change(before),
            _ => None,
        };
        out.push(summary);
    }
    Ok(out)
}

/// Why a version cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("There is no version {serial} of the state in {backend}")]
    Missing { serial: u64, backend: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// Version `serial`, redacted.
pub async fn read(source: &Source, serial: u64) -> Result<State, VersionError> {
    let backend = source.session.backend.describe();
    let whence = format!("version {serial} in {backend}");
    let bytes = source
        .session
        .backend
        .raw(Some(serial))
        .await?
        .ok_or(VersionError::Missing { serial, backend })?;
    let opened = source.session.backend.codec().open(&bytes, &whence).await?;
    Ok(redact(opened.state, &source.secrets))
}

/// One attribute that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    /// `placement.size`, `attributes.tags`, `observed.pid`, `provider_id`...
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A resource in both versions, changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Changed {
    pub address: String,
    pub fields: Vec<Field>,
}

/// What differs from version `from` to version `to`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    pub from: u64,
    pub to: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Changed>,
    /// The first currency's monthly cost before and after (see [`Totals`]).
    pub monthly_before: f64,
    pub monthly_after: f64,
    /// Every currency's, before and after.
    pub costs_before: Vec<fleet::Cost>,
    pub costs_after: Vec<fleet::Cost>,
    /// `None` when the two are not in one same currency.
    pub monthly_change: Option<f64>,
    /// A unified diff of the two (redacted) documents.
    pub text: String,
}

pub async fn diff(source: &Source, from: u64, to: u64) -> Result<Diff, VersionError> {
    let (old, new) = (read(source, from).await?, read(source, to).await?);
    Ok(compare(&old, &new))
}

/// The diff of two states. Pure.
pub fn compare(old: &State, new: &State) -> Diff {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (address, resource) in &new.resources {
        match old.resources.get(address) {
            None => added.push(address.to_string()),
            Some(before) if before != resource => changed.push(Changed {
                address: address.to_string(),
                fields: fields(
                    &serde_json::to_value(before).unwrap_or_default(),
                    &serde_json::to_value(resource).unwrap_or_default(),
                ),
            }),
            Some(_) => {}
        }
    }
    let removed = old
        .resources
        .keys()
        .filter(|a| !new.resources.contains_key(*a))
        .map(|a| a.to_string())
        .collect();
    let (old_text, new_text) = (document::render(old), document::render(new));
    let (old_text, new_text) = (
        String::from_utf8_lossy(&old_text),
        String::from_utf8_lossy(&new_text),
    );
    let text = similar::TextDiff::from_lines(old_text.as_ref(), new_text.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("serial {}", old.serial),
            &format!("serial {}", new.serial),
        )
        .to_string();
    let (before, after) = (
        Totals::of(&fleet::rows(Some(old))),
        Totals::of(&fleet::rows(Some(new))),
    );
    Diff {
        from: old.serial,
        to: new.serial,
        added,
        removed,
        changed,
        monthly_before: before.monthly,
        monthly_after: after.monthly,
        monthly_change: after.monthly_change(&before),
        costs_before: before.costs,
        costs_after: after.costs,
        text,
    }
}

/// The fields of two resources (as JSON objects) that differ, one level into the maps
/// (`placement.size`, `attributes.tags`).
fn fields(before: &Value, after: &Value) -> Vec<Field> {
    let empty = serde_json::Map::new();
    let (b, a) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (bv, av) = (b.get(key), a.get(key));
        if bv == av {
            continue;
        }
        match (bv, av) {
            (Some(Value::Object(bm)), Some(Value::Object(am))) => {
                let inner: BTreeSet<&String> = bm.keys().chain(am.keys()).collect();
                for name in inner {
                    if bm.get(name) != am.get(name) {
                        out.push(Field {
                            name: format!("{key}.{name}"),
                            before: bm.get(name).cloned(),
                            after: am.get(name).cloned(),
                        });
                    }
                }
            }
            _ => out.push(Field {
                name: key.clone(),
                before: bv.cloned(),
                after: av.cloned(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::document::tests::node;

    #[test]
    fn the_diff_names_what_was_added_removed_and_changed_field_by_field() {
        let mut old = State::new("t");
        old.serial = 3;
        for i in [0, 1] {
            old.resources.insert(node(i).address.clone(), node(i));
        }
        let mut new = old.clone();
        new.serial = 4;
        new.resources.remove(&node(0).address);
        new.resources.insert(node(2).address.clone(), node(2));
        let one = new.resources.get_mut(&node(1).address).unwrap();
        one.placement.size = "large".into();
        one.placement.hourly_price = Some(0.1);
        let diff = compare(&old, &new);
        assert_eq!(diff.added, ["node.web[2]"]);
        assert_eq!(diff.removed, ["node.web[0]"]);
        assert_eq!(diff.changed.len(), 1);
        let names: Vec<&str> = diff.changed[0]
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["placement.hourly_price", "placement.size"]);
        assert!((diff.monthly_after - 73.0).abs() < 1e-9);
        let line = |sign: char, text: &str| {
            diff.text
                .lines()
                .any(|l| l.starts_with(sign) && l.contains(text))
        };
        assert!(line('-', "\"size\": \"small\""), "{}", diff.text);
        assert!(line('+', "\"size\": \"large\""), "{}", diff.text);
    }
}
