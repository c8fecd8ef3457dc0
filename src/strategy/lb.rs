//! The `lb` block: named load balancers (`"lb": {"web": {...}}`, addresses `lb.web`), each
//! with its listeners (`port` → the members' `target_port`), the node group behind it, the
//! health check (the shared [`crate::health::Check`], as a group's `health` block writes it)
//! and its provider with its settings. Parsed here and checked against the groups, every
//! problem located; the balancer resources themselves are compile's.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::locate::{escape, locate};
use super::{Group, Problem};

/// One load balancer as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBalancer {
    /// The node group whose nodes are the members.
    pub members: String,
    pub listeners: Vec<Listener>,
    /// How members are probed; a TCP check of the first listener's target port when left out.
    #[serde(default)]
    pub health: Option<crate::health::RawCheck>,
    pub provider: Map<String, Value>,
}

/// A listener: the balancer takes connections on `port` and sends them to the members'
/// `target_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub port: u16,
    pub target_port: u16,
}

/// One load balancer, checked.
#[derive(Clone, Debug)]
pub struct Balancer {
    /// Its name in the block (`lb.NAME`).
    pub name: String,
    /// The member group's name.
    pub members: String,
    pub listeners: Vec<Listener>,
    /// The check, its port filled in.
    pub health: crate::health::Check,
    /// The provider: its kind (`haproxy`) and name in placements and state.
    pub provider: super::ProviderOption,
}

/// Load-balancer provider kinds this build knows.
pub const LB_PROVIDERS: &[&str] = &["haproxy", "aws"];

