//! Demand analysis: `GET /api/v1/accounts/{id}/demand/{sku}`. Two children
//! sell one SKU under differently cased codes; the shop keeps Auckland time
//! (UTC+13 in February), so its sale at 12:00 UTC on 2 February counts on 3
//! February; a return, a cancelled and a removed order, a sale of today, and
//! stockouts in both children (the master is out only on the days both are).

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::TestApp;

const TODAY: &str = "2026-03-01";

struct Org {
    app: TestApp,
    token: String,
    shop: String,
    wholesale: String,
    master: String,
}

async fn put(app: &TestApp, token: &str, account: &str, entity: &str, body: Value) {
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

async fn child(app: &TestApp, token: &str, name: &str, tz: &str) -> Value {
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/accounts",
            Some(token),
            Some(json!({"name": name, "currency": "EUR", "timezone": tz, "connection": {"kind": "manual"}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b
}

fn order(id: &str, at: &str, qty: i64, extra: Value) -> Value {
    let mut o = json!({
        "id": id,
        "ordered_at": at,
        "warehouse_id": "W1",
        "lines": [{"id": "1", "variant_id": "V1", "quantity": qty, "unit_price": "10"}]
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            o[k] = v;
        }
    }
    o
}

async fn org() -> Org {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let shop = child(&app, &token, "Shop", "Pacific/Auckland").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let w = child(&app, &token, "Wholesale", "UTC").await;
    let wholesale = w["id"].as_str().unwrap().to_string();
    let master = w["master_id"].as_str().unwrap().to_string();
    for (acc, sku) in [(&shop, "TS-RED-M"), (&wholesale, " ts-red-m")] {
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
            json!([{"id": "V1", "sku": sku, "title": "T-shirt red M"}]),
        )
        .await;
    }
    // Shop (Auckland): out of stock on 16 and 17 February (local days).
    put(&app, &token, &shop, "stock", json!([
        {"variant_id": "V1", "warehouse_id": "W1", "on_hand": 0, "updated_at": "2026-02-16T00:00:00Z"},
        {"variant_id": "V1", "warehouse_id": "W1", "on_hand": 10, "updated_at": "2026-02-18T00:00:00Z"}
    ])).await;
    put(
        &app,
        &token,
        &shop,
        "sales-orders",
        json!([
            order("S1", "2026-02-02T12:00:00Z", 3, json!({})),
            order("S2", "2026-02-10T01:00:00Z", 2, json!({})),
            order("S3", "2026-02-11T01:00:00Z", -1, json!({})),
            order("S4", "2026-02-12T01:00:00Z", 5, json!({"cancelled": true})),
        ]),
    )
    .await;
    // Wholesale (UTC): out of stock 15 to 19 February.
    put(&app, &token, &wholesale, "stock", json!([
        {"variant_id": "V1", "warehouse_id": "W1", "on_hand": 0, "updated_at": "2026-02-15T00:00:00Z"},
        {"variant_id": "V1", "warehouse_id": "W1", "on_hand": 5, "updated_at": "2026-02-20T00:00:00Z"}
    ])).await;
    put(
        &app,
        &token,
        &wholesale,
        "sales-orders",
        json!([
            order("W1", "2026-02-03T09:00:00Z", 4, json!({})),
            order("W2", "2026-02-24T10:00:00Z", 1, json!({})),
            order("W3", "2026-02-25T10:00:00Z", 7, json!({"removed": true})),
            order("W4", "2026-03-01T10:00:00Z", 2, json!({})),
        ]),
    )
    .await;
    Org {
        app,
        token,
        shop,
        wholesale,
        master,
    }
}

async fn demand(org: &Org, account: &str, path: &str) -> Value {
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/demand/{path}"),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

fn history(b: &Value) -> Vec<(String, f64, u64)> {
    b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["period"].as_str().unwrap().to_string(),
                h["quantity"].as_f64().unwrap(),
                h["stockout_days"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn nonzero(b: &Value) -> Vec<(String, f64, u64)> {
    history(b)
        .into_iter()
        .filter(|h| h.1 != 0.0 || h.2 != 0)
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

#[actix_web::test]
async fn master_demand_by_day_week_and_month_with_each_childs_share() {
    let org = org().await;
    let (shop, wh) = (org.shop.as_str(), org.wholesale.as_str());
    let b = demand(&org, &org.master, "ts-RED-m").await;
    assert_eq!(b["sku"], "TS-RED-M", "the earliest child's SKU");
    assert_eq!(b["title"], "T-shirt red M");
    assert_eq!(b["period"], "day");
    assert_eq!(b["planning_date"], TODAY);
    assert_eq!(b["stale"], false);
    // From the first sale (3 February in Auckland, not 2 February) to yesterday.
    let h = history(&b);
    assert_eq!(h.len(), 26, "3 to 28 February");
    assert_eq!(h[0].0, "2026-02-03");
    assert_eq!(h[25].0, "2026-02-28");
    assert_eq!(
        nonzero(&b),
        vec![
            (s("2026-02-03"), 7.0, 0),
            (s("2026-02-10"), 2.0, 0),
            (s("2026-02-11"), -1.0, 0),
            (s("2026-02-16"), 0.0, 1),
            (s("2026-02-17"), 0.0, 1),
            (s("2026-02-24"), 1.0, 0),
        ],
        "a return reduces its day; cancelled and removed orders and today's sale do not count"
    );
    assert_eq!(b["history"][0]["by_account"], json!({shop: 3.0, wh: 4.0}));
    assert_eq!(b["stockout_days"], 2);
    assert_eq!(
        b["accounts"],
        json!([{"account_id": shop, "account_name": "Shop"}, {"account_id": wh, "account_name": "Wholesale"}])
    );

    // Every line, newest first, with its account; cancelled and removed marked.
    assert_eq!(b["sales_total"], 8);
    let sales: Vec<(String, String, f64, bool, bool)> = b["sales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["order_id"].as_str().unwrap().to_string(),
                l["account_name"].as_str().unwrap().to_string(),
                l["quantity"].as_f64().unwrap(),
                l["cancelled"].as_bool().unwrap(),
                l["removed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sales,
        vec![
            (s("W4"), s("Wholesale"), 2.0, false, false),
            (s("W3"), s("Wholesale"), 7.0, false, true),
            (s("W2"), s("Wholesale"), 1.0, false, false),
            (s("S4"), s("Shop"), 5.0, true, false),
            (s("S3"), s("Shop"), -1.0, false, false),
            (s("S2"), s("Shop"), 2.0, false, false),
            (s("W1"), s("Wholesale"), 4.0, false, false),
            (s("S1"), s("Shop"), 3.0, false, false),
        ]
    );
    let s1 = &b["sales"][7];
    assert_eq!(s1["ordered_at"], "2026-02-02T12:00:00Z");
    assert_eq!(s1["day"], "2026-02-03");
    assert_eq!(s1["account_id"], shop);
    assert_eq!(s1["unit_price"], 10.0);
    assert_eq!(s1["currency"], "EUR");

    // Forecast over the coverage window (14 + 30 days), agreeing with the plan.
    assert_eq!(b["coverage_days"], 44);
    let fc = b["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 44);
    assert_eq!(fc[0]["period"], "2026-03-01");
    assert_eq!(fc[43]["period"], "2026-04-13");
    for f in fc {
        let (q, lo, hi) = (
            f["quantity"].as_f64().unwrap(),
            f["low"].as_f64().unwrap(),
            f["high"].as_f64().unwrap(),
        );
        assert!(lo <= q && q <= hi && lo >= 0.0, "{f}");
    }
    let (st, plan) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/order-plan", org.master),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let row = &plan["rows"][0];
    let total: f64 = fc.iter().map(|f| f["quantity"].as_f64().unwrap()).sum();
    assert!(
        (total - row["coverage_demand"].as_f64().unwrap()).abs() < 1e-3,
        "{total} vs {row}"
    );
    assert_eq!(b["method"], row["forecast_method"]);
    assert_eq!(b["safety_stock"], row["safety_stock"]);
    assert_eq!(b["reorder_point"], row["reorder_point"]);
    assert!(!b["candidates"].as_array().unwrap().is_empty());
    assert!(b["candidates"][0]["score"].is_number());
    // 26 days of history: no origin has the 28 days of training it needs.
    assert_eq!(
        b["accuracy"],
        json!({"mase": null, "mae": null, "bias": null, "coverage80": null, "origins": 0, "window_days": 7})
    );

    // ISO weeks: W06 starts Monday 2 February; the history starts on the 3rd.
    let b = demand(&org, &org.master, "TS-RED-M?period=week").await;
    assert_eq!(
        history(&b),
        vec![
            (s("2026-W06"), 7.0, 0),
            (s("2026-W07"), 1.0, 0),
            (s("2026-W08"), 0.0, 2),
            (s("2026-W09"), 1.0, 0),
        ]
    );
    assert_eq!(b["history"][0]["from"], "2026-02-03");
    assert_eq!(b["history"][1]["by_account"], json!({shop: 1.0, wh: 0.0}));
    assert_eq!(b["history"][3]["by_account"], json!({shop: 0.0, wh: 1.0}));
    let fc: Vec<&str> = b["forecast"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["period"].as_str().unwrap())
        .collect();
    assert_eq!(fc.first(), Some(&"2026-W09"), "Sunday 1 March");
    assert_eq!(fc.last(), Some(&"2026-W16"), "Monday 13 April");
    assert_eq!(fc.len(), 8);

    let b = demand(&org, &org.master, "TS-RED-M?period=month").await;
    assert_eq!(history(&b), vec![(s("2026-02"), 9.0, 2)]);
    assert_eq!(b["history"][0]["by_account"], json!({shop: 4.0, wh: 5.0}));
    let fc = b["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 2);
    assert_eq!(fc[0]["period"], "2026-03");
    assert_eq!(fc[1]["period"], "2026-04");
    let total: f64 = fc.iter().map(|f| f["quantity"].as_f64().unwrap()).sum();
    assert!((total - row["coverage_demand"].as_f64().unwrap()).abs() < 1e-3);
}

#[actix_web::test]
async fn a_child_shows_its_own_days_stockouts_and_lines() {
    let org = org().await;
    let wh = org.wholesale.as_str();
    let b = demand(&org, wh, "TS-RED-M").await;
    assert_eq!(b["sku"], "ts-red-m", "as the import stored it (trimmed)");
    assert_eq!(
        nonzero(&b),
        vec![
            (s("2026-02-03"), 4.0, 0),
            (s("2026-02-15"), 0.0, 1),
            (s("2026-02-16"), 0.0, 1),
            (s("2026-02-17"), 0.0, 1),
            (s("2026-02-18"), 0.0, 1),
            (s("2026-02-19"), 0.0, 1),
            (s("2026-02-24"), 1.0, 0),
        ]
    );
    assert_eq!(b["history"][0]["by_account"], json!({wh: 4.0}));
    assert_eq!(b["sales_total"], 4);
    assert!(b["sales"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["account_id"] == wh && l["account_name"] == "Wholesale"));

    // The shop in Auckland: the 2 February UTC sale is its 3 February.
    let b = demand(&org, &org.shop, "ts-red-m?period=week").await;
    assert_eq!(
        history(&b),
        vec![
            (s("2026-W06"), 3.0, 0),
            (s("2026-W07"), 1.0, 0),
            (s("2026-W08"), 0.0, 2),
            (s("2026-W09"), 0.0, 0),
        ]
    );
}

#[actix_web::test]
async fn sale_lines_as_csv() {
    let org = org().await;
    let resp = org
        .app
        .client
        .get(org.app.url(&format!(
            "/api/v1/accounts/{}/demand/TS-RED-M?format=csv",
            org.master
        )))
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(
        lines[0],
        "ordered_at,day,account_id,account_name,order_id,line_id,quantity,unit_price,currency,cancelled,removed"
    );
    assert_eq!(
        lines[8],
        format!(
            "2026-02-02T12:00:00Z,2026-02-03,{},Shop,S1,1,3,10,EUR,false,false",
            org.shop
        )
    );
    assert_eq!(
        lines[4],
        format!(
            "2026-02-12T01:00:00Z,2026-02-12,{},Shop,S4,1,5,10,EUR,true,false",
            org.shop
        )
    );
}

#[actix_web::test]
async fn unknown_sku_bad_period_and_other_organisations() {
    let org = org().await;
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/demand/NOPE", org.master),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!(
                "/api/v1/accounts/{}/demand/TS-RED-M?period=year",
                org.master
            ),
            Some(&org.token),
            None,
        )
        .await;
    assert_eq!(s, 422);
    assert_error(&b, "validation_failed");
    let other = org.app.admin("Other").await;
    let (s, b) = org
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/demand/TS-RED-M", org.master),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
    let _ = &org.token;
}

#[actix_web::test]
async fn past_forecasts_are_scored_out_of_sample_and_skus_are_percent_encoded() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let acc = child(&app, &token, "Shop", "UTC").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &app,
        &token,
        &acc,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "variants",
        json!([{"id": "V1", "sku": "Box/2 pk%", "title": "Box"}]),
    )
    .await;
    // 2 a day for the 63 days before 1 March 2026.
    let start: chrono::NaiveDate = "2025-12-28".parse().unwrap();
    let orders: Vec<Value> = (0..63)
        .map(|d| {
            let day = start + chrono::Duration::days(d);
            order(&format!("O{d}"), &format!("{day}T12:00:00Z"), 2, json!({}))
        })
        .collect();
    put(&app, &token, &acc, "sales-orders", Value::Array(orders)).await;
    let (s, b) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{acc}/demand/BOX%2F2%20PK%25"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sku"], "Box/2 pk%");
    assert_eq!(b["history"].as_array().unwrap().len(), 63);
    // Origins 7, 14, …, 35 days back (each with ≥ 28 days before it); a
    // constant series is forecast exactly, inside its band.
    assert_eq!(
        b["accuracy"],
        json!({"mase": null, "mae": 0.0, "bias": 0.0, "coverage80": 1.0, "origins": 5, "window_days": 7})
    );
    assert_eq!(b["forecast"][0]["quantity"], 2.0);
    assert_eq!(b["safety_stock"], 0.0);
    assert_eq!(b["reorder_point"], 28.0, "14 days × 2");
}

fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap()
}

async fn logged_in(app: &TestApp) -> reqwest::Client {
    let client = cookie_client();
    let resp = app
        .form_login(&client, "admin@acme.example", "correct horse", None)
        .await;
    assert_eq!(resp.status(), 200);
    client
}

#[actix_web::test]
async fn the_page_draws_the_chart_as_svg_and_lists_lines_by_account() {
    let org = org().await;
    let client = logged_in(&org.app).await;
    let resp = client
        .get(org.app.url(&format!(
            "/accounts/{}/demand/ts-red-m?period=week",
            org.master
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<svg id=\"demand-chart\""), "{html}");
    // Stacked by child: W06 holds a bar of each; W08 is shaded (2 days out).
    assert_eq!(
        html.matches("class=\"bar acc0\"").count(),
        2,
        "Shop: W06, W07"
    );
    assert_eq!(
        html.matches("class=\"bar acc1\"").count(),
        2,
        "Wholesale: W06, W09"
    );
    assert!(html.contains("2026-W08: 2 day(s) out of stock"));
    assert!(html.contains("id=\"planning-date\""));
    assert!(html.contains("class=\"band\""));
    assert!(html.contains("<th>Account</th>"));
    assert_eq!(
        html.matches("<tr class=\"").count(),
        8 + 1,
        "8 lines + chosen candidate"
    );
    assert!(html.contains("<tr class=\"cancelled\">"));
    assert!(html.contains("<tr class=\"removed\">"));
    assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains(" onclick"));
    // The search box redirects to the SKU's page; a child that does not
    // sell a SKU says so.
    let resp = client
        .get(
            org.app
                .url(&format!("/accounts/{}/demand?sku=TS-RED-M", org.shop)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.url().path(),
        format!("/accounts/{}/demand/TS-RED-M", org.shop)
    );
    let resp = client
        .get(org.app.url(&format!(
            "/accounts/switch?id={}&sku=%3Cb%3Enope",
            org.wholesale
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let html = resp.text().await.unwrap();
    assert!(html.contains("is not sold in Wholesale"), "{html}");
    assert!(
        html.contains("b&#62;nope") && !html.contains("<b>nope"),
        "escaped"
    );
    let resp = client
        .get(org.app.url(&format!(
            "/accounts/{}/demand/TS-RED-M?format=csv",
            org.master
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap().lines().count(), 9);
}

#[actix_web::test]
async fn in_a_browser_the_chart_is_svg_periods_switch_and_the_account_stays_on_the_sku() {
    use fantoccini::Locator;
    let Some(driver) = crate::browser::start_driver() else {
        return;
    };
    let org = org().await;
    let c = crate::browser::browser(&driver).await;
    crate::browser::log_in(&c, &org.app).await;
    c.goto(
        &org.app
            .url(&format!("/accounts/{}/demand/ts-red-m", org.master)),
    )
    .await
    .unwrap();
    // The chart is in the server's HTML; wait for it (a loaded machine can
    // be slow to answer) and show the page if it never comes.
    if c.wait()
        .at_most(std::time::Duration::from_secs(30))
        .for_element(Locator::Css("svg#demand-chart rect.bar"))
        .await
        .is_err()
    {
        let url = c.current_url().await.unwrap();
        let page = c.source().await.unwrap_or_default();
        panic!("no chart bars at {url}:\n{page}");
    }
    let bars = c
        .find_all(Locator::Css("svg#demand-chart rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 5, "3 Feb: both; 10, 11: shop; 24: wholesale");
    let shaded = c
        .find_all(Locator::Css("svg#demand-chart rect.stockout"))
        .await
        .unwrap();
    assert_eq!(shaded.len(), 2, "16 and 17 February");
    let heads = c.find_all(Locator::Css("#sales thead th")).await.unwrap();
    assert_eq!(heads[2].text().await.unwrap(), "Account");
    let first = c
        .find_all(Locator::Css("#sales tbody tr:last-child td"))
        .await
        .unwrap();
    assert_eq!(first[2].text().await.unwrap(), "Shop");
    assert_eq!(first[1].text().await.unwrap(), "2026-02-03");
    // The period switch.
    crate::browser::click_to_navigate(&c, Locator::LinkText("Month")).await;
    let month = c
        .wait()
        .for_element(Locator::Css("#period-switch a.current"))
        .await
        .unwrap();
    assert_eq!(month.text().await.unwrap(), "Month");
    assert_eq!(
        c.find_all(Locator::Css("svg#demand-chart rect.bar"))
            .await
            .unwrap()
            .len(),
        2,
        "February: one segment per child"
    );
    let csv = c
        .find(Locator::Css("#sales-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(csv.ends_with("/demand/ts-red-m?format=csv"), "{csv}");
    // Switching account keeps the SKU.
    c.find(Locator::Css("#account-select"))
        .await
        .unwrap()
        .select_by_value(&org.wholesale)
        .await
        .unwrap();
    c.wait()
        .for_url(
            &url::Url::parse(
                &org.app
                    .url(&format!("/accounts/{}/demand/ts-red-m", org.wholesale)),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let rows = c.find_all(Locator::Css("#sales tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 4);
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("tributary-demand.png"), png);
    }
    c.close().await.unwrap();
}

#[actix_web::test]
async fn the_sale_lines_table_is_paged() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let acc = child(&app, &token, "Shop", "UTC").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &app,
        &token,
        &acc,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "variants",
        json!([{"id": "V1", "sku": "P-1"}]),
    )
    .await;
    let start: chrono::NaiveDate = "2025-10-02".parse().unwrap();
    let orders: Vec<Value> = (0..150)
        .map(|d| {
            let day = start + chrono::Duration::days(d);
            order(
                &format!("O{d:03}"),
                &format!("{day}T12:00:00Z"),
                1,
                json!({}),
            )
        })
        .collect();
    put(&app, &token, &acc, "sales-orders", Value::Array(orders)).await;
    let client = logged_in(&app).await;
    let page = |n: u32| {
        let url = app.url(&format!("/accounts/{acc}/demand/p-1?period=month&page={n}"));
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = page(1).await;
    assert_eq!(first.matches("<tr class=\"counted\">").count(), 100);
    assert!(first.contains("Page 1 of 2") && first.contains("<td>O149</td>"));
    let second = page(2).await;
    assert_eq!(second.matches("<tr class=\"counted\">").count(), 50);
    assert!(second.contains("Page 2 of 2") && second.contains("<td>O000</td>"));
    assert!(second.contains("rel=\"prev\""));
}
