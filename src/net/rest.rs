//! The one bearer-token REST/JSON client the plain-server clouds share (DigitalOcean, Hetzner
//! Cloud...): `Authorization: Bearer` on every call, JSON in and out, every page of a list
//! (a next link, a next page number, a page of a count or a cursor, a guard against endless
//! ones), the providers' rate-limit headers (`Retry-After`, `RateLimit-Reset`), and retries of
//! repeatable calls on the shared backoff (`crate::backoff`).
//!
//! Which answers mean retry, fail over or stop is each provider's to say ([`Classify`]); this
//! client only gathers what the answer said. The token never leaves this value: not in
//! messages, not in `Debug`, and it is sent only to the configured origin (a next link that
//! points elsewhere is refused).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::http::{self, Reply, Transport};
use super::pace::Pace;
use crate::backoff::Policy;
use crate::driver::ErrorClass;

/// Retries of one repeatable call (the executor retries whole steps on top); the longest wait
/// obeyed here is 20 s, longer ones are the executor's business.
pub const RETRIES: Policy = Policy::new(Duration::from_millis(200), Duration::from_secs(3), 5)
    .with_retry_after_max(Duration::from_secs(20));
/// A guard against an API that hands out next pages forever.
pub const MAX_PAGES: usize = 10_000;

/// An HTTP method this client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Whether a call may be sent again after a retryable failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, deletes, updates: retried here with backoff.
    Safe,
    /// Creates, whose repetition could duplicate: one attempt; the caller decides.
    Once,
}

/// How a provider's lists say where the next page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// A full URL at this JSON pointer (DigitalOcean: `/links/pages/next`).
    NextLink(&'static str),
    /// A page number at this JSON pointer, sent back as `page` (Hetzner:
    /// `/meta/pagination/next_page`).
    NextPage(&'static str),
    /// The page number and the page count at these JSON pointers; the next page is sent as
    /// `page` while pages remain (Linode: `/page` of `/pages`).
    PageOf(&'static str, &'static str),
    /// An opaque cursor at this JSON pointer, sent back as `cursor`; none or an empty one:
    /// the last page (Vultr: `/meta/links/next`).
    Cursor(&'static str),
}

/// What went wrong with one call, as the answer (or its absence) said.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The provider's error code from its error body (`unprocessable_entity`), when given.
    pub code: Option<String>,
    /// The provider's message, or what happened on the wire. Never holds the token.
    pub message: String,
    /// The wait the provider asked for (`Retry-After`, else `RateLimit-Reset` on a 429).
    pub retry_after: Option<Duration>,
    /// How the exchange failed when there was no answer.
    pub transport: Option<Transport>,
}

/// A provider's sorting of failures into retry, fail over and fatal, and where its error
/// bodies keep code and message.
pub trait Classify: Send + Sync {
    /// The code and message of an error body (`{"id", "message"}`, `{"error": {"code",
    /// "message"}}`...).
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>);

    /// What to do about `failure`. The default: no answer in time, 429 and 5xx are worth
    /// another try, an unreachable API is another provider's turn, the rest is fatal.
    fn classify(&self, failure: &Failure) -> ErrorClass {
        match (failure.status, failure.transport) {
            (_, Some(Transport::Unreachable)) => ErrorClass::FailOver,
            (_, Some(_)) => ErrorClass::Retry,
            (Some(429), _) => ErrorClass::Retry,
            (Some(status), _) if status >= 500 => ErrorClass::Retry,
            _ => ErrorClass::Fatal,
        }
    }
}

/// A classified failure of one call.
#[derive(Clone, Debug)]
pub struct Error {
    pub class: ErrorClass,
    pub failure: Failure,
    /// `METHOD /path` of the call, for messages (no query, no host).
    pub call: String,
}

/// A bearer token: shown as `<redacted>`, compared and sent, never printed.
#[derive(Clone)]
pub struct Token(crate::secret::Secret);

