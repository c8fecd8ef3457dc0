//! The shipped JSON Schema (with this build's provider names) and the checking of a strategy
//! against it: every schema error becomes a located problem with one sentence and a hint
//! taken from the schema's own descriptions.

use std::sync::OnceLock;

use serde_json::Value;

use super::Problem;
use super::locate::locate;

/// The JSON Schema every strategy is checked against, with this build's provider names.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema: Value =
            serde_json::from_str(include_str!("schema.json")).expect("the shipped schema is JSON");
        let names = crate::driver::KNOWN_PROVIDERS
            .iter()
            .map(|n| Value::from(*n))
            .collect();
        schema["properties"]["provider"]["properties"]["options"]["items"]["propertyNames"]["enum"] =
            Value::Array(names);
        schema
    })
}

/// Every place where `value` breaks the shipped schema, located in `text`, in file order.
pub(super) fn check(text: &str, value: &Value) -> Vec<Problem> {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).expect("the shipped schema is valid"));
    let mut problems: Vec<Problem> = Vec::new();
    for error in validator.iter_errors(value) {
        let pointer = error.instance_path().as_str().to_string();
        let hint = schema_hint(error.schema_path().as_str());
        match error.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let allowed = allowed_keys(error.schema_path().as_str());
                    problems.push(Problem {
                        position: locate(text, &pointer, Some(key)),
                        pointer: format!("{pointer}/{}", super::locate::escape(key)),
                        message: format!("Unknown property \"{key}\"."),
                        hint: Some(match allowed {
                            Some(keys) => format!("allowed here: {keys}"),
                            None => "remove it".into(),
                        }),
                    });
                }
            }
            jsonschema::error::ValidationErrorKind::PropertyNames { .. } => {
                let name = value
                    .pointer(&pointer)
                    .and_then(Value::as_object)
                    .and_then(|o| o.keys().next().cloned())
                    .unwrap_or_default();
                // The original tool's Libcloud EC2 names are read as `aws` (see `original`).
                if super::original::libcloud_region(&name).is_some() {
                    continue;
                }
                let known = crate::driver::KNOWN_PROVIDERS.join(", ");
                let (message, hint) = match super::original::not_yet_supported(&name) {
                    Some(spelled) => (
                        format!(
                            "Provider \"{name}\" is not yet supported: {spelled} gets its driver in a later release."
                        ),
                        format!(
                            "supported providers: {known} (the original tool's EC2_* names, such as EC2_AP_SOUTHEAST2, are read as aws)"
                        ),
                    ),
                    None => (
                        format!("Unknown provider \"{name}\"."),
                        format!("known providers: {known}"),
                    ),
                };
                problems.push(Problem {
                    position: locate(text, &pointer, Some(&name)),
                    pointer: format!("{pointer}/{name}"),
                    message,
                    hint: Some(hint),
                });
            }
            jsonschema::error::ValidationErrorKind::Required { property } => {
                // The missing property's own description says what to add.
                let name = property.as_str().unwrap_or_default();
                let node = error
                    .schema_path()
                    .as_str()
                    .rsplit_once('/')
                    .map_or("", |(head, _)| head);
                let own = schema()
                    .pointer(node)
                    .and_then(resolve_ref)
                    .and_then(|n| n.pointer(&format!("/properties/{name}/description")))
                    .and_then(Value::as_str)
                    .map(|d| format!("add \"{name}\": {d}"));
                problems.push(Problem {
                    position: locate(text, &pointer, None),
                    message: describe(&error),
                    pointer,
                    hint: own.or(hint),
                });
            }
            _ => problems.push(Problem {
                position: locate(text, &pointer, None),
                message: describe(&error),
                pointer,
                hint,
            }),
        }
    }
    problems.sort_by_key(|p| p.position.map(|p| (p.line, p.column)));
    problems.dedup();
    problems
}

/// One sentence for a schema error, capitalised, with the offending value.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let found = cap(&error.instance().to_string());
    match error.kind() {
        K::Type { kind } => format!("Expected {}, found {found}.", type_name(kind)),
        K::Enum { options } => format!("Expected one of {options}, found {found}."),
        K::Required { property } => format!("Missing required property {property}."),
        K::Pattern { pattern } => format!("{found} does not match the pattern {pattern}."),
        K::Minimum { limit } => format!("Expected at least {limit}, found {found}."),
        K::Maximum { limit } => format!("Expected at most {limit}, found {found}."),
        K::MinItems { limit } => format!("Expected at least {limit} item(s), found none."),
        K::MinProperties { limit } => {
            format!("Expected an object with at least {limit} property, found {found}.")
        }
        K::MaxProperties { limit } => {
            format!("Expected an object with at most {limit} property, found {found}.")
        }
        K::UniqueItems => format!("Expected unique items, found {found}."),
        _ => {
            let text = error.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => format!(
                    "{}{}.",
                    c.to_uppercase(),
                    chars.as_str().trim_end_matches('.')
                ),
                None => text,
            }
        }
    }
}

/// An echoed value, cut to 60 bytes.
pub(super) fn cap(found: &str) -> String {
    if found.len() > 60 {
        format!("{}…", &found[..found.floor_char_boundary(60)])
    } else {
        found.to_string()
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    let raw = format!("{kind:?}").to_lowercase();
    let article = |t: &str| match t.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {t}"),
        _ => format!("a {t}"),
    };
    // `Single(Integer)` / `Multiple(...)`: keep it readable.
    let inner = raw
        .trim_start_matches("single(")
        .trim_start_matches("multiple(")
        .trim_end_matches(')')
        .to_string();
    article(&inner)
}

/// The `description` of the schema node a keyword sits in, as a hint.
fn schema_hint(schema_path: &str) -> Option<String> {
    let node_path = schema_path.rsplit_once('/').map_or("", |(head, _)| head);
    let mut node = schema().pointer(node_path)?;
    // A `$ref` node's description may sit beside the `$ref` in the referring schema.
    if let Some(d) = node.get("description").and_then(Value::as_str) {
        return Some(d.to_string());
    }
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        node = schema().pointer(reference.trim_start_matches('#'))?;
        return node
            .get("description")
            .and_then(Value::as_str)
            .map(String::from);
    }
    None
}

fn allowed_keys(schema_path: &str) -> Option<String> {
    let node_path = schema_path.rsplit_once('/').map_or("", |(head, _)| head);
    let node = resolve_ref(schema().pointer(node_path)?)?;
    let properties = node.get("properties")?.as_object()?;
    let mut allowed: Vec<String> = properties
        .keys()
        .filter(|k| !k.starts_with('$'))
        .cloned()
        .collect();
    // Names allowed by pattern, written as their pattern's description says.
    let patterns = node.get("patternProperties").and_then(Value::as_object);
    for (pattern, rule) in patterns.into_iter().flatten() {
        allowed.push(format!(
            "a name matching {pattern} ({})",
            rule.get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
        ));
    }
    Some(allowed.join(", "))
}

fn resolve_ref(node: &Value) -> Option<&Value> {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => schema().pointer(r.trim_start_matches('#')),
        None => Some(node),
    }
}
