//! The reads the plan job needs from a child account's records (variants,
//! vendors, stock, stock history, sale lines, open stock orders), the
//! master's roll-up settings (links, per-warehouse flags, exchange rates), and
//! the stored plans with their lines. Decimals arrive as exact text and are
//! turned into `f64` here, at the edge of the engine.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    exchange_rates, plan_details, plan_lines, plan_touches, plans, sales_order_lines, sales_orders,
    sku_links, stock_history, stock_levels, stock_order_lines, stock_orders, variants, vendors,
    warehouse_settings, warehouses,
};
use crate::db::values::{Decimal, IdHash};
use crate::db::DbConn;

pub use super::records::VariantRow;

/// Parses stored decimal text (never fails: unreadable text counts as 0).
pub fn num(s: &str) -> f64 {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// Parses optional stored decimal text.
pub fn opt_num(s: &Option<String>) -> Option<f64> {
    s.as_deref()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// The account's variants that are not removed.
pub fn live_variants(conn: &mut DbConn, account: &str) -> QueryResult<Vec<VariantRow>> {
    variants::table
        .filter(variants::account_id.eq(account))
        .filter(variants::removed.eq(false))
        // The same order as `models::demand::variants_by_sku`: which of two
        // variants with one key is planned under the key itself.
        .order((variants::created_at.asc(), variants::id.asc()))
        .select(VariantRow::as_select())
        .load(conn)
}

/// The live variants of an account whose normalised SKU is one of `keys`
/// or whose id is one of `ids`, in the order of [`live_variants`].
pub fn live_variants_of(
    conn: &mut DbConn,
    account: &str,
    keys: &[String],
    ids: &[String],
) -> QueryResult<Vec<VariantRow>> {
    let mut out: Vec<VariantRow> = Vec::new();
    for chunk in keys.chunks(IN_CHUNK) {
        out.extend(
            variants::table
                .filter(variants::account_id.eq(account))
                .filter(variants::removed.eq(false))
                .filter(variants::sku_norm.eq_any(chunk))
                .select(VariantRow::as_select())
                .load::<VariantRow>(conn)?,
        );
    }
    for chunk in ids.chunks(IN_CHUNK) {
        out.extend(
            variants::table
                .filter(variants::account_id.eq(account))
                .filter(variants::removed.eq(false))
                .filter(variants::id.eq_any(chunk))
                .select(VariantRow::as_select())
                .load::<VariantRow>(conn)?,
        );
    }
    out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    out.dedup_by(|a, b| a.id == b.id);
    Ok(out)
}

/// Whether any live variant of an account is made of components (a bundle
/// or an assembly: its records reach other variants' lines).
pub fn has_components(conn: &mut DbConn, account: &str) -> QueryResult<bool> {
    let n: i64 = variants::table
        .filter(variants::account_id.eq(account))
        .filter(variants::removed.eq(false))
        .filter(variants::components.is_not_null())
        .filter(variants::components.ne("[]"))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A vendor's terms.
#[derive(Debug, Clone, Queryable)]
pub struct VendorTerms {
    /// Id.
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
}

/// The account's vendors that are not removed.
pub fn live_vendors(conn: &mut DbConn, account: &str) -> QueryResult<Vec<VendorTerms>> {
    vendors::table
        .filter(vendors::account_id.eq(account))
        .filter(vendors::removed.eq(false))
        .select((
            vendors::id,
            vendors::name,
            vendors::currency,
            vendors::lead_time_days,
            vendors::minimum_order_quantity,
            vendors::pack_size,
        ))
        .load(conn)
}

/// Ids of the account's removed warehouses (their stock counts nowhere).
pub fn removed_warehouses(conn: &mut DbConn, account: &str) -> QueryResult<Vec<String>> {
    warehouses::table
        .filter(warehouses::account_id.eq(account))
        .filter(warehouses::removed.eq(true))
        .select(warehouses::id)
        .load(conn)
}

/// Reads by `read` for all of an account's variants (`ids` `None`) or for
/// some, in `IN` lists of [`IN_CHUNK`].
fn by_chunks<T>(
    conn: &mut DbConn,
    ids: Option<&[String]>,
    mut read: impl FnMut(&mut DbConn, Option<&[String]>) -> QueryResult<Vec<T>>,
) -> QueryResult<Vec<T>> {
    match ids {
        None => read(conn, None),
        Some(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(IN_CHUNK) {
                out.extend(read(conn, Some(chunk))?);
            }
            Ok(out)
        }
    }
}

/// Current stock of the account's variants (`ids`: of these only):
/// (variant, warehouse, on hand, allocated).
pub fn stock(
    conn: &mut DbConn,
    account: &str,
    ids: Option<&[String]>,
) -> QueryResult<Vec<(String, String, String, String)>> {
    by_chunks(conn, ids, |conn, chunk| {
        let mut q = stock_levels::table
            .filter(stock_levels::account_id.eq(account))
            .into_boxed();
        if let Some(chunk) = chunk {
            q = q.filter(stock_levels::variant_id.eq_any(chunk));
        }
        q.select((
            stock_levels::variant_id,
            stock_levels::warehouse_id,
            stock_levels::on_hand,
            stock_levels::allocated,
        ))
        .load(conn)
    })
}

/// Stock history change points of the account's variants (`ids`: of these
/// only), by variant, warehouse and day: (variant, warehouse, first day,
/// available).
pub fn history(
    conn: &mut DbConn,
    account: &str,
    ids: Option<&[String]>,
) -> QueryResult<Vec<(String, String, NaiveDate, String)>> {
    by_chunks(conn, ids, |conn, chunk| {
        let mut q = stock_history::table
            .filter(stock_history::account_id.eq(account))
            .into_boxed();
        if let Some(chunk) = chunk {
            q = q.filter(stock_history::variant_id.eq_any(chunk));
        }
        q.order((
            stock_history::variant_id,
            stock_history::warehouse_id,
            stock_history::day,
        ))
        .select((
            stock_history::variant_id,
            stock_history::warehouse_id,
            stock_history::day,
            stock_history::available,
        ))
        .load(conn)
    })
}

/// An order that counts as demand (neither cancelled nor removed): id, order
/// time (UTC) and warehouse.
pub type DemandOrder = (IdHash, NaiveDateTime, Option<String>);

/// The account's orders that count as demand. With [`sale_lines`] this is a
/// hash join done by the planner: SQLite would probe the orders' B-tree once
/// per line, ten times slower than two scans.
pub fn demand_orders(conn: &mut DbConn, account: &str) -> QueryResult<Vec<DemandOrder>> {
    let query = sales_orders::table
        .filter(sales_orders::account_id.eq(account))
        .filter(sales_orders::cancelled.eq(false))
        .filter(sales_orders::removed.eq(false))
        .select((
            sales_orders::id,
            sales_orders::ordered_at,
            sales_orders::warehouse_id,
        ));
    // Backend-specific: on each backend's own connection, not through the
    // multi-backend one, whose per-value dispatch the read of a few hundred
    // thousand orders would pay for every column.
    match conn {
        DbConn::Sqlite(c) => query.load(c),
        DbConn::Pg(c) => query.load(c),
    }
}

/// A sales order line: order id, variant id (as hashes: they are only
/// matched), quantity (negative: a return).
pub type SaleLine = (IdHash, IdHash, Decimal);

/// Calls `each` with every sales order line of the account (of any order;
/// see [`demand_orders`]), streamed: a million lines are never held at once.
pub fn each_sale_line(
    conn: &mut DbConn,
    account: &str,
    mut each: impl FnMut(SaleLine),
) -> QueryResult<()> {
    use diesel::connection::DefaultLoadingMode;
    let query = sales_order_lines::table
        .filter(sales_order_lines::account_id.eq(account))
        .select((
            sales_order_lines::order_id,
            sales_order_lines::variant_id,
            sales_order_lines::quantity,
        ));
    // Backend-specific: streamed on each backend's own connection (see
    // `demand_orders`).
    match conn {
        DbConn::Sqlite(c) => {
            for row in query.load_iter::<SaleLine, DefaultLoadingMode>(c)? {
                each(row?);
            }
        }
        DbConn::Pg(c) => {
            for row in query.load_iter::<SaleLine, DefaultLoadingMode>(c)? {
                each(row?);
            }
        }
    }
    Ok(())
}

/// An open line of an active stock order.
#[derive(Debug, Clone, Queryable)]
pub struct OpenLine {
    /// Order id.
    pub order_id: String,
    /// `purchase`, `transfer` or `assembly`.
    pub kind: String,
    /// Source warehouse.
    pub source_warehouse_id: Option<String>,
    /// Destination warehouse.
    pub destination_warehouse_id: Option<String>,
    /// Expected arrival.
    pub expected_at: Option<NaiveDate>,
    /// Variant.
    pub variant_id: String,
    /// Ordered quantity.
    pub quantity: String,
    /// Received so far.
    pub received_quantity: Option<String>,
}

/// Lines of the account's active, not removed stock orders (`ids`: of
/// these variants only).
pub fn open_order_lines(
    conn: &mut DbConn,
    account: &str,
    ids: Option<&[String]>,
) -> QueryResult<Vec<OpenLine>> {
    by_chunks(conn, ids, |conn, chunk| {
        let mut q = stock_order_lines::table
            .inner_join(
                stock_orders::table.on(stock_orders::account_id
                    .eq(stock_order_lines::account_id)
                    .and(stock_orders::id.eq(stock_order_lines::order_id))),
            )
            .filter(stock_order_lines::account_id.eq(account))
            .filter(stock_orders::status.eq("active"))
            .filter(stock_orders::removed.eq(false))
            .into_boxed();
        if let Some(chunk) = chunk {
            q = q.filter(stock_order_lines::variant_id.eq_any(chunk));
        }
        q.select((
            stock_orders::id,
            stock_orders::kind,
            stock_orders::source_warehouse_id,
            stock_orders::destination_warehouse_id,
            stock_orders::expected_at,
            stock_order_lines::variant_id,
            stock_order_lines::quantity,
            stock_order_lines::received_quantity,
        ))
        .load(conn)
    })
}

/// An explicit link of a child's variant to a master SKU.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = sku_links)]
pub struct SkuLink {
    /// Master.
    #[serde(skip)]
    pub master_id: String,
    /// Child account.
    pub account_id: String,
    /// The child's variant.
    pub variant_id: String,
    /// The master row it joins.
    pub sku: String,
}

/// The master's links.
pub fn links(conn: &mut DbConn, master: &str) -> QueryResult<Vec<SkuLink>> {
    sku_links::table
        .filter(sku_links::master_id.eq(master))
        .order((sku_links::account_id, sku_links::variant_id))
        .load(conn)
}

/// Replaces the master's links.
pub fn replace_links(conn: &mut DbConn, master: &str, rows: &[SkuLink]) -> QueryResult<()> {
    diesel::delete(sku_links::table.filter(sku_links::master_id.eq(master))).execute(conn)?;
    for r in rows {
        diesel::insert_into(sku_links::table)
            .values(r)
            .execute(conn)?;
    }
    Ok(())
}

/// A per-warehouse include setting.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = warehouse_settings)]
pub struct WarehouseSetting {
    /// Master.
    #[serde(skip)]
    pub master_id: String,
    /// Child account.
    pub account_id: String,
    /// Warehouse of that child.
    pub warehouse_id: String,
    /// Count its stock in the master.
    pub include_stock: bool,
    /// Count its sales in the master.
    pub include_sales: bool,
}

/// The master's warehouse settings.
pub fn warehouse_settings(conn: &mut DbConn, master: &str) -> QueryResult<Vec<WarehouseSetting>> {
    warehouse_settings::table
        .filter(warehouse_settings::master_id.eq(master))
        .order((
            warehouse_settings::account_id,
            warehouse_settings::warehouse_id,
        ))
        .load(conn)
}

/// Replaces the master's warehouse settings.
pub fn replace_warehouse_settings(
    conn: &mut DbConn,
    master: &str,
    rows: &[WarehouseSetting],
) -> QueryResult<()> {
    diesel::delete(warehouse_settings::table.filter(warehouse_settings::master_id.eq(master)))
        .execute(conn)?;
    for r in rows {
        diesel::insert_into(warehouse_settings::table)
            .values(r)
            .execute(conn)?;
    }
    Ok(())
}

/// An exchange rate: 1 `from_currency` = `rate` `to_currency` from `day` on.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = exchange_rates)]
pub struct ExchangeRate {
    /// Organisation.
    pub organisation_id: String,
    /// First day the rate holds.
    pub day: NaiveDate,
    /// From.
    pub from_currency: String,
    /// To.
    pub to_currency: String,
    /// Rate.
    pub rate: f64,
}

/// The organisation's exchange rates, oldest first.
pub fn exchange_rates(conn: &mut DbConn, org: &str) -> QueryResult<Vec<ExchangeRate>> {
    exchange_rates::table
        .filter(exchange_rates::organisation_id.eq(org))
        .order(exchange_rates::day.asc())
        .load(conn)
}

/// Adds or replaces exchange rates (keyed by organisation, pair and day).
pub fn upsert_rates(conn: &mut DbConn, rows: &[ExchangeRate]) -> QueryResult<()> {
    for r in rows {
        diesel::delete(
            exchange_rates::table
                .filter(exchange_rates::organisation_id.eq(&r.organisation_id))
                .filter(exchange_rates::from_currency.eq(&r.from_currency))
                .filter(exchange_rates::to_currency.eq(&r.to_currency))
                .filter(exchange_rates::day.eq(r.day)),
        )
        .execute(conn)?;
        diesel::insert_into(exchange_rates::table)
            .values(r)
            .execute(conn)?;
    }
    Ok(())
}

/// The stored plan of an account (its header).
#[derive(Debug, Clone, Queryable, Insertable, Selectable)]
#[diesel(table_name = plans, treat_none_as_default_value = false)]
pub struct PlanHeader {
    /// Account.
    pub account_id: String,
    /// Version of the inputs the plan was computed from.
    pub inputs_version: String,
    /// The planning date.
    pub planning_date: NaiveDate,
    /// When it was computed.
    pub computed_at: NaiveDateTime,
    /// Number of lines.
    pub line_count: i64,
    /// How long the computation took.
    pub seconds: f64,
    /// JSON [`PlanSummary`] of the lines.
    pub summary: String,
}

/// What a plan's header says of its lines, computed when the plan is stored
/// (the order-plan page's totals and filter lists).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlanSummary {
    /// What the plan asks to buy, by urgency: (urgency, lines to order,
    /// units, value where costed).
    pub totals: Vec<(String, i64, f64, f64)>,
    /// The distinct non-empty vendors, sorted.
    pub vendors: Vec<String>,
    /// The distinct non-empty categories, sorted.
    pub categories: Vec<String>,
    /// The distinct non-empty brands, sorted.
    pub brands: Vec<String>,
}

impl PlanSummary {
    /// The summary of a plan's lines, added up in the byte order of their
    /// keys (as a stored plan's is, so that both give the same sums).
    pub fn of(lines: &[PlanLineRow]) -> PlanSummary {
        let mut lines: Vec<&PlanLineRow> = lines.iter().collect();
        lines.sort_unstable_by(|a, b| a.sku_key.cmp(&b.sku_key));
        PlanSummary::of_parts(lines.into_iter().map(|l| SummaryParts {
            urgency: &l.urgency,
            order_quantity: l.order_quantity,
            order_value: l.order_value,
            vendor: &l.vendor,
            category: &l.category,
            brand: &l.brand,
        }))
    }

    /// The summary from the parts of each line it reads.
    pub fn of_parts<'a>(lines: impl Iterator<Item = SummaryParts<'a>>) -> PlanSummary {
        use std::collections::{BTreeMap, BTreeSet};
        let mut totals: BTreeMap<&str, (i64, f64, f64)> = BTreeMap::new();
        let (mut vendors, mut categories, mut brands) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for l in lines {
            if l.order_quantity > 0.0 {
                let t = totals.entry(l.urgency).or_default();
                t.0 += 1;
                t.1 += l.order_quantity;
                t.2 += l.order_value.unwrap_or(0.0);
            }
            for (set, v) in [
                (&mut vendors, l.vendor),
                (&mut categories, l.category),
                (&mut brands, l.brand),
            ] {
                if !v.is_empty() {
                    set.insert(v);
                }
            }
        }
        let owned = |set: BTreeSet<&str>| set.into_iter().map(String::from).collect();
        PlanSummary {
            totals: totals
                .into_iter()
                .map(|(u, (n, q, v))| (u.to_string(), n, q, v))
                .collect(),
            vendors: owned(vendors),
            categories: owned(categories),
            brands: owned(brands),
        }
    }
}

/// What [`PlanSummary`] reads of a line.
pub struct SummaryParts<'a> {
    /// Urgency.
    pub urgency: &'a str,
    /// Order quantity.
    pub order_quantity: f64,
    /// Order value, where costed.
    pub order_value: Option<f64>,
    /// Vendor.
    pub vendor: &'a str,
    /// Category.
    pub category: &'a str,
    /// Brand.
    pub brand: &'a str,
}

