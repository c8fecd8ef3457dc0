//! The ELBv2 calls the `aws` load-balancer provider makes, over the shared Query client
//! (`crate::driver::aws::client`, service [`QueryService::ELBV2`]): application load
//! balancers, HTTP target groups with the shared health check translated to ELBv2's fields
//! (and refused, field by field, where ELBv2 cannot do what the check asks), listeners,
//! targets by instance id, and deletes that treat "already gone" as done. The VPC and its two
//! subnets in two zones come from EC2 (`super::network`).
//!
//! Knows no oss resource: names, tags and ids come from the caller. Never prints.

use std::collections::BTreeSet;

use crate::driver::DriverError;
use crate::driver::aws::client::{Api, Params, QueryService, Repeat};
use crate::health::check::Misfit;
use crate::health::{Check, Protocol};
use crate::net::aws::Keys;
use crate::net::aws::xml::Element;

/// ELBv2's limits on a target group's health check (Elastic Load Balancing API reference,
/// CreateTargetGroup): seconds between checks, seconds a check may take, and the thresholds.
pub const INTERVAL_SECONDS: (u64, u64) = (5, 300);
pub const TIMEOUT_SECONDS: (u64, u64) = (2, 120);
pub const THRESHOLD: (u32, u32) = (2, 10);
/// The HTTP codes an application load balancer's matcher takes.
pub const MATCHER_CODES: (u16, u16) = (200, 499);

/// The `HealthCheck*` and `Matcher` parameters of `check` probing `port`, or every field of
/// it ELBv2 cannot do (the caller locates them under the balancer's `health`).
pub fn health_params(check: &Check, port: u16) -> Result<Vec<(String, String)>, Vec<Misfit>> {
    let mut misfits = Vec::new();
    let mut params = Vec::new();
    let seconds = |field: &'static str,
                   value: std::time::Duration,
                   (low, high): (u64, u64),
                   misfits: &mut Vec<Misfit>| {
        let whole = value.as_secs();
        if value.subsec_nanos() != 0 || !(low..=high).contains(&whole) {
            misfits.push(Misfit {
                field: Some(field),
                message: format!(
                    "ELBv2 takes `{field}` in whole seconds from {low} to {high}, not {} ms.",
                    value.as_millis()
                ),
                hint: format!("write e.g. \"{}s\"", whole.clamp(low, high)),
            });
        }
        whole
    };
    let interval = seconds("interval", check.interval, INTERVAL_SECONDS, &mut misfits);
    let timeout = seconds("timeout", check.timeout, TIMEOUT_SECONDS, &mut misfits);
    if misfits.is_empty() && timeout >= interval {
        misfits.push(Misfit {
            field: Some("timeout"),
            message: format!(
                "ELBv2 needs a timeout shorter than the interval; {timeout} s is not shorter than {interval} s."
            ),
            hint: format!("write a timeout below {interval}s"),
        });
    }
    for (field, value, name) in [
        (
            "healthy_threshold",
            check.healthy_threshold,
            "HealthyThresholdCount",
        ),
        (
            "unhealthy_threshold",
            check.unhealthy_threshold,
            "UnhealthyThresholdCount",
        ),
    ] {
        if !(THRESHOLD.0..=THRESHOLD.1).contains(&value) {
            misfits.push(Misfit {
                field: Some(field),
                message: format!(
                    "ELBv2 takes `{field}` from {} to {}, not {value}.",
                    THRESHOLD.0, THRESHOLD.1
                ),
                hint: format!("write {}", value.clamp(THRESHOLD.0, THRESHOLD.1)),
            });
        }
        params.push((name.to_string(), value.to_string()));
    }
    let port = check.port.unwrap_or(port);
    params.push(("HealthCheckEnabled".into(), "true".into()));
    params.push(("HealthCheckPort".into(), port.to_string()));
    params.push(("HealthCheckIntervalSeconds".into(), interval.to_string()));
    params.push(("HealthCheckTimeoutSeconds".into(), timeout.to_string()));
    match &check.protocol {
        Protocol::Http { path, status } => {
            if !(MATCHER_CODES.0..=MATCHER_CODES.1).contains(status) {
                misfits.push(Misfit {
                    field: Some("status"),
                    message: format!(
                        "An application load balancer matches HTTP codes from {} to {}, not {status}.",
                        MATCHER_CODES.0, MATCHER_CODES.1
                    ),
                    hint: "write the 2xx the members answer, e.g. 200".into(),
                });
            }
            params.push(("HealthCheckProtocol".into(), "HTTP".into()));
            params.push(("HealthCheckPath".into(), path.clone()));
            params.push(("Matcher.HttpCode".into(), status.to_string()));
        }
        Protocol::Tcp => misfits.push(Misfit {
            field: Some("type"),
            message: "An application load balancer checks its targets over HTTP, not TCP.".into(),
            hint: "write {\"type\": \"http\", \"path\": \"/\"}".into(),
        }),
    }
    match misfits.is_empty() {
        true => Ok(params),
        false => Err(misfits),
    }
}

