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
pub(crate) fn daily_sales(prefix: &str, variant: &str, per_day: u32, warehouse: &str) -> Value {
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

/// An organisation of two children without data yet, "Shop" and
/// "Wholesale", and their master.
pub(crate) async fn shop_and_wholesale() -> Org {
    let app = app().await;
    let token = app.admin("Acme").await;
    let shop = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let w = app.create_child(&token, "Wholesale").await;
    let wholesale = w["id"].as_str().unwrap().to_string();
    let master = w["master_id"].as_str().unwrap().to_string();
    Org {
        app,
        token,
        shop,
        wholesale,
        master,
    }
}

/// Two children selling one SKU under differently cased codes: the shop
/// sells 2 a day and holds 30, the wholesaler sells 1 a day and holds 20
/// with 5 allocated.
pub(crate) async fn two_children() -> Org {
    let Org {
        app,
        token,
        shop,
        wholesale,
        master,
    } = shop_and_wholesale().await;
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

/// An organisation with one child, "Shop", that has a warehouse W1; the
/// admin's token.
async fn one_shop() -> (TestApp, String, String) {
    let app = app().await;
    let token = app.admin("Acme").await;
    let shop = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let warehouses = json!([{"id": "W1", "name": "Main"}]);
    put(&app, &token, &shop, "warehouses", warehouses).await;
    (app, token, shop)
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
        tributary::jobs::enqueue(&mut conn, &shop, tributary::jobs::JobKind::Plan).unwrap()
    };
    org.app.state.jobs.wake();
    let started = std::time::Instant::now();
    loop {
        let job = {
            let mut conn = org.app.state.db.conn().unwrap();
            tributary::jobs::Job::find(&mut conn, &id).unwrap().unwrap()
        };
        if job.status == tributary::jobs::JobStatus::Succeeded {
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "{job:?}");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(plan(&org, &org.shop, "").await["computed_at"], before);
}

/// `per_day` units of `V1` sold on each day of February 2026 outside
/// `out` (the days it was out of stock).
fn sales_outside(prefix: &str, per_day: u32, out: std::ops::RangeInclusive<u32>) -> Value {
    let orders: Vec<Value> = (1..=28)
        .filter(|d| !out.contains(d))
        .map(|d| {
            json!({
                "id": format!("{prefix}-{d}"),
                "ordered_at": format!("2026-02-{d:02}T12:00:00Z"),
                "warehouse_id": "W1",
                "lines": [{"id": "1", "variant_id": "V1", "quantity": per_day, "unit_price": "10"}]
            })
        })
        .collect();
    Value::Array(orders)
}

/// The master's demand adds up its children's when their stockouts fall on
/// different days (domain.md): the shop sells 2 a day and was out on
/// February 5–11, the wholesaler 1 a day and was out on February 15–21.
/// Each child's own plan leaves its stockout days out (2 and 1 a day); the
/// master estimates each child's lost days from that child's in-stock rate,
/// so its demand is 3 a day, not the 2.75 its counted sales average
/// (before: a master day counted as in stock when any child had stock).
/// Coverage 44 days: shop 2 × 44 − 30 = 58, wholesaler 1 × 44 − 15 = 29,
/// master 3 × 44 − 45 = 87 = 58 + 29.
#[actix_web::test]
async fn a_master_adds_up_children_whose_stockouts_fall_on_different_days() {
    let Org {
        app,
        token,
        shop,
        wholesale,
        master,
    } = shop_and_wholesale().await;
    for (acc, per_day, out, back) in [(&shop, 2, 5..=11, 30), (&wholesale, 1, 15..=21, 15)] {
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
            "variants",
            json!([{"id": "V1", "sku": "LAMP-1", "title": "Lamp"}]),
        )
        .await;
        for (day, on_hand) in [(1, 40), (*out.start(), 0), (*out.end() + 1, back)] {
            put(
                &app,
                &token,
                acc,
                "stock",
                json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": on_hand, "allocated": 0,
                        "updated_at": format!("2026-02-{day:02}T00:00:00Z")}]),
            )
            .await;
        }
        put(
            &app,
            &token,
            acc,
            "sales-orders",
            sales_outside("SO", per_day, out),
        )
        .await;
    }
    let org = Org {
        app,
        token,
        shop: shop.clone(),
        wholesale: wholesale.clone(),
        master: master.clone(),
    };
    for (acc, per_day, order) in [
        (&shop, 2.0, 58.0),
        (&wholesale, 1.0, 29.0),
        (&master, 3.0, 87.0),
    ] {
        let p = plan(&org, acc, "").await;
        let row = &p["rows"][0];
        assert_eq!(num(&row["demand_per_day"]), per_day, "{row}");
        assert_eq!(num(&row["safety_stock"]), 0.0, "{row}");
        assert_eq!(num(&row["order_quantity"]), order, "{row}");
    }
    let (s, ex) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/order-plan/LAMP-1"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{ex}");
    let c = ex["explanation"]["contributions"].as_array().unwrap();
    assert_eq!(c[0]["stockout_days_estimated"], 7);
    assert_eq!(num(&c[0]["lost_sales_estimated"]), 14.0);
    assert_eq!(c[1]["stockout_days_estimated"], 7);
    assert_eq!(num(&c[1]["lost_sales_estimated"]), 7.0);
    assert_eq!(ex["explanation"]["demand"]["stockout_days_excluded"], 0);
}

