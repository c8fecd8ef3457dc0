//! The `aws` load-balancer provider (docs/lb.md, "aws"): each balancer is an ELBv2
//! application load balancer in its provider's network (`network.PROVIDER`, a resource of its
//! own: the region's default VPC with two subnets in two zones, or, where the region has no
//! default VPC, a VPC with an internet gateway and two subnets that oss makes, `network.rs`),
//! one HTTP
//! target group of the members' instances with the shared health check, and one HTTP
//! listener per `listeners` entry forwarding to it (`elbv2.rs` the calls, `settings.rs`).
//! Membership follows the group in place: targets are registered and deregistered by instance
//! id, the load balancer stays. Names derive from the balancer's name, lineage and address,
//! and each object is tagged with both when it is made (load balancer and target group in
//! their create calls, listeners by AddTags right after), so a create a crash interrupted
//! finds what it made by name and adopts it once its tags prove it is this state's.
//!
//! This driver never reads or writes the state file and never prints.

pub mod elbv2;
pub mod network;
mod settings;

pub use settings::SECRET_SETTINGS;

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::driver::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed};
use crate::lb::Spec;
use crate::net::aws::credentials;
use crate::resource::{Address, Attributes, Desired, Existing, Kind};
use elbv2::Elbv2;

/// Checks aws balancer settings as written in the strategy.
pub fn check_settings(
    settings: &Map<String, Value>,
) -> Result<(), crate::driver::settings::SettingsError> {
    settings::check(settings)
}

/// The kind (and provider name) an `lb` block's `"aws"` provider is recorded and built as.
pub const KIND: &str = "aws-elb";

/// The tag naming the resource address of what oss creates.
const TAG_ADDRESS: &str = "oss:address";
/// The tag naming the lineage of the state that created it.
const TAG_LINEAGE: &str = "oss:lineage";

/// The `aws` load-balancer driver. See the module documentation.
pub struct AwsLbDriver {
    name: String,
    api: Elbv2,
    internal: bool,
}

