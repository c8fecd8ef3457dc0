//! The plan: for every address an action with its reason and the before/after, made by
//! diffing the desired graph against the (refreshed) state. A saved plan records the state's
//! lineage and serial and the strategy's hash, so applying it against anything else is refused.
//!
//! Pure: no I/O. Rendering lives in [`text`], [`json`], [`markdown`] and [`concise`].

pub mod concise;
pub mod exposure;
pub mod guard;
pub mod json;
pub mod markdown;
mod scope;
pub mod sensitive;
pub mod text;

pub use scope::{Scope, ScopeError};

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::graph::DesiredGraph;
use crate::reference::{Known, Reference, Selector};
use crate::resource::{Address, Desired, Existing, Placement};
use crate::state::State;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    NoOp,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
        })
    }
}

/// One address's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Why, in a few words (`not in state`, `gone: no longer running`, `image changed`).
    pub reason: String,
    pub before: Option<Existing>,
    pub after: Option<Desired>,
    /// The resource is in state but no longer exists at the provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
    /// The address it had in state before a `moved` block renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
    /// A delete of a deposed object (`before`): the old object of a create-before-destroy
    /// replace that was not deleted yet. The address itself is another change's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
}

/// One attribute's change, as shown to people (borrowed from the change).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange<'a> {
    pub name: &'a str,
    pub before: Option<Cow<'a, Value>>,
    pub after: Option<Cow<'a, Value>>,
    /// The value after is known only after apply (`after` is `null` until then).
    pub unknown: bool,
}

impl Change {
    /// A replace that creates the new object and waits until it is ready before deleting the
    /// old one (its group says `"create_before_destroy": true`); Terraform's `+/-`.
    pub fn creates_first(&self) -> bool {
        self.action == Action::Replace
            && !self.gone
            && self
                .after
                .as_ref()
                .is_some_and(|a| crate::resource::lifecycle(&a.attributes, "create_before_destroy"))
    }

    /// The address as plans show it: a deposed object's says so, with its provider id.
    pub fn label(&self) -> String {
        match (&self.before, self.deposed) {
            (Some(before), true) => format!("{} (deposed {})", self.address, before.provider_id),
            _ => self.address.to_string(),
        }
    }

    /// Attribute-level before → after (placement fields first, then attributes by name).
    pub fn fields(&self) -> Vec<FieldChange<'_>> {
        let before = self
            .before
            .as_ref()
            .map(|b| view(&b.placement, &b.attributes));
        let after = self
            .after
            .as_ref()
            .map(|a| view(&a.placement, &a.attributes));
        let mut names: Vec<&str> = before
            .iter()
            .chain(after.iter())
            .flat_map(|fields| fields.keys().copied())
            .collect();
        names.sort_by_key(|n| field_order(n));
        names.dedup();
        names
            .into_iter()
            .map(|name| FieldChange {
                name,
                before: before.as_ref().and_then(|b| b.get(name).cloned()),
                after: after.as_ref().and_then(|a| a.get(name).cloned()),
                unknown: self
                    .after
                    .as_ref()
                    .is_some_and(|a| a.unknown.contains(name)),
            })
            .collect()
    }

    /// Fields whose value differs (a value known only after apply counts as differing).
    pub fn changed_fields(&self) -> Vec<FieldChange<'_>> {
        self.fields()
            .into_iter()
            .filter(|f| f.before != f.after || f.unknown)
            .collect()
    }
}

fn field_order(name: &str) -> (usize, &str) {
    let rank = ["provider", "location", "size", "image"]
        .iter()
        .position(|n| *n == name)
        .unwrap_or(4);
    (rank, name)
}

/// Placement and attributes as one sorted map of fields, borrowed where they can be.
fn view<'a>(
    placement: &'a Placement,
    attributes: &'a crate::resource::Attributes,
) -> BTreeMap<&'a str, Cow<'a, Value>> {
    let mut fields: BTreeMap<&'a str, Cow<'a, Value>> = attributes
        .iter()
        .map(|(k, v)| (k.as_str(), Cow::Borrowed(v)))
        .collect();
    let mut owned = |name: &'a str, value: &str| {
        fields.insert(name, Cow::Owned(Value::from(value)));
    };
    owned("provider", &placement.provider);
    owned("location", &placement.location);
    // Key pairs and firewalls have a provider and a region only.
    if !placement.size.is_empty() {
        owned("size", &placement.size);
    }
    if !placement.image.is_empty() {
        owned("image", &placement.image);
    }
    fields
}

