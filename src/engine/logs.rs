//! A resource's logs, read through the driver of the provider it lives on (the dashboard's
//! node page). Only reads: nothing here changes a resource or the state.

use super::{EngineError, Session};
use crate::driver::LogStream;
use crate::resource::Existing;

impl Session {
    /// The last `lines` lines of `resource`'s logs, per stream (`None`: its provider keeps
    /// none, or it is no longer in the strategy).
    pub async fn logs(
        &self,
        resource: &Existing,
        lines: usize,
    ) -> Result<Option<Vec<LogStream>>, EngineError> {
        let provider = &resource.placement.provider;
        let Some(driver) = self.drivers.get(provider) else {
            return Ok(None);
        };
        driver
            .logs(resource, lines)
            .await
            .map_err(|source| EngineError::Driver {
                provider: provider.clone(),
                source,
            })
    }
}
