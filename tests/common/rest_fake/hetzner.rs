//! Hetzner Cloud's world for the REST fake: locations with countries, cities and
//! coordinates, server types with net and gross prices per location, system images (one
//! name, an x86 and an arm build), project SSH keys (one per fingerprint, as the API
//! insists), Firewalls, and servers whose create answers with a `running` action that
//! succeeds a moment later (the server `initializing`, then `running`). Lists page the way
//! API v1 does (`page`, `per_page` 1 to 50, default 25; `meta.pagination` with `next_page`)
//! and honour `label_selector` equality terms (`k=v`, `k==v`, comma-joined); errors come in
//! its shape (`{"error": {"code", "message", "details"}}`); names of servers, keys and
//! firewalls are unique per project; a deleted server's firewalls stay applied for a moment
//! (`detach`: a firewall delete meanwhile is `422 resource_in_use`, as Hetzner answers while
//! it detaches); every answer carries `RateLimit-*` headers, and a
//! throttled one says when the limit recovers in `RateLimit-Reset` (no `Retry-After`).
//!
//! Capacity refusals: a location (or a location and type) set with [`Hetzner::refuse`]
//! answers server creates there with `412 resource_unavailable`; one set with
//! [`Hetzner::fail_placement`] accepts the create and fails its action with
//! `placement_error`. The messages are the fake's own; the codes and statuses are the
//! description's.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Request, Response, World};

/// The bundled OpenAPI operations (tests/fixtures/openapi/hetzner).
pub const SPEC: &str = include_str!("../../fixtures/openapi/hetzner/openapi.json");

/// What a refused create says (with its code `resource_unavailable`).
pub const UNAVAILABLE: &str = "server type is currently unavailable in this location";

/// Locations: (name, city, country, latitude, longitude, network zone).
pub const LOCATIONS: &[(&str, &str, &str, f64, f64, &str)] = &[
    (
        "fsn1",
        "Falkenstein",
        "DE",
        50.47612,
        12.370071,
        "eu-central",
    ),
    (
        "nbg1",
        "Nuremberg",
        "DE",
        49.452102,
        11.076665,
        "eu-central",
    ),
    ("hel1", "Helsinki", "FI", 60.169855, 24.938379, "eu-central"),
    ("ash", "Ashburn, VA", "US", 39.045821, -77.487073, "us-east"),
    (
        "hil",
        "Hillsboro, OR",
        "US",
        45.54222,
        -122.95194,
        "us-west",
    ),
];
/// Server types: (name, cores, memory GB, disk GB, architecture, net EUR per hour in the
/// EU; the US costs a fifth more; arm types are EU only).
pub const TYPES: &[(&str, u32, f64, u32, &str, f64)] = &[
    ("cx22", 2, 4.0, 40, "x86", 0.006),
    ("cpx21", 3, 4.0, 80, "x86", 0.0106),
    ("cax11", 2, 4.0, 40, "arm", 0.0053),
];
/// System images: (name, os flavour, version).
pub const IMAGES: &[(&str, &str, &str)] = &[
    ("ubuntu-24.04", "ubuntu", "24.04"),
    ("debian-12", "debian", "12"),
];

pub struct Server {
    pub id: u64,
    pub name: String,
    pub location: String,
    pub server_type: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub ssh_keys: Vec<u64>,
    pub firewalls: Vec<u64>,
    pub user_data: Option<String>,
    pub created: Instant,
    created_at: String,
}

struct Action {
    command: String,
    resource: (u64, &'static str),
    started: Instant,
    started_at: String,
    /// How the action ends: `None` success.
    error: Option<(String, String)>,
}

#[derive(Default)]
pub struct Hetzner {
    pub servers: BTreeMap<u64, Server>,
    /// id → (name, public key, labels).
    pub keys: BTreeMap<u64, (String, String, Value)>,
    /// id → firewall as stored (name, labels, rules, created).
    pub firewalls: BTreeMap<u64, Value>,
    actions: BTreeMap<u64, Action>,
    /// (location, type or ""): refused at the create.
    refusals: HashSet<(String, String)>,
    /// (location, type or ""): the create's action fails with `placement_error`.
    placement_failures: HashSet<(String, String)>,
    /// (firewall, until): a deleted server's firewall still detaching.
    detaching: Vec<(u64, Instant)>,
    next_id: u64,
    /// How long a create's action runs (and the server initializes).
    pub boot: Duration,
    /// How long a deleted server's firewalls stay applied (`resource_in_use` meanwhile).
    pub detach: Duration,
    requests: u64,
}

impl Hetzner {
    pub fn new() -> Self {
        Hetzner {
            next_id: 5_000_000,
            boot: Duration::from_millis(300),
            detach: Duration::from_secs(1),
            ..Default::default()
        }
    }

