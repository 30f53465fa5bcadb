//! `POST /api/v1/auth/token` and bearer checks.

use serde_json::json;

use crate::helpers::assert_error;
use crate::TestApp;

#[actix_web::test]
async fn login_with_good_credentials_gives_a_working_token() {
    let app = TestApp::spawn().await;
    app.add_user("Ana@Example.com", "s3cret-s3cret", "Acme", "admin")
        .await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "ana@example.com", "password": "s3cret-s3cret"})),
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
    app.add_user("ana@example.com", "s3cret-s3cret", "Acme", "admin")
        .await;
    for (email, password) in [
        ("ana@example.com", "wrong"),
        ("nobody@example.com", "s3cret-s3cret"),
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
    app.add_user("ana@example.com", "s3cret-s3cret", "Acme", "admin")
        .await;
    let token = app.token("ana@example.com", "s3cret-s3cret").await;
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

/// Posts credentials to `POST /api/v1/auth/token`; the raw response.
async fn post_token(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn repeated_failures_on_one_email_answer_429_but_other_emails_still_log_in() {
    let app = TestApp::spawn().await;
    app.add_user("ana@example.com", "s3cret-s3cret", "Acme", "admin")
        .await;
    app.add_user("bob@example.com", "b0b-password-1", "Acme", "viewer")
        .await;
    for _ in 0..5 {
        let resp = post_token(&app, "ana@example.com", "wrong").await;
        assert_eq!(resp.status(), 401);
    }
    // The sixth attempt is refused before the password is looked at, even
    // the right one.
    let resp = post_token(&app, "Ana@Example.com", "s3cret-s3cret").await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error(&body, "too_many_requests");
    // Another e-mail from the same address is not blocked by ana's failures.
    let resp = post_token(&app, "bob@example.com", "b0b-password-1").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[actix_web::test]
async fn failures_from_one_address_are_limited_across_emails() {
    let app = TestApp::spawn().await;
    app.add_user("ana@example.com", "s3cret-s3cret", "Acme", "admin")
        .await;
    for i in 0..20 {
        let resp = post_token(&app, &format!("guess{i}@example.com"), "password123").await;
        assert_eq!(resp.status(), 401, "attempt {i}");
    }
    let resp = post_token(&app, "guess-more@example.com", "password123").await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error(&body, "too_many_requests");
}

#[actix_web::test]
async fn the_login_form_is_rate_limited_too() {
    let app = TestApp::spawn().await;
    app.admin("Acme").await;
    let client = crate::helpers::cookie_client();
    for _ in 0..5 {
        let resp = app
            .form_login(&client, "admin@acme.example", "wrong", None)
            .await;
        assert_eq!(resp.status(), 401);
    }
    let resp = app
        .form_login(&client, "admin@acme.example", "correct horse", None)
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(resp.text().await.unwrap().contains("Too many"));
}

#[actix_web::test]
async fn an_unknown_email_takes_as_long_as_a_known_one() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.add_user(
            &format!("u{i}@example.com"),
            "s3cret-s3cret",
            "Acme",
            "admin",
        )
        .await;
    }
    let time = |email: String| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let resp = post_token(app, &email, "not-the-password").await;
            assert_eq!(resp.status(), 401);
            started.elapsed()
        }
    };
    // Interleaved, and the fastest of several each, so that load from
    // other tests on the machine evens out. Without a dummy hash an unknown
    // e-mail answers in a small fraction of a known one's time (no argon2).
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..6 {
        known.push(time(format!("u{}@example.com", i % 3)).await);
        unknown.push(time(format!("nobody{i}@example.com")).await);
    }
    let (known, unknown) = (
        known.into_iter().min().unwrap(),
        unknown.into_iter().min().unwrap(),
    );
    eprintln!("fastest answers: known e-mail {known:?}, unknown e-mail {unknown:?}");
    assert!(
        unknown * 3 >= known,
        "unknown e-mail answered in {unknown:?}, a known one in {known:?}"
    );
}

