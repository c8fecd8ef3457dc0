//! The apply journal every backend keeps: typed records of finished steps ([`Entry`]), the
//! header that ties a journal to the state it continues ([`Header`]), their one text codec
//! (one JSON object per line, the same in local files, PostgreSQL rows and S3 objects), and
//! the fold that replays records onto a loaded state.
//!
//! The format is stable: `{"put": RESOURCE}`, `{"delete": "ADDRESS"}`, the entries of a
//! create-before-destroy replace (`{"depose": "ADDRESS"}`, `{"restore": "ADDRESS"}`,
//! `{"drop_deposed": {"address": "ADDRESS", "provider_id": "ID"}}`), and the header
//! `{"journal":1,"lineage":"..","base_serial":N}`. Pure: no I/O; backends store the text.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::document::State;
use super::error::StateError;
use crate::resource::{Address, Existing};

/// One finished step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// The resource exists as given (created, updated or adopted).
    Put(Box<Existing>),
    /// The resource no longer exists.
    Delete(Address),
    /// The resource at this address is moved aside (still existing) so that its replacement
    /// can take the address: create-before-destroy.
    Depose(Address),
    /// The replacement could not be created: the object moved aside last for this address
    /// takes it back.
    Restore(Address),
    /// A deposed object no longer exists.
    DropDeposed(Deposed),
}

/// Which deposed object: the address it had and its provider id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposed {
    pub address: Address,
    pub provider_id: String,
}

impl Entry {
    /// The record as one line of text (no newline).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("journal entry serializes")
    }

    /// The record a line holds; `None` for a line that does not parse (a torn write).
    pub fn decode(line: &str) -> Option<Entry> {
        serde_json::from_str(line).ok()
    }

    /// Makes the step's effect part of `state`.
    pub fn apply_to(self, state: &mut State) {
        match self {
            Entry::Put(r) => {
                state.resources.insert(r.address.clone(), *r);
            }
            Entry::Delete(a) => {
                state.resources.remove(&a);
            }
            Entry::Depose(a) => {
                if let Some(r) = state.resources.remove(&a) {
                    state.deposed.push(r);
                }
            }
            Entry::Restore(a) => {
                if !state.resources.contains_key(&a)
                    && let Some(i) = state.deposed.iter().rposition(|r| r.address == a)
                {
                    let r = state.deposed.remove(i);
                    state.resources.insert(a, r);
                }
            }
            Entry::DropDeposed(d) => {
                state
                    .deposed
                    .retain(|r| r.address != d.address || r.provider_id != d.provider_id);
            }
        }
    }
}

/// `entries` as lines, each ending in a newline (one write or object for a batch).
pub fn encode_lines(entries: &[Entry]) -> Vec<u8> {
    let mut text = String::new();
    for entry in entries {
        text.push_str(&entry.encode());
        text.push('\n');
    }
    text.into_bytes()
}

/// The first line of a journal kept as one file: which state it continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub journal: u32,
    pub lineage: String,
    pub base_serial: u64,
}

impl Header {
    /// The header of a journal continuing `state` (already written).
    pub fn continuing(state: &State) -> Header {
        Header {
            journal: 1,
            lineage: state.lineage.clone(),
            base_serial: state.serial,
        }
    }

    /// Whether a journal with this header continues exactly `state`; one for another lineage
    /// or an older serial was already folded in (or is foreign).
    pub fn continues(&self, state: &State) -> bool {
        self.lineage == state.lineage && self.base_serial == state.serial
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("journal header serializes")
    }

    pub fn decode(line: &str) -> Option<Header> {
        serde_json::from_str(line).ok()
    }
}

/// A state as loaded, and whether unfinished journal entries were folded into it (then the
/// caller should write it before changing anything else).
#[derive(Debug)]
pub struct Loaded {
    pub state: Option<State>,
    pub recovered_steps: usize,
}

impl Loaded {
    /// Nothing stored yet.
    pub fn nothing() -> Loaded {
        Loaded {
            state: None,
            recovered_steps: 0,
        }
    }
}

/// `state` with journal lines folded in, in order, up to the first that does not parse (a
/// torn write: the process died mid-record); empty lines are skipped.
pub fn fold<'a>(mut state: State, lines: impl IntoIterator<Item = &'a str>) -> Loaded {
    let mut recovered_steps = 0;
    for line in lines.into_iter().filter(|l| !l.is_empty()) {
        let Some(entry) = Entry::decode(line) else {
            break;
        };
        entry.apply_to(&mut state);
        recovered_steps += 1;
    }
    Loaded {
        state: Some(state),
        recovered_steps,
    }
}