/// A master row made of one child's one variant has that line's demand,
/// safety stock and method: the master takes the fit the child's line
/// shared (`planning::fits`) instead of running the engine again. Sales
/// are irregular (1 to 5 a day, none on some days, from December to
/// February), so the engine's choice is not a constant's; SOLO-1 and
/// SOLO-3, at different children, sell alike day by day, so their rows take
/// one history's fit twice.
#[actix_web::test]
async fn a_master_row_of_one_childs_variant_takes_that_lines_fit() {
    let org = shop_and_wholesale().await;
    let (app, token) = (&org.app, &org.token);
    let (shop, wholesale, master) = (&org.shop, &org.wholesale, &org.master);
    let irregular = |prefix: &str, variant: &str, seed: i64| -> Value {
        let start: chrono::NaiveDate = "2025-12-01".parse().unwrap();
        Value::Array(
            (0..90)
                .filter_map(|d| {
                    let q = (d * 7 + seed) % 6;
                    (q > 0).then(|| {
                        json!({"id": format!("{prefix}-{variant}-{d}"),
                            "ordered_at": format!("{}T12:00:00Z", start + chrono::Duration::days(d)),
                            "warehouse_id": "W1",
                            "lines": [{"id": "1", "variant_id": variant, "quantity": q, "unit_price": "10"}]})
                    })
                })
                .collect(),
        )
    };
    for (acc, skus) in [
        (
            shop,
            vec![("V1", "SOLO-1"), ("V2", "SOLO-2"), ("V9", "SHARED")],
        ),
        (wholesale, vec![("V3", "SOLO-3"), ("V9", "shared")]),
    ] {
        put(
            app,
            token,
            acc,
            "warehouses",
            json!([{"id": "W1", "name": "Main"}]),
        )
        .await;
        let variants: Vec<Value> = skus
            .iter()
            .map(|(id, sku)| json!({"id": id, "sku": sku, "title": sku}))
            .collect();
        put(app, token, acc, "variants", Value::Array(variants)).await;
        let stock: Vec<Value> = skus
            .iter()
            .map(|(id, _)| json!({"variant_id": id, "warehouse_id": "W1", "on_hand": 12, "allocated": 0}))
            .collect();
        put(app, token, acc, "stock", Value::Array(stock)).await;
        for (i, (id, _)) in skus.iter().enumerate() {
            put(
                app,
                token,
                acc,
                "sales-orders",
                irregular("SO", id, i as i64 + 1),
            )
            .await;
        }
    }
    // Whatever the plan jobs computed so far: a full replan of the master
    // with its children (`tributary plan --full`).
    let state = org.app.state.clone();
    let id = master.clone();
    let (before, after) = actix_web::web::block(move || {
        let mut conn = state.db.conn().unwrap();
        let before = tributary::planning::fits::taken();
        let today = Some(TODAY.parse().unwrap());
        let replanned =
            tributary::services::plans::replan_now(&mut conn, Some(&id), true, today).unwrap();
        assert_eq!(replanned.len(), 3);
        (before, tributary::planning::fits::taken())
    })
    .await
    .unwrap();
    assert!(after >= before + 3, "{before} -> {after}");
    let m = plan(&org, master, "?sort=sku").await;
    let rows = m["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{m}");
    for (acc, sku) in [(shop, "SOLO-1"), (shop, "SOLO-2"), (wholesale, "SOLO-3")] {
        let own = plan(&org, acc, "?sort=sku").await;
        let line = own["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sku"] == sku)
            .unwrap()
            .clone();
        let row = rows.iter().find(|r| r["sku"] == sku).unwrap();
        for field in [
            "demand_per_day",
            "safety_stock",
            "reorder_point",
            "order_quantity",
            "forecast_method",
        ] {
            assert_eq!(
                row[field], line[field],
                "{sku} {field}: {row} against {line}"
            );
        }
    }
    // The shared SKU adds both children's sales: its own fit.
    let shared = rows.iter().find(|r| r["sku"] == "SHARED").unwrap();
    assert!(num(&shared["demand_per_day"]) > 0.0, "{shared}");
}

/// A product out of stock for its last 20 days keeps the demand it had in
/// stock: 4 a day in January and February to the 8th, none since (stock 0
/// from February 9), 40 on order arriving on March 10. Coverage 44 days:
/// 4 × 44 − 0 − 40 = 136, ordered now (the unit test
/// `forecast::tests::a_long_trailing_stockout_keeps_the_rate_before_it`
/// shows the estimate on a series that is not constant).
#[actix_web::test]
async fn a_product_out_of_stock_now_keeps_its_in_stock_rate() {
    let (app, token, shop) = one_shop().await;
    put(
        &app,
        &token,
        &shop,
        "vendors",
        json!([{"id": "ACME", "name": "Acme"}]),
    )
    .await;
    put(
        &app,
        &token,
        &shop,
        "variants",
        json!([{"id": "V1", "sku": "LAMP-1", "title": "Lamp", "vendor_id": "ACME"}]),
    )
    .await;
    for (day, on_hand) in [("01-01", 100), ("02-09", 0)] {
        put(
            &app,
            &token,
            &shop,
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": on_hand, "allocated": 0,
                    "updated_at": format!("2026-{day}T00:00:00Z")}]),
        )
        .await;
    }
    let orders: Vec<Value> = (0..39)
        .map(|i| {
            let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(i);
            json!({"id": format!("SO-{i}"), "ordered_at": format!("{d}T12:00:00Z"), "warehouse_id": "W1",
                   "lines": [{"id": "1", "variant_id": "V1", "quantity": 4, "unit_price": "10"}]})
        })
        .collect();
    put(&app, &token, &shop, "sales-orders", Value::Array(orders)).await;
    put(
        &app,
        &token,
        &shop,
        "stock-orders",
        json!([{"id": "PO-1", "kind": "purchase", "status": "active", "vendor_id": "ACME",
                "destination_warehouse_id": "W1", "expected_at": "2026-03-10",
                "lines": [{"id": "1", "variant_id": "V1", "quantity": 40}]}]),
    )
    .await;
    let org = Org {
        app,
        token,
        shop: shop.clone(),
        wholesale: shop.clone(),
        master: shop.clone(),
    };
    let p = plan(&org, &shop, "").await;
    let row = &p["rows"][0];
    assert_eq!(num(&row["demand_per_day"]), 4.0, "{row}");
    assert_eq!(num(&row["on_order"]), 40.0, "{row}");
    assert_eq!(num(&row["order_quantity"]), 136.0, "{row}");
    assert_eq!(row["urgency"], "now", "{row}");
}

