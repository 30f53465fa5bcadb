//! The series stage: shapes one plan row's inputs for the engine — its daily
//! demand series (first sale to yesterday, stockout days marked), its supply
//! position (available stock, open movements with their dates), its terms
//! and, on a master, each child's contribution. Pure: no database.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::db::models::planning::{opt_num, ExchangeRate, VariantRow};
use crate::db::models::Account;
use crate::domain::sku;
use crate::planning::edits::LineEdits;
use crate::planning::explain::Contribution;
use crate::planning::fits::FitUse;
use crate::planning::line::{round6, Flag};
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
    pub(crate) contributions: Vec<Contribution>,
    /// On a master whose children hold separate stock: the sum of the
    /// children's own plans' demand per day, which the master's forecast is
    /// reconciled to (`domain.md`: a master's demand adds up its children's).
    pub(crate) children_per_day: Option<f64>,
    /// On a master: its children's flags that put the row's demand in
    /// doubt (a child's long stockout, a child's unsold stock), naming the
    /// child.
    pub(crate) child_flags: Vec<Flag>,
    /// Marked not for reorder by the merchant (with the note, if any).
    pub(crate) not_for_reorder: Option<Option<String>>,
    /// The forecast edits that apply to the line, and its conflicts.
    pub(crate) edits: LineEdits,
    /// Whether the line shares its fit or takes another's ([`FitUse`]).
    pub(crate) fit: FitUse,
}

/// Whether the child's own forecast edits change its line of variant `vi`
/// (its rate is then the merchant's for that child, not a model the
/// master's can be reconciled to).
fn edited(c: &ChildData, vi: usize, key: &str) -> bool {
    let v = &c.variants[vi];
    !c.edits
        .for_line(
            key,
            &v.sku,
            &v.vendor_id.iter().cloned().collect::<Vec<_>>(),
            v.category.as_deref().unwrap_or_default(),
            v.brand.as_deref().unwrap_or_default(),
            &tags_of(v),
        )
        .applied
        .is_empty()
}

/// The flags of a child's stored line that put its master's demand in
/// doubt (`long_stockout`, `no_recent_sales`), each message led by the
/// child's name.
fn child_flags(stored: &str, child: &str) -> Vec<Flag> {
    serde_json::from_str::<Vec<Flag>>(stored)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| matches!(f.code.as_str(), "long_stockout" | "no_recent_sales"))
        .map(|f| Flag {
            message: format!("{child}: {}", f.message),
            ..f
        })
        .collect()
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
    let demand = row_demand(
        &[MemberSeries {
            sales: c.sales[i].iter().collect(),
            stock_points: Some(c.history[i].values().collect()),
        }],
        c.today,
    );
    let key_for_edits = key.clone();
    LineInput {
        not_for_reorder: c.not_for_reorder.get(&key).cloned(),
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
        values: demand.values,
        in_stock: demand.in_stock,
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
        children_per_day: None,
        child_flags: vec![],
        edits: c.edits.for_line(
            &key_for_edits,
            &v.sku,
            &v.vendor_id.iter().cloned().collect::<Vec<_>>(),
            v.category.as_deref().unwrap_or_default(),
            v.brand.as_deref().unwrap_or_default(),
            &tags_of(v),
        ),
        fit: FitUse::Own,
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

/// What one member (a child's variant) brings to a master row.
struct Member<'a> {
    figures: ChildFigures,
    contribution: Contribution,
    stock_in: f64,
    moves: Vec<(f64, Option<NaiveDate>)>,
    series: MemberSeries<'a>,
    /// What it adds to the children's demand per day the master's forecast
    /// is reconciled to: its own plan's rate when the master counts all of
    /// its sales and all of its stock (separate stock, `domain.md`), 0 when
    /// the master counts none of its sales, `None` when the master counts it
    /// in part (its own plan's rate is not the demand the master sees).
    adds: Option<f64>,
    /// Its own plan's flags that put the master's demand in doubt.
    flags: Vec<Flag>,
}

