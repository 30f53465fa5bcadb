//! The typed, validated records an import yields, one struct per entity, and their content
//! fingerprints. Records are kept compact: a million sales lines must fit in memory at once.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// A reference to another record's id (a variant, warehouse or vendor). Interned while parsing,
/// so the many lines naming one variant share one allocation; read it as `&str` with `&*r`.
pub type Ref = Arc<str>;

/// A three-letter ISO 4217 currency code, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Used when the account's own currency setting is not a valid code.
    pub const FALLBACK: Currency = Currency(*b"XXX");

    /// Three ASCII letters, any case; `None` for anything else. Unknown codes are accepted here
    /// (see [`Currency::is_known`]).
    pub fn parse(s: &str) -> Option<Currency> {
        match s.trim().as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_alphabetic()) => Some(Currency([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => None,
        }
    }

    /// The code, such as `EUR`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Whether the code is an active ISO 4217 code.
    pub fn is_known(&self) -> bool {
        crate::import::values::ISO_4217
            .binary_search(&self.as_str())
            .is_ok()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which body format a record came from; decides how problems name a line's fields
/// (`variant_id` on the line's own CSV row, or `lines[2].variant_id` on the JSON element).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A CSV upload.
    Csv,
    /// A JSON batch.
    Json,
}

impl Format {
    /// `csv` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// The kind of a stock order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StockOrderKind {
    /// From a vendor into a destination warehouse.
    Purchase,
    /// From a source to a destination warehouse.
    Transfer,
    /// Components out of a source warehouse, assemblies into a destination.
    Assembly,
}

impl StockOrderKind {
    /// `purchase`, `transfer` or `assembly`.
    pub fn as_str(self) -> &'static str {
        match self {
            StockOrderKind::Purchase => "purchase",
            StockOrderKind::Transfer => "transfer",
            StockOrderKind::Assembly => "assembly",
        }
    }

    /// Case-insensitive; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Purchase, Self::Transfer, Self::Assembly]
            .into_iter()
            .find(|k| s.trim().eq_ignore_ascii_case(k.as_str()))
    }
}

/// The status of a stock order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StockOrderStatus {
    /// Not yet placed: counted nowhere.
    Draft,
    /// Placed and open: counted as on order / in transit.
    Active,
    /// Done: the stock records show the result.
    Closed,
    /// Abandoned: counted nowhere.
    Cancelled,
}

impl StockOrderStatus {
    /// `draft`, `active`, `closed` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            StockOrderStatus::Draft => "draft",
            StockOrderStatus::Active => "active",
            StockOrderStatus::Closed => "closed",
            StockOrderStatus::Cancelled => "cancelled",
        }
    }

    /// Case-insensitive; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Active, Self::Closed, Self::Cancelled]
            .into_iter()
            .find(|k| s.trim().eq_ignore_ascii_case(k.as_str()))
    }
}

/// A warehouse (a physical or virtual location).
#[derive(Clone, Debug, PartialEq)]
pub struct WarehouseRecord {
    /// The source system's id.
    pub id: Box<str>,
    /// Display name.
    pub name: String,
    /// When the source last changed it; `None`: the storage layer uses the received time.
    pub updated_at: Option<DateTime<Utc>>,
    /// Marked removed (kept for history).
    pub removed: bool,
    /// 1-based row (CSV data row or JSON element) it came from.
    pub row: usize,
}

/// A vendor (supplier).
#[derive(Clone, Debug, PartialEq)]
pub struct VendorRecord {
    /// The source system's id.
    pub id: Box<str>,
    /// Display name.
    pub name: String,
    /// Currency the vendor bills in; `None`: not given.
    pub currency: Option<Currency>,
    /// Lead time in days.
    pub lead_time_days: Option<u32>,
    /// Minimum order quantity (zero or more).
    pub minimum_order_quantity: Option<Decimal>,
    /// Pack size (more than zero).
    pub pack_size: Option<Decimal>,
    /// When the source last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// Marked removed.
    pub removed: bool,
    /// 1-based row it came from.
    pub row: usize,
}