/// `per_day` units of `variant` on every day from `from` for `days` days.
fn run_of_sales(prefix: &str, variant: &str, per_day: u32, from: &str, days: i64) -> Vec<Value> {
    let start: chrono::NaiveDate = from.parse().unwrap();
    (0..days)
        .map(|i| {
            let d = start + chrono::Duration::days(i);
            json!({"id": format!("{prefix}-{i}"), "ordered_at": format!("{d}T12:00:00Z"), "warehouse_id": "W1",
                   "lines": [{"id": "1", "variant_id": variant, "quantity": per_day, "unit_price": "10"}]})
        })
        .collect()
}

/// Lines a merchant should confirm carry flags, filterable with `?flag=`
/// (planning date 2026-03-01, history to February 28):
/// - TENT sold 10 a day on 2025-09-01..20 and nothing since, 179 in stock:
///   no sale for 161 days (2025-09-21..2026-02-28) while in stock; its
///   forecast is next to no demand, so next to no safety stock (31.8
///   before: the history's spread at none of its level) and no order;
/// - SBAG sold 3 a day until 2026-01-19 and has been out since 01-20: out
///   of stock 40 days, and it keeps its in-stock rate (3 a day);
/// - LAMP sells 2 a day with 10 left; 100 on order arrive on 03-31: stock
///   runs out on day 5 (03-06), 25 days before the order arrives.
#[actix_web::test]
async fn doubtful_lines_are_flagged_and_filterable() {
    let (app, token, shop) = one_shop().await;
    put(
        &app,
        &token,
        &shop,
        "vendors",
        json!([{"id": "ACME", "name": "Acme"}]),
    )
    .await;
    put(
        &app,
        &token,
        &shop,
        "variants",
        json!([{"id": "TENT", "sku": "TENT", "vendor_id": "ACME"},
               {"id": "SBAG", "sku": "SBAG", "vendor_id": "ACME"},
               {"id": "LAMP", "sku": "LAMP", "vendor_id": "ACME"}]),
    )
    .await;
    for (v, day, on_hand) in [
        ("TENT", "2025-08-01", 179),
        ("SBAG", "2025-11-01", 200),
        ("SBAG", "2026-01-20", 0),
        ("LAMP", "2025-12-01", 10),
    ] {
        put(
            &app,
            &token,
            &shop,
            "stock",
            json!([{"variant_id": v, "warehouse_id": "W1", "on_hand": on_hand, "allocated": 0,
                    "updated_at": format!("{day}T00:00:00Z")}]),
        )
        .await;
    }
    let mut orders = run_of_sales("T", "TENT", 10, "2025-09-01", 20);
    orders.extend(run_of_sales("S", "SBAG", 3, "2025-12-01", 50));
    orders.extend(run_of_sales("L", "LAMP", 2, "2026-01-01", 59));
    put(&app, &token, &shop, "sales-orders", Value::Array(orders)).await;
    put(
        &app,
        &token,
        &shop,
        "stock-orders",
        json!([{"id": "PO-1", "kind": "purchase", "status": "active", "vendor_id": "ACME",
                "destination_warehouse_id": "W1", "expected_at": "2026-03-31",
                "lines": [{"id": "1", "variant_id": "LAMP", "quantity": 100}]}]),
    )
    .await;
    let org = Org {
        app,
        token,
        shop: shop.clone(),
        wholesale: shop.clone(),
        master: shop.clone(),
    };
    let all = plan(&org, &shop, "?sort=sku").await;
    let row = |sku: &str| {
        all["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sku"] == sku)
            .unwrap()
            .clone()
    };
    let tent = row("TENT");
    assert_eq!(tent["flags"][0]["code"], "no_recent_sales", "{tent}");
    assert_eq!(tent["flags"][0]["days"], 161, "{tent}");
    assert_eq!(num(&tent["demand_per_day"]), 0.0, "{tent}");
    // The forecast is 0.000017 units over the 44 days (it was 31.8 before
    // the buffer followed the forecast's level).
    assert!(num(&tent["safety_stock"]) < 1e-3, "{tent}");
    assert_eq!(num(&tent["order_quantity"]), 0.0, "{tent}");
    let sbag = row("SBAG");
    assert_eq!(sbag["flags"][0]["code"], "long_stockout", "{sbag}");
    assert_eq!(sbag["flags"][0]["days"], 40, "{sbag}");
    assert_eq!(num(&sbag["demand_per_day"]), 3.0, "{sbag}");
    let lamp = row("LAMP");
    assert_eq!(lamp["flags"][0]["code"], "late_open_order", "{lamp}");
    assert_eq!(lamp["flags"][0]["days"], 25, "{lamp}");
    for (flag, sku) in [
        ("no_recent_sales", "TENT"),
        ("long_stockout", "SBAG"),
        ("late_open_order", "LAMP"),
    ] {
        let p = plan(&org, &shop, &format!("?flag={flag}")).await;
        assert_eq!(p["total"], 1, "{flag}: {p}");
        assert_eq!(p["rows"][0]["sku"], sku);
    }
}

/// Every stored line and detail of an account's plan, by key.
async fn stored_plan(
    app: &TestApp,
    account: &str,
) -> Vec<(
    tributary::db::models::planning::PlanLineRow,
    tributary::db::models::planning::LineDetail,
)> {
    let db = app.state.db.clone();
    let account = account.to_string();
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        let mut lines = tributary::db::models::planning::all_lines(&mut conn, &account).unwrap();
        lines.sort_by(|a, b| a.sku_key.cmp(&b.sku_key));
        let mut details = tributary::db::models::planning::details(&mut conn, &account).unwrap();
        lines
            .into_iter()
            .map(|l| {
                let d = details.remove(&l.sku_key).unwrap();
                (l, d)
            })
            .collect()
    })
    .await
    .unwrap()
}

