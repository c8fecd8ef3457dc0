//! Saved plans (`oss plan --out`) as the Plans page and `/api/plans` show them: read fresh on
//! every request (a plan file may be replaced), summarised, and rendered exactly as the
//! pull-request comment (`plan --markdown`), that markdown turned into HTML. The markdown
//! renderer escapes every value; the only raw HTML it writes is `<details>`/`<summary>`, and
//! any other raw HTML is shown as text here, never passed through ([`to_html`]).

use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, html};
use serde::Serialize;

use crate::echo::EchoPath;
use crate::plan::{self, Plan};

/// One saved plan, summarised.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub index: usize,
    pub path: PathBuf,
    pub strategy: Option<String>,
    pub serial: Option<u64>,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub monthly_before: Option<f64>,
    pub monthly_after: Option<f64>,
    /// Why it cannot be read, if it cannot.
    pub problem: Option<String>,
}

/// Reads the plan at `path`.
pub fn read(path: &Path) -> Result<Plan, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("Cannot read plan file {}: {e}", EchoPath(path)))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a plan saved by this oss: {e}", EchoPath(path)))
}

pub fn list(paths: &[PathBuf]) -> Vec<Listed> {
    paths
        .iter()
        .enumerate()
        .map(|(index, path)| {
            let mut listed = Listed {
                index,
                path: path.clone(),
                strategy: None,
                serial: None,
                add: 0,
                change: 0,
                destroy: 0,
                monthly_before: None,
                monthly_after: None,
                problem: None,
            };
            match read(path) {
                Ok(plan) => {
                    let summary = plan.summary();
                    // The first currency's sums (US dollars when any; see `Plan::costs`).
                    let cost = plan.costs().swap_remove(0).1;
                    listed.strategy = Some(plan.strategy.clone());
                    listed.serial = Some(plan.serial);
                    listed.add = summary.add;
                    listed.change = summary.change;
                    listed.destroy = summary.destroy;
                    listed.monthly_before = Some(cost.before_monthly());
                    listed.monthly_after = Some(cost.after_monthly());
                }
                Err(problem) => listed.problem = Some(problem),
            }
            listed
        })
        .collect()
}

/// The plan's pull-request markdown.
pub fn markdown(plan: &Plan) -> String {
    plan::markdown::render(plan)
}

/// The plan document of `oss show PLAN --json`.
pub fn json(plan: &Plan) -> serde_json::Value {
    let mut bytes = Vec::new();
    plan::json::write(plan, &mut bytes).expect("writing to memory succeeds");
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// `markdown` as HTML (GitHub-flavoured tables). Raw HTML is escaped, then only the tags
/// `<details>`, `<summary>` and their ends are given back their meaning.
pub fn to_html(markdown: &str) -> String {
    const ALLOWED: [&str; 4] = ["details>", "/details>", "summary>", "/summary>"];
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => {
            let mut safe = escape(&raw);
            for tag in ALLOWED {
                let shown = format!("&lt;{}&gt;", tag.trim_end_matches('>'));
                safe = safe.replace(&shown, &format!("<{tag}"));
            }
            Event::Html(safe.into())
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_details_and_summary_pass_as_html() {
        let out = to_html(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n<details>\n<summary>x</summary>\n\n<script>alert(1)</script>\n\n</details>\n",
        );
        assert!(out.contains("<table>"), "{out}");
        assert!(
            out.contains("<details>") && out.contains("<summary>"),
            "{out}"
        );
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }
}
