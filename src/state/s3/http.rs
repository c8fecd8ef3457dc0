//! Requests to S3 (REST, path-style on an endpoint, virtual-hosted on AWS), to DynamoDB
//! (JSON) and to KMS (JSON, for the state-encryption key provider `aws_kms`), signed and sent through the shared AWS plumbing (`crate::net::aws`). Transport
//! failures and 5xx/429 answers are retried on the shared backoff; everything else goes back
//! to the caller as a [`Reply`] to read. Knows nothing of oss state.

use std::time::Duration;

use crate::backoff::Policy;
use crate::net::aws::xml::Element;
use crate::net::aws::{self, Keys, Outgoing, Service};
use crate::net::encode;
pub use crate::net::http::Reply;

/// Retries of one request that got no answer or a 5xx/429 one; a `Retry-After` is honoured
/// up to 5 s.
const RETRIES: Policy = Policy::new(Duration::from_millis(100), Duration::from_secs(1), 3)
    .with_retry_after_max(Duration::from_secs(5));

/// Where and how to reach S3 and DynamoDB, with the keys to sign with (kept in memory only;
/// `Debug` shows where they came from, never them).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub region: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:5000`): path-style requests, and the
    /// same endpoint for DynamoDB. `None`: AWS's own endpoints.
    pub url: Option<String>,
    pub keys: Keys,
}

/// What S3's and DynamoDB's error answers say.
pub trait ErrorText {
    /// S3's error code and message (`NoSuchBucket`...), or the status when the body has none.
    fn s3_error(&self) -> String;
    /// DynamoDB's error type (`ConditionalCheckFailedException`...) and message.
    fn dynamo_error(&self) -> (String, String);
}

impl ErrorText for Reply {
    fn s3_error(&self) -> String {
        match Element::parse(&self.text()) {
            Ok(root) => {
                let (code, message) = root.error_fields();
                format!(
                    "{} (HTTP {}): {}",
                    code.as_deref().unwrap_or("error"),
                    self.status,
                    message.unwrap_or_default()
                )
                .trim_end_matches(": ")
                .to_string()
            }
            Err(_) => format!("HTTP {}", self.status),
        }
    }

    fn dynamo_error(&self) -> (String, String) {
        let value: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let kind = value["__type"]
            .as_str()
            .and_then(|t| t.rsplit('#').next())
            .unwrap_or("error")
            .to_string();
        let message = value["message"]
            .as_str()
            .or(value["Message"].as_str())
            .map_or_else(|| format!("HTTP {}", self.status), str::to_string);
        (kind, message)
    }
}

/// A signed HTTP client for one region's S3 and DynamoDB.
pub struct Client {
    aws: aws::Client,
    endpoint: Endpoint,
}

/// One S3 request: method, object key (`None`: the bucket), query and extra headers.
pub struct Request<'a> {
    pub method: &'a str,
    pub key: Option<&'a str>,
    pub query: Vec<(&'a str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl<'a> Request<'a> {
    pub fn new(method: &'a str, key: Option<&'a str>) -> Self {
        Request {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn query(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Result<Self, String> {
        Ok(Client {
            aws: aws::Client::new()?,
            endpoint,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The URL of `key` in `bucket` (or of the bucket), query included.
    fn s3_url(&self, bucket: &str, request: &Request<'_>) -> String {
        let key = request
            .key
            .map(|k| format!("/{}", encode::path(k)))
            .unwrap_or_else(|| "/".into());
        let base = match &self.endpoint.url {
            Some(url) => format!("{}/{bucket}{key}", url.trim_end_matches('/')),
            None => format!(
                "https://{bucket}.s3.{}.amazonaws.com{key}",
                self.endpoint.region
            ),
        };
        if request.query.is_empty() {
            return base;
        }
        let query = encode::query(request.query.iter().map(|(n, v)| (*n, v.as_str())));
        format!("{base}?{query}")
    }

    /// Sends an S3 request to `bucket`.
    pub async fn s3(&self, bucket: &str, request: Request<'_>) -> Result<Reply, String> {
        let url = self.s3_url(bucket, &request);
        self.send(
            Service::S3,
            request.method,
            &url,
            &request.headers,
            request.body,
        )
        .await
    }

    /// Calls DynamoDB's `operation` (`PutItem`...) with a JSON body.
    pub async fn dynamo(&self, operation: &str, body: &serde_json::Value) -> Result<Reply, String> {
        let url = match &self.endpoint.url {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("https://dynamodb.{}.amazonaws.com/", self.endpoint.region),
        };
        let headers = [
            ("content-type", "application/x-amz-json-1.0".to_string()),
            ("x-amz-target", format!("DynamoDB_20120810.{operation}")),
        ];
        let body = serde_json::to_vec(body).expect("JSON serializes");
        self.send(Service::DYNAMODB, "POST", &url, &headers, body)
            .await
    }

    /// Calls KMS's `operation` (`GenerateDataKey`, `Decrypt`) with a JSON body.
    pub async fn kms(&self, operation: &str, body: &serde_json::Value) -> Result<Reply, String> {
        let url = match &self.endpoint.url {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("https://kms.{}.amazonaws.com/", self.endpoint.region),
        };
        let headers = [
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amz-target", format!("TrentService.{operation}")),
        ];
        let body = serde_json::to_vec(body).expect("JSON serializes");
        self.send(Service::named("kms"), "POST", &url, &headers, body)
            .await
    }

    /// Signs and sends, retrying transport failures, 5xx and 429 on the shared backoff.
    async fn send(
        &self,
        service: Service,
        method: &str,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut backoff = RETRIES.start();
        loop {
            let request = Outgoing {
                method,
                url,
                headers: &headers,
                body: body.clone(),
            };
            let outcome = self
                .aws
                .send(&self.endpoint.keys, service, &self.endpoint.region, request)
                .await
                .map_err(|e| e.to_string());
            let retry_after = match &outcome {
                Ok(reply) if reply.is_transient() => reply.retry_after(),
                Ok(_) => return outcome,
                Err(_) => None,
            };
            if !backoff.wait(retry_after).await {
                return outcome;
            }
        }
    }
}
