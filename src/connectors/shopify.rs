//! The `shopify` connection: the GraphQL Admin API
//! (`POST {api base}/admin/api/{version}/graphql.json`, header
//! `X-Shopify-Access-Token`). The API base is configuration
//! (`TRIBUTARY_SHOPIFY_API_BASE`, default `https://{shop}`), the shop domain a
//! setting of the connection.
//!
//! Streams: locations → warehouses and inventory levels → stock (read whole
//! on every sync), product variants → variants (and their products' vendors
//! as vendors), orders → sales orders, these two incremental: a sync asks
//! for `updated_at:>=` the time (by the shop's clock, its `Date` header) the
//! previous complete pass started, paging by id with `pageInfo` cursors, so
//! a record changed while the pass runs is read again by the next one.
//! `THROTTLED` answers wait for the bucket to refill (from
//! `extensions.cost.throttleStatus`); 429 and 5xx are retried by the client.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::config::SyncConfig;
use crate::connectors::http::Http;
use crate::connectors::{parse_json, Connector, Page, SyncError};
use crate::import::Entity;

/// The Admin API version asked for.
pub const API_VERSION: &str = "2024-10";
const PAGE: i64 = 100;

/// A pull from one Shopify shop.
pub struct Shopify {
    http: Http,
    endpoint: String,
    token: String,
}

impl Shopify {
    /// A connector for `shop` (e.g. `example.myshopify.com`).
    pub fn new(shop: &str, token: &str, config: &SyncConfig) -> Result<Shopify, SyncError> {
        let shop = shop
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        if shop.is_empty() || shop.contains('/') || shop.contains('@') {
            return Err(SyncError::new(
                "the shop must be a domain such as example.myshopify.com",
            ));
        }
        let base = config.shopify_api_base.replace("{shop}", shop);
        Ok(Shopify {
            http: Http::for_base(&base, config)?,
            endpoint: format!("{base}/admin/api/{API_VERSION}/graphql.json"),
            token: token.to_string(),
        })
    }

    /// Runs a query; waits out `THROTTLED` answers within the retry budget.
    /// Returns `data` and the answer's `Date` header.
    fn query(
        &self,
        what: &str,
        query: &str,
        variables: Value,
    ) -> Result<(Value, Option<String>), SyncError> {
        let deadline = Instant::now() + self.http.budget();
        let body = json!({"query": query, "variables": variables});
        loop {
            let answer = self.http.send(what, |c| {
                c.post(&self.endpoint)
                    .header("X-Shopify-Access-Token", &self.token)
                    .json(&body)
            })?;
            let date = answer
                .headers
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .map(str::to_string);
            let v = parse_json(what, &answer.body)?;
            if let Some(errors) = v.get("errors").and_then(Value::as_array) {
                let throttled = errors
                    .iter()
                    .any(|e| e["extensions"]["code"] == "THROTTLED");
                if throttled {
                    let cost = &v["extensions"]["cost"];
                    let requested = cost["requestedQueryCost"].as_f64().unwrap_or(100.0);
                    let available = cost["throttleStatus"]["currentlyAvailable"]
                        .as_f64()
                        .unwrap_or(0.0);
                    let rate = cost["throttleStatus"]["restoreRate"]
                        .as_f64()
                        .filter(|r| *r > 0.0)
                        .unwrap_or(50.0);
                    let wait =
                        Duration::from_secs_f64(((requested - available) / rate).clamp(0.05, 30.0));
                    if Instant::now() + wait > deadline {
                        return Err(SyncError::new(format!(
                            "{what}: the shop kept answering THROTTLED"
                        )));
                    }
                    std::thread::sleep(wait);
                    continue;
                }
                let message = errors
                    .iter()
                    .filter_map(|e| e["message"].as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(SyncError::new(format!(
                    "{what}: the shop answered: {message}"
                )));
            }
            return match v.get("data") {
                Some(d) if d.is_object() => Ok((d.clone(), date)),
                _ => Err(SyncError::malformed(what, "no `data`")),
            };
        }
    }
}

/// The numeric tail of a global id (`gid://shopify/ProductVariant/12` → `12`).
fn gid(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    Some(s.rsplit('/').next().unwrap_or(s).to_string())
}

fn set(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v.filter(|v| !v.is_null() && v.as_str() != Some("")) {
        m.insert(k.to_string(), v);
    }
}

/// The stream cursor: where the pass stands and where the next pass starts.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// `updated_at` lower bound of the current pass.
    since: Option<String>,
    /// The shop's time when the current pass started.
    started: Option<String>,
    /// `pageInfo.endCursor` within the pass.
    after: Option<String>,
}

