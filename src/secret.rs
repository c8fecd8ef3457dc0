//! Secret values held in memory: zeroized when dropped, never shown by `Debug` or `Display`.
//! [`Secret`] is one value (both print `(sensitive)`), read only through [`Secret::expose`]:
//! provider credentials, tokens and the state passphrase. [`Resolved`] is a block of settings
//! whose `env.`/`secret.` references were replaced by their values: every string in it is
//! wiped when it is dropped, so a resolved credential leaves no plain copy in freed memory.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The value itself: for the one call that needs it, never for a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The zeroizing buffer itself, for a holder that keeps it as one.
    pub fn into_zeroizing(self) -> Zeroizing<String> {
        self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        // Deserialized into a zeroizing buffer at once: no plain copy is left behind here.
        String::deserialize(d).map(Secret::new)
    }
}

/// Overwrites every string of `value` (keys and values, at any depth) with zeroes, leaving
/// them empty.
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => wipe_map(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn wipe_map(map: &mut Map<String, Value>) {
    for (mut key, mut value) in std::mem::take(map) {
        key.zeroize();
        wipe(&mut value);
    }
}

/// A provider's (or a DNS or load-balancer provider's) settings with their references
/// resolved: a JSON object that is wiped when dropped, and whose `Debug` names the settings
/// only. Every clone is wiped in turn.
#[derive(Clone, Default, PartialEq)]
pub struct Resolved(Map<String, Value>);

impl Resolved {
    /// A copy as a JSON value, for deserializing into a driver's typed settings: fields typed
    /// [`Secret`] take their strings over without a copy; wipe what is left with [`wipe`].
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

impl From<Map<String, Value>> for Resolved {
    fn from(map: Map<String, Value>) -> Self {
        Resolved(map)
    }
}

impl std::ops::Deref for Resolved {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Map<String, Value> {
        &self.0
    }
}

impl std::ops::DerefMut for Resolved {
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }
}

impl Drop for Resolved {
    fn drop(&mut self) {
        wipe_map(&mut self.0);
    }
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_nothing_of_the_value() {
        let s: Secret = serde_json::from_str("\"canary-4711\"").unwrap();
        assert_eq!(s.expose(), "canary-4711");
        assert_eq!(format!("{s:?} {s}"), "(sensitive) (sensitive)");
        assert!(!format!("{:?}", Some(s.clone())).contains("canary"));
    }

    #[test]
    fn wipe_empties_every_string_at_any_depth() {
        let mut v =
            serde_json::json!({"token": "canary-1", "list": ["canary-2", 3, {"k": "canary-3"}]});
        wipe(&mut v);
        assert_eq!(v, serde_json::json!({}));
        let mut s = serde_json::json!(["canary-4", true, null]);
        wipe(&mut s);
        assert_eq!(s, serde_json::json!(["", true, null]));
    }

    #[test]
    fn resolved_settings_show_their_names_only() {
        let map = serde_json::json!({"token": "canary-5", "regions": ["nyc3"]});
        let Value::Object(map) = map else {
            unreachable!()
        };
        let resolved = Resolved::from(map);
        let shown = format!("{resolved:?}");
        assert!(
            shown.contains("token") && !shown.contains("canary"),
            "{shown}"
        );
        assert_eq!(resolved.to_value()["token"], "canary-5");
    }
}