impl AwsLbDriver {
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// Like [`AwsLbDriver::new`], reading the environment through `var`.
    pub fn with_env(
        config: DriverConfig,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DriverError> {
        let name = config.name.clone();
        let settings =
            settings::resolve(&config.settings).map_err(|e| e.into_driver_error("aws", &name))?;
        let region = settings
            .region
            .clone()
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".into());
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
            DriverError::fatal(format!(
                "The aws credentials of load-balancer provider `{name}`: {e}."
            ))
        })?;
        let api = Elbv2::new(&name, &region, settings.endpoint, keys)
            .map_err(|e| DriverError::fatal(format!("Provider `{name}`: {e}.")))?;
        Ok(AwsLbDriver {
            name,
            api,
            internal: settings.internal,
        })
    }

    /// Makes the target group, listeners and targets of `lb` what `spec` asks for.
    async fn converge(
        &self,
        lb: &elbv2::LoadBalancer,
        group_name: &str,
        spec: &Spec,
        tags: &[(String, String)],
        fresh: bool,
    ) -> Result<String, DriverError> {
        let target_port = target_port(spec)?;
        let health = health(spec, target_port)?;
        let group = match self.api.find_target_group(group_name).await? {
            Some(arn) => {
                self.check_owned("target group", &arn, tags).await?;
                if !fresh {
                    self.api.modify_health(&arn, &health).await?;
                }
                arn
            }
            None => {
                self.api
                    .create_target_group(group_name, &lb.vpc, target_port, &health, tags)
                    .await?
            }
        };
        let wanted: BTreeSet<u16> = spec.listeners.iter().map(|l| l.port).collect();
        let have = self.api.listeners(&lb.arn).await?;
        for (arn, port) in &have {
            if !wanted.contains(port) {
                self.api.delete_listener(arn).await?;
            }
        }
        let kept: Vec<String> = have
            .iter()
            .filter(|(_, port)| wanted.contains(port))
            .map(|(arn, _)| arn.clone())
            .collect();
        if !fresh && !kept.is_empty() {
            // A listener a crash left between CreateListener and AddTags gets its tags now.
            self.api.add_tags(&kept, tags).await?;
        }
        let have_ports: BTreeSet<u16> = have.iter().map(|(_, p)| *p).collect();
        for port in wanted.difference(&have_ports) {
            self.api
                .create_listener(&lb.arn, *port, &group, tags)
                .await?;
        }
        let ids: BTreeSet<String> = spec.ids.iter().cloned().collect();
        if ids.len() != spec.members.len() {
            return Err(DriverError::fatal(format!(
                "Load balancer `{}`: {} members but {} instance ids; an aws balancer registers its members by id.",
                spec.name,
                spec.members.len(),
                ids.len()
            )));
        }
        self.api.set_targets(&group, target_port, &ids).await?;
        Ok(group)
    }

    /// Refuses to adopt the ELBv2 object `arn` found by its name unless it carries `tags`
    /// (this state's lineage and this address), which it got when it was created.
    async fn check_owned(
        &self,
        what: &str,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), DriverError> {
        let found = self.api.tags(&[arn.to_string()]).await?;
        let has = found.iter().find(|(a, _)| a == arn).map(|(_, t)| t);
        let owned = has.is_some_and(|has| tags.iter().all(|tag| has.contains(tag)));
        if owned {
            return Ok(());
        }
        let value = |key: &str| {
            has.and_then(|has| has.iter().find(|(k, _)| k == key))
                .map_or("none", |(_, v)| v.as_str())
        };
        Err(DriverError::fatal(format!(
            "The ELBv2 {what} {arn} has this balancer's name but is not this state's to adopt (its {TAG_LINEAGE} tag: {}, {TAG_ADDRESS} tag: {}); hint: delete it or rename the balancer.",
            value(TAG_LINEAGE),
            value(TAG_ADDRESS)
        )))
    }

    fn observed(&self, lb: &elbv2::LoadBalancer, group: &str, spec: &Spec) -> Attributes {
        let mut observed = Attributes::new();
        observed.insert("addr".into(), json!(lb.dns_name));
        observed.insert("zone_id".into(), json!(lb.zone_id));
        observed.insert("target_group".into(), json!(group));
        observed.insert("vpc".into(), json!(lb.vpc));
        let ports: Vec<u16> = spec.listeners.iter().map(|l| l.port).collect();
        observed.insert("ports".into(), json!(ports));
        observed
    }
}

/// The one target port of `spec`'s listeners (one target group per balancer).
fn target_port(spec: &Spec) -> Result<u16, DriverError> {
    let ports: BTreeSet<u16> = spec.listeners.iter().map(|l| l.target_port).collect();
    match ports.len() {
        1 => Ok(*ports.first().unwrap_or(&0)),
        _ => Err(DriverError::fatal(format!(
            "Load balancer `{}`: the aws provider sends every listener to one target port; found {ports:?}.",
            spec.name
        ))),
    }
}

fn health(spec: &Spec, port: u16) -> Result<Vec<(String, String)>, DriverError> {
    elbv2::health_params(&spec.health, port).map_err(|misfits| {
        let text: Vec<String> = misfits.into_iter().map(|m| m.message).collect();
        DriverError::fatal(format!("Load balancer `{}`: {}", spec.name, text.join(" ")))
    })
}

/// The ELBv2 name of a balancer: its name (cut to 23) and a digest of lineage and address,
/// 32 characters at most, as ELBv2 allows.
pub fn elb_name(name: &str, lineage: &str, address: &Address) -> String {
    let digest = crate::digest::sha256_hex(format!("{lineage}\0{address}").as_bytes());
    let head: String = name.chars().take(23).collect();
    format!("{}-{}", head.trim_end_matches('-'), &digest[..8])
}

