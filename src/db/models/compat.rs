//! The stored rows the StockTrim-compatible surface answers from
//! (`services::compat` maps them onto StockTrim's shapes and native import
//! records): the catalogue, stock, orders, customers (kept, as sent, in the
//! small `compat_customers` table: they have no native entity) and API keys
//! by id.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::db::models::planning::{num, open_order_lines, opt_num};
use crate::db::models::records::VariantRow;
use crate::db::models::ApiKey;
use crate::db::schema::{
    api_keys, compat_customers, sales_order_lines, sales_orders, stock_levels, stock_order_lines,
    stock_orders, variants, vendors, warehouses,
};
use crate::db::DbConn;

/// A live API key by id (not its hash).
pub fn live_key_by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .find(id)
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

/// The variants of an account: all, or those whose id or SKU is `code`;
/// removed ones left out unless asked for. Ordered by id.
pub fn variants(
    conn: &mut DbConn,
    account: &str,
    code: Option<&str>,
    with_removed: bool,
) -> QueryResult<Vec<VariantRow>> {
    let mut q = variants::table
        .filter(variants::account_id.eq(account))
        .into_boxed();
    if let Some(c) = code {
        q = q.filter(variants::id.eq(c).or(variants::sku.eq(c)));
    }
    if !with_removed {
        q = q.filter(variants::removed.eq(false));
    }
    q.order(variants::id.asc())
        .select(VariantRow::as_select())
        .load(conn)
}

/// One variant by id (removed or not).
pub fn variant(conn: &mut DbConn, account: &str, id: &str) -> QueryResult<Option<VariantRow>> {
    variants::table
        .find((account, id))
        .select(VariantRow::as_select())
        .first(conn)
        .optional()
}

/// A stored vendor.
#[derive(Debug, Clone, Queryable)]
pub struct VendorRow {
    /// Id (the supplier code).
    pub id: String,
    /// Name.
    pub name: String,
    /// Currency.
    pub currency: Option<String>,
    /// Lead time.
    pub lead_time_days: Option<i32>,
    /// MOQ.
    pub minimum_order_quantity: Option<String>,
    /// Pack size.
    pub pack_size: Option<String>,
    /// Removed.
    pub removed: bool,
}

/// The live vendors of an account (all, or those whose id or name is `code`).
pub fn vendors(
    conn: &mut DbConn,
    account: &str,
    code: Option<&str>,
) -> QueryResult<Vec<VendorRow>> {
    let mut q = vendors::table
        .filter(vendors::account_id.eq(account))
        .filter(vendors::removed.eq(false))
        .into_boxed();
    if let Some(c) = code {
        q = q.filter(vendors::id.eq(c).or(vendors::name.eq(c)));
    }
    q.order(vendors::id.asc())
        .select((
            vendors::id,
            vendors::name,
            vendors::currency,
            vendors::lead_time_days,
            vendors::minimum_order_quantity,
            vendors::pack_size,
            vendors::removed,
        ))
        .load(conn)
}

/// A stored warehouse: id, name, removed.
pub type WarehouseRow = (String, String, bool);

/// The live warehouses of an account (all, or those whose id or name is `code`).
pub fn warehouses(
    conn: &mut DbConn,
    account: &str,
    code: Option<&str>,
) -> QueryResult<Vec<WarehouseRow>> {
    let mut q = warehouses::table
        .filter(warehouses::account_id.eq(account))
        .filter(warehouses::removed.eq(false))
        .into_boxed();
    if let Some(c) = code {
        q = q.filter(warehouses::id.eq(c).or(warehouses::name.eq(c)));
    }
    q.order(warehouses::id.asc())
        .select((warehouses::id, warehouses::name, warehouses::removed))
        .load(conn)
}

/// Per variant: its stock levels as (warehouse id, on hand).
pub fn stock_by_variant(
    conn: &mut DbConn,
    account: &str,
) -> QueryResult<HashMap<String, Vec<(String, String)>>> {
    let rows: Vec<(String, String, String)> = stock_levels::table
        .filter(stock_levels::account_id.eq(account))
        .order((stock_levels::variant_id, stock_levels::warehouse_id))
        .select((
            stock_levels::variant_id,
            stock_levels::warehouse_id,
            stock_levels::on_hand,
        ))
        .load(conn)?;
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (v, w, q) in rows {
        out.entry(v).or_default().push((w, q));
    }
    Ok(out)
}

/// Per variant: what is on order (open purchase lines, ordered − received).
pub fn on_order_by_variant(conn: &mut DbConn, account: &str) -> QueryResult<HashMap<String, f64>> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for l in open_order_lines(conn, account, None)? {
        if l.kind != "purchase" {
            continue;
        }
        let open = num(&l.quantity) - opt_num(&l.received_quantity).unwrap_or(0.0);
        *out.entry(l.variant_id).or_default() += open.max(0.0);
    }
    Ok(out)
}

/// A stored sales line: (line id, variant id, quantity, unit price).
pub type SaleLine = (String, String, String, Option<String>);

/// A stored stock-order line: (variant, quantity, received, unit cost).
pub type OrderLine = (String, String, Option<String>, Option<String>);

/// A sales order with its lines, as stored.
#[derive(Debug, Clone)]
pub struct SalesOrder {
    /// Id.
    pub id: String,
    /// Ordered at.
    pub ordered_at: NaiveDateTime,
    /// Warehouse.
    pub warehouse_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// Cancelled.
    pub cancelled: bool,
    /// Lines.
    pub lines: Vec<SaleLine>,
}

