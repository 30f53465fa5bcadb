//! Forecast edits and their history: the stored rows and their queries
//! (`services::forecast_edits` validates and orchestrates).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{forecast_edit_history, forecast_edits, variants};
use crate::db::DbConn;

/// One stored forecast edit.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = forecast_edits)]
pub struct ForecastEdit {
    /// Opaque id.
    pub id: String,
    /// Account whose plan it changes.
    pub account_id: String,
    /// `sku`, `category`, `vendor_id`, `brand` or `tag`.
    pub target_kind: String,
    /// The target as given.
    pub target: String,
    /// What the target matches (a SKU normalised, a group value as given).
    pub target_key: String,
    /// `YYYY-MM`.
    pub month: String,
    /// `quantity`, `percent` or `no_demand`.
    pub kind: String,
    /// Decimal text (null for `no_demand`).
    pub value: Option<String>,
    /// The merchant's note.
    pub note: Option<String>,
    /// When it was last written.
    pub created_at: NaiveDateTime,
    /// Who wrote it (e-mail).
    pub created_by: String,
}

/// One change of an edit, as listed by its history.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = forecast_edit_history)]
pub struct EditChange {
    /// Order.
    pub seq: i64,
    /// Account.
    pub account_id: String,
    /// The edit.
    pub edit_id: String,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// Target kind.
    pub target_kind: String,
    /// Target.
    pub target: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Edit kind.
    pub kind: String,
    /// Decimal text.
    pub value: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// When.
    pub at: NaiveDateTime,
    /// Who.
    pub by_user: String,
}

/// A change to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = forecast_edit_history)]
struct NewChange<'a> {
    account_id: &'a str,
    edit_id: &'a str,
    action: &'a str,
    target_kind: &'a str,
    target: &'a str,
    month: &'a str,
    kind: &'a str,
    value: Option<&'a str>,
    note: Option<&'a str>,
    at: NaiveDateTime,
    by_user: &'a str,
}

impl ForecastEdit {
    /// Every stored edit of an account (expired ones included), by month
    /// and target.
    pub fn of_account(conn: &mut DbConn, account: &str) -> QueryResult<Vec<ForecastEdit>> {
        forecast_edits::table
            .filter(forecast_edits::account_id.eq(account))
            .order((
                forecast_edits::month.asc(),
                forecast_edits::target_kind.asc(),
                forecast_edits::target_key.asc(),
            ))
            .select(ForecastEdit::as_select())
            .load(conn)
    }

    /// The edit of an account with this id.
    pub fn find(conn: &mut DbConn, account: &str, id: &str) -> QueryResult<Option<ForecastEdit>> {
        forecast_edits::table
            .filter(forecast_edits::account_id.eq(account))
            .filter(forecast_edits::id.eq(id))
            .select(ForecastEdit::as_select())
            .first(conn)
            .optional()
    }

    /// The edit of an account for this target and month.
    pub fn find_target(
        conn: &mut DbConn,
        account: &str,
        target_kind: &str,
        target_key: &str,
        month: &str,
    ) -> QueryResult<Option<ForecastEdit>> {
        forecast_edits::table
            .filter(forecast_edits::account_id.eq(account))
            .filter(forecast_edits::target_kind.eq(target_kind))
            .filter(forecast_edits::target_key.eq(target_key))
            .filter(forecast_edits::month.eq(month))
            .select(ForecastEdit::as_select())
            .first(conn)
            .optional()
    }

    /// Writes this edit (replacing the row with its id) and records the
    /// change as `action`.
    pub fn save(&self, conn: &mut DbConn, action: &str) -> QueryResult<()> {
        diesel::delete(forecast_edits::table.filter(forecast_edits::id.eq(&self.id)))
            .execute(conn)?;
        diesel::insert_into(forecast_edits::table)
            .values(self)
            .execute(conn)?;
        self.record(conn, action, self.created_at, &self.created_by)
    }

    /// Deletes this edit, recording who did it and when.
    pub fn delete(&self, conn: &mut DbConn, at: NaiveDateTime, by: &str) -> QueryResult<()> {
        diesel::delete(forecast_edits::table.filter(forecast_edits::id.eq(&self.id)))
            .execute(conn)?;
        self.record(conn, "deleted", at, by)
    }

    fn record(
        &self,
        conn: &mut DbConn,
        action: &str,
        at: NaiveDateTime,
        by: &str,
    ) -> QueryResult<()> {
        diesel::insert_into(forecast_edit_history::table)
            .values(NewChange {
                account_id: &self.account_id,
                edit_id: &self.id,
                action,
                target_kind: &self.target_kind,
                target: &self.target,
                month: &self.month,
                kind: &self.kind,
                value: self.value.as_deref(),
                note: self.note.as_deref(),
                at,
                by_user: by,
            })
            .execute(conn)
            .map(|_| ())
    }
}

/// An account's edit history, newest first.
pub fn history(conn: &mut DbConn, account: &str) -> QueryResult<Vec<EditChange>> {
    forecast_edit_history::table
        .filter(forecast_edit_history::account_id.eq(account))
        .order(forecast_edit_history::seq.desc())
        .select(EditChange::as_select())
        .load(conn)
}

/// What an edit's target is matched against in one variant.
#[derive(Debug, Clone, Queryable)]
pub struct VariantGroups {
    /// Variant id.
    pub id: String,
    /// Normalised SKU.
    pub sku_norm: String,
    /// Preferred vendor.
    pub vendor_id: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Tags (a JSON list).
    pub tags: Option<String>,
}

/// The live variants of an account with the fields an edit's target
/// matches (which variants a write of edits touches).
pub fn variant_groups(conn: &mut DbConn, account: &str) -> QueryResult<Vec<VariantGroups>> {
    variants::table
        .filter(variants::account_id.eq(account))
        .filter(variants::removed.eq(false))
        .select((
            variants::id,
            variants::sku_norm,
            variants::vendor_id,
            variants::category,
            variants::brand,
            variants::tags,
        ))
        .load(conn)
}