impl Token {
    pub fn new(token: crate::secret::Secret) -> Self {
        Token(token)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// One provider's API: base URL, token, classifier, paging.
pub struct Client {
    http: reqwest::Client,
    /// `https://api.digitalocean.com`, no trailing slash.
    base: String,
    token: Token,
    classify: Box<dyn Classify>,
    paging: Paging,
    /// The query parameter a list's page size goes in (`per_page`; Linode: `page_size`).
    page_size: &'static str,
    /// Per-request time-out (the shared client's 30 s unless the provider's settings say).
    timeout: Duration,
    policy: Policy,
    /// This provider's own pacing of its calls (`super::pace`).
    pace: Pace,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("paging", &self.paging)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// This provider's calls so far (see `super::calls`).
    pub fn counts(&self) -> super::calls::CallCounts {
        self.pace.counts()
    }

    pub fn new(
        base: &str,
        token: Token,
        classify: Box<dyn Classify>,
        paging: Paging,
    ) -> Result<Self, String> {
        Ok(Client {
            http: http::client()?,
            base: base.trim_end_matches('/').to_string(),
            token,
            classify,
            paging,
            page_size: "per_page",
            timeout: http::REQUEST_TIMEOUT,
            policy: RETRIES,
            pace: Pace::new(),
        })
    }

    /// The same client with another per-request time-out.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client sending a list's page size as `name` instead of `per_page`.
    pub fn with_page_size(mut self, name: &'static str) -> Self {
        self.page_size = name;
        self
    }

    /// The same client with another retry policy for repeatable calls.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Calls `method path?query` with `body`, retrying [`Repeat::Safe`] calls on the shared
    /// backoff. Returns the answer's JSON (`Null` for an empty body, a 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value, Error> {
        let url = format!("{}{path}", self.base);
        self.call_url(method, &url, query, &[], body, repeat)
            .await
            .map(|(value, _)| value)
    }

    /// Every item of a list: the array at `items` of each page, one call per page
    /// (`per_page` items each), following the provider's paging.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        per_page: u32,
        items: &str,
    ) -> Result<Vec<Value>, Error> {
        self.list_with(path, query, &[], per_page, items).await
    }

