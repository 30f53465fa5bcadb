//! A fake Shopify shop: `POST /admin/api/{version}/graphql.json` with
//! `X-Shopify-Access-Token`, as strict as the real Admin API where the
//! connector depends on it:
//!
//! - every query is checked against Shopify's published Admin schema of the
//!   version asked for (fields, arguments, required arguments, connection
//!   sizes; see [`super::graphql`]); an unknown version is a 404;
//! - its requested cost is computed by Shopify's rules and a query over
//!   1,000 points is refused with `MAX_COST_EXCEEDED` as Shopify words it;
//! - a leaky bucket (maximum, restore rate per second) is charged the
//!   requested cost up front and refunded down to the actual cost; a query
//!   requesting more than is available is answered `THROTTLED`; every answer
//!   carries `extensions.cost` with the `throttleStatus`;
//! - answers are the shop's full objects projected onto the query, with
//!   connections cut by `first`/`after`, searches by `updated_at:>=`;
//! - bulk operations: `bulkOperationRunQuery` (its query checked against the
//!   schema too, `groupObjects` required as in 2026-10), `bulkOperation(id:)`
//!   `RUNNING` on the first poll then `COMPLETED` with a `url`, and the JSONL
//!   file at that url (children with `__parentId`, after all parents);
//!   `ordersCount`;
//!
//! plus the injectable faults of [`super::Fault`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::graphql::{actual_cost, error, Request, VERSION};
use super::{listener, Fault, Faults, Shared};

/// A line item.
#[derive(Debug, Clone)]
pub struct Line {
    /// Id (global id tail).
    pub id: i64,
    /// Variant (`None`: a custom item).
    pub variant: Option<i64>,
    /// Units ordered, refunded and removed ones included.
    pub quantity: i64,
    /// Units ordered less refunded and removed ones.
    pub current: i64,
    /// Unit price.
    pub price: &'static str,
}

/// A refund of some lines.
#[derive(Debug, Clone)]
pub struct Refund {
    /// Id.
    pub id: i64,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// (line item id, quantity, restock location).
    pub lines: Vec<(i64, i64, Option<i64>)>,
}

/// An order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Id.
    pub id: i64,
    /// Created.
    pub created: DateTime<Utc>,
    /// Last updated.
    pub updated: DateTime<Utc>,
    /// Whether cancelled.
    pub cancelled: bool,
    /// Line items.
    pub lines: Vec<Line>,
    /// Refunds.
    pub refunds: Vec<Refund>,
    /// Location of its fulfilment, if fulfilled.
    pub location: Option<i64>,
}

/// A product variant with its inventory levels.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Id (its inventory item has id + 100000).
    pub id: i64,
    /// SKU.
    pub sku: String,
    /// Last updated.
    pub updated: DateTime<Utc>,
    /// (location, available, on hand).
    pub levels: Vec<(i64, i64, i64)>,
}

/// The leaky bucket.
pub struct Bucket {
    /// Points held at `at`.
    pub available: f64,
    /// Size.
    pub maximum: f64,
    /// Points restored per second.
    pub restore: f64,
    /// When `available` was measured.
    pub at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        self.available = (self.available
            + self.restore * now.duration_since(self.at).as_secs_f64())
        .min(self.maximum);
        self.at = now;
    }

    fn status(&self) -> Value {
        json!({"maximumAvailable": self.maximum, "currentlyAvailable": self.available.floor(),
            "restoreRate": self.restore})
    }
}

/// The shop's data.
pub struct Shop {
    /// Location ids (all active).
    pub locations: Vec<i64>,
    /// Variants.
    pub variants: Vec<Variant>,
    /// Orders.
    pub orders: Vec<Order>,
    /// Faults.
    pub faults: Faults,
    /// The bucket.
    pub bucket: Bucket,
    /// Every query's requested cost, in order.
    pub costs: Vec<f64>,
    /// `first` of every root connection asked, per resource.
    pub firsts: Vec<(String, i64)>,
    /// Bulk operations run: (JSONL file, polls so far).
    pub bulk: Vec<(String, usize)>,
    /// The fake's base URL.
    pub addr: String,
}

