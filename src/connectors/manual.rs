//! The `manual` connection: fed by CSV and API imports only, nothing to pull.

use crate::connectors::{Connector, Page, SyncError};
use crate::import::Entity;

/// Pulls nothing.
pub struct Manual;

impl Connector for Manual {
    fn streams(&self) -> Vec<Entity> {
        Vec::new()
    }

    fn fetch(&self, _stream: Entity, _cursor: Option<&str>) -> Result<Page, SyncError> {
        Ok(Page::default())
    }
}
