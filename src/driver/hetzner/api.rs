//! Hetzner Cloud's API over the shared REST client (`crate::net::rest`): where its error
//! body keeps code and message (`{"error": {"code", "message", "details"}}`), which of its
//! documented error codes mean retry, fail over or stop (the table in docs/providers.md), and
//! the classified [`DriverError`]s the driver returns. A failed action (`/actions/{id}` with
//! `status: error`) carries the same `{code, message}` and is sorted by the same table.
//!
//! Knows nothing of oss resources.

use serde_json::Value;

use crate::driver::rest_cloud::driver::classified;
use crate::driver::{DriverError, ErrorClass, Scope};
use crate::net::rest::{self, Classify, Failure};

/// Items per page of every list (the API's maximum).
pub const PER_PAGE: u32 = 50;

/// Hetzner's error sorting.
pub struct Hetzner;

/// What Hetzner's error `code` means, by its documented table; `None`: the status decides.
fn class_of(code: &str) -> Option<(ErrorClass, Scope)> {
    use ErrorClass::{FailOver, Fatal, Retry};
    Some(match code {
        // The server type is not available for order at this location.
        "resource_unavailable" => (FailOver, Scope::Offer),
        // No host for this type at this location right now.
        "placement_error" => (FailOver, Scope::Offer),
        // The project's limit of servers, cores or IPs: nothing more at this provider.
        "resource_limit_exceeded" => (FailOver, Scope::Provider),
        // The location is in maintenance.
        "maintenance" => (FailOver, Scope::Location),
        "rate_limit_exceeded"
        | "conflict"
        | "locked"
        | "server_error"
        | "bad_gateway"
        | "unavailable"
        | "timeout"
        | "service_error" => (Retry, Scope::Offer),
        // A firewall is still applied to a server being deleted: detached in a moment.
        "resource_in_use" => (Retry, Scope::Offer),
        "unauthorized"
        | "token_readonly"
        | "forbidden"
        | "invalid_input"
        | "json_error"
        | "uniqueness_error"
        | "not_found"
        | "protected"
        | "unsupported_error"
        | "method_not_allowed"
        | "deprecated_api_endpoint" => (Fatal, Scope::Offer),
        _ => return None,
    })
}

impl Classify for Hetzner {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        let error = &body["error"];
        let message = error["message"].as_str().map(|m| {
            // `invalid_input` names the fields and what is wrong with each.
            let fields: Vec<String> = error["details"]["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    let name = f["name"].as_str()?;
                    let says: Vec<&str> = f["messages"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    (!says.is_empty()).then(|| format!("{name}: {}", says.join(", ")))
                })
                .collect();
            if fields.is_empty() || m.contains(&fields[0]) {
                m.to_string()
            } else {
                format!("{m} ({})", fields.join("; "))
            }
        });
        (error["code"].as_str().map(String::from), message)
    }

    fn classify(&self, failure: &Failure) -> ErrorClass {
        match failure.code.as_deref().and_then(class_of) {
            Some((class, _)) if failure.transport.is_none() => class,
            _ => HetznerDefault.classify(failure),
        }
    }
}

/// The shared defaults, reached from the override above.
struct HetznerDefault;
impl Classify for HetznerDefault {
    fn error_fields(&self, _: &Value) -> (Option<String>, Option<String>) {
        (None, None)
    }
}

/// The hint a refused token gets.
const TOKEN_HINT: &str = "The token was refused: set HCLOUD_TOKEN (or the provider's `token`) \
                          to an API token of the project with Read & Write permission.";

/// The driver error of a failed call of provider `provider`. The message names the call and
/// Hetzner's words; a hint for a refused token.
pub fn driver_error(provider: &str, e: rest::Error) -> DriverError {
    let scope = match (e.failure.status, e.class) {
        (None, ErrorClass::FailOver) => Scope::Provider,
        (Some(_), ErrorClass::FailOver) => e
            .failure
            .code
            .as_deref()
            .and_then(class_of)
            .map_or(Scope::Offer, |(_, scope)| scope),
        _ => Scope::Offer,
    };
    classified("Hetzner", provider, e, scope, TOKEN_HINT)
}

