//! Demand read, end to end over HTTP: starts the release server as a
//! separate process on a fresh database, builds an organisation of
//! `BENCH_CHILDREN` children (default 10) each holding `BENCH_VARIANTS`
//! variants (default 2,000) and `BENCH_LINES` sale lines (default 100,000;
//! one SKU in twenty lines is the hot `SKU-00000`), lets the plans settle,
//! then times `GET /api/v1/accounts/{master}/demand/{sku}` (day and week)
//! and the demand page for the hot SKU and a typical one (`SKU-<variants/2>`), printing p50 and
//! p95 of `BENCH_REPEAT` requests (default 30).
//!
//! Run: `cargo bench --bench demand_read` (SQLite), with
//! `BENCH_POSTGRES_URL=postgres:///tributary_bench?host=/var/run/postgresql`
//! for PostgreSQL (the database must exist and be empty).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn start(database_url: &str, dir: &std::path::Path) -> Server {
    let exe = env!("CARGO_BIN_EXE_tributary");
    let env = [
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", "bench"),
        (
            "TRIBUTARY_SECRET_KEY",
            "0101010101010101010101010101010101010101010101010101010101010101",
        ),
        ("TRIBUTARY_TODAY", "2026-01-01"),
        ("RUST_LOG", "warn"),
    ];
    let status = Command::new(exe)
        .args([
            "user",
            "add",
            "--email",
            "bench@example.com",
            "--password",
            "bench-password-1",
            "--organisation",
            "Bench",
        ])
        .envs(env)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("user add");
    assert!(status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(exe)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .envs(env)
        .current_dir(dir)
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, base }
}

/// `lines` sale lines over the 730 days before 2026-01-01; one line in
/// twenty is the hot variant `V-00000`.
fn sales_csv(seed: u64, lines: usize, variants: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 80);
    out.extend_from_slice(
        b"id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\n",
    );
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.wrapping_mul(0xA24B_AED4_963E_E407);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
    let (mut written, mut order) = (0usize, 0usize);
    while written < lines {
        order += 1;
        let n = (1 + next() % 5) as usize;
        let day = start + chrono::Duration::days((next() % 730) as i64);
        let (hour, minute) = (next() % 24, next() % 60);
        for line in 1..=n.min(lines - written) {
            let v = if next() % 20 == 0 {
                0
            } else {
                next() as usize % variants
            };
            let q = 1 + next() % 4;
            writeln!(
                out,
                "SO-{order:07},{day}T{hour:02}:{minute:02}:00Z,W1,EUR,{line},V-{v:05},{q},{}.{:02}",
                5 + next() % 90,
                next() % 100
            )
            .unwrap();
            written += 1;
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let children = env_or("BENCH_CHILDREN", 10);
    let variants = env_or("BENCH_VARIANTS", 2_000);
    let lines = env_or("BENCH_LINES", 100_000);
    let repeat = env_or("BENCH_REPEAT", 30);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let backend = if url.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    };
    let server = start(&url, dir.path());
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .cookie_store(true)
        .build()
        .unwrap();
    let token: serde_json::Value = client
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&serde_json::json!({"email": "bench@example.com", "password": "bench-password-1"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let post = |id: &str, entity: &str, body: Vec<u8>| {
        let resp = client
            .post(format!(
                "{}/api/v1/accounts/{id}/imports/{entity}",
                server.base
            ))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{entity}: {}", resp.status());
    };
    let t = Instant::now();
    let mut master = String::new();
    for c in 0..children {
        let acc: serde_json::Value = client
            .post(format!("{}/api/v1/accounts", server.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("Child {c}"), "currency": "EUR", "connection": {"kind": "manual"}}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = acc["id"].as_str().unwrap().to_string();
        if let Some(m) = acc["master_id"].as_str() {
            master = m.to_string();
        }
        post(&id, "warehouses", b"id,name\nW1,Main\n".to_vec());
        let mut v = String::from("id,sku,title\n");
        for i in 0..variants {
            v.push_str(&format!("V-{i:05},SKU-{i:05},Item {i}\n"));
        }
        post(&id, "variants", v.into_bytes());
        post(&id, "sales-orders", sales_csv(c as u64, lines, variants));
    }
    println!(
        "{backend}: {children} children × {variants} variants, {} sale lines loaded in {:.1} s",
        children * lines,
        t.elapsed().as_secs_f64()
    );
    // Let the plans settle (the first read waits for them).
    let t = Instant::now();
    loop {
        let b: serde_json::Value = client
            .get(format!(
                "{}/api/v1/accounts/{master}/order-plan?per_page=1",
                server.base
            ))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if b["stale"] == false {
            break;
        }
    }
    println!(
        "{backend}: plans computed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The login form carries a CSRF token bound to a pre-session cookie.
    let form = client
        .get(format!("{}/login", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = form
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    let resp = client
        .post(format!("{}/login", server.base))
        .form(&[
            ("email", "bench@example.com"),
            ("password", "bench-password-1"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let time = |label: &str, path: String, bearer: bool| {
        let mut ms = Vec::with_capacity(repeat);
        let mut extra = String::new();
        for i in 0..=repeat {
            let t = Instant::now();
            let mut req = client.get(format!("{}{path}", server.base));
            if bearer {
                req = req.bearer_auth(&token);
            }
            let resp = req.send().unwrap();
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            let body = resp.text().unwrap();
            let elapsed = t.elapsed().as_secs_f64() * 1e3;
            if i == 0 {
                // The first request warms caches; it is reported apart.
                extra = format!("first {elapsed:.1} ms, {} kB", body.len() / 1024);
                if bearer {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    extra.push_str(&format!(", sales_total {}", v["sales_total"]));
                }
                continue;
            }
            ms.push(elapsed);
        }
        ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{backend}: {label:<28} p50 {:>7.1} ms  p95 {:>7.1} ms  ({extra})",
            percentile(&ms, 0.5),
            percentile(&ms, 0.95)
        );
    };
    for sku in ["SKU-00000".to_string(), format!("SKU-{:05}", variants / 2)] {
        time(
            &format!("API day   {sku}"),
            format!("/api/v1/accounts/{master}/demand/{sku}"),
            true,
        );
        time(
            &format!("API week  {sku}"),
            format!("/api/v1/accounts/{master}/demand/{sku}?period=week"),
            true,
        );
        time(
            &format!("page day  {sku}"),
            format!("/accounts/{master}/demand/{sku}"),
            false,
        );
    }
}
