//! The inventory formats, each as its tool documents it:
//! - `ansible`: the dynamic-inventory protocol's `--list` document (groups with `hosts`, `all`
//!   with `children`, `_meta.hostvars`) and `--host NAME` (one host's variables); groups per
//!   node group, provider, location, region and tag (`tag_KEY_VALUE`), names made of letters,
//!   digits and `_`.
//! - `salt`: a salt-ssh roster (YAML: `name: {host, port, user, priv}`).
//! - `bolt`: a Puppet Bolt inventory, version 2 (YAML: `groups` of `targets` with `uri`, `name`
//!   and SSH `config`).
//! - `fabric`: a JSON list of hosts (`host`, `port`, `user`, `connect_kwargs.key_filename`).
//! - `chef`: knife-style node JSON (`json_class: Chef::Node`, `automatic.ipaddress`).
//! - `ssh-config`: `Host` blocks for plain `ssh` and `scp`.
//! - `json`: every host with every fact oss has, and the problems.
//!
//! YAML is written by hand in block style with every scalar quoted as a JSON string (a JSON
//! string is a valid YAML double-quoted scalar), so no value can change its meaning.

use serde_json::{Map, Value, json};

use super::{Host, Inventory};

/// One of the formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ansible,
    Salt,
    Bolt,
    Fabric,
    Chef,
    SshConfig,
    Json,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &[
        "ansible",
        "salt",
        "bolt",
        "fabric",
        "chef",
        "ssh-config",
        "json",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "ansible" => Format::Ansible,
            "salt" => Format::Salt,
            "bolt" => Format::Bolt,
            "fabric" => Format::Fabric,
            "chef" => Format::Chef,
            "ssh-config" => Format::SshConfig,
            "json" => Format::Json,
            _ => return None,
        })
    }

    /// Whether a host without an SSH user cannot be used (salt-ssh and Fabric need one; the
    /// others fall back to the tool's own default user).
    pub fn needs_user(self) -> bool {
        matches!(self, Format::Salt)
    }

    /// The whole inventory in this format.
    pub fn render(self, inventory: &Inventory) -> String {
        match self {
            Format::Ansible => pretty(&ansible_list(inventory)),
            Format::Salt => salt(inventory),
            Format::Bolt => bolt(inventory),
            Format::Fabric => pretty(&fabric(inventory)),
            Format::Chef => pretty(&chef(inventory)),
            Format::SshConfig => ssh_config(inventory),
            Format::Json => pretty(&json!({
                "hosts": inventory.hosts,
                "problems": inventory.problems(false),
            })),
        }
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// A name Ansible accepts for a group: letters, digits and `_`, not starting with a digit.
fn group_name(parts: &[&str]) -> String {
    let mut name: String = parts
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// One host's variables for Ansible.
pub fn ansible_hostvars(h: &Host) -> Value {
    let mut vars = Map::new();
    if let Some(host) = &h.host {
        vars.insert("ansible_host".into(), json!(host));
    }
    vars.insert("ansible_port".into(), json!(h.port));
    if let Some(user) = &h.user {
        vars.insert("ansible_user".into(), json!(user));
    }
    if let Some(key) = &h.private_key {
        vars.insert("ansible_ssh_private_key_file".into(), json!(key));
    }
    vars.insert("oss".into(), oss_facts(h));
    Value::Object(vars)
}

/// oss's own facts about a host, as every format that carries facts gives them (Ansible's
/// host variables, salt-ssh's grains, Chef's attributes), all under `oss`.
fn oss_facts(h: &Host) -> Value {
    let mut facts = json!({
        "address": h.address, "group": h.group, "provider": h.provider,
        "location": h.location, "region": h.region, "size": h.size, "image": h.image,
        "hourly_price": h.hourly_price, "provider_id": h.provider_id,
        "private_address": h.private_address, "tags": h.tags,
    });
    if let Some(dir) = &h.node_dir {
        facts["node_dir"] = json!(dir);
    }
    facts
}

/// The `--list` document.
pub fn ansible_list(inventory: &Inventory) -> Value {
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut hostvars = Map::new();
    for h in inventory.usable(false) {
        let mut member_of = vec![
            group_name(&[&h.group]),
            group_name(&["provider", &h.provider]),
            group_name(&["location", &h.location]),
        ];
        if let Some(region) = &h.region {
            member_of.push(group_name(&["region", region]));
        }
        for (k, v) in &h.tags {
            member_of.push(group_name(&["tag", k, v]));
        }
        for g in member_of {
            let hosts = groups.entry(g).or_default();
            if !hosts.contains(&h.name) {
                hosts.push(h.name.clone());
            }
        }
        hostvars.insert(h.name.clone(), ansible_hostvars(h));
    }
    let mut doc = Map::new();
    doc.insert("_meta".into(), json!({ "hostvars": hostvars }));
    doc.insert(
        "all".into(),
        json!({ "children": groups.keys().chain(std::iter::once(&"ungrouped".to_string())).collect::<Vec<_>>() }),
    );
    for (name, hosts) in groups {
        doc.insert(name, json!({ "hosts": hosts }));
    }
    Value::Object(doc)
}

/// A YAML double-quoted scalar.
fn q(text: &str) -> String {
    Value::from(text).to_string()
}

fn salt(inventory: &Inventory) -> String {
    let mut out = String::new();
    for h in inventory.usable(true) {
        out.push_str(&format!("{}:\n", q(&h.name)));
        out.push_str(&format!(
            "  host: {}\n",
            q(h.host.as_deref().unwrap_or_default())
        ));
        out.push_str(&format!("  port: {}\n", h.port));
        out.push_str(&format!(
            "  user: {}\n",
            q(h.user.as_deref().unwrap_or_default())
        ));
        if let Some(key) = &h.private_key {
            out.push_str(&format!("  priv: {}\n", q(key)));
        }
        // Nodes sharing one machine would share salt-ssh's bundle (and its minion id) in
        // /var/tmp: each gets its own in its directory.
        if let Some(dir) = &h.node_dir {
            out.push_str(&format!(
                "  thin_dir: {}\n",
                q(&format!("{dir}/.salt-thin"))
            ));
        }
        // oss's facts as grains (JSON is YAML's flow style), as Ansible gets host variables.
        out.push_str(&format!(
            "  minion_opts:\n    grains:\n      oss: {}\n",
            oss_facts(h)
        ));
    }
    if out.is_empty() {
        out.push_str("{}\n");
    }
    out
}

fn bolt(inventory: &Inventory) -> String {
    let mut by_group: std::collections::BTreeMap<&str, Vec<&Host>> = Default::default();
    for h in inventory.usable(false) {
        by_group.entry(&h.group).or_default().push(h);
    }
    let mut out = String::from("# Puppet Bolt inventory, version 2, written by oss\n");
    out.push_str("config:\n  transport: \"ssh\"\n  ssh:\n    host-key-check: false\n");
    if by_group.is_empty() {
        out.push_str("groups: []\n");
        return out;
    }
    out.push_str("groups:\n");
    for (group, hosts) in by_group {
        out.push_str(&format!(
            "  - name: {}\n    targets:\n",
            q(&group_name(&[group]))
        ));
        for h in hosts {
            // A URI with its scheme, as the schema's `format: uri` wants (a bare host is not one).
            let uri = format!("ssh://{}:{}", h.host.as_deref().unwrap_or_default(), h.port);
            out.push_str(&format!(
                "      - uri: {}\n        name: {}\n        config:\n          ssh:\n            port: {}\n",
                q(&uri),
                q(&h.name),
                h.port
            ));
            if let Some(user) = &h.user {
                out.push_str(&format!("            user: {}\n", q(user)));
            }
            if let Some(key) = &h.private_key {
                out.push_str(&format!("            private-key: {}\n", q(key)));
            }
            // JSON is YAML's flow style.
            out.push_str(&format!(
                "        facts:\n          oss: {}\n",
                oss_facts(h)
            ));
        }
    }
    out
}

fn fabric(inventory: &Inventory) -> Value {
    Value::Array(
        inventory
            .usable(false)
            .map(|h| {
                let mut host = json!({
                    "name": h.name, "host": h.host, "port": h.port, "group": h.group,
                    "address": h.address,
                });
                if let Some(user) = &h.user {
                    host["user"] = json!(user);
                }
                if let Some(key) = &h.private_key {
                    host["connect_kwargs"] = json!({ "key_filename": key });
                }
                host
            })
            .collect(),
    )
}

fn chef(inventory: &Inventory) -> Value {
    Value::Array(
        inventory
            .usable(false)
            .map(|h| {
                json!({
                    "name": h.name,
                    "chef_type": "node",
                    "json_class": "Chef::Node",
                    "chef_environment": "_default",
                    "run_list": [],
                    "automatic": {"ipaddress": h.host, "hostname": h.name, "fqdn": h.name},
                    "normal": {"oss": oss_facts(h),
                               "tags": h.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>()},
                })
            })
            .collect(),
    )
}

fn ssh_config(inventory: &Inventory) -> String {
    let mut out = String::from("# Written by oss: ssh -F THIS_FILE NAME\n");
    for h in inventory.usable(false) {
        out.push_str(&format!("\nHost {}\n", h.name));
        out.push_str(&format!(
            "  HostName {}\n",
            h.host.as_deref().unwrap_or_default()
        ));
        out.push_str(&format!("  Port {}\n", h.port));
        if let Some(user) = &h.user {
            out.push_str(&format!("  User {user}\n"));
        }
        if let Some(key) = &h.private_key {
            out.push_str(&format!("  IdentityFile \"{key}\"\n  IdentitiesOnly yes\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;

    fn host(name: &str, ip: Option<&str>, user: Option<&str>) -> Host {
        Host {
            name: name.into(),
            address: Address(format!("node.web[{}]", &name[4..])),
            group: "web".into(),
            host: ip.map(String::from),
            private_address: ip.map(String::from),
            port: 22,
            user: user.map(String::from),
            private_key: Some("keys/id".into()),
            provider: "local".into(),
            location: "local-a".into(),
            region: Some("local".into()),
            size: "small".into(),
            image: "host".into(),
            hourly_price: Some(0.0),
            provider_id: format!("{name}-x"),
            tags: [("app".to_string(), "hello world".to_string())].into(),
            node_dir: None,
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            hosts: vec![
                host("web-0", Some("127.1.0.3"), Some("root")),
                host("web-1", None, Some("root")),
                host("web-2", Some("127.1.0.5"), None),
            ],
        }
    }

    #[test]
    fn ansible_groups_by_role_provider_location_region_and_tag() {
        let doc = ansible_list(&inventory());
        assert_eq!(doc["web"]["hosts"], json!(["web-0", "web-2"]));
        assert_eq!(doc["provider_local"]["hosts"], json!(["web-0", "web-2"]));
        assert_eq!(doc["location_local_a"]["hosts"], json!(["web-0", "web-2"]));
        assert_eq!(
            doc["tag_app_hello_world"]["hosts"],
            json!(["web-0", "web-2"])
        );
        let vars = &doc["_meta"]["hostvars"]["web-0"];
        assert_eq!(vars["ansible_host"], "127.1.0.3");
        assert_eq!(vars["ansible_user"], "root");
        assert_eq!(vars["ansible_ssh_private_key_file"], "keys/id");
        assert_eq!(vars["oss"]["provider_id"], "web-0-x");
        assert!(doc["_meta"]["hostvars"].get("web-1").is_none());
        assert!(
            doc["all"]["children"]
                .as_array()
                .unwrap()
                .contains(&json!("web"))
        );
    }

    #[test]
    fn hosts_without_what_a_format_needs_are_problems_not_silence() {
        let inv = inventory();
        let problems = inv.problems(Format::Salt.needs_user());
        let named: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.host.as_str(), p.missing.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("web-1", "an address"),
                ("web-2", "an SSH user (set \"ssh_user\" in its group)")
            ]
        );
        let roster = Format::Salt.render(&inv);
        assert!(
            roster.starts_with(
                "\"web-0\":\n  host: \"127.1.0.3\"\n  port: 22\n  user: \"root\"\n  priv: \"keys/id\"\n  minion_opts:\n    grains:\n      oss: {\"address\":\"node.web[0]\""
            ),
            "{roster}"
        );
        assert!(
            !roster.contains("web-1") && !roster.contains("web-2"),
            "{roster}"
        );
    }

    #[test]
    fn ssh_config_and_fabric_list_every_usable_host() {
        let inv = inventory();
        let config = Format::SshConfig.render(&inv);
        assert!(config.contains("\nHost web-0\n  HostName 127.1.0.3\n  Port 22\n  User root\n"));
        assert!(config.contains("\nHost web-2\n  HostName 127.1.0.5\n"));
        assert!(!config.contains("web-1"));
        let fab = fabric(&inv);
        assert_eq!(fab[0]["connect_kwargs"]["key_filename"], "keys/id");
        assert_eq!(fab.as_array().unwrap().len(), 2);
        let chef = chef(&inv);
        assert_eq!(chef[0]["json_class"], "Chef::Node");
        assert_eq!(chef[0]["automatic"]["ipaddress"], "127.1.0.3");
        let bolt = Format::Bolt.render(&inv);
        assert!(bolt.contains(
            "groups:\n  - name: \"web\"\n    targets:\n      - uri: \"ssh://127.1.0.3:22\""
        ));
    }
}
