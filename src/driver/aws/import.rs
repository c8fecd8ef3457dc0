//! `oss import` of an EC2 instance (read, then tagged) and the re-marking of one (`moved`, `oss state mv`,
//! `oss state rm`): only oss's own tags (`oss:address`, `oss:lineage`) change; the instance
//! itself is never touched.

use super::client::Params;
use super::ec2::{Instance, TAG_ADDRESS, TAG_LINEAGE, region_of};
use super::{AwsDriver, pages};
use crate::driver::DriverError;
use crate::resource::{Address, Existing, Kind};

impl AwsDriver {
    /// Finds instance `id` in the provider's regions and rebuilds its resource as it would be
    /// at `address` (nothing is tagged yet: [`AwsDriver::remark_object`] does that).
    pub(super) async fn import_instance(
        &self,
        address: &Address,
        id: &str,
    ) -> Result<Existing, DriverError> {
        for region in &self.regions {
            let params = Params::new().filter(1, "instance-id", &[id]).filter(
                2,
                "instance-state-name",
                &["pending", "running"],
            );
            let found = pages(&self.api, region, "DescribeInstances", params).await?;
            let Some(mut instance) = found.iter().flat_map(Instance::all).next() else {
                continue;
            };
            instance
                .tags
                .insert(TAG_ADDRESS.to_string(), address.to_string());
            return self.node_from_tags(region, &instance).await.ok_or_else(|| {
                DriverError::fatal(format!("Instance `{id}` could not be read back."))
            });
        }
        Err(DriverError::fatal(format!(
            "Provider `{}` has no running instance `{id}` in {}.",
            self.name,
            self.regions.join(", ")
        )))
    }

    /// Re-tags `existing` as `to` of `lineage`, or removes its lineage tag (`None`).
    pub(super) async fn remark_object(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        let region = region_of(&existing.placement.location);
        // Key pairs are tagged by their id too (`key-…`), which the state keeps observed.
        let id = match existing.kind {
            Kind::Key => existing
                .observed
                .get("key_pair_id")
                .and_then(|v| v.as_str())
                .unwrap_or(&existing.provider_id)
                .to_string(),
            _ => existing.provider_id.clone(),
        };
        let mut renamed = existing.clone();
        let mut params = Params::new().set("ResourceId.1", id.as_str());
        match to {
            Some(to) => {
                params = params
                    .set("Tag.1.Key", TAG_ADDRESS)
                    .set("Tag.1.Value", to.as_str())
                    .set("Tag.2.Key", TAG_LINEAGE)
                    .set("Tag.2.Value", lineage);
                self.call(&region, "CreateTags", params).await?;
                renamed.address = to.clone();
            }
            None => {
                params = params.set("Tag.1.Key", TAG_LINEAGE);
                self.call(&region, "DeleteTags", params).await?;
            }
        }
        Ok(renamed)
    }
}
