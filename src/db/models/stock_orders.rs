//! Stock orders as the purchase-order surface reads them (headers, lines,
//! the server's own record of an order in `stock_order_meta`, and its
//! change history in `stock_order_history`), and the small lookups that
//! creating an order needs (warehouses, vendors, a variant by SKU, a stock
//! level). Orders themselves are written only through `db::ingest`, the
//! one write path, so the plan sees them as it sees imported ones.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    stock_levels, stock_order_history, stock_order_lines, stock_order_meta, stock_orders, variants,
    vendors, warehouses,
};
use crate::db::DbConn;

/// A stock order's header.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stock_orders)]
pub struct OrderHead {
    /// The (child) account holding it.
    pub account_id: String,
    /// Id.
    pub id: String,
    /// `purchase`, `transfer` or `assembly`.
    pub kind: String,
    /// `draft`, `active`, `closed` or `cancelled`.
    pub status: String,
    /// Vendor.
    pub vendor_id: Option<String>,
    /// Source warehouse.
    pub source_warehouse_id: Option<String>,
    /// Destination warehouse.
    pub destination_warehouse_id: Option<String>,
    /// Expected delivery.
    pub expected_at: Option<NaiveDate>,
    /// Currency of the costs.
    pub currency: String,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// One line of a stock order.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stock_order_lines)]
pub struct OrderLineRow {
    /// The order.
    pub order_id: String,
    /// 1-based position.
    pub line_no: i32,
    /// The source's line id.
    pub line_id: Option<String>,
    /// Variant.
    pub variant_id: String,
    /// Quantity ordered.
    pub quantity: String,
    /// Received so far.
    pub received_quantity: Option<String>,
    /// Cost per unit.
    pub unit_cost: Option<String>,
}

/// What the server keeps about an order it created or changed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = stock_order_meta, treat_none_as_null = true)]
pub struct OrderMeta {
    /// Account.
    pub account_id: String,
    /// Order.
    pub order_id: String,
    /// Order date.
    pub ordered_at: Option<NaiveDate>,
    /// Who created it (e-mail; empty for an imported order changed here).
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// `not_pushed`, `pushed`, `failed`, `unsupported`.
    pub push_state: String,
    /// The last push's error.
    pub push_error: Option<String>,
    /// When it was last pushed.
    pub pushed_at: Option<NaiveDateTime>,
    /// JSON object: line id → quantity ordered before it was cancelled.
    pub cancelled_lines: String,
    /// A transfer between children: the other half's account.
    pub partner_account_id: Option<String>,
    /// A transfer between children: the other half's id.
    pub partner_order_id: Option<String>,
}

/// One change to an order.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stock_order_history)]
pub struct HistoryRow {
    /// Account.
    pub account_id: String,
    /// Order.
    pub order_id: String,
    /// 1-based, per order.
    pub seq: i64,
    /// When.
    pub at: NaiveDateTime,
    /// Who (e-mail).
    pub actor: String,
    /// `created`, `edited`, `confirmed`, `received`, `cancelled`, `pushed`, ...
    pub action: String,
    /// JSON: what changed.
    pub detail: String,
}

/// The filters of an order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Status.
    pub status: Option<String>,
    /// Vendor id.
    pub vendor_id: Option<String>,
    /// Destination warehouse id.
    pub destination_warehouse_id: Option<String>,
    /// Kind.
    pub kind: Option<String>,
}

/// The not-removed orders of some accounts, newest change first.
pub fn list(
    conn: &mut DbConn,
    accounts: &[String],
    filter: &OrderFilter,
) -> QueryResult<Vec<OrderHead>> {
    let mut q = stock_orders::table
        .filter(stock_orders::account_id.eq_any(accounts))
        .filter(stock_orders::removed.eq(false))
        .into_boxed();
    if let Some(s) = &filter.status {
        q = q.filter(stock_orders::status.eq(s.clone()));
    }
    if let Some(v) = &filter.vendor_id {
        q = q.filter(stock_orders::vendor_id.eq(v.clone()));
    }
    if let Some(w) = &filter.destination_warehouse_id {
        q = q.filter(stock_orders::destination_warehouse_id.eq(w.clone()));
    }
    if let Some(k) = &filter.kind {
        q = q.filter(stock_orders::kind.eq(k.clone()));
    }
    q.order((stock_orders::updated_at.desc(), stock_orders::id.asc()))
        .select(OrderHead::as_select())
        .load(conn)
}

