//! The master plan at scale: a generated organisation of 10 children ×
//! 20,000 variants (60 % of the SKUs shared between children, the shared
//! ones under differently cased codes), 730 days of sales (≈ 10 M sale
//! lines), stock levels and open purchase orders, imported through the CSV
//! path. Then:
//!
//! 1. a full replan of every child and the master (`compute_organisation`),
//!    timed, with the process's peak resident memory (VmHWM);
//! 2. the server on that database: `GET /api/v1/accounts/{master}/order-plan`
//!    for 100 rows under every sort and several filters, the explanation of
//!    a line, the supply plan (the all-SKU list's first page, one SKU, the
//!    CSV), the order-plan page, and the demand analysis (API and page) of
//!    the most sold SKU and a typical one, each timed over many requests
//!    (p50, p95).
//!
//! `BENCH_POSTGRES_URL=postgres:///tributary_bench?host=/var/run/postgresql`
//! runs it on PostgreSQL (the database is created fresh); `BENCH_SCALE=0.1`
//! scales the variants and sale lines down for a quick run; `BENCH_DB=path`
//! keeps the generated SQLite database and reuses it on the next run;
//! `BENCH_REPLAN_ONLY=1` stops after the replan (for profiling it);
//! `BENCH_SUPPLY_ONLY=1` stops after the supply-plan reads;
//! `BENCH_KEEP_PLANS=1` (with `BENCH_DB`) skips the replan and reads the
//! plans the kept database holds.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::web;
use chrono::{NaiveDate, Utc};
use diesel::connection::SimpleConnection;
use tributary::config::Config;
use tributary::db::Db;
use tributary::import::Entity;
use tributary::services::accounts::{create_child, NewChild};
use tributary::services::imports::{self, Body};
use tributary::services::{plans, users};
use tributary::startup::{spawn, AppState};

const CHILDREN: usize = 10;
const VARIANTS: usize = 20_000;
const SHARED: f64 = 0.6;
const DAYS: i64 = 730;
const LINES_PER_CHILD: usize = 1_000_000;
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench-password-1";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Resets the peak resident memory (VmHWM) to the current one, so that the
/// replan's peak is measured apart from the import's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn temp_csv(text: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(text).unwrap();
    f
}

/// The variants of child `c`: the shared SKUs (the same codes, cased by
/// child) and its own.
fn variant_skus(c: usize, n: usize) -> Vec<String> {
    let shared = (n as f64 * SHARED) as usize;
    (0..n)
        .map(|i| {
            if i < shared {
                let code = format!("sku-{i:06}");
                if c.is_multiple_of(2) {
                    code.to_uppercase()
                } else {
                    code
                }
            } else {
                format!("c{c}-own-{i:06}")
            }
        })
        .collect()
}

