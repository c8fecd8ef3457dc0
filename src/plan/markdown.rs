//! The plan as a pull-request comment (GitHub-flavoured markdown): a headline with counts
//! (`+3 ~1 -2 ±1`), a warning when anything is destroyed or replaced, the fleet's monthly cost
//! before → after, a table of the changed resources with their placement and price, and every
//! attribute diff in a collapsed `<details>` block.
//!
//! A comment must fit GitHub's limit, so past [`LIMIT`] characters the attribute diffs are cut
//! a whole resource at a time (for huge plans, table rows too), never the summary, and a line
//! says what was cut. The same plan always renders the same text: no timestamps, the plan's
//! address order. Unchanged resources are only counted: a fleet of 1,000 unchanged nodes is one
//! number, not 1,000 rows.
//!
//! Values from `env.` references never reach a plan (they are read only in provider
//! settings), so there is nothing secret here to mask or leave out. Pure: returns a string.

use std::fmt::Write;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{Change, Cost, Effect, FieldChange, Plan, Tally, money};

/// How long a rendered comment may be, in characters: GitHub refuses comments over 65,536,
/// and CI scripts add a marker line.
pub const LIMIT: usize = 65_000;

/// How many destroyed or replaced addresses the warning names before it says "and N more".
const WARNED_BY_NAME: usize = 20;

/// Renders `plan` for a pull-request comment of at most [`LIMIT`] characters.
pub fn render(plan: &Plan) -> String {
    render_within(plan, LIMIT)
}

/// Renders `plan` in at most `limit` characters (the summary is kept whole even if it alone
/// is longer, which takes a limit far below [`LIMIT`]).
pub fn render_within(plan: &Plan, limit: usize) -> String {
    let mut out = summary(plan);
    let changed: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.effect() != Effect::NoOp)
        .collect();
    if changed.is_empty() {
        return out;
    }
    let n = changed.len();
    // Rendered only as far as they could fit: a plan of 100,000 creates formats a few hundred.
    let rows = take_within(changed.iter().map(|c| row(c)), limit);
    let blocks = take_within(changed.iter().map(|c| details(c)), limit);
    let row_sizes = running_sizes(&rows);
    let block_sizes = running_sizes(&blocks);
    let summary_size = chars(&out) + 1;

    if rows.len() == n {
        // The whole table, and as many whole diffs (in address order) as fit beside the line
        // saying what was cut.
        let table_size = chars(TABLE_HEAD) + row_sizes[n] + 1;
        let open = |kept: usize| {
            let of = if kept == n {
                plural(n, "resource")
            } else {
                format!("the first {kept} of {n} resources")
            };
            format!("<details>\n<summary>Attribute changes of {of}</summary>\n\n")
        };
        let details_size = |kept: usize| match kept {
            0 => 0,
            _ => chars(&open(kept)) + block_sizes[kept] + chars(DETAILS_CLOSE),
        };
        let note = |kept: usize| details_cut(&changed, kept, limit);
        let fits = |kept: usize| {
            summary_size + table_size + details_size(kept) + chars(&note(kept)) <= limit
        };
        if fits(0) {
            let mut kept = blocks.len();
            while kept > 0 && !fits(kept) {
                kept -= 1;
            }
            out.push('\n');
            out.push_str(TABLE_HEAD);
            rows.iter().for_each(|r| out.push_str(r));
            out.push('\n');
            if kept > 0 {
                out.push_str(&open(kept));
                blocks[..kept].iter().for_each(|b| out.push_str(b));
                out.push_str(DETAILS_CLOSE);
            }
            out.push_str(&note(kept));
            return out;
        }
    }

    // Not even the table fits: as many of its rows as fit, no diffs.
    let note = |kept: usize| rows_cut(&changed, kept, limit);
    let fits = |kept: usize| {
        summary_size + chars(TABLE_HEAD) + row_sizes[kept] + 1 + chars(&note(kept)) <= limit
    };
    let mut kept = rows.len().min(n - 1);
    while kept > 0 && !fits(kept) {
        kept -= 1;
    }
    out.push('\n');
    if kept > 0 {
        out.push_str(TABLE_HEAD);
        rows[..kept].iter().for_each(|r| out.push_str(r));
        out.push('\n');
    }
    out.push_str(&note(kept));
    out
}

/// The first items whose sizes add up to at most `budget` characters.
fn take_within(items: impl Iterator<Item = String>, budget: usize) -> Vec<String> {
    let mut used = 0;
    items
        .take_while(|item| {
            used += chars(item);
            used <= budget
        })
        .collect()
}

