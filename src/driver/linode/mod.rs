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
mod marks;
mod node;
mod objects;
mod offerings;
mod refresh;
mod settings;
pub use settings::SECRET_SETTINGS;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed};
use crate::catalog::Catalog;
use crate::driver::attribute_name;
use crate::driver::rest_cloud::node::Adoption;
use crate::net::rest::{Client, Method, Paging, Repeat};
use crate::resource::{Desired, Existing, Kind};

/// Checks linode settings as written in the strategy (see [`crate::driver::check_settings`]).
pub fn check_settings(
    settings: &serde_json::Map<String, Value>,
) -> Result<(), super::settings::SettingsError> {
    settings::Settings::check_block(settings)
}

/// The `linode` driver. See the module documentation.
pub struct LinodeDriver {
    name: String,
    api: Option<Client>,
    regions: Option<Vec<String>>,
    ready_timeout: Duration,
    /// The catalog, once read (the async lock keeps concurrent first readers to one read).
    catalog: tokio::sync::Mutex<Option<Catalog>>,
    /// What creates adopt from (`rest_cloud::node`).
    adoption: Adoption,
}

impl LinodeDriver {
    /// Builds the driver from its strategy block; see docs/providers.md for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// Like [`LinodeDriver::new`], reading the environment through `var` (for tests).
    pub fn with_env(
        config: DriverConfig,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DriverError> {
        let name = config.name.clone();
        let settings = settings::Settings::resolve(&config.settings)
            .map_err(|e| e.into_driver_error("linode", &name))?;
        let api = settings
            .client(
                &name,
                var,
                Box::new(api::Linode),
                Paging::PageOf("/page", "/pages"),
            )?
            .map(|client| client.with_page_size("page_size"));
        Ok(LinodeDriver {
            name,
            api,
            regions: settings.regions.clone(),
            ready_timeout: settings.ready_timeout(),
            catalog: tokio::sync::Mutex::new(None),
            adoption: Adoption::default(),
        })
    }

    fn api(&self) -> Result<&Client, DriverError> {
        self.api.as_ref().ok_or_else(|| {
            DriverError::fatal(format!(
                "Provider `{}` has no Linode token: set LINODE_TOKEN, or \
                 \"token\": \"env.NAME\" in its block.",
                self.name
            ))
            .with_code("NoCredentials")
        })
    }

    /// One call; failures classified.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value, DriverError> {
        self.api()?
            .call(method, path, &[], body, repeat)
            .await
            .map_err(|e| api::driver_error(&self.name, e))
    }

    /// Every item of a paged list (`data` of each page), one call per page; `filter` is sent
    /// as `X-Filter`.
    async fn list(&self, path: &str, filter: Option<&Value>) -> Result<Vec<Value>, DriverError> {
        let headers: Vec<(&str, String)> = filter
            .map(|f| vec![("X-Filter", f.to_string())])
            .unwrap_or_default();
        self.api()?
            .list_with(path, &[], &headers, api::PAGE_SIZE, "data")
            .await
            .map_err(|e| api::driver_error(&self.name, e))
    }

    /// The `data` of a list the API does not page (regions, types: one answer holds all).
    async fn whole(&self, path: &str) -> Result<Vec<Value>, DriverError> {
        let answer = self.call(Method::Get, path, None, Repeat::Safe).await?;
        Ok(answer["data"].as_array().cloned().unwrap_or_default())
    }

    /// A delete of something that may be gone already.
    async fn delete_path(&self, path: &str) -> Result<(), DriverError> {
        match self
            .api()?
            .call(Method::Delete, path, &[], None, Repeat::Safe)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if api::is_not_found(&e) => Ok(()),
            Err(e) => Err(api::driver_error(&self.name, e)),
        }
    }

    async fn read_catalog(&self) -> Result<Catalog, DriverError> {
        let api = self.api()?;
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
            self.regions.as_deref(),
            source,
        ))
    }
}

#[async_trait]
impl Driver for LinodeDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn api_calls(&self) -> crate::net::calls::CallCounts {
        self.api.as_ref().map(Client::counts).unwrap_or_default()
    }

    fn supports(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Node | Kind::Key | Kind::Firewall)
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        let mut cached = self.catalog.lock().await;
        if let Some(catalog) = cached.as_ref() {
            return Ok(catalog.clone());
        }
        let catalog = self.read_catalog().await?;
        *cached = Some(catalog.clone());
        Ok(catalog)
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        self.refresh_lineage(lineage, known).await
    }

    fn lineage_is_new(&self, lineage: &str) {
        self.adoption.lineage_is_new(lineage);
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        if request.placement.provider != self.name {
            return Err(DriverError::fatal(format!(
                "The placement {} names provider `{}`, not `{}`.",
                request.placement, request.placement.provider, self.name
            )));
        }
        match request.desired.kind {
            Kind::Node => self.create_instance(&request).await,
            Kind::Key => self.create_key(&request).await,
            Kind::Firewall => self.create_firewall(&request).await,
            Kind::Record => Err(crate::driver::no_records("linode")),
            Kind::Balancer => Err(crate::driver::no_balancers("linode")),
        }
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        if existing.kind == Kind::Firewall {
            self.update_firewall(existing, desired).await?;
        }
        // A node's `tags` and lifecycle controls live in state only (Linode's tags are oss's
        // marks); a key has nothing to update.
        Ok(Existing {
            attributes: desired.attributes.clone(),
            ..existing.clone()
        })
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        let id = &existing.provider_id;
        match existing.kind {
            Kind::Node => {
                self.delete_path(&format!("/v4/linode/instances/{id}"))
                    .await
            }
            Kind::Key if existing.observed.get("owned") == Some(&Value::Bool(false)) => Ok(()),
            Kind::Key => self.delete_path(&format!("/v4/profile/sshkeys/{id}")).await,
            Kind::Firewall => {
                self.delete_path(&format!("/v4/networking/firewalls/{id}"))
                    .await
            }
            Kind::Record => Err(crate::driver::no_records("linode")),
            Kind::Balancer => Err(crate::driver::no_balancers("linode")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::ErrorClass;
    use serde_json::json;

    fn config(settings: Value) -> DriverConfig {
        DriverConfig {
            name: "li".into(),
            settings: settings.as_object().unwrap().clone(),
            state_dir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn settings_are_checked_and_unknown_ones_refused() {
        let no_env = |_: &str| None;
        for bad in [
            json!({"region": "us-east"}),
            json!({"regions": []}),
            json!({"regions": ["US East"]}),
            json!({"endpoint": "localhost"}),
            json!({"token": ""}),
            json!({"ready_timeout": 0}),
            json!({"request_timeout": 1000}),
        ] {
            let e = LinodeDriver::with_env(config(bad.clone()), &no_env)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(e.class, ErrorClass::Fatal, "{bad}");
        }
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_the_variable_is_named() {
        let driver =
            LinodeDriver::with_env(config(json!({"endpoint": "http://127.0.0.1:9"})), &|_| None)
                .unwrap();
        let e = driver.catalog().await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("NoCredentials"));
        assert!(e.message.contains("LINODE_TOKEN"), "{e}");
        let driver =
            LinodeDriver::with_env(config(json!({"endpoint": "http://127.0.0.1:9"})), &|n| {
                (n == "LINODE_TOKEN").then(|| "x".into())
            })
            .unwrap();
        assert!(driver.api.is_some());
    }
}
