//! One file per subcommand. Each is a thin sequence of engine calls that ends in an
//! [`ExitStatus`](super::failure::ExitStatus) or a [`Failure`](super::failure::Failure); `apply`
//! and `destroy` share their flow in [`change`].

pub mod apply;
pub mod catalog;
pub mod change;
pub mod destroy;
pub mod discover;
pub mod force_unlock;
pub mod graph;
pub mod hand_off;
pub mod import;
pub mod inventory;
pub mod output;
pub mod plan;
pub mod secrets;
pub mod serve;
pub mod show;
pub mod state;
pub mod state_mv;
pub mod state_rm;
pub mod unlock;
pub mod validate;
