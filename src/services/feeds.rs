//! The read feeds (`api.md`, "Read feeds"): an account's records of one
//! entity in change-sequence order, a page at a time, with exactly the
//! import fields (orders with their lines, removed records included), so
//! another server's `tributary` connection can pull them incrementally.
//!
//! A child's cursor is the last change sequence number served. A master
//! serves what it rolls up: every included child's records, ids and
//! references prefixed `<child account id>:`; its cursor holds one position
//! per child, so records a child stores while the feed is read are never
//! skipped. Cursors are opaque strings to the reader.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{Map, Number, Value};

use crate::db::models::feeds;
use crate::db::models::planning::warehouse_settings;
use crate::db::models::Account;
use crate::db::DbConn;
use crate::import::Entity;
use crate::services::ServiceError;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 1000;
/// Largest page size.
pub const MAX_LIMIT: usize = 10_000;

/// One page of a feed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FeedPage {
    /// Records with the import fields.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Pass as `after` for the next page; null when nothing is left.
    pub next: Option<String>,
}

/// A decimal stored as text, written as a JSON number.
fn num(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        return Value::Number(i.into());
    }
    s.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(s.to_string()))
}

fn ts(t: NaiveDateTime) -> Value {
    Value::String(
        Utc.from_utc_datetime(&t)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// How ids are written: as stored (a child) or prefixed (a master's feed).
#[derive(Clone, Copy)]
struct Ids<'a>(Option<&'a str>);

impl Ids<'_> {
    fn id(&self, id: &str) -> Value {
        match self.0 {
            Some(p) => Value::String(format!("{p}:{id}")),
            None => Value::String(id.to_string()),
        }
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v);
    }
}

