//! Route53's REST API as oss calls it: one signed request (SigV4 for service `route53`,
//! region us-east-1, through `net::aws`), its XML answer, and its errors classed: throttling,
//! `PriorRequestNotComplete` and 5xx retried on the shared backoff, bad credentials and a
//! missing zone fatal, `InvalidChangeBatch` fatal with Route53's own words.

use std::time::Duration;

use crate::backoff::Policy;
use crate::driver::DriverError;
use crate::net::aws::xml::Element;
use crate::net::aws::{Client, Keys, Outgoing, SendError, Service};

/// Route53 signs in one region whatever the zone.
const REGION: &str = "us-east-1";
/// The API version in every path.
pub const VERSION: &str = "/2013-04-01";
/// Retries of a call Route53 answered with throttling or a server fault.
const RETRIES: Policy = Policy::new(Duration::from_millis(200), Duration::from_secs(5), 6);
/// The error code of a refused change batch.
pub const INVALID_CHANGE_BATCH: &str = "InvalidChangeBatch";

pub struct Api {
    client: Client,
    keys: Option<Keys>,
    endpoint: String,
    /// The provider's name, for messages.
    name: String,
}

/// A refusal: Route53's code and message (several messages joined).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Api {
    pub fn new(name: &str, endpoint: String, keys: Option<Keys>) -> Result<Self, DriverError> {
        let client =
            Client::new().map_err(|e| DriverError::fatal(format!("DNS provider `{name}`: {e}")))?;
        Ok(Api {
            client,
            keys,
            endpoint,
            name: name.to_string(),
        })
    }

    /// Sends `method path_and_query` (after [`VERSION`]) with `body`, retrying what is worth
    /// it; the answer's root element, or Route53's refusal as an error.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<Element, DriverError> {
        match self.call_raw(method, path_and_query, body).await? {
            Ok(root) => Ok(root),
            Err(refusal) => Err(self.error(refusal)),
        }
    }

    /// Like [`Api::call`] but hands a refusal back to the caller to explain.
    pub async fn call_raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<Result<Element, Refusal>, DriverError> {
        let Some(keys) = &self.keys else {
            return Err(DriverError::fatal(format!(
                "DNS provider `{}` (route53) found no AWS credentials: set access_key_id and secret_access_key (as env.NAME references), a profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.name
            )));
        };
        let url = format!("{}{VERSION}{path_and_query}", self.endpoint);
        let headers: &[(&str, &str)] = match body {
            Some(_) => &[("content-type", "text/xml")],
            None => &[],
        };
        let body = body.unwrap_or_default().into_bytes();
        let mut backoff = RETRIES.start();
        loop {
            let outgoing = Outgoing {
                method,
                url: &url,
                headers,
                body: body.clone(),
            };
            let reply = match self
                .client
                .send(keys, Service::named("route53"), REGION, outgoing)
                .await
            {
                Ok(reply) => reply,
                Err(SendError::Sign(e)) => return Err(DriverError::fatal(e)),
                Err(SendError::Transport(_, e)) => {
                    if backoff.wait(None).await {
                        continue;
                    }
                    return Err(DriverError::retry(format!(
                        "Route53 at {} did not answer: {e}",
                        self.endpoint
                    )));
                }
            };
            let text = reply.text();
            let root = Element::parse(&text);
            if reply.ok() {
                return root.map(Ok).map_err(|e| {
                    DriverError::fatal(format!(
                        "Route53 answered {method} {path_and_query} with {e}"
                    ))
                });
            }
            let refusal = match &root {
                Ok(root) => refusal(reply.status, root),
                Err(_) => Refusal {
                    status: reply.status,
                    code: format!("HTTP{}", reply.status),
                    message: crate::echo::echo(text.trim()).into_owned(),
                },
            };
            let transient = reply.is_transient()
                || ["Throttling", "PriorRequestNotComplete"].contains(&refusal.code.as_str());
            if transient && backoff.wait(reply.retry_after()).await {
                continue;
            }
            if transient {
                return Err(DriverError::retry(format!(
                    "Route53 is busy ({}: {})",
                    refusal.code, refusal.message
                ))
                .with_code(refusal.code));
            }
            return Ok(Err(refusal));
        }
    }

    /// A refusal as a driver error (credentials, a missing zone, the rest).
    pub fn error(&self, refusal: Refusal) -> DriverError {
        let Refusal {
            status,
            code,
            message,
        } = refusal;
        let text = match code.as_str() {
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "AccessDenied"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredToken" => format!(
                "Route53 refused the credentials of DNS provider `{}` ({}): {message}",
                self.name,
                self.keys.as_ref().map_or("none", |k| k.source.as_str())
            ),
            _ => format!("Route53 refused the call (HTTP {status}, {code}): {message}"),
        };
        DriverError::fatal(text).with_code(code)
    }
}

/// Route53's error document read: `<ErrorResponse><Error><Code>…` or, for a change batch,
/// `<InvalidChangeBatch><Messages><Message>…`.
fn refusal(status: u16, root: &Element) -> Refusal {
    let (code, message) = root.error_fields();
    let messages: Vec<&str> = root
        .descendants("Message")
        .into_iter()
        .map(|m| m.text.trim())
        .filter(|t| !t.is_empty())
        .collect();
    Refusal {
        status,
        code: code.unwrap_or_else(|| root.name.clone()),
        message: match messages.len() {
            0 => message.unwrap_or_default(),
            _ => messages.join("; "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_documents() {
        let batch = Element::parse(
            "<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Messages><Message>RRSet with DNS name web-0.oss.test. is not permitted in zone oss.test.</Message></Messages><RequestId>x</RequestId></InvalidChangeBatch>",
        )
        .unwrap();
        let r = refusal(400, &batch);
        assert_eq!(r.code, INVALID_CHANGE_BATCH);
        assert!(r.message.contains("web-0.oss.test."), "{}", r.message);
        let plain = Element::parse(
            "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found with ID: Z1</Message></Error><RequestId>x</RequestId></ErrorResponse>",
        )
        .unwrap();
        let r = refusal(404, &plain);
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("NoSuchHostedZone", "No hosted zone found with ID: Z1")
        );
    }
}
