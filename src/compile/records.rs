//! The DNS records the `dns` block asks for, as desired resources: per node an address
//! record at `GROUP-INDEX.ZONE` (`dns.web[0]`), per group a round-robin name `GROUP.ZONE`
//! (`dns.web`), per service the `SRV` records at `_SERVICE._tcp.ZONE` (`dns._http._tcp`).
//!
//! Addresses come from the nodes, so their values are references (`${node.web[0].address}`)
//! rendered when the node exists, and every record depends on the nodes it points at: it is
//! written after them, and rewritten in place when one is replaced.
//!
//! A load balancer gets a name too, `NAME.ZONE`: a balancer named like a group takes that
//! group's round-robin name (`web.ZONE` then goes through the balancer). The name holds the
//! balancer's listen address where that is known before it exists (`haproxy`); on Route53 an
//! `aws` balancer's name is an alias `A` record to the balancer (its DNS name and that name's
//! hosted zone, `${lb.web.address}` and `${lb.web.zone_id}`, known once it exists), as
//! Route53 and Terraform users point names at an ELB: no CNAME, no copied addresses.
//! Pure: no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::dns::record::ALIAS;
use crate::resource::{Address, Attributes, Desired, Kind, Placement};
use crate::strategy::dns::Dns;
use crate::strategy::lb::Balancer;

/// The DNS provider kind that has alias records.
const ROUTE53: &str = "route53";

