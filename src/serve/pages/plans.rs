//! The Plans page (each saved plan given to `oss serve --plan`, with its counts and cost
//! change) and one plan rendered like its pull-request comment.

use maud::{Markup, PreEscaped, html};

use super::{change, layout};
use crate::serve::plans::Listed;

pub fn list(plans: &[Listed]) -> Markup {
    layout(
        "Plans",
        "/plans",
        html! {
            @if plans.is_empty() {
                p { "No saved plan: start oss serve with " code { "--plan FILE" } " (made with " code { "oss plan --out FILE" } ")." }
            } @else {
                table id="plans" {
                    caption { (plans.len()) " saved plan(s)" }
                    thead { tr {
                        th scope="col" { "File" }
                        th scope="col" class="num" { "Add" }
                        th scope="col" class="num" { "Change" }
                        th scope="col" class="num" { "Destroy" }
                        th scope="col" class="num" { "$/month change" }
                    } }
                    tbody {
                        @for p in plans {
                            tr {
                                th scope="row" { a href=(format!("/plans/{}", p.index)) { (p.path.display()) } }
                                @match &p.problem {
                                    Some(problem) => { td colspan="4" { (problem) } }
                                    None => {
                                        td.num { (p.add) }
                                        td.num { (p.change) }
                                        td.num { (p.destroy) }
                                        td.num { (change(p.monthly_after.unwrap_or(0.0) - p.monthly_before.unwrap_or(0.0))) }
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

/// One plan: `html` is its pull-request markdown rendered by [`crate::serve::plans::to_html`].
pub fn one(path: &str, html: &str) -> Markup {
    layout(
        &format!("Plan {path}"),
        "/plans",
        html! {
            p { a href="/plans" { "Back to the plans" } }
            article.plan { (PreEscaped(html)) }
        },
    )
}
