//! Group commit: one thread that works through queued requests in batches. Requests that
//! queue up while one batch is being committed go out together in the next, in the order they
//! arrived, so a slow commit (an fsync, a file rewrite, a database round trip) serves many
//! callers at once and batches grow with the load. Each caller awaits its own answer.
//!
//! The apply recorder (journal entries made durable) and the `sim` driver's state file (calls
//! run under one lock, one freshness check and one write) both use it. It knows nothing of
//! what a request means: the commit function given to [`GroupCommit::start`] decides.
//!
//! The thread is a plain OS thread, so the commit may block (and may drive async work with a
//! runtime handle of its own); it ends once every handle to the queue is dropped.
//!
//! A queue started with a linger ([`GroupCommit::start_lingering`]) waits that long after a
//! batch's last arrival for more before committing (a few rounds at most), so requests made at
//! once by many tasks that wake together (the launches of one apply) form one batch rather
//! than a first batch of whoever came first and a second of the rest.

use std::thread;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// The queue ended (its thread panicked) before the request was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the group-commit thread ended before the request was answered")]
pub struct Closed;

type Queued<R, A> = (R, oneshot::Sender<A>);

/// The most rounds of lingering for one batch (bounds the wait at this many lingers).
const LINGER_ROUNDS: u32 = 10;

/// A handle to a group-commit thread taking requests `R` and answering each with an `A`.
pub struct GroupCommit<R, A> {
    requests: mpsc::UnboundedSender<Queued<R, A>>,
}

impl<R: Send + 'static, A: Send + 'static> GroupCommit<R, A> {
    /// Starts the thread `name`. It takes every request queued (at most `max` at once, at least
    /// one), hands them to `commit` in arrival order and sends answer `i` to the caller of
    /// request `i`; `commit` must return one answer per request.
    pub fn start(
        name: &str,
        max: usize,
        commit: impl FnMut(Vec<R>) -> Vec<A> + Send + 'static,
    ) -> Self {
        Self::start_lingering(name, max, Duration::ZERO, commit)
    }

