//! The `linode` provider: Linode instances, SSH keys and Cloud Firewalls over Linode's public
//! API v4, through the shared bearer-token REST client (`crate::net::rest`), so the same
//! driver talks to Linode and to a test double given as `endpoint`.
//!
//! - **Offerings** (`offerings`): regions with their country, types with the API's hourly
//!   prices (a region's own price where the type lists one), public images; read once per
//!   process, the three lists at once.
//! - **SSH keys** are profile keys at Linode: the key of every region of one state is one
//!   registered key, labelled `NAME-LINEAGE8`, and its public key goes into each instance's
//!   `authorized_keys`. A public key the profile already holds under another label is used as
//!   it is and never deleted by oss.
//! - **Firewalls**: one Cloud Firewall per group and region, labelled `NAME-REGION-LINEAGE8`,
//!   inbound TCP on the group's ports (everything else dropped), outbound open, given to each
//!   instance at its create (`firewall_id`).
//! - **Instances** are tagged with the state's lineage and their address (`marks`), created
//!   with the key and firewall and a random root password that never leaves memory, then
//!   polled until `running` with an address.
//! - **Adoption**: a create first looks for an instance of this lineage and address (one list
//!   filtered by the lineage tag with `X-Filter`, per page, shared by all creates of the run).
//! - **Refresh** is batched: instances listed by the lineage tag, one call per page of 500;
//!   keys and firewalls listed only when the state holds some.
//! - **Deletes** are idempotent: a 404 is success.
//!
//! Errors are classified in `api` (docs/providers.md has the table). The token comes from the
//! `token` setting (an `env.` reference) or `LINODE_TOKEN`; it is never printed. The driver
//! never reads or writes the state file and never prints.

mod api;
#[cfg(test)]
mod examples;
mod marks;
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
use crate::net::rest::{Classify, Client, Method, Paging, Repeat};
use crate::resource::Kind;

/// The `linode` driver: the shared REST-cloud driver over [`LinodeCloud`].
pub type LinodeDriver = RestDriver<LinodeCloud>;

/// What Linode's API does its own way. See the module documentation.
pub struct LinodeCloud {
    parts: Parts,
}

impl LinodeCloud {
    /// Every item of a paged list (`data` of each page), one call per page; `filter` is sent
    /// as `X-Filter`.
    async fn list(&self, path: &str, filter: Option<&Value>) -> Result<Vec<Value>, DriverError> {
        let headers: Vec<(&str, String)> = filter
            .map(|f| vec![("X-Filter", f.to_string())])
            .unwrap_or_default();
        self.parts
            .rest
            .client()?
            .list_with(path, &[], &headers, api::PAGE_SIZE, "data")
            .await
            .map_err(|e| self.parts.rest.error(e))
    }

    /// The `data` of a list the API does not page (regions, types: one answer holds all).
    async fn whole(&self, path: &str) -> Result<Vec<Value>, DriverError> {
        let answer = self
            .parts
            .rest
            .call(Method::Get, path, None, Repeat::Safe)
            .await?;
        Ok(answer["data"].as_array().cloned().unwrap_or_default())
    }
}

#[async_trait]
impl RestCloud for LinodeCloud {
    const PROVIDER: &'static str = "linode";
    const VENDOR: &'static str = "Linode";
    const PAGING: Paging = Paging::PageOf("/page", "/pages");
    const ERROR: ErrorOf = api::driver_error;
    const OBSERVERS: Observers = Observers {
        node: node::observed,
        key: objects::key_observed,
        firewall: objects::firewall_observed,
    };
    type Settings = settings::Linode;

    fn classify() -> Box<dyn Classify> {
        Box::new(api::Linode)
    }

    fn tune(client: Client) -> Client {
        client.with_page_size("page_size")
    }

    fn from_parts(parts: Parts) -> Self {
        LinodeCloud { parts }
    }

    fn parts(&self) -> &Parts {
        &self.parts
    }

    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let api = self.parts.rest.client()?;
        let (regions, types, images) = tokio::try_join!(
            self.whole("/v4/regions"),
            self.whole("/v4/linode/types"),
            self.list("/v4/images", None),
        )?;
        let source = format!(
            "Linode API at {} (regions, types with their hourly prices, public images)",
            api.base()
        );
        Ok(offerings::assemble(
            &regions,
            &types,
            &images,
            self.parts.regions.as_deref(),
            source,
        ))
    }

    fn path_of(&self, kind: Kind, id: &str) -> String {
        match kind {
            Kind::Key => format!("/v4/profile/sshkeys/{id}"),
            Kind::Firewall => format!("/v4/networking/firewalls/{id}"),
            _ => format!("/v4/linode/instances/{id}"),
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
        testing::assert_refused::<LinodeCloud>(&[
            json!({"region": "us-east"}),
            json!({"regions": ["US East"]}),
        ]);
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_the_variable_is_named() {
        testing::assert_token_from_variable::<LinodeCloud>().await;
    }
}
