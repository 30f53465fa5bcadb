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
