//! Vultr's world for the REST fake: regions with city, country and continent, plans with
//! monthly prices and the regions that sell them, operating systems, account SSH keys,
//! firewall groups with their rules, and instances that are `pending` (no address yet) for a
//! moment after their create, then `active` and `running`. Lists page the way API v2 does
//! (`per_page` up to 500, default 100; an opaque `cursor` from `meta.links.next`, empty on the
//! last page) and instance lists honour `tag` on `tags`; errors come in its shape
//! (`{"error": "...", "status": N}`).
//!
//! Capacity refusals: a region (or a region and plan) set with [`Vultr::refuse`] answers
//! instance creates there with the 400 Vultr gives for a plan it does not sell there; a plan
//! whose `locations` lack the region is refused the same way.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Request, Response, World};

/// The bundled OpenAPI operations (tests/fixtures/openapi/vultr).
pub const SPEC: &str = include_str!("../../fixtures/openapi/vultr/openapi.json");

/// Vultr's refusal of a plan it does not sell in a region (as recorded in
/// vultr/vultr-cli#385 and vultr/terraform-provider-vultr#377).
pub const NOT_SOLD: &str = "Invalid plan chosen.";

/// Regions the fake offers: (id, city, country, continent).
pub const REGIONS: &[(&str, &str, &str, &str)] = &[
    ("ewr", "New Jersey", "US", "North America"),
    ("ord", "Chicago", "US", "North America"),
    ("fra", "Frankfurt", "DE", "Europe"),
    ("sgp", "Singapore", "SG", "Asia"),
    ("syd", "Sydney", "AU", "Australia"),
];
/// A plan the fake sells.
pub struct Plan {
    pub id: &'static str,
    pub vcpus: u32,
    /// MB.
    pub ram: u32,
    /// GB.
    pub disk: u32,
    /// USD a month, an integer as this version of the document has it.
    pub monthly: u32,
    /// The regions that sell it.
    pub locations: &'static [&'static str],
}

const EVERYWHERE: &[&str] = &["ewr", "ord", "fra", "sgp", "syd"];
pub const PLANS: &[Plan] = &[
    Plan {
        id: "vc2-1c-1gb",
        vcpus: 1,
        ram: 1024,
        disk: 25,
        monthly: 5,
        locations: EVERYWHERE,
    },
    Plan {
        id: "vc2-1c-2gb",
        vcpus: 1,
        ram: 2048,
        disk: 55,
        monthly: 10,
        locations: EVERYWHERE,
    },
    Plan {
        id: "vc2-2c-4gb",
        vcpus: 2,
        ram: 4096,
        disk: 80,
        monthly: 20,
        locations: &["ewr", "fra"],
    },
];
/// Operating systems: (id, name, family).
pub const SYSTEMS: &[(u64, &str, &str)] = &[
    (2284, "Ubuntu 24.04 LTS x64", "ubuntu"),
    (2136, "Debian 12 x64 (bookworm)", "debian"),
    (159, "Custom", "iso"),
];

pub struct Instance {
    pub id: String,
    pub label: String,
    pub region: String,
    pub plan: String,
    pub os_id: u64,
    pub tags: Vec<String>,
    pub sshkey_ids: Vec<String>,
    pub firewall_group_id: String,
    /// The decoded user data.
    pub user_data: Option<String>,
    pub created: Instant,
    serial: u64,
    created_at: String,
}

pub struct Group {
    pub description: String,
    /// rule id → rule as answered.
    pub rules: BTreeMap<u64, Value>,
    created_at: String,
}

#[derive(Default)]
pub struct Vultr {
    pub instances: BTreeMap<String, Instance>,
    /// id → (name, public key).
    pub keys: BTreeMap<String, (String, String)>,
    pub firewalls: BTreeMap<String, Group>,
    /// (region, plan or "") refused.
    refusals: HashSet<(String, String)>,
    serial: u64,
    /// How long an instance stays `pending`.
    pub boot: Duration,
}

fn not_found() -> Response {
    err(404, "Not found")
}

