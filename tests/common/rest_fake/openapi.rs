//! The provider's published OpenAPI description as the fake's referee: a request is matched
//! to its operation (path template and method), its path, query and header parameters and JSON body
//! are checked against the declared schemas, and every answer is checked against the schema
//! of its status (its range `4XX`, or `default`). What does not conform is a violation, which the tests
//! assert never happens.
//!
//! The documents are bundles (tests/fixtures/openapi/*/openapi.json, made by bundle.py): one
//! file, references inlined, `nullable` already turned into JSON Schema type lists.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

/// One matched operation.
#[derive(Clone, Debug)]
pub struct Operation {
    /// `droplets_create`.
    pub id: String,
    pub path_params: HashMap<String, String>,
}

/// A matched operation, its document entry and its declared parameters (path level and
/// operation level).
type Found<'a> = (Operation, &'a Map<String, Value>, Vec<Value>);

pub struct Spec {
    paths: Vec<(Vec<String>, String, Map<String, Value>)>,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

impl Spec {
    pub fn load(json: &str) -> Spec {
        let doc: Value = serde_json::from_str(json).expect("the bundled OpenAPI document is JSON");
        let mut paths = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            let segments = template
                .trim_matches('/')
                .split('/')
                .map(String::from)
                .collect();
            paths.push((
                segments,
                template.clone(),
                item.as_object().unwrap().clone(),
            ));
        }
        Spec {
            paths,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The operation `method path` names, or why there is none.
    fn find(&self, method: &str, path: &str) -> Result<Found<'_>, String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        for (segments, template, item) in &self.paths {
            if segments.len() != parts.len() {
                continue;
            }
            let mut params = HashMap::new();
            let fits = segments.iter().zip(&parts).all(|(s, p)| {
                if s.starts_with('{') && s.ends_with('}') {
                    params.insert(s[1..s.len() - 1].to_string(), p.to_string());
                    !p.is_empty()
                } else {
                    s == p
                }
            });
            if !fits {
                continue;
            }
            let Some(op) = item
                .get(&method.to_ascii_lowercase())
                .and_then(Value::as_object)
            else {
                return Err(format!("{template} has no {method} operation"));
            };
            let mut declared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            declared.extend(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            let id = op["operationId"].as_str().unwrap_or(template).to_string();
            return Ok((
                Operation {
                    id,
                    path_params: params,
                },
                op,
                declared,
            ));
        }
        Err(format!("no path of the document matches {path}"))
    }

    fn validator(&self, key: &str, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                std::sync::Arc::new(
                    jsonschema::validator_for(schema)
                        .unwrap_or_else(|e| panic!("schema {key} does not compile: {e}")),
                )
            })
            .clone()
    }

    fn check(&self, key: &str, schema: &Value, value: &Value) -> Result<(), String> {
        let validator = self.validator(key, schema);
        let errors: Vec<String> = validator
            .iter_errors(value)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Checks a request; returns its operation.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HashMap<String, String>,
        body: Option<&Value>,
    ) -> Result<Operation, String> {
        let content_type = headers.get("content-type").map(String::as_str);
        let (operation, op, declared) = self.find(method, path)?;
        let id = operation.id.clone();
        let mut problems = Vec::new();
        for param in &declared {
            let name = param["name"].as_str().unwrap_or_default();
            let given: Option<String> = match param["in"].as_str() {
                Some("path") => operation.path_params.get(name).cloned(),
                Some("query") => query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone()),
                Some("header") => headers.get(&name.to_ascii_lowercase()).cloned(),
                _ => continue,
            };
            match given {
                None if param["required"] == true => {
                    problems.push(format!("required parameter `{name}` missing"))
                }
                None => {}
                Some(text) => {
                    let schema = &param["schema"];
                    let value = if param["in"] == "header" {
                        // A header holding JSON (Linode's `X-Filter`) is checked as JSON.
                        serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
                    } else {
                        coerce(&text, schema)
                    };
                    if let Err(e) = self.check(&format!("{id}/param/{name}"), schema, &value) {
                        problems.push(format!("parameter `{name}`={text:?}: {e}"));
                    }
                }
            }
        }
        for (name, _) in query {
            let known = declared
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == name.as_str());
            if !known {
                problems.push(format!("query parameter `{name}` is not in the document"));
            }
        }
        match (op.get("requestBody"), body) {
            (None, Some(_)) => problems.push("a body was sent, the operation takes none".into()),
            (Some(declared), None) if declared["required"] == true => {
                problems.push("the required body is missing".into())
            }
            (Some(declared), Some(body)) => {
                if !content_type.is_some_and(|c| c.starts_with("application/json")) {
                    problems.push(format!(
                        "content-type {content_type:?}, expected application/json"
                    ));
                }
                let schema = request_schema(&declared["content"]["application/json"]["schema"]);
                if let Err(e) = self.check(&format!("{id}/request"), &schema, body) {
                    problems.push(format!("body: {e}"));
                }
            }
            _ => {}
        }
        if problems.is_empty() {
            Ok(operation)
        } else {
            Err(format!("{method} {path} ({id}): {}", problems.join("; ")))
        }
    }

    /// Checks an answer to `method path`.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let (operation, op, _) = self.find(method, path)?;
        let responses = &op["responses"];
        // A status, its range (`4XX`; Hetzner writes `4xx`), or `default`.
        let range = format!("{}XX", status / 100);
        let Some(declared) = responses
            .get(status.to_string())
            .or_else(|| responses.get(&range))
            .or_else(|| responses.get(range.to_ascii_lowercase()))
            .or_else(|| responses.get("default"))
        else {
            return Err(format!(
                "{} answered {status}, which the document does not list",
                operation.id
            ));
        };
        let schema = &declared["content"]["application/json"]["schema"];
        match (schema.is_null(), body) {
            (true, None) => Ok(()),
            (true, Some(_)) => Err(format!(
                "{} {status} carries a body the document does not declare",
                operation.id
            )),
            (false, None) => Err(format!(
                "{} {status} has no body; the document declares one",
                operation.id
            )),
            (false, Some(body)) => self
                .check(&format!("{}/response/{status}", operation.id), schema, body)
                .map_err(|e| format!("{} {status} answer: {e}", operation.id)),
        }
    }
}

/// A query or path value as the type its schema says. An array parameter (OpenAPI's default
/// `form` style, exploded: `type=system&type=app`) is checked one value at a time, each as
/// an array of one item.
fn coerce(text: &str, schema: &Value) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types == ["array"] {
        return Value::Array(vec![coerce(text, &schema["items"])]);
    }
    if types.contains(&"integer")
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::from(n);
    }
    if types.contains(&"number")
        && let Ok(n) = text.parse::<f64>()
    {
        return Value::from(n);
    }
    if types.contains(&"boolean") && (text == "true" || text == "false") {
        return Value::from(text == "true");
    }
    Value::from(text)
}

/// A schema as it applies to a request: OpenAPI 3.0's `readOnly` properties are answers
/// only, so they are not required of a request.
fn request_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            let read_only: Vec<String> = map
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .filter(|(_, v)| v["readOnly"] == true)
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            for (k, v) in map {
                if k == "required" {
                    let kept: Vec<Value> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| !read_only.iter().any(|ro| r.as_str() == Some(ro.as_str())))
                        .cloned()
                        .collect();
                    out.insert(k.clone(), Value::from(kept));
                } else {
                    out.insert(k.clone(), request_schema(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(request_schema).collect()),
        other => other.clone(),
    }
}