/// The network state recorded (`None`: not a network's observations).
fn network_of(existing: &Existing) -> Option<network::Network> {
    let observed = &existing.observed;
    let text = |key: &str| observed.get(key).and_then(Value::as_str).map(String::from);
    let subnets: Vec<String> = serde_json::from_value(observed.get("subnet_ids")?.clone()).ok()?;
    Some(network::Network {
        vpc: text("vpc")?,
        subnets: [subnets.first()?.clone(), subnets.get(1)?.clone()],
        owned: observed
            .get("owned")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        gateway: text("gateway"),
    })
}

impl AwsLbDriver {
    /// The network of `request` (see [`network`]): found, or made of the shape its
    /// attributes say, tagged with its address and the lineage.
    async fn create_network(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let attribute = |key: &str| desired.attributes.get(key);
        let cidr = attribute("cidr")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let subnets: Vec<String> = attribute("subnets")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let [first, second] = subnets.as_slice() else {
            return Err(DriverError::fatal(format!(
                "{}: attribute `subnets` must name two address ranges.",
                desired.address
            )));
        };
        let shape = network::Shape {
            cidr,
            subnets: [first.as_str(), second.as_str()],
            internet_gateway: attribute("internet_gateway").and_then(Value::as_bool) == Some(true),
        };
        let made = self
            .api
            .make_network(&shape, &tags(request.lineage, &desired.address))
            .await?;
        let mut observed = Attributes::new();
        observed.insert("vpc".into(), json!(made.vpc));
        observed.insert("subnet_ids".into(), json!(made.subnets));
        observed.insert("owned".into(), json!(made.owned));
        if let Some(gateway) = &made.gateway {
            observed.insert("gateway".into(), json!(gateway));
        }
        Ok(Existing {
            address: desired.address.clone(),
            kind: Kind::Network,
            placement: request.placement.clone(),
            provider_id: made.vpc.clone(),
            attributes: desired.attributes.clone(),
            observed,
            dependencies: desired.depends_on.clone(),
        })
    }
}

fn tags(lineage: &str, address: &Address) -> Vec<(String, String)> {
    vec![
        (TAG_ADDRESS.to_string(), address.to_string()),
        (TAG_LINEAGE.to_string(), lineage.to_string()),
    ]
}

/// The lineage a balancer was recorded with: from its ELBv2 name's source, kept in attributes.
fn lineage_of(existing: &Existing) -> Option<&str> {
    existing.observed.get("lineage").and_then(Value::as_str)
}