/// The summary of the lines stored under `key` (an account's plan), reading
/// only the columns it needs (in the lines' key order, as a whole plan sums
/// them).
fn stored_summary(conn: &mut DbConn, key: &str) -> QueryResult<(i64, PlanSummary)> {
    let lines = || plan_lines::table.filter(plan_lines::account_id.eq(key));
    let count: i64 = lines().count().get_result(conn)?;
    // The lines that order, in key order: the totals add up in the order a
    // whole plan's do (`PlanSummary::of`), so an upserted plan's summary is
    // the one its full replan stores. The other lines only add names.
    let mut ordering: Vec<(String, String, f64, Option<f64>)> = lines()
        .filter(plan_lines::order_quantity.gt(0.0))
        .select((
            plan_lines::sku_key,
            plan_lines::urgency,
            plan_lines::order_quantity,
            plan_lines::order_value,
        ))
        .load(conn)?;
    // Byte order of the key, whatever the database's collation.
    ordering.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut summary = PlanSummary::of_parts(ordering.iter().map(|r| SummaryParts {
        urgency: &r.1,
        order_quantity: r.2,
        order_value: r.3,
        vendor: "",
        category: "",
        brand: "",
    }));
    macro_rules! names {
        ($col:expr) => {{
            let mut names: Vec<String> = lines()
                .filter($col.ne(""))
                .select($col)
                .distinct()
                .load(conn)?;
            // Byte order, as `of_parts` sorts them.
            names.sort_unstable();
            names
        }};
    }
    summary.vendors = names!(plan_lines::vendor);
    summary.categories = names!(plan_lines::category);
    summary.brands = names!(plan_lines::brand);
    Ok((count, summary))
}

