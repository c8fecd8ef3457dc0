//! The `aws` provider: EC2 instances, key pairs and security groups over the real EC2 Query
//! API, so the same driver works against AWS and against an emulator (moto) given as
//! `endpoint`.
//!
//! - **Offerings** (`catalog`): zones (DescribeAvailabilityZones), where each instance type is
//!   offered (DescribeInstanceTypeOfferings) and images (DescribeImages, see `images`) of the
//!   configured regions, every call at once, priced from the price table shipped in oss; the
//!   types' vCPUs, memory and architecture ship with it too (`catalog::aws_types`), and
//!   DescribeInstanceTypes is asked only about an offered type they lack. Read once per
//!   process; zones, types and offerings are kept between runs (`cache`). When the API cannot be reached (or no
//!   credentials are found) the price table's offerings stand in, so planning works and apply
//!   fails over to the next provider.
//! - **Key pairs** (ImportKeyPair) and **security groups** (CreateSecurityGroup in the default
//!   VPC, one TCP ingress rule per port from anywhere), one each per region, named
//!   `oss-STRATEGY-LINEAGE8`.
//! - **Nodes**: RunInstances with the region's key pair and security group, tagged with the
//!   resource address and the state lineage (and what it takes to rebuild the resource from
//!   the tags alone), then polled until `running` with an address; optionally until port 22
//!   answers (`ssh_check`). The node's command becomes its user data. Launches running at
//!   once share one RunInstances per placement (`launch`: the batch's addresses in a tag, each
//!   instance's launch index picks its own); polls and terminations running at once share one
//!   DescribeInstances / TerminateInstances per region (`gather`).
//! - **Adoption**: a create first looks for an instance with this address and lineage
//!   (a crash between RunInstances and the state write left it) and adopts it; RunInstances
//!   also carries a client token, so AWS itself never starts a second one for a repeated call.
//! - **Refresh** is batched: per region one DescribeInstances filtered by the lineage tag per
//!   page of up to 1,000 instances, one DescribeKeyPairs and one DescribeSecurityGroups.
//!
//! Errors carry AWS's code and message and are classified in `error` (docs/aws.md has the
//! table). The driver never reads or writes the state file, never prints, and never puts a
//! credential into a message.

mod cache;
pub mod client;
mod ec2;
mod error;
mod gather;
mod images;
mod import;
mod launch;
mod node;
mod offerings;
mod refresh;
mod regional;
mod settings;
pub use settings::SECRET_SETTINGS;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::task::JoinSet;

use super::{CreateRequest, Driver, DriverConfig, DriverError, ErrorClass, Refreshed, Scope};
use crate::catalog::Catalog;
use crate::driver::attribute_name;
use crate::net::aws::{credentials, xml};
use crate::resource::{Address, Desired, Existing, Kind, Placement};
use client::{Api, Params, QueryService, Repeat};
use ec2::{TAG_ADDRESS, TAG_LINEAGE, TAG_NAME, TAG_PORTS, TAG_PROVIDER, Tags, region_of};
use images::{ImageSpec, Source};
use node::LiveCell;

pub use error::table as error_table;

/// Checks aws settings as written in the strategy (see [`crate::driver::check_settings`]).
pub fn check_settings(
    settings: &serde_json::Map<String, Value>,
) -> Result<(), super::settings::SettingsError> {
    settings::check(settings)
}

