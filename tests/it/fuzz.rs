//! Fuzzing on stable Rust with proptest, for a fixed time (ignored by
//! default; `scripts/fuzz.sh` runs them, `FUZZ_SECONDS` each, default 60):
//!
//! - the CSV importer (`import::parse_csv` of every entity) on generated
//!   files: the entity's header, shuffled, cut or misspelt, and rows of
//!   hostile cells (quotes, separators, line breaks, control and wide
//!   characters, huge and odd numbers, dates). It never panics; a refusal
//!   names a data row and a field, a success holds no more records than rows.
//! - the StockTrim-compatible API over HTTP on generated JSON bodies (any
//!   shape) to every endpoint that writes: never a server error, every
//!   answer JSON, and a refused body writes nothing (every table compared).

use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use tributary::import::{Entity, ImportContext, ParseError};

use crate::TestApp;

fn budget() -> Duration {
    Duration::from_secs(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
}

const ENTITIES: [Entity; 6] = [
    Entity::Warehouses,
    Entity::Vendors,
    Entity::Variants,
    Entity::Stock,
    Entity::SalesOrders,
    Entity::StockOrders,
];

/// A hostile CSV cell.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,12}",
        Just(String::new()),
        "-?[0-9]{1,30}(\\.[0-9]{0,30})?",
        prop_oneof![
            Just("NaN"),
            Just("inf"),
            Just("-0"),
            Just("1e309"),
            Just("0x10"),
            Just("1,5"),
            Just("  7 "),
            Just("9223372036854775808"),
            Just("2026-02-30"),
            Just("2026-13-01T00:00:00Z"),
            Just("2026-03-01T25:00:00+14:00"),
            Just("2026-03-01"),
            Just("true"),
            Just("\u{feff}id"),
        ]
        .prop_map(str::to_string),
        "\"[^\"]{0,8}\"\"[a-z]{0,4}\"",
        "[\\x00-\\x1f\",\\r\\n]{1,6}",
        "\\PC{0,16}",
        "[🦀é\u{202e}\u{0}]{1,8}",
    ]
}

/// A file: the entity's header, possibly changed, then rows.
fn csv_file() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (
        0..ENTITIES.len(),
        0..4u8,
        prop::collection::vec(prop::collection::vec(cell(), 0..12), 0..12),
        prop::bool::ANY,
    )
        .prop_map(|(e, header_change, rows, crlf)| {
            let entity = ENTITIES[e];
            let mut header: Vec<String> =
                entity.csv_header().split(',').map(str::to_string).collect();
            match header_change {
                1 => header.reverse(),
                2 => {
                    header.truncate(header.len() / 2);
                }
                3 => header.push("id".into()),
                _ => {}
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut out = header.join(",");
            out.push_str(eol);
            for row in rows {
                out.push_str(&row.join(","));
                out.push_str(eol);
            }
            (e, out.into_bytes())
        })
}

#[test]
#[ignore = "runs for FUZZ_SECONDS: scripts/fuzz.sh"]
fn fuzz_csv_importer() {
    let ctx = ImportContext {
        account_currency: "EUR".into(),
        timezone: chrono_tz::UTC,
        limits: tributary::import::Limits {
            max_field_bytes: 64,
            max_record_bytes: 512,
        },
    };
    let deadline = Instant::now() + budget();
    let (cases, accepted, refused) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&csv_file(), |(e, body)| {
                cases.set(cases.get() + 1);
                let entity = ENTITIES[e];
                let data_rows = body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
                match tributary::import::parse_csv(entity, &body[..], &ctx) {
                    Ok(parsed) => {
                        accepted.set(accepted.get() + 1);
                        // Quoted cells may join lines, never split them.
                        prop_assert!(parsed.batch.len() < data_rows.max(1));
                    }
                    Err(ParseError::Invalid { problems, total }) => {
                        refused.set(refused.get() + 1);
                        prop_assert!(!problems.is_empty() && total >= problems.len());
                        for p in &problems {
                            prop_assert!(p.row >= 1, "{p:?}");
                            prop_assert!(!p.field.is_empty(), "{p:?}");
                            prop_assert!(!p.message.is_empty(), "{p:?}");
                        }
                    }
                    Err(other) => {
                        refused.set(refused.get() + 1);
                        prop_assert!(!other.to_string().is_empty());
                    }
                }
                Ok(())
            })
            .unwrap();
    }
    println!(
        "CSV importer: {} files, {} accepted, {} refused, no panic",
        cases.get(),
        accepted.get(),
        refused.get()
    );
}

