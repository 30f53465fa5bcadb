//! Imports into child accounts: `PUT /api/v1/accounts/{id}/<entity>`,
//! `POST /api/v1/accounts/{id}/imports/<entity>`, `GET .../imports`.

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::TestApp;

/// An app with an admin and one child holding warehouse W1 and variants V1, V2.
async fn setup() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            Some(&token),
            Some(json!([{"id": "W1", "name": "Main"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/variants"),
            Some(&token),
            Some(json!([
                {"id": "V1", "sku": "TS-RED-M", "title": "T-shirt red M"},
                {"id": "V2", "sku": "TS-BLUE-M", "title": "T-shirt blue M"}
            ])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    (app, token, id)
}

async fn csv(app: &TestApp, token: &str, id: &str, entity: &str, body: &[u8]) -> (u16, Value) {
    app.send_raw(
        "POST",
        &format!("/api/v1/accounts/{id}/imports/{entity}"),
        token,
        "text/csv",
        body.to_vec(),
    )
    .await
}

fn counts(body: &Value) -> [u64; 5] {
    ["created", "updated", "unchanged", "stale", "removed"]
        .map(|k| body[k].as_u64().unwrap_or(u64::MAX))
}

fn first_detail(body: &Value) -> (u64, String) {
    let d = &body["error"]["details"][0];
    (
        d["row"].as_u64().unwrap(),
        d["field"].as_str().unwrap().to_string(),
    )
}

const SALES: &str = "id,ordered_at,currency,line_id,variant_id,quantity,unit_price\n\
SO-1,2026-03-01T10:00:00Z,EUR,1,V1,2,10.00\n\
SO-1,2026-03-01T10:00:00Z,EUR,2,V2,1,12.50\n\
SO-2,2026-03-02T09:30:00Z,EUR,1,V1,-1,10.00\n";

#[actix_web::test]
async fn csv_sales_orders_count_orders_once_and_reimport_changes_nothing() {
    let (app, token, id) = setup().await;
    let (s, body) = csv(&app, &token, &id, "sales-orders", SALES.as_bytes()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(counts(&body), [2, 0, 0, 0, 0]);
    assert_eq!(body["warnings"], json!([]));
    let (s, body) = csv(&app, &token, &id, "sales-orders", SALES.as_bytes()).await;
    assert_eq!(s, 200);
    assert_eq!(counts(&body), [0, 0, 2, 0, 0]);
    // Both imports are logged, newest first, with who and what.
    let (s, log) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/imports"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0]["entity"], "sales-orders");
    assert_eq!(log[0]["format"], "csv");
    assert_eq!(log[0]["user"], "admin@acme.example");
    assert_eq!(log[0]["counts"]["unchanged"], 2);
    assert_eq!(log[1]["counts"]["created"], 2);
}

#[actix_web::test]
async fn stale_updated_and_removed_follow_updated_at() {
    let (app, token, id) = setup().await;
    let path = format!("/api/v1/accounts/{id}/sales-orders");
    let order = |qty: i64, at: &str, removed: bool| {
        json!([{"id": "SO-9", "ordered_at": "2026-03-01T10:00:00Z", "updated_at": at, "removed": removed,
                "lines": [{"id": "1", "variant_id": "V1", "quantity": qty}]}])
    };
    let (_, b) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(order(3, "2026-03-01T12:00:00Z", false)),
        )
        .await;
    assert_eq!(counts(&b), [1, 0, 0, 0, 0]);
    // Older and different: stale, ignored.
    let (_, b) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(order(5, "2026-03-01T11:00:00Z", false)),
        )
        .await;
    assert_eq!(counts(&b), [0, 0, 0, 1, 0]);
    // Identical content with any timestamp: unchanged.
    let (_, b) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(order(3, "2020-01-01T00:00:00Z", false)),
        )
        .await;
    assert_eq!(counts(&b), [0, 0, 1, 0, 0]);
    // Newer and different: updated, and its lines replaced.
    let (_, b) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(order(4, "2026-03-02T12:00:00Z", false)),
        )
        .await;
    assert_eq!(counts(&b), [0, 1, 0, 0, 0]);
    let (_, b) = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(order(4, "2026-03-03T12:00:00Z", true)),
        )
        .await;
    assert_eq!(counts(&b), [0, 0, 0, 0, 1]);
}

