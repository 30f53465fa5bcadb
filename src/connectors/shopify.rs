//! The `shopify` connection: the GraphQL Admin API
//! (`POST {api base}/admin/api/{version}/graphql.json`, header
//! `X-Shopify-Access-Token`). The API base and version are configuration
//! (`TRIBUTARY_SHOPIFY_API_BASE`, default `https://{shop}`;
//! `TRIBUTARY_SHOPIFY_API_VERSION`, default [`API_VERSION`]), the shop domain
//! a setting of the connection.
//!
//! Streams: locations → warehouses and inventory levels → stock (read whole
//! on every sync), product variants → variants (and their products' vendors
//! as vendors), orders → sales orders (with their refunds as returns), these
//! two incremental: a sync asks for `updated_at:>=` the time (by the shop's
//! clock, its `Date` header) the previous complete pass started, paging by id
//! with `pageInfo` cursors, so a record changed while the pass runs is read
//! again by the next one.
//!
//! Shopify's cost rules shape every query. A query's requested cost is 0 per
//! scalar or enum, 1 per object, and per connection 2 + `first` × the cost of
//! one node (nested connections multiply); Shopify refuses a query over
//! [`MAX_QUERY_COST`] (`MAX_COST_EXCEEDED`) and runs a leaky bucket per app
//! and shop (`THROTTLED` when the requested cost is more than is available).
//! So each query names its nested connections' sizes, the outer page size is
//! computed from the cost of one node and from the bucket Shopify reported
//! last (`extensions.cost.throttleStatus`), and a nested connection that has
//! more (an order's line items, a refund's lines, a variant's inventory
//! levels) is read to its end with its own cursor by a follow-up query on
//! that one object, so nothing is cut off.
//!
//! Orders map as follows: each line's sold quantity is its `quantity` less
//! what order edits removed (`quantity` − `currentQuantity` − refunded), on
//! the order's date, in the location of its first fulfilment where there is
//! one; each refund with refunded lines becomes a return (sales order
//! `{order}-R{refund}` on the refund's date, negative quantities, in the
//! restock location where given). A cancelled order's returns are cancelled
//! with it.
//!
//! The first complete pass over the orders of a shop holding at least
//! `TRIBUTARY_SHOPIFY_BULK_ORDERS` orders runs as a bulk operation instead
//! (see [`bulk`]).

pub mod bulk;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::config::SyncConfig;
use crate::connectors::http::Http;
use crate::connectors::{parse_json, Connector, Page, SyncError};
use crate::import::Entity;

/// The Admin API version asked for unless configured otherwise (Shopify
/// releases one a quarter and supports each for twelve months).
pub const API_VERSION: &str = "2026-10";
/// The most a single query may request (Shopify's single-query limit).
pub const MAX_QUERY_COST: f64 = 1000.0;
/// The most `first` a connection takes.
pub const MAX_FIRST: i64 = 250;

/// Whether `v` names a Shopify API release (`YYYY-01`, `-04`, `-07`, `-10`).
pub fn is_api_version(v: &str) -> bool {
    let Some((year, month)) = v.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && year >= "2000"
        && matches!(month, "01" | "04" | "07" | "10")
}

/// The leaky bucket as Shopify last reported it.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    available: f64,
    maximum: f64,
    restore: f64,
    at: Instant,
}

impl Bucket {
    fn now(&self) -> f64 {
        (self.available + self.restore * self.at.elapsed().as_secs_f64()).min(self.maximum)
    }
}

/// A pull from one Shopify shop.
pub struct Shopify {
    http: Http,
    endpoint: String,
    token: String,
    bucket: Mutex<Option<Bucket>>,
    /// Locations seen by this sync (sizes the inventory levels asked per
    /// variant).
    locations: Mutex<Option<i64>>,
    /// The sync settings (a bulk file is downloaded under the same rules).
    config: SyncConfig,
    /// The orders of a completed bulk operation, for this sync's pages.
    stitched: Mutex<bulk::Stitched>,
}

/// How many nodes of one cost fit a query: `overhead` + 2 + n × `per_node`
/// within [`MAX_QUERY_COST`] and at most [`MAX_FIRST`].
pub fn fit(per_node: f64, overhead: f64) -> i64 {
    (((MAX_QUERY_COST - overhead - 2.0) / per_node).floor() as i64).clamp(1, MAX_FIRST)
}