/// One stored plan line.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable, Selectable)]
#[diesel(table_name = plan_lines, treat_none_as_default_value = false)]
pub struct PlanLineRow {
    /// Account.
    pub account_id: String,
    /// Normalised SKU (the key).
    pub sku_key: String,
    /// SKU as shown.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Vendor name.
    pub vendor: String,
    /// Category.
    pub category: String,
    /// Brand.
    pub brand: String,
    /// Tags, `;`-separated with a leading and trailing `;` (for filtering).
    pub tags: String,
    /// Available stock.
    pub available: f64,
    /// On order.
    pub on_order: f64,
    /// Forecast per day over the coverage window.
    pub demand_per_day: f64,
    /// Lead time.
    pub lead_time_days: f64,
    /// Days of stock.
    pub days_of_stock: f64,
    /// Forecast over the coverage window.
    pub coverage_demand: f64,
    /// Safety stock.
    pub safety_stock: f64,
    /// Reorder point.
    pub reorder_point: f64,
    /// Order quantity.
    pub order_quantity: f64,
    /// Order by.
    pub order_by: Option<NaiveDate>,
    /// Days of cover.
    pub days_of_cover: Option<f64>,
    /// `now`, `soon`, `ok`.
    pub urgency: String,
    /// 0 now, 1 soon, 2 ok (for sorting).
    pub urgency_rank: i32,
    /// Forecast method.
    pub forecast_method: String,
    /// Unit cost in the account's currency.
    pub unit_cost: Option<f64>,
    /// Order quantity × unit cost.
    pub order_value: Option<f64>,
    /// JSON array of the line's flags (`planning::line::Flag`).
    pub flags: String,
}

/// What a plan line carries besides its row: kept apart from the lines, so
/// that list queries sort and page narrow rows and read these for the page's
/// rows only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineDetail {
    /// JSON: per-child figures (master only; `[]` on a child).
    pub accounts: String,
    /// JSON: the explanation.
    pub explanation: String,
    /// JSON: what the line's supply plan is projected from
    /// (`planning::supply::Stored`; empty when not computed).
    pub supply: String,
}

#[derive(Insertable)]
#[diesel(table_name = plan_details)]
struct DetailRow<'a> {
    account_id: &'a str,
    sku_key: &'a str,
    accounts: &'a str,
    explanation: Vec<u8>,
    supply: &'a str,
}

