//! Crash safety, black-box: the real `tributary` binary killed with SIGKILL
//! and started again over the same database.
//!
//! `a_restarted_server_takes_up_the_jobs_of_its_dead_predecessor_at_once`
//! runs with the suite. The `kill_nine_*` tests are ignored by default (they
//! take minutes): `scripts/crash_runs.sh` runs them on SQLite and
//! PostgreSQL. Each syncs a child from a source, kills the syncing server at
//! a random moment of the sync, restarts it, and checks that the sync ends
//! with every table's content equal to a run never killed:
//!
//! - `kill_nine_during_sync_and_replan`: a `tributary` connection to a
//!   second server, then also kills during a replan of every plan (a
//!   planning setting changed);
//! - `kill_nine_during_shopify_sync`: a `shopify` connection to the Shopify
//!   fake (GraphQL, paged by `pageInfo` cursors; with
//!   `TRIBUTARY_SHOPIFY_BULK_ORDERS=1` in the environment the orders come
//!   through a bulk operation instead);
//! - `kill_nine_during_woocommerce_sync`: a `woocommerce` connection to the
//!   WooCommerce fake (REST, paged by page number).
//!
//! With a bulk operation (`TRIBUTARY_SHOPIFY_BULK_ORDERS`), a kill is timed
//! from the sync's own progress rather than from its start: once the fake
//! has been asked for the operation, at a random moment of what the clean
//! run took from there to the sync's end (the operation running, its file
//! downloaded, its orders stored page by page). A kill timed from the
//! sync's start landed after the sync had ended: what comes before the
//! operation (variants, stock) takes a varying share of a sync.
//!
//! The fakes run in the test process, so they outlive every kill of the
//! server. `CRASH_RUNS` (default 3, a quick check; the script runs 20) kills
//! of each kind; `CRASH_VARIANTS` (default 3000) source variants, as many
//! sales orders of two lines; `CRASH_SERVER_BIN` another build of the
//! server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use crate::fakes::shopify::FakeShopify;
use crate::fakes::woocommerce::FakeWoo;
use crate::helpers::FreshDatabase;
use crate::TestApp;

const TODAY: &str = "2026-12-01";
const EMAIL: &str = "crash@example.com";
const PASSWORD: &str = "crash-test-password";

/// The environment of every run of the binary (and `extra`, a source's).
fn command(database_url: &str, dir: &std::path::Path, extra: &[(String, String)]) -> Command {
    // `CRASH_SERVER_BIN` runs another build of the server.
    let bin = std::env::var("CRASH_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tributary").to_string());
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("TRIBUTARY_TODAY", TODAY)
        .env("JWT_SECRET", "crash-test-secret")
        .env("TRIBUTARY_SECRET_KEY", "ab".repeat(32))
        // The source listens on loopback.
        .env("TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS", "true")
        .env("TRIBUTARY_SYNC_PAGE_SIZE", "50")
        .env("RUST_LOG", "warn")
        .envs(extra.iter().map(|(k, v)| (k, v)));
    c
}

