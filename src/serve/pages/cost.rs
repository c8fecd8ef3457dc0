//! The Cost page: the fleet's monthly cost at every state version, as an SVG line drawn from
//! the versions and as the table it is drawn from.

use maud::{Markup, html};

use super::{change, layout, sums};
use crate::serve::history::Summary;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const PAD: f64 = 40.0;

pub fn render(versions: &[Summary]) -> Markup {
    let points: Vec<(u64, f64)> = versions
        .iter()
        .filter_map(|v| v.totals.as_ref().map(|t| (v.serial, t.monthly)))
        .collect();
    let max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.01);
    let n = points.len().max(2) - 1;
    let at = |i: usize, cost: f64| {
        (
            PAD + (WIDTH - 2.0 * PAD) * i as f64 / n as f64,
            HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * cost / max,
        )
    };
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, cost))| {
            let (x, y) = at(i, *cost);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let label = format!(
        "Monthly cost over {} version(s), from {:.2} to {:.2}",
        points.len(),
        points.first().map_or(0.0, |p| p.1),
        points.last().map_or(0.0, |p| p.1)
    );
    layout(
        "Cost over time",
        "/cost",
        html! {
            figure {
                svg id="cost-chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label)
                    xmlns="http://www.w3.org/2000/svg" {
                    line.axis x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) {}
                    line.axis x1=(PAD) y1=(PAD) x2=(PAD) y2=(HEIGHT - PAD) {}
                    text x="4" y=(PAD) { (format!("{max:.0}")) }
                    text x="4" y=(HEIGHT - PAD) { "0" }
                    polyline.cost points=(line.join(" ")) {}
                    @for (i, (serial, cost)) in points.iter().enumerate() {
                        @let (x, y) = at(i, *cost);
                        circle.cost cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {
                            title { "serial " (serial) ": " (format!("{cost:.2}")) " per month" }
                        }
                    }
                }
                figcaption { (label) "." }
            }
            table {
                caption { "Monthly cost per version" }
                thead { tr {
                    th scope="col" { "Serial" }
                    th scope="col" { "Written" }
                    th scope="col" class="num" { "$/month" }
                    th scope="col" class="num" { "Change" }
                } }
                tbody {
                    @for v in versions {
                        tr {
                            th scope="row" { (v.serial) }
                            td { (v.written_at.as_deref().unwrap_or("–")) }
                            td.num { (v.totals.as_ref().map_or_else(|| "–".into(), |t| sums(&t.costs, false))) }
                            td.num { (v.monthly_change.map(change).unwrap_or_else(|| "–".into())) }
                        }
                    }
                }
            }
        },
    )
}
