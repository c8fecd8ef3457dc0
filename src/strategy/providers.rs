//! The `provider` block: each option's driver, name and settings. Settings are checked by
//! their driver as written (before any reference is resolved, so a bad one changes nothing and
//! reveals nothing), and the resolved options keep what was written beside what is used.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::locate::locate;
use super::{Pick, Problem, original};

/// One provider option: its kind, its name and settings (credentials already resolved; never
/// print: its `Debug` shows setting names only).
#[derive(Clone)]
pub struct ProviderOption {
    /// The driver (`local`, `sim`).
    pub kind: String,
    /// The name placements use: the `name` setting, else the kind.
    pub name: String,
    /// Settings without `name`.
    pub settings: crate::secret::Resolved,
    /// The same settings as written, `env.` references unresolved (old spellings read as
    /// today's): what state records, so the provider can still be reached after it leaves
    /// the strategy. May hold literal credentials; `crate::recorded` leaves those out.
    pub written: Map<String, Value>,
}

impl std::fmt::Debug for ProviderOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderOption")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct Providers {
    pub options: Vec<ProviderOption>,
    pub pick: Option<Pick>,
}

/// The block as the schema admits it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProviders {
    pub options: Vec<Map<String, Value>>,
    pub pick: Option<Pick>,
}

/// The options of `raw` (references resolved) with their names, each beside its settings as
/// written in `written` (the whole document, old spellings rewritten). Two options of one
/// name are a problem located at the second.
pub(super) fn build(
    text: &str,
    raw: RawProviders,
    written: &Value,
) -> Result<Providers, Vec<Problem>> {
    let mut options: Vec<ProviderOption> = Vec::new();
    let mut problems = Vec::new();
    for (i, (kind, settings)) in raw
        .options
        .into_iter()
        .filter_map(|one| one.into_iter().next())
        .enumerate()
    {
        let mut settings = match settings {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let name = match settings.remove("name") {
            Some(Value::String(name)) => name,
            _ => kind.clone(),
        };
        if options.iter().any(|o| o.name == name) {
            let pointer = format!("/provider/options/{i}/{kind}");
            problems.push(Problem {
                position: locate(text, &pointer, None),
                pointer,
                message: format!("A second provider is named \"{name}\"."),
                hint: Some(format!(
                    "give each {kind} provider its own \"name\" setting, e.g. {{\"{kind}\": {{\"name\": \"{kind}-2\"}}}}"
                )),
            });
        }
        let mut written = written
            .pointer(&format!("/provider/options/{i}/{kind}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        written.remove("name");
        options.push(ProviderOption {
            kind,
            name,
            settings: settings.into(),
            written,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Providers {
        options,
        pick: raw.pick,
    })
}

/// The options as written in the document `value`.
fn options(value: &Value) -> &[Value] {
    value
        .pointer("/provider/options")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// The names providers go by (`name` setting, else the kind; the original tool's EC2 names
/// are `aws`), in the strategy's order.
pub(super) fn names(value: &Value) -> Vec<String> {
    options(value)
        .iter()
        .filter_map(|o| o.as_object()?.iter().next())
        .map(
            |(kind, settings)| match settings.get("name").and_then(Value::as_str) {
                Some(name) => name.to_string(),
                None if original::libcloud_region(kind).is_some() => "aws".to_string(),
                None => kind.clone(),
            },
        )
        .collect()
}

/// Each provider's settings as written (`env.` references unresolved), checked by its driver
/// before anything is resolved or changed; problems are located at the setting. Relative
/// paths in settings resolve against `base_dir`.
pub(super) fn check_settings(base_dir: &Path, text: &str, value: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, option) in options(value).iter().enumerate() {
        let Some((kind, Value::Object(settings))) =
            option.as_object().and_then(|o| o.iter().next())
        else {
            continue;
        };
        let mut settings = settings.clone();
        settings.remove("name");
        // An old Libcloud EC2 name is checked as the aws settings it stands for, problems
        // pointing back at what was written (`/auth/username` for the access key id).
        let checked = match original::libcloud_region(kind) {
            Some(region) => original::ec2_settings(region, &settings).and_then(|aws| {
                crate::driver::check_settings("aws", &aws, base_dir).map_err(|mut e| {
                    e.pointer = original::written_pointer(&e.pointer);
                    e
                })
            }),
            None => crate::driver::check_settings(kind, &settings, base_dir),
        };
        if let Err(e) = checked {
            let pointer = format!("/provider/options/{i}/{kind}{}", e.pointer);
            let position = match e.pointer.rsplit_once('/') {
                Some((parent, key)) if e.at_key => {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    locate(
                        text,
                        &format!("/provider/options/{i}/{kind}{parent}"),
                        Some(&key),
                    )
                }
                _ => locate(text, &pointer, None),
            };
            problems.push(Problem {
                pointer,
                position,
                message: e.message,
                hint: e.hint,
            });
        }
    }
    problems
}
