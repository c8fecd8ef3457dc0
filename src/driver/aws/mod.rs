//! The `aws` provider: EC2 instances, key pairs and security groups over the real EC2 Query
//! API, so the same driver works against AWS and against an emulator (moto) given as
//! `endpoint`.
//!
//! - **Offerings** (`catalog`): zones (DescribeAvailabilityZones), instance types with their
//!   vCPUs, memory and architecture (DescribeInstanceTypes, DescribeInstanceTypeOfferings) and
//!   images (DescribeImages, see `images`) of the configured regions, priced from the price
//!   table shipped in oss. Read once per process. When the API cannot be reached (or no
//!   credentials are found) the price table's offerings stand in, so planning works and apply
//!   fails over to the next provider.
//! - **Key pairs** (ImportKeyPair) and **security groups** (CreateSecurityGroup in the default
//!   VPC, one TCP ingress rule per port from anywhere), one each per region, named
//!   `oss-STRATEGY-LINEAGE8`.
//! - **Nodes**: RunInstances with the region's key pair and security group, tagged with the
//!   resource address and the state lineage (and what it takes to rebuild the resource from
//!   the tags alone), then polled until `running` with an address; optionally until port 22
//!   answers (`ssh_check`). The node's command becomes its user data.
//! - **Adoption**: a create first looks for an instance with this address and lineage
//!   (a crash between RunInstances and the state write left it) and adopts it; RunInstances
//!   also carries a client token, so AWS itself never starts a second one for a retried call.
//! - **Refresh** is batched: per region one DescribeInstances filtered by the lineage tag per
//!   page of up to 1,000 instances, one DescribeKeyPairs and one DescribeSecurityGroups.
//!
//! Errors carry AWS's code and message and are classified in `error` (docs/aws.md has the
//! table). The driver never reads or writes the state file, never prints, and never puts a
//! credential into a message.

mod client;
mod credentials;
mod ec2;
mod error;
mod images;
mod offerings;
mod xml;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::{CreateRequest, Driver, DriverConfig, DriverError, ErrorClass, Refreshed, Scope};
use crate::catalog::Catalog;
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};
use client::{Api, Params, Repeat};
use ec2::{
    Group, Instance, KeyPair, TAG_ADDRESS, TAG_COMMAND, TAG_DEPENDENCIES, TAG_IMAGE, TAG_LINEAGE,
    TAG_NAME, TAG_PORTS, TAG_PROVIDER, Tags, region_of,
};
use images::{ImageSpec, Source};

pub use error::table as error_table;

const SETTINGS: [&str; 9] = [
    "access_key_id",
    "secret_access_key",
    "session_token",
    "profile",
    "endpoint",
    "regions",
    "ssh_check",
    "images",
    "ready_timeout",
];

/// How long a node may take to run (and answer on port 22) by default.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// Polling of a launching or terminating instance: first pause, growth, cap.
const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(5);
/// DescribeInstances page size (the API's maximum).
const PAGE: &str = "1000";
/// A guard against an endpoint that hands out tokens forever.
const MAX_PAGES: usize = 10_000;
const SSH_PORT: u16 = 22;

/// The `aws` driver. See the module documentation.
pub struct AwsDriver {
    name: String,
    regions: Vec<String>,
    ssh_check: bool,
    ready_timeout: Duration,
    images: Vec<ImageSpec>,
    api: Arc<Api>,
    /// Where the API is, for messages (`http://127.0.0.1:5000`, `ec2.REGION.amazonaws.com`).
    endpoint_text: String,
    /// Part of every client token: a retried RunInstances of this process is one launch; a
    /// later process launching the same address again (a replacement) is another.
    nonce: u64,
    caches: Mutex<Caches>,
    /// Per (region, lineage): the pending or running instances of the lineage by address,
    /// read once (by refresh, or by the first launch) so that launches look for an instance
    /// to adopt without one DescribeInstances each. A hit is checked by id before adopting.
    live: Mutex<HashMap<(String, String), LiveCell>>,
    /// (region, address) of every launch this process attempted: a retried launch looks for
    /// its instance afresh (the snapshot above predates it).
    launched: Mutex<HashSet<(String, Address)>>,
    /// The catalog, once read (the async lock keeps concurrent first readers to one read).
    catalog: tokio::sync::Mutex<Option<Catalog>>,
}

/// Live instances of one lineage in one region, by the address they were created for.
type Live = HashMap<Address, Instance>;
/// [`Live`], read once.
type LiveCell = Arc<tokio::sync::OnceCell<Live>>;

#[derive(Default)]
struct Caches {
    /// (region, image name) → architecture → AMI id.
    amis: HashMap<(String, String), BTreeMap<String, String>>,
    /// instance type → architecture, as the API says.
    arches: HashMap<String, String>,
    /// region → default VPC id.
    vpcs: HashMap<String, String>,
}

