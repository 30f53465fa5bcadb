//! The StockTrim-compatible API under `/compat/stocktrim`: authentication by
//! `api-auth-id` / `api-auth-signature`, each endpoint's status codes and
//! edge cases, StockTrim's quirks (404 for an empty product list, single or
//! array answers), and that everything goes through the native import path.

use serde_json::{json, Value};

use crate::TestApp;

const TODAY: &str = "2026-03-01";

struct St {
    app: TestApp,
    token: String,
    account: String,
    id: String,
    key: String,
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(
        method.parse().unwrap(),
        app.url(&format!("/compat/stocktrim{path}")),
    );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json)
}

async fn api_key(app: &TestApp, token: &str, accounts: Value, read_only: bool) -> (String, String) {
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(token),
            Some(json!({"name": "stocktrim", "account_ids": accounts, "read_only": read_only})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    (
        b["id"].as_str().unwrap().to_string(),
        b["key"].as_str().unwrap().to_string(),
    )
}

async fn setup() -> St {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Compat").await;
    let account = app.create_child(&token, "Feed").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, key) = api_key(&app, &token, json!([account]), false).await;
    St {
        app,
        token,
        account,
        id,
        key,
    }
}

impl St {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        send(
            &self.app,
            method,
            path,
            &[
                ("api-auth-id", self.id.as_str()),
                ("api-auth-signature", self.key.as_str()),
            ],
            body,
        )
        .await
    }

    async fn ok(&self, method: &str, path: &str, body: Value, want: u16) -> Value {
        let (s, b) = self.call(method, path, Some(body)).await;
        assert_eq!(s, want, "{method} {path}: {b}");
        b
    }

    /// Two suppliers, two locations, three products.
    async fn catalogue(&self) {
        self.ok(
            "POST",
            "/api/Suppliers",
            json!([{"supplierCode": "ACME", "supplierName": "Acme", "defaultLeadTime": 7},
                   {"supplierCode": "GLOBEX"}]),
            201,
        )
        .await;
        for (code, name) in [("WH1", "Main"), ("STORE", "Store")] {
            self.ok(
                "POST",
                "/api/Locations",
                json!({"locationCode": code, "locationName": name}),
                201,
            )
            .await;
        }
        self.ok(
            "POST",
            "/api/Products",
            json!({"productId": "P-1", "productCodeReadable": "WIDGET", "name": "Widget",
                   "supplierCode": "ACME", "cost": 2.5, "price": 10, "category": "Tools"}),
            201,
        )
        .await;
        self.ok(
            "POST",
            "/api/Products",
            json!({"productId": "P-2", "name": "Gadget", "supplierCode": "GLOBEX"}),
            201,
        )
        .await;
        self.ok(
            "POST",
            "/api/Products",
            json!({"productId": "P-3", "name": "Part", "unstocked": true}),
            201,
        )
        .await;
    }
}

fn assert_problem(body: &Value, field: &str) {
    assert_eq!(body["status"], 400, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e["field"].as_str().is_some_and(|f| f.starts_with(field))),
        "no error on {field} in {body}"
    );
}

