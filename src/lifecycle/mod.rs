//! Lifecycle controls that change what state calls things, never the things themselves:
//! `moved` blocks and `oss state mv` rename state addresses, `oss state rm` forgets a
//! resource without destroying it, `oss import` adopts an object that exists already.
//!
//! This file is pure (no I/O): address expansion and renaming in a state value. The
//! session-level commands, which talk to drivers and the backend, are in [`edit`].

pub mod edit;
mod error;

pub use error::{LifecycleError, Mismatch};

use std::collections::HashMap;

use crate::resource::Address;
use crate::state::State;
use crate::strategy::Moved;

/// One address of state renamed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rename {
    pub from: Address,
    pub to: Address,
}

/// Whether `text` names a node group (`node.web`) rather than one node (`node.web[0]`).
fn is_group(text: &str) -> bool {
    !text.contains('[')
}

/// The renames `from` → `to` means in `state`: a group (`node.web`) renames each of its
/// nodes (`node.web[i]` → `node.frontend[i]`), a node address renames that node.
pub fn expand(state: &State, from: &str, to: &str) -> Vec<Rename> {
    state
        .resources
        .keys()
        .filter_map(|address| {
            let text = address.as_str();
            let renamed = if text == from {
                to.to_string()
            } else if is_group(from) && is_group(to) {
                let rest = text.strip_prefix(from)?;
                rest.starts_with('[').then(|| format!("{to}{rest}"))?
            } else {
                return None;
            };
            Some(Rename {
                from: address.clone(),
                to: Address(renamed),
            })
        })
        .collect()
}

/// The first target of `renames` that state holds already (and that is not itself renamed
/// away by them).
pub fn taken<'a>(state: &State, renames: &'a [Rename]) -> Option<&'a Address> {
    renames
        .iter()
        .map(|r| &r.to)
        .find(|to| state.resources.contains_key(to) && !renames.iter().any(|r| &r.from == *to))
}

/// Renames resources of `state` (targets must be free, see [`taken`]), and the
/// dependencies that name them.
pub fn rename(state: &mut State, renames: &[Rename]) {
    let mut moving = Vec::new();
    for r in renames {
        if let Some(mut resource) = state.resources.remove(&r.from) {
            resource.address = r.to.clone();
            moving.push(resource);
        }
    }
    for resource in moving {
        state.resources.insert(resource.address.clone(), resource);
    }
    let new_name: HashMap<&Address, &Address> = renames.iter().map(|r| (&r.from, &r.to)).collect();
    for resource in state.resources.values_mut() {
        for dependency in &mut resource.dependencies {
            if let Some(to) = new_name.get(dependency) {
                *dependency = (*to).clone();
            }
        }
    }
}

/// Applies the strategy's `moved` blocks to `state`, in order (so chains work). Returns, per
/// new address, the one it had in state; or the index of the block whose target is taken,
/// with that target. A block that matches nothing is fine: after the apply that carries it
/// out, its `from` is gone from state.
pub fn apply_moved(
    moved: &[Moved],
    state: &mut State,
) -> Result<HashMap<Address, Address>, (usize, Address)> {
    let mut was: HashMap<Address, Address> = HashMap::new();
    for (index, block) in moved.iter().enumerate() {
        let renames = expand(state, &block.from, &block.to);
        if let Some(to) = taken(state, &renames) {
            return Err((index, to.clone()));
        }
        rename(state, &renames);
        for r in renames {
            let original = was.remove(&r.from).unwrap_or(r.from);
            if original != r.to {
                was.insert(r.to, original);
            }
        }
    }
    Ok(was)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::document::tests::node;

    fn state(addresses: &[&str]) -> State {
        let mut state = State::new("t");
        for (i, a) in addresses.iter().enumerate() {
            let mut r = node(i);
            r.address = Address(a.to_string());
            state.resources.insert(r.address.clone(), r);
        }
        state
    }

    fn moved(from: &str, to: &str) -> Moved {
        Moved {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn a_group_renames_each_node_and_a_node_only_itself() {
        let mut s = state(&["node.web[0]", "node.web[1]", "node.webby[0]", "node.db[0]"]);
        let was = apply_moved(
            &[
                moved("node.web", "node.frontend"),
                moved("node.db[0]", "node.data[3]"),
            ],
            &mut s,
        )
        .unwrap();
        let keys: Vec<&str> = s.resources.keys().map(|a| a.as_str()).collect();
        assert_eq!(
            keys,
            [
                "node.data[3]",
                "node.frontend[0]",
                "node.frontend[1]",
                "node.webby[0]"
            ]
        );
        assert_eq!(
            was[&Address("node.frontend[1]".into())],
            Address("node.web[1]".into())
        );
        assert_eq!(
            s.resources[&Address("node.frontend[1]".into())]
                .address
                .as_str(),
            "node.frontend[1]"
        );
    }

    #[test]
    fn chains_remember_the_first_address_and_a_taken_target_is_refused() {
        let mut s = state(&["node.a[0]"]);
        let was = apply_moved(
            &[moved("node.a", "node.b"), moved("node.b", "node.c")],
            &mut s,
        )
        .unwrap();
        assert_eq!(
            was[&Address("node.c[0]".into())],
            Address("node.a[0]".into())
        );

        let mut s = state(&["node.a[0]", "node.b[0]"]);
        let before = s.clone();
        let err = apply_moved(
            &[moved("node.x", "node.y"), moved("node.a", "node.b")],
            &mut s,
        );
        assert_eq!(err, Err((1, Address("node.b[0]".into()))));
        assert_eq!(s, before, "nothing renamed");
    }
}
