//! A plan is stored in short write transactions and made visible at once:
//! a reader during the store reads the old plan or the new one whole; a
//! store that fails or is killed between its batches leaves the old plan in
//! place, and what a killed one wrote is gone after the next start.
#![cfg(feature = "fault-injection")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use tributary::db::models::planning::{
    self, store_fault, LineDetail, LineFilter, PlanHeader, PlanLineRow, STORE_BATCH,
};
use tributary::db::Db;

use crate::helpers::{count_committed, FreshDatabase};

/// A plan of `n` lines for `account`, every line titled `tag`.
fn plan(account: &str, n: usize, tag: &str) -> (PlanHeader, Vec<PlanLineRow>, Vec<LineDetail>) {
    let lines: Vec<PlanLineRow> = (0..n)
        .map(|i| PlanLineRow {
            account_id: account.into(),
            sku_key: format!("sku-{i:05}"),
            sku: format!("SKU-{i:05}"),
            title: tag.into(),
            vendor: "Acme".into(),
            category: String::new(),
            brand: String::new(),
            tags: ";".into(),
            available: 1.0,
            on_order: 0.0,
            demand_per_day: 1.0,
            lead_time_days: 7.0,
            days_of_stock: 1.0,
            coverage_demand: 30.0,
            safety_stock: 2.0,
            reorder_point: 9.0,
            order_quantity: 3.0,
            order_by: None,
            days_of_cover: None,
            urgency: "now".into(),
            urgency_rank: 0,
            forecast_method: "mean".into(),
            unit_cost: Some(2.0),
            order_value: Some(6.0),
            flags: "[]".into(),
        })
        .collect();
    let details = (0..n)
        .map(|_| LineDetail {
            accounts: "[]".into(),
            explanation: format!("{{\"plan\":\"{tag}\"}}"),
            supply: String::new(),
        })
        .collect();
    let header = PlanHeader {
        account_id: account.into(),
        inputs_version: tag.into(),
        planning_date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        computed_at: NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        line_count: n as i64,
        seconds: 0.1,
        summary: "{}".into(),
    };
    (header, lines, details)
}

fn store(
    db: &Db,
    (h, l, d): &(PlanHeader, Vec<PlanLineRow>, Vec<LineDetail>),
) -> Result<(), String> {
    planning::store_plan(&mut db.conn().unwrap(), h, l, d).map_err(|e| e.to_string())
}

/// What a reader sees of the account's plan, through every read that
/// follows its header: `Some((tag, lines))` when each read saw the same
/// whole plan, `None` for a mix or a partial plan.
fn seen(db: &Db, account: &str) -> Option<(String, usize)> {
    let mut c = db.read_conn().unwrap();
    let header = planning::plan_header(&mut c, account).unwrap()?;
    let lines = planning::all_lines(&mut c, account).unwrap();
    let tag = header.inputs_version.clone();
    let whole = |n: usize| n == header.line_count as usize;
    if !whole(lines.len())
        || lines
            .iter()
            .any(|l| l.title != tag || l.account_id != account)
    {
        return None;
    }
    let (total, page) =
        planning::page_lines(&mut c, account, &LineFilter::default(), "sku", false, 0, 50).unwrap();
    if !whole(total as usize) || page.iter().any(|l| l.title != tag) {
        return None;
    }
    let details = planning::details(&mut c, account).unwrap();
    if !whole(details.len()) || details.values().any(|d| !d.explanation.contains(&tag)) {
        return None;
    }
    Some((tag, lines.len()))
}

/// What one statement reading the account's lines sees: `Some((tag,
/// lines))` when every line read belongs to one plan, and it is whole
/// (`None` for a mix or a part). A reader's statements each follow the
/// header on their own: two statements may see two plans, as before plans
/// were stored in batches.
fn seen_by_one_statement(
    db: &Db,
    account: &str,
    wholes: &[(&str, usize)],
) -> Option<(String, usize)> {
    let mut c = db.read_conn().unwrap();
    let lines = planning::all_lines(&mut c, account).unwrap();
    let tag = lines.first()?.title.clone();
    let one_plan = lines.iter().all(|l| l.title == tag);
    let whole = wholes.iter().any(|(t, n)| *t == tag && *n == lines.len());
    (one_plan && whole).then_some((tag, lines.len()))
}

fn rows(url: &str) -> (i64, i64) {
    (
        count_committed(url, "SELECT count(*) AS n FROM plan_lines"),
        count_committed(url, "SELECT count(*) AS n FROM plan_details"),
    )
}

