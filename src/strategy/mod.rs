//! The strategy: the user's JSON file, read, checked against the shipped JSON Schema, with
//! `env.NAME` references resolved, turned into typed settings.
//!
//! Every error is located (file:line:col and JSON pointer) and carries a hint. Nothing here
//! touches state or providers; a strategy that fails here changes nothing.
//!
//! `source` reads the file (regular files only, UTF-8), `schema` checks it against the shipped
//! schema, `original` reads the original tool's shapes (`os`, hardware strings from
//! `hardware`, Libcloud provider names) as today's with a [`Note`] each, `pick` holds the
//! picks and the rule between them, `locate` maps JSON pointers to line:column and back,
//! `error` the located errors, `providers` the provider block (settings checked by their
//! drivers), `resolve` the `env.`/`secret.` references, `group` the node groups with their
//! `redundancy`; this file runs those stages in order and assembles a [`Strategy`].

pub mod dns;
mod error;
mod group;
mod hardware;
pub mod lb;
pub mod locate;
mod note;
mod original;
mod pick;
pub mod ports;
mod providers;
mod redundancy;
mod resolve;
mod schema;
mod source;
mod variables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

pub use error::{Problem, StrategyError};
pub use group::{Group, NodeSpec};
use locate::{Position, locate};
pub use note::Note;
pub use pick::Pick;
pub use providers::{ProviderOption, Providers};
pub use redundancy::{Redundancy, Spread};
pub use schema::schema;
pub use variables::Variable;

/// A block of options with how to pick among them (`node.image`, `node.location`...).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub options: Vec<Map<String, Value>>,
    pub pick: Option<Pick>,
}

/// A checked strategy with `env.` and `secret.` references resolved. Its `Debug` leaves out the secrets.
#[derive(Clone)]
pub struct Strategy {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub default_pick: Pick,
    pub provider: Providers,
    /// The node groups, by name (one for the `node` shorthand).
    pub groups: Vec<Group>,
    /// Written with the `node` shorthand (keeps the addresses of its key pairs and firewalls
    /// as they were before groups: `firewall.aws.REGION`).
    pub shorthand: bool,
    /// Outputs by name: a string with references, and what it is for.
    pub outputs: BTreeMap<String, Output>,
    /// The declared variables, with the values in force.
    pub variables: BTreeMap<String, Variable>,
    /// Renames: each `from` address (a group or one node) is now `to`.
    pub moved: Vec<Moved>,
    /// Inventory files to write after every apply: format name → path (as written).
    pub inventory: BTreeMap<String, String>,
    /// What to run after a successful apply.
    pub hand_off: Option<HandOff>,
    /// The zone the groups' names go in, and its provider (the `dns` block).
    pub dns: Option<dns::Dns>,
    /// The load balancers (the `lb` block), by name.
    pub lb: Vec<lb::Balancer>,
    /// A Prometheus `file_sd` targets file written after every apply (path as written).
    pub file_sd: Option<String>,
    /// Where state lives (the `state` block), if the strategy says.
    pub state: Option<crate::state::BackendSpec>,
    /// US dollars per unit of each other currency a provider prices in (`exchange_rates`):
    /// prices in those are converted before placement compares them.
    pub exchange_rates: BTreeMap<String, f64>,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes: a saved plan is refused when it changes.
    pub hash: String,
    /// Values that came from the environment or the vault: never to be shown or stored.
    pub secrets: zeroize::Zeroizing<Vec<String>>,
    /// The file's text, to locate problems found after parsing (an option matching nothing).
    pub text: String,
    /// Old spellings read as today's, for the CLI to show (never a secret).
    pub notes: Vec<Note>,
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strategy")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("provider", &self.provider)
            .field("groups", &self.groups)
            .field("state", &self.state)
            .field("secrets", &format_args!("[{} hidden]", self.secrets.len()))
            .finish_non_exhaustive()
    }
}

