//! The supply plan's storage: what each plan line's weekly projection is
//! computed from (`plan_details.supply`, written with the plan) and the
//! merchant's week quantities (`supply_overrides`).

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;

use crate::db::schema::{plan_details, plans, supply_overrides};
use crate::db::DbConn;

/// Keys per `IN` list.
const CHUNK: usize = 500;

/// The stored supply inputs (JSON) of some lines of an account's plan, by
/// line key (lines without one are absent).
pub fn inputs(
    conn: &mut DbConn,
    account: &str,
    keys: &[String],
) -> QueryResult<HashMap<String, String>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let current = plans::table
            .filter(plans::account_id.eq(account))
            .select(plans::lines_key)
            .single_value();
        let rows: Vec<(String, String)> = plan_details::table
            .filter(plan_details::account_id.nullable().eq(current))
            .filter(plan_details::sku_key.eq_any(chunk))
            .select((plan_details::sku_key, plan_details::supply))
            .load(conn)?;
        out.extend(rows.into_iter().filter(|r| !r.1.is_empty()));
    }
    Ok(out)
}

/// The merchant's week quantities of some lines from `from` on: per line
/// key, (week's first day, quantity) in day order.
pub fn overrides(
    conn: &mut DbConn,
    account: &str,
    keys: &[String],
    from: NaiveDate,
) -> QueryResult<HashMap<String, Vec<(NaiveDate, f64)>>> {
    let mut out: HashMap<String, Vec<(NaiveDate, f64)>> = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let rows: Vec<(String, NaiveDate, f64)> = supply_overrides::table
            .filter(supply_overrides::account_id.eq(account))
            .filter(supply_overrides::sku_key.eq_any(chunk))
            .filter(supply_overrides::first_day.ge(from))
            .order((supply_overrides::sku_key, supply_overrides::first_day))
            .select((
                supply_overrides::sku_key,
                supply_overrides::first_day,
                supply_overrides::quantity,
            ))
            .load(conn)?;
        for (k, d, q) in rows {
            out.entry(k).or_default().push((d, q));
        }
    }
    Ok(out)
}

/// Sets a line's quantity for the week starting `first_day`.
pub fn set_override(
    conn: &mut DbConn,
    account: &str,
    sku_key: &str,
    first_day: NaiveDate,
    quantity: f64,
) -> QueryResult<()> {
    let now = Utc::now().naive_utc();
    crate::db::transaction(conn, |conn| {
        clear_override(conn, account, sku_key, first_day)?;
        diesel::insert_into(supply_overrides::table)
            .values((
                supply_overrides::account_id.eq(account),
                supply_overrides::sku_key.eq(sku_key),
                supply_overrides::first_day.eq(first_day),
                supply_overrides::quantity.eq(quantity),
                supply_overrides::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Clears a line's quantity for the week starting `first_day`; whether
/// there was one.
pub fn clear_override(
    conn: &mut DbConn,
    account: &str,
    sku_key: &str,
    first_day: NaiveDate,
) -> QueryResult<bool> {
    crate::db::transaction(conn, |conn| {
        let n = diesel::delete(
            supply_overrides::table
                .filter(supply_overrides::account_id.eq(account))
                .filter(supply_overrides::sku_key.eq(sku_key))
                .filter(supply_overrides::first_day.eq(first_day)),
        )
        .execute(conn)?;
        Ok(n > 0)
    })
}
