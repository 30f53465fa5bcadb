//! The master plan and the order plan: `GET /api/v1/accounts/{id}/order-plan`,
//! `.../order-plan/{sku}`, links, conflicts, warehouse settings, exchange
//! rates. Numbers are worked by hand: demand is constant, so the forecast
//! is that constant and the safety stock is 0, and every figure follows
//! from the defaults (lead time 14 + days of stock 30 = 44 days).

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::TestApp;

const TODAY: &str = "2026-03-01";

async fn app() -> TestApp {
    TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await
}

pub(crate) async fn put(app: &TestApp, token: &str, account: &str, entity: &str, body: Value) {
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{account}/{entity}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{entity}: {b}");
}

/// `per_day` units of `variant` sold every day of February 2026, one order a day.
fn daily_sales(prefix: &str, variant: &str, per_day: u32, warehouse: &str) -> Value {
    let orders: Vec<Value> = (1..=28)
        .map(|d| {
            json!({
                "id": format!("{prefix}-{d}"),
                "ordered_at": format!("2026-02-{d:02}T12:00:00Z"),
                "warehouse_id": warehouse,
                "lines": [{"id": "1", "variant_id": variant, "quantity": per_day, "unit_price": "10"}]
            })
        })
        .collect();
    Value::Array(orders)
}

pub(crate) struct Org {
    pub(crate) app: TestApp,
    pub(crate) token: String,
    pub(crate) shop: String,
    pub(crate) wholesale: String,
    pub(crate) master: String,
}

/// Two children selling one SKU under differently cased codes: the shop
/// sells 2 a day and holds 30, the wholesaler sells 1 a day and holds 20
/// with 5 allocated.
pub(crate) async fn two_children() -> Org {
    let app = app().await;
    let token = app.admin("Acme").await;
    let shop = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let w = app.create_child(&token, "Wholesale").await;
    let wholesale = w["id"].as_str().unwrap().to_string();
    let master = w["master_id"].as_str().unwrap().to_string();
    for (acc, sku, per_day, on_hand, allocated) in [
        (&shop, "TS-RED-M", 2, 30, 0),
        (&wholesale, " ts-red-m", 1, 20, 5),
    ] {
        put(
            &app,
            &token,
            acc,
            "warehouses",
            json!([{"id": "W1", "name": "Main"}]),
        )
        .await;
        put(
            &app,
            &token,
            acc,
            "vendors",
            json!([{"id": "ACME", "name": "Acme Textiles"}]),
        )
        .await;
        put(
            &app,
            &token,
            acc,
            "variants",
            json!([{"id": "V1", "sku": sku, "title": "T-shirt red M", "vendor_id": "ACME", "cost_price": "4"}]),
        )
        .await;
        put(
            &app,
            &token,
            acc,
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": on_hand, "allocated": allocated, "updated_at": "2026-01-01T00:00:00Z"}]),
        )
        .await;
        put(
            &app,
            &token,
            acc,
            "sales-orders",
            daily_sales("SO", "V1", per_day, "W1"),
        )
        .await;
    }
    Org {
        app,
        token,
        shop,
        wholesale,
        master,
    }
}

