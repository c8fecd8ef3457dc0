//! Launches in batches: the RunInstances of node steps that run at once are queued to one
//! group-commit thread ([`crate::batch`]) and sent as one call per placement (same region,
//! zone, instance type, AMI, key pair, security group, user data and tags), with
//! `MinCount = MaxCount = n`, so EC2 starts all n or none.
//!
//! EC2 puts the same tags on every instance of one call, so a batch cannot tag each instance
//! with its own `oss:address`. Instead every instance carries the batch's addresses written
//! compactly (`oss:addresses = node.web[0-19]`, at most 256 characters: longer batches are
//! split) and EC2 gives each instance its `amiLaunchIndex`, its place in the launch (0 to
//! n-1); the address of an instance is entry `amiLaunchIndex` of the list
//! ([`super::ec2::Instance::address`]). Refresh, adoption and rebuilding from tags read it so,
//! with no call beyond the DescribeInstances they make anyway. A launch of one node keeps
//! `oss:address` as before.
//!
//! Crash safety: the tags are part of the RunInstances call itself (TagSpecifications), so no
//! instance ever runs untagged; a kill after the call and before the state write leaves
//! instances that the next refresh finds by their lineage tag and maps to their addresses, and
//! adopts instead of launching again. Each call carries a `ClientToken` made of the batch
//! (process nonce, lineage, placement, addresses, the instances being replaced), so AWS
//! answers a repeated call with the same instances rather than new ones. The call itself is
//! repeated here only when EC2 refused it as throttled (it launched nothing then), so a
//! throttle keeps the batch whole instead of failing all its steps into retries that would
//! each launch alone; a lost answer fails the steps as retryable, and the retry looks for its
//! instance by the lineage tag before it launches anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::client::{Api, Params, Repeat};
use super::ec2::{self, Instance, TAG_ADDRESS, TAG_ADDRESSES, TAG_NAME, Tags};
use crate::batch::GroupCommit;
use crate::driver::DriverError;
use crate::resource::Address;

/// The most instances one RunInstances asks for (the tag limit usually cuts first).
const MAX_BATCH: usize = 100;

/// How long the launch queue (and [`super::gather`]'s) waits after a launch for the next
/// before calling: the node steps of one apply reach the queue within microseconds to a few
/// milliseconds of each other, and a launch split in two is a second RunInstances, a call EC2
/// allows few of (its bucket: 5, refilled at 2 a second). A few of these at most per call
/// (`crate::batch`), small against RunInstances' own time.
pub(super) const LINGER: Duration = Duration::from_millis(10);

/// One node to launch: the call's parameters and tags shared with every node of its batch,
/// and what is its own.
pub(super) struct Launch {
    pub region: String,
    /// ImageId, InstanceType, Placement, KeyName, SecurityGroupId, UserData: no counts, no
    /// token, no tags.
    pub params: Params,
    /// oss's tags shared by the batch (lineage, provider, image, ports, dependencies...).
    pub shared: Tags,
    /// The user's tags (the console `Name` is added here).
    pub user: Tags,
    pub address: Address,
    /// The `name` attribute (`web-3`).
    pub name: String,
    pub lineage: String,
    /// The ids of the instances this launch replaces (part of the client token).
    pub replacing: Vec<String>,
}

impl Launch {
    /// What a batch shares: a launch joins the batch of another with the same key.
    fn key(&self) -> String {
        let mut key = format!("{}\0{}\0", self.region, self.lineage);
        let params = self.params.0.iter().map(|(k, v)| (k, v));
        for (k, v) in params.chain(&self.shared).chain(&self.user) {
            key.push_str(k);
            key.push('\0');
            key.push_str(v);
            key.push('\0');
        }
        key.push_str(&self.replacing.join(","));
        key
    }

    /// The group and index of a node whose name is the compiled `GROUP-INDEX`, so both can
    /// be read back from the batch's tags; `None` launches alone.
    fn batchable(&self) -> Option<(&str, u64)> {
        let (group, index) = ec2::node_index(&self.address)?;
        (self.name == format!("{group}-{index}") && self.replacing.is_empty())
            .then_some((group, index))
    }
}

/// The launch queue of one driver.
pub(super) struct Launcher {
    queue: GroupCommit<Launch, Result<Instance, DriverError>>,
}

