//! The `woocommerce` connection: the REST API v3 under
//! `{base_url}/wp-json/wc/v3/`, authenticated with the consumer key and
//! secret (HTTP Basic, as WooCommerce takes them over HTTPS).
//!
//! Streams: one warehouse (`default`: WooCommerce keeps one stock figure per
//! product), products and their variations → variants, stock (read whole on
//! every sync), orders → sales orders. Products and orders are incremental:
//! `modified_after` the shop's time (its `Date` header) when the previous
//! complete pass started, `orderby=id`, `page`/`per_page` until
//! `X-WP-TotalPages`; a record changed during a pass keeps its place (ids do
//! not move) and is read again by the next pass.
//!
//! REST v3 rules followed: `per_page` is at most 100; `X-WP-Total` and
//! `X-WP-TotalPages` give the totals; `modified_after` is read in the site's
//! time zone unless `dates_are_gmt=true` is given (it always is, with the
//! `*_gmt` dates); orders of every status are asked for (`status=any`).
//!
//! Refunds become returns: an order that lists `refunds` has them read from
//! `/orders/{id}/refunds` (paged like the rest), and each refund with line
//! items becomes the sales order `{order}-R{refund}` on the refund's date
//! with negative quantities (WooCommerce keeps the order's own line
//! quantities as sold). A cancelled, refunded or failed order's returns are
//! cancelled with it.

use serde_json::{json, Map, Value};

use crate::config::SyncConfig;
use crate::connectors::http::{Answer, Http};
use crate::connectors::{parse_json, Connector, Page, SyncError};
use crate::import::Entity;

const PER_PAGE: u32 = 100;
/// The one warehouse WooCommerce stock is kept in.
pub const WAREHOUSE: &str = "default";

/// A pull from one WooCommerce shop.
pub struct WooCommerce {
    http: Http,
    base: String,
    key: String,
    secret: String,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cursor {
    since: Option<String>,
    started: Option<String>,
    page: u32,
}

fn gmt(v: &Value) -> Option<Value> {
    // WooCommerce writes `date_modified_gmt` without an offset.
    let s = v.as_str()?;
    Some(Value::String(if s.ends_with('Z') || s.contains('+') {
        s.to_string()
    } else {
        format!("{s}Z")
    }))
}

fn set(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v.filter(|v| !v.is_null() && v.as_str() != Some("")) {
        m.insert(k.to_string(), v);
    }
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.as_i64().unwrap_or(0) != 0 => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s != "0" => Some(s.clone()),
        _ => None,
    }
}

impl WooCommerce {
    /// A connector for the shop at `base_url`.
    pub fn new(
        base_url: &str,
        key: &str,
        secret: &str,
        config: &SyncConfig,
    ) -> Result<WooCommerce, SyncError> {
        Ok(WooCommerce {
            http: Http::for_base(base_url, config)?,
            base: format!("{}/wp-json/wc/v3", base_url.trim_end_matches('/')),
            key: key.to_string(),
            secret: secret.to_string(),
        })
    }

    fn get(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(Value, Answer), SyncError> {
        let url = format!("{}/{}", self.base, path);
        let answer = self.http.send(what, |c| {
            c.get(&url)
                .basic_auth(&self.key, Some(&self.secret))
                .query(query)
        })?;
        let v = parse_json(what, &answer.body)?;
        if !v.is_array() {
            return Err(SyncError::malformed(what, "not a list"));
        }
        Ok((v, answer))
    }

    fn total_pages(answer: &Answer) -> Option<u32> {
        answer
            .headers
            .get("x-wp-totalpages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    fn variations(&self, what: &str, product: &str) -> Result<Vec<Value>, SyncError> {
        self.all(what, &format!("products/{product}/variations"))
    }

    /// Every item of a list resource, page by page.
    fn all(&self, what: &str, path: &str) -> Result<Vec<Value>, SyncError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let (v, answer) = self.get(
                what,
                path,
                &[
                    ("per_page", PER_PAGE.to_string()),
                    ("page", page.to_string()),
                ],
            )?;
            let items = v.as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            let total = Self::total_pages(&answer).unwrap_or(page);
            if n == 0 || page >= total {
                return Ok(out);
            }
            page += 1;
        }
    }
}

