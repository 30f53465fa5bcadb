//! The storage side of the StockTrim-compatible API (`web::compat`): the
//! reads it answers from (catalogue, stock, orders, customers), the native
//! import records it builds from stored rows so that a partial upsert can be
//! merged onto what is stored, and the one write helper, which spools native
//! JSON records for the import admission (`web::compat` runs them through
//! it), the same validation and write path as a native JSON batch.
//!
//! The queries are in `db::models::compat` (re-exported here for the
//! compatible surface); customers have no native entity and are kept, as
//! sent, in its `compat_customers` table.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

pub use crate::db::models::compat::{
    customers, live_key_by_id, on_order_by_variant, purchase_orders, sales_orders,
    stock_by_variant, upsert_customer, variant, variants, vendors, warehouses, OrderLine, SaleLine,
    SalesOrder, StockOrder, VendorRow, WarehouseRow,
};
use crate::db::models::records::VariantRow;
use crate::services::ServiceError;

/// A stable, positive 31-bit number for a string id: StockTrim's DTOs carry
/// integer `id`s, the native records string ids (FNV-1a, folded to 31 bits).
pub fn int_id(s: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h & 0x7fff_ffff) as i32
}

/// A stored decimal (exact text) as a JSON number.
pub fn num(s: &str) -> Value {
    s.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// An optional stored decimal as a JSON number or null.
pub fn opt_num(s: &Option<String>) -> Value {
    s.as_deref().map(num).unwrap_or(Value::Null)
}

/// A stored UTC timestamp as RFC 3339.
pub fn ts(t: NaiveDateTime) -> Value {
    Value::String(
        DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Spools native import records as the JSON file an import reads (the
/// compatible API's writes run through the import admission with it).
pub fn spool(records: Vec<Value>) -> Result<std::fs::File, ServiceError> {
    let mut file = tempfile::tempfile().map_err(ServiceError::internal)?;
    let mut out = std::io::BufWriter::new(&mut file);
    serde_json::to_writer(&mut out, &Value::Array(records)).map_err(ServiceError::internal)?;
    std::io::Write::flush(&mut out).map_err(ServiceError::internal)?;
    drop(out);
    std::io::Seek::rewind(&mut file).map_err(ServiceError::internal)?;
    Ok(file)
}

/// Drops the null members of an object (the import reads an absent field as
/// "not given").
pub fn compact(mut m: Map<String, Value>) -> Value {
    m.retain(|_, v| !v.is_null());
    Value::Object(m)
}

fn json_list(s: &Option<String>) -> Vec<Value> {
    s.as_deref()
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => compact(m),
            other => other,
        })
        .collect()
}

/// A stored variant as a native import record (nulls dropped, no
/// `updated_at`: a rewrite takes the time it is received).
pub fn variant_record(v: &VariantRow) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, val: Value| {
        if !val.is_null() {
            m.insert(k.to_string(), val);
        }
    };
    put("id", v.id.clone().into());
    put("sku", v.sku.clone().into());
    put("barcode", v.barcode.clone().into());
    put("title", v.title.clone().into());
    put("product_id", v.product_id.clone().into());
    put("product_title", v.product_title.clone().into());
    put("vendor_id", v.vendor_id.clone().into());
    let vendors = json_list(&v.vendors);
    if !vendors.is_empty() {
        put("vendors", Value::Array(vendors));
    }
    put("brand", v.brand.clone().into());
    put("category", v.category.clone().into());
    let tags = json_list(&v.tags);
    if !tags.is_empty() {
        put("tags", Value::Array(tags));
    }
    put("cost_price", v.cost_price.clone().into());
    put("retail_price", v.retail_price.clone().into());
    put("currency", v.currency.clone().into());
    put("tracked", v.tracked.into());
    put("lead_time_days", v.lead_time_days.into());
    put("min_stock", v.min_stock.clone().into());
    put("max_stock", v.max_stock.clone().into());
    let components = json_list(&v.components);
    if !components.is_empty() {
        put("components", Value::Array(components));
    }
    put("assembly", v.assembly.into());
    put("removed", v.removed.into());
    m
}

impl VendorRow {
    /// As a native import record.
    pub fn record(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("currency".into(), self.currency.clone().into());
        m.insert("lead_time_days".into(), self.lead_time_days.into());
        m.insert(
            "minimum_order_quantity".into(),
            self.minimum_order_quantity.clone().into(),
        );
        m.insert("pack_size".into(), self.pack_size.clone().into());
        m.insert("removed".into(), self.removed.into());
        m.retain(|_, v| !v.is_null());
        m
    }
}

impl SalesOrder {
    /// As a native import record.
    pub fn record(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("ordered_at".into(), ts(self.ordered_at));
        if let Some(w) = &self.warehouse_id {
            m.insert("warehouse_id".into(), w.clone().into());
        }
        m.insert("currency".into(), self.currency.clone().into());
        m.insert("cancelled".into(), self.cancelled.into());
        m.insert(
            "lines".into(),
            Value::Array(
                self.lines
                    .iter()
                    .map(|(id, v, q, p)| {
                        let mut l = Map::new();
                        l.insert("id".into(), id.clone().into());
                        l.insert("variant_id".into(), v.clone().into());
                        l.insert("quantity".into(), q.clone().into());
                        l.insert("unit_price".into(), p.clone().into());
                        compact(l)
                    })
                    .collect(),
            ),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_ids_are_stable_and_positive() {
        assert_eq!(int_id("SKU-1"), int_id("SKU-1"));
        assert_ne!(int_id("SKU-1"), int_id("SKU-2"));
        assert!(int_id("anything") >= 0);
    }
}