/// One of several vendors a variant can be bought from (JSON only).
#[derive(Clone, Debug, PartialEq)]
pub struct VariantVendor {
    /// The vendor's id.
    pub vendor_id: Ref,
    /// Cost from this vendor.
    pub cost_price: Option<Decimal>,
    /// This vendor's lead time for the variant, in days.
    pub lead_time_days: Option<u32>,
    /// Minimum order quantity from this vendor.
    pub minimum_order_quantity: Option<Decimal>,
    /// Pack size from this vendor (more than zero).
    pub pack_size: Option<Decimal>,
    /// The vendor's own SKU for the variant.
    pub vendor_sku: Option<String>,
}

/// One component of a bundle or assembly.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The component variant's id.
    pub variant_id: Ref,
    /// How many go into one unit (more than zero).
    pub quantity: Decimal,
}

/// A variant (one sellable version of a product).
#[derive(Clone, Debug, PartialEq)]
pub struct VariantRecord {
    /// The source system's id.
    pub id: Box<str>,
    /// The SKU as given (trimmed, non-empty); compare with [`crate::import::sku_normalise`].
    pub sku: String,
    /// Barcode.
    pub barcode: Option<String>,
    /// Variant title.
    pub title: Option<String>,
    /// The product's id in the source system.
    pub product_id: Option<String>,
    /// The product's title.
    pub product_title: Option<String>,
    /// The preferred vendor.
    pub vendor_id: Option<Ref>,
    /// All vendors the variant is bought from (JSON only).
    pub vendors: Vec<VariantVendor>,
    /// Brand.
    pub brand: Option<String>,
    /// Category or product type.
    pub category: Option<String>,
    /// Tags, trimmed, blanks dropped.
    pub tags: Vec<String>,
    /// Cost price (zero or more).
    pub cost_price: Option<Decimal>,
    /// Retail price (zero or more).
    pub retail_price: Option<Decimal>,
    /// Currency of the prices.
    pub currency: Option<Currency>,
    /// Whether stock is tracked (default true); untracked variants plan zero.
    pub tracked: bool,
    /// The variant's own lead time in days (beats its vendor's).
    pub lead_time_days: Option<u32>,
    /// Minimum stock to keep.
    pub min_stock: Option<Decimal>,
    /// Maximum stock to hold.
    pub max_stock: Option<Decimal>,
    /// Bill of materials: a bundle (assembly false) or an assembly.
    pub components: Vec<Component>,
    /// Produced in advance from its components.
    pub assembly: bool,
    /// When the source last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// Marked removed.
    pub removed: bool,
    /// 1-based row it came from.
    pub row: usize,
}

/// A stock level of one variant in one warehouse.
#[derive(Clone, Debug, PartialEq)]
pub struct StockLevelRecord {
    /// The variant's id.
    pub variant_id: Ref,
    /// The warehouse's id.
    pub warehouse_id: Ref,
    /// On hand (may be negative when a source oversells).
    pub on_hand: Decimal,
    /// Reserved for unshipped orders (zero or more, default 0).
    pub allocated: Decimal,
    /// Its local date is the day this level held from.
    pub updated_at: Option<DateTime<Utc>>,
    /// Marked removed (an extension of the contract; default false).
    pub removed: bool,
    /// 1-based row it came from.
    pub row: usize,
}

/// One line of a sales order.
#[derive(Clone, Debug, PartialEq)]
pub struct SalesLine {
    /// The line's id.
    pub id: Box<str>,
    /// The variant sold.
    pub variant_id: Ref,
    /// Quantity; negative is a return, zero is accepted.
    pub quantity: Decimal,
    /// Price per unit, any sign.
    pub unit_price: Option<Decimal>,
    /// 1-based row of this line: its own CSV row, or the order's JSON element.
    pub row: u32,
}

/// A sales order with its whole set of lines.
#[derive(Clone, Debug, PartialEq)]
pub struct SalesOrderRecord {
    /// The source system's id.
    pub id: Box<str>,
    /// When it was ordered.
    pub ordered_at: DateTime<Utc>,
    /// Shipping warehouse.
    pub warehouse_id: Option<Ref>,
    /// Currency of the prices.
    pub currency: Option<Currency>,
    /// Cancelled orders are no demand.
    pub cancelled: bool,
    /// Marked removed.
    pub removed: bool,
    /// When the source last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// 1-based row it came from (the first of its CSV rows).
    pub row: usize,
    /// The format it came from.
    pub format: Format,
    /// Its lines, in the order given.
    pub lines: Vec<SalesLine>,
}