/// `sizes[k]`: the characters in the first `k` parts.
fn running_sizes(parts: &[String]) -> Vec<usize> {
    std::iter::once(0)
        .chain(parts.iter().scan(0, |sum, part| {
            *sum += chars(part);
            Some(*sum)
        }))
        .collect()
}

const DETAILS_CLOSE: &str = "</details>\n";

const TABLE_HEAD: &str = "| address | action | provider / location / size | $/month before → after | reason |\n\
                          |---|---|---|---|---|\n";

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Headline, counts, the destruction warning and the cost: always whole.
fn summary(plan: &Plan) -> String {
    let tally = plan.tally();
    let what = if plan.destroy {
        "oss destroy plan"
    } else {
        "oss plan"
    };
    let mut out = String::new();
    if !plan.has_changes() {
        let _ = writeln!(out, "### {what} for {}: no changes\n", code(&plan.strategy));
        let _ = writeln!(
            out,
            "The fleet matches the strategy: {} unchanged.",
            plural(tally.unchanged, "resource")
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### {what} for {}: `+{} ~{} -{} ±{}`\n",
        code(&plan.strategy),
        tally.create,
        tally.update,
        tally.delete,
        tally.replace
    );
    let s = plan.summary();
    let _ = write!(
        out,
        "**Plan:** {} to add, {} to change, {} to destroy.",
        s.add, s.change, s.destroy
    );
    if tally.forget > 0 {
        let _ = write!(out, " {} to forget (gone already).", tally.forget);
    }
    if plan.moved() > 0 {
        let _ = write!(out, " {} moved.", plan.moved());
    }
    if tally.unchanged > 0 {
        let _ = write!(out, " {} unchanged.", tally.unchanged);
    }
    out.push_str("\n\n");
    warning(&mut out, plan, &tally);
    for exposed in &plan.warnings {
        let _ = writeln!(out, "> ⚠️ {}\n", inline(exposed));
    }
    let costs = plan.costs();
    let texts: Vec<String> = costs
        .iter()
        .map(|(currency, cost)| cost_text(cost, currency))
        .collect();
    let _ = writeln!(out, "**Monthly cost:** {}", texts.join("; "));
    let unpriced = plan.changes.iter().filter(|c| unpriced(c)).count();
    if unpriced > 0 {
        let _ = writeln!(
            out,
            "\n{} no known price and count as {}.",
            plural_verb(unpriced, "resource has", "resources have"),
            money(0.0, &costs[0].0)
        );
    }
    out
}

/// The bold block naming what will be destroyed or replaced, when anything is.
fn warning(out: &mut String, plan: &Plan, tally: &Tally) {
    if tally.delete == 0 && tally.replace == 0 {
        return;
    }
    let mut parts = Vec::new();
    if tally.delete > 0 {
        parts.push(format!("destroys {}", plural(tally.delete, "resource")));
    }
    if tally.replace > 0 {
        parts.push(format!(
            "replaces {} (destroyed, then created again)",
            plural(tally.replace, "resource")
        ));
    }
    let _ = writeln!(out, "> ⚠️ **This plan {}.**\n>", parts.join(" and "));
    let destructive = plan
        .changes
        .iter()
        .filter(|c| matches!(c.effect(), Effect::Delete | Effect::Replace));
    for change in destructive.clone().take(WARNED_BY_NAME) {
        let verb = match change.effect() {
            Effect::Replace if change.creates_first() => "replace (new one first)",
            Effect::Replace => "replace",
            _ => "delete",
        };
        let _ = writeln!(
            out,
            "> - {} {verb}: {}",
            code(&change.label()),
            inline(&change.reason)
        );
    }
    let more = destructive.count().saturating_sub(WARNED_BY_NAME);
    if more > 0 {
        let _ = writeln!(out, "> - … and {more} more");
    }
    out.push('\n');
}

/// `$48.18/month → $65.70/month (+$17.52/month, +36.4%)`.
fn cost_text(cost: &Cost, currency: &str) -> String {
    let delta = cost.delta_monthly();
    let change = if (delta * 100.0).round() == 0.0 {
        "no change".to_string()
    } else {
        let sign = if delta < 0.0 { "-" } else { "+" };
        let percent = cost
            .delta_percent()
            .map_or(String::new(), |p| format!(", {sign}{:.1}%", p.abs()));
        format!("{sign}{}/month{percent}", money(delta.abs(), currency))
    };
    format!(
        "{}/month → {}/month ({change})",
        money(cost.before_monthly(), currency),
        money(cost.after_monthly(), currency)
    )
}

/// A resource that exists (or will) without a known price.
fn unpriced(change: &Change) -> bool {
    let before = change
        .before
        .as_ref()
        .filter(|_| !change.gone)
        .is_some_and(|b| b.placement.hourly_price.is_none());
    let after = change
        .after
        .as_ref()
        .is_some_and(|a| a.placement.hourly_price.is_none());
    before || after
}

fn label(change: &Change) -> &'static str {
    match change.effect() {
        Effect::Replace if change.creates_first() => "± replace (new one first)",
        Effect::Create => "+ create",
        Effect::Update => "~ update",
        Effect::Replace => "± replace",
        Effect::Recreate => "+ recreate",
        Effect::Delete => "- delete",
        Effect::Forget => "- forget",
        Effect::Move => "→ moved",
        Effect::NoOp => "no-op",
    }
}

