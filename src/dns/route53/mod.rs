//! The `route53` DNS provider: a public or private hosted zone at Amazon Route53, over its
//! REST API (XML, SigV4 through `net::aws`). The zone is found by name
//! (ListHostedZonesByName) or given by id. Route53 has no prerequisites, so each batch of
//! edits reads its names first and refuses any whose ownership guard fails; the change then
//! UPSERTs what is written and DELETEs exactly what was read (values and TTL), so on Route53 a
//! name changed between the read and the write fails the whole batch rather than being
//! overwritten. Every change is followed with GetChange until INSYNC, on the shared backoff.

mod api;
pub mod changes;
mod settings;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

pub use settings::{SECRET_SETTINGS, check};

use super::Zone;
use super::record::{Alias, Edit, RecordSet, Rtype, alias_name};
use crate::backoff::Policy;
use crate::driver::DriverError;
use crate::net::aws::credentials;
use crate::net::aws::xml::Element;
use crate::net::encode;
use api::{Api, INVALID_CHANGE_BATCH};

/// Names read one by one up to this many; more, and the whole zone is listed.
const READ_BY_NAME: usize = 20;

/// One hosted zone at Route53.
pub struct Route53 {
    api: Api,
    /// Lower case, ending in a dot.
    zone: String,
    /// Given in the settings, or found by name on first use.
    given_id: Option<String>,
    zone_id: OnceCell<String>,
    change_timeout: Duration,
}

