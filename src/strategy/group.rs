//! Node groups: the roles of a fleet (`web`, `db`), each with its own count, options, picks,
//! redundancy, spread, command, ports, tags, SSH key, environment, lifecycle controls and an
//! optional subset of the strategy's providers. `"node": {...}` is the shorthand for one
//! group; `"nodes": {"web": {...}, "db": {...}}` names several.
//!
//! This file finds the groups in the document as written and turns each checked block into a
//! [`Group`]; problems are located at the group's own pointer (`/node/...`, `/nodes/web/...`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::locate::{escape, locate};
use super::{Choice, Pick, Problem, Redundancy, Spread};

/// What every node of one group needs, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Only in the `node` shorthand; in `nodes` the key names the group.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_count")]
    pub count: usize,
    pub image: Choice,
    pub hardware: Choice,
    pub location: Choice,
    #[serde(default)]
    pub command: String,
    /// The ports, each open to anyone or to the CIDR blocks of its `from`.
    #[serde(default)]
    pub ports: super::ports::Ports,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Path of an SSH public key file (relative to the strategy) to install on the nodes.
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    /// The key's text, read at load (a public key is not a secret).
    #[serde(skip)]
    pub public_key: Option<String>,
    /// Who configuration tools log in as, for the inventories.
    #[serde(default)]
    pub ssh_user: Option<String>,
    #[serde(default)]
    pub ssh_port: Option<u16>,
    /// The private key the inventories name (never read by oss).
    #[serde(default)]
    pub ssh_private_key: Option<String>,
    /// The names of the strategy's providers this group may use (`None`: all).
    #[serde(default)]
    pub providers: Option<Vec<String>>,
    /// As written (the schema's pattern admits only what parses).
    #[serde(default)]
    pub redundancy: Option<String>,
    #[serde(default)]
    pub spread: Option<Spread>,
    /// Environment for the nodes; values may hold references.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Groups or nodes created first although nothing refers to them (`node.db`).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// `None`: not written; a group behind a load balancer then creates first (see
    /// [`super::lb::member_groups`]), others do not.
    #[serde(default)]
    pub create_before_destroy: Option<bool>,
    #[serde(default)]
    pub prevent_destroy: bool,
    /// How the group's nodes are probed (`oss monitor`, `oss serve`, load balancers).
    #[serde(default)]
    pub health: Option<crate::health::RawCheck>,
    /// Replace a node `oss monitor` sees down (`None`: the strategy's `auto_repair`).
    #[serde(default)]
    pub auto_repair: Option<bool>,
}

fn default_count() -> usize {
    1
}

/// One node group, checked.
#[derive(Clone, Debug)]
pub struct Group {
    /// The name in addresses: `node.NAME[i]`.
    pub name: String,
    /// Where the group is written (`/node`, `/nodes/web`), to locate its problems.
    pub pointer: String,
    pub spec: NodeSpec,
    /// Its own redundancy, else the strategy's, else `1:1`.
    pub redundancy: Redundancy,
    /// Where the redundancy in force is written (for problems about it).
    pub redundancy_pointer: String,
    /// Its own spread, else the strategy's (`None`: by location when redundant).
    pub spread: Option<Spread>,
    /// The image block was written as the original tool's `os` (problems point there).
    pub image_written_as_os: bool,
    /// The `health` block, checked (`None`: not written).
    pub health: Option<crate::health::Check>,
    /// Its own `auto_repair`, else the strategy's, else false; only with a `health` block.
    pub auto_repair: bool,
}

impl Group {
    /// The JSON pointer of one of the group's blocks as written (`image` may be written `os`).
    pub fn block_pointer(&self, block: &str) -> String {
        match block {
            "image" if self.image_written_as_os => format!("{}/os", self.pointer),
            _ => format!("{}/{block}", self.pointer),
        }
    }

    /// Whether the group may run on provider `name`.
    pub fn allows(&self, provider: &str) -> bool {
        self.spec
            .providers
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == provider))
    }

    /// The group's own picks, in the order placement nests the blocks (provider first, which
    /// belongs to the strategy).
    pub fn own_picks(&self, provider: Option<Pick>) -> [Option<Pick>; 4] {
        [
            provider,
            self.spec.location.pick,
            self.spec.hardware.pick,
            self.spec.image.pick,
        ]
    }
}

