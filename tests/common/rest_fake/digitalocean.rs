//! DigitalOcean's world for the REST fake: regions, sizes with prices, distribution images,
//! SSH keys (one per public key, as the API insists), firewalls, and droplets that are `new`
//! for a moment after their create, then `active` with addresses. Lists page the way the API
//! does (`page`, `per_page` up to 200, `links.pages.next`, `meta.total`); errors come in its
//! shape (`{"id", "message", "request_id"}`); every answer carries `ratelimit-*` headers.
//!
//! Capacity refusals: a region (or a region and size) set with [`DigitalOcean::refuse`]
//! answers droplet creates there with DigitalOcean's 422.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Request, Response, World};

/// The bundled OpenAPI operations (tests/fixtures/openapi/digitalocean).
pub const SPEC: &str = include_str!("../../fixtures/openapi/digitalocean/openapi.json");

/// Regions the fake offers: (slug, name).
pub const REGIONS: &[(&str, &str)] = &[
    ("nyc1", "New York 1"),
    ("nyc3", "New York 3"),
    ("ams3", "Amsterdam 3"),
    ("fra1", "Frankfurt 1"),
    ("sgp1", "Singapore 1"),
];
/// Sizes: (slug, vcpus, memory MiB, disk GB, hourly USD).
pub const SIZES: &[(&str, u32, u32, u32, f64)] = &[
    ("s-1vcpu-1gb", 1, 1024, 25, 0.00893),
    ("s-1vcpu-2gb", 1, 2048, 50, 0.01786),
    ("s-2vcpu-4gb", 2, 4096, 80, 0.03571),
];
/// Distribution images: (id, slug, distribution, name).
pub const IMAGES: &[(u64, &str, &str, &str)] = &[
    (101, "ubuntu-24-04-x64", "Ubuntu", "24.04 (LTS) x64"),
    (102, "debian-12-x64", "Debian", "12 x64"),
];

pub struct Droplet {
    pub id: u64,
    pub name: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub tags: Vec<String>,
    pub ssh_keys: Vec<String>,
    pub user_data: Option<String>,
    pub created: Instant,
    created_at: String,
}

#[derive(Default)]
pub struct DigitalOcean {
    pub droplets: BTreeMap<u64, Droplet>,
    /// id → (name, public key, fingerprint).
    pub keys: BTreeMap<u64, (String, String, String)>,
    /// id → firewall object as answered.
    pub firewalls: BTreeMap<String, Value>,
    /// (region, size or "") → refusal message.
    refusals: HashMap<(String, String), String>,
    next_id: u64,
    /// How long a droplet stays `new`.
    pub boot: Duration,
    requests: u64,
}

impl DigitalOcean {
    pub fn new() -> Self {
        DigitalOcean {
            next_id: 3_000_000,
            boot: Duration::from_millis(300),
            ..Default::default()
        }
    }

    /// Refuses droplet creates in `region` (of `size`, or any size for `None`) the way
    /// DigitalOcean does when a size is out of stock there.
    pub fn refuse(&mut self, region: &str, size: Option<&str>) {
        self.refusals.insert(
            (region.into(), size.unwrap_or_default().into()),
            "Size is not available in this region.".into(),
        );
    }

    /// Adds an active droplet directly (a fleet made by someone else, or a big one).
    pub fn add_droplet(&mut self, region: &str, name: &str, tags: &[&str]) -> u64 {
        let id = self.id();
        let droplet = Droplet {
            id,
            name: name.to_string(),
            region: region.to_string(),
            size: SIZES[0].0.to_string(),
            image: IMAGES[0].1.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ssh_keys: Vec::new(),
            user_data: None,
            created: Instant::now() - self.boot,
            created_at: oss::clock::now_rfc3339(),
        };
        self.droplets.insert(id, droplet);
        id
    }

