//! Forecast edits: `GET/PUT /api/v1/accounts/{id}/forecast-edits`,
//! `DELETE .../{edit_id}`, `.../history`, `.../conflicts`, and their effect
//! on the order plan. Numbers are worked by hand: the planning date is
//! 2026-03-01, demand is constant at 2 a day through February (so the
//! forecast is 2 a day and the safety stock 0), the coverage window is lead
//! time 14 + days of stock 30 = 44 days (2026-03-01 … 2026-04-13), and 30
//! are available: the model's order is 2 × 44 − 30 = 58. April starts on
//! day 31, so 13 of its days fall inside the window.

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::TestApp;

const TODAY: &str = "2026-03-01";

struct Shop {
    app: TestApp,
    token: String,
    id: String,
}

async fn put(app: &TestApp, token: &str, account: &str, entity: &str, body: Value) -> Value {
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{account}/{entity}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{entity}: {b}");
    b
}

/// `per_day(d)` units of `variant` sold on each day of February 2026.
fn sales(prefix: &str, variant: &str, per_day: impl Fn(u32) -> u32) -> Value {
    Value::Array(
        (1..=28)
            .map(|d| {
                json!({
                    "id": format!("{prefix}-{d}"),
                    "ordered_at": format!("2026-02-{d:02}T12:00:00Z"),
                    "warehouse_id": "W1",
                    "lines": [{"id": "1", "variant_id": variant, "quantity": per_day(d)}]
                })
            })
            .collect(),
    )
}