/// The append-only record of an apply's finished steps; each call is durable when it returns.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Appends records, in order, durable together when it returns: several finished steps
    /// cost one sync (group commit).
    async fn append(&self, entries: &[Entry]) -> Result<(), StateError>;

    /// Records that `resource` exists as given.
    async fn put(&self, resource: &Existing) -> Result<(), StateError> {
        self.append(&[Entry::Put(Box::new(resource.clone()))]).await
    }

    /// Records that `address` no longer exists.
    async fn delete(&self, address: &Address) -> Result<(), StateError> {
        self.append(&[Entry::Delete(address.clone())]).await
    }

    /// Records one entry.
    async fn record(&self, entry: Entry) -> Result<(), StateError> {
        self.append(&[entry]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Journals written before the typed entries existed still fold: the format is the same.
    #[test]
    fn the_stored_format_is_unchanged() {
        let put = r#"{"put":{"address":"node.web[0]","kind":"node","placement":{"provider":"local","location":"local-a","size":"small","image":"host"},"provider_id":"web-0","attributes":{},"observed":{},"dependencies":[]}}"#;
        let delete = r#"{"delete":"node.web[9]"}"#;
        let Some(Entry::Put(resource)) = Entry::decode(put) else {
            panic!("the put record does not decode");
        };
        assert_eq!(resource.address, Address::node("web", 0));
        assert_eq!(
            Entry::decode(delete),
            Some(Entry::Delete(Address::node("web", 9)))
        );
        assert_eq!(Entry::Delete(Address::node("web", 9)).encode(), delete);
        let header = r#"{"journal":1,"lineage":"l-1","base_serial":4}"#;
        let decoded = Header::decode(header).unwrap();
        assert_eq!(decoded.encode(), header);
        assert_eq!(decoded.base_serial, 4);
    }

    #[test]
    fn a_deposed_object_is_kept_until_dropped() {
        use crate::state::document::tests::node;
        let mut state = State::new("t");
        state.resources.insert(node(0).address.clone(), node(0));
        let new = Existing {
            provider_id: "web-0-new".into(),
            ..node(0)
        };
        let lines = encode_lines(&[
            Entry::Depose(node(0).address),
            Entry::Put(Box::new(new.clone())),
        ]);
        let text = String::from_utf8(lines).unwrap();
        let state = fold(state, text.lines()).state.unwrap();
        assert_eq!(state.deposed, [node(0)], "the old object is not forgotten");
        assert_eq!(state.resources[&node(0).address], new);
        let drop = Entry::DropDeposed(Deposed {
            address: node(0).address,
            provider_id: "web-0".into(),
        });
        assert_eq!(
            drop.encode(),
            r#"{"drop_deposed":{"address":"node.web[0]","provider_id":"web-0"}}"#
        );
        let state = fold(state, [drop.encode().as_str()]).state.unwrap();
        assert!(state.deposed.is_empty());
        assert_eq!(state.resources.len(), 1);
    }

    #[test]
    fn a_failed_replacement_gives_the_address_back() {
        use crate::state::document::tests::node;
        let mut state = State::new("t");
        state.resources.insert(node(0).address.clone(), node(0));
        let lines = [
            Entry::Depose(node(0).address),
            Entry::Restore(node(0).address),
        ];
        let text = String::from_utf8(encode_lines(&lines)).unwrap();
        let state = fold(state, text.lines()).state.unwrap();
        assert!(state.deposed.is_empty());
        assert_eq!(state.resources[&node(0).address], node(0));
    }

    #[test]
    fn the_fold_stops_at_a_torn_record() {
        let mut state = State::new("t");
        state.resources.insert(
            Address::node("web", 9),
            serde_json::from_str(r#"{"address":"node.web[9]","kind":"node","placement":{"provider":"local","location":"local-a","size":"small","image":"host"},"provider_id":"web-9","attributes":{},"observed":{},"dependencies":[]}"#).unwrap(),
        );
        let lines = encode_lines(&[Entry::Delete(Address::node("web", 9))]);
        let text = format!("{}\n{{\"put\":{{\"addr", String::from_utf8(lines).unwrap());
        let loaded = fold(state, text.lines());
        assert_eq!(loaded.recovered_steps, 1);
        assert!(loaded.state.unwrap().resources.is_empty());
    }
}
