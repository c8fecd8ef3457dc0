//! How driver calls are retried, for apply's steps and for refresh alike: retry-class errors
//! again and again until a generous deadline passes (a flaky API never leaves a fleet half
//! made), throttles on a count budget of their own with short waits (a rate limit slows calls
//! down, it is no sign that they fail). Fatal and fail-over errors go straight back.
//!
//! Delays come from `crate::backoff`; every retry is announced to the caller's `on_retry` (the
//! executor and the engine turn it into an event). No I/O of its own, no printing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, Policy};
use crate::driver::{DriverError, ErrorClass};

/// The two budgets a driver call retries on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retries {
    /// Retryable failures (5xx, time-outs, "not visible yet"): until a deadline.
    pub failures: Policy,
    /// Throttled calls (the provider's rate limit), counted apart.
    pub throttles: Policy,
}

impl Retries {
    /// Retryable failures: 200 ms doubling to 10 s between tries, for up to 20 minutes.
    pub const FAILURES: Policy = Policy::until(
        Duration::from_millis(200),
        Duration::from_secs(10),
        Duration::from_secs(20 * 60),
    );
    /// Throttles: 200 ms doubling to 1 s between tries, at most 60 of them per call.
    pub const THROTTLES: Policy =
        Policy::new(Duration::from_millis(200), Duration::from_secs(1), 60);

    /// Both budgets with the first wait `base` (tests use a millisecond).
    pub const fn with_base(mut self, base: Duration) -> Self {
        self.failures.base = base;
        self.throttles.base = base;
        self
    }
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            failures: Self::FAILURES,
            throttles: Self::THROTTLES,
        }
    }
}

/// One retry about to happen: the how-manieth, after how long a wait, because of what.
pub struct Retry<'a> {
    pub attempt: u32,
    pub wait: Duration,
    pub error: &'a DriverError,
}

/// Calls `call` until it succeeds, fails for good, or a budget is spent; waits between tries
/// as `retries` says (or longer, if the provider asked with `Retry-After`). Once `stop` is
/// cancelled (an interrupt) no new try starts: the last error is the answer.
pub async fn retrying<T, F, Fut>(
    retries: &Retries,
    stop: &CancellationToken,
    mut call: F,
    mut on_retry: impl FnMut(Retry<'_>),
) -> Result<T, DriverError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DriverError>>,
{
    let mut failures = retries.failures.start();
    let mut throttles = retries.throttles.start();
    loop {
        let error = match call().await {
            Err(e) if e.class == ErrorClass::Retry => e,
            other => return other,
        };
        let schedule: &mut Backoff = if error.is_throttle() {
            &mut throttles
        } else {
            &mut failures
        };
        let Some(wait) = schedule
            .next(error.retry_after)
            .filter(|_| !stop.is_cancelled())
        else {
            return Err(error);
        };
        on_retry(Retry {
            attempt: failures.retries() + throttles.retries(),
            wait,
            error: &error,
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers with `script` in order (`Err` codes), then `Ok`.
    fn scripted(script: &[&'static str]) -> Mutex<Vec<&'static str>> {
        Mutex::new(script.iter().rev().copied().collect())
    }

    async fn run(
        retries: &Retries,
        script: &Mutex<Vec<&'static str>>,
    ) -> (Result<(), String>, Vec<String>) {
        let mut seen = Vec::new();
        let result = retrying(
            retries,
            &CancellationToken::new(),
            || async {
                match script.lock().unwrap().pop() {
                    None => Ok(()),
                    Some("fatal") => Err(DriverError::fatal("no").with_code("AuthFailure")),
                    Some(code) => Err(DriverError::retry("again").with_code(code)),
                }
            },
            |retry| {
                seen.push(format!(
                    "{} {}",
                    retry.attempt,
                    retry.error.code.as_deref().unwrap_or("")
                ))
            },
        )
        .await;
        (result.map_err(|e| e.to_string()), seen)
    }

    #[tokio::test]
    async fn failures_retry_past_any_count_until_the_deadline() {
        let us = Duration::from_micros(10);
        let retries = Retries {
            failures: Policy::until(us, us, Duration::from_secs(60)),
            throttles: Retries::THROTTLES,
        };
        let script = scripted(&["ServiceUnavailable"; 40]);
        let (result, seen) = run(&retries, &script).await;
        assert_eq!(result, Ok(()));
        assert_eq!(seen.len(), 40);
        assert_eq!(seen[39], "40 ServiceUnavailable");

        let spent = Retries {
            failures: Retries::FAILURES.with_deadline(Some(Duration::ZERO)),
            ..retries
        };
        let script = scripted(&["ServiceUnavailable", "ServiceUnavailable"]);
        let (result, seen) = run(&spent, &script).await;
        assert_eq!(result, Err("ServiceUnavailable: again".into()));
        assert!(seen.is_empty(), "no retry after the deadline: {seen:?}");
    }

    #[tokio::test]
    async fn throttles_count_apart_and_fatal_errors_stop_at_once() {
        let us = Duration::from_micros(10);
        let retries = Retries {
            failures: Policy::until(us, us, Duration::from_secs(60)),
            throttles: Policy::new(us, us, 2),
        };
        let script = scripted(&["Throttling", "InternalError", "Throttling", "Throttling"]);
        let (result, seen) = run(&retries, &script).await;
        assert_eq!(
            result,
            Err("Throttling: again".into()),
            "the third throttle is one too many"
        );
        assert_eq!(seen, ["1 Throttling", "2 InternalError", "3 Throttling"]);

        let script = scripted(&["InternalError", "fatal", "InternalError"]);
        let (result, seen) = run(&retries, &script).await;
        assert_eq!(result, Err("AuthFailure: no".into()));
        assert_eq!(seen, ["1 InternalError"]);
    }
}
