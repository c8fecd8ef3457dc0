//! Refresh: what exists of one lineage, in list calls only: the lineage's droplets by tag
//! (one call per page of 200), and the account's keys and firewalls when the state holds any
//! (one call per page each). Never one call per object. What refresh saw of the droplets is
//! where this run's creates look for droplets to adopt.

use super::DigitalOceanCloud;
use super::node;
use super::objects::{firewall_observed, key_observed};
use crate::driver::rest_cloud::node::by_address;
use crate::driver::rest_cloud::refresh::{Observers, refreshed};
use crate::driver::{DriverError, Refreshed};
use crate::resource::{Existing, Kind};

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

        let read = Observers {
            node: node::observed,
            key: key_observed,
            firewall: firewall_observed,
        };
        Ok(refreshed(known, &droplets, &keys, &firewalls, &read))
    }
}
