//! The scheduler: hands out ready steps (all dependencies done) like a dependency queue, runs
//! at most `parallelism` of them on a `JoinSet`, retries what the driver marks retryable (on
//! the budgets of `retry`), and fails over to the next candidate when a create is refused.
//!
//! A replace deletes the old object, then creates the new one; with create-before-destroy
//! (`Change::creates_first`) it records the old one as deposed, creates the new one and waits
//! until it is ready, and only then deletes the old one, so that a crash in between leaves the
//! old object in state for the next plan to delete. When other steps read the address (a
//! balancer's members, a DNS record), the old one goes only after they have taken the new one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::recorder::Recorder;
use super::retry::{self, Retries};
use crate::driver::{CreateRequest, Driver, DriverError, ErrorClass, Scope};
use crate::plan::{Action, Change};
use crate::reference::Known;
use crate::report::{Event, Reporter};
use crate::resource::{self, Address, Desired, Existing, Placement};
use crate::state::journal::{Deposed, Entry, Journal};
use serde_json::Value;

/// How the executor runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// At most this many steps call their providers at once. A step gives its slot back
    /// before its journal entry is made durable, and counts as done once it is.
    pub parallelism: usize,
    /// How each driver call of a step is retried: retryable failures until a deadline,
    /// throttles on a budget of their own; after an interrupt, not at all.
    pub retries: Retries,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: 10,
            retries: Retries::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Done,
    Failed(String),
    /// A dependency failed.
    Skipped(Address),
    /// Interrupted before it started.
    NotStarted,
}

#[derive(Clone, Debug)]
pub struct StepResult {
    pub address: Address,
    pub action: Action,
    pub status: Status,
    /// Candidates refused on the way (fail-over), with why.
    pub failed_over: Vec<(Placement, String)>,
    /// Where a created node really is.
    pub placement: Option<Placement>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub steps: Vec<StepResult>,
    pub interrupted: bool,
    /// From the first step handed out to the last one finished (no refresh, no plan, no
    /// final state write).
    pub elapsed: Duration,
}

impl Outcome {
    pub fn count(&self, pred: impl Fn(&Status) -> bool) -> usize {
        self.steps.iter().filter(|s| pred(&s.status)).count()
    }

    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.steps.iter().all(|s| s.status == Status::Done)
    }
}

/// What an apply works with besides the plan.
pub struct Run {
    pub drivers: HashMap<String, Arc<dyn Driver>>,
    pub lineage: String,
    pub journal: Arc<dyn Journal>,
    pub reporter: Arc<dyn Reporter>,
    /// What exists when the apply starts (state after refresh), so creates can be handed
    /// their dependencies (a node's key pair and firewall).
    pub existing: HashMap<Address, Existing>,
}

struct Shared {
    drivers: HashMap<String, Arc<dyn Driver>>,
    lineage: String,
    journal: Arc<dyn Journal>,
    reporter: Arc<dyn Reporter>,
    options: Options,
    /// Placements refused for capacity or quota during this run.
    blocked: Mutex<HashSet<String>>,
    /// What exists now, kept current as steps finish.
    existing: Mutex<HashMap<Address, Existing>>,
    /// Deposed objects this apply deletes, by address: creates there must not take them.
    deposed: HashMap<Address, Vec<Existing>>,
    /// Addresses whose create-before-destroy replace leaves the old object to a deposed
    /// delete step of its own, run once what refers to the address took the new object.
    deferred: HashSet<Address>,
    /// Cancelled on interrupt: steps in flight make no further retries.
    cancel: CancellationToken,
}

/// Gives each create-before-destroy replace that other steps refer to (a balancer or a
/// record reading the node's address) a deposed delete of the old object as a step of its
/// own, which [`dependencies`] runs after those steps: the old node serves until every
/// reader points at the new one. Returns the addresses so deferred.
fn defer_old_objects(steps: &mut Vec<Change>) -> HashSet<Address> {
    let read: HashSet<&Address> = steps
        .iter()
        .filter(|s| !s.deposed && s.action != Action::Delete)
        .filter_map(|s| s.after.as_ref())
        .flat_map(|a| a.depends_on.iter())
        .collect();
    let deferred: Vec<Change> = steps
        .iter()
        .filter(|s| !s.deposed && s.creates_first() && read.contains(&s.address))
        .map(|s| Change {
            action: Action::Delete,
            reason: "the old object of a create-before-destroy replace, once its readers moved on"
                .into(),
            after: None,
            deposed: true,
            ..s.clone()
        })
        .collect();
    let addresses = deferred.iter().map(|c| c.address.clone()).collect();
    steps.extend(deferred);
    addresses
}

