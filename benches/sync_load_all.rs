//! Load-all benchmark: a master with 10 `tributary` children, each pulling
//! one child account of a second server over loopback. Measures the first
//! full "Load data from all connections" and the replan that follows, then
//! an incremental one after 1 % of each source's variants and orders
//! changed.
//!
//! Target size (issue #11): 20,000 variants and 1,000,000 sale lines per
//! child. The default here is a tenth of that; set `SYNC_BENCH_VARIANTS`
//! and `SYNC_BENCH_LINES` (per child) for other sizes, `SYNC_BENCH_CHILDREN`
//! for another number of children.
//!
//! `SYNC_BENCH_POSTGRES_URL=postgres:///tributary_bench?host=/var/run/postgresql`
//! puts the syncing server on PostgreSQL (the database is created fresh; the
//! source stays on SQLite). `SYNC_BENCH_SOURCE=dir` keeps the generated source
//! server's database in `dir` and reuses it while it exists (each run's
//! incremental change is then one version past the last one). `RUST_LOG=
//! tributary=info` logs each plan as it is stored.
//!
//! Run: `cargo bench --bench sync_load_all`.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use tributary::config::Config;
use tributary::db::models::Account;
use tributary::import::Entity;
use tributary::jobs::Job;
use tributary::services::imports::{self, Body};
use tributary::services::{accounts, plans, sync, users};
use tributary::startup::{spawn, AppState};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &std::path::Path, name: &str, url: Option<String>) -> Config {
    let mut c = Config::from_lookup(|_| None).unwrap();
    c.database_url =
        url.unwrap_or_else(|| format!("sqlite://{}", dir.join(format!("{name}.db")).display()));
    c.secret_key = Some([7u8; 32]);
    c.jwt_secret = Some("bench".into());
    c.secret_key_file = dir.join(format!("{name}.key"));
    c.today = Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    c.sync.page_size = 10_000;
    c.sync.parallel = 4;
    // Source and target talk over loopback.
    c.sync.allow_private = true;
    c
}

fn import(state: &AppState, account: &Account, entity: Entity, records: &[Value]) {
    let mut conn = state.db.conn().unwrap();
    for chunk in records.chunks(50_000) {
        let mut body = tempfile::tempfile().unwrap();
        serde_json::to_writer(&mut body, chunk).unwrap();
        std::io::Seek::rewind(&mut body).unwrap();
        imports::run(
            &mut conn,
            account,
            "bench",
            entity,
            Body::Json(body),
            Utc::now(),
        )
        .unwrap();
    }
}

fn orders(child: usize, variants: usize, lines: usize, version: u32) -> Vec<Value> {
    let per = 5;
    (0..lines / per)
        .map(|o| {
            let day = o % 365;
            json!({"id": format!("O{o}"), "ordered_at": format!("{}T10:00:00Z",
                    chrono::NaiveDate::from_ymd_opt(2025, 12, 1).unwrap() + chrono::Duration::days(day as i64)),
                "warehouse_id": "W1", "currency": "EUR",
                "lines": (0..per).map(|l| json!({"id": l.to_string(),
                    "variant_id": format!("V{}", (o * 7 + l * 13 + child) % variants),
                    "quantity": 1 + (o + l + version as usize) % 3, "unit_price": 9.5})).collect::<Vec<_>>()})
        })
        .collect()
}

fn variants(n: usize, version: u32) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("V{i}"), "sku": format!("SKU-{i}"), "title": format!("Item {i} v{version}"),
            "cost_price": 2.5, "retail_price": 9.5}))
        .collect()
}

