//! Counts of one provider's API calls: how many went out, how many failed (by the class the
//! caller gave the failure) and how many the provider refused for its rate limit. Counted in
//! [`crate::net::pace::Pace`], which every provider's calls go through; the engine reads the
//! totals after an apply (data flows one way: drivers count, nobody pushes). No I/O.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::driver::{DriverError, ErrorClass};

/// The live counters (shared by one provider's calls; cheap to bump from any task).
#[derive(Debug, Default)]
pub struct Calls {
    calls: AtomicU64,
    throttles: AtomicU64,
    retry: AtomicU64,
    fail_over: AtomicU64,
    fatal: AtomicU64,
}

impl Calls {
    /// A call goes out.
    pub fn sent(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The provider refused a call for its rate limit.
    pub fn throttled(&self) {
        self.throttles.fetch_add(1, Ordering::Relaxed);
    }

    /// A call failed (answered with an error, or not answered at all) as `class`.
    pub fn failed(&self, class: ErrorClass) {
        let counter = match class {
            ErrorClass::Retry => &self.retry,
            ErrorClass::FailOver => &self.fail_over,
            ErrorClass::Fatal => &self.fatal,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `call` for a provider whose calls do not go through [`crate::net::pace::Pace`]:
    /// sent now, failed by its error's class if it fails.
    pub async fn count<T>(
        &self,
        call: impl Future<Output = Result<T, DriverError>>,
    ) -> Result<T, DriverError> {
        self.sent();
        let result = call.await;
        if let Err(error) = &result {
            self.failed(error.class);
        }
        result
    }

    /// The counts so far.
    pub fn counts(&self) -> CallCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CallCounts {
            calls: read(&self.calls),
            throttles: read(&self.throttles),
            retry_errors: read(&self.retry),
            fail_over_errors: read(&self.fail_over),
            fatal_errors: read(&self.fatal),
        }
    }
}

/// A provider's calls over some span, as recorded and summed. A throttled call also counts
/// as an error of class `retry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallCounts {
    pub calls: u64,
    pub throttles: u64,
    pub retry_errors: u64,
    pub fail_over_errors: u64,
    pub fatal_errors: u64,
}

impl CallCounts {
    /// What was counted after `earlier` (counters only grow; a smaller value reads as 0).
    pub fn since(&self, earlier: &CallCounts) -> CallCounts {
        CallCounts {
            calls: self.calls.saturating_sub(earlier.calls),
            throttles: self.throttles.saturating_sub(earlier.throttles),
            retry_errors: self.retry_errors.saturating_sub(earlier.retry_errors),
            fail_over_errors: self
                .fail_over_errors
                .saturating_sub(earlier.fail_over_errors),
            fatal_errors: self.fatal_errors.saturating_sub(earlier.fatal_errors),
        }
    }

    pub fn add(&mut self, other: &CallCounts) {
        self.calls += other.calls;
        self.throttles += other.throttles;
        self.retry_errors += other.retry_errors;
        self.fail_over_errors += other.fail_over_errors;
        self.fatal_errors += other.fatal_errors;
    }

    /// Errors by class, with the class's label (`retry`, `fail_over`, `fatal`).
    pub fn errors(&self) -> [(&'static str, u64); 3] {
        [
            ("retry", self.retry_errors),
            ("fail_over", self.fail_over_errors),
            ("fatal", self.fatal_errors),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_grow_per_call_and_class_and_spans_subtract() {
        let calls = Calls::default();
        calls.sent();
        let before = calls.counts();
        for _ in 0..3 {
            calls.sent();
        }
        calls.throttled();
        calls.failed(ErrorClass::Retry);
        calls.failed(ErrorClass::Fatal);
        let span = calls.counts().since(&before);
        assert_eq!(
            span,
            CallCounts {
                calls: 3,
                throttles: 1,
                retry_errors: 1,
                fail_over_errors: 0,
                fatal_errors: 1,
            }
        );
        let mut sum = span;
        sum.add(&span);
        assert_eq!(sum.errors(), [("retry", 2), ("fail_over", 0), ("fatal", 2)]);
        assert_eq!(before.since(&sum), CallCounts::default());
    }
}