/// Runs every change that is not a no-op and reports how each ended.
pub async fn execute(
    changes: Vec<Change>,
    run: Run,
    options: Options,
    cancel: CancellationToken,
) -> Outcome {
    let Run {
        drivers,
        lineage,
        journal,
        reporter,
        existing,
    } = run;
    let mut steps: Vec<Change> = changes
        .into_iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    let deferred = defer_old_objects(&mut steps);
    let (mut waiting_on, dependents) = dependencies(&steps);
    let mut deposed: HashMap<Address, Vec<Existing>> = HashMap::new();
    for step in steps
        .iter()
        .filter(|s| s.deposed && !deferred.contains(&s.address))
    {
        if let Some(old) = &step.before {
            deposed
                .entry(step.address.clone())
                .or_default()
                .push(old.clone());
        }
    }
    let parallelism = options.parallelism.max(1);
    let shared = Arc::new(Shared {
        drivers,
        lineage,
        // Steps never wait on the journal's durability work on a runtime worker.
        journal: Arc::new(Recorder::start(journal)),
        reporter: reporter.clone(),
        options,
        blocked: Mutex::new(HashSet::new()),
        existing: Mutex::new(existing),
        deposed,
        deferred,
        cancel: cancel.clone(),
    });
    reporter.report(Event::ApplyStarted { steps: steps.len() });
    let started = Instant::now();

    let mut results: Vec<Option<StepResult>> = vec![None; steps.len()];
    let mut ready: VecDeque<usize> = (0..steps.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut running = JoinSet::new();
    let mut interrupted = false;
    let steps = Arc::new(steps);
    // A slot is held while a step calls its provider; it is given back before the step's
    // journal entry is made durable, so slow journals never idle the provider calls.
    let slots = Arc::new(Semaphore::new(parallelism));
    let start = |i: usize, slot: OwnedSemaphorePermit, running: &mut JoinSet<_>| {
        let (shared, steps) = (shared.clone(), steps.clone());
        running.spawn(async move { (i, run_step(&steps[i], &shared, slot).await) });
    };
    loop {
        // An interrupt that came while a step was finishing is noticed here too: select!
        // below may take the finished step first, and the last step's end leaves no later
        // turn in which to see it.
        if !interrupted && cancel.is_cancelled() {
            interrupted = true;
            reporter.report(Event::Interrupted {
                in_flight: running.len(),
            });
        }
        while !interrupted && !ready.is_empty() {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let i = ready.pop_front().expect("ready is not empty");
            start(i, slot, &mut running);
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            slot = slots.clone().acquire_owned(), if !interrupted && !ready.is_empty() => {
                let slot = slot.expect("the slots are never closed");
                let i = ready.pop_front().expect("ready is not empty");
                start(i, slot, &mut running);
                continue;
            }
            () = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                reporter.report(Event::Interrupted { in_flight: running.len() });
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (i, result) = match joined {
            Ok(done) => done,
            Err(panic) => {
                // A panicking step is a bug; its index is lost with it, so fail loudly.
                panic!("an apply step panicked: {panic}");
            }
        };
        // A step every candidate of which was refused by fail-over (a key pair or firewall at
        // an unreachable provider) does not hold back dependents that have candidates of their
        // own: they run, and skip what the refusal blocked.
        let refused = matches!(result.status, Status::Failed(_)) && !result.failed_over.is_empty();
        let (release, skip): (Vec<usize>, Vec<usize>) = match (&result.status, refused) {
            (Status::Done, _) => (dependents[i].clone(), Vec::new()),
            (_, true) => dependents[i].iter().partition(|&&d| {
                steps[d]
                    .after
                    .as_ref()
                    .is_some_and(|a| !a.fallbacks.is_empty())
            }),
            _ => (Vec::new(), dependents[i].clone()),
        };
        for d in release {
            waiting_on[d] -= 1;
            if waiting_on[d] == 0 && results[d].is_none() {
                ready.push_back(d);
            }
        }
        skip_dependents(
            i,
            &skip,
            &steps,
            &dependents,
            &mut results,
            reporter.as_ref(),
        );
        results[i] = Some(result);
    }
    // A refused step whose dependents all ran and landed at other providers was not needed
    // after all: it counts as done, its refusals stay listed (nothing was created).
    for i in 0..steps.len() {
        let Some(result) = &results[i] else { continue };
        let provider = steps[i]
            .after
            .as_ref()
            .map(|a| a.placement.provider.as_str());
        let unneeded = matches!(result.status, Status::Failed(_))
            && !result.failed_over.is_empty()
            && !dependents[i].is_empty()
            && dependents[i].iter().all(|&d| {
                results[d].as_ref().is_some_and(|r| {
                    r.status == Status::Done
                        && r.placement.as_ref().map(|p| p.provider.as_str()) != provider
                })
            });
        if unneeded && let Some(result) = results[i].as_mut() {
            result.status = Status::Done;
        }
        // Refused steps are reported now, one way, as the outcome counts them.
        if let Some(result) = &results[i]
            && !result.failed_over.is_empty()
        {
            match &result.status {
                Status::Done => reporter.report(Event::StepNotNeeded {
                    address: &result.address,
                    action: result.action,
                }),
                Status::Failed(message) => reporter.report(Event::StepFailed {
                    address: &result.address,
                    action: result.action,
                    error: message,
                }),
                Status::Skipped(_) | Status::NotStarted => {}
            }
        }
    }
    let steps_out = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| StepResult {
                address: steps[i].address.clone(),
                action: steps[i].action,
                status: Status::NotStarted,
                failed_over: Vec::new(),
                placement: None,
            })
        })
        .collect();
    Outcome {
        steps: steps_out,
        interrupted,
        elapsed: started.elapsed(),
    }
}

/// For each step, how many steps it waits for, and which steps wait for it. Creates and
/// updates wait for the steps of what they depend on; a delete waits for the deletes and
/// replaces of what depends on it (a replace deletes the old object first, which may still
/// use it: a node moving off a provider, and that provider's firewall); deleting a deposed
/// object waits for the create at its address (the new one first) and for the creates and
/// updates of what reads that address.
fn dependencies(steps: &[Change]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let index: HashMap<&Address, usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.deposed)
        .map(|(i, s)| (&s.address, i))
        .collect();
    let mut waiting_on = vec![0; steps.len()];
    let mut dependents = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        if step.deposed {
            if let Some(&j) = index.get(&step.address)
                && steps[j].after.is_some()
            {
                waiting_on[i] += 1;
                dependents[j].push(i);
            }
            // And for what reads the address to be written again, so none still points at
            // the old object when it goes.
            for (k, reader) in steps.iter().enumerate() {
                let reads = !reader.deposed
                    && reader.action != Action::Delete
                    && reader
                        .after
                        .as_ref()
                        .is_some_and(|a| a.depends_on.contains(&step.address));
                if reads {
                    waiting_on[i] += 1;
                    dependents[k].push(i);
                }
            }
            continue;
        }
        if let Some(after) = &step.after {
            for dep in &after.depends_on {
                if let Some(&j) = index.get(dep)
                    && steps[j].action != Action::Delete
                {
                    waiting_on[i] += 1;
                    dependents[j].push(i);
                }
            }
        }
        if matches!(step.action, Action::Delete | Action::Replace)
            && let Some(before) = &step.before
        {
            // `before` depends on these; so deleting them waits for deleting `before`.
            for dep in &before.dependencies {
                if let Some(&j) = index.get(dep)
                    && steps[j].action == Action::Delete
                {
                    waiting_on[j] += 1;
                    dependents[i].push(j);
                }
            }
        }
    }
    (waiting_on, dependents)
}

/// Marks `skip` (dependents of the failed step `failed`) and everything after them skipped.
fn skip_dependents(
    failed: usize,
    skip: &[usize],
    steps: &[Change],
    dependents: &[Vec<usize>],
    results: &mut [Option<StepResult>],
    reporter: &dyn Reporter,
) {
    let mut stack: Vec<usize> = skip.iter().rev().copied().collect();
    while let Some(d) = stack.pop() {
        if results[d].is_some() {
            continue;
        }
        reporter.report(Event::StepSkipped {
            address: &steps[d].address,
            because: &steps[failed].address,
        });
        results[d] = Some(StepResult {
            address: steps[d].address.clone(),
            action: steps[d].action,
            status: Status::Skipped(steps[failed].address.clone()),
            failed_over: Vec::new(),
            placement: None,
        });
        stack.extend(dependents[d].iter().rev());
    }
}

