//! Connectors: one trait, one implementation per connection kind. Each maps
//! its source onto the six entities as import records (the JSON import
//! fields), page by page with a cursor of its own; the sync service stores
//! each page through the same write path as imports (same validation, stale
//! and removed rules) and advances the cursor in the same transaction.
//!
//! - `tributary`: another server's read feeds (a child, or a master's
//!   roll-up, so masters stack).
//! - `shopify`: the GraphQL Admin API (locations, product variants with
//!   their inventory levels, orders by `updated_at`).
//! - `woocommerce`: the REST API v3 (products and variations, orders by
//!   `modified_after`).
//! - `manual`: nothing to pull (fed by imports only).
//!
//! All outbound traffic goes through [`http::Http`]: timeouts, retries with
//! backoff and `Retry-After`, and the operator's private-address rule.

pub mod http;
pub mod manual;
pub mod shopify;
pub mod tributary;
pub mod woocommerce;

use serde_json::Value;

use crate::config::SyncConfig;
use crate::domain::connection::Connection;
use crate::import::Entity;

/// Why a sync of one connection stopped. The message is shown to people
/// (job detail, the accounts page): it never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyncError {
    /// A sentence a person can act on.
    pub message: String,
}

impl SyncError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> SyncError {
        SyncError {
            message: message.into(),
        }
    }

    /// A page that could not be read as the source's documented format.
    pub fn malformed(what: &str, detail: impl std::fmt::Display) -> SyncError {
        SyncError::new(format!(
            "{what}: the source sent a page that is not in its documented format ({detail}); nothing of it was stored"
        ))
    }
}

/// One page of a stream: records of one or more entities (stored in the
/// order given, in one transaction), and the cursor to keep once they are
/// stored.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Import records per entity.
    pub batches: Vec<(Entity, Records)>,
    /// The stream's cursor after this page (`None`: start over next time,
    /// for streams that are read whole on every sync).
    pub next: Option<String>,
    /// Whether another page follows in this sync.
    pub more: bool,
}

/// A page's import records of one entity.
#[derive(Debug, Clone)]
pub enum Records {
    /// Records a connector built from its source's format.
    Values(Vec<Value>),
    /// The JSON text of a list of import records as the source sent it (a
    /// `tributary` feed), checked as it is, never built into values.
    Json(Box<serde_json::value::RawValue>),
}

impl Records {
    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        match self {
            Records::Values(v) => v.is_empty(),
            Records::Json(raw) => {
                let t = raw.get().trim();
                t.strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .is_some_and(|inner| inner.trim().is_empty())
            }
        }
    }

    /// The records as the JSON text of a list.
    pub fn to_json(&self) -> serde_json::Result<std::borrow::Cow<'_, [u8]>> {
        Ok(match self {
            Records::Values(v) => serde_json::to_vec(v)?.into(),
            Records::Json(raw) => raw.get().as_bytes().into(),
        })
    }
}

impl From<Vec<Value>> for Records {
    fn from(v: Vec<Value>) -> Records {
        Records::Values(v)
    }
}

/// A source of records.
pub trait Connector: Send + Sync {
    /// The streams to pull, in order (each keeps its own cursor, named by
    /// its entity; a stream may also yield records of later entities).
    fn streams(&self) -> Vec<Entity>;

    /// The page of `stream` after `cursor` (`None`: from the start).
    fn fetch(&self, stream: Entity, cursor: Option<&str>) -> Result<Page, SyncError>;
}

/// The connector for a stored connection (secrets opened).
pub fn for_connection(
    connection: &Connection,
    config: &SyncConfig,
) -> Result<Box<dyn Connector>, SyncError> {
    let setting = |k: &str| {
        connection
            .settings
            .get(k)
            .or_else(|| connection.secrets.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                SyncError::new(format!(
                    "the connection has no {k}; enter it again on the accounts page"
                ))
            })
    };
    Ok(match connection.kind.as_str() {
        "manual" => Box::new(manual::Manual),
        "tributary" => Box::new(tributary::Tributary::new(
            &setting("base_url")?,
            &setting("account_id")?,
            &setting("api_key")?,
            config,
        )?),
        "shopify" => Box::new(shopify::Shopify::new(
            &setting("shop")?,
            &setting("access_token")?,
            config,
        )?),
        "woocommerce" => Box::new(woocommerce::WooCommerce::new(
            &setting("base_url")?,
            &setting("consumer_key")?,
            &setting("consumer_secret")?,
            config,
        )?),
        other => return Err(SyncError::new(format!("unknown connection kind {other}"))),
    })
}

/// The writer of a `tributary` connection (stock orders pushed to the
/// source's open API).
pub fn tributary_writer(
    connection: &Connection,
    config: &SyncConfig,
) -> Result<tributary::Tributary, SyncError> {
    let setting = |k: &str| {
        connection
            .settings
            .get(k)
            .or_else(|| connection.secrets.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SyncError::new(format!("the connection has no {k}")))
    };
    tributary::Tributary::new(
        &setting("base_url")?,
        &setting("account_id")?,
        &setting("api_key")?,
        config,
    )
}

/// Reads a JSON body, or fails as a malformed page.
pub fn parse_json(what: &str, body: &str) -> Result<Value, SyncError> {
    serde_json::from_str(body).map_err(|e| SyncError::malformed(what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Records {
        Records::Json(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_feed_list_is_empty_only_without_records() {
        assert!(raw("[]").is_empty());
        assert!(raw(" [ \n ] ").is_empty());
        assert!(!raw(r#"[{"id": "W1"}]"#).is_empty());
        assert!(Records::from(vec![]).is_empty());
        assert!(!Records::from(vec![serde_json::json!({"id": "W1"})]).is_empty());
    }

    #[test]
    fn both_forms_give_the_same_json_list() {
        let values = Records::from(vec![serde_json::json!({"id": "W1", "name": "Main"})]);
        let text = raw(r#"[{"id":"W1","name":"Main"}]"#);
        assert_eq!(values.to_json().unwrap(), text.to_json().unwrap());
    }
}
