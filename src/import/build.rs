//! The one validator behind both formats: per entity, which fields exist, which are required,
//! and how a record is built from raw values (CSV cells or JSON values) with every problem
//! reported. The CSV and JSON front ends only gather raw values and call into here.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::import::records::{
    Component, Currency, Format, Ref, SalesLine, SalesOrderRecord, StockLevelRecord,
    StockOrderKind, StockOrderLine, StockOrderRecord, StockOrderStatus, VariantRecord,
    VariantVendor, VendorRecord, WarehouseRecord,
};
use crate::import::values::{quote, Cx, Raw};
use crate::import::{Batch, Problem};

/// Fields of a warehouse (JSON keys and CSV columns).
pub(crate) const WAREHOUSE: &[&str] = &["id", "name", "updated_at", "removed"];
/// Required warehouse fields.
pub(crate) const WAREHOUSE_REQUIRED: &[&str] = &["id", "name"];

/// Fields of a vendor.
pub(crate) const VENDOR: &[&str] = &[
    "id",
    "name",
    "currency",
    "lead_time_days",
    "minimum_order_quantity",
    "pack_size",
    "updated_at",
    "removed",
];
/// Required vendor fields.
pub(crate) const VENDOR_REQUIRED: &[&str] = &["id", "name"];

/// Fields of a variant in JSON (CSV has all but `vendors`).
pub(crate) const VARIANT: &[&str] = &[
    "id",
    "sku",
    "barcode",
    "title",
    "product_id",
    "product_title",
    "vendor_id",
    "vendors",
    "brand",
    "category",
    "tags",
    "cost_price",
    "retail_price",
    "currency",
    "tracked",
    "lead_time_days",
    "min_stock",
    "max_stock",
    "components",
    "assembly",
    "updated_at",
    "removed",
];
/// Required variant fields.
pub(crate) const VARIANT_REQUIRED: &[&str] = &["id", "sku"];
const VARIANT_VENDOR: &[&str] = &[
    "vendor_id",
    "cost_price",
    "lead_time_days",
    "minimum_order_quantity",
    "pack_size",
    "vendor_sku",
];
const COMPONENT: &[&str] = &["variant_id", "quantity"];

/// Fields of a stock level (`removed` is an extension of the contract).
pub(crate) const STOCK: &[&str] = &[
    "variant_id",
    "warehouse_id",
    "on_hand",
    "allocated",
    "updated_at",
    "removed",
];
/// Required stock-level fields.
pub(crate) const STOCK_REQUIRED: &[&str] = &["variant_id", "warehouse_id", "on_hand"];

/// The raw value of `name` among `fields`.
pub(crate) fn pick<'a>(fields: &[&str], raws: &[Raw<'a>], name: &str) -> Raw<'a> {
    match fields.iter().position(|f| *f == name) {
        Some(i) => raws[i],
        None => {
            debug_assert!(false, "unknown field {name}");
            Raw::Absent
        }
    }
}

/// Spreads a JSON object's values over `fields`, reporting every unknown key.
pub(crate) fn object_raws<'a>(
    cx: &mut Cx<'_>,
    obj: &'a Map<String, Value>,
    fields: &[&str],
    what: &str,
) -> Vec<Raw<'a>> {
    let mut raws = vec![Raw::Absent; fields.len()];
    for (key, value) in obj {
        match fields.iter().position(|f| f == key) {
            Some(i) => raws[i] = Raw::json(value),
            None => {
                let msg = format!(
                    "{} is not a field of {what}; the fields are {}.",
                    cx.path(key),
                    fields.join(", ")
                );
                cx.problem(key, msg);
            }
        }
    }
    raws
}

