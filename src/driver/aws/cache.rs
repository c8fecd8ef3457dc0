//! The slow-changing offerings of a region ([`RegionFacts`]: zones, instance types and where
//! they are offered) kept on disk between runs, so a plan does not read them again each time.
//!
//! Reading them is the costly part of a catalog: DescribeInstanceTypes alone is about nine
//! pages per region on AWS (and 1.4 s of moto's time), and its answers hardly ever change (an
//! instance type's vCPUs and memory never do). Images are never kept: the newest AMI is asked
//! for every run. A kept copy names the endpoint, region and oss version it was read with and
//! is used only while younger than the `offerings_ttl` setting; anything unreadable is a miss.
//! The file holds no credential and is not state: losing it costs one read. Failing to write
//! it is not an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::offerings::RegionFacts;

/// Where and for how long facts are kept.
#[derive(Clone, Debug)]
pub struct FactsCache {
    dir: PathBuf,
    provider: String,
    endpoint: String,
    ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct Kept {
    oss: String,
    endpoint: String,
    region: String,
    /// Seconds since the Unix epoch when the facts were read.
    read_at: u64,
    facts: RegionFacts,
}

impl FactsCache {
    /// Facts of provider `provider` at `endpoint`, kept under `state_dir/aws/` for `ttl`
    /// (zero: never kept).
    pub fn new(state_dir: &Path, provider: &str, endpoint: &str, ttl: Duration) -> Self {
        FactsCache {
            dir: state_dir.join("aws"),
            provider: provider.to_string(),
            endpoint: endpoint.to_string(),
            ttl,
        }
    }

    fn path(&self, region: &str) -> PathBuf {
        let plain = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        self.dir.join(format!(
            "offerings-{}-{}.json",
            plain(&self.provider),
            plain(region)
        ))
    }

    /// The kept facts of `region`, if they are young enough and were read from this endpoint
    /// by this version of oss.
    pub fn load(&self, region: &str) -> Option<RegionFacts> {
        if self.ttl.is_zero() {
            return None;
        }
        let kept: Kept = serde_json::from_slice(&std::fs::read(self.path(region)).ok()?).ok()?;
        let age = now().checked_sub(kept.read_at)?;
        let fits = kept.oss == env!("CARGO_PKG_VERSION")
            && kept.endpoint == self.endpoint
            && kept.region == region
            && Duration::from_secs(age) < self.ttl;
        fits.then_some(kept.facts)
    }

    /// Keeps the facts of `region` (a temp file renamed into place; errors are ignored).
    pub fn store(&self, region: &str, facts: &RegionFacts) {
        if self.ttl.is_zero() {
            return;
        }
        let kept = Kept {
            oss: env!("CARGO_PKG_VERSION").to_string(),
            endpoint: self.endpoint.clone(),
            region: region.to_string(),
            read_at: now(),
            facts: facts.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&kept) else {
            return;
        };
        // Best effort: a cache that cannot be written is read from the API next time.
        let _ = crate::fsutil::create_private_dir_all(&self.dir)
            .and_then(|()| crate::fsutil::write_atomic(&self.path(region), &bytes, 0o600));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Size;

    fn facts() -> RegionFacts {
        RegionFacts {
            zones: vec!["ap-southeast-2a".into()],
            sizes: vec![Size {
                id: "t3.micro".into(),
                name: "t3.micro".into(),
                vcpus: 2,
                memory_gib: 1.0,
                disk_gib: 0,
                arch: "x86_64".into(),
            }],
            offered: vec![("ap-southeast-2a".into(), "t3.micro".into())],
        }
    }

    #[test]
    fn kept_facts_are_used_only_for_their_endpoint_region_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        let cache = FactsCache::new(dir.path(), "aws", "http://127.0.0.1:5000", hour);
        assert_eq!(cache.load("ap-southeast-2"), None);
        cache.store("ap-southeast-2", &facts());
        assert_eq!(cache.load("ap-southeast-2"), Some(facts()));
        assert_eq!(cache.load("eu-west-1"), None);
        let elsewhere = FactsCache::new(dir.path(), "aws", "https://ec2.example", hour);
        assert_eq!(elsewhere.load("ap-southeast-2"), None);
        let other_provider = FactsCache::new(dir.path(), "aws-2", "http://127.0.0.1:5000", hour);
        assert_eq!(other_provider.load("ap-southeast-2"), None);

        // Too old: written an hour and a second ago.
        let path = cache.path("ap-southeast-2");
        let mut kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        kept["read_at"] = serde_json::json!(now() - 3601);
        std::fs::write(&path, serde_json::to_vec(&kept).unwrap()).unwrap();
        assert_eq!(cache.load("ap-southeast-2"), None);

        // Unreadable is a miss; a zero lifetime keeps nothing.
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(cache.load("ap-southeast-2"), None);
        let off = FactsCache::new(dir.path(), "aws", "http://127.0.0.1:5000", Duration::ZERO);
        off.store("eu-west-1", &facts());
        assert!(!off.path("eu-west-1").exists());
    }
}