/// Prices of a change or a fleet: per hour, before and after (`None`: nothing there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub before_hourly: f64,
    pub after_hourly: f64,
}

impl Cost {
    pub fn before_monthly(&self) -> f64 {
        self.before_hourly * crate::catalog::HOURS_PER_MONTH
    }

    pub fn after_monthly(&self) -> f64 {
        self.after_hourly * crate::catalog::HOURS_PER_MONTH
    }

    pub fn delta_monthly(&self) -> f64 {
        self.after_monthly() - self.before_monthly()
    }

    /// The change in percent of the price before (`None` when there was nothing before).
    pub fn delta_percent(&self) -> Option<f64> {
        (self.before_hourly > 0.0)
            .then(|| 100.0 * (self.after_hourly - self.before_hourly) / self.before_hourly)
    }

    pub fn is_zero(&self) -> bool {
        self.before_hourly == 0.0 && self.after_hourly == 0.0
    }
}

impl Change {
    /// The currency of its prices, after the change or else before (US dollars when no
    /// placement says).
    pub fn currency(&self) -> &str {
        self.after
            .iter()
            .map(|a| &a.placement)
            .chain(self.before.iter().map(|b| &b.placement))
            .find_map(|p| p.currency.as_deref())
            .unwrap_or(crate::catalog::DOLLARS)
    }

    /// What this resource costs before and after the change (a gone resource costs nothing).
    pub fn cost(&self) -> Cost {
        let price = |p: Option<&Placement>| p.and_then(|p| p.hourly_price).unwrap_or(0.0);
        let (before, after) = self.priced();
        Cost {
            before_hourly: price(before),
            after_hourly: price(after),
        }
    }

    /// The placements whose prices count before and after: a gone resource costs nothing
    /// before; one the plan leaves alone costs what its placement costs now on both sides (a
    /// price moved in the catalog, or converted by `exchange_rates` since it was recorded, is
    /// not a change this plan makes).
    fn priced(&self) -> (Option<&Placement>, Option<&Placement>) {
        let after = self.after.as_ref().map(|a| &a.placement);
        let before = match self.action {
            Action::NoOp if after.is_some() => after,
            _ => self
                .before
                .as_ref()
                .filter(|_| !self.gone)
                .map(|b| &b.placement),
        };
        (before, after)
    }
}

/// What a change does, as a reviewer counts it: a replace of a resource that is already gone
/// only creates (`Recreate`), a delete of one only drops it from state (`Forget`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Create,
    Update,
    Replace,
    Recreate,
    Delete,
    Forget,
    /// Nothing changes but its address (a `moved` block).
    Move,
    NoOp,
}

impl Change {
    pub fn effect(&self) -> Effect {
        match (self.action, self.gone) {
            (Action::NoOp, _) if self.moved_from.is_some() => Effect::Move,
            (Action::Create, _) => Effect::Create,
            (Action::Update, _) => Effect::Update,
            (Action::Replace, true) => Effect::Recreate,
            (Action::Replace, false) => Effect::Replace,
            (Action::Delete, true) => Effect::Forget,
            (Action::Delete, false) => Effect::Delete,
            (Action::NoOp, _) => Effect::NoOp,
        }
    }
}

/// How many resources each kind of change touches (a replace counts once, as a replace): the
/// `+3 ~1 -2 ±1` of review headlines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Creates, and replaces of resources already gone.
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    /// Gone resources dropped from state: nothing is destroyed.
    pub forget: usize,
    /// Renamed by a `moved` block, nothing else changing.
    pub moved: usize,
    pub unchanged: usize,
}

/// `$12.34` in US dollars, `EUR 12.34` in any other currency: how renderers write amounts.
pub fn money(amount: f64, currency: &str) -> String {
    format!("{}{amount:.2}", unit(currency))
}

/// What goes before an amount: `$` for US dollars, else the currency's code and a space.
pub fn unit(currency: &str) -> Cow<'static, str> {
    if currency == crate::catalog::DOLLARS {
        Cow::Borrowed("$")
    } else {
        Cow::Owned(format!("{currency} "))
    }
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

