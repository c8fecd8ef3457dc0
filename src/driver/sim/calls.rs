//! The API calls' effects, applied to the ledger under the file lock (refresh, create,
//! update, import, remark). Each checks everything before it changes anything, so a refused call leaves no
//! trace. Pure: no I/O.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::cloud::Cloud;
use super::ledger::{Ledger, SimInstance};
use super::{CODE_CAPACITY, CODE_INVALID, CODE_NOT_FOUND};
use crate::driver::{DriverError, Refreshed};
use crate::resource::{Address, Desired, Existing, Kind, Placement};

/// What a create needs, owned so it can travel to the blocking thread.
pub(super) struct Order {
    pub lineage: String,
    pub desired: Desired,
    pub placement: Placement,
    pub dependencies: Vec<Existing>,
    /// Ids of the objects this create replaces (never adopted as the new one).
    pub replacing: Vec<String>,
}

pub(super) fn refresh_in(
    ledger: &Ledger,
    provider: &str,
    lineage: &str,
    known: &[(Address, String)],
) -> Refreshed {
    let mut refreshed = Refreshed::default();
    for (address, id) in known {
        let seen = ledger.instances.get(id).map(SimInstance::observed);
        refreshed.known.insert(address.clone(), seen);
    }
    let known_ids: HashSet<&str> = known.iter().map(|(_, id)| id.as_str()).collect();
    let known_addresses: HashSet<&Address> = known.iter().map(|(address, _)| address).collect();
    // A second instance for an address the caller knows is left alone (not ours to judge).
    refreshed.orphans = ledger
        .ordered()
        .filter(|i| i.lineage == lineage && i.placement.provider == provider)
        .filter(|i| !known_ids.contains(i.id.as_str()) && !known_addresses.contains(&i.address))
        .map(SimInstance::existing)
        .collect();
    refreshed
}

/// Instance `id` of `provider`, which must exist.
pub(super) fn instance_of<'a>(
    ledger: &'a Ledger,
    provider: &str,
    id: &str,
) -> Result<&'a SimInstance, DriverError> {
    ledger
        .instances
        .get(id)
        .filter(|i| i.placement.provider == provider)
        .ok_or_else(|| {
            DriverError::fatal(format!(
                "Simulated provider `{provider}` has no instance `{id}`."
            ))
            .with_code(CODE_NOT_FOUND)
        })
}

/// Marks instance `id` of `provider` with `lineage` and `address` (`None`: unmarked, so no
/// lineage adopts it) and returns it as it now is.
pub(super) fn remark_in(
    ledger: &mut Ledger,
    provider: &str,
    id: &str,
    lineage: &str,
    address: Option<&Address>,
) -> Result<Existing, DriverError> {
    let mut instance = instance_of(ledger, provider, id)?.clone();
    // Removed and inserted again, so the owner index follows the new marker.
    ledger.remove(id);
    match address {
        Some(address) => {
            instance.lineage = lineage.to_string();
            instance.address = address.clone();
        }
        None => instance.lineage = String::new(),
    }
    let existing = instance.existing();
    ledger.insert(instance);
    Ok(existing)
}

pub(super) fn create_in(
    ledger: &mut Ledger,
    cloud: &Cloud,
    order: Order,
) -> Result<Existing, DriverError> {
    let desired = &order.desired;
    if let Some(found) = ledger.find(
        &cloud.name,
        &order.lineage,
        &desired.address,
        &order.replacing,
    ) {
        return Ok(found.existing());
    }
    let network = match desired.kind {
        Kind::Node => {
            let network = cloud.check_placement(&order.placement)?;
            cloud.check_regional(&order)?;
            network
        }
        _ => cloud.check_region(&order.placement)?,
    };
    let tags = parse_tags(&desired.address, desired.attributes.get("tags"))?;
    if desired.kind == Kind::Node {
        cloud.check_capacity(ledger, &order.placement)?;
    }
    let private_ip = ledger.new_ip(network).ok_or_else(|| {
        DriverError::fail_over(format!(
            "Simulated provider `{}` has no free private address left in 10.{network}.0.0/16 \
             (location `{}`).",
            cloud.name, order.placement.location
        ))
        .with_code(CODE_CAPACITY)
    })?;
    let instance = SimInstance {
        id: ledger.new_id(),
        lineage: order.lineage,
        address: desired.address.clone(),
        kind: desired.kind,
        placement: order.placement,
        attributes: desired.attributes.clone(),
        tags,
        private_ip,
        launched_at: crate::clock::now_rfc3339(),
        dependencies: desired.depends_on.clone(),
    };
    let existing = instance.existing();
    ledger.insert(instance);
    Ok(existing)
}

pub(super) fn update_in(
    ledger: &mut Ledger,
    provider: &str,
    existing: Existing,
    tags: Option<Value>,
    ports: Option<Value>,
) -> Result<Existing, DriverError> {
    let parsed = parse_tags(&existing.address, tags.as_ref())?;
    let retag = |instance: &mut SimInstance| {
        instance.tags = parsed;
        if let Some(ports) = ports {
            instance.attributes.insert("ports".to_string(), ports);
        }
        match tags {
            Some(tags) => instance.attributes.insert("tags".to_string(), tags),
            None => instance.attributes.remove("tags"),
        };
    };
    let Some(instance) = ledger.change(&existing.provider_id, retag) else {
        return Err(DriverError::fatal(format!(
            "Simulated provider `{provider}` has no instance `{}` (node `{}`), so its tags \
             cannot be updated.",
            existing.provider_id, existing.address
        ))
        .with_code(CODE_NOT_FOUND));
    };
    Ok(Existing {
        attributes: instance.attributes.clone(),
        observed: instance.observed(),
        ..existing
    })
}

fn parse_tags(
    address: &Address,
    tags: Option<&Value>,
) -> Result<BTreeMap<String, String>, DriverError> {
    match tags {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(tags)) => tags
            .iter()
            .map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid_tags(address)),
        Some(_) => Err(invalid_tags(address)),
    }
}

fn invalid_tags(address: &Address) -> DriverError {
    DriverError::fatal(format!(
        "Node `{address}`: attribute `tags` must map names to strings."
    ))
    .with_code(CODE_INVALID)
}
