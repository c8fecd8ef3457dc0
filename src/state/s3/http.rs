//! Signed requests to S3 (REST, path-style on an endpoint, virtual-hosted on AWS) and to
//! DynamoDB (JSON), with SigV4 from AWS's `aws-sigv4` crate. Transport failures and 5xx/429
//! answers are retried with jittered backoff; everything else goes back to the caller as a
//! [`Reply`] to read. Knows nothing of oss state.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::driver::aws::client::{chain, http_client};
use crate::driver::aws::credentials::Keys;
use crate::driver::aws::xml::Element;

const ATTEMPTS: u32 = 4;
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// RFC 3986's unreserved characters stay; everything else is percent-encoded (query values).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` (object keys in paths).
const PATH: &AsciiSet = &STRICT.remove(b'/');

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

/// An answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ETag without its quotes.
    pub fn etag(&self) -> Option<String> {
        self.header("etag").map(|e| e.trim_matches('"').to_string())
    }

    /// S3's error code and message (`NoSuchBucket`...), or the status when the body has none.
    pub fn s3_error(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        match Element::parse(&text) {
            Ok(root) => {
                let code = root.text_at(&["Code"]).unwrap_or("error");
                let message = root.text_at(&["Message"]).unwrap_or("");
                format!("{code} (HTTP {}): {message}", self.status)
                    .trim_end_matches(": ")
                    .to_string()
            }
            Err(_) => format!("HTTP {}", self.status),
        }
    }

    /// DynamoDB's error type (`ConditionalCheckFailedException`...) and message.
    pub fn dynamo_error(&self) -> (String, String) {
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
    http: reqwest::Client,
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
            http: http_client()?,
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
            .map(|k| format!("/{}", utf8_percent_encode(k, PATH)))
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
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(name, value)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(name, STRICT),
                    utf8_percent_encode(value, STRICT)
                )
            })
            .collect();
        format!("{base}?{}", query.join("&"))
    }

    /// Sends an S3 request to `bucket`.
    pub async fn s3(&self, bucket: &str, request: Request<'_>) -> Result<Reply, String> {
        let url = self.s3_url(bucket, &request);
        self.send("s3", request.method, &url, &request.headers, &request.body)
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
        self.send("dynamodb", "POST", &url, &headers, &body).await
    }

    /// Signs and sends, retrying transport failures, 5xx and 429 with jittered backoff.
    async fn send(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(service, method, url, headers, body).await;
            let retry = match &outcome {
                Ok(reply) => reply.status >= 500 || reply.status == 429,
                Err(_) => true,
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome;
            }
            let exp = BACKOFF_BASE.saturating_mul(1 << (attempt - 1));
            tokio::time::sleep(exp.mul_f64(0.5 + rand::random::<f64>() * 0.5)).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let keys = &self.endpoint.keys;
        let identity = Credentials::new(
            keys.access_key_id.clone(),
            keys.secret_access_key.clone(),
            keys.session_token.clone(),
            None,
            "oss",
        )
        .into();
        let mut settings = SigningSettings::default();
        if service == "s3" {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.endpoint.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| format!("bad method {method}: {e}"))?;
        let mut request = self.http.request(method, url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| chain(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| chain(&e))?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}
