//! The catalogue calibration of an account's plan lines: fitted once per
//! planning date when the plan is first computed whole, stored, and read by
//! every replan of that date (whole or incremental), so that a line's
//! safety stock reads the calibrated lead-time distribution and an
//! incremental replan still equals a whole one row for row.

use serde_json::{json, Value};

use crate::plans::put;
use crate::TestApp;
use tributary::db::models::calibration::{self as store, StoredCalibration};
use tributary::db::models::planning::{LineDetail, PlanLineRow};
use tributary::forecast::Calibration;
use tributary::planning::calibrate;

const TODAY: &str = "2026-03-01";

fn today() -> chrono::NaiveDate {
    TODAY.parse().unwrap()
}

/// `per_day` units of `variant` sold every day of `days` days from `from`,
/// every third day double (irregular demand: a textbook safety stock above 0).
fn sales(prefix: &str, variant: &str, per_day: u32, from: &str, days: i64) -> Vec<Value> {
    let start: chrono::NaiveDate = from.parse().unwrap();
    (0..days)
        .map(|i| {
            let d = start + chrono::Duration::days(i);
            let q = if i % 3 == 0 { 2 * per_day } else { per_day };
            json!({"id": format!("{prefix}-{i}"), "ordered_at": format!("{d}T12:00:00Z"), "warehouse_id": "W1",
                   "lines": [{"id": "1", "variant_id": variant, "quantity": q, "unit_price": "10"}]})
        })
        .collect()
}

/// A shop of three SKUs in stock with irregular sales every day of 2026 to
/// 2026-02-28.
async fn shop() -> (TestApp, String, String) {
    let app = TestApp::spawn_with(|c| c.today = Some(today())).await;
    let token = app.admin("Acme").await;
    let shop = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &app,
        &token,
        &shop,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    put(
        &app,
        &token,
        &shop,
        "vendors",
        json!([{"id": "ACME", "name": "Acme", "lead_time_days": 10}]),
    )
    .await;
    let variants: Vec<Value> = ["LAMP", "TENT", "BAG"]
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"id": format!("V{i}"), "sku": s, "vendor_id": "ACME"}))
        .collect();
    put(&app, &token, &shop, "variants", Value::Array(variants)).await;
    let stock: Vec<Value> = (0..3)
        .map(|i| {
            json!({"variant_id": format!("V{i}"), "warehouse_id": "W1", "on_hand": 1000 + 7 * i,
                        "allocated": 0, "updated_at": "2026-01-01T00:00:00Z"})
        })
        .collect();
    put(&app, &token, &shop, "stock", Value::Array(stock)).await;
    let mut orders = Vec::new();
    for i in 0..3 {
        orders.extend(sales(
            &format!("SO{i}"),
            &format!("V{i}"),
            1 + i as u32,
            "2026-01-01",
            59,
        ));
    }
    put(&app, &token, &shop, "sales-orders", Value::Array(orders)).await;
    (app, token, shop)
}

/// The order plan, brought up to date by the read.
async fn plan(app: &TestApp, token: &str, account: &str) -> Value {
    let (s, b) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{account}/order-plan"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["stale"], false, "{b}");
    b
}

/// Runs `f` on a connection of the app's database.
async fn with_conn<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut tributary::db::DbConn) -> T + Send + 'static,
) -> T {
    let db = app.state.db.clone();
    actix_web::web::block(move || f(&mut db.conn().unwrap()))
        .await
        .unwrap()
}

/// The account's stored calibrations.
async fn stored(app: &TestApp, account: &str) -> Option<StoredCalibration> {
    let a = account.to_string();
    with_conn(app, move |c| {
        store::find(c, &a, today(), &calibrate::version()).unwrap()
    })
    .await
}

/// The account's plan computed whole now.
async fn full_replan(app: &TestApp, account: &str) {
    let a = account.to_string();
    with_conn(app, move |c| {
        let acc = tributary::db::models::Account::find_by_id(c, &a)
            .unwrap()
            .unwrap();
        tributary::services::plans::compute_full(c, &acc, Some(today()), None, &mut |_, _| {})
            .unwrap();
    })
    .await
}