#[actix_web::test]
async fn accepted_edge_cases_bom_quotes_unknown_currency_returns() {
    let (app, token, id) = setup().await;
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(b"id,sku,title\nV3,MUG-1,\"Mug, large\nwith lid\"\n");
    let (s, b) = csv(&app, &token, &id, "variants", &body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [1, 0, 0, 0, 0]);
    let data = "id,ordered_at,currency,line_id,variant_id,quantity\nSO-5,2026-03-01T10:00:00Z,ZZZ,1,V3,-2\n";
    let (s, b) = csv(&app, &token, &id, "sales-orders", data.as_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["warnings"][0]["row"], 1);
    assert_eq!(b["warnings"][0]["field"], "currency");
}

/// entity, body, status, error code, first (row, field).
type RejectCase = (
    &'static str,
    &'static [u8],
    u16,
    &'static str,
    Option<(u64, &'static str)>,
);

#[actix_web::test]
async fn rejected_csv_files_name_row_and_field_and_write_nothing() {
    let (app, token, id) = setup().await;
    let cases: Vec<RejectCase> = vec![
        ("sales-orders", b"id,line_id,variant_id,quantity\nSO-1,1,V1,2\n", 422, "invalid_records", Some((1, "ordered_at"))),
        ("sales-orders", b"id,ordered_at,line_id,variant_id,quantity,colour\nSO-1,2026-03-01T10:00:00Z,1,V1,2,red\n", 422, "invalid_records", Some((1, "colour"))),
        ("sales-orders", b"id;ordered_at;line_id;variant_id;quantity\nSO-1;2026-03-01T10:00:00Z;1;V1;2\n", 422, "invalid_records", None),
        ("sales-orders", b"id,ordered_at,line_id,variant_id,quantity\nSO-1,2026-03-01T10:00:00Z,1,V1,\xff\xfe\n", 400, "malformed_body", None),
        ("sales-orders", b"id,ordered_at,line_id,variant_id,quantity\nSO-1,2026-03-01T10:00:00Z,1,V1,two\n", 422, "invalid_records", Some((1, "quantity"))),
        ("sales-orders", b"id,ordered_at,line_id,variant_id,quantity\nSO-1,yesterday,1,V1,2\n", 422, "invalid_records", Some((1, "ordered_at"))),
        ("sales-orders", b"id,ordered_at,line_id,variant_id,quantity\nSO-1,2026-03-01T10:00:00Z,1,V1,2\nSO-1,2026-03-02T10:00:00Z,2,V2,1\n", 422, "invalid_records", Some((2, "ordered_at"))),
        ("sales-orders", b"id,ordered_at,line_id,variant_id,quantity\nSO-1,2026-03-01T10:00:00Z,1,V404,2\n", 422, "invalid_records", Some((1, "variant_id"))),
        ("sales-orders", b"", 422, "empty_import", None),
        ("stock-orders", b"id,kind,status,destination_warehouse_id,line_id,variant_id,quantity\nPO-1,purchase,active,W1,1,V1,0\n", 422, "invalid_records", Some((1, "quantity"))),
    ];
    for (entity, body, status, code, detail) in cases {
        let (s, b) = csv(&app, &token, &id, entity, body).await;
        assert_eq!(
            s,
            status,
            "{entity} {:?}: {b}",
            String::from_utf8_lossy(body)
        );
        assert_error(&b, code);
        if let Some((row, field)) = detail {
            assert_eq!(first_detail(&b), (row, field.to_string()), "{b}");
        }
    }
    // The wrong delimiter is named.
    let (_, b) = csv(
        &app,
        &token,
        &id,
        "sales-orders",
        b"id;ordered_at;line_id;variant_id;quantity\nSO-1;x;1;V1;2\n",
    )
    .await;
    assert!(b.to_string().contains("semicolons"), "{b}");
    // Nothing was written: no sales order was created by any of them.
    let (_, b) = csv(&app, &token, &id, "sales-orders", SALES.as_bytes()).await;
    assert_eq!(counts(&b), [2, 0, 0, 0, 0]);
}

#[actix_web::test]
async fn every_problem_of_a_json_batch_is_listed() {
    let (app, token, id) = setup().await;
    let (s, b) = app
        .call("PUT", &format!("/api/v1/accounts/{id}/sales-orders"), Some(&token), Some(json!([
            {"id": "SO-1", "ordered_at": "2026-03-01T10:00:00Z", "lines": [{"id": "1", "variant_id": "V1", "quantity": 1}]},
            {"id": "SO-1", "ordered_at": "2026-03-01T10:00:00Z", "lines": [{"id": "1", "variant_id": "V1", "quantity": 1}]},
            {"id": "SO-3", "ordered_at": "2026-03-01T10:00:00Z", "lines": [{"id": "1", "variant_id": "V1", "quantity": "x"}]},
            {"id": "SO-4", "ordered_at": "2026-03-01T10:00:00Z", "lines": [{"id": "1", "variant_id": "V1", "quantity": 1}, {"id": "2", "variant_id": "NOPE", "quantity": 1}]}
        ])))
        .await;
    assert_eq!(s, 422, "{b}");
    let details: Vec<(u64, String)> = b["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["row"].as_u64().unwrap(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        details,
        vec![
            (2, "id".into()),
            (3, "lines[1].quantity".into()),
            (4, "lines[2].variant_id".into())
        ]
    );
}

#[actix_web::test]
async fn imports_into_a_master_answer_409() {
    let (app, token, _) = setup().await;
    let second = app.create_child(&token, "Wholesale").await;
    let master = second["master_id"].as_str().unwrap();
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{master}/warehouses"),
            Some(&token),
            Some(json!([{"id": "W1", "name": "Main"}])),
        )
        .await;
    assert_eq!(s, 409);
    assert_error(&b, "master_holds_no_data");
    let (s, _) = csv(&app, &token, master, "warehouses", b"id,name\nW1,Main\n").await;
    assert_eq!(s, 409);
}

