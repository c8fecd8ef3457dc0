//! Provider settings: each driver's block in the strategy deserialized into its own
//! `#[derive(Deserialize)]` struct (unknown keys refused), then range-checked, with every
//! problem pointing at the setting it is about (`/errors/throttle`) so the strategy layer can
//! locate it in the file like any other strategy error.
//!
//! The check runs twice: on the settings as written, when the strategy is validated (an
//! `env.NAME` reference is then an unresolved string, and checks of a string's content skip
//! it), and on the resolved settings when a driver is built. Messages never echo a setting's
//! value: it may be a credential.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::DriverError;

/// One problem with a provider's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// JSON pointer inside the provider's settings (`/latency_ms`, `/errors/throttle`); empty
    /// for the block as a whole.
    pub pointer: String,
    /// Whether the problem is the last key of `pointer` itself (an unknown setting), so its
    /// location is the key's rather than its value's.
    pub at_key: bool,
    /// One sentence, capitalised.
    pub message: String,
    pub hint: Option<String>,
}

impl SettingsError {
    /// A problem with the value at `pointer`.
    pub fn at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            pointer: pointer.into(),
            at_key: false,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// As a driver error of provider `name` of kind `kind` (for problems found while building).
    pub fn into_driver_error(self, kind: &str, name: &str) -> DriverError {
        let setting = self.pointer.trim_start_matches('/').replace('/', ".");
        let place = if setting.is_empty() {
            format!("The {kind} settings of provider `{name}`")
        } else {
            format!("The {kind} setting `{setting}` (provider `{name}`)")
        };
        let message = self.message.trim_end_matches('.');
        let hint = self.hint.map_or(String::new(), |h| format!(" ({h})"));
        DriverError::fatal(format!("{place}: {message}{hint}."))
    }
}

/// Range and content checks a settings struct makes after it deserialized.
pub trait Checked: DeserializeOwned {
    /// Problems serde cannot see: ranges, formats, sums. String settings holding an `env.`
    /// reference (see [`is_env_reference`]) are left alone.
    fn check(&self) -> Result<(), SettingsError>;
}

/// Deserializes and checks settings of type `T`.
/// The copy deserialized from is wiped: settings may hold resolved credentials, which `T`
/// keeps as [`crate::secret::Secret`]s.
pub fn parse<T: Checked>(settings: &Map<String, Value>) -> Result<T, SettingsError> {
    let mut value = Value::Object(settings.clone());
    let parsed = serde_path_to_error::deserialize::<_, T>(&value);
    crate::secret::wipe(&mut value);
    let parsed = parsed.map_err(|error| {
        let pointer = pointer_of(error.path());
        describe(pointer, &error.into_inner().to_string())
    })?;
    parsed.check()?;
    Ok(parsed)
}

/// Whether `text` is an `env.NAME` or `secret.NAME` reference (unresolved, as written in the
/// strategy).
pub fn is_env_reference(text: &str) -> bool {
    text.strip_prefix("env.")
        .or_else(|| text.strip_prefix("secret."))
        .is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Refuses an `endpoint` that is not an http(s) URL (an `env.` reference is left for later).
pub fn check_endpoint(endpoint: &Option<String>) -> Result<(), SettingsError> {
    let fine = |url: &str| {
        is_env_reference(url) || url.starts_with("http://") || url.starts_with("https://")
    };
    match endpoint {
        Some(url) if !fine(url) => Err(SettingsError::at(
            "/endpoint",
            "Expected an http:// or https:// URL.",
        )),
        _ => Ok(()),
    }
}

/// Refuses the first of the named string settings that is given but empty.
pub fn check_non_empty(strings: &[(&str, Option<&str>)]) -> Result<(), SettingsError> {
    match strings.iter().find(|(_, value)| *value == Some("")) {
        Some((key, _)) => Err(SettingsError::at(
            format!("/{key}"),
            "Expected a non-empty string, found \"\".",
        )),
        None => Ok(()),
    }
}

/// The checks every cloud's settings share: the named strings are not empty, `endpoint` is an
/// http(s) URL, and `regions`, when given, is a non-empty list of ids that `valid` accepts
/// (`noun` and `example` name them in the message, e.g. "region id", `"ap-southeast-2"`).
/// `env.`/`secret.` references are left for later.
pub fn check_common(
    strings: &[(&str, Option<&str>)],
    endpoint: &Option<String>,
    regions: &Option<Vec<String>>,
    valid: impl Fn(&str) -> bool,
    (noun, example): (&str, &str),
) -> Result<(), SettingsError> {
    check_non_empty(strings)?;
    check_endpoint(endpoint)?;
    if let Some(regions) = regions {
        if regions.is_empty() {
            return Err(
                SettingsError::at("/regions", format!("Expected at least one {noun}."))
                    .with_hint(format!("e.g. [\"{example}\"]")),
            );
        }
        if let Some(i) = regions
            .iter()
            .position(|r| !is_env_reference(r) && !valid(r))
        {
            return Err(SettingsError::at(
                format!("/regions/{i}"),
                format!("Expected a {noun} such as \"{example}\"."),
            ));
        }
    }
    Ok(())
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        let part = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.clone(),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => continue,
        };
        pointer.push('/');
        pointer.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    pointer
}

