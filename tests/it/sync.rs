//! Sync: read feeds, `POST /api/v1/accounts/{id}/sync`, the connectors
//! against a second tributary server and fake Shopify and WooCommerce shops
//! with injected faults, and exact totals after each (nothing lost, nothing
//! doubled).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary::db::models::records::{record_counts, RecordCounts};

use crate::fakes::shopify::FakeShopify;
use crate::fakes::woocommerce::FakeWoo;
use crate::fakes::Fault;
use crate::helpers::assert_error;
use crate::TestApp;

/// A server whose sync retries give up quickly.
async fn fast_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.sync.retry_seconds = 4;
        c.sync.timeout_seconds = 1;
        c.sync.page_size = 7;
    })
    .await
}

async fn put(app: &TestApp, token: &str, id: &str, entity: &str, body: Value) {
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/{entity}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{entity}: {b}");
}

/// Fills a child with 2 warehouses, 1 vendor, `n` variants, their stock and
/// `n` sales orders of two lines.
async fn fill(app: &TestApp, token: &str, id: &str, n: usize) {
    put(
        app,
        token,
        id,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}, {"id": "W2", "name": "Shop"}]),
    )
    .await;
    put(
        app,
        token,
        id,
        "vendors",
        json!([{"id": "ACME", "name": "Acme", "lead_time_days": 10, "minimum_order_quantity": "12.5"}]),
    )
    .await;
    let variants: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("V{i}"), "sku": format!("SKU-{i}"), "title": format!("Item {i}"),
            "vendor_id": "ACME", "cost_price": 2.25, "tags": ["a", "b"],
            "vendors": [{"vendor_id": "ACME", "cost_price": "2.5", "pack_size": 6}],
            "updated_at": "2026-11-01T00:00:00Z"})
        })
        .collect();
    put(app, token, id, "variants", Value::Array(variants)).await;
    let stock: Vec<Value> = (0..n)
        .map(|i| json!({"variant_id": format!("V{i}"), "warehouse_id": if i % 2 == 0 { "W1" } else { "W2" },
            "on_hand": 10 + i, "allocated": 1, "updated_at": "2026-11-20T00:00:00Z"}))
        .collect();
    put(app, token, id, "stock", Value::Array(stock)).await;
    let orders: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("O{i}"), "ordered_at": "2026-11-10T12:00:00Z", "warehouse_id": "W1",
            "currency": "EUR", "updated_at": "2026-11-10T12:00:00Z",
            "lines": [{"id": "1", "variant_id": format!("V{i}"), "quantity": 2, "unit_price": 9.5},
                      {"id": "2", "variant_id": format!("V{}", (i + 1) % n), "quantity": -1}]}))
        .collect();
    put(app, token, id, "sales-orders", Value::Array(orders)).await;
    put(
        app,
        token,
        id,
        "stock-orders",
        json!([{"id": "PO1", "kind": "purchase", "status": "active", "vendor_id": "ACME",
            "destination_warehouse_id": "W1", "expected_at": "2026-12-10",
            "lines": [{"variant_id": "V0", "quantity": 24, "unit_cost": 2.1}]}]),
    )
    .await;
}