/// Sizes of an orders page's nested connections.
const LINES: i64 = 8;
const REFUNDS: i64 = 1;
const REFUND_LINES: i64 = 4;
/// An inventory level node: the level, its location, its quantities.
const LEVEL_COST: f64 = 3.0;
/// A line item node: the item, its variant, its price set and money.
const LINE_COST: f64 = 4.0;
/// A refund line node: the line, its line item and that item's variant, its
/// restock location.
const REFUND_LINE_COST: f64 = 4.0;

/// The cost of one order node of [`ORDERS`] with nested sizes.
pub fn order_cost(lines: i64, refunds: i64, refund_lines: i64) -> f64 {
    // Order + fulfillments(first:1){location} + lineItems + refunds list.
    1.0 + 2.0
        + (2.0 + lines as f64 * LINE_COST)
        + refunds as f64 * (1.0 + 2.0 + refund_lines as f64 * REFUND_LINE_COST)
}

/// The cost of one variant node of [`LEVELS`] with `levels` levels.
pub fn level_variant_cost(levels: i64) -> f64 {
    // Variant + inventoryItem + inventoryLevels.
    2.0 + 2.0 + levels as f64 * LEVEL_COST
}

/// A variant node of [`VARIANTS`]: variant, inventory item, unit cost, product.
pub const VARIANT_COST: f64 = 4.0;

/// Locations (warehouses).
pub const LOCATIONS: &str = "query($first:Int!,$after:String){locations(first:$first,after:$after,includeInactive:true,sortKey:ID){nodes{id name isActive updatedAt}pageInfo{hasNextPage endCursor}}}";
/// Product variants (variants, vendors).
pub const VARIANTS: &str = "query($first:Int!,$after:String,$query:String){productVariants(first:$first,after:$after,query:$query,sortKey:ID){nodes{id sku barcode title price updatedAt inventoryItem{tracked unitCost{amount}} product{id title vendor productType tags status}}pageInfo{hasNextPage endCursor}}}";
/// Inventory levels per variant (stock).
pub const LEVELS: &str = "query($first:Int!,$after:String,$levels:Int!){productVariants(first:$first,after:$after,sortKey:ID){nodes{id inventoryItem{id inventoryLevels(first:$levels){nodes{updatedAt location{id} quantities(names:[\"available\",\"on_hand\"]){name quantity}}pageInfo{hasNextPage endCursor}}}}pageInfo{hasNextPage endCursor}}}";
/// The rest of one inventory item's levels.
pub const MORE_LEVELS: &str = "query($id:ID!,$first:Int!,$after:String){inventoryItem(id:$id){inventoryLevels(first:$first,after:$after){nodes{updatedAt location{id} quantities(names:[\"available\",\"on_hand\"]){name quantity}}pageInfo{hasNextPage endCursor}}}}";
/// Orders with their lines, refunds and fulfilment location.
pub const ORDERS: &str = "query($first:Int!,$after:String,$query:String,$lines:Int!,$refunds:Int!,$refundLines:Int!){orders(first:$first,after:$after,query:$query,sortKey:ID){nodes{id createdAt updatedAt cancelledAt currencyCode fulfillments(first:1){location{id}} lineItems(first:$lines){nodes{id quantity currentQuantity variant{id} originalUnitPriceSet{shopMoney{amount}}}pageInfo{hasNextPage endCursor}} refunds(first:$refunds){id createdAt processedAt refundLineItems(first:$refundLines){nodes{id quantity lineItem{id variant{id}} location{id}}pageInfo{hasNextPage endCursor}}}}pageInfo{hasNextPage endCursor}}}";
/// The rest of one order's line items.
pub const MORE_LINES: &str = "query($id:ID!,$first:Int!,$after:String){order(id:$id){lineItems(first:$first,after:$after){nodes{id quantity currentQuantity variant{id} originalUnitPriceSet{shopMoney{amount}}}pageInfo{hasNextPage endCursor}}}}";
/// All refunds of one order (when more than an orders page holds).
pub const ALL_REFUNDS: &str =
    "query($id:ID!){order(id:$id){refunds(first:250){id createdAt processedAt}}}";
