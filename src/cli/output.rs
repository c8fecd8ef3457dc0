//! Writing to stdout and stderr without ever stopping the work. SIGPIPE is ignored (see
//! [`ignore_sigpipe`]), so a reader that went away (`oss apply | head -1`, a closed stderr)
//! shows up as `EPIPE` on our write: we stop printing to that stream and carry on, so steps
//! finish, state is saved and the lock is released. `println!` would panic there instead.
//!
//! The only printing in oss goes through here (and the progress bar, which writes to a
//! terminal only).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Makes a write to a closed pipe fail with `EPIPE` instead of killing the process.
/// Children are unaffected: std's `Command` restores the default before it runs a program.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to race with.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn write_to(gone: &AtomicBool, text: &[u8], out: &mut dyn Write) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    if out.write_all(text).and_then(|()| out.flush()).is_err() {
        // The reader is gone (or the stream is unusable): stop printing to it, keep working.
        gone.store(true, Ordering::Relaxed);
    }
}

/// Writes `text` to stdout as is.
pub fn out(text: &str) {
    out_bytes(text.as_bytes());
}

/// Writes raw bytes to stdout (`oss state pull`).
pub fn out_bytes(bytes: &[u8]) {
    write_to(&STDOUT_GONE, bytes, &mut std::io::stdout().lock());
}

/// Writes `text` to stderr as is.
pub fn err(text: &str) {
    write_to(&STDERR_GONE, text.as_bytes(), &mut std::io::stderr().lock());
}

/// Stdout as a [`Write`] for streaming renderers: after the reader went away every write
/// "succeeds" without doing anything, so a renderer never fails half-way for that reason.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_to(&STDOUT_GONE, buf, &mut std::io::stdout().lock());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `println!` to stdout that never panics: stops printing when the reader is gone.
macro_rules! outln {
    () => { $crate::cli::output::out("\n") };
    ($($arg:tt)*) => { $crate::cli::output::out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics: stops printing when stderr is gone.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::err(&format!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, outln};

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed(usize);

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_gone_reader_is_written_to_once_then_left_alone() {
        let gone = AtomicBool::new(false);
        let mut closed = Closed(0);
        write_to(&gone, b"first\n", &mut closed);
        write_to(&gone, b"second\n", &mut closed);
        assert!(gone.load(Ordering::Relaxed));
        assert_eq!(closed.0, 1, "after EPIPE nothing more is tried");
    }
}