#[actix_web::test]
async fn the_login_form_needs_its_csrf_token() {
    let app = TestApp::spawn().await;
    app.admin("Acme").await;
    let fields = [
        ("email", "admin@acme.example"),
        ("password", "correct horse"),
        ("next", "/accounts"),
    ];
    // A form posted from elsewhere: no pre-session cookie, no token.
    let resp = crate::helpers::cookie_client()
        .post(app.url("/login"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().starts_with("tributary_session=")));
    // The cookie from the login page, but a forged token.
    let client = crate::helpers::cookie_client();
    client.get(app.url("/login")).send().await.unwrap();
    let mut forged = fields.to_vec();
    forged.push(("csrf_token", "forged"));
    let resp = client
        .post(app.url("/login"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // The page's own token goes through.
    let resp = app
        .form_login(&client, "admin@acme.example", "correct horse", None)
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
}

#[actix_web::test]
async fn two_open_login_tabs_both_work() {
    let app = TestApp::spawn().await;
    app.admin("Acme").await;
    let client = crate::helpers::cookie_client();
    let page = |client: reqwest::Client| {
        let url = app.url("/login");
        async move {
            let html = client.get(url).send().await.unwrap().text().await.unwrap();
            crate::helpers::csrf_in(&html).unwrap()
        }
    };
    let first = page(client.clone()).await;
    let _second = page(client.clone()).await;
    let resp = client
        .post(app.url("/login"))
        .form(&[
            ("email", "admin@acme.example"),
            ("password", "correct horse"),
            ("csrf_token", first.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
}

#[actix_web::test]
async fn next_after_login_accepts_local_paths_only() {
    let app = TestApp::spawn().await;
    app.admin("Acme").await;
    for (next, expected) in [
        ("/accounts/acc_1/imports?x=1", "/accounts/acc_1/imports?x=1"),
        ("/", "/"),
        ("/\\evil.example", "/"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("evil.example", "/"),
        ("/ok\\..\\evil", "/"),
        ("/\tevil.example", "/"),
        ("/accounts\r\nSet-Cookie: x=y", "/"),
        ("", "/"),
    ] {
        let client = crate::helpers::cookie_client();
        let resp = app
            .form_login(&client, "admin@acme.example", "correct horse", Some(next))
            .await;
        assert_eq!(resp.status(), 303, "next {next:?}");
        assert_eq!(resp.headers()["location"], expected, "next {next:?}");
    }
    // The login page does not carry a foreign `next` into its form either.
    let html = app
        .client
        .get(app.url("/login?next=%2F%5Cevil.example"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"next\" value=\"/\""), "{html}");
}

#[actix_web::test]
async fn logging_out_ends_every_session_and_token_of_the_user() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let browser = crate::helpers::cookie_client();
    let resp = app
        .form_login(&browser, "admin@acme.example", "correct horse", None)
        .await;
    assert_eq!(resp.status(), 303);
    let other_browser = crate::helpers::cookie_client();
    app.form_login(&other_browser, "admin@acme.example", "correct horse", None)
        .await;
    let csrf = app.session_csrf(&browser).await;
    let resp = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    // The API token and the other browser's session are over too.
    let (status, body) = app
        .call("GET", "/api/v1/accounts", Some(&token), None)
        .await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let resp = other_browser
        .get(app.url("/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    // Logging in again works.
    let fresh = app.token("admin@acme.example", "correct horse").await;
    let (status, _) = app
        .call("GET", "/api/v1/accounts", Some(&fresh), None)
        .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn api_logout_ends_the_users_tokens() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let second = app.token("admin@acme.example", "correct horse").await;
    let (status, body) = app
        .call("POST", "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, 204, "{body}");
    for t in [&token, &second] {
        let (status, _) = app.call("GET", "/api/v1/accounts", Some(t), None).await;
        assert_eq!(status, 401);
    }
    let (status, _) = app.call("POST", "/api/v1/auth/logout", None, None).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn the_session_cookie_writes_to_the_api_only_with_the_csrf_header() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let browser = crate::helpers::cookie_client();
    app.form_login(&browser, "admin@acme.example", "correct horse", None)
        .await;
    // Reads with the cookie are fine.
    let resp = browser
        .get(app.url("/api/v1/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A same-site form (JSON-less, multipart) or a script without the header
    // cannot write.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"id,name\nW1,Main\n".to_vec()).file_name("warehouses.csv"),
    );
    let resp = browser
        .post(app.url(&format!("/api/v1/accounts/{id}/imports/warehouses")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error(&body, "forbidden");
    let resp = browser
        .post(app.url("/api/v1/accounts"))
        .json(&json!({"name": "Sneaky", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = browser
        .post(app.url("/api/v1/accounts"))
        .header("X-CSRF-Token", "forged")
        .json(&json!({"name": "Sneaky", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // With the session's CSRF token in the header it works.
    let csrf = app.session_csrf(&browser).await;
    let resp = browser
        .post(app.url("/api/v1/accounts"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "Second", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}