/// Waits until `n` order-plan views are held.
async fn held(app: &TestApp, n: usize) {
    let started = std::time::Instant::now();
    while app.state.db.plan_orders().held().0 != n {
        assert!(started.elapsed().as_secs() < 10, "{n} views not held");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A large plan's views are held in order (`db::plan_orders`): every page
/// of a held view is the page the database sorts, with the same count and
/// totals, and a new plan is read in its own order, never a held one.
#[actix_web::test]
async fn a_large_plans_held_views_match_the_database_and_follow_a_new_plan() {
    use tributary::db::models::planning::{page_lines, LineFilter};
    let (app, token, shop) = one_shop().await;
    const CATEGORIES: [&str; 3] = ["Lamps", "Tents", "Bags"];
    let n = tributary::db::plan_orders::MIN_LINES as usize + 100;
    let variants: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("V{i}"), "sku": format!("SKU-{i:05}"),
                        "title": format!("Item {}", (i * 7919) % n), "cost_price": "2",
                        "category": CATEGORIES[i % 3]})
        })
        .collect();
    put(&app, &token, &shop, "variants", Value::Array(variants)).await;
    let stock: Vec<Value> = (0..n)
        .map(|i| {
            json!({"variant_id": format!("V{i}"), "warehouse_id": "W1", "on_hand": (i * 37) % 101,
                        "updated_at": "2026-01-01T00:00:00Z"})
        })
        .collect();
    put(&app, &token, &shop, "stock", Value::Array(stock)).await;
    let mut orders = Vec::new();
    for i in 0..40 {
        orders.extend(run_of_sales(
            &format!("S{i}"),
            &format!("V{}", i * 50),
            1 + i % 4,
            "2026-02-01",
            20,
        ));
    }
    put(&app, &token, &shop, "sales-orders", Value::Array(orders)).await;
    let org = Org {
        app,
        token,
        shop: shop.clone(),
        wholesale: String::new(),
        master: String::new(),
    };
    // What the database sorts, page by page.
    let database = |filter: LineFilter, sort: &'static str, desc: bool, offset: i64| {
        let db = org.app.state.db.clone();
        let shop = shop.clone();
        async move {
            actix_web::web::block(move || {
                let mut conn = db.conn().unwrap();
                let (total, rows) =
                    page_lines(&mut conn, &shop, &filter, sort, desc, offset, 100).unwrap();
                (
                    total,
                    rows.into_iter().map(|r| r.sku_key).collect::<Vec<_>>(),
                )
            })
            .await
            .unwrap()
        }
    };
    let keys = |b: &Value| -> Vec<String> {
        b["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sku"].as_str().unwrap().to_lowercase())
            .collect()
    };
    let tents = LineFilter {
        category: Some("Tents".into()),
        ..LineFilter::default()
    };
    let views: [(&str, LineFilter, &'static str, bool, i64); 6] = [
        ("", LineFilter::default(), "urgency", false, 0),
        (
            "sort=available",
            LineFilter::default(),
            "available",
            false,
            0,
        ),
        (
            "sort=available&order=desc&page=3",
            LineFilter::default(),
            "available",
            true,
            200,
        ),
        (
            "sort=title&page=21",
            LineFilter::default(),
            "title",
            false,
            2000,
        ),
        (
            "category=Tents&sort=on_order&order=desc&page=2",
            tents.clone(),
            "on_order",
            true,
            100,
        ),
        ("category=Tents&sort=sku", tents, "sku", false, 0),
    ];
    for (n, (query, filter, sort, desc, offset)) in views.into_iter().enumerate() {
        // The first two reads are answered by the database, then the view
        // is held; the third reads it from there.
        for read in 0..3 {
            let b = plan(&org, &shop, &format!("?per_page=100&{query}")).await;
            let (total, want) = database(filter.clone(), sort, desc, offset).await;
            assert_eq!(b["total"], json!(total), "{query}");
            assert_eq!(keys(&b), want, "{query}");
            match read {
                0 => assert_eq!(org.app.state.db.plan_orders().held().0, n),
                1 => held(&org.app, n + 1).await,
                _ => {}
            }
        }
    }
    // A new plan: V7 now has the most stock.
    put(
        &org.app,
        &org.token,
        &shop,
        "stock",
        json!([{"variant_id": "V7", "warehouse_id": "W1", "on_hand": 5000, "updated_at": "2026-02-25T00:00:00Z"}]),
    )
    .await;
    let b = plan(&org, &shop, "?per_page=100&sort=available&order=desc").await;
    assert_eq!(keys(&b)[0], "sku-00007");
    let (total, want) = database(LineFilter::default(), "available", true, 0).await;
    assert_eq!(b["total"], json!(total));
    assert_eq!(keys(&b), want);
}

