//! Hardening that spans the routes: security headers on every answer, API
//! keys whose scope cannot be read, secrets kept out of `Debug` output, and
//! the new endpoints in the OpenAPI document.

use diesel::RunQueryDsl;
use serde_json::json;

use crate::helpers::assert_error;
use crate::TestApp;

fn assert_security_headers(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
}

#[actix_web::test]
async fn pages_and_api_answer_with_security_headers() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    app.create_child(&token, "Store").await;
    let browser = crate::helpers::cookie_client();
    let login = browser.get(app.url("/login")).send().await.unwrap();
    assert_security_headers(&login, "GET /login");
    let html = login.text().await.unwrap();
    assert!(
        !html.contains("<script>"),
        "inline script on the login page"
    );
    app.form_login(&browser, "admin@acme.example", "correct horse", None)
        .await;
    let page = browser.get(app.url("/accounts")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_security_headers(&page, "GET /accounts");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" onclick=") && !html.contains(" style="),
        "inline script or style on the accounts page"
    );
    for path in [
        "/api/v1/openapi.json",
        "/api/v1/accounts",
        "/api/v1/nothing-here",
        "/static/app.js",
        "/accounts",
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_security_headers(&resp, path);
    }
}

#[actix_web::test]
async fn an_api_key_whose_scope_cannot_be_read_has_no_access() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let a = app.create_child(&token, "Store A").await;
    let a_id = a["id"].as_str().unwrap().to_string();
    let (s, created) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "a only", "account_ids": [a_id]})),
        )
        .await;
    assert_eq!(s, 201);
    let key = created["key"].as_str().unwrap().to_string();
    let key_id = created["id"].as_str().unwrap().to_string();
    let db = app.state.db.clone();
    actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        diesel::sql_query(format!(
            "UPDATE api_keys SET account_ids = '[\"{a_id}\", oops' WHERE id = '{key_id}'"
        ))
        .execute(&mut conn)
        .unwrap();
    })
    .await
    .unwrap();
    let (s, body) = app.call("GET", "/api/v1/accounts", Some(&key), None).await;
    assert_eq!(s, 403, "{body}");
    assert_error(&body, "forbidden");
    let (s, _) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}", a["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/accounts",
            Some(&key),
            Some(json!({"name": "More", "currency": "EUR"})),
        )
        .await;
    assert_eq!(s, 403);
}

#[test]
fn secrets_print_redacted() {
    let mut config = tributary::config::Config::from_lookup(|_| None).unwrap();
    config.jwt_secret = Some("jwt-secret-value".into());
    config.secret_key = Some([0xab; 32]);
    config.database_url = "postgres://tributary:db-password@localhost/tributary".into();
    let shown = format!("{config:?}");
    for secret in ["jwt-secret-value", "abab", "171, 171", "db-password"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("localhost/tributary"), "{shown}");
    let login = tributary::web::api::auth::TokenRequest {
        email: "ana@example.com".into(),
        password: "hunter2-hunter2".into(),
    };
    let form = tributary::web::pages::login::LoginForm {
        email: "ana@example.com".into(),
        password: "hunter2-hunter2".into(),
        next: None,
        csrf_token: None,
    };
    let user = tributary::web::api::users::CreateUser {
        email: "ana@example.com".into(),
        password: "hunter2-hunter2".into(),
        role: None,
    };
    let key = tributary::web::api::api_keys::CreatedApiKey {
        id: "key_1".into(),
        key: "trb_plaintextkey".into(),
        name: "script".into(),
        account_ids: None,
        read_only: false,
    };
    for shown in [
        format!("{login:?}"),
        format!("{form:?}"),
        format!("{user:?}"),
        format!("{key:?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("trb_plaintextkey"), "{shown}");
    }
    let user = tributary::db::models::User {
        id: "usr_1".into(),
        organisation_id: "org_1".into(),
        email: "ana@example.com".into(),
        password_hash: "$argon2id$v=19$secret-hash".into(),
        role: "admin".into(),
        created_at: chrono::Utc::now().naive_utc(),
        token_version: 0,
    };
    assert!(!format!("{user:?}").contains("argon2"));
    let jwt = tributary::auth::JwtKeys::new("jwt-secret-value", 60);
    assert!(!format!("{jwt:?}").contains("jwt-secret-value"));
    let sealer = tributary::crypto::SecretBox::new(&[0xab; 32]);
    let shown = format!("{sealer:?}");
    assert!(!shown.contains("171") && !shown.contains("abab"), "{shown}");
}

#[actix_web::test]
async fn the_openapi_document_lists_the_session_endpoints() {
    let app = TestApp::spawn().await;
    let (_, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    for (path, method) in [
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/me/password", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
}

/// A connection's sealed secrets are bound to their account: copied onto
/// another account's row they open nowhere; secrets sealed the old way
/// (bound to no row) are re-sealed for their account when the server
/// starts, on either database.
#[actix_web::test]
async fn sealed_secrets_are_bound_to_their_account_and_old_ones_are_resealed_at_start() {
    use diesel::prelude::*;
    use tributary::db::schema::accounts;
    use tributary::services::accounts::stored_connection;
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let mut ids = Vec::new();
    for (name, key) in [("A", "key-of-a"), ("B", "key-of-b")] {
        let (s, b) = app
            .call(
                "POST",
                "/api/v1/accounts",
                Some(&token),
                Some(json!({"name": name, "currency": "EUR", "connection":
                    {"kind": "tributary", "base_url": "https://source.example", "account_id": "x", "api_key": key}})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let state = app.state.clone();
    actix_web::web::block(move || {
        let mut conn = state.db.conn().unwrap();
        let find = |conn: &mut tributary::db::DbConn, id: &str| {
            tributary::db::models::Account::find_by_id(conn, id)
                .unwrap()
                .unwrap()
        };
        let key_of = |conn: &mut tributary::db::DbConn, id: &str| {
            stored_connection(&find(conn, id), &state.secrets)
                .unwrap()
                .secrets
                .get("api_key")
                .and_then(|v| v.as_str().map(str::to_string))
        };
        assert_eq!(key_of(&mut conn, &a).as_deref(), Some("key-of-a"));
        // A's sealed secrets copied onto B's row open nowhere.
        let sealed_a = find(&mut conn, &a).connection_secret.unwrap();
        diesel::update(accounts::table.find(&b))
            .set(accounts::connection_secret.eq(&sealed_a))
            .execute(&mut conn)
            .unwrap();
        assert_eq!(key_of(&mut conn, &b), None);
        // The old form (no row bound) is re-sealed for its row at start.
        let old = state.secrets.seal(r#"{"api_key": "key-of-a"}"#);
        diesel::update(accounts::table.find(&a))
            .set(accounts::connection_secret.eq(&old))
            .execute(&mut conn)
            .unwrap();
        assert_eq!(key_of(&mut conn, &a), None);
        drop(conn);
        let restarted = tributary::startup::AppState::init(state.config.clone()).unwrap();
        let mut conn = restarted.db.conn().unwrap();
        let now = find(&mut conn, &a).connection_secret.unwrap();
        assert!(now.starts_with("v2:") && now != old, "{now}");
        assert_eq!(key_of(&mut conn, &a).as_deref(), Some("key-of-a"));
    })
    .await
    .unwrap();
}
