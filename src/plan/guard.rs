//! `prevent_destroy`: a plan that would delete or replace a node of a protected group is
//! refused as a whole, before anything changes, naming every such node, why it would go and
//! where the protection is lifted.
//!
//! Which protection holds: the strategy's, for a node whose group is still in the strategy
//! (so setting `"prevent_destroy": false` lifts it at once, as in Terraform); the one recorded
//! in state on the node, for a node whose group is gone (removing the group does not lift it:
//! apply `false` first). A node already gone at the provider destroys nothing, and neither
//! does deleting a deposed object (its replacement was allowed when it was planned).
//!
//! Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use super::{Action, Change};
use crate::resource::{self, Address};

/// A group's protection as the strategy says it.
#[derive(Clone, Debug)]
pub struct GroupGuard {
    pub protected: bool,
    /// Where to lift it: the group's pointer, with its place in the file when written there
    /// (`/nodes/web/prevent_destroy (strategy.json:12:7)`).
    pub lift_at: String,
}

/// One protected node the plan would destroy.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub address: Address,
    /// `replaced` or `deleted`.
    pub verb: &'static str,
    /// Why, as the plan says it.
    pub reason: String,
    /// How to lift the protection.
    pub lift: String,
}

/// The plan destroys protected nodes: nothing was changed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtectedError {
    pub refusals: Vec<Refusal>,
}

impl std::error::Error for ProtectedError {}

impl fmt::Display for ProtectedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.refusals.len();
        write!(
            f,
            "The plan would destroy {n} node{} protected by \"prevent_destroy\", so it is refused and nothing was changed:",
            if n == 1 { "" } else { "s" }
        )?;
        for r in &self.refusals {
            write!(f, "\n  {} would be {}: {}", r.address, r.verb, r.reason)?;
        }
        Ok(())
    }
}

impl ProtectedError {
    /// How to lift each protection involved, once each.
    pub fn hint(&self) -> String {
        let mut lifts: Vec<&str> = self.refusals.iter().map(|r| r.lift.as_str()).collect();
        lifts.sort_unstable();
        lifts.dedup();
        format!(
            "{}; or narrow the plan so it leaves them alone (--target, or --exclude on plan and apply)",
            lifts.join("; ")
        )
    }
}

/// Refuses `changes` if any deletes or replaces a protected node. `groups` holds the
/// strategy's groups (none for a plan that has no strategy groups to consult).
pub fn check(
    changes: &[Change],
    groups: &BTreeMap<String, GroupGuard>,
) -> Result<(), ProtectedError> {
    let mut refusals = Vec::new();
    for change in changes {
        let verb = match change.action {
            _ if change.gone || change.deposed => continue,
            Action::Replace => "replaced",
            Action::Delete => "deleted",
            _ => continue,
        };
        let Some(group) = change.address.group() else {
            continue;
        };
        let lift = match groups.get(group) {
            Some(guard) if guard.protected => format!(
                "set \"prevent_destroy\": false at {} to allow destroying group {group}'s nodes",
                guard.lift_at
            ),
            Some(_) => continue,
            None => {
                let recorded = change
                    .before
                    .as_ref()
                    .is_some_and(|b| resource::lifecycle(&b.attributes, "prevent_destroy"));
                if !recorded {
                    continue;
                }
                format!(
                    "group {group} is no longer in the strategy but its nodes keep the protection recorded in state: put the group back with \"prevent_destroy\": false, apply, then remove it"
                )
            }
        };
        refusals.push(Refusal {
            address: change.address.clone(),
            verb,
            reason: change.reason.clone(),
            lift,
        });
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(ProtectedError { refusals })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Existing, Kind, Placement};

    fn node(group: &str, recorded: bool) -> Existing {
        let mut attributes = crate::resource::Attributes::new();
        if recorded {
            attributes.insert("prevent_destroy".into(), true.into());
        }
        Existing {
            address: Address::node(group, 0),
            kind: Kind::Node,
            placement: Placement {
                provider: "local".into(),
                location: "local-a".into(),
                size: "small".into(),
                image: "host".into(),
                hourly_price: None,
                currency: None,
            },
            provider_id: format!("{group}-0"),
            attributes,
            observed: Default::default(),
            dependencies: vec![],
        }
    }

    fn delete(before: Existing, gone: bool, deposed: bool) -> Change {
        Change {
            address: before.address.clone(),
            action: Action::Delete,
            reason: "no longer in the strategy".into(),
            before: Some(before),
            after: None,
            gone,
            moved_from: None,
            deposed,
        }
    }

    fn groups(protected: bool) -> BTreeMap<String, GroupGuard> {
        let guard = GroupGuard {
            protected,
            lift_at: "/nodes/web/prevent_destroy (strategy.json:3:5)".into(),
        };
        [("web".to_string(), guard)].into()
    }

    #[test]
    fn the_strategy_decides_for_its_groups_and_state_for_removed_ones() {
        // The strategy's word wins over what state recorded, both ways.
        assert!(check(&[delete(node("web", false), false, false)], &groups(true)).is_err());
        assert!(check(&[delete(node("web", true), false, false)], &groups(false)).is_ok());
        // A group no longer in the strategy keeps what state recorded.
        let err = check(&[delete(node("db", true), false, false)], &groups(false)).unwrap_err();
        assert_eq!(err.refusals[0].address, Address::node("db", 0));
        assert!(
            err.hint().contains("group db is no longer in the strategy"),
            "{}",
            err.hint()
        );
        assert!(check(&[delete(node("db", false), false, false)], &groups(false)).is_ok());
    }

    #[test]
    fn nothing_is_refused_that_destroys_nothing() {
        let gone = delete(node("web", true), true, false);
        let deposed = delete(node("web", true), false, true);
        assert!(check(&[gone, deposed], &groups(true)).is_ok());
    }

    #[test]
    fn every_refused_node_is_named_with_its_reason() {
        let mut replace = delete(node("web", true), false, false);
        replace.action = Action::Replace;
        replace.reason = "size changed (forces replacement)".into();
        let err = check(&[replace], &groups(true)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The plan would destroy 1 node protected by \"prevent_destroy\", so it is refused and nothing was changed:\n  node.web[0] would be replaced: size changed (forces replacement)"
        );
        assert!(err.hint().starts_with(
            "set \"prevent_destroy\": false at /nodes/web/prevent_destroy (strategy.json:3:5)"
        ));
    }
}
