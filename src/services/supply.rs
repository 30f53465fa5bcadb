//! The supply plan (`api.md`, "Supply plan"): a SKU's stock projected week
//! by week from the stored plan (`planning::supply`), a page of every
//! SKU's planned orders by week, and the merchant's quantity for a week.
//!
//! Reads answer from the stored plan, brought up to date first like the
//! order plan ([`order_plan::fresh`]): each plan line keeps what its
//! projection is computed from, so no read runs the forecast. Weeks start on
//! the stored plan's planning date. A merchant's quantity is named by its
//! week's first day; it applies to the week that holds that day, and lapses
//! once the planning date has passed it. It changes the supply plan only,
//! not the order plan, so it is read with the supply plan and bumps no data
//! version.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::db::models::planning::{self as store, PlanLineRow};
use crate::db::models::supply as model;
use crate::db::models::Account;
use crate::db::Db;
use crate::domain::sku;
use crate::jobs::Signal;
use crate::planning::supply::{Stored, Week, MAX_WEEKS};
use crate::services::order_plan::{self, Extras, Freshness, PageRequest, PLAN_WAIT};
use crate::services::ServiceError;

/// Largest quantity a merchant may set for a week.
pub const MAX_QUANTITY: f64 = 1e9;

/// Checks `weeks` (absent: the default).
pub fn weeks_param(weeks: Option<i64>) -> Result<usize, ServiceError> {
    match weeks {
        None => Ok(crate::planning::supply::DEFAULT_WEEKS),
        Some(w) if (1..=MAX_WEEKS as i64).contains(&w) => Ok(w as usize),
        Some(_) => Err(ServiceError::invalid_field(
            "weeks",
            format!("must be a whole number from 1 to {MAX_WEEKS}"),
        )),
    }
}

/// One SKU's supply plan.
#[derive(Debug)]
pub struct SkuPlan {
    /// The stored plan it comes from.
    pub freshness: Freshness,
    /// The order plan's line.
    pub line: PlanLineRow,
    /// The weeks.
    pub weeks: Vec<Week>,
}

/// A page of every SKU's planned orders by week.
#[derive(Debug)]
pub struct Page {
    /// The stored plan it comes from.
    pub freshness: Freshness,
    /// Matching rows in all.
    pub total: i64,
    /// The weeks' first days.
    pub weeks: Vec<NaiveDate>,
    /// Each row and its planned order quantity per week.
    pub rows: Vec<(PlanLineRow, Vec<f64>)>,
}

/// The merchant's quantities as week indexes from `today`.
fn by_week(today: NaiveDate, set: &[(NaiveDate, f64)]) -> BTreeMap<usize, f64> {
    set.iter()
        .filter(|(d, _)| *d >= today)
        .map(|(d, q)| (((*d - today).num_days() / 7) as usize, *q))
        .collect()
}

/// Projects stored lines: their weeks, in the order of `lines`.
fn project(
    conn: &mut crate::db::DbConn,
    account: &str,
    today: NaiveDate,
    lines: &[PlanLineRow],
    weeks: usize,
) -> Result<Vec<Vec<Week>>, ServiceError> {
    let keys: Vec<String> = lines.iter().map(|l| l.sku_key.clone()).collect();
    let inputs = model::inputs(conn, account, &keys)?;
    let overrides = model::overrides(conn, account, &keys, today)?;
    lines
        .iter()
        .map(|l| {
            let stored: Stored = inputs
                .get(&l.sku_key)
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or_else(|| {
                    ServiceError::Internal(format!("no supply input stored for {}", l.sku_key))
                })?;
            let set = overrides.get(&l.sku_key).map_or(&[][..], |v| &v[..]);
            Ok(stored.weeks(today, weeks, &by_week(today, set)))
        })
        .collect()
}

fn no_plan() -> ServiceError {
    ServiceError::NotFound("This account's plan has no line for that SKU.".into())
}