/// A child account selling `SH-RED` and `SH-BLUE` (category Shirts; brands
/// Acme and Other) 2 a day each with 30 available, and `VAR-1` (1 and 5 on
/// alternate days) with 0 available.
async fn shop_with(app: TestApp, token: String, id: String) -> Shop {
    put(
        &app,
        &token,
        &id,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    put(
        &app,
        &token,
        &id,
        "variants",
        json!([
            {"id": "V1", "sku": "SH-RED", "category": "Shirts", "brand": "Acme", "tags": ["summer"]},
            {"id": "V2", "sku": "SH-BLUE", "category": "Shirts", "brand": "Other"},
            {"id": "V3", "sku": "VAR-1", "category": "Misc"}
        ]),
    )
    .await;
    put(
        &app,
        &token,
        &id,
        "stock",
        json!([
            {"variant_id": "V1", "warehouse_id": "W1", "on_hand": 30, "updated_at": "2026-01-01T00:00:00Z"},
            {"variant_id": "V2", "warehouse_id": "W1", "on_hand": 30, "updated_at": "2026-01-01T00:00:00Z"},
            {"variant_id": "V3", "warehouse_id": "W1", "on_hand": 1000, "updated_at": "2026-01-01T00:00:00Z"}
        ]),
    )
    .await;
    put(&app, &token, &id, "sales-orders", sales("R", "V1", |_| 2)).await;
    put(&app, &token, &id, "sales-orders", sales("B", "V2", |_| 2)).await;
    put(
        &app,
        &token,
        &id,
        "sales-orders",
        sales("X", "V3", |d| if d % 2 == 0 { 5 } else { 1 }),
    )
    .await;
    Shop { app, token, id }
}

async fn shop() -> Shop {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let id = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    shop_with(app, token, id).await
}

impl Shop {
    async fn edits(&self, body: Value) -> (u16, Value) {
        self.app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{}/forecast-edits", self.id),
                Some(&self.token),
                Some(body),
            )
            .await
    }

    async fn get(&self, path: &str) -> Value {
        let (s, b) = self
            .app
            .call(
                "GET",
                &format!("/api/v1/accounts/{}/{path}", self.id),
                Some(&self.token),
                None,
            )
            .await;
        assert_eq!(s, 200, "{path}: {b}");
        b
    }

    /// One line of the fresh plan with its explanation.
    async fn line(&self, sku: &str) -> Value {
        let b = self.get(&format!("order-plan/{sku}")).await;
        assert_eq!(b["stale"], false, "{b}");
        b
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[actix_web::test]
async fn a_percent_edit_next_month_adds_exactly_the_edited_days_inside_the_window() {
    let s = shop().await;
    let before = s.line("SH-RED").await;
    assert_eq!(num(&before["row"]["order_quantity"]), 58.0, "{before}");
    assert_eq!(before["explanation"]["edit"], Value::Null);
    let version = s.get("plan-status").await["computed_at"].clone();

    let (st, b) = s
        .edits(json!([{"target": {"sku": "sh-red"}, "month": "2026-04", "kind": "percent", "value": 50, "note": "Easter promotion"}]))
        .await;
    assert_eq!(st, 200, "{b}");
    let id = b[0]["id"].as_str().unwrap().to_string();
    assert_eq!(b[0]["target"], json!({"sku": "sh-red"}));
    assert_eq!(num(&b[0]["value"]), 50.0);

    let after = s.line("SH-RED").await;
    assert_ne!(s.get("plan-status").await["computed_at"], version);
    let row = &after["row"];
    // 13 April days × 2 × 50 % = 13 more.
    assert_eq!(num(&row["coverage_demand"]), 101.0, "{after}");
    assert_eq!(num(&row["order_quantity"]), 71.0, "58 + 13");
    assert_eq!(num(&row["safety_stock"]), 0.0);
    let e = &after["explanation"]["edit"];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["kind"], "percent");
    assert_eq!(num(&e["value"]), 50.0);
    assert_eq!(num(&e["model_per_day"]), 2.0);
    assert_eq!(num(&e["edited_per_day"]), 3.0);
    // The other SKU and the listing.
    assert_eq!(num(&s.line("SH-BLUE").await["row"]["order_quantity"]), 58.0);
    let list = s.get("forecast-edits").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["note"], "Easter promotion");
    assert!(list[0]["created_by"].as_str().unwrap().contains('@'));
    assert!(list[0]["created_at"].is_string());

    // Upserted by (target, month): the same SKU in another casing replaces it.
    let (st, b) = s
        .edits(json!([{"target": {"sku": "SH-RED"}, "month": "2026-04", "kind": "quantity", "value": "300"}]))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b[0]["id"], id.as_str(), "the same edit, updated");
    // 300 over April's 30 days is 10 a day: 13 × 10 instead of 13 × 2.
    let row = &s.line("SH-RED").await["row"];
    assert_eq!(num(&row["order_quantity"]), 58.0 + 13.0 * 8.0);

    // Deleted: the model's order again; the history keeps every change.
    let (st, b) = s
        .app
        .call(
            "DELETE",
            &format!("/api/v1/accounts/{}/forecast-edits/{id}", s.id),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, 204, "{b}");
    assert_eq!(num(&s.line("SH-RED").await["row"]["order_quantity"]), 58.0);
    assert_eq!(s.get("forecast-edits").await, json!([]));
    let h = s.get("forecast-edits/history").await;
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deleted", "updated", "created"], "{h}");
    assert!(h[0]["by"].as_str().unwrap().contains('@'));
    assert_eq!(h[2]["kind"], "percent");
    let (st, b) = s
        .app
        .call(
            "DELETE",
            &format!("/api/v1/accounts/{}/forecast-edits/{id}", s.id),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, 404, "{b}");
}

#[actix_web::test]
async fn no_demand_from_next_month_orders_what_is_needed_until_then() {
    let s = shop().await;
    let (st, b) = s
        .edits(json!([
            {"target": {"sku": "SH-RED"}, "month": "2026-04", "kind": "no_demand"},
            {"target": {"sku": "SH-RED"}, "month": "2026-05", "kind": "no_demand", "value": null}
        ]))
        .await;
    assert_eq!(st, 200, "{b}");
    let after = s.line("SH-RED").await;
    let row = &after["row"];
    // March's 31 days × 2 − 30 available.
    assert_eq!(num(&row["coverage_demand"]), 62.0, "{after}");
    assert_eq!(num(&row["order_quantity"]), 32.0);
    assert_eq!(after["explanation"]["edits"].as_array().unwrap().len(), 1);
    assert_eq!(num(&after["explanation"]["edit"]["edited_per_day"]), 0.0);
}

