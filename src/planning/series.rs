//! The series stage: shapes one plan row's inputs for the engine — its daily
//! demand series (first sale to yesterday, stockout days marked), its supply
//! position (available stock, open movements with their dates), its terms
//! and, on a master, each child's contribution. Pure: no database.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::models::planning::{opt_num, ExchangeRate, VariantRow};
use crate::db::models::Account;
use crate::domain::sku;
use crate::planning::line::round6;
use crate::planning::rollup::Conflict;
use crate::planning::snapshot::{ChildData, MasterInputs, Sale};

/// Per-child figures on a master's line (`accounts` in `api.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChildFigures {
    /// Child account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Its own plan's available stock.
    pub available: f64,
    /// Its own plan's on-order.
    pub on_order: f64,
    /// Its own plan's coverage demand.
    pub coverage_demand: f64,
    /// Its own plan's order quantity.
    pub order_quantity: f64,
    /// Its own plan's demand per day (for the explanation).
    pub demand_per_day: f64,
    /// Whether the master counts its stock / sales for this SKU.
    pub included: Included,
}

/// Which of a child's figures a master counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Included {
    /// Stock (and on-order).
    pub stock: bool,
    /// Sales.
    pub sales: bool,
}

/// The inputs of one plan line, shaped for the engine.
pub(crate) struct LineInput {
    pub(crate) sku_key: String,
    pub(crate) sku: String,
    pub(crate) title: String,
    pub(crate) vendor: String,
    pub(crate) category: String,
    pub(crate) brand: String,
    pub(crate) tags: Vec<String>,
    pub(crate) tracked: bool,
    pub(crate) bundle: bool,
    pub(crate) available: f64,
    pub(crate) movements: Vec<(f64, Option<NaiveDate>)>,
    /// Daily demand from the first sale to yesterday.
    pub(crate) values: Vec<f64>,
    pub(crate) in_stock: Vec<bool>,
    pub(crate) lead_time_days: f64,
    pub(crate) days_of_stock: f64,
    pub(crate) service_level: f64,
    pub(crate) moq: Option<f64>,
    pub(crate) pack_size: Option<f64>,
    pub(crate) min_stock: Option<f64>,
    pub(crate) max_stock: Option<f64>,
    pub(crate) unit_cost: Option<f64>,
    pub(crate) accounts: Vec<ChildFigures>,
    pub(crate) contributions: Vec<Value>,
}

/// Available on each day of `days` for a set of warehouses' change points:
/// `None` where no warehouse has a known level yet.
pub fn known_available(
    points: &[&Vec<(NaiveDate, f64)>],
    start: NaiveDate,
    len: usize,
) -> Vec<Option<f64>> {
    let mut out = vec![None; len];
    for pts in points {
        // Change points as day offsets from `start` (compared as integers).
        let offsets: Vec<i64> = pts.iter().map(|(d, _)| (*d - start).num_days()).collect();
        let mut k = 0usize;
        let mut current: Option<f64> = None;
        for (d, slot) in out.iter_mut().enumerate() {
            while k < pts.len() && offsets[k] <= d as i64 {
                current = Some(pts[k].1);
                k += 1;
            }
            if let Some(v) = current {
                *slot = Some(slot.unwrap_or(0.0) + v);
            }
        }
    }
    out
}

