//! A small fault-injecting HTTP proxy in front of moto, on loopback only.
//!
//! It forwards each request byte for byte (so SigV4 signatures stay valid) and counts calls
//! per EC2 `Action`. It can refuse `RunInstances` in chosen zones with the EC2 error
//! `InsufficientInstanceCapacity`, and answer a fraction of calls with 503/429: half of those
//! before moto sees the call, half after moto carried it out (a lost answer), which is what
//! makes retries dangerous. Faults are drawn from a fixed seed, so runs repeat.
//!
//! Route53's REST calls are counted by their API names (`ChangeResourceRecordSets`,
//! `GetChange`...). The proxy can show changes as real Route53 does and moto does not: PENDING
//! for a number of GetChange polls before INSYNC, and a change batch touching a chosen name
//! refused with `InvalidChangeBatch` in Route53's error XML.
//!
//! It can also hold every call of one action (counted, not forwarded) until released, so a
//! test can kill the caller while that call is in flight, everything before it done.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Default)]
struct Rules {
    /// Zones whose RunInstances is refused for capacity.
    full_zones: Vec<String>,
    /// Fraction of calls answered with 503/429.
    fault_rate: f64,
    /// Never inject into these actions (the ones a test wants to count cleanly).
    spared: Vec<String>,
    rng: u64,
    /// Faults in a row per action: transient faults end, so at most `MAX_IN_A_ROW`.
    in_a_row: HashMap<String, u32>,
    /// Route53: GetChange polls answered PENDING per change before moto's INSYNC.
    pending_polls: u32,
    /// Route53: polls answered PENDING so far, per change id.
    polled: HashMap<String, u32>,
    /// Route53: a change batch naming this record is refused with InvalidChangeBatch.
    invalid_name: Option<String>,
    /// Calls of this action wait, unanswered, until it is released.
    held: Option<String>,
}

/// The longest a held call waits (then it goes through), so no test hangs on a hold.
const HOLD_MAX: Duration = Duration::from_secs(120);

/// The most calls of one action answered with a fault in a row (the driver retries reads six
/// times and the executor retries launches five times).
const MAX_IN_A_ROW: u32 = 3;

impl Rules {
    /// xorshift64*: a uniform draw in [0, 1).
    /// splitmix64 over a counter: a uniform draw in [0, 1).
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Rules>,
    /// Calls seen per action (including the ones answered with a fault).
    calls: Mutex<HashMap<String, usize>>,
    /// Faults injected per action.
    faults: Mutex<HashMap<String, usize>>,
    /// Calls moto itself failed (an answer that is not 2xx, or none), per action.
    upstream_errors: Mutex<HashMap<String, usize>>,
    stop: AtomicBool,
}

