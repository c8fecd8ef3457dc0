//! What `oss import`, `oss state rm` and `oss state mv` refuse, each with the address it is
//! about and a hint.

use crate::resource::Address;

/// One field of an imported object that the group does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// `provider`, `location`, `size` or `image`.
    pub field: &'static str,
    pub found: String,
    pub allowed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("There is no state yet, so there is nothing to {what}")]
    NoState { what: &'static str },
    #[error("No resource {address} in state{}", closest(nearest))]
    NotInState {
        address: String,
        nearest: Vec<String>,
    },
    #[error("{address} is already in state")]
    Taken { address: Address },
    #[error("The strategy defines no node {address}{}", closest(nearest))]
    NotInStrategy {
        address: String,
        nearest: Vec<String>,
    },
    #[error("Cannot move {from} to {to}: {why}")]
    BadMove {
        from: String,
        to: String,
        why: &'static str,
    },
    #[error("`{id}` does not fit {address}: {}", mismatches.iter().map(|m| format!("its {} is `{}`, the group allows {}", m.field, m.found, m.allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", "))).collect::<Vec<_>>().join("; "))]
    Mismatch {
        address: Address,
        id: String,
        mismatches: Vec<Mismatch>,
    },
}

fn closest(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!("; closest: {}", nearest.join(", "))
    }
}

impl LifecycleError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            LifecycleError::NoState { .. } => "apply something first".into(),
            LifecycleError::NotInState { .. } => "list addresses with `oss state list`".into(),
            LifecycleError::Taken { .. } => {
                "pick a free address, or `oss state rm` the one there first".into()
            }
            LifecycleError::NotInStrategy { .. } => {
                "import into an address the strategy defines (see `oss plan`)".into()
            }
            LifecycleError::BadMove { .. } => {
                "move a group to a group (node.web node.frontend) or a node to a node \
                 (node.web[0] node.web[3])"
                    .into()
            }
            LifecycleError::Mismatch { .. } => {
                "import an object the group's options allow, or widen the group's options".into()
            }
        }
    }
}
