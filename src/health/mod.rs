//! Health checks: what a check is (a group's `health` block and a load balancer's check are
//! the same [`Check`]), one probe over TCP or HTTP, and the [`Tracker`] that turns probe
//! results into up/down transitions under the check's thresholds (pure).

pub mod check;
pub mod probe;
pub mod tracker;

pub use check::{Check, Protocol, RawCheck};
pub use probe::{Outcome, probe};
pub use tracker::{Status, Tracker, Transition};
