//! The reads of demand analysis: one SKU's variants in an account, their
//! sale lines (every line, cancelled and removed ones included, through the
//! `(account_id, variant_id)` index of `sales_order_lines`) and their stock
//! history change points.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{sales_order_lines, sales_orders, stock_history, variants};
use crate::db::DbConn;

pub use super::records::VariantRow;

/// The live variants of an account whose normalised SKU is `key`, oldest
/// first (the first one carries the key in a plan; later ones are duplicates).
pub fn variants_by_sku(
    conn: &mut DbConn,
    account: &str,
    key: &str,
) -> QueryResult<Vec<VariantRow>> {
    variants::table
        .filter(variants::account_id.eq(account))
        .filter(variants::sku_norm.eq(key))
        .filter(variants::removed.eq(false))
        .order((variants::created_at.asc(), variants::id.asc()))
        .select(VariantRow::as_select())
        .load(conn)
}

/// Live variants of an account by id.
pub fn variants_by_ids(
    conn: &mut DbConn,
    account: &str,
    ids: &[String],
) -> QueryResult<Vec<VariantRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    variants::table
        .filter(variants::account_id.eq(account))
        .filter(variants::id.eq_any(ids))
        .filter(variants::removed.eq(false))
        .order((variants::created_at.asc(), variants::id.asc()))
        .select(VariantRow::as_select())
        .load(conn)
}

/// One sale line of a variant with its order's header.
#[derive(Debug, Clone, Queryable)]
pub struct VariantSaleLine {
    /// Order id.
    pub order_id: String,
    /// Line id.
    pub line_id: String,
    /// Order time (UTC).
    pub ordered_at: NaiveDateTime,
    /// Warehouse of the order.
    pub warehouse_id: Option<String>,
    /// Currency of the order.
    pub currency: String,
    /// Whether the order is cancelled.
    pub cancelled: bool,
    /// Whether the order is removed.
    pub removed: bool,
    /// Quantity (decimal text; negative: a return).
    pub quantity: String,
    /// Unit price (decimal text).
    pub unit_price: Option<String>,
}

/// Every sale line of one variant (cancelled and removed orders included).
pub fn variant_lines(
    conn: &mut DbConn,
    account: &str,
    variant: &str,
) -> QueryResult<Vec<VariantSaleLine>> {
    sales_order_lines::table
        .inner_join(
            sales_orders::table.on(sales_orders::account_id
                .eq(sales_order_lines::account_id)
                .and(sales_orders::id.eq(sales_order_lines::order_id))),
        )
        .filter(sales_order_lines::account_id.eq(account))
        .filter(sales_order_lines::variant_id.eq(variant))
        .select((
            sales_order_lines::order_id,
            sales_order_lines::line_id,
            sales_orders::ordered_at,
            sales_orders::warehouse_id,
            sales_orders::currency,
            sales_orders::cancelled,
            sales_orders::removed,
            sales_order_lines::quantity,
            sales_order_lines::unit_price,
        ))
        .load(conn)
}

/// Stock history change points of one variant: (warehouse, first day,
/// available), by warehouse and day.
pub fn variant_history(
    conn: &mut DbConn,
    account: &str,
    variant: &str,
) -> QueryResult<Vec<(String, NaiveDate, String)>> {
    stock_history::table
        .filter(stock_history::account_id.eq(account))
        .filter(stock_history::variant_id.eq(variant))
        .order((stock_history::warehouse_id, stock_history::day))
        .select((
            stock_history::warehouse_id,
            stock_history::day,
            stock_history::available,
        ))
        .load(conn)
}
