//! A health check as written (`{"type": "http", "path": "/healthz", "interval": "5s"}`) and
//! checked: the protocol, the port (the group's first when left out), how often, how long a
//! probe may take, and how many results in a row change the verdict.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often a node is probed when the check does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How long a probe may take when the check does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Successes in a row that make a node up.
pub const DEFAULT_HEALTHY: u32 = 2;
/// Failures in a row that make a node down.
pub const DEFAULT_UNHEALTHY: u32 = 3;
/// The shortest interval: probing faster than this is load, not health.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A duration as written: `"5s"`, `"500ms"`, or a number of seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Span {
    Seconds(f64),
    Text(String),
}

impl Span {
    fn read(&self) -> Result<Duration, String> {
        match self {
            Span::Text(text) => crate::duration::parse_duration(text),
            Span::Seconds(s) => crate::duration::parse_duration(&s.to_string()),
        }
    }
}

/// The check as written in the strategy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// `tcp` (the default) or `http`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// HTTP only: the path asked for (`/` when left out).
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP only: the status a healthy node answers (200 when left out).
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub interval: Option<Span>,
    #[serde(default)]
    pub timeout: Option<Span>,
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
    #[serde(default)]
    pub unhealthy_threshold: Option<u32>,
}

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Protocol {
    /// The port takes a TCP connection.
    Tcp,
    /// `GET path` over HTTP/1.1 answers `status`.
    Http { path: String, status: u16 },
}

/// A checked health check. It serializes with durations in milliseconds, and reads back from
/// that (a load balancer's attributes hold it so).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    #[serde(flatten)]
    pub protocol: Protocol,
    /// `None`: the first port of the nodes checked.
    pub port: Option<u16>,
    #[serde(with = "millis")]
    pub interval: Duration,
    #[serde(with = "millis")]
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

/// A problem in a check: the field it is about (`None`: the whole check), what is wrong, and
/// what to write instead. The caller locates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misfit {
    pub field: Option<&'static str>,
    pub message: String,
    pub hint: String,
}

impl RawCheck {
    /// The check with its defaults, or every problem in it.
    pub fn check(&self) -> Result<Check, Vec<Misfit>> {
        let mut misfits = Vec::new();
        let mut misfit = |field: Option<&'static str>, message: String, hint: &str| {
            misfits.push(Misfit {
                field,
                message,
                hint: hint.to_string(),
            })
        };
        let protocol = match self.kind.as_deref().unwrap_or("tcp") {
            "tcp" => {
                for (field, given) in [
                    ("path", self.path.is_some()),
                    ("status", self.status.is_some()),
                ] {
                    if given {
                        misfit(
                            Some(field),
                            format!("\"{field}\" belongs to an HTTP check, and this one is TCP."),
                            "add \"type\": \"http\", or remove it",
                        );
                    }
                }
                Protocol::Tcp
            }
            "http" => {
                let path = self.path.clone().unwrap_or_else(|| "/".into());
                let printable = path.chars().all(|c| c.is_ascii_graphic());
                if !path.starts_with('/') || !printable {
                    misfit(
                        Some("path"),
                        format!(
                            "The path {} is not an absolute URL path.",
                            crate::echo::Echo(&path)
                        ),
                        "write a path such as \"/healthz\" (printable ASCII, no spaces)",
                    );
                }
                let status = self.status.unwrap_or(200);
                if !(100..=599).contains(&status) {
                    misfit(
                        Some("status"),
                        format!("{status} is not an HTTP status."),
                        "write the status a healthy node answers, e.g. 200 or 204",
                    );
                }
                Protocol::Http { path, status }
            }
            other => {
                misfit(
                    Some("type"),
                    format!("Unknown health check type {}.", crate::echo::Echo(other)),
                    "use \"tcp\" or \"http\"",
                );
                Protocol::Tcp
            }
        };
        if self.port == Some(0) {
            misfit(
                Some("port"),
                "Port 0 cannot be probed.".into(),
                "write a TCP port from 1 to 65535, or leave it out for the first port",
            );
        }
        let mut span = |field: &'static str, given: &Option<Span>, default: Duration| match given {
            None => default,
            Some(given) => match given.read() {
                Ok(d) if d >= MIN_INTERVAL || field == "timeout" && !d.is_zero() => d,
                Ok(_) => {
                    misfit(
                        Some(field),
                        format!(
                            "The {field} is too short; the shortest is {}.",
                            crate::duration::show(MIN_INTERVAL)
                        ),
                        "write a duration such as \"5s\" or \"500ms\"",
                    );
                    default
                }
                Err(e) => {
                    misfit(
                        Some(field),
                        format!("{}.", capital(&e)),
                        "write a duration such as \"5s\" or \"500ms\"",
                    );
                    default
                }
            },
        };
        let interval = span("interval", &self.interval, DEFAULT_INTERVAL);
        let timeout = span("timeout", &self.timeout, DEFAULT_TIMEOUT.min(interval));
        if timeout > interval {
            misfit(
                Some("timeout"),
                format!(
                    "The timeout ({}) is longer than the interval ({}).",
                    crate::duration::show(timeout),
                    crate::duration::show(interval)
                ),
                "a probe must end before the next one starts: shorten the timeout or lengthen the interval",
            );
        }
        let mut threshold = |field: &'static str, given: Option<u32>, default: u32| match given {
            Some(n) if !(1..=100).contains(&n) => {
                misfit(
                    Some(field),
                    format!("The {field} must be from 1 to 100, not {n}."),
                    "write how many results in a row change the verdict, e.g. 3",
                );
                default
            }
            Some(n) => n,
            None => default,
        };
        let healthy_threshold =
            threshold("healthy_threshold", self.healthy_threshold, DEFAULT_HEALTHY);
        let unhealthy_threshold = threshold(
            "unhealthy_threshold",
            self.unhealthy_threshold,
            DEFAULT_UNHEALTHY,
        );
        match misfits.is_empty() {
            true => Ok(Check {
                protocol,
                port: self.port,
                interval,
                timeout,
                healthy_threshold,
                unhealthy_threshold,
            }),
            false => Err(misfits),
        }
    }
}

