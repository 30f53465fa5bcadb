//! The supply plan: `GET /api/v1/accounts/{id}/supply-plan/{sku}`, the
//! all-SKU list (JSON and CSV) and a week's merchant quantity
//! (`PUT`/`DELETE .../weeks/{first_day}`). Worked by hand: 10 a day,
//! 100 available, an active order of 200 arriving on day 10, lead time 14,
//! order cycle 28, constant demand (no variability, safety stock 0). The
//! page in headless Chromium: opened from the order plan, a week set and
//! cleared.

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::browser::{browser, click_to_navigate, log_in, start_driver};
use crate::helpers::assert_error;
use crate::plans::put;
use crate::TestApp;

const TODAY: &str = "2026-03-01";

pub(crate) struct Shop {
    pub(crate) app: TestApp,
    pub(crate) token: String,
    pub(crate) shop: String,
    pub(crate) master: String,
}

/// A shop selling 10 of `TEA-1` a day through February, holding 100, with
/// an active purchase order of 200 expected on 2026-03-11 (day 10), lead
/// time 14 and 28 days of stock.
pub(crate) async fn worked_example(app: TestApp) -> Shop {
    let token = app.admin("Acme").await;
    let c = app.create_child(&token, "Shop").await;
    let shop = c["id"].as_str().unwrap().to_string();
    // A second child (selling nothing) makes the organisation's master.
    let master = app.create_child(&token, "Outlet").await["master_id"]
        .as_str()
        .unwrap()
        .to_string();
    for acc in [&shop, &master] {
        let (s, b) = app
            .call(
                "PATCH",
                &format!("/api/v1/accounts/{acc}"),
                Some(&token),
                Some(json!({"planning": {"lead_time_days": 14, "days_of_stock": 28}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    put(
        &app,
        &token,
        &shop,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
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
        json!([{"id": "V1", "sku": "TEA-1", "title": "Green tea", "vendor_id": "ACME"}]),
    )
    .await;
    put(
        &app,
        &token,
        &shop,
        "stock",
        json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 100, "allocated": 0, "updated_at": "2026-01-01T00:00:00Z"}]),
    )
    .await;
    let orders: Vec<Value> = (1..=28)
        .map(|d| {
            json!({"id": format!("SO-{d}"), "ordered_at": format!("2026-02-{d:02}T12:00:00Z"),
                   "warehouse_id": "W1",
                   "lines": [{"id": "1", "variant_id": "V1", "quantity": 10, "unit_price": "3"}]})
        })
        .collect();
    put(&app, &token, &shop, "sales-orders", Value::Array(orders)).await;
    put(
        &app,
        &token,
        &shop,
        "stock-orders",
        json!([{"id": "PO1", "kind": "purchase", "status": "active", "vendor_id": "ACME",
                "destination_warehouse_id": "W1", "expected_at": "2026-03-11",
                "lines": [{"id": "1", "variant_id": "V1", "quantity": 200}]}]),
    )
    .await;
    Shop {
        app,
        token,
        shop,
        master,
    }
}

async fn get(s: &Shop, path: &str) -> Value {
    let (status, b) = s.app.call("GET", path, Some(&s.token), None).await;
    assert_eq!(status, 200, "{path}: {b}");
    b
}

fn row(w: &Value) -> [f64; 5] {
    let n = |k: &str| w[k].as_f64().unwrap();
    [
        n("opening"),
        n("receipts"),
        n("planned_arrivals"),
        n("forecast"),
        n("closing"),
    ]
}

#[actix_web::test]
async fn the_worked_example_week_by_week_on_a_child_and_its_master() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let s = worked_example(app).await;
    for acc in [s.shop.clone(), s.master.clone()] {
        let explained = get(&s, &format!("/api/v1/accounts/{acc}/order-plan/tea-1")).await;
        assert_eq!(explained["row"]["order_quantity"], 120.0, "{explained}");
        assert_eq!(explained["row"]["order_by"], "2026-03-17");
        let b = get(
            &s,
            &format!("/api/v1/accounts/{acc}/supply-plan/tea-1?weeks=8"),
        )
        .await;
        assert_eq!(b["sku"], "TEA-1");
        assert_eq!(b["stale"], false);
        let weeks = b["weeks"].as_array().unwrap();
        assert_eq!(weeks.len(), 8);
        assert_eq!(weeks[0]["first_day"], "2026-03-01");
        assert_eq!(weeks[1]["first_day"], "2026-03-08");
        assert_eq!(row(&weeks[0]), [100.0, 0.0, 0.0, 70.0, 30.0], "{b}");
        assert_eq!(row(&weeks[1]), [30.0, 200.0, 0.0, 70.0, 160.0]);
        assert_eq!(row(&weeks[2]), [160.0, 0.0, 0.0, 70.0, 90.0]);
        // The first planned order is the order plan's.
        assert_eq!(
            weeks[2]["planned_order"],
            json!({"quantity": 120.0, "order_day": "2026-03-17",
                   "arrival_day": "2026-03-31", "source": "recommended"})
        );
        assert_eq!(row(&weeks[3]), [90.0, 0.0, 0.0, 70.0, 20.0]);
        assert_eq!(row(&weeks[4]), [20.0, 0.0, 120.0, 70.0, 70.0]);
        assert_eq!(weeks[4]["planned_order"]["quantity"], 280.0);
        assert_eq!(weeks[4]["planned_order"]["order_day"], "2026-03-29");
        assert_eq!(weeks[0]["safety_stock"], 0.0);
        assert_eq!(weeks[0]["below_safety"], false);
        assert_eq!(weeks[0]["receipts_overdue"], 0.0);
        assert_eq!(weeks[0]["model_forecast"], 70.0);
        assert!(weeks[1]["planned_order"].is_null());
    }
    // Defaults to 26 weeks.
    let b = get(
        &s,
        &format!("/api/v1/accounts/{}/supply-plan/TEA-1", s.shop),
    )
    .await;
    assert_eq!(b["weeks"].as_array().unwrap().len(), 26);
}

#[actix_web::test]
async fn the_list_by_week_as_json_and_csv() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let s = worked_example(app).await;
    let b = get(
        &s,
        &format!(
            "/api/v1/accounts/{}/supply-plan?weeks=6&vendor=Acme",
            s.master
        ),
    )
    .await;
    assert_eq!(b["total"], 1, "{b}");
    assert_eq!(b["page"], 1);
    assert_eq!(b["per_page"], 50);
    assert_eq!(
        b["weeks"],
        json!([
            "2026-03-01",
            "2026-03-08",
            "2026-03-15",
            "2026-03-22",
            "2026-03-29",
            "2026-04-05"
        ])
    );
    assert_eq!(
        b["rows"][0],
        json!({"sku": "TEA-1", "title": "Green tea", "vendor": "Acme",
               "planned_orders": [0.0, 0.0, 120.0, 0.0, 280.0, 0.0]})
    );
    let none = get(
        &s,
        &format!("/api/v1/accounts/{}/supply-plan?q=coffee", s.master),
    )
    .await;
    assert_eq!(none["total"], 0);
    let resp = reqwest::Client::new()
        .get(s.app.url(&format!(
            "/api/v1/accounts/{}/supply-plan?weeks=3&format=csv",
            s.shop
        )))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(
        resp.text().await.unwrap(),
        "sku,title,vendor,2026-03-01,2026-03-08,2026-03-15\nTEA-1,Green tea,Acme,0,0,120\n"
    );
    let (st, e) = s
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/supply-plan?weeks=105", s.shop),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(e["error"]["details"][0]["field"], "weeks");
}