fn err(status: u16, message: &str) -> Response {
    Response::json(status, json!({"error": message, "status": status}))
}

impl Vultr {
    pub fn new() -> Self {
        Vultr {
            boot: Duration::from_millis(300),
            ..Default::default()
        }
    }

    /// Refuses instance creates in `region` (of `plan`, or any plan for `None`) with Vultr's
    /// "Invalid plan chosen." 400.
    pub fn refuse(&mut self, region: &str, plan: Option<&str>) {
        self.refusals
            .insert((region.into(), plan.unwrap_or_default().into()));
    }

    /// Adds a running instance directly (a fleet made by someone else, or a big one).
    pub fn add_instance(&mut self, region: &str, label: &str, tags: &[&str]) -> String {
        let (id, serial) = self.id();
        let instance = Instance {
            id: id.clone(),
            label: label.to_string(),
            region: region.to_string(),
            plan: PLANS[0].id.to_string(),
            os_id: SYSTEMS[0].0,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            sshkey_ids: Vec::new(),
            firewall_group_id: String::new(),
            user_data: None,
            created: Instant::now() - self.boot,
            serial,
            created_at: now(),
        };
        self.instances.insert(id.clone(), instance);
        id
    }

    /// Deletes an instance behind oss's back.
    pub fn remove_instance(&mut self, id: &str) -> bool {
        self.instances.remove(id).is_some()
    }