/// Any JSON, nested a few levels, with StockTrim's field names likely.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop_oneof![
            Just("productId"),
            Just("productCodeReadable"),
            Just("name"),
            Just("supplierCode"),
            Just("supplierName"),
            Just("cost"),
            Just("price"),
            Just("locationCode"),
            Just("locationName"),
            Just("stockOnHand"),
            Just("quantity"),
            Just("orderDate"),
            Just("saleOrderLines"),
            Just("purchaseOrderLineItems"),
            Just("externalReferenceId"),
            Just("customerCode"),
            Just("code"),
            Just("status"),
        ]
        .prop_map(str::to_string),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2026-03-01T00:00:00Z"),
            Just("2026-02-30"),
            Just("-1"),
            Just("1e400")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const COMPAT_WRITES: [(&str, &str); 12] = [
    ("POST", "/api/Products"),
    ("DELETE", "/api/Products"),
    ("PUT", "/api/Customers"),
    ("POST", "/api/Suppliers"),
    ("POST", "/api/Locations"),
    ("POST", "/api/V2/Locations"),
    ("POST", "/api/Inventory"),
    ("POST", "/api/SalesOrders"),
    ("POST", "/api/SalesOrdersBulk"),
    ("PUT", "/api/SalesOrdersBulk"),
    ("POST", "/api/PurchaseOrders"),
    ("POST", "/api/boms"),
];

#[actix_web::test]
#[ignore = "runs for FUZZ_SECONDS: scripts/fuzz.sh"]
async fn fuzz_compat_api() {
    let app = TestApp::spawn_with(|c| c.today = Some("2026-03-01".parse().unwrap())).await;
    let token = app.admin("Fuzz").await;
    let account = app.create_child(&token, "Feed").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "stocktrim", "account_ids": [account]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (id, key) = (
        b["id"].as_str().unwrap().to_string(),
        b["key"].as_str().unwrap().to_string(),
    );
    let url = app.state.config.database_url.clone();
    // Bodies generated up front in batches (the runner is synchronous),
    // then sent.
    let deadline = Instant::now() + budget();
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let (mut sent, mut accepted, mut refused) = (0u64, 0u64, 0u64);
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    while Instant::now() < deadline {
        let mut batch = Vec::new();
        for _ in 0..64 {
            let tree = json_value().new_tree(&mut runner).unwrap();
            batch.push(proptest::strategy::ValueTree::current(&tree));
        }
        for (i, body) in batch.into_iter().enumerate() {
            let (method, path) = COMPAT_WRITES[(sent as usize + i) % COMPAT_WRITES.len()];
            let before = crate::backup::table_contents(&url);
            let kept_before = crate::helpers::count_committed(
                &url,
                "SELECT count(*) AS n FROM imports WHERE status <> 'failed'",
            );
            let resp = app
                .client
                .request(
                    method.parse().unwrap(),
                    app.url(&format!("/compat/stocktrim{path}")),
                )
                .header("api-auth-id", &id)
                .header("api-auth-signature", &key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            *statuses.entry(status).or_default() += 1;
            assert!(status < 500, "{method} {path} {body}: {status} {text}");
            if !text.is_empty() {
                assert!(
                    serde_json::from_str::<Value>(&text).is_ok(),
                    "{method} {path} {body}: not JSON: {text:.300}"
                );
            }
            if status >= 400 {
                refused += 1;
                let after = crate::backup::table_contents(&url);
                // The worker's own tables (jobs, and plans it recomputes
                // after an earlier accepted body) move on by themselves; the
                // import history records a refused import as `failed`.
                let kept = "SELECT count(*) AS n FROM imports WHERE status <> 'failed'";
                assert_eq!(
                    crate::helpers::count_committed(&url, kept),
                    kept_before,
                    "{method} {path} {body}: refused ({status}) but an import is recorded as done"
                );
                for (table, content) in before.iter().filter(|(t, _)| {
                    !t.starts_with("plan") && !["jobs", "imports"].contains(&t.as_str())
                }) {
                    assert!(
                        after.get(table) == Some(content),
                        "{method} {path} {body}: refused ({status}) but {table} changed"
                    );
                }
            } else {
                accepted += 1;
            }
        }
        sent += 64;
    }
    println!(
        "StockTrim-compatible API: {sent} bodies, {accepted} accepted, {refused} refused with nothing written, no server error; statuses {statuses:?}"
    );
}
