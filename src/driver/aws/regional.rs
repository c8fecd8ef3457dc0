//! Key pairs and security groups: one of each per region and state, named
//! `oss-STRATEGY-LINEAGE8` and tagged like every object oss creates. A duplicate name that
//! carries this state's lineage (a crash, or a lost answer) is adopted; one that does not is
//! refused. Security groups live in the region's default VPC and open one TCP port per rule to
//! anyone.

use base64::Engine;
use serde_json::Value;

use super::client::Params;
use super::ec2::{self, Group, KeyPair, Rule, TAG_LINEAGE, TAG_PORTS, Tags, region_of};
use super::{AwsDriver, attribute_name, pages};
use crate::driver::{CreateRequest, DriverError, ErrorClass, Scope};
use crate::resource::{Desired, Existing, Kind};

/// What a key pair or security group create starts from.
struct Target<'a> {
    desired: &'a Desired,
    region: String,
    /// `oss-STRATEGY-LINEAGE8`.
    name: String,
    /// The tags that mark it as this state's.
    tags: Tags,
}

impl AwsDriver {
    fn target<'a>(&self, request: &CreateRequest<'a>) -> Target<'a> {
        let desired = request.desired;
        Target {
            desired,
            region: region_of(&request.placement.location),
            name: object_name(desired, request.lineage),
            tags: self.oss_tags(request.lineage, &desired.address, &attribute_name(desired)),
        }
    }

    pub(super) async fn create_key(
        &self,
        request: &CreateRequest<'_>,
    ) -> Result<Existing, DriverError> {
        let Target {
            desired,
            region,
            name,
            tags,
        } = self.target(request);
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
        let tags: Vec<(String, String)> = tags.into_iter().collect();
        let params = Params::new()
            .set("KeyName", &name)
            .set(
                "PublicKeyMaterial",
                base64::engine::general_purpose::STANDARD.encode(public_key.trim()),
            )
            .tag_spec("key-pair", &tags);
        let imported = match self.call(&region, "ImportKeyPair", params).await {
            // The answer names the key, its id and fingerprint: nothing to read back.
            Ok(answer) => answer.text_at(&["keyName"]).map(|name| KeyPair {
                name: name.to_string(),
                id: answer
                    .text_at(&["keyPairId"])
                    .unwrap_or_default()
                    .to_string(),
                fingerprint: answer
                    .text_at(&["keyFingerprint"])
                    .unwrap_or_default()
                    .to_string(),
                public_key: None,
                tags: tags.iter().cloned().collect(),
            }),
            Err(e) if e.code.as_deref() == Some("InvalidKeyPair.Duplicate") => None,
            Err(e) => return Err(e),
        };
        let key = match imported {
            Some(key) => key,
            None => self.read_key(&region, &name).await?,
        };
        if key.tags.get(TAG_LINEAGE).map(String::as_str) != Some(request.lineage) {
            return Err(DriverError::fatal(format!(
                "A key pair named {name} already exists in {region} and was not made by this \
                 state; delete or rename it."
            ))
            .with_code("InvalidKeyPair.Duplicate"));
        }
        Ok(made(request, Kind::Key, name, key.observed()))
    }

    /// Reads a key pair back by name (it existed already: adopt it if it is ours). Just
    /// imported, it may not be visible yet (EC2 is eventually consistent): that is worth
    /// another attempt.
    async fn read_key(&self, region: &str, name: &str) -> Result<KeyPair, DriverError> {
        let answer = self
            .call(
                region,
                "DescribeKeyPairs",
                Params::new().set("KeyName.1", name),
            )
            .await
            .map_err(|e| match e.code.as_deref() {
                Some("InvalidKeyPair.NotFound") => DriverError {
                    class: ErrorClass::Retry,
                    ..e
                },
                _ => e,
            })?;
        KeyPair::all(&answer)
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| {
                DriverError::retry(format!(
                    "Key pair {name} in {region} is not visible yet after ImportKeyPair."
                ))
                .with_code("InvalidKeyPair.NotFound")
            })
    }

    pub(super) async fn default_vpc(&self, region: &str) -> Result<String, DriverError> {
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

    pub(super) async fn groups(
        &self,
        region: &str,
        params: Params,
    ) -> Result<Vec<Group>, DriverError> {
        let mut all = Vec::new();
        for page in pages(&self.api, region, "DescribeSecurityGroups", params).await? {
            all.extend(Group::all(&page));
        }
        Ok(all)
    }

    pub(super) async fn create_firewall(
        &self,
        request: &CreateRequest<'_>,
    ) -> Result<Existing, DriverError> {
        let Target {
            desired,
            region,
            name,
            mut tags,
        } = self.target(request);
        let user = ec2::attribute_tags(&desired.attributes);
        tags.insert(
            TAG_PORTS.into(),
            serde_json::to_string(&ec2::attribute_ports(&desired.attributes)).unwrap_or_default(),
        );
        tags.extend(ec2::visible_tags(&user, &attribute_name(desired)));
        let tag_list: Vec<(String, String)> = tags.clone().into_iter().collect();
        // Without a VpcId the group goes into the default VPC; the VPC's id is read at the
        // same time (for what refresh reports, and to find a duplicate), not before.
        let params = Params::new()
            .set("GroupName", &name)
            .set(
                "GroupDescription",
                format!("oss {} (state {})", desired.address, request.lineage),
            )
            .tag_spec("security-group", &tag_list);
        let (created, vpc) = tokio::join!(
            self.call(&region, "CreateSecurityGroup", params),
            self.default_vpc(&region)
        );
        let mut group = match created {
            // A new group: its id is in the answer, it has no rules yet.
            Ok(answer) if answer.text_at(&["groupId"]).is_some() => Group {
                id: answer.text_at(&["groupId"]).unwrap_or_default().to_string(),
                name: name.clone(),
                vpc_id: vpc.unwrap_or_default(),
                open_ports: Vec::new(),
                rules: Vec::new(),
                tags,
            },
            Ok(_) => self.read_group(&region, &name, &vpc?).await?,
            Err(e) if e.code.as_deref() == Some("InvalidGroup.Duplicate") => {
                self.read_group(&region, &name, &vpc?).await?
            }
            // No default VPC: DescribeVpcs says so in the words of `default_vpc`.
            Err(e) if e.code.as_deref() == Some("VPCIdNotSpecified") => {
                return Err(vpc.err().unwrap_or(e));
            }
            Err(e) => return Err(e),
        };
        if group.tags.get(TAG_LINEAGE).map(String::as_str) != Some(request.lineage) {
            return Err(DriverError::fatal(format!(
                "A security group named {name} already exists in {region} ({}) and was not \
                 made by this state; delete or rename it.",
                group.id
            ))
            .with_code("InvalidGroup.Duplicate"));
        }
        let want = ec2::attribute_rules(&desired.attributes);
        let missing: Vec<Rule> = want
            .into_iter()
            .filter(|r| !group.rules.contains(r))
            .collect();
        self.change_rules(
            &region,
            &group.id,
            "AuthorizeSecurityGroupIngress",
            &missing,
        )
        .await?;
        for rule in missing {
            if rule.cidr == "0.0.0.0/0" && !group.open_ports.contains(&rule.port) {
                group.open_ports.push(rule.port);
            }
        }
        group.open_ports.sort_unstable();
        Ok(made(
            request,
            Kind::Firewall,
            group.id.clone(),
            group.observed(),
        ))
    }

    /// Reads an existing group back by name in `vpc` (a duplicate: adopt it if it is ours).
    async fn read_group(&self, region: &str, name: &str, vpc: &str) -> Result<Group, DriverError> {
        let found = self
            .groups(
                region,
                Params::new()
                    .filter(1, "group-name", &[name])
                    .filter(2, "vpc-id", &[vpc]),
            )
            .await?;
        found.into_iter().find(|g| g.name == name).ok_or_else(|| {
            DriverError::retry(format!(
                "Security group {name} in {region} is not visible yet after \
                 CreateSecurityGroup."
            ))
            .with_code("InvalidGroup.NotFound")
        })
    }

    /// Opens (`AuthorizeSecurityGroupIngress`) or closes (`Revoke…`) `rules` in one call: one
    /// permission per port, with its IPv4 and IPv6 blocks.
    pub(super) async fn change_rules(
        &self,
        region: &str,
        group: &str,
        action: &str,
        rules: &[Rule],
    ) -> Result<(), DriverError> {
        if rules.is_empty() {
            return Ok(());
        }
        let mut by_port: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
        for rule in rules {
            by_port.entry(rule.port).or_default().push(&rule.cidr);
        }
        let mut params = Params::new().set("GroupId", group);
        for (i, (port, blocks)) in by_port.iter().enumerate() {
            let n = i + 1;
            params = params
                .set(format!("IpPermissions.{n}.IpProtocol"), "tcp")
                .set(format!("IpPermissions.{n}.FromPort"), port.to_string())
                .set(format!("IpPermissions.{n}.ToPort"), port.to_string());
            let (v6, v4): (Vec<&str>, Vec<&str>) = blocks.iter().partition(|b| b.contains(':'));
            for (k, block) in v4.iter().enumerate() {
                let key = format!("IpPermissions.{n}.IpRanges.{}.CidrIp", k + 1);
                params = params.set(key, *block);
            }
            for (k, block) in v6.iter().enumerate() {
                let key = format!("IpPermissions.{n}.Ipv6Ranges.{}.CidrIpv6", k + 1);
                params = params.set(key, *block);
            }
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
}

/// What a create made: the resource as it now exists at `provider_id`.
fn made(
    request: &CreateRequest<'_>,
    kind: Kind,
    provider_id: String,
    observed: crate::resource::Attributes,
) -> Existing {
    let desired = request.desired;
    Existing {
        address: desired.address.clone(),
        kind,
        placement: request.placement.clone(),
        provider_id,
        attributes: desired.attributes.clone(),
        observed,
        dependencies: desired.depends_on.clone(),
    }
}

/// `oss-STRATEGY-LINEAGE8`: the attribute `name` (`oss-STRATEGY`) and the lineage's start.
pub(super) fn object_name(desired: &Desired, lineage: &str) -> String {
    let short: String = lineage.chars().take(8).collect();
    format!("{}-{short}", attribute_name(desired))
}
