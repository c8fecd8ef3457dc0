//! A resource's logs, read through the driver of the provider it lives on (the dashboard's
//! node page). Only reads: nothing here changes a resource or the state.

use super::{EngineError, Session};
use crate::driver::LogStream;
use crate::resource::Existing;

impl Session {
    /// The last `lines` lines of `resource`'s logs, per stream (`None`: its provider keeps
    /// none, or it is no longer in the strategy).
    pub async fn logs(
        &self,
        resource: &Existing,
        lines: usize,
    ) -> Result<Option<Vec<LogStream>>, EngineError> {
        let provider = &resource.placement.provider;
        let Some(driver) = self.drivers.get(provider) else {
            return Ok(None);
        };
        driver
            .logs(resource, lines)
            .await
            .map_err(|source| EngineError::Driver {
                provider: provider.clone(),
                source,
            })
    }
}

/// The lines of one stream stamped at `cutoff` (Unix seconds) or later. A line without a
/// leading timestamp belongs to the stamped line before it (a stack trace, a wrapped
/// message); lines before the first stamp are kept only when no line is stamped, since they
/// cannot be dated. The flag says whether any line was stamped.
pub fn since(lines: &[String], cutoff: u64) -> (Vec<String>, bool) {
    let mut dated = false;
    let mut keep = true;
    let mut out = Vec::new();
    for line in lines {
        if let Some(at) = crate::clock::leading_timestamp(line) {
            if !dated {
                // The undated lines before the first stamp cannot be placed: dropped.
                out.clear();
            }
            dated = true;
            keep = at >= cutoff;
        }
        if keep {
            out.push(line.clone());
        }
    }
    (out, dated)
}

/// The lines of `now` that `before` had not shown: `now` is the tail of a stream `before`
/// was an earlier tail of, so the longest end of `before` that starts `now` is skipped.
pub fn new_lines<'a>(before: &[String], now: &'a [String]) -> &'a [String] {
    let most = before.len().min(now.len());
    for k in (1..=most).rev() {
        if before[before.len() - k..] == now[..k] {
            return &now[k..];
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn since_keeps_stamped_lines_and_their_continuations() {
        let all = lines(&[
            "preamble",
            "2000-01-01T00:00:00Z old",
            "  old continued",
            "2026-12-02T12:00:00Z new",
            "  new continued",
        ]);
        let cutoff = crate::clock::leading_timestamp("2026-12-02T11:50:00Z").unwrap();
        let (kept, dated) = since(&all, cutoff);
        assert!(dated);
        assert_eq!(
            kept,
            lines(&["2026-12-02T12:00:00Z new", "  new continued"])
        );
        let (kept, dated) = since(&lines(&["a", "b"]), cutoff);
        assert!(!dated);
        assert_eq!(kept, lines(&["a", "b"]));
    }

    #[test]
    fn new_lines_are_what_follows_the_overlap() {
        let before = lines(&["a", "b", "c"]);
        assert_eq!(new_lines(&before, &lines(&["b", "c", "d"])), lines(&["d"]));
        assert_eq!(
            new_lines(&before, &lines(&["a", "b", "c"])),
            Vec::<String>::new()
        );
        assert_eq!(new_lines(&[], &lines(&["x"])), lines(&["x"]));
        assert_eq!(new_lines(&before, &lines(&["x", "y"])), lines(&["x", "y"]));
    }
}