    /// Refuses server creates at `location` (of `kind`, or any type for `None`) with
    /// `412 resource_unavailable`.
    pub fn refuse(&mut self, location: &str, kind: Option<&str>) {
        self.refusals
            .insert((location.into(), kind.unwrap_or_default().into()));
    }

    /// Accepts server creates at `location` (of `kind`, or any) and fails their action with
    /// `placement_error`, the server removed, as Hetzner does when no host takes it.
    pub fn fail_placement(&mut self, location: &str, kind: Option<&str>) {
        self.placement_failures
            .insert((location.into(), kind.unwrap_or_default().into()));
    }

    /// Adds a running server directly (a fleet made by someone else, or a big one).
    pub fn add_server(&mut self, location: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
        let id = self.id();
        let server = Server {
            id,
            name: name.to_string(),
            location: location.to_string(),
            server_type: TYPES[0].0.to_string(),
            image: IMAGES[0].0.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ssh_keys: Vec::new(),
            firewalls: Vec::new(),
            user_data: None,
            created: Instant::now() - self.boot,
            created_at: now(),
        };
        self.servers.insert(id, server);
        id
    }

    /// Deletes a server behind oss's back.
    pub fn remove_server(&mut self, id: u64) -> bool {
        self.servers.remove(&id).is_some()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn matches(set: &HashSet<(String, String)>, location: &str, kind: &str) -> bool {
        set.contains(&(location.to_string(), kind.to_string()))
            || set.contains(&(location.to_string(), String::new()))
    }

    fn location_json(name: &str) -> Value {
        let i = LOCATIONS.iter().position(|l| l.0 == name).unwrap_or(0);
        let (name, city, country, latitude, longitude, zone) = LOCATIONS[i];
        json!({
            "id": i + 1, "name": name, "description": format!("{city} DC Park 1"),
            "city": city, "country": country, "latitude": latitude, "longitude": longitude,
            "network_zone": zone,
        })
    }

    fn offered(kind: &(&str, u32, f64, u32, &str, f64)) -> Vec<&'static str> {
        LOCATIONS
            .iter()
            .filter(|l| kind.4 == "x86" || l.5 == "eu-central")
            .map(|l| l.0)
            .collect()
    }

    fn type_json(kind: &(&str, u32, f64, u32, &str, f64)) -> Value {
        let (name, cores, memory, disk, arch, hourly) = *kind;
        let i = TYPES.iter().position(|t| t.0 == name).unwrap_or(0);
        let money =
            |net: f64| json!({"net": format!("{net:.10}"), "gross": format!("{:.10}", net * 1.19)});
        let prices: Vec<Value> = Self::offered(kind)
            .into_iter()
            .map(|location| {
                let us = location == "ash" || location == "hil";
                let net = if us { hourly * 1.2 } else { hourly };
                json!({
                    "location": location, "included_traffic": 21_990_232_555_520u64,
                    "price_hourly": money(net), "price_monthly": money(net * 730.0),
                    "price_per_tb_traffic": money(1.0),
                })
            })
            .collect();
        let locations: Vec<Value> = Self::offered(kind)
            .into_iter()
            .map(|l| {
                let id = LOCATIONS.iter().position(|x| x.0 == l).unwrap_or(0) + 1;
                json!({"id": id, "name": l, "deprecation": null})
            })
            .collect();
        json!({
            "id": i + 1, "name": name, "description": name.to_ascii_uppercase(),
            "category": "shared_vcpu", "cores": cores, "memory": memory, "disk": disk,
            "architecture": arch, "cpu_type": "shared", "storage_type": "local",
            "deprecated": false, "deprecation": null, "prices": prices, "locations": locations,
        })
    }

