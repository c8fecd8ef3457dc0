//! Least disruption end to end on simulated providers: a change of count, redundancy or spread
//! replaces only the nodes the new rules forbid. Growing the redundancy keeps every node that
//! runs (each becomes the first replica of its own slot), shrinking it deletes only the
//! surplus replicas, and a spread that forbids one node replaces that node alone.

mod common;

use common::Project;

/// Every change of a `--json` plan as (address, action), in the plan's order (by address).
fn changes(p: &Project) -> Vec<(String, String)> {
    common::plan_changes(p, &[])
        .into_iter()
        .map(|(address, action, _)| (address, action))
        .collect()
}

/// Where each node runs (`provider/location`), sorted by address text.
fn where_nodes_run(p: &Project) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = p.state("cheapest")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let pl = &r["placement"];
            (
                r["address"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    pl["provider"].as_str().unwrap(),
                    pl["location"].as_str().unwrap()
                ),
            )
        })
        .collect();
    all.sort();
    all
}

fn nodes(range: std::ops::Range<usize>, action: &str) -> Vec<(String, String)> {
    range
        .map(|i| (format!("node.app[{i}]"), action.to_string()))
        .collect()
}

#[test]
fn growing_the_redundancy_keeps_every_node_and_shrinking_deletes_only_the_surplus() {
    // Four nodes at 1:1, all in the cheapest location (cloud-b b-mel).
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    let before = where_nodes_run(&p);
    assert_eq!(
        before.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>(),
        ["cloud-b/b-mel"; 4],
        "precondition: the four nodes share one location"
    );

    // 2:1: eight nodes, replicas of a slot in distinct locations. The four that run each
    // become the first replica of a slot; only the new replicas are created.
    strategy["redundancy"] = "2:1".into();
    p.write_strategy(&strategy);
    assert_eq!(changes(&p), nodes(4..8, "create"));
    p.ok(&["apply", "--auto-approve"]);
    let grown = where_nodes_run(&p);
    assert_eq!(
        grown[..4],
        before[..],
        "the nodes that ran stay where they were"
    );
    assert!(
        grown[4..].iter().all(|(_, w)| w != "cloud-b/b-mel"),
        "the new replicas join in other locations: {grown:?}"
    );
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "the grown fleet is stable: {out}");

    // Back to 1:1: only the surplus replicas go.
    strategy.as_object_mut().unwrap().remove("redundancy");
    p.write_strategy(&strategy);
    assert_eq!(changes(&p), nodes(4..8, "delete"));
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(where_nodes_run(&p), before);
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn a_spread_that_forbids_one_node_replaces_that_node_alone() {
    // 3:1 of one node spread by location: the three cheapest locations, two of them cloud-c's.
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    strategy["node"]["count"] = 1.into();
    strategy["redundancy"] = "3:1".into();
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    let before = where_nodes_run(&p);
    let locations: Vec<&str> = before.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(
        locations,
        ["cloud-b/b-mel", "cloud-c/c-lon", "cloud-c/c-us-east"],
        "precondition"
    );

    // By provider, cloud-c may hold one replica only: the other moves, nothing else does.
    strategy["spread"] = "provider".into();
    p.write_strategy(&strategy);
    assert_eq!(changes(&p), nodes(2..3, "replace"));
    p.ok(&["apply", "--auto-approve"]);
    let after = where_nodes_run(&p);
    assert_eq!(after[..2], before[..2]);
    assert_eq!(
        after[2].1, "cloud-a/a-fra-1",
        "the cheapest offer of another provider"
    );
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn growing_count_and_redundancy_at_once_only_creates() {
    // The case: four nodes at 1:1, then 2:1 with a count of 6 (twelve nodes).
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    let before = where_nodes_run(&p);
    strategy["redundancy"] = "2:1".into();
    strategy["node"]["count"] = 6.into();
    p.write_strategy(&strategy);
    assert_eq!(changes(&p), nodes(4..12, "create"));
    p.ok(&["apply", "--auto-approve"]);
    let after = where_nodes_run(&p);
    assert!(before.iter().all(|b| after.contains(b)), "{after:?}");
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
}
