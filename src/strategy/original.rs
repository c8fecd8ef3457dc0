//! The original tool's strategy shapes, read as today's: `node.os` is `node.image`,
//! hardware strings (`"4 CPU, 8GB ram, 100GB"`) are `min_*` constraints, and Apache
//! Libcloud's old EC2 provider names (`EC2_AP_SOUTHEAST2`) with `"auth": {"username",
//! "key"}` are the `aws` provider in that region with that access key id and secret, each
//! old spelling reported as a [`Note`] giving the current one. Providers the original tool
//! knew but oss does not drive yet (`SoftLayer`) are told apart from unknown names.
//!
//! Pure: works on the parsed document and its text; checks ([`check`]) run before `env.`
//! references are resolved, the rewrite ([`rewrite`]) after, so every problem is located
//! where the user wrote it. Notes never hold a secret: they quote `env.NAME` references.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Problem;
use super::hardware;
use super::locate::locate;
use super::note::Note;
use crate::driver::settings::{SettingsError, is_env_reference};

/// Apache Libcloud's old per-region EC2 provider constants (`libcloud.compute.types.Provider`,
/// mapped to `Provider.EC2` in its `OLD_CONSTANT_TO_NEW_MAPPING`) and the region of each
/// (the region of the driver class each named: `EC2APSESydneyNodeDriver` is ap-southeast-2).
const LIBCLOUD_EC2: &[(&str, &str)] = &[
    ("EC2_US_EAST", "us-east-1"),
    ("EC2_US_EAST_OHIO", "us-east-2"),
    ("EC2_US_WEST", "us-west-1"),
    ("EC2_US_WEST_OREGON", "us-west-2"),
    ("EC2_CA_CENTRAL1", "ca-central-1"),
    ("EC2_SA_EAST", "sa-east-1"),
    ("EC2_EU", "eu-west-1"),
    ("EC2_EU_WEST", "eu-west-1"),
    ("EC2_EU_WEST2", "eu-west-2"),
    ("EC2_AP_SOUTHEAST", "ap-southeast-1"),
    ("EC2_AP_SOUTHEAST2", "ap-southeast-2"),
    ("EC2_AP_NORTHEAST", "ap-northeast-1"),
    ("EC2_AP_NORTHEAST1", "ap-northeast-1"),
    ("EC2_AP_NORTHEAST2", "ap-northeast-2"),
];

/// Providers of the original tool that get a driver later (matched ignoring case).
const NOT_YET_SUPPORTED: &[&str] = &["SoftLayer"];

/// The AWS region an old Libcloud EC2 provider name stands for.
pub fn libcloud_region(kind: &str) -> Option<&'static str> {
    LIBCLOUD_EC2
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, region)| *region)
}

/// The spelling of a provider the original tool knew that oss does not drive yet.
pub fn not_yet_supported(kind: &str) -> Option<&'static str> {
    NOT_YET_SUPPORTED
        .iter()
        .copied()
        .find(|name| name.eq_ignore_ascii_case(kind))
}

/// The original tool's credentials block: Libcloud's user id and key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    /// The access key id.
    username: String,
    /// The secret access key.
    key: String,
}

/// The aws settings an old EC2 provider option stands for: `auth` becomes the access key id
/// and secret, the name's region becomes `regions`; other settings stay as written.
/// Problems point inside the option's settings (`/auth/username`), like a driver's.
pub fn ec2_settings(
    region: &str,
    settings: &Map<String, Value>,
) -> Result<Map<String, Value>, SettingsError> {
    let mut out = settings.clone();
    for key in ["regions", "access_key_id", "secret_access_key"] {
        if out.contains_key(key) {
            let mut e = SettingsError::at(
                format!("/{key}"),
                format!("\"{key}\" is not read here: the provider name and its \"auth\" give it."),
            )
            .with_hint(format!(
                "write {{\"aws\": {{...}}}} to give \"{key}\" yourself, or drop it (the name means region {region})"
            ));
            e.at_key = true;
            return Err(e);
        }
    }
    if let Some(auth) = out.remove("auth") {
        let auth: Auth = serde_json::from_value(auth).map_err(|e| {
            SettingsError::at("/auth", format!("The auth block does not fit: {e}."))
                .with_hint("write \"auth\": {\"username\": \"env.ACCESS_KEY_ID\", \"key\": \"env.SECRET_ACCESS_KEY\"}")
        })?;
        out.insert("access_key_id".into(), auth.username.into());
        out.insert("secret_access_key".into(), auth.key.into());
    }
    out.insert("regions".into(), json!([region]));
    Ok(out)
}

