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
