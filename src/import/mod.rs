//! Import parsing and validation: turns a CSV upload or a JSON batch into typed, validated
//! records of one entity (warehouses, vendors, variants, stock levels, sales orders, stock
//! orders), or into the complete list of problems a merchant must fix, following the contract
//! in `docs/api.md` ("Imports into a child account").
//!
//! This module is pure: it must not touch the database, the file system or HTTP. The storage
//! layer loads the ids an account already knows ([`KnownIds`]), checks references with
//! [`check_references`] (or calls [`parse_csv_checked`] / [`parse_json_checked`]), compares
//! [fingerprints](SalesOrderRecord::fingerprint) with what is stored, and writes; the web layer
//! maps [`ParseError`] to the error body (400 for [`ParseError::Malformed`], 422 otherwise).
//!
//! Choices the contract leaves open, made here:
//! - Rows are 1-based data rows in CSV (the header is not counted; header problems are on row
//!   1), array positions in JSON; a problem about a JSON body that is not an array is on row 0.
//! - In CSV, the rows of one order need not be consecutive. An empty order cell on a later row
//!   takes the order's value; a different non-empty value is a problem on that row.
//! - A sales line may have quantity zero (harmless) or negative (a return); its unit price may
//!   have any sign. Other prices and costs must be zero or more.
//! - An order must have at least one line unless it is marked removed.
//! - Stock levels also accept `removed` (an extension); `on_hand` may be negative (oversold),
//!   `allocated` may not.
//! - Header names are matched after trimming, ignoring case; a column with an empty header is
//!   ignored; rows whose cells are all empty are skipped.

mod build;
mod csv_input;
mod json_input;
mod limits;
mod records;
mod refs;
mod values;

use std::collections::{HashMap, HashSet};

pub use limits::{Limits, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_RECORD_BYTES};
pub use records::{
    Component, Currency, Format, Ref, SalesLine, SalesOrderRecord, StockLevelRecord,
    StockOrderKind, StockOrderLine, StockOrderRecord, StockOrderStatus, VariantRecord,
    VariantVendor, VendorRecord, WarehouseRecord,
};
pub use refs::check_references;

use values::{Problems, MAX_LISTED};

/// The entities that can be imported into a child account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    /// Warehouses (locations).
    Warehouses,
    /// Vendors (suppliers).
    Vendors,
    /// Variants (the catalogue).
    Variants,
    /// Stock levels per variant and warehouse.
    Stock,
    /// Sales orders with their lines.
    SalesOrders,
    /// Purchase, transfer and assembly orders with their lines.
    StockOrders,
}

impl Entity {
    /// Every entity, in dependency order (warehouses and vendors before what names them).
    pub const ALL: [Entity; 6] = [
        Entity::Warehouses,
        Entity::Vendors,
        Entity::Variants,
        Entity::Stock,
        Entity::SalesOrders,
        Entity::StockOrders,
    ];