/// A plan, as shown and as saved with `--out`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub strategy: String,
    /// SHA-256 of the strategy file the plan was made from.
    pub strategy_hash: String,
    /// The state the plan was made against (`None`: no state yet).
    pub lineage: Option<String>,
    pub serial: u64,
    /// Seed used for `random` picks.
    pub seed: u64,
    /// A destroy plan (`oss destroy`).
    #[serde(default)]
    pub destroy: bool,
    /// Every address, sorted.
    pub changes: Vec<Change>,
    /// Per address, the attributes that hold a secret ([`sensitive`]): never shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sensitive: BTreeMap<Address, std::collections::BTreeSet<String>>,
    /// What the plan leaves open that a reviewer should see ([`exposure`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace if change.gone => s.add += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
                Action::Delete if change.gone => {}
                Action::Delete => s.destroy += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for change in &self.changes {
            match change.effect() {
                Effect::Create | Effect::Recreate => t.create += 1,
                Effect::Update => t.update += 1,
                Effect::Replace => t.replace += 1,
                Effect::Delete => t.delete += 1,
                Effect::Forget => t.forget += 1,
                Effect::Move => t.moved += 1,
                Effect::NoOp => t.unchanged += 1,
            }
        }
        t
    }

    /// The fleet's price before and after, over the addresses this plan covers: one sum per
    /// currency (prices in different currencies are never added up), US dollars first, and
    /// at least one (US dollars, zero) when nothing is priced.
    pub fn costs(&self) -> Vec<(String, Cost)> {
        let mut sums: BTreeMap<&str, Cost> = BTreeMap::new();
        let dollars = crate::catalog::DOLLARS;
        fn currency(p: &Placement) -> Option<(&str, f64)> {
            let price = p.hourly_price?;
            Some((
                p.currency.as_deref().unwrap_or(crate::catalog::DOLLARS),
                price,
            ))
        }
        for change in &self.changes {
            let (before, after) = change.priced();
            if let Some((c, price)) = before.and_then(currency) {
                sums.entry(c).or_default().before_hourly += price;
            }
            if let Some((c, price)) = after.and_then(currency) {
                sums.entry(c).or_default().after_hourly += price;
            }
        }
        let mut costs: Vec<(String, Cost)> = Vec::with_capacity(sums.len().max(1));
        costs.push((
            dollars.to_string(),
            sums.remove(dollars).unwrap_or_default(),
        ));
        costs.extend(sums.into_iter().map(|(c, cost)| (c.to_string(), cost)));
        if costs.len() > 1 && costs[0].1.is_zero() {
            costs.remove(0);
        }
        costs
    }

    /// Whether applying would do anything (forgetting gone resources and renaming moved
    /// ones count).
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.action != Action::NoOp || c.moved_from.is_some())
    }

    /// How many resources a `moved` block renames (whatever else happens to them).
    pub fn moved(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.moved_from.is_some())
            .count()
    }
}

/// What is known to exist after refresh.
#[derive(Debug, Default)]
pub struct Current<'a> {
    pub state: Option<&'a State>,
    /// Addresses in state whose objects no longer exist.
    pub gone: HashSet<Address>,
    /// Addresses adopted by refresh (found by their marker, missing from state).
    pub adopted: HashSet<Address>,
    /// Providers that state holds resources of and the strategy no longer names: what they
    /// hold is deleted (or replaced elsewhere) for that reason.
    pub departed: HashSet<String>,
    /// Addresses a `moved` block gave resources of state, each with the one it had.
    pub moved: HashMap<Address, Address>,
}

