//! Durability: a write that fails half-way (a panic or an error inside the
//! write transaction) never takes later writes down with it, and what was
//! answered `200` is in the database after a restart.

use std::time::Duration;

use serde_json::json;

#[cfg(feature = "fault-injection")]
use tributary::db::ingest::fault::{self, Fault};

use crate::helpers::{assert_error, count_committed};
use crate::TestApp;

/// An admin and a child account holding variant `v` and warehouse `w`.
async fn child_with_v_and_w(app: &TestApp) -> (String, String) {
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    for (entity, body) in [
        ("warehouses", json!([{"id": "w", "name": "Main"}])),
        ("variants", json!([{"id": "v", "sku": "V"}])),
    ] {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/{entity}"),
                Some(&token),
                Some(body),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    (token, id)
}

/// Thirty one-record imports after a failed one are each answered `200`
/// and each found by a fresh connection (what a restarted server reads).
async fn later_writes_are_all_stored(app: &TestApp, token: &str, id: &str) {
    for i in 0..30 {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/warehouses"),
                Some(token),
                Some(json!([{"id": format!("later-{i}"), "name": "Later"}])),
            )
            .await;
        assert_eq!(s, 200, "import {i} after the failure: {b}");
        assert_eq!(b["created"], 1, "{b}");
    }
    let url = app.state.config.database_url.clone();
    let sql = format!(
        "SELECT count(*) AS n FROM warehouses WHERE account_id = '{id}' AND id LIKE 'later-%'"
    );
    let stored = actix_web::web::block(move || count_committed(&url, &sql))
        .await
        .unwrap();
    assert_eq!(stored, 30, "writes answered 200 must survive a restart");
}

#[actix_web::test]
async fn a_stock_level_that_overflows_is_refused_and_later_imports_are_kept() {
    let app = TestApp::spawn().await;
    let (token, id) = child_with_v_and_w(&app).await;
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/stock"),
            Some(&token),
            Some(json!([{"variant_id": "v", "warehouse_id": "w",
                "on_hand": "-79228162514264337593543950335", "allocated": "1"}])),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_error(&b, "invalid_records");
    assert_eq!(b["error"]["details"][0]["row"], 1, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "on_hand", "{b}");
    later_writes_are_all_stored(&app, &token, &id).await;
}

#[cfg(feature = "fault-injection")]
/// Fails the next import into `id` inside its write transaction, after its
/// rows are written: the answer is `500` and nothing of it is stored.
async fn fail_one_write(app: &TestApp, token: &str, id: &str, fault: Fault) {
    fault::arm(id, fault);
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            Some(token),
            Some(
                json!([{"id": "doomed-1", "name": "Doomed"}, {"id": "doomed-2", "name": "Doomed"}]),
            ),
        )
        .await;
    assert_eq!(s, 500, "{b}");
    assert_error(&b, "internal_error");
    let url = app.state.config.database_url.clone();
    let sql = format!(
        "SELECT count(*) AS n FROM warehouses WHERE account_id = '{id}' AND id LIKE 'doomed-%'"
    );
    let stored = actix_web::web::block(move || count_committed(&url, &sql))
        .await
        .unwrap();
    assert_eq!(stored, 0, "a failed import keeps nothing");
}

#[cfg(feature = "fault-injection")]
#[actix_web::test]
async fn a_write_that_panics_midway_loses_no_later_write() {
    let app = TestApp::spawn().await;
    let (token, id) = child_with_v_and_w(&app).await;
    fail_one_write(&app, &token, &id, Fault::Panic).await;
    later_writes_are_all_stored(&app, &token, &id).await;
}

#[cfg(feature = "fault-injection")]
#[actix_web::test]
async fn a_write_that_errors_midway_loses_no_later_write() {
    let app = TestApp::spawn().await;
    let (token, id) = child_with_v_and_w(&app).await;
    fail_one_write(&app, &token, &id, Fault::Error).await;
    later_writes_are_all_stored(&app, &token, &id).await;
}

/// `PUT /accounts/{id}/warehouses` with `body`, against a pause armed on
/// `paused` (which holds its import once the batch is worked out): while it
/// is held, `during` runs and is timed (at most 10 s); then the held import
/// goes on. Returns the held import's answer and `during`'s answer (none:
/// still waiting after 10 s) and time.
#[cfg(feature = "fault-injection")]
async fn while_an_import_is_held<F: std::future::Future<Output = (u16, serde_json::Value)>>(
    app: &TestApp,
    token: &str,
    paused: &str,
    body: serde_json::Value,
    during: F,
) -> (
    (u16, serde_json::Value),
    Option<(u16, serde_json::Value)>,
    Duration,
) {
    let (reached, release) = fault::pause_when_prepared(paused);
    let path = format!("/api/v1/accounts/{paused}/warehouses");
    let held = app.call("PUT", &path, Some(token), Some(body));
    let meanwhile = async move {
        let got_there =
            actix_web::web::block(move || reached.recv_timeout(Duration::from_secs(30)))
                .await
                .unwrap();
        assert!(got_there.is_ok(), "the import reached its pause");
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(10), during)
            .await
            .ok();
        let took = started.elapsed();
        drop(release);
        (answer, took)
    };
    let (held, (answer, took)) = tokio::join!(held, meanwhile);
    (held, answer, took)
}