    /// The name used in paths and records: `warehouses`, `vendors`, `variants`, `stock`,
    /// `sales-orders`, `stock-orders`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Warehouses => "warehouses",
            Entity::Vendors => "vendors",
            Entity::Variants => "variants",
            Entity::Stock => "stock",
            Entity::SalesOrders => "sales-orders",
            Entity::StockOrders => "stock-orders",
        }
    }

    /// The entity named by [`Entity::as_str`] (an underscore is accepted for the hyphen).
    pub fn parse(s: &str) -> Option<Entity> {
        let s = s.trim().replace('_', "-");
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The full CSV header of the entity's template, every accepted column in order.
    pub fn csv_header(self) -> &'static str {
        match self {
            Entity::Warehouses => "id,name,updated_at,removed",
            Entity::Vendors => {
                "id,name,currency,lead_time_days,minimum_order_quantity,pack_size,updated_at,removed"
            }
            Entity::Variants => {
                "id,sku,barcode,title,product_id,product_title,vendor_id,brand,category,tags,\
                 cost_price,retail_price,currency,tracked,lead_time_days,min_stock,max_stock,\
                 components,assembly,updated_at,removed"
            }
            Entity::Stock => "variant_id,warehouse_id,on_hand,allocated,updated_at,removed",
            Entity::SalesOrders => {
                "id,ordered_at,warehouse_id,currency,cancelled,removed,updated_at,line_id,\
                 variant_id,quantity,unit_price"
            }
            Entity::StockOrders => {
                "id,kind,status,vendor_id,source_warehouse_id,destination_warehouse_id,\
                 expected_at,currency,updated_at,removed,line_id,variant_id,quantity,\
                 received_quantity,unit_cost"
            }
        }
    }

    /// Columns a CSV upload must have.
    pub fn csv_required(self) -> &'static [&'static str] {
        use build::OrderKind;
        match self {
            Entity::Warehouses => build::WAREHOUSE_REQUIRED,
            Entity::Vendors => build::VENDOR_REQUIRED,
            Entity::Variants => build::VARIANT_REQUIRED,
            Entity::Stock => build::STOCK_REQUIRED,
            Entity::SalesOrders => build::Sales::CSV_REQUIRED,
            Entity::StockOrders => build::Stock::CSV_REQUIRED,
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with (or a fallback taken for) an imported record: `{"row", "field",
/// "message"}` in the error body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// 1-based data row (CSV) or array position (JSON).
    pub row: usize,
    /// The field, with a path for nested ones (`lines[2].quantity`).
    pub field: String,
    /// A sentence a merchant can act on.
    pub message: String,
}

/// Sorts problems by row, keeping the order of problems on the same row.
pub fn sort_problems(problems: &mut [Problem]) {
    problems.sort_by_key(|p| p.row);
}

/// The account settings values are read with.
#[derive(Clone, Debug)]
pub struct ImportContext {
    /// The account's default currency, used for unknown currency codes.
    pub account_currency: String,
    /// The account's time zone, for timestamps without an offset.
    pub timezone: chrono_tz::Tz,
    /// How large one field and one record may be.
    pub limits: Limits,
}

/// The records of one import, all of one entity.
#[derive(Clone, Debug, PartialEq)]
pub enum Batch {
    /// Warehouses.
    Warehouses(Vec<WarehouseRecord>),
    /// Vendors.
    Vendors(Vec<VendorRecord>),
    /// Variants.
    Variants(Vec<VariantRecord>),
    /// Stock levels.
    Stock(Vec<StockLevelRecord>),
    /// Sales orders.
    SalesOrders(Vec<SalesOrderRecord>),
    /// Stock orders.
    StockOrders(Vec<StockOrderRecord>),
}

impl Batch {
    /// The number of records (an order counts once, whatever its number of lines).
    pub fn len(&self) -> usize {
        match self {
            Batch::Warehouses(v) => v.len(),
            Batch::Vendors(v) => v.len(),
            Batch::Variants(v) => v.len(),
            Batch::Stock(v) => v.len(),
            Batch::SalesOrders(v) => v.len(),
            Batch::StockOrders(v) => v.len(),
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entity of the records.
    pub fn entity(&self) -> Entity {
        match self {
            Batch::Warehouses(_) => Entity::Warehouses,
            Batch::Vendors(_) => Entity::Vendors,
            Batch::Variants(_) => Entity::Variants,
            Batch::Stock(_) => Entity::Stock,
            Batch::SalesOrders(_) => Entity::SalesOrders,
            Batch::StockOrders(_) => Entity::StockOrders,
        }
    }

    fn empty(entity: Entity) -> Batch {
        match entity {
            Entity::Warehouses => Batch::Warehouses(Vec::new()),
            Entity::Vendors => Batch::Vendors(Vec::new()),
            Entity::Variants => Batch::Variants(Vec::new()),
            Entity::Stock => Batch::Stock(Vec::new()),
            Entity::SalesOrders => Batch::SalesOrders(Vec::new()),
            Entity::StockOrders => Batch::StockOrders(Vec::new()),
        }
    }
}

/// A valid batch and the fallbacks taken while reading it.
#[derive(Debug)]
pub struct Parsed {
    /// The records, in the order of their first row.
    pub batch: Batch,
    /// Warnings (such as an unknown currency taken as the account's), by row, at most 1,000.
    pub warnings: Vec<Problem>,
    /// How many warnings there were in all.
    pub warnings_total: usize,
}

/// Why an import was refused; nothing may be written.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body cannot be read at all (not UTF-8, not CSV, not JSON): answer 400.
    #[error("{message}")]
    Malformed {
        /// What is wrong and where.
        message: String,
    },
    /// The body was read but its content is invalid: answer 422 with `problems` as details.
    #[error("{}", invalid_message(*.total, .problems.len()))]
    Invalid {
        /// The first problems by row, at most 1,000.
        problems: Vec<Problem>,
        /// How many problems there were in all.
        total: usize,
    },
    /// No record at all: answer 422.
    #[error(
        "The import holds no records: send at least one (a CSV file needs its header line and \
         one row per record; a JSON batch is a non-empty array)."
    )]
    Empty,
}

fn invalid_message(total: usize, listed: usize) -> String {
    let s = if total == 1 { "" } else { "s" };
    if total > listed {
        format!(
            "The import has {total} problem{s} and nothing was written; the first {listed} are \
             listed. Fix them and send the whole file again."
        )
    } else {
        format!(
            "The import has {total} problem{s} and nothing was written. Fix {} and send the \
             whole file again.",
            if total == 1 { "it" } else { "them" }
        )
    }
}

