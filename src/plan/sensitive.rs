//! Which fields of a plan hold a secret. Secrets enter oss only through `env.` references
//! (in provider settings and the state block); an attribute that holds one of those values
//! anyway (a token pasted into a node's `command` or `tags` as well) is *sensitive*: every
//! rendering of the plan shows `(sensitive)` instead of its value, and the JSON plan leaves it
//! out of `before`/`after` and names it in `sensitive` (docs/plan-json.md).
//!
//! The saved plan keeps the values (apply needs them, as state does) and the list, so that
//! `oss show PLANFILE` hides the same fields without the environment.
//!
//! Pure: no I/O.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Change, Plan};
use crate::resource::{Address, Attributes};

/// What a sensitive value is shown as.
pub const SHOWN: &str = "(sensitive)";
/// What a sensitive value that changes is shown as after the change.
pub const CHANGED: &str = "(sensitive, changed)";

/// Per address, the names of its attributes (before or after) that hold one of `secrets`.
pub fn find(changes: &[Change], secrets: &[String]) -> BTreeMap<Address, BTreeSet<String>> {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let mut found = BTreeMap::new();
    if secrets.is_empty() {
        return found;
    }
    for change in changes {
        let before = change.before.as_ref().map(|b| &b.attributes);
        let after = change.after.as_ref().map(|a| &a.attributes);
        let names: BTreeSet<String> = before
            .into_iter()
            .chain(after)
            .flat_map(|attributes| attributes.iter())
            .filter(|(_, value)| holds_any(value, &secrets))
            .map(|(name, _)| name.clone())
            .collect();
        if !names.is_empty() {
            found.insert(change.address.clone(), names);
        }
    }
    found
}

fn holds_any(value: &Value, secrets: &[&str]) -> bool {
    match value {
        Value::String(s) => secrets.iter().any(|secret| s.contains(secret)),
        Value::Number(n) => {
            let text = n.to_string();
            secrets.iter().any(|secret| text.contains(secret))
        }
        Value::Array(items) => items.iter().any(|v| holds_any(v, secrets)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| secrets.iter().any(|s| k.contains(s)) || holds_any(v, secrets)),
        Value::Bool(_) | Value::Null => false,
    }
}

impl Plan {
    /// The names of `address`'s sensitive fields, sorted.
    pub fn sensitive_fields(&self, address: &Address) -> Vec<&str> {
        self.sensitive
            .get(address)
            .map(|names| names.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The plan as it may be shown: every sensitive value replaced by [`SHOWN`]. Borrowed
    /// when nothing is sensitive (the common case: no copy of a large plan).
    pub fn for_display(&self) -> Cow<'_, Plan> {
        if self.sensitive.is_empty() {
            return Cow::Borrowed(self);
        }
        let mut shown = self.clone();
        for change in &mut shown.changes {
            let Some(names) = self.sensitive.get(&change.address) else {
                continue;
            };
            for name in names {
                let before = change.before.as_ref().and_then(|b| b.attributes.get(name));
                let after = change.after.as_ref().and_then(|a| a.attributes.get(name));
                // A value that changed must still show as changed.
                let after_shown = if before.is_some() && before != after {
                    CHANGED
                } else {
                    SHOWN
                };
                let mask = |attributes: &mut Attributes, shown: &str| {
                    if let Some(value) = attributes.get_mut(name) {
                        *value = Value::from(shown);
                    }
                };
                if let Some(before) = change.before.as_mut() {
                    mask(&mut before.attributes, SHOWN);
                }
                if let Some(after) = change.after.as_mut() {
                    mask(&mut after.attributes, after_shown);
                }
            }
        }
        Cow::Owned(shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Change};
    use crate::resource::{Desired, Existing};
    use serde_json::json;

    fn change(before: Option<Attributes>, after: Option<Attributes>) -> Change {
        let placement = json!({"provider": "p", "location": "l", "size": "s", "image": "i"});
        let existing = before.map(|attributes| {
            serde_json::from_value::<Existing>(json!({
                "address": "node.web[0]", "kind": "node", "provider_id": "i-1",
                "placement": placement, "attributes": attributes
            }))
            .unwrap()
        });
        let desired = after.map(|attributes| {
            serde_json::from_value::<Desired>(json!({
                "address": "node.web[0]", "kind": "node",
                "placement": placement, "attributes": attributes
            }))
            .unwrap()
        });
        Change {
            address: Address("node.web[0]".into()),
            action: Action::Update,
            reason: String::new(),
            before: existing,
            after: desired,
            gone: false,
            moved_from: None,
            deposed: false,
        }
    }

    fn attrs(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn fields_holding_a_secret_anywhere_are_found() {
        let c = change(
            Some(attrs(
                json!({"command": "run", "tags": {"k": "a-s3cret-b"}}),
            )),
            Some(attrs(json!({"command": "run --key s3cret", "ports": [1]}))),
        );
        let found = find(&[c], &["s3cret".into(), String::new()]);
        let names: Vec<&String> = found[&Address("node.web[0]".into())].iter().collect();
        assert_eq!(names, ["command", "tags"]);
        assert!(find(&[], &[]).is_empty());
    }

    #[test]
    fn display_hides_the_values_and_still_shows_a_change() {
        let c = change(
            Some(attrs(json!({"command": "run s3cret-1", "name": "web-0"}))),
            Some(attrs(json!({"command": "run s3cret-2", "name": "web-0"}))),
        );
        let sensitive = find(std::slice::from_ref(&c), &["s3cret".into()]);
        let plan = Plan {
            format_version: 1,
            strategy: "s".into(),
            strategy_hash: String::new(),
            lineage: None,
            serial: 0,
            seed: 0,
            destroy: false,
            changes: vec![c],
            sensitive,
            warnings: Vec::new(),
        };
        let shown = plan.for_display();
        let text = serde_json::to_string(shown.as_ref()).unwrap();
        assert!(!text.contains("s3cret-"), "{text}");
        let changed: Vec<String> = shown.changes[0]
            .changed_fields()
            .into_iter()
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(changed, ["command"], "the change is still visible");
        assert_eq!(
            plan.sensitive_fields(&Address("node.web[0]".into())),
            ["command"]
        );
    }
}
