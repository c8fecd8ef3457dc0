//! AWS plumbing shared by the EC2 driver and the S3/DynamoDB state backend: where the keys
//! come from (`credentials`), SigV4 (`sigv4`), XML answers (`xml`), and [`Client`], which
//! signs and sends one request over the one HTTP client setup.
//!
//! Knows no AWS action and no oss resource: the EC2 driver builds Query API calls, the S3
//! backend REST and JSON ones, and each decides what is worth retrying.

pub mod credentials;
pub mod sigv4;
pub mod xml;

use std::time::SystemTime;

pub use credentials::Keys;
pub use sigv4::Service;

use super::http::{self, Reply, Transport};

/// Why a request got no answer.
#[derive(Clone, Debug)]
pub enum SendError {
    /// It could not be signed (nothing was sent).
    Sign(String),
    /// It got no answer: how, and the transport's words.
    Transport(Transport, String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Sign(text) | SendError::Transport(_, text) => f.write_str(text),
        }
    }
}

/// One request to send: method, full URL (query encoded), headers and body.
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Vec<u8>,
}

/// Signs and sends requests to AWS APIs (one per provider or backend).
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    pub fn new() -> Result<Self, String> {
        Ok(Client {
            http: http::client()?,
        })
    }

    /// Signs `request` with `keys` for `service` in `region` and sends it once.
    pub async fn send(
        &self,
        keys: &Keys,
        service: Service,
        region: &str,
        request: Outgoing<'_>,
    ) -> Result<Reply, SendError> {
        let unsigned = sigv4::Unsigned {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: &request.body,
        };
        let signature = sigv4::sign(keys, service, region, &unsigned, SystemTime::now())
            .map_err(SendError::Sign)?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| SendError::Sign(format!("bad method {}: {e}", request.method)))?;
        let mut builder = self.http.request(method, request.url);
        for (name, value) in request.headers {
            builder = builder.header(*name, *value);
        }
        for (name, value) in &signature {
            builder = builder.header(name, value);
        }
        let transport =
            |e: reqwest::Error| SendError::Transport(Transport::of(&e), http::chain(&e));
        let response = builder.body(request.body).send().await.map_err(transport)?;
        Reply::read(response).await.map_err(transport)
    }
}