    /// Like [`Client::list`], sending `headers` with every page (Linode's `X-Filter`).
    pub async fn list_with(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        per_page: u32,
        items: &str,
    ) -> Result<Vec<Value>, Error> {
        let mut all = Vec::new();
        let mut query: Vec<(&str, String)> = query.to_vec();
        query.push((self.page_size, per_page.to_string()));
        let mut url = format!("{}{path}", self.base);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let (page, _) = self
                .call_url(Method::Get, &url, &query, headers, None, Repeat::Safe)
                .await?;
            if let Some(found) = page.get(items).and_then(Value::as_array) {
                all.extend(found.iter().cloned());
            }
            match self.paging {
                Paging::NextLink(pointer) => {
                    let Some(next) = page.pointer(pointer).and_then(Value::as_str) else {
                        return Ok(all);
                    };
                    if !self.same_origin(next) {
                        return Err(self.malformed(
                            Method::Get,
                            path,
                            "a next-page link pointed away from the API",
                        ));
                    }
                    if !seen.insert(next.to_string()) {
                        return Ok(all);
                    }
                    // The link carries every parameter.
                    url = next.to_string();
                    query.clear();
                }
                Paging::NextPage(pointer) => {
                    let Some(next) = page.pointer(pointer).and_then(Value::as_u64) else {
                        return Ok(all);
                    };
                    if !seen.insert(next.to_string()) {
                        return Ok(all);
                    }
                    query.retain(|(k, _)| *k != "page");
                    query.push(("page", next.to_string()));
                }
                Paging::Cursor(pointer) => {
                    let Some(next) = page
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                    else {
                        return Ok(all);
                    };
                    if !seen.insert(next.to_string()) {
                        return Ok(all);
                    }
                    query.retain(|(k, _)| *k != "cursor");
                    query.push(("cursor", next.to_string()));
                }
                Paging::PageOf(at, count) => {
                    let number = |p: &str| page.pointer(p).and_then(Value::as_u64);
                    let (Some(at), Some(last)) = (number(at), number(count)) else {
                        return Ok(all);
                    };
                    if at >= last || !seen.insert(at.to_string()) {
                        return Ok(all);
                    }
                    query.retain(|(k, _)| *k != "page");
                    query.push(("page", (at + 1).to_string()));
                }
            }
        }
        Ok(all)
    }

    fn same_origin(&self, url: &str) -> bool {
        url.strip_prefix(&self.base)
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
    }

    fn malformed(&self, method: Method, path: &str, what: &str) -> Error {
        Error {
            class: ErrorClass::Fatal,
            failure: Failure {
                status: None,
                code: Some("MalformedResponse".into()),
                message: format!("The API at {} answered {what}.", self.base),
                retry_after: None,
                transport: None,
            },
            call: format!("{} {path}", method.as_str()),
        }
    }

    async fn call_url(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<(Value, u16), Error> {
        let policy = match repeat {
            Repeat::Safe => self.policy,
            Repeat::Once => self.policy.with_retries(Some(0)),
        };
        let path = url
            .strip_prefix(&self.base)
            .unwrap_or(url)
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let call = format!("{} {path}", method.as_str());
        let mut backoff = policy.start();
        loop {
            let permit = self.pace.ready().await;
            let sent = self.send(method, url, query, headers, body).await;
            // An answer paces the next calls (a 429 slows them down); no answer says nothing.
            if let Ok(reply) = &sent {
                self.pace.answered(permit, reply.status == 429);
            }
            let failure = match sent {
                Ok(reply) if reply.ok() => {
                    if reply.body.iter().all(u8::is_ascii_whitespace) {
                        return Ok((Value::Null, reply.status));
                    }
                    return serde_json::from_slice(&reply.body)
                        .map(|v| (v, reply.status))
                        .map_err(|_| {
                            self.malformed(method, &path, "with a body that is not JSON")
                        });
                }
                Ok(reply) => self.failure_of(&reply),
                Err(failure) => failure,
            };
            let class = self.classify.classify(&failure);
            self.pace.failed(class);
            let error = Error {
                class,
                failure,
                call: call.clone(),
            };
            if class != ErrorClass::Retry || !backoff.wait(error.failure.retry_after).await {
                return Err(error);
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, Failure> {
        let url = if query.is_empty() {
            url.to_string()
        } else {
            let joiner = if url.contains('?') { '&' } else { '?' };
            let pairs = super::encode::query(query.iter().map(|(k, v)| (*k, v.as_str())));
            format!("{url}{joiner}{pairs}")
        };
        let mut request = self
            .http
            .request(method.reqwest(), &url)
            .timeout(self.timeout)
            .bearer_auth(self.token.0.expose())
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        let transport = |e: reqwest::Error| {
            // reqwest's messages name the URL (never the token, which is a header).
            Failure {
                status: None,
                code: Some(
                    match Transport::of(&e) {
                        Transport::Unreachable => "Unreachable",
                        Transport::Timeout => "Timeout",
                        Transport::Broken => "Transport",
                    }
                    .into(),
                ),
                message: http::chain(&e),
                retry_after: None,
                transport: Some(Transport::of(&e)),
            }
        };
        let response = request.send().await.map_err(transport)?;
        Reply::read(response).await.map_err(transport)
    }

    fn failure_of(&self, reply: &Reply) -> Failure {
        let (code, message) = serde_json::from_slice::<Value>(&reply.body)
            .map(|body| self.classify.error_fields(&body))
            .unwrap_or_default();
        let message = message.unwrap_or_else(|| {
            let text = reply.text();
            let snippet = crate::echo::cap(text.trim(), 200);
            if snippet.is_empty() {
                format!("HTTP {} with no message", reply.status)
            } else {
                format!("HTTP {}: {snippet}", reply.status)
            }
        });
        Failure {
            status: Some(reply.status),
            code,
            message,
            retry_after: retry_after(reply, SystemTime::now()),
            transport: None,
        }
    }
}

/// The wait a failed answer asks for: `Retry-After` in seconds, else on a 429 the time left
/// until `RateLimit-Reset` (a Unix time, as DigitalOcean and Hetzner send it).
pub fn retry_after(reply: &Reply, now: SystemTime) -> Option<Duration> {
    reply.retry_after().or_else(|| {
        if reply.status != 429 {
            return None;
        }
        let reset: u64 = reply.header("ratelimit-reset")?.trim().parse().ok()?;
        let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(Duration::from_secs(reset.saturating_sub(now).min(3600)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&'static str, &str)]) -> Reply {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Reply {
            status,
            headers: map,
            body: Vec::new(),
        }
    }

    #[test]
    fn rate_limit_waits_come_from_retry_after_then_the_reset_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            retry_after(&reply(429, &[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(
                &reply(
                    429,
                    &[("ratelimit-reset", "1004"), ("ratelimit-remaining", "0")]
                ),
                now
            ),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            retry_after(&reply(429, &[("ratelimit-reset", "900")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(&reply(500, &[("ratelimit-reset", "1004")]), now),
            None
        );
    }

    struct Plain;
    impl Classify for Plain {
        fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
            (
                body["id"].as_str().map(String::from),
                body["message"].as_str().map(String::from),
            )
        }
    }

    fn failure(status: Option<u16>, transport: Option<Transport>) -> Failure {
        Failure {
            status,
            code: None,
            message: String::new(),
            retry_after: None,
            transport,
        }
    }

    #[test]
    fn the_default_classes() {
        let c = Plain;
        assert_eq!(c.classify(&failure(Some(429), None)), ErrorClass::Retry);
        assert_eq!(c.classify(&failure(Some(503), None)), ErrorClass::Retry);
        assert_eq!(c.classify(&failure(Some(401), None)), ErrorClass::Fatal);
        assert_eq!(c.classify(&failure(Some(422), None)), ErrorClass::Fatal);
        assert_eq!(
            c.classify(&failure(None, Some(Transport::Unreachable))),
            ErrorClass::FailOver
        );
        assert_eq!(
            c.classify(&failure(None, Some(Transport::Timeout))),
            ErrorClass::Retry
        );
    }

    #[test]
    fn the_token_is_never_in_debug_output_and_links_stay_at_the_origin() {
        let client = Client::new(
            "http://127.0.0.1:9/",
            Token::new(crate::secret::Secret::new("dop_v1_secret")),
            Box::new(Plain),
            Paging::NextLink("/links/pages/next"),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("dop_v1_secret"));
        assert!(!format!("{:?}", client.token).contains("dop_v1_secret"));
        assert!(client.same_origin("http://127.0.0.1:9/v2/droplets?page=2"));
        assert!(!client.same_origin("http://127.0.0.1:99/v2/droplets?page=2"));
        assert!(!client.same_origin("http://127.0.0.1:9.evil.example/v2"));
    }

    #[tokio::test]
    async fn an_unreachable_api_fails_over_without_retrying() {
        let client = Client::new(
            "http://127.0.0.1:9",
            Token::new(crate::secret::Secret::new("t")),
            Box::new(Plain),
            Paging::NextLink("/links/pages/next"),
        )
        .unwrap();
        let e = client
            .call(Method::Get, "/v2/account", &[], None, Repeat::Safe)
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::FailOver);
        assert_eq!(e.failure.code.as_deref(), Some("Unreachable"));
        assert_eq!(e.call, "GET /v2/account");
    }
}
