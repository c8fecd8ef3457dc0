//! The `haproxy` load-balancer provider: each balancer is a real HAProxy that oss runs and
//! supervises on this machine, its listeners on a loopback address, its configuration made
//! from the members and the check (`config.rs`), taken by a graceful reload when they change
//! (`process.rs`). HAProxy outlives oss; a balancer a crash left behind is found again by its
//! marker and adopted, never run twice.
//!
//! This driver never reads or writes the state file and never prints.

mod config;
mod process;
mod settings;

pub use settings::{SECRET_SETTINGS, listen_address};

use std::collections::HashSet;
use std::path::PathBuf;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::driver::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed};
use crate::lb::Spec;
use crate::resource::{Address, Attributes, Desired, Existing, Kind};
use process::Marker;

/// Checks haproxy settings as written in the strategy.
pub fn check_settings(
    settings: &Map<String, Value>,
) -> Result<(), crate::driver::settings::SettingsError> {
    settings::check(settings)
}

/// The `haproxy` driver. See the module documentation.
pub struct HaproxyDriver {
    name: String,
    /// `STATE_DIR/haproxy` (absolute): one directory per balancer.
    root: PathBuf,
    settings: settings::Settings,
}

impl HaproxyDriver {
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        let settings = settings::resolve(&config.settings)
            .map_err(|e| e.into_driver_error("haproxy", &config.name))?;
        let root = std::path::absolute(config.state_dir.join("haproxy"))
            .map_err(|e| process::io_error("resolve", &config.state_dir, e))?;
        Ok(HaproxyDriver {
            name: config.name,
            root,
            settings,
        })
    }

    fn dir(&self, provider_id: &str) -> Result<PathBuf, DriverError> {
        let plain = !provider_id.is_empty()
            && !provider_id.starts_with('.')
            && provider_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        match plain {
            true => Ok(self.root.join(provider_id)),
            false => Err(DriverError::fatal(format!(
                "`{provider_id}` is not an haproxy balancer id."
            ))),
        }
    }

    fn observed(&self, marker: &Marker, spec: Option<&Spec>) -> Attributes {
        let mut observed = Attributes::new();
        observed.insert("addr".into(), json!(self.settings.address().to_string()));
        observed.insert("pid".into(), json!(marker.pid));
        observed.insert("generation".into(), json!(marker.generation));
        if let Some(spec) = spec {
            let ports: Vec<u16> = spec.listeners.iter().map(|l| l.port).collect();
            observed.insert("ports".into(), json!(ports));
        }
        observed
    }

    /// Gives the running HAProxy in `dir` the configuration of `spec`, or starts one on it,
    /// and waits until it serves it.
    async fn configure(
        &self,
        marker: &mut Marker,
        spec: &Spec,
        running: bool,
    ) -> Result<(), DriverError> {
        let dir = self.dir(&marker.provider_id)?;
        let address = self.settings.address();
        let (text, generation) = config::render(spec, &dir, address);
        let bin = self.settings.bin();
        process::install_config(&bin, &dir, &text).await?;
        marker.generation = generation.clone();
        process::write_marker(&dir, marker)?;
        match (running, marker.pid) {
            (true, Some(pid)) => process::reload(pid)?,
            _ => {
                let pid = process::spawn(&bin, &dir)?;
                marker.pid = Some(pid);
                process::write_marker(&dir, marker)?;
            }
        }
        let listen: Vec<_> = spec.listeners.iter().map(|l| (address, l.port)).collect();
        process::wait_ready(&dir, &generation, &listen, self.settings.ready_timeout()).await
    }

    fn running(&self, marker: &Marker) -> Result<bool, DriverError> {
        let dir = self.dir(&marker.provider_id)?;
        let live = !process::processes_of(&dir)?.is_empty();
        Ok(live
            && marker
                .pid
                .is_some_and(crate::driver::local::procs::pid_alive))
    }
}

/// A balancer's id: its name and a digest of lineage and address.
fn provider_id(name: &str, lineage: &str, address: &Address) -> String {
    let digest = crate::digest::sha256_hex(format!("{lineage}\0{address}").as_bytes());
    format!("{name}-{}", &digest[..8])
}