impl Launcher {
    /// Starts the thread; the calls are made on the runtime current now.
    pub fn start(provider: &str, api: Arc<Api>, nonce: u64) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let name = provider.to_string();
        let queue = GroupCommit::start_lingering(
            &format!("oss-ec2-run-{provider}"),
            10_000,
            LINGER,
            move |all| runtime.block_on(launch_all(&api, &name, nonce, all)),
        );
        Launcher { queue }
    }

    /// Queues `launch` and waits for its instance (as RunInstances answered: pending).
    pub async fn submit(&self, launch: Launch) -> Result<Instance, DriverError> {
        self.queue
            .submit(launch)
            .await
            .unwrap_or_else(|_| Err(DriverError::fatal("the EC2 launch thread ended")))
    }
}

/// The launches cut into calls: those sharing a key together, in index order, as many per
/// call as the tag value and [`MAX_BATCH`] allow; the others alone. Positions into `all`.
fn calls(all: &[Launch]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut calls = Vec::new();
    for (i, launch) in all.iter().enumerate() {
        if launch.batchable().is_none() {
            calls.push(vec![i]);
            continue;
        }
        let key = launch.key();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    for (_, mut members) in groups {
        members.sort_by_key(|&i| all[i].batchable().map(|(_, index)| index));
        members.dedup_by_key(|&mut i| all[i].address.clone());
        let mut call: Vec<usize> = Vec::new();
        for i in members {
            let mut wider = call.clone();
            wider.push(i);
            if !call.is_empty()
                && (wider.len() > MAX_BATCH || addresses(all, &wider).len() > ec2::TAG_VALUE_MAX)
            {
                calls.push(std::mem::take(&mut call));
                wider = vec![i];
            }
            call = wider;
        }
        if !call.is_empty() {
            calls.push(call);
        }
    }
    calls
}

/// The `oss:addresses` of a batch.
fn addresses(all: &[Launch], call: &[usize]) -> String {
    let indexes: Vec<u64> = call
        .iter()
        .filter_map(|&i| all[i].batchable().map(|(_, index)| index))
        .collect();
    let prefix = all[call[0]]
        .address
        .as_str()
        .rsplit_once('[')
        .map_or("", |(prefix, _)| prefix);
    ec2::compact(prefix, &indexes)
}

/// Every call at once; one answer per launch, in order.
async fn launch_all(
    api: &Api,
    provider: &str,
    nonce: u64,
    all: Vec<Launch>,
) -> Vec<Result<Instance, DriverError>> {
    let calls = calls(&all);
    let answers = futures_util::future::join_all(
        calls
            .iter()
            .map(|call| run(api, provider, nonce, &all, call)),
    )
    .await;
    let mut out: Vec<Option<Result<Instance, DriverError>>> = all.iter().map(|_| None).collect();
    for (call, answer) in calls.iter().zip(answers) {
        match answer {
            Ok(instances) => {
                for (&i, instance) in call.iter().zip(instances) {
                    out[i] = Some(instance);
                }
            }
            Err(e) => {
                for &i in call {
                    out[i] = Some(Err(e.clone()));
                }
            }
        }
    }
    // A launch left out of every call (a duplicate address in one batch) is one of a pair
    // the executor never makes; it is refused rather than launched twice.
    out.into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(DriverError::fatal(
                    "The same node was launched twice at once.",
                ))
            })
        })
        .collect()
}

