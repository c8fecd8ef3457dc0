//! The plan as people read it in a terminal or a log: one block per changed address with the
//! reason and attribute-level before → after, a line per unchanged address, then
//! `Plan: X to add, Y to change, Z to destroy.`

use std::fmt::Write;

use console::Style;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{Action, Change, FieldChange, Plan};

/// Renders `plan`; `color` only when writing to a terminal without `NO_COLOR`.
pub fn render(plan: &Plan, color: bool) -> String {
    let mut out = Out {
        buf: String::new(),
        sink: None,
        error: None,
    };
    body(plan, &Styles::new(color), &mut out);
    out.buf
}

/// Writes the rendering of `plan` to `sink` a few pages at a time: the text of a plan of
/// 100,000 nodes (about 90 MB) never exists in memory whole.
pub fn write(plan: &Plan, color: bool, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut out = Out {
        buf: String::with_capacity(CHUNK),
        sink: Some(sink),
        error: None,
    };
    body(plan, &Styles::new(color), &mut out);
    out.flush();
    out.error.map_or(Ok(()), Err)
}

/// How much text gathers before [`write`] hands it on.
const CHUNK: usize = 64 * 1024;

/// The text so far, and where it goes once a chunk is full (nowhere for [`render`]).
struct Out<'a> {
    buf: String,
    sink: Option<&'a mut dyn std::io::Write>,
    /// The first write error; later text is dropped.
    error: Option<std::io::Error>,
}

impl Out<'_> {
    /// Hands the text on when a chunk is full.
    fn spill(&mut self) {
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            if self.error.is_none() {
                self.error = sink.write_all(self.buf.as_bytes()).err();
            }
            self.buf.clear();
        }
    }
}

fn body(plan: &Plan, styles: &Styles, out: &mut Out<'_>) {
    let changed = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.moved_from.is_some());
    if changed.clone().next().is_some() {
        let _ = writeln!(out.buf, "oss will perform the following actions:\n");
    }
    for change in changed {
        render_change(&mut out.buf, change, styles);
        out.spill();
    }
    let mut unchanged = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::NoOp && c.moved_from.is_none())
        .peekable();
    if unchanged.peek().is_some() {
        let _ = writeln!(out.buf, "Unchanged:");
        for change in unchanged {
            let _ = write!(out.buf, "  {} {}", styles.dim.apply_to("="), change.address);
            if !change.reason.is_empty() {
                let _ = write!(out.buf, " ({})", change.reason);
            }
            out.buf.push('\n');
            out.spill();
        }
        out.buf.push('\n');
    }
    let out = &mut out.buf;
    for warning in &plan.warnings {
        let _ = writeln!(out, "{} {warning}\n", styles.bold.apply_to("Warning:"));
    }
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "{}",
            styles
                .bold
                .apply_to("No changes. The fleet matches the strategy.")
        );
        return;
    }
    let lines = cost_lines(plan);
    if !lines.is_empty() {
        let _ = writeln!(out, "{lines}\n");
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "{} {} to add, {} to change, {} to destroy.{}",
        styles.bold.apply_to("Plan:"),
        s.add,
        s.change,
        s.destroy,
        moved_note(plan)
    );
}

/// ` 2 moved.` after the summary line when `moved` blocks rename resources, else nothing.
pub fn moved_note(plan: &Plan) -> String {
    match plan.moved() {
        0 => String::new(),
        n => format!(" {n} moved."),
    }
}

struct Styles {
    add: Style,
    change: Style,
    replace: Style,
    destroy: Style,
    dim: Style,
    bold: Style,
}

impl Styles {
    fn new(color: bool) -> Self {
        let style = |s: Style| s.force_styling(color);
        Styles {
            add: style(Style::new().green()),
            change: style(Style::new().yellow()),
            replace: style(Style::new().magenta()),
            destroy: style(Style::new().red()),
            dim: style(Style::new().dim()),
            bold: style(Style::new().bold()),
        }
    }
}

fn render_change(out: &mut String, change: &Change, styles: &Styles) {
    let (symbol, verb, style) = match change.action {
        Action::Create => ("  +", "will be created", &styles.add),
        Action::Update => ("  ~", "will be updated in place", &styles.change),
        Action::Replace if change.creates_first() => (
            "+/-",
            "must be replaced (the new one first, then the old one goes)",
            &styles.replace,
        ),
        Action::Replace => ("-/+", "must be replaced", &styles.replace),
        Action::Delete if change.gone => ("  -", "will be forgotten", &styles.destroy),
        Action::Delete => ("  -", "will be destroyed", &styles.destroy),
        Action::NoOp if change.moved_from.is_some() => ("  →", "has moved", &styles.change),
        Action::NoOp => return,
    };
    let _ = writeln!(
        out,
        "  {} {} {verb}: {}",
        styles.dim.apply_to("#"),
        styles.bold.apply_to(change.label()),
        change.reason
    );
    let _ = writeln!(out, "{} {}", style.apply_to(symbol), change.label());
    let fields: Vec<FieldChange> = match change.action {
        Action::Create | Action::Delete => change.fields(),
        _ => change.changed_fields(),
    };
    let width = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for field in &fields {
        render_field(out, field, width, change, styles);
    }
    if fields.is_empty() && change.gone {
        let _ = writeln!(out, "      (created again at its place)");
    }
    let cost = change.cost();
    if !cost.is_zero() {
        let unit = super::unit(change.currency());
        let price = |hourly: f64| {
            format!(
                "{unit}{hourly:.4}/h ({unit}{:.2}/month)",
                hourly * crate::catalog::HOURS_PER_MONTH
            )
        };
        let text = match change.action {
            Action::Create => price(cost.after_hourly),
            Action::Delete => price(cost.before_hourly),
            _ if cost.before_hourly == cost.after_hourly => price(cost.after_hourly),
            _ => format!(
                "{} -> {}",
                price(cost.before_hourly),
                price(cost.after_hourly)
            ),
        };
        let _ = writeln!(out, "      {} {text}", styles.dim.apply_to("$"));
    }
    out.push('\n');
}

