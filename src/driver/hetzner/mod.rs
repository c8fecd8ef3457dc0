//! The `hetzner` provider: Hetzner Cloud servers, SSH keys and Firewalls over its public API
//! (v1), through the shared bearer-token REST client (`crate::net::rest`), so the same
//! driver talks to Hetzner and to a test double given as `endpoint`.
//!
//! - **Offerings** (`offerings`): locations with country, city and coordinates, server types
//!   with the API's net hourly price per location (EUR), system images; read once per
//!   process, the three lists at once.
//! - **SSH keys** are project keys: the key of every location of one state is one registered
//!   key, named `NAME-LINEAGE8`, given to each server at its create. A public key the project
//!   already holds under another name is used as it is and never deleted by oss.
//! - **Firewalls**: one Firewall per group and location, named `NAME-LOCATION-LINEAGE8` and
//!   labelled with the lineage, inbound TCP on the group's ports (everything else dropped),
//!   outbound open, applied to each server at its create.
//! - **Servers** are labelled with the state's lineage and their address (`marks`), created
//!   with the key, the firewall and the node command as user data; the create's action is
//!   polled until it ends (`/actions/{id}`), then the server until `running` with an address.
//! - **Adoption**: a create first looks for a server of this lineage and address (one list
//!   by `label_selector`, per page, shared by all creates of the run).
//! - **Refresh** is batched: servers listed by the lineage label, one call per page of 50;
//!   keys and firewalls listed only when the state holds some.
//! - **Deletes** are idempotent: a 404 is success.
//!
//! Errors are classified in `api` by Hetzner's error codes (docs/providers.md has the table).
//! The token comes from the `token` setting (an `env.` reference) or `HCLOUD_TOKEN`; it is
//! never printed. The driver never reads or writes the state file and never prints.

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
use crate::driver::rest_cloud::node::AddressOf;
use crate::driver::rest_cloud::refresh::Observers;
use crate::net::rest::{Classify, Paging};
use crate::resource::Kind;

/// The `hetzner` driver: the shared REST-cloud driver over [`HetznerCloud`].
pub type HetznerDriver = RestDriver<HetznerCloud>;

/// What Hetzner's API does its own way. See the module documentation.
pub struct HetznerCloud {
    parts: Parts,
}

impl HetznerCloud {
    /// Every item of a paged list (`items` of each page), one call per page of 50;
    /// `selector` is sent as `label_selector`.
    async fn list(
        &self,
        path: &str,
        items: &str,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, DriverError> {
        let query: Vec<(&str, String)> = selector
            .map(|s| vec![("label_selector", s.to_string())])
            .unwrap_or_default();
        self.parts
            .rest
            .client()?
            .list(path, &query, api::PER_PAGE, items)
            .await
            .map_err(|e| self.parts.rest.error(e))
    }

    /// The system images that are available (not deprecated), every page.
    async fn images(&self) -> Result<Vec<Value>, DriverError> {
        let query = [
            ("type", "system".to_string()),
            ("status", "available".into()),
        ];
        self.parts
            .rest
            .client()?
            .list("/images", &query, api::PER_PAGE, "images")
            .await
            .map_err(|e| self.parts.rest.error(e))
    }
}

#[async_trait]
impl RestCloud for HetznerCloud {
    const PROVIDER: &'static str = "hetzner";
    const VENDOR: &'static str = "Hetzner Cloud";
    const PAGING: Paging = Paging::NextPage("/meta/pagination/next_page");
    const ERROR: ErrorOf = api::driver_error;
    const OBSERVERS: Observers = Observers {
        node: node::observed,
        key: objects::key_observed,
        firewall: objects::firewall_observed,
    };
    const ADDRESS_OF: AddressOf = marks::address_of;
    type Settings = settings::Hetzner;

    fn classify() -> Box<dyn Classify> {
        Box::new(api::Hetzner)
    }

    fn from_parts(parts: Parts) -> Self {
        HetznerCloud { parts }
    }

    fn parts(&self) -> &Parts {
        &self.parts
    }

    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let api = self.parts.rest.client()?;
        let (locations, server_types, images) = tokio::try_join!(
            self.list("/locations", "locations", None),
            self.list("/server_types", "server_types", None),
            self.images(),
        )?;
        let source = format!(
            "Hetzner Cloud API at {} (locations, server types with their net hourly prices in \
             EUR, system images)",
            api.base()
        );
        Ok(offerings::assemble(
            &locations,
            &server_types,
            &images,
            self.parts.regions.as_deref(),
            source,
        ))
    }

    fn path_of(&self, kind: Kind, id: &str) -> String {
        match kind {
            Kind::Key => format!("/ssh_keys/{id}"),
            Kind::Firewall => format!("/firewalls/{id}"),
            _ => format!("/servers/{id}"),
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
        testing::assert_refused::<HetznerCloud>(&[
            json!({"location": "fsn1"}),
            json!({"regions": ["Falkenstein 1"]}),
            json!({"regions": ["fsn-1"]}),
        ]);
        assert!(testing::without_env::<HetznerCloud>(json!({"regions": ["fsn1", "ash"]})).is_ok());
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_the_variable_is_named() {
        testing::assert_token_from_variable::<HetznerCloud>().await;
    }
}
