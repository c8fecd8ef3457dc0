//! What every page reads, opened once per server: the engine session (state backend,
//! drivers for logs), the strategy's secrets (for redaction), the locations of the providers'
//! catalogs (coordinates for the map), the live view of the state ([`super::watch`]), the
//! fleet's health ([`super::health`]), and the caches of what is costly to compute again
//! (version summaries, fall-back candidates).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::health::Health;
use super::history::Summary;
use super::watch::Live;
use super::{Options, ServeError};
use crate::catalog::Location;
use crate::engine::Session;
use crate::monitor::store::Store;
use crate::plan::sensitive::SHOWN;
use crate::resource::{Address, Existing, Placement};
use crate::state::State;

/// Catalog locations by (provider, location id).
pub type Locations = HashMap<(String, String), Location>;

/// Ranked candidates per node address, as compiled against state serial `.0`.
pub type Fallbacks = (u64, Arc<HashMap<Address, Arc<[Placement]>>>);

pub struct Source {
    pub session: Arc<Session>,
    pub secrets: Arc<Vec<String>>,
    pub plans: Vec<PathBuf>,
    pub locations: Arc<Locations>,
    /// Why there are no coordinates, when the catalogs could not be read.
    pub catalog_error: Option<String>,
    pub live: Live,
    /// Cancelled when the server stops: long-lived answers (the event stream) end.
    pub stopping: tokio_util::sync::CancellationToken,
    pub summaries: Mutex<HashMap<(u64, String), Summary>>,
    pub fallbacks: Mutex<Option<Fallbacks>>,
    /// Each watched node's latest verdict and the probe latencies ([`super::health`]).
    pub health: Arc<Health>,
    /// Where transitions are recorded (the node pages read their history from it).
    pub health_store: Store,
    /// The summaries of the applies run from this state directory (`/metrics` sums them).
    pub applies: crate::engine::applies::Store,
}

impl Source {
    pub async fn open(session: Arc<Session>, options: &Options) -> Result<Arc<Source>, ServeError> {
        let secrets: Arc<Vec<String>> = Arc::new(
            session
                .strategy
                .secrets
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
        );
        let (locations, catalog_error) = match session.catalogs().await {
            Ok(catalogs) => {
                let mut locations = Locations::new();
                for (provider, catalog) in catalogs {
                    for location in catalog.locations {
                        locations.insert((provider.clone(), location.id.clone()), location);
                    }
                }
                (locations, None)
            }
            Err(e) => (
                Locations::new(),
                Some(redact_text(&e.to_string(), &secrets)),
            ),
        };
        let locations = Arc::new(locations);
        let live = Live::start(session.clone(), secrets.clone(), options.poll).await?;
        let stopping = tokio_util::sync::CancellationToken::new();
        let health = Health::new(live.clone());
        let health_store = Store::in_dir(session.state_dir());
        if session.strategy.groups.iter().any(|g| g.health.is_some()) {
            let monitor = crate::monitor::run(
                session.clone(),
                crate::monitor::Options {
                    observer: "serve",
                    repair: false,
                    until: crate::monitor::Until::Stopped,
                    reload: options.poll.max(std::time::Duration::from_millis(500)),
                    ..crate::monitor::Options::default()
                },
                Some(health_store.clone()),
                health.clone(),
                stopping.clone(),
            );
            // The state was just read, so the first load works; later failures are waited out.
            tokio::spawn(monitor);
        }
        Ok(Arc::new(Source {
            health,
            health_store,
            applies: crate::engine::applies::Store::in_dir(session.state_dir()),
            session,
            secrets,
            plans: options.plans.clone(),
            locations,
            catalog_error,
            live,
            stopping,
            summaries: Mutex::new(HashMap::new()),
            fallbacks: Mutex::new(None),
        }))
    }

    /// `text` with every secret replaced.
    pub fn redact_text(&self, text: &str) -> String {
        redact_text(text, &self.secrets)
    }
}

/// `text` with every secret replaced by `(sensitive)`.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), SHOWN))
}

/// `state` with every value that holds a secret shown as `(sensitive)` (as the plan shows
/// such attributes), in whatever field of a resource it is.
pub fn redact(mut state: State, secrets: &[String]) -> State {
    if secrets.is_empty() {
        return state;
    }
    for resource in state.resources.values_mut().chain(state.deposed.iter_mut()) {
        redact_resource(resource, secrets);
    }
    state
}

fn redact_resource(resource: &mut Existing, secrets: &[String]) {
    for value in resource
        .attributes
        .values_mut()
        .chain(resource.observed.values_mut())
    {
        redact_value(value, secrets);
    }
    let placement = &mut resource.placement;
    for text in [
        &mut resource.provider_id,
        &mut placement.provider,
        &mut placement.location,
        &mut placement.size,
        &mut placement.image,
    ] {
        if secrets.iter().any(|secret| text.contains(secret.as_str())) {
            *text = SHOWN.to_string();
        }
    }
}

/// Replaces, in place, every string or number of `value` that holds a secret.
pub fn redact_value(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) if secrets.iter().any(|secret| s.contains(secret.as_str())) => {
            *s = SHOWN.to_string();
        }
        Value::Number(n) if secrets.iter().any(|s| n.to_string().contains(s.as_str())) => {
            *value = Value::from(SHOWN);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_value(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_holding_a_secret_is_replaced_wherever_it_is() {
        let secrets = vec!["hunter2".to_string(), "4242".to_string()];
        let mut value = serde_json::json!({
            "tags": {"note": "key=hunter2!", "plain": "ok"},
            "list": ["a", "xhunter2"],
            "port": 424242,
            "fine": 7
        });
        redact_value(&mut value, &secrets);
        assert_eq!(
            value,
            serde_json::json!({
                "tags": {"note": SHOWN, "plain": "ok"},
                "list": ["a", SHOWN],
                "port": SHOWN,
                "fine": 7
            })
        );
        assert_eq!(redact_text("a hunter2 b", &secrets), format!("a {SHOWN} b"));
    }
}