impl Strategy {
    /// A located problem at `pointer` of this strategy.
    pub fn problem(&self, pointer: &str, message: String, hint: Option<String>) -> Problem {
        Problem {
            position: locate(&self.text, pointer, None),
            pointer: pointer.to_string(),
            message,
            hint,
        }
    }

    /// The strategy file's directory: relative paths in it resolve against it.
    pub fn dir(&self) -> &Path {
        dir_of(&self.path)
    }

    /// The ports configuration tools log in on: 22 and every group's `ssh_port`.
    pub fn ssh_ports(&self) -> std::collections::BTreeSet<u16> {
        std::iter::once(22)
            .chain(self.groups.iter().filter_map(|g| g.spec.ssh_port))
            .collect()
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// An error made of located problems.
    pub fn invalid(&self, problems: Vec<Problem>) -> StrategyError {
        StrategyError::Invalid {
            path: self.path.clone(),
            problems,
        }
    }

    /// The pick of a block, falling back to `default_pick`.
    pub fn pick(&self, own: Option<Pick>) -> Pick {
        own.unwrap_or(self.default_pick)
    }

    /// The pick in force of every block of `group`, in the order placement nests them:
    /// provider, location, hardware, image. Price picks agree and `random` never joins one
    /// (checked at parse).
    pub fn picks(&self, group: &Group) -> [Pick; 4] {
        group
            .own_picks(self.provider.pick)
            .map(|own| self.pick(own))
    }

    /// Replaces every secret value in `text` with `(sensitive)`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_string(), |t, s| {
                t.replace(s.as_str(), "(sensitive)")
            })
    }
}

/// The document as the schema admits it (unknown keys were refused there, with their
/// location; `deny_unknown_fields` keeps the two from drifting apart).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    /// An editor's schema reference, allowed and ignored.
    #[serde(rename = "$schema")]
    _schema: Option<String>,
    name: String,
    description: Option<String>,
    version: Option<String>,
    #[serde(default)]
    default_pick: Pick,
    provider: providers::RawProviders,
    node: Option<NodeSpec>,
    nodes: Option<BTreeMap<String, NodeSpec>>,
    redundancy: Option<String>,
    spread: Option<Spread>,
    state: Option<crate::state::BackendSpec>,
    /// Read (and substituted) before the schema check, by `variables`.
    #[serde(rename = "variables")]
    _variables: Option<Value>,
    #[serde(default)]
    outputs: BTreeMap<String, RawOutput>,
    #[serde(default)]
    moved: Vec<Moved>,
    #[serde(default)]
    inventory: BTreeMap<String, String>,
    hand_off: Option<HandOff>,
    dns: Option<dns::RawDns>,
    #[serde(default)]
    lb: BTreeMap<String, lb::RawBalancer>,
    file_sd: Option<String>,
    auto_repair: Option<bool>,
    #[serde(default)]
    exchange_rates: BTreeMap<String, f64>,
}

/// A command run after a successful apply (`hand_off`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOff {
    /// The command line; `{inventory}` stands for the inventory file the strategy writes.
    pub run: String,
    /// After an apply that changed something (the default), or after every one.
    #[serde(default)]
    pub when: HandOffWhen,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandOffWhen {
    #[default]
    Changed,
    Always,
}

/// An output as written: the value alone, or with a description.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawOutput {
    Value(String),
    Full {
        value: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        sensitive: bool,
    },
}

impl From<RawOutput> for Output {
    fn from(raw: RawOutput) -> Self {
        match raw {
            RawOutput::Value(value) => Output {
                value,
                description: None,
                sensitive: false,
            },
            RawOutput::Full {
                value,
                description,
                sensitive,
            } => Output {
                value,
                description,
                sensitive,
            },
        }
    }
}

/// One output of the strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// A string with references (`${node.web[*].address}`).
    pub value: String,
    pub description: Option<String>,
    /// Shown as `(sensitive)` unless asked for by name with `--raw` or `--json`.
    pub sensitive: bool,
}