#[async_trait]
impl Driver for HaproxyDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, kind: Kind) -> bool {
        kind == Kind::Balancer
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        Ok(Catalog::default())
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        let markers = process::read_markers(&self.root);
        let mut refreshed = Refreshed::default();
        for existing in known {
            let alive = match markers.get(&existing.provider_id) {
                Some(marker) if self.running(marker)? => {
                    let spec = Spec::parse(&marker.address, &marker.attributes).ok();
                    Some(self.observed(marker, spec.as_ref()))
                }
                _ => None,
            };
            refreshed.known.insert(existing.address.clone(), alive);
        }
        let known_ids: HashSet<&str> = known.iter().map(|e| e.provider_id.as_str()).collect();
        let known_addresses: HashSet<&Address> = known.iter().map(|e| &e.address).collect();
        for (id, marker) in &markers {
            if marker.lineage != lineage || known_ids.contains(id.as_str()) {
                continue;
            }
            match self.running(marker)? {
                true if !known_addresses.contains(&marker.address) => {
                    let spec = Spec::parse(&marker.address, &marker.attributes).ok();
                    refreshed
                        .orphans
                        .push(marker.existing(self.observed(marker, spec.as_ref())));
                }
                true => {}
                false => refreshed.debris.push(marker.existing(Attributes::new())),
            }
        }
        Ok(refreshed)
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let spec = Spec::parse(&desired.address, &desired.attributes)?;
        let id = provider_id(&spec.name, request.lineage, &desired.address);
        let dir = self.dir(&id)?;
        // One a crash left (same lineage and address) is adopted and given this configuration.
        let mut marker = match process::read_marker(&dir) {
            Some(mut marker)
                if marker.lineage == request.lineage && marker.address == desired.address =>
            {
                marker.attributes = desired.attributes.clone();
                marker.dependencies = desired.depends_on.clone();
                marker
            }
            _ => {
                process::stop(&dir, self.settings.stop_grace()).await?;
                process::remove_dir(&dir)?;
                Marker {
                    lineage: request.lineage.to_string(),
                    address: desired.address.clone(),
                    provider_id: id.clone(),
                    placement: request.placement.clone(),
                    attributes: desired.attributes.clone(),
                    dependencies: desired.depends_on.clone(),
                    pid: None,
                    generation: String::new(),
                }
            }
        };
        crate::fsutil::create_private_dir_all(&dir)
            .map_err(|e| process::io_error("create", &dir, e))?;
        let running = self.running(&marker)?;
        if !running {
            // Whatever is left of one that died goes before a new one starts.
            process::stop(&dir, self.settings.stop_grace()).await?;
            marker.pid = None;
        }
        process::write_marker(&dir, &marker)?;
        if let Err(mut error) = self.configure(&mut marker, &spec, running).await {
            // One this create started is stopped and removed again: nothing is left behind.
            if !running {
                let cleaned = async {
                    process::stop(&dir, self.settings.stop_grace()).await?;
                    process::remove_dir(&dir)
                };
                if let Err(cleanup) = cleaned.await {
                    error.message = format!("{} Cleaning up also failed: {cleanup}", error.message);
                }
            }
            return Err(error);
        }
        Ok(marker.existing(self.observed(&marker, Some(&spec))))
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        let spec = Spec::parse(&desired.address, &desired.attributes)?;
        let dir = self.dir(&existing.provider_id)?;
        let mut marker = process::read_marker(&dir).ok_or_else(|| {
            DriverError::fatal(format!(
                "Load balancer `{}` ({}) no longer exists, so it cannot be updated; the next plan creates it again.",
                existing.address, existing.provider_id
            ))
        })?;
        marker.attributes = desired.attributes.clone();
        marker.dependencies = desired.depends_on.clone();
        let running = self.running(&marker)?;
        self.configure(&mut marker, &spec, running).await?;
        Ok(marker.existing(self.observed(&marker, Some(&spec))))
    }

    /// Renames the balancer in its marker (`moved`, `oss state mv`), or unmarks it when state
    /// forgets it (`oss state rm`), so refresh no longer adopts it. HAProxy is not touched.
    async fn remark(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        let dir = self.dir(&existing.provider_id)?;
        let mut renamed = existing.clone();
        if let Some(to) = to {
            renamed.address = to.clone();
        }
        let Some(mut marker) = process::read_marker(&dir) else {
            return Ok(renamed);
        };
        match to {
            Some(to) => {
                marker.lineage = lineage.to_string();
                marker.address = to.clone();
            }
            None => marker.lineage = String::new(),
        }
        process::write_marker(&dir, &marker)?;
        Ok(renamed)
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        let dir = self.dir(&existing.provider_id)?;
        process::stop(&dir, self.settings.stop_grace()).await?;
        process::remove_dir(&dir)
    }
}