/// A warehouse from its raw fields (in [`WAREHOUSE`] order).
pub(crate) fn warehouse(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> Option<WarehouseRecord> {
    let g = |n| pick(WAREHOUSE, r, n);
    let id = cx.req("id", g("id"), Cx::own_id);
    let name = cx.req("name", g("name"), Cx::string);
    let updated_at = cx.timestamp("updated_at", g("updated_at"));
    let removed = cx.boolean("removed", g("removed"));
    Some(WarehouseRecord {
        id: id?,
        name: name?,
        updated_at,
        removed: removed.unwrap_or(false),
        row: cx.row,
    })
}

/// A vendor from its raw fields (in [`VENDOR`] order).
pub(crate) fn vendor(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> Option<VendorRecord> {
    let g = |n| pick(VENDOR, r, n);
    let id = cx.req("id", g("id"), Cx::own_id);
    let name = cx.req("name", g("name"), Cx::string);
    let currency = cx.currency("currency", g("currency"));
    let lead_time_days = cx.days("lead_time_days", g("lead_time_days"));
    let moq = cx.non_negative("minimum_order_quantity", g("minimum_order_quantity"));
    let pack_size = cx.positive("pack_size", g("pack_size"));
    let updated_at = cx.timestamp("updated_at", g("updated_at"));
    let removed = cx.boolean("removed", g("removed"));
    Some(VendorRecord {
        id: id?,
        name: name?,
        currency,
        lead_time_days,
        minimum_order_quantity: moq,
        pack_size,
        updated_at,
        removed: removed.unwrap_or(false),
        row: cx.row,
    })
}

/// A variant from its raw fields (in [`VARIANT`] order).
pub(crate) fn variant(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> Option<VariantRecord> {
    let g = |n| pick(VARIANT, r, n);
    let id = cx.req("id", g("id"), Cx::own_id);
    let sku = cx.req("sku", g("sku"), |cx, n, raw| {
        cx.id_str(n, raw).map(str::to_string)
    });
    let barcode = cx.string("barcode", g("barcode"));
    let title = cx.string("title", g("title"));
    let product_id = cx.string("product_id", g("product_id"));
    let product_title = cx.string("product_title", g("product_title"));
    let vendor_id = cx.vendor_ref("vendor_id", g("vendor_id"));
    let vendors = variant_vendors(cx, g("vendors"));
    let brand = cx.string("brand", g("brand"));
    let category = cx.string("category", g("category"));
    let tags = tags(cx, g("tags"));
    let cost_price = cx.non_negative("cost_price", g("cost_price"));
    let retail_price = cx.non_negative("retail_price", g("retail_price"));
    let currency = cx.currency("currency", g("currency"));
    let tracked = cx.boolean("tracked", g("tracked"));
    let lead_time_days = cx.days("lead_time_days", g("lead_time_days"));
    let min_stock = cx.non_negative("min_stock", g("min_stock"));
    let max_stock = cx.non_negative("max_stock", g("max_stock"));
    let components = components(cx, g("components"), id.as_deref());
    let assembly = cx.boolean("assembly", g("assembly"));
    let updated_at = cx.timestamp("updated_at", g("updated_at"));
    let removed = cx.boolean("removed", g("removed"));
    if let (Some(min), Some(max)) = (min_stock, max_stock) {
        if min > max {
            let msg = format!(
                "max_stock ({max}) is below min_stock ({min}); raise max_stock or lower min_stock."
            );
            cx.problem("max_stock", msg);
        }
    }
    Some(VariantRecord {
        id: id?,
        sku: sku?,
        barcode,
        title,
        product_id,
        product_title,
        vendor_id,
        vendors: vendors?,
        brand,
        category,
        tags: tags?,
        cost_price,
        retail_price,
        currency,
        tracked: tracked.unwrap_or(true),
        lead_time_days,
        min_stock,
        max_stock,
        components: components?,
        assembly: assembly.unwrap_or(false),
        updated_at,
        removed: removed.unwrap_or(false),
        row: cx.row,
    })
}

/// Tags: a JSON list of strings, or a `;`-separated CSV cell. `None` after a problem.
fn tags(cx: &mut Cx<'_>, raw: Raw<'_>) -> Option<Vec<String>> {
    let keep = |s: &str| {
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_string())
    };
    match raw {
        Raw::Absent => Some(Vec::new()),
        Raw::Text(s) => Some(s.split(';').filter_map(keep).collect()),
        Raw::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.extend(keep(s)),
                    _ => {
                        let name = format!("tags[{}]", i + 1);
                        let msg = format!("{} must be a string.", cx.path(&name));
                        cx.problem(&name, msg);
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }
        other => {
            cx.list("tags", other);
            None
        }
    }
}

/// Components: a JSON list of `{variant_id, quantity}`, or `id:qty;id:qty` in CSV.
fn components(cx: &mut Cx<'_>, raw: Raw<'_>, own_id: Option<&str>) -> Option<Vec<Component>> {
    let mut out: Vec<Component> = Vec::new();
    let mut ok = true;
    match raw {
        Raw::Absent => return Some(out),
        Raw::Text(s) => {
            for (i, part) in s.split(';').filter(|p| !p.trim().is_empty()).enumerate() {
                let parsed = part.rsplit_once(':').and_then(|(id, qty)| {
                    let id = id.trim();
                    let qty = crate::import::values::parse_decimal(qty)?;
                    (!id.is_empty()).then_some((id, qty))
                });
                match parsed {
                    Some((_, qty)) if crate::import::values::in_range(qty).is_err() => {
                        let why = crate::import::values::in_range(qty)
                            .err()
                            .unwrap_or_default();
                        let msg = format!("Component {} ({}) quantity {why}.", i + 1, quote(part));
                        cx.problem("components", msg);
                        ok = false;
                    }
                    Some((_, qty)) if qty <= Decimal::ZERO => {
                        let msg = format!(
                            "Component {} ({}) has quantity {qty}; it must be more than zero.",
                            i + 1,
                            quote(part)
                        );
                        cx.problem("components", msg);
                        ok = false;
                    }
                    Some((id, quantity)) => out.push(Component {
                        variant_id: cx.interner.intern(id),
                        quantity,
                    }),
                    None => {
                        let msg = format!(
                            "Component {} ({}) must be written variant_id:quantity, with \
                             components separated by semicolons (V-1:2;V-7:1).",
                            i + 1,
                            quote(part)
                        );
                        cx.problem("components", msg);
                        ok = false;
                    }
                }
            }
        }
        Raw::List(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = format!("components[{}]", i + 1);
                let Value::Object(obj) = item else {
                    let msg = format!(
                        "{} must be an object with variant_id and quantity.",
                        cx.path(&name)
                    );
                    cx.problem(&name, msg);
                    ok = false;
                    continue;
                };
                let nested = format!("{}{name}.", cx.prefix);
                let saved = std::mem::replace(&mut cx.prefix, nested);
                let r = object_raws(cx, obj, COMPONENT, "a component");
                let variant_id = cx.req("variant_id", r[0], Cx::ref_id);
                let quantity = cx.req("quantity", r[1], Cx::positive);
                cx.prefix = saved;
                match (variant_id, quantity) {
                    (Some(variant_id), Some(quantity)) => out.push(Component {
                        variant_id,
                        quantity,
                    }),
                    _ => ok = false,
                }
            }
        }
        other => {
            cx.list("components", other);
            return None;
        }
    }
    for (i, c) in out.iter().enumerate() {
        if Some(&*c.variant_id) == own_id {
            let msg = format!(
                "A variant cannot be a component of itself ({}).",
                c.variant_id
            );
            cx.problem("components", msg);
            ok = false;
        } else if out[..i].iter().any(|o| o.variant_id == c.variant_id) {
            let msg = format!(
                "Component {} is listed twice; give it once with the total quantity.",
                c.variant_id
            );
            cx.problem("components", msg);
            ok = false;
        }
    }
    ok.then_some(out)
}

/// A variant's vendors (JSON only).
fn variant_vendors(cx: &mut Cx<'_>, raw: Raw<'_>) -> Option<Vec<VariantVendor>> {
    if let Raw::Text(_) = raw {
        // Not a CSV column; the header check rejects it before this point.
        return Some(Vec::new());
    }
    let Some(items) = cx.list("vendors", raw) else {
        return raw.is_absent().then(Vec::new);
    };
    let mut out: Vec<VariantVendor> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let name = format!("vendors[{}]", i + 1);
        let Value::Object(obj) = item else {
            let msg = format!("{} must be an object with a vendor_id.", cx.path(&name));
            cx.problem(&name, msg);
            ok = false;
            continue;
        };
        let nested = format!("{}{name}.", cx.prefix);
        let saved = std::mem::replace(&mut cx.prefix, nested);
        let before = cx.problems.total();
        let r = object_raws(cx, obj, VARIANT_VENDOR, "a variant's vendor");
        let vendor_id = cx.req("vendor_id", r[0], Cx::vendor_ref);
        let v = VariantVendor {
            vendor_id: vendor_id.unwrap_or_else(|| "".into()),
            cost_price: cx.non_negative("cost_price", r[1]),
            lead_time_days: cx.days("lead_time_days", r[2]),
            minimum_order_quantity: cx.non_negative("minimum_order_quantity", r[3]),
            pack_size: cx.positive("pack_size", r[4]),
            vendor_sku: cx.string("vendor_sku", r[5]),
        };
        if out.iter().any(|o| o.vendor_id == v.vendor_id) && !v.vendor_id.is_empty() {
            let msg = format!("Vendor {} is listed twice for this variant.", v.vendor_id);
            cx.problem("vendor_id", msg);
        }
        cx.prefix = saved;
        if cx.problems.total() == before {
            out.push(v);
        } else {
            ok = false;
        }
    }
    ok.then_some(out)
}