/// The `<member>` children of the list element at `path`.
fn members<'a>(root: &'a Element, path: &[&str]) -> Vec<&'a Element> {
    root.at(path)
        .map(|list| {
            list.children
                .iter()
                .filter(|c| c.name == "member")
                .collect()
        })
        .unwrap_or_default()
}

/// The text of `element`'s child `name`.
pub(super) fn text(element: &Element, name: &str) -> Option<String> {
    element.text_at(&[name]).map(String::from)
}

fn tag_params(mut params: Params, tags: &[(String, String)]) -> Params {
    for (i, (key, value)) in tags.iter().enumerate() {
        params = params
            .set(format!("Tags.member.{}.Key", i + 1), key)
            .set(format!("Tags.member.{}.Value", i + 1), value);
    }
    params
}

fn missing(action: &str, what: &str) -> DriverError {
    DriverError::fatal(format!("ELBv2 {action} answered without {what}."))
}

/// Whether `error` says the thing is already gone.
fn is_gone(error: &DriverError) -> bool {
    matches!(
        error.code.as_deref(),
        Some("LoadBalancerNotFound" | "TargetGroupNotFound" | "ListenerNotFound")
    )
}

/// A load balancer as ELBv2 describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    pub arn: String,
    pub dns_name: String,
    /// The hosted zone of `dns_name` (`CanonicalHostedZoneId`): what a Route53 alias record
    /// to the balancer names beside its DNS name.
    pub zone_id: String,
    pub scheme: String,
    pub vpc: String,
}

/// The ELBv2 and EC2 APIs of one provider in one region.
pub struct Elbv2 {
    elb: Api,
    /// EC2, for the network (`super::network`).
    pub(super) ec2: Api,
    pub(super) region: String,
}

impl Elbv2 {
    /// The calls of both APIs so far.
    pub fn counts(&self) -> crate::net::calls::CallCounts {
        let mut counts = self.elb.counts();
        counts.add(&self.ec2.counts());
        counts
    }

    pub fn new(
        provider: &str,
        region: &str,
        endpoint: Option<String>,
        keys: Option<Keys>,
    ) -> Result<Self, String> {
        Ok(Elbv2 {
            elb: Api::new(
                provider,
                QueryService::ELBV2,
                endpoint.clone(),
                keys.clone(),
            )?,
            ec2: Api::new(provider, QueryService::EC2, endpoint, keys)?,
            region: region.to_string(),
        })
    }

    async fn call(&self, action: &str, params: Params) -> Result<Element, DriverError> {
        self.elb
            .call(&self.region, action, &params, Repeat::Safe)
            .await
    }