    /// [`GroupCommit::start`], but a batch is committed only once `linger` has passed with
    /// no new request (or after [`LINGER_ROUNDS`] lingers, or at `max` requests).
    pub fn start_lingering(
        name: &str,
        max: usize,
        linger: Duration,
        mut commit: impl FnMut(Vec<R>) -> Vec<A> + Send + 'static,
    ) -> Self {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Queued<R, A>>();
        let max = max.max(1);
        thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while let Some(first) = incoming.blocking_recv() {
                    let mut batch = vec![first];
                    let mut rounds = 0;
                    loop {
                        let before = batch.len();
                        while batch.len() < max {
                            match incoming.try_recv() {
                                Ok(next) => batch.push(next),
                                Err(_) => break,
                            }
                        }
                        let quiet = rounds > 0 && batch.len() == before;
                        if linger.is_zero() || batch.len() >= max || quiet {
                            break;
                        }
                        if rounds == LINGER_ROUNDS {
                            break;
                        }
                        rounds += 1;
                        thread::sleep(linger);
                    }
                    let (work, waiting): (Vec<R>, Vec<_>) = batch.into_iter().unzip();
                    let answers = commit(work);
                    debug_assert_eq!(answers.len(), waiting.len(), "one answer per request");
                    for (answer, caller) in answers.into_iter().zip(waiting) {
                        // A caller that stopped waiting does not care.
                        let _ = caller.send(answer);
                    }
                }
            })
            .expect("the OS starts a thread");
        GroupCommit { requests }
    }

    /// Queues `request` and returns where its answer will come. Requests queued one after
    /// another by one caller are committed in that order.
    pub fn queue(&self, request: R) -> Result<oneshot::Receiver<A>, Closed> {
        let (done, answer) = oneshot::channel();
        self.requests.send((request, done)).map_err(|_| Closed)?;
        Ok(answer)
    }

    /// Queues `request` and waits for its answer.
    pub async fn submit(&self, request: R) -> Result<A, Closed> {
        self.queue(request)?.await.map_err(|_| Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc as std_mpsc;
    use std::sync::{Arc, Mutex};

    /// A commit that reports each batch it starts and then waits to be let go, so a test can
    /// queue requests while a batch is "being written".
    fn gated() -> (
        GroupCommit<u32, u32>,
        std_mpsc::Receiver<Vec<u32>>,
        std_mpsc::Sender<()>,
    ) {
        let (started, batches) = std_mpsc::channel();
        let (release, gate) = std_mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let commit = GroupCommit::start("test-commit", 3, move |batch: Vec<u32>| {
            started.send(batch.clone()).expect("test listens");
            gate.lock().expect("gate").recv().expect("test releases");
            batch.iter().map(|n| n * 10).collect()
        });
        (commit, batches, release)
    }

    #[tokio::test]
    async fn requests_queued_during_a_commit_go_out_together_in_order_up_to_max() {
        let (commit, batches, release) = gated();
        let first = commit.queue(1).expect("queued");
        // The first batch is under way (it holds request 1 alone) before the others queue.
        assert_eq!(batches.recv().expect("batch"), [1]);
        let later: Vec<_> = (2..=6).map(|n| commit.queue(n).expect("queued")).collect();
        for _ in 0..3 {
            release.send(()).expect("release");
        }
        assert_eq!(first.await.expect("answer"), 10);
        let mut answers = Vec::new();
        for answer in later {
            answers.push(answer.await.expect("answer"));
        }
        // Each caller got its own answer.
        assert_eq!(answers, [20, 30, 40, 50, 60]);
        // What queued meanwhile went out in arrival order, at most 3 a batch.
        assert_eq!(batches.recv().expect("batch"), [2, 3, 4]);
        assert_eq!(batches.recv().expect("batch"), [5, 6]);
        assert!(batches.try_recv().is_err(), "no further batch");
    }

    #[tokio::test]
    async fn a_commit_that_panics_closes_the_queue_for_its_callers() {
        let seen = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&seen);
        let commit = GroupCommit::start("test-panic", 10, move |batch: Vec<u32>| -> Vec<u32> {
            *counter.lock().expect("count") += batch.len();
            panic!("commit failed");
        });
        assert_eq!(commit.submit(1).await, Err(Closed));
        assert_eq!(*seen.lock().expect("count"), 1, "the commit ran");
    }

    #[test]
    fn a_lingering_queue_gathers_requests_that_arrive_just_after_the_first() {
        let (started, batches) = std_mpsc::channel();
        let commit = GroupCommit::start_lingering(
            "test-linger",
            100,
            Duration::from_millis(50),
            move |batch: Vec<u32>| {
                started.send(batch.clone()).expect("test listens");
                batch
            },
        );
        let first = commit.queue(1).expect("queued");
        // The thread is awake with request 1 by now; the others come a little later.
        thread::sleep(Duration::from_millis(10));
        let later: Vec<_> = (2..=4).map(|n| commit.queue(n).expect("queued")).collect();
        assert_eq!(first.blocking_recv(), Ok(1));
        for (answer, n) in later.into_iter().zip(2..) {
            assert_eq!(answer.blocking_recv(), Ok(n));
        }
        assert_eq!(batches.recv().expect("batch"), [1, 2, 3, 4], "one batch");
        // Nothing new for a linger: the next request goes out on its own.
        let alone = commit.queue(5).expect("queued");
        assert_eq!(alone.blocking_recv(), Ok(5));
        assert_eq!(batches.recv().expect("batch"), [5]);
    }

    #[test]
    fn works_without_a_runtime() {
        let commit = GroupCommit::start("test-plain", 10, |batch: Vec<u32>| batch);
        let answer = commit.queue(7).expect("queued");
        assert_eq!(answer.blocking_recv(), Ok(7));
    }
}
