//! Inventories: the nodes in state as the configuration tools read them (Ansible's dynamic
//! inventory, a salt-ssh roster, a Puppet Bolt v2 inventory, a Fabric host list, knife-style
//! Chef node JSON, `ssh_config` blocks, and oss's own JSON).
//!
//! This file gathers the hosts: every node in state with its address and what its group says
//! of SSH (`ssh_user`, `ssh_port`, `ssh_private_key`; the key defaults to `ssh_public_key`
//! without `.pub`). A node that lacks what a format needs is listed in [`Inventory::problems`],
//! never dropped silently. The formats are in [`formats`]. Pure: state and strategy in, text out.

pub mod formats;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::resource::{Address, Kind};
use crate::state::State;
use crate::strategy::Strategy;

/// One node as configuration tools see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Host {
    /// The inventory name: the node's name (`web-0`).
    pub name: String,
    pub address: Address,
    /// The node group (`web`).
    pub group: String,
    /// Where to connect: the public address where there is one.
    pub host: Option<String>,
    pub private_address: Option<String>,
    pub port: u16,
    pub user: Option<String>,
    /// Path of the private key to connect with.
    pub private_key: Option<String>,
    pub provider: String,
    pub location: String,
    pub region: Option<String>,
    pub size: String,
    pub image: String,
    pub hourly_price: Option<f64>,
    pub provider_id: String,
    pub tags: BTreeMap<String, String>,
    /// The node's own directory, where it shares a machine with other nodes (the local
    /// provider's node directory): tools that keep files on their targets go there.
    pub node_dir: Option<String>,
}

/// A host left out of a format, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub host: String,
    pub address: Address,
    pub missing: String,
}

/// The hosts of a state, in address order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inventory {
    pub hosts: Vec<Host>,
}

impl Inventory {
    /// Every node of `state` (only group `only`, when given).
    pub fn of(strategy: &Strategy, state: Option<&State>, only: Option<&str>) -> Self {
        let Some(state) = state else {
            return Inventory::default();
        };
        let hosts = state
            .resources
            .values()
            .filter(|r| r.kind == Kind::Node)
            .filter_map(|r| {
                let group = r.address.group()?.to_string();
                if only.is_some_and(|g| g != group) {
                    return None;
                }
                let spec = strategy.group(&group).map(|g| &g.spec);
                let text = |name: &str| {
                    r.exposed(name)
                        .as_ref()
                        .map(crate::reference::text_of)
                        .filter(|t| !t.is_empty())
                };
                let tags = r
                    .attributes
                    .get("tags")
                    .and_then(Value::as_object)
                    .map(|t| {
                        t.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(Host {
                    name: text("name").unwrap_or_else(|| r.address.to_string()),
                    address: r.address.clone(),
                    group,
                    host: text("address"),
                    private_address: text("private_address"),
                    port: spec.and_then(|s| s.ssh_port).unwrap_or(22),
                    user: spec.and_then(|s| s.ssh_user.clone()),
                    private_key: spec.and_then(|s| {
                        s.ssh_private_key.clone().or_else(|| {
                            s.ssh_public_key
                                .as_deref()
                                .and_then(|k| k.strip_suffix(".pub"))
                                .map(String::from)
                        })
                    }),
                    provider: r.placement.provider.clone(),
                    location: r.placement.location.clone(),
                    region: text("region"),
                    size: r.placement.size.clone(),
                    image: r.placement.image.clone(),
                    hourly_price: r.placement.hourly_price,
                    provider_id: r.provider_id.clone(),
                    tags,
                    node_dir: r
                        .observed
                        .get("dir")
                        .and_then(Value::as_str)
                        .map(String::from),
                })
            })
            .collect();
        Inventory { hosts }
    }

    /// Hosts that lack an address, or a user where `needs_user`.
    pub fn problems(&self, needs_user: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        for h in &self.hosts {
            let mut missing = Vec::new();
            if h.host.is_none() {
                missing.push("an address");
            }
            if needs_user && h.user.is_none() {
                missing.push("an SSH user (set \"ssh_user\" in its group)");
            }
            if !missing.is_empty() {
                problems.push(Problem {
                    host: h.name.clone(),
                    address: h.address.clone(),
                    missing: missing.join(" and "),
                });
            }
        }
        problems
    }

    /// The hosts a format can use: those with an address (and a user where needed).
    pub fn usable(&self, needs_user: bool) -> impl Iterator<Item = &Host> {
        self.hosts
            .iter()
            .filter(move |h| h.host.is_some() && (!needs_user || h.user.is_some()))
    }
}
