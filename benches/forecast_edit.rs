//! A forecast edit on a category of 1,000 SKUs, from the `PUT` to the order
//! plan that reflects it. The organisation is `plan_master`'s (10 children
//! × 20,000 variants, 60 % of the SKUs shared under differently cased
//! codes, 1 M sale lines a child over 730 days, stock, open purchase
//! orders, imported through the CSV path), with one change: the shared
//! SKUs fall in categories of 1,000 (`Cat0` … `Cat11` at full scale; fewer
//! categories, still of 1,000, at a smaller `BENCH_SCALE`) and every
//! child's own SKUs in `Own`, so that one category holds 1,000 SKUs in a
//! child and 1,000 rows in the master. After a full replan
//! the server runs on that database and, several times each:
//!
//! 1. a child's edit (`+p %` on next month for `Cat3`): `PUT`, then the
//!    child's order plan read until it is fresh (a read waits for the
//!    replan it queues), then the master's (whose per-child figures
//!    follow);
//! 2. the master's own edit on `Cat3`: `PUT`, then the master's order plan.
//!
//! Each figure is checked: a `Cat3` line's explanation names the edit.
//! `BENCH_SCALE=0.1` scales variants and sale lines down; `BENCH_DB=path`
//! keeps the generated SQLite database for the next run;
//! `BENCH_POSTGRES_URL=postgres:///tributary_bench?host=/var/run/postgresql`
//! runs on PostgreSQL.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

use actix_web::web;
use chrono::{NaiveDate, Utc};
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};
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
/// SKUs a category holds (in a child, and rows in the master).
const CATEGORY_SIZE: usize = 1_000;
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

fn temp_csv(text: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(text).unwrap();
    f
}

/// Child `c`'s variants: (SKU, category). The shared SKUs have the same
/// codes, cased by child, and categories `Cat{i % 12}`; the child's own
/// are in `Own`.
fn variants_of(c: usize, n: usize) -> Vec<(String, String)> {
    let shared = (n as f64 * SHARED) as usize;
    let categories = categories(n);
    (0..n)
        .map(|i| {
            if i < shared {
                let code = format!("sku-{i:06}");
                let code = if c.is_multiple_of(2) {
                    code.to_uppercase()
                } else {
                    code
                };
                (code, format!("Cat{}", i % categories))
            } else {
                (format!("c{c}-own-{i:06}"), "Own".to_string())
            }
        })
        .collect()
}

/// How many categories of [`CATEGORY_SIZE`] the shared SKUs of `n` make.
fn categories(n: usize) -> usize {
    ((n as f64 * SHARED) as usize / CATEGORY_SIZE).max(1)
}

/// Variants per child at `scale` (enough for four categories at least).
fn variants_at(scale: f64) -> usize {
    ((VARIANTS as f64 * scale) as usize).max((4.0 * CATEGORY_SIZE as f64 / SHARED).ceil() as usize)
}

