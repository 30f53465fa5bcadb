//! Rows of the child-account record tables (warehouses, vendors, variants,
//! stock levels and their history, sales and stock orders) and the queries
//! the write path and the readers need. Decimals are stored as exact text.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    sales_order_lines, sales_orders, stock_history, stock_levels, stock_order_lines, stock_orders,
    variants, vendors, warehouses,
};
use crate::db::DbConn;

/// A warehouse row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = warehouses, treat_none_as_default_value = false)]
pub struct NewWarehouse<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Source id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Last change at the source (UTC).
    pub updated_at: NaiveDateTime,
    /// Removed flag.
    pub removed: bool,
    /// Content fingerprint.
    pub fingerprint: i64,
    /// Change sequence.
    pub seq: i64,
}

/// A vendor row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = vendors, treat_none_as_default_value = false)]
pub struct NewVendor<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Source id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Currency.
    pub currency: Option<&'a str>,
    /// Lead time.
    pub lead_time_days: Option<i32>,
    /// MOQ (decimal text).
    pub minimum_order_quantity: Option<String>,
    /// Pack size (decimal text).
    pub pack_size: Option<String>,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Removed flag.
    pub removed: bool,
    /// Fingerprint.
    pub fingerprint: i64,
    /// Sequence.
    pub seq: i64,
}

/// A variant row, to insert and to read.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = variants, treat_none_as_default_value = false)]
pub struct VariantRow {
    /// Account.
    pub account_id: String,
    /// Source id.
    pub id: String,
    /// SKU as given.
    pub sku: String,
    /// SKU trimmed and lower-cased.
    pub sku_norm: String,
    /// Barcode.
    pub barcode: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Product id.
    pub product_id: Option<String>,
    /// Product title.
    pub product_title: Option<String>,
    /// Preferred vendor.
    pub vendor_id: Option<String>,
    /// JSON list of vendor terms.
    pub vendors: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// JSON list of tags.
    pub tags: Option<String>,
    /// Cost price.
    pub cost_price: Option<String>,
    /// Retail price.
    pub retail_price: Option<String>,
    /// Currency.
    pub currency: Option<String>,
    /// Stock tracked.
    pub tracked: bool,
    /// Own lead time.
    pub lead_time_days: Option<i32>,
    /// Min stock.
    pub min_stock: Option<String>,
    /// Max stock.
    pub max_stock: Option<String>,
    /// JSON list of components.
    pub components: Option<String>,
    /// Produced in advance.
    pub assembly: bool,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Removed flag.
    pub removed: bool,
    /// Fingerprint.
    pub fingerprint: i64,
    /// Sequence.
    pub seq: i64,
    /// First stored.
    pub created_at: NaiveDateTime,
}

/// A stock level row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = stock_levels, treat_none_as_default_value = false)]
pub struct NewStockLevel<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Variant.
    pub variant_id: &'a str,
    /// Warehouse.
    pub warehouse_id: &'a str,
    /// On hand.
    pub on_hand: String,
    /// Allocated.
    pub allocated: String,
    /// Reading time.
    pub updated_at: NaiveDateTime,
    /// Fingerprint.
    pub fingerprint: i64,
    /// Sequence.
    pub seq: i64,
}

/// A stock history change point.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable)]
#[diesel(table_name = stock_history, treat_none_as_default_value = false)]
pub struct HistoryPoint {
    /// Account.
    pub account_id: String,
    /// Variant.
    pub variant_id: String,
    /// Warehouse.
    pub warehouse_id: String,
    /// First day this value holds (account's time zone).
    pub day: NaiveDate,
    /// Available = on hand − allocated.
    pub available: String,
    /// The reading that set it.
    pub reading_at: NaiveDateTime,
}

