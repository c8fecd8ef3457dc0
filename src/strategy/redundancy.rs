//! Redundancy and spread: how many nodes a group runs beyond its count (`2:1`, `+5`) and the
//! failure domain its replicas or spares are spread over.

use serde::Deserialize;

/// How much redundancy the fleet has: `r:1` runs r nodes for each one needed (replicas of a
/// slot in distinct failure domains); `+k` runs k spares beyond the count (no failure domain
/// holds more than k, so losing one still leaves the count running).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redundancy {
    Ratio(usize),
    Spares(usize),
}

impl Default for Redundancy {
    fn default() -> Self {
        Redundancy::Ratio(1)
    }
}

impl Redundancy {
    /// As written; `None` for what the schema's pattern refuses.
    pub(super) fn parse(text: &str) -> Option<Self> {
        if let Some(k) = text.strip_prefix('+') {
            return k.parse().ok().map(Redundancy::Spares);
        }
        let r = text.strip_suffix(":1")?.parse().ok()?;
        (r >= 1).then_some(Redundancy::Ratio(r))
    }

    /// More nodes than the count.
    pub fn is_redundant(self) -> bool {
        matches!(self, Redundancy::Ratio(r) if r > 1)
            || matches!(self, Redundancy::Spares(k) if k > 0)
    }
}

impl std::fmt::Display for Redundancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Redundancy::Ratio(r) => write!(f, "{r}:1"),
            Redundancy::Spares(k) => write!(f, "+{k}"),
        }
    }
}

/// The failure domain that replicas (or spares) are spread over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    Location,
    Provider,
    None,
}
