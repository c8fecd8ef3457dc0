//! Refresh: what exists of one lineage, in list calls only: the lineage's servers by label
//! (`label_selector=oss/lineage=LINEAGE`, one call per page of 50), the project's keys and
//! the lineage's firewalls when the state holds any (one call per page each). Never one call
//! per object. What refresh saw of the servers is where this run's creates look for ones to
//! adopt.

use super::objects::{firewall_observed, key_observed};
use super::{HetznerCloud, marks, node};
use crate::driver::rest_cloud::node::by_address_of;
use crate::driver::rest_cloud::refresh::{Observers, refreshed};
use crate::driver::{DriverError, Refreshed};
use crate::resource::{Existing, Kind};

impl HetznerCloud {
    pub(super) async fn refresh_lineage(
        &self,
        lineage: &str,
        known: &[Existing],
    ) -> Result<Refreshed, DriverError> {
        let has = |kind: Kind| known.iter().any(|e| e.kind == kind);
        let new = self.adoption.is_new(lineage);
        let servers = async {
            if new {
                Ok(Vec::new())
            } else {
                self.lineage_servers(lineage).await
            }
        };
        let keys = async {
            if has(Kind::Key) {
                self.list("/ssh_keys", "ssh_keys", None).await
            } else {
                Ok(Vec::new())
            }
        };
        let firewalls = async {
            if has(Kind::Firewall) {
                self.lineage_firewalls(lineage).await
            } else {
                Ok(Vec::new())
            }
        };
        let (servers, keys, firewalls) = tokio::try_join!(servers, keys, firewalls)?;
        self.adoption
            .seed(lineage, by_address_of(&servers, marks::address_of));

        let read = Observers {
            node: node::observed,
            key: key_observed,
            firewall: firewall_observed,
        };
        Ok(refreshed(known, &servers, &keys, &firewalls, &read))
    }
}
