//! The plan in one line per changed resource (`oss plan --concise`): symbol, address, action
//! and reason, no attributes; then the unchanged count, the cost and the usual
//! `Plan: X to add, Y to change, Z to destroy.` line. For logs, chat and quick reviews of big
//! plans. Unchanged resources are only counted. Pure: returns a string.

use std::fmt::Write;

use super::{Change, Effect, Plan};

/// Renders `plan`, one line per change, aligned in columns.
pub fn render(plan: &Plan) -> String {
    let changed: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.effect() != Effect::NoOp)
        .collect();
    let width = changed
        .iter()
        .map(|c| c.label().chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for change in &changed {
        let (symbol, word) = match describe(change.effect()) {
            (_, word) if change.creates_first() => ("+/-", word),
            described => described,
        };
        let line = format!(
            "{symbol:<3} {:<width$}  {word:<8}  {}",
            change.label(),
            change.reason
        );
        // An empty reason would leave trailing spaces.
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !changed.is_empty() {
        out.push('\n');
    }
    let tally = plan.tally();
    if tally.unchanged > 0 {
        let _ = writeln!(out, "{} unchanged.", tally.unchanged);
    }
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes. The fleet matches the strategy.");
        return out;
    }
    let lines = super::text::cost_lines(plan);
    if !lines.is_empty() {
        let _ = writeln!(out, "{lines}");
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "Plan: {} to add, {} to change, {} to destroy.{}",
        s.add,
        s.change,
        s.destroy,
        super::text::moved_note(plan)
    );
    out
}

/// The symbol and word of a change: `-/+ replace` (`+/-` when the new one is created first,
/// see [`Change::creates_first`]); a gone resource is `+ recreate` or
/// `- forget` (nothing is destroyed).
fn describe(effect: Effect) -> (&'static str, &'static str) {
    match effect {
        Effect::Create => ("+", "create"),
        Effect::Update => ("~", "update"),
        Effect::Replace => ("-/+", "replace"),
        Effect::Recreate => ("+", "recreate"),
        Effect::Delete => ("-", "delete"),
        Effect::Forget => ("-", "forget"),
        Effect::Move => ("→", "moved"),
        Effect::NoOp => ("=", "no-op"),
    }
}