/// The record resources of `dns`, given each group's node count and the load balancers.
pub fn records(dns: &Dns, nodes: &HashMap<&str, usize>, balancers: &[Balancer]) -> Vec<Desired> {
    let mut records = Vec::new();
    let record = |address: Address,
                  name: String,
                  rtype: &str,
                  values: String,
                  templated: bool,
                  depends_on: Vec<Address>| {
        let mut attributes = Attributes::new();
        attributes.insert("name".into(), json!(name));
        attributes.insert("type".into(), json!(rtype));
        attributes.insert("ttl".into(), json!(dns.ttl));
        let mut templates = Attributes::new();
        match templated {
            true => templates.insert("values".into(), json!(values)),
            false => attributes.insert("values".into(), json!(values)),
        };
        Desired {
            address,
            kind: Kind::Record,
            placement: Placement {
                provider: dns.provider.name.clone(),
                location: dns.zone.clone(),
                size: String::new(),
                image: String::new(),
                hourly_price: None,
                currency: None,
            },
            fallbacks: Default::default(),
            attributes,
            depends_on,
            templates: Arc::new(templates),
            unknown: Default::default(),
        }
    };
    let zone = &dns.zone;
    for group in &dns.groups {
        let count = nodes.get(group.as_str()).copied().unwrap_or(0);
        let mut all = Vec::new();
        for index in 0..count {
            let node = Address::node(group, index);
            let reference = format!("${{{node}.address}}");
            records.push(record(
                Address::record(&format!("{group}[{index}]")),
                format!("{group}-{index}.{zone}"),
                "A",
                reference.clone(),
                true,
                vec![node.clone()],
            ));
            all.push((node, reference));
        }
        if all.is_empty() || balancers.iter().any(|b| &b.name == group) {
            continue;
        }
        let values: Vec<&str> = all.iter().map(|(_, r)| r.as_str()).collect();
        records.push(record(
            Address::record(group),
            format!("{group}.{zone}"),
            "A",
            values.join(", "),
            true,
            all.into_iter().map(|(node, _)| node).collect(),
        ));
    }
    for balancer in balancers {
        let option = &balancer.provider;
        if option.kind == crate::lb::aws::KIND && dns.provider.kind == ROUTE53 {
            let lb = Address::balancer(&balancer.name);
            let mut alias = record(
                Address::record(&balancer.name),
                format!("{}.{zone}", balancer.name),
                "A",
                String::new(),
                false,
                vec![lb.clone()],
            );
            alias.attributes.remove("values");
            alias
                .attributes
                .insert("evaluate_target_health".into(), json!(true));
            let target = json!({
                "name": format!("${{{lb}.address}}"),
                "zone_id": format!("${{{lb}.zone_id}}"),
            });
            alias.templates = Arc::new(Attributes::from_iter([(ALIAS.to_string(), target)]));
            records.push(alias);
            continue;
        }
        let Some(address) = crate::lb::listen_address(&option.kind, &option.settings) else {
            continue;
        };
        records.push(record(
            Address::record(&balancer.name),
            format!("{}.{zone}", balancer.name),
            "A",
            address.to_string(),
            false,
            vec![Address::balancer(&balancer.name)],
        ));
    }
    for (service, (group, port)) in &dns.services {
        let count = nodes.get(group.as_str()).copied().unwrap_or(0);
        if count == 0 {
            continue;
        }
        let named = dns.groups.contains(group);
        let targets: Vec<String> = (0..count)
            .map(|i| format!("0 0 {port} {group}-{i}.{zone}"))
            .collect();
        // After the names it points at, or the nodes when those have no names.
        let depends_on = (0..count)
            .map(|i| match named {
                true => Address::record(&format!("{group}[{i}]")),
                false => Address::node(group, i),
            })
            .collect();
        records.push(record(
            Address::record(&format!("_{service}._tcp")),
            format!("_{service}._tcp.{zone}"),
            "SRV",
            targets.join(", "),
            false,
            depends_on,
        ));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn dns() -> Dns {
        let mut services = BTreeMap::new();
        services.insert("http".to_string(), ("web".to_string(), 8080));
        Dns {
            zone: "oss.test.".into(),
            ttl: 30,
            groups: vec!["web".into(), "db".into()],
            services,
            provider: crate::strategy::ProviderOption {
                kind: "rfc2136".into(),
                name: "rfc2136".into(),
                settings: Default::default(),
                written: Default::default(),
            },
        }
    }

    #[test]
    fn every_node_group_and_service_gets_its_record_depending_on_what_it_points_at() {
        let nodes = HashMap::from([("web", 2), ("db", 0)]);
        let records = records(&dns(), &nodes, &[]);
        let addresses: Vec<&str> = records.iter().map(|r| r.address.as_str()).collect();
        // An empty group has no round-robin name (an empty record set cannot exist).
        assert_eq!(
            addresses,
            ["dns.web[0]", "dns.web[1]", "dns.web", "dns._http._tcp"]
        );
        let web = &records[2];
        assert_eq!(web.attributes["name"], "web.oss.test.");
        assert_eq!(
            web.templates["values"],
            "${node.web[0].address}, ${node.web[1].address}"
        );
        assert_eq!(
            web.depends_on,
            [Address::node("web", 0), Address::node("web", 1)]
        );
        let srv = &records[3];
        assert_eq!(
            srv.attributes["values"],
            "0 0 8080 web-0.oss.test., 0 0 8080 web-1.oss.test."
        );
        assert!(srv.templates.is_empty());
        assert_eq!(srv.depends_on[1], Address::record("web[1]"));
        assert!(records.iter().all(|r| r.kind == Kind::Record
            && r.placement.provider == "rfc2136"
            && r.attributes["ttl"] == 30));
    }

    #[test]
    fn an_aws_balancer_on_route53_gets_an_alias_to_it_and_takes_its_groups_name() {
        let mut dns = dns();
        dns.provider.kind = ROUTE53.into();
        let aws = crate::strategy::ProviderOption {
            kind: crate::lb::aws::KIND.into(),
            name: crate::lb::aws::KIND.into(),
            settings: Default::default(),
            written: Default::default(),
        };
        let balancer = Balancer {
            name: "web".into(),
            members: "web".into(),
            listeners: Vec::new(),
            health: crate::health::RawCheck::default().check().unwrap(),
            provider: aws,
        };
        let nodes = HashMap::from([("web", 2)]);
        let records = records(&dns, &nodes, std::slice::from_ref(&balancer));
        let web: Vec<&Desired> = records
            .iter()
            .filter(|r| r.attributes["name"] == "web.oss.test.")
            .collect();
        assert_eq!(
            web.len(),
            1,
            "one name, the alias: no round-robin beside it"
        );
        let alias = web[0];
        assert_eq!(alias.address, Address::record("web"));
        assert_eq!(alias.attributes["type"], "A");
        assert!(
            !alias.attributes.contains_key("values"),
            "an alias has no values"
        );
        assert_eq!(alias.attributes["evaluate_target_health"], true);
        assert_eq!(
            alias.templates[ALIAS],
            json!({"name": "${lb.web.address}", "zone_id": "${lb.web.zone_id}"})
        );
        assert_eq!(alias.depends_on, [Address::balancer("web")]);
        // On a DNS server without aliases an aws balancer has no name of its own.
        let plain = super::records(&super::tests::dns(), &nodes, &[balancer]);
        assert!(
            plain
                .iter()
                .all(|r| r.attributes["name"] != "web.oss.test.")
        );
    }
}
