//! References at compile time: every `${node....}` in a group's `command`, `env` and `tags`
//! and in the strategy's `outputs` is checked against the groups (the group exists, the index
//! is one of its nodes, the attribute is one nodes expose, a list only where a list fits),
//! and becomes dependency edges: the nodes a group's nodes read are created first. A group's
//! `depends_on` adds edges of its own.
//!
//! Every problem is located at the string that holds the reference.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use crate::reference::{ATTRIBUTES, Reference, Selector, Template};
use crate::resource::{Address, Attributes};
use crate::strategy::locate::escape;
use crate::strategy::{Group, Problem, Strategy};

/// What a group's nodes carry because of references.
#[derive(Debug, Default)]
pub(super) struct Wired {
    /// Attributes written with references, as written (`command`, `env`, `tags`), shared
    /// by the group's nodes.
    pub templates: std::sync::Arc<Attributes>,
    /// The nodes they read, and those `depends_on` names.
    pub depends_on: BTreeSet<Address>,
}

/// Checks a group's references and `depends_on`; `nodes` is each group's node count.
pub(super) fn wire(
    strategy: &Strategy,
    group: &Group,
    nodes: &HashMap<&str, usize>,
    problems: &mut Vec<Problem>,
) -> Wired {
    let mut wired = Wired::default();
    let spec = &group.spec;
    let mut strings: Vec<(String, String, &str)> = vec![(
        "command".into(),
        format!("{}/command", group.pointer),
        &spec.command,
    )];
    for (map, attribute) in [(&spec.env, "env"), (&spec.tags, "tags")] {
        for (key, value) in map {
            let pointer = format!("{}/{attribute}/{}", group.pointer, escape(key));
            strings.push((attribute.to_string(), pointer, value));
        }
    }
    let mut templated: BTreeSet<String> = BTreeSet::new();
    for (attribute, pointer, text) in &strings {
        let Some(template) = parsed(strategy, pointer, text, problems) else {
            continue;
        };
        if !template.has_references() && !text.contains("$${") {
            continue;
        }
        templated.insert(attribute.clone());
        for reference in template.references() {
            if check(strategy, pointer, reference, nodes, false, problems) {
                let count = nodes.get(reference.group.as_str()).copied().unwrap_or(0);
                wired.depends_on.extend(reference.addresses(count));
            }
        }
    }
    let mut templates = Attributes::new();
    for attribute in templated {
        let value = match attribute.as_str() {
            "command" => json!(spec.command),
            "env" => json!(spec.env),
            _ => json!(spec.tags),
        };
        templates.insert(attribute, value);
    }
    wired.templates = std::sync::Arc::new(templates);
    for (i, name) in spec.depends_on.iter().enumerate() {
        let pointer = format!("{}/depends_on/{i}", group.pointer);
        let address = Address(name.clone());
        let target = address.group().unwrap_or_default();
        match nodes.get(target) {
            None => problems.push(unknown_group(strategy, &pointer, target, nodes)),
            Some(&count) if name.contains('[') => {
                let index = name
                    .rsplit_once('[')
                    .and_then(|(_, i)| i.trim_end_matches(']').parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                if index >= count {
                    problems.push(out_of_range(strategy, &pointer, target, index, count));
                } else {
                    wired.depends_on.insert(address);
                }
            }
            Some(&count) => {
                wired
                    .depends_on
                    .extend((0..count).map(|i| Address::node(target, i)));
            }
        }
    }
    wired
}

/// Checks the references of every output (a list is fine when it is the whole value).
pub(super) fn check_outputs(
    strategy: &Strategy,
    nodes: &HashMap<&str, usize>,
    problems: &mut Vec<Problem>,
) {
    for (name, output) in &strategy.outputs {
        let pointer = format!("/outputs/{}", escape(name));
        // Written as {"value": ...} or as the value alone.
        let value_pointer = format!("{pointer}/value");
        let at = match crate::strategy::locate::value_text(&strategy.text, &value_pointer) {
            Some(_) => value_pointer,
            None => pointer,
        };
        let Some(template) = parsed(strategy, &at, &output.value, problems) else {
            continue;
        };
        let whole = template.only_reference().is_some();
        for reference in template.references() {
            check(strategy, &at, reference, nodes, whole, problems);
        }
    }
}

fn parsed(
    strategy: &Strategy,
    pointer: &str,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<Template> {
    match Template::parse(text) {
        Ok(template) => Some(template),
        Err(why) => {
            problems.push(strategy.problem(
                pointer,
                format!("{}.", capitalised(&why)),
                Some("e.g. \"${node.db[0].private_address}\"; write $${ for a literal ${".into()),
            ));
            None
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether `reference` reads something that exists in the strategy; problems otherwise.
fn check(
    strategy: &Strategy,
    pointer: &str,
    reference: &Reference,
    nodes: &HashMap<&str, usize>,
    list_fits: bool,
    problems: &mut Vec<Problem>,
) -> bool {
    if reference.selector == Selector::Balancer {
        problems.push(strategy.problem(
            pointer,
            format!("${{{reference}}} refers to a load balancer; a strategy's strings may refer only to nodes."),
            Some("refer to a node, e.g. ${node.web[0].address}; a load balancer's DNS name is published by the dns block".into()),
        ));
        return false;
    }
    let Some(&count) = nodes.get(reference.group.as_str()) else {
        problems.push(unknown_group(strategy, pointer, &reference.group, nodes));
        return false;
    };
    if reference.selector != Selector::Count && !ATTRIBUTES.contains(&reference.attribute.as_str())
    {
        let near = crate::suggest::nearest(&reference.attribute, ATTRIBUTES.iter().copied(), 1);
        problems.push(strategy.problem(
            pointer,
            format!(
                "${{{reference}}} refers to \"{}\", which nodes do not have.",
                crate::echo::Echo(&reference.attribute)
            ),
            Some(format!(
                "{}nodes have: {}",
                near.first()
                    .map(|n| format!("did you mean {n}? "))
                    .unwrap_or_default(),
                ATTRIBUTES.join(", ")
            )),
        ));
        return false;
    }
    if let Selector::One(index) = reference.selector
        && index >= count
    {
        problems.push(out_of_range(
            strategy,
            pointer,
            &reference.group,
            index,
            count,
        ));
        return false;
    }
    if reference.is_list() && !list_fits {
        problems.push(strategy.problem(
            pointer,
            format!("${{{reference}}} is a list, but one value is needed here."),
            Some(format!(
                "refer to one node, e.g. ${{node.{}[0].{}}}; lists fit only as a whole output value",
                reference.group, reference.attribute
            )),
        ));
        return false;
    }
    true
}

fn unknown_group(
    strategy: &Strategy,
    pointer: &str,
    group: &str,
    nodes: &HashMap<&str, usize>,
) -> Problem {
    let mut names: Vec<&str> = nodes.keys().copied().collect();
    names.sort_unstable();
    let near = crate::suggest::nearest(group, names.iter().copied(), 1);
    strategy.problem(
        pointer,
        format!(
            "There is no node group \"{}\" to refer to.",
            crate::echo::Echo(group)
        ),
        Some(format!(
            "{}groups: {}",
            near.first()
                .map(|n| format!("did you mean node.{n}? "))
                .unwrap_or_default(),
            names.join(", ")
        )),
    )
}

fn out_of_range(
    strategy: &Strategy,
    pointer: &str,
    group: &str,
    index: usize,
    count: usize,
) -> Problem {
    strategy.problem(
        pointer,
        format!("node.{group}[{index}] does not exist: node.{group} has {count} node(s)."),
        Some(match count {
            0 => format!("node.{group} has no nodes; raise its count"),
            1 => format!("the only one is node.{group}[0]"),
            n => format!("indexes go from 0 to {}", n - 1),
        }),
    )
}
