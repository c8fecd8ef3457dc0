//! Where AWS credentials come from (for the EC2 driver and the S3 state backend alike), in
//! the order the AWS tools use: the provider block (`access_key_id`/`secret_access_key`/`session_token`, usually `env.NAME`
//! references), then a `profile` named there, then the standard environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then the shared
//! credentials and config files (`~/.aws/credentials`, `~/.aws/config`, or the files
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE` name) for `AWS_PROFILE` or `default`.
//!
//! Secrets stay in [`Keys`], whose `Debug` hides them; no message built here holds one.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

/// A resolved key pair (and session token) plus where it came from, for messages.
#[derive(Clone)]
pub struct Keys {
    /// Zeroized when dropped, like the rest: an id is no secret to AWS, but oss treats every
    /// value it resolved alike.
    pub access_key_id: zeroize::Zeroizing<String>,
    /// Zeroized when dropped.
    pub secret_access_key: zeroize::Zeroizing<String>,
    /// Zeroized when dropped.
    pub session_token: Option<zeroize::Zeroizing<String>>,
    /// `the provider block`, `environment variables`, `profile "dev" of ~/.aws/credentials`.
    pub source: String,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys(from {})", self.source)
    }
}

/// What the credential lookup reads besides the settings (injectable for tests).
pub struct Environment<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Environment<'static> {
    /// This process's environment variables and `$HOME`.
    pub fn process() -> Self {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok()
        }
        Environment {
            var: &var,
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

impl Environment<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }
}

/// The settings that name credentials, as given in the provider block.
#[derive(Default)]
pub struct Given {
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub profile: Option<String>,
}

/// Finds credentials. `Ok(None)`: none anywhere (the driver plans from the price table and
/// refuses to change anything). `Err`: the settings name credentials that are unusable.
pub fn resolve(given: Given, env: &Environment<'_>) -> Result<Option<Keys>, String> {
    match (given.access_key_id, given.secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => {
            return Ok(Some(Keys {
                access_key_id: access_key_id.into_zeroizing(),
                secret_access_key: secret_access_key.into_zeroizing(),
                session_token: given.session_token.map(Secret::into_zeroizing),
                source: "the provider block".into(),
            }));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err("`access_key_id` and `secret_access_key` must be given together".into());
        }
        (None, None) if given.session_token.is_some() => {
            return Err("`session_token` needs `access_key_id` and `secret_access_key`".into());
        }
        (None, None) => {}
    }
    if let Some(profile) = given.profile {
        return match from_files(&profile, env)? {
            Some(keys) => Ok(Some(keys)),
            None => Err(format!(
                "the profile \"{profile}\" has no aws_access_key_id and aws_secret_access_key in {} or {}",
                credentials_file(env).display(),
                config_file(env).display()
            )),
        };
    }
    if let (Some(access_key_id), Some(secret_access_key)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Some(Keys {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: env.get("AWS_SESSION_TOKEN").map(Into::into),
            source: "the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables".into(),
        }));
    }
    let profile = env.get("AWS_PROFILE").unwrap_or_else(|| "default".into());
    from_files(&profile, env)
}

fn home_file(env: &Environment<'_>, var: &str, rel: &str) -> PathBuf {
    match env.get(var) {
        Some(path) => PathBuf::from(path),
        None => env
            .home
            .clone()
            .unwrap_or_else(|| PathBuf::from("~"))
            .join(rel),
    }
}

fn credentials_file(env: &Environment<'_>) -> PathBuf {
    home_file(env, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
}

fn config_file(env: &Environment<'_>) -> PathBuf {
    home_file(env, "AWS_CONFIG_FILE", ".aws/config")
}

/// The keys of `profile` from the credentials file, else from the config file (where the
/// section is `[profile NAME]`, except `[default]`).
fn from_files(profile: &str, env: &Environment<'_>) -> Result<Option<Keys>, String> {
    let sources = [
        (credentials_file(env), profile.to_string()),
        (
            config_file(env),
            if profile == "default" {
                "default".to_string()
            } else {
                format!("profile {profile}")
            },
        ),
    ];
    for (path, section) in sources {
        let Some(sections) = read_ini(&path)? else {
            continue;
        };
        let Some(values) = sections.get(&section) else {
            continue;
        };
        if let (Some(id), Some(secret)) = (
            values.get("aws_access_key_id"),
            values.get("aws_secret_access_key"),
        ) {
            return Ok(Some(Keys {
                access_key_id: id.clone().into(),
                secret_access_key: secret.clone().into(),
                session_token: values.get("aws_session_token").cloned().map(Into::into),
                source: format!("profile \"{profile}\" of {}", path.display()),
            }));
        }
    }
    Ok(None)
}

type Sections = HashMap<String, HashMap<String, String>>;

/// The sections of an AWS shared file (`Ok(None)` if it does not exist).
fn read_ini(path: &Path) -> Result<Option<Sections>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse_ini(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The INI dialect of the AWS shared files: `[section]` headers, `key = value` lines,
/// `#`/`;` comments; indented lines continue a nested block and are ignored here.
fn parse_ini(text: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_lowercase(), value.trim().to_string());
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with<'a>(
        vars: &'a HashMap<&'static str, String>,
        home: &Path,
    ) -> (impl Fn(&str) -> Option<String> + 'a, PathBuf) {
        (
            move |name: &str| vars.get(name).cloned(),
            home.to_path_buf(),
        )
    }

    #[test]
    fn the_provider_block_comes_first_then_env_then_files() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "# comment\n[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n\n[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=dev-secret\naws_session_token=tok\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[profile cfg]\nregion = eu-west-1\naws_access_key_id = AKIDCFG\naws_secret_access_key = cfg-secret\n  nested = ignored\n",
        )
        .unwrap();
        let vars = HashMap::new();
        let (var, home_dir) = env_with(&vars, home.path());
        let env = Environment {
            var: &var,
            home: Some(home_dir),
        };

        let block = resolve(
            Given {
                access_key_id: Some(Secret::new("AKIDBLOCK")),
                secret_access_key: Some(Secret::new("block-secret")),
                ..Given::default()
            },
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(block.access_key_id.as_str(), "AKIDBLOCK");
        assert!(!format!("{block:?}").contains("block-secret"));

        let default = resolve(Given::default(), &env).unwrap().unwrap();
        assert_eq!(default.access_key_id.as_str(), "AKIDFILE");
        let profile = |name: &str| {
            let given = Given {
                profile: Some(name.into()),
                ..Given::default()
            };
            resolve(given, &env)
        };
        let dev = profile("dev").unwrap().unwrap();
        assert_eq!(
            (
                dev.access_key_id.as_str(),
                dev.session_token.as_deref().map(String::as_str)
            ),
            ("AKIDDEV", Some("tok"))
        );
        let cfg = profile("cfg").unwrap().unwrap();
        assert_eq!(cfg.access_key_id.as_str(), "AKIDCFG");
        let missing = profile("nope").unwrap_err();
        assert!(missing.contains("\"nope\""), "{missing}");

        let vars = HashMap::from([
            ("AWS_ACCESS_KEY_ID", "AKIDENV".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "env-secret".to_string()),
        ]);
        let (var, home_dir) = env_with(&vars, home.path());
        let env = Environment {
            var: &var,
            home: Some(home_dir),
        };
        let from_env = resolve(Given::default(), &env).unwrap().unwrap();
        assert_eq!(from_env.access_key_id.as_str(), "AKIDENV");
    }

    #[test]
    fn half_given_keys_are_refused_and_nothing_is_none() {
        let vars = HashMap::new();
        let home = tempfile::tempdir().unwrap();
        let (var, home_dir) = env_with(&vars, home.path());
        let env = Environment {
            var: &var,
            home: Some(home_dir),
        };
        assert!(
            resolve(
                Given {
                    access_key_id: Some(Secret::new("AKID")),
                    ..Given::default()
                },
                &env
            )
            .is_err()
        );
        assert!(resolve(Given::default(), &env).unwrap().is_none());
    }
}
