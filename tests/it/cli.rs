//! The command line, black-box: `tributary forecast` and `tributary user add`.

use std::process::Command;

fn tributary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
}

#[test]
fn forecast_writes_future_periods_in_the_input_date_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = String::from("series_id,period,quantity\n");
    for (i, q) in [10, 12, 14, 11, 13, 15, 12, 14, 16, 13, 15, 17]
        .iter()
        .enumerate()
    {
        csv.push_str(&format!("A,2025-{:02}-01,{q}\n", i + 1));
    }
    // A missing month counts as zero; B has a gap in March.
    csv.push_str("B,2025-01-01,5\nB,2025-02-01,5\nB,2025-04-01,5\n");
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("out.csv");
    let status = tributary()
        .args([
            "forecast",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "3",
            "--output",
            output.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::fs::read_to_string(&output).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("series_id,period,forecast,low,high,method")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    let a: Vec<&str> = rows.iter().filter(|r| r[0] == "A").map(|r| r[1]).collect();
    assert_eq!(a, vec!["2026-01-01", "2026-02-01", "2026-03-01"]);
    let b: Vec<&str> = rows.iter().filter(|r| r[0] == "B").map(|r| r[1]).collect();
    assert_eq!(b, vec!["2025-05-01", "2025-06-01", "2025-07-01"]);
    for r in &rows {
        let (f, lo, hi): (f64, f64, f64) = (
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
        );
        assert!(lo <= f && f <= hi, "{r:?}");
        assert!(lo >= 0.0, "demand intervals stay non-negative: {r:?}");
        assert!(!r[5].is_empty());
    }
}

#[test]
fn forecast_refuses_nan_and_infinity_naming_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["NaN", "inf", "-infinity"] {
        let input = dir.path().join("in.csv");
        std::fs::write(
            &input,
            format!(
                "series_id,period,quantity\nA,2025-01-01,1\nA,2025-02-01,2\nA,2025-03-01,{bad}\n"
            ),
        )
        .unwrap();
        let out = tributary()
            .args([
                "forecast",
                "--input",
                input.to_str().unwrap(),
                "--horizon",
                "2",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("line 4") && err.contains("quantity"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn forecast_survives_series_that_end_in_zeros_and_returns() {
    // Issue 8: one discontinued seasonal series (three years, the last six months 0, a return)
    // must not take the run down; every series gets finite, non-negative forecasts.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = String::from("series_id,period,quantity\n");
    for t in 0..37 {
        let phase = (t % 12) as f64 / 12.0 * std::f64::consts::TAU;
        let v = if t >= 31 {
            0.0
        } else {
            (100.0 + 2.0 * t as f64) * (1.0 + 0.2 * phase.sin())
        };
        csv.push_str(&format!(
            "STOP,{}-{:02}-01,{v}\n",
            2020 + t / 12,
            t % 12 + 1
        ));
        csv.push_str(&format!(
            "KEEP,{}-{:02}-01,{}\n",
            2020 + t / 12,
            t % 12 + 1,
            50 + t % 5
        ));
    }
    csv.push_str("RET,2020-01-01,3\nRET,2020-02-01,-5\nRET,2020-03-01,0\n");
    std::fs::write(&input, csv).unwrap();
    let out = tributary()
        .args([
            "forecast",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "6",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 18);
    for r in &rows {
        for v in &r[2..5] {
            let v: f64 = v.parse().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{r:?}");
        }
    }
}

#[test]
fn holdout_accuracy_on_the_australian_retail_data_meets_the_targets() {
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/aus_retail_monthly.csv"
    );
    let out = tributary()
        .args([
            "forecast",
            "--input",
            data,
            "--horizon",
            "12",
            "--holdout",
            "12",
            "--season",
            "12",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["series"], 152);
    let mase = report["mase"].as_f64().unwrap();
    let coverage = report["coverage80"].as_f64().unwrap();
    assert!(mase <= 0.86, "MASE {mase}");
    assert!((0.75..=0.85).contains(&coverage), "coverage {coverage}");
    for key in ["mae", "rmse", "rmsse", "bias", "seconds"] {
        assert!(report[key].is_number(), "{key} missing in {report}");
    }
}

#[test]
fn user_add_creates_the_organisation_and_is_safe_to_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        tributary()
            .args([
                "user",
                "add",
                "--email",
                "Ops@Example.com",
                "--password",
                "cli-password-1",
                "--organisation",
                "Ops",
            ])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("t.db").display()),
            )
            .env("TRIBUTARY_SECRET_KEY", "11".repeat(32))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("(new)"));
    let second = run();
    assert!(second.status.success());
    assert!(!String::from_utf8_lossy(&second.stdout).contains("(new)"));
}

/// A server process on a SQLite file, started from the built binary.
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

fn serve(dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tributary()
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        )
        .env("JWT_SECRET", "kill-test")
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

#[test]
fn a_server_killed_during_an_import_keeps_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let status = tributary()
        .args([
            "user",
            "add",
            "--email",
            "a@example.com",
            "--password",
            "cli-password-1",
            "--organisation",
            "Kill",
        ])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap();
    let server = serve(dir.path());
    let token: serde_json::Value = client
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&serde_json::json!({"email": "a@example.com", "password": "cli-password-1"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let account: serde_json::Value = client
        .post(format!("{}/api/v1/accounts", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Store", "currency": "EUR"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = account["id"].as_str().unwrap().to_string();
    let url = |entity: &str| format!("{}/api/v1/accounts/{id}/imports/{entity}", server.base);
    let post = |entity: &str, body: String| {
        client
            .post(url(entity))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    assert!(post("variants", "id,sku\nV1,SKU-1\nV2,SKU-2\n".into())
        .unwrap()
        .status()
        .is_success());
    let mut sales = String::from("id,ordered_at,line_id,variant_id,quantity\n");
    for i in 0..300_000 {
        sales.push_str(&format!(
            "SO-{i:07},2026-03-01T10:00:00Z,1,V{},{}\n",
            1 + i % 2,
            1 + i % 3
        ));
    }
    // Send the big import from another thread and kill the server while it works.
    let big = sales.clone();
    let (sender_url, sender_token) = (url("sales-orders"), token.clone());
    let sender = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(sender_url)
            .bearer_auth(sender_token)
            .header("content-type", "text/csv")
            .body(big)
            .send()
    });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let answer = sender.join().unwrap();
    assert!(
        answer.is_err() || !answer.unwrap().status().is_success(),
        "the import finished before the kill; make it bigger"
    );
    drop(server);

    // After a restart nothing of the interrupted import is there: the same
    // file creates every order, once.
    let server = serve(dir.path());
    let resp = client
        .post(format!(
            "{}/api/v1/accounts/{id}/imports/sales-orders",
            server.base
        ))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(sales)
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let counts: serde_json::Value = resp.json().unwrap();
    assert_eq!(counts["created"], 300_000);
    assert_eq!(counts["unchanged"], 0);
}