fn render_field(
    out: &mut String,
    field: &FieldChange,
    width: usize,
    change: &Change,
    styles: &Styles,
) {
    let name = format!("{:width$}", field.name);
    if field.unknown {
        let forces = change
            .after
            .as_ref()
            .is_some_and(|d| !d.kind.updatable(field.name))
            && change.action == Action::Replace;
        let note = if forces {
            styles.replace.apply_to(" # forces replacement").to_string()
        } else {
            String::new()
        };
        let (sign, before) = match &field.before {
            Some(before) => (
                styles.change.apply_to("~").to_string(),
                format!("{} -> ", value(before, 8)),
            ),
            None => (styles.add.apply_to("+").to_string(), String::new()),
        };
        let _ = writeln!(
            out,
            "      {sign} {name} = {before}(known after apply){note}"
        );
        return;
    }
    match (&field.before, &field.after) {
        (None, Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {name} = {}",
                styles.add.apply_to("+"),
                value(after, 8)
            );
        }
        (Some(before), None) => {
            let _ = writeln!(
                out,
                "      {} {name} = {}",
                styles.destroy.apply_to("-"),
                value(before, 8)
            );
        }
        (Some(before), Some(after)) => {
            let forces = change
                .after
                .as_ref()
                .is_some_and(|d| !d.kind.updatable(field.name));
            let note = if forces && change.action == Action::Replace {
                styles.replace.apply_to(" # forces replacement").to_string()
            } else {
                String::new()
            };
            match (before.as_str(), after.as_str()) {
                (Some(b), Some(a)) if b.contains('\n') || a.contains('\n') => {
                    let _ = writeln!(
                        out,
                        "      {} {name} = <<-EOT{note}",
                        styles.change.apply_to("~")
                    );
                    for line in TextDiff::from_lines(b, a).iter_all_changes() {
                        let (sign, style) = match line.tag() {
                            ChangeTag::Delete => ("-", &styles.destroy),
                            ChangeTag::Insert => ("+", &styles.add),
                            ChangeTag::Equal => (" ", &styles.dim),
                        };
                        let text = line.value().trim_end_matches('\n');
                        let _ = writeln!(
                            out,
                            "          {}",
                            style.apply_to(format!("{sign} {text}"))
                        );
                    }
                    let _ = writeln!(out, "        EOT");
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "      {} {name} = {} -> {}{note}",
                        styles.change.apply_to("~"),
                        value(before, 8),
                        value(after, 8)
                    );
                }
            }
        }
        (None, None) => {}
    }
}

/// A value as one line of JSON, or a heredoc for multi-line strings.
fn value(v: &Value, indent: usize) -> String {
    match v {
        Value::String(s) if s.contains('\n') => {
            let pad = " ".repeat(indent + 2);
            let body: Vec<String> = s.lines().map(|l| format!("{pad}{l}")).collect();
            format!("<<-EOT\n{}\n{}EOT", body.join("\n"), " ".repeat(indent))
        }
        other => other.to_string(),
    }
}

/// The plan's cost lines, one per currency with a price (empty when nothing is priced).
pub(super) fn cost_lines(plan: &super::Plan) -> String {
    let lines: Vec<String> = plan
        .costs()
        .iter()
        .filter(|(_, cost)| !cost.is_zero())
        .map(|(currency, cost)| cost_line(cost, currency))
        .collect();
    lines.join("\n")
}

/// `Cost: $12.34/month -> $56.78/month (+$44.44/month, +360.1%)`.
fn cost_line(cost: &super::Cost, currency: &str) -> String {
    let unit = super::unit(currency);
    let delta = cost.delta_monthly();
    let sign = if delta < 0.0 { "-" } else { "+" };
    let percent = cost
        .delta_percent()
        .map_or(String::new(), |p| format!(", {sign}{:.1}%", p.abs()));
    format!(
        "Cost: {unit}{:.2}/month -> {unit}{:.2}/month ({sign}{unit}{:.2}/month{percent})",
        cost.before_monthly(),
        cost.after_monthly(),
        delta.abs()
    )
}