/// The proxy; stops its listener when dropped.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        shared.rules.lock().unwrap().rng = 7;
        let for_thread = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if for_thread.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = for_thread.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream, &shared);
                });
            }
        });
        FaultProxy {
            port,
            shared,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Refuse RunInstances in these zones with InsufficientInstanceCapacity.
    pub fn refuse_capacity_in(&self, zones: &[&str]) {
        self.shared.rules.lock().unwrap().full_zones =
            zones.iter().map(|z| z.to_string()).collect();
    }

    /// Answer `rate` of the calls (except `spared` actions) with 503 or 429.
    pub fn inject_faults(&self, rate: f64, spared: &[&str]) {
        let mut rules = self.shared.rules.lock().unwrap();
        rules.fault_rate = rate;
        rules.spared = spared.iter().map(|a| a.to_string()).collect();
    }

    /// Route53: every change stays PENDING for `polls` GetChange calls.
    pub fn pending_changes(&self, polls: u32) {
        self.shared.rules.lock().unwrap().pending_polls = polls;
    }

    /// Route53: refuse any change batch that touches record `name` (`None`: refuse none).
    pub fn refuse_change_of(&self, name: Option<&str>) {
        self.shared.rules.lock().unwrap().invalid_name = name.map(str::to_string);
    }

    /// Hold every call of `action` (`None`: release) until released.
    pub fn hold(&self, action: Option<&str>) {
        self.shared.rules.lock().unwrap().held = action.map(str::to_string);
    }

    /// Calls of `action` so far.
    pub fn calls(&self, action: &str) -> usize {
        self.shared
            .calls
            .lock()
            .unwrap()
            .get(action)
            .copied()
            .unwrap_or(0)
    }

    /// Calls of `action` that moto answered with success: what a retry after moto's own
    /// failure (it answers 500 now and then under concurrent requests) does not add to.
    pub fn answered(&self, action: &str) -> usize {
        let errors = self.shared.upstream_errors.lock().unwrap();
        self.calls(action) - errors.get(action).copied().unwrap_or(0)
    }

    /// All calls so far.
    pub fn total_calls(&self) -> usize {
        self.shared.calls.lock().unwrap().values().sum()
    }

    /// Faults injected so far.
    pub fn total_faults(&self) -> usize {
        self.shared.faults.lock().unwrap().values().sum()
    }

    /// Forget the counts.
    pub fn reset_counts(&self) {
        self.shared.calls.lock().unwrap().clear();
        self.shared.faults.lock().unwrap().clear();
        self.shared.upstream_errors.lock().unwrap().clear();
    }

    /// Calls per action, for messages.
    pub fn summary(&self) -> String {
        let calls = self.shared.calls.lock().unwrap();
        let mut list: Vec<String> = calls.iter().map(|(a, n)| format!("{a}={n}")).collect();
        list.sort();
        let errors = self.shared.upstream_errors.lock().unwrap();
        let mut failed: Vec<String> = errors.iter().map(|(a, n)| format!("{a}={n}")).collect();
        failed.sort();
        match failed.is_empty() {
            true => list.join(" "),
            false => format!("{} (moto failed: {})", list.join(" "), failed.join(" ")),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one HTTP message (head and Content-Length body) from `stream`.
fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut head_end = None;
    loop {
        if head_end.is_none()
            && let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n")
        {
            head_end = Some(i + 4);
        }
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            match length {
                Some(length) if data.len() >= end + length => return Ok(data),
                Some(_) => {}
                // No length: read until the other side closes (responses only).
                None if head.starts_with("http/") => {}
                None => return Ok(data),
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(data);
        }
        data.extend_from_slice(&buf[..n]);
    }
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.replace("%2D", "-").replace('+', " "))
    })
}

fn ec2_error(status: u16, reason: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The Route53 API name of a REST request (`None`: not a Route53 call).
fn route53_action(request_line: &str) -> Option<&'static str> {
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next()?, parts.next()?);
    let path = path.split('?').next()?.strip_prefix("/2013-04-01/")?;
    Some(match (method, path) {
        ("GET", p) if p.starts_with("change/") => "GetChange",
        ("POST", p) if p.trim_end_matches('/').ends_with("/rrset") => "ChangeResourceRecordSets",
        ("GET", p) if p.trim_end_matches('/').ends_with("/rrset") => "ListResourceRecordSets",
        ("GET", "hostedzonesbyname") => "ListHostedZonesByName",
        ("GET", p) if p.starts_with("hostedzone/") => "GetHostedZone",
        _ => "Route53",
    })
}

fn http_answer(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// moto's answer to a change with its status shown as PENDING (moto is always INSYNC).
fn as_pending(answer: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200") {
        return answer.to_vec();
    }
    http_answer(200, "OK", &body.replace("INSYNC", "PENDING"))
}

/// A Route53 call the rules answer themselves, or whose answer they change.
fn route53_plan(
    action: &str,
    path: &str,
    body: &str,
    rules: &mut Rules,
) -> Option<(bool, Vec<u8>)> {
    match action {
        "ChangeResourceRecordSets" => {
            if let Some(name) = &rules.invalid_name
                && body.contains(&format!("<Name>{name}</Name>"))
            {
                let xml = format!(
                    "<?xml version=\"1.0\"?>\n<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Messages><Message>RRSet of type A with DNS name {name} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone</Message></Messages><RequestId>fault-proxy</RequestId></InvalidChangeBatch>"
                );
                return Some((false, http_answer(400, "Bad Request", &xml)));
            }
            (rules.pending_polls > 0).then(|| (true, Vec::new()))
        }
        "GetChange" => {
            let id = path.rsplit('/').next().unwrap_or("").to_string();
            let polled = rules.polled.entry(id.clone()).or_default();
            if *polled < rules.pending_polls {
                *polled += 1;
                let xml = format!(
                    "<?xml version=\"1.0\"?>\n<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeInfo><Id>/change/{id}</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
                );
                return Some((false, http_answer(200, "OK", &xml)));
            }
            None
        }
        _ => None,
    }
}

