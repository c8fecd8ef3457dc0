//! A secret value held in memory: zeroized when dropped, never shown by `Debug` or `Display`
//! (both print `(sensitive)`), and read only through [`Secret::expose`]. For resolved
//! `env.`/`secret.` values, provider credentials and the state passphrase.

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

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
}