/// A sales order header to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = sales_orders, treat_none_as_default_value = false)]
pub struct NewSalesOrder<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Source id.
    pub id: &'a str,
    /// Ordered at (UTC).
    pub ordered_at: NaiveDateTime,
    /// Warehouse.
    pub warehouse_id: Option<&'a str>,
    /// Currency.
    pub currency: &'a str,
    /// Cancelled.
    pub cancelled: bool,
    /// Removed.
    pub removed: bool,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Fingerprint.
    pub fingerprint: i64,
    /// Sequence.
    pub seq: i64,
}

/// A sales order line to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = sales_order_lines, treat_none_as_default_value = false)]
pub struct NewSalesLine<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Order.
    pub order_id: &'a str,
    /// Line id.
    pub line_id: &'a str,
    /// Variant.
    pub variant_id: &'a str,
    /// Quantity (negative: return).
    pub quantity: String,
    /// Unit price.
    pub unit_price: Option<String>,
}

/// A stock order header to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = stock_orders, treat_none_as_default_value = false)]
pub struct NewStockOrder<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Source id.
    pub id: &'a str,
    /// purchase / transfer / assembly.
    pub kind: &'a str,
    /// draft / active / closed / cancelled.
    pub status: &'a str,
    /// Vendor.
    pub vendor_id: Option<&'a str>,
    /// Source warehouse.
    pub source_warehouse_id: Option<&'a str>,
    /// Destination warehouse.
    pub destination_warehouse_id: Option<&'a str>,
    /// Expected date.
    pub expected_at: Option<NaiveDate>,
    /// Currency.
    pub currency: &'a str,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Removed.
    pub removed: bool,
    /// Fingerprint.
    pub fingerprint: i64,
    /// Sequence.
    pub seq: i64,
}

/// A stock order line to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = stock_order_lines, treat_none_as_default_value = false)]
pub struct NewStockOrderLine<'a> {
    /// Account.
    pub account_id: &'a str,
    /// Order.
    pub order_id: &'a str,
    /// Position (1-based).
    pub line_no: i32,
    /// Source line id.
    pub line_id: Option<&'a str>,
    /// Variant.
    pub variant_id: &'a str,
    /// Quantity.
    pub quantity: String,
    /// Received so far.
    pub received_quantity: Option<String>,
    /// Unit cost.
    pub unit_cost: Option<String>,
}

/// What the write path needs to know of a stored record.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Fingerprint.
    pub fingerprint: i64,
    /// Removed flag.
    pub removed: bool,
}

/// A batch with more ids than this reads the account's stored records of
/// its table whole (one scan, a bulk import); a smaller one reads them by id
/// (an index probe per id), so the cost of a sync page does not grow with
/// the account.
pub const BY_ID_LIMIT: usize = 20_000;
/// Ids per `IN` list.
const ID_CHUNK: usize = 500;

/// Runs `query` over the whole account when `ids` is large, else once per
/// chunk of ids (`in_chunk` adds the chunk's filter).
fn by_ids<T>(
    conn: &mut DbConn,
    ids: &[&str],
    whole: impl FnOnce(&mut DbConn) -> QueryResult<Vec<T>>,
    mut in_chunk: impl FnMut(&mut DbConn, &[&str]) -> QueryResult<Vec<T>>,
) -> QueryResult<Vec<T>> {
    if ids.len() > BY_ID_LIMIT {
        return whole(conn);
    }
    let mut rows = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        rows.extend(in_chunk(conn, chunk)?);
    }
    Ok(rows)
}

macro_rules! stored_by_id {
    ($name:ident, $table:ident) => {
        /// Id → stored state of the account's records of this table with
        /// one of `ids` (see [`BY_ID_LIMIT`]: a large batch reads them all).
        pub fn $name(
            conn: &mut DbConn,
            account: &str,
            ids: &[&str],
        ) -> QueryResult<std::collections::HashMap<String, Stored>> {
            let query = || {
                $table::table
                    .filter($table::account_id.eq(account))
                    .select((
                        $table::id,
                        $table::updated_at,
                        $table::fingerprint,
                        $table::removed,
                    ))
            };
            let rows: Vec<(String, NaiveDateTime, i64, bool)> = by_ids(
                conn,
                ids,
                |c| query().load(c),
                |c, chunk| query().filter($table::id.eq_any(chunk)).load(c),
            )?;
            Ok(rows
                .into_iter()
                .map(|(id, updated_at, fingerprint, removed)| {
                    (
                        id,
                        Stored {
                            updated_at,
                            fingerprint,
                            removed,
                        },
                    )
                })
                .collect())
        }
    };
}

