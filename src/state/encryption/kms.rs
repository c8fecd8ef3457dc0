//! The `aws_kms` key provider's calls: a fresh 256-bit data key from `GenerateDataKey` (its
//! plaintext kept in memory only, its KMS-sealed blob stored with each version) and the
//! plaintext back from `Decrypt`, both bound to the encryption context `{"oss": "state"}`.
//! Signed with the one SigV4 signer (through the AWS JSON client the S3 backend also uses);
//! credentials from the standard AWS chain. Messages carry KMS's error kind and text, never
//! a key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::settings::AwsKms;
use crate::net::aws::credentials;
use crate::secrets::Key;
use crate::state::s3::http::{Client, Endpoint};

/// A KMS client for one key.
pub struct Kms {
    client: Client,
    key_id: String,
}

/// KMS's error kind and message, from a JSON error answer.
fn error(reply: &crate::net::http::Reply) -> String {
    let value: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let kind = value["__type"]
        .as_str()
        .and_then(|t| t.rsplit('#').next())
        .unwrap_or("error");
    let message = value["message"]
        .as_str()
        .or(value["Message"].as_str())
        .unwrap_or_default();
    format!("{kind} (HTTP {}): {message}", reply.status)
}

fn context() -> Value {
    json!({"oss": "state"})
}

impl Kms {
    pub fn new(settings: &AwsKms) -> Result<Kms, String> {
        let given = credentials::Given {
            profile: settings.profile.clone(),
            ..Default::default()
        };
        let keys = credentials::resolve(given, &credentials::Environment::process())?.ok_or_else(
            || {
                "has no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
                 AWS_PROFILE (or \"profile\") naming a profile in ~/.aws/credentials"
                    .to_string()
            },
        )?;
        let client = Client::new(Endpoint {
            region: settings.region.clone(),
            url: settings.endpoint.clone(),
            keys,
        })?;
        Ok(Kms {
            client,
            key_id: settings.key_id.clone(),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn call(&self, operation: &str, body: &Value) -> Result<Value, String> {
        let reply = self
            .client
            .kms(operation, body)
            .await
            .map_err(|e| format!("cannot reach KMS: {e}"))?;
        if !reply.ok() {
            return Err(format!(
                "KMS {operation} of key {} failed: {}",
                self.key_id,
                error(&reply)
            ));
        }
        serde_json::from_slice(&reply.body)
            .map_err(|e| format!("KMS {operation} answered what is not JSON: {e}"))
    }

    /// A new data key: (the key, its blob as KMS sealed it, base64).
    pub async fn generate(&self) -> Result<(Key, String), String> {
        let answer = self
            .call(
                "GenerateDataKey",
                &json!({"KeyId": self.key_id, "KeySpec": "AES_256", "EncryptionContext": context()}),
            )
            .await?;
        let blob = answer["CiphertextBlob"]
            .as_str()
            .ok_or("KMS GenerateDataKey answered without a CiphertextBlob")?
            .to_string();
        Ok((plaintext(&answer)?, blob))
    }

    /// The data key sealed in `blob` (base64), as KMS opens it.
    pub async fn decrypt(&self, blob: &str) -> Result<Key, String> {
        let answer = self
            .call(
                "Decrypt",
                &json!({"KeyId": self.key_id, "CiphertextBlob": blob, "EncryptionContext": context()}),
            )
            .await?;
        plaintext(&answer)
    }
}

fn plaintext(answer: &Value) -> Result<Key, String> {
    let text = answer["Plaintext"]
        .as_str()
        .ok_or("KMS answered without a Plaintext data key")?;
    let bytes = zeroize::Zeroizing::new(
        B64.decode(text)
            .map_err(|_| "KMS answered a data key that is not base64".to_string())?,
    );
    Key::from_slice(&bytes).ok_or_else(|| "KMS answered a data key that is not 32 bytes".into())
}