/// Where a problem of the translated aws settings is in the settings as written.
pub fn written_pointer(pointer: &str) -> String {
    if let Some(rest) = pointer.strip_prefix("/access_key_id") {
        format!("/auth/username{rest}")
    } else if let Some(rest) = pointer.strip_prefix("/secret_access_key") {
        format!("/auth/key{rest}")
    } else if pointer.starts_with("/regions") {
        String::new()
    } else {
        pointer.to_string()
    }
}

/// Problems of the original tool's shapes in the document as written: `image` and `os`
/// both given (or neither), and hardware strings that do not read.
pub(super) fn check(text: &str, value: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for at in super::group::pointers(value) {
        let Some(node) = value.pointer(&at).and_then(Value::as_object) else {
            continue;
        };
        check_group(text, &at, node, &mut problems);
    }
    problems
}

fn check_group(
    text: &str,
    at: &str,
    node: &serde_json::Map<String, Value>,
    problems: &mut Vec<Problem>,
) {
    match (node.contains_key("image"), node.contains_key("os")) {
        (true, true) => problems.push(Problem {
            position: locate(text, at, Some("os")),
            pointer: format!("{at}/os"),
            message: "Both \"image\" and \"os\" are given; \"os\" is the original tool's name for \"image\".".into(),
            hint: Some("keep one of them: \"image\" is today's spelling".into()),
        }),
        (false, false) => {
            let description = super::schema()
                .pointer("/$defs/group/properties/image/description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            problems.push(Problem {
                position: locate(text, at, None),
                pointer: at.to_string(),
                message: "Missing required property \"image\".".into(),
                hint: Some(format!("add \"image\": {description}")),
            });
        }
        _ => {}
    }
    let options = node
        .get("hardware")
        .and_then(|h| h.get("options"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, option) in options.iter().enumerate() {
        if let Value::String(s) = option
            && let Err(why) = hardware::parse(s)
        {
            let pointer = format!("{at}/hardware/options/{i}");
            problems.push(Problem {
                position: locate(text, &pointer, None),
                pointer,
                message: format!(
                    "Cannot read the hardware string {}: {why}.",
                    super::schema::cap(&Value::from(s.as_str()).to_string())
                ),
                hint: Some(format!(
                    "write vCPUs, memory and disk (each optional, any order), e.g. {}, or an object such as {{\"min_vcpus\": 4, \"min_memory_gib\": 8}}",
                    hardware::EXAMPLE
                )),
            });
        }
    }
}

/// The notes of old spellings in the document as written (before `env.` references are
/// resolved, so the notes quote references, never values).
pub(super) fn notes(text: &str, value: &Value) -> Vec<Note> {
    let mut notes = Vec::new();
    for at in super::group::pointers(value) {
        if value.pointer(&format!("{at}/os")).is_some() {
            notes.push(Note {
                position: locate(text, &at, Some("os")),
                pointer: format!("{at}/os"),
                message: "\"os\" is the original tool's name for \"image\"; read as \"image\" (write \"image\" today).".into(),
            });
        }
    }
    let options = value
        .pointer("/provider/options")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, option) in options.iter().enumerate() {
        let Some((kind, settings)) = option.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let (Some(region), Some(settings)) = (libcloud_region(kind), settings.as_object()) else {
            continue;
        };
        let Ok(mut current) = ec2_settings(region, settings) else {
            continue;
        };
        // Only references are quoted; a literal credential is not repeated.
        for key in ["access_key_id", "secret_access_key"] {
            if let Some(v) = current.get_mut(key)
                && !v.as_str().is_some_and(is_env_reference)
            {
                *v = Value::from("...");
            }
        }
        let pointer = format!("/provider/options/{i}");
        notes.push(Note {
            position: locate(text, &pointer, Some(kind)),
            pointer: format!("{pointer}/{kind}"),
            message: format!(
                "\"{kind}\" is Apache Libcloud's old name for EC2 in {region}; read as {}.",
                json!({"aws": current})
            ),
        });
    }
    notes
}