/// Incremental replanning gives the plan a full replan gives, row for row:
/// an organisation is planned, then 15 new orders on two SKUs of the shop,
/// a stock reading at the wholesaler and an open purchase order arrive; what
/// they touched is recorded (the shop's LAMP-1 and LAMP-2, the
/// wholesaler's lamp-1 and BAG), the plans are brought up to date through
/// the lines they touch, and every field of every line and detail of the
/// shop, the wholesaler and the master equals what a full replan of the
/// same data stores.
#[actix_web::test]
async fn an_incremental_replan_equals_a_full_replan_row_for_row() {
    let Org {
        app,
        token,
        shop,
        wholesale,
        master,
    } = shop_and_wholesale().await;
    for (acc, skus) in [
        (&shop, ["LAMP-1", "LAMP-2", "TENT"]),
        (&wholesale, ["lamp-1", "BAG", "tent "]),
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
            json!([{"id": "ACME", "name": "Acme", "lead_time_days": 10}]),
        )
        .await;
        let variants: Vec<Value> = skus
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"id": format!("V{i}"), "sku": s, "vendor_id": "ACME", "cost_price": "3.5"}))
            .collect();
        put(&app, &token, acc, "variants", Value::Array(variants)).await;
        let stock: Vec<Value> = (0..3)
            .map(|i| json!({"variant_id": format!("V{i}"), "warehouse_id": "W1", "on_hand": 20 + 7 * i, "allocated": i,
                            "updated_at": "2026-01-01T00:00:00Z"}))
            .collect();
        put(&app, &token, acc, "stock", Value::Array(stock)).await;
        let mut orders = Vec::new();
        for i in 0..3 {
            for (n, o) in run_of_sales(
                &format!("SO{i}"),
                &format!("V{i}"),
                1 + i as u32,
                "2026-01-01",
                50,
            )
            .into_iter()
            .enumerate()
            {
                // Irregular demand: every third day sells double.
                let mut o = o;
                if n % 3 == 0 {
                    o["lines"][0]["quantity"] = json!(2 + 2 * i);
                }
                orders.push(o);
            }
        }
        put(&app, &token, acc, "sales-orders", Value::Array(orders)).await;
    }
    let org = Org {
        app,
        token,
        shop: shop.clone(),
        wholesale: wholesale.clone(),
        master: master.clone(),
    };
    plan(&org, &master, "").await;
    plan(&org, &shop, "").await;
    let before = stored_version(&org.app, &master).await;
    // The changes: 15 orders on LAMP-1 and LAMP-2 at the shop, a stock
    // reading of lamp-1 and a purchase order of BAG at the wholesaler.
    let mut orders = run_of_sales("NEW-A", "V0", 3, "2026-02-15", 8);
    orders.extend(run_of_sales("NEW-B", "V1", 1, "2026-02-20", 7));
    put(
        &org.app,
        &org.token,
        &shop,
        "sales-orders",
        Value::Array(orders),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &wholesale,
        "stock",
        json!([{"variant_id": "V0", "warehouse_id": "W1", "on_hand": 2, "allocated": 0, "updated_at": "2026-02-25T00:00:00Z"}]),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &wholesale,
        "stock-orders",
        json!([{"id": "PO-1", "kind": "purchase", "status": "active", "vendor_id": "ACME",
                "destination_warehouse_id": "W1", "expected_at": "2026-03-20",
                "lines": [{"id": "1", "variant_id": "V1", "quantity": 12}]}]),
    )
    .await;
    // A product edit at the wholesaler: TENT's cost, vendor terms and
    // title change, its SKU stays.
    put(
        &org.app,
        &org.token,
        &wholesale,
        "variants",
        json!([{"id": "V2", "sku": "tent ", "title": "Tent, 2 persons", "vendor_id": "ACME",
                "cost_price": "4.25", "lead_time_days": 21, "min_stock": 5}]),
    )
    .await;
    // What the master's replan recomputes: the rows of those variants.
    assert_eq!(
        changes_since(&org.app, &master, &before).await,
        Some(vec![
            ("Shop".to_string(), vec!["V0".to_string(), "V1".to_string()]),
            (
                "Wholesale".to_string(),
                vec!["V0".to_string(), "V1".to_string(), "V2".to_string()]
            ),
        ])
    );
    for acc in [&master, &shop, &wholesale] {
        plan(&org, acc, "").await;
    }
    // Both plans that read each child are past its changes: the records
    // of what they touched are forgotten.
    let db = org.app.state.db.clone();
    let kids = [shop.clone(), wholesale.clone()];
    let kept = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        kids.map(|k| tributary::db::models::planning::touch_count(&mut conn, &k).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(kept, [0, 0]);
    let incremental = [
        stored_plan(&org.app, &shop).await,
        stored_plan(&org.app, &wholesale).await,
        stored_plan(&org.app, &master).await,
    ];
    let incremental_summaries = stored_summaries(&org.app, [&shop, &wholesale, &master]).await;
    // The same data, planned whole.
    let db = org.app.state.db.clone();
    let ids = [shop.clone(), wholesale.clone(), master.clone()];
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        for id in ids {
            let acc = tributary::db::models::Account::find_by_id(&mut conn, &id)
                .unwrap()
                .unwrap();
            tributary::services::plans::compute_full(
                &mut conn,
                &acc,
                Some(TODAY.parse().unwrap()),
                None,
                &mut |_, _| {},
            )
            .unwrap();
        }
    })
    .await
    .unwrap();
    let full = [
        stored_plan(&org.app, &shop).await,
        stored_plan(&org.app, &wholesale).await,
        stored_plan(&org.app, &master).await,
    ];
    assert_eq!(
        incremental_summaries,
        stored_summaries(&org.app, [&shop, &wholesale, &master]).await,
        "the plans' summaries and line counts"
    );
    for (inc, full) in incremental.iter().zip(&full) {
        assert_eq!(inc.len(), full.len());
        for (a, b) in inc.iter().zip(full) {
            assert_eq!(a.0, b.0, "line {}", a.0.sku_key);
            assert_eq!(a.1, b.1, "detail {}", a.0.sku_key);
        }
    }
    assert_eq!(full[2].len(), 4, "LAMP-1, LAMP-2, TENT, BAG");
}

/// The stored plans' summaries and line counts.
async fn stored_summaries(app: &TestApp, accounts: [&String; 3]) -> Vec<(i64, String)> {
    let db = app.state.db.clone();
    let accounts = accounts.map(|a| a.to_string());
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        accounts
            .iter()
            .map(|a| {
                let h = tributary::db::models::planning::plan_header(&mut conn, a)
                    .unwrap()
                    .unwrap();
                (h.line_count, h.summary)
            })
            .collect()
    })
    .await
    .unwrap()
}

/// What an account's replan would recompute since inputs version
/// `before`: per account (by name) the variants touched, or `None` for
/// everything.
async fn changes_since(
    app: &TestApp,
    account: &str,
    before: &str,
) -> Option<Vec<(String, Vec<String>)>> {
    let db = app.state.db.clone();
    let (acc, before) = (account.to_string(), before.to_string());
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        let acc = tributary::db::models::Account::find_by_id(&mut conn, &acc)
            .unwrap()
            .unwrap();
        let today = TODAY.parse().unwrap();
        let now = tributary::services::plans::inputs_version(&mut conn, &acc, today).unwrap();
        tributary::services::replan::changes(&mut conn, &acc, &before, &now)
            .unwrap()
            .map(|c| {
                c.into_iter()
                    .map(|(a, ids)| (a.name, ids.into_iter().collect::<Vec<_>>()))
                    .collect()
            })
    })
    .await
    .unwrap()
}

