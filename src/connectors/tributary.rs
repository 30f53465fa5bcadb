//! The `tributary` connection: another server's read feeds
//! (`GET /api/v1/accounts/{id}/<entity>?after=&limit=`), whose items are
//! already import records. The stored cursor is the feed's own `next`.

use serde_json::value::RawValue;
use serde_json::Value;

use crate::config::SyncConfig;
use crate::connectors::http::Http;
use crate::connectors::{Connector, Page, Records, SyncError};
use crate::import::Entity;

/// A pull from another tributary server's account.
pub struct Tributary {
    http: Http,
    base: String,
    account: String,
    key: String,
    page_size: usize,
}

impl Tributary {
    /// A connector for `account_id` on `base_url`, authenticated by `api_key`.
    pub fn new(
        base_url: &str,
        account_id: &str,
        api_key: &str,
        config: &SyncConfig,
    ) -> Result<Tributary, SyncError> {
        Ok(Tributary {
            http: Http::for_base(base_url, config)?,
            base: base_url.trim_end_matches('/').to_string(),
            account: account_id.to_string(),
            key: api_key.to_string(),
            page_size: config.page_size,
        })
    }
}

impl Tributary {
    /// Writes one stock order to the source account through its JSON batch
    /// upsert (`PUT /api/v1/accounts/{id}/stock-orders`): keyed by the
    /// order's id, so writing it twice leaves one order there.
    pub fn push_stock_order(&self, record: &Value) -> Result<(), SyncError> {
        let url = format!(
            "{}/api/v1/accounts/{}/stock-orders",
            self.base,
            urlencode(&self.account)
        );
        let body = Value::Array(vec![record.clone()]).to_string();
        self.http
            .send("writing the order to the tributary server", |c| {
                c.put(&url)
                    .bearer_auth(&self.key)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })?;
        Ok(())
    }
}

impl Connector for Tributary {
    fn streams(&self) -> Vec<Entity> {
        Entity::ALL.to_vec()
    }

    fn fetch(&self, stream: Entity, cursor: Option<&str>) -> Result<Page, SyncError> {
        let url = format!(
            "{}/api/v1/accounts/{}/{}",
            self.base,
            urlencode(&self.account),
            stream.as_str()
        );
        let what = format!("reading {} from the tributary server", stream.as_str());
        let limit = self.page_size.to_string();
        let answer = self.http.send(&what, |c| {
            let mut q: Vec<(&str, &str)> = vec![("limit", &limit)];
            if let Some(after) = cursor {
                q.push(("after", after));
            }
            c.get(&url).bearer_auth(&self.key).query(&q)
        })?;
        // The items are already import records: kept as the JSON text the
        // source sent, checked and stored without building values.
        #[derive(serde::Deserialize)]
        struct Feed {
            items: Option<Box<RawValue>>,
            next: Option<Value>,
        }
        let body: Feed =
            serde_json::from_str(&answer.body).map_err(|e| SyncError::malformed(&what, e))?;
        let items = match body.items {
            Some(items) if items.get().trim_start().starts_with('[') => Records::Json(items),
            _ => return Err(SyncError::malformed(&what, "no `items` list")),
        };
        let next = match body.next {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(_) => return Err(SyncError::malformed(&what, "`next` is not a string")),
        };
        let more = next.is_some() && !items.is_empty();
        Ok(Page {
            batches: vec![(stream, items)],
            // A last page without `next` keeps the cursor where it was.
            next: next.or_else(|| cursor.map(str::to_string)),
            more,
        })
    }
}

/// Percent-encodes a path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