#[actix_web::test]
async fn a_sku_edit_beats_a_group_edit_and_two_group_edits_conflict() {
    let s = shop().await;
    let (st, b) = s
        .edits(json!([
            {"target": {"category": "shirts"}, "month": "2026-04", "kind": "percent", "value": 100},
            {"target": {"sku": "SH-RED"}, "month": "2026-04", "kind": "percent", "value": 50}
        ]))
        .await;
    assert_eq!(st, 200, "{b}");
    // SH-RED: its own +50 % (13 more); SH-BLUE: the category's +100 % (26 more).
    assert_eq!(num(&s.line("SH-RED").await["row"]["order_quantity"]), 71.0);
    assert_eq!(num(&s.line("SH-BLUE").await["row"]["order_quantity"]), 84.0);
    assert_eq!(s.get("forecast-edits/conflicts").await, json!([]));

    // A brand edit on SH-BLUE's month as well: a conflict, neither applies.
    let (st, b) = s
        .edits(json!([{"target": {"brand": "Other"}, "month": "2026-04", "kind": "percent", "value": -50}]))
        .await;
    assert_eq!(st, 200, "{b}");
    let blue = s.line("SH-BLUE").await;
    assert_eq!(num(&blue["row"]["order_quantity"]), 58.0, "{blue}");
    assert_eq!(blue["explanation"]["edit"], Value::Null);
    let flags = blue["row"]["flags"].as_array().unwrap();
    assert!(
        flags.iter().any(|f| f["code"] == "forecast_edit_conflict"),
        "{flags:?}"
    );
    let c = s.get("forecast-edits/conflicts").await;
    assert_eq!(c.as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c[0]["sku"], "SH-BLUE");
    assert_eq!(c[0]["month"], "2026-04");
    assert_eq!(c[0]["edit_ids"].as_array().unwrap().len(), 2);
    // SH-RED's own edit still decides for it.
    assert_eq!(num(&s.line("SH-RED").await["row"]["order_quantity"]), 71.0);
    let flagged = s.get("order-plan?flag=forecast_edit_conflict").await;
    assert_eq!(flagged["total"], 1);
}

#[actix_web::test]
async fn safety_stock_follows_the_edited_level() {
    let s = shop().await;
    let before = s.line("VAR-1").await;
    let ss = num(&before["row"]["safety_stock"]);
    assert!(ss > 0.0, "{before}");
    // The whole lead time (1–14 March) is in March: doubled demand doubles
    // the safety stock.
    let (st, b) = s
        .edits(json!([{"target": {"tag": "x"}, "month": "2026-03", "kind": "percent", "value": 100},
                      {"target": {"category": "MISC"}, "month": "2026-03", "kind": "percent", "value": 100}]))
        .await;
    assert_eq!(st, 200, "{b}");
    let after = s.line("VAR-1").await;
    let edited = num(&after["row"]["safety_stock"]);
    assert!((edited - 2.0 * ss).abs() < 1e-5, "{ss} → {edited}: {after}");
    // No demand over the lead time: no safety stock.
    let (st, b) = s
        .edits(json!([{"target": {"sku": "VAR-1"}, "month": "2026-03", "kind": "no_demand"}]))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(num(&s.line("VAR-1").await["row"]["safety_stock"]), 0.0);
}