impl Shop {
    /// The sales lines and quantity a sync must store: each line of a
    /// variant (its quantity less what edits removed) and each refunded
    /// line (negative), which sum to the lines' current quantities.
    pub fn expected_sales(&self) -> (i64, i64) {
        let mut lines = 0;
        let mut qty = 0;
        for o in &self.orders {
            let variant_lines: Vec<&Line> =
                o.lines.iter().filter(|l| l.variant.is_some()).collect();
            if variant_lines.is_empty() {
                continue;
            }
            lines += variant_lines.len() as i64;
            qty += variant_lines.iter().map(|l| l.current).sum::<i64>();
            for r in &o.refunds {
                lines += r
                    .lines
                    .iter()
                    .filter(|(li, q, _)| {
                        *q != 0 && o.lines.iter().any(|l| l.id == *li && l.variant.is_some())
                    })
                    .count() as i64;
            }
        }
        (lines, qty)
    }

    /// Sales order records a sync must store: one per order with a variant
    /// line, one per refund of such lines.
    pub fn expected_orders(&self) -> i64 {
        self.orders
            .iter()
            .filter(|o| o.lines.iter().any(|l| l.variant.is_some()))
            .map(|o| 1 + o.refunds.iter().filter(|r| !r.lines.is_empty()).count() as i64)
            .sum()
    }
}

/// A running fake.
pub struct FakeShopify {
    /// Base URL (the API base to configure).
    pub addr: String,
    /// Its data and faults.
    pub shop: Shared<Shop>,
}

/// The access token the fake accepts.
pub const TOKEN: &str = "shpat_test_token";

impl FakeShopify {
    /// A shop of 2 locations, `variants` variants stocked in both, and
    /// `orders` orders of two variant lines (quantity 1) and a custom line.
    pub fn start(variants: i64, orders: i64) -> FakeShopify {
        let t = Utc::now() - chrono::Duration::days(1);
        let created = DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = variants.max(1);
        FakeShopify::with(Shop {
            locations: vec![1, 2],
            variants: (1..=variants)
                .map(|i| Variant {
                    id: i,
                    sku: format!("SKU-{i}"),
                    updated: t,
                    levels: vec![(1, 10, 12), (2, 3, 3)],
                })
                .collect(),
            orders: (1..=orders)
                .map(|id| Order {
                    id,
                    created,
                    updated: t,
                    cancelled: false,
                    lines: vec![
                        Line {
                            id: id * 10 + 1,
                            variant: Some((id % n) + 1),
                            quantity: 1,
                            current: 1,
                            price: "19.90",
                        },
                        Line {
                            id: id * 10 + 2,
                            variant: Some(((id + 1) % n) + 1),
                            quantity: 1,
                            current: 1,
                            price: "5",
                        },
                        Line {
                            id: id * 10 + 3,
                            variant: None,
                            quantity: 1,
                            current: 1,
                            price: "2",
                        },
                    ],
                    refunds: vec![],
                    location: None,
                })
                .collect(),
            faults: Faults::default(),
            bucket: Bucket {
                available: 20_000.0,
                maximum: 20_000.0,
                restore: 1_000.0,
                at: Instant::now(),
            },
            costs: vec![],
            firsts: vec![],
            bulk: vec![],
            addr: String::new(),
        })
    }

    /// A fake serving `shop`.
    pub fn with(shop: Shop) -> FakeShopify {
        let shop = Arc::new(Mutex::new(shop));
        let data = shop.clone();
        let (l, addr) = listener();
        shop.lock().unwrap().addr = addr.clone();
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .app_data(web::JsonConfig::default().limit(1 << 20))
                .route("/admin/api/{version}/graphql.json", web::post().to(graphql))
                .route("/bulk/{n}.jsonl", web::get().to(bulk_file))
        })
        .workers(1)
        .listen(l)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        FakeShopify { addr, shop }
    }
}