/// Member `vi` of child `ci` as the master counts it (include flags per
/// child and warehouse), with the child's own plan's figures.
fn member(m: &MasterInputs, ci: usize, vi: usize) -> Member<'_> {
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
    let contribution = Contribution {
        account_id: c.account.id.clone(),
        account_name: c.account.name.clone(),
        variant_id: c.variants[vi].id.clone(),
        sku: c.variants[vi].sku.clone(),
        available: round6(stock_in),
        on_order: round6(
            moves
                .iter()
                .filter(|(q, _)| *q > 0.0)
                .map(|(q, _)| q)
                .sum::<f64>(),
        ),
        sales_counted: round6(sold),
        demand_per_day: own.map(|l| l.demand_per_day).unwrap_or(0.0),
        included,
        // Filled in once the row's demand is shaped.
        lost_sales_estimated: 0.0,
        stockout_days_estimated: 0,
    };
    let stock_points = included.stock.then(|| {
        c.history[vi]
            .iter()
            .filter(|(w, _)| f.stock(&c.account, Some(w)))
            .map(|(_, p)| p)
            .collect()
    });
    let all_sales = own_sales.len() == c.sales[vi].len();
    let all_stock = included.stock
        && c.stock[vi]
            .iter()
            .all(|(w, _)| f.stock(&c.account, Some(w)));
    let adds = if own_sales.is_empty() && !included.sales {
        Some(0.0)
    } else if all_sales && all_stock && !edited(c, vi, &child_key) {
        own.map(|l| l.demand_per_day)
    } else {
        None
    };
    let flags = own
        .map(|l| child_flags(&l.flags, &c.account.name))
        .unwrap_or_default();
    Member {
        figures,
        contribution,
        stock_in,
        moves,
        adds,
        flags,
        series: MemberSeries {
            sales: own_sales,
            stock_points,
        },
    }
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
    let mut series: Vec<MemberSeries> = Vec::new();
    let mut available = 0.0;
    let mut movements = Vec::new();
    let mut accounts = Vec::new();
    let mut contributions = Vec::new();
    let mut children_per_day = Some(0.0);
    let mut child_flags_all = Vec::new();
    for &(ci, vi) in members {
        let Member {
            figures,
            contribution,
            stock_in,
            moves,
            adds,
            flags,
            series: one,
        } = member(m, ci, vi);
        child_flags_all.extend(flags);
        children_per_day = children_per_day.zip(adds).map(|(a, b)| a + b);
        add_child_figures(&mut accounts, figures);
        contributions.push(contribution);
        available += stock_in;
        movements.extend(moves);
        series.push(one);
    }
    let demand = row_demand(&series, today);
    for (c, m) in contributions.iter_mut().zip(&demand.members) {
        c.stockout_days_estimated = m.estimated_days;
        c.lost_sales_estimated = round6(m.lost);
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
        values: demand.values,
        in_stock: demand.in_stock,
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
        children_per_day: children_per_day.filter(|_| !first.bundle[v0]),
        child_flags: child_flags_all,
        not_for_reorder: m.not_for_reorder.get(key).cloned(),
        edits: m.edits.for_line(
            key,
            &v.sku,
            &v.vendor_id
                .iter()
                .flat_map(|id| [id.clone(), format!("{}:{id}", first.account.id)])
                .collect::<Vec<_>>(),
            v.category.as_deref().unwrap_or_default(),
            v.brand.as_deref().unwrap_or_default(),
            &tags_of(v),
        ),
        fit: FitUse::Own,
    }
}

/// Adds a member's figures to its child's entry of a master row: variants
/// of one child merged into the row add up.
fn add_child_figures(accounts: &mut Vec<ChildFigures>, figures: ChildFigures) {
    match accounts
        .iter_mut()
        .find(|a| a.account_id == figures.account_id)
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
}

/// One member of a master row (a child's variant), as the master counts it.
pub struct MemberSeries<'a> {
    /// Its sales the master counts (included children and warehouses).
    pub sales: Vec<&'a Sale>,
    /// Change points of its included warehouses' stock; `None` when the
    /// master does not count its stock (a sales-only child, out of stock
    /// when the master's included stock is).
    pub stock_points: Option<Vec<&'a Vec<(NaiveDate, f64)>>>,
}

/// What the master's demand took from one member.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemberDemand {
    /// Days on which it was out of stock after its first sale, whose demand
    /// was estimated from its in-stock rate.
    pub estimated_days: usize,
    /// The demand estimated on those days beyond what it sold.
    pub lost: f64,
}

/// A plan row's daily demand.
#[derive(Debug, Clone, PartialEq)]
pub struct RowDemand {
    /// First day of the series (the earliest first sale of any member).
    pub start: NaiveDate,
    /// Demand per day, first sale to yesterday.
    pub values: Vec<f64>,
    /// False on days when every member that had sold by then was out of
    /// stock (the whole day is an estimate, left to the engine).
    pub in_stock: Vec<bool>,
    /// Per member, in order.
    pub members: Vec<MemberDemand>,
}

