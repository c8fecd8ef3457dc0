//! Errors about a strategy file, each located (file:line:col and JSON pointer) with a hint.

use std::fmt;
use std::path::PathBuf;

use super::locate::Position;

/// One problem at one place in a strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// JSON pointer of the offending value (`/node/count`); empty for the whole document.
    pub pointer: String,
    pub position: Option<Position>,
    /// One sentence: what is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Everything wrong with a strategy file, or why it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("Cannot read strategy file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", Located { path, problems })]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl StrategyError {
    /// The located problems (empty for read errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            StrategyError::Invalid { problems, .. } => problems,
            StrategyError::Read { .. } => &[],
        }
    }
}

struct Located<'a> {
    path: &'a PathBuf,
    problems: &'a [Problem],
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "Strategy {} has {count} problem{}:",
            self.path.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in self.problems {
            write!(f, "\n  {}", self.path.display())?;
            if let Some(p) = problem.position {
                write!(f, ":{}:{}", p.line, p.column)?;
            }
            let pointer = if problem.pointer.is_empty() {
                "(document)"
            } else {
                &problem.pointer
            };
            write!(f, " at {pointer}: {}", problem.message)?;
            if let Some(hint) = &problem.hint {
                write!(f, "\n    hint: {hint}")?;
            }
        }
        Ok(())
    }
}