/// One table row: address, action, placement (before → after when it moves), price per month
/// before → after (`–` where the resource does not exist), reason.
fn row(change: &Change) -> String {
    let currency = change.currency();
    let place =
        |p: &crate::resource::Placement| format!("{} / {} / {}", p.provider, p.location, p.size);
    let before = change.before.as_ref().map(|b| &b.placement);
    let after = change.after.as_ref().map(|a| &a.placement);
    let placement = match (before, after) {
        (Some(b), Some(a)) if place(b) != place(a) => format!("{} → {}", place(b), place(a)),
        (_, Some(p)) | (Some(p), None) => place(p),
        (None, None) => String::new(),
    };
    let price = |p: Option<&crate::resource::Placement>| match p {
        None => "–".to_string(),
        Some(p) => p.hourly_price.map_or("unknown".to_string(), |h| {
            money(h * crate::catalog::HOURS_PER_MONTH, currency)
        }),
    };
    // A gone resource costs nothing any more.
    let live_before = before.filter(|_| !change.gone);
    format!(
        "| {} | {} | {} | {} → {} | {} |\n",
        code(&change.label()).replace('|', "\\|"),
        label(change),
        inline(&placement),
        price(live_before),
        price(after),
        inline(&change.reason)
    )
}

/// One resource's attribute diff, as a `diff` code block so GitHub colours it.
fn details(change: &Change) -> String {
    let effect = change.effect();
    let mut out = format!(
        "**{}** {}: {}\n\n",
        code(&change.label()),
        label(change),
        inline(&change.reason)
    );
    let fields = match effect {
        Effect::Create | Effect::Delete | Effect::Forget => change.fields(),
        _ => change.changed_fields(),
    };
    if fields.is_empty() {
        let note = match effect {
            Effect::Recreate => "Gone at the provider: created again at its place.",
            _ => "No attribute changes.",
        };
        let _ = writeln!(out, "{note}\n");
        return out;
    }
    let width = fields.iter().map(|f| chars(f.name)).max().unwrap_or(0);
    let mut lines = Vec::new();
    for field in &fields {
        let forces = effect == Effect::Replace
            && change
                .after
                .as_ref()
                .is_some_and(|d| !d.kind.updatable(field.name));
        diff_field(&mut lines, field, width, forces);
    }
    let body = lines.join("\n");
    let fence = fence(&body);
    let _ = writeln!(out, "{fence}diff\n{body}\n{fence}\n");
    out
}

fn diff_field(lines: &mut Vec<String>, field: &FieldChange, width: usize, forces: bool) {
    let name = format!("{:width$}", field.name);
    let note = if forces { "  # forces replacement" } else { "" };
    if field.unknown {
        if let Some(before) = &field.before {
            push_value(lines, '-', &name, before, "");
        }
        lines.push(format!("+ {name} = (known after apply){note}"));
        return;
    }
    match (field.before.as_deref(), field.after.as_deref()) {
        (Some(Value::String(b)), Some(Value::String(a)))
            if b.contains('\n') || a.contains('\n') =>
        {
            lines.push(format!("  {name} = <<-EOT{note}"));
            for line in TextDiff::from_lines(b.as_str(), a.as_str()).iter_all_changes() {
                let sign = match line.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                let text = line.value().trim_end_matches('\n');
                lines.push(format!("{sign}     {text}"));
            }
            lines.push("    EOT".into());
        }
        (before, after) => {
            if let Some(before) = before {
                push_value(lines, '-', &name, before, "");
            }
            if let Some(after) = after {
                push_value(lines, '+', &name, after, note);
            }
        }
    }
}