/// A stock level from its raw fields (in [`STOCK`] order).
pub(crate) fn stock_level(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> Option<StockLevelRecord> {
    let g = |n| pick(STOCK, r, n);
    let variant_id = cx.req("variant_id", g("variant_id"), Cx::variant_ref);
    let warehouse_id = cx.req("warehouse_id", g("warehouse_id"), Cx::warehouse_ref);
    let on_hand = cx.req("on_hand", g("on_hand"), Cx::decimal);
    let allocated_raw = g("allocated");
    let allocated = cx.non_negative("allocated", allocated_raw);
    let updated_at = cx.timestamp("updated_at", g("updated_at"));
    let removed = cx.boolean("removed", g("removed"));
    if !allocated_raw.is_absent() {
        allocated?;
    }
    Some(StockLevelRecord {
        variant_id: variant_id?,
        warehouse_id: warehouse_id?,
        on_hand: on_hand?,
        allocated: allocated.unwrap_or(Decimal::ZERO),
        updated_at,
        removed: removed.unwrap_or(false),
        row: cx.row,
    })
}

/// Something quoted back when repeated order fields disagree.
pub(crate) trait Show {
    fn show(&self) -> String;
}
impl Show for DateTime<Utc> {
    fn show(&self) -> String {
        self.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}
impl Show for NaiveDate {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for Ref {
    fn show(&self) -> String {
        quote(self)
    }
}
impl Show for Currency {
    fn show(&self) -> String {
        self.as_str().to_string()
    }
}
impl Show for bool {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for StockOrderKind {
    fn show(&self) -> String {
        self.as_str().to_string()
    }
}
impl Show for StockOrderStatus {
    fn show(&self) -> String {
        self.as_str().to_string()
    }
}

/// Merges a repeated order field from a later CSV row: the first non-empty value wins, and a
/// different non-empty value is a problem on that row.
fn agree<T: PartialEq + Show>(
    cx: &mut Cx<'_>,
    name: &str,
    into: &mut Option<T>,
    from: Option<T>,
    order_id: &str,
) {
    match (into.as_ref(), from) {
        (_, None) => {}
        (None, Some(v)) => *into = Some(v),
        (Some(a), Some(b)) if *a == b => {}
        (Some(a), Some(b)) => {
            let msg = format!(
                "{name} is {} on this row but {} on an earlier row of order {}; the order's \
                 fields must be the same on each of its rows.",
                b.show(),
                a.show(),
                quote(order_id)
            );
            cx.problem(name, msg);
        }
    }
}

/// The shape shared by sales and stock orders, so both formats handle them alike.
pub(crate) trait OrderKind {
    /// The order fields other than `id` and `lines`, all optional until finished.
    type Head;
    /// One line.
    type Line;
    /// The finished record.
    type Record;
    /// What the order is called in messages.
    const WHAT: &'static str;
    /// Order fields, `id` first (CSV columns and JSON keys, without `lines`).
    const HEAD: &'static [&'static str];
    /// Line fields as JSON keys (`id` first).
    const LINE_JSON: &'static [&'static str];
    /// Line fields as CSV columns (`line_id` first), same order as [`OrderKind::LINE_JSON`].
    const LINE_CSV: &'static [&'static str];
    /// Required CSV columns.
    const CSV_REQUIRED: &'static [&'static str];
    /// Reads the order fields (raws in [`OrderKind::HEAD`] order; `id` is ignored).
    fn head(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> Self::Head;
    /// Merges a later CSV row's order fields.
    fn merge(cx: &mut Cx<'_>, into: &mut Self::Head, from: Self::Head, order_id: &str);
    /// Reads one line (raws in line-field order, named by `names`).
    fn line(cx: &mut Cx<'_>, r: &[Raw<'_>], names: &[&str], row: u32) -> Option<Self::Line>;
    /// Checks the whole order and builds it. `cx.row` is the order's row; `lines_given` says
    /// whether any line was given at all (valid or not).
    fn finish(
        cx: &mut Cx<'_>,
        id: Box<str>,
        head: Self::Head,
        lines: Vec<Self::Line>,
        lines_given: bool,
        format: Format,
    ) -> Option<Self::Record>;
    /// Wraps finished records.
    fn batch(records: Vec<Self::Record>) -> Batch;
}

/// Names a line field in a problem: the CSV column on the line's own row, or the JSON path.
fn line_field(format: Format, index: usize, csv: &str, json: &str) -> String {
    match format {
        Format::Csv => csv.to_string(),
        Format::Json => format!("lines[{}].{json}", index + 1),
    }
}

/// Reports line ids given twice within one order.
fn duplicate_line_ids<'l>(
    cx: &mut Cx<'_>,
    ids: impl Iterator<Item = (usize, Option<&'l str>, u32)>,
    format: Format,
    order_id: &str,
) {
    // Orders are small: a linear scan beats hashing up to a few dozen lines.
    let ids: Vec<(usize, &str, u32)> = ids
        .filter_map(|(i, id, row)| id.map(|id| (i, id, row)))
        .collect();
    let mut index: HashMap<&str, u32> = HashMap::new();
    for (k, &(i, id, row)) in ids.iter().enumerate() {
        let first = if ids.len() <= 32 {
            ids[..k]
                .iter()
                .find(|(_, o, _)| *o == id)
                .map(|(_, _, r)| *r)
        } else {
            index.insert(id, row)
        };
        let Some(first) = first else { continue };
        let (row, first) = (row as usize, first as usize);
        let msg = match format {
            Format::Csv => format!(
                "Line {} of order {} is given twice (rows {first} and {row}); each line \
                 id must be unique within its order.",
                quote(id),
                quote(order_id)
            ),
            Format::Json => format!(
                "Line id {} is given twice in this order; each line id must be unique \
                 within its order.",
                quote(id)
            ),
        };
        cx.problem_at(row, line_field(format, i, "line_id", "id"), msg);
    }
}

/// An order without lines is only accepted when it is removed.
fn no_lines(cx: &mut Cx<'_>, format: Format, what: &str) {
    let (field, msg) = match format {
        Format::Csv => (
            "variant_id",
            format!("This {what} has no line: give variant_id and quantity on its rows."),
        ),
        Format::Json => (
            "lines",
            format!("This {what} has no lines; give at least one (or mark it removed)."),
        ),
    };
    cx.problem(field, msg);
}

/// Bits of the order fields given (not blank), by index in [`OrderKind::HEAD`].
fn given(r: &[Raw<'_>]) -> u32 {
    r.iter()
        .enumerate()
        .filter(|(_, raw)| !raw.is_absent())
        .fold(0, |bits, (i, _)| bits | (1 << i))
}

fn is_given(bits: u32, index: usize) -> bool {
    bits & (1 << index) != 0
}

/// Sales orders.
pub(crate) struct Sales;

/// Order fields of a sales order before it is finished.
#[derive(Default)]
pub(crate) struct SalesHead {
    given: u32,
    ordered_at: Option<DateTime<Utc>>,
    warehouse_id: Option<Ref>,
    currency: Option<Currency>,
    cancelled: Option<bool>,
    removed: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

impl OrderKind for Sales {
    type Head = SalesHead;
    type Line = SalesLine;
    type Record = SalesOrderRecord;
    const WHAT: &'static str = "sales order";
    const HEAD: &'static [&'static str] = &[
        "id",
        "ordered_at",
        "warehouse_id",
        "currency",
        "cancelled",
        "removed",
        "updated_at",
    ];
    const LINE_JSON: &'static [&'static str] = &["id", "variant_id", "quantity", "unit_price"];
    const LINE_CSV: &'static [&'static str] = &["line_id", "variant_id", "quantity", "unit_price"];
    const CSV_REQUIRED: &'static [&'static str] =
        &["id", "ordered_at", "line_id", "variant_id", "quantity"];

    fn head(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> SalesHead {
        SalesHead {
            given: given(r),
            ordered_at: cx.timestamp("ordered_at", r[1]),
            warehouse_id: cx.warehouse_ref("warehouse_id", r[2]),
            currency: cx.currency("currency", r[3]),
            cancelled: cx.boolean("cancelled", r[4]),
            removed: cx.boolean("removed", r[5]),
            updated_at: cx.timestamp("updated_at", r[6]),
        }
    }

    fn merge(cx: &mut Cx<'_>, into: &mut SalesHead, from: SalesHead, id: &str) {
        into.given |= from.given;
        agree(cx, "ordered_at", &mut into.ordered_at, from.ordered_at, id);
        agree(
            cx,
            "warehouse_id",
            &mut into.warehouse_id,
            from.warehouse_id,
            id,
        );
        agree(cx, "currency", &mut into.currency, from.currency, id);
        agree(cx, "cancelled", &mut into.cancelled, from.cancelled, id);
        agree(cx, "removed", &mut into.removed, from.removed, id);
        agree(cx, "updated_at", &mut into.updated_at, from.updated_at, id);
    }

    fn line(cx: &mut Cx<'_>, r: &[Raw<'_>], names: &[&str], row: u32) -> Option<SalesLine> {
        let id = cx.req(names[0], r[0], Cx::own_id);
        let variant_id = cx.req(names[1], r[1], Cx::variant_ref);
        let quantity = cx.req(names[2], r[2], Cx::decimal);
        let unit_price = cx.decimal(names[3], r[3]);
        if !r[3].is_absent() {
            unit_price?;
        }
        Some(SalesLine {
            id: id?,
            variant_id: variant_id?,
            quantity: quantity?,
            unit_price,
            row,
        })
    }

    fn finish(
        cx: &mut Cx<'_>,
        id: Box<str>,
        head: SalesHead,
        mut lines: Vec<SalesLine>,
        lines_given: bool,
        format: Format,
    ) -> Option<SalesOrderRecord> {
        if head.ordered_at.is_none() && !is_given(head.given, 1) {
            cx.missing("ordered_at");
        }
        let removed = head.removed.unwrap_or(false);
        if !lines_given && !removed {
            no_lines(cx, format, Self::WHAT);
        }
        duplicate_line_ids(
            cx,
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| (i, Some(&*l.id), l.row)),
            format,
            &id,
        );
        lines.shrink_to_fit();
        Some(SalesOrderRecord {
            id,
            ordered_at: head.ordered_at?,
            warehouse_id: head.warehouse_id,
            currency: head.currency,
            cancelled: head.cancelled.unwrap_or(false),
            removed,
            updated_at: head.updated_at,
            row: cx.row,
            format,
            lines,
        })
    }

    fn batch(records: Vec<SalesOrderRecord>) -> Batch {
        Batch::SalesOrders(records)
    }
}