/// Readers between every batch of a store see the old plan whole (its
/// header, lines, a page and the details), and a reader reading all along
/// sees in each statement the old plan or the new one whole; after it only
/// the new one's rows are left.
#[test]
fn a_reader_during_a_store_sees_the_old_plan_or_the_new_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = FreshDatabase::new(dir.path());
    let db = Db::connect(&fresh.url).unwrap();
    let account = "acc-store-read";
    let (old_n, new_n) = (3 * STORE_BATCH + 7, 2 * STORE_BATCH + 3);
    store(&db, &plan(account, old_n, "old")).unwrap();
    assert_eq!(seen(&db, account), Some(("old".into(), old_n)));

    let between = Arc::new(Mutex::new(Vec::new()));
    {
        let (db, between) = (db.clone(), between.clone());
        store_fault::arm(
            account,
            Arc::new(move |_batch| {
                between.lock().unwrap().push(seen(&db, account));
                Ok(())
            }),
        );
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, done) = (db.clone(), done.clone());
        std::thread::spawn(move || {
            let mut looks = Vec::new();
            while !done.load(Ordering::SeqCst) {
                looks.push(seen_by_one_statement(
                    &db,
                    account,
                    &[("old", old_n), ("new", new_n)],
                ));
            }
            looks
        })
    };
    let stored = store(&db, &plan(account, new_n, "new"));
    done.store(true, Ordering::SeqCst);
    store_fault::disarm(account);
    stored.unwrap();
    let looks = reader.join().unwrap();

    let between = between.lock().unwrap().clone();
    assert_eq!(between.len(), 3, "one look after each batch");
    assert!(
        between.iter().all(|s| *s == Some(("old".into(), old_n))),
        "between batches the old plan, whole: {between:?}"
    );
    assert!(
        looks
            .iter()
            .all(|s| *s == Some(("old".into(), old_n)) || *s == Some(("new".into(), new_n))),
        "a reader saw a mix or a part: {:?}",
        looks.iter().find(|s| s.is_none())
    );
    assert_eq!(seen(&db, account), Some(("new".into(), new_n)));
    assert_eq!(
        rows(&fresh.url),
        (new_n as i64, new_n as i64),
        "the old plan's rows are gone"
    );
}

/// A store that fails after its second batch leaves the old plan as it
/// was and removes what it wrote.
#[test]
fn a_store_that_fails_between_batches_leaves_the_old_plan_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = FreshDatabase::new(dir.path());
    let db = Db::connect(&fresh.url).unwrap();
    let account = "acc-store-fail";
    let old_n = 2 * STORE_BATCH + 1;
    store(&db, &plan(account, old_n, "old")).unwrap();
    store_fault::arm(
        account,
        Arc::new(|batch| match batch {
            1 => Err("fault injected between the batches of a plan store".into()),
            _ => Ok(()),
        }),
    );
    let failed = store(&db, &plan(account, 4 * STORE_BATCH, "new"));
    store_fault::disarm(account);
    assert!(failed.unwrap_err().contains("fault injected"));
    assert_eq!(seen(&db, account), Some(("old".into(), old_n)));
    assert_eq!(rows(&fresh.url), (old_n as i64, old_n as i64));
}

/// A store killed after its second batch (a panic stands for the kill: the
/// batches it committed stay, nothing of it runs after) leaves the old
/// plan visible; the next start removes the rows it wrote, and a store
/// after that works.
#[test]
fn a_store_killed_between_batches_leaves_the_old_plan_and_the_next_start_removes_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = FreshDatabase::new(dir.path());
    let db = Db::connect(&fresh.url).unwrap();
    let account = "acc-store-kill";
    let old_n = 2 * STORE_BATCH + 1;
    store(&db, &plan(account, old_n, "old")).unwrap();
    store_fault::arm(
        account,
        Arc::new(|batch| match batch {
            1 => panic!("killed between the batches of a plan store"),
            _ => Ok(()),
        }),
    );
    let killed = {
        let db = db.clone();
        std::thread::spawn(move || store(&db, &plan(account, 4 * STORE_BATCH, "new"))).join()
    };
    store_fault::disarm(account);
    assert!(killed.is_err(), "the store died");
    assert_eq!(seen(&db, account), Some(("old".into(), old_n)));
    let left = 2 * STORE_BATCH as i64;
    assert_eq!(
        rows(&fresh.url),
        (old_n as i64 + left, old_n as i64 + left),
        "its two batches are committed, under a key no reader follows"
    );
    drop(db);

    let db = Db::connect(&fresh.url).unwrap();
    assert_eq!(
        rows(&fresh.url),
        (old_n as i64, old_n as i64),
        "removed at start"
    );
    assert_eq!(seen(&db, account), Some(("old".into(), old_n)));
    store(&db, &plan(account, 5, "next")).unwrap();
    assert_eq!(seen(&db, account), Some(("next".into(), 5)));
    assert_eq!(rows(&fresh.url), (5, 5));
}