/// Polling of a launching or terminating instance: first pause, growth, cap.
const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(5);
/// DescribeInstances page size (the API's maximum).
const PAGE: &str = "1000";
/// A guard against an endpoint that hands out tokens forever.
const MAX_PAGES: usize = 10_000;

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
    /// Per (region, image name): the one DescribeImages in flight, so launches starting
    /// together (and `prepare`) share it.
    ami_flights: Mutex<HashMap<(String, String), AmiCell>>,
    /// Per (region, lineage): the pending or running instances of the lineage by address,
    /// read once (by refresh, or by the first launch) so that launches look for an instance
    /// to adopt without one DescribeInstances each. A hit is checked by id before adopting.
    live: Mutex<HashMap<(String, String), LiveCell>>,
    /// Lineages this run created: nothing of them existed before, so there is nothing to
    /// adopt and no snapshot to read.
    new_lineages: Mutex<HashSet<String>>,
    /// (region, address) of every launch this process attempted: a retried launch looks for
    /// its instance afresh (the snapshot above predates it).
    launched: Mutex<HashSet<(String, Address)>>,
    /// The catalog, once read (the async lock keeps concurrent first readers to one read).
    catalog: tokio::sync::Mutex<Option<Catalog>>,
    /// Zones, instance types and offerings kept between runs.
    facts_cache: cache::FactsCache,
    /// RunInstances of launches running at once, one call per placement (`launch`); started
    /// with the first launch, on the runtime that makes it.
    launcher: OnceLock<launch::Launcher>,
    /// DescribeInstances and TerminateInstances of many instances at once (`gather`).
    gather: OnceLock<gather::Gather>,
}

