//! Service discovery: a group's endpoints as state knows them (each node's address, ports and
//! DNS name), whether each answers now, and the Prometheus `file_sd` targets file the
//! strategy's `file_sd` asks for (the JSON Prometheus reads: a list of target groups, each
//! `{"targets": ["HOST:PORT"], "labels": {...}}`).
//!
//! Gathering and rendering are pure (state and strategy in, values out); [`probe`] is the
//! one call that touches the network (a TCP connect per endpoint, bounded in time).

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::resource::Kind;
use crate::state::State;
use crate::strategy::Strategy;

/// One node of a group, as a client would reach it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Endpoint {
    /// The node's name (`web-0`).
    pub name: String,
    /// Its address in state (`node.web[0]`).
    pub address: String,
    /// Where to connect (the public address where there is one); `None`: not known yet.
    pub host: Option<String>,
    pub ports: Vec<u16>,
    /// Its name in the strategy's DNS zone, when the `dns` block names the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// Whether its first port accepted a connection just now (`None`: not probed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<bool>,
}

/// A group's endpoints, with its round-robin and SRV names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Discovered {
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub srv: Vec<String>,
    pub endpoints: Vec<Endpoint>,
}

/// The endpoints of `group` in `state`, in index order.
pub fn discover(strategy: &Strategy, state: Option<&State>, group: &str) -> Discovered {
    let dns = strategy
        .dns
        .as_ref()
        .filter(|d| d.groups.iter().any(|g| g == group));
    let mut nodes: Vec<_> = state
        .iter()
        .flat_map(|s| s.resources.values())
        .filter(|r| r.kind == Kind::Node && r.address.group() == Some(group))
        .collect();
    nodes.sort_by(|a, b| a.address.cmp(&b.address));
    let endpoints = nodes
        .into_iter()
        .map(|node| {
            let name = node
                .attributes
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Endpoint {
                dns_name: dns.map(|d| format!("{name}.{}", d.zone)),
                host: node
                    .exposed("address")
                    .and_then(|v| v.as_str().map(str::to_string)),
                ports: node
                    .attributes
                    .get("ports")
                    .and_then(|p| serde_json::from_value(p.clone()).ok())
                    .unwrap_or_default(),
                address: node.address.to_string(),
                name,
                live: None,
            }
        })
        .collect();
    let srv = strategy
        .dns
        .iter()
        .flat_map(|d| {
            d.services
                .iter()
                .filter(|(_, (g, _))| g == group)
                .map(|(service, _)| format!("_{service}._tcp.{}", d.zone))
        })
        .collect();
    Discovered {
        group: group.to_string(),
        dns_name: dns.map(|d| format!("{group}.{}", d.zone)),
        srv,
        endpoints,
    }
}

/// Marks each endpoint live when its first port takes a TCP connection within `timeout`
/// (all probed at once).
pub async fn probe(endpoints: &mut [Endpoint], timeout: Duration) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let (Some(host), Some(port)) = (endpoint.host.clone(), endpoint.ports.first().copied())
        else {
            continue;
        };
        tasks.spawn(async move {
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            let live = matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_)));
            (i, live)
        });
    }
    for endpoint in endpoints.iter_mut() {
        endpoint.live = Some(false);
    }
    while let Some(Ok((i, live))) = tasks.join_next().await {
        endpoints[i].live = Some(live);
    }
}

/// The `file_sd` targets of every group: one target group per node with a known address
/// and a port, `HOST:PORT` of its first port, labelled with its group, name and strategy.
pub fn file_sd(strategy: &Strategy, state: Option<&State>) -> Value {
    let mut groups = Vec::new();
    for group in &strategy.groups {
        for endpoint in discover(strategy, state, &group.name).endpoints {
            let (Some(host), Some(port)) = (endpoint.host, endpoint.ports.first()) else {
                continue;
            };
            let target = match host.contains(':') {
                true => format!("[{host}]:{port}"),
                false => format!("{host}:{port}"),
            };
            groups.push(json!({
                "targets": [target],
                "labels": {
                    "oss_strategy": strategy.name,
                    "oss_group": group.name,
                    "oss_node": endpoint.name,
                },
            }));
        }
    }
    Value::Array(groups)
}
