//! A fake Shopify shop: `POST /admin/api/{version}/graphql.json` answering
//! the `locations`, `productVariants` (with and without inventory levels)
//! and `orders` connections the connector asks for, with `first`/`after`
//! cursors, the `updated_at:>=` search filter, `X-Shopify-Access-Token`,
//! `extensions.cost` and the injectable faults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{listener, Fault, Faults, Shared};

/// The shop's data.
pub struct Shop {
    /// Variants: (id, sku, updated_at).
    pub variants: Vec<(i64, String, DateTime<Utc>)>,
    /// Orders: (id, updated_at, quantity of each of its two lines).
    pub orders: Vec<(i64, DateTime<Utc>, i64)>,
    /// Faults.
    pub faults: Faults,
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
    /// A shop with `variants` variants and `orders` orders.
    pub fn start(variants: i64, orders: i64) -> FakeShopify {
        let t = Utc::now() - chrono::Duration::days(1);
        let shop = Arc::new(Mutex::new(Shop {
            variants: (1..=variants).map(|i| (i, format!("SKU-{i}"), t)).collect(),
            orders: (1..=orders).map(|i| (i, t, 1)).collect(),
            faults: Faults::default(),
        }));
        let data = shop.clone();
        let (l, addr) = listener();
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .route("/admin/api/{version}/graphql.json", web::post().to(graphql))
        })
        .workers(1)
        .listen(l)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        FakeShopify { addr, shop }
    }
}

fn page<T: Clone>(all: &[T], vars: &Value) -> (Vec<T>, bool, Option<String>) {
    let first = vars["first"].as_u64().unwrap_or(50) as usize;
    let start = vars["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("cur"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let items: Vec<T> = all.iter().skip(start).take(first).cloned().collect();
    let end = start + items.len();
    (items, end < all.len(), Some(format!("cur{end}")))
}

fn since(vars: &Value) -> Option<DateTime<Utc>> {
    let q = vars["query"].as_str()?;
    let s = q.split("'").nth(1)?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn graphql(
    shop: web::Data<Shared<Shop>>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    if req
        .headers()
        .get("X-Shopify-Access-Token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return HttpResponse::Unauthorized()
            .json(json!({"errors": "[API] Invalid API key or access token"}));
    }
    let query = body["query"].as_str().unwrap_or_default().to_string();
    let vars = body["variables"].clone();
    let resource = if query.contains("locations(") {
        "locations"
    } else if query.contains("inventoryLevels") {
        "levels"
    } else if query.contains("productVariants(") {
        "variants"
    } else {
        "orders"
    };
    let fault = shop.lock().unwrap().faults.take(resource);
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
            return HttpResponse::Ok().json(json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": 102, "actualQueryCost": null,
                    "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 52, "restoreRate": 100.0}}}
            }))
        }
        Some(Fault::Slow(ms)) => actix_web::rt::time::sleep(Duration::from_millis(ms)).await,
        Some(Fault::Change) => {
            let mut s = shop.lock().unwrap();
            // The first order changes (a line quantity) after it was read.
            if let Some(o) = s.orders.first_mut() {
                o.1 = Utc::now();
                o.2 += 1;
            }
        }
        _ => {}
    }
    let s = shop.lock().unwrap();
    let data = match resource {
        "locations" => json!({"locations": {
            "nodes": [
                {"id": "gid://shopify/Location/1", "name": "Warehouse", "isActive": true, "updatedAt": "2026-01-01T00:00:00Z"},
                {"id": "gid://shopify/Location/2", "name": "Shop floor", "isActive": true, "updatedAt": "2026-01-01T00:00:00Z"}
            ],
            "pageInfo": {"hasNextPage": false, "endCursor": "cur2"}}}),
        "variants" | "levels" => {
            let from = since(&vars);
            let all: Vec<_> = s
                .variants
                .iter()
                .filter(|v| resource == "levels" || from.is_none_or(|f| v.2 >= f))
                .cloned()
                .collect();
            let (items, more, end) = page(&all, &vars);
            let nodes: Vec<Value> = items
                .iter()
                .map(|(id, sku, at)| {
                    if resource == "levels" {
                        json!({"id": format!("gid://shopify/ProductVariant/{id}"),
                            "inventoryItem": {"inventoryLevels": {"nodes": [
                                {"updatedAt": at.to_rfc3339(), "location": {"id": "gid://shopify/Location/1"},
                                 "quantities": [{"name": "available", "quantity": 10}, {"name": "on_hand", "quantity": 12}]},
                                {"updatedAt": at.to_rfc3339(), "location": {"id": "gid://shopify/Location/2"},
                                 "quantities": [{"name": "available", "quantity": 3}, {"name": "on_hand", "quantity": 3}]}
                            ]}}})
                    } else {
                        json!({"id": format!("gid://shopify/ProductVariant/{id}"), "sku": sku,
                            "barcode": null, "title": "Default Title", "price": "19.90",
                            "updatedAt": at.to_rfc3339(),
                            "inventoryItem": {"tracked": true, "unitCost": {"amount": "7.5"}},
                            "product": {"id": format!("gid://shopify/Product/{id}"), "title": format!("Product {id}"),
                                "vendor": if id % 2 == 0 { "Acme" } else { "Globex" }, "productType": "Shirts",
                                "tags": ["summer"], "status": "ACTIVE"}})
                    }
                })
                .collect();
            json!({"productVariants": {"nodes": nodes, "pageInfo": {"hasNextPage": more, "endCursor": end}}})
        }
        _ => {
            let from = since(&vars);
            let all: Vec<_> = s
                .orders
                .iter()
                .filter(|o| from.is_none_or(|f| o.1 >= f))
                .cloned()
                .collect();
            let (items, more, end) = page(&all, &vars);
            let n = s.variants.len() as i64;
            let nodes: Vec<Value> = items
                .iter()
                .map(|(id, at, q)| {
                    json!({"id": format!("gid://shopify/Order/{id}"), "createdAt": "2026-11-01T10:00:00Z",
                        "updatedAt": at.to_rfc3339(), "cancelledAt": null, "currencyCode": "EUR",
                        "lineItems": {"nodes": [
                            {"id": format!("gid://shopify/LineItem/{id}1"), "quantity": q,
                             "variant": {"id": format!("gid://shopify/ProductVariant/{}", (id % n) + 1)},
                             "originalUnitPriceSet": {"shopMoney": {"amount": "19.90", "currencyCode": "EUR"}}},
                            {"id": format!("gid://shopify/LineItem/{id}2"), "quantity": q,
                             "variant": {"id": format!("gid://shopify/ProductVariant/{}", ((id + 1) % n) + 1)},
                             "originalUnitPriceSet": {"shopMoney": {"amount": "5", "currencyCode": "EUR"}}},
                            {"id": format!("gid://shopify/LineItem/{id}3"), "quantity": 1, "variant": null,
                             "originalUnitPriceSet": {"shopMoney": {"amount": "2", "currencyCode": "EUR"}}}
                        ]}})
                })
                .collect();
            json!({"orders": {"nodes": nodes, "pageInfo": {"hasNextPage": more, "endCursor": end}}})
        }
    };
    let body = json!({"data": data, "extensions": {"cost": {"requestedQueryCost": 52, "actualQueryCost": 12,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1988, "restoreRate": 100.0}}}})
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
