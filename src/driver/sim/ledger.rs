//! The ledger: the sim state file's instances in memory, with the indexes the calls need
//! (by owner for adoption, by location and size for capacity, used private addresses), and
//! each instance's line of the file kept encoded. Pure: no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resource::{Address, Attributes, Existing, Kind, Placement};

/// One simulated instance, as the sim state file records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimInstance {
    /// `i-` and 17 hex digits.
    pub id: String,
    /// The state lineage of the oss state that created it.
    pub lineage: String,
    pub address: Address,
    #[serde(default = "node_kind")]
    pub kind: Kind,
    /// Where it runs; `placement.provider` is the sim provider's name.
    pub placement: Placement,
    /// The attributes it was created (or last updated) with.
    pub attributes: Attributes,
    pub tags: BTreeMap<String, String>,
    /// `10.N.x.y`, N from the location's position in the catalog; unique within the file.
    pub private_ip: Ipv4Addr,
    /// RFC 3339 UTC.
    pub launched_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Address>,
}

fn node_kind() -> Kind {
    Kind::Node
}

impl SimInstance {
    /// What refresh and create report about it.
    pub fn observed(&self) -> Attributes {
        let mut observed = Attributes::new();
        observed.insert("id".to_string(), Value::from(self.id.clone()));
        observed.insert(
            "private_ip".to_string(),
            Value::from(self.private_ip.to_string()),
        );
        observed.insert(
            "launched_at".to_string(),
            Value::from(self.launched_at.clone()),
        );
        observed
    }

