//! `GET /api/v1/openapi.json`.

use crate::TestApp;

#[actix_web::test]
async fn the_document_covers_the_routes_and_needs_no_credentials() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let (status, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        let item = item.as_object().unwrap();
        for (method, op) in item {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            checked += 1;
            // Documented: a summary or description, and its responses.
            let responses = op["responses"].as_object();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no responses"
            );
            for (code, r) in responses.unwrap() {
                assert!(
                    code.parse::<u16>().is_ok() || code == "default",
                    "{method} {path}: response {code}"
                );
                assert!(
                    r["description"].is_string(),
                    "{method} {path}: response {code} has no description"
                );
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{method} {path}: path parameter {name} is not documented"
                );
            }
            // Routed: the route table answers it (the default handler's 404
            // names a missing endpoint; a handler's own 404 names a record).
            let concrete = path.replace("{id}", "no-such-id");
            let resp = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            assert!(
                status != 404 || !text.contains("There is no API endpoint"),
                "{method} {path} is documented but not routed: {text}"
            );
            assert!(
                status != 405,
                "{method} {path} is documented but the route has another method"
            );
        }
    }
    // The core operations, the planning part, demand, feeds and sync.
    assert!(
        checked >= 48,
        "every documented operation is checked: {checked}"
    );
}

/// What every operation may answer is documented on it (a schema-driven
/// fuzzer found each of these undocumented): `401` on every operation that
/// needs credentials, `400` and `413` on every operation with a body, `403`
/// on every write, the CSV answer where `format=csv` is taken, and `409` on
/// the master-only settings given a child.
#[actix_web::test]
async fn every_operation_documents_the_answers_any_request_may_get() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let public = [
        ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/openapi.json"),
    ];
    let mut csv = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let answers = &op["responses"];
            if !public.contains(&(method.as_str(), path.as_str())) {
                assert!(answers["401"].is_object(), "{method} {path}: no 401");
                if method != "get" {
                    assert!(answers["403"].is_object(), "{method} {path}: no 403");
                }
            }
            if op["requestBody"].is_object() {
                assert!(answers["400"].is_object(), "{method} {path}: no 400");
                assert!(answers["413"].is_object(), "{method} {path}: no 413");
                assert!(answers["422"].is_object(), "{method} {path}: no 422");
            }
            let takes_format = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "format"));
            if takes_format {
                csv += 1;
                assert!(
                    answers["200"]["content"]["text/csv"].is_object(),
                    "{method} {path}: format=csv is not documented"
                );
            }
        }
    }
    assert!(
        csv >= 2,
        "the order plan and the supply plan take format=csv"
    );
    for (method, path) in [
        ("get", "/api/v1/accounts/{id}/warehouse-settings"),
        ("put", "/api/v1/accounts/{id}/warehouse-settings"),
        ("put", "/api/v1/accounts/{id}/links"),
        ("post", "/api/v1/accounts/{id}/transfer-suggestions/accept"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["409"].is_object(),
            "{method} {path}: no 409"
        );
    }
}

/// A time in an answer is RFC 3339 with its offset, as `format: date-time`
/// says (a mark's `updated_at` came without one).
#[actix_web::test]
async fn a_marks_time_is_an_rfc_3339_date_time() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/accounts/{child}/sku-settings");
    let (s, put) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(serde_json::json!([{"sku": "A-1", "not_for_reorder": true}])),
        )
        .await;
    assert_eq!(s, 200, "{put}");
    let (s, got) = app.call("GET", &path, Some(&token), None).await;
    assert_eq!(s, 200, "{got}");
    for body in [&put, &got] {
        let at = body[0]["updated_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{at} is not an RFC 3339 date-time"
        );
    }
}