impl Route53 {
    /// From the provider's resolved settings; `name` is the provider's, for messages.
    pub fn new(name: &str, zone: &str, settings: &Map<String, Value>) -> Result<Self, DriverError> {
        let parsed = settings::parse(settings).map_err(|e| e.into_driver_error("route53", name))?;
        let endpoint = parsed.endpoint();
        let given_id = match &parsed.hosted_zone_id {
            Some(id) => Some(
                settings::bare_id(id)
                    .ok_or_else(|| {
                        DriverError::fatal("The route53 setting `hosted_zone_id` is not an id.")
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let change_timeout = parsed.change_timeout();
        let keys = credentials::resolve(
            credentials::Given {
                access_key_id: parsed.access_key_id,
                secret_access_key: parsed.secret_access_key,
                session_token: parsed.session_token,
                profile: parsed.profile,
            },
            &credentials::Environment::process(),
        )
        .map_err(|e| {
            DriverError::fatal(format!(
                "The route53 credentials of provider `{name}`: {e}."
            ))
        })?;
        Ok(Route53 {
            api: Api::new(name, endpoint, keys)?,
            zone: zone.to_ascii_lowercase(),
            given_id,
            zone_id: OnceCell::new(),
            change_timeout,
        })
    }

    /// The hosted zone's id, found once.
    async fn zone_id(&self) -> Result<&str, DriverError> {
        self.zone_id
            .get_or_try_init(|| self.find_zone())
            .await
            .map(String::as_str)
    }

    async fn find_zone(&self) -> Result<String, DriverError> {
        if let Some(id) = &self.given_id {
            let path = format!("/hostedzone/{}", encode::component(id));
            let found = match self.api.call_raw("GET", &path, None).await? {
                Ok(root) => root,
                Err(refusal) if refusal.code == "NoSuchHostedZone" => {
                    return Err(DriverError::fatal(format!(
                        "Route53 has no hosted zone with id {id} (hosted_zone_id) for these credentials"
                    )));
                }
                Err(refusal) => return Err(self.api.error(refusal)),
            };
            let name = found
                .text_at(&["HostedZone", "Name"])
                .map(normal_name)
                .unwrap_or_default();
            if name != self.zone {
                return Err(DriverError::fatal(format!(
                    "Route53 hosted zone {id} is {name}, not the dns block's zone {}",
                    self.zone
                )));
            }
            return Ok(id.clone());
        }
        let query = encode::query([("dnsname", self.zone.as_str()), ("maxitems", "10")]);
        let found = self
            .api
            .call("GET", &format!("/hostedzonesbyname?{query}"), None)
            .await?;
        let ids: Vec<String> = found
            .child("HostedZones")
            .into_iter()
            .flat_map(|zones| zones.children.iter())
            .filter(|z| z.text_at(&["Name"]).map(normal_name).as_deref() == Some(&self.zone))
            .filter_map(|z| {
                z.text_at(&["Id"])
                    .and_then(settings::bare_id)
                    .map(String::from)
            })
            .collect();
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(DriverError::fatal(format!(
                "Route53 has no hosted zone {} for these credentials (create it, or give its id as hosted_zone_id)",
                self.zone
            ))),
            several => Err(DriverError::fatal(format!(
                "Route53 has {} hosted zones named {} ({}); say which with hosted_zone_id",
                several.len(),
                self.zone,
                several.join(", ")
            ))),
        }
    }

    /// One page of record sets from `start` (name and type); the sets and where the next
    /// page starts.
    async fn page(
        &self,
        start: Option<(&str, &str)>,
        max: usize,
    ) -> Result<(Vec<RecordSet>, Option<(String, String)>), DriverError> {
        let id = self.zone_id().await?;
        let max = max.to_string();
        let mut pairs = vec![("maxitems", max.as_str())];
        if let Some((name, rtype)) = start {
            pairs.push(("name", name));
            pairs.push(("type", rtype));
        }
        let path = format!(
            "/hostedzone/{}/rrset?{}",
            encode::component(id),
            encode::query(pairs)
        );
        let root = self.api.call("GET", &path, None).await?;
        let sets = root
            .child("ResourceRecordSets")
            .into_iter()
            .flat_map(|list| list.children.iter())
            .filter_map(record_set)
            .collect();
        let next = match root.text_at(&["IsTruncated"]) {
            Some("true") => match (
                root.text_at(&["NextRecordName"]),
                root.text_at(&["NextRecordType"]),
            ) {
                (Some(name), Some(rtype)) => Some((name.to_string(), rtype.to_string())),
                _ => None,
            },
            _ => None,
        };
        Ok((sets, next))
    }

    /// The sets at one name.
    async fn read_name(&self, name: &str) -> Result<Vec<RecordSet>, DriverError> {
        let mut found = Vec::new();
        let mut start = (name.to_string(), "A".to_string());
        loop {
            let (sets, next) = self.page(Some((&start.0, &start.1)), 20).await?;
            let past = sets.iter().any(|s| s.name != name);
            found.extend(sets.into_iter().filter(|s| s.name == name));
            match next {
                Some(next) if !past && next.0 == name => start = next,
                _ => return Ok(found),
            }
        }
    }

    /// Every set in the zone, page by page.
    async fn read_zone(&self) -> Result<Vec<RecordSet>, DriverError> {
        let mut found = Vec::new();
        let mut start: Option<(String, String)> = None;
        loop {
            let (sets, next) = self
                .page(start.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), 300)
                .await?;
            found.extend(sets);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// Sends one change batch and waits until Route53 has it on every server.
    async fn change(&self, edits: &[&Edit], batch: &[changes::Change]) -> Result<(), DriverError> {
        let id = self.zone_id().await?;
        let path = format!("/hostedzone/{}/rrset/", encode::component(id));
        let answer = match self
            .api
            .call_raw("POST", &path, Some(changes::body(batch)))
            .await?
        {
            Ok(answer) => answer,
            Err(refusal) if refusal.code == INVALID_CHANGE_BATCH => {
                let names: Vec<&str> = edits.iter().take(3).map(|e| e.name.as_str()).collect();
                return Err(DriverError::fatal(format!(
                    "Route53 refused the change of {}{} in zone {}: {}",
                    names.join(", "),
                    if edits.len() > 3 { " and more" } else { "" },
                    self.zone,
                    refusal.message
                ))
                .with_code(super::UPDATE_FAILED));
            }
            Err(refusal) => return Err(self.api.error(refusal)),
        };
        let mut status = answer.text_at(&["ChangeInfo", "Status"]).map(String::from);
        let change = answer
            .text_at(&["ChangeInfo", "Id"])
            .map(|id| id.trim_start_matches("/change/").to_string())
            .unwrap_or_default();
        let mut backoff = Policy::until(
            Duration::from_millis(500),
            Duration::from_secs(5),
            self.change_timeout,
        )
        .start();
        while status.as_deref() != Some("INSYNC") {
            if change.is_empty() {
                return Err(DriverError::fatal(
                    "Route53 answered the change without a change id",
                ));
            }
            if !backoff.wait(None).await {
                return Err(DriverError::retry(format!(
                    "Route53 change {change} of {} was still {} after {} s",
                    edits.first().map_or("", |e| e.name.as_str()),
                    status.as_deref().unwrap_or("unknown"),
                    self.change_timeout.as_secs()
                )));
            }
            let path = format!("/change/{}", encode::component(&change));
            let answer = self.api.call("GET", &path, None).await?;
            status = answer.text_at(&["ChangeInfo", "Status"]).map(String::from);
        }
        Ok(())
    }
}

#[async_trait]
impl Zone for Route53 {
    async fn check(&self) -> Result<(), DriverError> {
        self.zone_id().await?;
        // Reading a record shows whether the credentials may read the zone's records.
        self.page(None, 1).await.map(drop)
    }

    async fn read(&self, names: &[String]) -> Result<Vec<Vec<RecordSet>>, DriverError> {
        let mut found = Vec::with_capacity(names.len());
        if names.len() <= READ_BY_NAME {
            for name in names {
                found.push(self.read_name(&name.to_ascii_lowercase()).await?);
            }
            return Ok(found);
        }
        let zone = self.read_zone().await?;
        for name in names {
            let name = name.to_ascii_lowercase();
            found.push(zone.iter().filter(|s| s.name == name).cloned().collect());
        }
        Ok(found)
    }

    async fn edit(&self, edits: &[Edit]) -> Result<(), DriverError> {
        for edit in edits {
            let name = edit.name.to_ascii_lowercase();
            if !(name == self.zone || name.ends_with(&format!(".{}", self.zone))) {
                return Err(DriverError::fatal(format!(
                    "{} is not in zone {}",
                    edit.name, self.zone
                )));
            }
        }
        let names: Vec<String> = edits.iter().map(|e| e.name.clone()).collect();
        let now = self.read(&names).await?;
        let mut per_edit = Vec::with_capacity(edits.len());
        for (edit, now) in edits.iter().zip(&now) {
            match changes::changes(edit, now) {
                Some(changes) => per_edit.push(changes),
                None => {
                    return Err(DriverError::fatal(format!(
                        "{} is held by someone else",
                        edit.name
                    ))
                    .with_code(super::PREREQUISITE));
                }
            }
        }
        for (indexes, batch) in changes::requests(per_edit) {
            if batch.is_empty() {
                continue;
            }
            let of: Vec<&Edit> = indexes.iter().map(|i| &edits[*i]).collect();
            self.change(&of, &batch).await?;
        }
        Ok(())
    }

    fn split<'a>(&self, edits: &'a [Edit]) -> Vec<&'a [Edit]> {
        changes::split(edits)
    }
}

/// A name as oss compares it: lower case, ending in a dot, `\052` read as `*`.
fn normal_name(text: &str) -> String {
    let mut name = text.trim().to_ascii_lowercase().replace("\\052", "*");
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// A `<ResourceRecordSet>` of a type oss reads, an alias with its target.
fn record_set(element: &Element) -> Option<RecordSet> {
    let rtype = match element.text_at(&["Type"])? {
        "A" => Rtype::A,
        "AAAA" => Rtype::Aaaa,
        "SRV" => Rtype::Srv,
        "TXT" => Rtype::Txt,
        _ => return None,
    };
    let mut values: Vec<String> = element
        .child("ResourceRecords")
        .into_iter()
        .flat_map(|list| list.children.iter())
        .filter_map(|r| r.text_at(&["Value"]))
        .map(|v| match rtype {
            Rtype::Txt => changes::txt_text(v),
            Rtype::Srv => v.to_ascii_lowercase(),
            _ => v.to_string(),
        })
        .collect();
    let alias = element.child("AliasTarget").map(|target| Alias {
        zone_id: target
            .text_at(&["HostedZoneId"])
            .unwrap_or_default()
            .to_string(),
        dns_name: alias_name(target.text_at(&["DNSName"]).unwrap_or_default()),
        evaluate_target_health: target.text_at(&["EvaluateTargetHealth"]) == Some("true"),
    });
    values.sort();
    Some(RecordSet {
        alias,
        name: normal_name(element.text_at(&["Name"])?),
        rtype,
        ttl: element
            .text_at(&["TTL"])
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        values,
    })
}
