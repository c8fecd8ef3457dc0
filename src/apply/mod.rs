//! Apply: walks the plan's steps as a DAG through the drivers, recording each finished step
//! in the state journal at once. Creates go in dependency order, deletes in reverse; a failed
//! step blocks only its dependents; an interrupt starts nothing new and lets in-flight steps
//! finish.
//!
//! It never parses a strategy and never writes the state file itself (only the journal).

mod executor;
mod recorder;
pub mod retry;

pub use executor::{Options, Outcome, Run, Status, StepResult, execute};