/// The pointers of the groups in the document as written: `/node`, or `/nodes/NAME` for each
/// name of `nodes`, in file order.
pub(super) fn pointers(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if value.get("node").is_some_and(Value::is_object) {
        out.push("/node".to_string());
    }
    if let Some(nodes) = value.get("nodes").and_then(Value::as_object) {
        out.extend(nodes.keys().map(|k| format!("/nodes/{}", escape(k))));
    }
    out
}

/// Problems of the groups' shape the schema cannot say: neither `node` nor `nodes` (or
/// both), a `name` inside `nodes`, a provider subset naming providers the strategy lacks.
pub(super) fn check(text: &str, value: &Value, providers: &[String]) -> Vec<Problem> {
    let problem = |pointer: &str, key: Option<&str>, message: String, hint: &str| Problem {
        position: locate(text, pointer, key),
        pointer: match key {
            Some(k) => format!("{pointer}/{}", escape(k)),
            None => pointer.to_string(),
        },
        message,
        hint: Some(hint.to_string()),
    };
    let mut problems = Vec::new();
    match (value.get("node"), value.get("nodes")) {
        (None, None) => problems.push(problem(
            "",
            None,
            "Missing required property \"node\" (or \"nodes\").".into(),
            "add \"node\": {\"image\": ..., \"hardware\": ..., \"location\": ...} for one group, or \"nodes\": {\"web\": {...}, \"db\": {...}} for several",
        )),
        (Some(_), Some(_)) => problems.push(problem(
            "",
            Some("nodes"),
            "Both \"node\" and \"nodes\" are given.".into(),
            "\"node\" is the shorthand for one group: move it into \"nodes\" under its name",
        )),
        _ => {}
    }
    if let Some(nodes) = value.get("nodes").and_then(Value::as_object) {
        for (name, group) in nodes {
            if group.get("name").is_some() {
                problems.push(problem(
                    &format!("/nodes/{}", escape(name)),
                    Some("name"),
                    format!(
                        "A group in \"nodes\" is named by its key (\"{name}\"), not by \"name\"."
                    ),
                    "remove \"name\", or rename the key",
                ));
            }
        }
    }
    for pointer in pointers(value) {
        let Some(list) = value
            .pointer(&format!("{pointer}/providers"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, name) in list.iter().enumerate() {
            let Some(name) = name.as_str() else { continue };
            if providers.iter().any(|p| p == name) {
                continue;
            }
            let near = crate::suggest::nearest(name, providers.iter().map(String::as_str), 1)
                .into_iter()
                .next();
            problems.push(problem(
                &format!("{pointer}/providers/{i}"),
                None,
                format!(
                    "The strategy has no provider named \"{}\".",
                    crate::echo::Echo(name)
                ),
                &match near {
                    Some(near) => format!(
                        "did you mean \"{near}\"? providers: {}",
                        providers.join(", ")
                    ),
                    None => format!("providers: {}", providers.join(", ")),
                },
            ));
        }
    }
    problems
}

/// The name of the group at `pointer`: the key in `nodes`, else the shorthand's `name`.
pub(super) fn name_at(pointer: &str, spec: &NodeSpec) -> String {
    match pointer.strip_prefix("/nodes/") {
        Some(key) => key.replace("~1", "/").replace("~0", "~"),
        None => spec.name.clone().unwrap_or_else(|| "node".into()),
    }
}

/// The group's `health` block checked, each problem located at its field; a check needs a
/// port, its own or the group's first.
pub(super) fn health(
    text: &str,
    pointer: &str,
    spec: &NodeSpec,
) -> Result<Option<crate::health::Check>, Vec<Problem>> {
    let Some(raw) = &spec.health else {
        return Ok(None);
    };
    let at = format!("{pointer}/health");
    let problem = |field: Option<&str>, message: String, hint: String| Problem {
        position: locate(text, &at, field),
        pointer: match field {
            Some(f) => format!("{at}/{f}"),
            None => at.clone(),
        },
        message,
        hint: Some(hint),
    };
    let check = raw.check().map_err(|misfits| {
        misfits
            .into_iter()
            .map(|m| problem(m.field, m.message, m.hint))
            .collect::<Vec<_>>()
    })?;
    if check.port_on(&spec.ports).is_none() {
        return Err(vec![problem(
            None,
            "The health check has no port to probe: it names none and the group opens none.".into(),
            "add \"port\" to the check, or \"ports\" to the group".into(),
        )]);
    }
    Ok(Some(check))
}

/// Reads the group's SSH public key file (relative to the strategy's directory `dir`).
pub(super) fn read_public_key(
    text: &str,
    pointer: &str,
    key: &str,
    dir: &Path,
) -> Result<String, Problem> {
    let pointer = format!("{pointer}/ssh_public_key");
    let problem = |message: String| {
        Problem {
        position: locate(text, &pointer, None),
        pointer: pointer.clone(),
        message,
        hint: Some("give the path of an OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub), relative to the strategy".into()),
    }
    };
    let expanded = match key.strip_prefix("~/") {
        Some(rest) => {
            std::env::var_os("HOME").map_or_else(|| dir.join(key), |h| Path::new(&h).join(rest))
        }
        None => dir.join(key),
    };
    let read = std::fs::read_to_string(&expanded).map_err(|e| {
        problem(format!(
            "Cannot read the SSH public key {}: {e}.",
            expanded.display()
        ))
    })?;
    let read = read.trim().to_string();
    let looks_public = ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| read.starts_with(p))
        && !read.contains('\n');
    if !looks_public {
        return Err(problem(format!(
            "{} is not an OpenSSH public key (one line starting with ssh-, ecdsa- or sk-).",
            expanded.display()
        )));
    }
    Ok(read)
}