#[actix_web::test]
async fn authentication_by_key_id_and_signature() {
    let st = setup().await;
    let app = &st.app;
    let (s, b) = send(app, "GET", "/api/Products", &[], None).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["code"], "unauthorized");
    let (s, _) = send(
        app,
        "GET",
        "/api/Products",
        &[("api-auth-id", &st.id)],
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = send(
        app,
        "GET",
        "/api/Products",
        &[("api-auth-id", &st.id), ("api-auth-signature", "nope")],
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = send(
        app,
        "GET",
        "/api/Products",
        &[
            ("api-auth-id", "key_unknown"),
            ("api-auth-signature", &st.key),
        ],
        None,
    )
    .await;
    assert_eq!(s, 401);
    // A bearer token is not how this API authenticates.
    let (s, _) = app
        .call("GET", "/compat/stocktrim/api/Products", Some(&st.key), None)
        .await;
    assert_eq!(s, 401);

    // Scope: exactly one child account.
    let (all_id, all_key) = api_key(app, &st.token, Value::Null, false).await;
    let (s, b) = send(
        app,
        "GET",
        "/api/Products",
        &[("api-auth-id", &all_id), ("api-auth-signature", &all_key)],
        None,
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let second = app.create_child(&st.token, "Second").await;
    let master = second["master_id"].as_str().unwrap().to_string();
    let (two_id, two_key) = api_key(
        app,
        &st.token,
        json!([st.account, second["id"].as_str().unwrap()]),
        false,
    )
    .await;
    let (s, _) = send(
        app,
        "GET",
        "/api/Products",
        &[("api-auth-id", &two_id), ("api-auth-signature", &two_key)],
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (m_id, m_key) = api_key(app, &st.token, json!([master]), false).await;
    let (s, _) = send(
        app,
        "GET",
        "/api/SuppliersBulk",
        &[("api-auth-id", &m_id), ("api-auth-signature", &m_key)],
        None,
    )
    .await;
    assert_eq!(s, 403);

    // A read-only key reads but does not write.
    let (ro_id, ro_key) = api_key(app, &st.token, json!([st.account]), true).await;
    let h = [
        ("api-auth-id", ro_id.as_str()),
        ("api-auth-signature", ro_key.as_str()),
    ];
    let (s, _) = send(app, "GET", "/api/SuppliersBulk", &h, None).await;
    assert_eq!(s, 200);
    let (s, _) = send(
        app,
        "POST",
        "/api/Locations",
        &h,
        Some(json!({"locationCode": "X"})),
    )
    .await;
    assert_eq!(s, 403);

    // A revoked key stops working.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/api-keys/{}", st.id),
            Some(&st.token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = st.call("GET", "/api/SuppliersBulk", None).await;
    assert_eq!(s, 401);
}

#[actix_web::test]
async fn products_upsert_read_page_and_delete() {
    let st = setup().await;
    // StockTrim answers 404 for an empty product list.
    let (s, _) = st.call("GET", "/api/Products", None).await;
    assert_eq!(s, 404);
    st.catalogue().await;

    let b = st
        .ok(
            "POST",
            "/api/Products",
            json!({"productId": "P-1", "name": "Widget v2", "minimumOrderQuantity": 12, "batchSize": 6}),
            200,
        )
        .await;
    assert_eq!(b["name"], "Widget v2");
    assert_eq!(
        b["productCodeReadable"], "WIDGET",
        "fields not sent are kept"
    );
    assert_eq!(b["category"], "Tools");
    assert_eq!(b["cost"], 2.5);
    assert_eq!(b["supplierCode"], "ACME");
    assert_eq!(b["minimumOrderQuantity"], 12.0);
    assert_eq!(b["batchSize"], 6.0);
    assert!(b["id"].as_i64().unwrap() > 0);

    let (s, b) = st.call("GET", "/api/Products?code=WIDGET", None).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 1);
    assert_eq!(b[0]["productId"], "P-1");
    let (s, b) = st.call("GET", "/api/Products?code=P-2", None).await;
    assert_eq!(s, 200);
    assert_eq!(b[0]["productCodeReadable"], "P-2");
    assert_eq!(b[0]["unstocked"], false);
    let (_, b) = st.call("GET", "/api/Products?code=P-3", None).await;
    assert_eq!(b[0]["unstocked"], true);
    let (s, _) = st.call("GET", "/api/Products?code=NOPE", None).await;
    assert_eq!(s, 404);
    let (s, b) = st.call("GET", "/api/Products", None).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 3);
    let (s, b) = st.call("GET", "/api/Products?pageNo=0", None).await;
    assert_eq!((s, b.as_array().unwrap().len()), (200, 3));
    let (s, _) = st.call("GET", "/api/Products?pageNo=1", None).await;
    assert_eq!(s, 404);
    let (s, b) = st.call("GET", "/api/Products?pageNo=x", None).await;
    assert_eq!(s, 400);
    assert_problem(&b, "pageNo");

    // Validation: the native checks, in StockTrim's 400 ProblemDetails.
    let (s, b) = st
        .call("POST", "/api/Products", Some(json!({"name": "no id"})))
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "productId");
    let (s, b) = st
        .call(
            "POST",
            "/api/Products",
            Some(json!({"productId": "P-9", "supplierCode": "NOBODY"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "vendor_id");
    let (s, b) = st
        .call(
            "POST",
            "/api/Products",
            Some(json!({"productId": "P-9", "cost": "abc"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "cost_price");
    let (s, _) = st.call("POST", "/api/Products", Some(json!([1, 2]))).await;
    assert_eq!(s, 400);
    let resp = st
        .app
        .client
        .post(st.app.url("/compat/stocktrim/api/Products"))
        .header("api-auth-id", &st.id)
        .header("api-auth-signature", &st.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let (_, b) = st.call("GET", "/api/Products?code=P-9", None).await;
    assert!(b.get("error").is_some(), "nothing was written: {b}");

    // Delete.
    let (s, _) = st.call("DELETE", "/api/Products?productId=P-3", None).await;
    assert_eq!(s, 200);
    let (s, _) = st.call("GET", "/api/Products?code=P-3", None).await;
    assert_eq!(s, 404);
    let (s, _) = st.call("DELETE", "/api/Products?productId=P-3", None).await;
    assert_eq!(s, 404);
    let (s, b) = st.call("DELETE", "/api/Products", None).await;
    assert_eq!(s, 400);
    assert_problem(&b, "productId");
    // Posting it again brings it back.
    st.ok("POST", "/api/Products", json!({"productId": "P-3"}), 200)
        .await;
    let (s, _) = st.call("GET", "/api/Products?code=P-3", None).await;
    assert_eq!(s, 200);
}

#[actix_web::test]
async fn the_same_record_as_a_native_import() {
    let st = setup().await;
    st.catalogue().await;
    // A variant imported natively is a StockTrim product, and the other way round.
    let (s, b) = st
        .app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/variants", st.account),
            Some(&st.token),
            Some(json!([{"id": "N-1", "sku": "NATIVE", "title": "Native", "vendor_id": "ACME"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = st.call("GET", "/api/Products?code=NATIVE", None).await;
    assert_eq!(s, 200);
    assert_eq!(b[0]["productId"], "N-1");
    assert_eq!(b[0]["name"], "Native");
    assert_eq!(b[0]["supplierCode"], "ACME");
    // Re-importing the compat product natively, unchanged, is `unchanged`.
    let (s, b) = st
        .app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}/variants", st.account),
            Some(&st.token),
            Some(json!([{"id": "P-2", "sku": "P-2", "title": "Gadget", "vendor_id": "GLOBEX"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["unchanged"], 1, "{b}");
    // Compat writes are in the import log.
    let (_, log) = st
        .app
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/imports", st.account),
            Some(&st.token),
            None,
        )
        .await;
    let entities: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["entity"].as_str().unwrap())
        .collect();
    assert!(entities.contains(&"vendors"), "{log}");
    assert!(entities.contains(&"warehouses"), "{log}");
    assert!(entities.contains(&"variants"), "{log}");
}

#[actix_web::test]
async fn suppliers_and_locations() {
    let st = setup().await;
    let (s, b) = st.call("GET", "/api/SuppliersBulk", None).await;
    assert_eq!((s, b), (200, json!([])));
    let b = st
        .ok(
            "POST",
            "/api/Suppliers",
            json!([{"supplierCode": "ACME", "supplierName": "Acme", "defaultLeadTime": 7},
                   {"supplierCode": "GLOBEX"}]),
            201,
        )
        .await;
    assert_eq!(b.as_array().unwrap().len(), 2);
    assert_eq!(
        b[1]["supplierName"], "GLOBEX",
        "the code stands in for a missing name"
    );
    let (s, b) = st.call("GET", "/api/Suppliers?code=ACME", None).await;
    assert_eq!(s, 200);
    assert!(b.is_object(), "one object when filtered: {b}");
    assert_eq!(b["defaultLeadTime"], 7);
    // Upsert keeps what is not sent.
    st.ok(
        "POST",
        "/api/Suppliers",
        json!([{"supplierCode": "ACME", "supplierName": "Acme Ltd"}]),
        201,
    )
    .await;
    let (_, b) = st.call("GET", "/api/Suppliers?code=ACME", None).await;
    assert_eq!(
        (b["supplierName"].clone(), b["defaultLeadTime"].clone()),
        (json!("Acme Ltd"), json!(7))
    );
    let (s, _) = st.call("GET", "/api/Suppliers?code=NONE", None).await;
    assert_eq!(s, 404);
    let (s, b) = st
        .call(
            "POST",
            "/api/Suppliers",
            Some(json!([{"supplierName": "x"}])),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "[0].supplierCode");
    let (s, _) = st
        .call("DELETE", "/api/Suppliers?supplierCodeOrName=GLOBEX", None)
        .await;
    assert_eq!(s, 201);
    let (_, b) = st.call("GET", "/api/SuppliersBulk", None).await;
    assert_eq!(b.as_array().unwrap().len(), 1);
    let (s, _) = st
        .call("DELETE", "/api/Suppliers?supplierCodeOrName=GLOBEX", None)
        .await;
    assert_eq!(s, 404);

    // Locations, V1 and V2.
    let b = st
        .ok(
            "POST",
            "/api/Locations",
            json!({"locationCode": "WH1", "locationName": "Main"}),
            201,
        )
        .await;
    assert_eq!(b["locationCode"], "WH1");
    st.ok(
        "POST",
        "/api/V2/Locations",
        json!({"locationCode": "STORE"}),
        201,
    )
    .await;
    let (s, b) = st.call("GET", "/api/Locations", None).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 2);
    let (s, b) = st.call("GET", "/api/Locations?code=STORE", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["locationName"], "STORE");
    let (s, _) = st.call("GET", "/api/Locations?code=NOPE", None).await;
    assert_eq!(s, 404);
    let (s, b) = st
        .call("POST", "/api/Locations", Some(json!({"locationName": "x"})))
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "locationCode");
}

#[actix_web::test]
async fn inventory_sets_stock_levels() {
    let st = setup().await;
    // No location yet: an entry without one has nowhere to go.
    st.ok("POST", "/api/Products", json!({"productId": "P-0"}), 201)
        .await;
    let (s, b) = st
        .call(
            "POST",
            "/api/Inventory",
            Some(json!({"inventory": [{"productId": "P-0", "stockOnHand": 1}]})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "inventory[0].locationCode");
    st.catalogue().await;
    let b = st
        .ok(
            "POST",
            "/api/Inventory",
            json!({"updateOverallAllOnHandToBeSumOfLocation": true,
                   "updateOverallAllOnOrderToBeSumOfLocation": true,
                   "inventory": [
                       {"productId": "P-1", "locationCode": "WH1", "stockOnHand": 4},
                       {"productId": "P-1", "locationCode": "STORE", "stockOnHand": 1.5, "stockOnOrder": 3}]}),
            200,
        )
        .await;
    assert!(
        b["supplier"].is_object() && b["purchaseOrderLineItems"].is_array(),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("stockOnOrder"),
        "{b}"
    );
    let (_, b) = st.call("GET", "/api/Products?code=P-1", None).await;
    assert_eq!(b[0]["stockOnHand"], 5.5);
    assert_eq!(b[0]["stockLocations"].as_array().unwrap().len(), 2);
    // The sum flag with an entry that has no location is refused.
    let (s, b) = st
        .call(
            "POST",
            "/api/Inventory",
            Some(json!({"updateOverallAllOnHandToBeSumOfLocation": true,
                        "inventory": [{"productId": "P-1", "stockOnHand": 9}]})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "inventory[0].locationCode");
    // Without it, the entry sets the first location (STORE < WH1).
    st.ok(
        "POST",
        "/api/Inventory",
        json!({"inventory": [{"productId": "P-2", "stockOnHand": 9}]}),
        200,
    )
    .await;
    let (_, b) = st.call("GET", "/api/Products?code=P-2", None).await;
    assert_eq!(b[0]["stockLocations"][0]["locationCode"], "STORE");
    assert_eq!(b[0]["stockOnHand"], 9.0);
    // Unknown product or location: the native reference check.
    let (s, b) = st
        .call(
            "POST",
            "/api/Inventory",
            Some(json!({"inventory": [{"productId": "NOPE", "locationCode": "WH1", "stockOnHand": 1}]})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "variant_id");
}

#[actix_web::test]
async fn sales_orders_line_by_line() {
    let st = setup().await;
    st.catalogue().await;
    let (s, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!((s, b), (200, json!([])));
    // Single lines of one order.
    let b = st
        .ok(
            "POST",
            "/api/SalesOrders",
            json!({"productId": "P-1", "orderDate": "2026-02-10T10:00:00Z", "quantity": 2,
                   "unitPrice": 10, "externalReferenceId": "SO-1", "locationCode": "WH1",
                   "customerCode": "C-1", "customerName": "Ann"}),
            201,
        )
        .await;
    assert_eq!(b["externalReferenceId"], "SO-1");
    assert_eq!(b["quantity"], 2.0);
    assert_eq!(b["locationCode"], "WH1");
    st.ok(
        "POST",
        "/api/SalesOrders",
        json!({"productId": "P-2", "orderDate": "2026-02-10T10:00:00Z", "quantity": 1,
               "externalReferenceId": "SO-1"}),
        201,
    )
    .await;
    let (_, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!(
        b.as_array().unwrap().len(),
        2,
        "two lines of one order: {b}"
    );
    // Customers from sales orders.
    let (s, b) = st.call("GET", "/api/Customers/C-1", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["name"], "Ann");
    // Missing fields.
    let (s, b) = st
        .call(
            "POST",
            "/api/SalesOrders",
            Some(json!({"productId": "P-1", "quantity": 1})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "orderDate");
    let (s, b) = st
        .call(
            "POST",
            "/api/SalesOrders",
            Some(json!({"productId": "NOPE", "quantity": 1, "orderDate": "2026-02-10"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "lines[1].variant_id");

    // Bulk: POST merges lines, PUT replaces the order's lines.
    st.ok(
        "POST",
        "/api/SalesOrdersBulk",
        json!({"orderDate": "2026-02-11T10:00:00Z", "locationCode": "STORE",
               "saleOrderLineItems": [
                   {"productId": "P-1", "orderDate": "2026-02-11T10:00:00Z", "quantity": 1, "externalReferenceId": "SO-2"},
                   {"productId": "P-3", "orderDate": "2026-02-11T10:00:00Z", "quantity": 4, "externalReferenceId": "SO-2"}]}),
        201,
    )
    .await;
    let (_, b) = st.call("GET", "/api/SalesOrders?productId=P-1", None).await;
    assert_eq!(b.as_array().unwrap().len(), 2);
    let b = st
        .ok(
            "PUT",
            "/api/SalesOrdersBulk",
            json!({"orderDate": "2026-02-11T10:00:00Z",
                   "saleOrderLineItems": [
                       {"productId": "P-3", "orderDate": "2026-02-11T10:00:00Z", "quantity": 5, "externalReferenceId": "SO-2"}]}),
            201,
        )
        .await;
    assert_eq!(b["quantity"], 5.0);
    assert_eq!(b["locationCode"], "STORE", "the order keeps its location");
    let (_, b) = st.call("GET", "/api/SalesOrders?productId=P-1", None).await;
    assert_eq!(b.as_array().unwrap().len(), 1, "P-1 left SO-2: {b}");
    let (s, b) = st
        .call(
            "PUT",
            "/api/SalesOrdersBulk",
            Some(json!({"orderDate": "2026-02-11", "saleOrderLineItems": []})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "saleOrderLineItems");

    // Deletes.
    let (s, b) = st.call("DELETE", "/api/SalesOrders", None).await;
    assert_eq!(s, 400);
    assert_problem(&b, "productId");
    let (s, _) = st
        .call("DELETE", "/api/SalesOrders?productId=P-2", None)
        .await;
    assert_eq!(s, 200);
    let (_, b) = st.call("GET", "/api/SalesOrders?productId=P-2", None).await;
    assert_eq!(b, json!([]));
    let (_, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!(b.as_array().unwrap().len(), 2, "{b}");
    let (s, _) = st
        .call(
            "DELETE",
            "/api/SalesOrdersLocation?locationCodeOrName=Store",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!(
        b.as_array().unwrap().len(),
        1,
        "SO-2 at the store is gone: {b}"
    );
    let (s, _) = st
        .call(
            "DELETE",
            "/api/SalesOrdersLocation?locationCodeOrName=NOWHERE",
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = st
        .call("DELETE", "/api/SalesOrders/Range?fromDate=bad", None)
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "fromDate");
    let (s, _) = st
        .call(
            "DELETE",
            "/api/SalesOrders/Range?fromDate=2026-02-01&toDate=2026-02-09",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!(b.as_array().unwrap().len(), 1, "outside the range: {b}");
    let (s, _) = st
        .call(
            "DELETE",
            "/api/SalesOrders/Range?fromDate=2026-02-10&toDate=2026-02-10",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!(b, json!([]));
    st.ok(
        "POST",
        "/api/SalesOrders",
        json!({"productId": "P-1", "orderDate": "2026-02-12", "quantity": 1}),
        201,
    )
    .await;
    let (s, _) = st.call("DELETE", "/api/SalesOrders/All", None).await;
    assert_eq!(s, 200);
    let (_, b) = st.call("GET", "/api/SalesOrders", None).await;
    assert_eq!(b, json!([]));
}

#[actix_web::test]
async fn purchase_orders_v1_and_v2() {
    let st = setup().await;
    st.catalogue().await;
    let (s, _) = st.call("GET", "/api/PurchaseOrders", None).await;
    assert_eq!(s, 404, "StockTrim answers 404 when there are none");
    let (s, b) = st.call("GET", "/api/V2/PurchaseOrders", None).await;
    assert_eq!((s, b), (200, json!([])));
    let po = json!({"referenceNumber": "PO-1", "supplier": {"supplierCode": "ACME"},
                    "location": {"locationCode": "WH1"}, "status": "Sent",
                    "purchaseOrderLineItems": [{"productId": "P-1", "quantity": 10, "unitPrice": 2}]});
    let b = st.ok("POST", "/api/PurchaseOrders", po.clone(), 201).await;
    assert_eq!(b["status"], "Approved", "Sent and Approved are both active");
    assert_eq!(b["supplier"]["supplierName"], "Acme");
    assert_eq!(b["location"]["locationCode"], "WH1");
    assert_eq!(b["purchaseOrderLineItems"][0]["quantity"], 10.0);
    let (_, p) = st.call("GET", "/api/Products?code=P-1", None).await;
    assert_eq!(p[0]["stockOnOrder"], 10.0);
    let mut received = po.clone();
    received["status"] = json!("Received");
    let b = st.ok("POST", "/api/PurchaseOrders", received, 200).await;
    assert_eq!(b["status"], "Received");
    let (_, p) = st.call("GET", "/api/Products?code=P-1", None).await;
    assert_eq!(p[0]["stockOnOrder"], 0.0);
    let mut draft = po.clone();
    draft["referenceNumber"] = json!("PO-2");
    draft["status"] = json!("Draft");
    st.ok("POST", "/api/PurchaseOrders", draft, 201).await;

    let (s, b) = st
        .call("GET", "/api/PurchaseOrders?referenceNumber=PO-2", None)
        .await;
    assert_eq!(s, 200);
    assert!(b.is_object(), "one object when filtered: {b}");
    assert_eq!(b["status"], "Draft");
    let (s, b) = st.call("GET", "/api/PurchaseOrders", None).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 2);
    let (s, _) = st
        .call("GET", "/api/PurchaseOrders?referenceNumber=PO-9", None)
        .await;
    assert_eq!(s, 404);
    let (_, b) = st
        .call("GET", "/api/V2/PurchaseOrders?status=Draft", None)
        .await;
    assert_eq!(b.as_array().unwrap().len(), 1);
    assert_eq!(b[0]["referenceNumber"], "PO-2");
    let (_, b) = st
        .call("GET", "/api/V2/PurchaseOrders?page=0&pageSize=1", None)
        .await;
    assert_eq!(b.as_array().unwrap().len(), 1);
    let (_, b2) = st
        .call("GET", "/api/V2/PurchaseOrders?page=1&pageSize=1", None)
        .await;
    assert_eq!(b2.as_array().unwrap().len(), 1);
    assert_ne!(b[0]["referenceNumber"], b2[0]["referenceNumber"]);
    let (s, b) = st
        .call("GET", "/api/V2/PurchaseOrders?status=Lost", None)
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "status");
    let (s, b) = st.call("GET", "/api/V2/PurchaseOrders/PO-1", None).await;
    assert_eq!((s, b["referenceNumber"].clone()), (200, json!("PO-1")));
    let (s, _) = st.call("GET", "/api/V2/PurchaseOrders/PO-9", None).await;
    assert_eq!(s, 404);

    // Invalid orders.
    let mut bad = po.clone();
    bad["status"] = json!("Lost");
    let (s, b) = st.call("POST", "/api/PurchaseOrders", Some(bad)).await;
    assert_eq!(s, 400);
    assert_problem(&b, "status");
    let (s, b) = st
        .call(
            "POST",
            "/api/PurchaseOrders",
            Some(json!({"supplier": {}, "purchaseOrderLineItems": []})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "supplier.supplierCode");
    let mut zero = po.clone();
    zero["purchaseOrderLineItems"][0]["quantity"] = json!(0);
    let (s, b) = st.call("POST", "/api/PurchaseOrders", Some(zero)).await;
    assert_eq!(s, 400);
    assert_problem(&b, "lines[1].quantity");

    let (s, _) = st
        .call("DELETE", "/api/PurchaseOrders?referenceNumber=PO-1", None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = st
        .call("DELETE", "/api/PurchaseOrders?referenceNumber=PO-1", None)
        .await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn boms_and_customers() {
    let st = setup().await;
    st.catalogue().await;
    let b = st
        .ok(
            "POST",
            "/api/boms",
            json!({"productId": "P-1", "componentId": "P-2", "quantity": 2}),
            201,
        )
        .await;
    assert_eq!(b["quantity"], 2.0);
    assert_eq!(b["skuComponent"]["productId"], "P-2");
    st.ok(
        "POST",
        "/api/boms",
        json!({"productId": "P-1", "componentId": "P-3", "quantity": 1}),
        201,
    )
    .await;
    let (s, b) = st
        .call("GET", "/api/boms?productId=P-1&componentId=P-3", None)
        .await;
    assert_eq!(s, 201);
    assert!(b.is_object(), "{b}");
    let (s, b) = st.call("GET", "/api/boms?productId=P-1", None).await;
    assert_eq!(s, 201);
    assert_eq!(b.as_array().unwrap().len(), 2);
    let (s, b) = st
        .call(
            "POST",
            "/api/boms",
            Some(json!({"productId": "NOPE", "componentId": "P-3"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "productId");
    let (s, b) = st
        .call(
            "POST",
            "/api/boms",
            Some(json!({"productId": "P-1", "componentId": "NOPE"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "components");
    let (s, _) = st
        .call("DELETE", "/api/boms?productId=P-1&componentId=P-2", None)
        .await;
    assert_eq!(s, 201);
    let (s, _) = st
        .call("GET", "/api/boms?productId=P-1&componentId=P-2", None)
        .await;
    assert_eq!(s, 404);

    // Customers.
    let (s, b) = st.call("GET", "/api/Customers", None).await;
    assert_eq!((s, b), (200, json!([])));
    let b = st
        .ok(
            "PUT",
            "/api/Customers",
            json!({"code": "C-1", "name": "Ann", "city": "Lyon"}),
            200,
        )
        .await;
    assert_eq!(b[0]["code"], "C-1");
    st.ok(
        "PUT",
        "/api/Customers",
        json!({"code": "C-1", "phone": "1"}),
        200,
    )
    .await;
    let (s, b) = st.call("GET", "/api/Customers/C-1", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (b["name"].clone(), b["phone"].clone()),
        (json!("Ann"), json!("1"))
    );
    let (s, _) = st.call("GET", "/api/Customers/C-2", None).await;
    assert_eq!(s, 404);
    let (s, b) = st
        .call("PUT", "/api/Customers", Some(json!({"name": "x"})))
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "code");
}

async fn wait_processed(st: &St) -> Value {
    for _ in 0..200 {
        let (s, b) = st.call("GET", "/api/ProcessingStatus", None).await;
        assert_eq!(s, 200);
        if b["isProcessing"] == false {
            return b;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the forecast calculation did not finish");
}

#[actix_web::test]
async fn forecast_order_plan_and_purchase_orders_from_it() {
    let st = setup().await;
    st.catalogue().await;
    st.ok(
        "POST",
        "/api/Inventory",
        json!({"inventory": [{"productId": "P-1", "locationCode": "WH1", "stockOnHand": 5},
                             {"productId": "P-2", "locationCode": "WH1", "stockOnHand": 1000}]}),
        200,
    )
    .await;
    for d in 1..=28 {
        st.ok(
            "POST",
            "/api/SalesOrdersBulk",
            json!({"orderDate": format!("2026-02-{d:02}T12:00:00Z"), "locationCode": "WH1",
                   "saleOrderLineItems": [
                       {"productId": "P-1", "orderDate": "2026-02-01", "quantity": 2, "externalReferenceId": format!("SO-{d}")},
                       {"productId": "P-2", "orderDate": "2026-02-01", "quantity": 1, "externalReferenceId": format!("SO-{d}")}]}),
            201,
        )
        .await;
    }
    let (s, _) = st.call("POST", "/api/RunForecastCalculations", None).await;
    assert_eq!(s, 201);
    let status = wait_processed(&st).await;
    assert_eq!(status["percentageComplete"], 100);

    let b = st.ok("POST", "/api/OrderPlan", json!({}), 200).await;
    let rows = b["results"].as_array().unwrap();
    let n = rows.len();
    assert!(n >= 2, "{b}");
    let widget = rows.iter().find(|r| r["skuCode"] == "WIDGET").unwrap();
    assert_eq!(widget["productCode"], "P-1");
    assert_eq!(widget["stockOnHand"], 5.0);
    // 2 a day over ACME's 7 days of lead time + 30 days of stock, 5 on hand.
    let widget_qty = widget["orderQuantity"].as_f64().unwrap();
    assert_eq!(widget_qty, 69.0, "{widget}");
    assert!(widget["calculatedDateTime"].is_string());
    assert!(widget["daysUntilReplenishmentDue"].as_i64().unwrap() <= 0);
    let gadget = rows.iter().find(|r| r["productCode"] == "P-2").unwrap();
    assert_eq!(gadget["orderQuantity"], 0.0);

    let b = st
        .ok("POST", "/api/OrderPlan", json!({"supplier": "ACME"}), 200)
        .await;
    assert_eq!(b["results"].as_array().unwrap().len(), 1);
    let b = st
        .ok(
            "POST",
            "/api/OrderPlan",
            json!({"searchString": "gadg"}),
            200,
        )
        .await;
    assert_eq!(b["results"][0]["productCode"], "P-2");
    let b = st
        .ok("POST", "/api/OrderPlan", json!({"category": "Tools"}), 200)
        .await;
    assert_eq!(b["results"].as_array().unwrap().len(), 1);
    let b = st
        .ok(
            "POST",
            "/api/OrderPlan",
            json!({"page": 0, "perPage": 1}),
            200,
        )
        .await;
    assert_eq!(b["results"].as_array().unwrap().len(), 1);
    assert_eq!(b["filterCriteria"]["hasNextPage"], true);
    let b = st
        .ok(
            "POST",
            "/api/OrderPlan",
            json!({"page": n - 1, "perPage": 1}),
            200,
        )
        .await;
    assert_eq!(b["results"].as_array().unwrap().len(), 1);
    assert_eq!(b["filterCriteria"]["hasNextPage"], false);
    let b = st
        .ok(
            "POST",
            "/api/OrderPlan",
            json!({"currentStatus": "Discontinued"}),
            200,
        )
        .await;
    assert_eq!(b["results"], json!([]));

    // Draft purchase orders from the plan: only lines with something to order.
    let b = st
        .ok("POST", "/api/V2/PurchaseOrders/OrderPlan", json!({}), 200)
        .await;
    let pos = b.as_array().unwrap();
    assert_eq!(pos.len(), 1, "{b}");
    assert_eq!(pos[0]["status"], "Draft");
    assert_eq!(pos[0]["supplier"]["supplierCode"], "ACME");
    assert_eq!(
        pos[0]["location"]["locationCode"], "STORE",
        "the first location"
    );
    assert_eq!(pos[0]["purchaseOrderLineItems"][0]["productId"], "P-1");
    assert_eq!(
        pos[0]["purchaseOrderLineItems"][0]["quantity"].as_f64(),
        Some(widget_qty)
    );
    assert_eq!(pos[0]["purchaseOrderLineItems"][0]["unitPrice"], 2.5);
    // Made by the native implementation: its history and expected date.
    let po_id = pos[0]["referenceNumber"].as_str().unwrap();
    let (s, h) = st
        .app
        .call(
            "GET",
            &format!("/api/v1/purchase-orders/{po_id}/history"),
            Some(&st.token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h[0]["action"], "created", "{h}");
    assert_eq!(h[0]["detail"]["from"], "plan", "{h}");
    let b = st
        .ok(
            "POST",
            "/api/V2/PurchaseOrders/OrderPlan",
            json!({"supplierCodes": ["GLOBEX"], "locationCodes": ["WH1"]}),
            200,
        )
        .await;
    assert_eq!(b, json!([]));
    let (s, b) = st
        .call(
            "POST",
            "/api/V2/PurchaseOrders/OrderPlan",
            Some(json!({"locationCodes": ["NOWHERE"]})),
        )
        .await;
    assert_eq!(s, 400);
    assert_problem(&b, "locationCodes");
    let (_, b) = st
        .call("GET", "/api/V2/PurchaseOrders?status=Draft", None)
        .await;
    assert_eq!(b.as_array().unwrap().len(), 1);
    // A draft is not on order.
    let (_, p) = st.call("GET", "/api/Products?code=P-1", None).await;
    assert_eq!(p[0]["stockOnOrder"], 0.0);

    // Data changed: the status says so until the plan is recomputed.
    st.ok(
        "POST",
        "/api/Inventory",
        json!({"inventory": [{"productId": "P-1", "locationCode": "WH1", "stockOnHand": 500}]}),
        200,
    )
    .await;
    let (_, b) = st.call("GET", "/api/ProcessingStatus", None).await;
    assert!(b["isProcessing"].is_boolean() && b["percentageComplete"].is_number());
    wait_processed(&st).await;
    let b = st
        .ok("POST", "/api/OrderPlan", json!({"supplier": "ACME"}), 200)
        .await;
    assert_eq!(b["results"][0]["orderQuantity"], 0.0);
    // The status the IMS may post is accepted and echoed.
    let b = st
        .ok(
            "POST",
            "/api/ProcessingStatus",
            json!({"isProcessing": false, "percentageComplete": 100, "statusMessage": "done"}),
            200,
        )
        .await;
    assert_eq!(b["statusMessage"], "done");
}

#[actix_web::test]
async fn settings_and_unknown_paths() {
    let st = setup().await;
    let (s, b) = st
        .call("GET", "/api/InventoryManagementSystemSettings", None)
        .await;
    assert_eq!((s, b["name"].clone()), (200, json!("StockTrimIncomingApi")));
    let (s, _) = st
        .call(
            "POST",
            "/api/InventoryManagementSystemSettings",
            Some(json!({"api": "StockTrimIncomingApi"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = st
        .call(
            "POST",
            "/api/InventoryManagementSystemSettings",
            Some(json!({"api": "Shopify"})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, b) = st.call("GET", "/api/Configuration/Currency", None).await;
    assert_eq!((s, b["name"].clone()), (200, json!("EUR")));
    let (s, _) = st.call("GET", "/api/Configuration/Nothing", None).await;
    assert_eq!(s, 404);
    let (s, b) = st.call("GET", "/api/Nothing", None).await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["code"], "not_found");
}

/// Sends a request head and the first `sent` bytes of a body that claims
/// `length` bytes, then waits up to `wait` for the answer's status line.
async fn partial_post(
    app: &TestApp,
    headers: &[(&str, &str)],
    length: usize,
    sent: usize,
    wait: std::time::Duration,
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.addr.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST /compat/stocktrim/api/Products HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(&vec![b' '; sent]).await;
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        _ => None,
    }
}

/// The compatible API checks the key before it reads a body: a request
/// without one is answered 401 while its 60 MB body is still coming; with a
/// key, a body over the limit is refused by its length (413) and one that
/// stalls is answered 408 after BODY_READ_SECONDS.
#[actix_web::test]
async fn bodies_are_read_only_after_authentication_within_a_limit_and_a_time() {
    let app = TestApp::spawn_with(|c| {
        c.max_upload_bytes = 1 << 20;
        c.body_read_seconds = 2;
    })
    .await;
    let token = app.admin("Compat").await;
    let account = app.create_child(&token, "Feed").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, key) = api_key(&app, &token, json!([account]), false).await;
    let wait = std::time::Duration::from_secs(5);
    let answer = partial_post(&app, &[], 60_000_000, 64 * 1024, wait).await;
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 401 Unauthorized"),
        "unauthenticated"
    );
    let auth = [
        ("api-auth-id", id.as_str()),
        ("api-auth-signature", key.as_str()),
    ];
    let answer = partial_post(&app, &auth, 60_000_000, 1024, wait).await;
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 413 Payload Too Large"),
        "over the limit"
    );
    let started = std::time::Instant::now();
    let answer = partial_post(&app, &auth, 1000, 10, wait).await;
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 408 Request Timeout"),
        "stalled"
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
}

/// Compatible writes take the native import admission: the configured
/// field cap applies (the import answers which field) and a refused write
/// is in the import log.
#[actix_web::test]
async fn compatible_writes_go_through_the_import_admission() {
    let app = TestApp::spawn_with(|c| {
        c.today = Some(TODAY.parse().unwrap());
        c.max_field_bytes = 100;
    })
    .await;
    let token = app.admin("Compat").await;
    let account = app.create_child(&token, "Feed").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, key) = api_key(&app, &token, json!([account]), false).await;
    let auth = [
        ("api-auth-id", id.as_str()),
        ("api-auth-signature", key.as_str()),
    ];
    let long = "x".repeat(200);
    let (s, b) = send(
        &app,
        "POST",
        "/api/Products",
        &auth,
        Some(json!({"productId": "P1", "productCodeReadable": "SKU-1", "name": long})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b.to_string().contains("over the size cap of 100 bytes"),
        "{b}"
    );
    let (s, b) = send(
        &app,
        "POST",
        "/api/Products",
        &auth,
        Some(json!({"productId": "P1", "productCodeReadable": "SKU-1", "name": "Short"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (_, log) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/imports"),
            Some(&token),
            None,
        )
        .await;
    let statuses: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "failed"], "{log}");
}