/// An explanation as stored: LZ4 of its JSON, the uncompressed size first
/// (2.4 KB of JSON a line is about 1 KB stored).
fn pack(explanation: &str) -> Vec<u8> {
    lz4_flex::compress_prepend_size(explanation.as_bytes())
}

/// A stored explanation's JSON (`{}` if it cannot be read).
fn unpack(stored: &[u8]) -> String {
    lz4_flex::decompress_size_prepended(stored)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "{}".into())
}

/// Lines' detail rows, their explanations packed in parallel.
fn detail_rows<'a>(lines: &'a [PlanLineRow], details: &'a [LineDetail]) -> Vec<DetailRow<'a>> {
    detail_rows_of(lines, details, packed(details))
}

/// Details' explanations packed, in parallel.
fn packed(details: &[LineDetail]) -> Vec<Vec<u8>> {
    use rayon::prelude::*;
    details.par_iter().map(|d| pack(&d.explanation)).collect()
}

/// Lines' detail rows with their explanations already packed.
fn detail_rows_of<'a>(
    lines: &'a [PlanLineRow],
    details: &'a [LineDetail],
    packed: Vec<Vec<u8>>,
) -> Vec<DetailRow<'a>> {
    lines
        .iter()
        .zip(details)
        .zip(packed)
        .map(|((l, d), explanation)| DetailRow {
            account_id: &l.account_id,
            sku_key: &l.sku_key,
            accounts: &d.accounts,
            explanation,
            supply: &d.supply,
        })
        .collect()
}

/// The stored plan header of an account.
pub fn plan_header(conn: &mut DbConn, account: &str) -> QueryResult<Option<PlanHeader>> {
    plans::table
        .find(account)
        .select(PlanHeader::as_select())
        .first(conn)
        .optional()
}

/// Lines (and their details) per write transaction of a plan store: each
/// batch holds SQLite's write lock for a short while, where a whole plan's
/// delete and insert held it for seconds under load.
pub const STORE_BATCH: usize = 250;

/// The key an account's current plan lines are stored under, as a scalar
/// subquery on its header. Every read of lines resolves it within its own
/// statement, so one statement reads one whole plan, the old or the new,
/// whatever a store does meanwhile (NULL without a header: no lines).
macro_rules! current_key {
    ($account:expr) => {
        plans::table
            .filter(plans::account_id.eq($account.to_string()))
            .select(plans::lines_key)
            .single_value()
    };
}

/// Lines read under a plan's key, given back their account's id.
fn of_account(account: &str, mut rows: Vec<PlanLineRow>) -> Vec<PlanLineRow> {
    for r in &mut rows {
        r.account_id = account.to_string();
    }
    rows
}

/// The key the lines of the account's stored plan are under (the account's
/// id for a plan stored before keys, or without a header).
fn lines_key(conn: &mut DbConn, account: &str) -> QueryResult<String> {
    Ok(plans::table
        .find(account)
        .select(plans::lines_key)
        .first::<String>(conn)
        .optional()?
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| account.to_string()))
}

/// Replaces an account's stored plan, made visible at once. The lines and
/// their details are written under a key of their own
/// (`<account>#<generation>`) in transactions of [`STORE_BATCH`] lines,
/// then one short transaction checks they are all there and points the
/// account's header at them; the replaced plan's lines are removed after,
/// again in short transactions. A reader follows the header within each
/// statement, so it reads the old plan or the new one, never a mix. A store
/// that fails removes what it wrote; one killed half-way leaves lines under
/// a key no header names, which [`drop_unfinished_plans`] removes at the
/// next start.
pub fn store_plan(
    conn: &mut DbConn,
    header: &PlanHeader,
    lines: &[PlanLineRow],
    details: &[LineDetail],
) -> QueryResult<()> {
    debug_assert_eq!(lines.len(), details.len());
    let account = &header.account_id;
    let key = format!("{account}#{}", crate::crypto::random_token(16));
    let written = write_lines(conn, account, &key, lines, details).and_then(|()| {
        crate::db::transaction(conn, |conn| {
            // Backend-specific: two PostgreSQL sessions storing the same
            // account's plan at once switch one after the other, each
            // removing the plan it replaced. (SQLite has one writer.)
            if let DbConn::Pg(c) = conn {
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind::<diesel::sql_types::Text, _>(account)
                    .execute(c)?;
            }
            let staged: i64 = plan_lines::table
                .filter(plan_lines::account_id.eq(&key))
                .count()
                .get_result(conn)?;
            if staged != lines.len() as i64 {
                return Err(diesel::result::Error::QueryBuilderError(
                    format!(
                        "{staged} of the plan's {} lines were found when it was to be made current",
                        lines.len()
                    )
                    .into(),
                ));
            }
            let old = lines_key(conn, account)?;
            diesel::delete(plans::table.find(account)).execute(conn)?;
            diesel::insert_into(plans::table)
                .values(header)
                .execute(conn)?;
            diesel::update(plans::table.find(account))
                .set(plans::lines_key.eq(&key))
                .execute(conn)?;
            Ok(old)
        })
    });
    match written {
        Ok(old) => remove_lines(conn, &old),
        Err(e) => {
            // Best effort: what is left is removed at the next start.
            let _ = remove_lines(conn, &key);
            Err(e)
        }
    }
}

/// Writes a plan's lines and details under `key`, [`STORE_BATCH`] lines a
/// transaction.
fn write_lines(
    conn: &mut DbConn,
    account: &str,
    key: &str,
    lines: &[PlanLineRow],
    details: &[LineDetail],
) -> QueryResult<()> {
    for (n, (lines, details)) in lines
        .chunks(STORE_BATCH)
        .zip(details.chunks(STORE_BATCH))
        .enumerate()
    {
        let lines: Vec<PlanLineRow> = lines
            .iter()
            .map(|l| PlanLineRow {
                account_id: key.to_string(),
                ..l.clone()
            })
            .collect();
        let explained = detail_rows(&lines, details);
        crate::db::transaction(conn, |conn| insert_rows(conn, &lines, &explained))?;
        #[cfg(any(test, feature = "fault-injection"))]
        store_fault::point(account, n)?;
        #[cfg(not(any(test, feature = "fault-injection")))]
        let _ = (account, n);
    }
    Ok(())
}

