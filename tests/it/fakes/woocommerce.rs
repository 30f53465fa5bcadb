//! A fake WooCommerce shop: `GET /wp-json/wc/v3/products`,
//! `/products/{id}/variations`, `/orders` and `/orders/{id}/refunds` with
//! Basic authentication, held to the REST v3 documentation: `page` and
//! `per_page` (1 to 100, else 400 `rest_invalid_param`), `orderby=id`,
//! `status` (one of the documented statuses or `any`), `modified_after` read
//! in the site's time zone (UTC+2 here) unless `dates_are_gmt=true`,
//! `X-WP-Total` and `X-WP-TotalPages`, orders listing their `refunds`, refund
//! line items with negative quantities; and the injectable faults.

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
    /// Refunds of an order's one line: (order, refund id, when, quantity).
    pub refunds: Vec<(i64, i64, DateTime<Utc>, i64)>,
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
            refunds: Vec::new(),
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
                .route("/wp-json/wc/v3/orders/{id}/refunds", web::get().to(refunds))
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

/// The site's time zone: `modified_after` without `dates_are_gmt=true` is
/// read in it.
const SITE_OFFSET_HOURS: i64 = 2;

fn site_time(t: &DateTime<Utc>) -> String {
    (*t + chrono::Duration::hours(SITE_OFFSET_HOURS))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn invalid(param: &str, why: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"code": "rest_invalid_param",
        "message": format!("Invalid parameter(s): {param}"),
        "data": {"status": 400, "params": {param: why}, "details": {}}}))
}

/// What every list checks: `per_page` between 1 and 100.
fn check_list(q: &web::Query<Vec<(String, String)>>) -> Option<HttpResponse> {
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    if let Some(p) = get("per_page") {
        if !p.parse::<i64>().is_ok_and(|n| (1..=100).contains(&n)) {
            return Some(invalid(
                "per_page",
                "per_page must be between 1 (inclusive) and 100 (inclusive)",
            ));
        }
    }
    if let Some(p) = get("page") {
        if !p.parse::<i64>().is_ok_and(|n| n >= 1) {
            return Some(invalid("page", "page must be greater than or equal to 1"));
        }
    }
    None
}

/// The sales lines and quantity a sync must store: each order's line and
/// each refunded line (negative).
impl Store {
    /// (lines, quantity) expected in the sales order lines.
    pub fn expected_sales(&self) -> (i64, i64) {
        let lines = self.orders.len() as i64 + self.refunds.len() as i64;
        let qty = self.orders.iter().map(|o| o.2).sum::<i64>()
            - self.refunds.iter().map(|r| r.3).sum::<i64>();
        (lines, qty)
    }
}

fn paged(items: Vec<Value>, q: &web::Query<Vec<(String, String)>>) -> HttpResponse {
    if let Some(bad) = check_list(q) {
        return bad;
    }
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
    let gmt = q.iter().any(|(k, v)| k == "dates_are_gmt" && v == "true");
    if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S").ok()?;
    let utc = naive.and_utc();
    Some(if gmt {
        utc
    } else {
        utc - chrono::Duration::hours(SITE_OFFSET_HOURS)
    })
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
    const STATUSES: &[&str] = &[
        "any",
        "trash",
        "auto-draft",
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
        "checkout-draft",
    ];
    for (k, v) in q.iter() {
        if k == "status" && !v.split(',').all(|s| STATUSES.contains(&s)) {
            return invalid(
                "status",
                &format!("status[0] is not one of {}.", STATUSES.join(", ")),
            );
        }
    }
    let after = modified_after(&q);
    let s = store.lock().unwrap();
    let items: Vec<Value> = s
        .orders
        .iter()
        .filter(|o| after.is_none_or(|a| o.1 > a))
        .map(|(id, at, qty)| {
            let p = (id % 5) + 1;
            let refunds: Vec<Value> = s
                .refunds
                .iter()
                .filter(|r| r.0 == *id)
                .map(|r| json!({"id": r.1, "reason": "", "total": format!("-{:.2}", 12.5 * r.3 as f64)}))
                .collect();
            json!({"id": id, "status": "completed", "currency": "EUR",
                "date_created": "2026-11-02T11:00:00", "date_created_gmt": "2026-11-02T09:00:00",
                "date_modified": site_time(at), "date_modified_gmt": gmt(at),
                "line_items": [{"id": id * 10, "product_id": p, "variation_id": if p % 3 == 0 { p * 1000 + 1 } else { 0 },
                    "quantity": qty, "price": 12.5}],
                "refunds": refunds})
        })
        .collect();
    paged(items, &q)
}

async fn refunds(
    store: web::Data<Shared<Store>>,
    req: HttpRequest,
    path: web::Path<i64>,
    q: web::Query<Vec<(String, String)>>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    if let Some(r) = fault_answer(&store, "refunds") {
        return r;
    }
    let id = path.into_inner();
    let s = store.lock().unwrap();
    if !s.orders.iter().any(|o| o.0 == id) {
        return HttpResponse::NotFound()
            .json(json!({"code": "woocommerce_rest_shop_order_invalid_id",
            "message": "Invalid ID.", "data": {"status": 404}}));
    }
    let p = (id % 5) + 1;
    let items: Vec<Value> = s
        .refunds
        .iter()
        .filter(|r| r.0 == id)
        .map(|(_, rid, at, qty)| {
            json!({"id": rid, "date_created": site_time(at), "date_created_gmt": gmt(at),
                "amount": format!("{:.2}", 12.5 * *qty as f64), "reason": "", "refunded_by": 1,
                "refunded_payment": false,
                "line_items": [{"id": rid * 10, "name": format!("Product {p}"), "product_id": p,
                    "variation_id": if p % 3 == 0 { p * 1000 + 1 } else { 0 }, "quantity": -qty,
                    "subtotal": format!("-{:.2}", 12.5 * *qty as f64), "total": format!("-{:.2}", 12.5 * *qty as f64),
                    "price": -12.5, "meta_data": [{"id": rid * 10 + 1, "key": "_refunded_item_id", "value": (id * 10).to_string()}]}]})
        })
        .collect();
    paged(items, &q)
}
