//! The [`Driver`] of every REST cloud, written once: [`RestDriver`] is built from the shared
//! settings block (the API client, its token, timeouts) and routes the trait's calls (catalog
//! read once and cached, refresh, creates and deletes by kind, firewall updates) to what one
//! cloud's API does differently, the [`RestCloud`] it wraps. [`Api`] is the calls every such
//! cloud makes the same way: the client refused without a token (naming the variable), one
//! classified call, and an idempotent delete (404: gone already); [`classified`] is the
//! driver error of a failed call, worded alike for every cloud.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::driver::settings::SettingsError;
use crate::driver::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed};
use crate::net::rest::{self, Classify, Client, Method, Paging, Repeat};
use crate::resource::{Desired, Existing, Kind};

use super::node::{AddressOf, Adoption, tagged};
use super::refresh::Observers;
use super::settings::{Cloud, Settings};

/// Turns a failed call of provider `name` into the driver error the cloud's table gives.
pub type ErrorOf = fn(&str, rest::Error) -> DriverError;

/// One cloud's API client as the drivers use it.
pub struct Api {
    name: String,
    client: Option<Client>,
    /// The vendor's name and its token variable, for the missing-token refusal.
    vendor: &'static str,
    variable: &'static str,
    error: ErrorOf,
}

impl Api {
    /// `client` is `None` without a token: every call is then refused before it is sent.
    pub fn new(
        name: String,
        client: Option<Client>,
        vendor: &'static str,
        variable: &'static str,
        error: ErrorOf,
    ) -> Self {
        Api {
            name,
            client,
            vendor,
            variable,
            error,
        }
    }

