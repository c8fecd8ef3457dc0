//! Refresh: what exists of one lineage, in list calls only: the lineage's droplets by tag
//! (one call per page of 200), and the account's keys and firewalls when the state holds any
//! (one call per page each). Never one call per object. What refresh saw of the droplets is
//! where this run's creates look for droplets to adopt.

use std::collections::HashMap;

use super::DigitalOceanCloud;
use super::node;
use super::objects::{firewall_observed, key_observed};
use crate::driver::rest_cloud::node::by_address;
use crate::driver::{DriverError, Refreshed};
use crate::resource::{Attributes, Existing, Kind};

impl DigitalOceanCloud {
    pub(super) async fn refresh_lineage(
        &self,
        lineage: &str,
        known: &[Existing],
    ) -> Result<Refreshed, DriverError> {
        let has = |kind: Kind| known.iter().any(|e| e.kind == kind);
        let new = self.adoption.is_new(lineage);
        let droplets = async {
            if new {
                Ok(Vec::new())
            } else {
                self.lineage_droplets(lineage).await
            }
        };
        let keys = async {
            if has(Kind::Key) {
                self.list("/v2/account/keys", &[], "ssh_keys").await
            } else {
                Ok(Vec::new())
            }
        };
        let firewalls = async {
            if has(Kind::Firewall) {
                self.list("/v2/firewalls", &[], "firewalls").await
            } else {
                Ok(Vec::new())
            }
        };
        let (droplets, keys, firewalls) = tokio::try_join!(droplets, keys, firewalls)?;
        self.adoption.seed(lineage, by_address(&droplets));

        let mut seen: HashMap<(Kind, String), Attributes> = HashMap::new();
        for d in &droplets {
            seen.insert((Kind::Node, d["id"].to_string()), node::observed(d));
        }
        let owned: HashMap<&str, bool> = known
            .iter()
            .filter(|e| e.kind == Kind::Key)
            .map(|e| {
                let owned = e.observed.get("owned") != Some(&serde_json::Value::Bool(false));
                (e.provider_id.as_str(), owned)
            })
            .collect();
        for k in &keys {
            let id = k["id"].to_string();
            let mine = owned.get(id.as_str()).copied().unwrap_or(true);
            seen.insert((Kind::Key, id), key_observed(k, mine));
        }
        for f in &firewalls {
            let id = f["id"]
                .as_str()
                .map_or_else(|| f["id"].to_string(), String::from);
            seen.insert((Kind::Firewall, id), firewall_observed(f));
        }
        let mut refreshed = Refreshed::default();
        for existing in known {
            let observed = seen
                .get(&(existing.kind, existing.provider_id.clone()))
                .cloned();
            refreshed.known.insert(existing.address.clone(), observed);
        }
        Ok(refreshed)
    }
}
