//! A stateful fake of a bearer-token REST cloud on loopback, held honest by the provider's
//! OpenAPI description (`openapi`): every request oss sends is checked against the document
//! (a non-conforming one is refused with 400 and recorded), and every answer the fake gives
//! is checked too (recorded). Tests assert no violation happened.
//!
//! One engine serves several providers: the HTTP/1.1 server, the token check, the spec
//! checks, call counting and failure injection are here; each provider's world (its
//! objects, pagination and error shape) implements [`World`] (`digitalocean`, `linode`,
//! `hetzner`, `vultr`).
//!
//! Written in Rust rather than Python so the tests read the fake's world directly (no second
//! process, no extra interpreter packages), and with the same JSON Schema validator oss links.
//! Threads, std networking, 127.0.0.1 only; stops when dropped.

pub mod digitalocean;
pub mod hetzner;
pub mod linode;
pub mod openapi;
pub mod vultr;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// A request as the world sees it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub op: openapi::Operation,
    pub body: Option<Value>,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// `http://127.0.0.1:PORT`, for links.
    pub base: String,
}

impl Request {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
pub struct Response {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn json(status: u16, body: Value) -> Self {
        Response {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Response {
            status,
            body: None,
            headers: Vec::new(),
        }
    }
}

/// One provider's world.
pub trait World: Send + 'static {
    /// The provider's error body.
    fn error(&self, status: u16, code: &str, message: &str) -> Value;
    /// Carries out one checked request.
    fn handle(&mut self, request: &Request) -> Response;
    /// Headers every answer carries (rate-limit counters).
    fn headers(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Headers of a 429 that asks for a wait of `secs` (`Retry-After`; Hetzner tells the
    /// time its limit recovers in `RateLimit-Reset` instead).
    fn throttled(&self, secs: u32) -> Vec<(String, String)> {
        vec![("retry-after".into(), secs.to_string())]
    }
}

/// A failure to inject into the next calls of one operation.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 asking for a wait of `retry_after` seconds, in the world's headers
    /// ([`World::throttled`]).
    Throttle { retry_after: u32 },
    /// This 5xx status.
    Status(u16),
    /// Hold the call this long, then close without an answer (the client's time-out fires).
    Hang(Duration),
    /// Carry the call out, then close without an answer (a lost answer: the retry must not
    /// do it twice).
    Lose,
}

struct Shared<W> {
    world: Mutex<W>,
    spec: openapi::Spec,
    token: Mutex<String>,
    /// operationId → faults to give, in order.
    faults: Mutex<HashMap<String, Vec<Fault>>>,
    /// (operationId, status) of every call.
    calls: Mutex<Vec<(String, u16)>>,
    violations: Mutex<Vec<String>>,
    /// Answers wait this long (latency of a real API).
    delay: Mutex<Duration>,
    stop: AtomicBool,
}

/// The running fake.
pub struct Fake<W: World> {
    pub port: u16,
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W: World> Fake<W> {
    /// Starts serving `world` on a free loopback port, accepting `token`, refereed by `spec`
    /// (the bundled OpenAPI JSON).
    pub fn start(world: W, spec: &str, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            spec: openapi::Spec::load(spec),
            token: Mutex::new(token.to_string()),
            faults: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            stop: AtomicBool::new(false),
        });
        let accept = shared.clone();
        let thread = std::thread::spawn(move || {
            while !accept.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let shared = accept.clone();
                        std::thread::spawn(move || serve(stream, port, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fake {
            port,
            shared,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn world(&self) -> MutexGuard<'_, W> {
        self.shared.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `count` faults for the operation `op` (`droplets_create`).
    pub fn inject(&self, op: &str, fault: Fault, count: usize) {
        let mut faults = self.shared.faults.lock().unwrap();
        faults
            .entry(op.to_string())
            .or_default()
            .extend(std::iter::repeat_n(fault, count));
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// The calls so far: (operationId, status).
    pub fn calls(&self) -> Vec<(String, u16)> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: &str) -> usize {
        self.calls().iter().filter(|(o, _)| o == op).count()
    }

    pub fn reset_calls(&self) {
        self.shared.calls.lock().unwrap().clear();
    }

    /// Requests or answers that did not conform to the document.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// Panics when anything did not conform.
    pub fn assert_conforming(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "OpenAPI violations:\n{}", v.join("\n"));
    }
}

impl<W: World> Drop for Fake<W> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one connection (HTTP/1.1 keep-alive) until the client closes it.
fn serve<W: World>(stream: TcpStream, port: u16, shared: &Shared<W>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, target) = (method.to_string(), target.to_string());
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = respond(shared, port, &method, &target, &headers, &body);
        let Some(response) = answer else {
            let _ = out.shutdown(Shutdown::Both);
            return;
        };
        let text = response
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            response.status,
            text.len()
        );
        if response.body.is_some() {
            head.push_str("content-type: application/json; charset=utf-8\r\n");
        }
        for (k, v) in &response.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&text).is_err() {
            return;
        }
        if headers
            .get("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn respond<W: World>(
    shared: &Shared<W>,
    port: u16,
    method: &str,
    target: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Option<Response> {
    let delay = *shared.delay.lock().unwrap();
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let violation = |text: String| shared.violations.lock().unwrap().push(text);
    let world_error = |status: u16, code: &str, message: &str| {
        let world = shared.world.lock().unwrap_or_else(|p| p.into_inner());
        let mut r = Response::json(status, world.error(status, code, message));
        r.headers = world.headers();
        r
    };
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => Some(v),
            Err(e) => {
                violation(format!("{method} {path}: body is not JSON: {e}"));
                return Some(world_error(400, "bad_request", "The body is not JSON."));
            }
        }
    };
    let record = |op: &str, status: u16| {
        shared.calls.lock().unwrap().push((op.to_string(), status));
    };
    // The security scheme: a bearer token.
    let token = shared.token.lock().unwrap().clone();
    let authorized = headers
        .get("authorization")
        .is_some_and(|a| a.strip_prefix("Bearer ") == Some(token.as_str()));
    let op = match shared
        .spec
        .check_request(method, path, &query, headers, body.as_ref())
    {
        Ok(op) => op,
        Err(problem) => {
            violation(problem.clone());
            record("?", 400);
            return Some(world_error(400, "bad_request", &problem));
        }
    };
    let fault = {
        let mut faults = shared.faults.lock().unwrap();
        faults
            .get_mut(&op.id)
            .and_then(|queue| (!queue.is_empty()).then(|| queue.remove(0)))
    };
    let response = match fault {
        _ if !authorized => world_error(401, "unauthorized", "Unable to authenticate you"),
        Some(Fault::Hang(wait)) => {
            record(&op.id, 0);
            std::thread::sleep(wait);
            return None;
        }
        Some(Fault::Throttle { retry_after }) => {
            let mut r = world_error(429, "too_many_requests", "API Rate limit exceeded.");
            let world = shared.world.lock().unwrap_or_else(|p| p.into_inner());
            let throttled = world.throttled(retry_after);
            // The throttle's own headers win over the counters every answer carries.
            r.headers
                .retain(|(k, _)| !throttled.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)));
            r.headers.extend(throttled);
            r
        }
        Some(Fault::Status(status)) => world_error(
            status,
            "server_error",
            "Server was unable to give you a response.",
        ),
        Some(Fault::Lose) | None => {
            let request = Request {
                method: method.to_string(),
                path: path.to_string(),
                query,
                op: op.clone(),
                body,
                headers: headers.clone(),
                base: format!("http://127.0.0.1:{port}"),
            };
            let mut world = shared.world.lock().unwrap_or_else(|p| p.into_inner());
            let mut r = world.handle(&request);
            r.headers.extend(world.headers());
            if matches!(fault, Some(Fault::Lose)) {
                record(&op.id, 0);
                return None;
            }
            r
        }
    };
    record(&op.id, response.status);
    if let Err(problem) =
        shared
            .spec
            .check_response(method, path, response.status, response.body.as_ref())
    {
        violation(problem);
    }
    Some(response)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
