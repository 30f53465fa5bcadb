//! `POST /api/v1/auth/token` and bearer checks.

use serde_json::json;

use crate::helpers::assert_error;
use crate::TestApp;

#[actix_web::test]
async fn login_with_good_credentials_gives_a_working_token() {
    let app = TestApp::spawn().await;
    app.add_user("Ana@Example.com", "s3cret", "Acme", "admin")
        .await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "ana@example.com", "password": "s3cret"})),
        )
        .await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).is_ok());
    let (status, accounts) = app.call("GET", "/api/v1/accounts", Some(token), None).await;
    assert_eq!(status, 200);
    assert_eq!(accounts, json!([]));
}

#[actix_web::test]
async fn bad_credentials_answer_401() {
    let app = TestApp::spawn().await;
    app.add_user("ana@example.com", "s3cret", "Acme", "admin")
        .await;
    for (email, password) in [
        ("ana@example.com", "wrong"),
        ("nobody@example.com", "s3cret"),
    ] {
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/auth/token",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 401);
        assert_error(&body, "unauthorized");
    }
}

#[actix_web::test]
async fn missing_or_garbage_bearer_answers_401() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call("GET", "/api/v1/accounts", None, None).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, _) = app
        .call("GET", "/api/v1/accounts", Some("a.b.c"), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call("GET", "/api/v1/accounts", Some("trb_notakey"), None)
        .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn expired_tokens_answer_401() {
    let app = TestApp::spawn_with(|c| c.jwt_ttl_seconds = 1).await;
    app.add_user("ana@example.com", "s3cret", "Acme", "admin")
        .await;
    let token = app.token("ana@example.com", "s3cret").await;
    let (status, _) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
}

#[actix_web::test]
async fn malformed_json_is_400_and_unknown_fields_422() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .send_raw(
            "POST",
            "/api/v1/auth/token",
            "",
            "application/json",
            b"{\"email\": ".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert_error(&body, "malformed_json");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "a@b.c", "password": "x", "otp": 1})),
        )
        .await;
    assert_eq!(status, 422);
    assert_error(&body, "validation_failed");
    assert_eq!(body["error"]["details"][0]["field"], "otp");
}