/// The stored plan's lines and details, by SKU key.
async fn lines(app: &TestApp, account: &str) -> Vec<(PlanLineRow, LineDetail)> {
    let a = account.to_string();
    with_conn(app, move |c| {
        let mut lines = tributary::db::models::planning::all_lines(c, &a).unwrap();
        lines.sort_by(|x, y| x.sku_key.cmp(&y.sku_key));
        let mut details = tributary::db::models::planning::details(c, &a).unwrap();
        lines
            .into_iter()
            .map(|l| {
                let d = details.remove(&l.sku_key).unwrap();
                (l, d)
            })
            .collect()
    })
    .await
}

/// A calibration whose every pool's table of levels is 0: each quantile of
/// a recalibrated lead-time total reads the model's 0 % quantile, which is
/// 0, so the safety stock (the 95 % quantile less the mean, never below 0)
/// is 0 on every line, whatever its demand.
fn known() -> Calibration {
    let all = json!({"factor": null, "spread": 1.0, "levels": vec![0.0; 201]});
    Calibration::from_json(
        &json!({"version": tributary::forecast::CALIBRATION_VERSION, "classes": [], "all": all})
            .to_string(),
    )
    .unwrap()
}

/// The first whole plan of the day stores its calibration (here empty: three
/// series are too few to measure, and nothing changes); a calibration stored
/// for the date is what every replan of the day reads: a whole replan reads
/// it instead of fitting one (each line's safety stock changes as applying it
/// predicts, and the explanation says so), and an incremental replan after
/// new sales reads it too, not refitting, and equals a whole replan row for
/// row. A plan of the next date fits its own and the old one is forgotten.
#[actix_web::test]
async fn plan_lines_read_the_calibration_stored_for_their_planning_date() {
    let (app, token, shop) = shop().await;
    let before = plan(&app, &token, &shop).await;
    let first = stored(&app, &shop).await.expect("stored with the plan");
    let fitted = Calibration::from_json(&first.calibration).unwrap();
    assert!(fitted.is_empty(), "three series are too few to calibrate");
    // Uncalibrated: the textbook safety stock of irregular demand is above 0.
    let uncalibrated = lines(&app, &shop).await;
    assert_eq!(uncalibrated.len(), 3);
    for (l, d) in &uncalibrated {
        assert!(l.safety_stock > 0.0, "{}: {}", l.sku_key, l.safety_stock);
        assert!(!d.explanation.contains("calibrated"), "{}", d.explanation);
    }
    assert_eq!(before["rows"].as_array().unwrap().len(), 3);

    // A known calibration stored for the date: a whole replan reads it.
    let row = StoredCalibration {
        calibration: known().to_json(),
        ..first.clone()
    };
    let r = row.clone();
    with_conn(&app, move |c| store::replace(c, &r).unwrap()).await;
    full_replan(&app, &shop).await;
    assert_eq!(
        stored(&app, &shop).await.as_ref(),
        Some(&row),
        "not refitted"
    );
    let calibrated = lines(&app, &shop).await;
    for ((l, d), (u, _)) in calibrated.iter().zip(&uncalibrated) {
        assert_eq!(l.safety_stock, 0.0, "{}", l.sku_key);
        assert!((l.reorder_point - (u.reorder_point - u.safety_stock)).abs() < 1e-5);
        let e: Value = serde_json::from_str(&d.explanation).unwrap();
        let method = e["safety_stock"]["method"].as_str().unwrap();
        assert!(
            method
                .contains("calibrated on the catalogue's held-out windows (fitted for 2026-03-01)"),
            "{method}"
        );
        assert!(
            e["notes"].to_string().contains("planning date 2026-03-01"),
            "{}",
            e["notes"]
        );
    }

    // New sales of LAMP: replanned incrementally with the stored calibration.
    let version = with_conn(&app, {
        let s = shop.clone();
        move |c| {
            tributary::db::models::planning::plan_header(c, &s)
                .unwrap()
                .unwrap()
                .inputs_version
        }
    })
    .await;
    put(
        &app,
        &token,
        &shop,
        "sales-orders",
        Value::Array(sales("NEW", "V0", 5, "2026-02-20", 9)),
    )
    .await;
    let changed = with_conn(&app, {
        let s = shop.clone();
        move |c| {
            let acc = tributary::db::models::Account::find_by_id(c, &s)
                .unwrap()
                .unwrap();
            let now = tributary::services::plans::inputs_version(c, &acc, today()).unwrap();
            tributary::services::replan::changes(c, &acc, &version, &now)
                .unwrap()
                .map(|ch| ch.into_iter().flat_map(|x| x.1).collect::<Vec<_>>())
        }
    })
    .await;
    assert_eq!(
        changed,
        Some(vec!["V0".to_string()]),
        "an incremental replan"
    );
    plan(&app, &token, &shop).await;
    assert_eq!(
        stored(&app, &shop).await.as_ref(),
        Some(&row),
        "not refitted"
    );
    let incremental = lines(&app, &shop).await;
    assert_ne!(
        incremental[1].0.demand_per_day, calibrated[1].0.demand_per_day,
        "LAMP recomputed"
    );
    assert_eq!(incremental[1].0.safety_stock, 0.0);
    full_replan(&app, &shop).await;
    let full = lines(&app, &shop).await;
    assert_eq!(incremental.len(), full.len());
    for (a, b) in incremental.iter().zip(&full) {
        assert_eq!(a.0, b.0, "line {}", a.0.sku_key);
        assert_eq!(a.1, b.1, "detail {}", a.0.sku_key);
    }

    // The next planning date fits its own; the old one is forgotten.
    let s = shop.clone();
    let kept = with_conn(&app, move |c| {
        let acc = tributary::db::models::Account::find_by_id(c, &s)
            .unwrap()
            .unwrap();
        let next = today().succ_opt().unwrap();
        tributary::services::plans::compute_full(c, &acc, Some(next), None, &mut |_, _| {})
            .unwrap();
        (
            store::find(c, &s, today(), &calibrate::version()).unwrap(),
            store::find(c, &s, next, &calibrate::version()).unwrap(),
        )
    })
    .await;
    assert_eq!(kept.0, None, "the old date's is forgotten");
    let next = kept.1.expect("the new date's is stored");
    assert!(Calibration::from_json(&next.calibration)
        .unwrap()
        .is_empty());
}

