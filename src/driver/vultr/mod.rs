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
mod node;
mod objects;
mod offerings;
mod refresh;
mod settings;
pub use settings::SECRET_SETTINGS;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{CreateRequest, DriverConfig, DriverError, Refreshed};
use crate::catalog::Catalog;
use crate::driver::attribute_name;
use crate::driver::rest_cloud::driver::{Api, RestCloud, RestDriver};
use crate::driver::rest_cloud::node::Adoption;
use crate::net::rest::Paging;
use crate::resource::{Desired, Existing, Kind};

/// Checks vultr settings as written in the strategy (see [`crate::driver::check_settings`]).
pub fn check_settings(
    settings: &serde_json::Map<String, Value>,
) -> Result<(), super::settings::SettingsError> {
    settings::Settings::check_block(settings)
}

/// The `vultr` driver: the shared REST-cloud driver over [`VultrCloud`].
pub type VultrDriver = RestDriver<VultrCloud>;

/// What Vultr's API does its own way. See the module documentation.
pub struct VultrCloud {
    rest: Api,
    regions: Option<Vec<String>>,
    ready_timeout: Duration,
    /// What creates adopt from (`rest_cloud::node`).
    adoption: Adoption,
}

impl VultrDriver {
    /// Builds the driver from its strategy block; see docs/providers.md for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// Like [`VultrDriver::new`], reading the environment through `var` (for tests).
    pub fn with_env(
        config: DriverConfig,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DriverError> {
        let name = config.name.clone();
        let settings = settings::Settings::resolve(&config.settings)
            .map_err(|e| e.into_driver_error("vultr", &name))?;
        let client = settings.client(
            &name,
            var,
            Box::new(api::Vultr),
            Paging::Cursor("/meta/links/next"),
        )?;
        Ok(RestDriver::over(VultrCloud {
            rest: Api::new(name, client, "Vultr", "VULTR_API_KEY", api::driver_error),
            regions: settings.regions.clone(),
            ready_timeout: settings.ready_timeout(),
            adoption: Adoption::default(),
        }))
    }
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
        self.rest
            .client()?
            .list(path, query, api::PAGE_SIZE, items)
            .await
            .map_err(|e| self.rest.error(e))
    }
}

#[async_trait]
impl RestCloud for VultrCloud {
    const PROVIDER: &'static str = "vultr";

    fn api(&self) -> &Api {
        &self.rest
    }

    fn adoption(&self) -> &Adoption {
        &self.adoption
    }

    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let api = self.rest.client()?;
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
            self.regions.as_deref(),
            source,
        ))
    }

    async fn refresh_lineage(
        &self,
        lineage: &str,
        known: &[Existing],
    ) -> Result<Refreshed, DriverError> {
        VultrCloud::refresh_lineage(self, lineage, known).await
    }

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        self.create_instance(request).await
    }

    async fn create_key(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        VultrCloud::create_key(self, request).await
    }

    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError> {
        VultrCloud::create_firewall(self, request).await
    }

    async fn update_firewall(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<(), DriverError> {
        VultrCloud::update_firewall(self, existing, desired).await
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
    use crate::driver::{Driver, ErrorClass};
    use serde_json::json;

    fn config(settings: Value) -> DriverConfig {
        DriverConfig {
            name: "vu".into(),
            settings: settings.as_object().unwrap().clone().into(),
            state_dir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn settings_are_checked_and_unknown_ones_refused() {
        let no_env = |_: &str| None;
        for bad in [
            json!({"region": "ewr"}),
            json!({"regions": []}),
            json!({"regions": ["New Jersey"]}),
            json!({"endpoint": "localhost"}),
            json!({"token": ""}),
            json!({"ready_timeout": 0}),
            json!({"request_timeout": 1000}),
        ] {
            let e = VultrDriver::with_env(config(bad.clone()), &no_env)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(e.class, ErrorClass::Fatal, "{bad}");
        }
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_sent_and_the_variable_is_named() {
        let driver =
            VultrDriver::with_env(config(json!({"endpoint": "http://127.0.0.1:9"})), &|_| None)
                .unwrap();
        let e = driver.catalog().await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("NoCredentials"));
        assert!(e.message.contains("VULTR_API_KEY"), "{e}");
        let driver =
            VultrDriver::with_env(config(json!({"endpoint": "http://127.0.0.1:9"})), &|n| {
                (n == "VULTR_API_KEY").then(|| "x".into())
            })
            .unwrap();
        assert!(driver.cloud().api().has_token());
    }
}