fn serve(mut client: TcpStream, upstream: u16, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_message(&mut client)?;
    if request.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&request);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let request_line = text.lines().next().unwrap_or("");
    let route53 = route53_action(request_line);
    let action = route53
        .map(str::to_string)
        .or_else(|| form_value(body, "Action"))
        .unwrap_or_default();
    let zone = form_value(body, "Placement.AvailabilityZone");
    *shared
        .calls
        .lock()
        .unwrap()
        .entry(action.clone())
        .or_default() += 1;
    let until = std::time::Instant::now() + HOLD_MAX;
    while shared.rules.lock().unwrap().held.as_deref() == Some(action.as_str())
        && !shared.stop.load(Ordering::SeqCst)
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    if route53.is_some() {
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let path = path.split('?').next().unwrap_or("");
        let planned = route53_plan(&action, path, body, &mut shared.rules.lock().unwrap());
        let answer = match planned {
            Some((false, answer)) => answer,
            Some((true, _)) => {
                let answer = forward(&request, upstream)?;
                // moto may hand out one change id again: each change starts its polls anew.
                let text = String::from_utf8_lossy(&answer);
                if let Some(id) = text
                    .split("<Id>/change/")
                    .nth(1)
                    .and_then(|rest| rest.split('<').next())
                {
                    shared
                        .rules
                        .lock()
                        .unwrap()
                        .polled
                        .insert(id.to_string(), 0);
                }
                as_pending(&answer)
            }
            None => forward(&request, upstream)?,
        };
        client.write_all(&answer)?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }

    enum Plan {
        Forward,
        Refuse(Vec<u8>),
        ForwardThenFail(Vec<u8>),
    }
    let plan = {
        let mut rules = shared.rules.lock().unwrap();
        let full =
            action == "RunInstances" && zone.as_ref().is_some_and(|z| rules.full_zones.contains(z));
        if full {
            Plan::Refuse(ec2_error(
                500,
                "Internal Server Error",
                "InsufficientInstanceCapacity",
                &format!(
                    "We currently do not have sufficient capacity in the Availability Zone you requested ({}).",
                    zone.clone().unwrap_or_default()
                ),
            ))
        } else if !rules.spared.contains(&action)
            && rules.in_a_row.get(&action).copied().unwrap_or(0) < MAX_IN_A_ROW
            && rules.draw() < rules.fault_rate
        {
            *rules.in_a_row.entry(action.clone()).or_default() += 1;
            let answer = if rules.draw() < 0.5 {
                ec2_error(
                    503,
                    "Service Unavailable",
                    "Unavailable",
                    "The service is unavailable. Please try again shortly.",
                )
            } else {
                ec2_error(
                    429,
                    "Too Many Requests",
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                )
            };
            if rules.draw() < 0.5 {
                Plan::Refuse(answer)
            } else {
                Plan::ForwardThenFail(answer)
            }
        } else {
            rules.in_a_row.remove(&action);
            Plan::Forward
        }
    };
    let answer = match plan {
        Plan::Refuse(answer) => {
            *shared.faults.lock().unwrap().entry(action).or_default() += 1;
            answer
        }
        Plan::ForwardThenFail(answer) => {
            forward(&request, upstream)?;
            *shared.faults.lock().unwrap().entry(action).or_default() += 1;
            answer
        }
        Plan::Forward => {
            let answer = forward(&request, upstream);
            let ok = answer
                .as_ref()
                .is_ok_and(|a| a.starts_with(b"HTTP/1.1 2") || a.starts_with(b"HTTP/1.0 2"));
            if !ok {
                *shared
                    .upstream_errors
                    .lock()
                    .unwrap()
                    .entry(action)
                    .or_default() += 1;
            }
            answer?
        }
    };
    client.write_all(&answer)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Sends the request unchanged to moto and returns its whole answer.
fn forward(request: &[u8], upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.set_read_timeout(Some(Duration::from_secs(60)))?;
    server.write_all(request)?;
    read_message(&mut server)
}
