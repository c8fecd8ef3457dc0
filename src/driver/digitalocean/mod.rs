//! The `digitalocean` provider: droplets, SSH keys and cloud firewalls over DigitalOcean's
//! public v2 API, through the shared bearer-token REST client (`crate::net::rest`), so the same
//! driver talks to DigitalOcean and to a test double given as `endpoint`.
//!
//! - **Offerings** (`offerings`): regions, sizes with the API's hourly prices, distribution
//!   images; read once per process, the three lists at once.
//! - **SSH keys** are account-wide at DigitalOcean: the key of every region of one state is
//!   one registered key, named `NAME-LINEAGE8`. A public key the account already holds under
//!   another name is used as it is and never deleted by oss.
//! - **Firewalls**: one per group and region, named `NAME-REGION-LINEAGE8`, inbound TCP from
//!   anywhere on the group's ports, outbound open, applied to the droplets carrying its tag.
//! - **Droplets** are tagged with the state's lineage and their address (`marks`), created
//!   with the region's key and firewall tag, then polled until `active` with an address.
//! - **Adoption**: a create first looks for a droplet of this lineage and address (one list
//!   filtered by the lineage tag, per page, shared by all creates of the run) and adopts it.
//! - **Refresh** is batched: droplets listed by the lineage tag, one call per page of 200;
//!   keys and firewalls listed only when the state holds some.
//! - **Deletes** are idempotent: a 404 is success.
//!
//! Errors are classified in `api` (docs/providers.md has the table). The token comes from the
//! `token` setting (an `env.` reference) or `DIGITALOCEAN_TOKEN`; it is never printed. The
//! driver never reads or writes the state file and never prints.

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
use crate::net::rest::{Classify, Paging};
use crate::resource::Kind;

/// The `digitalocean` driver: the shared REST-cloud driver over [`DigitalOceanCloud`].
pub type DigitalOceanDriver = RestDriver<DigitalOceanCloud>;

/// What DigitalOcean's API does its own way. See the module documentation.
pub struct DigitalOceanCloud {
    parts: Parts,
}

impl DigitalOceanCloud {
    /// Every item of a list, one call per page.
    async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        items: &str,
    ) -> Result<Vec<Value>, DriverError> {
        self.parts
            .rest
            .client()?
            .list(path, query, api::PER_PAGE, items)
            .await
            .map_err(|e| self.parts.rest.error(e))
    }
}

#[async_trait]
impl RestCloud for DigitalOceanCloud {
    const PROVIDER: &'static str = "digitalocean";
    const VENDOR: &'static str = "DigitalOcean";
    const PAGING: Paging = Paging::NextLink("/links/pages/next");
    const ERROR: ErrorOf = api::driver_error;
    const OBSERVERS: Observers = Observers {
        node: node::observed,
        key: objects::key_observed,
        firewall: objects::firewall_observed,
    };
    type Settings = settings::DigitalOcean;

    fn classify() -> Box<dyn Classify> {
        Box::new(api::DigitalOcean)
    }

    fn from_parts(parts: Parts) -> Self {
        DigitalOceanCloud { parts }
    }

    fn parts(&self) -> &Parts {
        &self.parts
    }

    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let api = self.parts.rest.client()?;
        let distribution = [("type", "distribution".to_string())];
        let (regions, sizes, images) = tokio::try_join!(
            self.list("/v2/regions", &[], "regions"),
            self.list("/v2/sizes", &[], "sizes"),
            self.list("/v2/images", &distribution, "images"),
        )?;
        let source = format!(
            "DigitalOcean API at {} (regions, sizes with their hourly prices, distribution \
             images)",
            api.base()
        );
        Ok(offerings::assemble(
            &regions,
            &sizes,
            &images,
            self.parts.regions.as_deref(),
            source,
        ))
    }

    fn path_of(&self, kind: Kind, id: &str) -> String {
        match kind {
            Kind::Key => format!("/v2/account/keys/{id}"),
            Kind::Firewall => format!("/v2/firewalls/{id}"),
            _ => format!("/v2/droplets/{id}"),
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
        testing::assert_refused::<DigitalOceanCloud>(&[
            json!({"region": "nyc1"}),
            json!({"regions": ["NYC 1"]}),
        ]);
        let e = testing::without_env::<DigitalOceanCloud>(json!({"token": 5}))
            .err()
            .unwrap();
        assert!(
            !e.message.contains('5') || e.message.contains("token"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_the_variable_is_named() {
        testing::assert_token_from_variable::<DigitalOceanCloud>().await;
    }
}