async fn run_step(change: &Change, shared: &Shared, slot: OwnedSemaphorePermit) -> StepResult {
    let started = Instant::now();
    let reporter = shared.reporter.as_ref();
    reporter.report(Event::StepStarted {
        address: &change.address,
        action: change.action,
    });
    let mut result = StepResult {
        address: change.address.clone(),
        action: change.action,
        status: Status::Done,
        failed_over: Vec::new(),
        placement: None,
    };
    let performed = match perform(change, shared, &mut result).await {
        Ok(Some(resource)) => {
            drop(slot);
            record(shared, resource).await
        }
        other => other.map(|_| ()),
    };
    match performed {
        Ok(()) => reporter.report(Event::StepFinished {
            address: &change.address,
            action: change.action,
            elapsed: started.elapsed(),
            placement: result.placement.as_ref(),
        }),
        Err(message) => {
            // A step refused at every candidate may turn out not to be needed (see
            // `execute`): how it ended is reported once the run knows.
            if result.failed_over.is_empty() {
                reporter.report(Event::StepFailed {
                    address: &change.address,
                    action: change.action,
                    error: &message,
                });
            }
            result.status = Status::Failed(message);
        }
    }
    result
}

/// The step's provider calls. Returns what it created or updated, still to be recorded.
async fn perform(
    change: &Change,
    shared: &Shared,
    result: &mut StepResult,
) -> Result<Option<Existing>, String> {
    if change.deposed {
        let old = change
            .before
            .as_ref()
            .ok_or("a deposed delete without its object")?;
        delete_deposed(change, old, shared).await?;
        return Ok(None);
    }
    if change.creates_first() {
        create_before_destroy(change, shared, result).await?;
        return Ok(None);
    }
    if matches!(change.action, Action::Delete | Action::Replace)
        && let Some(before) = &change.before
    {
        let driver = driver_for(shared, &before.placement.provider)?;
        retrying(shared, &change.address, || driver.delete(before))
            .await
            .map_err(|e| e.to_string())?;
        shared
            .journal
            .delete(&change.address)
            .await
            .map_err(|e| format!("{e}: {}", source_text(&e)))?;
        lock(&shared.existing).remove(&change.address);
    }
    let rendered = change
        .after
        .as_ref()
        .map(|d| rendered(d, shared))
        .transpose()?;
    let created = match (change.action, rendered.as_ref()) {
        (Action::Create | Action::Replace, Some(desired)) => {
            let replacing = shared
                .deposed
                .get(&change.address)
                .map_or(&[][..], Vec::as_slice);
            create(desired, shared, result, replacing).await?
        }
        (Action::Update, Some(desired)) => {
            let before = change
                .before
                .as_ref()
                .ok_or("update without a prior resource")?;
            // Lifecycle controls are oss's own: a change of only those calls no provider.
            let for_provider = change
                .changed_fields()
                .iter()
                .any(|f| !resource::LIFECYCLE.contains(&f.name));
            let mut updated = if for_provider {
                let driver = driver_for(shared, &before.placement.provider)?;
                retrying(shared, &change.address, || driver.update(before, desired))
                    .await
                    .map_err(|e| e.to_string())?
            } else {
                before.clone()
            };
            keep_lifecycle(&mut updated, desired);
            updated
        }
        _ => return Ok(None),
    };
    Ok(Some(created))
}

/// The resource with the values its references read filled in: what they refer to was
/// made by earlier steps (references are edges of the walk), or existed before.
fn rendered(desired: &Desired, shared: &Shared) -> Result<Desired, String> {
    if desired.templates.is_empty() && desired.unknown.is_empty() {
        return Ok(desired.clone());
    }
    let mut desired = desired.clone();
    let missing = {
        let existing = lock(&shared.existing);
        let lookup = |r: &crate::reference::Reference| {
            let Some(address) = r.addresses(1).into_iter().next() else {
                return Known::Unknown;
            };
            match existing.get(&address) {
                Some(have) => Known::Value(have.exposed(&r.attribute).unwrap_or(Value::Null)),
                None => Known::Unknown,
            }
        };
        crate::reference::render_templates(&mut desired, &lookup)
    };
    match missing.first() {
        None => Ok(desired),
        Some(r) => Err(format!(
            "{} refers to {r}, but that resource does not exist",
            desired.address
        )),
    }
}

/// Records the lifecycle controls `desired` sets on what a driver returned (drivers keep only
/// the attributes they use), so that state remembers them.
fn keep_lifecycle(existing: &mut Existing, desired: &crate::resource::Desired) {
    for name in resource::LIFECYCLE {
        if resource::lifecycle(&desired.attributes, name) {
            existing
                .attributes
                .insert(name.to_string(), serde_json::Value::Bool(true));
        } else {
            existing.attributes.remove(name);
        }
    }
}

/// A create-before-destroy replace: the old object is recorded as deposed (durably, before
/// anything else), the new one is created, waited for and recorded, and only then is the old
/// one deleted. A create that fails gives the address back to the old object, which still
/// runs; a delete that fails leaves it deposed, for the next plan to delete.
async fn create_before_destroy(
    change: &Change,
    shared: &Shared,
    result: &mut StepResult,
) -> Result<(), String> {
    let address = &change.address;
    let old = change
        .before
        .as_ref()
        .ok_or("a replace without its object")?;
    let desired = change
        .after
        .as_ref()
        .ok_or("a replace without its resource")?;
    let desired = &rendered(desired, shared)?;
    journal(shared, Entry::Depose(address.clone())).await?;
    lock(&shared.existing).remove(address);
    shared.reporter.report(Event::Deposed {
        address,
        provider_id: &old.provider_id,
    });
    let mut replacing = vec![old.clone()];
    replacing.extend(shared.deposed.get(address).into_iter().flatten().cloned());
    let new = match create(desired, shared, result, &replacing).await {
        Ok(new) => new,
        Err(message) => {
            journal(shared, Entry::Restore(address.clone())).await?;
            lock(&shared.existing).insert(address.clone(), old.clone());
            return Err(message);
        }
    };
    let new_id = new.provider_id.clone();
    record(shared, new).await?;
    shared.reporter.report(Event::ReplacementReady {
        address,
        provider_id: &new_id,
        old: &old.provider_id,
    });
    if shared.deferred.contains(address) {
        return Ok(());
    }
    delete_deposed(change, old, shared).await.map_err(|e| {
        format!("the replacement {new_id} runs, but the old object {} is still there (the next apply deletes it): {e}", old.provider_id)
    })
}