#[actix_web::test]
async fn viewers_and_read_only_keys_cannot_import() {
    let (app, token, id) = setup().await;
    app.add_user("viewer@acme.example", "look-look-look", "Acme", "viewer")
        .await;
    let viewer = app.token("viewer@acme.example", "look-look-look").await;
    let (s, _) = csv(&app, &viewer, &id, "warehouses", b"id,name\nW2,Second\n").await;
    assert_eq!(s, 403);
    let (_, key) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "ro", "read_only": true})),
        )
        .await;
    let (s, _) = csv(
        &app,
        key["key"].as_str().unwrap(),
        &id,
        "warehouses",
        b"id,name\nW2,Second\n",
    )
    .await;
    assert_eq!(s, 403);
}

#[actix_web::test]
async fn bodies_over_the_limit_answer_413() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 1_000).await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap();
    let mut big = b"id,name\n".to_vec();
    for i in 0..200 {
        big.extend_from_slice(format!("W{i},Warehouse {i}\n").as_bytes());
    }
    let (s, b) = csv(&app, &token, id, "warehouses", &big).await;
    assert_eq!(s, 413);
    assert_error(&b, "payload_too_large");
    let (s, _) = app
        .send_raw(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            &token,
            "application/json",
            vec![b' '; 2_000],
        )
        .await;
    assert_eq!(s, 413);
}

#[actix_web::test]
async fn a_multipart_form_upload_works_like_a_raw_body() {
    let (app, token, id) = setup().await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(SALES.as_bytes().to_vec())
            .file_name("sales.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/accounts/{id}/imports/sales-orders")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(counts(&b), [2, 0, 0, 0, 0]);
}