async fn api_key(app: &TestApp, token: &str) -> String {
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(token),
            Some(json!({"name": "pull", "read_only": true})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["key"].as_str().unwrap().to_string()
}

async fn create(app: &TestApp, token: &str, name: &str, connection: Value) -> String {
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/accounts",
            Some(token),
            Some(json!({"name": name, "currency": "EUR", "connection": connection})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

/// Starts a sync and waits for its end; returns the job.
async fn sync(app: &TestApp, token: &str, id: &str) -> Value {
    let (s, b) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{id}/sync"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    wait_job(app, token, b["job_id"].as_str().unwrap()).await
}

async fn wait_job(app: &TestApp, token: &str, job: &str) -> Value {
    let started = Instant::now();
    loop {
        let (s, b) = app
            .call("GET", &format!("/api/v1/jobs/{job}"), Some(token), None)
            .await;
        assert_eq!(s, 200, "{b}");
        if !matches!(b["status"].as_str(), Some("queued" | "running")) {
            return b;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "job did not finish: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn counts(app: &TestApp, id: &str) -> RecordCounts {
    let db = app.state.db.clone();
    let id = id.to_string();
    actix_web::web::block(move || record_counts(&mut db.conn().unwrap(), &id).unwrap())
        .await
        .unwrap()
}

/// Sum of the sales line quantities and number of lines of an account.
async fn sales_total(app: &TestApp, id: &str) -> (i64, f64) {
    use diesel::prelude::*;
    use tributary::db::schema::sales_order_lines as l;
    let db = app.state.db.clone();
    let id = id.to_string();
    actix_web::web::block(move || {
        let q: Vec<String> = l::table
            .filter(l::account_id.eq(&id))
            .select(l::quantity)
            .load(&mut db.conn().unwrap())
            .unwrap();
        (
            q.len() as i64,
            q.iter().map(|s| s.parse::<f64>().unwrap()).sum(),
        )
    })
    .await
    .unwrap()
}

async fn feed_all(app: &TestApp, token: &str, id: &str, entity: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/accounts/{id}/{entity}?limit={limit}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (s, b) = app.call("GET", &path, Some(token), None).await;
        assert_eq!(s, 200, "{b}");
        let items = b["items"].as_array().unwrap().clone();
        if items.is_empty() {
            assert!(b["next"].is_null(), "{b}");
            return out;
        }
        out.extend(items);
        after = Some(b["next"].as_str().unwrap().to_string());
    }
}

#[actix_web::test]
async fn feeds_page_in_change_order_with_import_fields() {
    let app = TestApp::spawn().await;
    let token = app.admin("Source").await;
    let id = app.create_child(&token, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&app, &token, &id, 5).await;
    let variants = feed_all(&app, &token, &id, "variants", 2).await;
    assert_eq!(variants.len(), 5);
    assert_eq!(variants[0]["cost_price"], json!(2.25));
    assert_eq!(variants[0]["vendors"][0]["cost_price"], json!(2.5));
    assert_eq!(variants[0]["tags"], json!(["a", "b"]));
    let orders = feed_all(&app, &token, &id, "sales-orders", 1000).await;
    assert_eq!(orders.len(), 5);
    assert_eq!(orders[0]["lines"].as_array().unwrap().len(), 2);
    assert_eq!(orders[0]["lines"][1]["quantity"], json!(-1));
    // A back-dated change and a removal come after everything else.
    put(
        &app,
        &token,
        &id,
        "variants",
        json!([{"id": "V0", "sku": "SKU-0", "removed": true, "updated_at": "2026-11-02T00:00:00Z"}]),
    )
    .await;
    let (_, page) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/variants?limit=4"),
            Some(&token),
            None,
        )
        .await;
    let next = page["next"].as_str().unwrap();
    let rest = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/variants?after={next}"),
            Some(&token),
            None,
        )
        .await
        .1;
    assert_eq!(rest["items"][0]["id"], "V0");
    assert_eq!(rest["items"][0]["removed"], true);
    // Items re-import as they are (exact import fields).
    let other = app.create_child(&token, "Copy").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let whs = feed_all(&app, &token, &id, "warehouses", 10).await;
    put(&app, &token, &other, "warehouses", Value::Array(whs)).await;
    let (s, b) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/stock?limit=10001"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/stock?after=nonsense"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 422);
    assert_error(&b, "validation_failed");
}

#[actix_web::test]
async fn tributary_pull_is_incremental_and_idempotent() {
    let source = TestApp::spawn().await;
    let st = source.admin("Source").await;
    let src = source.create_child(&st, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&source, &st, &src, 30).await;
    let key = api_key(&source, &st).await;

    let app = fast_app().await;
    let token = app.admin("Puller").await;
    let child = create(
        &app,
        &token,
        "Remote",
        json!({"kind": "tributary", "base_url": source.addr, "account_id": src, "api_key": key}),
    )
    .await;
    // The secret never comes back.
    let (_, acc) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{child}"),
            Some(&token),
            None,
        )
        .await;
    assert!(!acc.to_string().contains(&key), "{acc}");

    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["accounts"][0]["account_id"], json!(child));
    assert_eq!(job["progress"]["done"], job["progress"]["total"]);
    let want = counts(&source, &src).await;
    assert_eq!(counts(&app, &child).await, want);
    assert_eq!(
        sales_total(&app, &child).await,
        sales_total(&source, &src).await
    );
    assert!(job["accounts"][0]["records"].as_u64().unwrap() > 90);

    // Again: nothing new is written.
    let again = sync(&app, &token, &child).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["accounts"][0]["records"], 0, "{again}");
    assert_eq!(counts(&app, &child).await, want);

    // A change (back-dated) and a removal at the source arrive, alone.
    put(
        &source,
        &st,
        &src,
        "sales-orders",
        json!([{"id": "O3", "ordered_at": "2026-11-10T12:00:00Z", "updated_at": "2026-11-11T00:00:00Z",
            "lines": [{"id": "1", "variant_id": "V3", "quantity": 7}]},
            {"id": "O4", "ordered_at": "2026-11-10T12:00:00Z", "removed": true, "updated_at": "2026-11-12T00:00:00Z",
            "lines": [{"id": "1", "variant_id": "V4", "quantity": 2}]}]),
    )
    .await;
    let third = sync(&app, &token, &child).await;
    assert_eq!(third["accounts"][0]["records"], 2, "{third}");
    assert_eq!(counts(&app, &child).await, counts(&source, &src).await);
    assert_eq!(
        sales_total(&app, &child).await,
        sales_total(&source, &src).await
    );
    // The account shows when it last synced.
    let (_, acc) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{child}"),
            Some(&token),
            None,
        )
        .await;
    assert!(acc["last_synced_at"].is_string(), "{acc}");
}

#[actix_web::test]
async fn a_stacked_master_pulls_every_included_child_prefixed() {
    let source = TestApp::spawn().await;
    let st = source.admin("Region").await;
    let a = source.create_child(&st, "North").await;
    let b = source.create_child(&st, "South").await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    fill(&source, &st, &a, 12).await;
    fill(&source, &st, &b, 9).await;
    let (_, acc) = source
        .call("GET", &format!("/api/v1/accounts/{b}"), Some(&st), None)
        .await;
    let master = acc["master_id"].as_str().unwrap().to_string();
    let key = api_key(&source, &st).await;
    let variants = feed_all(&source, &st, &master, "variants", 5).await;
    assert_eq!(variants.len(), 21);
    assert!(variants
        .iter()
        .all(|v| v["id"].as_str().unwrap().contains(':')));
    assert!(variants[0]["vendor_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{a}:")));

    let app = fast_app().await;
    let token = app.admin("Group").await;
    let child = create(
        &app,
        &token,
        "Region",
        json!({"kind": "tributary", "base_url": source.addr, "account_id": master, "api_key": key}),
    )
    .await;
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let got = counts(&app, &child).await;
    let want = counts(&source, &a).await + counts(&source, &b).await;
    assert_eq!(got, want);
    let again = sync(&app, &token, &child).await;
    assert_eq!(again["accounts"][0]["records"], 0, "{again}");
    assert_eq!(counts(&app, &child).await, want);
}

/// Settings for the large shops: a debug build of the fake answers a page of
/// them in well under these.
fn large_shop_config(api: String) -> impl FnOnce(&mut tributary::config::Config) {
    move |c| {
        c.sync.retry_seconds = 30;
        c.sync.timeout_seconds = 10;
        c.sync.shopify_api_base = api;
    }
}

fn shopify_app_config(api: String) -> impl FnOnce(&mut tributary::config::Config) {
    move |c| {
        c.sync.retry_seconds = 6;
        c.sync.timeout_seconds = 1;
        c.sync.shopify_api_base = api;
    }
}

