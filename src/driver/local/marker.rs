//! A local node's marker (the lineage and address in its `node.json`) changed after it was
//! made: `oss import` reads a running node and marks it, `moved`/`oss state mv` rename it, and
//! `oss state rm` unmarks it so nothing adopts it again. The process is never touched.

use super::LocalDriver;
use super::node_dir::NodeMeta;
use super::node_dir::{first_port, leader_pid, observed, read_meta, write_meta};
use super::spawn::accepts;
use crate::driver::DriverError;
use crate::resource::{Address, Existing};

impl LocalDriver {
    /// The record of node `id`, which must exist.
    fn meta_of(&self, id: &str) -> Result<NodeMeta, DriverError> {
        let dir = self.node_dir(id)?;
        read_meta(&dir).ok_or_else(|| {
            DriverError::fatal(format!(
                "There is no local node `{id}` (no {}/node.json).",
                dir.display()
            ))
        })
    }

    /// The running node `id`, as it would be at `address`.
    pub(super) async fn import_node(
        &self,
        address: &Address,
        id: &str,
    ) -> Result<Existing, DriverError> {
        let mut meta = self.meta_of(id)?;
        let dir = self.node_dir(id)?;
        let live = self.processes_of(&dir).await?;
        let port = first_port(&meta.address, &meta.attributes);
        let answers = match port {
            Some(port) => accepts(meta.addr, port).await,
            None => true,
        };
        if live.is_empty() || !answers {
            return Err(DriverError::fatal(format!(
                "Local node `{id}` is not running, so there is nothing to import."
            )));
        }
        meta.address = address.clone();
        meta.placement.provider = self.name.clone();
        let pid = leader_pid(meta.pid, &live);
        Ok(meta.existing(observed(&dir, meta.addr, port, pid)))
    }

    /// Marks node `existing` as `to` of `lineage`, or unmarks it (`None`).
    pub(super) fn remark_node(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        let dir = self.node_dir(&existing.provider_id)?;
        let mut renamed = existing.clone();
        // A node whose directory is gone has no marker left to change.
        let Some(mut meta) = read_meta(&dir) else {
            if let Some(to) = to {
                renamed.address = to.clone();
            }
            return Ok(renamed);
        };
        match to {
            Some(to) => {
                meta.lineage = lineage.to_string();
                meta.address = to.clone();
                meta.placement.provider = self.name.clone();
                renamed.address = to.clone();
            }
            None => meta.lineage = String::new(),
        }
        write_meta(&dir, &meta)?;
        Ok(renamed)
    }
}