#[actix_web::test]
async fn stock_levels_keep_change_points_in_the_account_time_zone() {
    let (app, token, id) = setup().await;
    let (s, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/accounts/{id}"),
            Some(&token),
            Some(json!({"timezone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(s, 200);
    let path = format!("/api/v1/accounts/{id}/stock");
    // 23:30 UTC on 1 March is already 2 March in Berlin.
    for (on_hand, allocated, at) in [
        (10, 2, "2026-03-01T23:30:00Z"),
        (0, 0, "2026-03-05T08:00:00Z"),
        (8, 0, "2026-03-09T08:00:00Z"),
    ] {
        let (s, b) = app
            .call("PUT", &path, Some(&token), Some(json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": on_hand, "allocated": allocated, "updated_at": at}])))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    // A back-filled reading older than the current one is stale for the
    // level but fills in history; the same value again adds no point.
    let (_, b) = app
        .call("PUT", &path, Some(&token), Some(json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 0, "updated_at": "2026-02-20T08:00:00Z"}])))
        .await;
    assert_eq!(counts(&b), [0, 0, 0, 1, 0]);
    let (_, b) = app
        .call("PUT", &path, Some(&token), Some(json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 8, "updated_at": "2026-03-10T08:00:00Z"}])))
        .await;
    assert_eq!(counts(&b), [0, 0, 1, 0, 0]);
    let db = app.state.db.clone();
    let acc = id.clone();
    let points = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        tributary::db::models::records::history_points(&mut conn, &acc).unwrap()
    })
    .await
    .unwrap();
    let mut got: Vec<(String, String)> = points
        .iter()
        .map(|p| (p.day.to_string(), p.available.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("2026-02-20".into(), "0".into()),
            ("2026-03-02".into(), "8".into()),
            ("2026-03-05".into(), "0".into()),
            ("2026-03-09".into(), "8".into()),
        ]
    );
}

/// entity, JSON batch, the (row, field) the 422 names.
type RangeCase = (&'static str, Value, (u64, &'static str));

