//! The demo organisation: seeded through the import path, deterministic;
//! its feed child syncs over a real `tributary` connection.

use crate::TestApp;

#[actix_web::test]
async fn the_demo_has_a_master_over_four_children_one_pulled_over_a_feed_that_moves_on() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.today = Some(today);
        // As `tributary demo` runs, whatever the default.
        c.sync.allow_private = false;
        tributary::demo::configure(c);
    })
    .await;
    let db = app.state.db.clone();
    let secrets = app.state.secrets.clone();
    let base = app.addr.clone();
    actix_web::web::block(move || tributary::demo::seed(&db, &secrets, today, Some(&base)))
        .await
        .unwrap()
        .unwrap();
    let token = app
        .token(tributary::demo::DEMO_EMAIL, tributary::demo::DEMO_PASSWORD)
        .await;
    let (_, accounts) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 5);
    assert_eq!(accounts[0]["kind"], "master");
    let names: Vec<&str> = accounts[1..]
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names[0].starts_with("Shopify"), "{names:?}");
    assert!(names[1].starts_with("WooCommerce"), "{names:?}");
    assert_eq!(names[2], "Wholesale IMS");
    assert_eq!(names[3], tributary::demo::FEED_CHILD);
    assert_eq!(
        accounts[4]["connection"]["kind"], "tributary",
        "{}",
        accounts[4]
    );
    for child in &accounts[1..4] {
        let id = child["id"].as_str().unwrap();
        let (_, log) = app
            .call(
                "GET",
                &format!("/api/v1/accounts/{id}/imports"),
                Some(&token),
                None,
            )
            .await;
        let log = log.as_array().unwrap();
        assert_eq!(log.len(), 6, "one import per entity");
        assert!(log.iter().all(|r| r["status"] == "succeeded"));
        let sales = log.iter().find(|r| r["entity"] == "sales-orders").unwrap();
        assert!(
            sales["counts"]["created"].as_u64().unwrap() > 10_000,
            "{sales}"
        );
        let stock = log.iter().find(|r| r["entity"] == "stock").unwrap();
        // Readings before the latest one are history (counted stale).
        assert!(
            stock["counts"]["stale"].as_u64().unwrap() > 1_000,
            "{stock}"
        );
    }
    // Seeding again changes nothing.
    let db = app.state.db.clone();
    let secrets = app.state.secrets.clone();
    let base = app.addr.clone();
    actix_web::web::block(move || tributary::demo::seed(&db, &secrets, today, Some(&base)))
        .await
        .unwrap()
        .unwrap();
    let (_, again) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    assert_eq!(again.as_array().unwrap().len(), 5);

    // The demo computes its plans before it serves: the master's order plan
    // is there at once, fresh, one row per SKU across the three children.
    let db = app.state.db.clone();
    let planned = actix_web::web::block(move || tributary::demo::plan(&db, Some(today)))
        .await
        .unwrap()
        .unwrap();
    assert!(planned <= 5, "{planned}");
    let master = accounts[0]["id"].as_str().unwrap();
    let (s, plan) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/plan-status"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["stale"], false, "{plan}");
    assert!(plan["lines"].as_i64().unwrap() >= 270, "{plan}");

    // Loading all connections pulls the feed child over its `tributary`
    // connection (a loopback address, allowed for the demo).
    let master = master.to_string();
    let feed = accounts[4]["id"].as_str().unwrap().to_string();
    let job = load_all(&app, &token, &master).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let pulled = job["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == feed.as_str())
        .cloned()
        .unwrap();
    let first = pulled["records"].as_i64().unwrap();
    assert!(
        first > 1_000,
        "the feed child receives the outlet's records: {pulled}"
    );
    // The outlet sells on; the next load brings exactly those orders.
    let db = app.state.db.clone();
    let added = actix_web::web::block(move || tributary::demo::move_on(&db, chrono::Utc::now()))
        .await
        .unwrap()
        .unwrap();
    assert!(added >= 1);
    let job = load_all(&app, &token, &master).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let pulled = job["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == feed.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        pulled["records"].as_i64().unwrap(),
        added as i64,
        "{pulled}"
    );
}

/// Runs "Load data from all connections" on the master and waits for it.
async fn load_all(app: &TestApp, token: &str, master: &str) -> serde_json::Value {
    let (s, b) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{master}/sync"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let job = b["job_id"].as_str().unwrap().to_string();
    let started = std::time::Instant::now();
    loop {
        let (_, b) = app
            .call("GET", &format!("/api/v1/jobs/{job}"), Some(token), None)
            .await;
        if !matches!(b["status"].as_str(), Some("queued" | "running")) {
            return b;
        }
        assert!(started.elapsed().as_secs() < 120, "{b}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every row of an account's order plan, by SKU key (normalised SKU).
async fn plan_rows(
    app: &TestApp,
    token: &str,
    account: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let (s, b) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/order-plan?per_page=1000"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sku"].as_str().unwrap().to_lowercase(), r.clone()))
        .collect()
}

