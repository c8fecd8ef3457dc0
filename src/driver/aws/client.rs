//! One HTTP client for the EC2 Query API: form-encoded POSTs signed with SigV4 (the
//! AWS-maintained `aws-sigv4` crate), XML answers parsed into [`Element`]s, errors turned into
//! classified [`DriverError`]s, and retryable failures retried with jittered backoff that
//! honours `Retry-After`.
//!
//! Knows nothing of oss resources: actions and parameters come from the driver.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::credentials::Keys;
use super::error::Failure;
use super::xml::Element;
use crate::driver::{DriverError, ErrorClass};

/// The EC2 API version every request names.
const API_VERSION: &str = "2016-11-15";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of one call for retryable failures (the executor retries whole steps on top).
pub const ATTEMPTS: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// The longest `Retry-After` obeyed (longer waits are the executor's business).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(20);

/// Parameters of one Query API call, in order.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// Adds `name=value`.
    pub fn set(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// Adds `prefix.1=a&prefix.2=b...` (`InstanceId.1`, `Owner.1`).
    pub fn list<S: AsRef<str>>(mut self, prefix: &str, values: &[S]) -> Self {
        for (i, value) in values.iter().enumerate() {
            self.0
                .push((format!("{prefix}.{}", i + 1), value.as_ref().to_string()));
        }
        self
    }

    /// Adds filter number `n` (from 1): `Filter.n.Name=name&Filter.n.Value.1=...`.
    pub fn filter<S: AsRef<str>>(self, n: usize, name: &str, values: &[S]) -> Self {
        self.set(format!("Filter.{n}.Name"), name)
            .list(&format!("Filter.{n}.Value"), values)
    }

    /// Adds a tag specification for one resource type (`instance`, `key-pair`...).
    pub fn tag_spec(mut self, resource_type: &str, tags: &[(String, String)]) -> Self {
        self = self.set("TagSpecification.1.ResourceType", resource_type);
        for (i, (key, value)) in tags.iter().enumerate() {
            self = self
                .set(format!("TagSpecification.1.Tag.{}.Key", i + 1), key)
                .set(format!("TagSpecification.1.Tag.{}.Value", i + 1), value);
        }
        self
    }
}

/// Whether a call may be sent again after a retryable failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Reads and idempotent writes: retried here with backoff.
    Safe,
    /// Writes whose repetition could duplicate (RunInstances): one attempt; the caller decides.
    Once,
}

/// The EC2 API of one provider.
pub struct Api {
    http: reqwest::Client,
    /// One endpoint for every region (an emulator), or `None` for AWS's regional endpoints.
    endpoint: Option<String>,
    keys: Option<Keys>,
    /// The provider's name, for messages.
    provider: String,
}

impl Api {
    pub fn new(
        provider: &str,
        endpoint: Option<String>,
        keys: Option<Keys>,
    ) -> Result<Self, String> {
        let http = http_client()?;
        Ok(Api {
            http,
            endpoint,
            keys,
            provider: provider.to_string(),
        })
    }

    /// Whether there are credentials to sign with.
    pub fn has_credentials(&self) -> bool {
        self.keys.is_some()
    }

    /// Where the calls for `region` go.
    pub fn url(&self, region: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None if region.starts_with("cn-") => {
                format!("https://ec2.{region}.amazonaws.com.cn/")
            }
            None => format!("https://ec2.{region}.amazonaws.com/"),
        }
    }

    /// Calls `action` in `region` and returns the answer's root element. Retryable failures
    /// of [`Repeat::Safe`] calls are retried here with jittered backoff.
    pub async fn call(
        &self,
        region: &str,
        action: &str,
        params: &Params,
        repeat: Repeat,
    ) -> Result<Element, DriverError> {
        let attempts = if repeat == Repeat::Safe { ATTEMPTS } else { 1 };
        let mut attempt = 1;
        loop {
            let error = match self.send(region, action, params).await {
                Ok(root) => return Ok(root),
                Err(failure) => failure.into_driver_error(&self.provider, action, region),
            };
            if error.class != ErrorClass::Retry || attempt >= attempts {
                return Err(error);
            }
            let exp = BACKOFF_BASE
                .saturating_mul(1 << (attempt - 1))
                .min(BACKOFF_MAX);
            let jitter = exp.mul_f64(0.5 + rand::random::<f64>() * 0.5);
            let wait = error
                .retry_after
                .map_or(jitter, |after| after.min(RETRY_AFTER_MAX).max(jitter));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One signed request.
    async fn send(&self, region: &str, action: &str, params: &Params) -> Result<Element, Failure> {
        let Some(keys) = self.keys.as_ref() else {
            return Err(Failure::NoCredentials);
        };
        let url = self.url(region);
        let body = form_body(action, params);
        let credentials = Credentials::new(
            keys.access_key_id.clone(),
            keys.secret_access_key.clone(),
            keys.session_token.clone(),
            None,
            "oss",
        );
        let identity = credentials.into();
        let signing_params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Malformed(format!("cannot sign the request: {e}")))?
            .into();
        let headers = [("content-type", CONTENT_TYPE)];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| Failure::Malformed(format!("cannot sign the request to {url}: {e}")))?;
        let (instructions, _signature) = sign(signable, &signing_params)
            .map_err(|e| Failure::Malformed(format!("cannot sign the request: {e}")))?
            .into_parts();
        let mut request = self
            .http
            .post(&url)
            .header("content-type", CONTENT_TYPE)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }

        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let text = response.text().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Element::parse(&text).map_err(Failure::Malformed);
        }
        let parsed = Element::parse(&text).ok();
        let first = |name: &str| {
            parsed.as_ref().and_then(|root| {
                root.descendants(name)
                    .first()
                    .map(|e| e.text.trim().to_string())
                    .filter(|t| !t.is_empty())
            })
        };
        let message = first("Message").unwrap_or_else(|| {
            let snippet: String = text.chars().take(200).collect();
            if snippet.trim().is_empty() {
                "AWS answered with an error and no message".to_string()
            } else {
                format!("AWS answered: {}", snippet.trim())
            }
        });
        Err(Failure::Api {
            status,
            code: first("Code"),
            message,
            retry_after,
        })
    }
}

