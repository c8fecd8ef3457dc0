//! Errors about a strategy file, each located (file:line:col and JSON pointer) with a hint.

use std::fmt;
use std::path::PathBuf;

use super::locate::Position;
use crate::echo::{Echo, EchoPath, cap};

/// The most of one problem's message (or hint) shown; the values it quotes are user input.
const MESSAGE_LIMIT: usize = 2 * crate::echo::LIMIT;

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
    #[error("Cannot read strategy file {}", crate::echo::EchoPath(path))]
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
            EchoPath(self.path),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in self.problems {
            write!(f, "\n  {}", EchoPath(self.path))?;
            if let Some(p) = problem.position {
                write!(f, ":{}:{}", p.line, p.column)?;
            }
            let pointer = if problem.pointer.is_empty() {
                "(document)"
            } else {
                &problem.pointer
            };
            // Messages and hints may quote values from the file: never one whole.
            write!(
                f,
                " at {}: {}",
                Echo(pointer),
                cap(&problem.message, MESSAGE_LIMIT)
            )?;
            if let Some(hint) = &problem.hint {
                write!(f, "\n    hint: {}", cap(hint, MESSAGE_LIMIT))?;
            }
        }
        Ok(())
    }
}