/// A product edit that keeps the variant's SKU touches its own rows; a
/// new SKU moves it to another row, a new variant joins one, and a removed
/// one leaves its row: each of those replans whole.
#[actix_web::test]
async fn a_product_edit_touches_its_rows_and_a_move_touches_everything() {
    let (app, token, shop) = one_shop().await;
    let variants = json!([{"id": "V1", "sku": "LAMP"}, {"id": "V2", "sku": "TENT"}]);
    put(&app, &token, &shop, "variants", variants).await;
    put(
        &app,
        &token,
        &shop,
        "sales-orders",
        Value::Array(run_of_sales("S", "V1", 2, "2026-02-01", 20)),
    )
    .await;
    let org = Org {
        app,
        token,
        shop: shop.clone(),
        wholesale: String::new(),
        master: String::new(),
    };
    plan(&org, &shop, "").await;
    let mut before = stored_version(&org.app, &shop).await;
    let edits: [(Value, Option<Vec<&str>>); 5] = [
        (
            json!([{"id": "V1", "sku": " lamp", "cost_price": "3", "lead_time_days": 20}]),
            Some(vec!["V1"]),
        ),
        (json!([{"id": "V2", "sku": "TENT-XL"}]), None),
        (json!([{"id": "V3", "sku": "BAG"}]), None),
        (
            json!([{"id": "V1", "sku": "LAMP", "components": [{"variant_id": "V3", "quantity": 2}]}]),
            None,
        ),
        (
            json!([{"id": "V2", "sku": "TENT-XL", "removed": true}]),
            None,
        ),
    ];
    for (body, want) in edits {
        let label = body.to_string();
        put(&org.app, &org.token, &shop, "variants", body).await;
        let want = want.map(|ids| {
            vec![(
                "Shop".to_string(),
                ids.into_iter().map(String::from).collect(),
            )]
        });
        assert_eq!(
            changes_since(&org.app, &shop, &before).await,
            want,
            "{label}"
        );
        // The next edit is measured from the plan that follows this one.
        plan(&org, &shop, "").await;
        let now = stored_version(&org.app, &shop).await;
        assert_ne!(now, before, "{label}");
        before = now;
    }
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

/// `tributary plan` against the server's database: `--full` computes every
/// plan whole (children before their master), a second run finds them all
/// current, a change is replanned incrementally for the account and its
/// master, and an unknown account is an error.
#[actix_web::test]
async fn the_plan_command_replans_whole_or_only_what_changed() {
    let org = two_children().await;
    let url = org.app.state.config.database_url.clone();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        async move {
            actix_web::web::block(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
                    .arg("plan")
                    .args(args)
                    .env("DATABASE_URL", url)
                    .env("TRIBUTARY_SECRET_KEY", "2a".repeat(32))
                    .env("JWT_SECRET", "test-secret")
                    .env("TRIBUTARY_TODAY", TODAY)
                    .env("RUST_LOG", "warn")
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let modes = |out: &std::process::Output| -> Vec<(String, String)> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains('\t'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[2].to_string())
            })
            .collect()
    };
    let (shop, wholesale, master) = (org.shop.clone(), org.wholesale.clone(), org.master.clone());
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let full = modes(&run(args(&["--full"])).await);
    assert_eq!(
        full,
        vec![
            (shop.clone(), "full".to_string()),
            (wholesale.clone(), "full".to_string()),
            (master.clone(), "full".to_string()),
        ]
    );
    let again = modes(&run(vec![]).await);
    assert!(again.iter().all(|(_, m)| m == "current"), "{again:?}");
    put(
        &org.app,
        &org.token,
        &shop,
        "stock",
        json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 3, "allocated": 0, "updated_at": "2026-02-27T00:00:00Z"}]),
    )
    .await;
    let changed = modes(&run(args(&["--account", &master])).await);
    assert_eq!(changed.len(), 3, "{changed:?}");
    for (id, mode) in &changed {
        // The background worker may have replanned first.
        let expected: &[&str] = if id == &wholesale {
            &["current"]
        } else {
            &["incremental", "current"]
        };
        assert!(expected.contains(&mode.as_str()), "{id}: {mode}");
    }
    let b = plan(&org, &master, "").await;
    assert_eq!(num(&b["rows"][0]["available"]), 3.0 + 15.0, "{b}");
    let bad = run(args(&["--account", "acc_nope"])).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("acc_nope"));
}