/// Inserts plan lines and their details, each in one multi-row statement
/// (at most [`STORE_BATCH`] rows: 26 columns a row stay well under
/// SQLite's 32,766 bind parameters).
fn insert_rows(
    conn: &mut DbConn,
    lines: &[PlanLineRow],
    explained: &[DetailRow<'_>],
) -> QueryResult<()> {
    // Backend-specific: diesel's MultiConnection has no multi-row INSERT,
    // so each backend gets its own.
    match conn {
        DbConn::Sqlite(c) => {
            diesel::insert_into(plan_lines::table)
                .values(lines)
                .execute(c)?;
            diesel::insert_into(plan_details::table)
                .values(explained)
                .execute(c)?;
        }
        DbConn::Pg(c) => {
            diesel::insert_into(plan_lines::table)
                .values(lines)
                .execute(c)?;
            diesel::insert_into(plan_details::table)
                .values(explained)
                .execute(c)?;
        }
    }
    Ok(())
}

/// Removes the lines and details stored under `key`, [`STORE_BATCH`] of
/// each a transaction (no reader follows a key no header names).
fn remove_lines(conn: &mut DbConn, key: &str) -> QueryResult<()> {
    loop {
        let removed = crate::db::transaction(conn, |conn| {
            let lines: Vec<String> = plan_lines::table
                .filter(plan_lines::account_id.eq(key))
                .select(plan_lines::sku_key)
                .limit(STORE_BATCH as i64)
                .load(conn)?;
            let details: Vec<String> = plan_details::table
                .filter(plan_details::account_id.eq(key))
                .select(plan_details::sku_key)
                .limit(STORE_BATCH as i64)
                .load(conn)?;
            diesel::delete(
                plan_lines::table
                    .filter(plan_lines::account_id.eq(key))
                    .filter(plan_lines::sku_key.eq_any(&lines)),
            )
            .execute(conn)?;
            diesel::delete(
                plan_details::table
                    .filter(plan_details::account_id.eq(key))
                    .filter(plan_details::sku_key.eq_any(&details)),
            )
            .execute(conn)?;
            Ok::<_, diesel::result::Error>(lines.len() + details.len())
        })?;
        if removed == 0 {
            return Ok(());
        }
    }
}

/// Removes the lines and details of plans whose store did not finish (the
/// process was killed between its batches): those under a key no header
/// names. Run at start, after the migrations. A store under way in another
/// process loses its lines too and fails when it is to be made current
/// (its count no longer matches); its job is tried again.
pub fn drop_unfinished_plans(conn: &mut DbConn) -> QueryResult<usize> {
    let named = plans::table.select(plans::lines_key);
    let mut keys: Vec<String> = plan_lines::table
        .filter(plan_lines::account_id.ne_all(named))
        .select(plan_lines::account_id)
        .distinct()
        .load(conn)?;
    let named = plans::table.select(plans::lines_key);
    keys.extend(
        plan_details::table
            .filter(plan_details::account_id.ne_all(named))
            .select(plan_details::account_id)
            .distinct()
            .load::<String>(conn)?,
    );
    keys.sort_unstable();
    keys.dedup();
    for key in &keys {
        remove_lines(conn, key)?;
    }
    Ok(keys.len())
}

/// A test-only hook run after each batch of a plan store is committed
/// (a reader's look, an error, or a panic standing for a kill), compiled
/// with the `fault-injection` feature; a release build has none.
#[cfg(any(test, feature = "fault-injection"))]
pub mod store_fault {
    use std::sync::{Arc, Mutex};

    /// What runs after a batch: given the batch's number (from 0); an
    /// `Err` fails the store with that message.
    pub type Hook = Arc<dyn Fn(usize) -> Result<(), String> + Send + Sync>;

    static HOOKS: Mutex<Vec<(String, Hook)>> = Mutex::new(Vec::new());

    /// Runs `hook` after each batch of the stores of `account_id`'s plan
    /// until [`disarm`].
    pub fn arm(account_id: &str, hook: Hook) {
        let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
        hooks.retain(|(a, _)| a != account_id);
        hooks.push((account_id.to_string(), hook));
    }

    /// Removes the hook of `account_id`.
    pub fn disarm(account_id: &str) {
        HOOKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(a, _)| a != account_id);
    }

    /// Runs the hook of `account_id`, if any.
    pub(crate) fn point(account_id: &str, batch: usize) -> diesel::QueryResult<()> {
        let hook = HOOKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(a, _)| a == account_id)
            .map(|(_, h)| h.clone());
        match hook {
            Some(h) => h(batch).map_err(|m| diesel::result::Error::QueryBuilderError(m.into())),
            None => Ok(()),
        }
    }
}

/// Every stored line of an account's plan.
pub fn all_lines(conn: &mut DbConn, account: &str) -> QueryResult<Vec<PlanLineRow>> {
    plan_lines::table
        .filter(plan_lines::account_id.nullable().eq(current_key!(account)))
        .select(PlanLineRow::as_select())
        .load(conn)
        .map(|rows| of_account(account, rows))
}

/// The figures of a child's stored line that its master shows (`accounts`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = plan_lines)]
pub struct LineFigures {
    /// Normalised SKU (the key).
    pub sku_key: String,
    /// SKU as shown.
    pub sku: String,
    /// Available stock.
    pub available: f64,
    /// On order.
    pub on_order: f64,
    /// Demand over the coverage period.
    pub coverage_demand: f64,
    /// Quantity to order.
    pub order_quantity: f64,
    /// Demand per day.
    pub demand_per_day: f64,
    /// Its flags (JSON list, `api.md`).
    pub flags: String,
}

impl From<&PlanLineRow> for LineFigures {
    fn from(l: &PlanLineRow) -> LineFigures {
        LineFigures {
            sku_key: l.sku_key.clone(),
            sku: l.sku.clone(),
            available: l.available,
            on_order: l.on_order,
            coverage_demand: l.coverage_demand,
            order_quantity: l.order_quantity,
            demand_per_day: l.demand_per_day,
            flags: l.flags.clone(),
        }
    }
}

/// The master-facing figures of every stored line of an account's plan
/// (without the explanations, which a roll-up does not read).
pub fn line_figures(conn: &mut DbConn, account: &str) -> QueryResult<Vec<LineFigures>> {
    plan_lines::table
        .filter(plan_lines::account_id.nullable().eq(current_key!(account)))
        .select(LineFigures::as_select())
        .load(conn)
}

/// Every stored detail of an account's plan, by line key.
pub fn details(
    conn: &mut DbConn,
    account: &str,
) -> QueryResult<std::collections::HashMap<String, LineDetail>> {
    let rows: Vec<(String, String, Vec<u8>, String)> = plan_details::table
        .filter(
            plan_details::account_id
                .nullable()
                .eq(current_key!(account)),
        )
        .select((
            plan_details::sku_key,
            plan_details::accounts,
            plan_details::explanation,
            plan_details::supply,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(k, accounts, explanation, supply)| {
            (
                k,
                LineDetail {
                    accounts,
                    explanation: unpack(&explanation),
                    supply,
                },
            )
        })
        .collect())
}

/// The per-child figures (JSON) of some lines of an account's plan, in the
/// order of `lines` (`[]` where none are stored).
pub fn line_accounts(
    conn: &mut DbConn,
    account: &str,
    lines: &[PlanLineRow],
) -> QueryResult<Vec<String>> {
    let mut found: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for chunk in lines.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|l| l.sku_key.as_str()).collect();
        let rows: Vec<(String, String)> = plan_details::table
            .filter(
                plan_details::account_id
                    .nullable()
                    .eq(current_key!(account)),
            )
            .filter(plan_details::sku_key.eq_any(keys))
            .select((plan_details::sku_key, plan_details::accounts))
            .load(conn)?;
        found.extend(rows);
    }
    Ok(lines
        .iter()
        .map(|l| found.remove(&l.sku_key).unwrap_or_else(|| "[]".into()))
        .collect())
}

