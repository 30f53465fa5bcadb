//! Reference checks: a record naming a variant, warehouse or vendor the account does not know
//! (and the same batch does not define) is a problem. The storage layer supplies the known ids.

use std::collections::HashSet;

use crate::import::records::Format;
use crate::import::values::quote;
use crate::import::{Batch, KnownIds, Problem};

/// Problems for every reference in `batch` to an id that is neither in `known` nor defined by
/// the batch itself (a component defined in the same variants batch), ordered by row.
pub fn check_references(batch: &Batch, known: &KnownIds) -> Vec<Problem> {
    let mut out = Vec::new();
    references(batch, known, &mut |p| out.push(p));
    crate::import::sort_problems(&mut out);
    out
}

pub(crate) fn unknown(kind: &str, plural: &str, id: &str) -> String {
    let by = if kind.eq_ignore_ascii_case("variant") {
        "SKU"
    } else {
        "name"
    };
    format!(
        "{kind} {} is not known in this account (neither an id nor a {by}); import the {plural} first or correct it.",
        quote(id)
    )
}

fn line_field(format: Format, index: usize, name: &str) -> String {
    match format {
        Format::Csv => name.to_string(),
        Format::Json => format!("lines[{}].{name}", index + 1),
    }
}

/// Feeds the problems of references that only the batch itself can settle (a variant's
/// components, which may name variants of the same batch) to `report`; the others were
/// checked while reading ([`crate::import::values::Cx::known_ref`]).
pub(crate) fn in_batch_references(
    batch: &Batch,
    known: &KnownIds,
    report: &mut dyn FnMut(Problem),
) {
    if let Batch::Variants(records) = batch {
        let in_batch: HashSet<&str> = records.iter().map(|r| &*r.id).collect();
        for r in records {
            for c in &r.components {
                if !known.variants.contains(&*c.variant_id) && !in_batch.contains(&*c.variant_id) {
                    report(Problem {
                        row: r.row,
                        field: "components".into(),
                        message: format!(
                            "Component {}",
                            unknown("variant", "variants", &c.variant_id)
                        ),
                    });
                }
            }
        }
    }
}

/// Feeds reference problems to `report`, in batch order.
pub(crate) fn references(batch: &Batch, known: &KnownIds, report: &mut dyn FnMut(Problem)) {
    let mut emit = |row: usize, field: String, message: String| {
        report(Problem {
            row,
            field,
            message,
        })
    };
    let warehouse = |id: &str| known.warehouses.contains(id);
    let vendor = |id: &str| known.vendors.contains(id);
    match batch {
        Batch::Warehouses(_) | Batch::Vendors(_) => {}
        Batch::Variants(records) => {
            let in_batch: HashSet<&str> = records.iter().map(|r| &*r.id).collect();
            let variant = |id: &str| known.variants.contains(id) || in_batch.contains(id);
            for r in records {
                if let Some(v) = r.vendor_id.as_deref().filter(|v| !vendor(v)) {
                    emit(r.row, "vendor_id".into(), unknown("Vendor", "vendors", v));
                }
                for (i, v) in r.vendors.iter().enumerate() {
                    if !vendor(&v.vendor_id) {
                        emit(
                            r.row,
                            format!("vendors[{}].vendor_id", i + 1),
                            unknown("Vendor", "vendors", &v.vendor_id),
                        );
                    }
                }
                for c in &r.components {
                    if !variant(&c.variant_id) {
                        emit(
                            r.row,
                            "components".into(),
                            format!(
                                "Component {}",
                                unknown("variant", "variants", &c.variant_id)
                            ),
                        );
                    }
                }
            }
        }
        Batch::Stock(records) => {
            for r in records {
                if !known.variants.contains(&*r.variant_id) {
                    let msg = unknown("Variant", "variants", &r.variant_id);
                    emit(r.row, "variant_id".into(), msg);
                }
                if !warehouse(&r.warehouse_id) {
                    let msg = unknown("Warehouse", "warehouses", &r.warehouse_id);
                    emit(r.row, "warehouse_id".into(), msg);
                }
            }
        }
        Batch::SalesOrders(records) => {
            for r in records {
                if let Some(w) = r.warehouse_id.as_deref().filter(|w| !warehouse(w)) {
                    emit(
                        r.row,
                        "warehouse_id".into(),
                        unknown("Warehouse", "warehouses", w),
                    );
                }
                for (i, l) in r.lines.iter().enumerate() {
                    if !known.variants.contains(&*l.variant_id) {
                        emit(
                            l.row as usize,
                            line_field(r.format, i, "variant_id"),
                            unknown("Variant", "variants", &l.variant_id),
                        );
                    }
                }
            }
        }
        Batch::StockOrders(records) => {
            for r in records {
                if let Some(v) = r.vendor_id.as_deref().filter(|v| !vendor(v)) {
                    emit(r.row, "vendor_id".into(), unknown("Vendor", "vendors", v));
                }
                for (field, id) in [
                    ("source_warehouse_id", &r.source_warehouse_id),
                    ("destination_warehouse_id", &r.destination_warehouse_id),
                ] {
                    if let Some(w) = id.as_deref().filter(|w| !warehouse(w)) {
                        emit(r.row, field.into(), unknown("Warehouse", "warehouses", w));
                    }
                }
                for (i, l) in r.lines.iter().enumerate() {
                    if !known.variants.contains(&*l.variant_id) {
                        emit(
                            l.row as usize,
                            line_field(r.format, i, "variant_id"),
                            unknown("Variant", "variants", &l.variant_id),
                        );
                    }
                }
            }
        }
    }
}