    /// The load balancer named `name`, if there is one.
    pub async fn find_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<LoadBalancer>, DriverError> {
        match self
            .call(
                "DescribeLoadBalancers",
                Params::new().list("Names.member", &[name]),
            )
            .await
        {
            Ok(root) => Ok(load_balancers(&root).into_iter().next()),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates (or, same name and settings, finds: ELBv2 answers with the existing one) an
    /// application load balancer.
    pub async fn create_load_balancer(
        &self,
        name: &str,
        internal: bool,
        subnets: &[String; 2],
        tags: &[(String, String)],
    ) -> Result<LoadBalancer, DriverError> {
        let params = Params::new()
            .set("Name", name)
            .set("Type", "application")
            .set(
                "Scheme",
                if internal {
                    "internal"
                } else {
                    "internet-facing"
                },
            )
            .list("Subnets.member", subnets);
        let root = self
            .call("CreateLoadBalancer", tag_params(params, tags))
            .await?;
        load_balancers(&root)
            .into_iter()
            .next()
            .ok_or_else(|| missing("CreateLoadBalancer", "a load balancer"))
    }

    /// The ARN of the target group named `name`, if there is one.
    pub async fn find_target_group(&self, name: &str) -> Result<Option<String>, DriverError> {
        match self
            .call(
                "DescribeTargetGroups",
                Params::new().list("Names.member", &[name]),
            )
            .await
        {
            Ok(root) => Ok(
                members(&root, &["DescribeTargetGroupsResult", "TargetGroups"])
                    .into_iter()
                    .find_map(|g| text(g, "TargetGroupArn")),
            ),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an HTTP target group of instances on `port` in `vpc` with `health` (the
    /// parameters of [`health_params`]); returns its ARN.
    pub async fn create_target_group(
        &self,
        name: &str,
        vpc: &str,
        port: u16,
        health: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<String, DriverError> {
        let mut params = Params::new()
            .set("Name", name)
            .set("Protocol", "HTTP")
            .set("Port", port.to_string())
            .set("VpcId", vpc)
            .set("TargetType", "instance");
        params.0.extend(health.iter().cloned());
        let root = self
            .call("CreateTargetGroup", tag_params(params, tags))
            .await?;
        members(&root, &["CreateTargetGroupResult", "TargetGroups"])
            .into_iter()
            .find_map(|g| text(g, "TargetGroupArn"))
            .ok_or_else(|| missing("CreateTargetGroup", "a target group"))
    }

    /// Changes a target group's health check in place.
    pub async fn modify_health(
        &self,
        target_group: &str,
        health: &[(String, String)],
    ) -> Result<(), DriverError> {
        let mut params = Params::new().set("TargetGroupArn", target_group);
        params.0.extend(health.iter().cloned());
        self.call("ModifyTargetGroup", params).await.map(|_| ())
    }

    /// The listeners of a load balancer: (ARN, port).
    pub async fn listeners(&self, load_balancer: &str) -> Result<Vec<(String, u16)>, DriverError> {
        let root = self
            .call(
                "DescribeListeners",
                Params::new().set("LoadBalancerArn", load_balancer),
            )
            .await?;
        Ok(members(&root, &["DescribeListenersResult", "Listeners"])
            .into_iter()
            .filter_map(|l| Some((text(l, "ListenerArn")?, text(l, "Port")?.parse().ok()?)))
            .collect())
    }

    /// An HTTP listener on `port` forwarding to `target_group`, tagged with `tags` right after
    /// (AddTags); returns its ARN.
    pub async fn create_listener(
        &self,
        load_balancer: &str,
        port: u16,
        target_group: &str,
        tags: &[(String, String)],
    ) -> Result<String, DriverError> {
        let params = Params::new()
            .set("LoadBalancerArn", load_balancer)
            .set("Protocol", "HTTP")
            .set("Port", port.to_string())
            .set("DefaultActions.member.1.Type", "forward")
            .set("DefaultActions.member.1.TargetGroupArn", target_group);
        let root = self.call("CreateListener", params).await?;
        let arn = members(&root, &["CreateListenerResult", "Listeners"])
            .into_iter()
            .find_map(|l| text(l, "ListenerArn"))
            .ok_or_else(|| missing("CreateListener", "a listener"))?;
        self.add_tags(std::slice::from_ref(&arn), tags).await?;
        Ok(arn)
    }

    /// Adds (or overwrites) `tags` on ELBv2 resources by ARN, 20 at a time.
    pub async fn add_tags(
        &self,
        arns: &[String],
        tags: &[(String, String)],
    ) -> Result<(), DriverError> {
        if tags.is_empty() {
            return Ok(());
        }
        for chunk in arns.chunks(20) {
            let params = Params::new().list("ResourceArns.member", chunk);
            self.call("AddTags", tag_params(params, tags)).await?;
        }
        Ok(())
    }

    /// The instance ids registered in a target group (DescribeTargetHealth), sorted.
    pub async fn targets(&self, target_group: &str) -> Result<BTreeSet<String>, DriverError> {
        let root = self
            .call(
                "DescribeTargetHealth",
                Params::new().set("TargetGroupArn", target_group),
            )
            .await?;
        Ok(members(
            &root,
            &["DescribeTargetHealthResult", "TargetHealthDescriptions"],
        )
        .into_iter()
        .filter_map(|d| d.text_at(&["Target", "Id"]).map(String::from))
        .collect())
    }

    /// Makes the target group's targets exactly `ids` (on `port`): registers the missing,
    /// deregisters the rest. Returns (registered, deregistered) counts.
    pub async fn set_targets(
        &self,
        target_group: &str,
        port: u16,
        ids: &BTreeSet<String>,
    ) -> Result<(usize, usize), DriverError> {
        let now = self.targets(target_group).await?;
        let add: Vec<&String> = ids.difference(&now).collect();
        let remove: Vec<&String> = now.difference(ids).collect();
        let targets = |action: &'static str, ids: &[&String]| {
            let mut params = Params::new().set("TargetGroupArn", target_group);
            for (i, id) in ids.iter().enumerate() {
                params = params
                    .set(format!("Targets.member.{}.Id", i + 1), id.as_str())
                    .set(format!("Targets.member.{}.Port", i + 1), port.to_string());
            }
            self.call(action, params)
        };
        if !add.is_empty() {
            targets("RegisterTargets", &add).await?;
        }
        if !remove.is_empty() {
            targets("DeregisterTargets", &remove).await?;
        }
        Ok((add.len(), remove.len()))
    }

    /// Deletes a listener; one already gone is done.
    pub async fn delete_listener(&self, arn: &str) -> Result<(), DriverError> {
        self.delete("DeleteListener", "ListenerArn", arn).await
    }

    /// Deletes a target group; one already gone is done.
    pub async fn delete_target_group(&self, arn: &str) -> Result<(), DriverError> {
        self.delete("DeleteTargetGroup", "TargetGroupArn", arn)
            .await
    }

    /// Deletes a load balancer (its listeners go with it); one already gone is done.
    pub async fn delete_load_balancer(&self, arn: &str) -> Result<(), DriverError> {
        self.delete("DeleteLoadBalancer", "LoadBalancerArn", arn)
            .await
    }

    async fn delete(&self, action: &str, key: &str, arn: &str) -> Result<(), DriverError> {
        match self.call(action, Params::new().set(key, arn)).await {
            Ok(_) => Ok(()),
            Err(e) if is_gone(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The tags of ELBv2 resources by ARN (up to 20 per call).
    pub async fn tags(
        &self,
        arns: &[String],
    ) -> Result<Vec<(String, Vec<(String, String)>)>, DriverError> {
        let mut found = Vec::new();
        for chunk in arns.chunks(20) {
            let root = self
                .call(
                    "DescribeTags",
                    Params::new().list("ResourceArns.member", chunk),
                )
                .await?;
            for description in members(&root, &["DescribeTagsResult", "TagDescriptions"]) {
                let Some(arn) = text(description, "ResourceArn") else {
                    continue;
                };
                let tags = members(description, &["Tags"])
                    .into_iter()
                    .filter_map(|t| Some((text(t, "Key")?, text(t, "Value").unwrap_or_default())))
                    .collect();
                found.push((arn, tags));
            }
        }
        Ok(found)
    }
}

fn load_balancers(root: &Element) -> Vec<LoadBalancer> {
    let result = root
        .children
        .iter()
        .find(|c| c.name.ends_with("Result"))
        .map(|r| members(r, &["LoadBalancers"]))
        .unwrap_or_default();
    result
        .into_iter()
        .filter_map(|b| {
            Some(LoadBalancer {
                arn: text(b, "LoadBalancerArn")?,
                dns_name: text(b, "DNSName").unwrap_or_default(),
                zone_id: text(b, "CanonicalHostedZoneId").unwrap_or_default(),
                scheme: text(b, "Scheme").unwrap_or_default(),
                vpc: text(b, "VpcId").unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::RawCheck;

    fn check(json: &str) -> Check {
        serde_json::from_str::<RawCheck>(json)
            .unwrap()
            .check()
            .unwrap()
    }

    #[test]
    fn an_http_check_becomes_elbv2_health_parameters() {
        let params = health_params(
            &check(r#"{"type": "http", "path": "/healthz", "status": 204, "interval": "10s", "timeout": "3s"}"#),
            8000,
        )
        .unwrap();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("HealthCheckPath"), Some("/healthz"));
        assert_eq!(get("Matcher.HttpCode"), Some("204"));
        assert_eq!(get("HealthCheckIntervalSeconds"), Some("10"));
        assert_eq!(get("HealthCheckTimeoutSeconds"), Some("3"));
        assert_eq!(get("HealthCheckPort"), Some("8000"));
        assert_eq!(get("HealthyThresholdCount"), Some("2"));
        assert_eq!(get("UnhealthyThresholdCount"), Some("3"));
    }

    #[test]
    fn what_elbv2_cannot_do_is_refused_field_by_field() {
        let misfits = health_params(
            &check(r#"{"type": "http", "path": "/", "status": 503, "interval": "500ms", "healthy_threshold": 1, "unhealthy_threshold": 11}"#),
            80,
        )
        .unwrap_err();
        let fields: Vec<_> = misfits.iter().map(|m| m.field.unwrap()).collect();
        assert_eq!(
            fields,
            [
                "interval",
                "timeout",
                "healthy_threshold",
                "unhealthy_threshold",
                "status"
            ],
            "{misfits:?}"
        );
        assert!(
            misfits[0].message.contains("5 to 300"),
            "{}",
            misfits[0].message
        );
        let tcp = health_params(&check(r#"{"interval": "10s"}"#), 80).unwrap_err();
        assert_eq!(tcp[0].field, Some("type"));
        let slow = health_params(
            &check(r#"{"type": "http", "interval": "5s", "timeout": "5s"}"#),
            80,
        )
        .unwrap_err();
        assert_eq!(slow[0].field, Some("timeout"));
        assert!(slow[0].message.contains("shorter"), "{}", slow[0].message);
    }

    #[test]
    fn load_balancers_and_lists_are_read_from_member_elements() {
        let root = Element::parse(
            "<CreateLoadBalancerResponse><CreateLoadBalancerResult><LoadBalancers><member>\
             <LoadBalancerArn>arn:lb/1</LoadBalancerArn><DNSName>web-1.elb</DNSName>\
             <CanonicalHostedZoneId>Z1GM3OXH4ZPM65</CanonicalHostedZoneId>\
             <Scheme>internal</Scheme><VpcId>vpc-1</VpcId></member></LoadBalancers>\
             </CreateLoadBalancerResult></CreateLoadBalancerResponse>",
        )
        .unwrap();
        assert_eq!(
            load_balancers(&root),
            [LoadBalancer {
                arn: "arn:lb/1".into(),
                dns_name: "web-1.elb".into(),
                zone_id: "Z1GM3OXH4ZPM65".into(),
                scheme: "internal".into(),
                vpc: "vpc-1".into(),
            }]
        );
    }
}
