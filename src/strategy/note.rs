//! Notes: things worth telling about a strategy that still loads (an old spelling read as
//! its current one). Data only: the strategy layer makes them, the CLI prints them.

use std::path::Path;

use super::locate::Position;
use crate::echo::{Echo, EchoPath};

/// One note at one place of the strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// JSON pointer of what the note is about (`/provider/options/0/EC2_AP_SOUTHEAST2`).
    pub pointer: String,
    pub position: Option<Position>,
    /// What was read, and how it is written today. Never a secret: it quotes `env.NAME`
    /// references, not their values.
    pub message: String,
}

impl Note {
    /// `strategy.json:8:27 at /provider/options/0/EC2_AP_SOUTHEAST2: MESSAGE`.
    pub fn located(&self, path: &Path) -> String {
        let at = self
            .position
            .map_or(String::new(), |p| format!(":{}:{}", p.line, p.column));
        format!(
            "{}{at} at {}: {}",
            EchoPath(path),
            Echo(&self.pointer),
            self.message
        )
    }
}
