//! The demo organisation: seeded through the import path, deterministic.

use crate::TestApp;

#[actix_web::test]
async fn the_demo_has_a_master_over_three_children_with_two_years_of_data() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let app = TestApp::spawn_with(|c| c.today = Some(today)).await;
    let db = app.state.db.clone();
    let secrets = app.state.secrets.clone();
    actix_web::web::block(move || tributary::demo::seed(&db, &secrets, today))
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
    assert_eq!(accounts.len(), 4);
    assert_eq!(accounts[0]["kind"], "master");
    let names: Vec<&str> = accounts[1..]
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names[0].starts_with("Shopify"), "{names:?}");
    assert!(names[1].starts_with("WooCommerce"), "{names:?}");
    assert_eq!(names[2], "Wholesale IMS");
    for child in &accounts[1..] {
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
    actix_web::web::block(move || tributary::demo::seed(&db, &secrets, today))
        .await
        .unwrap()
        .unwrap();
    let (_, again) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    assert_eq!(again.as_array().unwrap().len(), 4);

    // The demo computes its plans before it serves: the master's order plan
    // is there at once, fresh, one row per SKU across the three children.
    let db = app.state.db.clone();
    let planned = actix_web::web::block(move || tributary::demo::plan(&db, Some(today)))
        .await
        .unwrap()
        .unwrap();
    assert!(planned <= 4, "{planned}");
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
}
