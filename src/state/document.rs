//! The state document: `format_version`, `serial` (bumped on every write), `lineage` (fixed
//! at creation), the strategy's name, the `random` seed, the providers its resources live on
//! (kind and non-secret settings, see [`ProviderRecord`]) and the resources; its one rendering
//! (the bytes every backend stores) and its parsing, which refuses what cannot be trusted: an
//! unknown format version, or a resource listed twice.
//!
//! Beside the resources, `deposed` lists objects that a create-before-destroy replace has
//! moved aside: the old object still runs (or may) while its replacement takes the address;
//! the next plan deletes any that a crash left behind.
//!
//! Pure: no I/O. Secrets never enter the document (resources hold only compiled attributes and
//! what providers observed; provider records hold `env.NAME` references, never their values).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::StateError;
use crate::resource::{Address, Existing};

pub const FORMAT_VERSION: u32 = 1;

/// The state document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub serial: u64,
    pub lineage: String,
    /// The strategy's name.
    pub strategy: String,
    /// Seed for `random` picks, kept so that plans are reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Every provider the resources live on, by name: what it takes to build its driver
    /// again once it has left the strategy. Absent in states written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, ProviderRecord>,
    #[serde(with = "as_list")]
    pub resources: BTreeMap<Address, Existing>,
    /// Old objects of create-before-destroy replaces, still to be deleted (each with the
    /// address it had; several may share one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Existing>,
    /// Objects `oss state rm` forgot: refresh does not adopt them again by their marker
    /// (`oss import` of one takes it off the list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<Forgotten>,
}

/// An object forgotten without being destroyed: still running at its provider, no longer
/// managed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forgotten {
    pub provider: String,
    pub provider_id: String,
    /// The address it had when it was forgotten.
    pub address: Address,
}

impl State {
    /// Whether `provider_id` at `provider` was forgotten with `oss state rm`.
    pub fn is_forgotten(&self, provider: &str, provider_id: &str) -> bool {
        self.forgotten
            .iter()
            .any(|f| f.provider == provider && f.provider_id == provider_id)
    }
}

/// A provider as the strategy wrote it: its driver kind and its settings (`name` removed)
/// with `env.NAME` references unresolved and no literal credential (the engine leaves out
/// the values of settings its driver declares secret before recording).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderRecord {
    pub kind: String,
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new(strategy: &str) -> Self {
        State {
            format_version: FORMAT_VERSION,
            serial: 0,
            lineage: new_lineage(),
            strategy: strategy.to_string(),
            seed: None,
            providers: BTreeMap::new(),
            resources: BTreeMap::new(),
            forgotten: Vec::new(),
            deposed: Vec::new(),
        }
    }
}

/// A random, unique-enough lineage id (UUID-shaped, version 4).
pub fn new_lineage() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

/// The bytes a state is stored as (pretty JSON with a final newline), the same everywhere so
/// that a migrated state is byte-for-byte the one it came from.
pub fn render(state: &State) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes");
    bytes.push(b'\n');
    bytes
}

/// The document as stored: resources as the list they are written as, so that a duplicate
/// can be told by its place in the list.
#[derive(Deserialize)]
struct Stored {
    format_version: u32,
    serial: u64,
    lineage: String,
    strategy: String,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    providers: BTreeMap<String, ProviderRecord>,
    resources: Vec<Existing>,
    #[serde(default)]
    forgotten: Vec<Forgotten>,
    #[serde(default)]
    deposed: Vec<Existing>,
}

/// Parses a stored state document; `whence` names it in errors (a path, or a backend).
pub fn parse(bytes: &[u8], whence: &str) -> Result<State, StateError> {
    let stored: Stored = serde_json::from_slice(bytes).map_err(|source| StateError::Corrupt {
        path: whence.into(),
        source,
    })?;
    if stored.format_version != FORMAT_VERSION {
        return Err(StateError::Version {
            path: whence.into(),
            found: stored.format_version,
        });
    }
    let mut resources = BTreeMap::new();
    for (index, resource) in stored.resources.into_iter().enumerate() {
        let address = resource.address.clone();
        if resources.insert(address.clone(), resource).is_some() {
            let pointer = format!("/resources/{index}");
            // Valid JSON is valid UTF-8, so the text can always be walked.
            let at = std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| crate::strategy::locate::locate(text, &pointer, None));
            return Err(StateError::Duplicate {
                path: whence.into(),
                address: address.to_string(),
                pointer,
                at,
            });
        }
    }
    Ok(State {
        format_version: stored.format_version,
        serial: stored.serial,
        lineage: stored.lineage,
        strategy: stored.strategy,
        seed: stored.seed,
        providers: stored.providers,
        resources,
        forgotten: stored.forgotten,
        deposed: stored.deposed,
    })
}

