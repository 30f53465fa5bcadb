//! The catalogue calibration of an account's plan lines: fitted once per
//! planning date and engine version on the account's own lines' series
//! ([`Calibration::fit`]), stored (`db::models::calibration`) and
//! read by every replan of that date, whole or incremental, so that an
//! incremental replan still equals a whole one row for row. Each line then
//! applies it to its forecast and lead-time total
//! ([`crate::planning::line::forecast_line`]), so that its safety stock reads
//! a lead-time distribution whose quantiles held on the catalogue's held-out
//! windows instead of one series' model alone.
//!
//! When a plan is computed whole for a date with no stored calibration, one
//! is fitted on an even sample of the lines' series (at most [`SAMPLE`]) and
//! stored before the plan; the first one stored for a date stays. A
//! calibration fitted on fewer than 50 measurable series is empty and
//! changes nothing (it is stored all the same, so that the day's incremental
//! replans agree); the next whole plan of the date fits again in its place,
//! so that an account onboarded during the day is calibrated from its first
//! whole plan with enough history. Only the current planning date's is kept.

use chrono::{NaiveDate, Utc};
use rayon::prelude::*;

use crate::db::models::calibration::{self as store, StoredCalibration};
use crate::db::DbConn;
use crate::forecast::{Calibration, Options, SeriesInput, CALIBRATION_VERSION};
use crate::planning::line::{compute_line, Computed};
use crate::planning::rollup::child_keys;
use crate::planning::series::{child_line_input, master_line_input, LineInput};
use crate::planning::snapshot::{ChildData, MasterInputs};
use crate::services::ServiceError;

/// Most series a calibration is fitted on: an even sample of the lines
/// (fitting costs three more runs of the engine per series fitted on).
pub const SAMPLE: usize = 400;

/// Days of each held-out window the calibration is fitted on (its levels
/// and spread ratio apply to a total over any lead time).
pub const WINDOW: usize = 28;

/// The version a stored calibration must have to be read: the form's
/// ([`CALIBRATION_VERSION`]) and the planner's
/// ([`crate::services::plans::PLANNER_VERSION`]).
pub fn version() -> String {
    format!(
        "c{CALIBRATION_VERSION}~p{}",
        crate::services::plans::PLANNER_VERSION
    )
}

/// Positions of an even sample of at most [`SAMPLE`] of `n` items.
fn sample(n: usize) -> Vec<usize> {
    if n <= SAMPLE {
        return (0..n).collect();
    }
    (0..SAMPLE).map(|j| j * n / SAMPLE).collect()
}

/// The plan job's fit on the daily series of an account's lines (values
/// and in-stock days, as the lines are forecast from): an even sample of at
/// most [`SAMPLE`] of them, held-out windows of [`WINDOW`] days, the fast
/// path.
pub fn fit(series: &[(Vec<f64>, Vec<bool>)]) -> Calibration {
    let inputs: Vec<SeriesInput> = sample(series.len())
        .into_iter()
        .map(|i| SeriesInput {
            values: &series[i].0,
            in_stock: Some(&series[i].1),
            season: 7,
        })
        .collect();
    Calibration::fit(&inputs, WINDOW, WINDOW, &Options { fast: true })
}

/// The series a line is forecast from (none for a bundle: it is sold as its
/// components and never ordered).
fn series_of(li: LineInput) -> Option<(Vec<f64>, Vec<bool>)> {
    (!li.bundle).then_some((li.values, li.in_stock))
}

/// The account's stored calibration for `today` in this version (`None`:
/// none stored, or stored in a form this engine does not read).
pub(crate) fn stored(
    conn: &mut DbConn,
    account: &str,
    today: NaiveDate,
) -> Result<Option<Calibration>, ServiceError> {
    Ok(
        store::find(conn, account, today, &version())?.and_then(|s| {
            Calibration::from_json(&s.calibration)
                .inspect_err(|e| tracing::warn!(account, "stored calibration not read: {e}"))
                .ok()
        }),
    )
}

