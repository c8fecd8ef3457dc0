//! The desired graph: every resource the strategy asks for, with dependency edges, as a
//! petgraph DAG. Built only by `compile`; read by `plan` and `graph` (DOT output).

use std::collections::HashMap;
use std::fmt::Write;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::resource::{Address, Desired};

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("Resource {from} depends on {to}, which the strategy does not define")]
    UnknownDependency { from: Address, to: Address },
    #[error("Resources depend on each other in a cycle: {}", .0.iter().map(Address::as_str).collect::<Vec<_>>().join(", "))]
    Cycle(Vec<Address>),
    #[error("Two resources share the address {0}")]
    Duplicate(Address),
}

/// Desired resources and their dependencies (an edge `a → b` means `b` needs `a` first).
#[derive(Debug, Default)]
pub struct DesiredGraph {
    graph: DiGraph<Desired, ()>,
    by_address: HashMap<Address, NodeIndex>,
    /// Every resource after those it depends on.
    order: Vec<NodeIndex>,
}

impl DesiredGraph {
    /// Builds and checks the graph: every dependency exists, addresses are unique, no cycle.
    pub fn new(resources: Vec<Desired>) -> Result<Self, GraphError> {
        let mut graph = DiGraph::with_capacity(resources.len(), 0);
        let mut by_address = HashMap::with_capacity(resources.len());
        for resource in resources {
            let address = resource.address.clone();
            let index = graph.add_node(resource);
            if by_address.insert(address.clone(), index).is_some() {
                return Err(GraphError::Duplicate(address));
            }
        }
        for index in graph.node_indices().collect::<Vec<_>>() {
            for dependency in graph[index].depends_on.clone() {
                let Some(&from) = by_address.get(&dependency) else {
                    return Err(GraphError::UnknownDependency {
                        from: graph[index].address.clone(),
                        to: dependency,
                    });
                };
                graph.add_edge(from, index, ());
            }
        }
        let order = petgraph::algo::toposort(&graph, None).map_err(|_| {
            // Name every member: the first strongly connected part that loops.
            let members = petgraph::algo::tarjan_scc(&graph)
                .into_iter()
                .find(|part| part.len() > 1 || graph.contains_edge(part[0], part[0]))
                .unwrap_or_default();
            let mut members: Vec<Address> =
                members.iter().map(|&i| graph[i].address.clone()).collect();
            members.sort();
            GraphError::Cycle(members)
        })?;
        Ok(DesiredGraph {
            graph,
            by_address,
            order,
        })
    }

    pub fn get(&self, address: &Address) -> Option<&Desired> {
        self.by_address.get(address).map(|&i| &self.graph[i])
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// All resources, in insertion order.
    pub fn resources(&self) -> impl Iterator<Item = &Desired> {
        self.graph.node_weights()
    }

    /// All resources, each after everything it depends on.
    pub fn in_dependency_order(&self) -> impl Iterator<Item = &Desired> {
        self.order.iter().map(|&i| &self.graph[i])
    }

    /// The resources themselves, each after everything it depends on, handed over one at a
    /// time (a second list of 100,000 resources is never built).
    pub fn into_dependency_order(self) -> impl Iterator<Item = Desired> {
        let (nodes, _) = self.graph.into_nodes_edges();
        let mut slots: Vec<Option<Desired>> = nodes.into_iter().map(|n| Some(n.weight)).collect();
        self.order
            .into_iter()
            .filter_map(move |i| slots[i.index()].take())
    }

    /// Graphviz DOT text, one node per resource labelled with its placement.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph oss {\n  rankdir = LR;\n  node [shape = box];\n");
        for resource in self.resources() {
            let _ = writeln!(
                out,
                "  \"{}\" [label = \"{}\\n{}\"];",
                resource.address, resource.address, resource.placement
            );
        }
        for edge in self.graph.raw_edges() {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\";",
                self.graph[edge.source()].address,
                self.graph[edge.target()].address
            );
        }
        out.push_str("}\n");
        out
    }
}