/// A SKU marked not for reorder keeps its line with an order quantity of 0,
/// no order date and the `not_for_reorder` flag (filterable), and the
/// explanation says what would have been ordered; the mark of a child is
/// its own (its master still orders for the row until the master is
/// marked); a master's mark replans only that row; clearing the mark
/// brings the order back; bad rows are named and write nothing.
#[actix_web::test]
async fn a_sku_marked_not_for_reorder_orders_nothing_and_says_so() {
    let org = two_children().await;
    let (shop, master) = (org.shop.clone(), org.master.clone());
    plan(&org, &master, "").await;
    let mark = |acc: String, body: Value| {
        let org = &org;
        async move {
            org.app
                .call(
                    "PUT",
                    &format!("/api/v1/accounts/{acc}/sku-settings"),
                    Some(&org.token),
                    Some(body),
                )
                .await
        }
    };
    let (s, b) = mark(
        shop.clone(),
        json!([{"sku": "ts-red-m ", "not_for_reorder": true, "note": "Discontinued by the vendor"}]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b[0]["sku"], "ts-red-m");
    assert_eq!(b[0]["not_for_reorder"], true);
    assert_eq!(b[0]["updated_by"], "admin@acme.example");
    let p = plan(&org, &shop, "").await;
    let row = &p["rows"][0];
    assert_eq!(num(&row["order_quantity"]), 0.0, "{row}");
    assert_eq!(row["order_by"], Value::Null);
    assert_eq!(row["urgency"], "ok");
    assert_eq!(num(&row["available"]), 30.0, "stock still counts");
    assert_eq!(num(&row["coverage_demand"]), 88.0, "demand still counts");
    let flags: Vec<&str> = row["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(flags, ["not_for_reorder"]);
    assert_eq!(
        row["flags"][0]["message"],
        "Marked not for reorder: Discontinued by the vendor"
    );
    assert_eq!(plan(&org, &shop, "?flag=not_for_reorder").await["total"], 1);
    // Its supply plan projects the stock and plans no order.
    let (s, w) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{shop}/supply-plan/TS-RED-M?weeks=8"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let weeks = w["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 8);
    assert!(weeks.iter().all(|k| k["planned_order"].is_null()), "{w}");
    assert_eq!(num(&weeks[0]["opening"]), 30.0);
    assert_eq!(num(&weeks[0]["closing"]), 16.0, "30 − 7 × 2");
    let (s, e) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{shop}/order-plan/TS-RED-M"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let last = e["explanation"]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["step"], "not for reorder");
    assert_eq!(
        last["note"],
        "Marked not for reorder (Discontinued by the vendor): the recommended 58 is not ordered."
    );
    // The master's row: the shop's own figures show 0, the master still orders.
    let m = plan(&org, &master, "").await;
    let row = &m["rows"][0];
    assert_eq!(num(&row["accounts"][0]["order_quantity"]), 0.0, "{row}");
    assert_eq!(num(&row["order_quantity"]), 87.0);
    // The master's mark: only that row is recomputed (incrementally).
    let before = stored_version(&org.app, &master).await;
    let (s, b) = mark(
        master.clone(),
        json!([{"sku": "TS-RED-M", "not_for_reorder": true}]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let db = org.app.state.db.clone();
    let mid = master.clone();
    let changed = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        let acc = tributary::db::models::Account::find_by_id(&mut conn, &mid)
            .unwrap()
            .unwrap();
        let now =
            tributary::services::plans::inputs_version(&mut conn, &acc, TODAY.parse().unwrap())
                .unwrap();
        tributary::services::replan::changes(&mut conn, &acc, &before, &now)
            .unwrap()
            .map(|c| {
                c.into_iter()
                    .map(|(a, ids)| (a.kind, ids.into_iter().collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
            })
    })
    .await
    .unwrap();
    assert_eq!(
        changed,
        Some(vec![(
            tributary::domain::AccountKind::Master,
            vec!["key:ts-red-m".to_string()]
        )])
    );
    let m = plan(&org, &master, "").await;
    let row = &m["rows"][0];
    assert_eq!(num(&row["order_quantity"]), 0.0, "{row}");
    assert_eq!(
        row["flags"][0]["message"],
        "Marked not for reorder: nothing is ordered for it."
    );
    // Cleared: the order is back.
    let (s, b) = mark(
        shop.clone(),
        json!([{"sku": "TS-RED-M", "not_for_reorder": false}]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b, json!([]));
    assert_eq!(
        num(&plan(&org, &shop, "").await["rows"][0]["order_quantity"]),
        58.0
    );
    // Bad rows: every problem named, nothing written.
    let (s, b) = mark(
        shop.clone(),
        json!([{"sku": " ", "not_for_reorder": true},
               {"sku": "A-1", "not_for_reorder": true},
               {"sku": "a-1 ", "not_for_reorder": true, "note": "x".repeat(501)}]),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        details(&b)
            .into_iter()
            .map(|d| (d.0, d.1))
            .collect::<Vec<_>>(),
        vec![
            (1, "sku".to_string()),
            (3, "sku".to_string()),
            (3, "note".to_string())
        ]
    );
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{shop}/sku-settings"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b, json!([]), "nothing written");
}

/// The inputs version of an account's stored plan.
async fn stored_version(app: &TestApp, account: &str) -> String {
    let db = app.state.db.clone();
    let a = account.to_string();
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        tributary::db::models::planning::plan_header(&mut conn, &a)
            .unwrap()
            .unwrap()
            .inputs_version
    })
    .await
    .unwrap()
}

/// The line page links to the SKU's demand page and marks the SKU not for
/// reorder (and back) with its form.
#[actix_web::test]
async fn the_line_page_links_to_demand_and_marks_not_for_reorder() {
    let org = two_children().await;
    let shop = org.shop.clone();
    plan(&org, &shop, "").await;
    let browser = crate::helpers::cookie_client();
    org.app
        .form_login(&browser, "admin@acme.example", "correct horse", None)
        .await;
    let page = |browser: reqwest::Client| {
        let url = org
            .app
            .url(&format!("/accounts/{shop}/order-plan/TS-RED-M"));
        async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page(browser.clone()).await;
    assert!(
        html.contains(&format!("href=\"/accounts/{shop}/demand/ts-red-m\"")),
        "{html}"
    );
    assert!(html.contains("Mark not for reorder"));
    let csrf = org.app.session_csrf(&browser).await;
    let resp = browser
        .post(org.app.url(&format!(
            "/accounts/{shop}/order-plan/ts-red-m/not-for-reorder"
        )))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("not_for_reorder", "true"),
            ("note", "Seasonal, back in spring"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let html = page(browser.clone()).await;
    assert!(html.contains("Reorder again"), "{html}");
    assert!(html.contains("Marked not for reorder: Seasonal, back in spring"));
    assert!(html.contains("<dd id=\"order-quantity\">0</dd>"), "{html}");
    // Without the session's token nothing changes.
    let resp = browser
        .post(org.app.url(&format!(
            "/accounts/{shop}/order-plan/ts-red-m/not-for-reorder"
        )))
        .form(&[("csrf_token", "forged"), ("not_for_reorder", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(page(browser).await.contains("Reorder again"));
}

/// The totals box counts the lines the filters keep, and says so; a first
/// click on Value sorts the largest first; amounts carry thousands
/// separators.
#[actix_web::test]
async fn the_totals_follow_the_filters() {
    let org = two_children().await;
    let master = org.master.clone();
    plan(&org, &master, "").await;
    let browser = crate::helpers::cookie_client();
    org.app
        .form_login(&browser, "admin@acme.example", "correct horse", None)
        .await;
    let get = |query: &str| {
        let url = org
            .app
            .url(&format!("/accounts/{master}/order-plan{query}"));
        let b = browser.clone();
        async move { b.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let soon = |html: &str| {
        let at = html.find("data-testid=\"soon-units\">").unwrap() + 25;
        html[at..at + html[at..].find('<').unwrap()].to_string()
    };
    let all = get("").await;
    assert_eq!(soon(&all), "87");
    assert!(!all.contains("totals-scope"));
    let at = all.find("data-sort=\"order_value\"").unwrap();
    let link = &all[all[..at].rfind("href=").unwrap()..at];
    assert!(
        link.contains("sort=order_value&#38;order=desc"),
        "Value sorts largest first on the first click: {link}"
    );
    let vendor = get("?vendor=Acme%20Textiles").await;
    assert_eq!(soon(&vendor), "87");
    assert!(vendor.contains("Totals of the SKUs matching the filters."));
    let none = get("?q=no-such-sku").await;
    assert_eq!(soon(&none), "0");
    let other = get("?urgency=now").await;
    assert_eq!(soon(&other), "0", "no line of urgency now orders soon");
}

/// No dead ends: a demand search for part of a SKU opens the one SKU that
/// contains it; the demand page links to the plan line; a wrong SKU in a
/// page's address answers an HTML page (the API keeps its JSON).
#[actix_web::test]
async fn pages_lead_somewhere_from_a_partial_or_wrong_sku() {
    let org = two_children().await;
    let shop = org.shop.clone();
    plan(&org, &shop, "").await;
    let browser = crate::helpers::cookie_client();
    org.app
        .form_login(&browser, "admin@acme.example", "correct horse", None)
        .await;
    let get = |path: String| {
        let url = org.app.url(&path);
        let b = browser.clone();
        async move { b.get(url).send().await.unwrap() }
    };
    let resp = get(format!("/accounts/{shop}/demand/TS-RED")).await;
    assert_eq!(resp.status(), 303);
    let to = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, format!("/accounts/{shop}/demand/ts-red-m"));
    let resp = get(to).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "href=\"/accounts/{shop}/order-plan/ts-red-m\" id=\"to-plan-line\""
        )),
        "{html}"
    );
    let resp = get(format!("/accounts/{shop}/order-plan/NO-SUCH-SKU")).await;
    assert_eq!(resp.status(), 404);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"error-page\""), "{html}");
    assert!(html.contains("has no line for that SKU"), "{html}");
    let resp = get("/accounts/acc_nope/order-plan".into()).await;
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("id=\"error-page\""));
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{shop}/order-plan/NO-SUCH-SKU"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
}

/// A read during a stream of imports waits only for a plan of the data
/// written before it: it answers well within the 10 s wait, not stale, with
/// what was imported before it. (A read used to wait for the plan to be
/// current, which a stream of imports never lets happen, and answered
/// stale after the full 10 s.)
#[actix_web::test]
async fn a_read_during_a_stream_of_imports_waits_only_for_its_own_data() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let org = two_children().await;
    let (app, token) = (&org.app, &org.token);
    let plan = format!("/api/v1/accounts/{}/order-plan", org.shop);
    let (s, b) = app.call("GET", &plan, Some(token), None).await;
    assert_eq!(s, 200, "{b}");
    // Another writer imports into the shop again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = {
        let (stop, client, token) = (stop.clone(), app.client.clone(), token.clone());
        let url = app.url(&format!("/api/v1/accounts/{}/sales-orders", org.shop));
        actix_web::rt::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let order = json!([{"id": format!("STREAM-{n}"), "ordered_at": "2026-02-27T15:00:00Z",
                    "warehouse_id": "W1", "lines": [{"id": "1", "variant_id": "V1", "quantity": 1}]}]);
                let resp = client
                    .put(&url)
                    .bearer_auth(&token)
                    .json(&order)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // This caller's own write, then its read.
    put(
        app,
        token,
        &org.shop,
        "stock",
        json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 77, "updated_at": "2026-02-01T00:00:00Z"}]),
    )
    .await;
    let started = std::time::Instant::now();
    let (s, b) = app.call("GET", &plan, Some(token), None).await;
    let waited = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let imports = streamer.await.unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(imports > 3, "the stream ran ({imports} imports)");
    assert!(
        waited < std::time::Duration::from_secs(5),
        "waited {waited:?}"
    );
    assert_eq!(b["stale"], false, "{b}");
    assert_eq!(num(&b["rows"][0]["available"]), 77.0, "{b}");
}