#[actix_web::test]
async fn numbers_outside_the_documented_ranges_answer_422_naming_row_and_field() {
    let (app, token, id) = setup().await;
    let big = "-79228162514264337593543950335";
    let line = |q: Value| {
        json!([{"id": "SO-R", "ordered_at": "2026-03-01T10:00:00Z",
        "lines": [{"id": "1", "variant_id": "V1", "quantity": 1}, {"id": "2", "variant_id": "V1", "quantity": q}]}])
    };
    let cases: Vec<RangeCase> = vec![
        (
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": big, "allocated": "1"}]),
            (1, "on_hand"),
        ),
        (
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 1, "allocated": "1000000000000"}]),
            (1, "allocated"),
        ),
        (
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": "1e12"}]),
            (1, "on_hand"),
        ),
        (
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": "0.0000001"}]),
            (1, "on_hand"),
        ),
        (
            "stock",
            json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": "99999999999999999999999999999999"}]),
            (1, "on_hand"),
        ),
        (
            "sales-orders",
            line(json!("1000000000000")),
            (1, "lines[2].quantity"),
        ),
        ("sales-orders", line(json!(-1e15)), (1, "lines[2].quantity")),
        (
            "vendors",
            json!([{"id": "VE1", "name": "A"}, {"id": "VE2", "name": "B", "lead_time_days": 3000000000u64}]),
            (2, "lead_time_days"),
        ),
        (
            "vendors",
            json!([{"id": "VE1", "name": "A", "lead_time_days": 3651}]),
            (1, "lead_time_days"),
        ),
        (
            "vendors",
            json!([{"id": "VE1", "name": "A", "lead_time_days": -1}]),
            (1, "lead_time_days"),
        ),
        (
            "vendors",
            json!([{"id": "VE1", "name": "A", "pack_size": 0}]),
            (1, "pack_size"),
        ),
        (
            "vendors",
            json!([{"id": "VE1", "name": "A", "minimum_order_quantity": -1}]),
            (1, "minimum_order_quantity"),
        ),
        (
            "variants",
            json!([{"id": "V9", "sku": "S9", "lead_time_days": 4000}]),
            (1, "lead_time_days"),
        ),
        (
            "variants",
            json!([{"id": "V9", "sku": "S9", "min_stock": -1}]),
            (1, "min_stock"),
        ),
        (
            "variants",
            json!([{"id": "V9", "sku": "S9", "cost_price": "12.3456789"}]),
            (1, "cost_price"),
        ),
        (
            "variants",
            json!([{"id": "V9", "sku": "S9", "retail_price": 5e12}]),
            (1, "retail_price"),
        ),
        (
            "variants",
            json!([{"id": "V9", "sku": "S9", "vendors": [{"vendor_id": "X", "lead_time_days": 99999}]}]),
            (1, "vendors[1].lead_time_days"),
        ),
        (
            "stock-orders",
            json!([{"id": "PO-1", "kind": "purchase", "status": "active", "destination_warehouse_id": "W1",
            "lines": [{"variant_id": "V1", "quantity": 1, "unit_cost": "1000000000000.5"}]}]),
            (1, "lines[1].unit_cost"),
        ),
    ];
    for (entity, batch, (row, field)) in cases {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/{entity}"),
                Some(&token),
                Some(batch.clone()),
            )
            .await;
        assert_eq!(s, 422, "{entity} {batch}: {b}");
        assert_error(&b, "invalid_records");
        assert!(
            all_details(&b).contains(&(row, field.to_string())),
            "{entity} {batch}: {b}"
        );
    }
    // CSV is bounded alike, components included.
    let (s, b) = csv(
        &app,
        &token,
        &id,
        "variants",
        b"id,sku,components\nV9,S9,V1:2000000000000\n",
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(first_detail(&b), (1, "components".to_string()), "{b}");
    let (s, b) = csv(
        &app,
        &token,
        &id,
        "vendors",
        b"id,name,lead_time_days\nVE1,A,3000000000\n",
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(first_detail(&b), (1, "lead_time_days".to_string()), "{b}");
    // The edges of the ranges are accepted.
    let (s, b) = app
        .call("PUT", &format!("/api/v1/accounts/{id}/stock"), Some(&token), Some(json!([
            {"variant_id": "V1", "warehouse_id": "W1", "on_hand": "-999999999999.999999", "allocated": "999999999999.999999"}])))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .call("PUT", &format!("/api/v1/accounts/{id}/vendors"), Some(&token), Some(json!([
            {"id": "VE1", "name": "A", "lead_time_days": 3650, "pack_size": "0.000001", "minimum_order_quantity": 0}])))
        .await;
    assert_eq!(s, 200, "{b}");
}

fn all_details(body: &Value) -> Vec<(u64, String)> {
    body["error"]["details"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|d| {
            (
                d["row"].as_u64().unwrap(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_line_with_a_bad_quantity_and_an_unknown_variant_reports_both() {
    let (app, token, id) = setup().await;
    let body = b"id,ordered_at,line_id,variant_id,quantity\n\
SO-1,2026-03-01T10:00:00Z,1,V1,2\n\
SO-1,2026-03-01T10:00:00Z,2,V404,two\n\
SO-2,yesterday,1,V405,1\n";
    let (s, b) = csv(&app, &token, &id, "sales-orders", body).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        all_details(&b),
        vec![
            (2, "variant_id".into()),
            (2, "quantity".into()),
            (3, "ordered_at".into()),
            (3, "variant_id".into())
        ],
        "{b}"
    );
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/sales-orders"),
            Some(&token),
            Some(json!([
            {"id": "SO-1", "ordered_at": "2026-03-01T10:00:00Z", "warehouse_id": "W404",
             "lines": [{"id": "1", "variant_id": "V404", "quantity": "two"}]}])),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        all_details(&b),
        vec![
            (1, "warehouse_id".into()),
            (1, "lines[1].variant_id".into()),
            (1, "lines[1].quantity".into())
        ],
        "{b}"
    );
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/stock"),
            Some(&token),
            Some(json!([
            {"variant_id": "V404", "warehouse_id": "W1", "on_hand": "lots"}])),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        all_details(&b),
        vec![(1, "variant_id".into()), (1, "on_hand".into())],
        "{b}"
    );
}

/// A batch larger than `BY_ID_LIMIT` compares with the account's stored
/// records read whole, a smaller one with those of its ids: both classify
/// alike.
#[actix_web::test]
async fn small_and_large_batches_compare_with_the_stored_records_alike() {
    let (app, token, id) = setup().await;
    let n = tributary::db::models::records::BY_ID_LIMIT + 1;
    let all = |name: &str| -> Value {
        (0..n)
            .map(|i| json!({"id": format!("WH{i}"), "name": format!("{name} {i}")}))
            .collect()
    };
    let put = |body: Value| {
        let app = &app;
        let token = &token;
        let id = &id;
        async move {
            let (s, b) = app
                .call(
                    "PUT",
                    &format!("/api/v1/accounts/{id}/warehouses"),
                    Some(token),
                    Some(body),
                )
                .await;
            assert_eq!(s, 200, "{b}");
            counts(&b)
        }
    };
    assert_eq!(put(all("Depot")).await, [n as u64, 0, 0, 0, 0]);
    // By id: one renamed, one identical, one new.
    let small = json!([
        {"id": "WH0", "name": "Renamed"},
        {"id": "WH1", "name": "Depot 1"},
        {"id": "NEW", "name": "New"}
    ]);
    assert_eq!(put(small.clone()).await, [1, 1, 1, 0, 0]);
    assert_eq!(put(small).await, [0, 0, 3, 0, 0]);
    // Whole: the renamed one changes back, the rest is as stored.
    assert_eq!(put(all("Depot")).await, [0, 1, n as u64 - 1, 0, 0]);
}

/// The template CSVs linked on the imports page import as shipped, each
/// after the ones it refers to.
#[actix_web::test]
async fn the_shipped_templates_import_as_they_are() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let id = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (entity, body) in [
        (
            "warehouses",
            &include_bytes!("../../static/templates/warehouses.csv")[..],
        ),
        (
            "vendors",
            &include_bytes!("../../static/templates/vendors.csv")[..],
        ),
        (
            "variants",
            &include_bytes!("../../static/templates/variants.csv")[..],
        ),
        (
            "stock",
            &include_bytes!("../../static/templates/stock.csv")[..],
        ),
        (
            "sales-orders",
            &include_bytes!("../../static/templates/sales-orders.csv")[..],
        ),
        (
            "stock-orders",
            &include_bytes!("../../static/templates/stock-orders.csv")[..],
        ),
    ] {
        let (s, b) = csv(&app, &token, &id, entity, body).await;
        assert_eq!(s, 200, "{entity}: {b}");
        assert_eq!(counts(&b)[0], 1, "{entity}: {b}");
        assert_eq!(b["warnings"], json!([]), "{entity}: {b}");
    }
}

/// A file may name a variant by its SKU (any case, spaces trimmed) and a
/// warehouse by its name where that names one record: it is stored under
/// their ids (the same file with ids changes nothing). A SKU of several
/// variants, or a name nothing has, is refused naming the field.
#[actix_web::test]
async fn files_may_name_variants_by_sku_and_warehouses_by_name() {
    let (app, token, id) = setup().await;
    let by_name = "id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\n\
SO-1,2026-03-01T10:00:00Z, main ,EUR,1,ts-red-m,2,10.00\n\
SO-1,2026-03-01T10:00:00Z, main ,EUR,2,TS-BLUE-M ,1,12.50\n";
    let (s, b) = csv(&app, &token, &id, "sales-orders", by_name.as_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [1, 0, 0, 0, 0]);
    let by_id = "id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\n\
SO-1,2026-03-01T10:00:00Z,W1,EUR,1,V1,2,10.00\n\
SO-1,2026-03-01T10:00:00Z,W1,EUR,2,V2,1,12.50\n";
    let (s, b) = csv(&app, &token, &id, "sales-orders", by_id.as_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [0, 0, 1, 0, 0], "stored under the ids: {b}");
    let stock = "variant_id,warehouse_id,on_hand,allocated\nts-blue-m,MAIN,5,0\n";
    let (s, b) = csv(&app, &token, &id, "stock", stock.as_bytes()).await;
    assert_eq!(s, 200, "{b}");
    // A second variant with the same SKU makes the SKU ambiguous.
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/variants"),
            Some(&token),
            Some(json!([{"id": "V3", "sku": "ts-red-m ", "title": "Duplicate"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let bad = "id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\n\
SO-2,2026-03-02T10:00:00Z,Nowhere,EUR,1,TS-RED-M,1,10.00\n";
    let (s, b) = csv(&app, &token, &id, "sales-orders", bad.as_bytes()).await;
    assert_eq!(s, 422, "{b}");
    let details: Vec<(u64, String, String)> = b["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["row"].as_u64().unwrap(),
                d["field"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(details.len(), 2, "{b}");
    assert_eq!((details[0].0, details[0].1.as_str()), (1, "warehouse_id"));
    assert!(details[0].2.contains("\"Nowhere\" is not known"), "{b}");
    assert_eq!((details[1].0, details[1].1.as_str()), (1, "variant_id"));
    assert!(
        details[1]
            .2
            .contains("\"TS-RED-M\" is the SKU of 2 variants (\"V1\", \"V3\")"),
        "{b}"
    );
}