type AmiCell = Arc<tokio::sync::OnceCell<BTreeMap<String, String>>>;

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
        let settings =
            settings::resolve(&config.settings).map_err(|e| e.into_driver_error("aws", &name))?;
        let endpoint = settings.endpoint.clone();
        let regions = match &settings.regions {
            Some(regions) => regions.clone(),
            None => vec![
                var("AWS_REGION")
                    .or_else(|| var("AWS_DEFAULT_REGION"))
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "us-east-1".into()),
            ],
        };
        let images = settings
            .image_specs()
            .map_err(|e| e.into_driver_error("aws", &name))?;
        let (ssh_check, ready_timeout) = (settings.ssh_check, settings.ready_timeout());
        let offerings_ttl = settings.offerings_ttl();
        let keys = credentials::resolve(
            credentials::Given {
                access_key_id: settings.access_key_id,
                secret_access_key: settings.secret_access_key,
                session_token: settings.session_token,
                profile: settings.profile,
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
        let api = Api::new(&name, QueryService::EC2, endpoint, keys)
            .map_err(|e| DriverError::fatal(format!("Provider `{name}`: {e}.")))?;
        let facts_cache =
            cache::FactsCache::new(&config.state_dir, &name, &endpoint_text, offerings_ttl);
        Ok(AwsDriver {
            facts_cache,
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
            new_lineages: Mutex::new(HashSet::new()),
            ami_flights: Mutex::new(HashMap::new()),
            launched: Mutex::new(HashSet::new()),
            catalog: tokio::sync::Mutex::new(None),
            launcher: OnceLock::new(),
            gather: OnceLock::new(),
        })
    }

    fn launcher(&self) -> &launch::Launcher {
        self.launcher
            .get_or_init(|| launch::Launcher::start(&self.name, self.api.clone(), self.nonce))
    }

    fn gather(&self) -> &gather::Gather {
        self.gather
            .get_or_init(|| gather::Gather::start(&self.name, self.api.clone()))
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
            let cache = self.facts_cache.clone();
            tasks.spawn(async move { (i, read_region(api, region, specs, cache).await) });
        }
        let mut answers: Vec<(usize, offerings::RegionAnswers)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (i, answer) = joined.map_err(|e| DriverError::fatal(format!("{e}")))?;
            answers.push((i, answer?));
        }
        answers.sort_by_key(|(i, _)| *i);
        let answers: Vec<offerings::RegionAnswers> = answers.into_iter().map(|(_, a)| a).collect();
        let source = format!(
            "AWS EC2 API at {} (zones, offerings and images of {}); instance types: {}; \
             prices: {}",
            self.endpoint_text,
            self.regions.join(", "),
            crate::catalog::aws_types::source(),
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
        let by_arch = self.amis(region, image).await?;
        by_arch.get(arch).cloned().ok_or_else(|| {
            DriverError::fail_over(format!(
                "No {arch} AMI of image `{image}` is available in {region} (provider `{}`).",
                self.name
            ))
            .with_code("InvalidAMIID.NotFound")
            .with_scope(Scope::Location)
        })
    }

    /// The AMIs of `image` in `region` by architecture: from the catalog, else from one
    /// DescribeImages shared by everyone asking at once.
    async fn amis(
        &self,
        region: &str,
        image: &str,
    ) -> Result<BTreeMap<String, String>, DriverError> {
        let key = (region.to_string(), image.to_string());
        if let Some(found) = self.caches().amis.get(&key).cloned() {
            return Ok(found);
        }
        let spec = self
            .images
            .iter()
            .find(|s| s.name == image)
            .ok_or_else(|| {
                let known: Vec<&str> = self.images.iter().map(|s| s.name.as_str()).collect();
                DriverError::fatal(format!(
                    "Provider `{}` has no image `{image}`; its images: {} (add others with \
                     the `images` setting).",
                    self.name,
                    known.join(", ")
                ))
                .with_code("InvalidAMIID.NotFound")
            })?;
        let flight = Arc::clone(lock(&self.ami_flights).entry(key.clone()).or_default());
        let found = flight
            .get_or_try_init(|| resolve_image(&self.api, region, spec))
            .await?
            .clone();
        self.caches().amis.insert(key, found.clone());
        Ok(found)
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

    // -----------------------------------------------------------------------------------------
    // Key pairs and security groups

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

    // -----------------------------------------------------------------------------------------
    // Refresh
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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

/// Zones, instance types, offerings and images of one region, every call at once: the facts
/// (zones, types, offerings) from the cache when it has them, the images always.
async fn read_region(
    api: Arc<Api>,
    region: String,
    specs: Vec<ImageSpec>,
    cache: cache::FactsCache,
) -> Result<offerings::RegionAnswers, DriverError> {
    let facts = async {
        if let Some(kept) = cache.load(&region) {
            return Ok(kept);
        }
        // Zones and offerings change (per account, per zone); the instance types' facts
        // ship with oss (`catalog::aws_types`), so only a type unknown to them is asked for.
        let no_params = Params::new();
        let zones = api.call(
            &region,
            "DescribeAvailabilityZones",
            &no_params,
            Repeat::Safe,
        );
        let offerings = pages(
            &api,
            &region,
            "DescribeInstanceTypeOfferings",
            Params::new()
                .set("LocationType", "availability-zone")
                .set("MaxResults", "1000"),
        );
        let (zones, offerings) = tokio::try_join!(zones, offerings)?;
        let unknown = offerings::unshipped_types(&offerings);
        let types = futures_util::future::try_join_all(unknown.chunks(100).map(|chunk| {
            let params = Params::new().list("InstanceType", chunk);
            let (api, region) = (&api, &region);
            async move {
                api.call(region, "DescribeInstanceTypes", &params, Repeat::Safe)
                    .await
            }
        }))
        .await?;
        let facts = offerings::RegionFacts::from_answers(&zones, &offerings, &types);
        cache.store(&region, &facts);
        Ok::<_, DriverError>(facts)
    };
    let images = async {
        let mut tasks = JoinSet::new();
        for spec in specs {
            let (api, region) = (api.clone(), region.clone());
            tasks.spawn(async move {
                let found = resolve_image(&api, &region, &spec).await;
                (spec.name, found)
            });
        }
        let mut images = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (name, found) = joined.map_err(|e| DriverError::fatal(format!("{e}")))?;
            let found = found?;
            if !found.is_empty() {
                images.insert(name, found);
            }
        }
        Ok::<_, DriverError>(images)
    };
    let (facts, images) = tokio::try_join!(facts, images)?;
    Ok(offerings::RegionAnswers {
        region,
        facts,
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

#[async_trait]
impl Driver for AwsDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn api_calls(&self) -> crate::net::calls::CallCounts {
        self.api.counts()
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
        self.refresh_lineage(lineage, known).await
    }

    fn lineage_is_new(&self, lineage: &str) {
        lock(&self.new_lineages).insert(lineage.to_string());
    }

    async fn prepare(&self, lineage: &str, placements: Vec<Placement>) {
        // Everything a launch looks up before RunInstances, all at once: the adoption
        // snapshot of each region, instance architectures and AMIs (each asked once however
        // many launches share them).
        let ours = || placements.iter().filter(|p| p.provider == self.name);
        let regions: HashSet<String> = ours().map(|p| region_of(&p.location)).collect();
        let snapshots = futures_util::future::join_all(regions.iter().map(|region| async move {
            let _ = self.live(region, lineage).await;
        }));
        let images = futures_util::future::join_all(ours().map(|placement| async move {
            let region = region_of(&placement.location);
            if let Ok(arch) = self.arch(&region, &placement.size).await {
                let _ = self.ami(&region, &placement.image, &arch).await;
            }
        }));
        futures_util::future::join(snapshots, images).await;
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
            Kind::Record => Err(crate::driver::no_records("aws")),
            Kind::Balancer | Kind::Network => Err(crate::driver::no_balancers("aws")),
        }
    }

    async fn import(&self, address: &Address, id: &str) -> Result<Existing, DriverError> {
        self.import_instance(address, id).await
    }

    async fn remark(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        self.remark_object(existing, lineage, to).await
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
                let (before, after) = (
                    ec2::attribute_rules(&existing.attributes),
                    ec2::attribute_rules(&desired.attributes),
                );
                let open: Vec<ec2::Rule> = after
                    .iter()
                    .filter(|r| !before.contains(r))
                    .cloned()
                    .collect();
                let close: Vec<ec2::Rule> = before
                    .iter()
                    .filter(|r| !after.contains(r))
                    .cloned()
                    .collect();
                self.change_rules(&region, group, "AuthorizeSecurityGroupIngress", &open)
                    .await?;
                self.change_rules(&region, group, "RevokeSecurityGroupIngress", &close)
                    .await?;
                let mut had = ec2::visible_tags(&had, &name);
                let mut want = ec2::visible_tags(&want, &name);
                let ports = |a| serde_json::to_string(&ec2::attribute_ports(a)).unwrap_or_default();
                had.insert(TAG_PORTS.into(), ports(&existing.attributes));
                want.insert(TAG_PORTS.into(), ports(&desired.attributes));
                self.retag(&region, group, &had, &want).await?;
            }
            Kind::Key => {}
            Kind::Record => return Err(crate::driver::no_records("aws")),
            Kind::Balancer | Kind::Network => return Err(crate::driver::no_balancers("aws")),
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
            Kind::Record => Err(crate::driver::no_records("aws")),
            Kind::Balancer | Kind::Network => Err(crate::driver::no_balancers("aws")),
        }
    }

    /// A node's console output (`GetConsoleOutput`, the latest EC2 keeps: boot messages and
    /// what user data printed), as one stream `console`; key pairs and security groups have
    /// none.
    async fn logs(
        &self,
        existing: &Existing,
        lines: usize,
    ) -> Result<Option<Vec<super::LogStream>>, DriverError> {
        if existing.kind != Kind::Node {
            return Ok(None);
        }
        let region = region_of(&existing.placement.location);
        let root = self
            .call(
                &region,
                "GetConsoleOutput",
                Params::new()
                    .set("InstanceId", &existing.provider_id)
                    .set("Latest", "true"),
            )
            .await?;
        Ok(Some(vec![super::LogStream {
            name: "console".into(),
            lines: node::console_lines(root.text_at(&["output"]).unwrap_or(""), lines),
        }]))
    }
}

/// DNS records are a DNS provider's (`src/dns/`), never EC2's.
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
            settings: settings.as_object().unwrap().clone().into(),
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
        assert!(e.message.contains("aws setting `region`"), "{e}");
        assert!(e.message.contains("Unknown setting \"region\""), "{e}");
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
}
