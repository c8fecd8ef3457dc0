//! Warnings about what a plan leaves open: a firewall that opens an SSH port to the whole
//! internet. The plan still goes ahead; the warning rides in it, so the text, the pull-request
//! comment and the JSON all say it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Change;
use crate::resource::Kind;
use crate::strategy::ports::ANYONE;

/// One warning per firewall of `changes` (not being deleted) that opens one of `ssh_ports` to
/// anyone, naming the port and how to narrow it.
pub fn warnings(changes: &[Change], ssh_ports: &BTreeSet<u16>) -> Vec<String> {
    changes
        .iter()
        .filter(|c| !c.deposed)
        .filter_map(|c| {
            let after = c.after.as_ref().filter(|d| d.kind == Kind::Firewall)?;
            let attributes = &after.attributes;
            let ports: Vec<u16> = attributes
                .get("ports")
                .and_then(Value::as_array)?
                .iter()
                .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect();
            let sources = attributes.get("sources").and_then(Value::as_object);
            let open: Vec<u16> = ports
                .into_iter()
                .filter(|p| ssh_ports.contains(p))
                .filter(|p| {
                    sources
                        .and_then(|s| s.get(&p.to_string()))
                        .and_then(Value::as_array)
                        .is_none_or(|from| {
                            from.iter()
                                .any(|b| b.as_str().is_some_and(|b| ANYONE.contains(&b)))
                        })
                })
                .collect();
            let port = *open.first()?;
            Some(format!(
                "{} opens SSH (port {port}) to the whole internet; narrow it with \
                 {{\"port\": {port}, \"from\": [\"YOUR.NETWORK/24\"]}} in the group's ports",
                c.address
            ))
        })
        .collect()
}
