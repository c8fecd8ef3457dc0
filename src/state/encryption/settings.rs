//! The strategy's `state.encryption` block as written, shaped like OpenTofu's: a key
//! provider, a method, and a fallback that reads what the previous settings wrote (plaintext
//! or another key) for migration and rotation. Only the shapes and their checks live here;
//! keys are made in [`super::provider`]. No secret shows in `Debug`.

use serde::Deserialize;

use crate::secret::Secret;

/// `"encryption": {"key_provider": {...}, "method": "aes_gcm", "fallback": {...}}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// The key new versions are sealed with; none with `"method": "unencrypted"`.
    #[serde(default)]
    pub key_provider: Option<KeyProvider>,
    pub method: Method,
    /// What else a reader accepts: the settings in force before a migration or rotation.
    #[serde(default)]
    pub fallback: Option<Fallback>,
}

/// The settings a reader falls back to.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    #[serde(default)]
    pub key_provider: Option<KeyProvider>,
    pub method: Method,
}

/// How state is written: sealed with AES-256-GCM, or in clear (to migrate back to plaintext).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    AesGcm,
    Unencrypted,
}

/// Where the 256-bit key comes from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyProvider {
    /// A passphrase (from `env.NAME` or `secret.NAME`) stretched with PBKDF2-HMAC-SHA512.
    Passphrase(Passphrase),
    /// A data key from AWS KMS (GenerateDataKey), stored sealed by KMS with each version.
    AwsKms(AwsKms),
    /// The vault's data key (the shares unlock it).
    Shares(Shares),
}

impl KeyProvider {
    /// The provider's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            KeyProvider::Passphrase(_) => "passphrase",
            KeyProvider::AwsKms(_) => "aws_kms",
            KeyProvider::Shares(_) => "shares",
        }
    }
}

/// The least PBKDF2 iteration count accepted, and the default (OWASP's figure for
/// PBKDF2-HMAC-SHA512).
pub const MIN_ITERATIONS: u32 = 10_000;
pub const DEFAULT_ITERATIONS: u32 = 210_000;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passphrase {
    /// The resolved value of `env.NAME` or `secret.NAME` (the schema refuses a literal).
    pub passphrase: Secret,
    /// PBKDF2 iterations for new versions; each version records the count it was sealed
    /// with, so a change applies to the next write and older versions still open.
    #[serde(default = "default_iterations")]
    pub iterations: u32,
}

fn default_iterations() -> u32 {
    DEFAULT_ITERATIONS
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsKms {
    /// The KMS key: id, ARN or `alias/NAME`.
    pub key_id: String,
    pub region: String,
    /// A KMS-compatible endpoint (`http://127.0.0.1:5000`); AWS's own when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A profile in the shared AWS files; else the standard environment variables.
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {}

/// Where a problem in the settings is: a JSON pointer below the strategy's root.
const AT: &str = "/state/encryption";

impl Encryption {
    /// Checks what the schema cannot say: `aes_gcm` needs a key provider, `unencrypted` has
    /// none, the iteration counts are not below [`MIN_ITERATIONS`], and the fallback is not
    /// the primary again. The error names the JSON pointer.
    pub fn check(&self) -> Result<(), String> {
        check_pair(self.method, self.key_provider.as_ref(), AT)?;
        if let Some(fallback) = &self.fallback {
            let at = format!("{AT}/fallback");
            check_pair(fallback.method, fallback.key_provider.as_ref(), &at)?;
            if fallback.method == self.method && fallback.key_provider == self.key_provider {
                return Err(format!(
                    "{at} is the same as the primary settings; a fallback names what was in \
                     force before (another key provider, or \"method\": \"unencrypted\")"
                ));
            }
        }
        Ok(())
    }
}

fn check_pair(method: Method, provider: Option<&KeyProvider>, at: &str) -> Result<(), String> {
    match (method, provider) {
        (Method::AesGcm, None) => Err(format!(
            "{at}: \"method\": \"aes_gcm\" needs a \"key_provider\" (passphrase, aws_kms or shares)"
        )),
        (Method::Unencrypted, Some(p)) => Err(format!(
            "{at}: \"method\": \"unencrypted\" uses no key, yet key_provider {} is given; \
             drop it, or move it to the fallback to read what it sealed",
            p.name()
        )),
        (Method::AesGcm, Some(KeyProvider::Passphrase(p))) if p.iterations < MIN_ITERATIONS => {
            Err(format!(
                "{at}/key_provider/passphrase/iterations is {}; at least {MIN_ITERATIONS} \
                 (default {DEFAULT_ITERATIONS})",
                p.iterations
            ))
        }
        _ => Ok(()),
    }
}