/// Stock orders.
pub(crate) struct Stock;

/// Order fields of a stock order before it is finished.
#[derive(Default)]
pub(crate) struct StockHead {
    given: u32,
    kind: Option<StockOrderKind>,
    status: Option<StockOrderStatus>,
    vendor_id: Option<Ref>,
    source_warehouse_id: Option<Ref>,
    destination_warehouse_id: Option<Ref>,
    expected_at: Option<NaiveDate>,
    currency: Option<Currency>,
    updated_at: Option<DateTime<Utc>>,
    removed: Option<bool>,
}

fn kind(cx: &mut Cx<'_>, raw: Raw<'_>) -> Option<StockOrderKind> {
    let s = cx.text("kind", raw)?;
    let k = StockOrderKind::parse(s);
    if k.is_none() {
        let msg = format!(
            "kind must be purchase, transfer or assembly; {} is not.",
            quote(s)
        );
        cx.problem("kind", msg);
    }
    k
}

fn status(cx: &mut Cx<'_>, raw: Raw<'_>) -> Option<StockOrderStatus> {
    let s = cx.text("status", raw)?;
    let k = StockOrderStatus::parse(s);
    if k.is_none() {
        let msg = format!(
            "status must be draft, active, closed or cancelled; {} is not.",
            quote(s)
        );
        cx.problem("status", msg);
    }
    k
}

