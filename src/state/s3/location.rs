//! Where an S3 state lives, parsed from its URL:
//! `s3://BUCKET[/PREFIX]?region=R&endpoint=URL&lock_table=T&profile=P`. The settings after
//! `?` are a derived `Deserialize` that refuses unknown names. Credentials never come from the
//! URL. Pure: no I/O (the region's default is read from the environment).

use serde::Deserialize;

/// Where the state lives, parsed from an `s3://` URL.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub bucket: String,
    /// Folder for the objects, without slashes at either end (may be empty).
    pub prefix: String,
    /// What the URL's query says.
    pub settings: Settings,
}

/// The URL's settings, percent-decoded.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The bucket's region; `AWS_REGION`, `AWS_DEFAULT_REGION` or `us-east-1` when not given.
    #[serde(default = "default_region")]
    pub region: String,
    /// Another S3 (or an emulator) than AWS's, without a final slash.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A DynamoDB table for the lock and the state digest (stores without conditional writes).
    #[serde(default)]
    pub lock_table: Option<String>,
    /// The shared-credentials profile to sign with.
    #[serde(default)]
    pub profile: Option<String>,
}

fn default_region() -> String {
    std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".into())
}

impl Location {
    /// Parses `s3://BUCKET[/PREFIX][?region=..&endpoint=..&lock_table=..&profile=..]`.
    pub fn parse(url: &str) -> Result<Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or("the URL must start with s3:// (s3://BUCKET/PREFIX?region=REGION)")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err("the URL names no bucket (s3://BUCKET/PREFIX)".into());
        }
        // A setting given twice takes its last value.
        let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            (
                name.to_string(),
                serde_json::Value::String(value.into_owned()),
            )
        });
        let mut settings: Settings = serde_json::from_value(pairs.collect())
            .map_err(|e| e.to_string().replacen("field", "URL setting", 1))?;
        if let Some(endpoint) = &mut settings.endpoint {
            endpoint.truncate(endpoint.trim_end_matches('/').len());
        }
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            settings,
        })
    }

    /// The state object's key for strategy `name`.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            format!("{name}.state.json")
        } else {
            format!("{}/{name}.state.json", self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_settings() {
        let l = Location::parse(
            "s3://team-state/fleets/prod?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A5000&lock_table=locks",
        )
        .unwrap();
        assert_eq!(l.bucket, "team-state");
        assert_eq!(l.prefix, "fleets/prod");
        assert_eq!(l.settings.region, "eu-west-1");
        assert_eq!(
            l.settings.endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(l.settings.lock_table.as_deref(), Some("locks"));
        assert_eq!(l.key("web"), "fleets/prod/web.state.json");
        let plain = Location::parse("s3://b?endpoint=http://127.0.0.1:5000/").unwrap();
        assert_eq!(plain.key("web"), "web.state.json");
        assert_eq!(
            plain.settings.endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("http://b").is_err());
        let unknown = Location::parse("s3://b?secret=1").unwrap_err();
        assert!(
            unknown.contains("unknown URL setting `secret`, expected one of `region`"),
            "{unknown}"
        );
        let twice = Location::parse("s3://b?region=a&region=b").unwrap();
        assert_eq!(twice.settings.region, "b");
    }
}