fn generate(db: &Db, today: NaiveDate, scale: f64) -> String {
    let mut conn = db.conn().unwrap();
    let added = users::add_user(&mut conn, EMAIL, PASSWORD, "Bench", "admin").unwrap();
    let variants = variants_at(scale);
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
        let skus = variants_of(c, variants);
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
        for (i, (s, cat)) in skus.iter().enumerate() {
            t.push_str(&format!(
                "v{i},{s},Item {i},V{},{cat},{}.50\n",
                1 + i % 2,
                1 + i % 40
            ));
        }
        run(&mut conn, Entity::Variants, t.into_bytes());
        let mut t = String::from("variant_id,warehouse_id,on_hand,allocated\n");
        for i in 0..skus.len() {
            t.push_str(&format!("v{i},W1,{},{}\n", rng.below(200), rng.below(5)));
        }
        run(&mut conn, Entity::Stock, t.into_bytes());
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
        let mut t = String::from(
            "id,kind,status,vendor_id,destination_warehouse_id,expected_at,line_id,variant_id,quantity\n",
        );
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
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let db = Db::connect(&url).unwrap();
    let t = Instant::now();
    let org = if reuse {
        use diesel::prelude::*;
        let mut conn = db.conn().unwrap();
        (*conn)
            .batch_execute("DELETE FROM plan_lines; DELETE FROM plan_details; DELETE FROM plans; DELETE FROM jobs; DELETE FROM forecast_edits; DELETE FROM forecast_edit_history;")
            .unwrap();
        tributary::db::schema::accounts::table
            .select(tributary::db::schema::accounts::organisation_id)
            .first::<String>(&mut *conn)
            .unwrap()
    } else {
        generate(&db, today, scale)
    };
    println!(
        "{backend}: {CHILDREN} children × {} variants ({} a category), {} in {:.1} s",
        variants_at(scale),
        (variants_at(scale) as f64 * SHARED) as usize / categories(variants_at(scale)),
        if reuse {
            "the kept BENCH_DB"
        } else {
            "generated through the import path"
        },
        t.elapsed().as_secs_f64()
    );
    let mut conn = db.conn().unwrap();
    let mut writer = db.conn().unwrap();
    let t = Instant::now();
    plans::compute_organisation(&mut conn, &org, Some(today), Some(&mut writer)).unwrap();
    println!("full replan: {:.1} s", t.elapsed().as_secs_f64());
    drop((conn, writer));

    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = url.clone();
    config.today = Some(today);
    config.secret_key = Some([7u8; 32]);
    config.jwt_secret = Some("bench-secret".into());
    config.secret_key_file = dir.path().join("bench.key");
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let state = web::Data::new(
            web::block(move || AppState::init(config))
                .await
                .unwrap()
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let server = spawn(state.clone(), listener).unwrap();
        actix_web::rt::spawn(server);
        let client = reqwest::Client::new();
        let token: Value = client
            .post(format!("{addr}/api/v1/auth/token"))
            .json(&json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["token"].as_str().unwrap().to_string();
        let accounts: Value = client
            .get(format!("{addr}/api/v1/accounts"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id_of = |master: bool| {
            accounts
                .as_array()
                .unwrap()
                .iter()
                .find(|a| (a["kind"] == "master") == master)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (master, child) = (id_of(true), id_of(false));
        let get = |path: String| {
            let (client, token, addr) = (client.clone(), token.clone(), addr.clone());
            async move {
                let resp = client
                    .get(format!("{addr}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "{path}: {}", resp.status());
                resp.json::<Value>().await.unwrap()
            }
        };
        // Reads until the plan is fresh (one read waits up to 10 s).
        let fresh = |account: String| {
            async move {
                loop {
                    let p = get(format!(
                        "/api/v1/accounts/{account}/order-plan?category=Cat3&per_page=1"
                    ))
                    .await;
                    if p["stale"] == false {
                        return p;
                    }
                }
            }
        };
        // A Cat3 SKU shared by every child.
        let sku = format!("SKU-{:06}", 3 + categories(variants_at(scale)) * 5);
        for (who, account, also) in [
            ("a child", child.clone(), Some(master.clone())),
            ("the master", master.clone(), None),
        ] {
            for (round, percent) in [50, 60, 70].into_iter().enumerate() {
                let t = Instant::now();
                let resp = client
                    .put(format!("{addr}/api/v1/accounts/{account}/forecast-edits"))
                    .bearer_auth(&token)
                    .json(&json!([{"target": {"category": "Cat3"}, "month": "2026-04", "kind": "percent", "value": percent}]))
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
                let put_ms = t.elapsed().as_secs_f64() * 1000.0;
                fresh(account.clone()).await;
                let own_ms = t.elapsed().as_secs_f64() * 1000.0;
                let line = get(format!("/api/v1/accounts/{account}/order-plan/{sku}")).await;
                assert_eq!(
                    line["explanation"]["edit"]["value"].as_f64(),
                    Some(percent as f64),
                    "{sku} on {who}: {}",
                    line["explanation"]["edit"]
                );
                let master_ms = match &also {
                    Some(m) => {
                        fresh(m.clone()).await;
                        format!(
                            ", the master's fresh at {:.0} ms",
                            t.elapsed().as_secs_f64() * 1000.0
                        )
                    }
                    None => String::new(),
                };
                println!(
                    "{who}'s edit of Cat3 (+{percent} %, round {}): PUT {put_ms:.0} ms, its order plan fresh at {own_ms:.0} ms{master_ms}",
                    round + 1
                );
            }
        }
    });
}