    /// The provider's name in the strategy.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn has_token(&self) -> bool {
        self.client.is_some()
    }

    /// The calls the client made (none without a token).
    pub fn counts(&self) -> crate::net::calls::CallCounts {
        self.client.as_ref().map(Client::counts).unwrap_or_default()
    }

    /// The client, or the refusal that names the token variable.
    pub fn client(&self) -> Result<&Client, DriverError> {
        self.client.as_ref().ok_or_else(|| {
            DriverError::fatal(format!(
                "Provider `{}` has no {} token: set {}, or \"token\": \"env.NAME\" in its block.",
                self.name, self.vendor, self.variable
            ))
            .with_code("NoCredentials")
        })
    }

    /// The classified driver error of a failed call.
    pub fn error(&self, e: rest::Error) -> DriverError {
        (self.error)(&self.name, e)
    }

    /// One call; failures classified.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value, DriverError> {
        self.client()?
            .call(method, path, &[], body, repeat)
            .await
            .map_err(|e| self.error(e))
    }

    /// A read of one object that may not exist (yet, or any more): `None` on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, DriverError> {
        match self
            .client()?
            .call(Method::Get, path, &[], None, Repeat::Safe)
            .await
        {
            Ok(answer) => Ok(Some(answer)),
            Err(e) if e.failure.status == Some(404) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// A delete of something that may be gone already: 404 is success.
    pub async fn delete(&self, path: &str) -> Result<(), DriverError> {
        match self
            .client()?
            .call(Method::Delete, path, &[], None, Repeat::Safe)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.failure.status == Some(404) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// The driver error of the failed call `e` of provider `provider` at `vendor`
/// (`DigitalOcean`): the call, its status and the vendor's words; `hint` (what to do about
/// a refused token) added on a 401. `scope` is what a fail-over rules out. The code is the
/// vendor's, else `http_STATUS` or `transport`.
pub fn classified(
    vendor: &str,
    provider: &str,
    e: rest::Error,
    scope: crate::driver::Scope,
    hint: &str,
) -> DriverError {
    let rest::Failure {
        status,
        code,
        message,
        retry_after,
        ..
    } = e.failure;
    let mut text = format!(
        "{vendor} {} failed{} (provider `{provider}`): {}.",
        e.call,
        status.map_or(String::new(), |s| format!(" with HTTP {s}")),
        message.trim_end_matches('.'),
    );
    if status == Some(401) {
        text.push(' ');
        text.push_str(hint);
    }
    let code = code.unwrap_or_else(|| match status {
        Some(s) => format!("http_{s}"),
        None => "transport".into(),
    });
    let mut error = DriverError::new(e.class, text)
        .with_code(code)
        .with_scope(scope);
    error.retry_after = retry_after;
    error
}

/// What every REST cloud's part holds: its API client, the settings every REST cloud has,
/// and what its creates adopt from.
pub struct Parts {
    pub rest: Api,
    /// The `regions` setting: the region ids to offer, `None` for all.
    pub regions: Option<Vec<String>>,
    /// How long a node may take to be running.
    pub ready_timeout: Duration,
    pub adoption: Adoption,
}

/// How one cloud lists and creates its nodes (each driver's `node`).
#[async_trait]
pub trait RestNodes: Send + Sync {
    /// The nodes of `lineage`, one call per page.
    async fn list_nodes(&self, lineage: &str) -> Result<Vec<Value>, DriverError>;

    async fn create_node(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError>;
}

/// How one cloud lists, creates and updates its keys and firewalls (each driver's
/// `objects`).
#[async_trait]
pub trait RestObjects: Send + Sync {
    /// The keys oss may hold of `lineage` (the account's), one call per page.
    async fn list_keys(&self, lineage: &str) -> Result<Vec<Value>, DriverError>;
    /// The firewalls oss may hold of `lineage`, one call per page.
    async fn list_firewalls(&self, lineage: &str) -> Result<Vec<Value>, DriverError>;

    async fn create_key(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError>;
    async fn create_firewall(&self, request: &CreateRequest<'_>) -> Result<Existing, DriverError>;

    /// Brings the firewall's rules to `desired`.
    async fn update_firewall(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<(), DriverError>;
}

/// What one REST cloud's API does its own way (with its [`RestNodes`] and [`RestObjects`]);
/// [`RestDriver`] is the rest.
#[async_trait]
pub trait RestCloud: RestNodes + RestObjects + Sized {
    /// The provider's kind in the strategy (`digitalocean`).
    const PROVIDER: &'static str;
    /// The vendor's name in messages (`DigitalOcean`).
    const VENDOR: &'static str;
    /// How the API's lists say where the next page is.
    const PAGING: Paging;
    /// The error table of the API's failed calls.
    const ERROR: ErrorOf;
    /// How the lists' nodes, keys and firewalls are read.
    const OBSERVERS: Observers;
    /// Where a listed node's address is read from: its tags (Hetzner: its labels).
    const ADDRESS_OF: AddressOf = tagged;
    /// What the settings block differs in (API, token variable, region ids).
    type Settings: Cloud;

    /// How the API's error bodies are read.
    fn classify() -> Box<dyn Classify>;

    /// The client as this API wants it (Linode names its page-size parameter).
    fn tune(client: Client) -> Client {
        client
    }

    /// The cloud's part of a driver built from `parts`.
    fn from_parts(parts: Parts) -> Self;

    fn parts(&self) -> &Parts;

    fn api(&self) -> &Api {
        &self.parts().rest
    }

    /// What creates adopt from.
    fn adoption(&self) -> &Adoption {
        &self.parts().adoption
    }

    /// The offerings, read from the API (cached by the driver).
    async fn read_catalog(&self) -> Result<Catalog, DriverError>;

    /// The API path a delete of the `kind` object `id` goes to (node, key, firewall).
    fn path_of(&self, kind: Kind, id: &str) -> String;
}

/// The driver of a REST cloud `C`. See the module documentation.
pub struct RestDriver<C> {
    cloud: C,
    /// The catalog, once read (the async lock keeps concurrent first readers to one read).
    catalog: tokio::sync::Mutex<Option<Catalog>>,
}

impl<C: RestCloud> RestDriver<C> {
    /// Checks the provider's settings as written in the strategy (see
    /// [`crate::driver::check_settings`]).
    pub fn check_settings(settings: &Map<String, Value>) -> Result<(), SettingsError> {
        Settings::<C::Settings>::check_block(settings)
    }

    /// Builds the driver from its strategy block; see docs/providers.md for the settings.
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// Like [`RestDriver::new`], reading the environment through `var` (for tests).
    pub fn with_env(
        config: DriverConfig,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DriverError> {
        let name = config.name.clone();
        let settings = Settings::<C::Settings>::resolve(&config.settings)
            .map_err(|e| e.into_driver_error(C::PROVIDER, &name))?;
        let client = settings
            .client(&name, var, C::classify(), C::PAGING)?
            .map(C::tune);
        let variable = <C::Settings as Cloud>::TOKEN_VARIABLE;
        Ok(Self::over(C::from_parts(Parts {
            rest: Api::new(name, client, C::VENDOR, variable, C::ERROR),
            regions: settings.regions.clone(),
            ready_timeout: settings.ready_timeout(),
            adoption: Adoption::reading(C::ADDRESS_OF),
        })))
    }

    pub fn over(cloud: C) -> Self {
        RestDriver {
            cloud,
            catalog: tokio::sync::Mutex::new(None),
        }
    }

    /// The cloud's own part.
    pub fn cloud(&self) -> &C {
        &self.cloud
    }
}

#[async_trait]
impl<C: RestCloud + 'static> Driver for RestDriver<C> {
    fn name(&self) -> &str {
        self.cloud.api().name()
    }

    fn api_calls(&self) -> crate::net::calls::CallCounts {
        self.cloud.api().counts()
    }

    fn supports(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Node | Kind::Key | Kind::Firewall)
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        let mut cached = self.catalog.lock().await;
        if let Some(catalog) = cached.as_ref() {
            return Ok(catalog.clone());
        }
        let catalog = self.cloud.read_catalog().await?;
        *cached = Some(catalog.clone());
        Ok(catalog)
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        super::refresh::lineage(&self.cloud, lineage, known).await
    }

    fn lineage_is_new(&self, lineage: &str) {
        self.cloud.adoption().lineage_is_new(lineage);
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        let name = self.name();
        if request.placement.provider != name {
            return Err(DriverError::fatal(format!(
                "The placement {} names provider `{}`, not `{name}`.",
                request.placement, request.placement.provider
            )));
        }
        match request.desired.kind {
            Kind::Node => self.cloud.create_node(&request).await,
            Kind::Key => self.cloud.create_key(&request).await,
            Kind::Firewall => self.cloud.create_firewall(&request).await,
            Kind::Record => Err(crate::driver::no_records(C::PROVIDER)),
            Kind::Balancer | Kind::Network => Err(crate::driver::no_balancers(C::PROVIDER)),
        }
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        if existing.kind == Kind::Firewall {
            self.cloud.update_firewall(existing, desired).await?;
        }
        // A node's `tags` and lifecycle controls live in state only (the cloud's tags or
        // labels are oss's marks); a key has nothing to update.
        Ok(Existing {
            attributes: desired.attributes.clone(),
            ..existing.clone()
        })
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        match existing.kind {
            // A key the account held before oss is used, never deleted.
            Kind::Key if existing.observed.get("owned") == Some(&Value::Bool(false)) => Ok(()),
            Kind::Node | Kind::Key | Kind::Firewall => {
                let path = self.cloud.path_of(existing.kind, &existing.provider_id);
                self.cloud.api().delete(&path).await?;
                if existing.kind == Kind::Node {
                    // The old node of a destroy-then-create replace is in the snapshot
                    // refresh took; its replacement must not adopt it.
                    self.cloud.adoption().deleted(&existing.provider_id);
                }
                Ok(())
            }
            Kind::Record => Err(crate::driver::no_records(C::PROVIDER)),
            Kind::Balancer | Kind::Network => Err(crate::driver::no_balancers(C::PROVIDER)),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the REST drivers' unit tests build their drivers with, the checks of the
    //! settings block and the token every one of them makes, and what their tests on the
    //! providers' published example responses (tests/fixtures/examples) read them through.

    use super::*;
    use crate::driver::ErrorClass;
    use crate::resource::{Address, Attributes, Placement};
    use serde_json::json;
    use std::collections::HashMap;

    /// The items under `key` of a published example response (a list answer's page).
    pub fn items(example: &str, key: &str) -> Vec<Value> {
        let page: Value = serde_json::from_str(example).expect("an example fixture is JSON");
        page[key]
            .as_array()
            .unwrap_or_else(|| panic!("the example has no `{key}` list"))
            .clone()
    }

    /// The state record of `kind` at `address`, provider id `id`, of provider `p`.
    pub fn known(address: &str, kind: Kind, id: &str) -> Existing {
        Existing {
            address: Address(address.into()),
            kind,
            placement: Placement {
                provider: "p".into(),
                location: "l".into(),
                size: String::new(),
                image: String::new(),
                hourly_price: None,
                currency: None,
            },
            provider_id: id.into(),
            attributes: Attributes::new(),
            observed: Attributes::new(),
            dependencies: Vec::new(),
        }
    }

    /// What `C`'s refresh makes of the listed `nodes`, `keys` and `firewalls` for `known`:
    /// each known address's observed attributes (`None`: not listed).
    pub fn observed<C: RestCloud>(
        known: &[Existing],
        nodes: &[Value],
        keys: &[Value],
        firewalls: &[Value],
    ) -> HashMap<String, Option<Attributes>> {
        super::super::refresh::refreshed(known, nodes, keys, firewalls, &C::OBSERVERS)
            .known
            .into_iter()
            .map(|(address, seen)| (address.0, seen))
            .collect()
    }

    /// The driver error `C` makes of the call `call` answered with HTTP `status` and the
    /// error body `body`: `C`'s reading of the body's code and message, its classification
    /// and its driver error.
    pub fn error_of<C: RestCloud>(status: u16, body: &str, call: &str) -> DriverError {
        let body: Value = serde_json::from_str(body).expect("an example fixture is JSON");
        let classify = C::classify();
        let (code, message) = classify.error_fields(&body);
        let failure = rest::Failure {
            status: Some(status),
            code,
            message: message.expect("the error body has a message"),
            retry_after: None,
            transport: None,
        };
        let class = classify.classify(&failure);
        (C::ERROR)(
            "p",
            rest::Error {
                class,
                failure,
                call: call.into(),
            },
        )
    }

    /// The config of a provider named `name` whose block is `settings`.
    pub fn config(name: &str, settings: Value) -> DriverConfig {
        DriverConfig {
            name: name.into(),
            settings: settings.as_object().unwrap().clone().into(),
            state_dir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
        }
    }

    /// The driver of `settings`, without any environment.
    pub fn without_env<C: RestCloud>(settings: Value) -> Result<RestDriver<C>, DriverError> {
        RestDriver::with_env(config(C::PROVIDER, settings), &|_| None)
    }

    /// Each block of `bad`, and each of the wrong values of the settings every REST cloud
    /// takes, is refused at build, fatally.
    pub fn assert_refused<C: RestCloud>(bad: &[Value]) {
        let common = [
            json!({"regions": []}),
            json!({"endpoint": "localhost"}),
            json!({"token": ""}),
            json!({"ready_timeout": 0}),
            json!({"request_timeout": 1000}),
        ];
        for bad in bad.iter().chain(&common) {
            let e = without_env::<C>(bad.clone())
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(e.class, ErrorClass::Fatal, "{bad}");
        }
    }

    /// Without a token nothing is sent and the refusal names the token variable; with the
    /// variable set, the driver has its token.
    pub async fn assert_token_from_variable<C: RestCloud + 'static>() {
        let variable = <C::Settings as Cloud>::TOKEN_VARIABLE;
        let settings = json!({"endpoint": "http://127.0.0.1:9"});
        let driver = without_env::<C>(settings.clone()).unwrap();
        let e = driver.catalog().await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("NoCredentials"));
        assert!(e.message.contains(variable), "{e}");
        let driver = RestDriver::<C>::with_env(config(C::PROVIDER, settings), &|n| {
            (n == variable).then(|| "x".into())
        })
        .unwrap();
        assert!(driver.cloud().api().has_token());
    }
}