/// One stored line by normalised SKU with its details.
pub fn line_with_explanation(
    conn: &mut DbConn,
    account: &str,
    sku_key: &str,
) -> QueryResult<Option<(PlanLineRow, LineDetail)>> {
    let Some(line) = line(conn, account, sku_key)? else {
        return Ok(None);
    };
    let detail = plan_details::table
        .filter(
            plan_details::account_id
                .nullable()
                .eq(current_key!(account)),
        )
        .filter(plan_details::sku_key.eq(sku_key))
        .select((plan_details::accounts, plan_details::explanation))
        .first::<(String, Vec<u8>)>(conn)
        .optional()?
        .map(|(accounts, explanation)| LineDetail {
            accounts,
            explanation: unpack(&explanation),
            supply: String::new(),
        })
        .unwrap_or_else(|| LineDetail {
            accounts: "[]".into(),
            explanation: "{}".into(),
            supply: String::new(),
        });
    Ok(Some((line, detail)))
}

/// One stored line by normalised SKU.
pub fn line(conn: &mut DbConn, account: &str, sku_key: &str) -> QueryResult<Option<PlanLineRow>> {
    Ok(plan_lines::table
        .filter(plan_lines::account_id.nullable().eq(current_key!(account)))
        .filter(plan_lines::sku_key.eq(sku_key))
        .select(PlanLineRow::as_select())
        .first(conn)
        .optional()?
        .map(|mut l: PlanLineRow| {
            l.account_id = account.to_string();
            l
        }))
}

diesel::define_sql_function! {
    /// SQL `lower(text)`, on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Filters of an order-plan read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LineFilter {
    /// Substring of the normalised SKU or the title (case-insensitive).
    pub q: Option<String>,
    /// Vendor name, exactly.
    pub vendor: Option<String>,
    /// Category, exactly.
    pub category: Option<String>,
    /// Brand, exactly.
    pub brand: Option<String>,
    /// One tag, exactly.
    pub tag: Option<String>,
    /// `now`, `soon` or `ok`.
    pub urgency: Option<String>,
    /// A flag's code (`long_stockout`, `no_recent_sales`, …).
    pub flag: Option<String>,
}

impl LineFilter {
    /// Whether the filter keeps fewer than every line.
    pub fn is_active(&self) -> bool {
        self.q.as_deref().is_some_and(|t| !t.is_empty())
            || [
                &self.vendor,
                &self.category,
                &self.brand,
                &self.tag,
                &self.urgency,
                &self.flag,
            ]
            .iter()
            .any(|f| f.is_some())
    }
}

/// The columns an order plan can be sorted by (every row field that is a
/// column; `urgency` sorts by rank, then order-by date).
pub const SORT_FIELDS: [&str; 20] = [
    "sku",
    "title",
    "vendor",
    "category",
    "brand",
    "available",
    "on_order",
    "demand_per_day",
    "lead_time_days",
    "days_of_stock",
    "coverage_demand",
    "safety_stock",
    "reorder_point",
    "order_quantity",
    "order_by",
    "days_of_cover",
    "urgency",
    "forecast_method",
    "unit_cost",
    "order_value",
];

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The lines of an account's plan that a filter keeps, as a boxed query
/// (one definition for a page of rows and for the totals of a filter).
macro_rules! filtered_lines {
    ($account:expr, $filter:expr) => {{
        let account: &str = $account;
        let filter: &LineFilter = $filter;
        let mut q = plan_lines::table
            .filter(plan_lines::account_id.nullable().eq(current_key!(account)))
            .into_boxed();
        if let Some(text) = filter.q.as_deref().filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            q = q.filter(
                plan_lines::sku_key
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(plan_lines::title).like(pattern).escape('\\')),
            );
        }
        if let Some(v) = &filter.vendor {
            q = q.filter(plan_lines::vendor.eq(v.clone()));
        }
        if let Some(v) = &filter.category {
            q = q.filter(plan_lines::category.eq(v.clone()));
        }
        if let Some(v) = &filter.brand {
            q = q.filter(plan_lines::brand.eq(v.clone()));
        }
        if let Some(v) = &filter.tag {
            q = q.filter(
                plan_lines::tags
                    .like(format!("%;{};%", escape_like(v)))
                    .escape('\\'),
            );
        }
        if let Some(v) = &filter.urgency {
            q = q.filter(plan_lines::urgency.eq(v.clone()));
        }
        if let Some(v) = &filter.flag {
            q = q.filter(
                plan_lines::flags
                    .like(format!("%\"code\":\"{}\"%", escape_like(v)))
                    .escape('\\'),
            );
        }
        q
    }};
}

/// Orders a boxed query of plan lines by one of [`SORT_FIELDS`] (the
/// urgency for any other), ties broken by the key.
macro_rules! ordered_lines {
    ($q:expr, $sort:expr, $descending:expr) => {{
        let q = $q;
        let descending: bool = $descending;
        macro_rules! by {
            ($col:expr) => {
                if descending {
                    q.order(($col.desc(), plan_lines::sku_key.asc()))
                } else {
                    q.order(($col.asc(), plan_lines::sku_key.asc()))
                }
            };
        }
        match $sort {
            "sku" => by!(plan_lines::sku_key),
            "title" => by!(plan_lines::title),
            "vendor" => by!(plan_lines::vendor),
            "category" => by!(plan_lines::category),
            "brand" => by!(plan_lines::brand),
            "available" => by!(plan_lines::available),
            "on_order" => by!(plan_lines::on_order),
            "demand_per_day" => by!(plan_lines::demand_per_day),
            "lead_time_days" => by!(plan_lines::lead_time_days),
            "days_of_stock" => by!(plan_lines::days_of_stock),
            "coverage_demand" => by!(plan_lines::coverage_demand),
            "safety_stock" => by!(plan_lines::safety_stock),
            "reorder_point" => by!(plan_lines::reorder_point),
            "order_quantity" => by!(plan_lines::order_quantity),
            "order_by" => by!(plan_lines::order_by),
            "days_of_cover" => by!(plan_lines::days_of_cover),
            "forecast_method" => by!(plan_lines::forecast_method),
            "unit_cost" => by!(plan_lines::unit_cost),
            "order_value" => by!(plan_lines::order_value),
            _ => {
                if descending {
                    q.order((
                        plan_lines::urgency_rank.desc(),
                        plan_lines::order_by.desc(),
                        plan_lines::sku_key.asc(),
                    ))
                } else {
                    q.order((
                        plan_lines::urgency_rank.asc(),
                        plan_lines::order_by.asc(),
                        plan_lines::sku_key.asc(),
                    ))
                }
            }
        }
    }};
}

/// One page of an account's stored plan lines, filtered and sorted in the
/// database; returns the number of matching lines and the page.
pub fn page_lines(
    conn: &mut DbConn,
    account: &str,
    filter: &LineFilter,
    sort: &str,
    descending: bool,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<PlanLineRow>)> {
    let total: i64 = filtered_lines!(account, filter).count().get_result(conn)?;
    let rows = ordered_lines!(filtered_lines!(account, filter), sort, descending)
        .offset(offset)
        .limit(limit)
        .select(PlanLineRow::as_select())
        .load(conn)?;
    Ok((total, of_account(account, rows)))
}

