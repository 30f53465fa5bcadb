//! The read feeds' queries (`services::feeds` shapes the rows into
//! records): each entity's rows of one account after a change sequence, in
//! sequence order, and the lines of a page's orders.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::records::VariantRow;
use crate::db::schema::{
    sales_order_lines, sales_orders, stock_levels, stock_order_lines, stock_orders, variants,
    vendors, warehouses,
};
use crate::db::DbConn;

/// Up to `limit` `warehouses` rows of an account after change sequence `after`, in sequence order.
#[allow(clippy::type_complexity)]
pub fn warehouses_after(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, String, String, NaiveDateTime, bool)>> {
    warehouses::table
        .filter(warehouses::account_id.eq(account))
        .filter(warehouses::seq.gt(after))
        .order(warehouses::seq)
        .limit(limit)
        .select((
            warehouses::seq,
            warehouses::id,
            warehouses::name,
            warehouses::updated_at,
            warehouses::removed,
        ))
        .load(conn)
}

/// Up to `limit` `vendors` rows of an account after change sequence `after`, in sequence order.
#[allow(clippy::type_complexity)]
pub fn vendors_after(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    limit: i64,
) -> QueryResult<
    Vec<(
        i64,
        String,
        String,
        Option<String>,
        Option<i32>,
        Option<String>,
        Option<String>,
        NaiveDateTime,
        bool,
    )>,
> {
    vendors::table
        .filter(vendors::account_id.eq(account))
        .filter(vendors::seq.gt(after))
        .order(vendors::seq)
        .limit(limit)
        .select((
            vendors::seq,
            vendors::id,
            vendors::name,
            vendors::currency,
            vendors::lead_time_days,
            vendors::minimum_order_quantity,
            vendors::pack_size,
            vendors::updated_at,
            vendors::removed,
        ))
        .load(conn)
}

/// Up to `limit` `variants` rows of an account after change sequence `after`, in sequence order.
#[allow(clippy::type_complexity)]
pub fn variants_after(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<VariantRow>> {
    variants::table
        .filter(variants::account_id.eq(account))
        .filter(variants::seq.gt(after))
        .order(variants::seq)
        .limit(limit)
        .select(VariantRow::as_select())
        .load(conn)
}

/// Up to `limit` `stock_levels` rows of an account after change sequence `after`, in sequence order.
#[allow(clippy::type_complexity)]
pub fn stock_after(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, String, String, String, String, NaiveDateTime)>> {
    stock_levels::table
        .filter(stock_levels::account_id.eq(account))
        .filter(stock_levels::seq.gt(after))
        .order(stock_levels::seq)
        .limit(limit)
        .select((
            stock_levels::seq,
            stock_levels::variant_id,
            stock_levels::warehouse_id,
            stock_levels::on_hand,
            stock_levels::allocated,
            stock_levels::updated_at,
        ))
        .load(conn)
}

/// Up to `limit` `sales_orders` rows of an account after change sequence `after`, in sequence order.
#[allow(clippy::type_complexity)]
pub fn sales_orders_after(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    limit: i64,
) -> QueryResult<
    Vec<(
        i64,
        String,
        NaiveDateTime,
        Option<String>,
        String,
        bool,
        bool,
        NaiveDateTime,
    )>,
> {
    sales_orders::table
        .filter(sales_orders::account_id.eq(account))
        .filter(sales_orders::seq.gt(after))
        .order(sales_orders::seq)
        .limit(limit)
        .select((
            sales_orders::seq,
            sales_orders::id,
            sales_orders::ordered_at,
            sales_orders::warehouse_id,
            sales_orders::currency,
            sales_orders::cancelled,
            sales_orders::removed,
            sales_orders::updated_at,
        ))
        .load(conn)
}

/// The `sales_order_lines` rows of the orders in `chunk` (ids), by order.
#[allow(clippy::type_complexity)]
pub fn sales_order_lines_of(
    conn: &mut DbConn,
    account: &str,
    chunk: &[&str],
) -> QueryResult<Vec<(String, String, String, String, Option<String>)>> {
    sales_order_lines::table
        .filter(sales_order_lines::account_id.eq(account))
        .filter(sales_order_lines::order_id.eq_any(chunk))
        .order((sales_order_lines::order_id, sales_order_lines::line_id))
        .select((
            sales_order_lines::order_id,
            sales_order_lines::line_id,
            sales_order_lines::variant_id,
            sales_order_lines::quantity,
            sales_order_lines::unit_price,
        ))
        .load(conn)
}

/// Up to `limit` `stock_orders` rows of an account after change sequence `after`, in sequence order.
#[allow(clippy::type_complexity)]
pub fn stock_orders_after(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    limit: i64,
) -> QueryResult<
    Vec<(
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<chrono::NaiveDate>,
        String,
        NaiveDateTime,
        bool,
    )>,
> {
    stock_orders::table
        .filter(stock_orders::account_id.eq(account))
        .filter(stock_orders::seq.gt(after))
        .order(stock_orders::seq)
        .limit(limit)
        .select((
            stock_orders::seq,
            stock_orders::id,
            stock_orders::kind,
            stock_orders::status,
            stock_orders::vendor_id,
            stock_orders::source_warehouse_id,
            stock_orders::destination_warehouse_id,
            stock_orders::expected_at,
            stock_orders::currency,
            stock_orders::updated_at,
            stock_orders::removed,
        ))
        .load(conn)
}

/// The `stock_order_lines` rows of the orders in `chunk` (ids), by order.
#[allow(clippy::type_complexity)]
pub fn stock_order_lines_of(
    conn: &mut DbConn,
    account: &str,
    chunk: &[&str],
) -> QueryResult<
    Vec<(
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
    )>,
> {
    stock_order_lines::table
        .filter(stock_order_lines::account_id.eq(account))
        .filter(stock_order_lines::order_id.eq_any(chunk))
        .order((stock_order_lines::order_id, stock_order_lines::line_no))
        .select((
            stock_order_lines::order_id,
            stock_order_lines::line_id,
            stock_order_lines::variant_id,
            stock_order_lines::quantity,
            stock_order_lines::received_quantity,
            stock_order_lines::unit_cost,
        ))
        .load(conn)
}