/// `+ name = value`, or a heredoc with every line signed for multi-line strings.
fn push_value(lines: &mut Vec<String>, sign: char, name: &str, value: &Value, note: &str) {
    match value {
        Value::String(s) if s.contains('\n') => {
            lines.push(format!("{sign} {name} = <<-EOT{note}"));
            for line in s.lines() {
                lines.push(format!("{sign}     {line}"));
            }
            lines.push(format!("{sign}   EOT"));
        }
        other => lines.push(format!("{sign} {name} = {other}{note}")),
    }
}

/// The line that says which diffs were left out (empty when none were).
fn details_cut(changed: &[&Change], kept: usize, limit: usize) -> String {
    let n = changed.len();
    if kept >= n {
        return String::new();
    }
    // After a blank line: `</details>` opens an HTML block that runs to the next one.
    format!(
        "\n**Cut to fit in a comment:** the attribute diffs of {} of {n} changed resources ({}) \
         are left out to stay under {} characters; the summary and the table are complete. \
         Run `oss show` on the saved plan to see every diff.\n",
        n - kept,
        span(&changed[kept..]),
        thousands(limit)
    )
}

/// The line that says which table rows were left out.
fn rows_cut(changed: &[&Change], kept: usize, limit: usize) -> String {
    let n = changed.len();
    format!(
        "**Cut to fit in a comment:** {} of {n} changed resources ({}) are not in the table \
         and no attribute diffs are shown, to stay under {} characters; the summary above is \
         complete. Run `oss show --concise` on the saved plan to list every change.\n",
        n - kept,
        span(&changed[kept..]),
        thousands(limit)
    )
}