#[actix_web::test]
async fn a_merchant_quantity_replaces_the_weeks_recommendation_until_cleared() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let s = worked_example(app).await;
    let week = format!(
        "/api/v1/accounts/{}/supply-plan/TEA-1/weeks/2026-03-15",
        s.master
    );
    let (st, b) = s
        .app
        .call("PUT", &week, Some(&s.token), Some(json!({"quantity": 150})))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b, json!({"quantity": 150.0}));
    let plan = format!("/api/v1/accounts/{}/supply-plan/TEA-1?weeks=6", s.master);
    let b = get(&s, &plan).await;
    let weeks = b["weeks"].as_array().unwrap();
    // Ordered on the week's first day (day 14), arriving on day 28.
    assert_eq!(
        weeks[2]["planned_order"],
        json!({"quantity": 150.0, "order_day": "2026-03-15",
               "arrival_day": "2026-03-29", "source": "merchant"})
    );
    assert_eq!(row(&weeks[4]), [20.0, 0.0, 150.0, 70.0, 100.0]);
    // The order plan is untouched; the child's supply plan too.
    let explained = get(
        &s,
        &format!("/api/v1/accounts/{}/order-plan/TEA-1", s.master),
    )
    .await;
    assert_eq!(explained["row"]["order_quantity"], 120.0);
    let child = get(
        &s,
        &format!("/api/v1/accounts/{}/supply-plan/TEA-1?weeks=6", s.shop),
    )
    .await;
    assert_eq!(child["weeks"][2]["planned_order"]["quantity"], 120.0);
    // Bad input names its field and writes nothing.
    for (path, body, field) in [
        (
            format!(
                "/api/v1/accounts/{}/supply-plan/TEA-1/weeks/2026-03-16",
                s.master
            ),
            json!({"quantity": 5}),
            "first_day",
        ),
        (
            format!(
                "/api/v1/accounts/{}/supply-plan/TEA-1/weeks/2026-02-22",
                s.master
            ),
            json!({"quantity": 5}),
            "first_day",
        ),
        (
            format!(
                "/api/v1/accounts/{}/supply-plan/TEA-1/weeks/15-03-2026",
                s.master
            ),
            json!({"quantity": 5}),
            "first_day",
        ),
        (week.clone(), json!({"quantity": -1}), "quantity"),
        (week.clone(), json!({"quantity": "many"}), "quantity"),
        (week.clone(), json!({}), "quantity"),
        (week.clone(), json!({"quantity": 5, "qty": 5}), "qty"),
    ] {
        let (st, e) = s.app.call("PUT", &path, Some(&s.token), Some(body)).await;
        assert_eq!(st, 422, "{path}: {e}");
        assert_error(&e, "validation_failed");
        assert_eq!(e["error"]["details"][0]["field"], field, "{e}");
    }
    let (st, e) = s
        .app
        .call(
            "PUT",
            &format!(
                "/api/v1/accounts/{}/supply-plan/NOPE/weeks/2026-03-15",
                s.master
            ),
            Some(&s.token),
            Some(json!({"quantity": 5})),
        )
        .await;
    assert_eq!(st, 404, "{e}");
    // A viewer reads but may not set a week; another organisation sees
    // no such account.
    s.app
        .add_user("vera@acme.example", "viewer-password", "Acme", "viewer")
        .await;
    let viewer = s.app.token("vera@acme.example", "viewer-password").await;
    let (st, _) = s.app.call("GET", &plan, Some(&viewer), None).await;
    assert_eq!(st, 200);
    let (st, e) = s
        .app
        .call("PUT", &week, Some(&viewer), Some(json!({"quantity": 1})))
        .await;
    assert_eq!(st, 403, "{e}");
    let other = s.app.admin("Globex").await;
    let (st, _) = s
        .app
        .call("PUT", &week, Some(&other), Some(json!({"quantity": 1})))
        .await;
    assert_eq!(st, 404);
    let (st, _) = s.app.call("GET", &plan, Some(&other), None).await;
    assert_eq!(st, 404);
    assert_eq!(
        get(&s, &plan).await["weeks"][2]["planned_order"]["quantity"],
        150.0
    );
    // Cleared: the recommendation is back.
    let (st, _) = s.app.call("DELETE", &week, Some(&s.token), None).await;
    assert_eq!(st, 204);
    let b = get(&s, &plan).await;
    assert_eq!(b["weeks"][2]["planned_order"]["source"], "recommended");
    assert_eq!(b["weeks"][2]["planned_order"]["quantity"], 120.0);
}