/// A calibration stored in a form this engine does not read (another
/// version) is not read: the replan is computed whole and fits one again.
#[actix_web::test]
async fn a_calibration_of_another_version_is_fitted_again() {
    let (app, token, shop) = shop().await;
    plan(&app, &token, &shop).await;
    let first = stored(&app, &shop).await.unwrap();
    let mut v: Value = serde_json::from_str(&known().to_json()).unwrap();
    v["version"] = json!(tributary::forecast::CALIBRATION_VERSION + 1);
    let r = StoredCalibration {
        calibration: v.to_string(),
        ..first.clone()
    };
    with_conn(&app, move |c| store::replace(c, &r).unwrap()).await;
    put(
        &app,
        &token,
        &shop,
        "sales-orders",
        Value::Array(sales("NEW", "V0", 5, "2026-02-20", 9)),
    )
    .await;
    plan(&app, &token, &shop).await;
    let again = stored(&app, &shop).await.unwrap();
    assert!(Calibration::from_json(&again.calibration)
        .unwrap()
        .is_empty());
    for (l, _) in lines(&app, &shop).await {
        assert!(l.safety_stock > 0.0, "{}", l.sku_key);
    }
}

/// The demand analysis shows the band the plan's line has: with a stored
/// calibration whose pools double the 80 % band's half-widths, every day's
/// band is twice as wide about the same point (its low floored at 0), and
/// the answer and the page name the planning date it was fitted for;
/// without one (three series are too few) the band is the model's own.
#[actix_web::test]
async fn the_demand_analysis_shows_the_plans_calibrated_band() {
    let (app, token, shop) = shop().await;
    plan(&app, &token, &shop).await;
    let own = demand_of(&app, &token, &shop).await;
    assert_eq!(own["band_calibrated_for"], Value::Null, "{own}");
    let first = stored(&app, &shop).await.unwrap();
    let wider = json!({"factor": 2.0, "spread": 1.0, "levels": []});
    let row = StoredCalibration {
        calibration: Calibration::from_json(
            &json!({"version": tributary::forecast::CALIBRATION_VERSION, "classes": [], "all": wider})
                .to_string(),
        )
        .unwrap()
        .to_json(),
        ..first
    };
    with_conn(&app, move |c| store::replace(c, &row).unwrap()).await;
    let calibrated = demand_of(&app, &token, &shop).await;
    assert_eq!(calibrated["band_calibrated_for"], TODAY, "{calibrated}");
    let (a, b) = (
        own["forecast"].as_array().unwrap(),
        calibrated["forecast"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let mut widened = 0;
    for (a, b) in a.iter().zip(b) {
        let p = f(a, "quantity");
        assert_eq!(f(b, "quantity"), p);
        assert!(
            (f(b, "high") - (p + 2.0 * (f(a, "high") - p))).abs() < 1e-5,
            "{a} {b}"
        );
        assert!(
            (f(b, "low") - (p - 2.0 * (p - f(a, "low"))).max(0.0)).abs() < 1e-5,
            "{a} {b}"
        );
        widened += usize::from(f(b, "high") > f(a, "high") + 1e-6);
    }
    assert_eq!(widened, a.len(), "every day's band is wider");
    let client = crate::helpers::cookie_client();
    let resp = app
        .form_login(&client, "admin@acme.example", "correct horse", None)
        .await;
    assert!(resp.status().is_success() || resp.status().is_redirection());
    let html = client
        .get(app.url(&format!("/accounts/{shop}/demand/LAMP")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fact = html
        .split("id=\"fact-band\">")
        .nth(1)
        .and_then(|r| r.split("</dd>").next())
        .unwrap_or_else(|| panic!("{html}"));
    assert!(
        fact.starts_with("calibrated on the catalogue")
            && fact.ends_with("(fitted for 2026-03-01)"),
        "{fact}"
    );
}

/// The demand analysis of LAMP per day.
async fn demand_of(app: &TestApp, token: &str, shop: &str) -> Value {
    let (s, b) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{shop}/demand/LAMP?period=day"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

/// An empty calibration (three series are too few to measure) is fitted
/// again by the next whole plan of the date, in case the account has gained
/// lines since (an account onboarded during the day): its `fitted_at`
/// moves on, where a non-empty one is read as it is (above); an incremental
/// replan reads the empty one without refitting.
#[actix_web::test]
async fn an_empty_calibration_is_fitted_again_by_the_next_whole_plan() {
    let (app, token, shop) = shop().await;
    plan(&app, &token, &shop).await;
    let first = stored(&app, &shop).await.unwrap();
    assert!(Calibration::from_json(&first.calibration)
        .unwrap()
        .is_empty());
    let old = StoredCalibration {
        fitted_at: chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        ..first
    };
    let r = old.clone();
    with_conn(&app, move |c| store::replace(c, &r).unwrap()).await;
    // New sales of one SKU: replanned incrementally, reading the empty one.
    put(
        &app,
        &token,
        &shop,
        "sales-orders",
        Value::Array(sales("NEW", "V0", 5, "2026-02-20", 9)),
    )
    .await;
    plan(&app, &token, &shop).await;
    assert_eq!(
        stored(&app, &shop).await,
        Some(old.clone()),
        "read, not refitted"
    );
    full_replan(&app, &shop).await;
    let again = stored(&app, &shop).await.unwrap();
    assert!(again.fitted_at > old.fitted_at, "fitted again");
    assert_eq!(again.planning_date, today());
}
