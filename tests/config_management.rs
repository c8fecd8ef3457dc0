//! Configuration tools over real SSH, as the examples in examples/cm/ show them: three local
//! nodes run OpenSSH's sshd on port 22 of their loopback addresses (examples/cm/ssh-nodes.json),
//! and ansible-playbook, Fabric, Puppet and salt-ssh log in to them through oss's inventories
//! and configure them; curl and the tools' own answers check the effect on every node.

mod common;

use std::path::{Path, PathBuf};

use common::Project;
use common::tools::{self, command, debian_tool, venv_tool};
use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cm")
}

/// A fleet of three SSH-reachable local nodes and the key that logs in to them.
struct Fleet {
    p: Project,
    /// (inventory name, loopback address) of every node.
    nodes: Vec<(String, String)>,
    /// `ssh` options that keep accepted host keys inside the project.
    ssh_opts: String,
}

impl Fleet {
    fn up() -> Fleet {
        debian_tool("/usr/sbin/sshd", "openssh-server");
        let strategy: Value =
            serde_json::from_slice(&std::fs::read(examples().join("ssh-nodes.json")).unwrap())
                .unwrap();
        let p = Project::with_strategy(&strategy);
        let key = p.path("id_ed25519");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let public = std::fs::read_to_string(p.path("id_ed25519.pub")).unwrap();
        p.set_env("OSS_VAR_authorized_key", public.trim());
        p.set_env("OSS_VAR_private_key", key.to_str().unwrap());
        p.ok(&["apply", "--auto-approve"]);
        let listed: Value =
            serde_json::from_str(&p.ok(&["inventory", "--format", "json"])).unwrap();
        let mut nodes: Vec<(String, String)> = listed["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let name = h["name"].as_str().unwrap().to_string();
                (name, h["host"].as_str().unwrap().to_string())
            })
            .collect();
        nodes.sort();
        assert_eq!(nodes.len(), 3, "{listed:#}");
        let ssh_opts = format!(
            "-o UserKnownHostsFile={} -o ControlMaster=no",
            p.path("known_hosts").display()
        );
        Fleet { p, nodes, ssh_opts }
    }

    /// GET `path` from every node's HTTP service: (name, whole response).
    fn pages(&self, path: &str) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .map(|(name, ip)| {
                let url = format!("http://{ip}:8080{path}");
                (name.clone(), common::http_response(&url))
            })
            .collect()
    }

    /// Waits (bounded) until every node serves `path` with `body(name)`; a service that is
    /// restarting answers again within moments.
    fn wait_for_pages(&self, path: &str, body: impl Fn(&str) -> String) {
        for (name, ip) in &self.nodes {
            let url = format!("http://{ip}:8080{path}");
            let want = body(name);
            let served = common::wait_until(std::time::Duration::from_secs(10), || {
                std::net::TcpStream::connect((ip.as_str(), 8080)).is_ok()
                    && common::http_get(&url) == want
            });
            assert!(
                served,
                "{url} never served {want:?}: {:?}",
                common::http_get(&url)
            );
        }
    }

    fn down(self) {
        self.p.ok(&["destroy", "--auto-approve"]);
        assert!(
            self.p.node_processes().is_empty(),
            "{:?}",
            self.p.node_processes()
        );
    }
}

fn service_pid(response: &str) -> String {
    response
        .lines()
        .find_map(|l| l.strip_prefix("X-Service-Pid: "))
        .unwrap_or_else(|| panic!("no X-Service-Pid in {response:?}"))
        .trim()
        .to_string()
}

/// ansible-playbook, through the dynamic-inventory script, writes each node's page and
/// restarts its HTTP service (which reads pages only at start); a second run changes nothing.
#[test]
fn ansible_playbook_configures_three_nodes_and_restarts_their_service() {
    let fleet = Fleet::up();
    let before = fleet.pages("/");
    for (name, response) in &before {
        assert!(
            response.ends_with("\r\n\r\nunconfigured\n"),
            "{name}: {response}"
        );
    }
    let playbook = || {
        let mut run = command(&fleet.p, venv_tool("ansible-playbook"));
        run.arg("-i")
            .arg(examples().join("ansible/inventory"))
            .arg(examples().join("ansible/site.yml"))
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .env("ANSIBLE_SSH_ARGS", &fleet.ssh_opts)
            .env("ANSIBLE_NOCOLOR", "1");
        tools::ok(&mut run)
    };
    let first = playbook();
    for (name, _) in &fleet.nodes {
        assert!(
            first.contains(&format!("{name} ")) && first.contains("changed=2"),
            "{first}"
        );
    }
    fleet.wait_for_pages("/", |name| format!("configured by ansible for {name}\n"));
    let after = fleet.pages("/");
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        assert_ne!(
            service_pid(old),
            service_pid(new),
            "{name} was not restarted"
        );
    }
    // Nothing to do the second time: no change, no restart.
    let second = playbook();
    assert!(
        !second.contains("changed=1") && !second.contains("changed=2"),
        "{second}"
    );
    for ((name, old), (_, new)) in after.iter().zip(&fleet.pages("/")) {
        assert_eq!(
            service_pid(old),
            service_pid(new),
            "{name} restarted for nothing"
        );
    }
    fleet.down();
}