fn http_date_to_rfc3339(d: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc2822(d).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

fn nodes<'a>(
    data: &'a Value,
    root: &str,
    what: &str,
) -> Result<(&'a Vec<Value>, bool, Option<String>), SyncError> {
    let conn = &data[root];
    let nodes = conn["nodes"]
        .as_array()
        .ok_or_else(|| SyncError::malformed(what, format!("no `{root}.nodes`")))?;
    let has_next = conn["pageInfo"]["hasNextPage"]
        .as_bool()
        .ok_or_else(|| SyncError::malformed(what, "no `pageInfo.hasNextPage`"))?;
    let end = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    Ok((nodes, has_next, end))
}

const LOCATIONS: &str = "query($first:Int!,$after:String){locations(first:$first,after:$after,includeInactive:true){nodes{id name isActive updatedAt}pageInfo{hasNextPage endCursor}}}";
const VARIANTS: &str = "query($first:Int!,$after:String,$query:String){productVariants(first:$first,after:$after,query:$query,sortKey:ID){nodes{id sku barcode title price updatedAt inventoryItem{tracked unitCost{amount}} product{id title vendor productType tags status}}pageInfo{hasNextPage endCursor}}}";
const LEVELS: &str = "query($first:Int!,$after:String){productVariants(first:$first,after:$after,sortKey:ID){nodes{id inventoryItem{inventoryLevels(first:50){nodes{updatedAt location{id} quantities(names:[\"available\",\"on_hand\"]){name quantity}}}}}pageInfo{hasNextPage endCursor}}}";
const ORDERS: &str = "query($first:Int!,$after:String,$query:String){orders(first:$first,after:$after,query:$query,sortKey:ID){nodes{id createdAt updatedAt cancelledAt currencyCode lineItems(first:250){nodes{id quantity variant{id} originalUnitPriceSet{shopMoney{amount}}}}}pageInfo{hasNextPage endCursor}}}";

impl Connector for Shopify {
    fn streams(&self) -> Vec<Entity> {
        vec![
            Entity::Warehouses,
            Entity::Variants,
            Entity::Stock,
            Entity::SalesOrders,
        ]
    }