/// The live (not removed) sales orders of an account with their lines,
/// optionally only those given by id.
pub fn sales_orders(
    conn: &mut DbConn,
    account: &str,
    ids: Option<&[String]>,
) -> QueryResult<Vec<SalesOrder>> {
    let mut q = sales_orders::table
        .filter(sales_orders::account_id.eq(account))
        .filter(sales_orders::removed.eq(false))
        .into_boxed();
    if let Some(ids) = ids {
        q = q.filter(sales_orders::id.eq_any(ids.to_vec()));
    }
    let heads: Vec<(String, NaiveDateTime, Option<String>, String, bool)> = q
        .order((sales_orders::ordered_at.asc(), sales_orders::id.asc()))
        .select((
            sales_orders::id,
            sales_orders::ordered_at,
            sales_orders::warehouse_id,
            sales_orders::currency,
            sales_orders::cancelled,
        ))
        .load(conn)?;
    let mut lq = sales_order_lines::table
        .filter(sales_order_lines::account_id.eq(account))
        .into_boxed();
    if let Some(ids) = ids {
        lq = lq.filter(sales_order_lines::order_id.eq_any(ids.to_vec()));
    }
    let lines: Vec<(String, String, String, String, Option<String>)> = lq
        .order((sales_order_lines::order_id, sales_order_lines::line_id))
        .select((
            sales_order_lines::order_id,
            sales_order_lines::line_id,
            sales_order_lines::variant_id,
            sales_order_lines::quantity,
            sales_order_lines::unit_price,
        ))
        .load(conn)?;
    let mut by_order: HashMap<String, Vec<SaleLine>> = HashMap::new();
    for (o, l, v, q, p) in lines {
        by_order.entry(o).or_default().push((l, v, q, p));
    }
    Ok(heads
        .into_iter()
        .map(
            |(id, ordered_at, warehouse_id, currency, cancelled)| SalesOrder {
                lines: by_order.remove(&id).unwrap_or_default(),
                id,
                ordered_at,
                warehouse_id,
                currency,
                cancelled,
            },
        )
        .collect())
}

/// A stock order with its lines, as stored.
#[derive(Debug, Clone)]
pub struct StockOrder {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Status.
    pub status: String,
    /// Vendor.
    pub vendor_id: Option<String>,
    /// Destination.
    pub destination_warehouse_id: Option<String>,
    /// Expected.
    pub expected_at: Option<NaiveDate>,
    /// Currency.
    pub currency: String,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Lines.
    pub lines: Vec<OrderLine>,
}

/// The live purchase orders of an account (optionally one id), newest change first.
pub fn purchase_orders(
    conn: &mut DbConn,
    account: &str,
    id: Option<&str>,
) -> QueryResult<Vec<StockOrder>> {
    type Head = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<NaiveDate>,
        String,
        NaiveDateTime,
    );
    let mut q = stock_orders::table
        .filter(stock_orders::account_id.eq(account))
        .filter(stock_orders::removed.eq(false))
        .filter(stock_orders::kind.eq("purchase"))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(stock_orders::id.eq(id));
    }
    let heads: Vec<Head> = q
        .order((stock_orders::updated_at.desc(), stock_orders::id.asc()))
        .select((
            stock_orders::id,
            stock_orders::kind,
            stock_orders::status,
            stock_orders::vendor_id,
            stock_orders::destination_warehouse_id,
            stock_orders::expected_at,
            stock_orders::currency,
            stock_orders::updated_at,
        ))
        .load(conn)?;
    type Row = (String, String, String, Option<String>, Option<String>);
    let lines: Vec<Row> = stock_order_lines::table
        .filter(stock_order_lines::account_id.eq(account))
        .order((stock_order_lines::order_id, stock_order_lines::line_no))
        .select((
            stock_order_lines::order_id,
            stock_order_lines::variant_id,
            stock_order_lines::quantity,
            stock_order_lines::received_quantity,
            stock_order_lines::unit_cost,
        ))
        .load(conn)?;
    let mut by_order: BTreeMap<String, Vec<OrderLine>> = BTreeMap::new();
    for (o, v, q, r, c) in lines {
        by_order.entry(o).or_default().push((v, q, r, c));
    }
    Ok(heads
        .into_iter()
        .map(
            |(
                id,
                kind,
                status,
                vendor_id,
                destination_warehouse_id,
                expected_at,
                currency,
                updated_at,
            )| {
                StockOrder {
                    lines: by_order.remove(&id).unwrap_or_default(),
                    id,
                    kind,
                    status,
                    vendor_id,
                    destination_warehouse_id,
                    expected_at,
                    currency,
                    updated_at,
                }
            },
        )
        .collect())
}

/// The stored customers of an account (all, or the one with `code`).
pub fn customers(conn: &mut DbConn, account: &str, code: Option<&str>) -> QueryResult<Vec<Value>> {
    let mut q = compat_customers::table
        .filter(compat_customers::account_id.eq(account))
        .into_boxed();
    if let Some(c) = code {
        q = q.filter(compat_customers::code.eq(c));
    }
    let rows: Vec<String> = q
        .order(compat_customers::code.asc())
        .select(compat_customers::body)
        .load(conn)?;
    Ok(rows
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect())
}

/// Creates or replaces a customer (merged by the caller).
pub fn upsert_customer(
    conn: &mut DbConn,
    account: &str,
    code: &str,
    body: &Value,
) -> QueryResult<()> {
    let text = body.to_string();
    let now = Utc::now().naive_utc();
    crate::db::transaction(conn, |conn| {
        diesel::delete(
            compat_customers::table
                .filter(compat_customers::account_id.eq(account))
                .filter(compat_customers::code.eq(code)),
        )
        .execute(conn)?;
        diesel::insert_into(compat_customers::table)
            .values((
                compat_customers::account_id.eq(account),
                compat_customers::code.eq(code),
                compat_customers::body.eq(&text),
                compat_customers::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}
