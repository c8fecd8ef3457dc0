//! `oss output [NAME] [--json | --raw]`: the strategy's outputs, evaluated over the state
//! (no refresh, no lock: it only reads). Sensitive outputs show as `(sensitive)` in the list
//! and are printed only when asked for by name or with `--json`, as in Terraform.

use serde_json::{Value, json};

use super::super::args::Cli;
use super::super::failure::{ExitStatus, Failure};
use super::super::output;
use super::super::session::{self, Secrets};

pub async fn run(
    cli: &Cli,
    name: Option<&str>,
    as_json: bool,
    raw: bool,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    let outputs = crate::outputs::evaluate(&session.strategy, state.as_ref());
    let Some(name) = name else {
        if as_json {
            let doc: serde_json::Map<String, Value> = outputs
                .iter()
                .map(|(name, o)| (name.clone(), json!(o)))
                .collect();
            output::out(&format!("{}\n", Value::Object(doc)));
        } else if outputs.is_empty() {
            output::errln!("The strategy has no outputs (add an \"outputs\" block).");
        } else {
            output::out(&listing(&outputs));
        }
        return Ok(ExitStatus::Success);
    };
    let Some(found) = outputs.get(name) else {
        let near = crate::suggest::nearest(name, outputs.keys(), 1);
        let known: Vec<&str> = outputs.keys().map(String::as_str).collect();
        return Err(Failure::user(
            format!(
                "The strategy has no output named {}.",
                crate::echo::Echo(name)
            ),
            match near.first() {
                Some(n) => format!("did you mean {n}? outputs: {}", known.join(", ")),
                None if known.is_empty() => "the strategy has no outputs block".to_string(),
                None => format!("outputs: {}", known.join(", ")),
            },
        ));
    };
    let text = match (&found.value, raw) {
        (Value::String(s), true) => s.clone(),
        (Value::Number(_) | Value::Bool(_), true) => found.value.to_string(),
        (_, true) => {
            return Err(Failure::user(
                format!("Output {name} is not a string, number or boolean: --raw cannot print it."),
                "use --json for lists and objects",
            ));
        }
        (value, false) => value.to_string(),
    };
    // Bare as Terraform's -raw: no newline added, for `$(oss output --raw NAME)` and files.
    if raw {
        output::out(&text);
    } else {
        output::out(&format!("{text}\n"));
    }
    Ok(ExitStatus::Success)
}

/// `NAME = VALUE` lines, sensitive values hidden: the list `oss output` and `oss apply` show.
pub fn listing(
    outputs: &std::collections::BTreeMap<String, crate::outputs::OutputValue>,
) -> String {
    let mut text = String::new();
    for (name, o) in outputs {
        let shown = if o.sensitive {
            "(sensitive)".to_string()
        } else {
            o.value.to_string()
        };
        text.push_str(&format!("{name} = {shown}\n"));
    }
    text
}
