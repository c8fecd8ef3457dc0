//! The History page (every state version: serial, time, writer, counts, cost and its change,
//! with a form to open the diff of any two) and the diff page.

use maud::{Markup, PreEscaped, html};

use super::{change, layout, node_href, sums};
use crate::serve::history::{Diff, Summary};

pub fn render(versions: &[Summary]) -> Markup {
    let newest = versions.last().map(|v| v.serial);
    let before = versions.iter().rev().nth(1).map(|v| v.serial);
    layout(
        "History",
        "/history",
        html! {
            @if versions.len() >= 2 {
                form.diff action="/history/diff" method="get" {
                    fieldset {
                        legend { "Compare two versions" }
                        label for="from" { "From serial" }
                        (select("from", versions, before))
                        label for="to" { "to serial" }
                        (select("to", versions, newest))
                        button type="submit" { "Show the diff" }
                    }
                }
            }
            table id="versions" {
                caption { (versions.len()) " version(s), oldest first" }
                thead { tr {
                    th scope="col" { "Serial" }
                    th scope="col" { "Written" }
                    th scope="col" { "By" }
                    th scope="col" class="num" { "Resources" }
                    th scope="col" class="num" { "Nodes" }
                    th scope="col" class="num" { "$/month" }
                    th scope="col" class="num" { "Change" }
                    th scope="col" { "Diff" }
                } }
                tbody {
                    @for (i, v) in versions.iter().enumerate() {
                        tr data-serial=(v.serial) {
                            th scope="row" { (v.serial) }
                            td { (v.written_at.as_deref().unwrap_or("–")) }
                            td { (v.written_by.as_deref().unwrap_or("–")) }
                            @match &v.totals {
                                Some(t) => {
                                    td.num { (t.resources) }
                                    td.num { (t.nodes) }
                                    td.num { (sums(&t.costs, false)) }
                                }
                                None => { td colspan="3" { "Unreadable: " (v.problem.as_deref().unwrap_or("")) } }
                            }
                            td.num { (v.monthly_change.map(change).unwrap_or_else(|| "–".into())) }
                            td {
                                @if i > 0 {
                                    a href=(format!("/history/diff?from={}&to={}", versions[i - 1].serial, v.serial)) {
                                        "From " (versions[i - 1].serial)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn select(name: &str, versions: &[Summary], selected: Option<u64>) -> Markup {
    html! {
        select id=(name) name=(name) {
            @for v in versions {
                option value=(v.serial) selected[Some(v.serial) == selected] { (v.serial) }
            }
        }
    }
}

pub fn diff(d: &Diff) -> Markup {
    layout(
        &format!("Serial {} → {}", d.from, d.to),
        "/history",
        html! {
            p { a href="/history" { "Back to the history" } }
            p id="diff-summary" {
                (d.added.len()) " added, " (d.changed.len()) " changed, " (d.removed.len()) " removed; "
                "cost " (sums(&d.costs_before, false)) " → " (sums(&d.costs_after, false))
                " per month ("
                (d.monthly_change.map_or_else(|| "in different currencies".into(), change))
                ")."
            }
            @if !d.added.is_empty() {
                h2 { "Added" }
                ul id="added" { @for a in &d.added { li { a href=(node_href(a)) { (a) } } } }
            }
            @if !d.removed.is_empty() {
                h2 { "Removed" }
                ul id="removed" { @for a in &d.removed { li { (a) } } }
            }
            @if !d.changed.is_empty() {
                h2 { "Changed" }
                @for c in &d.changed {
                    table.changed data-address=(c.address) {
                        caption { a href=(node_href(&c.address)) { (c.address) } }
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Before" } th scope="col" { "After" } } }
                        tbody {
                            @for f in &c.fields {
                                tr {
                                    th scope="row" { code { (f.name) } }
                                    td { code { (value(&f.before)) } }
                                    td { code { (value(&f.after)) } }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "The documents" }
            pre.diff tabindex="0" {
                @for line in d.text.lines() {
                    @let class = match line.chars().next() { Some('+') => "add", Some('-') => "del", Some('@') => "hunk", _ => "" };
                    span class=(class) { (line) } (PreEscaped("\n"))
                }
            }
        },
    )
}

fn value(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