impl AwsDriver {
    /// Builds the driver from its strategy block; see docs/aws.md for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// Like [`AwsDriver::new`], reading the environment through `var` (for tests).
    pub fn with_env(
        config: DriverConfig,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DriverError> {
        let name = config.name.clone();
        let settings = &config.settings;
        if let Some(key) = settings.keys().find(|k| !SETTINGS.contains(&k.as_str())) {
            return Err(DriverError::fatal(format!(
                "Unknown aws setting `{key}` (provider `{name}`); known settings: {}.",
                SETTINGS.join(", ")
            )));
        }
        let bad = |key: &str, what: &str| {
            DriverError::fatal(format!(
                "The aws setting `{key}` (provider `{name}`) must be {what}."
            ))
        };
        let string = |key: &str| match settings.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(bad(key, "a non-empty string")),
        };
        let endpoint = string("endpoint")?;
        if let Some(endpoint) = &endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(bad("endpoint", "an http:// or https:// URL"));
        }
        let regions = match settings.get("regions") {
            None => vec![
                var("AWS_REGION")
                    .or_else(|| var("AWS_DEFAULT_REGION"))
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "us-east-1".into()),
            ],
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|r| r.as_str().filter(|r| plain_region(r)).map(String::from))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad("regions", "a list of region ids such as \"ap-southeast-2\""))?,
            Some(_) => {
                return Err(bad(
                    "regions",
                    "a list of region ids such as \"ap-southeast-2\"",
                ));
            }
        };
        let ssh_check = match settings.get("ssh_check") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("ssh_check", "true or false")),
        };
        let ready_timeout = match settings.get("ready_timeout") {
            None => READY_TIMEOUT,
            Some(v) => match v.as_f64() {
                Some(s) if s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
                _ => return Err(bad("ready_timeout", "a number of seconds from 1 to 3600")),
            },
        };
        let images = images::with_setting(settings.get("images"))
            .map_err(|e| bad("images", &format!("valid ({e})")))?;
        let keys = credentials::resolve(
            credentials::Given {
                access_key_id: string("access_key_id")?,
                secret_access_key: string("secret_access_key")?,
                session_token: string("session_token")?,
                profile: string("profile")?,
            },
            &credentials::Environment {
                var,
                home: var("HOME").map(Into::into),
            },
        )
        .map_err(|e| {
            DriverError::fatal(format!("The aws credentials of provider `{name}`: {e}."))
        })?;
        let endpoint_text = endpoint
            .clone()
            .unwrap_or_else(|| "ec2.REGION.amazonaws.com".into());
        let api = Api::new(&name, endpoint, keys)
            .map_err(|e| DriverError::fatal(format!("Provider `{name}`: {e}.")))?;
        Ok(AwsDriver {
            name,
            regions,
            ssh_check,
            ready_timeout,
            images,
            api: Arc::new(api),
            endpoint_text,
            nonce: rand::random(),
            caches: Mutex::new(Caches::default()),
            live: Mutex::new(HashMap::new()),
            launched: Mutex::new(HashSet::new()),
            catalog: tokio::sync::Mutex::new(None),
        })
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        lock(&self.caches)
    }

    async fn call(
        &self,
        region: &str,
        action: &str,
        params: Params,
    ) -> Result<xml::Element, DriverError> {
        self.api.call(region, action, &params, Repeat::Safe).await
    }

    // -----------------------------------------------------------------------------------------
    // Offerings

    /// Reads the offerings of every configured region from the API.
    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let mut tasks = JoinSet::new();
        for (i, region) in self.regions.iter().enumerate() {
            let (api, region, specs) = (self.api.clone(), region.clone(), self.images.clone());
            tasks.spawn(async move { (i, read_region(&api, region, &specs).await) });
        }
        let mut answers: Vec<(usize, offerings::RegionAnswers)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (i, answer) = joined.map_err(|e| DriverError::fatal(format!("{e}")))?;
            answers.push((i, answer?));
        }
        answers.sort_by_key(|(i, _)| *i);
        let answers: Vec<offerings::RegionAnswers> = answers.into_iter().map(|(_, a)| a).collect();
        let source = format!(
            "AWS EC2 API at {} (zones, instance types and images of {}); prices: {}",
            self.endpoint_text,
            self.regions.join(", "),
            crate::catalog::aws::price_table()
                .source
                .as_deref()
                .unwrap_or("the shipped price table")
        );
        let catalog = offerings::assemble(&answers, &self.images, source);
        let mut caches = self.caches();
        for answer in answers {
            for (image, by_arch) in answer.images {
                caches.amis.insert((answer.region.clone(), image), by_arch);
            }
        }
        for size in &catalog.sizes {
            caches.arches.insert(size.id.clone(), size.arch.clone());
        }
        Ok(catalog)
    }

    /// The AMI of `image` for `arch` in `region`, asking the API if the catalog has not.
    async fn ami(&self, region: &str, image: &str, arch: &str) -> Result<String, DriverError> {
        let key = (region.to_string(), image.to_string());
        let cached = self.caches().amis.get(&key).cloned();
        let by_arch = match cached {
            Some(found) => found,
            None => {
                let spec = self
                    .images
                    .iter()
                    .find(|s| s.name == image)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            self.images.iter().map(|s| s.name.as_str()).collect();
                        DriverError::fatal(format!(
                            "Provider `{}` has no image `{image}`; its images: {} (add others with \
                         the `images` setting).",
                            self.name,
                            known.join(", ")
                        ))
                        .with_code("InvalidAMIID.NotFound")
                    })?;
                let found = resolve_image(&self.api, region, spec).await?;
                self.caches().amis.insert(key, found.clone());
                found
            }
        };
        by_arch.get(arch).cloned().ok_or_else(|| {
            DriverError::fail_over(format!(
                "No {arch} AMI of image `{image}` is available in {region} (provider `{}`).",
                self.name
            ))
            .with_code("InvalidAMIID.NotFound")
            .with_scope(Scope::Location)
        })
    }

    /// The architecture of an instance type: the API's, else the price table's.
    async fn arch(&self, region: &str, size: &str) -> Result<String, DriverError> {
        if let Some(arch) = self.caches().arches.get(size) {
            return Ok(arch.clone());
        }
        if let Some(arch) = offerings::table_arch(size) {
            return Ok(arch.to_string());
        }
        let answer = self
            .call(
                region,
                "DescribeInstanceTypes",
                Params::new().set("InstanceType.1", size),
            )
            .await?;
        let arch = answer
            .items("instanceTypeSet")
            .flat_map(|t| {
                t.at(&["processorInfo"])
                    .into_iter()
                    .flat_map(|p| p.items("supportedArchitectures"))
            })
            .map(|a| a.text.trim().to_string())
            .find(|a| a == "x86_64" || a == "arm64")
            .unwrap_or_else(|| "x86_64".into());
        self.caches().arches.insert(size.to_string(), arch.clone());
        Ok(arch)
    }

    // -----------------------------------------------------------------------------------------
    // Nodes

    /// Instances of this lineage and address in `region` that are pending or running.
    async fn find_node(
        &self,
        region: &str,
        lineage: &str,
        address: &Address,
    ) -> Result<Option<Instance>, DriverError> {
        let params = Params::new()
            .filter(1, &format!("tag:{TAG_LINEAGE}"), &[lineage])
            .filter(2, &format!("tag:{TAG_ADDRESS}"), &[address.as_str()])
            .filter(3, "instance-state-name", &["pending", "running"]);
        let answer = self.call(region, "DescribeInstances", params).await?;
        let mut found: Vec<Instance> = Instance::all(&answer)
            .into_iter()
            .filter(|i| i.is_live() && self.ours(&i.tags))
            .collect();
        // Should two exist (only a foreign tool could do that), adopt the oldest id.
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found.into_iter().next())
    }

    /// The live instances of `lineage` in `region`, read at most once per process.
    async fn live(&self, region: &str, lineage: &str) -> Result<LiveCell, DriverError> {
        let cell = lock(&self.live)
            .entry((region.to_string(), lineage.to_string()))
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let params = Params::new()
                .filter(1, &format!("tag:{TAG_LINEAGE}"), &[lineage])
                .filter(2, "instance-state-name", &["pending", "running"])
                .set("MaxResults", PAGE);
            let pages = pages(&self.api, region, "DescribeInstances", params).await?;
            Ok::<Live, DriverError>(self.by_address(pages.iter().flat_map(Instance::all)))
        })
        .await?;
        Ok(cell)
    }

    /// Live instances of this provider by their `oss:address` (the oldest id of any twins).
    fn by_address(&self, instances: impl IntoIterator<Item = Instance>) -> Live {
        let mut live = Live::new();
        for i in instances {
            if !i.is_live() || !self.ours(&i.tags) {
                continue;
            }
            let Some(address) = i.tags.get(TAG_ADDRESS) else {
                continue;
            };
            match live.entry(Address(address.clone())) {
                std::collections::hash_map::Entry::Occupied(mut e) if i.id < e.get().id => {
                    e.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(i);
                }
            }
        }
        live
    }

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        let zone = placement.location.as_str();
        let region = region_of(zone);
        // The region's key pair and security group must exist: compile makes the node
        // depend on them; if their creation was refused, this zone cannot be used.
        let dependency = |kind: Kind| {
            request
                .dependencies
                .iter()
                .find(|d| d.kind == kind && d.placement.location == region)
        };
        let wanted = |kind: Kind| {
            let address = Address::regional(kind, &self.name, &region);
            desired.depends_on.contains(&address).then_some(address)
        };
        for kind in [Kind::Firewall, Kind::Key] {
            if let Some(address) = wanted(kind)
                && dependency(kind).is_none()
            {
                return Err(DriverError::fail_over(format!(
                    "{} cannot launch in {zone}: {address} does not exist (its creation failed).",
                    desired.address
                ))
                .with_code("DependencyMissing")
                .with_scope(Scope::Location));
            }
        }

        // Adoption: an instance of this lineage and address that a crash left behind.
        let attempt = (region.clone(), desired.address.clone());
        let retried = lock(&self.launched).contains(&attempt);
        let found = if retried {
            self.find_node(&region, request.lineage, &desired.address)
                .await?
        } else {
            let cell = self.live(&region, request.lineage).await?;
            let seen = cell
                .get()
                .and_then(|live| live.get(&desired.address))
                .cloned();
            match seen {
                Some(seen) => self
                    .describe_one(&region, &seen.id)
                    .await?
                    .filter(Instance::is_live),
                None => None,
            }
        };
        if let Some(found) = found {
            let running = self.wait_running(&region, &found.id, desired).await?;
            return Ok(self.node_existing(desired, placement, &running));
        }

        let arch = self.arch(&region, &placement.size).await?;
        let ami = self.ami(&region, &placement.image, &arch).await?;
        let attributes = &desired.attributes;
        let name = attributes
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let command = attributes
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut tags = self.oss_tags(request.lineage, &desired.address, name);
        tags.insert(TAG_IMAGE.into(), placement.image.clone());
        tags.insert(
            TAG_PORTS.into(),
            serde_json::to_string(&ec2::attribute_ports(attributes)).unwrap_or_default(),
        );
        let depends: Vec<&str> = desired.depends_on.iter().map(Address::as_str).collect();
        let depends = depends.join(",");
        if depends.len() <= 256 {
            tags.insert(TAG_DEPENDENCIES.into(), depends);
        }
        if !command.is_empty() {
            tags.insert(TAG_COMMAND.into(), "user-data".into());
        }
        tags.extend(ec2::visible_tags(&ec2::attribute_tags(attributes), name));
        let tags: Vec<(String, String)> = tags.into_iter().collect();

        let mut params = Params::new()
            .set("ImageId", &ami)
            .set("InstanceType", &placement.size)
            .set("MinCount", "1")
            .set("MaxCount", "1")
            .set("Placement.AvailabilityZone", zone)
            .set(
                "ClientToken",
                self.client_token(request.lineage, &desired.address, placement),
            );
        if let Some(key) = dependency(Kind::Key) {
            params = params.set("KeyName", &key.provider_id);
        }
        if let Some(group) = dependency(Kind::Firewall) {
            params = params.set("SecurityGroupId.1", &group.provider_id);
        }
        if !command.is_empty() {
            params = params.set("UserData", user_data(command));
        }
        params = params.tag_spec("instance", &tags);
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the instance by its tags (and AWS by the client token) instead of launching again.
        lock(&self.launched).insert(attempt);
        let answer = self
            .api
            .call(&region, "RunInstances", &params, Repeat::Once)
            .await?;
        let launched = Instance::all(&answer).into_iter().next().ok_or_else(|| {
            DriverError::retry(format!(
                "AWS RunInstances in {region} answered without an instance (provider `{}`).",
                self.name
            ))
            .with_code("MalformedResponse")
        })?;
        let running = self.wait_running(&region, &launched.id, desired).await?;
        Ok(self.node_existing(desired, placement, &running))
    }

    fn node_existing(&self, desired: &Desired, placement: &Placement, i: &Instance) -> Existing {
        Existing {
            address: desired.address.clone(),
            kind: Kind::Node,
            placement: placement.clone(),
            provider_id: i.id.clone(),
            attributes: desired.attributes.clone(),
            observed: i.observed(),
            dependencies: desired.depends_on.clone(),
        }
    }

    /// Polls until the instance runs with an address (and answers on port 22 if asked).
    async fn wait_running(
        &self,
        region: &str,
        id: &str,
        desired: &Desired,
    ) -> Result<Instance, DriverError> {
        let started = Instant::now();
        let mut pause = POLL_FIRST;
        loop {
            match self.describe_one(region, id).await? {
                Some(i)
                    if i.state == "running"
                        && (i.private_ip.is_some() || i.public_ip.is_some()) =>
                {
                    if self.ssh_check {
                        let left = self.ready_timeout.saturating_sub(started.elapsed());
                        self.wait_ssh(&i, left, &desired.address).await?;
                    }
                    return Ok(i);
                }
                Some(i) if !i.is_live() => {
                    let why = i
                        .state_reason
                        .clone()
                        .unwrap_or_else(|| "no reason given".into());
                    return Err(DriverError::fail_over(format!(
                        "Instance {id} for {} became {} instead of running ({why}).",
                        desired.address, i.state
                    ))
                    .with_code("InstanceNotRunning"));
                }
                // Pending, or not yet visible (EC2 is eventually consistent).
                _ => {}
            }
            if started.elapsed() >= self.ready_timeout {
                return Err(DriverError::retry(format!(
                    "Instance {id} for {} was not running after {}s; it is left as it is and \
                     adopted by the next attempt.",
                    desired.address,
                    self.ready_timeout.as_secs()
                ))
                .with_code("WaitTimeout"));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// One instance by id; `None` when AWS does not (yet, or any more) know it.
    async fn describe_one(&self, region: &str, id: &str) -> Result<Option<Instance>, DriverError> {
        match self
            .call(
                region,
                "DescribeInstances",
                Params::new().set("InstanceId.1", id),
            )
            .await
        {
            Ok(answer) => Ok(Instance::all(&answer).into_iter().find(|i| i.id == id)),
            Err(e) if e.code.as_deref() == Some("InvalidInstanceID.NotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn wait_ssh(
        &self,
        instance: &Instance,
        left: Duration,
        address: &Address,
    ) -> Result<(), DriverError> {
        let ip = instance
            .public_ip
            .as_deref()
            .or(instance.private_ip.as_deref())
            .unwrap_or_default();
        if tcp_ping(ip, SSH_PORT, left).await {
            return Ok(());
        }
        Err(DriverError::retry(format!(
            "Instance {} for {address} runs but nothing answered on {ip}:{SSH_PORT} within the \
             ready timeout.",
            instance.id
        ))
        .with_code("SshNotReady"))
    }

    async fn delete_node(&self, existing: &Existing) -> Result<(), DriverError> {
        let region = region_of(&existing.placement.location);
        let id = existing.provider_id.as_str();
        match self
            .call(
                &region,
                "TerminateInstances",
                Params::new().set("InstanceId.1", id),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("InvalidInstanceID.NotFound") => return Ok(()),
            Err(e) => return Err(e),
        }
        // Wait until it is gone, so the security group it uses can be deleted next.
        let started = Instant::now();
        let mut pause = POLL_FIRST;
        loop {
            match self.describe_one(&region, id).await? {
                None => return Ok(()),
                Some(i) if i.state == "terminated" => return Ok(()),
                Some(_) => {}
            }
            if started.elapsed() >= self.ready_timeout {
                return Err(DriverError::retry(format!(
                    "Instance {id} ({}) was still shutting down after {}s.",
                    existing.address,
                    self.ready_timeout.as_secs()
                ))
                .with_code("IncorrectInstanceState"));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Key pairs and security groups

    async fn create_key(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let region = region_of(&request.placement.location);
        let name = object_name(desired, request.lineage);
        let public_key = desired
            .attributes
            .get("public_key")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                DriverError::fatal(format!(
                    "{} has no public key (set node.ssh_public_key).",
                    desired.address
                ))
                .with_code("MissingParameter")
            })?;
        let tags: Vec<(String, String)> = self
            .oss_tags(request.lineage, &desired.address, &attribute_name(desired))
            .into_iter()
            .collect();
        let params = Params::new()
            .set("KeyName", &name)
            .set(
                "PublicKeyMaterial",
                base64::engine::general_purpose::STANDARD.encode(public_key.trim()),
            )
            .tag_spec("key-pair", &tags);
        match self.call(&region, "ImportKeyPair", params).await {
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("InvalidKeyPair.Duplicate") => {}
            Err(e) => return Err(e),
        }
        // Read it back (also when it existed: adopt it if it is ours). Just imported, it may
        // not be visible yet (EC2 is eventually consistent): that is worth another attempt.
        let answer = self
            .call(
                &region,
                "DescribeKeyPairs",
                Params::new().set("KeyName.1", &name),
            )
            .await
            .map_err(|e| match e.code.as_deref() {
                Some("InvalidKeyPair.NotFound") => DriverError {
                    class: ErrorClass::Retry,
                    ..e
                },
                _ => e,
            })?;
        let key = KeyPair::all(&answer)
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| {
                DriverError::retry(format!(
                    "Key pair {name} in {region} is not visible yet after ImportKeyPair."
                ))
                .with_code("InvalidKeyPair.NotFound")
            })?;
        if key.tags.get(TAG_LINEAGE).map(String::as_str) != Some(request.lineage) {
            return Err(DriverError::fatal(format!(
                "A key pair named {name} already exists in {region} and was not made by this \
                 state; delete or rename it."
            ))
            .with_code("InvalidKeyPair.Duplicate"));
        }
        Ok(Existing {
            address: desired.address.clone(),
            kind: Kind::Key,
            placement: request.placement.clone(),
            provider_id: name,
            attributes: desired.attributes.clone(),
            observed: key.observed(),
            dependencies: desired.depends_on.clone(),
        })
    }

    async fn default_vpc(&self, region: &str) -> Result<String, DriverError> {
        if let Some(vpc) = self.caches().vpcs.get(region) {
            return Ok(vpc.clone());
        }
        let answer = self
            .call(
                region,
                "DescribeVpcs",
                Params::new().filter(1, "is-default", &["true"]),
            )
            .await?;
        let vpc = answer
            .items("vpcSet")
            .find_map(|v| v.text_at(&["vpcId"]).map(String::from))
            .ok_or_else(|| {
                DriverError::fail_over(format!(
                    "Region {region} has no default VPC, where oss puts its security groups \
                     (provider `{}`).",
                    self.name
                ))
                .with_code("VPCIdNotSpecified")
                .with_scope(Scope::Location)
            })?;
        self.caches().vpcs.insert(region.to_string(), vpc.clone());
        Ok(vpc)
    }

    async fn groups(&self, region: &str, params: Params) -> Result<Vec<Group>, DriverError> {
        let mut all = Vec::new();
        for page in pages(&self.api, region, "DescribeSecurityGroups", params).await? {
            all.extend(Group::all(&page));
        }
        Ok(all)
    }

    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let region = region_of(&request.placement.location);
        let name = object_name(desired, request.lineage);
        let vpc = self.default_vpc(&region).await?;
        let user = ec2::attribute_tags(&desired.attributes);
        let mut tags = self.oss_tags(request.lineage, &desired.address, &attribute_name(desired));
        tags.insert(
            TAG_PORTS.into(),
            serde_json::to_string(&ec2::attribute_ports(&desired.attributes)).unwrap_or_default(),
        );
        tags.extend(ec2::visible_tags(&user, &attribute_name(desired)));
        let tags: Vec<(String, String)> = tags.into_iter().collect();
        let params = Params::new()
            .set("GroupName", &name)
            .set(
                "GroupDescription",
                format!("oss {} (state {})", desired.address, request.lineage),
            )
            .set("VpcId", &vpc)
            .tag_spec("security-group", &tags);
        match self.call(&region, "CreateSecurityGroup", params).await {
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("InvalidGroup.Duplicate") => {}
            Err(e) => return Err(e),
        }
        let found = self
            .groups(
                &region,
                Params::new()
                    .filter(1, "group-name", &[name.as_str()])
                    .filter(2, "vpc-id", &[vpc.as_str()]),
            )
            .await?;
        let mut group = found.into_iter().find(|g| g.name == name).ok_or_else(|| {
            DriverError::retry(format!(
                "Security group {name} in {region} is not visible yet after \
                 CreateSecurityGroup."
            ))
            .with_code("InvalidGroup.NotFound")
        })?;
        if group.tags.get(TAG_LINEAGE).map(String::as_str) != Some(request.lineage) {
            return Err(DriverError::fatal(format!(
                "A security group named {name} already exists in {region} ({}) and was not \
                 made by this state; delete or rename it.",
                group.id
            ))
            .with_code("InvalidGroup.Duplicate"));
        }
        let want = ec2::attribute_ports(&desired.attributes);
        let missing: Vec<u16> = want
            .iter()
            .copied()
            .filter(|p| !group.open_ports.contains(p))
            .collect();
        self.change_rules(
            &region,
            &group.id,
            "AuthorizeSecurityGroupIngress",
            &missing,
        )
        .await?;
        group.open_ports.extend(missing);
        group.open_ports.sort_unstable();
        Ok(Existing {
            address: desired.address.clone(),
            kind: Kind::Firewall,
            placement: request.placement.clone(),
            provider_id: group.id.clone(),
            attributes: desired.attributes.clone(),
            observed: group.observed(),
            dependencies: desired.depends_on.clone(),
        })
    }

    /// Opens (`AuthorizeSecurityGroupIngress`) or closes (`Revoke…`) TCP `ports` to anyone.
    async fn change_rules(
        &self,
        region: &str,
        group: &str,
        action: &str,
        ports: &[u16],
    ) -> Result<(), DriverError> {
        if ports.is_empty() {
            return Ok(());
        }
        let mut params = Params::new().set("GroupId", group);
        for (i, port) in ports.iter().enumerate() {
            let n = i + 1;
            params = params
                .set(format!("IpPermissions.{n}.IpProtocol"), "tcp")
                .set(format!("IpPermissions.{n}.FromPort"), port.to_string())
                .set(format!("IpPermissions.{n}.ToPort"), port.to_string())
                .set(format!("IpPermissions.{n}.IpRanges.1.CidrIp"), "0.0.0.0/0");
        }
        match self.call(region, action, params).await {
            Ok(_) => Ok(()),
            // A repeated call whose first answer was lost.
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some("InvalidPermission.Duplicate" | "InvalidPermission.NotFound")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sets the user's tags (and the console name) of `id` to `want`, given `had`.
    async fn retag(
        &self,
        region: &str,
        id: &str,
        had: &Tags,
        want: &Tags,
    ) -> Result<(), DriverError> {
        let set: Vec<(&String, &String)> = want
            .iter()
            .filter(|(k, v)| had.get(*k) != Some(*v))
            .collect();
        let unset: Vec<&String> = had.keys().filter(|k| !want.contains_key(*k)).collect();
        if !set.is_empty() {
            let mut params = Params::new().set("ResourceId.1", id);
            for (i, (k, v)) in set.iter().enumerate() {
                params = params
                    .set(format!("Tag.{}.Key", i + 1), k.as_str())
                    .set(format!("Tag.{}.Value", i + 1), v.as_str());
            }
            self.call(region, "CreateTags", params).await?;
        }
        if !unset.is_empty() {
            let mut params = Params::new().set("ResourceId.1", id);
            for (i, k) in unset.iter().enumerate() {
                params = params.set(format!("Tag.{}.Key", i + 1), k.as_str());
            }
            self.call(region, "DeleteTags", params).await?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Tags

    /// oss's own tags of an object it creates.
    fn oss_tags(&self, lineage: &str, address: &Address, name: &str) -> Tags {
        let mut tags = Tags::new();
        tags.insert(TAG_ADDRESS.into(), address.to_string());
        tags.insert(TAG_LINEAGE.into(), lineage.to_string());
        tags.insert(TAG_PROVIDER.into(), self.name.clone());
        if !name.is_empty() {
            tags.insert(TAG_NAME.into(), name.to_string());
        }
        tags
    }

    /// Whether an object of this lineage belongs to this provider (not to another AWS
    /// provider of the same strategy sharing the account).
    fn ours(&self, tags: &Tags) -> bool {
        tags.get(TAG_PROVIDER).is_none_or(|p| *p == self.name)
    }

    /// An idempotency token for RunInstances (at most 64 ASCII characters).
    fn client_token(&self, lineage: &str, address: &Address, placement: &Placement) -> String {
        let mut hash = Sha256::new();
        hash.update(self.nonce.to_be_bytes());
        for part in [lineage, address.as_str(), &placement.to_string()] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("oss-{}", &hex[..40])
    }

    // -----------------------------------------------------------------------------------------
    // Refresh

    /// Rebuilds the resource a lineage-tagged instance was created for, from its tags.
    async fn node_from_tags(&self, region: &str, i: &Instance) -> Option<Existing> {
        let address = Address(i.tags.get(TAG_ADDRESS)?.clone());
        let index = address
            .as_str()
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.trim_end_matches(']').parse::<u64>().ok())
            .unwrap_or_default();
        let name = i.tags.get(TAG_NAME).cloned().unwrap_or_default();
        let ports: Value = i
            .tags
            .get(TAG_PORTS)
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_else(|| Value::Array(Vec::new()));
        let command = if i.tags.contains_key(TAG_COMMAND) {
            self.command_of(region, &i.id).await.unwrap_or_default()
        } else {
            String::new()
        };
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), Value::from(name));
        attributes.insert("index".into(), Value::from(index));
        attributes.insert("command".into(), Value::from(command));
        attributes.insert("ports".into(), ports);
        attributes.insert("tags".into(), tags_value(&ec2::user_tags(&i.tags)));
        let price = offerings::price(region, &i.instance_type);
        Some(Existing {
            address,
            kind: Kind::Node,
            placement: Placement {
                provider: self.name.clone(),
                location: i.zone.clone(),
                size: i.instance_type.clone(),
                image: i
                    .tags
                    .get(TAG_IMAGE)
                    .cloned()
                    .unwrap_or_else(|| i.image_id.clone()),
                hourly_price: price,
                currency: price.map(|_| "USD".to_string()),
            },
            provider_id: i.id.clone(),
            attributes,
            observed: i.observed(),
            dependencies: dependencies_of(&i.tags),
        })
    }

    /// The node command carried as an instance's user data.
    async fn command_of(&self, region: &str, id: &str) -> Option<String> {
        let answer = self
            .call(
                region,
                "DescribeInstanceAttribute",
                Params::new()
                    .set("InstanceId", id)
                    .set("Attribute", "userData"),
            )
            .await
            .ok()?;
        let encoded = answer.text_at(&["userData", "value"])?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let body = text.strip_prefix(USER_DATA_HEAD).unwrap_or(&text);
        Some(body.strip_suffix('\n').unwrap_or(body).to_string())
    }

    fn regional_from_tags(
        &self,
        kind: Kind,
        region: &str,
        id: &str,
        tags: &Tags,
        observed: Attributes,
        extra: Attributes,
    ) -> Option<Existing> {
        let mut attributes = Attributes::new();
        attributes.insert(
            "name".into(),
            Value::from(tags.get(TAG_NAME).cloned().unwrap_or_default()),
        );
        attributes.insert("region".into(), Value::from(region.to_string()));
        attributes.extend(extra);
        Some(Existing {
            address: Address(tags.get(TAG_ADDRESS)?.clone()),
            kind,
            placement: Placement {
                provider: self.name.clone(),
                location: region.to_string(),
                size: String::new(),
                image: String::new(),
                hourly_price: None,
                currency: None,
            },
            provider_id: id.to_string(),
            attributes,
            observed,
            dependencies: dependencies_of(tags),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one region holds of a lineage.
struct Scan {
    region: String,
    instances: Vec<Instance>,
    keys: Vec<KeyPair>,
    groups: Vec<Group>,
}

/// Every page of a paginated Describe call (`NextToken`), with a guard against endless
/// tokens.
async fn pages(
    api: &Api,
    region: &str,
    action: &str,
    params: Params,
) -> Result<Vec<xml::Element>, DriverError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = HashSet::new();
    loop {
        let mut page_params = params.clone();
        if let Some(token) = &token {
            page_params = page_params.set("NextToken", token);
        }
        let page = api.call(region, action, &page_params, Repeat::Safe).await?;
        let next = page.text_at(&["nextToken"]).map(String::from);
        all.push(page);
        match next {
            Some(next) if seen.insert(next.clone()) && all.len() < MAX_PAGES => token = Some(next),
            _ => return Ok(all),
        }
    }
}

/// One region's instances (by lineage tag, one call per page of 1,000), key pairs and
/// security groups of `lineage`.
async fn scan(api: Arc<Api>, region: String, lineage: String) -> Result<Scan, DriverError> {
    let lineage_filter = format!("tag:{TAG_LINEAGE}");
    let instances = pages(
        &api,
        &region,
        "DescribeInstances",
        Params::new()
            .filter(1, &lineage_filter, &[lineage.as_str()])
            .filter(
                2,
                "instance-state-name",
                &["pending", "running", "stopping", "stopped"],
            )
            .set("MaxResults", PAGE),
    );
    let key_params = Params::new()
        .filter(1, &lineage_filter, &[lineage.as_str()])
        .set("IncludePublicKey", "true");
    let keys = api.call(&region, "DescribeKeyPairs", &key_params, Repeat::Safe);
    let groups = pages(
        &api,
        &region,
        "DescribeSecurityGroups",
        Params::new().filter(1, &lineage_filter, &[lineage.as_str()]),
    );
    let (instances, keys, groups) = tokio::try_join!(instances, keys, groups)?;
    Ok(Scan {
        instances: instances.iter().flat_map(Instance::all).collect(),
        keys: KeyPair::all(&keys),
        groups: groups.iter().flat_map(Group::all).collect(),
        region,
    })
}

/// Zones, instance types, offerings and images of one region.
async fn read_region(
    api: &Api,
    region: String,
    specs: &[ImageSpec],
) -> Result<offerings::RegionAnswers, DriverError> {
    let zones = api
        .call(
            &region,
            "DescribeAvailabilityZones",
            &Params::new(),
            Repeat::Safe,
        )
        .await?;
    let offerings = pages(
        api,
        &region,
        "DescribeInstanceTypeOfferings",
        Params::new()
            .set("LocationType", "availability-zone")
            .set("MaxResults", "1000"),
    )
    .await?;
    let types = pages(
        api,
        &region,
        "DescribeInstanceTypes",
        Params::new().set("MaxResults", "100"),
    )
    .await?;
    let mut images = BTreeMap::new();
    for spec in specs {
        let found = resolve_image(api, &region, spec).await?;
        if !found.is_empty() {
            images.insert(spec.name.clone(), found);
        }
    }
    Ok(offerings::RegionAnswers {
        region,
        zones,
        offerings,
        types,
        images,
    })
}

/// The AMIs of one image in one region, by architecture.
async fn resolve_image(
    api: &Api,
    region: &str,
    spec: &ImageSpec,
) -> Result<BTreeMap<String, String>, DriverError> {
    let params = match &spec.source {
        Source::Id(id) => Params::new().set("ImageId.1", id),
        Source::Pattern { owner, names } => Params::new()
            .set("Owner.1", owner)
            .filter(1, "name", names)
            .filter(2, "state", &["available"]),
    };
    match api
        .call(region, "DescribeImages", &params, Repeat::Safe)
        .await
    {
        Ok(answer) => Ok(images::newest_by_arch(&answer)),
        // An AMI id of another region, or deregistered.
        Err(e)
            if matches!(
                e.code.as_deref(),
                Some(
                    "InvalidAMIID.NotFound" | "InvalidAMIID.Malformed" | "InvalidAMIID.Unavailable"
                )
            ) =>
        {
            Ok(BTreeMap::new())
        }
        Err(e) => Err(e),
    }
}

const USER_DATA_HEAD: &str = "#!/bin/sh\n";

/// The node command as user data: a shell script cloud-init runs at first boot.
fn user_data(command: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER_DATA_HEAD}{command}\n"))
}

/// `oss-STRATEGY-LINEAGE8`: the attribute `name` (`oss-STRATEGY`) and the lineage's start.
fn object_name(desired: &Desired, lineage: &str) -> String {
    let short: String = lineage.chars().take(8).collect();
    format!("{}-{short}", attribute_name(desired))
}

fn attribute_name(desired: &Desired) -> String {
    desired
        .attributes
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("oss")
        .to_string()
}

fn tags_value(tags: &Tags) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

fn dependencies_of(tags: &Tags) -> Vec<Address> {
    tags.get(TAG_DEPENDENCIES)
        .map(|d| {
            d.split(',')
                .filter(|a| !a.is_empty())
                .map(|a| Address(a.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Region ids are lower-case words and numbers joined by dashes (`ap-southeast-2`).
fn plain_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.chars().any(|c| c.is_ascii_digit())
}

/// Whether something accepts TCP connections on `ip:port` within `within`.
async fn tcp_ping(ip: &str, port: u16, within: Duration) -> bool {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let started = Instant::now();
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect((ip, port)),
        )
        .await;
        if matches!(attempt, Ok(Ok(_))) {
            return true;
        }
        if started.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(Duration::from_secs(1).min(within)).await;
    }
}

#[async_trait]
impl Driver for AwsDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Node | Kind::Key | Kind::Firewall)
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        let mut cached = self.catalog.lock().await;
        if let Some(catalog) = cached.as_ref() {
            return Ok(catalog.clone());
        }
        let catalog = if !self.api.has_credentials() {
            offerings::from_price_table(
                &self.regions,
                &self.images,
                "no AWS credentials were found, so the EC2 API was not asked",
            )
        } else {
            match self.read_catalog().await {
                Ok(catalog) => catalog,
                Err(e) if e.code.as_deref() == Some("Unreachable") => offerings::from_price_table(
                    &self.regions,
                    &self.images,
                    &format!("the EC2 API was unreachable: {}", e.message),
                ),
                Err(e) => return Err(e),
            }
        };
        *cached = Some(catalog.clone());
        Ok(catalog)
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        if !self.api.has_credentials() {
            // Like an unreachable provider: planning goes on if it holds nothing of ours.
            return Err(DriverError::fail_over(format!(
                "Provider `{}` found no AWS credentials (provider block, profile, \
                 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials).",
                self.name
            ))
            .with_code("NoCredentials")
            .with_scope(Scope::Provider));
        }
        let regions: BTreeSet<String> = self
            .regions
            .iter()
            .cloned()
            .chain(known.iter().map(|e| region_of(&e.placement.location)))
            .collect();
        let mut tasks = JoinSet::new();
        for region in regions {
            tasks.spawn(scan(self.api.clone(), region, lineage.to_string()));
        }
        let mut scans = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            scans.push(joined.map_err(|e| DriverError::fatal(format!("{e}")))??);
        }
        scans.sort_by(|a, b| a.region.cmp(&b.region));
        // What refresh saw is what launches of this process look in for instances to adopt.
        for scan in &scans {
            let live = self.by_address(scan.instances.iter().cloned());
            lock(&self.live).insert(
                (scan.region.clone(), lineage.to_string()),
                Arc::new(tokio::sync::OnceCell::new_with(Some(live))),
            );
        }

        // Key pair names repeat across regions: ids are per region.
        let known_ids: HashSet<(Kind, String, &str)> = known
            .iter()
            .map(|e| {
                (
                    e.kind,
                    region_of(&e.placement.location),
                    e.provider_id.as_str(),
                )
            })
            .collect();
        let known_addresses: HashSet<&Address> = known.iter().map(|e| &e.address).collect();
        let unknown = |kind: Kind, region: &str, id: &str, tags: &Tags| {
            !known_ids.contains(&(kind, region.to_string(), id))
                && tags
                    .get(TAG_ADDRESS)
                    .is_some_and(|a| !known_addresses.contains(&Address(a.clone())))
                && self.ours(tags)
        };
        let mut refreshed = Refreshed::default();
        let mut seen: HashMap<(Kind, String, String), Attributes> = HashMap::new();
        for scan in &scans {
            for i in &scan.instances {
                if i.is_live() {
                    seen.insert(
                        (Kind::Node, scan.region.clone(), i.id.clone()),
                        i.observed(),
                    );
                }
                if unknown(Kind::Node, &scan.region, &i.id, &i.tags)
                    && let Some(existing) = self.node_from_tags(&scan.region, i).await
                {
                    if i.is_live() {
                        refreshed.orphans.push(existing);
                    } else {
                        refreshed.debris.push(existing);
                    }
                }
            }
            for key in &scan.keys {
                seen.insert(
                    (Kind::Key, scan.region.clone(), key.name.clone()),
                    key.observed(),
                );
                if unknown(Kind::Key, &scan.region, &key.name, &key.tags) {
                    let mut extra = Attributes::new();
                    extra.insert(
                        "public_key".into(),
                        key.public_key
                            .as_deref()
                            .map_or(Value::Null, |k| Value::from(k.trim())),
                    );
                    refreshed.orphans.extend(self.regional_from_tags(
                        Kind::Key,
                        &scan.region,
                        &key.name,
                        &key.tags,
                        key.observed(),
                        extra,
                    ));
                }
            }
            for group in &scan.groups {
                seen.insert(
                    (Kind::Firewall, scan.region.clone(), group.id.clone()),
                    group.observed(),
                );
                if unknown(Kind::Firewall, &scan.region, &group.id, &group.tags) {
                    let ports: Value = group
                        .tags
                        .get(TAG_PORTS)
                        .and_then(|p| serde_json::from_str(p).ok())
                        .unwrap_or_else(|| Value::from(group.open_ports.clone()));
                    let mut extra = Attributes::new();
                    extra.insert("ports".into(), ports);
                    extra.insert("tags".into(), tags_value(&ec2::user_tags(&group.tags)));
                    refreshed.orphans.extend(self.regional_from_tags(
                        Kind::Firewall,
                        &scan.region,
                        &group.id,
                        &group.tags,
                        group.observed(),
                        extra,
                    ));
                }
            }
        }
        for existing in known {
            let region = region_of(&existing.placement.location);
            let observed = seen.remove(&(existing.kind, region, existing.provider_id.clone()));
            refreshed.known.insert(existing.address.clone(), observed);
        }
        Ok(refreshed)
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        if request.placement.provider != self.name {
            return Err(DriverError::fatal(format!(
                "The placement {} names provider `{}`, not `{}`.",
                request.placement, request.placement.provider, self.name
            )));
        }
        match request.desired.kind {
            Kind::Node => self.create_node(&request).await,
            Kind::Key => self.create_key(&request).await,
            Kind::Firewall => self.create_firewall(&request).await,
        }
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        let region = region_of(&existing.placement.location);
        let (had, want) = (
            ec2::attribute_tags(&existing.attributes),
            ec2::attribute_tags(&desired.attributes),
        );
        match existing.kind {
            Kind::Node => {
                let name = attribute_name(desired);
                self.retag(
                    &region,
                    &existing.provider_id,
                    &ec2::visible_tags(&had, &name),
                    &ec2::visible_tags(&want, &name),
                )
                .await?;
            }
            Kind::Firewall => {
                let name = attribute_name(desired);
                let group = &existing.provider_id;
                let before = ec2::attribute_ports(&existing.attributes);
                let after = ec2::attribute_ports(&desired.attributes);
                let open: Vec<u16> = after
                    .iter()
                    .copied()
                    .filter(|p| !before.contains(p))
                    .collect();
                let close: Vec<u16> = before
                    .iter()
                    .copied()
                    .filter(|p| !after.contains(p))
                    .collect();
                self.change_rules(&region, group, "AuthorizeSecurityGroupIngress", &open)
                    .await?;
                self.change_rules(&region, group, "RevokeSecurityGroupIngress", &close)
                    .await?;
                let mut had = ec2::visible_tags(&had, &name);
                let mut want = ec2::visible_tags(&want, &name);
                had.insert(
                    TAG_PORTS.into(),
                    serde_json::to_string(&before).unwrap_or_default(),
                );
                want.insert(
                    TAG_PORTS.into(),
                    serde_json::to_string(&after).unwrap_or_default(),
                );
                self.retag(&region, group, &had, &want).await?;
            }
            Kind::Key => {}
        }
        Ok(Existing {
            attributes: desired.attributes.clone(),
            ..existing.clone()
        })
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        let region = region_of(&existing.placement.location);
        match existing.kind {
            Kind::Node => self.delete_node(existing).await,
            Kind::Key => self
                .call(
                    &region,
                    "DeleteKeyPair",
                    Params::new().set("KeyName", &existing.provider_id),
                )
                .await
                .map(drop),
            Kind::Firewall => match self
                .call(
                    &region,
                    "DeleteSecurityGroup",
                    Params::new().set("GroupId", &existing.provider_id),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.code.as_deref() == Some("InvalidGroup.NotFound") => Ok(()),
                Err(e) => Err(e),
            },
        }
    }
}

/// Whether `class` means the provider could not be asked at all.
pub fn is_unreachable(error: &DriverError) -> bool {
    error.class == ErrorClass::FailOver && error.code.as_deref() == Some("Unreachable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(settings: Value) -> DriverConfig {
        DriverConfig {
            name: "aws".into(),
            settings: settings.as_object().unwrap().clone(),
            state_dir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn settings_are_checked_and_unknown_ones_refused() {
        let e = AwsDriver::with_env(config(json!({"region": "x"})), &no_env)
            .err()
            .unwrap();
        assert_eq!(e.class, ErrorClass::Fatal);
        assert!(e.message.contains("Unknown aws setting `region`"), "{e}");
        assert!(e.message.contains("regions"), "{e}");
        for bad in [
            json!({"regions": "ap-southeast-2"}),
            json!({"regions": ["AP SOUTH"]}),
            json!({"ssh_check": "yes"}),
            json!({"endpoint": "localhost:5000"}),
            json!({"ready_timeout": 0}),
            json!({"images": {"x": 1}}),
            json!({"access_key_id": "AKID"}),
        ] {
            assert!(
                AwsDriver::with_env(config(bad.clone()), &no_env).is_err(),
                "{bad}"
            );
        }
        let driver = AwsDriver::with_env(config(json!({})), &|n| {
            (n == "AWS_DEFAULT_REGION").then(|| "eu-west-1".to_string())
        })
        .unwrap();
        assert_eq!(driver.regions, ["eu-west-1"]);
        assert!(driver.supports(Kind::Key) && driver.supports(Kind::Firewall));
    }

    #[test]
    fn secrets_never_appear_in_setting_errors() {
        let e = AwsDriver::with_env(
            config(json!({"secret_access_key": "very-secret-value"})),
            &no_env,
        )
        .err()
        .unwrap();
        assert!(!e.message.contains("very-secret-value"), "{e}");
    }

    #[tokio::test]
    async fn without_credentials_the_price_table_plans_and_refresh_steps_aside() {
        let driver =
            AwsDriver::with_env(config(json!({"regions": ["ap-southeast-2"]})), &no_env).unwrap();
        let catalog = driver.catalog().await.unwrap();
        assert!(
            catalog
                .source
                .as_deref()
                .unwrap()
                .contains("no AWS credentials")
        );
        assert_eq!(catalog.locations.len(), 3);
        let e = driver.refresh("L", &[]).await.unwrap_err();
        assert_eq!((e.class, e.scope), (ErrorClass::FailOver, Scope::Provider));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_plans_from_the_price_table_and_fails_over() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        let driver = AwsDriver::with_env(
            config(json!({
                "regions": ["ap-southeast-2"],
                "endpoint": "http://127.0.0.1:9",
                "access_key_id": "AKIDTEST",
                "secret_access_key": "secret"
            })),
            &no_env,
        )
        .unwrap();
        let catalog = driver.catalog().await.unwrap();
        let source = catalog.source.clone().unwrap();
        assert!(source.contains("unreachable"), "{source}");
        let e = driver.refresh("L", &[]).await.unwrap_err();
        assert!(is_unreachable(&e), "{e}");
        assert_eq!(e.scope, Scope::Provider);
    }

    #[test]
    fn client_tokens_are_stable_per_process_and_short() {
        let driver = AwsDriver::with_env(config(json!({})), &no_env).unwrap();
        let placement = Placement {
            provider: "aws".into(),
            location: "ap-southeast-2a".into(),
            size: "t3.micro".into(),
            image: "amazon-linux-2023".into(),
            hourly_price: None,
            currency: None,
        };
        let a = driver.client_token("L", &Address::node("web", 0), &placement);
        assert_eq!(
            a,
            driver.client_token("L", &Address::node("web", 0), &placement)
        );
        assert_ne!(
            a,
            driver.client_token("L", &Address::node("web", 1), &placement)
        );
        assert!(a.len() <= 64 && a.is_ascii());
        let other = AwsDriver::with_env(config(json!({})), &no_env).unwrap();
        assert_ne!(
            a,
            other.client_token("L", &Address::node("web", 0), &placement)
        );
    }

    #[tokio::test]
    async fn tcp_ping_sees_a_loopback_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(tcp_ping("127.0.0.1", port, Duration::from_secs(1)).await);
        drop(listener);
        assert!(!tcp_ping("127.0.0.1", port, Duration::ZERO).await);
        assert!(!tcp_ping("not-an-ip", port, Duration::ZERO).await);
    }

    #[test]
    fn user_data_carries_the_command() {
        let encoded = user_data("echo hi");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"#!/bin/sh\necho hi\n");
    }
}
