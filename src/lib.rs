//! oss: a plan/apply engine that provisions fleets of compute across clouds.
//!
//! The flow runs one way: strategy → compile (with catalogs) → desired graph → diff against
//! state → plan → apply (executor over drivers) → state. `cli` is the only module that prints.

pub mod apply;
pub mod backoff;
pub mod batch;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod compile;
pub mod digest;
pub mod discovery;
pub mod dns;
pub mod driver;
pub mod duration;
pub mod echo;
pub mod engine;
pub mod fsutil;
pub mod graph;
pub mod harden;
pub mod health;
pub mod inventory;
pub mod lb;
pub mod lifecycle;
pub mod monitor;
pub mod net;
pub mod outputs;
pub mod placement;
pub mod plan;
pub mod reference;
pub mod report;
pub mod resource;
pub mod secret;
pub mod secrets;
pub mod serve;
pub mod state;
pub mod strategy;
pub mod suggest;