/// The lines of one refund.
pub const REFUND_LINES_QUERY: &str = "query($id:ID!,$first:Int!,$after:String){refund(id:$id){refundLineItems(first:$first,after:$after){nodes{id quantity lineItem{id variant{id}} location{id}}pageInfo{hasNextPage endCursor}}}}";

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
            endpoint: format!(
                "{base}/admin/api/{}/graphql.json",
                config.shopify_api_version
            ),
            token: token.to_string(),
            bucket: Mutex::new(None),
            locations: Mutex::new(None),
            config: config.clone(),
            stitched: Mutex::new(None),
        })
    }

    /// How many nodes to ask for: what fits the single-query limit, fewer
    /// when the bucket holds less (but never below a quarter of that: the
    /// query then waits for the bucket to refill).
    fn page_size(&self, per_node: f64, overhead: f64) -> i64 {
        let full = fit(per_node, overhead);
        let Some(b) = *self.bucket.lock().unwrap() else {
            return full;
        };
        let available = b.now().min(MAX_QUERY_COST);
        let fits = ((available - overhead - 2.0) / per_node).floor() as i64;
        fits.clamp((full / 4).max(1), full)
    }

    /// Waits until the bucket (as last reported) holds `cost`.
    fn wait_for(&self, cost: f64, deadline: Instant, what: &str) -> Result<(), SyncError> {
        let Some(b) = *self.bucket.lock().unwrap() else {
            return Ok(());
        };
        // A bucket smaller than the query lets it run once full.
        let short = cost.min(b.maximum) - b.now();
        if short <= 0.0 {
            return Ok(());
        }
        let wait = Duration::from_secs_f64((short / b.restore.max(1.0)).clamp(0.01, 30.0));
        if Instant::now() + wait > deadline {
            return Err(SyncError::new(format!(
                "{what}: the shop's rate limit leaves too little to continue; the next sync goes on from here"
            )));
        }
        std::thread::sleep(wait);
        Ok(())
    }

    fn note_bucket(&self, v: &Value) {
        let t = &v["extensions"]["cost"]["throttleStatus"];
        if let (Some(available), Some(maximum), Some(restore)) = (
            t["currentlyAvailable"].as_f64(),
            t["maximumAvailable"].as_f64(),
            t["restoreRate"].as_f64(),
        ) {
            *self.bucket.lock().unwrap() = Some(Bucket {
                available,
                maximum,
                restore,
                at: Instant::now(),
            });
        }
    }

    /// Runs a query of requested cost `cost`; waits for the bucket first and
    /// out `THROTTLED` answers within the retry budget. Returns `data` and
    /// the answer's `Date` header.
    pub fn query(
        &self,
        what: &str,
        query: &str,
        variables: Value,
        cost: f64,
    ) -> Result<(Value, Option<String>), SyncError> {
        debug_assert!(cost <= MAX_QUERY_COST, "{what}: cost {cost}");
        let deadline = Instant::now() + self.http.budget();
        let body = json!({"query": query, "variables": variables});
        loop {
            self.wait_for(cost, deadline, what)?;
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
            self.note_bucket(&v);
            if let Some(errors) = v.get("errors").and_then(Value::as_array) {
                let throttled = errors
                    .iter()
                    .any(|e| e["extensions"]["code"] == "THROTTLED");
                if throttled {
                    let c = &v["extensions"]["cost"];
                    let requested = c["requestedQueryCost"].as_f64().unwrap_or(cost);
                    let available = c["throttleStatus"]["currentlyAvailable"]
                        .as_f64()
                        .unwrap_or(0.0);
                    let rate = c["throttleStatus"]["restoreRate"]
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

    /// Reads a nested connection of one object (`id`) from `after` (`None`:
    /// from its start) to its end, with `query` (variables `id`, `first`,
    /// `after`); `path` leads from `data` to the connection.
    fn rest_of(
        &self,
        what: &str,
        query: &str,
        id: &Value,
        path: &[&str],
        per_node: f64,
        after: Option<String>,
    ) -> Result<Vec<Value>, SyncError> {
        let mut out = Vec::new();
        let mut after = Some(after);
        while let Some(cursor) = after.take() {
            let first = fit(per_node, 1.0);
            let cost = 1.0 + 2.0 + first as f64 * per_node;
            let (data, _) = self.query(
                what,
                query,
                json!({"id": id, "first": first, "after": cursor}),
                cost,
            )?;
            let mut conn = &data;
            for p in path {
                conn = &conn[*p];
            }
            let (nodes, more, end) = connection(conn, what)?;
            out.extend(nodes.iter().cloned());
            if more {
                let end = end.ok_or_else(|| SyncError::malformed(what, "no `endCursor`"))?;
                after = Some(Some(end));
            }
        }
        Ok(out)
    }
}

/// The numeric tail of a global id (`gid://shopify/ProductVariant/12` → `12`).
pub fn gid(v: &Value) -> Option<String> {
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
pub(crate) struct Cursor {
    /// `updated_at` lower bound of the current pass.
    pub(crate) since: Option<String>,
    /// The shop's time when the current pass started.
    pub(crate) started: Option<String>,
    /// `pageInfo.endCursor` within the pass.
    pub(crate) after: Option<String>,
    /// The bulk operation that reads this pass, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bulk: Option<String>,
    /// Orders of the bulk operation's file stored so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) done: usize,
    /// Polls that found the operation still running.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) polls: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub(crate) fn http_date_to_rfc3339(d: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc2822(d).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// A connection's nodes, `hasNextPage` and `endCursor`.
fn connection<'a>(
    conn: &'a Value,
    what: &str,
) -> Result<(&'a Vec<Value>, bool, Option<String>), SyncError> {
    let nodes = conn["nodes"]
        .as_array()
        .ok_or_else(|| SyncError::malformed(what, "a connection without `nodes`"))?;
    let has_next = conn["pageInfo"]["hasNextPage"]
        .as_bool()
        .ok_or_else(|| SyncError::malformed(what, "no `pageInfo.hasNextPage`"))?;
    let end = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    Ok((nodes, has_next, end))
}

/// Locations as warehouse records.
pub(crate) fn warehouses(list: &[Value]) -> Vec<Value> {
    list.iter()
        .map(|n| {
            let mut m = Map::new();
            set(&mut m, "id", gid(&n["id"]).map(Value::String));
            set(&mut m, "name", Some(n["name"].clone()));
            set(&mut m, "updated_at", Some(n["updatedAt"].clone()));
            m.insert("removed".into(), Value::Bool(n["isActive"] == false));
            Value::Object(m)
        })
        .collect()
}

/// Product variants as vendor and variant records.
pub(crate) fn variants(list: &[Value], what: &str) -> Result<(Vec<Value>, Vec<Value>), SyncError> {
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
        let id = gid(&n["id"]).ok_or_else(|| SyncError::malformed(what, "a variant without id"))?;
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
    Ok((vendors, items))
}

/// One variant's inventory levels as stock records.
pub(crate) fn stock(variant: &str, levels: &[Value], what: &str) -> Result<Vec<Value>, SyncError> {
    let mut items = Vec::new();
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
                what,
                "an inventory level without location",
            ));
        };
        let mut m = Map::new();
        m.insert("variant_id".into(), Value::String(variant.to_string()));
        m.insert("warehouse_id".into(), Value::String(location));
        m.insert("on_hand".into(), json!(on_hand));
        m.insert("allocated".into(), json!((on_hand - available).max(0)));
        set(&mut m, "updated_at", Some(l["updatedAt"].clone()));
        items.push(Value::Object(m));
    }
    Ok(items)
}