/// The supply plan of one SKU (matched after normalisation) for `weeks`
/// weeks.
pub async fn line(
    db: &Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
    sku_text: &str,
    weeks: usize,
) -> Result<SkuPlan, ServiceError> {
    let freshness = order_plan::fresh(db, worker, account, today, PLAN_WAIT).await?;
    let header = freshness.header.clone().ok_or_else(no_plan)?;
    let key = sku::normalise(sku_text);
    let id = account.id.clone();
    let (line, weeks) = db
        .run(move |conn| {
            let line = store::line(conn, &id, &key)?.ok_or_else(no_plan)?;
            let mut weeks = project(
                conn,
                &id,
                header.planning_date,
                std::slice::from_ref(&line),
                weeks,
            )?;
            Ok::<_, ServiceError>((line, weeks.pop().unwrap_or_default()))
        })
        .await?;
    Ok(SkuPlan {
        freshness,
        line,
        weeks,
    })
}

/// A page of every SKU's planned order quantities by week: the order
/// plan's rows (its filters, sort and paging), each projected.
pub async fn page(
    db: &Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
    req: PageRequest,
    weeks: usize,
) -> Result<Page, ServiceError> {
    let read = order_plan::read_page(db, worker, account, today, req, Extras::Rows).await?;
    let Some(header) = read.freshness.header.clone() else {
        return Ok(Page {
            freshness: read.freshness,
            total: 0,
            weeks: vec![],
            rows: vec![],
        });
    };
    let day0 = header.planning_date;
    let id = account.id.clone();
    let rows = read.rows;
    let rows = db
        .run(move |conn| {
            let projected = project(conn, &id, day0, &rows, weeks)?;
            let quantities = projected.into_iter().map(|ws| {
                ws.iter()
                    .map(|w| w.planned_order.as_ref().map_or(0.0, |o| o.quantity))
                    .collect()
            });
            Ok::<_, ServiceError>(rows.into_iter().zip(quantities).collect())
        })
        .await?;
    Ok(Page {
        freshness: read.freshness,
        total: read.total,
        weeks: (0..weeks)
            .map(|w| day0 + chrono::Duration::days(7 * w as i64))
            .collect(),
        rows,
    })
}

/// Checks a week's first day against the stored plan's planning date.
fn week_start(today: NaiveDate, first_day: &str) -> Result<NaiveDate, ServiceError> {
    let bad = || {
        ServiceError::invalid_field(
            "first_day",
            format!(
                "must be the first day of a week of the supply plan (YYYY-MM-DD): {today} or a multiple of 7 days after it, within {MAX_WEEKS} weeks"
            ),
        )
    };
    let d = NaiveDate::parse_from_str(first_day, "%Y-%m-%d").map_err(|_| bad())?;
    let days = (d - today).num_days();
    if days < 0 || days % 7 != 0 || days / 7 >= MAX_WEEKS as i64 {
        return Err(bad());
    }
    Ok(d)
}

/// Sets (`Some`) or clears (`None`) the merchant's quantity for the week of
/// a SKU's supply plan starting `first_day`; returns the week's first day.
/// The SKU must have a line in the stored plan (brought up to date first,
/// as for a read).
pub async fn set_week(
    db: &Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
    sku_text: &str,
    first_day: &str,
    quantity: Option<f64>,
) -> Result<NaiveDate, ServiceError> {
    if let Some(q) = quantity {
        if !q.is_finite() || !(0.0..=MAX_QUANTITY).contains(&q) {
            return Err(ServiceError::invalid_field(
                "quantity",
                format!("must be a number from 0 to {MAX_QUANTITY}"),
            ));
        }
    }
    order_plan::fresh(db, worker, account, today, PLAN_WAIT).await?;
    let id = account.id.clone();
    let key = sku::normalise(sku_text);
    let first_day = first_day.to_string();
    db.run(move |conn| {
        let header = store::plan_header(conn, &id)?.ok_or_else(no_plan)?;
        let day = week_start(header.planning_date, &first_day)?;
        store::line(conn, &id, &key)?.ok_or_else(no_plan)?;
        match quantity {
            Some(q) => model::set_override(conn, &id, &key, day, q)?,
            None => {
                model::clear_override(conn, &id, &key, day)?;
            }
        }
        Ok(day)
    })
    .await
}