impl ParseError {
    /// An [`ParseError::Invalid`] from any number of problems: sorted by row, capped at 1,000,
    /// with the total kept. Use it to merge parse and reference problems.
    pub fn invalid(problems: Vec<Problem>) -> ParseError {
        let mut p = Problems::default();
        p.extend(problems);
        let (problems, total) = p.finish();
        ParseError::Invalid { problems, total }
    }

    /// The HTTP status to answer with: 400 or 422.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Malformed { .. } => 400,
            ParseError::Invalid { .. } | ParseError::Empty => 422,
        }
    }

    /// The `code` of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Malformed { .. } => "malformed_body",
            ParseError::Invalid { .. } => "invalid_records",
            ParseError::Empty => "empty_import",
        }
    }
}

/// Ids an account already holds, for [`check_references`]; and what a
/// merchant knows them by — a variant's SKU, a warehouse's or vendor's
/// name — so that a file may name them so where that is unambiguous.
#[derive(Clone, Debug, Default)]
pub struct KnownIds {
    /// Variant ids.
    pub variants: HashSet<String>,
    /// Warehouse ids.
    pub warehouses: HashSet<String>,
    /// Vendor ids.
    pub vendors: HashSet<String>,
    /// Live variants' ids by normalised SKU ([`sku_normalise`]).
    pub variant_skus: HashMap<String, Vec<String>>,
    /// Warehouse ids by name (trimmed, lower case).
    pub warehouse_names: HashMap<String, Vec<String>>,
    /// Vendor ids by name (trimmed, lower case).
    pub vendor_names: HashMap<String, Vec<String>>,
}

/// What a reference that is not an id names.
#[derive(Debug, PartialEq)]
pub(crate) enum Named<'a> {
    /// Exactly one record: its id.
    One(&'a str),
    /// Several records (their ids): the file must give the id.
    Several(&'a [String]),
    /// Nothing.
    Nothing,
}

impl KnownIds {
    /// The name key of a warehouse or vendor.
    pub fn name_key(name: &str) -> String {
        name.trim().to_lowercase()
    }

    /// What `reference`, not an id of `kind`'s records, names: a variant by
    /// its SKU (normalised), a warehouse or vendor by its name (any case).
    pub(crate) fn named(&self, kind: values::RefKind, reference: &str) -> Named<'_> {
        let ids = match kind {
            values::RefKind::Variant => self.variant_skus.get(&sku_normalise(reference)),
            values::RefKind::Warehouse => self.warehouse_names.get(&Self::name_key(reference)),
            values::RefKind::Vendor => self.vendor_names.get(&Self::name_key(reference)),
        };
        match ids.map(Vec::as_slice) {
            Some([one]) => Named::One(one),
            Some(many) if !many.is_empty() => Named::Several(many),
            _ => Named::Nothing,
        }
    }
}

/// A SKU as compared across accounts (see [`crate::domain::sku::normalise`]).
pub fn sku_normalise(s: &str) -> String {
    crate::domain::sku::normalise(s)
}

/// What a front end produced: the records that could be built, and every problem and warning.
struct Outcome {
    batch: Batch,
    problems: Problems,
    warnings: Problems,
}

impl Outcome {
    /// `known`: the ids references were checked against while reading; what only the whole
    /// batch can settle (components naming variants of the same batch) is checked here.
    fn conclude(mut self, known: Option<&KnownIds>) -> Result<Parsed, ParseError> {
        self.problems.extend(build::duplicates(&self.batch));
        if let Some(known) = known {
            refs::in_batch_references(&self.batch, known, &mut |p| {
                self.problems.push(p.row, p.field, p.message)
            });
        }
        if !self.problems.is_empty() {
            let (problems, total) = self.problems.finish();
            return Err(ParseError::Invalid { problems, total });
        }
        if self.batch.is_empty() {
            return Err(ParseError::Empty);
        }
        let (warnings, warnings_total) = self.warnings.finish();
        debug_assert!(warnings.len() <= MAX_LISTED);
        Ok(Parsed {
            batch: self.batch,
            warnings,
            warnings_total,
        })
    }
}

/// Reads a CSV upload of `entity` from `reader`, streaming, and validates every row.
/// References to other records are not checked (see [`check_references`]).
pub fn parse_csv<R: std::io::Read>(
    entity: Entity,
    reader: R,
    ctx: &ImportContext,
) -> Result<Parsed, ParseError> {
    csv_input::parse(entity, reader, ctx, None)?.conclude(None)
}

