//! The network an `aws` balancer lives in, over EC2's Query API: the region's default VPC
//! with one subnet in each of its first two zones when the region has one; otherwise a VPC of
//! oss's own (`network.PROVIDER`): the VPC, an internet gateway attached to it with a default
//! route in its main route table (for an internet-facing balancer), and two subnets in the
//! region's first two zones. Every object oss makes is tagged with the network's address and
//! the state's lineage in its create call, so a create a crash interrupted finds what it made
//! by those tags and makes only the rest; deletes go subnets, gateway, VPC, and treat "already
//! gone" as done.
//!
//! Knows no oss resource: tags and the address ranges come from the caller. Never prints.

use crate::driver::DriverError;
use crate::driver::aws::client::{Params, Repeat};
use crate::net::aws::xml::Element;

use super::elbv2::{Elbv2, text};

/// A network as the balancer uses it, and as state records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub vpc: String,
    /// In zone order.
    pub subnets: [String; 2],
    /// Whether oss made it (else it is the region's default VPC, never deleted).
    pub owned: bool,
    pub gateway: Option<String>,
}

/// What oss makes when the region has no default VPC.
pub struct Shape<'a> {
    pub cidr: &'a str,
    pub subnets: [&'a str; 2],
    pub internet_gateway: bool,
}

/// Whether `error` says the object is already gone (or, for a gateway, not attached).
fn is_gone(error: &DriverError) -> bool {
    error
        .code
        .as_deref()
        .is_some_and(|code| code.ends_with(".NotFound") || code == "Gateway.NotAttached")
}

/// Filters on the tags of what oss made (from filter number `from`).
fn tag_filters(mut params: Params, from: usize, tags: &[(String, String)]) -> Params {
    for (i, (key, value)) in tags.iter().enumerate() {
        params = params.filter(from + i, &format!("tag:{key}"), std::slice::from_ref(value));
    }
    params
}

impl Elbv2 {
    async fn ec2(&self, action: &str, params: Params) -> Result<Element, DriverError> {
        self.ec2
            .call(&self.region, action, &params, Repeat::Safe)
            .await
    }

    /// The region's default VPC and one subnet in each of its first two zones (by zone
    /// name); `None` when the region has no default VPC.
    pub async fn default_network(&self) -> Result<Option<Network>, DriverError> {
        let vpcs = self
            .ec2(
                "DescribeVpcs",
                Params::new().filter(1, "is-default", &["true"]),
            )
            .await?;
        let Some(vpc) = vpcs.items("vpcSet").find_map(|v| text(v, "vpcId")) else {
            return Ok(None);
        };
        let subnets = self
            .ec2(
                "DescribeSubnets",
                Params::new().filter(1, "vpc-id", std::slice::from_ref(&vpc)),
            )
            .await?;
        let subnets = self.two_zones(&vpc, &subnets)?;
        Ok(Some(Network {
            vpc,
            subnets,
            owned: false,
            gateway: None,
        }))
    }

    /// One subnet of `answer` (DescribeSubnets) in each of its first two zones.
    fn two_zones(&self, vpc: &str, answer: &Element) -> Result<[String; 2], DriverError> {
        let mut by_zone: Vec<(String, String)> = answer
            .items("subnetSet")
            .filter_map(|s| Some((text(s, "availabilityZone")?, text(s, "subnetId")?)))
            .collect();
        by_zone.sort();
        by_zone.dedup_by(|a, b| a.0 == b.0);
        match &by_zone[..] {
            [a, b, ..] => Ok([a.1.clone(), b.1.clone()]),
            _ => Err(DriverError::fatal(format!(
                "VPC {vpc} in {} has subnets in {} zone(s); an application load balancer needs two zones.",
                self.region,
                by_zone.len()
            ))),
        }
    }

    /// The VPC oss made with `tags`, if there is one.
    async fn tagged_vpc(&self, tags: &[(String, String)]) -> Result<Option<String>, DriverError> {
        let found = self
            .ec2("DescribeVpcs", tag_filters(Params::new(), 1, tags))
            .await?;
        Ok(found.items("vpcSet").find_map(|v| text(v, "vpcId")))
    }

