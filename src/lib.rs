//! oss: a plan/apply engine that provisions fleets of compute across clouds.
//!
//! The flow runs one way: strategy → compile (with catalogs) → desired graph → diff against
//! state → plan → apply (executor over drivers) → state. `cli` is the only module that prints.

pub mod catalog;
pub mod driver;
pub mod resource;