/// One order, read whole: its lines and every refund with all its lines.
#[derive(Debug, Default, Clone)]
pub struct WholeOrder {
    /// The order node (scalars, `fulfillments`).
    pub order: Value,
    /// All line items.
    pub lines: Vec<Value>,
    /// All refunds (`id`, `createdAt`, `processedAt`) with all their lines.
    pub refunds: Vec<(Value, Vec<Value>)>,
}

/// An order as sales order records: the sale, and one return per refund.
pub fn order_records(o: &WholeOrder, what: &str) -> Result<Vec<Value>, SyncError> {
    let n = &o.order;
    let id = gid(&n["id"]).ok_or_else(|| SyncError::malformed(what, "an order without id"))?;
    let cancelled = !n["cancelledAt"].is_null();
    let warehouse = n["fulfillments"]
        .as_array()
        .and_then(|f| f.iter().find_map(|f| gid(&f["location"]["id"])));
    // Refunded quantity and price per line item.
    let mut refunded: HashMap<String, i64> = HashMap::new();
    for (_, lines) in &o.refunds {
        for l in lines {
            if let Some(li) = gid(&l["lineItem"]["id"]) {
                *refunded.entry(li).or_default() += l["quantity"].as_i64().unwrap_or(0);
            }
        }
    }
    let mut prices: HashMap<String, Value> = HashMap::new();
    let mut lines = Vec::new();
    for l in &o.lines {
        let Some(variant) = gid(&l["variant"]["id"]) else {
            continue;
        };
        let line_id =
            gid(&l["id"]).ok_or_else(|| SyncError::malformed(what, "a line without id"))?;
        let quantity = l["quantity"].as_i64().unwrap_or(0);
        let current = l["currentQuantity"].as_i64().unwrap_or(quantity);
        let back = refunded.get(&line_id).copied().unwrap_or(0);
        // Order edits remove what is neither current nor refunded.
        let removed = (quantity - current - back).max(0);
        let price = l["originalUnitPriceSet"]["shopMoney"]["amount"].clone();
        prices.insert(line_id.clone(), price.clone());
        let mut m = Map::new();
        m.insert("id".into(), Value::String(line_id));
        m.insert("variant_id".into(), Value::String(variant));
        m.insert("quantity".into(), json!(quantity - removed));
        set(&mut m, "unit_price", Some(price));
        lines.push(Value::Object(m));
    }
    let mut out = Vec::new();
    if lines.is_empty() {
        return Ok(out);
    }
    let head = |m: &mut Map<String, Value>| {
        set(m, "currency", Some(n["currencyCode"].clone()));
        m.insert("cancelled".into(), Value::Bool(cancelled));
        set(m, "updated_at", Some(n["updatedAt"].clone()));
    };
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.clone()));
    m.insert("ordered_at".into(), n["createdAt"].clone());
    set(&mut m, "warehouse_id", warehouse.clone().map(Value::String));
    head(&mut m);
    m.insert("lines".into(), Value::Array(lines));
    out.push(Value::Object(m));
    for (r, rlines) in &o.refunds {
        let rid = gid(&r["id"]).ok_or_else(|| SyncError::malformed(what, "a refund without id"))?;
        let mut returned = Vec::new();
        let mut location = None;
        for (i, l) in rlines.iter().enumerate() {
            let Some(variant) = gid(&l["lineItem"]["variant"]["id"]) else {
                continue;
            };
            let qty = l["quantity"].as_i64().unwrap_or(0);
            if qty == 0 {
                continue;
            }
            location = location.or_else(|| gid(&l["location"]["id"]));
            let line_item = gid(&l["lineItem"]["id"]).unwrap_or_default();
            let line_id = gid(&l["id"]).unwrap_or_else(|| format!("{line_item}-{i}"));
            let mut m = Map::new();
            m.insert("id".into(), Value::String(line_id));
            m.insert("variant_id".into(), Value::String(variant));
            m.insert("quantity".into(), json!(-qty));
            set(&mut m, "unit_price", prices.get(&line_item).cloned());
            returned.push(Value::Object(m));
        }
        if returned.is_empty() {
            continue;
        }
        let at = if r["createdAt"].is_null() {
            r["processedAt"].clone()
        } else {
            r["createdAt"].clone()
        };
        let mut m = Map::new();
        m.insert("id".into(), Value::String(format!("{id}-R{rid}")));
        m.insert("ordered_at".into(), at);
        set(
            &mut m,
            "warehouse_id",
            location.or(warehouse.clone()).map(Value::String),
        );
        head(&mut m);
        m.insert("lines".into(), Value::Array(returned));
        out.push(Value::Object(m));
    }
    Ok(out)
}