/// One rename: what was `from` (`node.web`, `node.web[0]`) is now `to`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

/// Reads, checks and resolves the strategy at `path`, taking `env.NAME` values from `env`.
/// Only a regular file of UTF-8 text is read (see `source`).
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Strategy, StrategyError> {
    load_with(path, env, &[])
}

/// Like [`load`], with variables set on the command line (`--var NAME=VALUE`, in order; the
/// last one of a name wins), before `OSS_VAR_NAME` from `env` and the declared defaults.
pub fn load_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[(String, String)],
) -> Result<Strategy, StrategyError> {
    let text = source::read(path)?;
    parse_with(path, &text, env, vars)
}

/// Like [`load`], from text already read.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Strategy, StrategyError> {
    parse_with(path, text, env, &[])
}

/// Looks up the value of `secret.NAME` in the vault: the value, or why it cannot be had (one
/// sentence; the problem is located at the reference).
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// The lookup of a strategy read without a vault: every `secret.NAME` is a problem.
pub fn no_vault(name: &str) -> Result<String, String> {
    Err(format!(
        "secret.{name} needs the vault, which this command does not open."
    ))
}

/// Like [`load_with`], from text already read.
pub fn parse_with(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[(String, String)],
) -> Result<Strategy, StrategyError> {
    parse_resolving(path, text, env, &no_vault, vars)
}

/// Like [`load_with`], with `secret.NAME` references read through `secret`.
pub fn load_resolving(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    secret: SecretLookup<'_>,
    vars: &[(String, String)],
) -> Result<Strategy, StrategyError> {
    let text = source::read(path)?;
    parse_resolving(path, &text, env, secret, vars)
}

