//! Providers as state records them, so nothing is stranded when one leaves the strategy: each
//! provider's kind and settings as written (`env.NAME` references unresolved), recorded on
//! every apply for the providers the state's resources live on, and turned back into driver
//! settings (references resolved from the environment of that moment) for a provider that is
//! in state but no longer in the strategy.
//!
//! Never records a secret: the literal value of a setting its driver declares secret
//! ([`driver::secret_settings`]) is left out, and so is any value that came from the
//! environment. Builds no driver and touches no backend: the engine does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::driver;
use crate::state::State;
use crate::state::document::ProviderRecord;
use crate::strategy::{ProviderOption, Strategy};

/// A provider in state that cannot be rebuilt from what state recorded.
#[derive(Debug, thiserror::Error)]
pub enum DepartedError {
    #[error(
        "Provider `{provider}` holds resources in state but is not in the strategy, and the \
         state does not record its settings"
    )]
    Unrecorded { provider: String },
    #[error(
        "Provider `{provider}` is no longer in the strategy and its recorded settings read \
         env.{variable}, but environment variable {variable} is not set"
    )]
    MissingVariable { provider: String, variable: String },
    #[error(
        "Provider `{provider}` is no longer in the strategy and its recorded settings read \
         secret.{name}, which only a strategy naming the provider reads from the vault"
    )]
    VaultSecret { provider: String, name: String },
}

impl DepartedError {
    pub fn hint(&self) -> String {
        match self {
            DepartedError::Unrecorded { .. } => "add the provider back to the strategy's \
                 provider options as it was, to manage or destroy its resources (states \
                 written from now on record it)"
                .into(),
            DepartedError::MissingVariable { variable, .. } => format!(
                "export {variable}=... (what the provider was applied with) to manage or \
                 destroy its resources"
            ),
            DepartedError::VaultSecret { .. } => "add the provider back to the strategy to \
                 manage or destroy its resources"
                .into(),
        }
    }
}

/// What state should record: every provider of the strategy that holds resources (or, when
/// `ahead`, that may come to hold some during an apply about to start), recorded afresh from
/// the strategy, and every provider no longer in the strategy that still holds resources, as
/// it was recorded. Providers holding nothing are dropped.
pub fn records(
    state: &State,
    strategy: &Strategy,
    ahead: bool,
) -> BTreeMap<String, ProviderRecord> {
    let holding = |name: &str| {
        state
            .resources
            .values()
            .any(|r| r.placement.provider == name)
    };
    let mut records: BTreeMap<String, ProviderRecord> = state
        .providers
        .iter()
        .filter(|(name, _)| holding(name))
        .map(|(name, record)| (name.clone(), record.clone()))
        .collect();
    let dns = strategy.dns.iter().map(|d| &d.provider);
    let lb = strategy.lb.iter().map(|b| &b.provider);
    for option in strategy.provider.options.iter().chain(dns).chain(lb) {
        if ahead || holding(&option.name) {
            records.insert(option.name.clone(), record(option, &strategy.secrets));
        } else {
            records.remove(&option.name);
        }
    }
    records
}

/// One provider's record: its settings as written, without the literal value of any setting
/// its driver declares secret and without any value that came from the environment.
pub fn record(option: &ProviderOption, secrets: &[String]) -> ProviderRecord {
    let secret_keys = driver::secret_settings(&option.kind);
    let mut settings = Map::new();
    for (key, value) in &option.written {
        let reference = value
            .as_str()
            .is_some_and(driver::settings::is_env_reference);
        if secret_keys.contains(&key.as_str()) && !reference {
            continue;
        }
        if let Some(value) = without_secrets(value, secrets) {
            settings.insert(key.clone(), value);
        }
    }
    ProviderRecord {
        kind: option.kind.clone(),
        settings,
    }
}