/// `` `a` `` or `` `a` … `z` `` for a run of changes.
fn span(changes: &[&Change]) -> String {
    match changes {
        [] => String::new(),
        [one] => code(one.address.as_str()),
        [first, .., last] => format!(
            "{} … {}",
            code(first.address.as_str()),
            code(last.address.as_str())
        ),
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn plural_verb(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A code span that survives backticks in `text`.
fn code(text: &str) -> String {
    let longest = longest_run(text, '`');
    let ticks = "`".repeat(longest + 1);
    let pad = if longest > 0 { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A code fence longer than any run of backticks in `body`.
fn fence(body: &str) -> String {
    "`".repeat((longest_run(body, '`') + 1).max(3))
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Plain text made inert in markdown and in a table cell: no emphasis, links, HTML or column
/// breaks, one line.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::resource::{Address, Attributes, Desired, Kind, Placement};

    fn plan_of_creates(n: usize) -> Plan {
        let changes = (0..n)
            .map(|i| {
                let mut attributes = Attributes::new();
                attributes.insert("name".into(), format!("web-{i}").into());
                Change {
                    address: Address::node("web", i),
                    action: Action::Create,
                    reason: "not in state".into(),
                    before: None,
                    after: Some(Desired {
                        address: Address::node("web", i),
                        kind: Kind::Node,
                        placement: Placement {
                            provider: "sim".into(),
                            location: "here".into(),
                            size: "small".into(),
                            image: "debian-12".into(),
                            hourly_price: Some(0.01),
                            currency: Some("USD".into()),
                        },
                        fallbacks: Default::default(),
                        attributes,
                        depends_on: Vec::new(),
                        templates: Default::default(),
                        unknown: Default::default(),
                    }),
                    gone: false,
                    moved_from: None,
                    deposed: false,
                }
            })
            .collect();
        Plan {
            format_version: 1,
            strategy: "fleet".into(),
            strategy_hash: String::new(),
            lineage: None,
            serial: 0,
            seed: 0,
            destroy: false,
            changes,
            sensitive: Default::default(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn prices_in_two_currencies_are_summed_apart() {
        let mut plan = plan_of_creates(3);
        let euros = plan.changes[2].after.as_mut().unwrap();
        euros.placement.currency = Some("EUR".into());
        euros.placement.hourly_price = Some(0.02);
        let costs = plan.costs();
        let currencies: Vec<&str> = costs.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(currencies, ["USD", "EUR"]);
        assert!((costs[0].1.after_hourly - 0.02).abs() < 1e-12);
        assert!((costs[1].1.after_hourly - 0.02).abs() < 1e-12);
        let out = render(&plan);
        assert!(
            out.contains("**Monthly cost:** $0.00/month → $14.60/month (+$14.60/month); EUR 0.00/month → EUR 14.60/month (+EUR 14.60/month)"),
            "{out}"
        );
        assert!(
            out.contains("| EUR 0.00 → EUR 14.60 |") || out.contains("– → EUR 14.60"),
            "{out}"
        );
        let text = crate::plan::text::cost_lines(&plan);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.contains("Cost: EUR 0.00/month -> EUR 14.60/month"),
            "{text}"
        );
        let mut json = Vec::new();
        crate::plan::json::write(&plan, &mut json).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["cost"]["currency"], "USD");
        assert_eq!(doc["costs"][1]["currency"], "EUR");
        assert_eq!(doc["costs"][1]["after_monthly"], 14.6);
        // A node the plan leaves alone, recorded in euros before `exchange_rates` converted
        // its price: it costs its dollars on both sides, no change.
        let mut kept = plan_of_creates(1);
        let change = &mut kept.changes[0];
        change.action = Action::NoOp;
        let mut recorded = change.after.clone().unwrap();
        recorded.placement.currency = Some("EUR".into());
        recorded.placement.hourly_price = Some(0.009);
        change.before = Some(crate::resource::Existing {
            address: recorded.address,
            kind: recorded.kind,
            placement: recorded.placement,
            provider_id: "n-1".into(),
            attributes: recorded.attributes,
            observed: Default::default(),
            dependencies: Vec::new(),
        });
        let costs = kept.costs();
        assert_eq!(costs.len(), 1, "{costs:?}");
        assert_eq!(
            (costs[0].1.before_hourly, costs[0].1.after_hourly),
            (0.01, 0.01)
        );

        // One currency alone: no US dollars line, no `costs`.
        for change in &mut plan.changes {
            change.after.as_mut().unwrap().placement.currency = Some("EUR".into());
        }
        assert_eq!(plan.costs().len(), 1);
        assert!(render(&plan).contains("**Monthly cost:** EUR 0.00/month → EUR"));
    }

    #[test]
    fn every_limit_keeps_the_summary_and_whole_diffs() {
        let plan = plan_of_creates(40);
        let summary = summary(&plan);
        let full = render(&plan);
        assert!(!full.contains("Cut to fit"), "{full}");
        let full_size = chars(&full);
        let mut seen_diff_cut = false;
        let mut seen_row_cut = false;
        for limit in (chars(&summary) + 600..full_size + 50).step_by(97) {
            let out = render_within(&plan, limit);
            assert!(chars(&out) <= limit, "{limit}: {}", chars(&out));
            assert!(out.starts_with(&summary), "{limit}");
            let opened = out.matches("```diff\n").count();
            assert_eq!(opened, out.matches("\n```\n").count(), "{limit}");
            let rows = out.lines().filter(|l| l.starts_with("| `")).count();
            if limit >= full_size {
                assert_eq!(out, full);
            } else if rows == 40 {
                seen_diff_cut = true;
                let line = format!("the attribute diffs of {} of 40 changed", 40 - opened);
                assert!(out.contains(&line), "{limit}: {out}");
                if opened > 0 {
                    let summary_line = format!("Attribute changes of the first {opened} of 40");
                    assert!(out.contains(&summary_line), "{out}");
                }
            } else {
                seen_row_cut = true;
                assert_eq!(opened, 0);
                let line = format!("**Cut to fit in a comment:** {} of 40 changed", 40 - rows);
                assert!(out.contains(&line), "{limit}: {out}");
            }
        }
        assert!(seen_diff_cut && seen_row_cut);
    }

    #[test]
    fn a_tiny_limit_still_prints_the_whole_summary() {
        let plan = plan_of_creates(3);
        let out = render_within(&plan, 10);
        assert!(out.starts_with(&summary(&plan)), "{out}");
        assert!(
            out.ends_with(
                "**Cut to fit in a comment:** 3 of 3 changed resources (`node.web[0]` … \
                 `node.web[2]`) are not in the table and no attribute diffs are shown, to stay \
                 under 10 characters; the summary above is complete. Run `oss show --concise` \
                 on the saved plan to list every change.\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn helpers_keep_markdown_inert() {
        assert_eq!(thousands(65_000), "65,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(code("node.web[0]"), "`node.web[0]`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(fence("x ```` y"), "`````");
        assert_eq!(inline("a|b <i>*x*</i>"), "a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt;");
    }
}