#[actix_web::test]
async fn shopify_through_429_throttled_500_slow_and_changing_pages() {
    let shop = FakeShopify::start(250, 120);
    {
        let mut s = shop.shop.lock().unwrap();
        s.faults.push("variants", Fault::TooMany(1));
        s.faults.push("orders", Fault::Throttled);
        s.faults.push("levels", Fault::ServerError);
        s.faults.push("levels", Fault::Slow(1500));
        s.faults.push("orders", Fault::Slow(10));
        s.faults.push("orders", Fault::Change);
    }
    let app = TestApp::spawn_with(shopify_app_config(shop.addr.clone())).await;
    let token = app.admin("Shop").await;
    let child = create(
        &app,
        &token,
        "Shopify",
        json!({"kind": "shopify", "shop": "example.myshopify.com", "access_token": crate::fakes::shopify::TOKEN}),
    )
    .await;
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let c = counts(&app, &child).await;
    assert_eq!(c.warehouses, 2);
    assert_eq!(c.variants, 250);
    assert_eq!(c.stock_levels, 500);
    assert_eq!(c.sales_orders, 120);
    // Lines without a variant (custom items) are left out: two per order.
    let (lines, qty) = sales_total(&app, &child).await;
    assert_eq!(lines, 240);
    // The order changed while the pages were read is fixed by the next sync.
    let again = sync(&app, &token, &child).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    let (lines2, qty2) = sales_total(&app, &child).await;
    assert_eq!(lines2, 240);
    assert_eq!(qty2, 242.0, "first pass had {qty}");
    let third = sync(&app, &token, &child).await;
    assert_eq!(third["accounts"][0]["records"], 0, "{third}");
    assert_eq!(counts(&app, &child).await, c);
}

#[actix_web::test]
async fn a_truncated_page_fails_the_child_and_the_next_sync_resumes() {
    let shop = FakeShopify::start(150, 230);
    shop.shop
        .lock()
        .unwrap()
        .faults
        .push("orders", Fault::ServerError);
    let app = TestApp::spawn_with(shopify_app_config(shop.addr.clone())).await;
    let token = app.admin("Shop").await;
    let child = create(
        &app,
        &token,
        "Shopify",
        json!({"kind": "shopify", "shop": "example.myshopify.com", "access_token": crate::fakes::shopify::TOKEN}),
    )
    .await;
    // The second page of orders arrives cut off.
    {
        let mut s = shop.shop.lock().unwrap();
        s.faults.queue_after_first("orders", Fault::Truncated);
    }
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "failed", "{job}");
    let err = job["accounts"][0]["error"].as_str().unwrap();
    assert!(err.contains("not in its documented format"), "{err}");
    assert!(!err.contains(crate::fakes::shopify::TOKEN));
    // The first page of orders was stored, nothing of the second.
    let first_page = shop
        .shop
        .lock()
        .unwrap()
        .firsts
        .iter()
        .find(|(r, _)| r == "orders")
        .unwrap()
        .1;
    assert!(first_page < 230);
    assert_eq!(counts(&app, &child).await.sales_orders, first_page);
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let c = counts(&app, &child).await;
    assert_eq!(
        (c.variants, c.stock_levels, c.sales_orders),
        (150, 300, 230)
    );
    assert_eq!(sales_total(&app, &child).await, (460, 460.0));
}

