//! Linode's API over the shared REST client (`crate::net::rest`): where its error body keeps
//! the message (`{"errors": [{"reason", "field"}]}`), which answers mean retry, fail over or
//! stop (the table in docs/providers.md), and the classified [`DriverError`]s the driver
//! returns.
//!
//! Capacity: a plan sold out in a region is refused with 403 and "The Linode plan you chose
//! is not currently available in the selected region..." (as recorded in
//! linode/linode_api4-python#396): another plan or region is tried.
//! Knows nothing of oss resources.

use serde_json::Value;

use crate::driver::rest_cloud::driver::classified;
use crate::driver::{DriverError, ErrorClass, Scope};
use crate::net::rest::{self, Classify, Failure};

/// Items per page of every paged list (the API's maximum).
pub const PAGE_SIZE: u32 = 500;

/// Linode's error sorting.
pub struct Linode;

/// What a refusal of a create rules out, by Linode's reason; `None`: not a placement refusal.
fn refusal_scope(status: u16, reason: &str) -> Option<Scope> {
    let r = reason.to_ascii_lowercase();
    if !matches!(status, 400 | 403) {
        return None;
    }
    // Only the wording on record; other refusals stay fatal rather than guessed at.
    r.contains("not currently available in the selected region")
        .then_some(Scope::Offer)
}

impl Classify for Linode {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        let errors = body["errors"].as_array();
        let first = errors.and_then(|e| e.first());
        let reasons: Vec<String> = errors
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let reason = e["reason"].as_str()?;
                Some(match e["field"].as_str() {
                    Some(field) => format!("{field}: {reason}"),
                    None => reason.to_string(),
                })
            })
            .collect();
        (
            first
                .and_then(|e| e["field"].as_str())
                .map(|f| format!("field_{f}")),
            (!reasons.is_empty()).then(|| reasons.join("; ")),
        )
    }

    fn classify(&self, failure: &Failure) -> ErrorClass {
        match failure.status {
            Some(status) if refusal_scope(status, &failure.message).is_some() => {
                ErrorClass::FailOver
            }
            _ => LinodeDefault.classify(failure),
        }
    }
}

/// The shared defaults, reached from the override above.
struct LinodeDefault;
impl Classify for LinodeDefault {
    fn error_fields(&self, _: &Value) -> (Option<String>, Option<String>) {
        (None, None)
    }
}

/// The driver error of a failed call of provider `provider`. The message names the call and
/// Linode's words; a hint for a refused token.
pub fn driver_error(provider: &str, e: rest::Error) -> DriverError {
    let status = e.failure.status;
    let scope = match (status, e.class) {
        (None, ErrorClass::FailOver) => Scope::Provider,
        (Some(s), ErrorClass::FailOver) => refusal_scope(s, &e.failure.message).unwrap_or_default(),
        _ => Scope::Offer,
    };
    classified(
        "Linode",
        provider,
        e,
        scope,
        "The token was refused: set LINODE_TOKEN (or the provider's `token`) to a personal \
         access token with read/write scope for Linodes, Firewalls and Account.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_fail_over_with_their_scope_and_the_rest_is_sorted_by_status() {
        let c = Linode;
        let sold_out = "The Linode plan you chose is not currently available in the selected \
                        region. Please select another region or plan type, or contact Support \
                        for assistance.";
        let cases = [
            (403, sold_out, ErrorClass::FailOver, Scope::Offer),
            (
                400,
                "label: Label must be unique",
                ErrorClass::Fatal,
                Scope::Offer,
            ),
            (401, "Invalid Token", ErrorClass::Fatal, Scope::Offer),
            (403, "Unauthorized", ErrorClass::Fatal, Scope::Offer),
            (429, "Too Many Requests", ErrorClass::Retry, Scope::Offer),
            (
                500,
                "Internal server error",
                ErrorClass::Retry,
                Scope::Offer,
            ),
        ];
        for (status, message, class, scope) in cases {
            let f = Failure {
                status: Some(status),
                code: None,
                message: message.into(),
                retry_after: None,
                transport: None,
            };
            assert_eq!(c.classify(&f), class, "{message}");
            let e = driver_error(
                "li",
                rest::Error {
                    class: c.classify(&f),
                    failure: f,
                    call: "POST /v4/linode/instances".into(),
                },
            );
            assert_eq!((e.class, e.scope), (class, scope), "{message}");
            assert!(e.message.contains(message.trim_end_matches('.')), "{e}");
        }
    }

    #[test]
    fn every_reason_of_the_error_body_is_kept_with_its_field() {
        let body = json!({"errors": [
            {"reason": "Label must be unique", "field": "label"},
            {"reason": "Type is required"}
        ]});
        let (code, message) = Linode.error_fields(&body);
        assert_eq!(code.as_deref(), Some("field_label"));
        assert_eq!(
            message.as_deref(),
            Some("label: Label must be unique; Type is required")
        );
    }
}
