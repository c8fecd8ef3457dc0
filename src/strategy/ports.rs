//! A group's ports: `[8080, {"port": 22, "from": ["203.0.113.0/24", "2001:db8::/32"]}]`. A bare
//! number is open to anyone, as before; a rule opens its port only to the CIDR blocks listed.
//! Everything that wants the numbers alone (readiness, `OSS_NODE_PORT`, attributes) reads them
//! through `Deref`, and they serialize as the plain list.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Open to the whole internet, over IPv4 and IPv6.
pub const ANYONE: [&str; 2] = ["0.0.0.0/0", "::/0"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    numbers: Vec<u16>,
    /// The ports given with `from`, and the blocks they are open to (normalized, sorted).
    sources: BTreeMap<u16, Vec<String>>,
}

impl Ports {
    /// The ports open only to some sources, with those sources; every other port is open to
    /// anyone.
    pub fn sources(&self) -> &BTreeMap<u16, Vec<String>> {
        &self.sources
    }

    /// Whether `port` is open to the whole internet.
    pub fn open_to_anyone(&self, port: u16) -> bool {
        self.numbers.contains(&port)
            && self
                .sources
                .get(&port)
                .is_none_or(|from| from.iter().any(|c| ANYONE.contains(&c.as_str())))
    }
}

impl Deref for Ports {
    type Target = Vec<u16>;
    fn deref(&self) -> &Vec<u16> {
        &self.numbers
    }
}

impl From<Vec<u16>> for Ports {
    fn from(numbers: Vec<u16>) -> Self {
        Ports {
            numbers,
            sources: BTreeMap::new(),
        }
    }
}

impl Serialize for Ports {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.numbers.serialize(serializer)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    port: u16,
    from: Vec<String>,
}

/// One item: a bare port number, or a rule. Read by hand so a number written `8080.0` gets
/// serde's own "invalid type: floating point" (which the strategy's errors turn into a hint).
fn item<E: serde::de::Error>(value: serde_json::Value) -> Result<(u16, Option<Vec<String>>), E> {
    use serde::de::Unexpected;
    match value {
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(port), _) => u16::try_from(port).map(|p| (p, None)).map_err(|_| {
                E::invalid_value(Unexpected::Unsigned(port), &"a port from 1 to 65535")
            }),
            (None, Some(f)) if n.is_f64() => {
                Err(E::invalid_type(Unexpected::Float(f), &"a port number"))
            }
            _ => Err(E::custom(format!("{n} is not a port (1 to 65535)"))),
        },
        value @ serde_json::Value::Object(_) => {
            let rule: Rule = serde_json::from_value(value).map_err(E::custom)?;
            Ok((rule.port, Some(rule.from)))
        }
        _ => Err(E::custom(
            "a port is a number or {\"port\": N, \"from\": [CIDR, ...]}",
        )),
    }
}

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let items = Vec::<serde_json::Value>::deserialize(deserializer)?;
        let mut ports = Ports::default();
        for value in items {
            let (port, from) = item::<D::Error>(value)?;
            if port == 0 {
                return Err(D::Error::custom("port 0 is not a port (1 to 65535)"));
            }
            if ports.numbers.contains(&port) {
                return Err(D::Error::custom(format!("port {port} is listed twice")));
            }
            ports.numbers.push(port);
            let Some(from) = from else { continue };
            if from.is_empty() {
                return Err(D::Error::custom(format!(
                    "port {port} has an empty \"from\": list the CIDR blocks it is open to, or give the bare number to open it to anyone"
                )));
            }
            let mut blocks = Vec::new();
            for block in &from {
                let block = cidr(block).map_err(D::Error::custom)?;
                if !blocks.contains(&block) {
                    blocks.push(block);
                }
            }
            blocks.sort();
            ports.sources.insert(port, blocks);
        }
        Ok(ports)
    }
}

/// `203.0.113.7/24` → `203.0.113.0/24` (the network, as clouds store it); a bare address is
/// one host (`/32`, `/128`).
pub fn cidr(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "`{}` is not a CIDR block: write ADDRESS/PREFIX, e.g. 203.0.113.0/24 or 2001:db8::/32",
            crate::echo::Echo(text)
        )
    };
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    let width = if address.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = match prefix {
        Some(p) => p.parse().ok().filter(|p| *p <= width).ok_or_else(bad)?,
        None => width,
    };
    Ok(match address {
        IpAddr::V4(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            format!("{}/{prefix}", std::net::Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            format!(
                "{}/{prefix}",
                std::net::Ipv6Addr::from(u128::from(a) & mask)
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Ports, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn bare_numbers_are_open_to_anyone_and_rules_to_their_blocks() {
        let ports = parse(
            r#"[8080, {"port": 22, "from": ["203.0.113.9/24", "2001:db8::1/32", "198.51.100.7"]}]"#,
        )
        .unwrap();
        assert_eq!(*ports, vec![8080, 22]);
        assert_eq!(
            ports.sources()[&22],
            ["198.51.100.7/32", "2001:db8::/32", "203.0.113.0/24"]
        );
        assert!(ports.open_to_anyone(8080));
        assert!(!ports.open_to_anyone(22));
        assert!(!ports.open_to_anyone(443));
        assert_eq!(serde_json::to_string(&ports).unwrap(), "[8080,22]");
        let open = parse(r#"[{"port": 22, "from": ["0.0.0.0/0"]}]"#).unwrap();
        assert!(open.open_to_anyone(22));
    }

    #[test]
    fn bad_ports_and_blocks_are_refused_by_name() {
        for (text, says) in [
            (r#"[22, 22]"#, "port 22 is listed twice"),
            (r#"[{"port": 22, "from": []}]"#, "empty \"from\""),
            (
                r#"[{"port": 22, "from": ["10.0.0.0/33"]}]"#,
                "`10.0.0.0/33` is not a CIDR block",
            ),
            (
                r#"[{"port": 22, "from": ["example.com"]}]"#,
                "`example.com` is not a CIDR block",
            ),
            (r#"[0]"#, "port 0 is not a port"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