/// The keys of every line of an account's stored plan that `filter` keeps,
/// in the order of [`page_lines`].
pub fn ordered_keys(
    conn: &mut DbConn,
    account: &str,
    filter: &LineFilter,
    sort: &str,
    descending: bool,
) -> QueryResult<Vec<String>> {
    ordered_lines!(filtered_lines!(account, filter), sort, descending)
        .select(plan_lines::sku_key)
        .load(conn)
}

/// The lines `keys` of an account's stored plan, in that order (a key
/// without a line is left out).
pub fn lines_in_order(
    conn: &mut DbConn,
    account: &str,
    keys: &[String],
) -> QueryResult<Vec<PlanLineRow>> {
    let mut rows: std::collections::HashMap<String, PlanLineRow> = Default::default();
    for chunk in keys.chunks(IN_CHUNK) {
        let found: Vec<PlanLineRow> = plan_lines::table
            .filter(plan_lines::account_id.nullable().eq(current_key!(account)))
            .filter(plan_lines::sku_key.eq_any(chunk))
            .select(PlanLineRow::as_select())
            .load(conn)?;
        rows.extend(
            of_account(account, found)
                .into_iter()
                .map(|r| (r.sku_key.clone(), r)),
        );
    }
    Ok(keys.iter().filter_map(|k| rows.remove(k)).collect())
}

/// The summary of an account's stored plan (empty when none is stored).
pub fn plan_summary(conn: &mut DbConn, account: &str) -> QueryResult<PlanSummary> {
    let json: Option<String> = plans::table
        .find(account)
        .select(plans::summary)
        .first(conn)
        .optional()?;
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

/// Ids per `IN` list of the subset reads below.
const IN_CHUNK: usize = 500;

/// The sale lines of some variants and the orders among theirs that count
/// as demand. Each line comes from the covering `(account_id, variant_id)`
/// index (a hot variant's tens of thousands of lines are one index range).
pub fn sales_of(
    conn: &mut DbConn,
    account: &str,
    ids: &[String],
) -> QueryResult<(Vec<DemandOrder>, Vec<SaleLine>)> {
    // Backend-specific: on SQLite one join, each line's order by a
    // primary-key probe. On PostgreSQL the same join is planned from the
    // statistics, and on a freshly loaded table (no ANALYZE yet) they say
    // an account has one order: the planner then scans every order of the
    // account for every line (minutes for 400,000). The lines' order ids
    // are probed by primary key instead, which no statistics can undo.
    let conn = match conn {
        DbConn::Sqlite(c) => return sales_of_joined(c, account, ids),
        DbConn::Pg(c) => c,
    };
    // The lines with their order ids as text: the orders are probed by them.
    let mut lines: Vec<(String, IdHash, Decimal)> = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        lines.extend(
            sales_order_lines::table
                .filter(sales_order_lines::account_id.eq(account))
                .filter(sales_order_lines::variant_id.eq_any(chunk))
                .select((
                    sales_order_lines::order_id,
                    sales_order_lines::variant_id,
                    sales_order_lines::quantity,
                ))
                .load::<(String, IdHash, Decimal)>(conn)?,
        );
    }
    let mut order_ids: Vec<&String> = lines.iter().map(|l| &l.0).collect();
    order_ids.sort();
    order_ids.dedup();
    let mut orders = Vec::new();
    for chunk in order_ids.chunks(IN_CHUNK) {
        orders.extend(
            sales_orders::table
                .filter(sales_orders::account_id.eq(account))
                .filter(sales_orders::id.eq_any(chunk))
                .filter(sales_orders::cancelled.eq(false))
                .filter(sales_orders::removed.eq(false))
                .select((
                    sales_orders::id,
                    sales_orders::ordered_at,
                    sales_orders::warehouse_id,
                ))
                .load::<DemandOrder>(conn)?,
        );
    }
    let lines = lines
        .into_iter()
        .map(|(order, variant, quantity)| (IdHash::of(&order), variant, quantity))
        .collect();
    Ok((orders, lines))
}

/// [`sales_of`] on SQLite: one join.
fn sales_of_joined(
    conn: &mut diesel::SqliteConnection,
    account: &str,
    ids: &[String],
) -> QueryResult<(Vec<DemandOrder>, Vec<SaleLine>)> {
    type Joined = (IdHash, IdHash, Decimal, NaiveDateTime, Option<String>);
    let mut orders: Vec<DemandOrder> = Vec::new();
    let mut lines: Vec<SaleLine> = Vec::new();
    let mut seen: std::collections::HashSet<IdHash> = std::collections::HashSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<Joined> = sales_order_lines::table
            .inner_join(
                sales_orders::table.on(sales_orders::account_id
                    .eq(sales_order_lines::account_id)
                    .and(sales_orders::id.eq(sales_order_lines::order_id))),
            )
            .filter(sales_order_lines::account_id.eq(account))
            .filter(sales_order_lines::variant_id.eq_any(chunk))
            .filter(sales_orders::cancelled.eq(false))
            .filter(sales_orders::removed.eq(false))
            .select((
                sales_order_lines::order_id,
                sales_order_lines::variant_id,
                sales_order_lines::quantity,
                sales_orders::ordered_at,
                sales_orders::warehouse_id,
            ))
            .load(conn)?;
        for (order_id, variant_id, quantity, ordered_at, warehouse_id) in rows {
            if seen.insert(order_id) {
                orders.push((order_id, ordered_at, warehouse_id));
            }
            lines.push((order_id, variant_id, quantity));
        }
    }
    Ok((orders, lines))
}