/// A `tributary serve` process.
struct Server {
    child: std::sync::Mutex<Child>,
    log: std::path::PathBuf,
    addr: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts the server on a free port and waits until it answers.
    async fn start(database_url: &str, dir: &std::path::Path, env: &[(String, String)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let child = command(database_url, dir, env)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start tributary serve");
        let server = Server {
            child: std::sync::Mutex::new(child),
            log: dir.join("server.log"),
            addr: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        for _ in 0..600 {
            if let Ok(r) = server
                .client
                .get(format!("{}/api/v1/openapi.json", server.addr))
                .send()
                .await
            {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not start: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    fn kill_nine(self) {
        let mut child = self.child.lock().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Fails the test with the server's log when the process has ended.
    fn assert_alive(&self) {
        if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("the server ended by itself ({status}):\n{tail}");
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.addr),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = match req.try_clone().unwrap().send().await {
            Ok(r) => r,
            // A kept-alive connection the server closed as the request
            // went out: once more on a new one, unless the server is gone.
            Err(e) => {
                self.assert_alive();
                eprintln!("{method} {path}: {e}; once more");
                tokio::time::sleep(Duration::from_millis(200)).await;
                req.send().await.expect("request")
            }
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn token(&self) -> String {
        let resp = self
            .client
            .post(format!("{}/api/v1/auth/token", self.addr))
            .json(&json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Creates the database and its user with the command line.
fn add_user(database_url: &str, dir: &std::path::Path) {
    let out = command(database_url, dir, &[])
        .args([
            "user",
            "add",
            "--email",
            EMAIL,
            "--password",
            PASSWORD,
            "--organisation",
            "Crash",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The content of the tables a sync and a plan write, without the ids each
/// database generates (accounts, jobs): sorted rows, per table.
fn contents(database_url: &str) -> Vec<(String, i64, String)> {
    #[derive(diesel::QueryableByName)]
    struct Content {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
    }
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    let tables = [
        ("warehouses", "id || '|' || name"),
        ("vendors", "id || '|' || name"),
        ("variants", "id || '|' || sku || '|' || title"),
        (
            "stock_levels",
            "variant_id || '|' || warehouse_id || '|' || on_hand || '|' || allocated",
        ),
        ("sales_orders", "id || '|' || currency"),
        (
            "sales_order_lines",
            "order_id || '|' || line_id || '|' || variant_id || '|' || quantity",
        ),
        ("plans", "CAST(line_count AS TEXT) || '|' || CAST(planning_date AS TEXT)"),
        (
            "plan_lines",
            "sku_key || '|' || CAST(available AS TEXT) || '|' || CAST(demand_per_day AS TEXT) \
             || '|' || CAST(days_of_stock AS TEXT) || '|' || CAST(order_quantity AS TEXT) || '|' || urgency",
        ),
    ];
    let (backend, target) = tributary::db::parse_url(database_url);
    let mut out = Vec::new();
    for (table, row) in tables {
        let sql = match backend {
            tributary::db::Backend::Postgres => format!(
                "SELECT count(*) AS n, coalesce(string_agg(r, E'\\n' ORDER BY r), '') AS body \
                 FROM (SELECT {row} AS r FROM {table}) x"
            ),
            tributary::db::Backend::Sqlite => format!(
                "SELECT count(*) AS n, coalesce(group_concat(r, char(10)), '') AS body \
                 FROM (SELECT {row} AS r FROM {table} ORDER BY r)"
            ),
        };
        let c: Content = match backend {
            tributary::db::Backend::Postgres => {
                let mut conn = diesel::pg::PgConnection::establish(&target).unwrap();
                diesel::sql_query(sql).get_result(&mut conn).unwrap()
            }
            tributary::db::Backend::Sqlite => {
                let mut conn = diesel::sqlite::SqliteConnection::establish(&target).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 30000;").unwrap();
                diesel::sql_query(sql).get_result(&mut conn).unwrap()
            }
        };
        out.push((table.to_string(), c.n, c.body));
    }
    out
}

/// `(table, rows)` of a contents listing, for the report.
fn counts_of(contents: &[(String, i64, String)]) -> String {
    contents
        .iter()
        .map(|(t, n, _)| format!("{t}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Records read by a finished sync job, every outcome.
fn records_read(job: &Value) -> u64 {
    job["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["counts"].as_object().into_iter().flatten())
        .filter_map(|(_, v)| v.as_u64())
        .sum()
}

/// The source: a server with one child of `n` variants (stock in two
/// warehouses) and `n` sales orders of two lines; an API key to read it.
async fn source(n: usize) -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let token = app.admin("Source").await;
    let child = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let put = |entity: &'static str, body: Value| {
        let (app, token, child) = (&app, token.clone(), child.clone());
        async move {
            let (s, b) = app
                .call(
                    "PUT",
                    &format!("/api/v1/accounts/{child}/{entity}"),
                    Some(&token),
                    Some(body),
                )
                .await;
            assert_eq!(s, 200, "{entity}: {:.2000}", b.to_string());
        }
    };
    put(
        "warehouses",
        json!([{"id": "W1", "name": "Main"}, {"id": "W2", "name": "Shop"}]),
    )
    .await;
    put(
        "vendors",
        json!([{"id": "ACME", "name": "Acme", "lead_time_days": 10}]),
    )
    .await;
    let all: Vec<usize> = (0..n).collect();
    // Every variant first: orders name variants of later chunks.
    for chunk in all.chunks(1000) {
        let variants: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"id": format!("V{i}"), "sku": format!("SKU-{i}"), "title": format!("Item {i}"), "vendor_id": "ACME", "cost_price": 2.25}))
            .collect();
        put("variants", Value::Array(variants)).await;
    }
    for chunk in all.chunks(1000) {
        let stock: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"variant_id": format!("V{i}"), "warehouse_id": if i % 2 == 0 { "W1" } else { "W2" }, "on_hand": 5 + i % 40}))
            .collect();
        put("stock", Value::Array(stock)).await;
        let orders: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"id": format!("O{i}"), "ordered_at": format!("2026-11-{:02}T12:00:00Z", 1 + i % 28), "warehouse_id": "W1",
                "lines": [{"id": "1", "variant_id": format!("V{i}"), "quantity": 1 + i % 3, "unit_price": 9.5},
                          {"id": "2", "variant_id": format!("V{}", (i * 7 + 1) % n), "quantity": 2}]}))
            .collect();
        put("sales-orders", Value::Array(orders)).await;
    }
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({"name": "pull", "read_only": true})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let key = b["key"].as_str().unwrap().to_string();
    (app, child, key)
}

/// Waits for a job's end (across restarts: `server` is asked each time).
async fn wait_job(server: &Server, token: &str, job: &str) -> Value {
    let started = Instant::now();
    loop {
        let (s, b) = server
            .call("GET", &format!("/jobs/{job}"), token, None)
            .await;
        assert_eq!(s, 200, "{b}");
        if !matches!(b["status"].as_str(), Some("queued" | "running")) {
            return b;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "job did not finish: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the plans of every account are fresh.
async fn wait_plans(server: &Server, token: &str, accounts: &[String]) {
    let started = Instant::now();
    for a in accounts {
        loop {
            let (s, b) = server
                .call(
                    "GET",
                    &format!("/accounts/{a}/order-plan?per_page=1"),
                    token,
                    None,
                )
                .await;
            assert_eq!(s, 200, "{b}");
            if b["stale"] == false {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "plan stayed stale: {b}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What a child syncs from: a second server, or a fake shop. Each lives in
/// the test process, so it outlives every kill of the syncing server.
enum Feed {
    /// A `tributary` connection to a child of a second server.
    Tributary {
        source: TestApp,
        child: String,
        key: String,
    },
    /// A `shopify` connection to the Shopify fake.
    Shopify(FakeShopify),
    /// A `woocommerce` connection to the WooCommerce fake.
    WooCommerce(FakeWoo),
}

impl Feed {
    /// A source of `n` variants and `n` orders of two variant lines.
    async fn new(kind: &str, n: usize) -> Feed {
        match kind {
            "tributary" => {
                let (source, child, key) = source(n).await;
                Feed::Tributary { source, child, key }
            }
            "shopify" => Feed::Shopify(FakeShopify::start(n as i64, n as i64)),
            "woocommerce" => Feed::WooCommerce(FakeWoo::start(n as i64, n as i64)),
            other => panic!("no feed {other}"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Feed::Tributary { .. } => "tributary",
            Feed::Shopify(_) => "shopify",
            Feed::WooCommerce(_) => "woocommerce",
        }
    }

    /// The child's connection.
    fn connection(&self) -> Value {
        match self {
            Feed::Tributary { source, child, key } => {
                json!({"kind": "tributary", "base_url": source.addr, "account_id": child, "api_key": key})
            }
            Feed::Shopify(_) => json!({"kind": "shopify", "shop": "crash.myshopify.com",
                "access_token": crate::fakes::shopify::TOKEN}),
            Feed::WooCommerce(woo) => json!({"kind": "woocommerce", "base_url": woo.addr,
                "consumer_key": crate::fakes::woocommerce::KEY,
                "consumer_secret": crate::fakes::woocommerce::SECRET}),
        }
    }

    /// The syncing server's environment for this source.
    fn env(&self) -> Vec<(String, String)> {
        match self {
            Feed::Shopify(shop) => {
                vec![("TRIBUTARY_SHOPIFY_API_BASE".to_string(), shop.addr.clone())]
            }
            _ => vec![],
        }
    }
}

/// One syncing server over a fresh database, its child created.
struct Target {
    dir: tempfile::TempDir,
    db: FreshDatabase,
    server: Option<Server>,
    env: Vec<(String, String)>,
    token: String,
    accounts: Vec<String>,
    child: String,
}

impl Target {
    async fn new(feed: &Feed) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let db = FreshDatabase::new(dir.path());
        add_user(&db.url, dir.path());
        let env = feed.env();
        let server = Server::start(&db.url, dir.path(), &env).await;
        let token = server.token().await;
        let (s, b) = server
            .call(
                "POST",
                "/accounts",
                &token,
                Some(json!({"name": "Remote", "currency": "EUR", "connection": feed.connection()})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let child = b["id"].as_str().unwrap().to_string();
        // A second child, without a connection: a master appears over both.
        let (s, b) = server
            .call(
                "POST",
                "/accounts",
                &token,
                Some(json!({"name": "Counter", "currency": "EUR"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        // Every account.
        let (s, all) = server.call("GET", "/accounts", &token, None).await;
        assert_eq!(s, 200, "{all}");
        let accounts: Vec<String> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        wait_plans(&server, &token, &accounts).await;
        Target {
            dir,
            db,
            server: Some(server),
            env,
            token,
            accounts,
            child,
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// Kills the server after `after` and starts it again.
    async fn crash_after(&mut self, after: Duration) -> Duration {
        self.kill_after(after).await;
        self.restart().await
    }

    /// Kills the server after `after` (no server until [`Target::restart`]).
    async fn kill_after(&mut self, after: Duration) {
        tokio::time::sleep(after).await;
        self.server.take().unwrap().kill_nine();
    }

    /// Starts the server again; how long it took to answer.
    async fn restart(&mut self) -> Duration {
        let t = Instant::now();
        self.server = Some(Server::start(&self.db.url, self.dir.path(), &self.env).await);
        t.elapsed()
    }

    fn cursors(&self) -> i64 {
        crate::helpers::count_committed(&self.db.url, "SELECT count(*) AS n FROM sync_cursors")
    }

    async fn start_sync(&self) -> String {
        let (s, b) = self
            .server()
            .call(
                "POST",
                &format!("/accounts/{}/sync", self.child),
                &self.token,
                None,
            )
            .await;
        assert_eq!(s, 202, "{b}");
        b["job_id"].as_str().unwrap().to_string()
    }

    /// Waits for the sync job; a sync a crash left `failed` or `partial`
    /// is started again, as its user would.
    async fn finish_sync(&self, job: &str) -> (Value, usize) {
        let mut job = wait_job(self.server(), &self.token, job).await;
        let mut restarts = 0;
        while job["status"] != "succeeded" {
            restarts += 1;
            println!(
                "the sync ended {} after the restart ({:.500}); started again",
                job["status"],
                job["error"].to_string()
            );
            assert!(restarts < 5, "the sync does not succeed: {job}");
            let id = self.start_sync().await;
            job = wait_job(self.server(), &self.token, &id).await;
        }
        (job, restarts)
    }

    async fn plans_fresh(&self) {
        wait_plans(self.server(), &self.token, &self.accounts).await;
    }

    /// Changes a planning setting of every account: every plan line changes.
    async fn change_planning(&self, days_of_stock: i32) {
        for a in &self.accounts {
            let (s, b) = self
                .server()
                .call(
                    "PATCH",
                    &format!("/accounts/{a}"),
                    &self.token,
                    Some(json!({"planning": {"days_of_stock": days_of_stock}})),
                )
                .await;
            assert_eq!(s, 200, "{b}");
        }
    }
}

/// `CRASH_RUNS` (default 3) and `CRASH_VARIANTS` (default 3000).
fn run_settings() -> (usize, usize, &'static str) {
    let runs: usize = std::env::var("CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let n: usize = std::env::var("CRASH_VARIANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let backend = if std::env::var("TEST_DATABASE").is_ok_and(|v| v == "postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    (runs, n, backend)
}

/// Asserts that every table of `got` equals the clean run's.
fn assert_equal(what: &str, want: &[(String, i64, String)], got: &[(String, i64, String)]) {
    assert_eq!(want.len(), got.len());
    for (want, got) in want.iter().zip(got) {
        assert_eq!(got.0, want.0);
        assert_eq!(got.1, want.1, "{what}: {} rows in {}", got.1, got.0);
        assert!(
            got.2 == want.2,
            "{what}: {} differs from the clean run: {:.1500} / clean: {:.1500}",
            got.0,
            got.2,
            want.2
        );
    }
}

/// The fake shop whose bulk operations time the kills, when the orders are
/// read through one (`TRIBUTARY_SHOPIFY_BULK_ORDERS` set).
fn bulk_shop(feed: &Feed) -> Option<crate::fakes::Shared<crate::fakes::shopify::Shop>> {
    match feed {
        Feed::Shopify(fake) if std::env::var_os("TRIBUTARY_SHOPIFY_BULK_ORDERS").is_some() => {
            Some(fake.shop.clone())
        }
        _ => None,
    }
}

/// Bulk operations the fake was asked for so far.
fn bulk_ops(shop: &crate::fakes::Shared<crate::fakes::shopify::Shop>) -> usize {
    shop.lock().unwrap().bulk.len()
}

/// Waits until the fake holds more than `before` bulk operations (the sync
/// asked for one); when it did.
async fn bulk_started(
    shop: &crate::fakes::Shared<crate::fakes::shopify::Shop>,
    before: usize,
) -> Instant {
    let t = Instant::now();
    while bulk_ops(shop) <= before {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the sync never asked for a bulk operation"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Instant::now()
}

/// The stored cursor of the child's orders stream (`-` when none).
fn orders_cursor(database_url: &str, child: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct C {
        #[diesel(sql_type = diesel::sql_types::Text)]
        cursor: String,
    }
    use diesel::{Connection, RunQueryDsl};
    let sql = format!(
        "SELECT cursor FROM sync_cursors WHERE account_id = '{child}' AND entity = 'sales-orders'"
    );
    let (backend, target) = tributary::db::parse_url(database_url);
    let found: Vec<C> = match backend {
        tributary::db::Backend::Postgres => {
            let mut conn = diesel::pg::PgConnection::establish(&target).unwrap();
            diesel::sql_query(sql).load(&mut conn).unwrap()
        }
        tributary::db::Backend::Sqlite => {
            let mut conn = diesel::sqlite::SqliteConnection::establish(&target).unwrap();
            diesel::sql_query(sql).load(&mut conn).unwrap()
        }
    };
    found
        .into_iter()
        .next()
        .map(|c| c.cursor)
        .unwrap_or_else(|| "-".into())
}

/// A clean run from `feed`, then `runs` runs each killed at a random moment
/// of the sync (and, with `replan`, of a replan after it): every table equal
/// to the clean run's after each restart.
async fn kill_runs(feed: &Feed, runs: usize, replan: bool) {
    let backend = run_settings().2;
    let kind = feed.name();
    let label = format!("{backend}/{kind}");

    // The run never killed; with a bulk operation, how long the sync took
    // from the fake being asked for it.
    let bulk = bulk_shop(feed);
    let clean = Target::new(feed).await;
    let t = Instant::now();
    let before = bulk.as_ref().map(bulk_ops);
    let job = clean.start_sync().await;
    let (job, bulk_at) = match (&bulk, before) {
        (Some(shop), Some(before)) => {
            let (job, at) =
                futures_util::join!(clean.finish_sync(&job), bulk_started(shop, before));
            (job.0, Some(at))
        }
        _ => (clean.finish_sync(&job).await.0, None),
    };
    let sync_time = t.elapsed();
    let bulk_time = bulk_at.map(|at| at.elapsed());
    clean.plans_fresh().await;
    let synced_time = t.elapsed();
    let clean_synced = contents(&clean.db.url);
    let clean_read = records_read(&job);
    let mut replan_time = Duration::ZERO;
    let mut clean_replanned = Vec::new();
    if replan {
        let t = Instant::now();
        clean.change_planning(60).await;
        clean.plans_fresh().await;
        replan_time = t.elapsed();
        clean_replanned = contents(&clean.db.url);
    }
    if let Some(b) = bulk_time {
        println!(
            "[{label}] clean run: the bulk operation asked for {:.2} s into the sync, which ended {:.2} s later",
            (sync_time - b).as_secs_f64(),
            b.as_secs_f64()
        );
    }
    println!(
        "[{label}] clean run: sync {:.2} s, sync + plans {:.2} s, {clean_read} records read; replan {:.2} s; {}",
        sync_time.as_secs_f64(),
        synced_time.as_secs_f64(),
        replan_time.as_secs_f64(),
        counts_of(if replan { &clean_replanned } else { &clean_synced })
    );
    drop(clean);

    let mut rng = rand::thread_rng();
    let mut resumed_from_cursor = 0;
    let mut killed_mid_sync = 0;
    // Restarts that asked for a new bulk operation although the stored
    // cursor held one.
    let mut another_op_over_cursor = 0;
    for run in 1..=runs {
        // A kill at a random moment of the sync.
        let mut target = Target::new(feed).await;
        let before = bulk.as_ref().map(bulk_ops);
        let job = target.start_sync().await;
        let window = bulk_time.unwrap_or(sync_time);
        let at = Duration::from_millis(rng.gen_range(0..window.as_millis().max(1) as u64));
        let mut sleep = at;
        let mut bulk_note = String::new();
        if let (Some(shop), Some(before)) = (&bulk, before) {
            let asked = bulk_started(shop, before).await;
            bulk_note = format!(
                " ({:.2} s after the bulk operation was asked for)",
                at.as_secs_f64()
            );
            // `crash_after` sleeps from now: count from the ask.
            sleep = at.saturating_sub(asked.elapsed());
        }
        // What the killed server left, read before the restart takes it up.
        target.kill_after(sleep).await;
        let ops_at_kill = bulk.as_ref().map(bulk_ops);
        let cursors = target.cursors();
        let cursor_at_kill = orders_cursor(&target.db.url, &target.child);
        let mid_sync = crate::helpers::count_committed(
            &target.db.url,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'sync' AND status = 'running'",
        ) > 0;
        let restart = target.restart().await;
        if mid_sync {
            killed_mid_sync += 1;
        }
        let resumed = Instant::now();
        let (job, restarts) = target.finish_sync(&job).await;
        let read = records_read(&job);
        target.plans_fresh().await;
        let got = contents(&target.db.url);
        let from_cursor = mid_sync && cursors > 0 && read < clean_read;
        if from_cursor {
            resumed_from_cursor += 1;
        }
        // With a bulk operation: the orders cursor at the kill, and whether
        // the restarted sync asked for another operation or went on with
        // the stored one.
        let bulk_resume = match (&bulk, ops_at_kill) {
            (Some(shop), Some(ops)) => {
                let again = bulk_ops(shop) - ops;
                if again > 0 && cursor_at_kill.contains("\"bulk\":\"") {
                    another_op_over_cursor += 1;
                }
                format!(
                    "; orders cursor at the kill {cursor_at_kill}; {again} bulk operations asked for after the restart"
                )
            }
            _ => String::new(),
        };
        println!(
            "[{label}] sync run {run}: killed at {:.2} s{bulk_note} ({}) with {cursors} cursors stored; restarted in {:.2} s; \
             synced and planned {:.2} s later ({restarts} syncs started again), {read} of {clean_read} records read after the restart{bulk_resume}",
            at.as_secs_f64(),
            if mid_sync { "sync running" } else { "sync done" },
            restart.as_secs_f64(),
            resumed.elapsed().as_secs_f64()
        );
        assert_equal(&format!("sync run {run}"), &clean_synced, &got);
        if !replan {
            continue;
        }

        // A kill at a random moment of a replan of every plan.
        target.change_planning(60).await;
        let at = Duration::from_millis(rng.gen_range(0..replan_time.as_millis().max(1) as u64));
        let restart = target.crash_after(at).await;
        let resumed = Instant::now();
        target.plans_fresh().await;
        let got = contents(&target.db.url);
        println!(
            "[{label}] replan run {run}: killed at {:.2} s; restarted in {:.2} s; plans fresh {:.2} s later",
            at.as_secs_f64(),
            restart.as_secs_f64(),
            resumed.elapsed().as_secs_f64()
        );
        assert_equal(&format!("replan run {run}"), &clean_replanned, &got);
    }
    println!(
        "[{label}] {runs} sync kills ({killed_mid_sync} while the sync job ran){}: \
         every table equal to the clean run; {resumed_from_cursor} of {killed_mid_sync} syncs resumed from a stored cursor \
         (read fewer records than the clean run after the restart)",
        if replan { format!(" and {runs} replan kills") } else { String::new() }
    );
    if bulk.is_some() {
        println!(
            "[{label}] {another_op_over_cursor} restarts asked for a new bulk operation although the stored cursor held one"
        );
    }
}

#[actix_web::test]
#[ignore = "minutes: run by scripts/crash_runs.sh"]
async fn kill_nine_during_sync_and_replan() {
    let (runs, n, _) = run_settings();
    let feed = Feed::new("tributary", n).await;
    kill_runs(&feed, runs, true).await;
}

#[actix_web::test]
#[ignore = "minutes: run by scripts/crash_runs.sh"]
async fn kill_nine_during_shopify_sync() {
    let (runs, n, _) = run_settings();
    let feed = Feed::new("shopify", n).await;
    kill_runs(&feed, runs, false).await;
}

#[actix_web::test]
#[ignore = "minutes: run by scripts/crash_runs.sh"]
async fn kill_nine_during_woocommerce_sync() {
    let (runs, n, _) = run_settings();
    let feed = Feed::new("woocommerce", n).await;
    kill_runs(&feed, runs, false).await;
}

#[actix_web::test]
async fn a_restarted_server_takes_up_the_jobs_of_its_dead_predecessor_at_once() {
    use diesel::{Connection, ExpressionMethods, QueryDsl, RunQueryDsl};
    use tributary::db::schema::{accounts, jobs};
    let dir = tempfile::tempdir().unwrap();
    let db = FreshDatabase::new(dir.path());
    add_user(&db.url, dir.path());
    let server = Server::start(&db.url, dir.path(), &[]).await;
    let token = server.token().await;
    let (s, b) = server
        .call(
            "POST",
            "/accounts",
            &token,
            Some(json!({"name": "Shop", "currency": "EUR"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let child = b["id"].as_str().unwrap().to_string();
    let org = b["organisation_id"].as_str().map(str::to_string);
    wait_plans(&server, &token, std::slice::from_ref(&child)).await;
    server.kill_nine();
    let (backend, target) = tributary::db::parse_url(&db.url);
    let mut conn = match backend {
        tributary::db::Backend::Postgres => {
            tributary::db::DbConn::Pg(diesel::pg::PgConnection::establish(&target).unwrap())
        }
        tributary::db::Backend::Sqlite => tributary::db::DbConn::Sqlite(
            diesel::sqlite::SqliteConnection::establish(&target).unwrap(),
        ),
    };
    let org = match org {
        Some(o) => o,
        None => accounts::table
            .find(&child)
            .select(accounts::organisation_id)
            .first(&mut conn)
            .unwrap(),
    };
    // A plan job leased for another minute by a process of this host that
    // is gone, as a server killed while planning leaves it.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let now = chrono::Utc::now().naive_utc();
    diesel::insert_into(jobs::table)
        .values((
            jobs::id.eq("job_left_running"),
            jobs::organisation_id.eq(&org),
            jobs::kind.eq("plan"),
            jobs::account_id.eq(&child),
            jobs::status.eq("running"),
            jobs::progress_done.eq(0i64),
            jobs::progress_total.eq(0i64),
            jobs::attempts.eq(1),
            jobs::lease_owner.eq(format!("{}:{dead_pid}:wrk_gone", host.trim())),
            jobs::lease_until.eq(now + chrono::Duration::seconds(60)),
            jobs::detail.eq("[]"),
            jobs::created_at.eq(now),
            jobs::started_at.eq(now),
        ))
        .execute(&mut conn)
        .unwrap();
    let started = Instant::now();
    let _server = Server::start(&db.url, dir.path(), &[]).await;
    loop {
        let status: String = jobs::table
            .find("job_left_running")
            .select(jobs::status)
            .first(&mut conn)
            .unwrap();
        if status == "succeeded" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still {status} after {:?}: the dead process's lease was waited out",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
