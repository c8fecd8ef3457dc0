//! The `dns` block: the zone oss publishes the groups' names in, the record TTL, which groups
//! get names, the `SRV` services, and the DNS provider with its settings. Parsed here and
//! checked against the groups (every problem located); the records themselves are compile's.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::locate::{escape, locate};
use super::{Group, Problem};

/// The default TTL of the records oss writes, in seconds.
pub const DEFAULT_TTL: u32 = 60;

/// The `dns` block as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub zone: String,
    #[serde(default)]
    pub ttl: Option<u32>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    pub provider: Map<String, Value>,
}

/// One `SRV` service: `_NAME._tcp.ZONE` points at every node of `group` on `port`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub group: String,
    /// The group's first port when left out.
    #[serde(default)]
    pub port: Option<u16>,
}

/// The `dns` block, checked.
#[derive(Clone)]
pub struct Dns {
    /// The zone, lower case, ending in a dot (`oss.test.`).
    pub zone: String,
    pub ttl: u32,
    /// The groups that get names, in the strategy's order.
    pub groups: Vec<String>,
    /// Service name → (group, port).
    pub services: BTreeMap<String, (String, u16)>,
    /// The provider: its kind (`rfc2136`) and name in placements and state.
    pub provider: super::ProviderOption,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("zone", &self.zone)
            .field("ttl", &self.ttl)
            .field("groups", &self.groups)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// DNS provider kinds this build knows.
pub const DNS_PROVIDERS: &[&str] = &["rfc2136", "route53"];

/// Checks the block against the groups and builds it. `written` is the block as written
/// (`env.` references unresolved), for the provider record state keeps.
pub fn build(
    text: &str,
    raw: RawDns,
    written: Option<&Value>,
    groups: &[Group],
) -> Result<Dns, Vec<Problem>> {
    let mut problems = Vec::new();
    let problem = |pointer: String, message: String, hint: Option<String>| Problem {
        position: locate(text, &pointer, None),
        pointer,
        message,
        hint,
    };
    let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let unknown_group = |name: &str| {
        let hint = match crate::suggest::nearest(name, known.iter().copied(), 1).first() {
            Some(close) if crate::suggest::edit_distance(name, close) <= 2 => {
                format!("did you mean \"{close}\"?")
            }
            _ => format!("the groups are: {}", known.join(", ")),
        };
        (
            format!("There is no node group \"{}\".", crate::echo::echo(name)),
            Some(hint),
        )
    };
    let names: Vec<String> = match &raw.groups {
        Some(list) => {
            for (i, name) in list.iter().enumerate() {
                if !known.contains(&name.as_str()) {
                    let (message, hint) = unknown_group(name);
                    problems.push(problem(format!("/dns/groups/{i}"), message, hint));
                }
            }
            list.clone()
        }
        None => known.iter().map(|s| s.to_string()).collect(),
    };
    for name in &names {
        if known.contains(&name.as_str()) && !is_label(name) {
            let pointer = groups
                .iter()
                .find(|g| &g.name == name)
                .map_or(String::from("/dns"), |g| g.pointer.clone());
            problems.push(problem(
                pointer,
                format!("The group name \"{name}\" cannot be a DNS name: only letters, digits and - (not first or last), at most 63."),
                Some("rename the group, or leave it out of /dns/groups".into()),
            ));
        }
    }
    let mut services = BTreeMap::new();
    for (name, service) in &raw.services {
        let at = format!("/dns/services/{}", escape(name));
        let Some(group) = groups.iter().find(|g| g.name == service.group) else {
            let (message, hint) = unknown_group(&service.group);
            problems.push(problem(format!("{at}/group"), message, hint));
            continue;
        };
        let ports = &group.spec.ports;
        let port = match service.port {
            Some(port) if ports.contains(&port) => port,
            Some(port) => {
                problems.push(problem(
                    format!("{at}/port"),
                    format!(
                        "Port {port} is not one of group \"{}\"'s ports ({ports:?}).",
                        group.name
                    ),
                    Some(format!(
                        "add it to {}/ports, or pick one of those",
                        group.pointer
                    )),
                ));
                continue;
            }
            None => match ports.first() {
                Some(port) => *port,
                None => {
                    problems.push(problem(
                        at.clone(),
                        format!("Group \"{}\" opens no port, so service \"{name}\" has none to point at.", group.name),
                        Some(format!("add \"port\" here, and the port to {}/ports", group.pointer)),
                    ));
                    continue;
                }
            },
        };
        services.insert(name.clone(), (service.group.clone(), port));
    }
    let zone = zone_name(&raw.zone);
    let provider = raw.provider.into_iter().next().map(|(kind, settings)| {
        let mut settings = match settings {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut written = written
            .and_then(|w| w.pointer(&format!("/provider/{}", escape(&kind))))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Err(e) = crate::dns::check_settings(&kind, &written, std::path::Path::new(".")) {
            let pointer = format!("/dns/provider/{}{}", escape(&kind), e.pointer);
            problems.push(Problem {
                position: locate(text, &pointer, None),
                pointer,
                message: e.message,
                hint: e.hint,
            });
        }
        // State's record of the provider says which zone its records are in.
        for map in [&mut settings, &mut written] {
            map.insert(crate::dns::ZONE_SETTING.into(), Value::from(zone.clone()));
        }
        super::ProviderOption {
            name: kind.clone(),
            kind,
            settings: settings.into(),
            written,
        }
    });
    let Some(provider) = provider else {
        problems.push(problem(
            "/dns/provider".into(),
            "The DNS provider block is empty.".into(),
            Some(format!("name one of: {}", DNS_PROVIDERS.join(", "))),
        ));
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Dns {
        zone,
        ttl: raw.ttl.unwrap_or(DEFAULT_TTL),
        groups: names,
        services,
        provider,
    })
}

/// A zone or host name as oss writes it: lower case, ending in a dot.
pub fn zone_name(written: &str) -> String {
    let mut zone = written.trim_end_matches('.').to_ascii_lowercase();
    zone.push('.');
    zone
}

/// Whether `name` is one DNS label (letters, digits, `-` inside; at most 63).
fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_end_in_one_dot_and_labels_are_checked() {
        assert_eq!(zone_name("Oss.Test"), "oss.test.");
        assert_eq!(zone_name("oss.test."), "oss.test.");
        assert!(is_label("web-1") && !is_label("web_1") && !is_label("-web"));
    }
}