#[actix_web::test]
async fn bad_rows_are_named_by_row_and_field_and_nothing_is_written() {
    let s = shop().await;
    let (st, b) = s
        .edits(json!([
            {"target": {"sku": "SH-RED"}, "month": "2026-04", "kind": "percent", "value": 10},
            {"target": {"colour": "red"}, "month": "2026-04", "kind": "percent", "value": 10},
            {"target": {"sku": "SH-RED"}, "month": "2026-4", "kind": "percent", "value": 10},
            {"target": {"sku": "SH-RED"}, "month": "2026-02", "kind": "percent", "value": 10},
            {"target": {"sku": "SH-RED"}, "month": "2026-05", "kind": "percent", "value": -101},
            {"target": {"sku": "SH-RED"}, "month": "2026-05", "kind": "double"},
            {"target": {"sku": "SH-RED"}, "month": "2026-06", "kind": "quantity"},
            {"target": {"sku": "SH-RED"}, "month": "2026-06", "kind": "no_demand", "value": 3},
            {"target": {"brand": ""}, "month": "2026-06", "kind": "quantity", "value": "ten"},
            {"target": {"sku": "sh-red"}, "month": "2026-04", "kind": "quantity", "value": 5, "extra": 1},
            "not an object"
        ]))
        .await;
    assert_eq!(st, 422, "{b}");
    assert_error(&b, "validation_failed");
    let got: Vec<(u64, String)> = b["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["row"].as_u64().unwrap(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = [
        (2, "target.colour"),
        (3, "month"),
        (4, "month"),
        (5, "value"),
        (6, "kind"),
        (7, "value"),
        (8, "value"),
        (9, "target.brand"),
        (9, "value"),
        (10, "extra"),
        (10, "target"),
        (11, ""),
    ]
    .iter()
    .map(|(r, f)| (*r, f.to_string()))
    .collect();
    assert_eq!(got, want, "{b}");
    assert_eq!(s.get("forecast-edits").await, json!([]));
    assert_eq!(s.get("forecast-edits/history").await, json!([]));
    assert_eq!(num(&s.line("SH-RED").await["row"]["order_quantity"]), 58.0);
}

#[actix_web::test]
async fn a_master_edits_its_combined_forecast_and_its_children_are_untouched() {
    let org = crate::plans::two_children().await;
    let (st, b) = org
        .app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/forecast-edits", org.master),
            Some(&org.token),
            Some(json!([{"target": {"vendor_id": "ACME"}, "month": "2026-04", "kind": "percent", "value": 50}])),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (s, m) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/order-plan", org.master),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{m}");
    let row = &m["rows"][0];
    // 3 a day; 13 April days × 1.5 more = 19.5: need 132 + 19.5 − 45 = 106.5 → 107.
    assert_eq!(num(&row["coverage_demand"]), 151.5, "{m}");
    assert_eq!(num(&row["order_quantity"]), 107.0);
    let accounts = row["accounts"].as_array().unwrap();
    assert_eq!(
        num(&accounts[0]["order_quantity"]),
        58.0,
        "the shop's own plan"
    );
    assert_eq!(num(&accounts[1]["order_quantity"]), 29.0);
    let (s, shop) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/order-plan", org.shop),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(num(&shop["rows"][0]["order_quantity"]), 58.0);
    let (s, edits) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/forecast-edits", org.shop),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!((s, edits), (200, json!([])));
}

