//! Refresh: what exists of one lineage, in list calls only: the lineage's instances by tag
//! (one call per page of 500), and the account's keys and firewall groups when the state
//! holds any (one call per page each). Never one call per object. What refresh saw of the
//! instances is where this run's creates look for ones to adopt.

use super::VultrCloud;
use super::node;
use super::objects::{firewall_observed, key_observed};
use crate::driver::rest_cloud::node::by_address;
use crate::driver::rest_cloud::refresh::{Observers, refreshed};
use crate::driver::{DriverError, Refreshed};
use crate::resource::{Existing, Kind};

impl VultrCloud {
    pub(super) async fn refresh_lineage(
        &self,
        lineage: &str,
        known: &[Existing],
    ) -> Result<Refreshed, DriverError> {
        let has = |kind: Kind| known.iter().any(|e| e.kind == kind);
        let new = self.adoption.is_new(lineage);
        let instances = async {
            if new {
                Ok(Vec::new())
            } else {
                self.lineage_instances(lineage).await
            }
        };
        let keys = async {
            if has(Kind::Key) {
                self.list("/v2/ssh-keys", &[], "ssh_keys").await
            } else {
                Ok(Vec::new())
            }
        };
        let firewalls = async {
            if has(Kind::Firewall) {
                self.list("/v2/firewalls", &[], "firewall_groups").await
            } else {
                Ok(Vec::new())
            }
        };
        let (instances, keys, firewalls) = tokio::try_join!(instances, keys, firewalls)?;
        self.adoption.seed(lineage, by_address(&instances));
        let read = Observers {
            node: node::observed,
            key: key_observed,
            firewall: firewall_observed,
        };
        Ok(refreshed(known, &instances, &keys, &firewalls, &read))
    }
}
