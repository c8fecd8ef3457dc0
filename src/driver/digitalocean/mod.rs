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

/// Checks digitalocean settings as written in the strategy (see
/// [`crate::driver::check_settings`]).
pub fn check_settings(
    settings: &serde_json::Map<String, Value>,
) -> Result<(), super::settings::SettingsError> {
    settings::Settings::check_block(settings)
}

/// The `digitalocean` driver. See the module documentation.
pub struct DigitalOceanDriver {
    name: String,
    api: Option<Client>,
    regions: Option<Vec<String>>,
    ready_timeout: Duration,
    /// The catalog, once read (the async lock keeps concurrent first readers to one read).
    catalog: tokio::sync::Mutex<Option<Catalog>>,
    /// What creates adopt from (`rest_cloud::node`).
    adoption: Adoption,
}

impl DigitalOceanDriver {
    /// Builds the driver from its strategy block; see docs/providers.md for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// Like [`DigitalOceanDriver::new`], reading the environment through `var` (for tests).
    pub fn with_env(
        config: DriverConfig,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DriverError> {
        let name = config.name.clone();
        let settings = settings::Settings::resolve(&config.settings)
            .map_err(|e| e.into_driver_error("digitalocean", &name))?;
        let api = settings.client(
            &name,
            var,
            Box::new(api::DigitalOcean),
            Paging::NextLink("/links/pages/next"),
        )?;
        Ok(DigitalOceanDriver {
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
                "Provider `{}` has no DigitalOcean token: set DIGITALOCEAN_TOKEN, or \
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

    /// Every item of a list, one call per page.
    async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        items: &str,
    ) -> Result<Vec<Value>, DriverError> {
        self.api()?
            .list(path, query, api::PER_PAGE, items)
            .await
            .map_err(|e| api::driver_error(&self.name, e))
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
            self.regions.as_deref(),
            source,
        ))
    }
}

#[async_trait]
impl Driver for DigitalOceanDriver {
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
            Kind::Node => self.create_droplet(&request).await,
            Kind::Key => self.create_key(&request).await,
            Kind::Firewall => self.create_firewall(&request).await,
            Kind::Record => Err(crate::driver::no_records("digitalocean")),
            Kind::Balancer => Err(crate::driver::no_balancers("digitalocean")),
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
        // A node's `tags` and lifecycle controls live in state only (DigitalOcean's tags are
        // oss's marks); a key has nothing to update.
        Ok(Existing {
            attributes: desired.attributes.clone(),
            ..existing.clone()
        })
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        let id = &existing.provider_id;
        match existing.kind {
            Kind::Node => self.delete_path(&format!("/v2/droplets/{id}")).await,
            Kind::Key if existing.observed.get("owned") == Some(&Value::Bool(false)) => Ok(()),
            Kind::Key => self.delete_path(&format!("/v2/account/keys/{id}")).await,
            Kind::Firewall => self.delete_path(&format!("/v2/firewalls/{id}")).await,
            Kind::Record => Err(crate::driver::no_records("digitalocean")),
            Kind::Balancer => Err(crate::driver::no_balancers("digitalocean")),
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
            name: "do".into(),
            settings: settings.as_object().unwrap().clone(),
            state_dir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn settings_are_checked_and_unknown_ones_refused() {
        let no_env = |_: &str| None;
        for bad in [
            json!({"region": "nyc1"}),
            json!({"regions": []}),
            json!({"regions": ["NYC 1"]}),
            json!({"endpoint": "localhost"}),
            json!({"token": ""}),
            json!({"ready_timeout": 0}),
            json!({"request_timeout": 1000}),
        ] {
            let e = DigitalOceanDriver::with_env(config(bad.clone()), &no_env)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(e.class, ErrorClass::Fatal, "{bad}");
        }
        let e = DigitalOceanDriver::with_env(config(json!({"token": 5})), &no_env)
            .err()
            .unwrap();
        assert!(
            !e.message.contains('5') || e.message.contains("token"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_the_variable_is_named() {
        let driver = DigitalOceanDriver::with_env(
            config(json!({"endpoint": "http://127.0.0.1:9"})),
            &|_| None,
        )
        .unwrap();
        let e = driver.catalog().await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("NoCredentials"));
        assert!(e.message.contains("DIGITALOCEAN_TOKEN"), "{e}");
        let driver =
            DigitalOceanDriver::with_env(config(json!({"endpoint": "http://127.0.0.1:9"})), &|n| {
                (n == "DIGITALOCEAN_TOKEN").then(|| "dop_v1_x".into())
            })
            .unwrap();
        assert!(driver.api.is_some());
    }
}
