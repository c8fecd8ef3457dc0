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
pub mod logs;
pub mod monitor;
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

/// A `--group` or GROUP argument must name one of the strategy's node groups; the error lists
/// them (`oss inventory`, `oss discover`).
fn known_group(
    strategy: &crate::strategy::Strategy,
    group: &str,
) -> Result<(), super::failure::Failure> {
    if strategy.group(group).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = strategy.groups.iter().map(|g| g.name.as_str()).collect();
    Err(super::failure::Failure::user(
        format!(
            "The strategy has no node group {}.",
            crate::echo::Echo(group)
        ),
        format!("groups: {}", names.join(", ")),
    ))
}