/// Fabric runs one command on every node of `oss inventory --format fabric`, in parallel, and
/// collects each node's answer: each comes from its own node, over SSH to its address.
#[test]
fn fabric_runs_a_command_on_every_node_and_collects_the_answers() {
    let fleet = Fleet::up();
    let mut run = command(&fleet.p, venv_tool("fab"));
    run.arg("-r").arg(examples().join("fabric")).args([
        "run",
        "--command",
        r#"echo "$OSS_NODE_NAME $SSH_CONNECTION""#,
    ]);
    let answers: Value = serde_json::from_str(&tools::ok(&mut run)).unwrap();
    let answers = answers.as_object().unwrap();
    assert_eq!(answers.len(), 3, "{answers:?}");
    for (name, ip) in &fleet.nodes {
        let answer = answers[name].as_str().unwrap();
        let words: Vec<&str> = answer.split_whitespace().collect();
        // "NAME client-ip client-port server-ip 22"
        assert_eq!(words.first(), Some(&name.as_str()), "{answer}");
        assert_eq!(words.get(3), Some(&ip.as_str()), "{answer}");
        assert_eq!(words.get(4), Some(&"22"), "{answer}");
    }
    fleet.down();
}

/// `puppet apply` runs on each node through SSH (examples/cm/puppet/run.sh) with a manifest
/// that writes a page and restarts the service; the nodes serve it, and a second run changes
/// nothing.
#[test]
fn puppet_apply_runs_on_each_node_over_ssh() {
    debian_tool("/usr/bin/puppet", "puppet");
    let fleet = Fleet::up();
    let apply = || {
        let mut run = command(&fleet.p, "/bin/sh");
        run.arg(examples().join("puppet/run.sh"))
            .env("SSH_OPTS", &fleet.ssh_opts);
        tools::ok(&mut run)
    };
    let first = apply();
    for (name, _) in &fleet.nodes {
        assert!(
            first.contains(&format!("{name}: Notice: Applied catalog")),
            "{first}"
        );
    }
    assert_eq!(first.matches("Triggered 'refresh'").count(), 3, "{first}");
    fleet.wait_for_pages("/puppet.txt", |name| {
        format!("managed by puppet on {name}\n")
    });
    let second = apply();
    assert_eq!(second.matches("Triggered 'refresh'").count(), 0, "{second}");
    assert_eq!(second.matches("Applied catalog").count(), 3, "{second}");
    fleet.down();
}

/// salt-ssh reads oss's roster: `test.ping` answers from every node, and a state applied over
/// SSH writes a file each node then shows.
#[test]
fn salt_ssh_pings_and_applies_a_state_on_every_node() {
    let fleet = Fleet::up();
    let p = &fleet.p;
    let salt = p.path("salt");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(examples().join("salt"))
        .arg(&salt)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        salt.join("roster"),
        p.ok(&["inventory", "--format", "salt"]),
    )
    .unwrap();
    let salt_ssh = |args: &[&str]| -> Value {
        let mut run = command(p, venv_tool("salt-ssh"));
        run.current_dir(&salt)
            .args(["--out", "json", "--static", "--no-color"])
            .args(args);
        let out = tools::ok(&mut run);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let pings = salt_ssh(&["*", "test.ping"]);
    for (name, _) in &fleet.nodes {
        assert_eq!(pings[name], true, "{pings:#}");
    }
    let applied = salt_ssh(&["*", "state.apply", "web"]);
    let shown = salt_ssh(&["*", "cmd.run", r#"cat "$OSS_NODE_DIR/site/salt.txt""#]);
    for (name, _) in &fleet.nodes {
        let states = applied[name]
            .as_object()
            .unwrap_or_else(|| panic!("{applied:#}"));
        assert!(states.values().all(|s| s["result"] == true), "{applied:#}");
        assert_eq!(
            shown[name],
            format!("managed by salt on {name} (local/local-a)"),
            "{shown:#}"
        );
    }
    fleet.down();
}
