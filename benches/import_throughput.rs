//! Import throughput, end to end over HTTP: starts the release server as a
//! separate process on a fresh database, loads 5,000 variants and two
//! warehouses, then uploads a 1,000,000-line sales-order CSV (about 333,000
//! orders of 1–5 lines) and uploads it again (all unchanged). Prints lines
//! per second and the server's peak RSS.
//!
//! Run: `cargo bench --bench import_throughput` (SQLite), and with
//! `BENCH_POSTGRES_URL=postgres:///tributary_bench?host=/var/run/postgresql`
//! for PostgreSQL (the database must exist and be empty). `BENCH_LINES`
//! changes the size.

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

fn start(database_url: &str, dir: &std::path::Path) -> Server {
    let exe = env!("CARGO_BIN_EXE_tributary");
    let env = [
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", "bench"),
        (
            "TRIBUTARY_SECRET_KEY",
            "0101010101010101010101010101010101010101010101010101010101010101",
        ),
        ("RUST_LOG", "info,actix_web=warn"),
    ];
    let status = Command::new(exe)
        .args([
            "user",
            "add",
            "--email",
            "bench@example.com",
            "--password",
            "bench-password",
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

fn sales_csv(lines: usize, variants: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 80);
    out.extend_from_slice(
        b"id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\n",
    );
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut written, mut order) = (0usize, 0usize);
    while written < lines {
        order += 1;
        let n = (1 + next() % 5) as usize;
        let day = order % 730;
        let (y, d) = (2024 + day / 365, day % 365);
        let month = 1 + d / 31 % 12;
        let dom = 1 + d % 28;
        let (hour, minute) = (next() % 24, next() % 60);
        for line in 1..=n.min(lines - written) {
            let v = next() as usize % variants;
            let q = 1 + next() % 4;
            writeln!(
                out,
                "SO-{order:07},{y}-{month:02}-{dom:02}T{hour:02}:{minute:02}:00Z,W{},EUR,{line},V-{v:05},{q},{}.{:02}",
                1 + order % 2,
                5 + next() % 90,
                next() % 100
            )
            .unwrap();
            written += 1;
        }
    }
    out
}

fn main() {
    let lines: usize = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let variants = 5_000;
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
        .build()
        .unwrap();
    let token: serde_json::Value = client
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&serde_json::json!({"email": "bench@example.com", "password": "bench-password"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let account: serde_json::Value = client
        .post(format!("{}/api/v1/accounts", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Bench store", "currency": "EUR"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = account["id"].as_str().unwrap().to_string();
    let post = |entity: &str, body: Vec<u8>| -> (f64, serde_json::Value) {
        let t = Instant::now();
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
        let status = resp.status();
        let json: serde_json::Value = resp.json().unwrap();
        assert!(
            status.is_success(),
            "{entity}: {status} {}",
            json.to_string().chars().take(500).collect::<String>()
        );
        (t.elapsed().as_secs_f64(), json)
    };
    post("warehouses", b"id,name\nW1,Main\nW2,Store\n".to_vec());
    let mut v = String::from("id,sku,title\n");
    for i in 0..variants {
        v.push_str(&format!("V-{i:05},SKU-{i:05},Item {i}\n"));
    }
    post("variants", v.into_bytes());
    let csv = sales_csv(lines, variants);
    let mb = csv.len() as f64 / 1e6;
    let (first, counts) = post("sales-orders", csv.clone());
    println!(
        "{backend}: first import  {lines} lines ({mb:.0} MB, {} orders) in {first:.2} s = {:.0} lines/s; server peak RSS {:.0} MB",
        counts["created"], lines as f64 / first, peak_rss_mb(server.child.id())
    );
    let (second, counts) = post("sales-orders", csv);
    println!(
        "{backend}: re-import     {lines} lines ({} unchanged) in {second:.2} s = {:.0} lines/s; server peak RSS {:.0} MB",
        counts["unchanged"], lines as f64 / second, peak_rss_mb(server.child.id())
    );
}