/// Diffs the desired graph (`None` for a destroy plan) against what exists. Resources are
/// taken in dependency order, so what a reference reads is decided before its readers: a
/// value of something created or replaced is known only after apply.
pub fn diff(desired: Option<DesiredGraph>, current: &Current<'_>, scope: &Scope) -> Vec<Change> {
    let existing = current.state.map(|s| &s.resources);
    let destroying = desired.is_none();
    // A change per desired resource (per existing one, to destroy): sized once, since a plan
    // of 100,000 nodes would otherwise grow through copies up to twice its final size.
    let expected = desired
        .as_ref()
        .map_or_else(|| existing.map_or(0, |e| e.len()), DesiredGraph::len);
    let mut changes: Vec<Change> = Vec::with_capacity(expected);
    // Where each desired address's change is (a reference reads what it decided).
    let mut decided: HashMap<Address, usize> = HashMap::with_capacity(expected);
    if let Some(desired) = desired {
        let mut nodes: HashMap<String, usize> = HashMap::new();
        for resource in desired.resources() {
            if let Some(group) = resource.address.group() {
                *nodes.entry(group.to_string()).or_default() += 1;
            }
        }
        // The nodes of a group share their templates, and what those read is decided before
        // any of them (a group reading itself is a cycle): rendered once per group.
        let mut by_group: HashMap<String, Rendered> = HashMap::new();
        for mut want in desired.into_dependency_order() {
            let have = existing.and_then(|e| e.get(&want.address));
            let group = want.address.group().map(str::to_string);
            let missing = match group.as_ref().and_then(|g| by_group.get(g)) {
                _ if want.templates.is_empty() => Vec::new(),
                Some(rendered) => rendered.onto(&mut want),
                None => {
                    let lookup =
                        |r: &Reference| plan_value(r, &nodes, &decided, &changes, existing);
                    let rendered = Rendered::of(&mut want, &lookup);
                    let missing = rendered.missing.clone();
                    if let Some(group) = group {
                        by_group.insert(group, rendered);
                    }
                    missing
                }
            };
            let change = change_for(want, have, current, scope, &missing, &decided, &changes);
            decided.insert(change.address.clone(), changes.len());
            changes.push(change);
        }
    }
    if let Some(existing) = existing {
        for (address, have) in existing {
            if decided.contains_key(address) {
                continue;
            }
            let gone = current.gone.contains(address);
            changes.push(Change {
                address: address.clone(),
                action: Action::Delete,
                reason: match (gone, !destroying) {
                    (true, _) => "gone already: forget it".into(),
                    (false, true) => match departed(have, current) {
                        Some(reason) => reason,
                        None => "no longer in the strategy".into(),
                    },
                    (false, false) => "destroy".into(),
                },
                before: Some(have.clone()),
                after: None,
                gone,
                moved_from: None,
                deposed: false,
            });
        }
    }
    // Old objects a create-before-destroy replace left (a crash came before their delete).
    for old in current.state.iter().flat_map(|s| &s.deposed) {
        changes.push(Change {
            address: old.address.clone(),
            action: Action::Delete,
            reason: "deposed: the old object of a create-before-destroy replace".into(),
            before: Some(old.clone()),
            after: None,
            gone: false,
            moved_from: None,
            deposed: true,
        });
    }
    changes.retain(|c| scope.covers(&c.address));
    for change in changes.iter_mut().filter(|c| !c.deposed) {
        if let Some(from) = current.moved.get(&change.address) {
            change.moved_from = Some(from.clone());
            change.reason = match change.action {
                Action::NoOp => format!("moved from {from}"),
                _ => format!("{} (moved from {from})", change.reason),
            };
        }
    }
    changes.sort_by(|a, b| (&a.address, a.deposed).cmp(&(&b.address, b.deposed)));
    changes
}

/// A group's templates as rendered at plan time, to give each of its nodes.
struct Rendered {
    values: Vec<(String, Value)>,
    unknown: std::collections::BTreeSet<String>,
    templates: std::sync::Arc<crate::resource::Attributes>,
    missing: Vec<Reference>,
}

impl Rendered {
    fn of(want: &mut Desired, lookup: &dyn Fn(&Reference) -> Known) -> Self {
        let names: Vec<String> = want.templates.keys().cloned().collect();
        let missing = crate::reference::render_templates(want, lookup);
        Rendered {
            values: names
                .into_iter()
                .filter_map(|n| want.attributes.get(&n).map(|v| (n, v.clone())))
                .collect(),
            unknown: want.unknown.clone(),
            templates: want.templates.clone(),
            missing,
        }
    }

    fn onto(&self, want: &mut Desired) -> Vec<Reference> {
        for (name, value) in &self.values {
            want.attributes.insert(name.clone(), value.clone());
        }
        want.unknown = self.unknown.clone();
        want.templates = self.templates.clone();
        self.missing.clone()
    }
}

