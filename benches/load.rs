//! Load: `LOAD_CLIENTS` concurrent clients (default 200) for `LOAD_SECONDS`
//! (default 60, at most 600) read the master's order plan and demand pages
//! (API and HTML) of a seeded organisation over loopback, while a load-all
//! of the master and two CSV imports run in loops. Reports every request's
//! outcome (errors: any transport error or non-2xx answer), p50/p95/p99/max
//! per route, the writers' rounds, the longest lock wait seen, the load
//! average and, on SQLite, the write-ahead log file's size (largest sampled
//! and at the end).
//!
//! The server is the release binary, a separate process on a fresh
//! database. The organisation: `LOAD_CHILDREN` manual children (default 4)
//! with `LOAD_VARIANTS` variants (default 2,000) and `LOAD_LINES` sale lines
//! each (default 50,000), and two children pulling over a `tributary`
//! connection from a second organisation on the same server (same sizes):
//! the load-all during the run is their first, full sync, then incremental
//! ones. The two imports are `LOAD_IMPORT_LINES` new sale lines each
//! (default 20,000) into two manual children, again and again.
//!
//! Lock waits: every write transaction of the server logs how long it
//! waited for the lock when it held it over 50 ms or waited over 0.5 s
//! (`db::transaction`, `RUST_LOG=tributary::db=debug`, the default here):
//! the benchmark reads them back from the server's log (on SQLite the
//! writers' queue, the checkpoint gate and `BEGIN IMMEDIATE`; on PostgreSQL
//! `BEGIN`). On PostgreSQL, where writers wait on row locks inside their
//! transactions, a connection of the benchmark's own also samples every
//! 100 ms the longest wait of a session on a lock (`pg_stat_activity`,
//! `wait_event_type = 'Lock'`). It fails on any error (of a request, or an
//! error line in the server's log) or a wait over 1 s.
//!
//! Run: `cargo bench --bench load` (SQLite), with
//! `LOAD_POSTGRES_URL=postgres:///tributary_load?host=/var/run/postgresql`
//! for PostgreSQL (the database must exist and be empty).
//! `LOAD_SERVER_BIN` runs another build of the server (an earlier one, to
//! compare).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ENV: [(&str, &str); 6] = [
    ("JWT_SECRET", "load"),
    (
        "TRIBUTARY_SECRET_KEY",
        "0202020202020202020202020202020202020202020202020202020202020202",
    ),
    ("TRIBUTARY_TODAY", "2026-01-01"),
    // The tributary children pull from this same server.
    ("TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS", "true"),
    ("TRIBUTARY_SYNC_PAGE_SIZE", "2000"),
    ("RUST_LOG", "warn"),
];

/// The server binary: this build's, or `LOAD_SERVER_BIN`.
fn server_bin() -> String {
    std::env::var("LOAD_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tributary").into())
}

fn add_user(database_url: &str, dir: &std::path::Path, email: &str, org: &str) {
    let status = Command::new(server_bin())
        .args([
            "user",
            "add",
            "--email",
            email,
            "--password",
            "load-password-1",
            "--organisation",
            org,
        ])
        .envs(ENV)
        .env("DATABASE_URL", database_url)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("user add");
    assert!(status.success());
}