/// One line of a stock order.
#[derive(Clone, Debug, PartialEq)]
pub struct StockOrderLine {
    /// The line's id, if the source has one.
    pub id: Option<Box<str>>,
    /// The variant ordered (for an assembly order, the assembly).
    pub variant_id: Ref,
    /// Quantity ordered, more than zero.
    pub quantity: Decimal,
    /// Quantity received so far (zero or more).
    pub received_quantity: Option<Decimal>,
    /// Cost per unit (zero or more).
    pub unit_cost: Option<Decimal>,
    /// 1-based row of this line: its own CSV row, or the order's JSON element.
    pub row: u32,
}

/// A purchase, transfer or assembly order with its whole set of lines.
#[derive(Clone, Debug, PartialEq)]
pub struct StockOrderRecord {
    /// The source system's id.
    pub id: Box<str>,
    /// Purchase, transfer or assembly.
    pub kind: StockOrderKind,
    /// Draft, active, closed or cancelled.
    pub status: StockOrderStatus,
    /// The vendor (purchases).
    pub vendor_id: Option<Ref>,
    /// Where stock leaves (transfers, assemblies' components).
    pub source_warehouse_id: Option<Ref>,
    /// Where stock arrives; always present once validated.
    pub destination_warehouse_id: Option<Ref>,
    /// Expected delivery date.
    pub expected_at: Option<NaiveDate>,
    /// Currency of the costs.
    pub currency: Option<Currency>,
    /// When the source last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// Marked removed.
    pub removed: bool,
    /// 1-based row it came from (the first of its CSV rows).
    pub row: usize,
    /// The format it came from.
    pub format: Format,
    /// Its lines, in the order given.
    pub lines: Vec<StockOrderLine>,
}

/// A canonical byte encoding fed to SHA-256: every value is tagged or length-prefixed, so two
/// different records never encode alike.
struct Fp(Sha256);

impl Fp {
    fn new(entity: &str) -> Fp {
        let mut fp = Fp(Sha256::new());
        fp.str(entity);
        fp
    }
    fn str(&mut self, s: &str) {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.0.update([1]);
                self.str(s);
            }
            None => self.0.update([0]),
        }
    }
    fn dec(&mut self, d: Decimal) {
        // Numerically equal values (1.0 and 1.00, -0 and 0) encode alike.
        let d = if d.is_zero() {
            Decimal::ZERO
        } else {
            d.normalize()
        };
        self.0.update(d.serialize());
    }
    fn opt_dec(&mut self, d: Option<Decimal>) {
        match d {
            Some(d) => {
                self.0.update([1]);
                self.dec(d);
            }
            None => self.0.update([0]),
        }
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            Some(v) => {
                self.0.update([1]);
                self.0.update(v.to_le_bytes());
            }
            None => self.0.update([0]),
        }
    }
    fn flag(&mut self, b: bool) {
        self.0.update([u8::from(b)]);
    }
    fn opt_currency(&mut self, c: Option<Currency>) {
        self.opt_str(c.as_ref().map(Currency::as_str));
    }
    fn len(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }
    fn finish(self) -> i64 {
        let digest = self.0.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }
}

impl WarehouseRecord {
    /// Content fingerprint (first 8 bytes of SHA-256), excluding `updated_at` and `row`.
    pub fn fingerprint(&self) -> i64 {
        let mut f = Fp::new("warehouse");
        f.str(&self.id);
        f.str(&self.name);
        f.flag(self.removed);
        f.finish()
    }
}

impl VendorRecord {
    /// Content fingerprint (first 8 bytes of SHA-256), excluding `updated_at` and `row`.
    pub fn fingerprint(&self) -> i64 {
        let mut f = Fp::new("vendor");
        f.str(&self.id);
        f.str(&self.name);
        f.opt_currency(self.currency);
        f.opt_u32(self.lead_time_days);
        f.opt_dec(self.minimum_order_quantity);
        f.opt_dec(self.pack_size);
        f.flag(self.removed);
        f.finish()
    }
}

