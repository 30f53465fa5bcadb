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
            Some(json!({"email": "Vera@Acme.example", "password": "pw"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["email"], "vera@acme.example");
    assert_eq!(created["role"], "viewer");
    assert!(!created.to_string().contains("argon2"));
    let viewer = app.token("vera@acme.example", "pw").await;
    let (s, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&viewer),
            Some(json!({"email": "x@acme.example", "password": "pw"})),
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
            Some(json!({"email": "y@acme.example", "password": "pw", "role": "owner"})),
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