/// Deletes a deposed object and drops it from state.
async fn delete_deposed(change: &Change, old: &Existing, shared: &Shared) -> Result<(), String> {
    let driver = driver_for(shared, &old.placement.provider)?;
    retrying(shared, &change.address, || driver.delete(old))
        .await
        .map_err(|e| e.to_string())?;
    let dropped = Deposed {
        address: old.address.clone(),
        provider_id: old.provider_id.clone(),
    };
    journal(shared, Entry::DropDeposed(dropped)).await?;
    shared.reporter.report(Event::DeposedDeleted {
        address: &change.address,
        provider_id: &old.provider_id,
    });
    Ok(())
}

async fn journal(shared: &Shared, entry: Entry) -> Result<(), String> {
    shared
        .journal
        .record(entry)
        .await
        .map_err(|e| format!("{e}: {}", source_text(&e)))
}

/// Makes a created or updated resource durable in the journal, then known to later steps.
async fn record(shared: &Shared, resource: Existing) -> Result<(), String> {
    shared
        .journal
        .put(&resource)
        .await
        .map_err(|e| format!("{e}: {}", source_text(&e)))?;
    lock(&shared.existing).insert(resource.address.clone(), resource);
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Creates at the chosen placement, failing over along the ranked fall-backs.
async fn create(
    desired: &crate::resource::Desired,
    shared: &Shared,
    result: &mut StepResult,
    replacing: &[Existing],
) -> Result<Existing, String> {
    let candidates: Vec<&Placement> = std::iter::once(&desired.placement)
        .chain(desired.fallbacks.iter())
        .collect();
    let mut last_refusal = None;
    let dependencies: Vec<Existing> = {
        let existing = lock(&shared.existing);
        desired
            .depends_on
            .iter()
            .filter_map(|a| existing.get(a).cloned())
            .collect()
    };
    for (n, placement) in candidates.iter().enumerate() {
        if is_blocked(shared, placement) {
            continue;
        }
        let driver = driver_for(shared, &placement.provider)?;
        let request = CreateRequest {
            desired,
            placement,
            lineage: &shared.lineage,
            dependencies: &dependencies,
            replacing,
        };
        match retrying(shared, &desired.address, || driver.create(request.clone())).await {
            Ok(mut existing) => {
                result.placement = Some(existing.placement.clone());
                keep_lifecycle(&mut existing, desired);
                return Ok(existing);
            }
            Err(e) if e.class == ErrorClass::FailOver => {
                shared
                    .blocked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(block_key(placement, e.scope));
                let next = candidates[n + 1..]
                    .iter()
                    .find(|p| !is_blocked(shared, p))
                    .copied();
                shared.reporter.report(Event::StepFailedOver {
                    address: &desired.address,
                    from: placement,
                    to: next,
                    error: &e,
                });
                result
                    .failed_over
                    .push(((*placement).clone(), e.to_string()));
                last_refusal = Some(e);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(match last_refusal {
        Some(e) => format!("every candidate placement was refused or blocked; last: {e}"),
        None => "every candidate placement was blocked earlier in this run".into(),
    })
}

fn block_key(p: &Placement, scope: Scope) -> String {
    match scope {
        Scope::Offer => format!("{}/{}/{}", p.provider, p.location, p.size),
        Scope::Location => format!("{}/{}", p.provider, p.location),
        Scope::Provider => p.provider.clone(),
    }
}

/// Whether a refusal earlier in this run rules `p` out (its offer, location or provider).
fn is_blocked(shared: &Shared, p: &Placement) -> bool {
    let blocked = shared.blocked.lock().unwrap_or_else(|p| p.into_inner());
    [Scope::Offer, Scope::Location, Scope::Provider]
        .iter()
        .any(|scope| blocked.contains(&block_key(p, *scope)))
}

fn driver_for<'a>(shared: &'a Shared, provider: &str) -> Result<&'a Arc<dyn Driver>, String> {
    shared.drivers.get(provider).ok_or_else(|| {
        format!(
            "provider `{provider}` is not configured in the strategy; add it to provider.options"
        )
    })
}

/// Calls `call` on the step's retry budgets, reporting every retry.
async fn retrying<T, F, Fut>(shared: &Shared, address: &Address, call: F) -> Result<T, DriverError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DriverError>>,
{
    retry::retrying(&shared.options.retries, &shared.cancel, call, |retry| {
        shared.reporter.report(Event::StepRetrying {
            address,
            attempt: retry.attempt,
            wait: retry.wait,
            error: retry.error,
        })
    })
    .await
}

fn source_text(e: &dyn std::error::Error) -> String {
    e.source().map_or_else(String::new, |s| s.to_string())
}

#[cfg(test)]
mod tests {
    //! The scheduler's contract, with a scripted in-process driver standing in for a provider
    //! (the real providers have their own end-to-end tests).
    use super::*;
    use crate::backoff::Policy;
    use crate::catalog::Catalog;
    use crate::driver::Refreshed;
    use crate::resource::{Desired, Kind};
    use crate::state::store::Store;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Script {
        /// Locations that refuse creates for capacity.
        full: HashSet<String>,
        /// Addresses whose create fails for good.
        broken: HashSet<String>,
        /// Addresses whose first create call is throttled.
        throttled_once: Mutex<HashSet<String>>,
        delay: Duration,
        log: Mutex<Vec<String>>,
        /// When each create call answered.
        answered: Mutex<Vec<Instant>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        /// Answers create call number `n` (from 0) with this error instead, when it gives one.
        refuse: Option<Refusal>,
        /// Create calls so far.
        calls: AtomicUsize,
    }

    type Refusal = Box<dyn Fn(usize) -> Option<DriverError> + Send + Sync>;

    /// A script whose create calls `refuse` may answer with an error.
    fn refusing(refuse: impl Fn(usize) -> Option<DriverError> + Send + Sync + 'static) -> Script {
        Script {
            refuse: Some(Box::new(refuse)),
            ..Script::default()
        }
    }

    /// Refuses every create: the provider cannot be reached.
    fn unreachable(_: usize) -> Option<DriverError> {
        Some(DriverError::fail_over("connection refused").with_scope(Scope::Provider))
    }

    #[async_trait]
    impl Driver for Script {
        fn name(&self) -> &str {
            "script"
        }
        async fn catalog(&self) -> Result<Catalog, DriverError> {
            Ok(Catalog::default())
        }
        async fn refresh(&self, _: &str, _: &[Existing]) -> Result<Refreshed, DriverError> {
            Ok(Refreshed::default())
        }
        async fn create(&self, r: CreateRequest<'_>) -> Result<Existing, DriverError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(error) = self.refuse.as_ref().and_then(|refuse| refuse(n)) {
                return Err(error);
            }
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.answered.lock().unwrap().push(Instant::now());
            let address = r.desired.address.to_string();
            self.log
                .lock()
                .unwrap()
                .push(format!("create {address} at {}", r.placement.location));
            if self.throttled_once.lock().unwrap().remove(&address) {
                return Err(DriverError::retry("slow down").with_code("Throttling"));
            }
            if self.broken.contains(&address) {
                return Err(DriverError::fatal("invalid request").with_code("InvalidParameter"));
            }
            if self.full.contains(&r.placement.location) {
                return Err(
                    DriverError::fail_over("no capacity").with_code("InsufficientInstanceCapacity")
                );
            }
            Ok(Existing {
                address: r.desired.address.clone(),
                kind: Kind::Node,
                placement: r.placement.clone(),
                provider_id: format!("id-{address}"),
                attributes: r.desired.attributes.clone(),
                observed: Default::default(),
                dependencies: r.desired.depends_on.clone(),
            })
        }
        async fn update(&self, e: &Existing, _: &Desired) -> Result<Existing, DriverError> {
            Ok(e.clone())
        }
        async fn delete(&self, e: &Existing) -> Result<(), DriverError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("delete {}", e.address));
            Ok(())
        }
    }

    fn place(location: &str) -> Placement {
        Placement {
            provider: "script".into(),
            location: location.into(),
            size: "s".into(),
            image: "i".into(),
            hourly_price: None,
            currency: None,
        }
    }

    fn desired(name: &str, deps: &[&str], fallbacks: &[&str]) -> Desired {
        Desired {
            address: Address(name.into()),
            kind: Kind::Node,
            placement: place("a"),
            fallbacks: fallbacks.iter().map(|l| place(l)).collect(),
            attributes: Default::default(),
            depends_on: deps.iter().map(|d| Address((*d).into())).collect(),
            templates: Default::default(),
            unknown: Default::default(),
        }
    }

    fn create(d: Desired) -> Change {
        Change {
            address: d.address.clone(),
            action: Action::Create,
            reason: String::new(),
            before: None,
            after: Some(d),
            gone: false,
            moved_from: None,
            deposed: false,
        }
    }

    async fn run(
        script: Arc<Script>,
        changes: Vec<Change>,
        parallelism: usize,
        cancel: CancellationToken,
    ) -> (Outcome, State) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        store.write(&mut state).unwrap();
        let journal: Arc<dyn Journal> = Arc::new(store.begin_journal(&state).unwrap());
        let drivers: HashMap<String, Arc<dyn Driver>> =
            [("script".to_string(), script as Arc<dyn Driver>)].into();
        let options = Options {
            parallelism,
            retries: Retries::default().with_base(Duration::from_millis(1)),
        };
        let run = Run {
            drivers,
            lineage: state.lineage.clone(),
            journal,
            reporter: Arc::new(crate::report::Silent),
            existing: HashMap::new(),
        };
        let outcome = execute(changes, run, options, cancel).await;
        (outcome, store.load().unwrap().state.unwrap())
    }

    use crate::state::State;

    /// How each step ended, by address.
    fn statuses(outcome: &Outcome) -> HashMap<String, Status> {
        outcome
            .steps
            .iter()
            .map(|s| (s.address.to_string(), s.status.clone()))
            .collect()
    }

    #[tokio::test]
    async fn dependencies_run_first_and_parallelism_is_bounded() {
        let script = Arc::new(Script {
            delay: Duration::from_millis(20),
            ..Script::default()
        });
        let mut changes: Vec<Change> = (0..12)
            .map(|i| create(desired(&format!("n{i}"), &["base"], &[])))
            .collect();
        changes.push(create(desired("base", &[], &[])));
        let (outcome, state) = run(script.clone(), changes, 4, CancellationToken::new()).await;
        assert!(outcome.succeeded());
        assert_eq!(
            state.resources.len(),
            13,
            "every finished step is in the journal"
        );
        let log = script.log.lock().unwrap();
        assert_eq!(log[0], "create base at a");
        assert_eq!(script.max_in_flight.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_slow_journal_never_idles_the_provider_calls() {
        /// Makes entries durable the way the local journal does, on the calling thread; its
        /// first append is held until `creates` have all answered (or a generous while has
        /// passed, which means the creates were waiting on it).
        struct Gated {
            script: Arc<Script>,
            creates: usize,
            entries: Mutex<Vec<crate::state::journal::Entry>>,
            appends: AtomicUsize,
            gave_up: std::sync::atomic::AtomicBool,
        }
        #[async_trait]
        impl Journal for Gated {
            async fn append(
                &self,
                entries: &[crate::state::journal::Entry],
            ) -> Result<(), crate::state::StateError> {
                if self.appends.load(Ordering::SeqCst) == 0 {
                    let since = Instant::now();
                    while self.script.answered.lock().unwrap().len() < self.creates {
                        if since.elapsed() > Duration::from_secs(10) {
                            self.gave_up.store(true, Ordering::SeqCst);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                self.entries.lock().unwrap().extend(entries.iter().cloned());
                self.appends.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
        let script = Arc::new(Script::default());
        let journal = Arc::new(Gated {
            script: script.clone(),
            creates: 6,
            entries: Mutex::default(),
            appends: AtomicUsize::new(0),
            gave_up: Default::default(),
        });
        let run = Run {
            drivers: [("script".to_string(), script.clone() as Arc<dyn Driver>)].into(),
            lineage: "l".into(),
            journal: journal.clone(),
            reporter: Arc::new(crate::report::Silent),
            existing: HashMap::new(),
        };
        let changes = (0..6)
            .map(|i| create(desired(&format!("n{i}"), &[], &[])))
            .collect();
        let options = Options {
            parallelism: 2,
            ..Options::default()
        };
        let outcome = execute(changes, run, options, CancellationToken::new()).await;
        assert!(outcome.succeeded());
        // With two slots, six creates answered while the first append was still held: no
        // step kept its slot waiting for its entry to be durable.
        assert!(
            !journal.gave_up.load(Ordering::SeqCst),
            "the creates waited for the journal"
        );
        // The apply ended only when every entry was durable, and entries that queued up
        // during an append went out together in the next one.
        assert_eq!(
            journal.entries.lock().unwrap().len(),
            6,
            "every step is recorded"
        );
        let appends = journal.appends.load(Ordering::SeqCst);
        assert!(appends < 6, "{appends} appends for 6 entries");
    }

    #[tokio::test]
    async fn throttling_slows_a_step_down_without_failing_it() {
        let attempts = |code| async move {
            // The first twelve calls are refused with `code`.
            let driver = Arc::new(refusing(move |n| {
                (n < 12).then(|| DriverError::retry("not now").with_code(code))
            }));
            let dir = tempfile::tempdir().unwrap();
            let store = Store::new(dir.path(), "t");
            let mut state = State::new("t");
            store.write(&mut state).unwrap();
            let run = Run {
                drivers: [("script".to_string(), driver.clone() as Arc<dyn Driver>)].into(),
                lineage: state.lineage.clone(),
                journal: Arc::new(store.begin_journal(&state).unwrap()),
                reporter: Arc::new(crate::report::Silent),
                existing: HashMap::new(),
            };
            let ms = Duration::from_millis(1);
            let options = Options {
                retries: Retries {
                    failures: Policy::until(ms, 2 * ms, Duration::from_secs(60)),
                    throttles: Policy::new(ms, 2 * ms, 60),
                },
                ..Options::default()
            };
            let changes = vec![create(desired("n0", &[], &[]))];
            let outcome = execute(changes, run, options, CancellationToken::new()).await;
            (outcome.succeeded(), driver.calls.load(Ordering::SeqCst))
        };
        // Twelve throttles in a row are a busy API: the thirteenth call goes through.
        assert_eq!(attempts("RequestLimitExceeded").await, (true, 13));
        // Twelve 503s in a row are a flaky API: the step keeps trying (until the deadline),
        // and the thirteenth call goes through.
        assert_eq!(attempts("ServiceUnavailable").await, (true, 13));
    }

    #[tokio::test]
    async fn a_failure_skips_only_its_dependents() {
        let script = Arc::new(Script {
            broken: ["bad".to_string()].into(),
            ..Script::default()
        });
        let changes = vec![
            create(desired("bad", &[], &[])),
            create(desired("child", &["bad"], &[])),
            create(desired("grandchild", &["child"], &[])),
            create(desired("independent", &[], &[])),
        ];
        let (outcome, state) = run(script, changes, 2, CancellationToken::new()).await;
        let status = statuses(&outcome);
        assert_eq!(
            status["bad"],
            Status::Failed("InvalidParameter: invalid request".into())
        );
        assert_eq!(status["child"], Status::Skipped(Address("bad".into())));
        assert_eq!(status["grandchild"], Status::Skipped(Address("bad".into())));
        assert_eq!(status["independent"], Status::Done);
        assert_eq!(
            state
                .resources
                .keys()
                .map(|a| a.0.as_str())
                .collect::<Vec<_>>(),
            ["independent"]
        );
    }

    #[tokio::test]
    async fn refused_placements_fail_over_and_stay_blocked() {
        let script = Arc::new(Script {
            full: ["a".to_string()].into(),
            throttled_once: Mutex::new(["n1".to_string()].into()),
            ..Script::default()
        });
        let changes = vec![
            create(desired("n0", &[], &["b", "c"])),
            create(desired("n1", &["n0"], &["b", "c"])),
        ];
        let (outcome, state) = run(script.clone(), changes, 1, CancellationToken::new()).await;
        assert!(outcome.succeeded(), "{outcome:?}");
        for r in state.resources.values() {
            assert_eq!(
                r.placement.location, "b",
                "{} landed where it was refused",
                r.address
            );
        }
        let log = script.log.lock().unwrap().clone();
        // n0 tried a then b; n1 never tried the blocked a; its first call was throttled, then retried.
        assert_eq!(
            log,
            [
                "create n0 at a",
                "create n0 at b",
                "create n1 at b",
                "create n1 at b"
            ]
        );
        assert_eq!(outcome.steps[0].failed_over.len(), 1);
    }

    #[tokio::test]
    async fn a_refused_dependency_lets_dependents_fail_over_elsewhere() {
        // `fw` (think: a firewall at an unreachable provider) is refused everywhere it may go;
        // `n0` has a fall-back at another location, so it runs there; `n1` has none, so it is
        // skipped; `fw` was needed by `n1`, so it stays failed.
        let script = Arc::new(Script {
            full: ["a".to_string()].into(),
            ..Script::default()
        });
        let changes = vec![
            create(desired("fw", &[], &[])),
            create(desired("n0", &["fw"], &["b"])),
            create(desired("n1", &["fw"], &[])),
        ];
        let (outcome, _) = run(script.clone(), changes, 2, CancellationToken::new()).await;
        let status = statuses(&outcome);
        assert_eq!(status["n0"], Status::Done);
        assert_eq!(outcome.steps[1].placement.as_ref().unwrap().location, "b");
        assert_eq!(status["n1"], Status::Skipped(Address("fw".into())));
        assert!(matches!(status["fw"], Status::Failed(_)), "{status:?}");

        // Without the dependent that needed it, the refused step was not needed at all. (Here
        // the fall-back is at the same provider, so it still counts as failed.)
        let changes = vec![
            create(desired("fw", &[], &[])),
            create(desired("n0", &["fw"], &["b"])),
        ];
        let (outcome, _) = run(script, changes, 2, CancellationToken::new()).await;
        assert!(matches!(outcome.steps[0].status, Status::Failed(_)));
        assert_eq!(outcome.steps[1].status, Status::Done);
    }

    #[tokio::test]
    async fn a_provider_wide_refusal_blocks_the_whole_provider() {
        let down = Arc::new(refusing(unreachable));
        let script = Arc::new(Script::default());
        let on = |provider: &str, location: &str| Placement {
            provider: provider.into(),
            ..place(location)
        };
        let node = |name: &str| {
            let mut d = desired(name, &[], &[]);
            d.placement = on("down", "x");
            d.fallbacks = vec![on("down", "y"), on("script", "b")].into();
            create(d)
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        store.write(&mut state).unwrap();
        let journal: Arc<dyn Journal> = Arc::new(store.begin_journal(&state).unwrap());
        let drivers: HashMap<String, Arc<dyn Driver>> = [
            ("down".to_string(), down.clone() as Arc<dyn Driver>),
            ("script".to_string(), script as Arc<dyn Driver>),
        ]
        .into();
        let run = Run {
            drivers,
            lineage: state.lineage.clone(),
            journal,
            reporter: Arc::new(crate::report::Silent),
            existing: HashMap::new(),
        };
        let outcome = execute(
            vec![node("n0"), node("n1"), node("n2")],
            run,
            Options {
                parallelism: 1,
                ..Options::default()
            },
            CancellationToken::new(),
        )
        .await;
        assert!(outcome.succeeded());
        assert_eq!(
            down.calls.load(Ordering::SeqCst),
            1,
            "one refusal blocks every placement at that provider"
        );
        let state = store.load().unwrap().state.unwrap();
        assert!(
            state
                .resources
                .values()
                .all(|r| r.placement.provider == "script")
        );
    }

    #[tokio::test]
    async fn a_regional_resource_refused_at_a_provider_nobody_ended_up_on_is_not_needed() {
        let on = |provider: &str, location: &str| Placement {
            provider: provider.into(),
            ..place(location)
        };
        let mut firewall = desired("firewall.down.r", &[], &[]);
        firewall.placement = on("down", "r");
        let mut node = desired("n0", &["firewall.down.r"], &[]);
        node.placement = on("down", "x");
        node.fallbacks = vec![on("script", "b")].into();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        store.write(&mut state).unwrap();
        let reporter = Arc::new(Told::default());
        let run = Run {
            drivers: [
                (
                    "down".to_string(),
                    Arc::new(refusing(unreachable)) as Arc<dyn Driver>,
                ),
                (
                    "script".to_string(),
                    Arc::new(Script::default()) as Arc<dyn Driver>,
                ),
            ]
            .into(),
            lineage: state.lineage.clone(),
            journal: Arc::new(store.begin_journal(&state).unwrap()),
            reporter: reporter.clone(),
            existing: HashMap::new(),
        };
        let outcome = execute(
            vec![create(firewall), create(node)],
            run,
            Options::default(),
            CancellationToken::new(),
        )
        .await;
        assert!(outcome.succeeded(), "{outcome:?}");
        assert_eq!(outcome.steps[0].failed_over.len(), 1, "the refusal is kept");
        assert_eq!(
            outcome.steps[1].placement.as_ref().unwrap().provider,
            "script"
        );
        let state = store.load().unwrap().state.unwrap();
        let kept: Vec<&str> = state.resources.keys().map(Address::as_str).collect();
        assert_eq!(kept, ["n0"], "nothing was created for the refused firewall");
        // Progress tells it the way the outcome counts it: not needed, never "failed".
        let told = reporter.0.lock().unwrap().clone();
        assert_eq!(
            told,
            ["finished n0", "not needed firewall.down.r"],
            "how the steps ended, as reported"
        );
    }

    /// How steps ended, as reported.
    #[derive(Default)]
    struct Told(std::sync::Mutex<Vec<String>>);

    impl Reporter for Told {
        fn report(&self, event: Event<'_>) {
            let line = match event {
                Event::StepFinished { address, .. } => format!("finished {address}"),
                Event::StepFailed { address, .. } => format!("failed {address}"),
                Event::StepNotNeeded { address, .. } => format!("not needed {address}"),
                _ => return,
            };
            self.0.lock().unwrap().push(line);
        }
    }

    #[tokio::test]
    async fn an_interrupt_starts_nothing_new_and_keeps_what_finished() {
        let script = Arc::new(Script {
            delay: Duration::from_millis(100),
            ..Script::default()
        });
        let changes: Vec<Change> = (0..6)
            .map(|i| create(desired(&format!("n{i}"), &[], &[])))
            .collect();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            trigger.cancel();
        });
        let (outcome, state) = run(script, changes, 2, cancel).await;
        assert!(outcome.interrupted);
        assert_eq!(
            outcome.count(|s| *s == Status::Done),
            2,
            "in-flight steps finish"
        );
        assert_eq!(outcome.count(|s| *s == Status::NotStarted), 4);
        assert_eq!(state.resources.len(), 2);
    }

    #[tokio::test]
    async fn an_interrupt_ends_a_steps_retries() {
        struct Discard;
        #[async_trait]
        impl Journal for Discard {
            async fn append(
                &self,
                _: &[crate::state::journal::Entry],
            ) -> Result<(), crate::state::StateError> {
                Ok(())
            }
        }
        /// Interrupts the apply when the first retry is announced.
        struct InterruptOnRetry(CancellationToken);
        impl Reporter for InterruptOnRetry {
            fn report(&self, event: Event<'_>) {
                if matches!(event, Event::StepRetrying { .. }) {
                    self.0.cancel();
                }
            }
        }
        let script = Arc::new(refusing(|_| {
            Some(DriverError::retry("down for now").with_code("ServiceUnavailable"))
        }));
        let cancel = CancellationToken::new();
        let run = Run {
            drivers: [("script".to_string(), script.clone() as Arc<dyn Driver>)].into(),
            lineage: "l".into(),
            journal: Arc::new(Discard),
            reporter: Arc::new(InterruptOnRetry(cancel.clone())),
            existing: HashMap::new(),
        };
        let ms = Duration::from_millis(1);
        let options = Options {
            retries: Retries {
                failures: Policy::until(ms, ms, Duration::from_secs(1)),
                throttles: Retries::THROTTLES,
            },
            ..Options::default()
        };
        let changes = vec![create(desired("n0", &[], &[]))];
        let outcome = execute(changes, run, options, cancel).await;
        assert!(outcome.interrupted);
        assert_eq!(
            outcome.steps[0].status,
            Status::Failed("ServiceUnavailable: down for now".into())
        );
        assert_eq!(
            script.calls.load(Ordering::SeqCst),
            1,
            "no call after the interrupt"
        );
    }

    /// Replaces `n0` (recorded in state as `old`) and returns the driver's log, the outcome
    /// and the state after.
    async fn replace_n0(script: Arc<Script>, create_first: bool) -> (Vec<String>, Outcome, State) {
        replace_n0_with(script, create_first, Vec::new()).await
    }

    /// [`replace_n0`] with `others` in the same apply.
    async fn replace_n0_with(
        script: Arc<Script>,
        create_first: bool,
        others: Vec<Change>,
    ) -> (Vec<String>, Outcome, State) {
        let old = Existing {
            address: Address("n0".into()),
            kind: Kind::Node,
            placement: place("a"),
            provider_id: "old".into(),
            attributes: Default::default(),
            observed: Default::default(),
            dependencies: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        state.resources.insert(old.address.clone(), old.clone());
        store.write(&mut state).unwrap();
        let mut want = desired("n0", &[], &[]);
        if create_first {
            want.attributes
                .insert("create_before_destroy".into(), true.into());
        }
        let change = Change {
            action: Action::Replace,
            before: Some(old),
            ..create(want)
        };
        assert_eq!(change.creates_first(), create_first);
        let run = Run {
            drivers: [("script".to_string(), script.clone() as Arc<dyn Driver>)].into(),
            lineage: state.lineage.clone(),
            journal: Arc::new(store.begin_journal(&state).unwrap()),
            reporter: Arc::new(crate::report::Silent),
            existing: state.resources.clone().into_iter().collect(),
        };
        let mut changes = vec![change];
        changes.extend(others);
        let outcome = execute(changes, run, Options::default(), CancellationToken::new()).await;
        let log = script.log.lock().unwrap().clone();
        (log, outcome, store.load().unwrap().state.unwrap())
    }

    #[tokio::test]
    async fn create_before_destroy_creates_the_new_one_before_deleting_the_old() {
        let (log, outcome, _) = replace_n0(Arc::new(Script::default()), false).await;
        assert!(outcome.succeeded());
        assert_eq!(
            log,
            ["delete n0", "create n0 at a"],
            "a plain replace deletes first"
        );

        let (log, outcome, state) = replace_n0(Arc::new(Script::default()), true).await;
        assert!(outcome.succeeded(), "{outcome:?}");
        assert_eq!(log, ["create n0 at a", "delete n0"]);
        assert!(state.deposed.is_empty(), "{:?}", state.deposed);
        let new = &state.resources[&Address("n0".into())];
        assert_ne!(new.provider_id, "old");
        assert_eq!(
            new.attributes["create_before_destroy"], true,
            "the flag is recorded"
        );
    }

    #[tokio::test]
    async fn the_old_object_goes_only_after_what_reads_it_took_the_new_one() {
        // `lb` reads n0 (a balancer its address): the old n0 serves until `lb` is written.
        let reader = create(desired("lb", &["n0"], &[]));
        let (log, outcome, state) =
            replace_n0_with(Arc::new(Script::default()), true, vec![reader]).await;
        assert!(outcome.succeeded(), "{outcome:?}");
        assert_eq!(log, ["create n0 at a", "create lb at a", "delete n0"]);
        assert!(state.deposed.is_empty(), "{:?}", state.deposed);
        assert_ne!(state.resources[&Address("n0".into())].provider_id, "old");
        // A plain replace still deletes first, with nothing deferred.
        let reader = create(desired("lb", &["n0"], &[]));
        let (log, _, _) = replace_n0_with(Arc::new(Script::default()), false, vec![reader]).await;
        assert_eq!(log, ["delete n0", "create n0 at a", "create lb at a"]);
    }

    #[tokio::test]
    async fn a_failed_replacement_leaves_the_old_one_in_place() {
        let script = Arc::new(Script {
            broken: ["n0".to_string()].into(),
            ..Script::default()
        });
        let (log, outcome, state) = replace_n0(script, true).await;
        assert!(matches!(outcome.steps[0].status, Status::Failed(_)));
        assert_eq!(log, ["create n0 at a"], "the old one is not deleted");
        assert_eq!(state.resources[&Address("n0".into())].provider_id, "old");
        assert!(state.deposed.is_empty());
    }

    #[tokio::test]
    async fn deletes_run_in_reverse_dependency_order() {
        let script = Arc::new(Script::default());
        let existing = |name: &str, deps: &[&str]| Existing {
            address: Address(name.into()),
            kind: Kind::Node,
            placement: place("a"),
            provider_id: name.into(),
            attributes: Default::default(),
            observed: Default::default(),
            dependencies: deps.iter().map(|d| Address((*d).into())).collect(),
        };
        let delete = |e: Existing| Change {
            address: e.address.clone(),
            action: Action::Delete,
            reason: String::new(),
            before: Some(e),
            after: None,
            gone: false,
            moved_from: None,
            deposed: false,
        };
        let changes = vec![
            delete(existing("key", &[])),
            delete(existing("node", &["key", "firewall"])),
            delete(existing("firewall", &[])),
        ];
        let (outcome, _) = run(script.clone(), changes, 4, CancellationToken::new()).await;
        assert!(outcome.succeeded());
        let log = script.log.lock().unwrap();
        assert_eq!(log[0], "delete node");
    }

    #[tokio::test]
    async fn a_delete_waits_for_the_replace_of_what_depends_on_it() {
        // A node moving to another provider (replaced) leaves its old firewall (deleted):
        // the old node still uses the firewall until the replace has deleted it.
        let script = Arc::new(Script::default());
        let firewall = Existing {
            address: Address("firewall".into()),
            kind: Kind::Firewall,
            placement: place("a"),
            provider_id: "fw".into(),
            attributes: Default::default(),
            observed: Default::default(),
            dependencies: vec![],
        };
        let old_node = Existing {
            address: Address("node".into()),
            kind: Kind::Node,
            provider_id: "n".into(),
            dependencies: vec![firewall.address.clone()],
            ..firewall.clone()
        };
        let changes = vec![
            Change {
                address: firewall.address.clone(),
                action: Action::Delete,
                reason: String::new(),
                before: Some(firewall),
                after: None,
                gone: false,
                moved_from: None,
                deposed: false,
            },
            Change {
                address: old_node.address.clone(),
                action: Action::Replace,
                reason: String::new(),
                before: Some(old_node),
                after: Some(desired("node", &[], &[])),
                gone: false,
                moved_from: None,
                deposed: false,
            },
        ];
        let (outcome, _) = run(script.clone(), changes, 4, CancellationToken::new()).await;
        assert!(outcome.succeeded());
        let log = script.log.lock().unwrap();
        assert_eq!(
            *log,
            ["delete node", "create node at a", "delete firewall"],
            "{log:?}"
        );
    }
}
