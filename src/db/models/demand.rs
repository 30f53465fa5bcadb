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
#[derive(Debug, Clone, Queryable, QueryableByName)]
pub struct VariantSaleLine {
    /// Order id.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub order_id: String,
    /// Line id.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub line_id: String,
    /// Order time (UTC).
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    pub ordered_at: NaiveDateTime,
    /// Warehouse of the order.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub warehouse_id: Option<String>,
    /// Currency of the order.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub currency: String,
    /// Whether the order is cancelled.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub cancelled: bool,
    /// Whether the order is removed.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub removed: bool,
    /// Quantity (decimal text; negative: a return).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub quantity: String,
    /// Unit price (decimal text).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub unit_price: Option<String>,
}

/// [`variant_lines`] on SQLite: the index is named.
const SQLITE_VARIANT_LINES: &str = "SELECT l.order_id, l.line_id, o.ordered_at, o.warehouse_id, \
    o.currency, o.cancelled, o.removed, l.quantity, l.unit_price \
    FROM sales_order_lines AS l INDEXED BY sales_order_lines_by_variant \
    INNER JOIN sales_orders AS o ON o.account_id = l.account_id AND o.id = l.order_id \
    WHERE l.account_id = ? AND l.variant_id = ?";

/// Every sale line of one variant (cancelled and removed orders included).
pub fn variant_lines(
    conn: &mut DbConn,
    account: &str,
    variant: &str,
) -> QueryResult<Vec<VariantSaleLine>> {
    // Backend-specific: SQLite has no statistics unless ANALYZE ran, and
    // without them, once the query needs columns the narrow index lacks,
    // its planner walks the account's whole primary key (all of its lines,
    // 0.8 s for a million) instead of the (account, variant) index;
    // INDEXED BY names the index. PostgreSQL plans from its statistics.
    if let DbConn::Sqlite(c) = conn {
        use diesel::sql_types::Text;
        return diesel::sql_query(SQLITE_VARIANT_LINES)
            .bind::<Text, _>(account)
            .bind::<Text, _>(variant)
            .load(c);
    }
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
