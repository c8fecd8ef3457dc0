//! DigitalOcean's API over the shared REST client (`crate::net::rest`): where its error body
//! keeps code and message (`{"id", "message", "request_id"}`), which answers mean retry, fail
//! over or stop (the table in docs/providers.md), and the classified [`DriverError`]s the
//! driver returns.
//!
//! Knows nothing of oss resources.

use serde_json::Value;

use crate::driver::rest_cloud::driver::classified;
use crate::driver::{DriverError, ErrorClass, Scope};
use crate::net::rest::{self, Classify, Failure};

/// Items per page of every list (the API's maximum).
pub const PER_PAGE: u32 = 200;

/// DigitalOcean's error sorting.
pub struct DigitalOcean;

/// What a 422 refusal of a create rules out, by DigitalOcean's message; `None`: not a
/// placement refusal (an invalid request).
fn refusal_scope(message: &str) -> Option<Scope> {
    let m = message.to_ascii_lowercase();
    if m.contains("droplet limit") || m.contains("exceed your") || m.contains("quota") {
        Some(Scope::Provider)
    } else if m.contains("size is not available")
        || m.contains("size is unavailable")
        || m.contains("capacity")
    {
        Some(Scope::Offer)
    } else if m.contains("region is not available")
        || m.contains("region is unavailable")
        || m.contains("currently unavailable")
    {
        Some(Scope::Location)
    } else {
        None
    }
}

impl Classify for DigitalOcean {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (
            body.get("id").and_then(Value::as_str).map(String::from),
            body.get("message")
                .and_then(Value::as_str)
                .map(String::from),
        )
    }

    fn classify(&self, failure: &Failure) -> ErrorClass {
        match failure.status {
            Some(422) if refusal_scope(&failure.message).is_some() => ErrorClass::FailOver,
            // A droplet id the API does not know yet answers 404 right after a create; the
            // callers that expect it (reads of one droplet) say so themselves.
            _ => DigitalOceanDefault.classify(failure),
        }
    }
}

/// The shared defaults, reached from the override above.
struct DigitalOceanDefault;
impl Classify for DigitalOceanDefault {
    fn error_fields(&self, _: &Value) -> (Option<String>, Option<String>) {
        (None, None)
    }
}

/// The driver error of a failed call of provider `provider`. The message names the call and
/// DigitalOcean's words; hints for the usual causes.
pub fn driver_error(provider: &str, e: rest::Error) -> DriverError {
    let status = e.failure.status;
    let scope = match (status, e.class) {
        (_, ErrorClass::FailOver) if status.is_none() => Scope::Provider,
        (Some(422), ErrorClass::FailOver) => refusal_scope(&e.failure.message).unwrap_or_default(),
        _ => Scope::Offer,
    };
    classified(
        "DigitalOcean",
        provider,
        e,
        scope,
        "The token was refused: set DIGITALOCEAN_TOKEN (or the provider's `token`) to a \
         valid API token with read and write scope.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, id: &str, message: &str) -> Failure {
        Failure {
            status: Some(status),
            code: Some(id.into()),
            message: message.into(),
            retry_after: None,
            transport: None,
        }
    }

    #[test]
    fn refusals_fail_over_with_their_scope_and_the_rest_is_sorted_by_status() {
        let c = DigitalOcean;
        let cases = [
            (
                422,
                "Size is not available in this region.",
                ErrorClass::FailOver,
                Scope::Offer,
            ),
            (
                422,
                "Region is not available",
                ErrorClass::FailOver,
                Scope::Location,
            ),
            (
                422,
                "creating this/these droplet(s) will exceed your droplet limit",
                ErrorClass::FailOver,
                Scope::Provider,
            ),
            (422, "Name is invalid", ErrorClass::Fatal, Scope::Offer),
            (
                401,
                "Unable to authenticate you",
                ErrorClass::Fatal,
                Scope::Offer,
            ),
            (
                429,
                "API Rate limit exceeded.",
                ErrorClass::Retry,
                Scope::Offer,
            ),
            (
                500,
                "Server was unable to give you a response.",
                ErrorClass::Retry,
                Scope::Offer,
            ),
        ];
        for (status, message, class, scope) in cases {
            let f = failure(status, "unprocessable_entity", message);
            assert_eq!(c.classify(&f), class, "{message}");
            let e = driver_error(
                "do",
                rest::Error {
                    class: c.classify(&f),
                    failure: f,
                    call: "POST /v2/droplets".into(),
                },
            );
            assert_eq!((e.class, e.scope), (class, scope), "{message}");
            assert!(e.message.contains(message), "{e}");
        }
    }
}