stored_by_id!(stored_warehouses, warehouses);
stored_by_id!(stored_vendors, vendors);
stored_by_id!(stored_sales_orders, sales_orders);
stored_by_id!(stored_stock_orders, stock_orders);

/// (variant, warehouse) → stored state of the account's stock levels of
/// the variants `variant_ids` (see [`BY_ID_LIMIT`]).
pub fn stored_stock_levels(
    conn: &mut DbConn,
    account: &str,
    variant_ids: &[&str],
) -> QueryResult<std::collections::HashMap<(String, String), Stored>> {
    let query = || {
        stock_levels::table
            .filter(stock_levels::account_id.eq(account))
            .select((
                stock_levels::variant_id,
                stock_levels::warehouse_id,
                stock_levels::updated_at,
                stock_levels::fingerprint,
            ))
    };
    let rows: Vec<(String, String, NaiveDateTime, i64)> = by_ids(
        conn,
        variant_ids,
        |c| query().load(c),
        |c, chunk| {
            query()
                .filter(stock_levels::variant_id.eq_any(chunk))
                .load(c)
        },
    )?;
    Ok(rows
        .into_iter()
        .map(|(v, w, updated_at, fingerprint)| {
            (
                (v, w),
                Stored {
                    updated_at,
                    fingerprint,
                    removed: false,
                },
            )
        })
        .collect())
}

/// What an update of a stored variant keeps, and what tells whether it
/// changes more than the variant's own plan line.
#[derive(Clone, Debug)]
pub struct StoredVariant {
    /// What the write path knows of every stored record.
    pub stored: Stored,
    /// Created at (kept across updates).
    pub created_at: NaiveDateTime,
    /// The normalised SKU: the plan row it belongs to.
    pub sku_norm: String,
    /// Its bill of materials as stored (JSON text).
    pub components: Option<String>,
    /// Produced in advance from its components.
    pub assembly: bool,
    /// Marked removed.
    pub removed: bool,
}

/// The account's stored variants `ids` (see [`BY_ID_LIMIT`]).
pub fn stored_variant_rows(
    conn: &mut DbConn,
    account: &str,
    ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, StoredVariant>> {
    type Row = (
        String,
        NaiveDateTime,
        i64,
        NaiveDateTime,
        String,
        Option<String>,
        bool,
        bool,
    );
    let query = || {
        variants::table
            .filter(variants::account_id.eq(account))
            .select((
                variants::id,
                variants::updated_at,
                variants::fingerprint,
                variants::created_at,
                variants::sku_norm,
                variants::components,
                variants::assembly,
                variants::removed,
            ))
    };
    let rows: Vec<Row> = by_ids(
        conn,
        ids,
        |c| query().load(c),
        |c, chunk| query().filter(variants::id.eq_any(chunk)).load(c),
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(id, updated_at, fingerprint, created_at, sku_norm, components, assembly, removed)| {
                (
                    id,
                    StoredVariant {
                        stored: Stored {
                            updated_at,
                            fingerprint,
                            removed,
                        },
                        created_at,
                        sku_norm,
                        components,
                        assembly,
                        removed,
                    },
                )
            },
        )
        .collect())
}