/// One capitalised sentence (and a hint) for serde's message about the value at `pointer`,
/// without the value itself where serde would quote it.
fn describe(pointer: String, serde_message: &str) -> SettingsError {
    if let Some(rest) = serde_message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // serde_path_to_error's path ends at the unknown key.
        let pointer = if pointer.ends_with(&format!("/{}", escape(key))) {
            pointer
        } else {
            format!("{pointer}/{}", escape(key))
        };
        let hint = match closest(key, &known) {
            Some(near) => format!("did you mean \"{near}\"? known here: {}", known.join(", ")),
            None if known.is_empty() => "remove it".to_string(),
            None => format!("known here: {}", known.join(", ")),
        };
        return SettingsError {
            pointer,
            at_key: true,
            message: format!("Unknown setting \"{key}\"."),
            hint: Some(hint),
        };
    }
    if let Some(field) = serde_message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
    {
        return SettingsError::at(pointer, format!("Missing required setting \"{field}\"."));
    }
    if let Some(rest) = serde_message
        .strip_prefix("invalid type: ")
        .or_else(|| serde_message.strip_prefix("invalid value: "))
    {
        // "string \"secret\", expected f64": keep what kind it is, never the value.
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another value"));
        let found = found.split(' ').next().unwrap_or(found);
        let found = match found {
            "integer" | "floating" => "a number",
            "string" => "a string",
            "boolean" => "true or false",
            "map" => "an object",
            "sequence" => "a list",
            "null" => "null",
            other => other,
        };
        return SettingsError::at(
            pointer,
            format!("Expected {}, found {found}.", expected_text(expected)),
        );
    }
    let mut message = serde_message.to_string();
    if let Some(first) = message.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    SettingsError::at(pointer, message)
}

/// serde's names for primitive types, in words.
fn expected_text(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".to_string(),
        "u64" | "u32" | "u16" | "u8" | "usize" => "a non-negative whole number".to_string(),
        "i64" | "i32" => "a whole number".to_string(),
        "a boolean" => "true or false".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "an object".to_string(),
        other => other.to_string(),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The known name nearest to `key` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let (best, distance) = known
        .iter()
        .map(|name| (*name, crate::suggest::edit_distance(key, name)))
        .min_by_key(|(_, d)| *d)?;
    let close = distance <= (key.chars().count().max(best.chars().count()) / 3).max(1)
        || best.starts_with(key)
        || key.starts_with(best);
    close.then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        rate: f64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        #[serde(default)]
        latency_ms: Option<f64>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        secret: Option<String>,
    }

    impl Checked for Sample {
        fn check(&self) -> Result<(), SettingsError> {
            match self.latency_ms {
                Some(ms) if ms < 0.0 => Err(SettingsError::at("/latency_ms", "Negative.")),
                _ => Ok(()),
            }
        }
    }

    fn error(value: Value) -> SettingsError {
        parse::<Sample>(value.as_object().expect("object")).expect_err("refused")
    }

    #[test]
    fn unknown_keys_point_at_the_key_and_name_the_closest() {
        let e = error(json!({"latency": 3}));
        assert_eq!((e.pointer.as_str(), e.at_key), ("/latency", true));
        assert_eq!(e.message, "Unknown setting \"latency\".");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean \"latency_ms\"? known here: latency_ms, inner, secret")
        );
        let e = error(json!({"inner": {"rte": 1}}));
        assert_eq!(e.pointer, "/inner/rte");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean \"rate\"? known here: rate")
        );
    }

    #[test]
    fn wrong_types_point_at_the_value_and_never_echo_it() {
        let e = error(json!({"secret": 12}));
        assert_eq!(e.pointer, "/secret");
        assert_eq!(e.message, "Expected a string, found a number.");
        let e = error(json!({"inner": {"rate": "hunter2-secret"}}));
        assert_eq!(e.pointer, "/inner/rate");
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert_eq!(e.message, "Expected a number, found a string.");
        assert_eq!(error(json!({"latency_ms": -1})).pointer, "/latency_ms");
    }

    #[test]
    fn env_references_and_closest_names() {
        assert!(is_env_reference("env.AWS_KEY_1"));
        assert!(!is_env_reference("env."));
        assert!(is_env_reference("secret.AWS_KEY"));
        assert!(!is_env_reference("secret."));
        assert!(!is_env_reference("https://env.example"));
        assert_eq!(
            closest("ready_timeot", &["ready_timeout", "stop_grace"]),
            Some("ready_timeout")
        );
        assert_eq!(closest("zzz", &["ready_timeout", "stop_grace"]), None);
    }
}
