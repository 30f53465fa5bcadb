//! A large import of new sales orders writes their lines in short
//! transactions (`db::ingest::early`) and stays all or nothing: no reader
//! sees any of it before its last transaction, a failure keeps nothing, a
//! kill leaves nothing a reader sees and the next start removes what it
//! wrote, and a writer that creates one of its orders meanwhile wins
//! cleanly.
#![cfg(feature = "fault-injection")]

use std::sync::{mpsc, Arc, Mutex};

use serde_json::{json, Value};
use tributary::db::ingest::early::{self, fault};

use crate::helpers::count_committed;
use crate::TestApp;

/// Orders in the large import: two lines each, so its new lines pass
/// `early::MIN_LINES` and make several early batches.
const ORDERS: usize = 1_100;

/// An admin and a child account with variants `V1` and `V2`.
async fn child(app: &TestApp) -> (String, String) {
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/variants"),
            Some(&token),
            Some(json!([{"id": "V1", "sku": "V1"}, {"id": "V2", "sku": "V2"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    (token, id)
}

/// `n` orders `SO-0…` of two lines each (quantities 1 and 2).
fn orders(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"id": format!("SO-{i}"), "ordered_at": "2026-03-01T10:00:00Z",
                       "updated_at": "2026-03-02T00:00:00Z",
                       "lines": [{"id": "1", "variant_id": "V1", "quantity": 1},
                                 {"id": "2", "variant_id": "V2", "quantity": 2}]})
            })
            .collect(),
    )
}

async fn import(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    app.call(
        "PUT",
        &format!("/api/v1/accounts/{id}/sales-orders"),
        Some(token),
        Some(body),
    )
    .await
}

/// The account's sale lines as a reader sees them (through their orders'
/// headers), all its stored lines, and the claims of imports under way, by
/// a connection of their own.
fn lines(url: &str, id: &str) -> (i64, i64, i64) {
    let seen = format!(
        "SELECT count(*) AS n FROM sales_order_lines l JOIN sales_orders o \
         ON o.account_id = l.account_id AND o.id = l.order_id WHERE l.account_id = '{id}'"
    );
    let all = format!("SELECT count(*) AS n FROM sales_order_lines WHERE account_id = '{id}'");
    let claims = format!("SELECT count(*) AS n FROM import_claims WHERE account_id = '{id}'");
    (
        count_committed(url, &seen),
        count_committed(url, &all),
        count_committed(url, &claims),
    )
}

async fn lines_now(app: &TestApp, id: &str) -> (i64, i64, i64) {
    let (url, id) = (app.state.config.database_url.clone(), id.to_string());
    actix_web::web::block(move || lines(&url, &id))
        .await
        .unwrap()
}

fn counts(b: &Value) -> [i64; 2] {
    [
        b["created"].as_i64().unwrap_or(-1),
        b["updated"].as_i64().unwrap_or(-1),
    ]
}

#[actix_web::test]
async fn a_large_import_is_written_in_batches_and_seen_only_whole() {
    let app = TestApp::spawn().await;
    let (token, id) = child(&app).await;
    let looks = Arc::new(Mutex::new(Vec::new()));
    let (url, acc, seen) = (
        app.state.config.database_url.clone(),
        id.clone(),
        looks.clone(),
    );
    fault::arm(
        &id,
        Arc::new(move |batch| {
            seen.lock().unwrap().push((batch, lines(&url, &acc)));
            Ok(())
        }),
    );
    let (s, b) = import(&app, &token, &id, orders(ORDERS)).await;
    fault::disarm(&id);
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [ORDERS as i64, 0]);
    let looks = looks.lock().unwrap().clone();
    // Whole orders of two lines, `BATCH_LINES` lines a batch.
    let (per, n) = (early::BATCH_LINES as i64, 2 * ORDERS as i64);
    let expected: Vec<(usize, (i64, i64, i64))> = (0..(n + per - 1) / per)
        .map(|b| {
            let written = ((b + 1) * per).min(n);
            (b as usize, (0, written, written / 2))
        })
        .collect();
    assert!(expected.len() >= 3, "{expected:?}");
    assert_eq!(
        looks, expected,
        "each batch committed on its own, none of it seen before the last transaction"
    );
    assert_eq!(lines_now(&app, &id).await, (n, n, 0));
    // The same import again changes nothing.
    let (s, b) = import(&app, &token, &id, orders(ORDERS)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["unchanged"], ORDERS as i64, "{b}");
    assert_eq!(lines_now(&app, &id).await, (n, n, 0));
}

