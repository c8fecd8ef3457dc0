//! Nodes: an EC2 instance per node, launched after looking for one to adopt, polled until it
//! runs with an address (and, with `ssh_check`, answers on port 22), terminated and waited for
//! on delete.
//!
//! Adoption looks in one snapshot per region and lineage of the live instances (seeded by
//! refresh, else read at the first launch, empty without asking for a lineage this run made),
//! re-checked by id, so a fleet of N launches does not make N tag-filtered DescribeInstances
//! calls; a launch this process already attempted asks afresh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use super::client::Params;
use super::ec2::{
    self, Instance, TAG_ADDRESS, TAG_COMMAND, TAG_DEPENDENCIES, TAG_IMAGE, TAG_LINEAGE, TAG_PORTS,
    region_of,
};
use super::launch::Launch;
use super::{AwsDriver, PAGE, POLL_FIRST, POLL_MAX, lock, pages};
use crate::backoff::Policy;
use crate::driver::{CreateRequest, DriverError, Scope};
use crate::resource::{Address, Desired, Existing, Kind, Placement};

const SSH_PORT: u16 = 22;

/// Live instances of one lineage in one region, by the address they were created for.
pub(super) type Live = HashMap<Address, Instance>;

/// [`Live`], read once.
pub(super) type LiveCell = Arc<tokio::sync::OnceCell<Live>>;

