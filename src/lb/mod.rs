//! Load balancers, their own room (not a compute driver: no catalog, no placement): what a
//! balancer resource holds ([`Spec`], read from its attributes), and the providers that run
//! one behind the executor's `Driver` trait for `lb` resources: `haproxy/` a supervised
//! HAProxy on this machine, `aws/` ELBv2.
//!
//! A balancer changes in place when its members, listeners or check change; it is never
//! deleted and made again for a membership change.

pub mod aws;
pub mod haproxy;

use serde_json::{Map, Value};

use crate::driver::settings::SettingsError;
use crate::driver::{Driver, DriverConfig, DriverError};
use crate::health::Check;
use crate::resource::{Address, Attributes};
use crate::strategy::lb::Listener;

/// Whether `kind` is a load-balancer provider kind.
pub fn is_lb_kind(kind: &str) -> bool {
    kind == aws::KIND || (kind != "aws" && crate::strategy::lb::LB_PROVIDERS.contains(&kind))
}

/// The kind a provider written as `written` in an `lb` block is recorded and built as: `aws`
/// is [`aws::KIND`], since `aws` is the EC2 compute driver's kind (and name).
pub fn kind_of(written: &str) -> &str {
    match written {
        "aws" => aws::KIND,
        other => other,
    }
}

/// Checks a load-balancer provider's settings as written.
pub fn check_settings(kind: &str, settings: &Map<String, Value>) -> Result<(), SettingsError> {
    match kind {
        "haproxy" => haproxy::check_settings(settings),
        aws::KIND => aws::check_settings(settings),
        _ => Ok(()),
    }
}

/// The settings of a load-balancer provider that hold credentials.
pub fn secret_settings(kind: &str) -> &'static [&'static str] {
    match kind {
        "haproxy" => haproxy::SECRET_SETTINGS,
        aws::KIND => aws::SECRET_SETTINGS,
        _ => &[],
    }
}

/// The address a balancer of provider kind `kind` with `settings` listens on, when it is
/// known before it exists (for its DNS name).
pub fn listen_address(kind: &str, settings: &Map<String, Value>) -> Option<std::net::IpAddr> {
    match kind {
        "haproxy" => haproxy::listen_address(settings).map(std::net::IpAddr::V4),
        _ => None,
    }
}

/// Builds the driver of a load-balancer provider of kind `kind`.
pub fn build(kind: &str, config: DriverConfig) -> Result<std::sync::Arc<dyn Driver>, DriverError> {
    match kind {
        "haproxy" => Ok(std::sync::Arc::new(haproxy::HaproxyDriver::new(config)?)),
        aws::KIND => Ok(std::sync::Arc::new(aws::AwsLbDriver::new(config)?)),
        other => Err(DriverError::fatal(format!(
            "Unknown load-balancer provider `{other}`; known: {}",
            crate::strategy::lb::LB_PROVIDERS.join(", ")
        ))),
    }
}

/// One member: the node's name and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub address: String,
}

/// What a balancer resource holds, read from its attributes (see `compile::balancers`).
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub name: String,
    pub listeners: Vec<Listener>,
    pub health: Check,
    /// In the group's order.
    pub members: Vec<Member>,
    /// The members' provider ids in the same order, when the balancer reads them (`aws`:
    /// ELBv2 registers instances by id); empty otherwise.
    pub ids: Vec<String>,
}

impl Spec {
    /// The spec of balancer `address`, or a fatal error naming what is wrong.
    pub fn parse(address: &Address, attributes: &Attributes) -> Result<Spec, DriverError> {
        let bad = |what: &str| {
            DriverError::fatal(format!(
                "Load balancer `{address}`: attribute `{what}` is missing or malformed."
            ))
        };
        let get = |key: &str| attributes.get(key).cloned().ok_or_else(|| bad(key));
        let name = get("name")?
            .as_str()
            .ok_or_else(|| bad("name"))?
            .to_string();
        let listeners: Vec<Listener> =
            serde_json::from_value(get("listeners")?).map_err(|_| bad("listeners"))?;
        let health: Check = serde_json::from_value(get("health")?).map_err(|_| bad("health"))?;
        let servers: Vec<String> =
            serde_json::from_value(get("servers")?).map_err(|_| bad("servers"))?;
        let members_text = get("members")?;
        let addresses: Vec<String> = match members_text.as_str() {
            Some("") => Vec::new(),
            Some(text) => text.split(", ").map(str::to_string).collect(),
            None => return Err(bad("members")),
        };
        if addresses.len() != servers.len() {
            return Err(DriverError::fatal(format!(
                "Load balancer `{address}`: {} member addresses for {} servers.",
                addresses.len(),
                servers.len()
            )));
        }
        let ids: Vec<String> = match attributes.get("ids").map(Value::as_str) {
            None | Some(Some("")) => Vec::new(),
            Some(Some(text)) => text.split(", ").map(str::to_string).collect(),
            Some(None) => return Err(bad("ids")),
        };
        if !ids.is_empty() && ids.len() != servers.len() {
            return Err(DriverError::fatal(format!(
                "Load balancer `{address}`: {} member ids for {} servers.",
                ids.len(),
                servers.len()
            )));
        }
        let members = servers
            .into_iter()
            .zip(addresses)
            .map(|(name, address)| Member { name, address })
            .collect();
        Ok(Spec {
            name,
            listeners,
            health,
            members,
            ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_spec_pairs_server_names_with_rendered_addresses() {
        let check = crate::health::RawCheck::default().check().unwrap();
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), json!("web"));
        attributes.insert("listeners".into(), json!([{"port": 1, "target_port": 2}]));
        attributes.insert("health".into(), json!(check));
        attributes.insert("servers".into(), json!(["web-0", "web-1"]));
        attributes.insert("members".into(), json!("127.1.0.1, 127.1.0.2"));
        let spec = Spec::parse(&Address::balancer("web"), &attributes).unwrap();
        assert_eq!(spec.members[1].name, "web-1");
        assert_eq!(spec.members[1].address, "127.1.0.2");
        assert_eq!(spec.health, check);
        assert!(spec.ids.is_empty());
        attributes.insert("ids".into(), json!("i-0, i-1"));
        let spec = Spec::parse(&Address::balancer("web"), &attributes).unwrap();
        assert_eq!(spec.ids, ["i-0", "i-1"]);
        attributes.insert("ids".into(), json!("i-0"));
        assert!(Spec::parse(&Address::balancer("web"), &attributes).is_err());
        attributes.remove("ids");
        attributes.insert("members".into(), json!("127.1.0.1"));
        assert!(Spec::parse(&Address::balancer("web"), &attributes).is_err());
    }
}
