//! An HAProxy configuration from a balancer's [`Spec`]: master-worker, a stats socket that
//! hands its listening sockets to the next worker on reload (`expose-fd listeners`), one
//! frontend and backend per listener bound on loopback, round-robin over the members, with
//! the check as `option httpchk`/`http-check expect status` (or a TCP connect) and `inter`,
//! `rise`, `fall`. A connection a member refuses is sent to another (`option redispatch`,
//! `retry-on`), so a member stopping between checks loses no request. The configuration's
//! digest is its `description`, how a reload is seen to have taken it. Pure.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::health::Protocol;
use crate::lb::Spec;

/// The stats socket's file name in the balancer's directory.
pub const STATS_SOCKET: &str = "stats.sock";

/// The configuration text and its generation (the digest `show info` reports back).
pub fn render(spec: &Spec, dir: &Path, address: Ipv4Addr) -> (String, String) {
    let health = &spec.health;
    let http = match &health.protocol {
        Protocol::Http { path, status } => Some((path.as_str(), *status)),
        Protocol::Tcp => None,
    };
    let mode = if http.is_some() { "http" } else { "tcp" };
    let mut body = String::new();
    let _ = writeln!(body, "defaults");
    let _ = writeln!(body, "    mode {mode}");
    let _ = writeln!(body, "    timeout connect 2s");
    let _ = writeln!(body, "    timeout client 30s");
    let _ = writeln!(body, "    timeout server 30s");
    let _ = writeln!(body, "    timeout check {}ms", millis(health.timeout));
    let _ = writeln!(body, "    retries 3");
    let _ = writeln!(body, "    option redispatch 1");
    if http.is_some() {
        let _ = writeln!(body, "    retry-on all-retryable-errors");
        let _ = writeln!(body, "    option http-server-close");
    }
    for listener in &spec.listeners {
        let section = format!("{}-{}", spec.name, listener.port);
        let _ = writeln!(body);
        let _ = writeln!(body, "frontend {section}");
        let _ = writeln!(body, "    bind {address}:{}", listener.port);
        let _ = writeln!(body, "    default_backend {section}");
        let _ = writeln!(body);
        let _ = writeln!(body, "backend {section}");
        let _ = writeln!(body, "    balance roundrobin");
        if let Some((path, status)) = http {
            let _ = writeln!(body, "    option httpchk GET {path}");
            let _ = writeln!(body, "    http-check expect status {status}");
        }
        let port = health.port.unwrap_or(listener.target_port);
        for member in &spec.members {
            let _ = writeln!(
                body,
                "    server {} {}:{} check port {port} inter {}ms rise {} fall {}",
                member.name,
                member.address,
                listener.target_port,
                millis(health.interval),
                health.healthy_threshold.max(1),
                health.unhealthy_threshold.max(1),
            );
        }
    }
    let generation = crate::digest::sha256_hex(body.as_bytes())[..16].to_string();
    let stats = dir.join(STATS_SOCKET);
    let mut text = String::new();
    let _ = writeln!(text, "# Written by oss for load balancer {}.", spec.name);
    let _ = writeln!(text, "global");
    let _ = writeln!(text, "    description oss-{generation}");
    let _ = writeln!(
        text,
        "    stats socket {} mode 600 level admin expose-fd listeners",
        stats.display()
    );
    let _ = writeln!(text, "    maxconn 4096");
    let _ = writeln!(text);
    text.push_str(&body);
    (text, generation)
}

/// A duration as HAProxy's milliseconds, at least 1.
fn millis(duration: std::time::Duration) -> u128 {
    duration.as_millis().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Check;
    use crate::lb::Member;
    use crate::strategy::lb::Listener;
    use std::time::Duration;

    fn spec(kind: &str) -> Spec {
        Spec {
            name: "web".into(),
            listeners: vec![Listener {
                port: 18080,
                target_port: 8000,
            }],
            health: Check {
                protocol: match kind {
                    "http" => Protocol::Http {
                        path: "/healthz".into(),
                        status: 204,
                    },
                    _ => Protocol::Tcp,
                },
                port: Some(8000),
                interval: Duration::from_millis(500),
                timeout: Duration::from_millis(300),
                healthy_threshold: 2,
                unhealthy_threshold: 3,
            },
            members: vec![Member {
                name: "web-0".into(),
                address: "127.1.0.2".into(),
            }],
            ids: Vec::new(),
        }
    }

    #[test]
    fn an_http_check_becomes_httpchk_and_its_thresholds_rise_and_fall() {
        let (text, generation) = render(&spec("http"), Path::new("/s/lb"), Ipv4Addr::LOCALHOST);
        assert!(text.contains("bind 127.0.0.1:18080"), "{text}");
        assert!(text.contains("option httpchk GET /healthz"));
        assert!(text.contains("http-check expect status 204"));
        assert!(
            text.contains("server web-0 127.1.0.2:8000 check port 8000 inter 500ms rise 2 fall 3")
        );
        assert!(
            text.contains("stats socket /s/lb/stats.sock mode 600 level admin expose-fd listeners")
        );
        assert!(text.contains(&format!("description oss-{generation}")));
        // A TCP check has no HTTP lines, and another member list is another generation.
        let mut tcp = spec("tcp");
        let (tcp_text, tcp_generation) = render(&tcp, Path::new("/s/lb"), Ipv4Addr::LOCALHOST);
        assert!(!tcp_text.contains("httpchk") && tcp_text.contains("mode tcp"));
        tcp.members.clear();
        assert_ne!(
            render(&tcp, Path::new("/s/lb"), Ipv4Addr::LOCALHOST).1,
            tcp_generation
        );
    }
}
