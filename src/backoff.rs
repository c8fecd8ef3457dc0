//! The one retry schedule: jittered exponential delays on a budget of retries and/or a
//! deadline, honouring a server's `Retry-After`. Every retry loop in oss asks a [`Backoff`]
//! how long to wait next (the executor's step retries, the cloud and state clients, lock
//! waiting); none computes delays of its own.
//!
//! Pure arithmetic plus the two ways to sleep: no I/O, no printing.

use std::time::{Duration, Instant};

/// How a [`Backoff`] spaces its retries and when it gives up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// The delay before the first retry (before jitter).
    pub base: Duration,
    /// No delay grows beyond this (before `Retry-After` is taken into account).
    pub max: Duration,
    /// How many retries are allowed; `None` for no count limit (a deadline should bound it).
    pub retries: Option<u32>,
    /// Total time from the first try after which no retry is offered; `None` for none.
    pub deadline: Option<Duration>,
    /// A server's `Retry-After` is honoured up to this long.
    pub retry_after_max: Duration,
    /// Which part of each delay is random: the delay is drawn from
    /// `[(1 - jitter) * d, d]`. `0.0` gives exact delays, `1.0` full jitter.
    pub jitter: f64,
}

impl Policy {
    /// Exponential from `base` to `max`, at most `retries` retries, half jitter, `Retry-After`
    /// honoured up to a minute.
    pub const fn new(base: Duration, max: Duration, retries: u32) -> Self {
        Policy {
            base,
            max,
            retries: Some(retries),
            deadline: None,
            retry_after_max: Duration::from_secs(60),
            jitter: 0.5,
        }
    }

    /// Retries until `deadline` has passed since the first try, however many that takes.
    pub const fn until(base: Duration, max: Duration, deadline: Duration) -> Self {
        Policy {
            base,
            max,
            retries: None,
            deadline: Some(deadline),
            retry_after_max: Duration::from_secs(60),
            jitter: 0.5,
        }
    }

    /// The same policy with another jitter fraction (clamped to `0.0..=1.0`).
    pub const fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The same policy with another retry budget.
    pub const fn with_retries(mut self, retries: Option<u32>) -> Self {
        self.retries = retries;
        self
    }

    /// The same policy with another deadline.
    pub const fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same policy with another cap on honoured `Retry-After` values.
    pub const fn with_retry_after_max(mut self, max: Duration) -> Self {
        self.retry_after_max = max;
        self
    }

    /// A schedule that starts now.
    pub fn start(self) -> Backoff {
        Backoff {
            policy: self,
            retries: 0,
            started: Instant::now(),
        }
    }
}

/// One retry schedule in progress.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    retries: u32,
    started: Instant,
}

impl Backoff {
    /// The wait before the next try, or `None` when the budget is spent. A `Retry-After` from
    /// the server lengthens the wait (never shortens it) up to the policy's cap; a deadline
    /// shortens the last wait so it ends on the deadline.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.next_with(retry_after, rand::random::<f64>())
    }

    /// [`Backoff::next`] with the random draw given (`0.0..1.0`), for tests.
    fn next_with(&mut self, retry_after: Option<Duration>, draw: f64) -> Option<Duration> {
        let policy = &self.policy;
        if policy.retries.is_some_and(|budget| self.retries >= budget) {
            return None;
        }
        let remaining = match policy.deadline {
            Some(deadline) => {
                let left = deadline.saturating_sub(self.started.elapsed());
                if left.is_zero() {
                    return None;
                }
                Some(left)
            }
            None => None,
        };
        let exp = policy
            .base
            .saturating_mul(1u32 << self.retries.min(20))
            .min(policy.max);
        let jittered = exp.mul_f64(1.0 - policy.jitter * draw.clamp(0.0, 1.0));
        let mut wait = match retry_after {
            Some(after) => after.min(policy.retry_after_max).max(jittered),
            None => jittered,
        };
        if let Some(left) = remaining {
            wait = wait.min(left);
        }
        self.retries += 1;
        Some(wait)
    }

    /// How many retries have been handed out so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Time since the schedule started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sleeps (async) for the next wait; `false`, without sleeping, when the budget is spent.
    pub async fn wait(&mut self, retry_after: Option<Duration>) -> bool {
        match self.next(retry_after) {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                true
            }
            None => false,
        }
    }

    /// Sleeps (blocking the thread) for the next wait; `false` when the budget is spent.
    pub fn wait_blocking(&mut self, retry_after: Option<Duration>) -> bool {
        match self.next(retry_after) {
            Some(wait) => {
                std::thread::sleep(wait);
                true
            }
            None => false,
        }
    }
}

/// Reads an HTTP `Retry-After` value given in seconds (fractions allowed). HTTP dates and
/// negative or unreadable values give `None`: the schedule's own delay then applies.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap_and_stop_at_the_budget() {
        let mut b = Policy::new(100 * MS, 350 * MS, 4).with_jitter(0.0).start();
        let waits: Vec<_> = std::iter::from_fn(|| b.next_with(None, 0.3)).collect();
        assert_eq!(waits, [100 * MS, 200 * MS, 350 * MS, 350 * MS]);
        assert_eq!(b.retries(), 4);
        assert_eq!(b.next_with(None, 0.3), None);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let mut b = Policy::new(100 * MS, 100 * MS, 3).start();
        assert_eq!(b.next_with(None, 0.0), Some(100 * MS));
        assert_eq!(b.next_with(None, 1.0), Some(50 * MS));
        assert_eq!(b.next_with(None, 0.5), Some(75 * MS));
    }

    #[test]
    fn retry_after_lengthens_but_is_capped() {
        let policy = Policy::new(100 * MS, 100 * MS, 5)
            .with_jitter(0.0)
            .with_retry_after_max(2000 * MS);
        let mut b = policy.start();
        assert_eq!(b.next_with(Some(1500 * MS), 0.0), Some(1500 * MS));
        assert_eq!(b.next_with(Some(10 * MS), 0.0), Some(100 * MS));
        assert_eq!(b.next_with(Some(60_000 * MS), 0.0), Some(2000 * MS));
    }

    #[test]
    fn a_deadline_bounds_the_schedule_whatever_the_count() {
        let mut b = Policy::until(MS, MS, Duration::ZERO).start();
        assert_eq!(b.next(None), None);
        let mut b = Policy::until(Duration::from_secs(5), Duration::from_secs(5), 20 * MS)
            .with_jitter(0.0)
            .start();
        let first = b.next(None).expect("a retry before the deadline");
        assert!(first <= 20 * MS, "the wait ends on the deadline: {first:?}");
        std::thread::sleep(25 * MS);
        assert_eq!(b.next(None), None);
    }

    #[test]
    fn no_count_limit_without_a_budget() {
        let mut b = Policy::new(MS, MS, 0)
            .with_retries(None)
            .with_jitter(0.0)
            .start();
        for _ in 0..1000 {
            assert_eq!(b.next_with(None, 0.0), Some(MS));
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(500 * MS));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(
            parse_retry_after("1e300"),
            Some(Duration::from_secs(86_400))
        );
    }
}