impl OrderKind for Stock {
    type Head = StockHead;
    type Line = StockOrderLine;
    type Record = StockOrderRecord;
    const WHAT: &'static str = "stock order";
    const HEAD: &'static [&'static str] = &[
        "id",
        "kind",
        "status",
        "vendor_id",
        "source_warehouse_id",
        "destination_warehouse_id",
        "expected_at",
        "currency",
        "updated_at",
        "removed",
    ];
    const LINE_JSON: &'static [&'static str] = &[
        "id",
        "variant_id",
        "quantity",
        "received_quantity",
        "unit_cost",
    ];
    const LINE_CSV: &'static [&'static str] = &[
        "line_id",
        "variant_id",
        "quantity",
        "received_quantity",
        "unit_cost",
    ];
    const CSV_REQUIRED: &'static [&'static str] =
        &["id", "kind", "status", "variant_id", "quantity"];

    fn head(cx: &mut Cx<'_>, r: &[Raw<'_>]) -> StockHead {
        StockHead {
            given: given(r),
            kind: kind(cx, r[1]),
            status: status(cx, r[2]),
            vendor_id: cx.vendor_ref("vendor_id", r[3]),
            source_warehouse_id: cx.warehouse_ref("source_warehouse_id", r[4]),
            destination_warehouse_id: cx.warehouse_ref("destination_warehouse_id", r[5]),
            expected_at: cx.date("expected_at", r[6]),
            currency: cx.currency("currency", r[7]),
            updated_at: cx.timestamp("updated_at", r[8]),
            removed: cx.boolean("removed", r[9]),
        }
    }

    fn merge(cx: &mut Cx<'_>, into: &mut StockHead, from: StockHead, id: &str) {
        into.given |= from.given;
        agree(cx, "kind", &mut into.kind, from.kind, id);
        agree(cx, "status", &mut into.status, from.status, id);
        agree(cx, "vendor_id", &mut into.vendor_id, from.vendor_id, id);
        agree(
            cx,
            "source_warehouse_id",
            &mut into.source_warehouse_id,
            from.source_warehouse_id,
            id,
        );
        agree(
            cx,
            "destination_warehouse_id",
            &mut into.destination_warehouse_id,
            from.destination_warehouse_id,
            id,
        );
        agree(
            cx,
            "expected_at",
            &mut into.expected_at,
            from.expected_at,
            id,
        );
        agree(cx, "currency", &mut into.currency, from.currency, id);
        agree(cx, "updated_at", &mut into.updated_at, from.updated_at, id);
        agree(cx, "removed", &mut into.removed, from.removed, id);
    }

    fn line(cx: &mut Cx<'_>, r: &[Raw<'_>], names: &[&str], row: u32) -> Option<StockOrderLine> {
        let id = cx.own_id(names[0], r[0]);
        let variant_id = cx.req(names[1], r[1], Cx::variant_ref);
        let quantity = cx.req(names[2], r[2], Cx::positive);
        let received_quantity = cx.non_negative(names[3], r[3]);
        let unit_cost = cx.non_negative(names[4], r[4]);
        for (i, v) in [
            (0, id.is_some()),
            (3, received_quantity.is_some()),
            (4, unit_cost.is_some()),
        ] {
            if !r[i].is_absent() && !v {
                return None;
            }
        }
        Some(StockOrderLine {
            id,
            variant_id: variant_id?,
            quantity: quantity?,
            received_quantity,
            unit_cost,
            row,
        })
    }

    fn finish(
        cx: &mut Cx<'_>,
        id: Box<str>,
        head: StockHead,
        mut lines: Vec<StockOrderLine>,
        lines_given: bool,
        format: Format,
    ) -> Option<StockOrderRecord> {
        if head.kind.is_none() && !is_given(head.given, 1) {
            cx.missing("kind");
        }
        if head.status.is_none() && !is_given(head.given, 2) {
            cx.missing("status");
        }
        let removed = head.removed.unwrap_or(false);
        if let Some(kind) = head.kind {
            let needs_source = kind == StockOrderKind::Transfer;
            if needs_source && head.source_warehouse_id.is_none() {
                let msg = "A transfer needs source_warehouse_id, the warehouse the stock leaves."
                    .to_string();
                cx.problem("source_warehouse_id", msg);
            }
            if head.destination_warehouse_id.is_none() {
                let msg = format!(
                    "A{} {} order needs destination_warehouse_id, the warehouse the stock \
                     arrives in.",
                    if kind == StockOrderKind::Purchase {
                        ""
                    } else {
                        "n"
                    },
                    kind.as_str()
                );
                cx.problem("destination_warehouse_id", msg);
            }
            if needs_source
                && head.source_warehouse_id.is_some()
                && head.source_warehouse_id == head.destination_warehouse_id
            {
                let msg = "A transfer's source and destination warehouses must differ.".to_string();
                cx.problem("destination_warehouse_id", msg);
            }
        }
        if !lines_given && !removed {
            no_lines(cx, format, Self::WHAT);
        }
        duplicate_line_ids(
            cx,
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| (i, l.id.as_deref(), l.row)),
            format,
            &id,
        );
        lines.shrink_to_fit();
        Some(StockOrderRecord {
            id,
            kind: head.kind?,
            status: head.status?,
            vendor_id: head.vendor_id,
            source_warehouse_id: head.source_warehouse_id,
            destination_warehouse_id: head.destination_warehouse_id,
            expected_at: head.expected_at,
            currency: head.currency,
            updated_at: head.updated_at,
            removed,
            row: cx.row,
            format,
            lines,
        })
    }

    fn batch(records: Vec<StockOrderRecord>) -> Batch {
        Batch::StockOrders(records)
    }
}

