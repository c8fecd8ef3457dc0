//! Shared helpers for tests that drive the real `oss` binary in a temporary directory, with
//! real `local` nodes, and clean up every process they started even when a test fails.
#![allow(dead_code)]

pub mod bind;
pub mod browser;
pub mod fault_proxy;
pub mod moto;
pub mod prometheus;
pub mod rest_case;
pub mod rest_fake;
pub mod serve;
pub mod tools;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// A scratch project: a strategy file and a state dir; kills its nodes when dropped.
pub struct Project {
    pub dir: tempfile::TempDir,
    /// Environment every `oss` run here gets (AWS keys for an S3 backend...).
    env: std::sync::Mutex<Vec<(String, String)>>,
}

impl Project {
    /// A project whose `strategy.json` is the repository's sample with `count` nodes.
    pub fn sample(count: usize) -> Self {
        let mut strategy: Value =
            serde_json::from_str(include_str!("../../strategy.sample.json")).unwrap();
        strategy["node"]["count"] = count.into();
        Self::with_strategy(&strategy)
    }

    pub fn with_strategy(strategy: &Value) -> Self {
        let project = Project {
            dir: tempfile::Builder::new()
                .prefix("oss-test-")
                .tempdir()
                .unwrap(),
            env: Default::default(),
        };
        project.write_strategy(strategy);
        project
    }

    pub fn write_strategy(&self, strategy: &Value) {
        std::fs::write(
            self.path("strategy.json"),
            serde_json::to_string_pretty(strategy).unwrap(),
        )
        .unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Sets `name=value` in the environment of every later `oss` run here.
    pub fn set_env(&self, name: &str, value: &str) {
        let mut env = self.env.lock().unwrap();
        env.retain(|(n, _)| n != name);
        env.push((name.to_string(), value.to_string()));
    }

    /// The variables set with [`Project::set_env`].
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.lock().unwrap().clone()
    }

    /// `oss` run in the project directory, without colours.
    pub fn oss(&self) -> Command {
        let mut cmd = Command::cargo_bin("oss").unwrap();
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .envs(self.env.lock().unwrap().iter().cloned());
        cmd
    }

    /// Runs `oss ARGS`, returning (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.oss().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "oss {args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
        );
        out
    }

    /// The state document.
    pub fn state(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.path(&format!("state/{name}.state.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Live processes started as nodes of this project (by their OSS_NODE_DIR marker).
    pub fn node_processes(&self) -> Vec<(i32, String)> {
        node_processes_under(self.dir.path())
    }

    /// Node directories of the local provider.
    pub fn node_dirs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.path("state/local")) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        for (pid, _) in node_processes_under(self.dir.path()) {
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// (pid, node dir) of every live process whose environment has OSS_NODE_DIR under `root`.
pub fn node_processes_under(root: &Path) -> Vec<(i32, String)> {
    let root = root.to_string_lossy().into_owned();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let state = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some(Some('Z' | 'X'))) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        for var in environ.split(|b| *b == 0) {
            if let Some(dir) = var.strip_prefix(b"OSS_NODE_DIR=") {
                let dir = String::from_utf8_lossy(dir).into_owned();
                if dir.starts_with(&root) {
                    found.push((pid, dir));
                }
            }
        }
    }
    found
}

/// `examples/NAME` with its sim catalogs by absolute path (so the project can live anywhere)
/// and no simulated latency.
pub fn sim_example(name: &str) -> Value {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut strategy: Value =
        serde_json::from_slice(&std::fs::read(examples.join(name)).unwrap()).unwrap();
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        let sim = &mut option["sim"];
        let catalog = sim["catalog"].as_str().unwrap();
        sim["catalog"] = examples.join(catalog).to_string_lossy().into_owned().into();
        sim["latency_ms"] = 0.into();
    }
    strategy
}

/// GET `url` (plain http://host:port/path) and return the body.
pub fn http_get(url: &str) -> String {
    let response = http_response(url);
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// GET `url` (plain http://host:port/path) with HTTP/1.0 and return the whole response: status
/// line, headers and body.
pub fn http_response(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    let (host, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Waits until `ready` holds, polling every 2 ms; false after `timeout`.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// (address, action, reason) of every change but the no-ops of `oss plan --json ARGS`, in the
/// plan's order (by address).
pub fn plan_changes(p: &Project, args: &[&str]) -> Vec<(String, String, String)> {
    let out = p.ok(&[&["plan", "--json"], args].concat());
    let plan: Value = serde_json::from_str(&out).unwrap();
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            let field = |name: &str| c[name].as_str().unwrap().to_string();
            (field("address"), field("action"), field("reason"))
        })
        .collect()
}
