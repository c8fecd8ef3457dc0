//! Outputs: the strategy's `outputs` block evaluated over the state, after apply and by
//! `oss output`. A reference to a node the state does not hold reads `null`; `count` is how
//! many nodes of the group the state holds. Pure.

use serde::Serialize;
use serde_json::Value;

use crate::reference::{Known, Reference, Selector, Template};
use crate::resource::Address;
use crate::state::State;
use crate::strategy::Strategy;

/// One output's value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputValue {
    pub value: Value,
    pub sensitive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Every output, by name (sorted). Outputs that hold a secret of the strategy are sensitive.
pub fn evaluate(
    strategy: &Strategy,
    state: Option<&State>,
) -> std::collections::BTreeMap<String, OutputValue> {
    let lookup = |r: &Reference| Known::Value(read(r, state));
    strategy
        .outputs
        .iter()
        .map(|(name, output)| {
            // Checked when the strategy was compiled; text that does not parse stays text.
            let value = match Template::parse(&output.value).map(|t| t.render(&lookup)) {
                Ok(Known::Value(value)) => value,
                _ => Value::from(output.value.clone()),
            };
            let text = value.to_string();
            let holds_secret = strategy
                .secrets
                .iter()
                .any(|s| !s.is_empty() && text.contains(s.as_str()));
            let value = OutputValue {
                value,
                sensitive: output.sensitive || holds_secret,
                description: output.description.clone(),
            };
            (name.clone(), value)
        })
        .collect()
}

fn read(reference: &Reference, state: Option<&State>) -> Value {
    let Some(state) = state else {
        return match reference.selector {
            Selector::Count => Value::from(0),
            Selector::All => Value::Array(Vec::new()),
            Selector::One(_) | Selector::Balancer => Value::Null,
        };
    };
    let of_group: Vec<_> = state
        .resources
        .values()
        .filter(|r| r.address.group() == Some(reference.group.as_str()))
        .collect();
    match reference.selector {
        Selector::Count => Value::from(of_group.len()),
        Selector::All => Value::Array(
            of_group
                .iter()
                .map(|r| r.exposed(&reference.attribute).unwrap_or(Value::Null))
                .collect(),
        ),
        Selector::Balancer => state
            .resources
            .get(&Address::balancer(&reference.group))
            .and_then(|r| r.exposed(&reference.attribute))
            .unwrap_or(Value::Null),
        Selector::One(i) => state
            .resources
            .get(&Address::node(&reference.group, i))
            .and_then(|r| r.exposed(&reference.attribute))
            .unwrap_or(Value::Null),
    }
}