/// `value` with every string equal to a secret taken out (`None` if it is one).
fn without_secrets(value: &Value, secrets: &[String]) -> Option<Value> {
    match value {
        Value::String(s) if secrets.iter().any(|secret| secret == s) => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|v| without_secrets(v, secrets))
                .collect(),
        )),
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| without_secrets(v, secrets).map(|v| (k.clone(), v)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The settings a driver of a departed provider is built from: the recorded ones with every
/// `env.NAME` reference resolved by `env`, wiped when dropped. Returns them with the values
/// read (secrets, for redaction, zeroized in turn); a variable that is not set is an error
/// naming the provider and the variable.
pub fn resolve(
    provider: &str,
    record: &ProviderRecord,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(crate::secret::Resolved, zeroize::Zeroizing<Vec<String>>), DepartedError> {
    let mut settings = Value::Object(record.settings.clone());
    let mut read = zeroize::Zeroizing::new(Vec::new());
    let resolved = resolve_value(&mut settings, env, &mut read);
    if resolved.is_err() {
        // Values read before the one missing are wiped too.
        crate::secret::wipe(&mut settings);
    }
    resolved.map_err(|variable| match variable.strip_prefix("secret.") {
        Some(name) => DepartedError::VaultSecret {
            provider: provider.to_string(),
            name: name.to_string(),
        },
        None => DepartedError::MissingVariable {
            provider: provider.to_string(),
            variable,
        },
    })?;
    let Value::Object(settings) = settings else {
        unreachable!("an object stays an object")
    };
    Ok((settings.into(), read))
}

fn resolve_value(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
    read: &mut Vec<String>,
) -> Result<(), String> {
    match value {
        Value::String(s) => {
            if s.starts_with("secret.") && driver::settings::is_env_reference(s) {
                return Err(s.clone());
            }
            if let Some(name) = s.strip_prefix("env.") {
                let found = env(name).ok_or_else(|| name.to_string())?;
                read.push(found.clone());
                *s = found;
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_value(item, env, read)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                resolve_value(item, env, read)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn option(kind: &str, written: Value, settings: Value) -> ProviderOption {
        ProviderOption {
            kind: kind.into(),
            name: kind.into(),
            settings: settings.as_object().unwrap().clone().into(),
            written: written.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn a_record_keeps_references_and_drops_literal_credentials() {
        let aws = option(
            "aws",
            json!({"access_key_id": "AKIDLITERAL", "secret_access_key": "env.AWS_SECRET",
                   "session_token": "literal-token", "regions": ["ap-southeast-2"],
                   "endpoint": "http://127.0.0.1:5000"}),
            json!({}),
        );
        assert_eq!(
            Value::Object(record(&aws, &[]).settings),
            json!({"secret_access_key": "env.AWS_SECRET", "regions": ["ap-southeast-2"],
                   "endpoint": "http://127.0.0.1:5000"})
        );
        let sim = option(
            "sim",
            json!({"catalog": "sim/a.json", "api_key": "literal-key",
                   "require_api_key": "env.K", "latency_ms": 5}),
            json!({}),
        );
        let recorded = record(&sim, &[]);
        assert_eq!(recorded.kind, "sim");
        assert_eq!(
            Value::Object(recorded.settings),
            json!({"catalog": "sim/a.json", "require_api_key": "env.K", "latency_ms": 5})
        );
    }

    #[test]
    fn a_value_from_the_environment_is_never_recorded() {
        // Written as a literal in a setting no driver calls secret, yet equal to a secret.
        let local = option("local", json!({"runtime_dir": "s3cr3t-value"}), json!({}));
        let recorded = record(&local, &["s3cr3t-value".into()]);
        assert!(recorded.settings.is_empty(), "{:?}", recorded.settings);
    }

    #[test]
    fn records_follow_the_strategy_and_keep_departed_providers_while_they_hold_resources() {
        let text = r#"{"name": "t",
          "provider": {"options": [{"local": {"ready_timeout": 9}},
                                   {"sim": {"name": "idle", "catalog": "aws", "api_key": "env.K"}}]},
          "node": {"image": {"options": [{"name": "host"}]},
                   "hardware": {"options": [{"name": "small"}]},
                   "location": {"options": [{"id": "local-a"}]}}}"#;
        let env = |_: &str| Some("key-value".to_string());
        let strategy = crate::strategy::parse(std::path::Path::new("s.json"), text, &env).unwrap();
        let mut state = State::new("t");
        let mut node = |i: usize, provider: &str| {
            let mut r = crate::state::document::tests::node(i);
            r.placement.provider = provider.into();
            state.resources.insert(r.address.clone(), r);
        };
        node(0, "local");
        node(1, "departed");
        let old = |kind: &str| ProviderRecord {
            kind: kind.into(),
            settings: Map::new(),
        };
        for name in ["local", "departed", "departed-empty"] {
            state.providers.insert(name.into(), old("sim"));
        }
        let names = |records: &BTreeMap<String, ProviderRecord>| {
            records.keys().cloned().collect::<Vec<_>>()
        };

        let ahead = records(&state, &strategy, true);
        assert_eq!(names(&ahead), ["departed", "idle", "local"]);
        // The strategy's providers are recorded afresh, a departed one as it was.
        assert_eq!(ahead["local"].kind, "local");
        assert_eq!(
            Value::Object(ahead["local"].settings.clone()),
            json!({"ready_timeout": 9})
        );
        assert_eq!(
            Value::Object(ahead["idle"].settings.clone()),
            json!({"catalog": "aws", "api_key": "env.K"})
        );
        assert_eq!(ahead["departed"], old("sim"));

        // Once the apply is done, only providers holding resources stay.
        assert_eq!(
            names(&records(&state, &strategy, false)),
            ["departed", "local"]
        );
    }

    #[test]
    fn resolving_reads_the_environment_and_names_a_missing_variable() {
        let record = ProviderRecord {
            kind: "sim".into(),
            settings: json!({"catalog": "env.CAT", "errors": {"x": ["env.DEEP"]}, "n": 1})
                .as_object()
                .unwrap()
                .clone(),
        };
        let env = |name: &str| (name != "DEEP").then(|| format!("value-of-{name}"));
        let err = resolve("cloud-a", &record, &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Provider `cloud-a` is no longer in the strategy and its recorded settings read \
             env.DEEP, but environment variable DEEP is not set"
        );
        assert!(err.hint().starts_with("export DEEP=..."), "{}", err.hint());
        let env = |name: &str| Some(format!("value-of-{name}"));
        let (settings, read) = resolve("cloud-a", &record, &env).unwrap();
        assert_eq!(
            settings.to_value(),
            json!({"catalog": "value-of-CAT", "errors": {"x": ["value-of-DEEP"]}, "n": 1})
        );
        assert_eq!(read.len(), 2);
    }

    #[test]
    fn a_departed_provider_reading_the_vault_is_named_and_its_reference_recorded() {
        let record = ProviderRecord {
            kind: "sim".into(),
            settings: json!({"catalog": "aws", "api_key": "secret.SIM_KEY"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let env = |name: &str| Some(format!("value-of-{name}"));
        let err = resolve("cloud-a", &record, &env).unwrap_err();
        assert!(
            matches!(&err, DepartedError::VaultSecret { provider, name }
                if provider == "cloud-a" && name == "SIM_KEY"),
            "{err}"
        );
        assert!(
            err.hint().starts_with("add the provider back"),
            "{}",
            err.hint()
        );
    }
}