    /// The network a balancer goes in: the one oss made with `tags` when there is one (the
    /// balancer depends on the network, so it was made first), else the default VPC's.
    pub async fn network_of(&self, tags: &[(String, String)]) -> Result<Network, DriverError> {
        let Some(vpc) = self.tagged_vpc(tags).await? else {
            return self.default_network().await?.ok_or_else(|| {
                DriverError::fatal(format!(
                    "Region {} has no default VPC and no VPC oss made for its load balancers; run `oss apply` to make it.",
                    self.region
                ))
            });
        };
        let subnets = self
            .ec2(
                "DescribeSubnets",
                tag_filters(
                    Params::new().filter(1, "vpc-id", std::slice::from_ref(&vpc)),
                    2,
                    tags,
                ),
            )
            .await?;
        let subnets = self.two_zones(&vpc, &subnets)?;
        Ok(Network {
            vpc,
            subnets,
            owned: true,
            gateway: None,
        })
    }

    /// Finds or makes the network: the default VPC's when there is one, else oss's own of
    /// `shape`, tagged `tags`, adopting whatever of it an earlier, interrupted create made.
    pub async fn make_network(
        &self,
        shape: &Shape<'_>,
        tags: &[(String, String)],
    ) -> Result<Network, DriverError> {
        if let Some(network) = self.default_network().await? {
            return Ok(network);
        }
        let vpc = match self.tagged_vpc(tags).await? {
            Some(vpc) => vpc,
            None => {
                let made = self
                    .ec2(
                        "CreateVpc",
                        Params::new()
                            .set("CidrBlock", shape.cidr)
                            .tag_spec("vpc", tags),
                    )
                    .await?;
                made.text_at(&["vpc", "vpcId"])
                    .map(String::from)
                    .ok_or_else(|| missing("CreateVpc", "a VPC id"))?
            }
        };
        let gateway = match shape.internet_gateway {
            true => Some(self.make_gateway(&vpc, tags).await?),
            false => None,
        };
        let subnets = self.make_subnets(&vpc, shape, tags).await?;
        Ok(Network {
            vpc,
            subnets,
            owned: true,
            gateway,
        })
    }

    /// The internet gateway of `vpc` (found by `tags` or made), attached, with the default
    /// route of the VPC's main route table through it.
    async fn make_gateway(
        &self,
        vpc: &str,
        tags: &[(String, String)],
    ) -> Result<String, DriverError> {
        let found = self
            .ec2(
                "DescribeInternetGateways",
                tag_filters(Params::new(), 1, tags),
            )
            .await?;
        let existing = found.items("internetGatewaySet").find_map(|g| {
            let attached = g.child("attachmentSet").is_some_and(|a| {
                a.children
                    .iter()
                    .any(|i| text(i, "vpcId").as_deref() == Some(vpc))
            });
            Some((text(g, "internetGatewayId")?, attached))
        });
        let (gateway, attached) = match existing {
            Some(found) => found,
            None => {
                let made = self
                    .ec2(
                        "CreateInternetGateway",
                        Params::new().tag_spec("internet-gateway", tags),
                    )
                    .await?;
                let id = made
                    .text_at(&["internetGateway", "internetGatewayId"])
                    .map(String::from)
                    .ok_or_else(|| missing("CreateInternetGateway", "a gateway id"))?;
                (id, false)
            }
        };
        if !attached {
            match self
                .ec2(
                    "AttachInternetGateway",
                    Params::new()
                        .set("InternetGatewayId", &gateway)
                        .set("VpcId", vpc),
                )
                .await
            {
                Err(e) if e.code.as_deref() == Some("Resource.AlreadyAssociated") => {}
                other => drop(other?),
            }
        }
        let tables = self
            .ec2(
                "DescribeRouteTables",
                Params::new()
                    .filter(1, "vpc-id", &[vpc])
                    .filter(2, "association.main", &["true"]),
            )
            .await?;
        let table = tables
            .items("routeTableSet")
            .find_map(|t| text(t, "routeTableId"))
            .ok_or_else(|| DriverError::fatal(format!("VPC {vpc} has no main route table.")))?;
        match self
            .ec2(
                "CreateRoute",
                Params::new()
                    .set("RouteTableId", &table)
                    .set("DestinationCidrBlock", "0.0.0.0/0")
                    .set("GatewayId", &gateway),
            )
            .await
        {
            Err(e) if e.code.as_deref() == Some("RouteAlreadyExists") => {}
            other => drop(other?),
        }
        Ok(gateway)
    }