fn generate(db: &Db, today: NaiveDate, scale: f64) -> String {
    let mut conn = db.conn().unwrap();
    let added = users::add_user(&mut conn, EMAIL, PASSWORD, "Bench", "admin").unwrap();
    let variants = ((VARIANTS as f64 * scale) as usize).max(10);
    let lines = ((LINES_PER_CHILD as f64 * scale) as usize).max(100);
    let secrets = tributary::crypto::SecretBox::new(&[7u8; 32]);
    let start = today - chrono::Duration::days(DAYS);
    for c in 0..CHILDREN {
        let account = create_child(
            &mut conn,
            &added.organisation_id,
            &NewChild {
                name: format!("Child {c}"),
                currency: "EUR".into(),
                timezone: None,
                connection: None,
            },
            &secrets,
            &tributary::config::SyncConfig::default(),
        )
        .unwrap();
        let mut rng = Rng(1000 + c as u64);
        let skus = variant_skus(c, variants);
        let run = |conn: &mut _, entity, text: Vec<u8>| {
            imports::run(
                conn,
                &account,
                EMAIL,
                entity,
                Body::Csv(temp_csv(&text)),
                Utc::now(),
            )
            .unwrap_or_else(|e| panic!("{entity:?}: {e:?}"));
        };
        run(
            &mut conn,
            Entity::Warehouses,
            b"id,name\nW1,Main\nW2,Store\n".to_vec(),
        );
        run(
            &mut conn,
            Entity::Vendors,
            b"id,name,lead_time_days,minimum_order_quantity,pack_size\nV1,Acme,14,10,5\nV2,Globex,30,,\n"
                .to_vec(),
        );
        let mut t = String::from("id,sku,title,vendor_id,category,cost_price\n");
        for (i, s) in skus.iter().enumerate() {
            t.push_str(&format!(
                "v{i},{s},Item {i},V{},Cat{},{}.50\n",
                1 + i % 2,
                i % 20,
                1 + i % 40
            ));
        }
        run(&mut conn, Entity::Variants, t.into_bytes());
        let mut t = String::from("variant_id,warehouse_id,on_hand,allocated\n");
        for i in 0..skus.len() {
            t.push_str(&format!("v{i},W1,{},{}\n", rng.below(200), rng.below(5)));
        }
        run(&mut conn, Entity::Stock, t.into_bytes());
        // Sales: popularity falls off with the variant's rank; three lines
        // an order on average.
        let mut t =
            String::from("id,ordered_at,warehouse_id,line_id,variant_id,quantity,unit_price\n");
        let mut written = 0;
        let mut order = 0;
        while written < lines {
            order += 1;
            let day = start + chrono::Duration::days(rng.below(DAYS as u64) as i64);
            let wh = if rng.below(4) == 0 { "W2" } else { "W1" };
            let n = 1 + rng.below(5) as usize;
            for l in 0..n {
                let r = rng.below(1_000_000) as f64 / 1_000_000.0;
                let i = ((r * r) * skus.len() as f64) as usize;
                t.push_str(&format!(
                    "o{order},{day}T10:00:00Z,{wh},{l},v{i},{},9.99\n",
                    1 + rng.below(3)
                ));
                written += 1;
            }
        }
        run(&mut conn, Entity::SalesOrders, t.into_bytes());
        let mut t = String::from("id,kind,status,vendor_id,destination_warehouse_id,expected_at,line_id,variant_id,quantity\n");
        for i in (0..skus.len()).step_by(50) {
            t.push_str(&format!(
                "po{i},purchase,active,V1,W1,{},1,v{i},{}\n",
                today + chrono::Duration::days(1 + (i % 20) as i64),
                10 + i % 30
            ));
        }
        run(&mut conn, Entity::StockOrders, t.into_bytes());
    }
    added.organisation_id
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

/// Waits (at most 5 s) until `n` order-plan views are held.
async fn held(state: &AppState, n: usize) {
    let t = Instant::now();
    while state.db.plan_orders().held().0 < n && t.elapsed() < Duration::from_secs(5) {
        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
    }
}

fn main() {
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    common::init_logging();
    let today: NaiveDate = "2026-03-01".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("BENCH_POSTGRES_URL") {
        Ok(url) => common::fresh_postgres(&url),
        Err(_) => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    // `BENCH_DB=path.db` keeps the generated SQLite database between runs
    // (generated once, reused while it exists).
    let kept = std::env::var("BENCH_DB")
        .ok()
        .filter(|_| !url.starts_with("postgres"));
    let url = kept
        .as_ref()
        .map(|p| format!("sqlite://{p}"))
        .unwrap_or(url);
    let reuse = kept
        .as_ref()
        .is_some_and(|p| std::path::Path::new(p).exists());
    let db = Db::connect(&url).unwrap();
    let t = Instant::now();
    let org = if reuse {
        use diesel::prelude::*;
        let mut conn = db.conn().unwrap();
        tributary::db::schema::accounts::table
            .select(tributary::db::schema::accounts::organisation_id)
            .first::<String>(&mut *conn)
            .unwrap()
    } else {
        generate(&db, today, scale)
    };
    let generated = t.elapsed().as_secs_f64();
    let mut conn = db.conn().unwrap();
    let lines: i64 = {
        use diesel::prelude::*;
        tributary::db::schema::sales_order_lines::table
            .count()
            .get_result(&mut *conn)
            .unwrap()
    };
    println!(
        "{backend}: generated {CHILDREN} children × {} variants, {lines} sale lines in {generated:.1} s ({})",
        ((VARIANTS as f64 * scale) as usize).max(10),
        if reuse { "the kept BENCH_DB" } else { "import path" }
    );
    // `BENCH_KEEP_PLANS=1` with a kept database measures the reads on the
    // plans its last run stored, without replanning.
    let keep_plans = reuse && std::env::var("BENCH_KEEP_PLANS").is_ok();
    if reuse && !keep_plans {
        // A kept database has its plans from the last run: drop them, so
        // that the replan below computes every plan again.
        (*conn)
            .batch_execute("DELETE FROM plan_lines; DELETE FROM plan_details; DELETE FROM plans; DELETE FROM jobs;")
            .unwrap();
    }
    let rss_before = peak_rss_mib();
    reset_peak_rss();
    let t = Instant::now();
    let mut writer = db.conn().unwrap();
    let planned = if keep_plans {
        0
    } else {
        plans::compute_organisation(&mut conn, &org, Some(today), Some(&mut writer)).unwrap()
    };
    let replan = t.elapsed().as_secs_f64();
    println!(
        "full replan of {planned} plans (children and master): {replan:.2} s; peak RSS during it {:.0} MiB (peak before it, the import's {rss_before:.0} MiB)",
        peak_rss_mib()
    );
    drop(conn);
    if std::env::var("BENCH_REPLAN_ONLY").is_ok() {
        return;
    }

    // The server on the same database.
    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = url.clone();
    config.today = Some(today);
    config.secret_key = Some([7u8; 32]);
    config.jwt_secret = Some("bench-secret".into());
    config.secret_key_file = dir.path().join("bench.key");
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let state = web::Data::new(web::block(move || AppState::init(config)).await.unwrap().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let server = spawn(state.clone(), listener).unwrap();
        actix_web::rt::spawn(server);
        let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let token: serde_json::Value = client
            .post(format!("{addr}/api/v1/auth/token"))
            .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["token"].as_str().unwrap().to_string();
        let accounts: serde_json::Value = client
            .get(format!("{addr}/api/v1/accounts"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let master = accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "master")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut queries: Vec<String> = tributary::db::models::planning::SORT_FIELDS
            .iter()
            .flat_map(|f| [format!("sort={f}"), format!("sort={f}&order=desc")])
            .collect();
        queries.extend(
            [
                "vendor=Acme",
                "category=Cat3",
                "urgency=now",
                "urgency=soon&sort=order_value&order=desc",
                "q=sku-0001",
                "q=own&sort=available",
                "page=50",
                "tag=none",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let time = |url: String, bearer: Option<String>| {
            let client = client.clone();
            async move {
                let t = Instant::now();
                let mut req = client.get(url);
                if let Some(b) = bearer {
                    req = req.bearer_auth(b);
                }
                let resp = req.send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                let _ = resp.bytes().await.unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            }
        };
        // Warm up once (the plan is fresh: nothing is recomputed).
        time(format!("{addr}/api/v1/accounts/{master}/order-plan?per_page=100"), Some(token.clone())).await;
        let mut api = Vec::new();
        for _ in 0..5 {
            for q in &queries {
                api.push(
                    time(
                        format!("{addr}/api/v1/accounts/{master}/order-plan?per_page=100&{q}"),
                        Some(token.clone()),
                    )
                    .await,
                );
            }
        }
        println!(
            "order-plan API, 100 rows of the master, {} requests over {} sorts/filters: p50 {:.1} ms, p95 {:.1} ms",
            api.len(),
            queries.len(),
            percentile(api.clone(), 0.5),
            percentile(api, 0.95)
        );
        let mut ex = Vec::new();
        for i in (0..200).step_by(3) {
            ex.push(
                time(
                    format!("{addr}/api/v1/accounts/{master}/order-plan/SKU-{i:06}"),
                    Some(token.clone()),
                )
                .await,
            );
        }
        println!(
            "explanation: p50 {:.1} ms, p95 {:.1} ms",
            percentile(ex.clone(), 0.5),
            percentile(ex, 0.95)
        );
        // The supply plan (issue: the master's all-SKU list, 26 weeks, first
        // page p95 ≤ 100 ms): the first page under several filters, one
        // SKU's weeks, and every row as CSV.
        let supply_queries = ["", "vendor=Acme", "category=Cat3", "q=sku-0001", "tag=none", "vendor=Globex"];
        let (mut sp, mut op) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            for q in supply_queries {
                // The same rows of the order plan, for comparison.
                op.push(
                    time(
                        format!("{addr}/api/v1/accounts/{master}/order-plan?per_page=50&{q}"),
                        Some(token.clone()),
                    )
                    .await,
                );
                sp.push(
                    time(
                        format!("{addr}/api/v1/accounts/{master}/supply-plan?weeks=26&{q}"),
                        Some(token.clone()),
                    )
                    .await,
                );
            }
        }
        println!(
            "supply-plan API, first page (50 rows) of the master, 26 weeks, {} requests over {} filters: p50 {:.1} ms, p95 {:.1} ms",
            sp.len(),
            supply_queries.len(),
            percentile(sp.clone(), 0.5),
            percentile(sp, 0.95)
        );
        println!(
            "order-plan API, the same 50 rows, interleaved with those: p50 {:.1} ms, p95 {:.1} ms",
            percentile(op.clone(), 0.5),
            percentile(op, 0.95)
        );
        let mut one = Vec::new();
        for i in (0..200).step_by(3) {
            one.push(
                time(
                    format!("{addr}/api/v1/accounts/{master}/supply-plan/SKU-{i:06}?weeks=104"),
                    Some(token.clone()),
                )
                .await,
            );
        }
        println!(
            "supply plan of one SKU, 104 weeks: p50 {:.1} ms, p95 {:.1} ms",
            percentile(one.clone(), 0.5),
            percentile(one, 0.95)
        );
        let csv = time(
            format!("{addr}/api/v1/accounts/{master}/supply-plan?weeks=26&format=csv"),
            Some(token.clone()),
        )
        .await;
        println!("supply-plan CSV of every master row, 26 weeks: {csv:.0} ms");
        if std::env::var("BENCH_SUPPLY_ONLY").is_ok() {
            return;
        }
        // The page, with a session: log in through the form.
        let login = client.get(format!("{addr}/login")).send().await.unwrap().text().await.unwrap();
        let csrf = login
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        let resp = client
            .post(format!("{addr}/login"))
            .form(&[("email", EMAIL), ("password", PASSWORD), ("csrf_token", csrf.as_str()), ("next", "/accounts")])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success() || resp.status().is_redirection());
        // Each view read a first and a second time by the database (the
        // second works its order out), then held (`db::plan_orders`).
        state.db.plan_orders().clear();
        for pass in ["first read of each view", "second read", "a held view"] {
            if pass == "a held view" {
                held(&state, 24).await;
            }
            let mut page = Vec::new();
            for q in queries.iter().take(24) {
                page.push(time(format!("{addr}/accounts/{master}/order-plan?per_page=100&{q}"), None).await);
            }
            println!(
                "order-plan page, 100 rows, {pass}: p50 {:.1} ms, p95 {:.1} ms",
                percentile(page.clone(), 0.5),
                percentile(page, 0.95)
            );
        }
        // Demand analysis of one SKU on the master (issue: ≤ 100 ms): the
        // most sold SKU (rank 0; sold by every child) and a typical shared one.
        let typical = ((VARIANTS as f64 * scale) as usize).max(10) / 4;
        for (what, sku) in [("hot", "SKU-000000".to_string()), ("typical", format!("SKU-{typical:06}"))] {
            for period in ["day", "week", "month"] {
                let mut t = Vec::new();
                for _ in 0..15 {
                    t.push(
                        time(
                            format!("{addr}/api/v1/accounts/{master}/demand/{sku}?period={period}"),
                            Some(token.clone()),
                        )
                        .await,
                    );
                }
                println!(
                    "demand API, {what} SKU {sku}, period={period}: p50 {:.1} ms, p95 {:.1} ms",
                    percentile(t.clone(), 0.5),
                    percentile(t, 0.95)
                );
            }
            let mut t = Vec::new();
            for _ in 0..15 {
                t.push(time(format!("{addr}/accounts/{master}/demand/{sku}"), None).await);
            }
            println!(
                "demand page, {what} SKU {sku}: p50 {:.1} ms, p95 {:.1} ms",
                percentile(t.clone(), 0.5),
                percentile(t, 0.95)
            );
        }
        // Incremental replanning (issue: ≤ 1 s): 15 new orders on 8 SKUs of
        // one child, from the import's answer to the master's order plan
        // reflecting them (a read waits for the replan it queues).
        let child = accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] != "master")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        // The 8 most sold SKUs (about 57,000 lines each in this child) and 8
        // typical ones.
        let typical_from = ((VARIANTS as f64 * scale) as usize).max(10) / 4;
        for (round, (what, first)) in [("most sold", 0), ("most sold", 0), ("typical", typical_from), ("typical", typical_from)]
            .into_iter()
            .enumerate()
        {
            let orders: Vec<serde_json::Value> = (0..15)
                .map(|i| {
                    serde_json::json!({
                        "id": format!("inc-{}-{round}-{i}", Utc::now().timestamp()),
                        "ordered_at": format!("{}T09:00:00Z", today - chrono::Duration::days(1)),
                        "warehouse_id": "W1",
                        "lines": [{"id": "1", "variant_id": format!("v{}", first + i % 8), "quantity": 2, "unit_price": "9.99"}]
                    })
                })
                .collect();
            let resp = client
                .put(format!("{addr}/api/v1/accounts/{child}/sales-orders"))
                .bearer_auth(&token)
                .json(&orders)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            let t = Instant::now();
            let plan: serde_json::Value = client
                .get(format!("{addr}/api/v1/accounts/{master}/order-plan?per_page=1"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            println!(
                "15 new orders on 8 {what} SKUs of one child → the master's order plan fresh (stale: {}) in {:.0} ms",
                plan["stale"],
                t.elapsed().as_secs_f64() * 1000.0
            );
        }
        // The order-plan page while every plan is recomputed whole.
        let replan_db = state.db.clone();
        let org2 = org.clone();
        let replan = std::thread::spawn(move || {
            let mut conn = replan_db.conn().unwrap();
            let t = Instant::now();
            let accounts = tributary::db::models::Account::list_by_organisation(&mut conn, &org2).unwrap();
            for a in accounts.iter().filter(|a| !a.is_master()).chain(accounts.iter().filter(|a| a.is_master())) {
                plans::compute_full(&mut conn, a, Some(today), None, &mut |_, _| {}).unwrap();
            }
            t.elapsed().as_secs_f64()
        });
        // Each view three times: first with nothing held (the orders
        // dropped), as the first read of a view finds it; a second time,
        // which works its order out; then held.
        let (mut during, mut first) = (Vec::new(), Vec::new());
        while !replan.is_finished() {
            for q in queries.iter().take(24) {
                let url = format!("{addr}/accounts/{master}/order-plan?per_page=100&{q}");
                state.db.plan_orders().clear();
                first.push(time(url.clone(), None).await);
                let _ = time(url.clone(), None).await;
                held(&state, 1).await;
                during.push(time(url, None).await);
            }
        }
        let took = replan.join().unwrap();
        for (what, t) in [("a held view", during), ("nothing held", first)] {
            println!(
                "order-plan page during a full replan of every plan ({took:.1} s), {what} ({} requests): p50 {:.1} ms, p95 {:.1} ms",
                t.len(),
                percentile(t.clone(), 0.5),
                percentile(t, 0.95)
            );
        }
        let _ = Duration::from_secs(0);
    });
}