/// Like [`parse_with`], with `secret.NAME` references read through `secret`.
pub fn parse_resolving(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secret: SecretLookup<'_>,
    vars: &[(String, String)],
) -> Result<Strategy, StrategyError> {
    let invalid = |problems| StrategyError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        invalid(vec![Problem {
            pointer: String::new(),
            position: Some(Position {
                line: e.line(),
                column: e.column(),
            }),
            message: format!("The file is not valid JSON: {}", syntax_message(&e)),
            hint: Some("check for a missing comma, quote or bracket just before this spot".into()),
        }])
    })?;

    // Variables first: `"count": "${var.n}"` must be an integer when the schema looks.
    let variables = variables::substitute(text, &mut value, vars, env).map_err(&invalid)?;
    let mut problems = schema::check(text, &value);
    problems.extend(original::check(text, &value));
    if problems.is_empty() {
        let names = providers::names(&value);
        problems.extend(group::check(text, &value, &names));
    }
    problems.sort_by_key(|p| p.position.map(|p| (p.line, p.column)));
    if problems.is_empty() {
        problems = providers::check_settings(dir_of(path), text, &value);
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }

    let notes = original::notes(text, &value);
    let mut written = value.clone();
    original::rewrite(&mut written);
    // Wiped when dropped, on the error paths below as well.
    let mut secrets = zeroize::Zeroizing::new(
        resolve::resolve(text, &mut value, &resolve::Lookup { env, secret }).map_err(&invalid)?,
    );

    let os_pointers: Vec<String> = group::pointers(&value)
        .into_iter()
        .filter(|p| value.pointer(&format!("{p}/os")).is_some())
        .collect();
    original::rewrite(&mut value);
    // Read from a borrow so that the resolved values left in `value` can be wiped.
    let raw = Raw::deserialize(&value);
    crate::secret::wipe(&mut value);
    let raw = raw.map_err(|e| invalid(vec![misfit(text, &e)]))?;
    let provider = providers::build(text, raw.provider, &written).map_err(&invalid)?;
    let defaults = group::Defaults {
        redundancy: raw.redundancy.as_deref().and_then(Redundancy::parse),
        spread: raw.spread,
        auto_repair: raw.auto_repair,
        provider_pick: provider.pick,
        default_pick: raw.default_pick,
    };
    let shorthand = raw.node.is_some();
    let mut groups = group::build(
        text,
        dir_of(path),
        raw.node,
        raw.nodes,
        &os_pointers,
        &defaults,
    )
    .map_err(&invalid)?;
    let outputs = raw
        .outputs
        .into_iter()
        .map(|(name, output)| (name, output.into()))
        .collect();
    if let Some(hand_off) = &raw.hand_off
        && hand_off.run.contains("{inventory}")
        && raw.inventory.is_empty()
    {
        return Err(invalid(vec![Problem {
            position: locate(text, "/hand_off/run", None),
            pointer: "/hand_off/run".into(),
            message:
                "The hand-off command uses {inventory}, but the strategy writes no inventory file."
                    .into(),
            hint: Some("add e.g. \"inventory\": {\"ansible\": \"inventory/hosts.json\"}".into()),
        }]));
    }
    let dns = match raw.dns {
        Some(block) => {
            Some(dns::build(text, block, written.pointer("/dns"), &groups).map_err(&invalid)?)
        }
        None => None,
    };
    let balancers = lb::build(text, raw.lb, written.pointer("/lb"), &groups).map_err(&invalid)?;
    // Groups behind a load balancer replace a node by starting the new one first, unless
    // they say otherwise: a rolling replacement then loses no request.
    let behind = lb::member_groups(&balancers);
    for group in &mut groups {
        if behind.contains(group.name.as_str()) && group.spec.create_before_destroy.is_none() {
            group.spec.create_before_destroy = Some(true);
        }
    }
    for variable in variables.values().filter(|v| v.sensitive) {
        if let Some(text) = variable.text() {
            secrets.push(text);
        }
    }
    Ok(Strategy {
        name: raw.name,
        description: raw.description,
        version: raw.version,
        default_pick: raw.default_pick,
        provider,
        groups,
        shorthand,
        outputs,
        variables,
        moved: raw.moved,
        inventory: raw.inventory,
        hand_off: raw.hand_off,
        dns,
        lb: balancers,
        file_sd: raw.file_sd,
        state: raw.state,
        exchange_rates: raw.exchange_rates,
        path: path.to_path_buf(),
        hash: crate::digest::sha256_hex(text.as_bytes()),
        secrets,
        text: text.to_string(),
        notes,
    })
}

/// The directory of the strategy file at `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A value the schema admits but the typed strategy does not (`"count": 1E+2`, `3.0` or
/// `-0`: JSON Schema counts them as integers, a count does not), located at the value. The
/// typed error has no place, so the text is read again to find it (only on this error path).
fn misfit(text: &str, error: &serde_json::Error) -> Problem {
    let pointer = serde_json::from_str::<Raw>(text)
        .err()
        .filter(|e| e.line() > 0)
        .and_then(|e| locate::pointer_at(text, locate::offset_of(text, e.line(), e.column())))
        .unwrap_or_default();
    let message = syntax_message(error);
    let found = locate::value_text(text, &pointer).filter(|_| !pointer.is_empty());
    let (message, hint) = match found {
        Some(found) if message.starts_with("invalid type: floating point") => (
            format!(
                "Expected an integer written with digits only, found {}.",
                schema::cap(found)
            ),
            "write a plain integer such as 100 (not 1E+2, 100.0 or -0)".to_string(),
        ),
        _ => (
            format!("The strategy does not fit its schema: {message}."),
            "see `oss validate --print-schema` for what belongs here".to_string(),
        ),
    };
    Problem {
        position: locate(text, &pointer, None),
        pointer,
        message,
        hint: Some(hint),
    }
}

