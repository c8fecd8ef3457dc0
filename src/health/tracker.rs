//! Probe results in, verdicts out: a node is up after `healthy_threshold` successes in a row
//! and down after `unhealthy_threshold` failures in a row; until then it is unknown. Pure, so
//! `oss monitor`, `oss serve` and a load balancer's membership all judge the same way.

use serde::{Deserialize, Serialize};

use super::Check;

/// What a node is judged to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not yet enough results in a row either way.
    #[default]
    Unknown,
    Up,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Up => "up",
            Status::Down => "down",
        }
    }
}

/// A change of verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
}

/// One node's run of results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    pub status: Status,
    /// Successes (when the last result was one) or failures in a row.
    streak: u32,
    last_up: Option<bool>,
}

impl Tracker {
    /// Counts one probe result; the transition when it changed the verdict.
    pub fn observe(&mut self, up: bool, check: &Check) -> Option<Transition> {
        self.streak = match self.last_up == Some(up) {
            true => self.streak.saturating_add(1),
            false => 1,
        };
        self.last_up = Some(up);
        let to = match up {
            true if self.streak >= check.healthy_threshold => Status::Up,
            false if self.streak >= check.unhealthy_threshold => Status::Down,
            _ => return None,
        };
        let from = std::mem::replace(&mut self.status, to);
        (from != to).then_some(Transition { from, to })
    }

    /// Results in a row agreeing with the last one.
    pub fn streak(&self) -> u32 {
        self.streak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::RawCheck;

    #[test]
    fn thresholds_decide_and_flapping_does_not() {
        let check = serde_json::from_str::<RawCheck>(
            r#"{"healthy_threshold": 2, "unhealthy_threshold": 3}"#,
        )
        .unwrap()
        .check()
        .unwrap();
        let mut t = Tracker::default();
        assert_eq!(t.observe(true, &check), None);
        assert_eq!(
            t.observe(true, &check),
            Some(Transition {
                from: Status::Unknown,
                to: Status::Up
            })
        );
        assert_eq!(t.observe(true, &check), None);
        // Two failures, one success: still up.
        for up in [false, false, true, false, false] {
            assert_eq!(t.observe(up, &check), None);
        }
        assert_eq!(
            t.observe(false, &check),
            Some(Transition {
                from: Status::Up,
                to: Status::Down
            })
        );
        assert_eq!(t.status, Status::Down);
        assert_eq!(t.streak(), 3);
        assert_eq!(t.observe(false, &check), None);
    }
}