/// Checks every balancer against the groups and builds them. `written` is the `lb` block as
/// written (`env.` references unresolved), for the provider record state keeps.
pub fn build(
    text: &str,
    raw: BTreeMap<String, RawBalancer>,
    written: Option<&Value>,
    groups: &[Group],
) -> Result<Vec<Balancer>, Vec<Problem>> {
    let mut problems = Vec::new();
    let problem = |pointer: String, message: String, hint: Option<String>| Problem {
        position: locate(text, &pointer, None),
        pointer,
        message,
        hint,
    };
    let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let mut balancers = Vec::new();
    // Listener port → the balancer that took it first.
    let mut taken: BTreeMap<u16, String> = BTreeMap::new();
    for (name, balancer) in raw {
        let at = format!("/lb/{}", escape(&name));
        if !is_name(&name) {
            problems.push(problem(
                at.clone(),
                format!(
                    "The load balancer name \"{}\" is not a plain name: only letters, digits and - (not first), at most 32.",
                    crate::echo::echo(&name)
                ),
                Some("rename it, e.g. \"web\"".into()),
            ));
        }
        let Some(group) = groups.iter().find(|g| g.name == balancer.members) else {
            let hint = match crate::suggest::nearest(&balancer.members, known.iter().copied(), 1)
                .first()
            {
                Some(close) if crate::suggest::edit_distance(&balancer.members, close) <= 2 => {
                    format!("did you mean \"{close}\"?")
                }
                _ => format!("the groups are: {}", known.join(", ")),
            };
            problems.push(problem(
                format!("{at}/members"),
                format!(
                    "There is no node group \"{}\".",
                    crate::echo::echo(&balancer.members)
                ),
                Some(hint),
            ));
            continue;
        };
        if balancer.listeners.is_empty() {
            problems.push(problem(
                format!("{at}/listeners"),
                "The load balancer has no listener.".into(),
                Some("add one: {\"port\": 8080, \"target_port\": 80}".into()),
            ));
            continue;
        }
        let ports = &group.spec.ports;
        let mut mine = BTreeSet::new();
        for (i, listener) in balancer.listeners.iter().enumerate() {
            let here = format!("{at}/listeners/{i}");
            if listener.port == 0 {
                problems.push(problem(
                    format!("{here}/port"),
                    "Port 0 is not a port a balancer can listen on.".into(),
                    Some("pick a port from 1 to 65535".into()),
                ));
            } else if let Some(other) = taken.get(&listener.port) {
                problems.push(problem(
                    format!("{here}/port"),
                    format!(
                        "Port {} is already a listener of load balancer \"{other}\".",
                        listener.port
                    ),
                    Some("give each listener a port of its own".into()),
                ));
            } else if !mine.insert(listener.port) {
                problems.push(problem(
                    format!("{here}/port"),
                    format!("Port {} is listed twice.", listener.port),
                    Some("give each listener a port of its own".into()),
                ));
            }
            if !ports.contains(&listener.target_port) {
                problems.push(problem(
                    format!("{here}/target_port"),
                    format!(
                        "Port {} is not one of group \"{}\"'s ports ({:?}).",
                        listener.target_port,
                        group.name,
                        &ports[..]
                    ),
                    Some(format!(
                        "add it to {}/ports, or pick one of those",
                        group.pointer
                    )),
                ));
            }
        }
        for port in mine {
            taken.entry(port).or_insert_with(|| name.clone());
        }
        let target = balancer.listeners[0].target_port;
        let raw_check = balancer.health.clone().unwrap_or_default();
        let health = match raw_check.check() {
            Ok(mut check) => {
                check.port = Some(check.port.unwrap_or(target));
                Some(check)
            }
            Err(misfits) => {
                for m in misfits {
                    let pointer = match m.field {
                        Some(f) => format!("{at}/health/{f}"),
                        None => format!("{at}/health"),
                    };
                    problems.push(Problem {
                        position: locate(text, &format!("{at}/health"), m.field),
                        pointer,
                        message: m.message,
                        hint: Some(m.hint),
                    });
                }
                None
            }
        };
        let provider = provider(text, &at, balancer.provider, written, &name, &mut problems);
        // ELBv2 cannot do every check: what it cannot is located under the check.
        if let (Some(check), Some(option)) = (&health, &provider)
            && option.kind == crate::lb::aws::KIND
            && let Err(misfits) = crate::lb::aws::elbv2::health_params(check, target)
        {
            for m in misfits {
                let pointer = match m.field {
                    Some(f) => format!("{at}/health/{f}"),
                    None => format!("{at}/health"),
                };
                problems.push(Problem {
                    position: locate(text, &format!("{at}/health"), m.field),
                    pointer,
                    message: m.message,
                    hint: Some(m.hint),
                });
            }
        }
        if let (Some(health), Some(provider)) = (health, provider) {
            balancers.push(Balancer {
                name,
                members: group.name.clone(),
                listeners: balancer.listeners,
                health,
                provider,
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(balancers)
}

/// The balancer's provider (its one entry), its settings checked where they are written.
fn provider(
    text: &str,
    at: &str,
    block: Map<String, Value>,
    written: Option<&Value>,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<super::ProviderOption> {
    let Some((kind, settings)) = block.into_iter().next() else {
        let pointer = format!("{at}/provider");
        problems.push(Problem {
            position: locate(text, &pointer, None),
            pointer,
            message: "The load balancer's provider block is empty.".into(),
            hint: Some(format!("name one of: {}", LB_PROVIDERS.join(", "))),
        });
        return None;
    };
    let settings = match settings {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let written = written
        .and_then(|w| w.pointer(&format!("/{}/provider/{}", escape(name), escape(&kind))))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Err(e) = crate::lb::check_settings(crate::lb::kind_of(&kind), &written) {
        let pointer = format!("{at}/provider/{}{}", escape(&kind), e.pointer);
        problems.push(Problem {
            position: locate(text, &pointer, None),
            pointer,
            message: e.message,
            hint: e.hint,
        });
    }
    let kind = crate::lb::kind_of(&kind).to_string();
    Some(super::ProviderOption {
        name: kind.clone(),
        kind,
        settings: settings.into(),
        written,
    })
}

/// Whether `name` can name a balancer (and its HAProxy sections and directory).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The groups some balancer sends to: they default to `create_before_destroy`.
pub fn member_groups(balancers: &[Balancer]) -> BTreeSet<&str> {
    balancers.iter().map(|b| b.members.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balancer_names_are_plain() {
        assert!(is_name("web") && is_name("web-2"));
        assert!(!is_name("-web") && !is_name("web.x") && !is_name(""));
    }
}
