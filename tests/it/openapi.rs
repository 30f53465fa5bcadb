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