/// The demand of a plan row (`domain.md`), a child's (one member) or a
/// master's: the sum of each member's daily
/// demand with that member's own stockout days estimated from its in-stock
/// rate (the engine's [`crate::forecast::impute`], one definition of lost
/// demand), so that on a steady series the master's rate is the sum of its
/// children's rates however their stockouts fall. A member's days start at
/// its own first sale (before it there is no demand to lose). A member whose
/// stock the master does not count is out of stock when the master's counted
/// stock is (any counted member in stock; unknown counts as in stock).
pub fn row_demand(members: &[MemberSeries], today: NaiveDate) -> RowDemand {
    let all: Vec<&Sale> = members
        .iter()
        .flat_map(|m| m.sales.iter().copied())
        .collect();
    let (start, total) = daily_series(&all, today);
    let len = total.len();
    let in_stock_of = |pts: &[&Vec<(NaiveDate, f64)>]| -> Vec<bool> {
        known_available(pts, start, len)
            .into_iter()
            .map(|a| a.is_none_or(|a| a > 0.0))
            .collect()
    };
    let counted: Vec<Vec<bool>> = members
        .iter()
        .filter_map(|m| m.stock_points.as_deref().map(in_stock_of))
        .collect();
    let pooled: Vec<bool> = (0..len)
        .map(|d| counted.is_empty() || counted.iter().any(|s| s[d]))
        .collect();
    let mut values = vec![0.0; len];
    // Days on which some member that had started selling was in stock.
    let mut observed = vec![false; len];
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let (m_start, own) = daily_series(&m.sales, today);
        if own.is_empty() {
            out.push(MemberDemand::default());
            continue;
        }
        let offset = (m_start - start).num_days().max(0) as usize;
        let mask: Vec<bool> = match &m.stock_points {
            Some(pts) => in_stock_of(pts)[offset..].to_vec(),
            None => pooled[offset..].to_vec(),
        };
        let (filled, _) = crate::forecast::impute(&own, Some(&mask), 7);
        let mut md = MemberDemand::default();
        for d in 0..own.len() {
            values[offset + d] += filled[d];
            if mask[d] {
                observed[offset + d] = true;
            } else {
                md.estimated_days += 1;
                md.lost += filled[d] - own[d];
            }
        }
        out.push(md);
    }
    // Before any member sold, a day is as its members' stock says.
    RowDemand {
        start,
        values,
        in_stock: observed,
        members: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(i: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(i)
    }

    /// `per_day` units a day on days `0..n` except the out-of-stock days
    /// `out` (no sale there).
    fn steady(per_day: f64, n: i64, out: std::ops::Range<i64>) -> Vec<Sale> {
        (0..n)
            .filter(|d| !out.contains(d))
            .map(|d| Sale {
                day: day(d),
                warehouse: 0,
                quantity: per_day,
            })
            .collect()
    }

    /// Stock 10 from day 0, 0 on `out`, 10 again after.
    fn stock(out: std::ops::Range<i64>) -> Vec<(NaiveDate, f64)> {
        vec![(day(0), 10.0), (day(out.start), 0.0), (day(out.end), 10.0)]
    }

    #[test]
    fn a_master_adds_up_children_whose_stockouts_fall_apart() {
        // Two children sell 2 and 1 a day for 60 days; the first is out on
        // days 10..20, the second on days 30..45. Each child's own stockout
        // loses its own sales only: the master's demand is 3 every day.
        let (a, b) = (steady(2.0, 60, 10..20), steady(1.0, 60, 30..45));
        let (sa, sb) = (stock(10..20), stock(30..45));
        let members = [
            MemberSeries {
                sales: a.iter().collect(),
                stock_points: Some(vec![&sa]),
            },
            MemberSeries {
                sales: b.iter().collect(),
                stock_points: Some(vec![&sb]),
            },
        ];
        let d = row_demand(&members, day(60));
        assert_eq!(d.start, day(0));
        assert_eq!(d.values, vec![3.0; 60]);
        assert!(d.in_stock.iter().all(|s| *s));
        assert_eq!(
            d.members,
            vec![
                MemberDemand {
                    estimated_days: 10,
                    lost: 20.0
                },
                MemberDemand {
                    estimated_days: 15,
                    lost: 15.0
                }
            ]
        );
    }

    #[test]
    fn a_sales_only_child_is_out_when_the_counted_stock_is() {
        // The shop takes orders (1 a day) fulfilled from the warehouse
        // child's stock (2 a day of its own); the warehouse is out on days
        // 20..30, so both lose sales there. The master: 3 a day throughout,
        // the shared stockout days left to the engine (not observed).
        let (w, s) = (steady(2.0, 50, 20..30), steady(1.0, 50, 20..30));
        let sw = stock(20..30);
        let members = [
            MemberSeries {
                sales: w.iter().collect(),
                stock_points: Some(vec![&sw]),
            },
            MemberSeries {
                sales: s.iter().collect(),
                stock_points: None,
            },
        ];
        let d = row_demand(&members, day(50));
        assert_eq!(d.values, vec![3.0; 50]);
        assert_eq!(d.in_stock.iter().filter(|s| !**s).count(), 10);
        assert!(!d.in_stock[20] && !d.in_stock[29] && d.in_stock[30]);
    }
}