impl Shopify {
    /// Completes an order node of an [`ORDERS`] page: the rest of its line
    /// items, of its refunds and of each refund's lines.
    fn whole(&self, what: &str, n: &Value) -> Result<WholeOrder, SyncError> {
        let (first, more, end) = connection(&n["lineItems"], what)?;
        let mut lines = first.clone();
        if more {
            lines.extend(self.rest_of(
                what,
                MORE_LINES,
                &n["id"],
                &["order", "lineItems"],
                LINE_COST,
                end,
            )?);
        }
        let page_refunds = n["refunds"]
            .as_array()
            .ok_or_else(|| SyncError::malformed(what, "an order without `refunds`"))?;
        let mut refunds: Vec<(Value, Option<Value>)> = page_refunds
            .iter()
            .map(|r| (r.clone(), Some(r["refundLineItems"].clone())))
            .collect();
        if page_refunds.len() as i64 >= REFUNDS {
            // The page may hold only some: read the order's list whole.
            let (data, _) = self.query(
                what,
                ALL_REFUNDS,
                json!({"id": n["id"]}),
                1.0 + MAX_FIRST as f64,
            )?;
            let all = data["order"]["refunds"]
                .as_array()
                .ok_or_else(|| SyncError::malformed(what, "an order without `refunds`"))?;
            for r in all {
                if !refunds.iter().any(|(p, _)| p["id"] == r["id"]) {
                    refunds.push((r.clone(), None));
                }
            }
        }
        let mut whole = Vec::new();
        for (r, conn) in refunds {
            let rlines = match conn {
                Some(conn) => {
                    let (first, more, end) = connection(&conn, what)?;
                    let mut all = first.clone();
                    if more {
                        all.extend(self.rest_of(
                            what,
                            REFUND_LINES_QUERY,
                            &r["id"],
                            &["refund", "refundLineItems"],
                            REFUND_LINE_COST,
                            end,
                        )?);
                    }
                    all
                }
                None => self.rest_of(
                    what,
                    REFUND_LINES_QUERY,
                    &r["id"],
                    &["refund", "refundLineItems"],
                    REFUND_LINE_COST,
                    None,
                )?,
            };
            whole.push((r, rlines));
        }
        Ok(WholeOrder {
            order: n.clone(),
            lines,
            refunds: whole,
        })
    }
}

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
        if stream == Entity::SalesOrders {
            if c.bulk.is_some() {
                return bulk::next_page(self, &what, c);
            }
            let first_pass = c.since.is_none() && c.after.is_none() && c.started.is_none();
            if first_pass && bulk::wanted(self, &what, self.config.shopify_bulk_orders)? {
                return bulk::start(self, &what, c);
            }
        }
        let incremental = matches!(stream, Entity::Variants | Entity::SalesOrders);
        let levels = self.locations.lock().unwrap().unwrap_or(10).clamp(1, 50);
        let (q, root, per_node) = match stream {
            Entity::Warehouses => (LOCATIONS, "locations", 1.0),
            Entity::Variants => (VARIANTS, "productVariants", VARIANT_COST),
            Entity::Stock => (LEVELS, "productVariants", level_variant_cost(levels)),
            _ => (ORDERS, "orders", order_cost(LINES, REFUNDS, REFUND_LINES)),
        };
        let first = self.page_size(per_node, 0.0);
        let cost = 2.0 + first as f64 * per_node;
        let mut vars = json!({"first": first, "after": c.after});
        if incremental {
            if let Some(since) = &c.since {
                vars["query"] = Value::String(format!("updated_at:>='{since}'"));
            }
        }
        match stream {
            Entity::Stock => vars["levels"] = json!(levels),
            Entity::SalesOrders => {
                vars["lines"] = json!(LINES);
                vars["refunds"] = json!(REFUNDS);
                vars["refundLines"] = json!(REFUND_LINES);
            }
            _ => {}
        }
        let (data, date) = self.query(&what, q, vars, cost)?;
        if c.started.is_none() {
            c.started = date.as_deref().and_then(http_date_to_rfc3339);
        }
        let (list, has_next, end) = connection(&data[root], &what)?;
        let mut batches = Vec::new();
        match stream {
            Entity::Warehouses => {
                let mut seen = self.locations.lock().unwrap();
                *seen = Some(seen.unwrap_or(0) + list.len() as i64);
                batches.push((Entity::Warehouses, warehouses(list).into()));
            }
            Entity::Variants => {
                let (vendors, items) = variants(list, &what)?;
                batches.push((Entity::Vendors, vendors.into()));
                batches.push((Entity::Variants, items.into()));
            }
            Entity::Stock => {
                let mut items = Vec::new();
                for n in list {
                    let variant = gid(&n["id"])
                        .ok_or_else(|| SyncError::malformed(&what, "a variant without id"))?;
                    let item = &n["inventoryItem"];
                    let (first, more, end) = connection(&item["inventoryLevels"], &what)?;
                    let mut levels = first.clone();
                    if more {
                        levels.extend(self.rest_of(
                            &what,
                            MORE_LEVELS,
                            &item["id"],
                            &["inventoryItem", "inventoryLevels"],
                            LEVEL_COST,
                            end,
                        )?);
                    }
                    items.extend(stock(&variant, &levels, &what)?);
                }
                batches.push((Entity::Stock, items.into()));
            }
            _ => {
                let mut items = Vec::new();
                for n in list {
                    let whole = self.whole(&what, n)?;
                    items.extend(order_records(&whole, &what)?);
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
                ..Cursor::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_quarterly_releases() {
        assert!(is_api_version(API_VERSION));
        assert!(is_api_version("2025-10"));
        assert!(!is_api_version("2026-11"));
        assert!(!is_api_version("26-10"));
        assert!(!is_api_version("latest"));
    }

    #[test]
    fn every_page_fits_the_single_query_limit() {
        for per in [
            1.0,
            VARIANT_COST,
            level_variant_cost(50),
            order_cost(LINES, REFUNDS, REFUND_LINES),
        ] {
            let n = fit(per, 0.0);
            assert!(2.0 + n as f64 * per <= MAX_QUERY_COST, "{per} × {n}");
            assert!(2.0 + (n + 1) as f64 * per > MAX_QUERY_COST || n == MAX_FIRST);
        }
        assert_eq!(fit(LINE_COST, 1.0), 249);
    }

    fn order(lines: Value, refunds: Vec<(Value, Vec<Value>)>) -> WholeOrder {
        WholeOrder {
            order: json!({"id": "gid://shopify/Order/7", "createdAt": "2026-11-01T10:00:00Z",
                "updatedAt": "2026-11-03T10:00:00Z", "cancelledAt": null, "currencyCode": "EUR",
                "fulfillments": [{"location": {"id": "gid://shopify/Location/2"}}]}),
            lines: lines.as_array().unwrap().clone(),
            refunds,
        }
    }

    #[test]
    fn refunds_are_returns_and_edits_reduce_the_line() {
        let lines = json!([
            {"id": "gid://shopify/LineItem/1", "quantity": 5, "currentQuantity": 3,
             "variant": {"id": "gid://shopify/ProductVariant/9"},
             "originalUnitPriceSet": {"shopMoney": {"amount": "4.0"}}},
            {"id": "gid://shopify/LineItem/2", "quantity": 4, "currentQuantity": 1,
             "variant": {"id": "gid://shopify/ProductVariant/8"},
             "originalUnitPriceSet": {"shopMoney": {"amount": "2.0"}}}
        ]);
        // Line 1: 2 refunded (5 − 3 − 2 = 0 removed); line 2: 3 removed.
        let refund = (
            json!({"id": "gid://shopify/Refund/44", "createdAt": "2026-11-05T08:00:00Z"}),
            vec![
                json!({"id": "gid://shopify/RefundLineItem/1", "quantity": 2,
                "lineItem": {"id": "gid://shopify/LineItem/1", "variant": {"id": "gid://shopify/ProductVariant/9"}},
                "location": {"id": "gid://shopify/Location/1"}}),
            ],
        );
        let out = order_records(&order(lines, vec![refund]), "t").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["warehouse_id"], "2");
        assert_eq!(out[0]["lines"][0]["quantity"], 5);
        assert_eq!(out[0]["lines"][1]["quantity"], 1);
        assert_eq!(out[1]["id"], "7-R44");
        assert_eq!(out[1]["ordered_at"], "2026-11-05T08:00:00Z");
        assert_eq!(out[1]["warehouse_id"], "1");
        assert_eq!(out[1]["lines"][0]["quantity"], -2);
        assert_eq!(out[1]["lines"][0]["unit_price"], "4.0");
    }
}