/// An import reads the stored rows and sorts out what is new before it
/// takes the write lock: while one is held there, a write to another
/// account is answered at once. (It used to do so inside its write
/// transaction: on SQLite every other writer waited for the whole import.)
#[cfg(feature = "fault-injection")]
#[actix_web::test]
async fn a_write_does_not_wait_while_another_import_is_worked_out() {
    let app = TestApp::spawn().await;
    let (token, a) = child_with_v_and_w(&app).await;
    let b = app.create_child(&token, "Other").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/accounts/{b}/warehouses");
    let other = app.call(
        "PUT",
        &path,
        Some(&token),
        Some(json!([{"id": "b-1", "name": "Elsewhere"}])),
    );
    let (held, answer, took) = while_an_import_is_held(
        &app,
        &token,
        &a,
        json!([{"id": "a-1", "name": "One"}, {"id": "a-2", "name": "Two"}]),
        other,
    )
    .await;
    let (s, body) = answer.expect("the other write is answered while the import is held");
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["created"], 1, "{body}");
    assert!(
        took < Duration::from_secs(3),
        "the other write took {took:?}"
    );
    assert_eq!(held.0, 200, "{}", held.1);
    assert_eq!(held.1["created"], 2, "{}", held.1);
}

/// An import worked out before another write of the same account came in
/// is worked out again under the write lock: it counts what that write
/// stored, and writes nothing twice.
#[cfg(feature = "fault-injection")]
#[actix_web::test]
async fn an_import_overtaken_by_a_write_of_its_account_is_worked_out_again() {
    let app = TestApp::spawn().await;
    let (token, a) = child_with_v_and_w(&app).await;
    let records = json!([{"id": "x-1", "name": "One"}, {"id": "x-2", "name": "Two"}]);
    let path = format!("/api/v1/accounts/{a}/warehouses");
    let same = app.call(
        "PUT",
        &path,
        Some(&token),
        Some(json!([{"id": "x-1", "name": "One"}, {"id": "x-2", "name": "Renamed"}])),
    );
    let (held, answer, _) = while_an_import_is_held(&app, &token, &a, records, same).await;
    let (s, body) = answer.expect("the other write is answered while the import is held");
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["created"], 2, "{body}");
    // The held import (received first) now finds x-1 stored as it is, and
    // x-2 changed after it: stale, kept as the later write left it.
    assert_eq!(held.0, 200, "{}", held.1);
    assert_eq!(
        (&held.1["created"], &held.1["unchanged"], &held.1["stale"]),
        (&json!(0), &json!(1), &json!(1)),
        "{}",
        held.1
    );
    for (filter, n) in [("", 2), (" AND name = 'Renamed'", 1)] {
        let url = app.state.config.database_url.clone();
        let sql = format!(
            "SELECT count(*) AS n FROM warehouses WHERE account_id = '{a}' AND id LIKE 'x-%'{filter}"
        );
        let query = sql.clone();
        let stored = actix_web::web::block(move || count_committed(&url, &query))
            .await
            .unwrap();
        assert_eq!(stored, n, "{sql}");
    }
}

/// A server process on `url`, started from the built binary.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tributary(url: &str, dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    c.env("DATABASE_URL", url)
        .env("JWT_SECRET", "kill-test")
        .env("TRIBUTARY_SECRET_KEY", "42".repeat(32))
        .env("RUST_LOG", "warn")
        .current_dir(dir);
    c
}

