//! Exit statuses, decided in one place. A command ends in an [`ExitStatus`] or a [`Failure`];
//! a failure is a *user* error (bad input, a stale plan, a held lock: one sentence, its
//! causes, a hint), an *internal* error (a bug of oss: said so, with how to report it) or an
//! *interrupt* (Ctrl-C before anything changed). All exit 1 except an interrupt (130).
//!
//! Rendering never echoes more than a bounded amount of any line (`crate::echo`), and never
//! repeats a cause: `#[error(transparent)]` and `"{source}"` in a message both make the cause
//! chain say the same thing twice.

use std::error::Error;
use std::process::ExitCode;

use crate::engine::EngineError;

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// `--detailed-exitcode`: the plan has changes.
    Changes,
    Failure,
    /// Interrupted before anything changed.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// Whose fault a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bad input or a situation the user can change: exit 1 with a hint.
    User,
    /// A bug of oss: exit 1, saying so and how to report it.
    Internal,
    /// Ctrl-C or SIGTERM before anything changed.
    Interrupted,
}

/// How to report an internal error (a panic prints this too).
pub const REPORT: &str = "this is an internal error of oss, not a problem with your input; please report it to the oss maintainers with the command you ran and the output of `oss --version`";

/// The most of one line of a message that is printed (values in it are capped earlier, at
/// `crate::echo::LIMIT`; this catches any that were not).
const LINE_LIMIT: usize = 1000;

/// A failure to report: one sentence, its causes, and a hint.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub kind: Kind,
}

impl<E: Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::from_error(&e)
    }
}

impl Failure {
    /// A user error with a hint.
    pub fn user(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            causes: Vec::new(),
            hint: Some(hint.into()),
            kind: Kind::User,
        }
    }

    /// A bug of oss.
    pub fn internal(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            kind: Kind::Internal,
        }
    }

    /// An interrupt before anything changed.
    pub fn interrupted(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            kind: Kind::Interrupted,
            ..Failure::user(message, hint)
        }
    }

    /// `e` and its causes, each said once ([`crate::echo::causes`]).
    pub fn from_error(e: &dyn Error) -> Self {
        Failure {
            message: e.to_string(),
            causes: crate::echo::causes(e),
            hint: None,
            kind: Kind::User,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn status(&self) -> ExitStatus {
        match self.kind {
            Kind::Interrupted => ExitStatus::Interrupted,
            Kind::User | Kind::Internal => ExitStatus::Failure,
        }
    }

    /// The lines printed to stderr, secrets replaced by `redact`.
    pub fn render(&self, redact: &dyn Fn(&str) -> String, color: bool) -> String {
        let red = console::Style::new().red().bold().force_styling(color);
        // Each line on its own: a strategy error is one line per problem.
        let line = |text: &str| {
            redact(text)
                .split('\n')
                .map(|l| crate::echo::cap(l, LINE_LIMIT))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut out = format!("{} {}\n", red.apply_to("error:"), line(&self.message));
        for cause in &self.causes {
            out.push_str(&format!("  caused by: {}\n", line(cause)));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("  hint: {}\n", line(hint)));
        }
        if self.kind == Kind::Internal {
            out.push_str(&format!("  note: {REPORT}\n"));
        }
        out
    }
}

/// Engine errors with the hint that fits them.
pub fn engine(e: EngineError) -> Failure {
    match e {
        EngineError::Lock(lock) => {
            let hint = lock.hint();
            Failure {
                hint,
                ..Failure::from(lock)
            }
        }
        EngineError::StalePlan(_) => {
            Failure::from(e).with_hint("make a new plan with `oss plan --out FILE` and review it")
        }
        EngineError::Departed(ref departed) => {
            let hint = departed.hint();
            Failure::from(e).with_hint(hint)
        }
        EngineError::Protected(ref protected) => {
            let hint = protected.hint();
            Failure::from(e).with_hint(hint)
        }
        EngineError::Scope(ref scope) => {
            let hint = scope.hint();
            Failure {
                hint,
                ..Failure::from(e)
            }
        }
        EngineError::Lifecycle(ref lifecycle) => {
            let hint = lifecycle.hint();
            Failure::from(e).with_hint(hint)
        }
        other => Failure::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("unknown provider kind `ghost`")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct Transparent(#[from] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("Provider ghost: {source}")]
    struct Embeds {
        #[source]
        source: Transparent,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("Cannot load state")]
    struct Outer {
        #[source]
        source: Embeds,
    }

    fn plain(f: &Failure) -> String {
        f.render(&|t| t.to_string(), false)
    }

    #[test]
    fn a_cause_that_repeats_the_message_or_the_cause_before_is_left_out() {
        let f = Failure::from(Embeds {
            source: Transparent(Inner),
        });
        assert_eq!(
            plain(&f),
            "error: Provider ghost: unknown provider kind `ghost`\n"
        );
        let f = Failure::from(Outer {
            source: Embeds {
                source: Transparent(Inner),
            },
        });
        assert_eq!(
            f.causes,
            ["Provider ghost: unknown provider kind `ghost`"],
            "the transparent wrapper and the inner error say what the cause before said"
        );
    }

    #[test]
    fn distinct_causes_are_all_kept() {
        let io = std::io::Error::other("disk full");
        #[derive(Debug, thiserror::Error)]
        #[error("Cannot write the plan")]
        struct Write(#[source] std::io::Error);
        let f = Failure::from(Write(io)).with_hint("free some space");
        assert_eq!(
            plain(&f),
            "error: Cannot write the plan\n  caused by: disk full\n  hint: free some space\n"
        );
    }

    #[test]
    fn internal_errors_say_how_to_report_them() {
        let text = plain(&Failure::internal("Cannot encode the plan"));
        assert!(text.contains("internal error of oss"), "{text}");
        assert_eq!(Failure::internal("x").status(), ExitStatus::Failure);
        assert_eq!(
            Failure::interrupted("x", "y").status().code(),
            130,
            "an interrupt is told apart from an error"
        );
    }

    #[test]
    fn no_line_is_echoed_whole_when_huge() {
        let f = Failure::user("x".repeat(5_000_000), "y");
        assert!(plain(&f).len() < 2 * LINE_LIMIT);
        // Many short lines are all kept.
        let many = vec!["a problem"; 500].join("\n");
        assert_eq!(
            plain(&Failure::user(many.clone(), "y"))
                .matches("a problem")
                .count(),
            500
        );
    }
}
