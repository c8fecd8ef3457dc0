//! A saved plan is applied only against the state and strategy it was made from.

mod common;

use common::Project;

#[test]
fn saved_plan_is_refused_after_the_state_or_strategy_changed() {
    let p = Project::sample(1);
    p.ok(&["plan", "--out", "first.plan"]);
    p.ok(&["plan", "--out", "second.plan"]);

    // The first plan goes through as saved.
    let out = p.ok(&["apply", "first.plan", "--auto-approve"]);
    assert!(out.contains("Apply complete"), "{out}");

    // The second was made before that apply: the state has moved on.
    let (code, _, err) = p.run(&["apply", "second.plan", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("The saved plan is stale: it was made for state lineage (no state), but the state's lineage is now"), "{err}");

    p.ok(&["plan", "--out", "third.plan"]);
    let mut strategy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.path("strategy.json")).unwrap()).unwrap();
    strategy["node"]["tags"]["app"] = "changed".into();
    p.write_strategy(&strategy);
    let (code, _, err) = p.run(&["apply", "third.plan", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the strategy file strategy.json changed since the plan was made"),
        "{err}"
    );
    assert!(err.contains("hint: make a new plan"), "{err}");

    p.ok(&["plan", "--out", "fourth.plan"]);
    p.ok(&["apply", "--auto-approve"]); // serial moves on
    let (code, _, err) = p.run(&["apply", "fourth.plan", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("it was made at state serial"), "{err}");
    assert!(err.contains("but the state is now at serial"), "{err}");

    // `show` renders a saved plan.
    let shown = p.ok(&["show", "fourth.plan"]);
    assert!(
        shown.contains("node.web[0] will be updated in place: tags changed"),
        "{shown}"
    );
    p.ok(&["destroy", "--auto-approve"]);
}
