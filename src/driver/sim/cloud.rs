//! The simulated cloud's fixed traits: its catalog, its private networks, and the checks a
//! call's placement must pass (offered location, size and image; regional key pairs and
//! firewalls; capacity). Pure: no I/O.

use std::collections::{HashMap, HashSet};

use super::calls::Order;
use super::capacity::Capacity;
use super::ledger::Ledger;
use super::{CODE_CAPACITY, CODE_INVALID};
use crate::catalog::Catalog;
use crate::driver::{DriverError, Scope};
use crate::resource::{Kind, Placement};

pub(super) struct Cloud {
    pub name: String,
    pub catalog: Catalog,
    pub capacity: Capacity,
    /// The second octet of each location's private network `10.N.0.0/16`.
    pub networks: HashMap<String, u8>,
    /// (location, size) pairs that have a price.
    pub offered: HashSet<(String, String)>,
    /// Simulates key pairs and firewalls per region (`regional_resources`).
    pub regional: bool,
}

impl Cloud {
    /// Key pairs and firewalls name a region of this provider; returns a network octet for it.
    pub fn check_region(&self, placement: &Placement) -> Result<u8, DriverError> {
        if !self.regional {
            return Err(DriverError::fatal(format!(
                "Simulated provider `{}` has no key pairs or firewalls (set regional_resources).",
                self.name
            ))
            .with_code(CODE_INVALID));
        }
        let location = self
            .catalog
            .locations
            .iter()
            .find(|l| l.region == placement.location)
            .ok_or_else(|| {
                let valid = self.catalog.locations.iter().map(|l| l.region.as_str());
                DriverError::fatal(unknown(&self.name, "region", &placement.location, valid))
                    .with_code(CODE_INVALID)
            })?;
        Ok(self.networks[&location.id])
    }

    /// With regional resources, a node needs its region's firewall (and key pair, if the
    /// strategy has one) handed to it, as a cloud needs their ids to launch it.
    pub fn check_regional(&self, order: &Order) -> Result<(), DriverError> {
        if !self.regional {
            return Ok(());
        }
        let region = self
            .catalog
            .locations
            .iter()
            .find(|l| l.id == order.placement.location)
            .map_or("", |l| l.region.as_str());
        let has = |kind: Kind| {
            order
                .dependencies
                .iter()
                .any(|d| d.kind == kind && d.placement.location == region)
        };
        if !has(Kind::Firewall) {
            return Err(DriverError::fatal(format!(
                "Simulated provider `{}` cannot launch {} in {region}: no firewall of that region \
                 was given.",
                self.name, order.desired.address
            ))
            .with_code("InvalidGroup.NotFound"));
        }
        let wants_key = order
            .desired
            .depends_on
            .iter()
            .any(|a| a.as_str().starts_with("key."));
        if wants_key && !has(Kind::Key) {
            return Err(DriverError::fatal(format!(
                "Simulated provider `{}` cannot launch {} in {region}: no key pair of that \
                 region was given.",
                self.name, order.desired.address
            ))
            .with_code("InvalidKeyPair.NotFound"));
        }
        Ok(())
    }

    /// Check that the placement names this provider's offerings; returns the location's
    /// network octet.
    pub fn check_placement(&self, placement: &Placement) -> Result<u8, DriverError> {
        let name = &self.name;
        let invalid = |message: String| DriverError::fatal(message).with_code(CODE_INVALID);
        if placement.provider != *name {
            return Err(invalid(format!(
                "The placement {placement} names provider `{}`, not the simulated provider \
                 `{name}`.",
                placement.provider
            )));
        }
        let catalog = &self.catalog;
        let Some(network) = self.networks.get(&placement.location) else {
            let valid = catalog.locations.iter().map(|l| l.id.as_str());
            return Err(invalid(unknown(
                name,
                "location",
                &placement.location,
                valid,
            )));
        };
        if !catalog.sizes.iter().any(|s| s.id == placement.size) {
            let valid = catalog.sizes.iter().map(|s| s.id.as_str());
            return Err(invalid(unknown(name, "size", &placement.size, valid)));
        }
        if !catalog.images.iter().any(|i| i.id == placement.image) {
            let valid = catalog.images.iter().map(|i| i.id.as_str());
            return Err(invalid(unknown(name, "image", &placement.image, valid)));
        }
        let pair = (placement.location.clone(), placement.size.clone());
        if !self.offered.contains(&pair) {
            let there: Vec<&str> = catalog
                .prices
                .iter()
                .filter(|p| p.location == placement.location)
                .map(|p| p.size.as_str())
                .collect();
            return Err(invalid(format!(
                "Simulated provider `{name}` does not offer size `{}` in location `{}`; sizes \
                 offered there: {}.",
                placement.size,
                placement.location,
                list_or_none(&there)
            )));
        }
        Ok(*network)
    }

    /// Refuse a create that would exceed a configured capacity.
    pub fn check_capacity(
        &self,
        ledger: &Ledger,
        placement: &Placement,
    ) -> Result<(), DriverError> {
        let (location, size) = (&placement.location, &placement.size);
        let full = |rule: String| {
            DriverError::fail_over(format!(
                "Simulated provider `{}` has no capacity for size `{size}` in location \
                 `{location}`: {rule}.",
                self.name
            ))
            .with_code(CODE_CAPACITY)
        };
        let pair = (location.clone(), size.clone());
        if let Some(&limit) = self.capacity.per_size.get(&pair) {
            let running = ledger.running(&self.name, location, Some(size));
            if running >= limit {
                return Err(full(format!(
                    "it holds {limit} of that size there and {running} are running"
                )));
            }
        }
        if let Some(&limit) = self.capacity.per_location.get(location) {
            let running = ledger.running(&self.name, location, None);
            if running >= limit {
                return Err(full(format!(
                    "the location holds {limit} instances and {running} are running"
                ))
                .with_scope(Scope::Location));
            }
        }
        Ok(())
    }

    /// How many more instances of `size` `location` can take, if a capacity limits it.
    pub fn remaining(&self, ledger: &Ledger, location: &str, size: &str) -> Option<u64> {
        let per_size = self
            .capacity
            .per_size
            .get(&(location.to_string(), size.to_string()))
            .map(|limit| limit.saturating_sub(ledger.running(&self.name, location, Some(size))));
        let per_location = self
            .capacity
            .per_location
            .get(location)
            .map(|limit| limit.saturating_sub(ledger.running(&self.name, location, None)));
        match (per_size, per_location) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn unknown<'a>(
    provider: &str,
    what: &str,
    value: &str,
    valid: impl Iterator<Item = &'a str>,
) -> String {
    let valid: Vec<&str> = valid.collect();
    format!(
        "Simulated provider `{provider}` has no {what} `{value}`; its {what}s: {}.",
        list_or_none(&valid)
    )
}

pub(super) fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
