//! A fake WooCommerce shop: `GET /wp-json/wc/v3/products`,
//! `/products/{id}/variations` and `/orders` with Basic authentication,
//! `page`/`per_page`, `orderby=id`, `modified_after`, `X-WP-Total` and
//! `X-WP-TotalPages`, and the injectable faults.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{listener, Fault, Faults, Shared};

/// The consumer key the fake accepts.
pub const KEY: &str = "ck_test";
/// The consumer secret the fake accepts.
pub const SECRET: &str = "cs_test";

/// The shop's data.
pub struct Store {
    /// Simple products: (id, modified); every third is variable with two
    /// variations (ids id*1000+1, id*1000+2).
    pub products: Vec<(i64, DateTime<Utc>)>,
    /// Orders: (id, modified, quantity per line).
    pub orders: Vec<(i64, DateTime<Utc>, i64)>,
    /// Faults.
    pub faults: Faults,
}

/// A running fake.
pub struct FakeWoo {
    /// Base URL (the connection's `base_url`).
    pub addr: String,
    /// Its data.
    pub store: Shared<Store>,
}

impl FakeWoo {
    /// A shop with `products` products and `orders` orders.
    pub fn start(n_products: i64, n_orders: i64) -> FakeWoo {
        let t = Utc::now() - chrono::Duration::days(1);
        let store = Arc::new(Mutex::new(Store {
            products: (1..=n_products).map(|i| (i, t)).collect(),
            orders: (1..=n_orders).map(|i| (i, t, 2)).collect(),
            faults: Faults::default(),
        }));
        let data = store.clone();
        let (l, addr) = listener();
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .route("/wp-json/wc/v3/products", web::get().to(products))
                .route(
                    "/wp-json/wc/v3/products/{id}/variations",
                    web::get().to(variations),
                )
                .route("/wp-json/wc/v3/orders", web::get().to(orders))
        })
        .workers(1)
        .listen(l)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        FakeWoo { addr, store }
    }
}

fn authorised(req: &HttpRequest) -> bool {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    );
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(want.as_str())
}

fn gmt(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn paged(items: Vec<Value>, q: &web::Query<Vec<(String, String)>>) -> HttpResponse {
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let per: usize = get("per_page").and_then(|v| v.parse().ok()).unwrap_or(10);
    let page: usize = get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let total = items.len();
    let pages = total.div_ceil(per).max(1);
    let out: Vec<Value> = items.into_iter().skip((page - 1) * per).take(per).collect();
    HttpResponse::Ok()
        .insert_header(("X-WP-Total", total.to_string()))
        .insert_header(("X-WP-TotalPages", pages.to_string()))
        .json(out)
}

fn modified_after(q: &web::Query<Vec<(String, String)>>) -> Option<DateTime<Utc>> {
    let v = q.iter().find(|(k, _)| k == "modified_after")?.1.clone();
    chrono::NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

fn fault_answer(store: &Shared<Store>, resource: &str) -> Option<HttpResponse> {
    let fault = store.lock().unwrap().faults.take(resource);
    match fault? {
        Fault::TooMany(s) => Some(
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", s.to_string()))
                .finish(),
        ),
        Fault::ServerError => Some(HttpResponse::InternalServerError().json(
            json!({"code": "internal_server_error", "message": "There has been a critical error on this website."}),
        )),
        Fault::Truncated => Some(
            HttpResponse::Ok()
                .insert_header(("X-WP-TotalPages", "1"))
                .content_type("application/json")
                .body("[{\"id\": 1, \"name\": \"Trunc"),
        ),
        _ => None,
    }
}

async fn products(
    store: web::Data<Shared<Store>>,
    req: HttpRequest,
    q: web::Query<Vec<(String, String)>>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().json(json!({"code": "woocommerce_rest_cannot_view"}));
    }
    if let Some(r) = fault_answer(&store, "products") {
        return r;
    }
    let after = modified_after(&q);
    let s = store.lock().unwrap();
    let items: Vec<Value> = s
        .products
        .iter()
        .filter(|p| after.is_none_or(|a| p.1 > a))
        .map(|(id, at)| {
            let variable = id % 3 == 0;
            json!({"id": id, "name": format!("Product {id}"), "sku": format!("WOO-{id}"),
                "type": if variable { "variable" } else { "simple" }, "status": "publish",
                "price": "12.50", "manage_stock": !variable, "stock_quantity": if variable { Value::Null } else { json!(5) },
                "date_modified_gmt": gmt(at), "categories": [{"id": 9, "name": "Mugs"}], "tags": [],
                "variations": if variable { json!([id * 1000 + 1, id * 1000 + 2]) } else { json!([]) }})
        })
        .collect();
    paged(items, &q)
}

async fn variations(
    store: web::Data<Shared<Store>>,
    req: HttpRequest,
    path: web::Path<i64>,
    q: web::Query<Vec<(String, String)>>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    if let Some(r) = fault_answer(&store, "variations") {
        return r;
    }
    let id = path.into_inner();
    let s = store.lock().unwrap();
    let at = s
        .products
        .iter()
        .find(|p| p.0 == id)
        .map(|p| p.1)
        .unwrap_or_else(Utc::now);
    let items = (1..=2)
        .map(|k| {
            json!({"id": id * 1000 + k, "sku": format!("WOO-{id}-{k}"), "price": "14", "status": "publish",
                "manage_stock": true, "stock_quantity": 7, "date_modified_gmt": gmt(&at),
                "attributes": [{"name": "Size", "option": if k == 1 { "S" } else { "L" }}]})
        })
        .collect();
    paged(items, &q)
}

async fn orders(
    store: web::Data<Shared<Store>>,
    req: HttpRequest,
    q: web::Query<Vec<(String, String)>>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    if let Some(r) = fault_answer(&store, "orders") {
        return r;
    }
    let after = modified_after(&q);
    let s = store.lock().unwrap();
    let items: Vec<Value> = s
        .orders
        .iter()
        .filter(|o| after.is_none_or(|a| o.1 > a))
        .map(|(id, at, qty)| {
            let p = (id % 5) + 1;
            json!({"id": id, "status": "completed", "currency": "EUR",
                "date_created_gmt": "2026-11-02T09:00:00", "date_modified_gmt": gmt(at),
                "line_items": [{"id": id * 10, "product_id": p, "variation_id": if p % 3 == 0 { p * 1000 + 1 } else { 0 },
                    "quantity": qty, "price": 12.5}]})
        })
        .collect();
    paged(items, &q)
}