/// The calibration of the account's plan for `today`: the stored one, or
/// one fitted on `series()` and stored (the first stored for the date
/// stays, and is the one returned; an empty one is fitted again).
fn stored_or_fit(
    conn: &mut DbConn,
    account: &str,
    today: NaiveDate,
    series: impl FnOnce() -> Vec<(Vec<f64>, Vec<bool>)> + Send,
) -> Result<Calibration, ServiceError> {
    if let Some(row) = store::find(conn, account, today, &version())? {
        match Calibration::from_json(&row.calibration) {
            Ok(c) if !c.is_empty() => return Ok(c),
            // Empty (too few series measurable when it was fitted: fitted
            // again, in case the account has gained lines or history since,
            // as one onboarded during the day has; this plan is whole, so
            // every line reads the new one), or not readable by this engine:
            // fitted again in its place.
            Ok(_) | Err(_) => {
                store::forget(conn, account)?;
            }
        }
    }
    let started = std::time::Instant::now();
    // On the planning pool, at background priority, as the lines are.
    let fitted = crate::planning::pool::run(|| fit(&series()));
    let row = store::store_first(
        conn,
        &StoredCalibration {
            account_id: account.to_string(),
            planning_date: today,
            version: version(),
            calibration: fitted.to_json(),
            fitted_at: Utc::now().naive_utc(),
        },
    )?;
    tracing::debug!(
        account,
        %today,
        fit_s = started.elapsed().as_secs_f64(),
        spread = %fitted.summary(),
        "plan calibration fitted"
    );
    Calibration::from_json(&row.calibration)
        .map_err(|e| ServiceError::Internal(format!("stored calibration: {e}")))
}

/// A child's calibration for its planning date (`c.today`), fitted on its
/// own lines' series where none is stored.
pub(crate) fn for_child(conn: &mut DbConn, c: &ChildData) -> Result<Calibration, ServiceError> {
    stored_or_fit(conn, &c.account.id, c.today, || {
        let keys = child_keys(c, &mut Vec::new());
        crate::planning::pool::run(|| {
            sample(keys.len())
                .into_par_iter()
                .filter_map(|i| series_of(child_line_input(c, i, keys[i].clone())))
                .collect()
        })
    })
}

/// A master's calibration for `today`, fitted on its rows' series where
/// none is stored.
pub(crate) fn for_master(
    conn: &mut DbConn,
    m: &MasterInputs,
    master: &crate::db::models::Account,
    today: NaiveDate,
) -> Result<Calibration, ServiceError> {
    stored_or_fit(conn, &master.id, today, || {
        let groups: Vec<_> = m.rollup.groups.iter().collect();
        crate::planning::pool::run(|| {
            sample(groups.len())
                .into_par_iter()
                .filter_map(|i| {
                    let (k, members) = groups[i];
                    series_of(master_line_input(
                        m,
                        master,
                        today,
                        k,
                        members,
                        &mut Vec::new(),
                    ))
                })
                .collect()
        })
    })
}

/// What a line applies: the calibration, unless it is empty.
pub(crate) fn in_use(c: &Calibration) -> Option<&Calibration> {
    (!c.is_empty()).then_some(c)
}

/// What the plan job stores for a line of a bare daily series (`values`,
/// `in_stock`, up to yesterday): no stock, no orders, `lead_time_days` and
/// `days_of_stock`, a 95 % service level, no order constraints, computed with
/// `calibration` as the plan job computes a line. For benchmarks that judge
/// what a plan line serves.
pub fn line_figures(
    values: Vec<f64>,
    in_stock: Vec<bool>,
    lead_time_days: f64,
    days_of_stock: f64,
    calibration: Option<&Calibration>,
    today: NaiveDate,
) -> LineFigures {
    let li = LineInput {
        sku_key: "line".into(),
        sku: "LINE".into(),
        title: String::new(),
        vendor: String::new(),
        category: String::new(),
        brand: String::new(),
        tags: vec![],
        tracked: true,
        bundle: false,
        available: 0.0,
        movements: vec![],
        values,
        in_stock,
        lead_time_days,
        days_of_stock,
        service_level: crate::replenish::DEFAULT_SERVICE_LEVEL,
        moq: None,
        pack_size: None,
        min_stock: None,
        max_stock: None,
        unit_cost: None,
        accounts: vec![],
        contributions: vec![],
        children_per_day: None,
        child_flags: vec![],
        not_for_reorder: None,
        edits: Default::default(),
        fit: Default::default(),
    };
    let (row, detail): Computed = compute_line("bench", today, li, calibration.and_then(in_use));
    let explanation: serde_json::Value =
        serde_json::from_str(&detail.explanation).unwrap_or_default();
    LineFigures {
        safety_stock: row.safety_stock,
        reorder_point: row.reorder_point,
        class: explanation["demand"]["class"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// A plan line's figures ([`line_figures`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFigures {
    /// Its safety stock.
    pub safety_stock: f64,
    /// Its reorder point: the lead-time demand plus the safety stock.
    pub reorder_point: f64,
    /// Its demand class (`smooth`, `erratic`, `intermittent`, `lumpy`, …).
    pub class: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_even_and_bounded() {
        assert_eq!(sample(3), vec![0, 1, 2]);
        let s = sample(1_000);
        assert_eq!(s.len(), SAMPLE);
        assert_eq!(s[0], 0);
        assert_eq!(s[1], 2);
        assert_eq!(*s.last().unwrap(), 997);
    }
}