impl VariantRecord {
    /// Content fingerprint (first 8 bytes of SHA-256), excluding `updated_at` and `row`.
    pub fn fingerprint(&self) -> i64 {
        let mut f = Fp::new("variant");
        f.str(&self.id);
        f.str(&self.sku);
        for s in [
            &self.barcode,
            &self.title,
            &self.product_id,
            &self.product_title,
        ] {
            f.opt_str(s.as_deref());
        }
        f.opt_str(self.vendor_id.as_deref());
        f.len(self.vendors.len());
        for v in &self.vendors {
            f.str(&v.vendor_id);
            f.opt_dec(v.cost_price);
            f.opt_u32(v.lead_time_days);
            f.opt_dec(v.minimum_order_quantity);
            f.opt_dec(v.pack_size);
            f.opt_str(v.vendor_sku.as_deref());
        }
        f.opt_str(self.brand.as_deref());
        f.opt_str(self.category.as_deref());
        f.len(self.tags.len());
        for t in &self.tags {
            f.str(t);
        }
        f.opt_dec(self.cost_price);
        f.opt_dec(self.retail_price);
        f.opt_currency(self.currency);
        f.flag(self.tracked);
        f.opt_u32(self.lead_time_days);
        f.opt_dec(self.min_stock);
        f.opt_dec(self.max_stock);
        f.len(self.components.len());
        for c in &self.components {
            f.str(&c.variant_id);
            f.dec(c.quantity);
        }
        f.flag(self.assembly);
        f.flag(self.removed);
        f.finish()
    }
}

impl StockLevelRecord {
    /// Content fingerprint (first 8 bytes of SHA-256), excluding `updated_at` and `row`.
    pub fn fingerprint(&self) -> i64 {
        let mut f = Fp::new("stock");
        f.str(&self.variant_id);
        f.str(&self.warehouse_id);
        f.dec(self.on_hand);
        f.dec(self.allocated);
        f.flag(self.removed);
        f.finish()
    }
}

impl SalesOrderRecord {
    /// Content fingerprint (first 8 bytes of SHA-256) of the order and its lines, excluding
    /// `updated_at`, `row`, `format` and the lines' rows.
    pub fn fingerprint(&self) -> i64 {
        let mut f = Fp::new("sales-order");
        f.str(&self.id);
        f.0.update(self.ordered_at.timestamp().to_le_bytes());
        f.0.update(self.ordered_at.timestamp_subsec_nanos().to_le_bytes());
        f.opt_str(self.warehouse_id.as_deref());
        f.opt_currency(self.currency);
        f.flag(self.cancelled);
        f.flag(self.removed);
        f.len(self.lines.len());
        for l in &self.lines {
            f.str(&l.id);
            f.str(&l.variant_id);
            f.dec(l.quantity);
            f.opt_dec(l.unit_price);
        }
        f.finish()
    }
}

impl StockOrderRecord {
    /// Content fingerprint (first 8 bytes of SHA-256) of the order and its lines, excluding
    /// `updated_at`, `row`, `format` and the lines' rows.
    pub fn fingerprint(&self) -> i64 {
        let mut f = Fp::new("stock-order");
        f.str(&self.id);
        f.str(self.kind.as_str());
        f.str(self.status.as_str());
        f.opt_str(self.vendor_id.as_deref());
        f.opt_str(self.source_warehouse_id.as_deref());
        f.opt_str(self.destination_warehouse_id.as_deref());
        match self.expected_at {
            Some(d) => {
                f.0.update([1]);
                f.str(&d.to_string());
            }
            None => f.0.update([0]),
        }
        f.opt_currency(self.currency);
        f.flag(self.removed);
        f.len(self.lines.len());
        for l in &self.lines {
            f.opt_str(l.id.as_deref());
            f.str(&l.variant_id);
            f.dec(l.quantity);
            f.opt_dec(l.received_quantity);
            f.opt_dec(l.unit_cost);
        }
        f.finish()
    }
}