/// Records that data version `version` of an account touched the plan
/// inputs of `variants` (`None`: anything).
pub fn record_touches(
    conn: &mut DbConn,
    account: &str,
    version: i64,
    variants: Option<&[String]>,
) -> QueryResult<()> {
    let all = ["*".to_string()];
    let ids = variants.unwrap_or(&all);
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|v| {
                (
                    plan_touches::account_id.eq(account),
                    plan_touches::data_version.eq(version),
                    plan_touches::variant_id.eq(v),
                )
            })
            .collect();
        // Backend-specific: no multi-row INSERT through MultiConnection.
        match conn {
            DbConn::Sqlite(c) => {
                diesel::insert_into(plan_touches::table)
                    .values(rows)
                    .execute(c)?;
            }
            DbConn::Pg(c) => {
                diesel::insert_into(plan_touches::table)
                    .values(rows)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// What data versions `after + 1 ..= upto` of an account touched: the
/// variants, or `None` when a version touched anything or has no record
/// (something other than a write of records moved it).
pub fn touches(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    upto: i64,
) -> QueryResult<Option<std::collections::BTreeSet<String>>> {
    let rows: Vec<(i64, String)> = plan_touches::table
        .filter(plan_touches::account_id.eq(account))
        .filter(plan_touches::data_version.gt(after))
        .filter(plan_touches::data_version.le(upto))
        .select((plan_touches::data_version, plan_touches::variant_id))
        .load(conn)?;
    let versions: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
    if versions.len() as i64 != upto - after || rows.iter().any(|r| r.1 == "*") {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().map(|r| r.1).collect()))
}

/// Forgets what versions up to `upto` of an account touched (every plan
/// that reads them is past them).
pub fn forget_touches(conn: &mut DbConn, account: &str, upto: i64) -> QueryResult<()> {
    crate::db::transaction(conn, |conn| {
        diesel::delete(
            plan_touches::table
                .filter(plan_touches::account_id.eq(account))
                .filter(plan_touches::data_version.le(upto)),
        )
        .execute(conn)
        .map(|_| ())
    })
}

/// How many touch records an account keeps (what [`forget_touches`] prunes).
pub fn touch_count(conn: &mut DbConn, account: &str) -> QueryResult<i64> {
    plan_touches::table
        .filter(plan_touches::account_id.eq(account))
        .count()
        .get_result(conn)
}

/// What the lines a filter keeps ask to buy, by urgency: (urgency, lines
/// to order, units, value where costed), as [`PlanSummary::totals`] has it
/// for the whole plan.
pub fn filtered_totals(
    conn: &mut DbConn,
    account: &str,
    filter: &LineFilter,
) -> QueryResult<Vec<(String, i64, f64, f64)>> {
    let rows: Vec<(String, f64, Option<f64>)> = filtered_lines!(account, filter)
        .filter(plan_lines::order_quantity.gt(0.0))
        .select((
            plan_lines::urgency,
            plan_lines::order_quantity,
            plan_lines::order_value,
        ))
        .load(conn)?;
    let mut totals: std::collections::BTreeMap<String, (i64, f64, f64)> = Default::default();
    for (urgency, q, v) in rows {
        let t = totals.entry(urgency).or_default();
        t.0 += 1;
        t.1 += q;
        t.2 += v.unwrap_or(0.0);
    }
    Ok(totals
        .into_iter()
        .map(|(u, t)| (u, t.0, t.1, t.2))
        .collect())
}

/// The master-facing figures of some lines of an account's plan.
pub fn line_figures_of(
    conn: &mut DbConn,
    account: &str,
    keys: &[String],
) -> QueryResult<Vec<LineFigures>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(IN_CHUNK) {
        out.extend(
            plan_lines::table
                .filter(plan_lines::account_id.nullable().eq(current_key!(account)))
                .filter(plan_lines::sku_key.eq_any(chunk))
                .select(LineFigures::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// Replaces the lines `keys` of an account's stored plan with `lines` (a
/// key without a new line is removed) and its header with `header`, whose
/// line count and summary are recounted from every stored line, in one
/// transaction.
pub fn upsert_lines(
    conn: &mut DbConn,
    header: &PlanHeader,
    keys: &[String],
    lines: &[PlanLineRow],
    details: &[LineDetail],
) -> QueryResult<PlanHeader> {
    let acc = &header.account_id;
    // Packed before the write lock is taken.
    let packed = packed(details);
    crate::db::transaction(conn, |conn| {
        if let DbConn::Pg(c) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind::<diesel::sql_types::Text, _>(acc)
                .execute(c)?;
        }
        // The lines of the account's current plan, under its key.
        let key = &lines_key(conn, acc)?;
        let lines: Vec<PlanLineRow> = lines
            .iter()
            .map(|l| PlanLineRow {
                account_id: key.clone(),
                ..l.clone()
            })
            .collect();
        let explained = detail_rows_of(&lines, details, packed);
        for chunk in keys.chunks(IN_CHUNK) {
            diesel::delete(
                plan_lines::table
                    .filter(plan_lines::account_id.eq(key))
                    .filter(plan_lines::sku_key.eq_any(chunk)),
            )
            .execute(conn)?;
            diesel::delete(
                plan_details::table
                    .filter(plan_details::account_id.eq(key))
                    .filter(plan_details::sku_key.eq_any(chunk)),
            )
            .execute(conn)?;
        }
        for (l, d) in lines.chunks(STORE_BATCH).zip(explained.chunks(STORE_BATCH)) {
            insert_rows(conn, l, d)?;
        }
        let (line_count, summary) = stored_summary(conn, key)?;
        let header = PlanHeader {
            line_count,
            summary: serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into()),
            ..header.clone()
        };
        diesel::delete(plans::table.find(acc)).execute(conn)?;
        diesel::insert_into(plans::table)
            .values(&header)
            .execute(conn)?;
        diesel::update(plans::table.find(acc))
            .set(plans::lines_key.eq(key))
            .execute(conn)?;
        Ok(header)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        key: &str,
        vendor: &str,
        brand: &str,
        urgency: &str,
        qty: f64,
        cost: Option<f64>,
    ) -> PlanLineRow {
        PlanLineRow {
            account_id: "a".into(),
            sku_key: key.into(),
            sku: key.into(),
            title: String::new(),
            vendor: vendor.into(),
            category: String::new(),
            brand: brand.into(),
            tags: ";".into(),
            available: 0.0,
            on_order: 0.0,
            demand_per_day: 0.0,
            lead_time_days: 0.0,
            days_of_stock: 0.0,
            coverage_demand: 0.0,
            safety_stock: 0.0,
            reorder_point: 0.0,
            order_quantity: qty,
            order_by: None,
            days_of_cover: None,
            urgency: urgency.into(),
            urgency_rank: 0,
            forecast_method: String::new(),
            unit_cost: cost,
            order_value: cost.map(|c| c * qty),
            flags: "[]".into(),
        }
    }

    #[test]
    fn a_summary_counts_what_to_order_by_urgency() {
        let lines = [
            line("a", "Acme", "", "now", 12.0, Some(2.5)),
            line("b", "Zeta", "B1", "now", 3.0, None),
            line("c", "Acme", "B1", "soon", 5.0, Some(1.0)),
            line("d", "", "", "ok", 0.0, Some(9.0)),
        ];
        let s = PlanSummary::of(&lines);
        assert_eq!(
            s.totals,
            vec![("now".into(), 2, 15.0, 30.0), ("soon".into(), 1, 5.0, 5.0)]
        );
        assert_eq!(s.vendors, ["Acme", "Zeta"]);
        assert!(s.categories.is_empty());
        assert_eq!(s.brands, ["B1"]);
    }
}

#[cfg(test)]
mod packing {
    use super::{pack, unpack};

    #[test]
    fn an_explanation_is_stored_smaller_and_read_back_as_it_was() {
        let json = r#"{"demand":{"method":"sba","per_day":0.073831},"terms":["#.to_string()
            + &(0..20)
                .map(|i| {
                    format!(
                        r#"{{"term":"t{i}","text":"Safety stock: {i}.00 — über","value":{i}.5}}"#
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
            + "]}";
        let stored = pack(&json);
        assert!(
            stored.len() * 2 < json.len(),
            "{} of {}",
            stored.len(),
            json.len()
        );
        assert_eq!(unpack(&stored), json);
        // What cannot be read is an empty explanation, not a failure.
        assert_eq!(unpack(b"\x05\x00"), "{}");
    }
}