fn wait_plans(state: &AppState, org: &str) {
    let today = state.config.today;
    loop {
        let mut conn = state.db.conn().unwrap();
        let all = Account::list_by_organisation(&mut conn, org).unwrap();
        if all
            .iter()
            .all(|a| !plans::is_stale(&mut conn, a, today).unwrap())
        {
            return;
        }
        drop(conn);
        state.jobs.wake();
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn load_all(state: &AppState, master: &Account) -> Job {
    let mut conn = state.db.conn().unwrap();
    let id = sync::enqueue(&mut conn, master).unwrap();
    state.jobs.wake();
    loop {
        let job = Job::find(&mut conn, &id).unwrap().unwrap();
        if !matches!(job.status.as_str(), "queued" | "running") {
            return job;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    let children = env("SYNC_BENCH_CHILDREN", 10);
    let n_variants = env("SYNC_BENCH_VARIANTS", 2_000);
    let n_lines = env("SYNC_BENCH_LINES", 100_000);
    let dir = tempfile::tempdir().unwrap();
    common::init_logging();
    let kept = std::env::var("SYNC_BENCH_SOURCE")
        .ok()
        .map(std::path::PathBuf::from);
    let source_dir = kept.clone().unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&source_dir).unwrap();
    let reuse = kept.is_some() && source_dir.join("source.db").exists();
    let version_file = source_dir.join("version");
    let last_version: u32 = std::fs::read_to_string(&version_file)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let target_url = std::env::var("SYNC_BENCH_POSTGRES_URL")
        .ok()
        .map(|u| common::fresh_postgres(&u));
    let backend = if target_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    actix_web::rt::System::new().block_on(async move {
        let source = actix_web::web::Data::new(
            AppState::init(config(&source_dir, "source", None)).unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        actix_web::rt::spawn(spawn(source.clone(), listener).unwrap());
        let target = AppState::init(config(dir.path(), "target", target_url)).unwrap();

        let src = source.clone();
        let (src_org, src_children, key) = actix_web::web::block(move || {
            let mut conn = src.db.conn().unwrap();
            let started = Instant::now();
            let (org, user, made) = if reuse {
                use diesel::prelude::*;
                use tributary::db::schema::users as u;
                let (user, org): (String, String) = u::table
                    .filter(u::email.eq("bench@source.example"))
                    .select((u::id, u::organisation_id))
                    .first(&mut conn)
                    .unwrap();
                let made: Vec<Account> = Account::list_by_organisation(&mut conn, &org)
                    .unwrap()
                    .into_iter()
                    .filter(|a| !a.is_master())
                    .collect();
                assert_eq!(made.len(), children, "the kept source has another number of children");
                eprintln!("reusing the kept source ({} children, last change version {last_version})", made.len());
                (org, user, made)
            } else {
                let u = users::add_user(&mut conn, "bench@source.example", "bench-password-1", "Source", "admin").unwrap();
                let org = u.organisation_id.clone();
                let mut made = Vec::new();
                for c in 0..children {
                    let input = accounts::NewChild { name: format!("Shop {c}"), currency: "EUR".into(), timezone: None, connection: None };
                    let a = accounts::create_child(&mut conn, &org, &input, &src.secrets, &src.config.sync).unwrap();
                    import(&src, &a, Entity::Warehouses, &[json!({"id": "W1", "name": "Main"})]);
                    import(&src, &a, Entity::Variants, &variants(n_variants, 0));
                    let stock: Vec<Value> = (0..n_variants)
                        .map(|i| json!({"variant_id": format!("V{i}"), "warehouse_id": "W1", "on_hand": i % 50}))
                        .collect();
                    import(&src, &a, Entity::Stock, &stock);
                    import(&src, &a, Entity::SalesOrders, &orders(c, n_variants, n_lines, 0));
                    made.push(a);
                }
                eprintln!("generated {children} source children ({n_variants} variants, {n_lines} sale lines each) in {:.1} s", started.elapsed().as_secs_f64());
                (org, u.user_id, made)
            };
            let key = format!("trb_{}", tributary::crypto::random_token(40));
            let hash = tributary::crypto::hash_api_key(&key);
            tributary::db::models::api_key::ApiKey::insert(
                &mut conn,
                &tributary::db::models::api_key::NewApiKey {
                    id: &tributary::crypto::new_id("key"),
                    organisation_id: &org,
                    user_id: &user,
                    name: "bench",
                    key_hash: &hash,
                    account_ids: None,
                    read_only: true,
                    created_at: Utc::now().naive_utc(),
                },
            )
            .unwrap();
            (org, made, key)
        })
        .await
        .unwrap();
        let src = source.clone();
        let org = src_org.clone();
        let t = Instant::now();
        actix_web::web::block(move || wait_plans(&src, &org)).await.unwrap();
        eprintln!("source plans ready in {:.1} s (not measured)", t.elapsed().as_secs_f64());

        let report = actix_web::web::block(move || {
            let mut conn = target.db.conn().unwrap();
            let u = users::add_user(&mut conn, "bench@target.example", "bench-password-1", "Target", "admin").unwrap();
            let org = u.organisation_id.clone();
            for (c, a) in src_children.iter().enumerate() {
                let input = accounts::NewChild {
                    name: format!("Remote {c}"),
                    currency: "EUR".into(),
                    timezone: None,
                    connection: Some(json!({"kind": "tributary", "base_url": addr, "account_id": a.id, "api_key": key})),
                };
                accounts::create_child(&mut conn, &org, &input, &target.secrets, &target.config.sync).unwrap();
            }
            let all = Account::list_by_organisation(&mut conn, &org).unwrap();
            let master = all.iter().find(|a| a.is_master()).unwrap().clone();
            drop(conn);
            wait_plans(&target, &org);

            let t = Instant::now();
            let job = load_all(&target, &master);
            let synced = t.elapsed().as_secs_f64();
            wait_plans(&target, &org);
            let full = t.elapsed().as_secs_f64();
            assert_eq!(job.status, tributary::jobs::JobStatus::Succeeded, "{}", job.detail);

            // 1 % of each source's variants and orders change.
            let version = last_version + 1;
            for (c, a) in src_children.iter().enumerate() {
                let changed: Vec<Value> = variants(n_variants, version).into_iter().take(n_variants / 100).collect();
                import(&source, a, Entity::Variants, &changed);
                let o = orders(c, n_variants, n_lines, version);
                let n = o.len() / 100;
                import(&source, a, Entity::SalesOrders, &o[..n]);
            }
            std::fs::write(&version_file, version.to_string()).unwrap();
            wait_plans(&source, &src_org);
            let t = Instant::now();
            let job2 = load_all(&target, &master);
            let synced2 = t.elapsed().as_secs_f64();
            wait_plans(&target, &org);
            let incr = t.elapsed().as_secs_f64();
            assert_eq!(job2.status, tributary::jobs::JobStatus::Succeeded, "{}", job2.detail);
            let written: u64 = serde_json::from_str::<Vec<sync::ChildStatus>>(&job2.detail)
                .unwrap()
                .iter()
                .map(|c| c.records)
                .sum();
            format!(
                "{{\"target\": \"{backend}\", \"children\": {children}, \"variants_per_child\": {n_variants}, \"sale_lines_per_child\": {n_lines}, \
                 \"full_sync_s\": {synced:.2}, \"full_sync_and_replan_s\": {full:.2}, \
                 \"incremental_sync_s\": {synced2:.2}, \"incremental_sync_and_replan_s\": {incr:.2}, \"incremental_records_written\": {written}}}"
            )
        })
        .await
        .unwrap();
        println!("{report}");
    });
}
