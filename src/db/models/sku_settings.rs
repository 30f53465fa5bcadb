//! A merchant's marks on the SKUs of an account's plan (`sku_settings`):
//! "not for reorder" with an optional note, keyed by normalised SKU.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{sku_settings, variants};
use crate::db::DbConn;

/// One SKU's marks.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sku_settings)]
pub struct SkuSetting {
    /// Account whose plan the mark applies to.
    pub account_id: String,
    /// Normalised SKU (the plan line's key).
    pub sku_key: String,
    /// The SKU as the merchant gave it.
    pub sku: String,
    /// Whether the plan orders nothing for it.
    pub not_for_reorder: bool,
    /// Why, in the merchant's words.
    pub note: Option<String>,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// Who changed it last (e-mail or API key name).
    pub updated_by: String,
}

/// An account's marks, by SKU key.
pub fn of_account(conn: &mut DbConn, account: &str) -> QueryResult<Vec<SkuSetting>> {
    sku_settings::table
        .filter(sku_settings::account_id.eq(account))
        .order(sku_settings::sku_key.asc())
        .select(SkuSetting::as_select())
        .load(conn)
}

/// An account's SKU keys marked not for reorder, with their notes.
pub fn not_for_reorder(
    conn: &mut DbConn,
    account: &str,
) -> QueryResult<HashMap<String, Option<String>>> {
    Ok(sku_settings::table
        .filter(sku_settings::account_id.eq(account))
        .filter(sku_settings::not_for_reorder.eq(true))
        .select((sku_settings::sku_key, sku_settings::note))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .collect())
}

/// Replaces the marks of the rows' SKU keys (a row that marks nothing is
/// deleted rather than kept).
pub fn upsert(conn: &mut DbConn, account: &str, rows: &[SkuSetting]) -> QueryResult<()> {
    for r in rows {
        diesel::delete(
            sku_settings::table
                .filter(sku_settings::account_id.eq(account))
                .filter(sku_settings::sku_key.eq(&r.sku_key)),
        )
        .execute(conn)?;
        if r.not_for_reorder || r.note.is_some() {
            diesel::insert_into(sku_settings::table)
                .values(r)
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The ids of an account's variants whose normalised SKU is one of `keys`
/// (what a mark touches in the plan).
pub fn variants_with_keys(
    conn: &mut DbConn,
    account: &str,
    keys: &[String],
) -> QueryResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        out.extend(
            variants::table
                .filter(variants::account_id.eq(account))
                .filter(variants::sku_norm.eq_any(chunk))
                .select(variants::id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}
