//! The one HTTP client setup (reqwest over rustls with ring, connect and request time-outs,
//! oss's user agent), the answer every client reads ([`Reply`]), and the sorting of transport
//! failures the callers classify from.
//!
//! No retries here: callers decide what is worth another try and ask `crate::backoff` when.

use std::time::Duration;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client for cloud and state APIs: connect and request time-outs, oss's user agent,
/// TLS through rustls with ring. One per provider or backend.
pub fn client() -> Result<reqwest::Client, String> {
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

/// An answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads a whole response.
    pub async fn read(response: reqwest::Response) -> Result<Reply, reqwest::Error> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// A 2xx answer.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A 5xx or 429 answer: the server's trouble or its rate limit, worth another try.
    pub fn is_transient(&self) -> bool {
        self.status >= 500 || self.status == 429
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ETag without its quotes.
    pub fn etag(&self) -> Option<String> {
        self.header("etag").map(|e| e.trim_matches('"').to_string())
    }

    /// The wait the server asked for (`Retry-After` in seconds).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(crate::backoff::parse_retry_after)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// How a request failed without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Nothing was sent: connection refused, name not resolved, TLS handshake failed.
    Unreachable,
    /// Sent, but no answer in time (the request may or may not have had its effect).
    Timeout,
    /// The exchange broke after the request went out.
    Broken,
}

impl Transport {
    pub fn of(error: &reqwest::Error) -> Transport {
        if error.is_connect() {
            Transport::Unreachable
        } else if error.is_timeout() {
            Transport::Timeout
        } else {
            Transport::Broken
        }
    }
}

/// An error with its causes, innermost last, repeated parts dropped.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    parts.extend(crate::echo::causes(error));
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn a_chain_lists_causes_once() {
        let error = Layer(
            "error sending request: connection refused",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        assert_eq!(
            chain(&error),
            "error sending request: connection refused: os error 111"
        );
    }

    #[test]
    fn a_reply_reads_retry_after_and_transience() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        let reply = Reply {
            status: 503,
            headers,
            body: Vec::new(),
        };
        assert!(reply.is_transient() && !reply.ok());
        assert_eq!(reply.retry_after(), Some(Duration::from_secs(2)));
        let reply = Reply {
            status: 404,
            headers: Default::default(),
            body: Vec::new(),
        };
        assert!(!reply.is_transient());
        assert_eq!(reply.retry_after(), None);
    }
}