/// Resources are stored as a list sorted by address (readable diffs of the state file),
/// and held as a map; a list naming an address twice is refused.
mod as_list {
    use super::*;
    use serde::{Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<Address, Existing>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Address, Existing>, D::Error> {
        let mut map = BTreeMap::new();
        for r in Vec::<Existing>::deserialize(d)? {
            if let Some(again) = map.insert(r.address.clone(), r) {
                return Err(D::Error::custom(format!(
                    "resource {} is listed twice",
                    again.address
                )));
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resource::{Kind, Placement};

    /// A node resource for tests of the state layer.
    pub(crate) fn node(i: usize) -> Existing {
        Existing {
            address: Address::node("web", i),
            kind: Kind::Node,
            placement: Placement {
                provider: "local".into(),
                location: "local-a".into(),
                size: "small".into(),
                image: "host".into(),
                hourly_price: None,
                currency: None,
            },
            provider_id: format!("web-{i}"),
            attributes: Default::default(),
            observed: Default::default(),
            dependencies: vec![],
        }
    }

    #[test]
    fn render_then_parse_gives_the_same_state() {
        let mut state = State::new("t");
        state.serial = 7;
        state.seed = Some(3);
        for i in [2, 0, 1] {
            state.resources.insert(node(i).address.clone(), node(i));
        }
        let bytes = render(&state);
        assert!(bytes.ends_with(b"}\n"));
        assert_eq!(parse(&bytes, "t.state.json").unwrap(), state);
    }

    #[test]
    fn provider_records_round_trip_and_old_states_without_them_load() {
        let mut state = State::new("t");
        state.resources.insert(node(0).address.clone(), node(0));
        let settings = serde_json::json!({"catalog": "sim/a.json", "api_key": "env.A_KEY"});
        state.providers.insert(
            "cloud-a".into(),
            ProviderRecord {
                kind: "sim".into(),
                settings: settings.as_object().unwrap().clone(),
            },
        );
        let bytes = render(&state);
        assert_eq!(parse(&bytes, "t").unwrap(), state);
        assert_eq!(serde_json::from_slice::<State>(&bytes).unwrap(), state);

        // Written before providers were recorded: loads with none, and renders as it was.
        state.providers.clear();
        let old = render(&state);
        assert!(!String::from_utf8_lossy(&old).contains("providers"));
        assert_eq!(parse(&old, "t").unwrap(), state);
    }

    #[test]
    fn a_resource_listed_twice_is_refused_at_its_second_place() {
        let mut state = State::new("t");
        state.resources.insert(node(0).address.clone(), node(0));
        state.resources.insert(node(1).address.clone(), node(1));
        let mut doc: serde_json::Value = serde_json::from_slice(&render(&state)).unwrap();
        let again = doc["resources"][0].clone();
        doc["resources"].as_array_mut().unwrap().push(again);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "{")
            .map(|(i, _)| i + 1)
            .last()
            .unwrap();
        let err = parse(text.as_bytes(), "state/t.state.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "State file state/t.state.json:{line}:5 lists node.web[0] a second time (at \
                 /resources/2); each resource may appear once: remove the wrong entry, or \
                 restore an earlier version"
            )
        );
        // The derived form refuses it too (saved plans and pushes read state that way).
        let derived = serde_json::from_str::<State>(&text).unwrap_err();
        assert!(
            derived.to_string().contains("node.web[0] is listed twice"),
            "{derived}"
        );
    }

    #[test]
    fn another_format_version_is_refused() {
        let mut state = State::new("t");
        state.format_version = 2;
        let err = parse(&render(&state), "x").unwrap_err();
        assert!(matches!(err, StateError::Version { found: 2, .. }), "{err}");
    }
}