    /// A fresh UUID-shaped id and its serial number.
    fn id(&mut self) -> (String, u64) {
        self.serial += 1;
        let n = self.serial;
        (
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                n * 2_654_435_761 % (1 << 32),
                n % 0xffff,
                n % 0xfff,
                (n * 7) % 0xfff,
                n
            ),
            n,
        )
    }

    fn instance_json(&self, i: &Instance) -> Value {
        let running = i.created.elapsed() >= self.boot;
        let plan = PLANS.iter().find(|p| p.id == i.plan).unwrap_or(&PLANS[0]);
        let (vcpus, ram, disk) = (plan.vcpus, plan.ram, plan.disk);
        let os = SYSTEMS.iter().find(|s| s.0 == i.os_id).map_or("", |s| s.1);
        let n = i.serial % 250 + 1;
        let ip = |v: String| if running { v } else { "0.0.0.0".into() };
        json!({
            "id": i.id, "os": os, "ram": ram, "disk": disk, "vcpu_count": vcpus,
            "main_ip": ip(format!("203.0.113.{n}")), "region": i.region, "plan": i.plan,
            "date_created": i.created_at,
            "status": if running { "active" } else { "pending" },
            "power_status": "running",
            "server_status": if running { "ok" } else { "none" },
            "allowed_bandwidth": 1000, "netmask_v4": "255.255.254.0",
            "gateway_v4": ip("203.0.113.1".to_string()),
            "v6_networks": [], "hostname": i.label, "label": i.label,
            "internal_ip": "", "kvm": "", "os_id": i.os_id, "app_id": 0, "image_id": "",
            "firewall_group_id": i.firewall_group_id, "features": [], "tags": i.tags,
            "user_scheme": "root",
        })
    }

    fn key_json(id: &str, (name, key): &(String, String)) -> Value {
        json!({"id": id, "name": name, "ssh_key": key, "date_created": "2024-04-25T12:00:00+00:00"})
    }

    fn group_json(&self, id: &str, g: &Group) -> Value {
        let count = self
            .instances
            .values()
            .filter(|i| i.firewall_group_id == id)
            .count();
        json!({
            "id": id, "description": g.description, "date_created": g.created_at,
            "date_modified": g.created_at, "instance_count": count,
            "rule_count": g.rules.len(), "max_rule_count": 50,
        })
    }

    /// One page of `items` under `key` the way Vultr pages (an opaque cursor).
    fn page(&self, request: &Request, key: &str, items: Vec<Value>) -> Response {
        let size: usize = request
            .query("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(100)
            .clamp(1, 500);
        let offset: usize = match request.query("cursor") {
            None => 0,
            Some(c) => match c
                .strip_prefix("bmV4dF9f")
                .and_then(|o| usize::from_str_radix(o, 16).ok())
            {
                Some(o) => o,
                None => return err(400, "Invalid cursor."),
            },
        };
        let total = items.len();
        let cursor = |o: usize| format!("bmV4dF9f{o:x}");
        let next = if offset + size < total {
            cursor(offset + size)
        } else {
            String::new()
        };
        let prev = if offset > 0 {
            cursor(offset.saturating_sub(size))
        } else {
            String::new()
        };
        let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
        Response::json(
            200,
            json!({key: page, "meta": {"total": total, "links": {"next": next, "prev": prev}}}),
        )
    }

    fn create_instance(&mut self, body: &Value) -> Response {
        let region = body["region"].as_str().unwrap_or_default().to_string();
        let plan = body["plan"].as_str().unwrap_or_default().to_string();
        if !REGIONS.iter().any(|r| r.0 == region) {
            return err(400, "Invalid region chosen.");
        }
        let Some(offer) = PLANS.iter().find(|p| p.id == plan) else {
            return err(400, NOT_SOLD);
        };
        let refused = self.refusals.contains(&(region.clone(), plan.clone()))
            || self.refusals.contains(&(region.clone(), String::new()));
        if refused || !offer.locations.contains(&region.as_str()) {
            return err(400, NOT_SOLD);
        }
        let Some(os_id) = body["os_id"]
            .as_u64()
            .filter(|o| SYSTEMS.iter().any(|s| s.0 == *o))
        else {
            return err(400, "Invalid operating system.");
        };
        let firewall_group_id = body["firewall_group_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !firewall_group_id.is_empty() && !self.firewalls.contains_key(&firewall_group_id) {
            return err(400, "Invalid firewall group.");
        }
        let sshkey_ids = strings(&body["sshkey_id"]);
        if sshkey_ids.iter().any(|k| !self.keys.contains_key(k)) {
            return err(400, "Invalid SSH key.");
        }
        let user_data = body["user_data"].as_str().map(|b| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let (id, serial) = self.id();
        let instance = Instance {
            id: id.clone(),
            label: body["label"].as_str().unwrap_or_default().to_string(),
            region,
            plan,
            os_id,
            tags: strings(&body["tags"]),
            sshkey_ids,
            firewall_group_id,
            user_data,
            created: Instant::now(),
            serial,
            created_at: now(),
        };
        let mut answer = self.instance_json(&instance);
        answer["default_password"] = json!("v5{Fkvb#2ycPGwHs");
        self.instances.insert(id, instance);
        Response::json(202, json!({"instance": answer}))
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

fn now() -> String {
    oss::clock::now_rfc3339()
}

impl World for Vultr {
    fn error(&self, status: u16, _code: &str, message: &str) -> Value {
        let text = match status {
            401 => "Invalid API token.",
            429 => "Rate limit exceeded.",
            500..=599 => "Internal server error.",
            _ => message,
        };
        json!({"error": text, "status": status})
    }

    fn handle(&mut self, r: &Request) -> Response {
        let body = r.body.clone().unwrap_or(Value::Null);
        let param = |name: &str| r.op.path_params.get(name).cloned().unwrap_or_default();
        match r.op.id.as_str() {
            "list-regions" => {
                let items = REGIONS
                    .iter()
                    .map(|(id, city, country, continent)| {
                        json!({"id": id, "city": city, "country": country,
                               "continent": continent, "options": ["ddos_protection"]})
                    })
                    .collect();
                self.page(r, "regions", items)
            }
            "list-plans" => {
                let items = PLANS
                    .iter()
                    .map(|p| {
                        json!({"id": p.id, "name": "Cloud Compute", "vcpu_count": p.vcpus,
                               "ram": p.ram, "disk": p.disk, "disk_count": 1, "bandwidth": 1024,
                               "monthly_cost": p.monthly, "type": "vc2",
                               "locations": p.locations})
                    })
                    .collect();
                self.page(r, "plans", items)
            }
            "list-os" => {
                let items = SYSTEMS
                    .iter()
                    .map(|(id, name, family)| {
                        json!({"id": id, "name": name, "arch": "x64", "family": family})
                    })
                    .collect();
                self.page(r, "os", items)
            }
            "list-ssh-keys" => {
                let items = self
                    .keys
                    .iter()
                    .map(|(id, k)| Self::key_json(id, k))
                    .collect();
                self.page(r, "ssh_keys", items)
            }
            "create-ssh-key" => {
                let key = body["ssh_key"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let name = body["name"].as_str().unwrap_or_default().to_string();
                let (id, _) = self.id();
                self.keys.insert(id.clone(), (name, key));
                Response::json(
                    201,
                    json!({"ssh_key": Self::key_json(&id, &self.keys[&id])}),
                )
            }
            "delete-ssh-key" => match self.keys.remove(&param("ssh-key-id")) {
                Some(_) => Response::empty(204),
                None => not_found(),
            },
            "list-firewall-groups" => {
                let items = self
                    .firewalls
                    .iter()
                    .map(|(id, g)| self.group_json(id, g))
                    .collect();
                self.page(r, "firewall_groups", items)
            }
            "create-firewall-group" => {
                let (id, _) = self.id();
                let group = Group {
                    description: body["description"].as_str().unwrap_or_default().to_string(),
                    rules: BTreeMap::new(),
                    created_at: now(),
                };
                let answer = self.group_json(&id, &group);
                self.firewalls.insert(id, group);
                Response::json(201, json!({"firewall_group": answer}))
            }
            "delete-firewall-group" => {
                let id = param("firewall-group-id");
                if self.instances.values().any(|i| i.firewall_group_id == id) {
                    return err(400, "Unable to delete firewall group: it is in use.");
                }
                match self.firewalls.remove(&id) {
                    Some(_) => Response::empty(204),
                    None => not_found(),
                }
            }
            "list-firewall-group-rules" => match self.firewalls.get(&param("firewall-group-id")) {
                Some(g) => {
                    let items = g.rules.values().cloned().collect();
                    self.page(r, "firewall_rules", items)
                }
                None => not_found(),
            },
            "post-firewalls-firewall-group-id-rules" => {
                let Some(g) = self.firewalls.get_mut(&param("firewall-group-id")) else {
                    return not_found();
                };
                let number = g.rules.keys().last().map_or(1, |k| k + 1);
                let rule = json!({
                    "id": number, "type": body["ip_type"], "ip_type": body["ip_type"],
                    "action": "accept", "protocol": body["protocol"],
                    "port": body["port"].as_str().unwrap_or_default(),
                    "subnet": body["subnet"], "subnet_size": body["subnet_size"],
                    "source": body["source"].as_str().unwrap_or_default(),
                    "notes": body["notes"].as_str().unwrap_or_default(),
                });
                g.rules.insert(number, rule.clone());
                Response::json(201, json!({"firewall_rule": rule}))
            }
            "delete-firewall-group-rule" => {
                let Some(g) = self.firewalls.get_mut(&param("firewall-group-id")) else {
                    return not_found();
                };
                let rule: u64 = param("firewall-rule-id").parse().unwrap_or(0);
                match g.rules.remove(&rule) {
                    Some(_) => Response::empty(204),
                    None => not_found(),
                }
            }
            "list-instances" => {
                let tag = r.query("tag").map(String::from);
                let items = self
                    .instances
                    .values()
                    .filter(|i| tag.as_ref().is_none_or(|t| i.tags.contains(t)))
                    .map(|i| self.instance_json(i))
                    .collect();
                self.page(r, "instances", items)
            }
            "create-instance" => self.create_instance(&body),
            "get-instance" => match self.instances.get(&param("instance-id")) {
                Some(i) => Response::json(200, json!({"instance": self.instance_json(i)})),
                None => not_found(),
            },
            "delete-instance" => match self.instances.remove(&param("instance-id")) {
                Some(_) => Response::empty(204),
                None => not_found(),
            },
            other => err(500, &format!("the fake does not serve {other}")),
        }
    }
}