fn serve(url: &str, dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tributary(url, dir)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn login(client: &reqwest::blocking::Client, base: &str) -> String {
    let token: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": "a@example.com", "password": "kill-test-password"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    token["token"].as_str().unwrap().to_string()
}

const ORDERS: usize = 120_000;

fn big_sales_csv() -> String {
    let mut sales = String::from("id,ordered_at,line_id,variant_id,quantity\n");
    for i in 0..ORDERS {
        sales.push_str(&format!(
            "SO-{i:07},2026-03-01T10:00:00Z,1,V{},{}\n",
            1 + i % 2,
            1 + i % 3
        ));
    }
    sales
}

/// Kills the server at several moments of the write of a 300,000-order
/// import, each detected from the outside (an open write transaction on
/// the database), not after a fixed delay from the request. Every time,
/// after a restart, the account holds all of the batch or none of it, and
/// sending it again leaves every order stored once.
#[test]
fn a_server_killed_while_writing_keeps_all_of_the_import_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::FreshDatabase::new(dir.path());
    let status = tributary(&db.url, dir.path())
        .args([
            "user",
            "add",
            "--email",
            "a@example.com",
            "--password",
            "kill-test-password",
            "--organisation",
            "Kill",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let sales = big_sales_csv();
    let mut server = serve(&db.url, dir.path());
    let mut interrupted = 0;
    // Moments after the write is seen to start.
    for (n, after) in [0u64, 300, 1500].into_iter().enumerate() {
        let token = login(&client, &server.base);
        let account: serde_json::Value = client
            .post(format!("{}/api/v1/accounts", server.base))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Store {n}"), "currency": "EUR"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = account["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/accounts/{id}/imports/sales-orders");
        let url = format!("{}{path}", server.base);
        let resp = client
            .post(format!(
                "{}/api/v1/accounts/{id}/imports/variants",
                server.base
            ))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body("id,sku\nV1,SKU-1\nV2,SKU-2\n")
            .send()
            .unwrap();
        assert!(resp.status().is_success());
        assert!(!db.write_in_progress(), "no write before the import");
        let (body, sender_url, sender_token) = (sales.clone(), url.clone(), token.clone());
        let sender = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap()
                .post(sender_url)
                .bearer_auth(sender_token)
                .header("content-type", "text/csv")
                .body(body)
                .send()
        });
        let waited = std::time::Instant::now();
        while !db.write_in_progress() {
            assert!(
                !sender.is_finished(),
                "the import ended before its write was seen"
            );
            assert!(
                waited.elapsed() < Duration::from_secs(240),
                "the write never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(after));
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let answer = sender.join().unwrap();
        let finished = answer.is_ok_and(|r| r.status().is_success());
        drop(server);

        server = serve(&db.url, dir.path());
        let orders = |db: &crate::helpers::FreshDatabase| {
            let sql = format!("SELECT count(*) AS n FROM sales_orders WHERE account_id = '{id}'");
            let lines =
                format!("SELECT count(*) AS n FROM sales_order_lines WHERE account_id = '{id}'");
            (
                count_committed(&db.url, &sql),
                count_committed(&db.url, &lines),
            )
        };
        let (stored, lines) = orders(&db);
        let all = ORDERS as i64;
        assert!(
            (stored, lines) == (0, 0) || (stored, lines) == (all, all),
            "killed {after} ms into the write: {stored} orders and {lines} lines stored; all or none"
        );
        if stored == 0 {
            assert!(!finished, "answered 200 but nothing is stored");
            interrupted += 1;
        }
        let token = login(&client, &server.base);
        let resp = client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(sales.clone())
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let counts: serde_json::Value = resp.json().unwrap();
        let created = counts["created"].as_u64().unwrap() as usize;
        let unchanged = counts["unchanged"].as_u64().unwrap() as usize;
        assert_eq!(created + unchanged, ORDERS, "{counts}");
        assert_eq!(created, if stored == 0 { ORDERS } else { 0 }, "{counts}");
        assert_eq!(
            orders(&db),
            (all, all),
            "every order once after the re-send"
        );
    }
    assert!(
        interrupted >= 2,
        "the kills came after the commit: {interrupted} interrupted"
    );
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A 100 MB cell is refused naming its row, and the server's memory stays
/// flat: the cap is enforced on the byte stream, before the CSV reader
/// buffers the cell.
#[test]
fn a_100_mb_cell_is_refused_and_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::FreshDatabase::new(dir.path());
    let status = tributary(&db.url, dir.path())
        .args([
            "user",
            "add",
            "--email",
            "a@example.com",
            "--password",
            "kill-test-password",
            "--organisation",
            "Big",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let server = serve(&db.url, dir.path());
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let token = login(&client, &server.base);
    let account: serde_json::Value = client
        .post(format!("{}/api/v1/accounts", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Store", "currency": "EUR"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = account["id"].as_str().unwrap();
    let before = peak_rss_mb(server.child.id());
    let mut body = b"id,name\nW1,Main\nW2,\"".to_vec();
    body.resize(body.len() + 100 * 1024 * 1024, b'x');
    body.extend_from_slice(b"\"\n");
    let resp = client
        .post(format!(
            "{}/api/v1/accounts/{id}/imports/warehouses",
            server.base
        ))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 422);
    let b: serde_json::Value = resp.json().unwrap();
    assert_eq!(b["error"]["details"][0]["row"], 2, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "name", "{b}");
    let after = peak_rss_mb(server.child.id());
    assert!(
        after - before < 40.0,
        "peak RSS went from {before:.0} MB to {after:.0} MB for a refused 100 MB cell"
    );
}
