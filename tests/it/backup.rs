//! Backups of a running server, black-box through the command line:
//! `tributary backup --to FILE` while the server writes, `tributary restore
//! --from FILE` into a fresh database (SQLite, or PostgreSQL with
//! `TEST_DATABASE=postgres` through `pg_dump`/`pg_restore`), then every
//! table compared with the source and a server started on the restore.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

use crate::helpers::FreshDatabase;
use crate::purchase_orders::shop;
use crate::TestApp;

/// Runs `tributary <args>` on `database_url` in `dir` (where a sealing key
/// file would be looked for), off the async workers.
async fn tributary(database_url: &str, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let (url, dir) = (database_url.to_string(), dir.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    web::block(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(&args)
            .current_dir(&dir)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .env_remove("TRIBUTARY_SECRET_KEY")
            .output()
            .expect("run tributary");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

fn pg_dump_missing() -> bool {
    std::env::var("TEST_DATABASE").is_ok_and(|v| v == "postgres")
        && Command::new("pg_dump").arg("--version").output().is_err()
}

/// Every table of a database: its row count and its whole content (SQLite:
/// the rows quoted and sorted; PostgreSQL: an md5 of the sorted rows).
pub(crate) fn table_contents(database_url: &str) -> BTreeMap<String, (i64, String)> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Content {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
    }
    let (backend, target) = tributary::db::parse_url(database_url);
    let mut out = BTreeMap::new();
    match backend {
        tributary::db::Backend::Postgres => {
            let mut c = diesel::pg::PgConnection::establish(&target).expect("connect");
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .load(&mut c)
            .unwrap();
            for t in tables {
                let content: Content = diesel::sql_query(format!(
                    "SELECT count(*) AS n, coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') AS body FROM \"{}\" t",
                    t.name
                ))
                .get_result(&mut c)
                .unwrap();
                out.insert(t.name, (content.n, content.body));
            }
        }
        tributary::db::Backend::Sqlite => {
            let mut c = diesel::sqlite::SqliteConnection::establish(&target).expect("connect");
            c.batch_execute("PRAGMA busy_timeout = 30000;").unwrap();
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .load(&mut c)
            .unwrap();
            for t in tables {
                let columns: Vec<Name> =
                    diesel::sql_query(format!("SELECT name FROM pragma_table_info('{}')", t.name))
                        .load(&mut c)
                        .unwrap();
                let row = columns
                    .iter()
                    .map(|col| format!("quote(\"{}\")", col.name))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                let content: Content = diesel::sql_query(format!(
                    "SELECT count(*) AS n, coalesce(group_concat(r, char(10)), '') AS body \
                     FROM (SELECT {row} AS r FROM \"{}\" ORDER BY r)",
                    t.name
                ))
                .get_result(&mut c)
                .unwrap();
                out.insert(t.name, (content.n, content.body));
            }
        }
    }
    out
}

/// One sales order of three lines, written in one request.
fn live_order(n: usize) -> Value {
    json!([{
        "id": format!("LIVE-{n}"),
        "ordered_at": "2026-02-27T09:00:00Z",
        "warehouse_id": "W1",
        "lines": [
            {"id": "1", "variant_id": "V1", "quantity": 1, "unit_price": "10"},
            {"id": "2", "variant_id": "V2", "quantity": 1, "unit_price": "10"},
            {"id": "3", "variant_id": "V3", "quantity": 1, "unit_price": "10"}
        ]
    }])
}

#[actix_web::test]
async fn a_backup_taken_while_the_server_writes_restores_every_table_and_the_same_plan() {
    if pg_dump_missing() {
        eprintln!("pg_dump is not installed: skipped");
        return;
    }
    let t = shop().await;
    let url = t.app.state.config.database_url.clone();
    // A plan, and an order created from it.
    t.row(&t.shop, "TS-RED").await;
    let (s, po) = t
        .call(
            "POST",
            &format!("/accounts/{}/purchase-orders/from-plan", t.shop),
            Some(json!({"urgency": "now"})),
        )
        .await;
    assert_eq!(s, 201, "{po}");
    // Confirmed, it is on order: the plan counts it.
    let po_id = po[0]["id"].as_str().unwrap().to_string();
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{po_id}/confirm"), None)
        .await;
    assert_eq!(s, 200, "{b}");

    // 1. A backup while sales orders keep coming, one transaction each.
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, base, token, shop) = (
            t.app.client.clone(),
            t.app.addr.clone(),
            t.token.clone(),
            t.shop.clone(),
        );
        let (written, stop) = (written.clone(), stop.clone());
        actix_web::rt::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let resp = client
                    .put(format!("{base}/api/v1/accounts/{shop}/sales-orders"))
                    .bearer_auth(&token)
                    .json(&live_order(n))
                    .send()
                    .await
                    .expect("write");
                assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
                written.store(n, Ordering::SeqCst);
            }
        })
    };
    let wait_for = |at_least: usize| {
        let written = written.clone();
        async move {
            for _ in 0..600 {
                if written.load(Ordering::SeqCst) >= at_least {
                    return;
                }
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the writer stalled at {}", written.load(Ordering::SeqCst));
        }
    };
    wait_for(3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.backup");
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &["backup", "--to", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    let after_backup = written.load(Ordering::SeqCst);
    wait_for(after_backup + 3).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = written.load(Ordering::SeqCst);

    let restore_dir = tempfile::tempdir().unwrap();
    let restored = FreshDatabase::new(restore_dir.path());
    let (ok, out) = tributary(
        &restored.url,
        restore_dir.path(),
        &["restore", "--from", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    let contents = table_contents(&restored.url);
    let orders = crate::helpers::count_committed(
        &restored.url,
        "SELECT count(*) AS n FROM sales_orders WHERE id LIKE 'LIVE-%'",
    );
    let lines = crate::helpers::count_committed(
        &restored.url,
        "SELECT count(*) AS n FROM sales_order_lines WHERE order_id LIKE 'LIVE-%'",
    );
    // One moment's state: the orders answered before the backup began are
    // in it, those written after it ended are not, none is half-written.
    assert!(
        orders >= 3 && orders as usize <= after_backup && (after_backup as i64) < total as i64,
        "{orders} live orders in the backup; {after_backup} written when it ended, {total} in all"
    );
    assert_eq!(lines, 3 * orders, "every order with all its lines");
    assert!(contents["plans"].0 > 0 && contents["stock_orders"].0 > 0);

    // 2. Once the server is idle (its plan fresh again), a backup equals the
    // source table by table, row by row.
    t.row(&t.shop, "TS-RED").await;
    let before = table_contents(&url);
    let file = dir.path().join("idle.backup");
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &["backup", "--to", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(table_contents(&url), before, "the server wrote meanwhile");
    let restore_dir = tempfile::tempdir().unwrap();
    let restored = FreshDatabase::new(restore_dir.path());
    let (ok, out) = tributary(
        &restored.url,
        restore_dir.path(),
        &["restore", "--from", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    let after = table_contents(&restored.url);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (table, content) in &before {
        assert_eq!(&after[table], content, "table {table} differs");
    }
    assert_eq!(
        after["sales_orders"].0 as usize,
        28 + total,
        "every order answered 200 is in the restore"
    );

    // 3. A server on the restore answers the same plan and the same order.
    let restored_url = restored.url.clone();
    let app = TestApp::spawn_with(|c| {
        c.database_url = restored_url;
        c.today = Some("2026-03-01".parse().unwrap());
    })
    .await;
    let plan_path = format!("/api/v1/accounts/{}/order-plan?per_page=100", t.shop);
    let (s, live) = t.app.call("GET", &plan_path, Some(&t.token), None).await;
    assert_eq!(s, 200, "{live}");
    let (s, again) = app.call("GET", &plan_path, Some(&t.token), None).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["stale"], false, "{again}");
    assert_eq!(again, live);
    let po_path = format!("/api/v1/purchase-orders/{po_id}");
    let (s, live_po) = t.app.call("GET", &po_path, Some(&t.token), None).await;
    assert_eq!(s, 200, "{live_po}");
    let (s, restored_po) = app.call("GET", &po_path, Some(&t.token), None).await;
    assert_eq!(s, 200, "{restored_po}");
    assert_eq!(restored_po, live_po);
    drop(app);
    drop(restored);
}

#[actix_web::test]
async fn a_backup_never_overwrites_and_a_restore_needs_an_empty_database() {
    if pg_dump_missing() {
        eprintln!("pg_dump is not installed: skipped");
        return;
    }
    let app = TestApp::spawn().await;
    app.admin("Acme").await;
    let url = app.state.config.database_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup");
    std::fs::write(&file, "keep me").unwrap();
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &["backup", "--to", file.to_str().unwrap()],
    )
    .await;
    assert!(!ok && out.contains("exists already"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert!(!dir.path().join("b.backup.partial").exists());

    std::fs::remove_file(&file).unwrap();
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &["backup", "--to", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    // Restoring over the live database is refused and changes nothing.
    let before = table_contents(&url);
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &["restore", "--from", file.to_str().unwrap()],
    )
    .await;
    assert!(!ok && out.contains("not empty"), "{out}");
    assert_eq!(table_contents(&url), before);
    // A file that is not a backup is named as such.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "not a backup").unwrap();
    let restore_dir = tempfile::tempdir().unwrap();
    let restored = FreshDatabase::new(restore_dir.path());
    let (ok, out) = tributary(
        &restored.url,
        restore_dir.path(),
        &["restore", "--from", junk.to_str().unwrap()],
    )
    .await;
    assert!(!ok && out.contains("junk"), "{out}");
}

#[actix_web::test]
async fn the_sealing_key_file_travels_with_a_sqlite_backup() {
    if std::env::var("TEST_DATABASE").is_ok_and(|v| v == "postgres") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("live.db").display());
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &[
            "user",
            "add",
            "--email",
            "a@example.com",
            "--password",
            "long-enough-pw",
            "--organisation",
            "Acme",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let key = std::fs::read(dir.path().join("tributary.key")).expect("a generated key file");
    let file = dir.path().join("b.backup");
    let (ok, out) = tributary(
        &url,
        dir.path(),
        &["backup", "--to", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(dir.path().join("b.backup.key")).unwrap(), key);
    let elsewhere = tempfile::tempdir().unwrap();
    let target = format!(
        "sqlite://{}",
        elsewhere.path().join("restored.db").display()
    );
    let (ok, out) = tributary(
        &target,
        elsewhere.path(),
        &["restore", "--from", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(elsewhere.path().join("tributary.key")).unwrap(),
        key
    );
    assert_eq!(table_contents(&target), table_contents(&url));
}
