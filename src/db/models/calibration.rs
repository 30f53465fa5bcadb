//! The stored catalogue calibration of an account's plan lines
//! (`plan_calibrations`): one per account, planning date and engine
//! version, fitted when the account's plan is first computed whole that
//! day and read by every later replan of the day.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::schema::plan_calibrations;
use crate::db::DbConn;

/// One stored calibration.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = plan_calibrations)]
pub struct StoredCalibration {
    /// The account whose lines it calibrates.
    pub account_id: String,
    /// The planning date it was fitted for.
    pub planning_date: NaiveDate,
    /// The engine and calibration version it was fitted with.
    pub version: String,
    /// The calibration's JSON form (`forecast::Calibration::to_json`).
    pub calibration: String,
    /// When it was fitted.
    pub fitted_at: NaiveDateTime,
}

/// The account's calibration for a planning date and version, if stored.
pub fn find(
    conn: &mut DbConn,
    account: &str,
    planning_date: NaiveDate,
    version: &str,
) -> QueryResult<Option<StoredCalibration>> {
    plan_calibrations::table
        .filter(plan_calibrations::account_id.eq(account))
        .filter(plan_calibrations::planning_date.eq(planning_date))
        .filter(plan_calibrations::version.eq(version))
        .select(StoredCalibration::as_select())
        .first(conn)
        .optional()
}

/// Stores `row` unless a calibration for its account, date and version is
/// stored already (the first one stored stays: every plan of the day reads
/// it), and forgets the account's calibrations of other dates or versions.
/// Returns the one stored.
pub fn store_first(conn: &mut DbConn, row: &StoredCalibration) -> QueryResult<StoredCalibration> {
    crate::db::transaction(conn, |conn| {
        diesel::delete(
            plan_calibrations::table
                .filter(plan_calibrations::account_id.eq(&row.account_id))
                .filter(
                    plan_calibrations::planning_date
                        .ne(row.planning_date)
                        .or(plan_calibrations::version.ne(&row.version)),
                ),
        )
        .execute(conn)?;
        if find(conn, &row.account_id, row.planning_date, &row.version)?.is_none() {
            // In a savepoint: a conflict leaves the transaction usable.
            match crate::db::transaction(conn, |conn| {
                diesel::insert_into(plan_calibrations::table)
                    .values(row)
                    .execute(conn)
            }) {
                // Stored by another computation in between: that one stays.
                Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
                Err(e) => return Err(e),
            }
        }
        find(conn, &row.account_id, row.planning_date, &row.version)?.ok_or(Error::NotFound)
    })
}

/// Forgets every stored calibration of an account (the next whole plan
/// fits one again).
pub fn forget(conn: &mut DbConn, account: &str) -> QueryResult<usize> {
    crate::db::transaction(conn, |conn| {
        diesel::delete(plan_calibrations::table.filter(plan_calibrations::account_id.eq(account)))
            .execute(conn)
    })
}

/// Stores `row` in place of the account's calibration for its date and
/// version (an operator's or a test's way to set a known calibration).
pub fn replace(conn: &mut DbConn, row: &StoredCalibration) -> QueryResult<()> {
    crate::db::transaction(conn, |conn| {
        forget(conn, &row.account_id)?;
        diesel::insert_into(plan_calibrations::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    })
}