/// A refund's line items as return lines (negative quantities; WooCommerce
/// writes them negative already, a positive one is read as refunded too).
fn returned_lines(r: &Value) -> Vec<Value> {
    r["line_items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|l| {
                    let variant = id_of(&l["variation_id"]).or_else(|| id_of(&l["product_id"]))?;
                    let qty = l["quantity"].as_f64()?.abs();
                    if qty == 0.0 {
                        return None;
                    }
                    let mut m = Map::new();
                    m.insert("id".into(), Value::String(id_of(&l["id"])?));
                    m.insert("variant_id".into(), Value::String(variant));
                    m.insert("quantity".into(), json!(-qty));
                    if let Some(p) = l["price"].as_f64() {
                        m.insert("unit_price".into(), json!(p.abs()));
                    }
                    Some(Value::Object(m))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Connector for WooCommerce {
    fn streams(&self) -> Vec<Entity> {
        vec![
            Entity::Warehouses,
            Entity::Variants,
            Entity::Stock,
            Entity::SalesOrders,
        ]
    }

    fn fetch(&self, stream: Entity, cursor: Option<&str>) -> Result<Page, SyncError> {
        let what = format!("reading {} from WooCommerce", stream.as_str());
        if stream == Entity::Warehouses {
            return Ok(Page {
                batches: vec![(
                    Entity::Warehouses,
                    vec![json!({"id": WAREHOUSE, "name": "WooCommerce stock"})].into(),
                )],
                next: None,
                more: false,
            });
        }
        let mut c: Cursor = cursor
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        if c.page == 0 {
            c.page = 1;
        }
        let incremental = stream != Entity::Stock;
        let path = if stream == Entity::SalesOrders {
            "orders"
        } else {
            "products"
        };
        let mut query = vec![
            ("per_page", PER_PAGE.to_string()),
            ("page", c.page.to_string()),
            ("orderby", "id".to_string()),
            ("order", "asc".to_string()),
        ];
        if incremental {
            if let Some(since) = &c.since {
                query.push(("modified_after", since.clone()));
                query.push(("dates_are_gmt", "true".into()));
            }
        }
        if stream == Entity::SalesOrders {
            query.push(("status", "any".into()));
        }
        let (list, answer) = self.get(&what, path, &query)?;
        if c.started.is_none() {
            c.started = answer
                .headers
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M:%S")
                        .to_string()
                });
        }
        let list = list.as_array().cloned().unwrap_or_default();
        let total = Self::total_pages(&answer).unwrap_or(c.page);
        let more = !list.is_empty() && c.page < total;
        let mut batches = Vec::new();
        match stream {
            Entity::Variants | Entity::Stock => {
                let mut variants = Vec::new();
                let mut stock = Vec::new();
                for p in &list {
                    let pid = id_of(&p["id"])
                        .ok_or_else(|| SyncError::malformed(&what, "a product without id"))?;
                    let rows: Vec<(String, Value)> = if p["type"] == "variable" {
                        self.variations(&what, &pid)?
                            .into_iter()
                            .filter_map(|v| Some((id_of(&v["id"])?, v)))
                            .collect()
                    } else {
                        vec![(pid.clone(), p.clone())]
                    };
                    for (id, v) in rows {
                        if stream == Entity::Stock {
                            if v["manage_stock"] == true {
                                let on_hand = v["stock_quantity"].as_f64().unwrap_or(0.0);
                                stock.push(json!({"variant_id": id, "warehouse_id": WAREHOUSE,
                                    "on_hand": on_hand, "allocated": 0}));
                            }
                            continue;
                        }
                        let mut m = Map::new();
                        m.insert("id".into(), Value::String(id.clone()));
                        let sku = v["sku"]
                            .as_str()
                            .filter(|s| !s.trim().is_empty())
                            .map(str::to_string);
                        m.insert(
                            "sku".into(),
                            Value::String(sku.unwrap_or_else(|| format!("woo-{id}"))),
                        );
                        let title = if id == pid {
                            p["name"].as_str().unwrap_or_default().to_string()
                        } else {
                            let attrs: Vec<String> = v["attributes"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x["option"].as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default();
                            format!(
                                "{} - {}",
                                p["name"].as_str().unwrap_or_default(),
                                attrs.join(" / ")
                            )
                        };
                        m.insert("title".into(), Value::String(title));
                        m.insert("product_id".into(), Value::String(pid.clone()));
                        set(&mut m, "product_title", Some(p["name"].clone()));
                        set(
                            &mut m,
                            "category",
                            p["categories"].get(0).map(|c| c["name"].clone()),
                        );
                        if let Some(tags) = p["tags"].as_array() {
                            let names: Vec<Value> = tags
                                .iter()
                                .map(|t| t["name"].clone())
                                .filter(|n| n.is_string())
                                .collect();
                            if !names.is_empty() {
                                m.insert("tags".into(), Value::Array(names));
                            }
                        }
                        set(&mut m, "retail_price", Some(v["price"].clone()));
                        m.insert("tracked".into(), Value::Bool(v["manage_stock"] == true));
                        set(&mut m, "updated_at", gmt(&v["date_modified_gmt"]));
                        m.insert(
                            "removed".into(),
                            Value::Bool(p["status"] == "trash" || v["status"] == "trash"),
                        );
                        variants.push(Value::Object(m));
                    }
                }
                if stream == Entity::Stock {
                    batches.push((Entity::Stock, stock.into()));
                } else {
                    batches.push((Entity::Variants, variants.into()));
                }
            }
            _ => {
                let mut items = Vec::new();
                for o in &list {
                    let id = id_of(&o["id"])
                        .ok_or_else(|| SyncError::malformed(&what, "an order without id"))?;
                    let lines: Vec<Value> = o["line_items"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|l| {
                            let variant =
                                id_of(&l["variation_id"]).or_else(|| id_of(&l["product_id"]))?;
                            let mut m = Map::new();
                            m.insert("id".into(), Value::String(id_of(&l["id"])?));
                            m.insert("variant_id".into(), Value::String(variant));
                            m.insert("quantity".into(), l["quantity"].clone());
                            set(&mut m, "unit_price", Some(l["price"].clone()));
                            Some(Value::Object(m))
                        })
                        .collect();
                    if lines.is_empty() {
                        continue;
                    }
                    let status = o["status"].as_str().unwrap_or_default();
                    let head = |m: &mut Map<String, Value>| {
                        set(m, "currency", Some(o["currency"].clone()));
                        m.insert(
                            "cancelled".into(),
                            Value::Bool(matches!(status, "cancelled" | "refunded" | "failed")),
                        );
                        m.insert("removed".into(), Value::Bool(status == "trash"));
                        set(m, "updated_at", gmt(&o["date_modified_gmt"]));
                    };
                    let mut m = Map::new();
                    m.insert("id".into(), Value::String(id.clone()));
                    set(&mut m, "ordered_at", gmt(&o["date_created_gmt"]));
                    head(&mut m);
                    m.insert("lines".into(), Value::Array(lines));
                    items.push(Value::Object(m));
                    let listed = o["refunds"].as_array().is_some_and(|r| !r.is_empty());
                    if !listed {
                        continue;
                    }
                    for r in self.all(&what, &format!("orders/{id}/refunds"))? {
                        let rid = id_of(&r["id"])
                            .ok_or_else(|| SyncError::malformed(&what, "a refund without id"))?;
                        let lines = returned_lines(&r);
                        if lines.is_empty() {
                            continue;
                        }
                        let mut m = Map::new();
                        m.insert("id".into(), Value::String(format!("{id}-R{rid}")));
                        set(&mut m, "ordered_at", gmt(&r["date_created_gmt"]));
                        head(&mut m);
                        m.insert("lines".into(), Value::Array(lines));
                        items.push(Value::Object(m));
                    }
                }
                batches.push((Entity::SalesOrders, items.into()));
            }
        }
        let next = if more {
            c.page += 1;
            Some(serde_json::to_string(&c).unwrap_or_default())
        } else if incremental {
            Some(
                serde_json::to_string(&Cursor {
                    since: c.started.clone().or(c.since.clone()),
                    started: None,
                    page: 1,
                })
                .unwrap_or_default(),
            )
        } else {
            None
        };
        Ok(Page {
            batches,
            next,
            more,
        })
    }
}