/// The text of a week's planned-order cell on the supply-plan page.
/// Read again while a form's answer replaces the page (an element of the
/// old document goes stale under the reader).
async fn planned_cell(c: &fantoccini::Client, first_day: &str) -> String {
    let css = format!("#week-{first_day} [data-testid=planned-order]");
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(&css)).await {
            if let Ok(text) = e.text().await {
                return text;
            }
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no planned-order cell for the week of {first_day}");
}

#[actix_web::test]
async fn open_a_skus_supply_plan_from_the_order_plan_and_set_a_week() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let s = worked_example(app).await;
    let c = browser(&driver).await;
    log_in(&c, &s.app).await;
    c.goto(&s.app.url(&format!("/accounts/{}/order-plan", s.master)))
        .await
        .unwrap();
    click_to_navigate(
        &c,
        Locator::Css("#order-plan tr[data-sku='TEA-1'] a[data-testid=supply-link]"),
    )
    .await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.path().to_lowercase().ends_with("/supply-plan/tea-1"),
        "{url}"
    );
    // The chart: projected stock, safety stock, a receipt and arrivals.
    c.find(Locator::Css("#supply-chart #stock-line"))
        .await
        .unwrap();
    c.find(Locator::Css("#supply-chart #safety-line"))
        .await
        .unwrap();
    let receipts = c
        .find_all(Locator::Css("#supply-chart circle.receipt"))
        .await
        .unwrap();
    assert_eq!(receipts.len(), 1);
    assert!(!c
        .find_all(Locator::Css("#supply-chart circle.arrival"))
        .await
        .unwrap()
        .is_empty());
    let rows = c
        .find_all(Locator::Css("#supply-weeks tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 26);
    let week3 = planned_cell(&c, "2026-03-15").await;
    assert!(
        week3.contains("120") && week3.contains("recommended"),
        "{week3}"
    );
    assert_eq!(
        c.find(Locator::Css("#plan-order-quantity"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "120"
    );

    // Set 150 for the week of 2026-03-15.
    let form = c
        .find(Locator::Css("#week-2026-03-15 form.week-form"))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=quantity]"))
        .await
        .unwrap()
        .send_keys("150")
        .await
        .unwrap();
    let before = c.current_url().await.unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for _ in 0..200 {
        if c.current_url().await.unwrap() != before {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The answer page may keep the address: wait for the cell to change.
    let mut week3 = String::new();
    for _ in 0..200 {
        week3 = planned_cell(&c, "2026-03-15").await;
        if week3.contains("yours") {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(week3.contains("150") && week3.contains("yours"), "{week3}");
    let arrivals = c
        .find(Locator::Css("#week-2026-03-29 td:nth-child(6)"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(arrivals, "150");

    // Clear it: the recommendation is back.
    c.find(Locator::Css("#week-2026-03-15 button.clear"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut text = String::new();
    for _ in 0..200 {
        text = planned_cell(&c, "2026-03-15").await;
        if text.contains("recommended") {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("120") && text.contains("recommended"),
        "{text}"
    );

    // The demand page links the same SKU's supply plan.
    c.goto(&s.app.url(&format!("/accounts/{}/demand/TEA-1", s.master)))
        .await
        .unwrap();
    click_to_navigate(&c, Locator::Css("#supply-link")).await;
    let url = c.current_url().await.unwrap();
    assert!(url.path().ends_with("/supply-plan/TEA-1"), "{url}");
}