/// The HTTP client for AWS APIs (EC2 here, S3 and DynamoDB for state): connect and request
/// time-outs, oss's user agent, TLS through rustls with ring.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider; rustls's ring provider is the one
    // this build links. Installing twice is harmless (the first one stays).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("oss/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))
}

/// Everything but RFC 3986's unreserved characters is percent-encoded and a space becomes
/// `+`, as Python's `urlencode` does: AWS hashes the body as sent, but moto checks signatures
/// over the form re-encoded that way, so any other spelling (`*`, `%20`) would not match.
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `Action=...&Version=...&params`, form-encoded.
pub fn form_body(action: &str, params: &Params) -> String {
    let pairs = [("Action", action), ("Version", API_VERSION)]
        .into_iter()
        .chain(params.0.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    pairs
        .map(|(name, value)| {
            // A literal `%` is encoded as `%25`, so every `%20` stands for a space.
            format!(
                "{}={}",
                utf8_percent_encode(name, QUERY_SET)
                    .to_string()
                    .replace("%20", "+"),
                utf8_percent_encode(value, QUERY_SET)
                    .to_string()
                    .replace("%20", "+")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A `Retry-After` header in seconds (AWS sends seconds; an HTTP date is ignored and the
/// backoff decides).
fn retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Sorts a reqwest failure: nothing sent, no answer in time, or a broken exchange.
fn transport(error: reqwest::Error) -> Failure {
    let text = chain(&error);
    if error.is_connect() {
        Failure::Unreachable(text)
    } else if error.is_timeout() {
        Failure::Timeout(text)
    } else {
        Failure::Transport(text)
    }
}

/// An error with its causes, innermost last, repeated parts dropped.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_encode_lists_filters_and_tags() {
        let params = Params::new()
            .set("MaxResults", "1000")
            .filter(1, "tag:oss:lineage", &["abc"])
            .filter(2, "instance-state-name", &["pending", "running"])
            .list("InstanceId", &["i-1", "i-2"])
            .tag_spec("instance", &[("oss:address".into(), "node.web[0]".into())])
            .set("Filter.3.Value.1", "al2023-ami-2023.* x86_64~");
        assert_eq!(
            form_body("DescribeInstances", &params),
            "Action=DescribeInstances&Version=2016-11-15&MaxResults=1000\
             &Filter.1.Name=tag%3Aoss%3Alineage&Filter.1.Value.1=abc\
             &Filter.2.Name=instance-state-name&Filter.2.Value.1=pending&Filter.2.Value.2=running\
             &InstanceId.1=i-1&InstanceId.2=i-2\
             &TagSpecification.1.ResourceType=instance\
             &TagSpecification.1.Tag.1.Key=oss%3Aaddress&TagSpecification.1.Tag.1.Value=node.web%5B0%5D\
             &Filter.3.Value.1=al2023-ami-2023.%2A+x86_64~"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("-1"), None);
    }

    #[test]
    fn regional_endpoints_unless_one_is_set() {
        let aws = Api::new("aws", None, None).unwrap();
        assert_eq!(
            aws.url("ap-southeast-2"),
            "https://ec2.ap-southeast-2.amazonaws.com/"
        );
        assert_eq!(
            aws.url("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        let moto = Api::new("aws", Some("http://127.0.0.1:5000".into()), None).unwrap();
        assert_eq!(moto.url("eu-west-1"), "http://127.0.0.1:5000");
    }

    #[tokio::test]
    async fn without_credentials_nothing_is_sent() {
        let api = Api::new("aws", Some("http://127.0.0.1:9".into()), None).unwrap();
        let e = api
            .call(
                "us-east-1",
                "DescribeInstances",
                &Params::new(),
                Repeat::Safe,
            )
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Fatal);
        assert_eq!(e.code.as_deref(), Some("NoCredentials"), "{e}");
    }
}