#[async_trait]
impl Driver for AwsLbDriver {
    fn api_calls(&self) -> crate::net::calls::CallCounts {
        self.api.counts()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Balancer | Kind::Network)
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        Ok(Catalog::default())
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        let mut refreshed = Refreshed::default();
        for existing in known {
            if existing.kind == Kind::Network {
                let alive = match network_of(existing) {
                    Some(network) if network.owned => self.api.vpc_exists(&network.vpc).await?,
                    Some(network) => self
                        .api
                        .default_network()
                        .await?
                        .is_some_and(|now| now.vpc == network.vpc),
                    None => false,
                };
                refreshed.known.insert(
                    existing.address.clone(),
                    alive.then(|| existing.observed.clone()),
                );
                continue;
            }
            let spec = Spec::parse(&existing.address, &existing.attributes).ok();
            let name = elb_name(
                spec.as_ref().map(|s| s.name.as_str()).unwrap_or_default(),
                lineage_of(existing).unwrap_or(lineage),
                &existing.address,
            );
            let alive = match self.api.find_load_balancer(&name).await? {
                Some(lb) if lb.arn == existing.provider_id => {
                    let mut observed = existing.observed.clone();
                    observed.insert("addr".into(), json!(lb.dns_name));
                    observed.insert("zone_id".into(), json!(lb.zone_id));
                    Some(observed)
                }
                _ => None,
            };
            refreshed.known.insert(existing.address.clone(), alive);
        }
        Ok(refreshed)
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        if desired.kind == Kind::Network {
            return self.create_network(&request).await;
        }
        let spec = Spec::parse(&desired.address, &desired.attributes)?;
        let name = elb_name(&spec.name, request.lineage, &desired.address);
        let tags = tags(request.lineage, &desired.address);
        // Checked before anything is made.
        health(&spec, target_port(&spec)?)?;
        let (lb, fresh) = match self.api.find_load_balancer(&name).await? {
            // One a crash left (its name and tags are this lineage's and address's) is
            // adopted.
            Some(lb) => {
                self.check_owned("load balancer", &lb.arn, &tags).await?;
                (lb, false)
            }
            None => {
                let network = Address::network(&self.name);
                let subnets = self
                    .api
                    .network_of(&self::tags(request.lineage, &network))
                    .await?
                    .subnets;
                let lb = self
                    .api
                    .create_load_balancer(&name, self.internal, &subnets, &tags)
                    .await?;
                (lb, true)
            }
        };
        let group = self.converge(&lb, &name, &spec, &tags, fresh).await?;
        let mut observed = self.observed(&lb, &group, &spec);
        observed.insert("lineage".into(), json!(request.lineage));
        Ok(Existing {
            address: desired.address.clone(),
            kind: Kind::Balancer,
            placement: request.placement.clone(),
            provider_id: lb.arn.clone(),
            attributes: desired.attributes.clone(),
            observed,
            dependencies: desired.depends_on.clone(),
        })
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        if desired.kind == Kind::Network {
            // Nothing of a network changes in place (the plan replaces it instead).
            return Ok(Existing {
                attributes: desired.attributes.clone(),
                ..existing.clone()
            });
        }
        let spec = Spec::parse(&desired.address, &desired.attributes)?;
        let lineage = lineage_of(existing).unwrap_or_default().to_string();
        let name = elb_name(&spec.name, &lineage, &desired.address);
        let lb = self.api.find_load_balancer(&name).await?.ok_or_else(|| {
            DriverError::fatal(format!(
                "Load balancer `{}` ({}) no longer exists, so it cannot be updated; the next plan creates it again.",
                existing.address, existing.provider_id
            ))
        })?;
        let group = self
            .converge(&lb, &name, &spec, &tags(&lineage, &desired.address), false)
            .await?;
        let mut observed = self.observed(&lb, &group, &spec);
        observed.insert("lineage".into(), json!(lineage));
        let mut updated = existing.clone();
        updated.attributes = desired.attributes.clone();
        updated.dependencies = desired.depends_on.clone();
        updated.observed = observed;
        Ok(updated)
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        if existing.kind == Kind::Network {
            return match network_of(existing) {
                Some(network) => self.api.delete_network(&network).await,
                None => Ok(()),
            };
        }
        let arn = &existing.provider_id;
        let listeners = match self.api.listeners(arn).await {
            Ok(listeners) => listeners,
            Err(e) if e.code.as_deref() == Some("LoadBalancerNotFound") => Vec::new(),
            Err(e) => return Err(e),
        };
        for (listener, _) in listeners {
            self.api.delete_listener(&listener).await?;
        }
        self.api.delete_load_balancer(arn).await?;
        if let Some(group) = existing
            .observed
            .get("target_group")
            .and_then(Value::as_str)
        {
            self.api.delete_target_group(group).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elbv2_names_fit_32_characters_and_differ_by_lineage() {
        let address = Address::balancer("web");
        let long = "a".repeat(32);
        let name = elb_name(&long, "l1", &address);
        assert!(name.len() <= 32, "{name}");
        assert_ne!(
            elb_name("web", "l1", &address),
            elb_name("web", "l2", &address)
        );
        assert!(!elb_name("web-----------------------x", "l1", &address).contains("--"));
    }
}
