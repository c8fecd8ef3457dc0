//! A node's directory `STATE_DIR/local/<provider id>/`: its `node.json` (the record that
//! marks it with address and lineage, written atomically, 0600), its logs and their tail for
//! error messages, and what a node's attributes must hold to start one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DriverError;
use super::io_error;
use super::procs::NodeProcess;
use crate::fsutil;
use crate::resource::{Address, Attributes, Existing, Kind, Placement};

const META_FILE: &str = "node.json";
pub(super) const STDOUT_LOG: &str = "stdout.log";
pub(super) const STDERR_LOG: &str = "stderr.log";
const LOG_LINES: usize = 10;
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The attributes the driver needs to start a node.
#[derive(Debug)]
pub(super) struct NodeSpec {
    pub(super) name: String,
    pub(super) index: Option<u64>,
    pub(super) command: String,
    /// The first port: the readiness port.
    pub(super) port: Option<u16>,
    /// The group's `env` map, references already filled in.
    pub(super) env: std::collections::BTreeMap<String, String>,
}

impl NodeSpec {
    pub(super) fn parse(address: &Address, attributes: &Attributes) -> Result<Self, DriverError> {
        let bad = |problem: String| DriverError::fatal(format!("Node `{address}`: {problem}."));
        let text = |key: &str| match attributes.get(key) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            _ => Err(bad(format!("attribute `{key}` must be a non-empty string"))),
        };
        let name = text("name")?;
        let command = text("command")?;
        let index = match attributes.get("index") {
            None | Some(Value::Null) => None,
            Some(index) => Some(
                index
                    .as_u64()
                    .ok_or_else(|| bad("attribute `index` must be a whole number".to_string()))?,
            ),
        };
        let ports = match attributes.get("ports") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ports)) => ports
                .iter()
                .map(|port| port.as_u64().and_then(|port| u16::try_from(port).ok()))
                .map(|port| port.filter(|port| *port > 0))
                .collect::<Option<Vec<u16>>>()
                .ok_or_else(|| bad("attribute `ports` must hold port numbers 1-65535".into()))?,
            Some(_) => return Err(bad("attribute `ports` must be an array".to_string())),
        };
        if let Some(tags) = attributes.get("tags") {
            check_tags(tags).map_err(bad)?;
        }
        let env = match attributes.get("env") {
            None | Some(Value::Null) => Default::default(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("attribute `env` must map names to strings".into()))?,
            Some(_) => return Err(bad("attribute `env` must map names to strings".into())),
        };
        Ok(NodeSpec {
            name,
            index,
            command,
            port: ports.first().copied(),
            env,
        })
    }
}

pub(super) fn check_tags(tags: &Value) -> Result<(), String> {
    match tags {
        Value::Object(tags) if tags.values().all(Value::is_string) => Ok(()),
        _ => Err("attribute `tags` must map names to strings".to_string()),
    }
}

/// The readiness port of a recorded node; a malformed record counts as no port.
pub(super) fn first_port(address: &Address, attributes: &Attributes) -> Option<u16> {
    NodeSpec::parse(address, attributes).ok()?.port
}

/// `node.json`: everything needed to recognize a node and rebuild its `Existing`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct NodeMeta {
    pub(super) lineage: String,
    pub(super) address: Address,
    pub(super) kind: Kind,
    pub(super) placement: Placement,
    pub(super) attributes: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) dependencies: Vec<Address>,
    pub(super) provider_id: String,
    pub(super) addr: Ipv4Addr,
    /// Absent when oss stopped between writing the record and starting the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pid: Option<u32>,
    pub(super) started_at: u64,
}

impl NodeMeta {
    pub(super) fn existing(&self, observed: Attributes) -> Existing {
        Existing {
            address: self.address.clone(),
            kind: self.kind,
            placement: self.placement.clone(),
            provider_id: self.provider_id.clone(),
            attributes: self.attributes.clone(),
            observed,
            dependencies: self.dependencies.clone(),
        }
    }
}

pub(super) fn read_meta(dir: &Path) -> Option<NodeMeta> {
    serde_json::from_slice(&fs::read(dir.join(META_FILE)).ok()?).ok()
}

/// Write node.json atomically (temporary file, fsync, rename, directory fsync), 0600.
pub(super) fn write_meta(dir: &Path, meta: &NodeMeta) -> Result<(), DriverError> {
    let path = dir.join(META_FILE);
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|e| DriverError::fatal(format!("Could not encode {}: {e}.", path.display())))?;
    fsutil::write_atomic(&path, &json, 0o600).map_err(|e| io_error("write", &path, e))
}

/// Every node directory under `root` with a readable node.json, by directory name (the
/// provider id). A directory without one is not (yet) a node and is left alone.
pub(super) fn read_nodes(root: &Path) -> Result<BTreeMap<String, NodeMeta>, DriverError> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error("read the node directory root", root, e)),
    };
    let mut nodes = BTreeMap::new();
    for entry in entries.flatten() {
        let Ok(id) = entry.file_name().into_string() else {
            continue;
        };
        // A record that names another directory (a copied one) is not this node's.
        if let Some(meta) = read_meta(&entry.path())
            && meta.provider_id == id
        {
            nodes.insert(id, meta);
        }
    }
    Ok(nodes)
}

/// What `Existing.observed` holds for a node.
pub(super) fn observed(
    dir: &Path,
    addr: Ipv4Addr,
    port: Option<u16>,
    pid: Option<u32>,
) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("addr".to_string(), Value::from(addr.to_string()));
    if let Some(pid) = pid {
        observed.insert("pid".to_string(), Value::from(pid));
    }
    observed.insert(
        "dir".to_string(),
        Value::from(dir.to_string_lossy().into_owned()),
    );
    if let Some(port) = port {
        observed.insert(
            "url".to_string(),
            Value::from(format!("http://{addr}:{port}")),
        );
    }
    observed
}

pub(super) fn observed_addr(existing: &Existing) -> Option<Ipv4Addr> {
    existing.observed.get("addr")?.as_str()?.parse().ok()
}

/// The pid to report: the recorded one while it lives, else the oldest-looking live one.
pub(super) fn leader_pid(recorded: Option<u32>, live: &[NodeProcess]) -> Option<u32> {
    recorded
        .filter(|pid| live.iter().any(|p| p.pid == *pid))
        .or_else(|| live.iter().map(|p| p.pid).min())
}

/// The last lines of the node's logs, formatted to end an error message.
pub(super) fn log_tail(dir: &Path) -> String {
    let mut out = String::new();
    for name in [STDERR_LOG, STDOUT_LOG] {
        let lines = last_lines(&dir.join(name), LOG_LINES);
        if !lines.is_empty() {
            out.push_str(&format!("\n{name}:"));
            for line in lines {
                out.push_str("\n  ");
                out.push_str(&line);
            }
        }
    }
    if out.is_empty() {
        " It wrote no output.".to_string()
    } else {
        format!(" Last output:{out}")
    }
}

pub(super) fn last_lines(path: &Path, count: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let start = file
        .metadata()
        .map(|m| m.len().saturating_sub(LOG_TAIL_BYTES))
        .unwrap_or(0);
    let mut bytes = Vec::new();
    if file
        .seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut bytes))
        .is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| line.to_string())
        .collect()
}