    fn fetch(&self, stream: Entity, cursor: Option<&str>) -> Result<Page, SyncError> {
        let mut c: Cursor = cursor
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let what = format!("reading {} from Shopify", stream.as_str());
        let incremental = matches!(stream, Entity::Variants | Entity::SalesOrders);
        let (q, root) = match stream {
            Entity::Warehouses => (LOCATIONS, "locations"),
            Entity::Variants => (VARIANTS, "productVariants"),
            Entity::Stock => (LEVELS, "productVariants"),
            _ => (ORDERS, "orders"),
        };
        let mut vars = json!({"first": PAGE, "after": c.after});
        if incremental {
            if let Some(since) = &c.since {
                vars["query"] = Value::String(format!("updated_at:>='{since}'"));
            }
        }
        let (data, date) = self.query(&what, q, vars)?;
        if c.started.is_none() {
            c.started = date.as_deref().and_then(http_date_to_rfc3339);
        }
        let (list, has_next, end) = nodes(&data, root, &what)?;
        let mut batches = Vec::new();
        match stream {
            Entity::Warehouses => {
                let items: Vec<Value> = list
                    .iter()
                    .map(|n| {
                        let mut m = Map::new();
                        set(&mut m, "id", gid(&n["id"]).map(Value::String));
                        set(&mut m, "name", Some(n["name"].clone()));
                        set(&mut m, "updated_at", Some(n["updatedAt"].clone()));
                        m.insert("removed".into(), Value::Bool(n["isActive"] == false));
                        Value::Object(m)
                    })
                    .collect();
                batches.push((Entity::Warehouses, items.into()));
            }
            Entity::Variants => {
                let mut vendors: Vec<Value> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                let mut items = Vec::new();
                for n in list {
                    let p = &n["product"];
                    let vendor = p["vendor"].as_str().filter(|v| !v.is_empty());
                    if let Some(v) = vendor {
                        if seen.insert(v.to_string()) {
                            vendors.push(json!({"id": v, "name": v}));
                        }
                    }
                    let id = gid(&n["id"])
                        .ok_or_else(|| SyncError::malformed(&what, "a variant without id"))?;
                    let mut m = Map::new();
                    m.insert("id".into(), Value::String(id.clone()));
                    let sku = n["sku"]
                        .as_str()
                        .filter(|s| !s.trim().is_empty())
                        .map(str::to_string);
                    m.insert(
                        "sku".into(),
                        Value::String(sku.unwrap_or_else(|| format!("shopify-{id}"))),
                    );
                    set(&mut m, "barcode", Some(n["barcode"].clone()));
                    let title = match (p["title"].as_str(), n["title"].as_str()) {
                        (Some(pt), Some("Default Title")) | (Some(pt), None) => pt.to_string(),
                        (Some(pt), Some(vt)) => format!("{pt} - {vt}"),
                        (None, Some(vt)) => vt.to_string(),
                        (None, None) => String::new(),
                    };
                    set(&mut m, "title", Some(Value::String(title)));
                    set(&mut m, "product_id", gid(&p["id"]).map(Value::String));
                    set(&mut m, "product_title", Some(p["title"].clone()));
                    set(
                        &mut m,
                        "vendor_id",
                        vendor.map(|v| Value::String(v.to_string())),
                    );
                    set(&mut m, "category", Some(p["productType"].clone()));
                    if let Some(tags) = p["tags"].as_array() {
                        m.insert("tags".into(), Value::Array(tags.clone()));
                    }
                    set(&mut m, "retail_price", Some(n["price"].clone()));
                    set(
                        &mut m,
                        "cost_price",
                        Some(n["inventoryItem"]["unitCost"]["amount"].clone()),
                    );
                    if let Some(t) = n["inventoryItem"]["tracked"].as_bool() {
                        m.insert("tracked".into(), Value::Bool(t));
                    }
                    set(&mut m, "updated_at", Some(n["updatedAt"].clone()));
                    m.insert("removed".into(), Value::Bool(p["status"] == "ARCHIVED"));
                    items.push(Value::Object(m));
                }
                batches.push((Entity::Vendors, vendors.into()));
                batches.push((Entity::Variants, items.into()));
            }
            Entity::Stock => {
                let mut items = Vec::new();
                for n in list {
                    let variant = gid(&n["id"])
                        .ok_or_else(|| SyncError::malformed(&what, "a variant without id"))?;
                    let levels = n["inventoryItem"]["inventoryLevels"]["nodes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    for l in levels {
                        let q = |name: &str| {
                            l["quantities"]
                                .as_array()
                                .and_then(|qs| qs.iter().find(|q| q["name"] == name))
                                .and_then(|q| q["quantity"].as_i64())
                        };
                        let available = q("available").unwrap_or(0);
                        let on_hand = q("on_hand").unwrap_or(available);
                        let Some(location) = gid(&l["location"]["id"]) else {
                            return Err(SyncError::malformed(
                                &what,
                                "an inventory level without location",
                            ));
                        };
                        let mut m = Map::new();
                        m.insert("variant_id".into(), Value::String(variant.clone()));
                        m.insert("warehouse_id".into(), Value::String(location));
                        m.insert("on_hand".into(), json!(on_hand));
                        m.insert("allocated".into(), json!((on_hand - available).max(0)));
                        set(&mut m, "updated_at", Some(l["updatedAt"].clone()));
                        items.push(Value::Object(m));
                    }
                }
                batches.push((Entity::Stock, items.into()));
            }
            _ => {
                let mut items = Vec::new();
                for n in list {
                    let id = gid(&n["id"])
                        .ok_or_else(|| SyncError::malformed(&what, "an order without id"))?;
                    let lines: Vec<Value> = n["lineItems"]["nodes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|l| {
                            let variant = gid(&l["variant"]["id"])?;
                            let mut m = Map::new();
                            m.insert("id".into(), Value::String(gid(&l["id"])?));
                            m.insert("variant_id".into(), Value::String(variant));
                            m.insert("quantity".into(), l["quantity"].clone());
                            set(
                                &mut m,
                                "unit_price",
                                Some(l["originalUnitPriceSet"]["shopMoney"]["amount"].clone()),
                            );
                            Some(Value::Object(m))
                        })
                        .collect();
                    if lines.is_empty() {
                        continue;
                    }
                    let mut m = Map::new();
                    m.insert("id".into(), Value::String(id));
                    m.insert("ordered_at".into(), n["createdAt"].clone());
                    set(&mut m, "currency", Some(n["currencyCode"].clone()));
                    m.insert("cancelled".into(), Value::Bool(!n["cancelledAt"].is_null()));
                    set(&mut m, "updated_at", Some(n["updatedAt"].clone()));
                    m.insert("lines".into(), Value::Array(lines));
                    items.push(Value::Object(m));
                }
                batches.push((Entity::SalesOrders, items.into()));
            }
        }
        let next = if has_next {
            c.after = end;
            Some(serde_json::to_string(&c).unwrap_or_default())
        } else if incremental {
            // The pass is complete: the next one starts where this one began.
            let next = Cursor {
                since: c.started.clone().or(c.since.clone()),
                started: None,
                after: None,
            };
            Some(serde_json::to_string(&next).unwrap_or_default())
        } else {
            None
        };
        Ok(Page {
            batches,
            next,
            more: has_next,
        })
    }
}