#[actix_web::test]
async fn a_failed_child_leaves_the_others_and_the_job_partial() {
    let shop = FakeShopify::start(20, 10);
    let woo = FakeWoo::start(30, 150);
    woo.store
        .lock()
        .unwrap()
        .faults
        .push("orders", Fault::ServerError);
    {
        let mut s = shop.shop.lock().unwrap();
        for _ in 0..10 {
            s.faults.push("variants", Fault::Slow(1500));
        }
    }
    let app = TestApp::spawn_with(|c| {
        c.sync.retry_seconds = 3;
        c.sync.timeout_seconds = 1;
        c.sync.shopify_api_base = shop.addr.clone();
    })
    .await;
    let token = app.admin("Two shops").await;
    let s = create(
        &app,
        &token,
        "Shopify",
        json!({"kind": "shopify", "shop": "slow.myshopify.com", "access_token": crate::fakes::shopify::TOKEN}),
    )
    .await;
    let w = create(
        &app,
        &token,
        "Woo",
        json!({"kind": "woocommerce", "base_url": woo.addr, "consumer_key": crate::fakes::woocommerce::KEY,
            "consumer_secret": crate::fakes::woocommerce::SECRET}),
    )
    .await;
    let m = create(&app, &token, "Manual", json!({"kind": "manual"})).await;
    let (_, acc) = app
        .call("GET", &format!("/api/v1/accounts/{w}"), Some(&token), None)
        .await;
    let master = acc["master_id"].as_str().unwrap().to_string();
    let (s1, b1) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{master}/sync"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s1, 202);
    let (_, b2) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{master}/sync"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        b1["job_id"], b2["job_id"],
        "a second request gets the same job"
    );
    let job = wait_job(&app, &token, b1["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "partial", "{job}");
    let by = |id: &str| {
        job["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by(&s)["status"], "failed");
    assert!(
        by(&s)["error"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{job}"
    );
    assert_eq!(by(&w)["status"], "succeeded", "{job}");
    // A manual child has nothing to load, and says so.
    assert_eq!(by(&m)["status"], "skipped");
    assert_eq!(by(&m)["records"], 0);
    assert!(by(&m)["error"]
        .as_str()
        .unwrap()
        .contains("fed by CSV uploads and the API"));
    // WooCommerce: 20 simple products + 10 variable ones of two variations.
    let c = counts(&app, &w).await;
    assert_eq!(
        (c.warehouses, c.variants, c.stock_levels, c.sales_orders),
        (1, 40, 40, 150)
    );
    assert_eq!(sales_total(&app, &w).await, (150, 300.0));
    let again = sync(&app, &token, &w).await;
    assert_eq!(again["accounts"][0]["records"], 0, "{again}");
    // A changed order is pulled by the next sync.
    {
        let mut st = woo.store.lock().unwrap();
        st.orders[5].1 = chrono::Utc::now() + chrono::Duration::seconds(5);
        st.orders[5].2 = 9;
    }
    let third = sync(&app, &token, &w).await;
    assert_eq!(third["accounts"][0]["records"], 1, "{third}");
    assert_eq!(sales_total(&app, &w).await, (150, 307.0));
}

/// Private addresses are refused when a connection is saved (as are
/// credentials, a query or a fragment in its address) and again before a
/// sync; a host the operator names may be private.
#[actix_web::test]
async fn private_addresses_are_refused_at_save_and_at_sync_and_moving_a_connection_needs_its_secret(
) {
    let source = TestApp::spawn().await;
    let st = source.admin("Source").await;
    let src = source.create_child(&st, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = api_key(&source, &st).await;
    let app = TestApp::spawn_with(|c| c.sync.allow_private = false).await;
    let token = app.admin("Locked").await;
    let port = source.addr.rsplit(':').next().unwrap().to_string();
    for (base_url, says) in [
        (source.addr.clone(), "not public"),
        (format!("http://[::7f00:1]:{port}"), "not public"),
        (format!("http://localhost:{port}"), "not public"),
        (
            format!("http://127.0.0.1:{port}/internal/admin?token=abc&x="),
            "query",
        ),
        (format!("http://user:pw@127.0.0.1:{port}"), "user name"),
    ] {
        let (s, b) = app
            .call(
                "POST",
                "/api/v1/accounts",
                Some(&token),
                Some(json!({"name": "Remote", "currency": "EUR", "connection":
                    {"kind": "tributary", "base_url": base_url, "account_id": src, "api_key": key}})),
            )
            .await;
        assert_eq!(s, 422, "{base_url}: {b}");
        assert_error(&b, "validation_failed");
        assert_eq!(
            b["error"]["details"][0]["field"], "connection.base_url",
            "{b}"
        );
        assert!(b.to_string().contains(says), "{base_url}: {b}");
    }
    // Saved while it was allowed: the sync checks again.
    let org = app
        .add_user("second@locked.example", "correct horse", "Locked", "admin")
        .await
        .organisation_id;
    let db = app.state.db.clone();
    let state = app.state.clone();
    let input = tributary::services::accounts::NewChild {
        name: "Remote".into(),
        currency: "EUR".into(),
        timezone: None,
        connection: Some(
            json!({"kind": "tributary", "base_url": source.addr, "account_id": src, "api_key": key}),
        ),
    };
    let child = actix_web::web::block(move || {
        let mut permissive = state.config.sync.clone();
        permissive.allow_private = true;
        tributary::services::accounts::create_child(
            &mut db.conn().unwrap(),
            &org,
            &input,
            &state.secrets,
            &permissive,
        )
        .unwrap()
        .id
    })
    .await
    .unwrap();
    let token = app.token("second@locked.example", "correct horse").await;
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["accounts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not public"),
        "{job}"
    );
    // Another host without the key: 422 naming the key.
    let (s, b) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{child}"),
            Some(&token),
            Some(json!({"connection": {"kind": "tributary", "base_url": "https://elsewhere.example"}})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("connection.api_key"), "{b}");
    // A host the operator names may be private.
    let lan = TestApp::spawn_with(|c| {
        c.sync.allow_private = false;
        c.sync.private_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let token = lan.admin("Lan").await;
    let child = create(
        &lan,
        &token,
        "Remote",
        json!({"kind": "tributary", "base_url": source.addr, "account_id": src, "api_key": key}),
    )
    .await;
    let job = sync(&lan, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

#[actix_web::test]
async fn a_dead_workers_job_is_taken_over_and_resumes_from_the_cursor() {
    use diesel::prelude::*;
    use tributary::db::schema::jobs;
    let source = TestApp::spawn().await;
    let st = source.admin("Source").await;
    let src = source.create_child(&st, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&source, &st, &src, 20).await;
    let key = api_key(&source, &st).await;
    let app = fast_app().await;
    let token = app.admin("Puller").await;
    let child = create(
        &app,
        &token,
        "Remote",
        json!({"kind": "tributary", "base_url": source.addr, "account_id": src, "api_key": key}),
    )
    .await;
    // A first sync, then the source changes; a "dead" process holds a
    // running job with a lapsed lease.
    sync(&app, &token, &child).await;
    put(
        &source,
        &st,
        &src,
        "variants",
        json!([{"id": "V1", "sku": "SKU-1", "title": "Renamed"}]),
    )
    .await;
    let db = app.state.db.clone();
    let acc = child.clone();
    let job_id = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        let account = tributary::db::models::Account::find_by_id(&mut conn, &acc)
            .unwrap()
            .unwrap();
        let id = tributary::services::sync::enqueue(&mut conn, &account).unwrap();
        let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(120);
        diesel::update(jobs::table.find(&id))
            .set((
                jobs::status.eq("running"),
                jobs::lease_owner.eq(Some("wrk_dead")),
                jobs::lease_until.eq(Some(past)),
                jobs::attempts.eq(1),
            ))
            .execute(&mut conn)
            .unwrap();
        id
    })
    .await
    .unwrap();
    app.state.jobs.wake();
    let job = wait_job(&app, &token, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["accounts"][0]["records"], 1, "{job}");
    assert_eq!(counts(&app, &child).await, counts(&source, &src).await);
}

#[actix_web::test]
async fn two_servers_on_one_database_run_a_job_once() {
    use diesel::prelude::*;
    use tributary::db::schema::jobs;
    let source = TestApp::spawn().await;
    let st = source.admin("Source").await;
    let src = source.create_child(&st, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&source, &st, &src, 15).await;
    let key = api_key(&source, &st).await;
    let app = fast_app().await;
    // A second process: its own state (pool, worker) on the same database.
    let mut config = app.state.config.clone();
    config.sync.page_size = 3;
    let second = actix_web::web::block(move || tributary::startup::AppState::init(config))
        .await
        .unwrap()
        .unwrap();
    let token = app.admin("Puller").await;
    let child = create(
        &app,
        &token,
        "Remote",
        json!({"kind": "tributary", "base_url": source.addr, "account_id": src, "api_key": key}),
    )
    .await;
    let job = sync(&app, &token, &child).await;
    second.jobs.wake();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&app, &child).await, counts(&source, &src).await);
    let db = app.state.db.clone();
    let id = job["id"].as_str().unwrap().to_string();
    let attempts: i32 = actix_web::web::block(move || {
        jobs::table
            .find(&id)
            .select(jobs::attempts)
            .first(&mut db.conn().unwrap())
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(attempts, 1);
    drop(second);
}

fn attr(html: &str, marker: &str) -> String {
    let start = html.find(marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

#[actix_web::test]
async fn the_accounts_page_loads_all_connections_and_shows_each_childs_status() {
    let source = TestApp::spawn().await;
    let st = source.admin("Source").await;
    let src = source.create_child(&st, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&source, &st, &src, 6).await;
    let key = api_key(&source, &st).await;

    let app = fast_app().await;
    let token = app.admin("Acme").await;
    app.create_child(&token, "Manual shop").await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    app.form_login(
        &client,
        "admin@acme.example",
        "correct horse",
        Some("/accounts"),
    )
    .await;
    let html = client
        .get(app.url("/accounts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<h1>Accounts</h1>"), "{html}");
    let csrf = attr(&html, "data-csrf=\"");
    for kind in ["manual", "shopify", "woocommerce", "tributary"] {
        assert!(
            html.contains(&format!("<option value=\"{kind}\"")),
            "{kind}"
        );
    }
    // No inline script or handlers: the page's script is static/sync.js.
    assert!(html.contains("<script src=\"/static/sync.js\""));
    assert!(!html.contains("<script>") && !html.contains(" onclick="));
    // Add a tributary connection through the form.
    let resp = client
        .post(app.url("/accounts"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Remote"),
            ("currency", "EUR"),
            ("kind", "tributary"),
            ("tributary_base_url", source.addr.as_str()),
            ("account_id", src.as_str()),
            ("api_key", key.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = client
        .get(app.url("/accounts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Load data from all connections"));
    assert!(!html.contains(&key), "the API key is never shown");
    let master = attr(&html, "class=\"inline sync-form\" data-account-id=\"");
    // The button's script call: the API with the session cookie and the
    // page's CSRF token as a header.
    let resp = client
        .post(app.url(&format!("/api/v1/accounts/{master}/sync")))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let job: Value = resp.json().await.unwrap();
    let done = wait_job(&app, &token, job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["accounts"].as_array().unwrap().len(), 2);
    let html = client
        .get(app.url("/accounts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-status=\"succeeded\">succeeded: "),
        "{html}"
    );
    assert!(html.contains("class=\"sync-one\""));
    // Without script: the button's form.
    let resp = client
        .post(app.url(&format!("/accounts/{master}/sync")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("sync-progress"));
}

/// A `tributary` source that never ends: every warehouses page comes after
/// `delay` with one record and a new `next`. Records the `after` of each
/// request.
fn endless_source(delay: Duration) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use actix_web::{web, App, HttpResponse};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let (l, addr) = crate::fakes::listener();
    let server = actix_web::HttpServer::new(move || {
        let log = log.clone();
        App::new().route(
            "/api/v1/accounts/{id}/{entity}",
            web::get().to(
                move |path: web::Path<(String, String)>,
                      q: web::Query<std::collections::HashMap<String, String>>| {
                    let log = log.clone();
                    async move {
                        if path.1 != "warehouses" {
                            return HttpResponse::Ok().json(json!({"items": [], "next": null}));
                        }
                        let after = q.get("after").cloned().unwrap_or_default();
                        log.lock().unwrap().push(after.clone());
                        actix_web::rt::time::sleep(delay).await;
                        let n: u64 = after.parse().unwrap_or(0) + 1;
                        HttpResponse::Ok().json(json!({
                            "items": [{"id": format!("W{n}"), "name": format!("Warehouse {n}")}],
                            "next": n.to_string(),
                        }))
                    }
                },
            ),
        )
    })
    .workers(2)
    .listen(l)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    (addr, seen)
}

/// A slow, endless source in one organisation holds neither the other
/// organisation's plans nor its syncs: plans and syncs run in separate
/// pools, an organisation holds one sync worker at most, and the endless
/// sync stops at its time budget (`partial`) and resumes from its cursor.
#[actix_web::test]
async fn a_slow_endless_source_in_one_organisation_does_not_hold_up_another() {
    let (source, seen) = endless_source(Duration::from_millis(700));
    let app = TestApp::spawn_with(|c| {
        c.sync.retry_seconds = 4;
        c.sync.timeout_seconds = 5;
        c.sync.max_seconds = 15;
    })
    .await;
    let hostile = app.admin("Hostile").await;
    let slow = create(
        &app,
        &hostile,
        "Endless",
        json!({"kind": "tributary", "base_url": source, "account_id": "A1", "api_key": "k"}),
    )
    .await;
    let (s, b) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{slow}/sync"),
            Some(&hostile),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let slow_job = b["job_id"].as_str().unwrap().to_string();
    // The endless sync is running before the other organisation starts.
    let started = Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "never synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = app.admin("Other").await;
    let shop = app.create_child(&other, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&app, &other, &shop, 5).await;
    // Its plan and its sync are done while the endless sync still runs.
    let started = Instant::now();
    loop {
        let (s, b) = app
            .call(
                "GET",
                &format!("/api/v1/accounts/{shop}/order-plan"),
                Some(&other),
                None,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        if b["stale"] == false {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the other organisation's plan stayed stale: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = sync(&app, &other, &shop).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, still) = app
        .call(
            "GET",
            &format!("/api/v1/jobs/{slow_job}"),
            Some(&hostile),
            None,
        )
        .await;
    assert_eq!(still["status"], "running", "{still}");
    // The endless sync stops at its budget, partial, with what it stored.
    let job = wait_job(&app, &hostile, &slow_job).await;
    assert_eq!(job["status"], "partial", "{job}");
    assert_eq!(job["accounts"][0]["status"], "partial", "{job}");
    assert!(
        job["accounts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("the next sync continues"),
        "{job}"
    );
    let stored = counts(&app, &slow).await.warehouses;
    assert!(stored >= 3, "{stored} warehouses stored");
    let first_run = seen.lock().unwrap().len();
    // The next sync resumes from the stored cursor, not from the start.
    let (s, b) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{slow}/sync"),
            Some(&hostile),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let started = Instant::now();
    while seen.lock().unwrap().len() == first_run {
        assert!(started.elapsed() < Duration::from_secs(20), "not resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resumed_from = seen.lock().unwrap()[first_run].clone();
    assert_eq!(
        resumed_from,
        stored.to_string(),
        "{:?}",
        seen.lock().unwrap()
    );
}

/// Posts a query to a fake Shopify as the connector would.
async fn shopify_post(shop: &FakeShopify, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!(
            "{}/admin/api/{}/graphql.json",
            shop.addr,
            crate::fakes::graphql::VERSION
        ))
        .header("X-Shopify-Access-Token", crate::fakes::shopify::TOKEN)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_fake_shopify_holds_queries_to_the_schema_and_the_cost_limit() {
    let shop = FakeShopify::start(3, 3);
    // The queries the connector used to send: refused as Shopify refuses
    // them, at the cost the documented rules give.
    let old_orders = "query($first:Int!,$after:String,$query:String){orders(first:$first,after:$after,query:$query,sortKey:ID){nodes{id createdAt updatedAt cancelledAt currencyCode lineItems(first:250){nodes{id quantity variant{id} originalUnitPriceSet{shopMoney{amount}}}}}pageInfo{hasNextPage endCursor}}}";
    let b = shopify_post(&shop, old_orders, json!({"first": 100})).await;
    assert_eq!(
        b["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED",
        "{b}"
    );
    assert_eq!(b["errors"][0]["extensions"]["cost"], json!(100302.0), "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().starts_with(
        "Query cost is 100302, which exceeds the single query max cost limit (1000)."
    ));
    assert!(b.get("data").is_none());
    let old_levels = "query($first:Int!,$after:String){productVariants(first:$first,after:$after,sortKey:ID){nodes{id inventoryItem{inventoryLevels(first:50){nodes{updatedAt location{id} quantities(names:[\"available\",\"on_hand\"]){name quantity}}}}}pageInfo{hasNextPage endCursor}}}";
    let b = shopify_post(&shop, old_levels, json!({"first": 100})).await;
    assert_eq!(b["errors"][0]["extensions"]["cost"], json!(15402.0), "{b}");
    // The connector's own queries, at their largest page, fit.
    use tributary::connectors::shopify as s;
    let b = shopify_post(
        &shop,
        s::ORDERS,
        json!({"first": s::fit(s::order_cost(8, 1, 4), 0.0), "lines": 8, "refunds": 1, "refundLines": 4}),
    )
    .await;
    assert!(b["errors"].is_null(), "{b}");
    let requested = b["extensions"]["cost"]["requestedQueryCost"]
        .as_f64()
        .unwrap();
    assert!(requested <= 1000.0, "{requested}");
    assert!(b["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"].is_number());
    assert_eq!(b["data"]["orders"]["nodes"].as_array().unwrap().len(), 3);
    // Fields, arguments and sizes are checked against the published schema.
    let b = shopify_post(
        &shop,
        "{orders(first:5){nodes{id lineItems(first:5){nodes{sku_of_line}}}}}",
        json!({}),
    )
    .await;
    assert_eq!(
        b["errors"][0]["extensions"]["code"], "undefinedField",
        "{b}"
    );
    assert_eq!(
        b["errors"][0]["message"],
        "Field 'sku_of_line' doesn't exist on type 'LineItem'"
    );
    let b = shopify_post(
        &shop,
        "{orders(first:5, updatedSince:\"x\"){nodes{id}}}",
        json!({}),
    )
    .await;
    assert_eq!(
        b["errors"][0]["extensions"]["code"], "argumentNotAccepted",
        "{b}"
    );
    let b = shopify_post(&shop, "{orders{nodes{id}}}", json!({})).await;
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("first or last"),
        "{b}"
    );
    let b = shopify_post(&shop, "{orders(first:251){nodes{id}}}", json!({})).await;
    assert!(b["errors"].is_array(), "{b}");
    let b = shopify_post(&shop, "{inventoryItem{id}}", json!({})).await;
    assert_eq!(
        b["errors"][0]["extensions"]["code"], "missingRequiredArguments",
        "{b}"
    );
    // Another API version is not served.
    let r = reqwest::Client::new()
        .post(format!("{}/admin/api/2024-10/graphql.json", shop.addr))
        .header("X-Shopify-Access-Token", crate::fakes::shopify::TOKEN)
        .json(&json!({"query": "{shop{name}}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// 2 locations, 250 variants, 2,000 orders: one of 300 lines (part of it
/// returned in a refund of 6 lines), every 50th refunded in part (every
/// 100th twice, some restocked), one edited, one cancelled, a third
/// fulfilled from the second location.
fn large_shop(shop: &FakeShopify) {
    use crate::fakes::shopify::{Line, Refund};
    let mut s = shop.shop.lock().unwrap();
    let created = s.orders[0].created;
    let day = chrono::Duration::days(1);
    for o in s.orders.iter_mut() {
        let id = o.id;
        if id % 3 == 0 {
            o.location = Some(2);
        }
        if id % 50 == 0 {
            o.lines[0].quantity = 3;
            o.lines[0].current = 2;
            o.refunds.push(Refund {
                id: id * 10 + 1,
                at: created + day * 2,
                lines: vec![(o.lines[0].id, 1, (id % 100 == 0).then_some(2))],
            });
            if id % 100 == 0 {
                o.lines[1].quantity = 2;
                o.lines[1].current = 1;
                o.refunds.push(Refund {
                    id: id * 10 + 2,
                    at: created + day * 3,
                    lines: vec![(o.lines[1].id, 1, None)],
                });
            }
        }
    }
    let big = &mut s.orders[0];
    big.location = Some(1);
    big.lines = (0..300)
        .map(|i| Line {
            id: 100_000 + i,
            variant: Some(i % 250 + 1),
            quantity: 2,
            current: if i < 6 { 1 } else { 2 },
            price: "3.25",
        })
        .collect();
    big.refunds = vec![Refund {
        id: 77,
        at: created + day * 4,
        lines: (0..6).map(|i| (100_000 + i, 1, Some(2))).collect(),
    }];
    // Order 7 edited: two of its four units removed.
    s.orders[6].lines[0].quantity = 4;
    s.orders[6].lines[0].current = 2;
    s.orders[8].cancelled = true;
}

async fn shopify_child(app: &TestApp, token: &str) -> String {
    create(
        app,
        token,
        "Shopify",
        json!({"kind": "shopify", "shop": "example.myshopify.com", "access_token": crate::fakes::shopify::TOKEN}),
    )
    .await
}

async fn sales_orders_by_id(
    app: &TestApp,
    token: &str,
    id: &str,
) -> std::collections::HashMap<String, Value> {
    feed_all(app, token, id, "sales-orders", 1000)
        .await
        .into_iter()
        .map(|o| (o["id"].as_str().unwrap().to_string(), o))
        .collect()
}

#[actix_web::test]
async fn shopify_full_and_incremental_sync_of_a_large_shop_with_returns() {
    let shop = FakeShopify::start(250, 2000);
    large_shop(&shop);
    let app = TestApp::spawn_with(large_shop_config(shop.addr.clone())).await;
    let token = app.admin("Shop").await;
    let child = shopify_child(&app, &token).await;
    let started = Instant::now();
    let job = sync(&app, &token, &child).await;
    let took = started.elapsed();
    assert_eq!(job["status"], "succeeded", "{job}");
    let (want_lines, want_qty, want_orders, max_cost, queries) = {
        let s = shop.shop.lock().unwrap();
        let (l, q) = s.expected_sales();
        let max = s.costs.iter().cloned().fold(0.0, f64::max);
        (l, q, s.expected_orders(), max, s.costs.len())
    };
    eprintln!("full sync: {queries} queries, largest requested cost {max_cost}, {took:?}");
    assert!(max_cost <= 1000.0, "{max_cost}");
    let c = counts(&app, &child).await;
    assert_eq!((c.warehouses, c.variants, c.stock_levels), (2, 250, 500));
    assert_eq!(c.sales_orders, want_orders);
    assert_eq!(
        sales_total(&app, &child).await,
        (want_lines, want_qty as f64)
    );
    let orders = sales_orders_by_id(&app, &token, &child).await;
    // Nothing cut: all 300 lines, the refund of 6 lines on its own date.
    assert_eq!(orders["1"]["lines"].as_array().unwrap().len(), 300);
    assert_eq!(orders["1"]["warehouse_id"], "1");
    let ret = &orders["1-R77"];
    assert_eq!(ret["lines"].as_array().unwrap().len(), 6);
    assert_eq!(ret["lines"][0]["quantity"], json!(-1));
    assert_eq!(ret["warehouse_id"], "2");
    assert!(
        ret["ordered_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-05"),
        "{ret}"
    );
    // Partial refunds: the sale keeps its quantity, the return takes some back.
    assert_eq!(orders["100"]["lines"][0]["quantity"], json!(3));
    assert_eq!(orders["100-R1001"]["lines"][0]["quantity"], json!(-1));
    assert_eq!(orders["100-R1001"]["warehouse_id"], "2");
    assert_eq!(orders["50-R501"]["lines"][0]["quantity"], json!(-1));
    assert!(
        orders["50-R501"]
            .get("warehouse_id")
            .is_none_or(|w| w.is_null()),
        "{}",
        orders["50-R501"]
    );
    assert!(orders["100-R1002"]["ordered_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-04"));
    // The edit removed two units; the cancelled order is cancelled.
    assert_eq!(orders["7"]["lines"][0]["quantity"], json!(2));
    assert_eq!(orders["9"]["cancelled"], true);
    assert_eq!(orders["3"]["warehouse_id"], "2");

    // The shop moves on: a refund, an edit, a new order.
    {
        use crate::fakes::shopify::Refund;
        let mut s = shop.shop.lock().unwrap();
        let now = chrono::Utc::now() + chrono::Duration::seconds(2);
        let o = &mut s.orders[10];
        o.lines[0].current = 0;
        o.refunds.push(Refund {
            id: 9_999,
            at: now,
            lines: vec![(o.lines[0].id, 1, Some(1))],
        });
        o.updated = now;
        let o = &mut s.orders[12];
        o.lines[1].current = 0;
        o.updated = now;
        let mut new = s.orders[1].clone();
        new.id = 2001;
        new.updated = now;
        new.created = now;
        for l in &mut new.lines {
            l.id += 1_000_000;
        }
        s.orders.push(new);
    }
    let again = sync(&app, &token, &child).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    let records = again["accounts"][0]["records"].as_i64().unwrap();
    assert!(
        records < 600,
        "an incremental pass reads what changed: {again}"
    );
    let (want_lines, want_qty, want_orders) = {
        let s = shop.shop.lock().unwrap();
        let (l, q) = s.expected_sales();
        (l, q, s.expected_orders())
    };
    assert_eq!(counts(&app, &child).await.sales_orders, want_orders);
    assert_eq!(
        sales_total(&app, &child).await,
        (want_lines, want_qty as f64)
    );
    let orders = sales_orders_by_id(&app, &token, &child).await;
    assert_eq!(orders["11-R9999"]["lines"][0]["quantity"], json!(-1));
    assert_eq!(orders["13"]["lines"][1]["quantity"], json!(0));
    let third = sync(&app, &token, &child).await;
    assert_eq!(third["status"], "succeeded", "{third}");
    assert_eq!(
        sales_total(&app, &child).await,
        (want_lines, want_qty as f64)
    );
}

#[actix_web::test]
async fn shopify_page_sizes_follow_the_throttle_bucket() {
    let shop = FakeShopify::start(120, 150);
    {
        let mut s = shop.shop.lock().unwrap();
        s.bucket.maximum = 1000.0;
        s.bucket.available = 1000.0;
        s.bucket.restore = 400.0;
    }
    let app = TestApp::spawn_with(large_shop_config(shop.addr.clone())).await;
    let token = app.admin("Shop").await;
    let child = shopify_child(&app, &token).await;
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let c = counts(&app, &child).await;
    assert_eq!(
        (c.variants, c.stock_levels, c.sales_orders),
        (120, 240, 150)
    );
    let s = shop.shop.lock().unwrap();
    assert!(s.costs.iter().all(|c| *c <= 1000.0));
    let orders: Vec<i64> = s
        .firsts
        .iter()
        .filter(|(r, _)| r == "orders")
        .map(|(_, n)| *n)
        .collect();
    let full = tributary::connectors::shopify::fit(
        tributary::connectors::shopify::order_cost(8, 1, 4),
        0.0,
    );
    // A drained bucket makes pages smaller than the cost limit allows.
    assert!(orders.iter().all(|n| *n <= full), "{orders:?}");
    assert!(orders.iter().any(|n| *n < full), "{orders:?}");
}

#[actix_web::test]
async fn woocommerce_full_and_incremental_sync_with_partial_refunds() {
    let woo = FakeWoo::start(30, 600);
    {
        let mut s = woo.store.lock().unwrap();
        let at = s.orders[0].1 + chrono::Duration::hours(1);
        for id in (20..=600).step_by(20) {
            s.refunds.push((id, 70_000 + id, at, 1));
            if id % 60 == 0 {
                s.refunds
                    .push((id, 80_000 + id, at + chrono::Duration::days(1), 1));
            }
        }
    }
    // The fake holds the documented parameter rules.
    let get = |q: String| {
        let url = format!("{}/wp-json/wc/v3/orders?{q}", woo.addr);
        async move {
            reqwest::Client::new()
                .get(url)
                .basic_auth(
                    crate::fakes::woocommerce::KEY,
                    Some(crate::fakes::woocommerce::SECRET),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let r = get("per_page=101".to_string()).await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "rest_invalid_param", "{b}");
    assert_eq!(get("status=done".to_string()).await.status(), 400);
    let r = get("per_page=100&status=any".to_string()).await;
    assert_eq!(r.headers()["x-wp-total"], "600");
    assert_eq!(r.headers()["x-wp-totalpages"], "6");
    // `modified_after` is the site's time unless `dates_are_gmt=true`.
    let later = (woo.store.lock().unwrap().orders[0].1 + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert_eq!(
        get(format!("modified_after={later}&dates_are_gmt=true"))
            .await
            .headers()["x-wp-total"],
        "0"
    );
    assert_eq!(
        get(format!("modified_after={later}")).await.headers()["x-wp-total"],
        "600"
    );

    let app = TestApp::spawn_with(|c| {
        c.sync.retry_seconds = 4;
        c.sync.timeout_seconds = 2;
    })
    .await;
    let token = app.admin("Woo").await;
    let child = create(
        &app,
        &token,
        "Woo",
        json!({"kind": "woocommerce", "base_url": woo.addr, "consumer_key": crate::fakes::woocommerce::KEY,
            "consumer_secret": crate::fakes::woocommerce::SECRET}),
    )
    .await;
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let want = woo.store.lock().unwrap().expected_sales();
    assert_eq!(want, (640, 1160));
    assert_eq!(counts(&app, &child).await.sales_orders, 640);
    assert_eq!(sales_total(&app, &child).await, (want.0, want.1 as f64));
    let orders = sales_orders_by_id(&app, &token, &child).await;
    let ret = &orders["60-R80060"];
    assert_eq!(ret["lines"][0]["quantity"], json!(-1), "{ret}");
    assert_eq!(ret["lines"][0]["variant_id"], "1", "{ret}");
    assert_eq!(orders["60"]["lines"][0]["quantity"], json!(2));
    assert_eq!(
        orders["20-R70020"]["ordered_at"],
        orders["60-R70060"]["ordered_at"]
    );

    // A refund and a changed order later: the next sync reads those two.
    {
        let mut s = woo.store.lock().unwrap();
        let now = chrono::Utc::now() + chrono::Duration::seconds(5);
        s.refunds.push((7, 99_007, now, 2));
        s.orders[6].1 = now;
        s.orders[7].1 = now;
        s.orders[7].2 = 5;
    }
    let again = sync(&app, &token, &child).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    // The new return and the changed order (order 7 is read again, as is).
    assert_eq!(again["accounts"][0]["records"], 2, "{again}");
    assert_eq!(again["accounts"][0]["counts"]["created"], 1, "{again}");
    let want = woo.store.lock().unwrap().expected_sales();
    assert_eq!(want, (641, 1161));
    assert_eq!(sales_total(&app, &child).await, (want.0, want.1 as f64));
    let third = sync(&app, &token, &child).await;
    assert_eq!(third["accounts"][0]["records"], 0, "{third}");
}

#[actix_web::test]
async fn shopify_bulk_and_paged_first_syncs_give_identical_accounts() {
    let shop = FakeShopify::start(250, 2000);
    large_shop(&shop);
    let paged = TestApp::spawn_with(large_shop_config(shop.addr.clone())).await;
    let addr = shop.addr.clone();
    let bulk = TestApp::spawn_with(move |c| {
        large_shop_config(addr)(c);
        c.sync.shopify_bulk_orders = 1000;
    })
    .await;
    let pt = paged.admin("Paged").await;
    let bt = bulk.admin("Bulk").await;
    let p = shopify_child(&paged, &pt).await;
    let b = shopify_child(&bulk, &bt).await;
    let job = sync(&paged, &pt, &p).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        shop.shop.lock().unwrap().bulk.is_empty(),
        "2,000 orders are paged"
    );
    let job = sync(&bulk, &bt, &b).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        shop.shop.lock().unwrap().bulk.len(),
        1,
        "one bulk operation"
    );
    let (want_lines, want_qty) = shop.shop.lock().unwrap().expected_sales();
    assert_eq!(counts(&bulk, &b).await, counts(&paged, &p).await);
    assert_eq!(sales_total(&bulk, &b).await, (want_lines, want_qty as f64));
    assert_eq!(
        sales_orders_by_id(&bulk, &bt, &b).await,
        sales_orders_by_id(&paged, &pt, &p).await
    );
    // Later passes are paged from when the operation started.
    {
        let mut s = shop.shop.lock().unwrap();
        let o = &mut s.orders[20];
        o.lines[0].quantity = 7;
        o.lines[0].current = 7;
        o.updated = chrono::Utc::now() + chrono::Duration::seconds(2);
    }
    let again = sync(&bulk, &bt, &b).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["accounts"][0]["records"], 1, "{again}");
    assert_eq!(shop.shop.lock().unwrap().bulk.len(), 1);
    let (want_lines, want_qty) = shop.shop.lock().unwrap().expected_sales();
    assert_eq!(sales_total(&bulk, &b).await, (want_lines, want_qty as f64));
}

#[actix_web::test]
async fn shopify_reads_every_inventory_level_of_a_variant_stocked_in_60_locations() {
    let shop = FakeShopify::start(10, 3);
    {
        let mut s = shop.shop.lock().unwrap();
        s.locations = (1..=60).collect();
        s.variants[0].levels = (1..=60).map(|l| (l, 1, 2)).collect();
    }
    let app = TestApp::spawn_with(shopify_app_config(shop.addr.clone())).await;
    let token = app.admin("Shop").await;
    let child = shopify_child(&app, &token).await;
    let job = sync(&app, &token, &child).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let c = counts(&app, &child).await;
    // 50 levels a variant per page, the other 10 read by a follow-up.
    assert_eq!((c.warehouses, c.stock_levels), (60, 9 * 2 + 60));
    assert!(shop.shop.lock().unwrap().costs.iter().all(|c| *c <= 1000.0));
}