/// serde_json's message without its own " at line X column Y" suffix (we print ours).
fn syntax_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = r#"{
          "name": "t",
          "state": {"backend": "postgres", "url": "env.PG_URL"},
          "provider": {"options": [{"sim": {"catalog": "aws", "api_key": "env.SIM_TOKEN"}}]},
          "node": {"image": {"options": [{"os": "ubuntu"}]},
                   "hardware": {"options": [{"min_vcpus": 1}]},
                   "location": {"options": [{"country": "AU"}]}}
        }"#;
        let env = |name: &str| match name {
            "PG_URL" => Some("postgres://oss:pg-canary-1@127.0.0.1/db".to_string()),
            "SIM_TOKEN" => Some("sim-canary-2".to_string()),
            _ => None,
        };
        let strategy = parse(Path::new("strategy.json"), text, &env).unwrap();
        let shown = format!("{strategy:?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(
            shown.contains("api_key"),
            "setting names are shown: {shown}"
        );
        assert!(shown.contains("postgres://oss:***@127.0.0.1/db"), "{shown}");
    }

    const ORIGINAL: &str = r#"{"name": "Default",
 "node": {"os": {"options": [{"name": "ubuntu-24.04"}], "pick": "first"},
          "hardware": {"options": ["4 CPU, 8GB ram, 100GB", {"min_vcpus": 8}]},
          "location": {"options": [{"name": "syd01"}]}},
 "provider": {"options": [{"EC2_AP_SOUTHEAST2": {"auth": {"username": "env.U", "key": "env.K"}}}]},
 "default_pick": "first"}"#;

    fn original_env(name: &str) -> Option<String> {
        match name {
            "U" => Some("AKIDUNIT".into()),
            "K" => Some("secret-unit".into()),
            _ => None,
        }
    }

    #[test]
    fn the_original_shapes_read_as_todays() {
        let s = parse(Path::new("s.json"), ORIGINAL, &original_env).unwrap();
        let group = &s.groups[0];
        assert!(group.image_written_as_os);
        assert_eq!(group.block_pointer("image"), "/node/os");
        assert_eq!(group.spec.image.options[0]["name"], "ubuntu-24.04");
        assert_eq!(
            Value::Object(group.spec.hardware.options[0].clone()),
            serde_json::json!({"min_vcpus": 4, "min_memory_gib": 8, "min_disk_gib": 100})
        );
        assert_eq!(group.spec.hardware.options[1]["min_vcpus"], 8);
        let p = &s.provider.options[0];
        assert_eq!((p.kind.as_str(), p.name.as_str()), ("aws", "aws"));
        assert_eq!(p.settings["regions"], serde_json::json!(["ap-southeast-2"]));
        assert_eq!(p.settings["access_key_id"], "AKIDUNIT");
        assert_eq!(p.settings["secret_access_key"], "secret-unit");
        assert!(!p.settings.contains_key("auth"));
        // As written (what state records): today's shape, references unresolved.
        assert_eq!(
            Value::Object(p.written.clone()),
            serde_json::json!({"regions": ["ap-southeast-2"], "access_key_id": "env.U",
                               "secret_access_key": "env.K"})
        );
        assert_eq!(*s.secrets, ["AKIDUNIT", "secret-unit"]);
        let pointers: Vec<&str> = s.notes.iter().map(|n| n.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/node/os", "/provider/options/0/EC2_AP_SOUTHEAST2"]
        );
        for note in &s.notes {
            assert!(note.position.is_some(), "{note:?}");
            assert!(!note.message.contains("AKIDUNIT") && !note.message.contains("secret-unit"));
        }
    }

    #[test]
    fn a_pick_conflict_in_os_points_at_os() {
        let text = ORIGINAL
            .replace("\"pick\": \"first\"}", "\"pick\": \"random\"}")
            .replace(
                "\"default_pick\": \"first\"",
                "\"default_pick\": \"cheapest\"",
            );
        let e = parse(Path::new("s.json"), &text, &original_env).unwrap_err();
        let at: Vec<(&str, Option<usize>)> = e
            .problems()
            .iter()
            .map(|p| (p.pointer.as_str(), p.position.map(|p| p.line)))
            .collect();
        assert_eq!(at, [("/node/os/pick", Some(2))]);
    }
}
