//! A resource's page: its placement and attributes, its health and last transitions, its
//! ranked fall-back candidates, what its provider observed, and the last lines of its logs.

use maud::{Markup, html};

use super::{hourly, layout, monthly};
use crate::resource::{Attributes, Placement};
use crate::serve::detail::Detail;

pub fn render(detail: &Detail) -> Markup {
    let row = &detail.row;
    let r = &detail.resource;
    let currency = row.currency.as_deref();
    layout(
        &row.address,
        "",
        html! {
            p { a href="/" { "Back to the fleet" } }
            section aria-labelledby="placement-h" {
                h2 id="placement-h" { "Placement" }
                dl {
                    dt { "Status" } dd { span class=(format!("status {}", row.status)) { (row.status) } }
                    dt { "Provider" } dd { (r.placement.provider) }
                    dt { "Location" } dd { (r.placement.location) }
                    dt { "Size" } dd { (r.placement.size) }
                    dt { "Image" } dd { (r.placement.image) }
                    dt { "Provider id" } dd { code { (r.provider_id) } }
                    dt { "IP" } dd { (row.ip.as_deref().unwrap_or("–")) }
                    dt { "Per hour" } dd { (hourly(row.hourly_price, currency)) }
                    dt { "Per month" } dd { (monthly(row.monthly_price, currency)) }
                    @if !r.dependencies.is_empty() {
                        dt { "Depends on" }
                        dd { @for (i, d) in r.dependencies.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href=(super::node_href(d.as_str())) { (d) }
                        } }
                    }
                }
            }
            section aria-labelledby="health-h" {
                h2 id="health-h" { "Health" }
                @match &detail.health {
                    None => { p { "Its group has no health check." } }
                    Some(h) => {
                        p id="health-now" data-health=(h.status.as_str()) {
                            "Now: " (super::health(Some(h.status)))
                            @if !h.detail.is_empty() { " (" (h.detail) ")" }
                            ", checked every " (crate::duration::show(h.check.interval))
                            "; down after " (h.check.unhealthy_threshold) " failure(s) in a row."
                        }
                    }
                }
                @if detail.health_history.is_empty() {
                    @if detail.health.is_some() { p { "No transition recorded yet." } }
                } @else {
                    table id="health-history" {
                        caption { "Last transitions, oldest first" }
                        thead { tr {
                            th scope="col" { "When" }
                            th scope="col" { "From" }
                            th scope="col" { "To" }
                            th scope="col" { "Why" }
                            th scope="col" { "Seen by" }
                        } }
                        tbody {
                            @for r in &detail.health_history {
                                tr {
                                    td { time datetime=(r.at) { (r.at) } }
                                    td { (super::health(Some(r.from))) }
                                    td { (super::health(Some(r.to))) }
                                    td { @if r.detail.is_empty() { "–" } @else { (r.detail) } }
                                    td { (r.observer) }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="fallbacks-h" {
                h2 id="fallbacks-h" { "Fall-back candidates" }
                @match (&detail.fallbacks, &detail.fallbacks_problem) {
                    (Some(list), _) if list.is_empty() => { p { "None: this is the only placement the strategy allows." } }
                    (Some(list), _) => { (fallbacks(list)) }
                    (None, Some(problem)) => { p { "Not known: " (problem) "." } }
                    (None, None) => { p { "Not known." } }
                }
            }
            section aria-labelledby="attributes-h" {
                h2 id="attributes-h" { "Attributes" }
                (attributes("Attributes it was created with", &r.attributes))
                (attributes("What the provider observed", &r.observed))
            }
            section aria-labelledby="logs-h" {
                h2 id="logs-h" { "Logs" }
                @if let Some(problem) = &detail.logs_problem { p role="alert" { "The logs cannot be read: " (problem) } }
                @match &detail.logs {
                    Some(streams) => {
                        @for s in streams {
                            h3 { (s.name) }
                            @if s.lines.is_empty() {
                                p { "Nothing written." }
                            } @else {
                                pre.log data-stream=(s.name) tabindex="0" { @for line in &s.lines { (line) "\n" } }
                            }
                        }
                    }
                    None => { @if detail.logs_problem.is_none() { p { "Provider " (r.placement.provider) " keeps no logs oss can show." } } }
                }
            }
        },
    )
}

fn fallbacks(list: &[Placement]) -> Markup {
    html! {
        table {
            caption { "Tried in this order if the placement refuses the node" }
            thead { tr {
                th scope="col" { "Rank" }
                th scope="col" { "Provider" }
                th scope="col" { "Location" }
                th scope="col" { "Size" }
                th scope="col" class="num" { "$/hour" }
            } }
            tbody {
                @for (i, p) in list.iter().enumerate() {
                    tr {
                        td { (i + 1) }
                        td { (p.provider) }
                        td { (p.location) }
                        td { (p.size) }
                        td.num { (hourly(p.hourly_price, p.currency.as_deref())) }
                    }
                }
            }
        }
    }
}

fn attributes(caption: &str, attributes: &Attributes) -> Markup {
    html! {
        table.attributes {
            caption { (caption) }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } } }
            tbody {
                @for (name, value) in attributes {
                    tr {
                        th scope="row" { code { (name) } }
                        td { code { (value_text(value)) } }
                    }
                }
            }
        }
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