    /// The images: each name once per architecture.
    fn images_json() -> Vec<Value> {
        let mut all = Vec::new();
        for (i, (name, flavor, version)) in IMAGES.iter().enumerate() {
            for (j, arch) in ["x86", "arm"].into_iter().enumerate() {
                all.push(json!({
                    "id": 100 + i * 2 + j, "name": name, "type": "system",
                    "status": "available", "description": format!("{name} ({arch})"),
                    "os_flavor": flavor, "os_version": version, "architecture": arch,
                    "image_size": null, "disk_size": 5, "created": "2024-04-25T12:00:00Z",
                    "created_from": null, "bound_to": null, "deleted": null,
                    "deprecated": null, "rapid_deploy": true, "labels": {},
                    "protection": {"delete": false},
                }));
            }
        }
        all
    }

    fn image_of(name: &str, arch: &str) -> Value {
        Self::images_json()
            .into_iter()
            .find(|i| i["name"] == name && i["architecture"] == arch)
            .unwrap_or(Value::Null)
    }

    fn server_json(&self, s: &Server) -> Value {
        let running = s.created.elapsed() >= self.boot;
        let kind = TYPES
            .iter()
            .find(|t| t.0 == s.server_type)
            .unwrap_or(&TYPES[0]);
        let location = Self::location_json(&s.location);
        let n = s.id % 250 + 1;
        let firewalls: Vec<Value> = s
            .firewalls
            .iter()
            .map(|id| json!({"id": id, "status": if running { "applied" } else { "pending" }}))
            .collect();
        json!({
            "id": s.id, "name": s.name, "labels": s.labels,
            "status": if running { "running" } else { "initializing" },
            "created": s.created_at, "server_type": Self::type_json(kind),
            "location": location,
            "datacenter": {
                "id": location["id"], "name": format!("{}-dc1", s.location),
                "description": format!("{} 1 DC 1", s.location), "location": location,
                "server_types": {"available": [1, 2, 3], "available_for_migration": [1, 2, 3],
                                 "supported": [1, 2, 3]},
            },
            "image": Self::image_of(&s.image, kind.4),
            "iso": null, "rescue_enabled": false, "locked": false, "backup_window": null,
            "outgoing_traffic": 0, "ingoing_traffic": 0, "included_traffic": 21_990_232_555_520u64,
            "primary_disk_size": kind.3, "protection": {"delete": false, "rebuild": false},
            "private_net": [],
            "public_net": {
                "ipv4": {"id": n, "ip": format!("203.0.113.{n}"), "blocked": false,
                         "dns_ptr": format!("static.{n}.113.0.203.clients.your-server.de")},
                "ipv6": {"id": n + 1000, "ip": format!("2001:db8:{n:x}::/64"), "blocked": false,
                         "dns_ptr": []},
                "floating_ips": [], "firewalls": firewalls,
            },
            "load_balancers": [], "volumes": [], "placement_group": null,
        })
    }

    fn action_json(&self, id: u64) -> Value {
        let a = &self.actions[&id];
        let done = a.started.elapsed() >= self.boot;
        let (status, error) = match (&a.error, done) {
            (_, false) => ("running", Value::Null),
            (None, true) => ("success", Value::Null),
            (Some((code, message)), true) => ("error", json!({"code": code, "message": message})),
        };
        json!({
            "id": id, "command": a.command, "status": status, "progress": if done { 100 } else { 0 },
            "started": a.started_at, "finished": if done { json!(now()) } else { Value::Null },
            "resources": [{"id": a.resource.0, "type": a.resource.1}], "error": error,
        })
    }