    /// Deletes a droplet behind oss's back.
    pub fn remove_droplet(&mut self, id: u64) -> bool {
        self.droplets.remove(&id).is_some()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn region_json(slug: &str) -> Value {
        let name = REGIONS
            .iter()
            .find(|(s, _)| *s == slug)
            .map_or(slug, |(_, n)| n);
        json!({
            "slug": slug, "name": name, "available": true,
            "features": ["backups", "ipv6", "metadata", "install_agent"],
            "sizes": SIZES.iter().map(|s| s.0).collect::<Vec<_>>(),
        })
    }

    fn size_json(slug: &str) -> Value {
        let (slug, vcpus, memory, disk, hourly) =
            *SIZES.iter().find(|s| s.0 == slug).unwrap_or(&SIZES[0]);
        json!({
            "slug": slug, "vcpus": vcpus, "memory": memory, "disk": disk, "transfer": 1.0,
            "price_hourly": hourly, "price_monthly": (hourly * 730.0 * 100.0).round() / 100.0,
            "regions": REGIONS.iter().map(|r| r.0).collect::<Vec<_>>(),
            "available": true, "description": "Basic",
        })
    }

    fn image_json(image: &(u64, &str, &str, &str)) -> Value {
        let (id, slug, distribution, name) = *image;
        json!({
            "id": id, "name": name, "distribution": distribution, "slug": slug,
            "public": true, "regions": REGIONS.iter().map(|r| r.0).collect::<Vec<_>>(),
            "created_at": "2024-04-25T12:00:00Z", "type": "base", "min_disk_size": 7,
            "size_gigabytes": 2.4, "description": name, "tags": [], "status": "available",
        })
    }

    fn droplet_json(&self, d: &Droplet) -> Value {
        let active = d.created.elapsed() >= self.boot;
        let size = Self::size_json(&d.size);
        let image = IMAGES
            .iter()
            .find(|i| i.1 == d.image)
            .map_or_else(|| Self::image_json(&IMAGES[0]), Self::image_json);
        let n = d.id % 250 + 1;
        let networks = if active {
            json!({"v4": [
                {"ip_address": format!("203.0.113.{n}"), "netmask": "255.255.255.0",
                 "gateway": "203.0.113.254", "type": "public"},
                {"ip_address": format!("10.10.0.{n}"), "netmask": "255.255.0.0",
                 "gateway": "10.10.0.1", "type": "private"}
            ], "v6": []})
        } else {
            json!({"v4": [], "v6": []})
        };
        json!({
            "id": d.id, "name": d.name, "memory": size["memory"], "vcpus": size["vcpus"],
            "disk": size["disk"], "locked": false,
            "status": if active { "active" } else { "new" },
            "created_at": d.created_at, "features": [], "backup_ids": [], "snapshot_ids": [],
            "next_backup_window": null, "image": image, "size": size, "size_slug": d.size,
            "networks": networks, "region": Self::region_json(&d.region), "tags": d.tags,
            "volume_ids": [], "vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
        })
    }

    /// One page of `items` the way DigitalOcean pages: `page`, `per_page` (default 20),
    /// `links.pages` with absolute URLs, `meta.total`.
    fn page(&self, request: &Request, key: &str, items: Vec<Value>) -> Response {
        let per_page: usize = request
            .query("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(20)
            .clamp(1, 200);
        let page: usize = request
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let total = items.len();
        let last = total.div_ceil(per_page).max(1);
        let slice: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let link = |n: usize| {
            let mut query: Vec<String> = request
                .query
                .iter()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            query.push(format!("page={n}"));
            format!("{}{}?{}", request.base, request.path, query.join("&"))
        };
        let mut pages = serde_json::Map::new();
        if page < last {
            pages.insert("next".into(), json!(link(page + 1)));
            pages.insert("last".into(), json!(link(last)));
        }
        if page > 1 {
            pages.insert("first".into(), json!(link(1)));
            pages.insert("prev".into(), json!(link(page - 1)));
        }
        Response::json(
            200,
            json!({key: slice, "links": {"pages": pages}, "meta": {"total": total}}),
        )
    }

    fn err(&self, status: u16, code: &str, message: &str) -> Response {
        Response::json(status, self.error(status, code, message))
    }

    fn create_droplet(&mut self, body: &Value) -> Response {
        let region = body["region"].as_str().unwrap_or("nyc1").to_string();
        let size = body["size"].as_str().unwrap_or_default().to_string();
        if !REGIONS.iter().any(|r| r.0 == region) {
            return self.err(422, "unprocessable_entity", "Region is not available");
        }
        if !SIZES.iter().any(|s| s.0 == size) {
            return self.err(
                422,
                "unprocessable_entity",
                "You specified an invalid size for Droplet creation.",
            );
        }
        let refusal = self
            .refusals
            .get(&(region.clone(), size.clone()))
            .or_else(|| self.refusals.get(&(region.clone(), String::new())))
            .cloned();
        if let Some(message) = refusal {
            return self.err(422, "unprocessable_entity", &message);
        }
        let image = match &body["image"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !IMAGES.iter().any(|i| i.1 == image) {
            return self.err(
                422,
                "unprocessable_entity",
                "You specified an invalid image for Droplet creation.",
            );
        }
        let ssh_keys: Vec<String> = body["ssh_keys"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| k.as_str().map_or_else(|| k.to_string(), String::from))
            .collect();
        for key in &ssh_keys {
            let known = self
                .keys
                .iter()
                .any(|(id, (_, _, fp))| id.to_string() == *key || fp == key);
            if !known {
                return self.err(
                    422,
                    "unprocessable_entity",
                    "You specified an invalid SSH key.",
                );
            }
        }
        let id = self.id();
        let droplet = Droplet {
            id,
            name: body["name"].as_str().unwrap_or_default().to_string(),
            region,
            size,
            image,
            tags: body["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            ssh_keys,
            user_data: body["user_data"].as_str().map(String::from),
            created: Instant::now(),
            created_at: oss::clock::now_rfc3339(),
        };
        let answer = self.droplet_json(&droplet);
        self.droplets.insert(id, droplet);
        Response::json(
            202,
            json!({"droplet": answer, "links": {"actions": [
                {"id": id + 7, "rel": "create", "href": format!("/v2/actions/{}", id + 7)}
            ]}}),
        )
    }

    fn firewall_from(&self, id: &str, body: &Value, created_at: &str) -> Value {
        json!({
            "id": id, "name": body["name"], "status": "succeeded", "created_at": created_at,
            "inbound_rules": body["inbound_rules"], "outbound_rules": body["outbound_rules"],
            "droplet_ids": body.get("droplet_ids").cloned().unwrap_or(json!([])),
            "tags": body.get("tags").cloned().unwrap_or(json!([])), "pending_changes": [],
        })
    }
}

impl World for DigitalOcean {
    fn error(&self, _status: u16, code: &str, message: &str) -> Value {
        json!({"id": code, "message": message, "request_id": format!("fake-{}", self.requests)})
    }

    fn headers(&self) -> Vec<(String, String)> {
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        vec![
            ("ratelimit-limit".into(), "5000".into()),
            (
                "ratelimit-remaining".into(),
                (5000 - self.requests.min(5000)).to_string(),
            ),
            ("ratelimit-reset".into(), reset.to_string()),
        ]
    }

    fn handle(&mut self, r: &Request) -> Response {
        self.requests += 1;
        let body = r.body.clone().unwrap_or(Value::Null);
        let param = |name: &str| r.op.path_params.get(name).cloned().unwrap_or_default();
        match r.op.id.as_str() {
            "regions_list" => {
                let items = REGIONS.iter().map(|r| Self::region_json(r.0)).collect();
                self.page(r, "regions", items)
            }
            "sizes_list" => {
                let items = SIZES.iter().map(|s| Self::size_json(s.0)).collect();
                self.page(r, "sizes", items)
            }
            "images_list" => {
                let items = IMAGES.iter().map(Self::image_json).collect();
                self.page(r, "images", items)
            }
            "sshKeys_list" => {
                let items = self
                    .keys
                    .iter()
                    .map(|(id, (name, key, fp))| {
                        json!({"id": id, "name": name, "public_key": key, "fingerprint": fp})
                    })
                    .collect();
                self.page(r, "ssh_keys", items)
            }
            "sshKeys_create" => {
                let key = body["public_key"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                if self.keys.values().any(|(_, k, _)| *k == key) {
                    return self.err(
                        422,
                        "unprocessable_entity",
                        "SSH Key is already in use on your account",
                    );
                }
                let id = self.id();
                let fp = format!(
                    "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:{:02x}:{:02x}",
                    id % 256,
                    (id / 256) % 256
                );
                let name = body["name"].as_str().unwrap_or_default().to_string();
                self.keys
                    .insert(id, (name.clone(), key.clone(), fp.clone()));
                Response::json(
                    201,
                    json!({"ssh_key": {"id": id, "name": name, "public_key": key, "fingerprint": fp}}),
                )
            }
            "sshKeys_delete" => {
                let id = param("ssh_key_identifier");
                let found = self
                    .keys
                    .iter()
                    .find(|(k, (_, _, fp))| k.to_string() == id || *fp == id)
                    .map(|(k, _)| *k);
                match found {
                    Some(k) => {
                        self.keys.remove(&k);
                        Response::empty(204)
                    }
                    None => self.err(
                        404,
                        "not_found",
                        "The resource you were accessing could not be found.",
                    ),
                }
            }
            "firewalls_list" => {
                let items = self.firewalls.values().cloned().collect();
                self.page(r, "firewalls", items)
            }
            "firewalls_create" => {
                let id = format!("bb4b2611-3d72-467b-8602-{:012x}", self.id());
                let firewall = self.firewall_from(&id, &body, &oss::clock::now_rfc3339());
                self.firewalls.insert(id, firewall.clone());
                Response::json(202, json!({"firewall": firewall}))
            }
            "firewalls_update" => {
                let id = param("firewall_id");
                let Some(old) = self.firewalls.get(&id) else {
                    return self.err(
                        404,
                        "not_found",
                        "The resource you were accessing could not be found.",
                    );
                };
                let created = old["created_at"].as_str().unwrap_or_default().to_string();
                let firewall = self.firewall_from(&id, &body, &created);
                self.firewalls.insert(id, firewall.clone());
                Response::json(200, json!({"firewall": firewall}))
            }
            "firewalls_delete" => match self.firewalls.remove(&param("firewall_id")) {
                Some(_) => Response::empty(204),
                None => self.err(
                    404,
                    "not_found",
                    "The resource you were accessing could not be found.",
                ),
            },
            "droplets_list" => {
                let tag = r.query("tag_name").map(String::from);
                let items = self
                    .droplets
                    .values()
                    .filter(|d| tag.as_ref().is_none_or(|t| d.tags.contains(t)))
                    .map(|d| self.droplet_json(d))
                    .collect();
                self.page(r, "droplets", items)
            }
            "droplets_create" => self.create_droplet(&body),
            "droplets_get" => match param("droplet_id")
                .parse()
                .ok()
                .and_then(|id| self.droplets.get(&id))
            {
                Some(d) => Response::json(200, json!({"droplet": self.droplet_json(d)})),
                None => self.err(
                    404,
                    "not_found",
                    "The resource you were accessing could not be found.",
                ),
            },
            "droplets_destroy" => match param("droplet_id")
                .parse()
                .ok()
                .and_then(|id: u64| self.droplets.remove(&id))
            {
                Some(_) => Response::empty(204),
                None => self.err(
                    404,
                    "not_found",
                    "The resource you were accessing could not be found.",
                ),
            },
            other => self.err(
                500,
                "server_error",
                &format!("the fake does not serve {other}"),
            ),
        }
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
