//! Vultr's API v2 over the shared REST client (`crate::net::rest`): where its error body keeps
//! the message (`{"error": "...", "status": N}`: the document says every 4xx answer carries an
//! `error` attribute; answers on record add the status), which answers mean retry, fail over or
//! stop (the table in docs/providers.md), and the classified [`DriverError`]s the driver
//! returns.
//!
//! Capacity: Vultr says which plans it sells where in each plan's `locations` (the catalog
//! offers nothing else), and refuses a create of a plan it does not sell in the region with
//! 400 "Invalid plan chosen." (as recorded in vultr/vultr-cli#385 and
//! vultr/terraform-provider-vultr#377): another plan or region is tried. Knows nothing of oss
//! resources.

use serde_json::Value;

use crate::driver::{DriverError, ErrorClass, Scope};
use crate::net::rest::{self, Classify, Failure};

/// Items per page of every paged list (the API's maximum).
pub const PAGE_SIZE: u32 = 500;

/// Vultr's error sorting.
pub struct Vultr;

/// What a refusal of a create rules out, by Vultr's words; `None`: not a placement refusal.
fn refusal_scope(status: u16, message: &str) -> Option<Scope> {
    // Only the wording on record; other refusals stay fatal rather than guessed at.
    (status == 400 && message.to_ascii_lowercase().contains("invalid plan chosen"))
        .then_some(Scope::Offer)
}

impl Classify for Vultr {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        let code = body["status"].as_u64().map(|s| format!("http_{s}"));
        (code, body["error"].as_str().map(String::from))
    }

    fn classify(&self, failure: &Failure) -> ErrorClass {
        match failure.status {
            Some(status) if refusal_scope(status, &failure.message).is_some() => {
                ErrorClass::FailOver
            }
            _ => VultrDefault.classify(failure),
        }
    }
}

/// The shared defaults, reached from the override above.
struct VultrDefault;
impl Classify for VultrDefault {
    fn error_fields(&self, _: &Value) -> (Option<String>, Option<String>) {
        (None, None)
    }
}

/// The driver error of a failed call of provider `provider`. The message names the call and
/// Vultr's words; a hint for a refused key.
pub fn driver_error(provider: &str, e: rest::Error) -> DriverError {
    let Failure {
        status,
        code,
        message,
        retry_after,
        ..
    } = e.failure;
    let scope = match (status, e.class) {
        (None, ErrorClass::FailOver) => Scope::Provider,
        (Some(s), ErrorClass::FailOver) => refusal_scope(s, &message).unwrap_or_default(),
        _ => Scope::Offer,
    };
    let mut text = format!(
        "Vultr {} failed{} (provider `{provider}`): {}.",
        e.call,
        status.map_or(String::new(), |s| format!(" with HTTP {s}")),
        message.trim_end_matches('.'),
    );
    if status == Some(401) {
        text.push_str(
            " The API key was refused: set VULTR_API_KEY (or the provider's `token`) to a key \
             from the customer portal (Account, API) whose access control allows this \
             machine's address.",
        );
    }
    if status == Some(400) && scope == Scope::Offer && e.class == ErrorClass::FailOver {
        text.push_str(" Vultr does not sell this plan in this region now.");
    }
    let code = code.unwrap_or_else(|| match status {
        Some(s) => format!("http_{s}"),
        None => "transport".into(),
    });
    let mut error = DriverError::new(e.class, text)
        .with_code(code)
        .with_scope(scope);
    error.retry_after = retry_after;
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_fail_over_with_their_scope_and_the_rest_is_sorted_by_status() {
        let c = Vultr;
        let cases = [
            (
                400,
                "Invalid plan chosen.",
                ErrorClass::FailOver,
                Scope::Offer,
            ),
            (
                400,
                "Server add failed: Ubuntu 24.04 LTS x64 requires a plan with at least 1000 MB \
                 memory.",
                ErrorClass::Fatal,
                Scope::Offer,
            ),
            (401, "Invalid API token.", ErrorClass::Fatal, Scope::Offer),
            (
                403,
                "Unauthorized IP address",
                ErrorClass::Fatal,
                Scope::Offer,
            ),
            (429, "Rate limit exceeded.", ErrorClass::Retry, Scope::Offer),
            (
                500,
                "Internal server error.",
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
                "vu",
                rest::Error {
                    class: c.classify(&f),
                    failure: f,
                    call: "POST /v2/instances".into(),
                },
            );
            assert_eq!((e.class, e.scope), (class, scope), "{message}");
            assert!(e.message.contains(message.trim_end_matches('.')), "{e}");
        }
    }

    #[test]
    fn the_error_attribute_is_the_message_and_the_status_the_code() {
        let body = json!({"error": "Invalid API token.", "status": 401});
        let (code, message) = Vultr.error_fields(&body);
        assert_eq!(code.as_deref(), Some("http_401"));
        assert_eq!(message.as_deref(), Some("Invalid API token."));
        assert_eq!(Vultr.error_fields(&json!({"x": 1})), (None, None));
    }
}