    fn action(
        &mut self,
        command: &str,
        resource: (u64, &'static str),
        error: Option<(String, String)>,
    ) -> u64 {
        let id = self.id();
        self.actions.insert(
            id,
            Action {
                command: command.into(),
                resource,
                started: Instant::now(),
                started_at: now(),
                error,
            },
        );
        id
    }

    /// A finished action (deletes, rule sets: done at once in the fake).
    fn done(&mut self, command: &str, resource: (u64, &'static str)) -> Value {
        let id = self.action(command, resource, None);
        let boot = self.boot;
        let action = self.actions.get_mut(&id).unwrap();
        action.started = action.started.checked_sub(boot).unwrap_or(action.started);
        self.action_json(id)
    }

    fn key_json(id: u64, (name, key, labels): &(String, String, Value)) -> Value {
        json!({
            "id": id, "name": name, "public_key": key, "labels": labels,
            "fingerprint": format!("b7:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:{:02x}:{:02x}", id % 256, (id / 256) % 256),
            "created": "2024-04-25T12:00:00Z",
        })
    }

    fn firewall_json(&self, id: u64) -> Value {
        let mut f = self.firewalls[&id].clone();
        let applied: Vec<Value> = self
            .servers
            .values()
            .filter(|s| s.firewalls.contains(&id))
            .map(|s| json!({"type": "server", "server": {"id": s.id}}))
            .collect();
        f["id"] = json!(id);
        f["applied_to"] = json!(applied);
        f
    }

    /// Rules as the API answers them (every field present).
    fn stored_rules(rules: &Value) -> Value {
        let rules: Vec<Value> = rules
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                json!({
                    "direction": r["direction"], "protocol": r["protocol"],
                    "port": r.get("port").cloned().unwrap_or(Value::Null),
                    "source_ips": r.get("source_ips").cloned().unwrap_or(json!([])),
                    "destination_ips": r.get("destination_ips").cloned().unwrap_or(json!([])),
                    "description": r.get("description").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        Value::from(rules)
    }

    /// Whether `labels` satisfies the equality terms of `selector` (`None`: a term the fake
    /// does not understand).
    fn selects(labels: &Value, selector: &str) -> Option<bool> {
        let mut all = true;
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (key, value) = term.split_once("==").or_else(|| term.split_once('='))?;
            if key.contains('!') || key.contains(' ') {
                return None;
            }
            all &= labels[key.trim()] == value.trim();
        }
        Some(all)
    }

    /// One page of `items` (under `key`) the way Hetzner pages, filtered by the request's
    /// `label_selector`.
    fn page(&self, request: &Request, key: &str, items: Vec<Value>) -> Response {
        let items = match request.query("label_selector") {
            None => items,
            Some(selector) => {
                let mut kept = Vec::new();
                for item in items {
                    match Self::selects(&item["labels"], selector) {
                        None => return self.err(400, "invalid_input", "invalid label_selector"),
                        Some(true) => kept.push(item),
                        Some(false) => {}
                    }
                }
                kept
            }
        };
        let per_page: usize = request
            .query("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(25)
            .clamp(1, 50);
        let page: usize = request
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let total = items.len();
        let last = total.div_ceil(per_page).max(1);
        let data: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let mut body = json!({"meta": {"pagination": {
            "page": page, "per_page": per_page, "last_page": last, "total_entries": total,
            "previous_page": if page > 1 { json!(page - 1) } else { Value::Null },
            "next_page": if page < last { json!(page + 1) } else { Value::Null },
        }}});
        body[key] = Value::from(data);
        Response::json(200, body)
    }

    fn err(&self, status: u16, code: &str, message: &str) -> Response {
        Response::json(status, self.error(status, code, message))
    }

    fn create_server(&mut self, body: &Value) -> Response {
        let location = body["location"].as_str().unwrap_or_default().to_string();
        let kind = body["server_type"].as_str().unwrap_or_default().to_string();
        let Some(offer) = TYPES.iter().find(|t| t.0 == kind) else {
            return self.err(422, "invalid_input", "server_type is invalid");
        };
        if !Self::offered(offer).contains(&location.as_str()) {
            return self.err(422, "invalid_input", "location is invalid");
        }
        if Self::matches(&self.refusals, &location, &kind) {
            return self.err(412, "resource_unavailable", UNAVAILABLE);
        }
        let image = body["image"].as_str().unwrap_or_default().to_string();
        if !IMAGES.iter().any(|i| i.0 == image) {
            return self.err(422, "invalid_input", "image is invalid");
        }
        let name = body["name"].as_str().unwrap_or_default().to_string();
        if self.servers.values().any(|s| s.name == name) {
            return self.err(409, "uniqueness_error", "server name is already used");
        }
        let mut ssh_keys = Vec::new();
        for key in body["ssh_keys"].as_array().into_iter().flatten() {
            let found = key.as_str().and_then(|k| {
                k.parse::<u64>()
                    .ok()
                    .filter(|id| self.keys.contains_key(id))
                    .or_else(|| self.keys.iter().find(|(_, v)| v.0 == k).map(|(id, _)| *id))
            });
            match found {
                Some(id) => ssh_keys.push(id),
                None => return self.err(422, "invalid_input", "ssh_keys: unknown SSH key"),
            }
        }
        let mut firewalls = Vec::new();
        for f in body["firewalls"].as_array().into_iter().flatten() {
            match f["firewall"]
                .as_u64()
                .filter(|id| self.firewalls.contains_key(id))
            {
                Some(id) => firewalls.push(id),
                None => return self.err(422, "invalid_input", "firewalls: unknown firewall"),
            }
        }
        let labels: BTreeMap<String, String> = body["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let id = self.id();
        let server = Server {
            id,
            name,
            location: location.clone(),
            server_type: kind.clone(),
            image,
            labels,
            ssh_keys,
            firewalls,
            user_data: body["user_data"].as_str().map(String::from),
            created: Instant::now(),
            created_at: now(),
        };
        let failure = Self::matches(&self.placement_failures, &location, &kind).then(|| {
            (
                "placement_error".to_string(),
                "no host in this location can take the server type".to_string(),
            )
        });
        let action = self.action("create_server", (id, "server"), failure.clone());
        let mut answer = json!({
            "server": self.server_json(&server),
            "action": self.action_json(action),
            "next_actions": [],
            // Hetzner answers one when no key is given; oss must not keep it.
            "root_password": if server.ssh_keys.is_empty() { json!("fake-root-password") } else { Value::Null },
        });
        answer["server"]["status"] = json!("initializing");
        // A failed placement leaves no server behind.
        if failure.is_none() {
            self.servers.insert(id, server);
        }
        Response::json(201, answer)
    }
}

fn now() -> String {
    oss::clock::now_rfc3339()
}

impl World for Hetzner {
    fn error(&self, status: u16, code: &str, message: &str) -> Value {
        let (code, message) = match status {
            401 => ("unauthorized", "unable to authenticate"),
            429 => (
                "rate_limit_exceeded",
                "limit of 3600 requests per hour reached",
            ),
            500 => ("server_error", "Error within the API backend"),
            502 => (
                "bad_gateway",
                "The request could not be answered by the API backend",
            ),
            503 => (
                "unavailable",
                "A service or product is currently not available",
            ),
            504 => ("timeout", "The request could not be answered in time"),
            400 if code == "bad_request" => ("invalid_input", message),
            _ => (code, message),
        };
        json!({"error": {"code": code, "message": message, "details": {}}})
    }

    fn headers(&self) -> Vec<(String, String)> {
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        vec![
            ("ratelimit-limit".into(), "3600".into()),
            (
                "ratelimit-remaining".into(),
                (3600 - self.requests.min(3599)).to_string(),
            ),
            ("ratelimit-reset".into(), reset.to_string()),
        ]
    }

    fn throttled(&self, secs: u32) -> Vec<(String, String)> {
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + u64::from(secs);
        vec![
            ("ratelimit-limit".into(), "3600".into()),
            ("ratelimit-remaining".into(), "0".into()),
            ("ratelimit-reset".into(), reset.to_string()),
        ]
    }

    fn handle(&mut self, r: &Request) -> Response {
        self.requests += 1;
        let body = r.body.clone().unwrap_or(Value::Null);
        let id =
            r.op.path_params
                .get("id")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        match r.op.id.as_str() {
            "list_locations" => {
                let items = LOCATIONS.iter().map(|l| Self::location_json(l.0)).collect();
                self.page(r, "locations", items)
            }
            "list_server_types" => {
                let items = TYPES.iter().map(Self::type_json).collect();
                self.page(r, "server_types", items)
            }
            "list_images" => {
                let wanted =
                    |param: &str, value: &Value| r.query(param).is_none_or(|want| value == want);
                let items = Self::images_json()
                    .into_iter()
                    .filter(|i| wanted("type", &i["type"]) && wanted("status", &i["status"]))
                    .collect();
                self.page(r, "images", items)
            }
            "list_ssh_keys" => {
                let items = self
                    .keys
                    .iter()
                    .map(|(id, k)| Self::key_json(*id, k))
                    .collect();
                self.page(r, "ssh_keys", items)
            }
            "create_ssh_key" => {
                let key = body["public_key"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let name = body["name"].as_str().unwrap_or_default().to_string();
                if self.keys.values().any(|k| k.1 == key) {
                    return self.err(
                        409,
                        "uniqueness_error",
                        "SSH key with the same fingerprint already exists",
                    );
                }
                if self.keys.values().any(|k| k.0 == name) {
                    return self.err(409, "uniqueness_error", "SSH key name is already used");
                }
                let id = self.id();
                let labels = body.get("labels").cloned().unwrap_or(json!({}));
                self.keys.insert(id, (name, key, labels));
                Response::json(201, json!({"ssh_key": Self::key_json(id, &self.keys[&id])}))
            }
            "delete_ssh_key" => match self.keys.remove(&id) {
                Some(_) => Response::empty(204),
                None => self.err(404, "not_found", "SSH key not found"),
            },
            "list_firewalls" => {
                let ids: Vec<u64> = self.firewalls.keys().copied().collect();
                let items = ids.into_iter().map(|id| self.firewall_json(id)).collect();
                self.page(r, "firewalls", items)
            }
            "create_firewall" => {
                let name = body["name"].as_str().unwrap_or_default().to_string();
                if self.firewalls.values().any(|f| f["name"] == name.as_str()) {
                    return self.err(409, "uniqueness_error", "firewall name is already used");
                }
                let id = self.id();
                self.firewalls.insert(
                    id,
                    json!({
                        "name": name, "labels": body.get("labels").cloned().unwrap_or(json!({})),
                        "rules": Self::stored_rules(&body["rules"]), "created": now(),
                    }),
                );
                let action = self.done("set_firewall_rules", (id, "firewall"));
                Response::json(
                    201,
                    json!({"firewall": self.firewall_json(id), "actions": [action]}),
                )
            }
            "set_rules" => {
                if !self.firewalls.contains_key(&id) {
                    return self.err(404, "not_found", "firewall not found");
                }
                self.firewalls.get_mut(&id).unwrap()["rules"] = Self::stored_rules(&body["rules"]);
                let action = self.done("set_firewall_rules", (id, "firewall"));
                Response::json(201, json!({"actions": [action]}))
            }
            "delete_firewall" => {
                if !self.firewalls.contains_key(&id) {
                    return self.err(404, "not_found", "firewall not found");
                }
                let now = Instant::now();
                self.detaching.retain(|(_, until)| *until > now);
                if self.servers.values().any(|s| s.firewalls.contains(&id))
                    || self.detaching.iter().any(|(f, _)| *f == id)
                {
                    return self.err(
                        422,
                        "resource_in_use",
                        "firewall still applied to a resource",
                    );
                }
                self.firewalls.remove(&id);
                Response::empty(204)
            }
            "list_servers" => {
                let items = self.servers.values().map(|s| self.server_json(s)).collect();
                self.page(r, "servers", items)
            }
            "create_server" => self.create_server(&body),
            "get_server" => match self.servers.get(&id) {
                Some(s) => Response::json(200, json!({"server": self.server_json(s)})),
                None => self.err(404, "not_found", "server not found"),
            },
            "delete_server" => match self.servers.remove(&id) {
                Some(server) => {
                    let until = Instant::now() + self.detach;
                    self.detaching
                        .extend(server.firewalls.iter().map(|f| (*f, until)));
                    let action = self.done("delete_server", (id, "server"));
                    Response::json(200, json!({"action": action}))
                }
                None => self.err(404, "not_found", "server not found"),
            },
            "get_action" if self.actions.contains_key(&id) => {
                Response::json(200, json!({"action": self.action_json(id)}))
            }
            "get_action" => self.err(404, "not_found", "action not found"),
            other => self.err(
                500,
                "server_error",
                &format!("the fake does not serve {other}"),
            ),
        }
    }
}
