//! The confirmation prompt. It is shown only when stdin is a terminal (otherwise nobody can
//! answer and we refuse); Ctrl-C or SIGTERM while it waits aborts at once, with nothing
//! changed. The answer is read on a thread of its own so that the wait can be cut short.

use std::io::{BufRead, IsTerminal};

use tokio_util::sync::CancellationToken;

use super::failure::Failure;
use super::output;

/// Asks `question` on a terminal; refuses when nobody can answer. `interrupted` fires on the
/// first Ctrl-C or SIGTERM.
pub async fn confirm(question: &str, interrupted: &CancellationToken) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::user(
            "Refusing to go ahead without confirmation: standard input is not a terminal",
            "review the plan, then pass --auto-approve (or apply a saved plan with --auto-approve)",
        ));
    }
    output::out(&format!("\n{question}\n  Only 'yes' will be accepted: "));
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread, not `spawn_blocking`: the runtime would wait for it when shutting down,
    // and a read of a terminal nobody types into never returns.
    let reader = std::thread::Builder::new()
        .name("oss-confirm".into())
        .spawn(move || {
            let mut answer = String::new();
            let read = std::io::stdin().lock().read_line(&mut answer);
            let _ = tx.send(read.map(|_| answer));
        });
    if reader.is_err() {
        return Err(Failure::internal(
            "Cannot start the thread reading the answer",
        ));
    }
    let answer = tokio::select! {
        answer = rx => answer.ok().and_then(|a| a.ok()),
        () = interrupted.cancelled() => {
            output::out("\n");
            return Err(Failure::interrupted(
                "Interrupted at the confirmation prompt: nothing was changed",
                "run the command again when you are ready",
            ));
        }
    };
    if answer.as_deref().map(str::trim) == Some("yes") {
        Ok(())
    } else {
        Err(Failure::user(
            "Cancelled: nothing was changed",
            "answer `yes` to go ahead",
        ))
    }
}
