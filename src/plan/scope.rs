//! Which addresses a plan covers (`--target`, `--exclude`) and which it must replace
//! (`--replace`), and the check that each pattern names something: a pattern that matches
//! nothing is a typo, and planning nothing for it would read as "No changes" while changes
//! are due.
//!
//! Pure: no I/O.

use std::collections::BTreeSet;

use crate::echo::Echo;
use crate::resource::Address;

/// Which addresses a plan covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub targets: Vec<String>,
    pub excludes: Vec<String>,
    /// Addresses (or prefixes) to replace even though nothing about them changed.
    pub replaces: Vec<String>,
}

/// A `--target`, `--exclude` or `--replace` pattern that names no resource.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {} matches no resource {where_}", Echo(pattern))]
pub struct ScopeError {
    /// `--target`, `--exclude` or `--replace`.
    pub flag: &'static str,
    pub pattern: String,
    /// Where it was looked for: `in the strategy or the state`, `in the state`.
    pub where_: &'static str,
    /// The existing addresses (or group prefixes) nearest to it, best first.
    pub closest: Vec<String>,
}

impl ScopeError {
    pub fn hint(&self) -> Option<String> {
        Some(if self.closest.is_empty() {
            format!("there is nothing {} to name yet", self.where_)
        } else {
            format!(
                "the closest existing: {}; list them all with `oss plan` or `oss state list`",
                self.closest.join(", ")
            )
        })
    }
}

impl Scope {
    pub(super) fn covers(&self, address: &Address) -> bool {
        (self.targets.is_empty() || self.targets.iter().any(|t| address.matches(t)))
            && !self.excludes.iter().any(|e| address.matches(e))
    }

    /// Whether `--replace` asks for `address` to be replaced.
    pub(super) fn replaces(&self, address: &Address) -> bool {
        self.replaces.iter().any(|r| address.matches(r))
    }

    /// Fails on the first `--replace` pattern that matches nothing in the state: only what
    /// exists can be replaced.
    pub fn check_replaces<'a>(
        &self,
        in_state: impl Iterator<Item = &'a Address>,
    ) -> Result<(), ScopeError> {
        if self.replaces.is_empty() {
            return Ok(());
        }
        let known: Vec<&Address> = in_state.collect();
        for pattern in &self.replaces {
            if !known.iter().any(|a| a.matches(pattern)) {
                return Err(ScopeError {
                    flag: "--replace",
                    pattern: pattern.clone(),
                    where_: "in the state",
                    closest: closest(pattern, known.iter().copied()),
                });
            }
        }
        Ok(())
    }

    /// Fails on the first pattern that matches none of `known` (the desired addresses and
    /// those in state). `destroy`: only state was looked in.
    pub fn check<'a>(
        &self,
        known: impl Iterator<Item = &'a Address>,
        destroy: bool,
    ) -> Result<(), ScopeError> {
        if self.targets.is_empty() && self.excludes.is_empty() {
            return Ok(());
        }
        let known: Vec<&Address> = known.collect();
        let flags = self
            .targets
            .iter()
            .map(|t| ("--target", t))
            .chain(self.excludes.iter().map(|e| ("--exclude", e)));
        for (flag, pattern) in flags {
            if known.iter().any(|a| a.matches(pattern)) {
                continue;
            }
            return Err(ScopeError {
                flag,
                pattern: pattern.clone(),
                where_: if destroy {
                    "in the state"
                } else {
                    "in the strategy or the state"
                },
                closest: closest(pattern, known.iter().copied()),
            });
        }
        Ok(())
    }
}

/// Up to three addresses or group prefixes (`node.web`) nearest to `pattern` by edit distance.
fn closest<'a>(pattern: &str, known: impl Iterator<Item = &'a Address>) -> Vec<String> {
    let mut candidates = BTreeSet::new();
    for address in known {
        let text = address.0.as_str();
        if let Some((group, _)) = text.split_once('[') {
            candidates.insert(group.to_string());
        }
        candidates.insert(text.to_string());
    }
    crate::suggest::nearest(pattern, candidates, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(names: &[&str]) -> Vec<Address> {
        names.iter().map(|n| Address(n.to_string())).collect()
    }

    #[test]
    fn a_pattern_matching_nothing_names_the_closest_addresses() {
        let known = addresses(&["key.local", "node.web[0]", "node.web[1]", "node.db[0]"]);
        let scope = Scope {
            targets: vec!["node.web".into(), "node.wbe[1]".into()],
            ..Scope::default()
        };
        let e = scope.check(known.iter(), false).unwrap_err();
        assert_eq!(e.flag, "--target");
        assert_eq!(e.pattern, "node.wbe[1]");
        assert_eq!(e.closest[0], "node.web[1]");
        assert_eq!(
            e.to_string(),
            "--target node.wbe[1] matches no resource in the strategy or the state"
        );
    }

    #[test]
    fn excludes_are_checked_too_and_prefixes_count_as_matches() {
        let known = addresses(&["node.web[0]"]);
        let ok = Scope {
            targets: vec!["node.web".into(), "node.web[0]".into()],
            excludes: vec!["node".into()],
            ..Scope::default()
        };
        assert!(ok.check(known.iter(), false).is_ok());
        let bad = Scope {
            excludes: vec!["node.nope".into()],
            ..Scope::default()
        };
        let e = bad.check(known.iter(), true).unwrap_err();
        assert_eq!(e.flag, "--exclude");
        assert_eq!(e.where_, "in the state");
    }

    #[test]
    fn nothing_known_gives_a_hint_without_candidates() {
        let scope = Scope {
            targets: vec!["node.web[0]".into()],
            ..Scope::default()
        };
        let e = scope.check([].iter(), true).unwrap_err();
        assert!(e.closest.is_empty());
        assert_eq!(
            e.hint().as_deref(),
            Some("there is nothing in the state to name yet")
        );
    }

    #[test]
    fn replaces_must_name_something_in_the_state() {
        let in_state = addresses(&["node.web[0]", "node.web[1]"]);
        let scope = Scope {
            replaces: vec!["node.web[1]".into(), "node.web".into()],
            ..Scope::default()
        };
        assert!(scope.check_replaces(in_state.iter()).is_ok());
        assert!(
            scope.replaces(&in_state[0]),
            "a prefix replaces every node under it"
        );
        let bad = Scope {
            replaces: vec!["node.web[2]".into()],
            ..Scope::default()
        };
        let e = bad.check_replaces(in_state.iter()).unwrap_err();
        assert_eq!(e.flag, "--replace");
        assert_eq!(
            e.to_string(),
            "--replace node.web[2] matches no resource in the state"
        );
        assert_eq!(e.closest[0], "node.web[0]");
    }
}
