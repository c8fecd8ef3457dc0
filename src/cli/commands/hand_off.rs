//! The hand-off after apply: the strategy's `hand_off.run` command (`/bin/sh -c`, in the
//! strategy's directory, `{inventory}` replaced by the inventory file the strategy writes),
//! after a successful apply that changed something (or every one, with `"when": "always"`).
//! Its output streams through; its failure is an error of its own, after the state was
//! written, and changes nothing in it. `--no-hand-off` skips it.

use std::process::Stdio;

use tokio_util::sync::CancellationToken;

use super::super::failure::{ExitStatus, Failure};
use super::super::output::errln;
use crate::strategy::{HandOff, HandOffWhen, Strategy};

pub async fn run(
    strategy: &Strategy,
    hand_off: &HandOff,
    changed: bool,
    cancel: &CancellationToken,
) -> Result<ExitStatus, Failure> {
    if hand_off.when == HandOffWhen::Changed && !changed {
        errln!(
            "Hand-off skipped: the apply changed nothing (set \"when\": \"always\" to run it anyway)."
        );
        return Ok(ExitStatus::Success);
    }
    let dir = strategy.dir();
    // The Ansible inventory if there is one, else the first file written.
    let inventory = strategy
        .inventory
        .get("ansible")
        .or_else(|| strategy.inventory.values().next())
        .map(|file| dir.join(file).to_string_lossy().into_owned())
        .unwrap_or_default();
    let command = hand_off.run.replace("{inventory}", &inventory);
    errln!("Hand-off: {command}");
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Failure::user(
                format!("The hand-off could not start: {e}."),
                "check the \"hand_off\" block; the apply itself succeeded and is saved",
            )
        })?;
    let status = tokio::select! {
        status = child.wait() => status,
        () = cancel.cancelled() => {
            let _ = child.kill().await;
            return Err(Failure::interrupted(
                "Interrupted during the hand-off; the apply itself succeeded and is saved",
                "run the hand-off command yourself when you are ready",
            ));
        }
    }
    .map_err(|e| Failure::internal(format!("Cannot wait for the hand-off: {e}")))?;
    if status.success() {
        errln!("Hand-off finished.");
        return Ok(ExitStatus::Success);
    }
    let how = match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was ended by a signal".to_string(),
    };
    Err(Failure::user(
        format!("The hand-off {how}; the apply itself succeeded and its state is saved."),
        "fix what the command reported and run it again, or apply with --no-hand-off",
    ))
}
