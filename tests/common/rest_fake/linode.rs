//! Linode's world for the REST fake: regions with countries, types with prices, public
//! images, profile SSH keys, Cloud Firewalls, and instances that are `provisioning` for a
//! moment after their create, then `running`. Lists page the way API v4 does (`page`,
//! `page_size` 25 to 500, default 100; `{data, page, pages, results}`) and instance lists
//! honour `X-Filter` on `tags`; errors come in its shape (`{"errors": [{"reason", "field"}]}`);
//! labels of instances are unique, as the API insists; every answer carries
//! `x-ratelimit-*` headers.
//!
//! Capacity refusals: a region (or a region and type) set with [`Linode::refuse`] answers
//! instance creates there with the 403 Linode gives for a plan not available in a region.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Request, Response, World};

/// The bundled OpenAPI operations (tests/fixtures/openapi/linode).
pub const SPEC: &str = include_str!("../../fixtures/openapi/linode/openapi.json");

/// The refusal Linode answers for a plan it cannot place in a region (recorded in
/// linode/linode_api4-python#396).
pub const SOLD_OUT: &str = "The Linode plan you chose is not currently available in the \
                            selected region. Please select another region or plan type, or \
                            contact Support for assistance.";

/// Regions the fake offers: (id, label, country).
pub const REGIONS: &[(&str, &str, &str)] = &[
    ("us-east", "Newark, NJ", "us"),
    ("us-ord", "Chicago, IL", "us"),
    ("eu-central", "Frankfurt, DE", "de"),
    ("fr-par", "Paris, FR", "fr"),
    ("ap-south", "Singapore, SG", "sg"),
];
/// Types: (id, label, vcpus, memory MB, disk MB, hourly USD).
pub const TYPES: &[(&str, &str, u32, u32, u32, f64)] = &[
    ("g6-nanode-1", "Nanode 1GB", 1, 1024, 25600, 0.0075),
    ("g6-standard-1", "Linode 2GB", 1, 2048, 51200, 0.018),
    ("g6-standard-2", "Linode 4GB", 2, 4096, 81920, 0.036),
];
/// Public images: (id, label, vendor).
pub const IMAGES: &[(&str, &str, &str)] = &[
    ("linode/ubuntu24.04", "Ubuntu 24.04 LTS", "Ubuntu"),
    ("linode/debian12", "Debian 12", "Debian"),
];

pub struct Instance {
    pub id: u64,
    pub label: String,
    pub region: String,
    pub kind: String,
    pub image: String,
    pub tags: Vec<String>,
    pub authorized_keys: Vec<String>,
    pub firewall_id: Option<u64>,
    /// The decoded user data.
    pub user_data: Option<String>,
    /// Whether a root password came with the create (its text is not kept).
    pub root_pass_given: bool,
    pub created: Instant,
    created_at: String,
}

#[derive(Default)]
pub struct Linode {
    pub instances: BTreeMap<u64, Instance>,
    /// id → (label, public key).
    pub keys: BTreeMap<u64, (String, String)>,
    /// id → firewall object as answered.
    pub firewalls: BTreeMap<u64, Value>,
    /// (region, type or "") → refusal.
    refusals: HashMap<(String, String), String>,
    next_id: u64,
    /// How long an instance stays `provisioning`.
    pub boot: Duration,
    requests: u64,
}

fn not_found() -> &'static str {
    "Not found"
}

impl Linode {
    pub fn new() -> Self {
        Linode {
            next_id: 40_000_000,
            boot: Duration::from_millis(300),
            ..Default::default()
        }
    }

    /// Refuses instance creates in `region` (of `kind`, or any type for `None`) with
    /// Linode's "not currently available" 403.
    pub fn refuse(&mut self, region: &str, kind: Option<&str>) {
        self.refusals.insert(
            (region.into(), kind.unwrap_or_default().into()),
            SOLD_OUT.into(),
        );
    }

    /// Adds a running instance directly (a fleet made by someone else, or a big one).
    pub fn add_instance(&mut self, region: &str, label: &str, tags: &[&str]) -> u64 {
        let id = self.id();
        let instance = Instance {
            id,
            label: label.to_string(),
            region: region.to_string(),
            kind: TYPES[0].0.to_string(),
            image: IMAGES[0].0.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            authorized_keys: Vec::new(),
            firewall_id: None,
            user_data: None,
            root_pass_given: true,
            created: Instant::now() - self.boot,
            created_at: now(),
        };
        self.instances.insert(id, instance);
        id
    }

