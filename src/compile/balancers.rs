//! The load balancers the `lb` block asks for, as desired resources (`lb.web`): listeners,
//! health check, and the member group's nodes by name and address.
//!
//! Addresses come from the nodes, so `members` is a reference template
//! (`${node.web[0].address}, ${node.web[1].address}`) rendered once the nodes exist, and the
//! balancer depends on every member (an `aws` balancer also reads their instance ids, `ids`,
//! since ELBv2 registers targets by id): a node replaced, added or removed changes `members`,
//! which a balancer changes in place.
//!
//! An `aws` balancer also depends on its provider's network (`network.aws-elb`, one per
//! provider, so per region): the region's default VPC when it has one, else a VPC oss makes
//! (see `lb::aws::network`). Which of the two is found at apply time; the plan shows the
//! network with the shape oss would make. Pure: no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::resource::{Address, Attributes, Desired, Kind, Placement};
use crate::strategy::lb::Balancer;

/// The location every balancer is placed in: its provider decides where it runs.
pub const LOCATION: &str = "default";

/// The address range of a VPC oss makes for its load balancers, and of its two subnets.
pub const VPC_CIDR: &str = "10.0.0.0/16";
pub const SUBNET_CIDRS: [&str; 2] = ["10.0.0.0/24", "10.0.1.0/24"];

/// The balancer resources of `balancers`, given each group's node count, and the networks
/// of the providers that need one.
pub fn balancers(balancers: &[Balancer], nodes: &HashMap<&str, usize>) -> Vec<Desired> {
    let mut networks: Vec<Desired> = Vec::new();
    for balancer in balancers {
        let option = &balancer.provider;
        if option.kind != crate::lb::aws::KIND
            || networks.iter().any(|n| n.placement.provider == option.name)
        {
            continue;
        }
        let internal = option.settings.get("internal") == Some(&json!(true));
        let mut attributes = Attributes::new();
        attributes.insert(
            "vpc".into(),
            json!("the region's default VPC, else a new one"),
        );
        attributes.insert("cidr".into(), json!(VPC_CIDR));
        attributes.insert("subnets".into(), json!(SUBNET_CIDRS));
        attributes.insert("internet_gateway".into(), json!(!internal));
        networks.push(Desired {
            address: Address::network(&option.name),
            kind: Kind::Network,
            placement: placement(&option.name),
            fallbacks: Default::default(),
            attributes,
            depends_on: Vec::new(),
            templates: Default::default(),
            unknown: Default::default(),
        });
    }
    let made = balancers
        .iter()
        .map(|balancer| {
            let group = balancer.members.as_str();
            let count = nodes.get(group).copied().unwrap_or(0);
            let members: Vec<Address> = (0..count).map(|i| Address::node(group, i)).collect();
            let mut attributes = Attributes::new();
            attributes.insert("name".into(), json!(balancer.name));
            attributes.insert("listeners".into(), json!(balancer.listeners));
            attributes.insert("health".into(), json!(balancer.health));
            let servers: Vec<String> = (0..count).map(|i| format!("{group}-{i}")).collect();
            attributes.insert("servers".into(), json!(servers));
            let mut templates = Attributes::new();
            match members.is_empty() {
                true => {
                    attributes.insert("members".into(), json!(""));
                    if balancer.provider.kind == crate::lb::aws::KIND {
                        attributes.insert("ids".into(), json!(""));
                    }
                }
                false => {
                    let references: Vec<String> = members
                        .iter()
                        .map(|node| format!("${{{node}.address}}"))
                        .collect();
                    templates.insert("members".into(), json!(references.join(", ")));
                    // ELBv2 registers targets by instance id, not by address.
                    if balancer.provider.kind == crate::lb::aws::KIND {
                        let ids: Vec<String> = members
                            .iter()
                            .map(|node| format!("${{{node}.id}}"))
                            .collect();
                        templates.insert("ids".into(), json!(ids.join(", ")));
                    }
                }
            }
            let mut depends_on = members;
            if balancer.provider.kind == crate::lb::aws::KIND {
                depends_on.push(Address::network(&balancer.provider.name));
            }
            Desired {
                address: Address::balancer(&balancer.name),
                kind: Kind::Balancer,
                placement: placement(&balancer.provider.name),
                fallbacks: Default::default(),
                attributes,
                depends_on,
                templates: Arc::new(templates),
                unknown: Default::default(),
            }
        })
        .collect::<Vec<_>>();
    networks.extend(made);
    networks
}

fn placement(provider: &str) -> Placement {
    Placement {
        provider: provider.to_string(),
        location: LOCATION.into(),
        size: String::new(),
        image: String::new(),
        hourly_price: None,
        currency: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::lb::Listener;

    #[test]
    fn a_balancer_reads_its_members_addresses_and_depends_on_them() {
        let balancer = Balancer {
            name: "web".into(),
            members: "web".into(),
            listeners: vec![Listener {
                port: 18080,
                target_port: 8000,
            }],
            health: crate::health::RawCheck::default().check().unwrap(),
            provider: crate::strategy::ProviderOption {
                kind: "haproxy".into(),
                name: "haproxy".into(),
                settings: Default::default(),
                written: Default::default(),
            },
        };
        let nodes = HashMap::from([("web", 2)]);
        let made = balancers(std::slice::from_ref(&balancer), &nodes);
        let lb = &made[0];
        assert_eq!(lb.address.as_str(), "lb.web");
        assert_eq!(lb.kind, Kind::Balancer);
        assert_eq!(
            lb.templates["members"],
            "${node.web[0].address}, ${node.web[1].address}"
        );
        assert_eq!(lb.attributes["servers"], json!(["web-0", "web-1"]));
        assert_eq!(
            lb.depends_on,
            [Address::node("web", 0), Address::node("web", 1)]
        );
        assert_eq!(lb.attributes["listeners"][0]["target_port"], 8000);
        // An empty group leaves a balancer with no members, not a broken template.
        let empty = balancers(&[balancer], &HashMap::from([("web", 0)]));
        assert_eq!(empty[0].attributes["members"], "");
        assert!(empty[0].templates.is_empty());
        assert!(!lb.templates.contains_key("ids"), "haproxy needs no ids");
    }

    #[test]
    fn an_aws_balancer_also_reads_its_members_instance_ids() {
        let balancer = Balancer {
            name: "web".into(),
            members: "web".into(),
            listeners: vec![Listener {
                port: 80,
                target_port: 8000,
            }],
            health: crate::health::RawCheck::default().check().unwrap(),
            provider: crate::strategy::ProviderOption {
                kind: crate::lb::aws::KIND.into(),
                name: crate::lb::aws::KIND.into(),
                settings: Default::default(),
                written: Default::default(),
            },
        };
        let made = balancers(
            std::slice::from_ref(&balancer),
            &HashMap::from([("web", 2)]),
        );
        // Its provider's network first, then the balancer, which depends on it.
        assert_eq!(made[0].address, Address::network(crate::lb::aws::KIND));
        assert_eq!(made[0].kind, Kind::Network);
        assert_eq!(made[0].attributes["internet_gateway"], true);
        assert_eq!(
            made[1].templates["ids"],
            "${node.web[0].id}, ${node.web[1].id}"
        );
        assert_eq!(
            made[1].depends_on.last(),
            Some(&Address::network(crate::lb::aws::KIND))
        );
        let empty = balancers(&[balancer], &HashMap::from([("web", 0)]));
        assert_eq!(empty.len(), 2, "{empty:?}");
        assert_eq!(empty[1].attributes["ids"], "");
    }
}
