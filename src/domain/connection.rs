//! A child account's connection as the connectors read it: its kind, its
//! public settings and its secrets (validated and sealed by
//! `services::accounts`, opened for a sync by `services::sync`).

use serde_json::{Map, Value};

/// Validated connection: kind, public settings, secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Kind.
    pub kind: String,
    /// Public settings.
    pub settings: Map<String, Value>,
    /// Secret settings.
    pub secrets: Map<String, Value>,
}