/// One RunInstances for the launches `call` of `all`: their instances in the order of `call`.
async fn run(
    api: &Api,
    provider: &str,
    nonce: u64,
    all: &[Launch],
    call: &[usize],
) -> Result<Vec<Result<Instance, DriverError>>, DriverError> {
    let first = &all[call[0]];
    let mut tags = first.shared.clone();
    let (listed, name) = if call.len() == 1 {
        tags.insert(TAG_ADDRESS.into(), first.address.to_string());
        (first.address.to_string(), first.name.clone())
    } else {
        let listed = addresses(all, call);
        let group = first.batchable().map_or("", |(group, _)| group);
        let indexes: Vec<u64> = call
            .iter()
            .filter_map(|&i| all[i].batchable().map(|(_, index)| index))
            .collect();
        tags.insert(TAG_ADDRESSES.into(), listed.clone());
        (listed, ec2::batch_name(group, &indexes))
    };
    if !name.is_empty() {
        tags.insert(TAG_NAME.into(), name.clone());
    }
    tags.extend(ec2::visible_tags(&first.user, &name));
    let tags: Vec<(String, String)> = tags.into_iter().collect();
    let count = call.len().to_string();
    let mut params = first.params.clone();
    params = params
        .set("MinCount", &count)
        .set("MaxCount", &count)
        .set("ClientToken", client_token(nonce, first, &listed))
        .tag_spec("instance", &tags);
    let answer = api
        .call(&first.region, "RunInstances", &params, Repeat::Throttled)
        .await?;
    let launched = Instance::all(&answer);
    let malformed = |what: &str| {
        DriverError::retry(format!(
            "AWS RunInstances in {} answered {what} for {listed} (provider `{provider}`).",
            first.region
        ))
        .with_code("MalformedResponse")
    };
    if call.len() == 1 {
        let one = launched
            .into_iter()
            .next()
            .ok_or_else(|| malformed("without an instance"))?;
        return Ok(vec![Ok(one)]);
    }
    let by_index: HashMap<usize, Instance> = launched
        .into_iter()
        .filter_map(|i| Some((i.launch_index?, i)))
        .collect();
    Ok((0..call.len())
        .map(|n| {
            by_index
                .get(&n)
                .cloned()
                .ok_or_else(|| malformed(&format!("without the instance of launch index {n}")))
        })
        .collect())
}

/// An idempotency token for one RunInstances (at most 64 ASCII characters): the same batch
/// of this process gets the same token, any other batch another.
pub(super) fn client_token(nonce: u64, launch: &Launch, listed: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(nonce.to_be_bytes());
    let parts = [launch.lineage.as_str(), &launch.key(), listed];
    for part in parts
        .iter()
        .copied()
        .chain(launch.replacing.iter().map(String::as_str))
    {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("oss-{}", &hex[..40])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(address: Address, name: &str, zone: &str) -> Launch {
        Launch {
            region: "ap-southeast-2".into(),
            params: Params::new().set("Placement.AvailabilityZone", zone),
            shared: Tags::new(),
            user: Tags::new(),
            address,
            name: name.into(),
            lineage: "L".into(),
            replacing: Vec::new(),
        }
    }

    #[test]
    fn launches_of_one_placement_share_a_call_cut_at_the_tag_limit() {
        let mut all: Vec<Launch> = (0..300)
            .rev()
            .map(|i| launch(Address::node("web", i), &format!("web-{i}"), "a"))
            .collect();
        all.push(launch(Address::node("web", 300), "web-300", "b"));
        all.push(launch(Address::node("db", 0), "custom", "a"));
        let calls = calls(&all);
        // The odd name launches alone, the other zone alone, the 300 in three (MAX_BATCH).
        assert_eq!(calls.len(), 5, "{calls:?}");
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 100, 100, 100, 1]);
        assert_eq!(addresses(&all, &calls[1]), "node.web[0-99]");
        for call in &calls {
            assert!(addresses(&all, call).len() <= ec2::TAG_VALUE_MAX);
        }
        // Scattered indexes make the list long: the tag limit cuts the batch.
        let sparse: Vec<Launch> = (0..100)
            .map(|i| launch(Address::node("web", i * 2), &format!("web-{}", i * 2), "a"))
            .collect();
        let calls = super::calls(&sparse);
        assert!(calls.len() > 1);
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 100);
        for call in &calls {
            assert!(addresses(&sparse, call).len() <= ec2::TAG_VALUE_MAX);
        }
    }

    #[test]
    fn client_tokens_differ_per_batch_and_are_short() {
        let one = launch(Address::node("web", 0), "web-0", "a");
        let a = client_token(7, &one, "node.web[0-9]");
        assert_eq!(a, client_token(7, &one, "node.web[0-9]"));
        assert_ne!(a, client_token(7, &one, "node.web[0-8]"));
        assert_ne!(a, client_token(8, &one, "node.web[0-9]"));
        assert!(a.len() <= 64 && a.is_ascii());
    }
}
