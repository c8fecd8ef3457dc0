//! The Fleet page: totals, the map, counts per group, provider and location, and one row per
//! resource (paginated) with its health, which the live script keeps current during an apply
//! and as verdicts change.

use maud::{Markup, html};

use super::{hourly, layout, monthly, node_href, sums};
use crate::health::Status;
use crate::serve::fleet::{Count, Fleet, Row};

pub fn render(
    fleet: &Fleet,
    health: &[(Status, usize)],
    catalog_error: Option<&str>,
    live_error: Option<&str>,
) -> Markup {
    let watched: usize = health.iter().map(|(_, n)| n).sum();
    let t = &fleet.totals;
    let title = match &fleet.strategy {
        Some(name) => format!("Fleet {name}"),
        None => "Fleet".to_string(),
    };
    layout(
        &title,
        "/",
        html! {
            p id="live" role="status" aria-live="polite" data-serial=[fleet.serial] {
                @match fleet.serial {
                    Some(serial) => { "State serial " (serial) "." }
                    None => { "No state yet: nothing has been applied." }
                }
                @if let Some(e) = live_error { " The state could not be read again: " (e) }
            }
            section aria-labelledby="totals-h" {
                h2 id="totals-h" { "Totals" }
                dl.totals {
                    dt { "Nodes" } dd id="total-nodes" { (t.nodes) }
                    dt { "Resources" } dd id="total-resources" { (t.resources) }
                    dt { "Per hour" } dd id="total-hourly" { (sums(&t.costs, true)) }
                    dt { "Per month" } dd id="total-monthly" { (sums(&t.costs, false)) }
                    @if t.unpriced > 0 {
                        dt { "Without a price" } dd { (t.unpriced) }
                    }
                    @if watched > 0 {
                        @for (status, n) in health {
                            dt { "Health " (status.as_str()) }
                            dd id=(format!("total-health-{}", status.as_str())) { (n) }
                        }
                    }
                }
            }
            section aria-labelledby="map-h" {
                h2 id="map-h" { "Where" }
                (super::map::render(&fleet.map, catalog_error))
            }
            section aria-labelledby="counts-h" {
                h2 id="counts-h" { "By group, provider and location" }
                div.counts {
                    (counts("Groups", "Group", &fleet.groups))
                    (counts("Providers", "Provider", &fleet.providers))
                    (counts("Locations", "Location", &fleet.locations))
                }
            }
            section aria-labelledby="resources-h" {
                h2 id="resources-h" { "Resources" }
                (pager(fleet))
                table id="fleet" {
                    caption {
                        "Resources " (fleet.offset + usize::from(!fleet.rows.is_empty()))
                        "–" (fleet.offset + fleet.rows.len()) " of " (fleet.total_rows)
                    }
                    thead {
                        tr {
                            th scope="col" { "Address" }
                            th scope="col" { "Group" }
                            th scope="col" { "Provider" }
                            th scope="col" { "Location" }
                            th scope="col" { "Size" }
                            th scope="col" { "Status" }
                            th scope="col" { "Health" }
                            th scope="col" { "IP" }
                            th scope="col" class="num" { "$/hour" }
                            th scope="col" class="num" { "$/month" }
                        }
                    }
                    tbody id="fleet-rows" {
                        @for row in &fleet.rows { (row_markup(row)) }
                    }
                }
            }
        },
    )
}

/// One resource's row (the live script builds the same cells from `/api/events`).
pub fn row_markup(row: &Row) -> Markup {
    let currency = row.currency.as_deref();
    html! {
        tr data-address=(row.address) data-status=(row.status)
            data-health=[row.health.map(|h| h.as_str())] {
            th scope="row" { a href=(node_href(&row.address)) { (row.address) } }
            td { (row.group.as_deref().unwrap_or("–")) }
            td { (row.provider) }
            td { (row.location) }
            td { (row.size) }
            td { span class=(format!("status {}", row.status)) { (row.status) } }
            td.health-cell { (super::health(row.health)) }
            td { (row.ip.as_deref().unwrap_or("–")) }
            td.num { (hourly(row.hourly_price, currency)) }
            td.num { (monthly(row.monthly_price, currency)) }
        }
    }
}

fn counts(caption: &str, what: &str, counts: &[Count]) -> Markup {
    html! {
        table.count {
            caption { (caption) }
            thead { tr {
                th scope="col" { (what) }
                th scope="col" class="num" { "Resources" }
                th scope="col" class="num" { "$/month" }
            } }
            tbody {
                @for c in counts {
                    tr {
                        th scope="row" { (c.name) }
                        td.num { (c.resources) }
                        td.num { (sums(&c.costs, false)) }
                    }
                }
            }
        }
    }
}

fn pager(fleet: &Fleet) -> Markup {
    let previous = fleet
        .offset
        .checked_sub(fleet.limit)
        .or(if fleet.offset > 0 { Some(0) } else { None });
    let next = fleet.offset + fleet.limit;
    html! {
        @if fleet.total_rows > fleet.limit {
            nav.pager aria-label="Pages of resources" {
                @if let Some(p) = previous {
                    a rel="prev" href=(format!("/?offset={p}&limit={}", fleet.limit)) { "Previous page" }
                }
                @if next < fleet.total_rows {
                    " "
                    a rel="next" href=(format!("/?offset={next}&limit={}", fleet.limit)) { "Next page" }
                }
            }
        }
    }
}