/// A read waiting for a plan stops waiting once the plan that would cover
/// it can no longer come within the wait: here the master's plan job has
/// been running for 6 s when the read starts (the last ones took far less)
/// and never ends. The estimate at the read's start still hopes (6 s more
/// would fit the 10 s); a second or so later the running job has outlasted
/// it and the read answers the stored plan, marked stale. (A read used to
/// keep its first estimate and answered stale after the whole 10 s.)
#[actix_web::test]
async fn a_read_stops_waiting_once_the_running_plan_job_outlasts_what_is_left() {
    use diesel::RunQueryDsl;
    use tributary::jobs::{Job, JobKind, JobStatus};
    let org = two_children().await;
    let (app, token) = (&org.app, &org.token);
    let plan = format!("/api/v1/accounts/{}/order-plan", org.master);
    while app.call("GET", &plan, Some(token), None).await.1["stale"] != false {}
    // A plan job of the master that another process has been running for
    // 6 s, under a live lease.
    let master = org.master.clone();
    app.state
        .db
        .run(move |conn| {
            let account =
                tributary::db::models::Account::find_by_id(conn, &master)?.expect("the master");
            let now = chrono::Utc::now().naive_utc();
            let mut job = Job::queued(&account, JobKind::Plan);
            job.status = JobStatus::Running;
            job.attempts = 1;
            job.lease_owner = Some("another-process".into());
            job.lease_until = Some(now + chrono::Duration::minutes(10));
            job.started_at = Some(now - chrono::Duration::seconds(6));
            diesel::insert_into(tributary::db::schema::jobs::table)
                .values(job)
                .execute(conn)?;
            Ok::<_, tributary::services::ServiceError>(())
        })
        .await
        .unwrap();
    put(
        app,
        token,
        &org.shop,
        "stock",
        json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 77}]),
    )
    .await;
    let started = std::time::Instant::now();
    let (s, b) = app.call("GET", &plan, Some(token), None).await;
    let waited = started.elapsed();
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["stale"], true, "{b}");
    assert!(
        waited < std::time::Duration::from_secs(7),
        "waited {waited:?}"
    );
}