/// The demand page's monthly grid in a real headless Chromium: an edit of
/// April moves the chart (the model's forecast drawn beside the edited
/// one), the grid's result, and the order-plan page's quantity.
#[actix_web::test]
async fn editing_a_month_on_the_demand_page_moves_the_chart_and_the_order_plan() {
    use fantoccini::Locator;
    let Some(driver) = crate::browser::start_driver() else {
        return;
    };
    let org = crate::plans::two_children().await;
    let c = crate::browser::browser(&driver).await;
    crate::browser::log_in(&c, &org.app).await;
    let page = org.app.url(&format!(
        "/accounts/{}/demand/TS-RED-M?period=month",
        org.shop
    ));
    c.goto(&page).await.unwrap();
    assert!(c
        .find_all(Locator::Css("#model-forecast"))
        .await
        .unwrap()
        .is_empty());
    let cell = |sel: &'static str| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(sel))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // April: 30 days × 2.
    assert_eq!(cell("tr[data-month='2026-04'] td.model").await, "60");
    assert_eq!(cell("tr[data-month='2026-04'] td.result").await, "60");
    let before_line = c
        .find(Locator::Css("#edited-forecast"))
        .await
        .unwrap()
        .attr("points")
        .await
        .unwrap();

    let row = c
        .find(Locator::Css("tr[data-month='2026-04']"))
        .await
        .unwrap();
    row.find(Locator::Css("select[name=kind]"))
        .await
        .unwrap()
        .select_by_value("percent")
        .await
        .unwrap();
    row.find(Locator::Css("input[name=value]"))
        .await
        .unwrap()
        .send_keys("50")
        .await
        .unwrap();
    row.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#model-forecast"))
        .await
        .unwrap();
    assert_eq!(cell("tr[data-month='2026-04'] td.result").await, "90");
    assert_eq!(cell("tr[data-month='2026-04'] td.edit").await, "+50 %");
    assert_eq!(cell("tr[data-month='2026-03'] td.result").await, "62");
    let after_line = c
        .find(Locator::Css("#edited-forecast"))
        .await
        .unwrap()
        .attr("points")
        .await
        .unwrap();
    assert_ne!(before_line, after_line, "the edited forecast is redrawn");
    assert!(c.find(Locator::Css("#legend-model")).await.is_ok());

    // The order plan: 58 + 13 April days × 1.
    c.goto(&org.app.url(&format!("/accounts/{}/order-plan", org.shop)))
        .await
        .unwrap();
    assert_eq!(cell("tr[data-sku=TS-RED-M] td.order").await, "71");
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(
            std::env::temp_dir().join("tributary-forecast-edit.png"),
            png,
        );
    }
    c.close().await.unwrap();
}

/// Every stored line and detail of an account's plan, by key.
async fn stored(app: &TestApp, account: &str) -> Vec<(String, String, String)> {
    let db = app.state.db.clone();
    let account = account.to_string();
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        let mut lines = tributary::db::models::planning::all_lines(&mut conn, &account).unwrap();
        lines.sort_by(|a, b| a.sku_key.cmp(&b.sku_key));
        let details = tributary::db::models::planning::details(&mut conn, &account).unwrap();
        lines
            .into_iter()
            .map(|l| {
                let d = &details[&l.sku_key];
                (format!("{l:?}"), d.accounts.clone(), d.explanation.clone())
            })
            .collect()
    })
    .await
    .unwrap()
}

