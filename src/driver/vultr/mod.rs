//! The `vultr` provider: Vultr instances, SSH keys and firewall groups over Vultr's public
//! API v2, through the shared bearer-token REST client (`crate::net::rest`), so the same
//! driver talks to Vultr and to a test double given as `endpoint`.
//!
//! - **Offerings** (`offerings`): regions with their city, country and continent, plans with
//!   the API's monthly prices in the regions that sell them (`locations`), operating systems;
//!   read once per process, the three lists at once.
//! - **SSH keys** are account keys at Vultr: the key of every region of one state is one
//!   registered key, named `NAME-LINEAGE8`, given to each instance at its create
//!   (`sshkey_id`). A public key the account already holds under another name is used as it
//!   is and never deleted by oss.
//! - **Firewalls**: one firewall group per group and region, described
//!   `NAME-REGION-LINEAGE8`, one inbound TCP rule per port, family and source block (the rest
//!   dropped, outbound open), given to each instance at its create (`firewall_group_id`).
//! - **Instances** are tagged with the state's lineage and their address (the shared
//!   `rest_cloud::marks`), created with the key, the firewall group and the node command as
//!   user data, then polled until `active` and `running` with an address.
//! - **Adoption**: a create first looks for an instance of this lineage and address (one list
//!   filtered by the lineage tag, per page, shared by all creates of the run).
//! - **Refresh** is batched: instances listed by the lineage tag, one call per page of 500
//!   (cursor pages); keys and firewall groups listed only when the state holds some.
//! - **Deletes** are idempotent: a 404 is success.
//!
//! Errors are classified in `api` (docs/providers.md has the table). The API key comes from
//! the `token` setting (an `env.` reference) or `VULTR_API_KEY`; it is never printed. The
//! driver never reads or writes the state file and never prints.

mod api;
#[cfg(test)]
mod examples;
mod node;
mod objects;
mod offerings;
mod settings;
pub use settings::SECRET_SETTINGS;

use async_trait::async_trait;
use serde_json::Value;

use super::DriverError;
use crate::catalog::Catalog;
use crate::driver::attribute_name;
use crate::driver::rest_cloud::driver::{ErrorOf, Parts, RestCloud, RestDriver};
use crate::driver::rest_cloud::refresh::Observers;
use crate::net::rest::{Classify, Paging};
use crate::resource::Kind;

/// The `vultr` driver: the shared REST-cloud driver over [`VultrCloud`].
pub type VultrDriver = RestDriver<VultrCloud>;

/// What Vultr's API does its own way. See the module documentation.
pub struct VultrCloud {
    parts: Parts,
}

impl VultrCloud {
    /// Every item of a paged list (the array at `items` of each page), one call per page of
    /// 500, following the cursor.
    async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        items: &str,
    ) -> Result<Vec<Value>, DriverError> {
        self.parts
            .rest
            .client()?
            .list(path, query, api::PAGE_SIZE, items)
            .await
            .map_err(|e| self.parts.rest.error(e))
    }
}

#[async_trait]
impl RestCloud for VultrCloud {
    const PROVIDER: &'static str = "vultr";
    const VENDOR: &'static str = "Vultr";
    const PAGING: Paging = Paging::Cursor("/meta/links/next");
    const ERROR: ErrorOf = api::driver_error;
    const OBSERVERS: Observers = Observers {
        node: node::observed,
        key: objects::key_observed,
        firewall: objects::firewall_observed,
    };
    type Settings = settings::Vultr;

    fn classify() -> Box<dyn Classify> {
        Box::new(api::Vultr)
    }

    fn from_parts(parts: Parts) -> Self {
        VultrCloud { parts }
    }

    fn parts(&self) -> &Parts {
        &self.parts
    }

    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let api = self.parts.rest.client()?;
        let (regions, plans, systems) = tokio::try_join!(
            self.list("/v2/regions", &[], "regions"),
            self.list("/v2/plans", &[], "plans"),
            self.list("/v2/os", &[], "os"),
        )?;
        let source = format!(
            "Vultr API at {} (regions, plans with their monthly prices, operating systems)",
            api.base()
        );
        Ok(offerings::assemble(
            &regions,
            &plans,
            &systems,
            self.parts.regions.as_deref(),
            source,
        ))
    }

    fn path_of(&self, kind: Kind, id: &str) -> String {
        match kind {
            Kind::Key => format!("/v2/ssh-keys/{id}"),
            Kind::Firewall => format!("/v2/firewalls/{id}"),
            _ => format!("/v2/instances/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::rest_cloud::driver::testing;
    use serde_json::json;

    #[test]
    fn settings_are_checked_and_unknown_ones_refused() {
        testing::assert_refused::<VultrCloud>(&[
            json!({"region": "ewr"}),
            json!({"regions": ["New Jersey"]}),
        ]);
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_sent_and_the_variable_is_named() {
        testing::assert_token_from_variable::<VultrCloud>().await;
    }
}