/// Builds the daily demand series (first sale → yesterday) of some sales.
pub(crate) fn daily_series(sales: &[&Sale], today: NaiveDate) -> (NaiveDate, Vec<f64>) {
    let Some(first) = sales.iter().map(|s| s.day).min() else {
        return (today, vec![]);
    };
    let len = (today - first).num_days().max(0) as usize;
    let mut values = vec![0.0; len];
    for s in sales {
        let d = (s.day - first).num_days();
        if d >= 0 && (d as usize) < len {
            values[d as usize] += s.quantity;
        }
    }
    // A return reduces the day's demand; a day's demand is never below 0.
    for v in &mut values {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
    (first, values)
}

pub(crate) fn tags_of(v: &VariantRow) -> Vec<String> {
    v.tags
        .as_deref()
        .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
        .unwrap_or_default()
}

pub(crate) fn child_line_input(c: &ChildData, i: usize, key: String) -> LineInput {
    let v = &c.variants[i];
    let t = &c.terms[i];
    let acc = &c.account;
    let sales: Vec<&Sale> = c.sales[i].iter().collect();
    let (start, values) = daily_series(&sales, c.today);
    let pts: Vec<&Vec<(NaiveDate, f64)>> = c.history[i].values().collect();
    let in_stock = known_available(&pts, start, values.len())
        .into_iter()
        .map(|a| a.is_none_or(|a| a > 0.0))
        .collect();
    LineInput {
        sku_key: key,
        sku: v.sku.clone(),
        title: v
            .title
            .clone()
            .or(v.product_title.clone())
            .unwrap_or_default(),
        vendor: t.vendor_name.clone(),
        category: v.category.clone().unwrap_or_default(),
        brand: v.brand.clone().unwrap_or_default(),
        tags: tags_of(v),
        tracked: v.tracked,
        bundle: c.bundle[i],
        available: c.stock[i].iter().map(|(_, a)| a).sum(),
        movements: c.movements[i]
            .iter()
            .map(|m| (m.quantity, m.expected))
            .collect(),
        values,
        in_stock,
        lead_time_days: t.lead_time_days.unwrap_or(acc.lead_time_days as f64),
        days_of_stock: acc.days_of_stock as f64,
        service_level: acc.service_level,
        moq: t.moq,
        pack_size: t.pack_size,
        min_stock: opt_num(&v.min_stock),
        max_stock: opt_num(&v.max_stock),
        unit_cost: t.cost,
        accounts: vec![],
        contributions: vec![],
    }
}

/// Converts an amount between currencies at the latest rate on or before
/// `day` (the direct rate, else the inverse of the reverse one).
pub fn convert(
    rates: &[ExchangeRate],
    amount: f64,
    from: &str,
    to: &str,
    day: NaiveDate,
) -> Option<f64> {
    if from == to {
        return Some(amount);
    }
    let latest = |f: &str, t: &str| {
        rates
            .iter()
            .filter(|r| r.from_currency == f && r.to_currency == t && r.day <= day)
            .max_by_key(|r| r.day)
            .map(|r| r.rate)
    };
    latest(from, to)
        .map(|r| amount * r)
        .or_else(|| latest(to, from).filter(|r| *r > 0.0).map(|r| amount / r))
}

pub(crate) fn master_line_input(
    m: &MasterInputs,
    master: &Account,
    today: NaiveDate,
    key: &str,
    members: &[(usize, usize)],
    missing_rates: &mut Vec<Conflict>,
) -> LineInput {
    let (c0, v0) = members[0];
    let first = &m.children[c0];
    let v = &first.variants[v0];
    let t = &first.terms[v0];
    let mut sales: Vec<&Sale> = Vec::new();
    let mut available = 0.0;
    let mut movements = Vec::new();
    let mut accounts = Vec::new();
    let mut contributions = Vec::new();
    for &(ci, vi) in members {
        let c = &m.children[ci];
        let f = &m.flags[ci];
        let own_sales: Vec<&Sale> = c.sales[vi]
            .iter()
            .filter(|s| f.sales(&c.account, c.warehouse_of(s)))
            .collect();
        let stock_in: f64 = c.stock[vi]
            .iter()
            .filter(|(w, _)| f.stock(&c.account, Some(w)))
            .map(|(_, a)| a)
            .sum();
        let moves: Vec<(f64, Option<NaiveDate>)> = c.movements[vi]
            .iter()
            .filter(|mv| f.stock(&c.account, mv.warehouse.as_deref()))
            .map(|mv| (mv.quantity, mv.expected))
            .collect();
        let included = Included {
            stock: c.account.include_stock,
            sales: c.account.include_sales,
        };
        let sold: f64 = own_sales.iter().map(|s| s.quantity).sum();
        let child_key = sku::normalise(&c.variants[vi].sku);
        let own = m.child_plans[ci]
            .get(&child_key)
            .filter(|l| l.sku == c.variants[vi].sku)
            .or_else(|| m.child_plans[ci].get(&format!("{child_key}#{}", c.variants[vi].id)));
        let figures = ChildFigures {
            account_id: c.account.id.clone(),
            account_name: c.account.name.clone(),
            available: own.map(|l| l.available).unwrap_or(0.0),
            on_order: own.map(|l| l.on_order).unwrap_or(0.0),
            coverage_demand: own.map(|l| l.coverage_demand).unwrap_or(0.0),
            order_quantity: own.map(|l| l.order_quantity).unwrap_or(0.0),
            demand_per_day: own.map(|l| l.demand_per_day).unwrap_or(0.0),
            included,
        };
        // One entry per child: variants of one child merged into this row
        // add up.
        match accounts
            .iter_mut()
            .find(|a: &&mut ChildFigures| a.account_id == figures.account_id)
        {
            Some(a) => {
                a.available += figures.available;
                a.on_order += figures.on_order;
                a.coverage_demand += figures.coverage_demand;
                a.order_quantity += figures.order_quantity;
                a.demand_per_day += figures.demand_per_day;
            }
            None => accounts.push(figures),
        }
        contributions.push(json!({
            "account_id": c.account.id,
            "account_name": c.account.name,
            "variant_id": c.variants[vi].id,
            "sku": c.variants[vi].sku,
            "available": round6(stock_in),
            "on_order": round6(moves.iter().filter(|(q, _)| *q > 0.0).map(|(q, _)| q).sum::<f64>()),
            "sales_counted": round6(sold),
            "demand_per_day": own.map(|l| l.demand_per_day).unwrap_or(0.0),
            "included": {"stock": included.stock, "sales": included.sales},
        }));
        available += stock_in;
        movements.extend(moves);
        sales.extend(own_sales);
    }
    let (start, values) = daily_series(&sales, today);
    // A master day is out of stock only if no included child had stock.
    let mut in_stock = vec![false; values.len()];
    let mut any_stock_child = false;
    for &(ci, vi) in members {
        let c = &m.children[ci];
        let f = &m.flags[ci];
        if !c.account.include_stock {
            continue;
        }
        any_stock_child = true;
        let pts: Vec<&Vec<(NaiveDate, f64)>> = c.history[vi]
            .iter()
            .filter(|(w, _)| f.stock(&c.account, Some(w)))
            .map(|(_, p)| p)
            .collect();
        for (d, a) in known_available(&pts, start, values.len())
            .into_iter()
            .enumerate()
        {
            if a.is_none_or(|a| a > 0.0) {
                in_stock[d] = true;
            }
        }
    }
    if !any_stock_child {
        in_stock.iter_mut().for_each(|s| *s = true);
    }
    let cost_currency = v
        .currency
        .clone()
        .unwrap_or_else(|| first.account.currency.clone());
    let unit_cost = t.cost.and_then(|cost| {
        let converted = convert(&m.rates, cost, &cost_currency, &master.currency, today);
        if converted.is_none() {
            missing_rates.push(Conflict {
                sku: key.to_string(),
                kind: "missing_exchange_rate".into(),
                account_ids: vec![first.account.id.clone()],
                message: format!(
                    "No exchange rate from {cost_currency} to {} on or before {today}: the cost of `{key}` is left out of money totals. Add the rate with PUT /api/v1/exchange-rates.",
                    master.currency
                ),
            });
        }
        converted
    });
    LineInput {
        sku_key: key.to_string(),
        sku: v.sku.clone(),
        title: v
            .title
            .clone()
            .or(v.product_title.clone())
            .unwrap_or_default(),
        vendor: t.vendor_name.clone(),
        category: v.category.clone().unwrap_or_default(),
        brand: v.brand.clone().unwrap_or_default(),
        tags: tags_of(v),
        tracked: v.tracked,
        bundle: first.bundle[v0],
        available,
        movements,
        values,
        in_stock,
        lead_time_days: t
            .lead_time_days
            .unwrap_or(first.account.lead_time_days as f64),
        days_of_stock: master.days_of_stock as f64,
        service_level: master.service_level,
        moq: t.moq,
        pack_size: t.pack_size,
        min_stock: opt_num(&v.min_stock),
        max_stock: opt_num(&v.max_stock),
        unit_cost,
        accounts,
        contributions,
    }
}