fn gid(kind: &str, id: i64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

fn tail(v: &Value) -> Option<i64> {
    v.as_str()?.rsplit('/').next()?.parse().ok()
}

fn since(q: &Value) -> Option<DateTime<Utc>> {
    let q = q.as_str()?;
    let s = q.strip_prefix("updated_at:>=")?.trim_matches('\'');
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn location(id: i64) -> Value {
    json!({"id": gid("Location", id), "name": if id == 1 { "Warehouse".to_string() } else { format!("Shop {id}") },
        "isActive": true, "updatedAt": "2026-01-01T00:00:00Z"})
}

fn inventory_item(v: &Variant) -> Value {
    json!({"id": gid("InventoryItem", v.id + 100_000), "tracked": true, "unitCost": {"amount": "7.5", "currencyCode": "EUR"},
        "inventoryLevels": v.levels.iter().map(|(loc, available, on_hand)| json!({
            "id": gid("InventoryLevel", v.id * 100 + loc), "updatedAt": v.updated.to_rfc3339(),
            "location": location(*loc),
            "quantities": [{"name": "available", "quantity": available}, {"name": "on_hand", "quantity": on_hand}]
        })).collect::<Vec<_>>()})
}

fn variant(v: &Variant) -> Value {
    let id = v.id;
    json!({"id": gid("ProductVariant", id), "sku": v.sku, "barcode": null, "title": "Default Title",
        "price": "19.90", "updatedAt": v.updated.to_rfc3339(), "inventoryItem": inventory_item(v),
        "product": {"id": gid("Product", id), "title": format!("Product {id}"),
            "vendor": if id % 2 == 0 { "Acme" } else { "Globex" }, "productType": "Shirts",
            "tags": ["summer"], "status": "ACTIVE"}})
}

fn line(l: &Line) -> Value {
    json!({"id": gid("LineItem", l.id), "quantity": l.quantity, "currentQuantity": l.current,
        "variant": l.variant.map(|v| json!({"id": gid("ProductVariant", v)})),
        "originalUnitPriceSet": {"shopMoney": {"amount": l.price, "currencyCode": "EUR"},
            "presentmentMoney": {"amount": l.price, "currencyCode": "EUR"}}})
}

fn refund(o: &Order, r: &Refund) -> Value {
    json!({"id": gid("Refund", r.id), "createdAt": r.at.to_rfc3339(), "processedAt": r.at.to_rfc3339(),
        "refundLineItems": r.lines.iter().enumerate().map(|(i, (li, q, loc))| {
            let l = o.lines.iter().find(|l| l.id == *li).expect("refunded line");
            json!({"id": gid("RefundLineItem", r.id * 1000 + i as i64), "quantity": q, "lineItem": line(l),
                "location": loc.map(location), "restockType": if loc.is_some() { "RETURN" } else { "NO_RESTOCK" },
                "restocked": loc.is_some()})
        }).collect::<Vec<_>>()})
}

fn order(o: &Order) -> Value {
    json!({"id": gid("Order", o.id), "createdAt": o.created.to_rfc3339(), "updatedAt": o.updated.to_rfc3339(),
        "cancelledAt": if o.cancelled { json!(o.updated.to_rfc3339()) } else { Value::Null },
        "currencyCode": "EUR",
        "fulfillments": o.location.map(|l| vec![json!({"id": gid("Fulfillment", o.id), "location": location(l)})]).unwrap_or_default(),
        "lineItems": o.lines.iter().map(line).collect::<Vec<_>>(),
        "refunds": o.refunds.iter().map(|r| refund(o, r)).collect::<Vec<_>>()})
}

/// Of a root connection's items, only the page asked for is built (the
/// others are placeholders that paging skips).
fn window<T>(items: Vec<T>, args: &dyn Fn(&str) -> Value, build: impl Fn(T) -> Value) -> Value {
    let first = args("first").as_u64().unwrap_or(250) as usize;
    let first = if first == 0 { usize::MAX } else { first };
    let start = args("after")
        .as_str()
        .and_then(|c| c.strip_prefix("cur"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    Value::Array(
        items
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                if i >= start && i < start + first {
                    build(x)
                } else {
                    Value::Null
                }
            })
            .collect(),
    )
}

/// The full value of a root field, and the resource it counts as.
fn resolve(
    s: &Shop,
    name: &str,
    args: &dyn Fn(&str) -> Value,
    wants_levels: bool,
) -> (Value, &'static str) {
    match name {
        "locations" => (
            Value::Array(s.locations.iter().map(|l| location(*l)).collect()),
            "locations",
        ),
        "productVariants" => {
            let from = since(&args("query"));
            let all: Vec<&Variant> = s
                .variants
                .iter()
                .filter(|v| from.is_none_or(|f| v.updated >= f))
                .collect();
            (
                window(all, args, variant),
                if wants_levels { "levels" } else { "variants" },
            )
        }
        "inventoryItem" => {
            let id = tail(&args("id")).unwrap_or(0) - 100_000;
            let v = s.variants.iter().find(|v| v.id == id);
            (v.map(inventory_item).unwrap_or(Value::Null), "levels")
        }
        "orders" => {
            let from = since(&args("query"));
            let all: Vec<&Order> = s
                .orders
                .iter()
                .filter(|o| from.is_none_or(|f| o.updated >= f))
                .collect();
            (window(all, args, order), "orders")
        }
        "order" => {
            let id = tail(&args("id"));
            let o = s.orders.iter().find(|o| Some(o.id) == id);
            (o.map(order).unwrap_or(Value::Null), "orders")
        }
        "refund" => {
            let id = tail(&args("id"));
            let found = s.orders.iter().find_map(|o| {
                o.refunds
                    .iter()
                    .find(|r| Some(r.id) == id)
                    .map(|r| refund(o, r))
            });
            (found.unwrap_or(Value::Null), "orders")
        }
        "ordersCount" => {
            let limit = args("limit").as_u64().unwrap_or(10_000) as usize;
            let n = s.orders.len();
            (
                json!({"count": n.min(limit), "precision": if n > limit { "AT_LEAST" } else { "EXACT" }}),
                "other",
            )
        }
        "bulkOperation" => {
            let n = tail(&args("id")).unwrap_or(0) as usize;
            let Some((_, polls)) = s.bulk.get(n.wrapping_sub(1)) else {
                return (Value::Null, "bulk");
            };
            let done = *polls > 1;
            (
                json!({"id": gid("BulkOperation", n as i64), "status": if done { "COMPLETED" } else { "RUNNING" },
                    "errorCode": null, "objectCount": "0", "partialDataUrl": null,
                    "url": if done { json!(format!("{}/bulk/{n}.jsonl", s.addr)) } else { Value::Null }}),
                "bulk",
            )
        }
        _ => (Value::Null, "other"),
    }
}

async fn bulk_file(shop: web::Data<Shared<Shop>>, n: web::Path<usize>) -> HttpResponse {
    let s = shop.lock().unwrap();
    match s.bulk.get(n.into_inner().wrapping_sub(1)) {
        Some((file, _)) => HttpResponse::Ok()
            .content_type("application/jsonl")
            .body(file.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

/// Starts a bulk operation: its query is checked like any other; its file
/// is written at once (served after the first poll).
fn run_bulk(s: &mut Shop, query: &Value) -> Value {
    let refused = |message: String| json!({"bulkOperation": null, "userErrors": [{"field": ["query"], "message": message}]});
    let Some(q) = query.as_str() else {
        return refused("no query".into());
    };
    let mut request = match Request::parse(q, json!({})) {
        Ok(r) => r,
        Err(e) => return refused(e["message"].as_str().unwrap_or_default().to_string()),
    };
    request.bulk = true;
    if let Err(errors) = request.check() {
        return refused(
            errors[0]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let (_, sel) = request.operation();
    let root = match sel.items.first() {
        Some(graphql_parser::query::Selection::Field(f)) => f.name.clone(),
        _ => return refused("no connection".into()),
    };
    let all: Vec<Value> = match root.as_str() {
        "orders" => s.orders.iter().map(order).collect(),
        "productVariants" => s.variants.iter().map(variant).collect(),
        _ => return refused(format!("{root} is not served by this fake")),
    };
    let file: String = request
        .bulk_lines(&all)
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    s.bulk.push((file, 0));
    json!({"bulkOperation": {"id": gid("BulkOperation", s.bulk.len() as i64), "status": "CREATED"}, "userErrors": []})
}

fn answer(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.to_string())
}

async fn graphql(
    shop: web::Data<Shared<Shop>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if req
        .headers()
        .get("X-Shopify-Access-Token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return HttpResponse::Unauthorized()
            .json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}));
    }
    if path.into_inner() != VERSION {
        return HttpResponse::NotFound().json(json!({"errors": "Not Found"}));
    }
    let query = body["query"].as_str().unwrap_or_default().to_string();
    let request = match Request::parse(&query, body["variables"].clone()) {
        Ok(r) => r,
        Err(e) => return answer(json!({"errors": [e]})),
    };
    let cost = match request.check() {
        Ok(c) => c,
        Err(errors) => return answer(json!({"errors": errors})),
    };
    shop.lock().unwrap().costs.push(cost);
    if cost > 1000.0 {
        return answer(json!({"errors": [{
            "message": format!("Query cost is {cost}, which exceeds the single query max cost limit (1000).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"),
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": 1000,
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}]}));
    }
    let (_, sel) = request.operation();
    let root = match sel.items.first() {
        Some(graphql_parser::query::Selection::Field(f)) => f.clone(),
        _ => return answer(json!({"errors": [error("No root field".into(), "parseError")]})),
    };
    let wants_levels = query.contains("inventoryLevels");
    let resource = match root.name.as_str() {
        "locations" => "locations",
        "productVariants" if wants_levels => "levels",
        "productVariants" => "variants",
        "inventoryItem" => "levels",
        "orders" | "order" | "refund" => "orders",
        "bulkOperation" | "bulkOperationRunQuery" => "bulk",
        _ => "other",
    };
    let fault = shop.lock().unwrap().faults.take(resource);
    let throttled = |s: &Shop| {
        json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
            "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": null,
                "throttleStatus": s.bucket.status()}}})
    };
    match fault {
        Some(Fault::TooMany(s)) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", s.to_string()))
                .json(json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}))
        }
        Some(Fault::ServerError) => {
            return HttpResponse::InternalServerError().json(json!({"errors": "Internal error"}))
        }
        Some(Fault::Throttled) => {
            let mut s = shop.lock().unwrap();
            s.bucket.refill();
            s.bucket.available = (cost - 50.0).max(0.0);
            return answer(throttled(&s));
        }
        Some(Fault::Slow(ms)) => actix_web::rt::time::sleep(Duration::from_millis(ms)).await,
        Some(Fault::Change) => {
            let mut s = shop.lock().unwrap();
            // The first order changes (a line quantity) after it was read.
            if let Some(o) = s.orders.first_mut() {
                o.updated = Utc::now();
                for l in &mut o.lines {
                    l.quantity += 1;
                    l.current += 1;
                }
            }
        }
        _ => {}
    }
    let mut s = shop.lock().unwrap();
    s.bucket.refill();
    if cost > s.bucket.available {
        return answer(throttled(&s));
    }
    s.bucket.available -= cost;
    if let Some(n) = request.arg(&root, "first").as_i64() {
        if matches!(
            root.name.as_str(),
            "orders" | "productVariants" | "locations"
        ) {
            s.firsts.push((resource.to_string(), n));
        }
    }
    let mut data = serde_json::Map::new();
    let mut full = serde_json::Map::new();
    let (mutation, _) = request.operation();
    for item in &sel.items {
        if let graphql_parser::query::Selection::Field(f) = item {
            let v = if f.name == "bulkOperationRunQuery" {
                run_bulk(&mut s, &request.arg(f, "query"))
            } else {
                let args = |n: &str| request.arg(f, n);
                let v = resolve(&s, &f.name, &args, wants_levels).0;
                if f.name == "bulkOperation" {
                    let n = tail(&request.arg(f, "id")).unwrap_or(0) as usize;
                    if let Some(op) = s.bulk.get_mut(n.wrapping_sub(1)) {
                        op.1 += 1;
                    }
                }
                v
            };
            full.insert(f.name.clone(), v);
        }
    }
    let root_type = if mutation { "Mutation" } else { "QueryRoot" };
    let projected = request.project(sel, root_type, &Value::Object(full));
    if let Value::Object(m) = projected {
        data = m;
    }
    let data = Value::Object(data);
    let actual = actual_cost(&data);
    s.bucket.available = (s.bucket.available + cost - actual).min(s.bucket.maximum);
    let body = json!({"data": data, "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": actual,
        "throttleStatus": s.bucket.status()}}})
    .to_string();
    if matches!(fault, Some(Fault::Truncated)) {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(body[..body.len() / 2].to_string());
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}
