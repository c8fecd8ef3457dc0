//! Per-instance calls gathered into one per region: the DescribeInstances of every launch and
//! delete polling at once (one call filtered by `instance-id`, which unlike `InstanceId.N`
//! does not fail the whole call for an id EC2 does not know yet), and the TerminateInstances
//! of every delete at once (`InstanceId.N`). Both go through the group-commit queue
//! ([`crate::batch`]): what queues while one call is out goes in the next.

use std::collections::HashMap;
use std::sync::Arc;

use super::client::{Api, Params, Repeat};
use super::ec2::Instance;
use super::launch::LINGER;
use super::pages;
use crate::batch::GroupCommit;
use crate::driver::DriverError;

/// Ids per DescribeInstances filter (kept well inside what EC2 takes in one request).
const DESCRIBE_MAX: usize = 200;
/// Ids per TerminateInstances (EC2 takes 1,000).
const TERMINATE_MAX: usize = 1_000;

/// (region, instance id).
type Target = (String, String);

/// The describe and terminate queues of one driver.
pub(super) struct Gather {
    describe: GroupCommit<Target, Result<Option<Instance>, DriverError>>,
    terminate: GroupCommit<Target, Result<(), DriverError>>,
}

impl Gather {
    /// Starts both threads; the calls are made on the runtime current now.
    pub fn start(provider: &str, api: Arc<Api>) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let (describer, rt) = (api.clone(), runtime.clone());
        let describe = GroupCommit::start_lingering(
            &format!("oss-ec2-describe-{provider}"),
            10_000,
            LINGER,
            move |targets| rt.block_on(describe_all(&describer, targets)),
        );
        let terminate = GroupCommit::start_lingering(
            &format!("oss-ec2-terminate-{provider}"),
            10_000,
            LINGER,
            move |targets| runtime.block_on(terminate_all(&api, targets)),
        );
        Gather {
            describe,
            terminate,
        }
    }

    /// Instance `id` of `region`; `None` when EC2 does not (yet, or any more) know it.
    pub async fn describe(&self, region: &str, id: &str) -> Result<Option<Instance>, DriverError> {
        self.describe
            .submit((region.to_string(), id.to_string()))
            .await
            .unwrap_or_else(|_| Err(DriverError::fatal("the EC2 describe thread ended")))
    }

    /// Terminates instance `id` of `region`; one that is gone already counts as done.
    pub async fn terminate(&self, region: &str, id: &str) -> Result<(), DriverError> {
        self.terminate
            .submit((region.to_string(), id.to_string()))
            .await
            .unwrap_or_else(|_| Err(DriverError::fatal("the EC2 terminate thread ended")))
    }
}

/// The distinct ids of `targets` per region, in chunks of at most `max`, in arrival order.
fn chunks(targets: &[Target], max: usize) -> Vec<(String, Vec<String>)> {
    let mut by_region: Vec<(String, Vec<String>)> = Vec::new();
    for (region, id) in targets {
        let at = match by_region.iter().position(|(r, _)| r == region) {
            Some(at) => at,
            None => {
                by_region.push((region.clone(), Vec::new()));
                by_region.len() - 1
            }
        };
        if !by_region[at].1.contains(id) {
            by_region[at].1.push(id.clone());
        }
    }
    by_region
        .into_iter()
        .flat_map(|(region, ids)| {
            ids.chunks(max)
                .map(|c| (region.clone(), c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn describe_all(
    api: &Api,
    targets: Vec<Target>,
) -> Vec<Result<Option<Instance>, DriverError>> {
    let chunks = chunks(&targets, DESCRIBE_MAX);
    let answers = futures_util::future::join_all(chunks.iter().map(|(region, ids)| async move {
        let params = Params::new().filter(1, "instance-id", ids);
        let pages = pages(api, region, "DescribeInstances", params).await?;
        Ok::<_, DriverError>(pages.iter().flat_map(Instance::all).collect::<Vec<_>>())
    }))
    .await;
    let mut found: HashMap<Target, Result<Option<Instance>, DriverError>> = HashMap::new();
    for ((region, ids), answer) in chunks.iter().zip(answers) {
        match answer {
            Ok(instances) => {
                let mut by_id: HashMap<String, Instance> =
                    instances.into_iter().map(|i| (i.id.clone(), i)).collect();
                for id in ids {
                    found.insert((region.clone(), id.clone()), Ok(by_id.remove(id)));
                }
            }
            Err(e) => {
                for id in ids {
                    found.insert((region.clone(), id.clone()), Err(e.clone()));
                }
            }
        }
    }
    targets
        .iter()
        .map(|t| found.get(t).cloned().unwrap_or(Ok(None)))
        .collect()
}

async fn terminate_all(api: &Api, targets: Vec<Target>) -> Vec<Result<(), DriverError>> {
    let chunks = chunks(&targets, TERMINATE_MAX);
    let answers = futures_util::future::join_all(
        chunks
            .iter()
            .map(|(region, ids)| terminate_chunk(api, region, ids)),
    )
    .await;
    let mut done: HashMap<Target, Result<(), DriverError>> = HashMap::new();
    for ((region, ids), answers) in chunks.iter().zip(answers) {
        for (id, answer) in ids.iter().zip(answers) {
            done.insert((region.clone(), id.clone()), answer);
        }
    }
    targets
        .iter()
        .map(|t| done.get(t).cloned().unwrap_or(Ok(())))
        .collect()
}

/// One TerminateInstances for `ids`; when EC2 refuses it because one of them is gone (the
/// whole call fails then), each is sent again alone, so the others still end.
async fn terminate_chunk(api: &Api, region: &str, ids: &[String]) -> Vec<Result<(), DriverError>> {
    let gone = |e: &DriverError| e.code.as_deref() == Some("InvalidInstanceID.NotFound");
    let one = |ids: &[String]| {
        let params = Params::new().list("InstanceId", ids);
        async move {
            api.call(region, "TerminateInstances", &params, Repeat::Safe)
                .await
                .map(drop)
        }
    };
    match one(ids).await {
        Ok(()) => ids.iter().map(|_| Ok(())).collect(),
        Err(e) if gone(&e) && ids.len() == 1 => vec![Ok(())],
        Err(e) if gone(&e) => {
            let mut answers = Vec::with_capacity(ids.len());
            for id in ids {
                answers.push(match one(std::slice::from_ref(id)).await {
                    Err(e) if gone(&e) => Ok(()),
                    other => other,
                });
            }
            answers
        }
        Err(e) => ids.iter().map(|_| Err(e.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_cut_per_region_without_repeats() {
        let t = |r: &str, i: usize| (r.to_string(), format!("i-{i}"));
        let mut targets: Vec<Target> = (0..450).map(|i| t("a", i)).collect();
        targets.push(t("b", 1));
        targets.push(t("a", 3));
        let cut = chunks(&targets, DESCRIBE_MAX);
        let sizes: Vec<(&str, usize)> =
            cut.iter().map(|(r, ids)| (r.as_str(), ids.len())).collect();
        assert_eq!(sizes, [("a", 200), ("a", 200), ("a", 50), ("b", 1)]);
    }
}
