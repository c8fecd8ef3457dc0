//! References: every `"env.NAME"` and `"secret.NAME"` string in the checked document replaced
//! by the variable's or the vault's value, in the only places they are read (provider
//! settings, the state block, the DNS and load balancers' provider settings). The values come
//! back as the strategy's secrets; a missing one, or one written elsewhere, is a problem
//! located at the string that names it, and then the document is wiped.

use serde_json::Value;

use super::locate::{escape, locate};
use super::{Problem, SecretLookup};

/// Where references are read from: `env.NAME` from the environment, `secret.NAME` from the
/// vault.
pub(super) struct Lookup<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub secret: SecretLookup<'a>,
}

/// Resolves every reference in `value` (the document of `text`): the values read, which are
/// secrets, or the located problems, with every value already read wiped from `value`.
pub(super) fn resolve(
    text: &str,
    value: &mut Value,
    lookup: &Lookup<'_>,
) -> Result<Vec<String>, Vec<Problem>> {
    let mut secrets = Vec::new();
    let mut problems = Vec::new();
    walk(value, String::new(), lookup, &mut secrets, &mut problems);
    if problems.is_empty() {
        return Ok(secrets);
    }
    zeroize::Zeroize::zeroize(&mut secrets);
    crate::secret::wipe(value);
    for problem in &mut problems {
        problem.position = locate(text, &problem.pointer, None);
    }
    Err(problems)
}

/// Whether `pointer` is inside a load balancer's provider settings (`/lb/web/provider/aws/...`),
/// where credentials may come from `env.`/`secret.` references like a provider's.
fn is_lb_provider_setting(pointer: &str) -> bool {
    let mut parts = pointer.split('/').skip(1);
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("lb"), Some(_), Some("provider"), Some(_))
    )
}

/// Whether references are read at `pointer`.
fn admits_references(pointer: &str) -> bool {
    pointer.starts_with("/provider/options/")
        || pointer.starts_with("/state/")
        || pointer.starts_with("/dns/provider/")
        || is_lb_provider_setting(pointer)
}

/// Replaces the references at and under `pointer` in place, collecting values and problems
/// (not yet located).
fn walk(
    value: &mut Value,
    pointer: String,
    lookup: &Lookup<'_>,
    secrets: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::String(s) => {
            let (kind, name) = match (s.strip_prefix("env."), s.strip_prefix("secret.")) {
                (Some(name), _) => ("env", name.to_string()),
                (_, Some(name)) if crate::secrets::valid_name(name) => ("secret", name.to_string()),
                _ => return,
            };
            if !admits_references(&pointer) {
                problems.push(Problem {
                    message: format!(
                        "{kind}.{name} is used outside provider settings and the state block; {kind}. references are only read there."
                    ),
                    hint: Some(format!(
                        "values from the {} are secrets and are kept out of state and plans; put credentials in the provider block",
                        if kind == "env" { "environment" } else { "vault" }
                    )),
                    pointer,
                    position: None,
                });
                return;
            }
            let found = if kind == "env" {
                (lookup.env)(&name).ok_or_else(|| {
                    (
                        format!("Environment variable {name} is not set (env.{name})."),
                        format!("export {name}=... before running oss"),
                    )
                })
            } else {
                (lookup.secret)(&name).map_err(|message| {
                    (
                        message,
                        format!("add it with `oss secrets set {name}`, or pass --vault FILE"),
                    )
                })
            };
            match found {
                Ok(v) => {
                    secrets.push(v.clone());
                    *s = v;
                }
                Err((message, hint)) => problems.push(Problem {
                    message,
                    hint: Some(hint),
                    pointer,
                    position: None,
                }),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{pointer}/{i}"), lookup, secrets, problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                walk(
                    item,
                    format!("{pointer}/{}", escape(key)),
                    lookup,
                    secrets,
                    problems,
                );
            }
        }
        _ => {}
    }
}