/// What a reference reads at plan time: counts always; a node's attributes from state unless
/// this plan creates or replaces it, then only `name` and `port`.
fn plan_value(
    reference: &Reference,
    nodes: &HashMap<String, usize>,
    decided: &HashMap<Address, usize>,
    changes: &[Change],
    existing: Option<&BTreeMap<Address, Existing>>,
) -> Known {
    let count = nodes.get(reference.group.as_str()).copied().unwrap_or(0);
    if reference.selector == Selector::Count {
        return Known::Value(Value::from(count));
    }
    let one = |address: &Address| -> Known {
        let change = decided.get(address).map(|&i| &changes[i]);
        let fresh = change.is_none_or(|c| matches!(c.action, Action::Create | Action::Replace));
        let have = existing.and_then(|e| e.get(address));
        match (fresh, have) {
            (false, Some(have)) => {
                Known::Value(have.exposed(&reference.attribute).unwrap_or(Value::Null))
            }
            _ => match change
                .and_then(|c| c.after.as_ref())
                .and_then(|d| d.exposed_before_apply(&reference.attribute))
            {
                Some(value) => Known::Value(value),
                None => Known::Unknown,
            },
        }
    };
    let addresses = reference.addresses(count);
    if !reference.is_list() {
        return addresses.first().map_or(Known::Value(Value::Null), one);
    }
    let mut list = Vec::new();
    for address in &addresses {
        match one(address) {
            Known::Value(v) => list.push(v),
            Known::Unknown => return Known::Unknown,
        }
    }
    Known::Value(Value::Array(list))
}

/// Why a reference is not known yet: `node.db[0].address (node.db[0] will be created)`.
fn pending(missing: &[Reference], decided: &HashMap<Address, usize>, changes: &[Change]) -> String {
    let shown: Vec<String> = missing
        .iter()
        .take(3)
        .map(|r| {
            let whom = r.addresses(1).into_iter().next();
            let how = whom
                .as_ref()
                .and_then(|a| decided.get(a))
                .map_or("will be created", |&i| match changes[i].action {
                    Action::Replace => "will be replaced",
                    _ => "will be created",
                });
            match whom {
                Some(a) => format!("{r} ({a} {how})"),
                None => r.to_string(),
            }
        })
        .collect();
    let more = missing.len().saturating_sub(3);
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// The reason to take `have` away when its provider has left the strategy.
fn departed(have: &Existing, current: &Current<'_>) -> Option<String> {
    let provider = &have.placement.provider;
    current
        .departed
        .contains(provider)
        .then(|| format!("provider {provider} is no longer in the strategy"))
}

fn change_for(
    want: Desired,
    have: Option<&Existing>,
    current: &Current<'_>,
    scope: &Scope,
    missing: &[Reference],
    decided: &HashMap<Address, usize>,
    changes: &[Change],
) -> Change {
    // A moved resource takes the attributes that follow from its address (its name and
    // index) from the new address: a rename is not a reason to replace it.
    let carried;
    let have = match have {
        Some(had) if current.moved.contains_key(&want.address) => {
            let mut renamed = had.clone();
            for key in ["name", "index"] {
                if let Some(value) = want.attributes.get(key) {
                    renamed.attributes.insert(key.into(), value.clone());
                }
            }
            carried = renamed;
            Some(&carried)
        }
        other => other,
    };
    let (address, kind) = (want.address.clone(), want.kind);
    let mut change = Change {
        address: address.clone(),
        action: Action::NoOp,
        reason: String::new(),
        before: have.cloned(),
        after: Some(want),
        gone: false,
        moved_from: None,
        deposed: false,
    };
    if have.is_none() {
        change.action = Action::Create;
        change.reason = "not in state".into();
        return change;
    }
    if current.gone.contains(&address) {
        change.action = Action::Replace;
        change.reason = "gone: no longer running at the provider".into();
        change.gone = true;
        return change;
    }
    let changed: Vec<String> = change
        .changed_fields()
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    let forcing: Vec<&str> = changed
        .iter()
        .map(String::as_str)
        .filter(|name| !kind.updatable(name))
        .collect();
    // A changed value read through references says which references.
    let through = if missing.is_empty() {
        String::new()
    } else {
        format!(
            ": it refers to {}, known after apply",
            pending(missing, decided, changes)
        )
    };
    if let Some(reason) = have.and_then(|have| departed(have, current)) {
        change.action = Action::Replace;
        change.reason = reason;
    } else if !forcing.is_empty() {
        change.action = Action::Replace;
        change.reason = format!(
            "{} changed (forces replacement){through}",
            forcing.join(", ")
        );
    } else if scope.replaces(&address) {
        change.action = Action::Replace;
        change.reason = "replacement requested with --replace".into();
    } else if !changed.is_empty() {
        change.action = Action::Update;
        change.reason = format!("{} changed{through}", changed.join(", "));
    } else if current.adopted.contains(&address) {
        change.reason = "adopted: found running with this state's marker".into();
    }
    change
}
