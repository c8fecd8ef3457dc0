//! One probe of one node: a TCP connection, or an HTTP/1.1 `GET` whose status line is read
//! (nothing pooled, so every probe reaches the node), all within the check's timeout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Check, Protocol};

/// What one probe saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub up: bool,
    /// From the start of the connect to the verdict.
    pub latency: Duration,
    /// Why it is down, in a few words (`connection refused`, `status 503, expected 200`);
    /// empty when up.
    pub detail: String,
}

/// Probes `host:port` as `check` says. Never takes longer than the check's timeout (plus
/// scheduling), whatever the node does.
pub async fn probe(host: &str, port: u16, check: &Check) -> Outcome {
    let started = Instant::now();
    let verdict = tokio::time::timeout(check.timeout, attempt(host, port, &check.protocol)).await;
    let latency = started.elapsed();
    let (up, detail) = match verdict {
        Ok(Ok(())) => (true, String::new()),
        Ok(Err(detail)) => (false, detail),
        Err(_) => (
            false,
            format!("no answer within {}", crate::duration::show(check.timeout)),
        ),
    };
    Outcome {
        up,
        latency,
        detail,
    }
}

async fn attempt(host: &str, port: u16, protocol: &Protocol) -> Result<(), String> {
    let mut stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => format!("cannot connect: {e}"),
        })?;
    let Protocol::Http { path, status } = protocol else {
        return Ok(());
    };
    let authority = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: oss-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // The status line is all a probe needs; read at most 1 KiB for it.
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split(' ');
    let got = match (words.next(), words.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    };
    match got {
        Some(got) if got == *status => Ok(()),
        Some(got) => Err(format!("status {got}, expected {status}")),
        None if head.is_empty() => Err("closed without an answer".into()),
        None => Err("not an HTTP answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::RawCheck;
    use tokio::net::TcpListener;

    fn check(json: &str) -> Check {
        serde_json::from_str::<RawCheck>(json)
            .unwrap()
            .check()
            .unwrap()
    }

    /// A server answering every connection with `answer` (or saying nothing when empty).
    async fn server(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf).await;
                    if answer.is_empty() {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        port
    }

    async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn tcp_checks_see_a_listener_and_a_refusal() {
        let tcp = check("{}");
        let port = server("").await;
        assert!(probe("127.0.0.1", port, &tcp).await.up);
        let down = probe("127.0.0.1", closed_port().await, &tcp).await;
        assert!(!down.up);
        assert_eq!(down.detail, "connection refused");
    }

    #[tokio::test]
    async fn http_checks_compare_the_status() {
        let http = check(r#"{"type": "http", "path": "/healthz", "timeout": "300ms"}"#);
        let ok = server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        assert!(probe("127.0.0.1", ok, &http).await.up);
        let failing = server("HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
        let outcome = probe("127.0.0.1", failing, &http).await;
        assert_eq!(outcome.detail, "status 503, expected 200");
        let garbage = server("SSH-2.0-OpenSSH\r\n").await;
        assert_eq!(
            probe("127.0.0.1", garbage, &http).await.detail,
            "not an HTTP answer"
        );
        let silent = server("").await;
        let outcome = probe("127.0.0.1", silent, &http).await;
        assert!(!outcome.up);
        assert_eq!(outcome.detail, "no answer within 300ms");
        assert!(outcome.latency < Duration::from_secs(2), "{outcome:?}");
    }
}