/// Ids of the account's warehouses, vendors and variants (references), and
/// the SKUs and names a file may name them by.
pub fn known_ids(conn: &mut DbConn, account: &str) -> QueryResult<crate::import::KnownIds> {
    use crate::import::KnownIds;
    let mut known = KnownIds::default();
    let rows: Vec<(String, String, bool)> = variants::table
        .filter(variants::account_id.eq(account))
        .select((variants::id, variants::sku_norm, variants::removed))
        .load(conn)?;
    for (id, sku, removed) in rows {
        if !removed && !sku.is_empty() {
            known.variant_skus.entry(sku).or_default().push(id.clone());
        }
        known.variants.insert(id);
    }
    let rows: Vec<(String, String)> = warehouses::table
        .filter(warehouses::account_id.eq(account))
        .select((warehouses::id, warehouses::name))
        .load(conn)?;
    for (id, name) in rows {
        known
            .warehouse_names
            .entry(KnownIds::name_key(&name))
            .or_default()
            .push(id.clone());
        known.warehouses.insert(id);
    }
    let rows: Vec<(String, String)> = vendors::table
        .filter(vendors::account_id.eq(account))
        .select((vendors::id, vendors::name))
        .load(conn)?;
    for (id, name) in rows {
        known
            .vendor_names
            .entry(KnownIds::name_key(&name))
            .or_default()
            .push(id.clone());
        known.vendors.insert(id);
    }
    Ok(known)
}

/// All of the account's stock history change points.
pub fn history_points(conn: &mut DbConn, account: &str) -> QueryResult<Vec<HistoryPoint>> {
    stock_history::table
        .filter(stock_history::account_id.eq(account))
        .select(HistoryPoint::as_select())
        .load(conn)
}

/// The account's stock history change points of the variants
/// `variant_ids` (see [`BY_ID_LIMIT`]).
pub fn history_points_of(
    conn: &mut DbConn,
    account: &str,
    variant_ids: &[&str],
) -> QueryResult<Vec<HistoryPoint>> {
    let query = || {
        stock_history::table
            .filter(stock_history::account_id.eq(account))
            .select(HistoryPoint::as_select())
    };
    by_ids(
        conn,
        variant_ids,
        |c| query().load(c),
        |c, chunk| {
            query()
                .filter(stock_history::variant_id.eq_any(chunk))
                .load(c)
        },
    )
}

/// How many records a child account holds, for its page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Warehouses.
    pub warehouses: i64,
    /// Variants (not removed).
    pub variants: i64,
    /// Stock levels.
    pub stock_levels: i64,
    /// Sales orders (not removed).
    pub sales_orders: i64,
    /// Stock orders (not removed).
    pub stock_orders: i64,
}

impl std::ops::Add for RecordCounts {
    type Output = RecordCounts;
    fn add(self, o: RecordCounts) -> RecordCounts {
        RecordCounts {
            warehouses: self.warehouses + o.warehouses,
            variants: self.variants + o.variants,
            stock_levels: self.stock_levels + o.stock_levels,
            sales_orders: self.sales_orders + o.sales_orders,
            stock_orders: self.stock_orders + o.stock_orders,
        }
    }
}

/// Counts the records of one account.
pub fn record_counts(conn: &mut DbConn, account: &str) -> QueryResult<RecordCounts> {
    Ok(RecordCounts {
        warehouses: warehouses::table
            .filter(warehouses::account_id.eq(account))
            .filter(warehouses::removed.eq(false))
            .count()
            .get_result(conn)?,
        variants: variants::table
            .filter(variants::account_id.eq(account))
            .filter(variants::removed.eq(false))
            .count()
            .get_result(conn)?,
        stock_levels: stock_levels::table
            .filter(stock_levels::account_id.eq(account))
            .count()
            .get_result(conn)?,
        sales_orders: sales_orders::table
            .filter(sales_orders::account_id.eq(account))
            .filter(sales_orders::removed.eq(false))
            .count()
            .get_result(conn)?,
        stock_orders: stock_orders::table
            .filter(stock_orders::account_id.eq(account))
            .filter(stock_orders::removed.eq(false))
            .count()
            .get_result(conn)?,
    })
}