/// Reports ids given twice within one batch (stock levels: a `(variant_id, warehouse_id)` pair).
/// Orders grouped from CSV rows never repeat an id, so they are not scanned.
pub(crate) fn duplicates(batch: &Batch) -> Vec<Problem> {
    fn scan(
        keys: impl Iterator<Item = (String, usize)>,
        field: &str,
        describe: impl Fn(&str) -> String,
    ) -> Vec<Problem> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (key, row) in keys {
            if let Some(&first) = seen.get(&key) {
                out.push(Problem {
                    row,
                    field: field.to_string(),
                    message: format!(
                        "{} is already given on row {first}; each record may appear only once \
                         in a batch.",
                        describe(&key)
                    ),
                });
            } else {
                seen.insert(key, row);
            }
        }
        out
    }
    let by_id = |k: &str| format!("Id {}", quote(k));
    match batch {
        Batch::Warehouses(v) => scan(v.iter().map(|r| (r.id.to_string(), r.row)), "id", by_id),
        Batch::Vendors(v) => scan(v.iter().map(|r| (r.id.to_string(), r.row)), "id", by_id),
        Batch::Variants(v) => scan(v.iter().map(|r| (r.id.to_string(), r.row)), "id", by_id),
        Batch::SalesOrders(v) if v.first().is_some_and(|r| r.format == Format::Json) => {
            scan(v.iter().map(|r| (r.id.to_string(), r.row)), "id", by_id)
        }
        Batch::StockOrders(v) if v.first().is_some_and(|r| r.format == Format::Json) => {
            scan(v.iter().map(|r| (r.id.to_string(), r.row)), "id", by_id)
        }
        Batch::SalesOrders(_) | Batch::StockOrders(_) => Vec::new(),
        // Several readings of one stock level are history (back-filling) as
        // long as their times differ; the same level twice at one time is a
        // duplicate.
        Batch::Stock(v) => scan(
            v.iter().map(|r| {
                let at = r.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                (
                    format!("{}\u{0}{}\u{0}{at}", r.variant_id, r.warehouse_id),
                    r.row,
                )
            }),
            "warehouse_id",
            |k| {
                let mut parts = k.split('\u{0}');
                let (variant, warehouse) = (parts.next().unwrap_or(k), parts.next().unwrap_or(""));
                let at = parts
                    .next()
                    .filter(|a| !a.is_empty())
                    .unwrap_or("the time it is received");
                format!(
                    "The stock level of variant {} in warehouse {} at {at}",
                    quote(variant),
                    quote(warehouse)
                )
            },
        ),
    }
}
