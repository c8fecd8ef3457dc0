//! The machine-readable plan (`oss plan --json`), documented in `docs/plan-json.md`. Its
//! shape is a contract: add fields, never rename or remove them without a new
//! `format_version`.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::{Change, Effect, Plan};

/// Writes the plan document as one line of JSON, a change at a time, so a plan of 100,000
/// nodes never exists twice in memory.
pub fn write(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    let Value::Object(head) = head(plan) else {
        unreachable!("the head is an object")
    };
    out.write_all(b"{")?;
    for (key, value) in &head {
        serde_json::to_writer(&mut *out, key)?;
        out.write_all(b":")?;
        serde_json::to_writer(&mut *out, value)?;
        out.write_all(b",")?;
    }
    out.write_all(b"\"changes\":[")?;
    for (i, c) in plan.changes.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &change(c, &plan.sensitive_fields(&c.address)))?;
    }
    out.write_all(b"]}\n")
}

fn head(plan: &Plan) -> Value {
    let costs = plan.costs();
    let mut head = json!({
        "format_version": super::FORMAT_VERSION.to_string(),
        "strategy": plan.strategy,
        "strategy_hash": plan.strategy_hash,
        "state": {"lineage": plan.lineage, "serial": plan.serial},
        "destroy": plan.destroy,
        "summary": summary_json(plan),
        "cost": cost_json(&costs[0].1, &costs[0].0, true),
    });
    // Prices in several currencies are never summed: `cost` holds the first (US dollars when
    // any), `costs` every one.
    if costs.len() > 1 {
        head["costs"] = costs
            .iter()
            .map(|(currency, cost)| cost_json(cost, currency, true))
            .collect();
    }
    if !plan.warnings.is_empty() {
        head["warnings"] = json!(plan.warnings);
    }
    head
}

/// The counts; `move` only when `moved` blocks rename something.
fn summary_json(plan: &Plan) -> Value {
    let summary = plan.summary();
    let mut doc = json!({"add": summary.add, "change": summary.change, "destroy": summary.destroy});
    if plan.moved() > 0 {
        doc["move"] = json!(plan.moved());
    }
    doc
}

fn round(value: f64) -> f64 {
    // Cents of cents: enough for prices, stable in snapshots.
    (value * 10_000.0).round() / 10_000.0
}

fn cost_json(cost: &super::Cost, currency: &str, totals: bool) -> Value {
    let mut doc = json!({
        "currency": currency,
        "before_hourly": round(cost.before_hourly),
        "after_hourly": round(cost.after_hourly),
        "before_monthly": round(cost.before_monthly()),
        "after_monthly": round(cost.after_monthly()),
    });
    if totals {
        doc["delta_monthly"] = json!(round(cost.delta_monthly()));
        doc["delta_percent"] = json!(cost.delta_percent().map(|p| (p * 10.0).round() / 10.0));
    }
    doc
}

/// One change; the values of its `sensitive` fields are left out of `before` and `after`.
fn change(c: &Change, sensitive: &[&str]) -> Value {
    // Values known only after apply are left out of `after` and listed in `after_unknown`.
    let fields = |after: bool| -> Value {
        let map: Map<String, Value> = c
            .fields()
            .iter()
            .filter(|f| !sensitive.contains(&f.name))
            .filter(|f| !(after && f.unknown))
            .filter_map(|f| {
                let value = if after { &f.after } else { &f.before };
                value.as_deref().map(|v| (f.name.to_string(), v.clone()))
            })
            .collect();
        if map.is_empty() {
            Value::Null
        } else {
            Value::Object(map)
        }
    };
    let actions: &[&str] = match c.effect() {
        Effect::Create | Effect::Recreate => &["create"],
        Effect::Update => &["update"],
        Effect::Replace if c.creates_first() => &["create", "delete"],
        Effect::Replace => &["delete", "create"],
        Effect::Delete => &["delete"],
        Effect::Forget => &["forget"],
        Effect::Move => &["move"],
        Effect::NoOp => &["no-op"],
    };
    let mut doc = json!({
        "address": c.address,
        "action": c.action.to_string(),
        "actions": actions,
        "reason": c.reason,
        "gone": c.gone,
        "deposed": c.deposed,
        "before": fields(false),
        "after": fields(true),
        "after_unknown": c.after.as_ref().map(|a| {
            a.unknown.iter().map(|n| (n.clone(), Value::Bool(true))).collect::<Map<String, Value>>()
        }).filter(|m| !m.is_empty()),
        "changed": c.changed_fields().iter().map(|f| f.name).collect::<Vec<_>>(),
        "sensitive": sensitive,
        "provider_id": c.before.as_ref().map(|b| b.provider_id.clone()),
        "cost": cost_json(&c.cost(), c.currency(), false),
        "candidates": c.after.as_ref().map(|a| {
            std::iter::once(&a.placement).chain(a.fallbacks.iter()).map(|p| json!({
                "provider": p.provider, "location": p.location, "size": p.size, "image": p.image,
                "hourly_price": p.hourly_price,
            })).collect::<Vec<_>>()
        }),
    });
    if let Some(from) = &c.moved_from {
        doc["moved_from"] = json!(from);
    }
    doc
}
