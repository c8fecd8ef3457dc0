//! Events the core reports while it works (refresh, apply steps, retries, fail-over). The core
//! never prints: the CLI turns these into progress bars, plain lines or JSON.

use std::time::Duration;

use crate::driver::DriverError;
use crate::plan::Action;
use crate::resource::{Address, Placement};

#[derive(Debug)]
pub enum Event<'a> {
    RefreshStarted {
        provider: &'a str,
        resources: usize,
    },
    RefreshFinished {
        provider: &'a str,
        present: usize,
        gone: usize,
        adopted: usize,
    },
    /// A provider's refresh failed with a retryable error; it is tried again after `wait`.
    RefreshRetrying {
        provider: &'a str,
        attempt: u32,
        wait: Duration,
        error: &'a DriverError,
    },
    /// A provider holding nothing of this state could not be reached while refreshing.
    ProviderUnreachable {
        provider: &'a str,
        error: &'a DriverError,
    },
    /// Journal entries of an apply that did not finish were folded into state.
    Recovered {
        steps: usize,
    },
    ApplyStarted {
        steps: usize,
    },
    StepStarted {
        address: &'a Address,
        action: Action,
    },
    StepRetrying {
        address: &'a Address,
        attempt: u32,
        wait: Duration,
        error: &'a DriverError,
    },
    /// A create was refused at `from`; `to` is the next candidate (`None`: none left).
    StepFailedOver {
        address: &'a Address,
        from: &'a Placement,
        to: Option<&'a Placement>,
        error: &'a DriverError,
    },
    StepFinished {
        address: &'a Address,
        action: Action,
        elapsed: Duration,
        /// Where it ended up, when it was created.
        placement: Option<&'a Placement>,
    },
    StepFailed {
        address: &'a Address,
        action: Action,
        error: &'a str,
    },
    /// A step refused at every candidate turned out not to be needed: what depended on it
    /// was placed elsewhere. Nothing was created; the outcome counts it done.
    StepNotNeeded {
        address: &'a Address,
        action: Action,
    },
    StepSkipped {
        address: &'a Address,
        because: &'a Address,
    },
    /// Create-before-destroy: the old object at `address` is set aside (recorded as deposed,
    /// still running) so that its replacement can be created first.
    Deposed {
        address: &'a Address,
        provider_id: &'a str,
    },
    /// Create-before-destroy: the replacement `provider_id` is created and ready; the old
    /// object `old` is deleted next.
    ReplacementReady {
        address: &'a Address,
        provider_id: &'a str,
        old: &'a str,
    },
    /// A deposed object is deleted.
    DeposedDeleted {
        address: &'a Address,
        provider_id: &'a str,
    },
    /// An interrupt arrived: nothing new starts; `in_flight` steps finish.
    Interrupted {
        in_flight: usize,
    },
    /// The apply's summary (`engine::applies`) could not be appended to `path`; the apply
    /// itself is unaffected, `/metrics` just will not count it.
    ApplyNotRecorded {
        path: &'a std::path::Path,
        error: &'a std::io::Error,
    },
}

/// Receives events; implementations must be cheap and never block for long.
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event<'_>);
}

/// Discards every event (for library users and tests that do not watch).
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event<'_>) {}
}
