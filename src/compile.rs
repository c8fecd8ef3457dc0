//! Compile: strategy + provider catalogs (+ the current state, for sticky placement) → the
//! desired graph: every node with its attributes, its chosen placement and its ranked
//! fall-backs.
//!
//! Pure: no I/O, no provider calls. Placement decisions live in `placement`.

use serde_json::json;

use crate::catalog::Catalog;
use crate::graph::{DesiredGraph, GraphError};
use crate::placement::{self, Placed};
use crate::resource::{Address, Attributes, Desired, Kind};
use crate::state::State;
use crate::strategy::{Strategy, StrategyError};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// What compile reads.
pub struct Input<'a> {
    pub strategy: &'a Strategy,
    /// One catalog per provider option, in the strategy's order.
    pub catalogs: &'a [(String, Catalog)],
    /// The current state, so existing nodes keep their place.
    pub state: Option<&'a State>,
    /// Seed for `random` picks.
    pub seed: u64,
    /// Place every node afresh, ignoring where it runs now.
    pub rebalance: bool,
}

/// Turns the strategy into the desired graph.
pub fn compile(input: &Input<'_>) -> Result<DesiredGraph, CompileError> {
    let spec = &input.strategy.node;
    let addresses: Vec<Address> = (0..placement::fleet(input.strategy).nodes)
        .map(|i| Address::node(&spec.name, i))
        .collect();
    let current = |i: usize| {
        let existing = input.state?.resources.get(addresses.get(i)?)?;
        Some(&existing.placement)
    };
    let placed = placement::place(&placement::Input {
        strategy: input.strategy,
        catalogs: input.catalogs,
        current: &current,
        seed: input.seed,
        rebalance: input.rebalance,
    })?;
    let resources = placed
        .into_iter()
        .zip(&addresses)
        .enumerate()
        .map(
            |(
                index,
                (
                    Placed {
                        placement,
                        fallbacks,
                    },
                    address,
                ),
            )| {
                let mut attributes = Attributes::new();
                attributes.insert("name".into(), json!(format!("{}-{index}", spec.name)));
                attributes.insert("index".into(), json!(index));
                attributes.insert("command".into(), json!(spec.command));
                attributes.insert("ports".into(), json!(spec.ports));
                attributes.insert("tags".into(), json!(spec.tags));
                Desired {
                    address: address.clone(),
                    kind: Kind::Node,
                    placement,
                    fallbacks,
                    attributes,
                    depends_on: Vec::new(),
                }
            },
        )
        .collect();
    Ok(DesiredGraph::new(resources)?)
}