/// A write of edits is replanned incrementally (a child's lines of the
/// touched variants; a master's rows, recorded as its children's variants)
/// and gives what a full replan gives, row for row.
#[actix_web::test]
async fn edits_are_replanned_incrementally_as_a_full_replan_would() {
    let org = crate::plans::two_children().await;
    crate::plans::put(
        &org.app,
        &org.token,
        &org.shop,
        "variants",
        json!([{"id": "V2", "sku": "MUG-1", "category": "Kitchen"}]),
    )
    .await;
    let plan = |account: String| {
        let org = &org;
        async move {
            let (s, b) = org
                .app
                .call(
                    "GET",
                    &format!("/api/v1/accounts/{account}/order-plan"),
                    Some(&org.token),
                    None,
                )
                .await;
            assert_eq!((s, &b["stale"]), (200, &json!(false)), "{b}");
        }
    };
    plan(org.master.clone()).await;
    let version = |id: String| {
        let db = org.app.state.db.clone();
        async move {
            actix_web::web::block(move || {
                let mut conn = db.conn().unwrap();
                tributary::db::models::planning::plan_header(&mut conn, &id)
                    .unwrap()
                    .unwrap()
                    .inputs_version
            })
            .await
            .unwrap()
        }
    };
    let before = version(org.master.clone()).await;
    for (account, target) in [
        (&org.master, json!({"vendor_id": "ACME"})),
        (&org.shop, json!({"sku": "ts-red-m"})),
    ] {
        let (s, b) = org
            .app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{account}/forecast-edits"),
                Some(&org.token),
                Some(json!([{"target": target, "month": "2026-04", "kind": "quantity", "value": 150}])),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    // The master's changes are known variant by variant: no whole replan.
    let db = org.app.state.db.clone();
    let m = org.master.clone();
    let changed = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        let acc = tributary::db::models::Account::find_by_id(&mut conn, &m)
            .unwrap()
            .unwrap();
        let now =
            tributary::services::plans::inputs_version(&mut conn, &acc, TODAY.parse().unwrap())
                .unwrap();
        tributary::services::replan::changes(&mut conn, &acc, &before, &now)
            .unwrap()
            .map(|c| {
                c.into_iter()
                    .map(|(a, ids)| (a.name, ids.into_iter().collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
            })
    })
    .await
    .unwrap();
    assert_eq!(
        changed,
        Some(vec![("Shop".to_string(), vec!["V1".to_string()])])
    );
    for acc in [&org.master, &org.shop, &org.wholesale] {
        plan(acc.clone()).await;
    }
    let ids = [org.shop.clone(), org.wholesale.clone(), org.master.clone()];
    let mut incremental = Vec::new();
    for id in &ids {
        incremental.push(stored(&org.app, id).await);
    }
    let db = org.app.state.db.clone();
    let all = ids.clone();
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        for id in all {
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
    for (id, inc) in ids.iter().zip(&incremental) {
        assert_eq!(&stored(&org.app, id).await, inc);
    }
    // 150 in April = 5 a day on the master (3 a day before): 13 × 2 more.
    let red = incremental[2]
        .iter()
        .find(|l| l.0.contains("sku_key: \"ts-red-m\""))
        .unwrap();
    assert!(red.0.contains("order_quantity: 113.0"), "{}", red.0);
}

/// The group grid, opened from the order plan's category filter: a form
/// sets the category's edit for a month (with the session's CSRF token;
/// without it nothing is written), the plan follows, and the edit is
/// listed and cleared from the page.
#[actix_web::test]
async fn a_category_is_edited_from_its_page() {
    let s = shop().await;
    let client = crate::helpers::cookie_client();
    let resp = s
        .app
        .form_login(&client, "admin@acme.example", "correct horse", None)
        .await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let html = |path: String| {
        let client = client.clone();
        let url = s.app.url(&path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let plan = html(format!("/accounts/{}/order-plan?category=Shirts", s.id)).await;
    let href = format!("/accounts/{}/forecast-edits?category=Shirts", s.id);
    assert!(plan.contains(&href), "the filter links the group's grid");
    let page = html(href.clone()).await;
    assert!(page.contains("id=\"group-grid\""), "{page}");
    assert!(page.contains("2 SKU(s) in the plan"), "{page}");
    let post = |fields: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = s.app.url(&format!("/accounts/{}/forecast-edits", s.id));
        async move { client.post(url).form(&fields).send().await.unwrap() }
    };
    let fields = |csrf: String| {
        vec![
            ("csrf_token", csrf),
            ("back", href.clone()),
            ("target_kind", "category".to_string()),
            ("target", "Shirts".to_string()),
            ("month", "2026-04".to_string()),
            ("kind", "percent".to_string()),
            ("value", "100".to_string()),
        ]
    };
    let refused = post(fields("forged".into())).await;
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(s.get("forecast-edits").await, json!([]));
    let csrf = s.app.session_csrf(&client).await;
    let resp = post(fields(csrf.clone())).await;
    assert_eq!(resp.status().as_u16(), 303);
    // Both shirts: 13 April days × 2 more.
    for sku in ["SH-RED", "SH-BLUE"] {
        assert_eq!(num(&s.line(sku).await["row"]["order_quantity"]), 84.0);
    }
    let page = html(href.clone()).await;
    assert!(page.contains("+100 %"), "{page}");
    let id = s.get("forecast-edits").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(page.contains(&id));
    let resp = post(vec![
        ("csrf_token", csrf),
        ("back", href.clone()),
        ("clear", id),
    ])
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(s.get("forecast-edits").await, json!([]));
    assert_eq!(num(&s.line("SH-RED").await["row"]["order_quantity"]), 58.0);
}