async fn plan(org: &Org, account: &str, query: &str) -> Value {
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/order-plan{query}"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["stale"], false, "{b}");
    b
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[actix_web::test]
async fn master_sums_children_that_sell_one_sku_under_differently_cased_codes() {
    let org = two_children().await;
    let shop = plan(&org, &org.shop, "").await;
    let row = &shop["rows"][0];
    assert_eq!(shop["total"], 1);
    assert_eq!(num(&row["demand_per_day"]), 2.0, "{row}");
    assert_eq!(num(&row["coverage_demand"]), 88.0);
    assert_eq!(num(&row["available"]), 30.0);
    assert_eq!(num(&row["order_quantity"]), 58.0);
    assert!(row.get("accounts").is_none());

    let master = plan(&org, &org.master, "").await;
    assert_eq!(master["total"], 1, "one row per normalised SKU: {master}");
    let row = &master["rows"][0];
    assert_eq!(row["sku"], "TS-RED-M", "the earliest child's SKU");
    assert_eq!(row["vendor"], "Acme Textiles");
    assert_eq!(num(&row["available"]), 45.0, "30 + (20 − 5)");
    assert_eq!(
        num(&row["demand_per_day"]),
        3.0,
        "2 + 1 a day, forecast on the total"
    );
    assert_eq!(num(&row["coverage_demand"]), 132.0, "3 × 44 days");
    assert_eq!(num(&row["safety_stock"]), 0.0);
    assert_eq!(num(&row["order_quantity"]), 87.0, "132 − 45");
    assert_eq!(num(&row["order_value"]), 348.0, "87 × 4");
    // 45 units last 15 days at 3 a day; order 14 days before: 2026-03-02.
    assert_eq!(row["order_by"], "2026-03-02");
    assert_eq!(row["urgency"], "soon");
    let accounts = row["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["account_name"], "Shop");
    assert_eq!(num(&accounts[0]["available"]), 30.0);
    assert_eq!(num(&accounts[0]["order_quantity"]), 58.0);
    assert_eq!(accounts[1]["account_name"], "Wholesale");
    assert_eq!(num(&accounts[1]["available"]), 15.0);
    assert_eq!(num(&accounts[1]["coverage_demand"]), 44.0);
    assert_eq!(num(&accounts[1]["order_quantity"]), 29.0, "44 − 15");

    // The explanation, by any casing of the SKU.
    let (s, ex) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/order-plan/ts-red-M", org.master),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{ex}");
    assert_eq!(num(&ex["row"]["order_quantity"]), 87.0);
    let e = &ex["explanation"];
    assert_eq!(num(&e["demand"]["per_day"]), 3.0);
    assert_eq!(num(&e["demand"]["coverage_days"]), 44.0);
    assert_eq!(num(&e["safety_stock"]["service_level"]), 0.95);
    assert_eq!(e["contributions"].as_array().unwrap().len(), 2);
    assert_eq!(num(&e["contributions"][1]["available"]), 15.0);
    let steps: Vec<&str> = e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(steps.contains(&"need"), "{steps:?}");
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/order-plan/NOPE", org.master),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 404, "{b}");
}

#[actix_web::test]
async fn excluded_stock_an_active_po_and_moq_against_max_stock() {
    let org = two_children().await;
    // The wholesaler's stock no longer counts in the master.
    let (s, b) = org
        .app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{}", org.wholesale),
            Some(&org.token),
            Some(json!({"include_stock": false})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // An active purchase order of 10 at the shop, expected in 5 days.
    put(
        &org.app,
        &org.token,
        &org.shop,
        "stock-orders",
        json!([{"id": "PO1", "kind": "purchase", "status": "active", "vendor_id": "ACME",
                "destination_warehouse_id": "W1", "expected_at": "2026-03-06",
                "lines": [{"id": "1", "variant_id": "V1", "quantity": 10}]}]),
    )
    .await;
    let master = plan(&org, &org.master, "").await;
    let row = &master["rows"][0];
    assert_eq!(num(&row["available"]), 30.0, "the wholesaler's 15 left out");
    assert_eq!(num(&row["on_order"]), 10.0);
    assert_eq!(num(&row["demand_per_day"]), 3.0, "its sales still count");
    assert_eq!(num(&row["order_quantity"]), 92.0, "132 − 30 − 10");
    let shop = plan(&org, &org.shop, "").await;
    assert_eq!(
        num(&shop["rows"][0]["order_quantity"]),
        48.0,
        "88 − 30 − 10"
    );

    // MOQ 100 against max stock 60 at the wholesaler: the MOQ wins.
    put(
        &org.app,
        &org.token,
        &org.wholesale,
        "vendors",
        json!([{"id": "ACME", "name": "Acme Textiles", "minimum_order_quantity": 100}]),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &org.wholesale,
        "variants",
        json!([{"id": "V1", "sku": " ts-red-m", "title": "T-shirt red M", "vendor_id": "ACME", "max_stock": 60}]),
    )
    .await;
    let w = plan(&org, &org.wholesale, "").await;
    assert_eq!(num(&w["rows"][0]["order_quantity"]), 100.0, "{w}");
}

#[actix_web::test]
async fn a_link_merges_different_skus_and_conflicts_say_what_to_do() {
    let org = two_children().await;
    put(
        &org.app,
        &org.token,
        &org.wholesale,
        "variants",
        json!([{"id": "V2", "sku": "TS-R-M", "title": "Tee red M", "barcode": "111"},
               {"id": "V3", "sku": "ts-r-m", "title": "Duplicate"}]),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &org.wholesale,
        "sales-orders",
        daily_sales("LINKED", "V2", 1, "W1"),
    )
    .await;
    let before = plan(&org, &org.master, "").await;
    assert_eq!(
        before["total"], 2,
        "TS-R-M and ts-r-m are one master row: {before}"
    );
    let (s, b) = org
        .app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/links", org.master),
            Some(&org.token),
            Some(json!([{"sku": "TS-RED-M", "account_id": org.wholesale, "variant_id": "V2"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let after = plan(&org, &org.master, "?q=red").await;
    let row = after["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sku"] == "TS-RED-M")
        .unwrap()
        .clone();
    assert_eq!(num(&row["demand_per_day"]), 4.0, "2 + 1 + the linked 1");
    assert_eq!(
        row["accounts"].as_array().unwrap().len(),
        2,
        "one entry per child: the wholesaler's V1 and linked V2 add up"
    );

    let (s, conflicts) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/conflicts", org.master),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let kinds: Vec<&str> = conflicts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"duplicate_sku_in_account"), "{conflicts}");
    // A bad link names its row and field and changes nothing.
    let (s, b) = org
        .app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/links", org.master),
            Some(&org.token),
            Some(json!([{"sku": "X", "account_id": "acc_nope", "variant_id": "V2"}])),
        )
        .await;
    assert_eq!(s, 422);
    assert_error(&b, "validation_failed");
    assert_eq!(b["error"]["details"][0]["field"], "account_id");
    // Links belong to a master.
    let (s, _) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/links", org.shop),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 409);
}

#[actix_web::test]
async fn money_in_the_masters_currency_at_the_recorded_rate() {
    let org = two_children().await;
    let (s, b) = org
        .app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{}", org.master),
            Some(&org.token),
            Some(json!({"currency": "USD"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let master = plan(&org, &org.master, "").await;
    assert!(master["rows"][0]["order_value"].is_null(), "no rate yet");
    let (s, b) = org
        .app
        .call(
            "PUT",
            "/api/v1/exchange-rates",
            Some(&org.token),
            Some(
                json!([{"date": "2026-01-01", "from": "EUR", "to": "USD", "rate": "1.5"},
                        {"date": "2026-06-01", "from": "EUR", "to": "USD", "rate": "9"}]),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let master = plan(&org, &org.master, "").await;
    let row = &master["rows"][0];
    assert_eq!(
        num(&row["unit_cost"]),
        6.0,
        "4 EUR × 1.5 (the later rate is not yet in force)"
    );
    assert_eq!(num(&row["order_value"]), 522.0, "87 × 6");
}

#[actix_web::test]
async fn a_bundle_is_demand_for_its_components() {
    let org = two_children().await;
    put(
        &org.app,
        &org.token,
        &org.shop,
        "variants",
        json!([{"id": "SOCK", "sku": "SOCK", "title": "Sock"},
               {"id": "GIFT", "sku": "GIFT-SET", "title": "Gift set", "components": [
                   {"variant_id": "V1", "quantity": 1}, {"variant_id": "SOCK", "quantity": 2}]}]),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &org.shop,
        "sales-orders",
        daily_sales("GIFT", "GIFT", 1, "W1"),
    )
    .await;
    let shop = plan(&org, &org.shop, "?sort=sku").await;
    let rows = shop["rows"].as_array().unwrap();
    let by = |sku: &str| rows.iter().find(|r| r["sku"] == sku).unwrap().clone();
    assert_eq!(
        num(&by("TS-RED-M")["demand_per_day"]),
        3.0,
        "2 own + 1 in gift sets"
    );
    assert_eq!(num(&by("SOCK")["demand_per_day"]), 2.0, "2 per gift set");
    assert_eq!(
        num(&by("GIFT-SET")["order_quantity"]),
        0.0,
        "a bundle is never ordered"
    );
}

#[actix_web::test]
async fn paging_sorting_filtering_csv_and_an_unchanged_import_keeps_the_plan_fresh() {
    let org = two_children().await;
    put(
        &org.app,
        &org.token,
        &org.shop,
        "variants",
        json!([{"id": "A", "sku": "<script>alert(1)</script>", "title": "Mug", "category": "Kitchen", "tags": ["gift", "sale"]},
               {"id": "B", "sku": "B-2", "title": "Plate", "category": "Kitchen"}]),
    )
    .await;
    let p = plan(&org, &org.shop, "?sort=sku&order=desc&per_page=2&page=1").await;
    assert_eq!(p["total"], 3);
    assert_eq!(p["rows"].as_array().unwrap().len(), 2);
    assert_eq!(p["rows"][0]["sku"], "TS-RED-M");
    let p = plan(&org, &org.shop, "?category=Kitchen&tag=gift").await;
    assert_eq!(p["total"], 1);
    assert_eq!(p["rows"][0]["sku"], "<script>alert(1)</script>");
    let p = plan(&org, &org.shop, "?urgency=now").await;
    assert_eq!(p["total"], 0);
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/order-plan?sort=nope", org.shop),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["details"][0]["field"], "sort");
    let resp = reqwest::Client::new()
        .get(org.app.url(&format!(
            "/api/v1/accounts/{}/order-plan?format=csv&sort=sku",
            org.shop
        )))
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("sku,title,vendor,category"));
    assert!(
        lines[3].starts_with("TS-RED-M,T-shirt red M,Acme Textiles"),
        "{text}"
    );

    // Re-sending identical records does not make the plan stale.
    let before = plan(&org, &org.shop, "").await["computed_at"].clone();
    put(
        &org.app,
        &org.token,
        &org.shop,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    let (s, st) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/plan-status", org.shop),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(st["stale"], false, "{st}");
    assert_eq!(plan(&org, &org.shop, "").await["computed_at"], before);
}

/// Whether an account's stored plan is current, read through the API.
async fn fresh(org: &Org, account: &str) -> bool {
    let (s, st) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/plan-status"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{st}");
    st["stale"] == false
}

#[actix_web::test]
async fn a_childs_changed_sales_are_planned_once_by_its_masters_job() {
    let org = two_children().await;
    // Everything planned first.
    plan(&org, &org.master, "").await;
    while !(fresh(&org, &org.shop).await && fresh(&org, &org.wholesale).await) {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let since = chrono::Utc::now().naive_utc();
    put(
        &org.app,
        &org.token,
        &org.shop,
        "sales-orders",
        daily_sales("SO", "V1", 3, "W1"),
    )
    .await;
    // Nothing reads a plan: the worker alone brings both up to date.
    let started = std::time::Instant::now();
    while !(fresh(&org, &org.shop).await && fresh(&org, &org.master).await) {
        assert!(
            started.elapsed().as_secs() < 60,
            "the plans never caught up"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // One job planned both: the master's, which planned the stale child on
    // the way (its records read once for both plans).
    let jobs = |account: String| {
        use diesel::prelude::*;
        use tributary::db::schema::jobs;
        let mut conn = org.app.state.db.conn().unwrap();
        jobs::table
            .filter(jobs::account_id.eq(account))
            .filter(jobs::kind.eq("plan"))
            .filter(jobs::created_at.gt(since))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    };
    assert_eq!(
        jobs(org.shop.clone()),
        0,
        "the child was planned by a job of its own"
    );
    assert_eq!(jobs(org.master.clone()), 1);
    // Both plans have the shop's new figures: 3 a day instead of 2.
    let row = &plan(&org, &org.shop, "").await["rows"][0];
    assert_eq!(num(&row["demand_per_day"]), 3.0, "{row}");
    assert_eq!(num(&row["order_quantity"]), 102.0, "3 × 44 − 30");
    let row = &plan(&org, &org.master, "").await["rows"][0];
    assert_eq!(num(&row["demand_per_day"]), 4.0, "{row}");
    assert_eq!(num(&row["order_quantity"]), 131.0, "4 × 44 − 45");
    assert_eq!(num(&row["accounts"][0]["order_quantity"]), 102.0);
}

#[actix_web::test]
async fn a_queued_plan_job_whose_plan_is_current_computes_nothing() {
    let org = two_children().await;
    let before = plan(&org, &org.shop, "").await["computed_at"].clone();
    let id = {
        let mut conn = org.app.state.db.conn().unwrap();
        let shop = tributary::db::models::Account::find_by_id(&mut conn, &org.shop)
            .unwrap()
            .unwrap();
        tributary::jobs::enqueue(&mut conn, &shop, "plan").unwrap()
    };
    org.app.state.jobs.wake();
    let started = std::time::Instant::now();
    loop {
        let job = {
            let mut conn = org.app.state.db.conn().unwrap();
            tributary::jobs::Job::find(&mut conn, &id).unwrap().unwrap()
        };
        if job.status == "succeeded" {
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "{job:?}");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(plan(&org, &org.shop, "").await["computed_at"], before);
}

/// The details of an error body as (row, field, message).
fn details(b: &Value) -> Vec<(i64, String, String)> {
    b["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["row"].as_i64().unwrap(),
                d["field"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_bad_roll_up_setting_names_every_problem_and_changes_nothing() {
    let org = two_children().await;
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let org = &org;
        async move { org.app.call(method, &path, Some(&org.token), body).await }
    };
    let links = format!("/api/v1/accounts/{}/links", org.master);
    let (s, b) = call(
        "PUT",
        links.clone(),
        Some(json!([
            {"sku": " ", "account_id": org.shop, "variant_id": "V1"},
            {"sku": "X", "account_id": "acc_nope", "variant_id": "V2"},
            {"sku": "Y", "account_id": org.shop, "variant_id": "V1"}])),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_error(&b, "validation_failed");
    assert_eq!(
        b["error"]["message"],
        "The links are not valid; nothing was changed."
    );
    let want = |v: &[(i64, &str, &str)]| -> Vec<(i64, String, String)> {
        v.iter()
            .map(|(r, f, m)| (*r, f.to_string(), m.to_string()))
            .collect()
    };
    assert_eq!(
        details(&b),
        want(&[
            (1, "sku", "must not be empty"),
            (2, "account_id", "is not a child of this master"),
            (3, "variant_id", "is linked twice"),
        ])
    );
    assert_eq!(call("GET", links, None).await, (200, json!([])));

    let settings = format!("/api/v1/accounts/{}/warehouse-settings", org.master);
    let (s, b) = call(
        "PUT",
        settings.clone(),
        Some(json!([
            {"account_id": "acc_nope", "warehouse_id": " ", "include_stock": true, "include_sales": false},
            {"account_id": org.shop, "warehouse_id": "W1", "include_stock": true, "include_sales": true},
            {"account_id": org.shop, "warehouse_id": "W1", "include_stock": false, "include_sales": true}])),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        details(&b),
        want(&[
            (1, "account_id", "is not a child of this master"),
            (1, "warehouse_id", "must not be empty"),
            (3, "warehouse_id", "is listed twice"),
        ])
    );
    assert_eq!(call("GET", settings, None).await, (200, json!([])));

    let (s, b) = call(
        "PUT",
        "/api/v1/exchange-rates".into(),
        Some(json!([
            {"date": "2026-01-01", "from": "EUR", "to": "USD", "rate": "1.5"},
            {"date": "2026-01-01", "from": "EURO", "to": "US", "rate": "0"}])),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        details(&b),
        want(&[
            (2, "from", "must be a 3-letter ISO 4217 code"),
            (2, "to", "must be a 3-letter ISO 4217 code"),
            (2, "rate", "must be more than 0 and less than 10^9"),
        ])
    );
    assert_eq!(
        call("GET", "/api/v1/exchange-rates".into(), None).await,
        (200, json!([])),
        "the valid first rate is not written either"
    );

    // Roll-up settings belong to a master.
    let (s, b) = call(
        "PUT",
        format!("/api/v1/accounts/{}/warehouse-settings", org.shop),
        Some(json!([])),
    )
    .await;
    assert_eq!(s, 409);
    assert_error(&b, "not_a_master");
}