#[actix_web::test]
async fn an_import_that_fails_between_batches_keeps_nothing() {
    let app = TestApp::spawn().await;
    let (token, id) = child(&app).await;
    fault::arm(
        &id,
        Arc::new(|batch| match batch {
            1 => Err("fault injected between the early batches of an import".into()),
            _ => Ok(()),
        }),
    );
    let (s, b) = import(&app, &token, &id, orders(ORDERS)).await;
    fault::disarm(&id);
    assert_eq!(s, 500, "{b}");
    assert_eq!(lines_now(&app, &id).await, (0, 0, 0), "nothing kept");
    let (s, b) = import(&app, &token, &id, orders(ORDERS)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [ORDERS as i64, 0]);
    let n = 2 * ORDERS as i64;
    assert_eq!(lines_now(&app, &id).await, (n, n, 0));
}

/// A panic between the batches stands for a kill: what it committed
/// stays, nothing of it runs after.
#[actix_web::test]
async fn an_import_killed_between_batches_shows_nothing_and_the_next_start_removes_its_lines() {
    let app = TestApp::spawn().await;
    let (token, id) = child(&app).await;
    fault::arm(
        &id,
        Arc::new(|batch| match batch {
            1 => panic!("killed between the early batches of an import"),
            _ => Ok(()),
        }),
    );
    let (s, _) = import(&app, &token, &id, orders(ORDERS)).await;
    fault::disarm(&id);
    assert_eq!(s, 500);
    let per = early::BATCH_LINES as i64;
    assert_eq!(
        lines_now(&app, &id).await,
        (0, 2 * per, per),
        "two batches committed, no reader sees them"
    );
    // The next start (a server opening the database) removes them.
    let url = app.state.config.database_url.clone();
    actix_web::web::block(move || tributary::db::Db::connect(&url).map(|_| ()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lines_now(&app, &id).await, (0, 0, 0));
    let (s, b) = import(&app, &token, &id, orders(ORDERS)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [ORDERS as i64, 0]);
    let n = 2 * ORDERS as i64;
    assert_eq!(lines_now(&app, &id).await, (n, n, 0));
}

/// Without a restart, the import tried again takes the killed one's
/// claims over.
#[actix_web::test]
async fn an_import_tried_again_after_a_kill_takes_the_orders_over() {
    let app = TestApp::spawn().await;
    let (token, id) = child(&app).await;
    fault::arm(
        &id,
        Arc::new(|batch| match batch {
            0 => panic!("killed between the early batches of an import"),
            _ => Ok(()),
        }),
    );
    let (s, _) = import(&app, &token, &id, orders(ORDERS)).await;
    fault::disarm(&id);
    assert_eq!(s, 500);
    let (s, b) = import(&app, &token, &id, orders(ORDERS)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [ORDERS as i64, 0]);
    let n = 2 * ORDERS as i64;
    assert_eq!(lines_now(&app, &id).await, (n, n, 0));
}

/// While the large import is between batches, a small import creates one
/// of its orders (older, one line): the small one is stored whole, then
/// the large one, finding its claim taken, writes its batch whole and
/// replaces that order (it is newer) — no line of both.
#[actix_web::test]
async fn a_writer_that_creates_a_claimed_order_meanwhile_wins_cleanly() {
    let app = TestApp::spawn().await;
    let (token, id) = child(&app).await;
    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (reached_tx, release_rx) = (Mutex::new(reached_tx), Mutex::new(release_rx));
    fault::arm(
        &id,
        Arc::new(move |batch| {
            if batch == 0 {
                let _ = reached_tx.lock().unwrap().send(());
                let _ = release_rx.lock().unwrap().recv();
            }
            Ok(())
        }),
    );
    let large = {
        let (app_addr, token, id) = (app.addr.clone(), token.clone(), id.clone());
        let client = app.client.clone();
        actix_web::rt::spawn(async move {
            let resp = client
                .put(format!("{app_addr}/api/v1/accounts/{id}/sales-orders"))
                .bearer_auth(&token)
                .json(&orders(ORDERS))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    };
    let reached = Mutex::new(reached_rx);
    actix_web::web::block(move || reached.lock().unwrap().recv())
        .await
        .unwrap()
        .unwrap();
    let (s, b) = import(
        &app,
        &token,
        &id,
        json!([{"id": "SO-0", "ordered_at": "2026-03-01T10:00:00Z",
                "updated_at": "2026-03-01T00:00:00Z",
                "lines": [{"id": "9", "variant_id": "V1", "quantity": 7}]}]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [1, 0]);
    let (url, acc) = (app.state.config.database_url.clone(), id.clone());
    let only_small = actix_web::web::block(move || {
        count_committed(
            &url,
            &format!(
                "SELECT count(*) AS n FROM sales_order_lines WHERE account_id = '{acc}' \
                 AND order_id = 'SO-0'"
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        only_small, 1,
        "the large import's early lines of SO-0 are gone"
    );
    release_tx.send(()).unwrap();
    let (s, b) = large.await.unwrap();
    fault::disarm(&id);
    assert_eq!(s, 200, "{b}");
    assert_eq!(counts(&b), [ORDERS as i64 - 1, 1]);
    let n = 2 * ORDERS as i64;
    assert_eq!(lines_now(&app, &id).await, (n, n, 0));
}
