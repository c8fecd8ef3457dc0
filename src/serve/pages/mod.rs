//! The HTML pages: maud templates compiled into the binary, one file per page, sharing the
//! layout here (landmarks, a skip link, the navigation; the stylesheet and the live script
//! are embedded assets). Semantic HTML that works with the keyboard alone: every action is a
//! link or a form control, tables have captions and header cells. Pure: pages render data
//! they are given, and maud escapes every value.

pub mod cost;
pub mod fleet;
pub mod history;
pub mod map;
pub mod node;
pub mod plans;
pub mod world;

use maud::{DOCTYPE, Markup, html};

/// The sections of the navigation, by path.
const NAV: [(&str, &str); 4] = [
    ("/", "Fleet"),
    ("/history", "History"),
    ("/cost", "Cost"),
    ("/plans", "Plans"),
];

/// A whole page: `title`, the navigation with `current` marked, and `body` in `<main>`.
pub fn layout(title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · oss" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Sections" {
                        ul {
                            @for (path, name) in NAV {
                                li {
                                    @if path == current {
                                        a href=(path) aria-current="page" { (name) }
                                    } @else {
                                        a href=(path) { (name) }
                                    }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                script src="/assets/live.js" defer {}
            }
        }
    }
}

/// A page saying what went wrong (not found, unreadable), with the way back.
pub fn problem(title: &str, message: &str, hint: &str) -> Markup {
    layout(
        title,
        "",
        html! {
            p role="alert" { (message) }
            @if !hint.is_empty() { p { "hint: " (hint) } }
            p { a href="/" { "Back to the fleet" } }
        },
    )
}

/// A health verdict as the pages show it: a word, never a colour alone (the class colours
/// it), `–` for a node whose group has no check.
pub fn health(status: Option<crate::health::Status>) -> Markup {
    match status {
        Some(status) => html! {
            span class=(format!("health {}", status.as_str())) { (status.as_str()) }
        },
        None => html! { "–" },
    }
}

/// Where a resource's page is.
pub fn node_href(address: &str) -> String {
    format!("/nodes/{}", crate::net::encode::component(address))
}

/// A price per hour (`0.0116 USD`), or `–` when unknown.
pub fn hourly(price: Option<f64>, currency: Option<&str>) -> String {
    match price {
        Some(p) => format!("{p:.4} {}", currency.unwrap_or("USD")),
        None => "–".into(),
    }
}

/// A price per month (`8.47 USD`), or `–` when unknown.
pub fn monthly(price: Option<f64>, currency: Option<&str>) -> String {
    match price {
        Some(p) => format!("{p:.2} {}", currency.unwrap_or("USD")),
        None => "–".into(),
    }
}

/// Sums per currency (`8.47 USD + 6.20 EUR`), per hour or per month; `0.00 USD` when
/// nothing is priced.
pub fn sums(costs: &[crate::serve::fleet::Cost], per_hour: bool) -> String {
    if costs.is_empty() {
        return if per_hour {
            hourly(Some(0.0), None)
        } else {
            monthly(Some(0.0), None)
        };
    }
    costs
        .iter()
        .map(|c| match per_hour {
            true => hourly(Some(c.hourly), Some(&c.currency)),
            false => monthly(Some(c.monthly), Some(&c.currency)),
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// A signed change per month (`+8.47`, `-1.00`, `±0.00`).
pub fn change(delta: f64) -> String {
    if delta.abs() < 0.005 {
        "±0.00".into()
    } else {
        format!("{delta:+.2}")
    }
}
