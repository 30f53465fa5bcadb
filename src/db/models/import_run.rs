//! The log of imports: who sent what, when, with which counts and problems.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::imports;
use crate::db::DbConn;

/// One recorded import.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = imports, treat_none_as_default_value = false)]
pub struct ImportRun {
    /// Opaque id.
    pub id: String,
    /// Account imported into.
    pub account_id: String,
    /// Entity (`sales-orders`, …).
    pub entity: String,
    /// `csv` or `json`.
    pub format: String,
    /// E-mail of the user (or the key's user).
    pub user_email: String,
    /// When the request arrived.
    pub started_at: NaiveDateTime,
    /// When it was done.
    pub finished_at: Option<NaiveDateTime>,
    /// `succeeded` or `failed`.
    pub status: String,
    /// JSON counts.
    pub counts: String,
    /// JSON list of problems (errors of a failed import, warnings of a
    /// successful one).
    pub problems: String,
}

impl ImportRun {
    /// Records an import.
    pub fn insert(conn: &mut DbConn, run: &ImportRun) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::insert_into(imports::table)
                .values(run)
                .execute(conn)
                .map(|_| ())
        })
    }

    /// The account's imports, newest first.
    pub fn list_by_account(
        conn: &mut DbConn,
        account: &str,
        limit: i64,
    ) -> QueryResult<Vec<ImportRun>> {
        imports::table
            .filter(imports::account_id.eq(account))
            .order((imports::started_at.desc(), imports::id.desc()))
            .limit(limit)
            .select(ImportRun::as_select())
            .load(conn)
    }
}