impl AwsDriver {
    /// Instances of this lineage and address in `region` that are pending or running, but
    /// for those in `except` (the objects a create replaces). The whole lineage is read: an
    /// instance of a batch has no tag of its own address to filter by.
    pub(super) async fn find_node(
        &self,
        region: &str,
        lineage: &str,
        address: &Address,
        except: &[&str],
    ) -> Result<Option<Instance>, DriverError> {
        let params = Params::new()
            .filter(1, &format!("tag:{TAG_LINEAGE}"), &[lineage])
            .filter(2, "instance-state-name", &["pending", "running"])
            .set("MaxResults", PAGE);
        let pages = pages(&self.api, region, "DescribeInstances", params).await?;
        let mut found: Vec<Instance> = pages
            .iter()
            .flat_map(Instance::all)
            .filter(|i| i.is_live() && self.ours(&i.tags) && !except.contains(&i.id.as_str()))
            .filter(|i| i.address().as_ref() == Some(address))
            .collect();
        // Should two exist (only a foreign tool could do that), adopt the oldest id.
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found.into_iter().next())
    }

    /// The live instances of `lineage` in `region`, read at most once per process (none,
    /// without asking, for a lineage this run created).
    pub(super) async fn live(&self, region: &str, lineage: &str) -> Result<LiveCell, DriverError> {
        let cell = lock(&self.live)
            .entry((region.to_string(), lineage.to_string()))
            .or_default()
            .clone();
        let new = lock(&self.new_lineages).contains(lineage);
        cell.get_or_try_init(|| async {
            if new {
                return Ok(Live::new());
            }
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
    pub(super) fn by_address(&self, instances: impl IntoIterator<Item = Instance>) -> Live {
        let mut live = Live::new();
        for i in instances {
            if !i.is_live() || !self.ours(&i.tags) {
                continue;
            }
            let Some(address) = i.address() else {
                continue;
            };
            match live.entry(address) {
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

    pub(super) async fn create_node(
        &self,
        request: &CreateRequest<'_>,
    ) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let placement = request.placement;
        let zone = placement.location.as_str();
        let region = region_of(zone);
        // The region's key pair and security group must exist: compile makes the node
        // depend on them; if their creation was refused, this zone cannot be used.
        let dependency = |kind: Kind| {
            request.dependencies.iter().find(|d| {
                d.kind == kind
                    && d.placement.location == region
                    && desired.depends_on.contains(&d.address)
            })
        };
        let wanted = |kind: Kind| {
            desired
                .depends_on
                .iter()
                .find(|a| a.is_regional(kind, &self.name, &region))
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
        // The old instance of a replace (still running beside the new one) is never adopted.
        let replacing: Vec<&str> = request
            .replacing
            .iter()
            .map(|r| r.provider_id.as_str())
            .collect();
        let attempt = (region.clone(), desired.address.clone());
        let retried = lock(&self.launched).contains(&attempt);
        let cell = self.live(&region, request.lineage).await?;
        let seen = cell
            .get()
            .and_then(|live| live.get(&desired.address))
            .cloned();
        // The snapshot holds one instance per address: when that is the old one, ask.
        let shadowed = seen
            .as_ref()
            .is_some_and(|i| replacing.contains(&i.id.as_str()));
        let found = if retried || shadowed {
            self.find_node(&region, request.lineage, &desired.address, &replacing)
                .await?
        } else {
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
        let mut shared = self.oss_tags(request.lineage, &desired.address, "");
        shared.remove(TAG_ADDRESS);
        shared.insert(TAG_IMAGE.into(), placement.image.clone());
        shared.insert(
            TAG_PORTS.into(),
            serde_json::to_string(&ec2::attribute_ports(attributes)).unwrap_or_default(),
        );
        let depends: Vec<&str> = desired.depends_on.iter().map(Address::as_str).collect();
        let depends = depends.join(",");
        if depends.len() <= 256 {
            shared.insert(TAG_DEPENDENCIES.into(), depends);
        }
        if !command.is_empty() {
            shared.insert(TAG_COMMAND.into(), "user-data".into());
        }

        let mut params = Params::new()
            .set("ImageId", &ami)
            .set("InstanceType", &placement.size)
            .set("Placement.AvailabilityZone", zone);
        if let Some(key) = dependency(Kind::Key) {
            params = params.set("KeyName", &key.provider_id);
        }
        if let Some(group) = dependency(Kind::Firewall) {
            params = params.set("SecurityGroupId.1", &group.provider_id);
        }
        if !command.is_empty() {
            let env: Vec<(&str, &str)> = attributes
                .get("env")
                .and_then(Value::as_object)
                .map(|env| {
                    env.iter()
                        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                        .collect()
                })
                .unwrap_or_default();
            params = params.set("UserData", user_data(command, &env));
        }
        // Never repeated here: a lost answer is repaired by the executor's retry, which finds
        // the instance by its tags (and AWS by the client token) instead of launching again.
        lock(&self.launched).insert(attempt);
        let launched = self
            .launcher()
            .submit(Launch {
                region: region.clone(),
                params,
                shared,
                user: ec2::attribute_tags(attributes),
                address: desired.address.clone(),
                name: name.to_string(),
                lineage: request.lineage.to_string(),
                replacing: replacing.iter().map(|id| id.to_string()).collect(),
            })
            .await?;
        let running = self.wait_running(&region, &launched.id, desired).await?;
        Ok(self.node_existing(desired, placement, &running))
    }

    pub(super) fn node_existing(
        &self,
        desired: &Desired,
        placement: &Placement,
        i: &Instance,
    ) -> Existing {
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
    pub(super) async fn wait_running(
        &self,
        region: &str,
        id: &str,
        desired: &Desired,
    ) -> Result<Instance, DriverError> {
        let started = Instant::now();
        let mut polls = self.polling().start();
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
            if !polls.wait(None).await {
                return Err(DriverError::retry(format!(
                    "Instance {id} for {} was not running after {}s; it is left as it is and \
                     adopted by the next attempt.",
                    desired.address,
                    self.ready_timeout.as_secs()
                ))
                .with_code("WaitTimeout"));
            }
        }
    }

    /// One instance by id; `None` when AWS does not (yet, or any more) know it.
    pub(super) async fn describe_one(
        &self,
        region: &str,
        id: &str,
    ) -> Result<Option<Instance>, DriverError> {
        self.gather().describe(region, id).await
    }

    pub(super) async fn wait_ssh(
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

    pub(super) async fn delete_node(&self, existing: &Existing) -> Result<(), DriverError> {
        let region = region_of(&existing.placement.location);
        let id = existing.provider_id.as_str();
        self.gather().terminate(&region, id).await?;
        // Wait until it is gone, so the security group it uses can be deleted next.
        let mut polls = self.polling().start();
        loop {
            match self.describe_one(&region, id).await? {
                None => return Ok(()),
                Some(i) if i.state == "terminated" => return Ok(()),
                Some(_) => {}
            }
            if !polls.wait(None).await {
                return Err(DriverError::retry(format!(
                    "Instance {id} ({}) was still shutting down after {}s.",
                    existing.address,
                    self.ready_timeout.as_secs()
                ))
                .with_code("IncorrectInstanceState"));
            }
        }
    }

    /// How a launching or terminating instance is polled: pauses doubling from `POLL_FIRST`
    /// to `POLL_MAX`, for up to `ready_timeout`.
    fn polling(&self) -> Policy {
        Policy::until(POLL_FIRST, POLL_MAX, self.ready_timeout).with_jitter(0.0)
    }
}

pub(super) const USER_DATA_HEAD: &str = "#!/bin/sh\n";

/// The node command as user data: a shell script cloud-init runs at first boot, the group's
/// `env` exported first (names are checked by the schema; values single-quoted).
pub(super) fn user_data(command: &str, env: &[(&str, &str)]) -> String {
    let exports: String = env
        .iter()
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', "'\\''")))
        .collect();
    base64::engine::general_purpose::STANDARD
        .encode(format!("{USER_DATA_HEAD}{exports}{command}\n"))
}

/// Whether something accepts TCP connections on `ip:port` within `within`.
pub(super) async fn tcp_ping(ip: &str, port: u16, within: Duration) -> bool {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let mut pauses = Policy::until(Duration::from_secs(1), Duration::from_secs(1), within)
        .with_jitter(0.0)
        .start();
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect((ip, port)),
        )
        .await;
        if matches!(attempt, Ok(Ok(_))) {
            return true;
        }
        if !pauses.wait(None).await {
            return false;
        }
    }
}

/// The last `count` lines of console output as EC2 gives it (base64; empty while there is
/// none yet), carriage returns dropped.
pub(super) fn console_lines(output: &str, count: usize) -> Vec<String> {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(output.trim()) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_output_is_decoded_into_its_last_lines() {
        use base64::Engine;
        let output = base64::engine::general_purpose::STANDARD.encode("boot\r\nup\r\nready\n");
        assert_eq!(super::console_lines(&output, 2), ["up", "ready"]);
        assert!(super::console_lines("", 5).is_empty());
        assert!(super::console_lines("not base64!", 5).is_empty());
    }

    use super::*;

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
        let encoded = user_data("echo hi", &[]);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"#!/bin/sh\necho hi\n");
    }
}