/// The demo as a planner met it on 2026-12-06 (the examples), for
/// that fixed date: the master adds up its children, an out-of-stock product
/// keeps its demand, doubtful lines are flagged, and urgency agrees with
/// cover.
#[actix_web::test]
async fn the_demo_plan_for_a_fixed_date_adds_up_and_flags_what_to_doubt() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.today = Some(today);
        tributary::demo::configure(c);
    })
    .await;
    let db = app.state.db.clone();
    let secrets = app.state.secrets.clone();
    actix_web::web::block(move || {
        tributary::demo::seed(&db, &secrets, today, None)?;
        tributary::demo::plan(&db, Some(today))
    })
    .await
    .unwrap()
    .unwrap();
    let token = app
        .token(tributary::demo::DEMO_EMAIL, tributary::demo::DEMO_PASSWORD)
        .await;
    let (_, accounts) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    let accounts = accounts.as_array().unwrap();
    let master = accounts[0]["id"].as_str().unwrap();
    let master_rows = plan_rows(&app, &token, master).await;
    let mut children = Vec::new();
    for c in &accounts[1..] {
        children.push(plan_rows(&app, &token, c["id"].as_str().unwrap()).await);
    }
    assert_eq!(master_rows.len(), tributary::demo::DEMO_PRODUCTS);

    // 1. The master's demand per day is the sum of its children's (every
    // demo child holds its own stock) within 2 %.
    let mut off = Vec::new();
    for (key, row) in &master_rows {
        let sum: f64 = children
            .iter()
            .filter_map(|c| c.get(key))
            .map(|r| r["demand_per_day"].as_f64().unwrap())
            .sum();
        let own = row["demand_per_day"].as_f64().unwrap();
        if (own - sum).abs() > 0.02 * sum.max(1e-9) && (own - sum).abs() > 1e-6 {
            off.push(format!("{key}: master {own} vs children {sum}"));
        }
    }
    assert!(
        off.is_empty(),
        "{} rows off: {:?}",
        off.len(),
        &off[..off.len().min(20)]
    );
    let cook: f64 = children
        .iter()
        .filter_map(|c| c.get("cook-1-blk-s"))
        .map(|r| r["demand_per_day"].as_f64().unwrap())
        .sum();
    let master_cook = master_rows["cook-1-blk-s"]["demand_per_day"]
        .as_f64()
        .unwrap();
    assert!((master_cook - cook).abs() < 1e-4, "{master_cook} vs {cook}");
    // Where the master orders other than its children's sum, its
    // explanation says how much pooled stock accounts for.
    for (key, row) in &master_rows {
        let sum: f64 = children
            .iter()
            .filter_map(|c| c.get(key))
            .map(|r| r["order_quantity"].as_f64().unwrap())
            .sum();
        if (row["order_quantity"].as_f64().unwrap() - sum).abs() < 1e-9 {
            continue;
        }
        let (_, e) = app
            .call(
                "GET",
                &format!("/api/v1/accounts/{master}/order-plan/{key}"),
                Some(&token),
                None,
            )
            .await;
        let notes = e["explanation"]["notes"].to_string();
        assert!(
            notes.contains("Pooled stock accounts for"),
            "{key}: {notes}"
        );
    }

    // 2. Out of stock since 11-20 after selling 3–5 a day, 211 on order:
    // the rate it had in stock is kept, and more is ordered.
    let lamp = &master_rows["lamp-1-blk-xl"];
    assert_eq!(lamp["available"], 0.0, "{lamp}");
    assert!(lamp["demand_per_day"].as_f64().unwrap() > 3.0, "{lamp}");
    assert!(lamp["order_quantity"].as_f64().unwrap() > 0.0, "{lamp}");

    // 3. Doubtful lines are flagged, on the child and on the master that
    // adds it up (naming the child).
    let codes = |r: &serde_json::Value| -> Vec<String> {
        r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    let sbag = &master_rows["sbag-1-org-m"];
    assert_eq!(codes(sbag), ["long_stockout"], "{sbag}");
    assert!(sbag["flags"][0]["days"].as_i64().unwrap() >= 28, "{sbag}");
    let ims = accounts[3]["name"].as_str().unwrap();
    let tent = &children[2]["tent-1-org-m"];
    assert_eq!(codes(tent), ["no_recent_sales"], "{tent}");
    assert!(tent["safety_stock"].as_f64().unwrap() < 0.01, "{tent}");
    assert_eq!(tent["order_quantity"], 0.0, "{tent}");
    let tent = &master_rows["tent-1-org-m"];
    assert!(
        codes(tent).contains(&"no_recent_sales".to_string()),
        "{tent}"
    );
    assert!(
        tent["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["message"].as_str().unwrap().starts_with(ims)),
        "{tent}"
    );
    // 4. An order due now with more days of cover than lead time says why.
    let due: Vec<&String> = master_rows
        .iter()
        .filter(|(_, r)| {
            r["urgency"] == "now"
                && r["days_of_cover"].as_f64().unwrap_or(0.0)
                    > r["lead_time_days"].as_f64().unwrap()
        })
        .map(|(k, _)| k)
        .collect();
    assert!(!due.is_empty());
    for key in due {
        let (_, e) = app
            .call(
                "GET",
                &format!("/api/v1/accounts/{master}/order-plan/{key}"),
                Some(&token),
                None,
            )
            .await;
        let order_by = e["explanation"]["terms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["term"] == "order_by")
            .map(|t| t["text"].to_string())
            .unwrap_or_default();
        // Never "already late" while stock outlasts the lead time: either
        // the order is due on time today, or it says the safety stock
        // would be used up by the time an order arrives.
        assert!(!order_by.contains("already late"), "{key}: {order_by}");
        assert!(
            order_by.ends_with("order by day 0.\"")
                || order_by.contains("longer than the lead time, but an order placed now arrives"),
            "{key}: {order_by}"
        );
    }
    let (s, flagged) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/order-plan?flag=no_recent_sales&per_page=1000"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{flagged}");
    assert!(flagged["rows"].as_array().unwrap().iter().any(|r| r["sku"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case("tent-1-org-m")));
}
