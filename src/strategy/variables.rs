//! Variables: the strategy's declared inputs (`"variables": {"web_count": {"type": "integer",
//! "default": 3}}`), their values from `--var NAME=VALUE`, then `OSS_VAR_NAME`, then the
//! default, each checked against its type, and `${var.NAME}` substituted everywhere in the
//! document before the schema looks at it: a string that is only `"${var.n}"` becomes the
//! typed value (so `"count": "${var.n}"` is an integer), inside other text the value's text.
//!
//! Every problem is located: at the declaration, at the reference, or named after the flag.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Problem;
use super::locate::locate;

/// A declared variable with the value in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    /// `string`, `integer`, `number` or `boolean`.
    pub kind: String,
    pub description: Option<String>,
    pub sensitive: bool,
    /// The value in force, typed.
    pub value: Value,
    /// Where the value came from: `--var`, `OSS_VAR_NAME` or `default`.
    pub source: String,
}

impl Variable {
    /// The value as text (what `${var.NAME}` becomes inside other text).
    pub fn text(&self) -> Option<String> {
        Some(match &self.value {
            Value::String(s) => s.clone(),
            Value::Null => return None,
            other => other.to_string(),
        })
    }
}

/// Reads the declarations, picks each value, substitutes `${var.NAME}` outside the
/// `variables` block. An undeclared `--var`, a value that does not fit its type, a variable
/// with no value, or a reference to an undeclared variable are located problems.
pub(super) fn substitute(
    text: &str,
    value: &mut Value,
    given: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Variable>, Vec<Problem>> {
    let declared = value
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut variables = BTreeMap::new();
    for (name, _) in given {
        if !declared.contains_key(name) {
            let near = crate::suggest::nearest(name, declared.keys(), 1);
            problems.push(Problem {
                position: locate(text, "/variables", None).or(locate(text, "", None)),
                pointer: "/variables".into(),
                message: format!(
                    "--var {}: the strategy declares no variable of that name.",
                    crate::echo::Echo(name)
                ),
                hint: Some(match near.first() {
                    Some(n) => format!("did you mean {n}?"),
                    None => {
                        "declare it under \"variables\", e.g. {\"NAME\": {\"type\": \"string\"}}"
                            .into()
                    }
                }),
            });
        }
    }
    for (name, declaration) in &declared {
        let at = format!("/variables/{}", super::locate::escape(name));
        // A malformed declaration is the schema's to report.
        let Some(declaration) = declaration.as_object() else {
            continue;
        };
        let kind = declaration
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string")
            .to_string();
        let from_flag = given.iter().rev().find(|(n, _)| n == name);
        let env_name = format!("OSS_VAR_{name}");
        let (raw, source, pointer) = match (from_flag, env(&env_name)) {
            (Some((_, v)), _) => (Value::from(v.as_str()), "--var".to_string(), at.clone()),
            (None, Some(v)) => (Value::from(v), env_name.clone(), at.clone()),
            (None, None) => match declaration.get("default") {
                Some(default) => (default.clone(), "default".into(), format!("{at}/default")),
                None => {
                    problems.push(Problem {
                        position: locate(text, &at, None),
                        pointer: at.clone(),
                        message: format!("Variable {name} has no value and no default."),
                        hint: Some(format!(
                            "pass --var {name}=VALUE, export {env_name}=VALUE, or give it a \"default\""
                        )),
                    });
                    continue;
                }
            },
        };
        match typed(&kind, &raw, source != "default") {
            Ok(value) => {
                variables.insert(
                    name.clone(),
                    Variable {
                        kind,
                        description: declaration
                            .get("description")
                            .and_then(Value::as_str)
                            .map(String::from),
                        sensitive: declaration
                            .get("sensitive")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        value,
                        source,
                    },
                );
            }
            Err(why) => problems.push(Problem {
                position: locate(text, &pointer, None),
                pointer,
                message: format!(
                    "Variable {name} is of type {kind}, but the value from {source} {why}."
                ),
                hint: Some(match kind.as_str() {
                    "integer" => "give digits only, e.g. 3".to_string(),
                    "number" => "give a number, e.g. 0.5".to_string(),
                    "boolean" => "give true or false".to_string(),
                    _ => "give a string".to_string(),
                }),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    replace(value, String::new(), text, &variables, &mut problems);
    if problems.is_empty() {
        Ok(variables)
    } else {
        Err(problems)
    }
}

/// The value as its type. Text from `--var` or the environment is read (`"3"` is 3 for an
/// integer); a default must already be of the type.
fn typed(kind: &str, raw: &Value, from_text: bool) -> Result<Value, String> {
    let shown = crate::echo::echo(&raw.to_string()).into_owned();
    let fail = || Err(format!("is {shown}"));
    match (kind, raw) {
        ("string", Value::String(_)) => Ok(raw.clone()),
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(raw.clone()),
        ("number", Value::Number(_)) => Ok(raw.clone()),
        ("boolean", Value::Bool(_)) => Ok(raw.clone()),
        (_, Value::String(s)) if from_text => match kind {
            "integer" => s.trim().parse::<i64>().map(Value::from).or_else(|_| fail()),
            "number" => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .map_or_else(fail, Ok),
            "boolean" => match s.trim() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => fail(),
            },
            _ => fail(),
        },
        _ => fail(),
    }
}

/// Substitutes `${var.NAME}` in every string outside `/variables`.
fn replace(
    value: &mut Value,
    pointer: String,
    text: &str,
    variables: &BTreeMap<String, Variable>,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::String(s) if s.contains("${var.") => {
            let mut unknown = |name: &str| {
                let near = crate::suggest::nearest(name, variables.keys(), 1);
                problems.push(Problem {
                    position: locate(text, &pointer, None),
                    pointer: pointer.clone(),
                    message: format!(
                        "${{var.{}}} refers to a variable the strategy does not declare.",
                        crate::echo::Echo(name)
                    ),
                    hint: Some(match near.first() {
                        Some(n) => format!("did you mean var.{n}?"),
                        None => "declare it under \"variables\"".into(),
                    }),
                });
            };
            // The whole string one reference: the typed value.
            if let Some(name) = s
                .strip_prefix("${var.")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|n| !n.contains('}'))
            {
                match variables.get(name) {
                    Some(v) => *value = v.value.clone(),
                    None => unknown(name),
                }
                return;
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${var.") {
                // `$${` is a literal `${`.
                if rest[..start].ends_with('$') {
                    out.push_str(&rest[..start + 2]);
                    rest = &rest[start + 2..];
                    continue;
                }
                out.push_str(&rest[..start]);
                let after = &rest[start + 6..];
                let Some(end) = after.find('}') else {
                    out.push_str(&rest[start..]);
                    rest = "";
                    break;
                };
                let name = &after[..end];
                match variables.get(name).and_then(Variable::text) {
                    Some(v) => out.push_str(&v),
                    None => unknown(name),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                replace(item, format!("{pointer}/{i}"), text, variables, problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if pointer.is_empty() && key == "variables" {
                    continue;
                }
                let at = format!("{pointer}/{}", super::locate::escape(key));
                replace(item, at, text, variables, problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, given: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Value, String> {
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let mut value = doc;
        let given: Vec<(String, String)> = given
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let env = |n: &str| {
            env.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        };
        substitute(&text, &mut value, &given, &env)
            .map(|_| value)
            .map_err(|p| {
                p.iter()
                    .map(|p| format!("{} {}", p.pointer, p.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
    }

    fn doc() -> Value {
        json!({"variables": {"n": {"type": "integer", "default": 3}, "who": {}},
               "node": {"count": "${var.n}", "command": "echo ${var.who} $${var.n} ${HOME}"}})
    }

    #[test]
    fn values_come_from_flags_then_environment_then_defaults_and_keep_their_type() {
        let out = run(doc(), &[("who", "flag")], &[("OSS_VAR_who", "env")]).unwrap();
        assert_eq!(out["node"]["count"], json!(3));
        assert_eq!(out["node"]["command"], json!("echo flag $${var.n} ${HOME}"));
        let out = run(doc(), &[("n", "5")], &[("OSS_VAR_who", "env")]).unwrap();
        assert_eq!(out["node"]["count"], json!(5));
        assert!(
            out["node"]["command"]
                .as_str()
                .unwrap()
                .contains("echo env")
        );
        // The declarations themselves are left alone.
        assert_eq!(out["variables"]["n"]["default"], json!(3));
    }

    #[test]
    fn bad_values_and_names_are_located() {
        let e = run(doc(), &[("n", "three"), ("who", "x")], &[]).unwrap_err();
        assert!(
            e.contains(
                "/variables/n Variable n is of type integer, but the value from --var is \"three\""
            ),
            "{e}"
        );
        let e = run(doc(), &[("nn", "1"), ("who", "x")], &[]).unwrap_err();
        assert!(
            e.contains("--var nn: the strategy declares no variable"),
            "{e}"
        );
        let e = run(doc(), &[], &[]).unwrap_err();
        assert!(
            e.contains("/variables/who Variable who has no value"),
            "{e}"
        );
        let mut d = doc();
        d["node"]["command"] = json!("${var.whom}");
        let e = run(d, &[("who", "x")], &[]).unwrap_err();
        assert!(
            e.contains(
                "/node/command ${var.whom} refers to a variable the strategy does not declare"
            ),
            "{e}"
        );
        let mut d = doc();
        d["variables"]["n"]["default"] = json!("3");
        let e = run(d, &[("who", "x")], &[]).unwrap_err();
        assert!(e.contains("/variables/n/default"), "{e}");
    }
}