impl Check {
    /// The port probed on a node whose ports are `ports` (`None`: it has none to probe).
    pub fn port_on(&self, ports: &[u16]) -> Option<u16> {
        self.port.or_else(|| ports.first().copied())
    }

    /// The longest a healthy node can take to be seen down: `unhealthy_threshold` probes, each
    /// an interval apart, the last one timing out.
    pub fn detection_time(&self) -> Duration {
        self.interval * self.unhealthy_threshold.saturating_sub(1) + self.timeout
    }
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawCheck {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_fill_a_bare_check() {
        let check = raw("{}").check().unwrap();
        assert_eq!(check.protocol, Protocol::Tcp);
        assert_eq!(check.interval, DEFAULT_INTERVAL);
        assert_eq!(check.timeout, DEFAULT_TIMEOUT);
        assert_eq!((check.healthy_threshold, check.unhealthy_threshold), (2, 3));
        assert_eq!(check.port_on(&[8080, 22]), Some(8080));
        assert_eq!(check.port_on(&[]), None);
    }

    #[test]
    fn http_checks_read_every_field() {
        let check = raw(
            r#"{"type": "http", "path": "/healthz", "status": 204, "port": 9000,
            "interval": "1s", "timeout": 0.5, "healthy_threshold": 1, "unhealthy_threshold": 2}"#,
        )
        .check()
        .unwrap();
        assert_eq!(
            check.protocol,
            Protocol::Http {
                path: "/healthz".into(),
                status: 204
            }
        );
        assert_eq!(check.port_on(&[8080]), Some(9000));
        assert_eq!(check.interval, Duration::from_secs(1));
        assert_eq!(check.timeout, Duration::from_millis(500));
        assert_eq!(check.detection_time(), Duration::from_millis(1500));
        let json = serde_json::to_value(&check).unwrap();
        assert_eq!(json["type"], "http");
        assert_eq!(json["interval"], 1000);
    }

    #[test]
    fn a_short_interval_makes_a_short_default_timeout() {
        let check = raw(r#"{"interval": "500ms"}"#).check().unwrap();
        assert_eq!(check.timeout, Duration::from_millis(500));
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let misfits = raw(r#"{"type": "tcp", "path": "/", "status": 200, "port": 0,
            "interval": "10ms", "timeout": "3x", "healthy_threshold": 0, "unhealthy_threshold": 101}"#)
        .check()
        .unwrap_err();
        let fields: Vec<_> = misfits.iter().map(|m| m.field.unwrap()).collect();
        assert_eq!(
            fields,
            [
                "path",
                "status",
                "port",
                "interval",
                "timeout",
                "healthy_threshold",
                "unhealthy_threshold"
            ]
        );
        let misfits = raw(r#"{"type": "http", "path": "health z", "status": 700}"#)
            .check()
            .unwrap_err();
        assert_eq!(misfits.len(), 2);
        let misfits = raw(r#"{"interval": "1s", "timeout": "2s"}"#)
            .check()
            .unwrap_err();
        assert!(
            misfits[0].message.contains("longer than the interval"),
            "{misfits:?}"
        );
        let misfits = raw(r#"{"type": "udp"}"#).check().unwrap_err();
        assert_eq!(misfits[0].field, Some("type"));
    }
}
