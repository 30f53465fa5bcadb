//! `/api/v1/users`: admins add the people of their organisation.

use serde_json::json;

use crate::helpers::assert_error;
use crate::TestApp;

#[actix_web::test]
async fn an_admin_adds_a_viewer_who_can_log_in_but_not_manage_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin("Acme").await;
    let (s, created) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "Vera@Acme.example", "password": "viewer-password"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["email"], "vera@acme.example");
    assert_eq!(created["role"], "viewer");
    assert!(!created.to_string().contains("argon2"));
    let viewer = app.token("vera@acme.example", "viewer-password").await;
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&viewer),
            Some(json!({"email": "x@acme.example", "password": "viewer-password"})),
        )
        .await;
    assert_eq!(s, 403);
    assert_error(&body, "forbidden");
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "vera@acme.example", "password": "other"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_error(&body, "email_taken");
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(
                json!({"email": "y@acme.example", "password": "viewer-password", "role": "owner"}),
            ),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["error"]["details"][0]["field"], "role");
    let (_, list) = app.call("GET", "/api/v1/users", Some(&admin), None).await;
    let emails: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["admin@acme.example", "vera@acme.example"]);
    // Another organisation sees only its own people.
    let other = app.admin("Globex").await;
    let (_, list) = app.call("GET", "/api/v1/users", Some(&other), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// Adds a viewer through the API; returns its id.
async fn add_viewer(app: &TestApp, admin: &str, email: &str, password: &str) -> String {
    let (s, created) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(admin),
            Some(json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn new_passwords_have_at_least_twelve_characters() {
    let app = TestApp::spawn().await;
    let admin = app.admin("Acme").await;
    for short in ["", "pw", "elevenchars"] {
        let (s, body) = app
            .call(
                "POST",
                "/api/v1/users",
                Some(&admin),
                Some(json!({"email": "v@acme.example", "password": short})),
            )
            .await;
        assert_eq!(s, 422, "{short:?}: {body}");
        assert_error(&body, "validation_failed");
        assert_eq!(body["error"]["details"][0]["field"], "password");
    }
    add_viewer(&app, &admin, "v@acme.example", "twelve-chars").await;
    // The command line's `user add` holds the same rule.
    let db = app.state.db.clone();
    let refused = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        tributary::services::users::add_user(
            &mut conn,
            "cli@acme.example",
            "short",
            "Acme",
            "admin",
        )
    })
    .await
    .unwrap();
    assert!(refused.is_err());
}

#[actix_web::test]
async fn changing_a_role_ends_the_users_sessions_and_takes_effect() {
    let app = TestApp::spawn().await;
    let admin = app.admin("Acme").await;
    let vera = add_viewer(&app, &admin, "vera@acme.example", "viewer-password").await;
    let old = app.token("vera@acme.example", "viewer-password").await;
    // A viewer may not change roles, not even her own.
    let (s, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{vera}"),
            Some(&old),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_error(&body, "forbidden");
    let (s, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{vera}"),
            Some(&admin),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "role");
    let (s, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{vera}"),
            Some(&admin),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["role"], "admin");
    assert_eq!(body["email"], "vera@acme.example");
    // Her old token is over; a new one carries the new role.
    let (s, _) = app.call("GET", "/api/v1/accounts", Some(&old), None).await;
    assert_eq!(s, 401);
    let new = app.token("vera@acme.example", "viewer-password").await;
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/accounts",
            Some(&new),
            Some(json!({"name": "Vera's store", "currency": "EUR"})),
        )
        .await;
    assert_eq!(s, 201);
    // Unknown ids and other organisations' users are 404.
    let other = app.admin("Globex").await;
    for (token, id) in [(&admin, "usr_nope"), (&other, vera.as_str())] {
        let (s, body) = app
            .call(
                "PATCH",
                &format!("/api/v1/users/{id}"),
                Some(token),
                Some(json!({"role": "viewer"})),
            )
            .await;
        assert_eq!(s, 404, "{body}");
        assert_error(&body, "not_found");
    }
    // The last admin of an organisation cannot step down.
    let (_, list) = app.call("GET", "/api/v1/users", Some(&other), None).await;
    let globex_admin = list[0]["id"].as_str().unwrap();
    let (s, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{globex_admin}"),
            Some(&other),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(s, 409, "{body}");
}

#[actix_web::test]
async fn changing_the_password_checks_the_current_one_and_ends_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin("Acme").await;
    let other_session = app.token("admin@acme.example", "correct horse").await;
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users/me/password",
            Some(&admin),
            Some(json!({"current_password": "wrong", "new_password": "a much longer one"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_error(&body, "forbidden");
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users/me/password",
            Some(&admin),
            Some(json!({"current_password": "correct horse", "new_password": "short"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "new_password");
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users/me/password",
            Some(&admin),
            Some(json!({"current_password": "correct horse", "new_password": "battery staple!"})),
        )
        .await;
    assert_eq!(s, 204, "{body}");
    for t in [&admin, &other_session] {
        let (s, _) = app.call("GET", "/api/v1/accounts", Some(t), None).await;
        assert_eq!(s, 401);
    }
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "admin@acme.example", "password": "correct horse"})),
        )
        .await;
    assert_eq!(s, 401);
    app.token("admin@acme.example", "battery staple!").await;
    // API keys cannot change their user's password.
    let fresh = app.token("admin@acme.example", "battery staple!").await;
    let (_, key) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&fresh),
            Some(json!({"name": "script"})),
        )
        .await;
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/users/me/password",
            key["key"].as_str(),
            Some(
                json!({"current_password": "battery staple!", "new_password": "another long one"}),
            ),
        )
        .await;
    assert_eq!(s, 403);
}