    /// The two subnets of `vpc`, one in each of the region's first two zones (found by
    /// `tags` and zone, or made).
    async fn make_subnets(
        &self,
        vpc: &str,
        shape: &Shape<'_>,
        tags: &[(String, String)],
    ) -> Result<[String; 2], DriverError> {
        let zones = self
            .ec2(
                "DescribeAvailabilityZones",
                Params::new().filter(1, "state", &["available"]),
            )
            .await?;
        let mut zones: Vec<String> = zones
            .items("availabilityZoneInfo")
            .filter_map(|z| text(z, "zoneName"))
            .collect();
        zones.sort();
        if zones.len() < 2 {
            return Err(DriverError::fatal(format!(
                "Region {} has {} zone(s); an application load balancer needs two.",
                self.region,
                zones.len()
            )));
        }
        let found = self
            .ec2(
                "DescribeSubnets",
                tag_filters(Params::new().filter(1, "vpc-id", &[vpc]), 2, tags),
            )
            .await?;
        let found: Vec<(String, String)> = found
            .items("subnetSet")
            .filter_map(|s| Some((text(s, "availabilityZone")?, text(s, "subnetId")?)))
            .collect();
        let mut subnets = Vec::with_capacity(2);
        for (zone, cidr) in zones.iter().zip(shape.subnets) {
            if let Some((_, id)) = found.iter().find(|(z, _)| z == zone) {
                subnets.push(id.clone());
                continue;
            }
            let made = self
                .ec2(
                    "CreateSubnet",
                    Params::new()
                        .set("VpcId", vpc)
                        .set("CidrBlock", cidr)
                        .set("AvailabilityZone", zone)
                        .tag_spec("subnet", tags),
                )
                .await?;
            subnets.push(
                made.text_at(&["subnet", "subnetId"])
                    .map(String::from)
                    .ok_or_else(|| missing("CreateSubnet", "a subnet id"))?,
            );
        }
        Ok([subnets[0].clone(), subnets[1].clone()])
    }

    /// Whether the VPC `vpc` still exists.
    pub async fn vpc_exists(&self, vpc: &str) -> Result<bool, DriverError> {
        match self
            .ec2("DescribeVpcs", Params::new().list("VpcId", &[vpc]))
            .await
        {
            Ok(found) => Ok(found
                .items("vpcSet")
                .any(|v| text(v, "vpcId").as_deref() == Some(vpc))),
            Err(e) if is_gone(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes what oss made of a network: its subnets, its gateway (detached first), the
    /// VPC (its main route table goes with it). What is gone already is done. A VPC still
    /// in use (a balancer's interfaces are released a little after it is deleted) is
    /// `DependencyViolation`, retried.
    pub async fn delete_network(&self, network: &Network) -> Result<(), DriverError> {
        if !network.owned {
            return Ok(());
        }
        for subnet in &network.subnets {
            self.gone_ok("DeleteSubnet", Params::new().set("SubnetId", subnet))
                .await?;
        }
        if let Some(gateway) = &network.gateway {
            self.gone_ok(
                "DetachInternetGateway",
                Params::new()
                    .set("InternetGatewayId", gateway)
                    .set("VpcId", &network.vpc),
            )
            .await?;
            self.gone_ok(
                "DeleteInternetGateway",
                Params::new().set("InternetGatewayId", gateway),
            )
            .await?;
        }
        self.gone_ok("DeleteVpc", Params::new().set("VpcId", &network.vpc))
            .await
    }

    async fn gone_ok(&self, action: &str, params: Params) -> Result<(), DriverError> {
        match self.ec2(action, params).await {
            Err(e) if is_gone(&e) => Ok(()),
            other => other.map(drop),
        }
    }
}

fn missing(action: &str, what: &str) -> DriverError {
    DriverError::fatal(format!("EC2 {action} answered without {what}."))
}