/// The driver error of an action that ended in `error` (`{code, message}`), sorted like a
/// failed call: a create's action failing for placement fails over, others are fatal.
pub fn action_error(provider: &str, what: &str, action: &Value) -> DriverError {
    let code = action["error"]["code"]
        .as_str()
        .unwrap_or("action_failed")
        .to_string();
    let message = action["error"]["message"]
        .as_str()
        .unwrap_or("the action failed");
    let (class, scope) = class_of(&code).unwrap_or((ErrorClass::Fatal, Scope::Offer));
    DriverError::new(
        class,
        format!(
            "Hetzner action {} ({}) for {what} failed (provider `{provider}`): {}.",
            action["id"],
            action["command"].as_str().unwrap_or("?"),
            message.trim_end_matches('.')
        ),
    )
    .with_code(code)
    .with_scope(scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(status: u16, code: &str) -> Failure {
        Failure {
            status: Some(status),
            code: Some(code.into()),
            message: format!("{code} happened"),
            retry_after: None,
            transport: None,
        }
    }

    #[test]
    fn documented_codes_are_sorted_with_their_scope() {
        let cases = [
            (
                412,
                "resource_unavailable",
                ErrorClass::FailOver,
                Scope::Offer,
            ),
            (422, "placement_error", ErrorClass::FailOver, Scope::Offer),
            (
                403,
                "resource_limit_exceeded",
                ErrorClass::FailOver,
                Scope::Provider,
            ),
            (403, "maintenance", ErrorClass::FailOver, Scope::Location),
            (429, "rate_limit_exceeded", ErrorClass::Retry, Scope::Offer),
            (423, "locked", ErrorClass::Retry, Scope::Offer),
            (409, "conflict", ErrorClass::Retry, Scope::Offer),
            (422, "resource_in_use", ErrorClass::Retry, Scope::Offer),
            (504, "timeout", ErrorClass::Retry, Scope::Offer),
            (401, "unauthorized", ErrorClass::Fatal, Scope::Offer),
            (403, "forbidden", ErrorClass::Fatal, Scope::Offer),
            (422, "invalid_input", ErrorClass::Fatal, Scope::Offer),
            (409, "uniqueness_error", ErrorClass::Fatal, Scope::Offer),
            // An unknown code: the status decides.
            (503, "something_new", ErrorClass::Retry, Scope::Offer),
            (400, "something_new", ErrorClass::Fatal, Scope::Offer),
        ];
        for (status, code, class, scope) in cases {
            let f = failure(status, code);
            assert_eq!(Hetzner.classify(&f), class, "{code}");
            let e = driver_error(
                "hz",
                rest::Error {
                    class: Hetzner.classify(&f),
                    failure: f,
                    call: "POST /servers".into(),
                },
            );
            assert_eq!((e.class, e.scope), (class, scope), "{code}");
            assert_eq!(e.code.as_deref(), Some(code));
            assert!(e.message.contains(&format!("{code} happened")), "{e}");
            assert_eq!(e.message.contains("HCLOUD_TOKEN"), status == 401, "{e}");
        }
    }

    #[test]
    fn the_error_body_gives_code_message_and_field_problems() {
        let body = json!({"error": {"code": "invalid_input", "message": "invalid input",
            "details": {"fields": [{"name": "name", "messages": ["is too long"]}]}}});
        let (code, message) = Hetzner.error_fields(&body);
        assert_eq!(code.as_deref(), Some("invalid_input"));
        assert_eq!(
            message.as_deref(),
            Some("invalid input (name: is too long)")
        );
        let body = json!({"error": {"code": "unauthorized", "message": "unable to authenticate",
            "details": {}}});
        assert_eq!(
            Hetzner.error_fields(&body).1.as_deref(),
            Some("unable to authenticate")
        );
    }

    #[test]
    fn a_failed_action_is_sorted_by_its_code() {
        let action = json!({"id": 7, "command": "create_server", "status": "error",
            "error": {"code": "placement_error", "message": "no host available"}});
        let e = action_error("hz", "node.web[0]", &action);
        assert_eq!((e.class, e.scope), (ErrorClass::FailOver, Scope::Offer));
        assert!(e.message.contains("no host available"), "{e}");
        let action = json!({"id": 8, "command": "create_server", "status": "error",
            "error": {"code": "action_failed", "message": "Action failed"}});
        assert_eq!(action_error("hz", "x", &action).class, ErrorClass::Fatal);
    }
}