/// [`parse_csv`], also reporting references to ids neither in `known` nor in the batch, so
/// the merchant sees every problem at once.
pub fn parse_csv_checked<R: std::io::Read>(
    entity: Entity,
    reader: R,
    ctx: &ImportContext,
    known: &KnownIds,
) -> Result<Parsed, ParseError> {
    csv_input::parse(entity, reader, ctx, Some(known))?.conclude(Some(known))
}

/// Reads a JSON batch (an array of records) of `entity` and validates every element, field by
/// field. References to other records are not checked (see [`check_references`]).
pub fn parse_json(entity: Entity, body: &[u8], ctx: &ImportContext) -> Result<Parsed, ParseError> {
    json_input::parse(entity, body, ctx, None)?.conclude(None)
}

/// [`parse_json`], also reporting references to ids neither in `known` nor in the batch.
pub fn parse_json_checked(
    entity: Entity,
    body: &[u8],
    ctx: &ImportContext,
    known: &KnownIds,
) -> Result<Parsed, ParseError> {
    json_input::parse(entity, body, ctx, Some(known))?.conclude(Some(known))
}

/// [`parse_json_checked`] from a reader (a spooled body), streaming: the body is never held
/// whole, only the element being read.
pub fn parse_json_reader_checked<R: std::io::Read>(
    entity: Entity,
    reader: R,
    ctx: &ImportContext,
    known: &KnownIds,
) -> Result<Parsed, ParseError> {
    json_input::parse(entity, reader, ctx, Some(known))?.conclude(Some(known))
}

#[cfg(test)]
mod tests {
    use super::*;
    use build::OrderKind;

    #[test]
    fn entity_names_round_trip() {
        for e in Entity::ALL {
            assert_eq!(Entity::parse(e.as_str()), Some(e));
        }
        assert_eq!(Entity::parse("sales_orders"), Some(Entity::SalesOrders));
        assert_eq!(Entity::parse("orders"), None);
    }

    #[test]
    fn csv_headers_match_the_field_lists() {
        let join = |a: &[&str], b: &[&str]| [a, b].concat().join(",");
        assert_eq!(Entity::Warehouses.csv_header(), build::WAREHOUSE.join(","));
        assert_eq!(Entity::Vendors.csv_header(), build::VENDOR.join(","));
        let variant: Vec<&str> = build::VARIANT
            .iter()
            .copied()
            .filter(|f| *f != "vendors")
            .collect();
        assert_eq!(Entity::Variants.csv_header(), variant.join(","));
        assert_eq!(Entity::Stock.csv_header(), build::STOCK.join(","));
        assert_eq!(
            Entity::SalesOrders.csv_header(),
            join(build::Sales::HEAD, build::Sales::LINE_CSV)
        );
        assert_eq!(
            Entity::StockOrders.csv_header(),
            join(build::Stock::HEAD, build::Stock::LINE_CSV)
        );
        // The contract's order headers, verbatim.
        assert_eq!(
            Entity::SalesOrders.csv_header(),
            "id,ordered_at,warehouse_id,currency,cancelled,removed,updated_at,line_id,variant_id,quantity,unit_price"
        );
        assert_eq!(
            Entity::StockOrders.csv_header(),
            "id,kind,status,vendor_id,source_warehouse_id,destination_warehouse_id,expected_at,currency,updated_at,removed,line_id,variant_id,quantity,received_quantity,unit_cost"
        );
    }

    #[test]
    fn templates_parse() {
        let ctx = ImportContext {
            account_currency: "EUR".into(),
            timezone: chrono_tz::UTC,
            limits: Limits::default(),
        };
        for e in Entity::ALL {
            let path = format!(
                "{}/static/templates/{}.csv",
                env!("CARGO_MANIFEST_DIR"),
                e.as_str()
            );
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().next().unwrap(), e.csv_header(), "{path}");
            let parsed = parse_csv(e, text.as_bytes(), &ctx).unwrap_or_else(|err| {
                panic!("{path}: {err:?}");
            });
            assert_eq!(parsed.batch.entity(), e);
            assert!(parsed.warnings.is_empty(), "{path}");
        }
    }

    #[test]
    fn sku_normalised() {
        assert_eq!(sku_normalise("  TShirt-Red-M "), "tshirt-red-m");
    }

    #[test]
    fn invalid_caps_and_counts() {
        let problems = (0..1500)
            .rev()
            .map(|row| Problem {
                row,
                field: "id".into(),
                message: "x".into(),
            })
            .collect();
        match ParseError::invalid(problems) {
            ParseError::Invalid { problems, total } => {
                assert_eq!(total, 1500);
                assert_eq!(problems.len(), 1000);
                assert_eq!(problems[0].row, 0);
            }
            other => panic!("{other:?}"),
        }
    }
}
