//! The embedded `local` provider (being written).
use super::*;
pub struct LocalDriver;
impl LocalDriver {
    pub fn new(_config: DriverConfig) -> Result<Self, DriverError> {
        Err(DriverError::fatal("not ready"))
    }
}
#[async_trait]
impl Driver for LocalDriver {
    fn name(&self) -> &str { "local" }
    async fn catalog(&self) -> Result<Catalog, DriverError> { Err(DriverError::fatal("x")) }
    async fn refresh(&self, _l: &str, _k: &[Existing]) -> Result<Refreshed, DriverError> { Err(DriverError::fatal("x")) }
    async fn create(&self, _r: CreateRequest<'_>) -> Result<Existing, DriverError> { Err(DriverError::fatal("x")) }
    async fn update(&self, _e: &Existing, _d: &Desired) -> Result<Existing, DriverError> { Err(DriverError::fatal("x")) }
    async fn delete(&self, _e: &Existing) -> Result<(), DriverError> { Err(DriverError::fatal("x")) }
}