    pub fn existing(&self) -> Existing {
        Existing {
            address: self.address.clone(),
            kind: self.kind,
            placement: self.placement.clone(),
            provider_id: self.id.clone(),
            attributes: self.attributes.clone(),
            observed: self.observed(),
            dependencies: self.dependencies.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger: the state file's instances in memory, with indexes.

#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub instances: BTreeMap<String, SimInstance>,
    /// Each instance as its line in the state file, in file order (by address, then id).
    /// Kept up to date so a write copies lines instead of encoding every instance again.
    pub lines: BTreeMap<(Address, String), String>,
    /// Ids by (provider, lineage, address), for adoption.
    owners: HashMap<(String, String, Address), Vec<String>>,
    ips: HashSet<Ipv4Addr>,
    /// Instances by (provider, location) and by (provider, location, size), for capacity.
    at_location: HashMap<(String, String), u64>,
    at_size: HashMap<(String, String, String), u64>,
    /// Where the next free-address search starts in each network (in memory only).
    cursors: HashMap<u8, u32>,
    /// Whether the ledger changed since it was read or written.
    pub dirty: bool,
    /// Ids of the instances put or removed since it was read or written: what an incremental
    /// write appends.
    pub touched: HashSet<String>,
}

impl Ledger {
    pub fn from_instances(list: Vec<SimInstance>) -> Result<Self, String> {
        let mut ledger = Ledger::default();
        for instance in list {
            if ledger.instances.contains_key(&instance.id) {
                return Err(format!("it lists the instance `{}` twice", instance.id));
            }
            ledger.insert(instance);
        }
        ledger.dirty = false;
        ledger.touched.clear();
        Ok(ledger)
    }

    pub fn insert(&mut self, instance: SimInstance) {
        let placement = &instance.placement;
        let provider = placement.provider.clone();
        self.owners
            .entry((
                provider.clone(),
                instance.lineage.clone(),
                instance.address.clone(),
            ))
            .or_default()
            .push(instance.id.clone());
        self.ips.insert(instance.private_ip);
        // Only machines take capacity (not key pairs or firewalls).
        if instance.kind == Kind::Node {
            *self
                .at_location
                .entry((provider.clone(), placement.location.clone()))
                .or_default() += 1;
            *self
                .at_size
                .entry((provider, placement.location.clone(), placement.size.clone()))
                .or_default() += 1;
        }
        self.lines.insert(
            (instance.address.clone(), instance.id.clone()),
            encode(&instance),
        );
        self.touched.insert(instance.id.clone());
        self.instances.insert(instance.id.clone(), instance);
        self.dirty = true;
    }

    /// Apply `change` to instance `id`, which must keep its id, address and placement.
    pub fn change(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut SimInstance),
    ) -> Option<&SimInstance> {
        let instance = self.instances.get_mut(id)?;
        change(instance);
        let key = (instance.address.clone(), instance.id.clone());
        self.lines.insert(key, encode(instance));
        self.touched.insert(instance.id.clone());
        self.dirty = true;
        Some(instance)
    }

    pub fn remove(&mut self, id: &str) -> Option<SimInstance> {
        let instance = self.instances.remove(id)?;
        self.lines
            .remove(&(instance.address.clone(), instance.id.clone()));
        let placement = &instance.placement;
        let provider = placement.provider.clone();
        let owner = (
            provider.clone(),
            instance.lineage.clone(),
            instance.address.clone(),
        );
        if let Some(ids) = self.owners.get_mut(&owner) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.owners.remove(&owner);
            }
        }
        self.ips.remove(&instance.private_ip);
        if instance.kind == Kind::Node {
            let location = (provider.clone(), placement.location.clone());
            if let Some(count) = self.at_location.get_mut(&location) {
                *count = count.saturating_sub(1);
            }
            let size = (provider, placement.location.clone(), placement.size.clone());
            if let Some(count) = self.at_size.get_mut(&size) {
                *count = count.saturating_sub(1);
            }
        }
        self.touched.insert(instance.id.clone());
        self.dirty = true;
        Some(instance)
    }

    /// Instance `id`'s line of the file, if it exists.
    pub fn line(&self, id: &str) -> Option<&str> {
        let instance = self.instances.get(id)?;
        self.lines
            .get(&(instance.address.clone(), instance.id.clone()))
            .map(String::as_str)
    }

    /// The first instance of `provider`, `lineage` and `address`, but for those in `except`.
    pub fn find(
        &self,
        provider: &str,
        lineage: &str,
        address: &Address,
        except: &[String],
    ) -> Option<&SimInstance> {
        let owner = (provider.to_string(), lineage.to_string(), address.clone());
        let id = self
            .owners
            .get(&owner)?
            .iter()
            .find(|id| !except.contains(id))?;
        self.instances.get(id)
    }

    /// Instances of `provider` at `location` (of `size`, if given).
    pub fn running(&self, provider: &str, location: &str, size: Option<&str>) -> u64 {
        let (provider, location) = (provider.to_string(), location.to_string());
        match size {
            None => self.at_location.get(&(provider, location)),
            Some(size) => self.at_size.get(&(provider, location, size.to_string())),
        }
        .copied()
        .unwrap_or(0)
    }

    /// A fresh instance id: `i-` and 17 hex digits.
    pub fn new_id(&self) -> String {
        loop {
            let bits: u128 = rand::random();
            let id = format!("i-{:017x}", bits & ((1u128 << 68) - 1));
            if !self.instances.contains_key(&id) {
                return id;
            }
        }
    }

    /// A free address in `10.{network}.0.0/16`: `.0.4` upward, skipping `.0` and `.255` in
    /// the last octet (like a cloud subnet's reserved addresses).
    pub fn new_ip(&mut self, network: u8) -> Option<Ipv4Addr> {
        const HOSTS: u32 = 1 << 16;
        let cursor = self.cursors.entry(network).or_insert(0);
        for step in 0..HOSTS {
            let host = (*cursor + step) % HOSTS;
            let last = host & 0xff;
            if host < 4 || last == 0 || last == 0xff {
                continue;
            }
            let ip = Ipv4Addr::new(10, network, (host >> 8) as u8, last as u8);
            if !self.ips.contains(&ip) {
                *cursor = (host + 1) % HOSTS;
                return Some(ip);
            }
        }
        None
    }

    /// Instances in file order: by address, then id.
    pub fn ordered(&self) -> impl Iterator<Item = &SimInstance> {
        self.lines
            .keys()
            .filter_map(|(_, id)| self.instances.get(id))
    }
}

/// An instance as one line of JSON.
fn encode(instance: &SimInstance) -> String {
    // Its fields are strings, numbers and JSON values with string keys: encoding cannot fail.
    serde_json::to_string(instance).expect("an instance encodes as JSON")
}
