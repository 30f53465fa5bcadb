//! Durability: a write that fails half-way (a panic or an error inside the
//! write transaction) never takes later writes down with it, and what was
//! answered `200` is in the database after a restart.

use serde_json::json;

use tributary::db::ingest::fault::{self, Fault};

use crate::helpers::{assert_error, count_committed};
use crate::TestApp;

/// An admin and a child account holding variant `v` and warehouse `w`.
async fn child_with_v_and_w(app: &TestApp) -> (String, String) {
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    for (entity, body) in [
        ("warehouses", json!([{"id": "w", "name": "Main"}])),
        ("variants", json!([{"id": "v", "sku": "V"}])),
    ] {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/{entity}"),
                Some(&token),
                Some(body),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    (token, id)
}

/// Thirty one-record imports after a failed one are each answered `200`
/// and each found by a fresh connection (what a restarted server reads).
async fn later_writes_are_all_stored(app: &TestApp, token: &str, id: &str) {
    for i in 0..30 {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/warehouses"),
                Some(token),
                Some(json!([{"id": format!("later-{i}"), "name": "Later"}])),
            )
            .await;
        assert_eq!(s, 200, "import {i} after the failure: {b}");
        assert_eq!(b["created"], 1, "{b}");
    }
    let url = app.state.config.database_url.clone();
    let sql = format!(
        "SELECT count(*) AS n FROM warehouses WHERE account_id = '{id}' AND id LIKE 'later-%'"
    );
    let stored = actix_web::web::block(move || count_committed(&url, &sql))
        .await
        .unwrap();
    assert_eq!(stored, 30, "writes answered 200 must survive a restart");
}

#[actix_web::test]
async fn a_stock_level_that_overflows_is_refused_and_later_imports_are_kept() {
    let app = TestApp::spawn().await;
    let (token, id) = child_with_v_and_w(&app).await;
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/stock"),
            Some(&token),
            Some(json!([{"variant_id": "v", "warehouse_id": "w",
                "on_hand": "-79228162514264337593543950335", "allocated": "1"}])),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_error(&b, "invalid_records");
    assert_eq!(b["error"]["details"][0]["row"], 1, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "on_hand", "{b}");
    later_writes_are_all_stored(&app, &token, &id).await;
}

/// Fails the next import into `id` inside its write transaction, after its
/// rows are written: the answer is `500` and nothing of it is stored.
async fn fail_one_write(app: &TestApp, token: &str, id: &str, fault: Fault) {
    fault::arm(id, fault);
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            Some(token),
            Some(
                json!([{"id": "doomed-1", "name": "Doomed"}, {"id": "doomed-2", "name": "Doomed"}]),
            ),
        )
        .await;
    assert_eq!(s, 500, "{b}");
    assert_error(&b, "internal_error");
    let url = app.state.config.database_url.clone();
    let sql = format!(
        "SELECT count(*) AS n FROM warehouses WHERE account_id = '{id}' AND id LIKE 'doomed-%'"
    );
    let stored = actix_web::web::block(move || count_committed(&url, &sql))
        .await
        .unwrap();
    assert_eq!(stored, 0, "a failed import keeps nothing");
}

#[actix_web::test]
async fn a_write_that_panics_midway_loses_no_later_write() {
    let app = TestApp::spawn().await;
    let (token, id) = child_with_v_and_w(&app).await;
    fail_one_write(&app, &token, &id, Fault::Panic).await;
    later_writes_are_all_stored(&app, &token, &id).await;
}

#[actix_web::test]
async fn a_write_that_errors_midway_loses_no_later_write() {
    let app = TestApp::spawn().await;
    let (token, id) = child_with_v_and_w(&app).await;
    fail_one_write(&app, &token, &id, Fault::Error).await;
    later_writes_are_all_stored(&app, &token, &id).await;
}
