//! Pages over HTTP: login form, session cookie, CSRF, switcher.

use crate::TestApp;

fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap()
}

/// Posts the admin's credentials to the login form (loaded first, as a
/// browser does, for its CSRF token).
async fn log_in(client: &reqwest::Client, app: &TestApp) -> reqwest::Response {
    app.form_login(client, "admin@acme.example", "correct horse", None)
        .await
}

#[actix_web::test]
async fn login_page_sets_an_httponly_cookie_and_shows_the_switcher() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    app.create_child(&token, "Shop One").await;
    let master = app.create_child(&token, "Shop Two").await["master_id"]
        .as_str()
        .unwrap()
        .to_string();
    let client = cookie_client();
    let resp = client.get(app.url("/accounts")).send().await.unwrap();
    assert!(resp.url().path().starts_with("/login"));
    let raw = crate::helpers::cookie_client();
    let resp = log_in(&raw, &app).await;
    assert_eq!(resp.status(), 303);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");

    let resp = log_in(&client, &app).await;
    assert_eq!(resp.status(), 200);
    // The first page is the master's order plan.
    assert_eq!(
        resp.url().path(),
        format!("/accounts/{master}/order-plan"),
        "after login"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"account-select\""));
    assert!(html.contains("All accounts"));
    assert!(html.contains("Shop One") && html.contains("Shop Two"));

    // A state-changing form without the CSRF token is refused.
    let resp = client
        .post(app.url("/accounts"))
        .form(&[
            ("name", "Sneaky"),
            ("currency", "EUR"),
            ("kind", "manual"),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[actix_web::test]
async fn bad_login_shows_the_form_again() {
    let app = TestApp::spawn().await;
    app.admin("Acme").await;
    let resp = app
        .form_login(&cookie_client(), "admin@acme.example", "nope", None)
        .await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("not right"));
}

#[actix_web::test]
async fn account_pages_count_the_records_a_child_holds_and_the_master_sums_them() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let a = app.create_child(&token, "Shop A").await;
    let b = app.create_child(&token, "Shop B").await;
    let master = b["master_id"].as_str().unwrap().to_string();
    for (child, n) in [(&a, 2), (&b, 3)] {
        let id = child["id"].as_str().unwrap();
        let variants: Vec<_> = (0..n)
            .map(|i| serde_json::json!({"id": format!("V{i}"), "sku": format!("S{i}")}))
            .collect();
        let (s, _) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/variants"),
                Some(&token),
                Some(variants.into()),
            )
            .await;
        assert_eq!(s, 200);
    }
    let client = cookie_client();
    log_in(&client, &app).await;
    let count = |html: &str| {
        let at = html.find("<dt>Variants</dt><dd>").unwrap() + "<dt>Variants</dt><dd>".len();
        html[at..html[at..].find('<').unwrap() + at].to_string()
    };
    let page = |id: String| {
        let client = client.clone();
        let url = app.url(&format!("/accounts/{id}"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(
        count(&page(a["id"].as_str().unwrap().to_string()).await),
        "2"
    );
    assert_eq!(
        count(&page(b["id"].as_str().unwrap().to_string()).await),
        "3"
    );
    assert_eq!(count(&page(master).await), "5");
}
