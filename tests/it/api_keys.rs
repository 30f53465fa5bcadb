//! `/api/v1/api-keys`: creation, scope, read-only keys, revocation.

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::TestApp;

#[actix_web::test]
async fn a_key_works_as_a_bearer_and_stops_when_revoked() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    app.create_child(&token, "Store").await;
    let (status, created) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "script"})),
        )
        .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap();
    assert!(key.len() >= 40);
    let (status, accounts) = app.call("GET", "/api/v1/accounts", Some(key), None).await;
    assert_eq!(status, 200);
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    // Listed without the key material.
    let (_, listed) = app
        .call("GET", "/api/v1/api-keys", Some(&token), None)
        .await;
    assert_eq!(listed[0]["id"], created["id"]);
    assert!(!listed.to_string().contains(key));
    let id = created["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.call("GET", "/api/v1/accounts", Some(key), None).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_scoped_key_sees_only_its_accounts() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let a = app.create_child(&token, "Store A").await;
    let b = app.create_child(&token, "Store B").await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    let (status, created) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "a only", "account_ids": [a_id]})),
        )
        .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap();
    let (_, listed) = app.call("GET", "/api/v1/accounts", Some(key), None).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a_id]);
    let (status, body) = app
        .call("GET", &format!("/api/v1/accounts/{b_id}"), Some(key), None)
        .await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, _) = app
        .call("GET", &format!("/api/v1/accounts/{a_id}"), Some(key), None)
        .await;
    assert_eq!(status, 200);
    // Unknown ids in a scope are refused.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "x", "account_ids": ["acc_nope"]})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"][0]["field"], "account_ids[1]");
}

#[actix_web::test]
async fn read_only_keys_cannot_write_and_keys_cannot_manage_keys() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let (_, created) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "ro", "read_only": true})),
        )
        .await;
    let key = created["key"].as_str().unwrap();
    let id = child["id"].as_str().unwrap();
    let (status, _) = app
        .call("GET", &format!("/api/v1/accounts/{id}"), Some(key), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(key),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_error(&body, "forbidden");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(key),
            Some(json!({"name": "more"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/api-keys/{}", created["id"].as_str().unwrap()),
            Some(key),
            None,
        )
        .await;
    assert_eq!(status, 403);
}

/// A key scoped to some accounts cannot change what every account of the
/// organisation uses: exchange rates and the automatic sync schedule (the
/// organisation's own keys and users can).
#[actix_web::test]
async fn a_scoped_key_cannot_write_organisation_wide_settings() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let a = app.create_child(&token, "Store A").await;
    app.create_child(&token, "Store B").await;
    let a_id = a["id"].as_str().unwrap();
    let mut keys = Vec::new();
    for scope in [json!([a_id]), Value::Null] {
        let (status, created) = app
            .call(
                "POST",
                "/api/v1/api-keys",
                Some(&token),
                Some(json!({"name": "client", "account_ids": scope})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        keys.push(created["key"].as_str().unwrap().to_string());
    }
    let rates = json!([{"date": "2026-01-01", "from": "EUR", "to": "USD", "rate": "1.5"}]);
    let schedule = json!({"interval_minutes": 60});
    for (path, body) in [
        ("/api/v1/exchange-rates", &rates),
        ("/api/v1/sync-schedule", &schedule),
    ] {
        let (status, b) = app
            .call("PUT", path, Some(&keys[0]), Some(body.clone()))
            .await;
        assert_eq!(status, 403, "{path}: {b}");
        assert_error(&b, "forbidden");
        let (status, b) = app
            .call("PUT", path, Some(&keys[1]), Some(body.clone()))
            .await;
        assert_eq!(status, 200, "{path}: {b}");
    }
    let (_, listed) = app
        .call("GET", "/api/v1/exchange-rates", Some(&token), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}