fn start(database_url: &str, dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(server_bin())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .envs(ENV)
        // `tributary::db=debug` logs every write transaction held over
        // 50 ms or that waited over 0.5 s for the lock (with its caller):
        // the writers' waits are read back from the log ([`writer_waits`]).
        .env(
            "RUST_LOG",
            std::env::var("LOAD_RUST_LOG").unwrap_or_else(|_| "warn,tributary::db=debug".into()),
        )
        .env("DATABASE_URL", database_url)
        .current_dir(dir)
        .stdout(Stdio::from(
            std::fs::File::create(dir.join(SERVER_LOG)).expect("server log"),
        ))
        .spawn()
        .expect("serve");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `lines` sale lines over the 365 days before 2026-01-01, orders named
/// `{prefix}-…`.
fn sales_csv(prefix: &str, seed: u64, lines: usize, variants: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 80);
    out.extend_from_slice(
        b"id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\n",
    );
    let mut rng = Rng(seed.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0x5151);
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let (mut written, mut order) = (0usize, 0usize);
    while written < lines {
        order += 1;
        let n = (1 + rng.next() % 5) as usize;
        let day = start + chrono::Duration::days((rng.next() % 365) as i64);
        for line in 1..=n.min(lines - written) {
            let v = rng.next() as usize % variants;
            let q = 1 + rng.next() % 4;
            writeln!(
                out,
                "{prefix}-{order:07},{day}T10:00:00Z,W1,EUR,{line},V-{v:05},{q},9.50"
            )
            .unwrap();
            written += 1;
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The size of a SQLite database's write-ahead log file (0 on PostgreSQL).
fn wal_size(url: &str) -> u64 {
    match tributary::db::parse_url(url) {
        (tributary::db::Backend::Sqlite, path) => std::fs::metadata(format!("{path}-wal"))
            .map(|m| m.len())
            .unwrap_or(0),
        _ => 0,
    }
}

/// The file the server's log goes to, in the run's directory.
const SERVER_LOG: &str = "server.log";

/// What the server's write transactions logged from byte `from` of its
/// log on: how many were logged, the longest wait for the lock (seconds,
/// with its caller), how many waited over 1 s, the longest hold (seconds,
/// with its caller), and the log's error lines (count, first one).
#[derive(Default)]
struct WriterWaits {
    logged: usize,
    wait_max: f64,
    wait_worst: String,
    over_1s: usize,
    held_max: f64,
    held_worst: String,
    errors: usize,
    first_error: Option<String>,
    /// By caller: transactions logged, waits over 1 s, longest wait,
    /// longest hold, total held (seconds).
    by_caller: BTreeMap<String, (usize, usize, f64, f64, f64)>,
}

fn writer_waits(log: &std::path::Path, from: u64) -> WriterWaits {
    use std::io::{Read, Seek};
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.seek(std::io::SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let mut out = WriterWaits::default();
    for line in text.lines() {
        // Without the terminal's colour codes.
        let mut plain = String::with_capacity(line.len());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        let field = |name: &str| {
            plain
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_string)
        };
        if plain.contains(" ERROR ") {
            out.errors += 1;
            out.first_error.get_or_insert_with(|| plain.clone());
        }
        // A log `RESTART` (`db::wal`) holds the database as a writer does.
        if plain.contains("log restart") && !plain.contains("put off") {
            if let Some(ms) = field("ms=").and_then(|m| m.parse::<f64>().ok()) {
                let c = out
                    .by_caller
                    .entry("log RESTART (db::wal)".into())
                    .or_default();
                c.0 += 1;
                c.3 = c.3.max(ms / 1e3);
                c.4 += ms / 1e3;
            }
            continue;
        }
        let (Some(waited), Some(held)) = (field("waited_ms="), field("held_ms=")) else {
            continue;
        };
        let (waited, held) = (
            waited.parse::<f64>().unwrap_or(0.0) / 1e3,
            held.parse::<f64>().unwrap_or(0.0) / 1e3,
        );
        let at = field("at=").unwrap_or_default();
        let c = out.by_caller.entry(at.clone()).or_default();
        c.0 += 1;
        c.1 += usize::from(waited > 1.0);
        c.2 = c.2.max(waited);
        c.3 = c.3.max(held);
        c.4 += held;
        out.logged += 1;
        out.over_1s += usize::from(waited > 1.0);
        if waited > out.wait_max {
            (out.wait_max, out.wait_worst) = (waited, at.clone());
        }
        if held > out.held_max {
            (out.held_max, out.held_worst) = (held, at);
        }
    }
    out
}

/// The longest lock wait now, in seconds (see the module's doc).
struct LockProbe {
    conn: tributary::db::DbConn,
}

impl LockProbe {
    fn open(url: &str) -> LockProbe {
        let (backend, target) = tributary::db::parse_url(url);
        let conn = match backend {
            tributary::db::Backend::Postgres => {
                tributary::db::DbConn::Pg(diesel::pg::PgConnection::establish(&target).unwrap())
            }
            tributary::db::Backend::Sqlite => {
                let mut c = diesel::sqlite::SqliteConnection::establish(&target).unwrap();
                c.batch_execute("PRAGMA busy_timeout = 60000;").unwrap();
                tributary::db::DbConn::Sqlite(c)
            }
        };
        LockProbe { conn }
    }

    /// The longest wait now, in seconds, and on PostgreSQL what waits
    /// (the wait event and the start of the statement).
    fn sample(&mut self) -> (f64, String) {
        #[derive(diesel::QueryableByName)]
        struct Wait {
            #[diesel(sql_type = diesel::sql_types::Double)]
            seconds: f64,
            #[diesel(sql_type = diesel::sql_types::Text)]
            what: String,
        }
        match &mut self.conn {
            // The server's SQLite writers wait in a queue of its own
            // (`db::queue`): a writer of this process would not be in it,
            // so it would measure how it competes with the queue rather
            // than what a writer waits. Their waits come from the log.
            tributary::db::DbConn::Sqlite(_) => (0.0, String::new()),
            tributary::db::DbConn::Pg(c) => {
                diesel::sql_query(
                    "SELECT coalesce(extract(epoch FROM clock_timestamp() - state_change), 0)::float8 AS seconds, \
                     coalesce(wait_event, '') || ': ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS what \
                     FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock' \
                     ORDER BY state_change LIMIT 1",
                )
                .get_results::<Wait>(c)
                .unwrap()
                .pop()
                .map(|w| (w.seconds, w.what))
                .unwrap_or((0.0, String::new()))
            }
        }
    }
}

/// The plan jobs that ended during the run: how many, and the median and
/// longest time from start to end, in seconds.
fn plan_jobs(url: &str, since: chrono::NaiveDateTime) -> (usize, f64, f64) {
    #[derive(diesel::QueryableByName)]
    struct Took {
        #[diesel(sql_type = diesel::sql_types::Double)]
        seconds: f64,
    }
    let sql = match LockProbe::open(url).conn {
        tributary::db::DbConn::Sqlite(_) => {
            "SELECT (julianday(finished_at) - julianday(started_at)) * 86400.0 AS seconds FROM jobs \
             WHERE kind = 'plan' AND status = 'succeeded' AND finished_at >= ?"
        }
        tributary::db::DbConn::Pg(_) => {
            "SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM jobs \
             WHERE kind = 'plan' AND status = 'succeeded' AND finished_at >= $1"
        }
    };
    let mut probe = LockProbe::open(url);
    let mut took: Vec<f64> = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Timestamp, _>(since)
        .load::<Took>(&mut probe.conn)
        .unwrap()
        .into_iter()
        .map(|t| t.seconds)
        .collect();
    took.sort_by(|a, b| a.total_cmp(b));
    (
        took.len(),
        percentile(&took, 0.5),
        took.last().copied().unwrap_or(0.0),
    )
}

#[derive(Default)]
struct Route {
    ms: Vec<f64>,
    /// API answers marked `"stale": true` (older than the data the read
    /// saw at its start).
    stale: usize,
    errors: usize,
    first_error: Option<String>,
}

fn main() {
    let clients = env_or("LOAD_CLIENTS", 200).clamp(1, 1000);
    let seconds = env_or("LOAD_SECONDS", 60).clamp(1, 600);
    let children = env_or("LOAD_CHILDREN", 4).max(2);
    let variants = env_or("LOAD_VARIANTS", 2_000).max(10);
    let lines = env_or("LOAD_LINES", 50_000);
    let import_lines = env_or("LOAD_IMPORT_LINES", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("LOAD_POSTGRES_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("load.db").display()));
    let backend = if url.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    };
    add_user(&url, dir.path(), "load@example.com", "Load");
    add_user(&url, dir.path(), "source@example.com", "Source");
    let server = start(&url, dir.path());
    let base = server.base.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let log_path = dir.path().join(SERVER_LOG);
    let failed = rt.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(clients)
            // Below the server's keep-alive (5 s): a connection is never
            // reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let token = |email: &'static str| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let b: Value = client
                    .post(format!("{base}/api/v1/auth/token"))
                    .json(&json!({"email": email, "password": "load-password-1"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                b["token"].as_str().unwrap().to_string()
            }
        };
        let token_main = token("load@example.com").await;
        let token_source = token("source@example.com").await;
        let api = |method: reqwest::Method, path: String, token: &str, body: Option<Value>| {
            let get = method == reqwest::Method::GET;
            let mut req = client
                .request(method, format!("{base}/api/v1{path}"))
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            // A GET whose connection was reset (a kept-alive connection
            // closed under the crowd) is asked once more on a new one.
            let again = if get { req.try_clone() } else { None };
            async move {
                let resp = match (req.send().await, again) {
                    (Ok(resp), _) => resp,
                    (Err(e), Some(again)) => {
                        eprintln!("{e}; once more");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        again.send().await.unwrap()
                    }
                    (Err(e), None) => panic!("{e}"),
                };
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                assert!(status.is_success(), "{status}: {body}");
                body
            }
        };
        let import = |account: String, entity: &'static str, body: Vec<u8>, token: String| {
            let req = client
                .post(format!("{base}/api/v1/accounts/{account}/imports/{entity}"))
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(body);
            async move {
                let resp = req.send().await.unwrap();
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                assert!(status.is_success(), "{entity}: {status}: {text:.500}");
            }
        };
        let seed_child = |id: String, token: String, seed: u64| {
            let import = &import;
            async move {
                import(id.clone(), "warehouses", b"id,name\nW1,Main\n".to_vec(), token.clone()).await;
                let mut v = String::from("id,sku,title\n");
                for i in 0..variants {
                    v.push_str(&format!("V-{i:05},SKU-{i:05},Item {i}\n"));
                }
                import(id.clone(), "variants", v.into_bytes(), token.clone()).await;
                let stock: String = std::iter::once("variant_id,warehouse_id,on_hand\n".to_string())
                    .chain((0..variants).map(|i| format!("V-{i:05},W1,{}\n", i % 60)))
                    .collect();
                import(id.clone(), "stock", stock.into_bytes(), token.clone()).await;
                import(id, "sales-orders", sales_csv("SO", seed, lines, variants), token).await;
            }
        };
        let t = Instant::now();
        // The source organisation: two children, and a key to read them.
        let mut sources = Vec::new();
        for c in 0..2 {
            let a = api(reqwest::Method::POST, "/accounts".into(), &token_source,
                Some(json!({"name": format!("Source {c}"), "currency": "EUR"}))).await;
            let id = a["id"].as_str().unwrap().to_string();
            seed_child(id.clone(), token_source.clone(), 100 + c).await;
            sources.push(id);
        }
        let key = api(reqwest::Method::POST, "/api-keys".into(), &token_source,
            Some(json!({"name": "pull", "read_only": true}))).await["key"].as_str().unwrap().to_string();
        let mut manual = Vec::new();
        for c in 0..children {
            let a = api(reqwest::Method::POST, "/accounts".into(), &token_main,
                Some(json!({"name": format!("Shop {c}"), "currency": "EUR"}))).await;
            let id = a["id"].as_str().unwrap().to_string();
            seed_child(id.clone(), token_main.clone(), c as u64).await;
            manual.push(id);
        }
        for (c, src) in sources.iter().enumerate() {
            api(reqwest::Method::POST, "/accounts".into(), &token_main,
                Some(json!({"name": format!("Remote {c}"), "currency": "EUR",
                    "connection": {"kind": "tributary", "base_url": base, "account_id": src, "api_key": key}}))).await;
        }
        let all = api(reqwest::Method::GET, "/accounts".into(), &token_main, None).await;
        let master = all.as_array().unwrap().iter().find(|a| a["kind"] == "master")
            .and_then(|a| a["id"].as_str()).expect("a master").to_string();
        println!("{backend}: seeded {children} children + 2 sources × {variants} variants, {lines} sale lines each in {:.1} s",
            t.elapsed().as_secs_f64());
        let t = Instant::now();
        loop {
            let b = api(reqwest::Method::GET, format!("/accounts/{master}/order-plan?per_page=1"), &token_main, None).await;
            if b["stale"] == false {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("{backend}: plans computed in {:.1} s", t.elapsed().as_secs_f64());

        // A session for the pages: the login form's CSRF token is bound to
        // a pre-session cookie.
        let pages = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .cookie_store(true)
            .pool_max_idle_per_host(clients)
            // Below the server's keep-alive (5 s): a connection is never
            // reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let form = pages.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
        let csrf = form.split("name=\"csrf_token\" value=\"").nth(1)
            .and_then(|s| s.split('"').next()).unwrap_or_default().to_string();
        let resp = pages.post(format!("{base}/login"))
            .form(&[("email", "load@example.com"), ("password", "load-password-1"), ("csrf_token", csrf.as_str())])
            .send().await.unwrap();
        assert!(resp.status().is_success(), "login: {}", resp.status());

        let stop = Arc::new(AtomicBool::new(false));
        let load_before = load_average();
        let log = log_path.clone();
        let log_from = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        // The lock-wait probe.
        let probe = {
            let (stop, url) = (stop.clone(), url.clone());
            std::thread::spawn(move || {
                let mut probe = LockProbe::open(&url);
                let (mut max, mut over_1s, mut samples) = (0f64, 0usize, 0usize);
                let mut worst = String::new();
                let mut wal_max = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (w, what) = probe.sample();
                    if w > max {
                        worst = what;
                    }
                    max = max.max(w);
                    over_1s += usize::from(w > 1.0);
                    samples += 1;
                    wal_max = wal_max.max(wal_size(&url));
                    std::thread::sleep(Duration::from_millis(100));
                }
                (max, over_1s, samples, worst, wal_max)
            })
        };
        // The writers: a load-all in a loop, two CSV imports in loops.
        let deadline = Instant::now() + Duration::from_secs(seconds as u64);
        let load_all = {
            let (api, master, token) = (&api, master.clone(), token_main.clone());
            async move {
                let (mut rounds, mut longest) = (0, 0f64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let job = api(reqwest::Method::POST, format!("/accounts/{master}/sync"), &token, None).await;
                    let id = job["job_id"].as_str().unwrap().to_string();
                    loop {
                        let j = api(reqwest::Method::GET, format!("/jobs/{id}"), &token, None).await;
                        match j["status"].as_str() {
                            Some("queued" | "running") => tokio::time::sleep(Duration::from_millis(200)).await,
                            Some("succeeded") => break,
                            other => panic!("load-all ended {other:?}: {j}"),
                        }
                    }
                    rounds += 1;
                    longest = f64::max(longest, t.elapsed().as_secs_f64());
                }
                (rounds, longest)
            }
        };
        let importer = |account: String, n: u64| {
            let (import, token) = (&import, token_main.clone());
            async move {
                let (mut rounds, mut longest) = (0u64, 0f64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let csv = sales_csv(&format!("IMP{n}-{rounds}"), n * 1000 + rounds, import_lines, variants);
                    import(account.clone(), "sales-orders", csv, token.clone()).await;
                    rounds += 1;
                    longest = f64::max(longest, t.elapsed().as_secs_f64());
                }
                (rounds, longest)
            }
        };
        // The readers.
        let results: Arc<Mutex<BTreeMap<&'static str, Route>>> = Arc::default();
        let mut readers = Vec::new();
        for n in 0..clients {
            let (client, pages, base, token, master, results) = (
                client.clone(), pages.clone(), base.clone(), token_main.clone(), master.clone(), results.clone(),
            );
            readers.push(tokio::spawn(async move {
                let mut rng = Rng(n as u64 + 1);
                let mut mine: BTreeMap<&'static str, Route> = BTreeMap::new();
                while Instant::now() < deadline {
                    let sku = format!("SKU-{:05}", rng.next() as usize % variants);
                    let (route, req) = match rng.next() % 4 {
                        0 => ("API order plan", client.get(format!("{base}/api/v1/accounts/{master}/order-plan?per_page=50")).bearer_auth(&token)),
                        1 => ("page order plan", pages.get(format!("{base}/accounts/{master}/order-plan"))),
                        2 => ("API demand", client.get(format!("{base}/api/v1/accounts/{master}/demand/{sku}")).bearer_auth(&token)),
                        _ => ("page demand", pages.get(format!("{base}/accounts/{master}/demand/{sku}"))),
                    };
                    let t = Instant::now();
                    let outcome = match req.send().await {
                        Ok(resp) if resp.status().is_success() => resp.bytes().await
                            .map(|b| b.windows(12).any(|w| w == b"\"stale\":true"))
                            .map_err(|e| e.to_string()),
                        Ok(resp) => Err(format!("{}: {:.200}", resp.status(), resp.text().await.unwrap_or_default())),
                        Err(e) => {
                            let mut text = e.to_string();
                            let mut source = std::error::Error::source(&e);
                            while let Some(s) = source {
                                text.push_str(&format!(": {s}"));
                                source = s.source();
                            }
                            Err(text)
                        }
                    };
                    let r = mine.entry(route).or_default();
                    r.ms.push(t.elapsed().as_secs_f64() * 1e3);
                    r.stale += usize::from(outcome == Ok(true));
                    if let Err(e) = outcome {
                        r.errors += 1;
                        r.first_error.get_or_insert(e);
                    }
                }
                let mut all = results.lock().unwrap();
                for (k, v) in mine {
                    let r = all.entry(k).or_default();
                    r.ms.extend(v.ms);
                    r.errors += v.errors;
                    r.stale += v.stale;
                    if r.first_error.is_none() {
                        r.first_error = v.first_error;
                    }
                }
            }));
        }
        let started = Instant::now();
        let started_at = chrono::Utc::now().naive_utc();
        let (sync, imp0, imp1) = tokio::join!(
            load_all,
            importer(manual[0].clone(), 0),
            importer(manual[1].clone(), 1)
        );
        for r in readers {
            r.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let (probe_max, probe_over, lock_samples, probe_worst, wal_max) = probe.join().unwrap();
        let writers = writer_waits(&log, log_from);
        let (lock_max, lock_over) = (probe_max.max(writers.wait_max), probe_over + writers.over_1s);
        let wal_end = wal_size(&url);
        let load_after = load_average();

        let mut results = results.lock().unwrap();
        let mut everything = Vec::new();
        let mut errors = 0;
        println!("{backend}: {clients} clients for {elapsed:.1} s (load average before {load_before}, after {load_after}, {} cores)",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        for (route, r) in results.iter_mut() {
            r.ms.sort_by(|a, b| a.total_cmp(b));
            println!(
                "{backend}: {route:<16} {:>6} requests {:>4} errors  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms{}{}",
                r.ms.len(), r.errors, percentile(&r.ms, 0.5), percentile(&r.ms, 0.95), percentile(&r.ms, 0.99),
                r.ms.last().copied().unwrap_or(f64::NAN),
                if route.starts_with("API") { format!("  {} stale", r.stale) } else { String::new() },
                r.first_error.as_ref().map(|e| format!("  first error: {e}")).unwrap_or_default()
            );
            everything.extend_from_slice(&r.ms);
            errors += r.errors;
        }
        everything.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{backend}: all reads      {:>6} requests {errors:>4} errors  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  ({:.0} requests/s)",
            everything.len(), percentile(&everything, 0.5), percentile(&everything, 0.95), percentile(&everything, 0.99),
            everything.last().copied().unwrap_or(f64::NAN), everything.len() as f64 / elapsed
        );
        println!("{backend}: writers: {} load-alls (longest {:.1} s), imports of {import_lines} lines: {} + {} (longest {:.1} s)",
            sync.0, sync.1, imp0.0, imp1.0, imp0.1.max(imp1.1));
        let (plans, plan_p50, plan_max) = plan_jobs(&url, started_at);
        println!("{backend}: plan jobs ended during the run: {plans} (median {plan_p50:.1} s, longest {plan_max:.1} s)");
        println!("{backend}: the server's write transactions (logged: held over 50 ms or waited over 0.5 s): {}; longest wait for the lock {:.3} s ({}), {} waited over 1 s; longest hold {:.3} s ({})",
            writers.logged, writers.wait_max, writers.wait_worst, writers.over_1s, writers.held_max, writers.held_worst);
        for (at, (n, over, wait, held, total)) in &writers.by_caller {
            println!("{backend}:   {at:<44} {n:>4} logged, {over:>3} waited over 1 s, longest wait {wait:.3} s, longest hold {held:.3} s, held {total:.1} s in all");
        }
        if backend != "sqlite" {
            println!("{backend}: longest lock wait sampled {probe_max:.3} s over {lock_samples} samples, {probe_over} over 1 s ({probe_worst})");
        }
        println!("{backend}: server log error lines: {}{}", writers.errors,
            writers.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default());
        if backend == "sqlite" {
            println!("{backend}: write-ahead log file {:.1} MB at the end, largest sampled {:.1} MB",
                wal_end as f64 / 1e6, wal_max as f64 / 1e6);
        }
        let json = json!({
            "backend": backend, "clients": clients, "seconds": elapsed, "requests": everything.len(), "errors": errors,
            "p50_ms": percentile(&everything, 0.5), "p95_ms": percentile(&everything, 0.95), "p99_ms": percentile(&everything, 0.99),
            "max_ms": everything.last(), "load_alls": sync.0, "imports": imp0.0 + imp1.0,
            "longest_lock_wait_s": lock_max, "lock_waits_over_1s": lock_over,
            "plan_jobs": plans, "plan_job_p50_s": plan_p50, "plan_job_max_s": plan_max,
            "load_average_before": load_before, "load_average_after": load_after,
            "wal_bytes_end": wal_end, "wal_bytes_max": wal_max,
        });
        println!("{json}");
        errors > 0 || lock_over > 0 || writers.errors > 0
    });
    // The server and its database go first (an early exit would leave
    // them behind).
    drop(server);
    drop(dir);
    if failed {
        std::process::exit(1);
    }
}
