//! `/api/v1/accounts`: the master rule, settings, secrets, tenancy.

use serde_json::json;

use crate::helpers::assert_error;
use crate::TestApp;

#[actix_web::test]
async fn the_second_child_creates_the_master_and_later_children_join_it() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let (status, first) = app
        .call("POST", "/api/v1/accounts", Some(&token), Some(json!({"name": "Shop", "currency": "usd", "timezone": "America/New_York", "connection": {"kind": "manual"}})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(first["kind"], "child");
    assert_eq!(first["master_id"], serde_json::Value::Null);
    assert_eq!(first["currency"], "USD");
    assert_eq!(first["include_stock"], true);
    assert_eq!(
        first["planning"],
        json!({"lead_time_days": 14, "days_of_stock": 30, "service_level": 0.95})
    );

    let second = app.create_child(&token, "Wholesale").await;
    let master_id = second["master_id"]
        .as_str()
        .expect("master created")
        .to_string();
    let (_, master) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(master["kind"], "master");
    assert_eq!(master["name"], "All accounts");
    assert_eq!(master["currency"], "USD");
    assert_eq!(master["timezone"], "America/New_York");
    assert_eq!(master["connection"], serde_json::Value::Null);
    let (_, first_again) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}", first["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(first_again["master_id"], master_id.as_str());

    let third = app.create_child(&token, "Marketplace").await;
    assert_eq!(third["master_id"], master_id.as_str());
    let (_, all) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["kind"], "master");
    assert_eq!(all.iter().filter(|a| a["kind"] == "master").count(), 1);
}

#[actix_web::test]
async fn secrets_are_write_only() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let (status, created) = app
        .call("POST", "/api/v1/accounts", Some(&token), Some(json!({"name": "Shopify", "currency": "EUR", "connection": {"kind": "shopify", "shop": "acme.myshopify.com", "access_token": "shpat_TOPSECRET"}})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        created["connection"],
        json!({"kind": "shopify", "shop": "acme.myshopify.com"})
    );
    let id = created["id"].as_str().unwrap();
    let (_, one) = app
        .call("GET", &format!("/api/v1/accounts/{id}"), Some(&token), None)
        .await;
    let (_, all) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    // Another shop without the token: the stored one does not follow it.
    let (moved, refused) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(&token),
            Some(json!({"connection": {"kind": "shopify", "shop": "acme2.myshopify.com"}})),
        )
        .await;
    assert_eq!(moved, 422, "{refused}");
    assert!(
        refused.to_string().contains("connection.access_token"),
        "{refused}"
    );
    let (_, patched) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(&token),
            Some(json!({"connection": {"kind": "shopify", "shop": "acme.myshopify.com"}})),
        )
        .await;
    for body in [&created, &one, &all, &patched] {
        assert!(
            !body.to_string().contains("TOPSECRET"),
            "secret leaked in {body}"
        );
    }
    assert_eq!(patched["connection"]["shop"], "acme.myshopify.com");
    // Stored sealed, and the PATCH kept the secret it did not mention.
    let db = app.state.db.clone();
    let secrets = app.state.secrets.clone();
    let id2 = id.to_string();
    let account = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        tributary::db::models::Account::find_by_id(&mut conn, &id2)
            .unwrap()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!account
        .connection_secret
        .clone()
        .unwrap()
        .contains("TOPSECRET"));
    let opened = tributary::services::accounts::stored_connection(&account, &secrets).unwrap();
    assert_eq!(opened.secrets["access_token"], "shpat_TOPSECRET");
    // Missing secret on create is named.
    let (status, body) = app
        .call("POST", "/api/v1/accounts", Some(&token), Some(json!({"name": "Woo", "currency": "EUR", "connection": {"kind": "woocommerce", "base_url": "https://shop.example"}})))
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["connection.consumer_key", "connection.consumer_secret"]
    );
}

#[actix_web::test]
async fn another_organisations_ids_answer_404() {
    let app = TestApp::spawn().await;
    let acme = app.admin("Acme").await;
    let other = app.admin("Globex").await;
    let child = app.create_child(&acme, "Store").await;
    let id = child["id"].as_str().unwrap();
    let (status, body) = app
        .call("GET", &format!("/api/v1/accounts/{id}"), Some(&other), None)
        .await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(&other),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app
        .call("GET", "/api/v1/accounts", Some(&other), None)
        .await;
    assert_eq!(list, json!([]));
}

#[actix_web::test]
async fn viewers_read_but_cannot_write() {
    let app = TestApp::spawn().await;
    let admin = app.admin("Acme").await;
    let child = app.create_child(&admin, "Store").await;
    app.add_user("viewer@acme.example", "look-look-look", "Acme", "viewer")
        .await;
    let viewer = app.token("viewer@acme.example", "look-look-look").await;
    let id = child["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/accounts",
            Some(&viewer),
            Some(json!({"name": "X", "currency": "EUR"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_error(&body, "forbidden");
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(&viewer),
            Some(json!({"include_stock": false})),
        )
        .await;
    assert_eq!(status, 403);
}

#[actix_web::test]
async fn patch_updates_settings_and_validates_them() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(&token),
            Some(json!({
                "name": "Store (EU)", "currency": "gbp", "timezone": "Europe/London",
                "include_stock": false, "planning": {"lead_time_days": 21, "service_level": 0.98}
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Store (EU)");
    assert_eq!(body["currency"], "GBP");
    assert_eq!(body["timezone"], "Europe/London");
    assert_eq!(body["include_stock"], false);
    assert_eq!(body["include_sales"], true);
    assert_eq!(
        body["planning"],
        json!({"lead_time_days": 21, "days_of_stock": 30, "service_level": 0.98})
    );
    for (patch, field) in [
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"currency": "EURO"}), "currency"),
        (
            json!({"planning": {"service_level": 1.5}}),
            "planning.service_level",
        ),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, body) = app
            .call(
                "PATCH",
                &format!("/api/v1/accounts/{id}"),
                Some(&token),
                Some(patch),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["details"][0]["field"], field);
    }
}

#[actix_web::test]
async fn oversize_bodies_answer_413() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let big = format!(
        "{{\"name\": \"{}\", \"currency\": \"EUR\"}}",
        "x".repeat(2 << 20)
    );
    let (status, body) = app
        .send_raw(
            "POST",
            "/api/v1/accounts",
            &token,
            "application/json",
            big.into_bytes(),
        )
        .await;
    assert_eq!(status, 413);
    assert_error(&body, "payload_too_large");
}