/// Converts the decimal-text fields of a stored JSON list to numbers and
/// prefixes its id references.
fn list(text: &Option<String>, ids: Ids, refs: &[&str], decimals: &[&str]) -> Option<Value> {
    let items: Vec<Value> = serde_json::from_str(text.as_deref()?).ok()?;
    let out: Vec<Value> = items
        .into_iter()
        .map(|item| match item {
            Value::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o {
                    if v.is_null() {
                        continue;
                    }
                    let v = match (
                        &v,
                        refs.contains(&k.as_str()),
                        decimals.contains(&k.as_str()),
                    ) {
                        (Value::String(s), true, _) => ids.id(s),
                        (Value::String(s), _, true) => num(s),
                        _ => v,
                    };
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            other => other,
        })
        .collect();
    Some(Value::Array(out))
}

/// Up to `limit` records of `entity` of one child after `after`, as
/// `(seq, item)`; with `prefix` ids are written prefixed.
fn child_page(
    conn: &mut DbConn,
    account: &str,
    entity: Entity,
    after: i64,
    limit: i64,
    prefix: Option<&str>,
) -> QueryResult<Vec<(i64, Value, Option<String>)>> {
    let ids = Ids(prefix);
    let mut out = Vec::new();
    match entity {
        Entity::Warehouses => {
            let rows = feeds::warehouses_after(conn, account, after, limit)?;
            for (seq, id, name, at, removed) in rows {
                let mut m = Map::new();
                m.insert("id".into(), ids.id(&id));
                m.insert("name".into(), Value::String(name));
                m.insert("updated_at".into(), ts(at));
                m.insert("removed".into(), Value::Bool(removed));
                out.push((seq, Value::Object(m), Some(id)));
            }
        }
        Entity::Vendors => {
            let rows = feeds::vendors_after(conn, account, after, limit)?;
            for (seq, id, name, currency, lead, moq, pack, at, removed) in rows {
                let mut m = Map::new();
                m.insert("id".into(), ids.id(&id));
                m.insert("name".into(), Value::String(name));
                put(&mut m, "currency", currency.map(Value::String));
                put(
                    &mut m,
                    "lead_time_days",
                    lead.map(|d| Value::Number(d.into())),
                );
                put(&mut m, "minimum_order_quantity", moq.as_deref().map(num));
                put(&mut m, "pack_size", pack.as_deref().map(num));
                m.insert("updated_at".into(), ts(at));
                m.insert("removed".into(), Value::Bool(removed));
                out.push((seq, Value::Object(m), None));
            }
        }
        Entity::Variants => {
            let rows = feeds::variants_after(conn, account, after, limit)?;
            for v in rows {
                let mut m = Map::new();
                m.insert("id".into(), ids.id(&v.id));
                m.insert("sku".into(), Value::String(v.sku));
                put(&mut m, "barcode", v.barcode.map(Value::String));
                put(&mut m, "title", v.title.map(Value::String));
                put(
                    &mut m,
                    "product_id",
                    v.product_id.as_deref().map(|p| ids.id(p)),
                );
                put(&mut m, "product_title", v.product_title.map(Value::String));
                put(
                    &mut m,
                    "vendor_id",
                    v.vendor_id.as_deref().map(|p| ids.id(p)),
                );
                put(
                    &mut m,
                    "vendors",
                    list(
                        &v.vendors,
                        ids,
                        &["vendor_id"],
                        &["cost_price", "minimum_order_quantity", "pack_size"],
                    ),
                );
                put(&mut m, "brand", v.brand.map(Value::String));
                put(&mut m, "category", v.category.map(Value::String));
                put(
                    &mut m,
                    "tags",
                    v.tags.as_deref().and_then(|t| serde_json::from_str(t).ok()),
                );
                put(&mut m, "cost_price", v.cost_price.as_deref().map(num));
                put(&mut m, "retail_price", v.retail_price.as_deref().map(num));
                put(&mut m, "currency", v.currency.map(Value::String));
                m.insert("tracked".into(), Value::Bool(v.tracked));
                put(
                    &mut m,
                    "lead_time_days",
                    v.lead_time_days.map(|d| Value::Number(d.into())),
                );
                put(&mut m, "min_stock", v.min_stock.as_deref().map(num));
                put(&mut m, "max_stock", v.max_stock.as_deref().map(num));
                put(
                    &mut m,
                    "components",
                    list(&v.components, ids, &["variant_id"], &["quantity"]),
                );
                m.insert("assembly".into(), Value::Bool(v.assembly));
                m.insert("updated_at".into(), ts(v.updated_at));
                m.insert("removed".into(), Value::Bool(v.removed));
                out.push((v.seq, Value::Object(m), None));
            }
        }
        Entity::Stock => {
            let rows = feeds::stock_after(conn, account, after, limit)?;
            for (seq, variant, warehouse, on_hand, allocated, at) in rows {
                let mut m = Map::new();
                m.insert("variant_id".into(), ids.id(&variant));
                m.insert("warehouse_id".into(), ids.id(&warehouse));
                m.insert("on_hand".into(), num(&on_hand));
                m.insert("allocated".into(), num(&allocated));
                m.insert("updated_at".into(), ts(at));
                out.push((seq, Value::Object(m), Some(warehouse)));
            }
        }
        Entity::SalesOrders => {
            let rows = feeds::sales_orders_after(conn, account, after, limit)?;
            let order_ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
            let mut lines: HashMap<String, Vec<Value>> = HashMap::new();
            for chunk in order_ids.chunks(500) {
                let found = feeds::sales_order_lines_of(conn, account, chunk)?;
                for (order, line, variant, qty, price) in found {
                    let mut m = Map::new();
                    m.insert("id".into(), Value::String(line));
                    m.insert("variant_id".into(), ids.id(&variant));
                    m.insert("quantity".into(), num(&qty));
                    put(&mut m, "unit_price", price.as_deref().map(num));
                    lines.entry(order).or_default().push(Value::Object(m));
                }
            }
            for (seq, id, ordered_at, warehouse, currency, cancelled, removed, at) in rows {
                let mut m = Map::new();
                m.insert("id".into(), ids.id(&id));
                m.insert("ordered_at".into(), ts(ordered_at));
                put(
                    &mut m,
                    "warehouse_id",
                    warehouse.as_deref().map(|w| ids.id(w)),
                );
                m.insert("currency".into(), Value::String(currency));
                m.insert("cancelled".into(), Value::Bool(cancelled));
                m.insert("removed".into(), Value::Bool(removed));
                m.insert("updated_at".into(), ts(at));
                m.insert(
                    "lines".into(),
                    Value::Array(lines.remove(&id).unwrap_or_default()),
                );
                out.push((seq, Value::Object(m), warehouse));
            }
        }
        Entity::StockOrders => {
            let rows = feeds::stock_orders_after(conn, account, after, limit)?;
            let order_ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
            let mut lines: HashMap<String, Vec<Value>> = HashMap::new();
            for chunk in order_ids.chunks(500) {
                let found = feeds::stock_order_lines_of(conn, account, chunk)?;
                for (order, line, variant, qty, received, cost) in found {
                    let mut m = Map::new();
                    put(&mut m, "id", line.map(Value::String));
                    m.insert("variant_id".into(), ids.id(&variant));
                    m.insert("quantity".into(), num(&qty));
                    put(&mut m, "received_quantity", received.as_deref().map(num));
                    put(&mut m, "unit_cost", cost.as_deref().map(num));
                    lines.entry(order).or_default().push(Value::Object(m));
                }
            }
            for (seq, id, kind, status, vendor, src, dst, expected, currency, at, removed) in rows {
                let mut m = Map::new();
                m.insert("id".into(), ids.id(&id));
                m.insert("kind".into(), Value::String(kind));
                m.insert("status".into(), Value::String(status));
                put(&mut m, "vendor_id", vendor.as_deref().map(|v| ids.id(v)));
                put(
                    &mut m,
                    "source_warehouse_id",
                    src.as_deref().map(|v| ids.id(v)),
                );
                put(
                    &mut m,
                    "destination_warehouse_id",
                    dst.as_deref().map(|v| ids.id(v)),
                );
                put(
                    &mut m,
                    "expected_at",
                    expected.map(|d| Value::String(d.format("%Y-%m-%d").to_string())),
                );
                m.insert("currency".into(), Value::String(currency));
                m.insert("updated_at".into(), ts(at));
                m.insert("removed".into(), Value::Bool(removed));
                m.insert(
                    "lines".into(),
                    Value::Array(lines.remove(&id).unwrap_or_default()),
                );
                out.push((seq, Value::Object(m), dst));
            }
        }
    }
    Ok(out)
}

fn bad_cursor() -> ServiceError {
    ServiceError::invalid_field(
        "after",
        "is not a cursor of this feed; pass the `next` of a previous page, or leave it out to start from the beginning",
    )
}

/// Reads one page of `entity` for `account` (a child or a master) after the
/// cursor `after` (none: from the start), at most `limit` records.
pub fn read(
    conn: &mut DbConn,
    account: &Account,
    entity: Entity,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<FeedPage, ServiceError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ServiceError::invalid_field(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        ));
    }
    if !account.is_master() {
        let after = match after {
            None | Some("") => 0,
            Some(c) => c
                .strip_prefix('s')
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(bad_cursor)?,
        };
        let rows = child_page(conn, &account.id, entity, after, limit as i64, None)?;
        let next = rows.last().map(|(seq, _, _)| format!("s{seq}"));
        return Ok(FeedPage {
            items: rows.into_iter().map(|(_, v, _)| v).collect(),
            next,
        });
    }
    // A master: one position per child, children in creation order.
    let mut positions: BTreeMap<String, i64> = match after {
        None | Some("") => BTreeMap::new(),
        Some(c) => decode_master_cursor(c).ok_or_else(bad_cursor)?,
    };
    let children = Account::list_children(conn, &account.id)?;
    let settings = warehouse_settings(conn, &account.id)?;
    let excluded = |child: &str, warehouse: &str, stock: bool| {
        settings.iter().any(|s| {
            s.account_id == child
                && s.warehouse_id == warehouse
                && !(if stock {
                    s.include_stock
                } else {
                    s.include_sales
                })
        })
    };
    let mut items = Vec::new();
    let mut moved = false;
    for child in &children {
        let wanted = match entity {
            Entity::Stock | Entity::StockOrders => child.include_stock,
            Entity::SalesOrders => child.include_sales,
            _ => true,
        };
        if !wanted || items.len() >= limit {
            continue;
        }
        let from = positions.get(&child.id).copied().unwrap_or(0);
        let rows = child_page(
            conn,
            &child.id,
            entity,
            from,
            (limit - items.len()) as i64,
            Some(&child.id),
        )?;
        if let Some((last, _, _)) = rows.last() {
            positions.insert(child.id.clone(), *last);
            moved = true;
        }
        for (_, item, warehouse) in rows {
            let skip = match (entity, warehouse.as_deref()) {
                (Entity::Stock | Entity::StockOrders, Some(w)) => excluded(&child.id, w, true),
                (Entity::SalesOrders, Some(w)) => excluded(&child.id, w, false),
                _ => false,
            };
            if !skip {
                items.push(item);
            }
        }
    }
    Ok(FeedPage {
        items,
        next: moved.then(|| encode_master_cursor(&positions)),
    })
}

/// `m` + `child=seq` pairs joined by `,`, hex-encoded so it stays opaque and
/// URL-safe.
fn encode_master_cursor(positions: &BTreeMap<String, i64>) -> String {
    let text: Vec<String> = positions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("m{}", hex::encode(text.join(",")))
}

fn decode_master_cursor(c: &str) -> Option<BTreeMap<String, i64>> {
    let bytes = hex::decode(c.strip_prefix('m')?).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut out = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        out.insert(k.to_string(), v.parse().ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_cursor_round_trips() {
        let mut p = BTreeMap::new();
        p.insert("acc_a".to_string(), 12);
        p.insert("acc_b".to_string(), 7);
        let c = encode_master_cursor(&p);
        assert_eq!(decode_master_cursor(&c), Some(p));
        assert_eq!(decode_master_cursor("s12"), None);
    }

    #[test]
    fn decimals_are_numbers() {
        assert_eq!(num("12"), serde_json::json!(12));
        assert_eq!(num("12.5"), serde_json::json!(12.5));
        assert_eq!(num("-0.25"), serde_json::json!(-0.25));
    }
}