/// What the strategy gives every group: its defaults, and the picks around the group's own.
pub(super) struct Defaults {
    pub redundancy: Option<Redundancy>,
    pub spread: Option<Spread>,
    pub auto_repair: Option<bool>,
    /// The provider block's pick, which nests around every group's.
    pub provider_pick: Option<Pick>,
    pub default_pick: Pick,
}

/// The groups of the checked document `text` (the `node` shorthand first, then `nodes` in
/// key order), each with the strategy's defaults where it says nothing. `os_pointers` are the
/// groups whose image block is written as the original tool's `os`; relative key paths
/// resolve against `dir`. Every problem is located at the group's own spelling.
pub(super) fn build(
    text: &str,
    dir: &Path,
    node: Option<NodeSpec>,
    nodes: Option<BTreeMap<String, NodeSpec>>,
    os_pointers: &[String],
    defaults: &Defaults,
) -> Result<Vec<Group>, Vec<Problem>> {
    let specs = node
        .map(|spec| ("/node".to_string(), spec))
        .into_iter()
        .chain(
            nodes
                .into_iter()
                .flatten()
                .map(|(key, spec)| (format!("/nodes/{}", escape(&key)), spec)),
        );
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for (pointer, mut spec) in specs {
        let image_written_as_os = os_pointers.contains(&pointer);
        let name = name_at(&pointer, &spec);
        let mut conflicts = super::pick::conflicts(
            text,
            &pointer,
            [
                defaults.provider_pick,
                spec.location.pick,
                spec.hardware.pick,
                spec.image.pick,
            ],
            defaults.default_pick,
        );
        for problem in &mut conflicts {
            if image_written_as_os
                && let Some(rest) = problem.pointer.strip_prefix(&format!("{pointer}/image"))
            {
                problem.pointer = format!("{pointer}/os{rest}");
                problem.position = locate(text, &problem.pointer, None);
            }
        }
        problems.extend(conflicts);
        if let Some(key) = &spec.ssh_public_key {
            match read_public_key(text, &pointer, key, dir) {
                Ok(read) => spec.public_key = Some(read),
                Err(problem) => problems.push(problem),
            }
        }
        let own = spec.redundancy.as_deref().and_then(Redundancy::parse);
        let redundancy_pointer = match (own, defaults.redundancy) {
            (Some(_), _) => format!("{pointer}/redundancy"),
            (None, Some(_)) => "/redundancy".to_string(),
            (None, None) => pointer.clone(),
        };
        let health = health(text, &pointer, &spec).unwrap_or_else(|found| {
            problems.extend(found);
            None
        });
        if spec.auto_repair == Some(true) && spec.health.is_none() {
            let at = format!("{pointer}/auto_repair");
            problems.push(Problem {
                position: locate(text, &at, None),
                pointer: at,
                message: "auto_repair needs a health block: without one no node is ever seen down."
                    .into(),
                hint: Some(
                    "add \"health\": {\"type\": \"tcp\"} (or an http check) to the group, or remove auto_repair"
                        .into(),
                ),
            });
        }
        let auto_repair =
            health.is_some() && spec.auto_repair.or(defaults.auto_repair).unwrap_or(false);
        groups.push(Group {
            auto_repair,
            health,
            name,
            redundancy: own.or(defaults.redundancy).unwrap_or_default(),
            redundancy_pointer,
            spread: spec.spread.or(defaults.spread),
            image_written_as_os,
            pointer,
            spec,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(groups)
}