/// Rewrites the original tool's shapes into today's (after [`check`] found none broken and
/// `env.` references were resolved).
pub(super) fn rewrite(value: &mut Value) {
    for at in super::group::pointers(value) {
        let Some(node) = value.pointer_mut(&at).and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(os) = node.remove("os") {
            node.insert("image".into(), os);
        }
        if let Some(options) = node
            .get_mut("hardware")
            .and_then(|h| h.get_mut("options"))
            .and_then(Value::as_array_mut)
        {
            for option in options {
                if let Value::String(s) = option
                    && let Ok(constraints) = hardware::parse(s)
                {
                    *option = Value::Object(constraints);
                }
            }
        }
    }
    if let Some(options) = value
        .pointer_mut("/provider/options")
        .and_then(Value::as_array_mut)
    {
        for option in options {
            let Some(map) = option.as_object() else {
                continue;
            };
            let Some((kind, Value::Object(settings))) = map.iter().next() else {
                continue;
            };
            if let Some(region) = libcloud_region(kind)
                && let Ok(settings) = ec2_settings(region, settings)
            {
                *option = json!({"aws": settings});
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcloud_ec2_names_map_to_their_regions() {
        assert_eq!(libcloud_region("EC2_AP_SOUTHEAST2"), Some("ap-southeast-2"));
        assert_eq!(libcloud_region("EC2_US_EAST"), Some("us-east-1"));
        assert_eq!(libcloud_region("EC2_US_WEST_OREGON"), Some("us-west-2"));
        assert_eq!(libcloud_region("EC2_EU"), Some("eu-west-1"));
        assert_eq!(
            libcloud_region("ec2_ap_southeast2"),
            None,
            "constants are exact"
        );
        assert_eq!(libcloud_region("aws"), None);
        // Every region is one the shipped price table knows.
        let regions: Vec<&str> = crate::catalog::aws::price_table()
            .locations
            .iter()
            .map(|l| l.region.as_str())
            .collect();
        for (name, region) in LIBCLOUD_EC2 {
            assert!(regions.contains(region), "{name}: {region}");
        }
    }

    #[test]
    fn softlayer_is_known_but_not_yet_supported() {
        assert_eq!(not_yet_supported("SoftLayer"), Some("SoftLayer"));
        assert_eq!(not_yet_supported("SOFTLAYER"), Some("SoftLayer"));
        assert_eq!(not_yet_supported("softlayr"), None);
        assert!(!crate::driver::KNOWN_PROVIDERS.contains(&"SoftLayer"));
    }

    #[test]
    fn auth_becomes_the_access_key_and_secret() {
        let written = json!({"auth": {"username": "env.A", "key": "env.B"}, "ssh_check": true});
        let aws = ec2_settings("ap-southeast-2", written.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(aws),
            json!({"access_key_id": "env.A", "secret_access_key": "env.B",
                   "regions": ["ap-southeast-2"], "ssh_check": true})
        );
        let own = json!({"access_key_id": "x"});
        let e = ec2_settings("ap-southeast-2", own.as_object().unwrap()).unwrap_err();
        assert_eq!((e.pointer.as_str(), e.at_key), ("/access_key_id", true));
        assert_eq!(written_pointer("/secret_access_key"), "/auth/key");
        assert_eq!(written_pointer("/regions/0"), "");
        assert_eq!(written_pointer("/endpoint"), "/endpoint");
    }

    #[test]
    fn notes_quote_references_never_literal_credentials() {
        let text = r#"{"provider": {"options": [{"EC2_US_EAST": {"auth": {"username": "AKIDLITERAL", "key": "env.K"}}}]}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let notes = notes(text, &value);
        assert_eq!(notes.len(), 1);
        let message = &notes[0].message;
        assert!(!message.contains("AKIDLITERAL"), "{message}");
        assert!(message.contains("\"access_key_id\":\"...\""), "{message}");
        assert!(
            message.contains("\"secret_access_key\":\"env.K\""),
            "{message}"
        );
        assert_eq!(notes[0].pointer, "/provider/options/0/EC2_US_EAST");
    }
}