    /// Deletes an instance behind oss's back.
    pub fn remove_instance(&mut self, id: u64) -> bool {
        self.instances.remove(&id).is_some()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn region_json(region: &(&str, &str, &str)) -> Value {
        let (id, label, country) = *region;
        json!({
            "id": id, "label": label, "country": country, "status": "ok", "site-type": "core",
            "capabilities": ["Linodes", "Cloud Firewall", "Metadata", "Block Storage"],
            "resolvers": {"ipv4": "192.0.2.53", "ipv6": "2001:db8::53"},
        })
    }

    fn type_json(kind: &(&str, &str, u32, u32, u32, f64)) -> Value {
        let (id, label, vcpus, memory, disk, hourly) = *kind;
        let monthly = (hourly * 730.0 * 100.0).round() / 100.0;
        json!({
            "id": id, "label": label, "vcpus": vcpus, "memory": memory, "disk": disk,
            "class": if id.contains("nanode") { "nanode" } else { "standard" },
            "price": {"hourly": hourly, "monthly": monthly},
            // Paris costs a fifth more, as some of Linode's newer regions do.
            "region_prices": [{"id": "fr-par", "hourly": hourly * 1.2, "monthly": monthly * 1.2}],
            "transfer": 1000, "network_out": 1000, "gpus": 0, "successor": null,
        })
    }

    fn image_json(image: &(&str, &str, &str)) -> Value {
        let (id, label, vendor) = *image;
        json!({
            "id": id, "label": label, "vendor": vendor, "is_public": true, "deprecated": false,
            "status": "available", "type": "manual", "size": 2500, "total_size": 2500,
            "created": "2024-04-25T12:00:00Z", "created_by": "linode", "description": null,
            "eol": null, "expiry": null, "capabilities": ["cloud-init"], "tags": [],
            "regions": [],
        })
    }

    fn instance_json(&self, i: &Instance) -> Value {
        let running = i.created.elapsed() >= self.boot;
        let (_, _, vcpus, memory, disk, _) =
            *TYPES.iter().find(|t| t.0 == i.kind).unwrap_or(&TYPES[0]);
        let n = i.id % 250 + 1;
        json!({
            "id": i.id, "label": i.label, "region": i.region, "type": i.kind,
            "image": i.image, "group": "", "tags": i.tags, "hypervisor": "kvm",
            "status": if running { "running" } else { "provisioning" },
            "ipv4": [format!("203.0.113.{n}"), format!("192.168.128.{n}")],
            "ipv6": format!("2001:db8::{n:x}/128"),
            "specs": {"vcpus": vcpus, "memory": memory, "disk": disk, "transfer": 1000,
                      "gpus": 0},
            "created": i.created_at, "updated": i.created_at,
            "has_user_data": i.user_data.is_some(), "watchdog_enabled": true,
            "host_uuid": "3a3ddd59-d9b4-4c5b-8c4e-1d1f4f4c8a7e",
            "capabilities": [], "lke_cluster_id": null, "placement_group": null,
        })
    }

    fn key_json(id: u64, (label, key): &(String, String)) -> Value {
        json!({"id": id, "label": label, "ssh_key": key, "created": "2024-04-25T12:00:00Z"})
    }

    /// One page of `items` the way Linode pages.
    fn page(&self, request: &Request, items: Vec<Value>) -> Response {
        let size: usize = request
            .query("page_size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(100)
            .clamp(25, 500);
        let page: usize = request
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let results = items.len();
        let pages = results.div_ceil(size).max(1);
        let data: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * size)
            .take(size)
            .collect();
        Response::json(
            200,
            json!({"data": data, "page": page, "pages": pages, "results": results}),
        )
    }

    fn err(&self, status: u16, reason: &str) -> Response {
        Response::json(status, json!({"errors": [{"reason": reason}]}))
    }

    fn field_err(&self, status: u16, field: &str, reason: &str) -> Response {
        Response::json(
            status,
            json!({"errors": [{"reason": reason, "field": field}]}),
        )
    }

    fn create_instance(&mut self, body: &Value) -> Response {
        let region = body["region"].as_str().unwrap_or_default().to_string();
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        if !REGIONS.iter().any(|r| r.0 == region) {
            return self.field_err(400, "region", "Region is invalid");
        }
        if !TYPES.iter().any(|t| t.0 == kind) {
            return self.field_err(400, "type", "A valid plan type by that ID was not found");
        }
        let refusal = self
            .refusals
            .get(&(region.clone(), kind.clone()))
            .or_else(|| self.refusals.get(&(region.clone(), String::new())))
            .cloned();
        if let Some(reason) = refusal {
            return self.err(403, &reason);
        }
        let image = body["image"].as_str().unwrap_or_default().to_string();
        if !IMAGES.iter().any(|i| i.0 == image) {
            return self.field_err(400, "image", "Image is invalid");
        }
        if body["root_pass"].as_str().is_none() {
            return self.field_err(400, "root_pass", "root_pass is required");
        }
        let label = body["label"].as_str().unwrap_or_default().to_string();
        if self.instances.values().any(|i| i.label == label) {
            return self.field_err(400, "label", "Label must be unique among your linodes");
        }
        let firewall_id = body["firewall_id"].as_u64();
        if let Some(id) = firewall_id
            && !self.firewalls.contains_key(&id)
        {
            return self.field_err(400, "firewall_id", "Invalid Firewall ID");
        }
        let user_data = body["metadata"]["user_data"].as_str().map(|b| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let id = self.id();
        let instance = Instance {
            id,
            label,
            region,
            kind,
            image,
            tags: strings(&body["tags"]),
            authorized_keys: strings(&body["authorized_keys"]),
            firewall_id,
            user_data,
            root_pass_given: true,
            created: Instant::now(),
            created_at: now(),
        };
        let answer = self.instance_json(&instance);
        self.instances.insert(id, instance);
        Response::json(200, answer)
    }

    fn firewall_json(&self, id: u64, label: &Value, rules: &Value, created: &str) -> Value {
        let mut rules = rules.clone();
        rules["version"] = json!(id % 7 + 1);
        rules["fingerprint"] = json!(format!("{:08x}", id));
        json!({
            "id": id, "label": label, "status": "enabled", "rules": rules, "tags": [],
            "created": created, "updated": now(),
        })
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

impl World for Linode {
    fn error(&self, status: u16, _code: &str, message: &str) -> Value {
        let reason = match status {
            401 => "Invalid Token",
            429 => "Too Many Requests",
            500..=599 => "Internal Server Error",
            _ => message,
        };
        json!({"errors": [{"reason": reason}]})
    }

    fn headers(&self) -> Vec<(String, String)> {
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        vec![
            ("x-ratelimit-limit".into(), "1600".into()),
            (
                "x-ratelimit-remaining".into(),
                (1600 - self.requests.min(1600)).to_string(),
            ),
            ("x-ratelimit-reset".into(), reset.to_string()),
        ]
    }

    fn handle(&mut self, r: &Request) -> Response {
        self.requests += 1;
        let body = r.body.clone().unwrap_or(Value::Null);
        let id = |name: &str| {
            r.op.path_params
                .get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match r.op.id.as_str() {
            "get-regions" => {
                let data: Vec<Value> = REGIONS.iter().map(Self::region_json).collect();
                let results = data.len();
                Response::json(
                    200,
                    json!({"data": data, "page": 1, "pages": 1, "results": results}),
                )
            }
            "get-linode-types" => {
                let data: Vec<Value> = TYPES.iter().map(Self::type_json).collect();
                let results = data.len();
                Response::json(
                    200,
                    json!({"data": data, "page": 1, "pages": 1, "results": results}),
                )
            }
            "get-images" => {
                let items = IMAGES.iter().map(Self::image_json).collect();
                self.page(r, items)
            }
            "get-ssh-keys" => {
                let items = self
                    .keys
                    .iter()
                    .map(|(id, k)| Self::key_json(*id, k))
                    .collect();
                self.page(r, items)
            }
            "post-add-ssh-key" => {
                let key = body["ssh_key"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let label = body["label"].as_str().unwrap_or_default().to_string();
                let id = self.id();
                self.keys.insert(id, (label, key));
                Response::json(200, Self::key_json(id, &self.keys[&id]))
            }
            "delete-ssh-key" => match self.keys.remove(&id("sshKeyId")) {
                Some(_) => Response::json(200, json!({})),
                None => self.err(404, not_found()),
            },
            "get-firewalls" => {
                let items = self.firewalls.values().cloned().collect();
                self.page(r, items)
            }
            "post-firewalls" => {
                let label = body["label"].clone();
                if self.firewalls.values().any(|f| f["label"] == label) {
                    return self.field_err(400, "label", "Label must be unique");
                }
                let id = self.id();
                let firewall = self.firewall_json(id, &label, &body["rules"], &now());
                self.firewalls.insert(id, firewall.clone());
                Response::json(200, firewall)
            }
            "put-firewall-rules" => {
                let id = id("firewallId");
                let Some(old) = self.firewalls.get(&id) else {
                    return self.err(404, not_found());
                };
                let created = old["created"].as_str().unwrap_or_default().to_string();
                let firewall = self.firewall_json(id, &old["label"].clone(), &body, &created);
                let rules = firewall["rules"].clone();
                self.firewalls.insert(id, firewall);
                Response::json(200, rules)
            }
            "delete-firewall" => match self.firewalls.remove(&id("firewallId")) {
                Some(_) => Response::json(200, json!({})),
                None => self.err(404, not_found()),
            },
            "get-linode-instances" => {
                let filter: Option<Value> = r
                    .headers
                    .get("x-filter")
                    .and_then(|f| serde_json::from_str(f).ok());
                let tag = filter
                    .as_ref()
                    .and_then(|f| f["tags"].as_str())
                    .map(String::from);
                let items = self
                    .instances
                    .values()
                    .filter(|i| tag.as_ref().is_none_or(|t| i.tags.contains(t)))
                    .map(|i| self.instance_json(i))
                    .collect();
                self.page(r, items)
            }
            "post-linode-instance" => self.create_instance(&body),
            "get-linode-instance" => match self.instances.get(&id("linodeId")) {
                Some(i) => Response::json(200, self.instance_json(i)),
                None => self.err(404, not_found()),
            },
            "delete-linode-instance" => match self.instances.remove(&id("linodeId")) {
                Some(_) => Response::json(200, json!({})),
                None => self.err(404, not_found()),
            },
            other => self.err(500, &format!("the fake does not serve {other}")),
        }
    }
}