/// The first not-removed order with this id in one of `accounts`.
pub fn find(conn: &mut DbConn, accounts: &[String], id: &str) -> QueryResult<Option<OrderHead>> {
    stock_orders::table
        .filter(stock_orders::account_id.eq_any(accounts))
        .filter(stock_orders::id.eq(id))
        .filter(stock_orders::removed.eq(false))
        .order(stock_orders::account_id)
        .select(OrderHead::as_select())
        .first(conn)
        .optional()
}

/// The lines of some orders of one account, in order and line order.
pub fn lines(
    conn: &mut DbConn,
    account: &str,
    orders: &[String],
) -> QueryResult<Vec<OrderLineRow>> {
    let mut out = Vec::new();
    for chunk in orders.chunks(500) {
        out.extend(
            stock_order_lines::table
                .filter(stock_order_lines::account_id.eq(account))
                .filter(stock_order_lines::order_id.eq_any(chunk))
                .order((stock_order_lines::order_id, stock_order_lines::line_no))
                .select(OrderLineRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The server's record of an order, if it has one.
pub fn meta(conn: &mut DbConn, account: &str, order: &str) -> QueryResult<Option<OrderMeta>> {
    stock_order_meta::table
        .find((account, order))
        .select(OrderMeta::as_select())
        .first(conn)
        .optional()
}

/// Inserts or replaces the server's record of an order.
pub fn save_meta(conn: &mut DbConn, m: &OrderMeta) -> QueryResult<()> {
    diesel::delete(stock_order_meta::table.find((&m.account_id, &m.order_id))).execute(conn)?;
    diesel::insert_into(stock_order_meta::table)
        .values(m)
        .execute(conn)?;
    Ok(())
}

/// Appends a change to an order's history.
pub fn add_history(
    conn: &mut DbConn,
    account: &str,
    order: &str,
    at: NaiveDateTime,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> QueryResult<()> {
    let last: Option<i64> = stock_order_history::table
        .filter(stock_order_history::account_id.eq(account))
        .filter(stock_order_history::order_id.eq(order))
        .select(diesel::dsl::max(stock_order_history::seq))
        .first(conn)?;
    diesel::insert_into(stock_order_history::table)
        .values(HistoryRow {
            account_id: account.into(),
            order_id: order.into(),
            seq: last.unwrap_or(0) + 1,
            at,
            actor: actor.into(),
            action: action.into(),
            detail: detail.to_string(),
        })
        .execute(conn)?;
    Ok(())
}

/// An order's history, oldest first.
pub fn history(conn: &mut DbConn, account: &str, order: &str) -> QueryResult<Vec<HistoryRow>> {
    stock_order_history::table
        .filter(stock_order_history::account_id.eq(account))
        .filter(stock_order_history::order_id.eq(order))
        .order(stock_order_history::seq)
        .select(HistoryRow::as_select())
        .load(conn)
}

/// The account's not-removed warehouses (id, name), by id.
pub fn live_warehouses(conn: &mut DbConn, account: &str) -> QueryResult<Vec<(String, String)>> {
    warehouses::table
        .filter(warehouses::account_id.eq(account))
        .filter(warehouses::removed.eq(false))
        .order(warehouses::id)
        .select((warehouses::id, warehouses::name))
        .load(conn)
}

/// The account's not-removed vendors (id, name), by id.
pub fn live_vendor_names(conn: &mut DbConn, account: &str) -> QueryResult<Vec<(String, String)>> {
    vendors::table
        .filter(vendors::account_id.eq(account))
        .filter(vendors::removed.eq(false))
        .order(vendors::id)
        .select((vendors::id, vendors::name))
        .load(conn)
}

/// SKUs of some variants of an account (id, sku).
pub fn skus_of(
    conn: &mut DbConn,
    account: &str,
    ids: &[String],
) -> QueryResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            variants::table
                .filter(variants::account_id.eq(account))
                .filter(variants::id.eq_any(chunk))
                .select((variants::id, variants::sku))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// The stored level of one variant in one warehouse: (on hand, allocated).
pub fn stock_level(
    conn: &mut DbConn,
    account: &str,
    variant: &str,
    warehouse: &str,
) -> QueryResult<Option<(String, String)>> {
    stock_levels::table
        .find((account, variant, warehouse))
        .select((stock_levels::on_hand, stock_levels::allocated))
        .first(conn)
        .optional()
}
