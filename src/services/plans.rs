//! Computing and storing plans. A child's plan is made from its own records;
//! a master's from the roll-up of its children (`crate::rollup`): stock summed
//! over the children and warehouses whose stock is included, the combined
//! daily sales history of those whose sales are included, forecast on the
//! total (never a sum of child forecasts), a day out of stock only if no
//! included child had stock, money in the master's currency.
//!
//! The numbers come from the pure engine (`forecast` fast path and
//! `replenish`); this service loads the inputs, shapes daily series, and
//! stores one line per variant (child) or normalised SKU (master) with its
//! explanation. Freshness: a plan records the version of its inputs
//! ([`inputs_version`]); when that moves on, the plan is stale and the job
//! worker (`crate::jobs`) recomputes it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::models::planning::{
    self as store, num, opt_num, ExchangeRate, LineDetail, LineFigures, PlanHeader, PlanLineRow,
    PlanSummary, SkuLink, VariantRow, VendorTerms, WarehouseSetting,
};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::domain::sku;
use crate::forecast::{self, Options, SeriesInput};
use crate::replenish::{self, OpenOrder, PlanInput};
use crate::services::ServiceError;

/// The planning date of an account: `TRIBUTARY_TODAY` if set, else today in
/// the account's time zone.
pub fn planning_date(account: &Account, fixed: Option<NaiveDate>) -> NaiveDate {
    fixed.unwrap_or_else(|| {
        let tz: Tz = account.timezone.parse().unwrap_or(Tz::UTC);
        tz.from_utc_datetime(&Utc::now().naive_utc()).date_naive()
    })
}

/// The version of everything a plan depends on: the account's own data and
/// settings version, the planning date, and for a master every child's
/// version, name and flags. A stored plan with another version is stale.
pub fn inputs_version(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
) -> Result<String, ServiceError> {
    let mut v = format!("{}@{}", account.data_version, today);
    if account.is_master() {
        for c in Account::list_children(conn, &account.id)? {
            v.push_str(&format!(
                "|{}:{}:{}{}",
                c.id, c.data_version, c.include_stock as u8, c.include_sales as u8
            ));
        }
    }
    Ok(v)
}

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

/// One sale that counts as demand, on the account's local day. Compact (16
/// bytes): a master holds every child's sales at once.
#[derive(Debug, Clone, Copy)]
struct Sale {
    day: NaiveDate,
    /// Index into [`ChildData::warehouses`] ([`NO_WAREHOUSE`]: none).
    warehouse: u32,
    quantity: f64,
}

/// [`Sale::warehouse`] of a sale without a warehouse.
const NO_WAREHOUSE: u32 = u32::MAX;

/// An open stock-order movement of one variant.
#[derive(Debug, Clone)]
struct Movement {
    warehouse: Option<String>,
    quantity: f64,
    expected: Option<NaiveDate>,
}

/// Vendor terms that apply to one variant.
#[derive(Debug, Clone, Default)]
struct Terms {
    vendor_name: String,
    lead_time_days: Option<f64>,
    moq: Option<f64>,
    pack_size: Option<f64>,
    cost: Option<f64>,
}

/// Everything of one child account the planner reads.
struct ChildData {
    account: Account,
    today: NaiveDate,
    variants: Vec<VariantRow>,
    terms: Vec<Terms>,
    /// Per variant: available per warehouse.
    stock: Vec<Vec<(String, f64)>>,
    /// Per variant: per warehouse, change points (day, available).
    history: Vec<BTreeMap<String, Vec<(NaiveDate, f64)>>>,
    /// Per variant: sales (bundles already expanded into their components).
    sales: Vec<Vec<Sale>>,
    /// The warehouse ids the sales refer to (by index).
    warehouses: Vec<String>,
    /// Per variant: open movements.
    movements: Vec<Vec<Movement>>,
    /// Variants that are bundles (sold as their components).
    bundle: Vec<bool>,
}

fn parse_json_list(s: &Option<String>) -> Vec<Value> {
    s.as_deref()
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .unwrap_or_default()
}

fn json_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// Reads what planning needs of a child account: its catalogue and terms and,
/// unless `catalogue_only`, its stock, stock history, demand (sales by local
/// day, bundles exploded into components) and open stock orders.
fn load_child(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
    catalogue_only: bool,
) -> Result<ChildData, ServiceError> {
    let started = std::time::Instant::now();
    let variants = store::live_variants(conn, &account.id)?;
    let index: HashMap<String, usize> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.clone(), i))
        .collect();
    let vendors: HashMap<String, VendorTerms> = store::live_vendors(conn, &account.id)?
        .into_iter()
        .map(|v| (v.id.clone(), v))
        .collect();
    let n = variants.len();
    let mut terms = Vec::with_capacity(n);
    let mut components: Vec<Vec<(usize, f64)>> = vec![vec![]; n];
    let mut bundle = vec![false; n];
    for (i, v) in variants.iter().enumerate() {
        let vendor = v.vendor_id.as_ref().and_then(|id| vendors.get(id));
        let own_terms = parse_json_list(&v.vendors).into_iter().find(|t| {
            t.get("vendor_id").and_then(Value::as_str) == v.vendor_id.as_deref()
                || v.vendor_id.is_none()
        });
        let term = |k: &str| own_terms.as_ref().and_then(|t| t.get(k)).and_then(json_num);
        terms.push(Terms {
            vendor_name: vendor.map(|v| v.name.clone()).unwrap_or_default(),
            lead_time_days: v
                .lead_time_days
                .map(f64::from)
                .or_else(|| term("lead_time_days"))
                .or_else(|| vendor.and_then(|v| v.lead_time_days).map(f64::from)),
            moq: term("minimum_order_quantity")
                .or_else(|| vendor.and_then(|v| opt_num(&v.minimum_order_quantity))),
            pack_size: term("pack_size").or_else(|| vendor.and_then(|v| opt_num(&v.pack_size))),
            cost: opt_num(&v.cost_price).or_else(|| term("cost_price")),
        });
        let comps: Vec<(usize, f64)> = parse_json_list(&v.components)
            .iter()
            .filter_map(|c| {
                let id = c.get("variant_id")?.as_str()?;
                Some((*index.get(id)?, c.get("quantity").and_then(json_num)?))
            })
            .collect();
        if !comps.is_empty() && !v.assembly {
            bundle[i] = true;
        }
        components[i] = comps;
    }
    let records = if catalogue_only {
        Records::empty(n)
    } else {
        read_records(conn, account, today, &index, &bundle, &components)?
    };
    tracing::debug!(
        account = %account.id,
        variants = n,
        seconds = started.elapsed().as_secs_f64(),
        "child records loaded for planning"
    );
    Ok(ChildData {
        account: account.clone(),
        today,
        variants,
        terms,
        stock: records.stock,
        history: records.history,
        sales: records.sales,
        warehouses: records.warehouses,
        movements: records.movements,
        bundle,
    })
}

/// A child's stock, stock history, demand and open movements, per variant.
struct Records {
    stock: Vec<Vec<(String, f64)>>,
    history: Vec<BTreeMap<String, Vec<(NaiveDate, f64)>>>,
    sales: Vec<Vec<Sale>>,
    warehouses: Vec<String>,
    movements: Vec<Vec<Movement>>,
}

impl Records {
    fn empty(n: usize) -> Records {
        Records {
            stock: vec![vec![]; n],
            history: vec![BTreeMap::new(); n],
            sales: vec![vec![]; n],
            warehouses: Vec::new(),
            movements: vec![vec![]; n],
        }
    }
}

/// Reads a child's records for its variants (`index`: variant id → position;
/// bundles' sales go to their components).
fn read_records(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
    index: &HashMap<String, usize>,
    bundle: &[bool],
    components: &[Vec<(usize, f64)>],
) -> Result<Records, ServiceError> {
    let started = std::time::Instant::now();
    let tz: Tz = account.timezone.parse().unwrap_or(Tz::UTC);
    let removed_wh: HashSet<String> = store::removed_warehouses(conn, &account.id)?
        .into_iter()
        .collect();
    let Records {
        mut stock,
        mut history,
        mut sales,
        mut warehouses,
        mut movements,
    } = Records::empty(bundle.len());
    for (variant, wh, on_hand, allocated) in store::stock(conn, &account.id)? {
        if removed_wh.contains(&wh) {
            continue;
        }
        if let Some(&i) = index.get(&variant) {
            stock[i].push((wh, num(&on_hand) - num(&allocated)));
        }
    }
    for (variant, wh, day, available) in store::history(conn, &account.id)? {
        if removed_wh.contains(&wh) {
            continue;
        }
        if let Some(&i) = index.get(&variant) {
            history[i]
                .entry(wh)
                .or_default()
                .push((day, num(&available)));
        }
    }
    let mut wh_index: HashMap<String, u32> = HashMap::new();
    // Orders by id: their local day and warehouse (those from today on do
    // not count yet).
    let mut orders: HashMap<String, (NaiveDate, u32)> = HashMap::new();
    for (id, ordered_at, warehouse_id) in store::demand_orders(conn, &account.id)? {
        let day = tz.from_utc_datetime(&ordered_at).date_naive();
        if day >= today {
            continue;
        }
        let warehouse = match warehouse_id {
            None => NO_WAREHOUSE,
            Some(w) => *wh_index.entry(w).or_insert_with_key(|w| {
                warehouses.push(w.clone());
                (warehouses.len() - 1) as u32
            }),
        };
        orders.insert(id, (day, warehouse));
    }
    store::each_sale_line(conn, &account.id, |(order_id, variant_id, quantity)| {
        let Some(&(day, warehouse)) = orders.get(&order_id) else {
            return;
        };
        let Some(&i) = index.get(&variant_id) else {
            return;
        };
        let q = num(&quantity);
        if bundle[i] {
            for &(c, k) in &components[i] {
                sales[c].push(Sale {
                    day,
                    warehouse,
                    quantity: q * k,
                });
            }
        } else {
            sales[i].push(Sale {
                day,
                warehouse,
                quantity: q,
            });
        }
    })?;
    for s in &mut sales {
        s.shrink_to_fit();
    }
    let sales_read = started.elapsed().as_secs_f64();
    for l in store::open_order_lines(conn, &account.id)? {
        let Some(&i) = index.get(&l.variant_id) else {
            continue;
        };
        let open = (num(&l.quantity) - opt_num(&l.received_quantity).unwrap_or(0.0)).max(0.0);
        if open <= 0.0 {
            continue;
        }
        let mut push = |v: usize, wh: &Option<String>, q: f64| {
            if wh.as_ref().is_some_and(|w| removed_wh.contains(w)) {
                return;
            }
            movements[v].push(Movement {
                warehouse: wh.clone(),
                quantity: q,
                expected: l.expected_at,
            })
        };
        match l.kind.as_str() {
            "purchase" => push(i, &l.destination_warehouse_id, open),
            "transfer" => {
                push(i, &l.destination_warehouse_id, open);
                push(i, &l.source_warehouse_id, -open);
            }
            "assembly" => {
                push(i, &l.destination_warehouse_id, open);
                for &(c, k) in &components[i] {
                    push(c, &l.source_warehouse_id, -open * k);
                }
            }
            _ => {}
        }
    }
    tracing::debug!(
        account = %account.id,
        sales_read_s = sales_read,
        "child records read"
    );
    Ok(Records {
        stock,
        history,
        sales,
        warehouses,
        movements,
    })
}

impl ChildData {
    /// The warehouse id of a sale.
    fn warehouse_of(&self, s: &Sale) -> Option<&str> {
        self.warehouses
            .get(s.warehouse as usize)
            .map(String::as_str)
    }
}

/// Which warehouses of one child a master counts (absent: the child's flag).
#[derive(Debug, Clone, Default)]
struct WarehouseFlags(HashMap<String, (bool, bool)>);

impl WarehouseFlags {
    fn stock(&self, child: &Account, wh: Option<&str>) -> bool {
        child.include_stock && wh.and_then(|w| self.0.get(w)).map(|f| f.0).unwrap_or(true)
    }
    fn sales(&self, child: &Account, wh: Option<&str>) -> bool {
        child.include_sales && wh.and_then(|w| self.0.get(w)).map(|f| f.1).unwrap_or(true)
    }
}

/// The inputs of one plan line, shaped for the engine.
struct LineInput {
    sku_key: String,
    sku: String,
    title: String,
    vendor: String,
    category: String,
    brand: String,
    tags: Vec<String>,
    tracked: bool,
    bundle: bool,
    available: f64,
    movements: Vec<(f64, Option<NaiveDate>)>,
    /// Daily demand from the first sale to yesterday.
    values: Vec<f64>,
    in_stock: Vec<bool>,
    lead_time_days: f64,
    days_of_stock: f64,
    service_level: f64,
    moq: Option<f64>,
    pack_size: Option<f64>,
    min_stock: Option<f64>,
    max_stock: Option<f64>,
    unit_cost: Option<f64>,
    accounts: Vec<ChildFigures>,
    contributions: Vec<Value>,
}

/// Available on each day of `days` for a set of warehouses' change points:
/// `None` where no warehouse has a known level yet.
pub(crate) fn known_available(
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
fn daily_series(sales: &[&Sale], today: NaiveDate) -> (NaiveDate, Vec<f64>) {
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

fn tags_of(v: &VariantRow) -> Vec<String> {
    v.tags
        .as_deref()
        .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
        .unwrap_or_default()
}

fn child_line_input(c: &ChildData, i: usize, key: String) -> LineInput {
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

fn urgency(order_by: Option<NaiveDate>, today: NaiveDate) -> (&'static str, i32) {
    match order_by {
        Some(d) if d <= today => ("now", 0),
        Some(d) if d <= today + chrono::Duration::days(7) => ("soon", 1),
        _ => ("ok", 2),
    }
}

fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

/// A computed plan line and its details.
type Computed = (PlanLineRow, LineDetail);

/// Runs the engine on one line's inputs and shapes the stored line and its
/// explanation.
fn compute_line(account_id: &str, today: NaiveDate, li: LineInput) -> Computed {
    let lt = li.lead_time_days.max(0.0);
    let cycle = li.days_of_stock.max(0.0);
    let horizon = ((lt + cycle).ceil() as usize).max(1);
    let input = SeriesInput {
        values: &li.values,
        in_stock: Some(&li.in_stock),
        season: 7,
    };
    // The lead-time total's distribution sets the safety stock (the
    // service-level quantile minus its mean), fit for intermittent demand.
    let lt_days = (lt.ceil() as usize).max(1);
    let (fc, lt_total) =
        forecast::forecast_with_total(&input, horizon, lt_days, &Options { fast: true });
    let (mean, sd) = replenish::demand_stats(&li.values, Some(&li.in_stock));
    let mut available = li.available;
    let mut open = Vec::new();
    for (q, expected) in &li.movements {
        if *q < 0.0 {
            available += q;
        } else {
            let day = expected
                .map(|e| (e - today).num_days())
                .unwrap_or(lt.ceil() as i64);
            open.push(OpenOrder {
                quantity: *q,
                expected_day: day,
            });
        }
    }
    let plan = replenish::plan(&PlanInput {
        tracked: li.tracked && !li.bundle,
        available,
        open_orders: &open,
        daily_forecast: &fc.point,
        mean_daily_demand: Some(mean),
        demand_sd: sd,
        lead_time_days: lt,
        lead_time_sd_days: None,
        days_of_stock: cycle,
        service_level: li.service_level,
        moq: li.moq,
        pack_size: li.pack_size,
        max_stock: li.max_stock,
        min_stock: li.min_stock,
        // domain.md: the textbook formula for smooth demand; for
        // intermittent and lumpy demand the quantile of the lead-time total.
        lead_time_demand: fc.class.is_sporadic().then_some(&lt_total),
    });
    let order_by = if plan.order_quantity > 0.0 {
        plan.order_by_day
            .map(|d| today + chrono::Duration::days(d.max(0)))
    } else {
        None
    };
    let days_of_cover = if plan.coverage_demand > 0.0 {
        plan.days_of_cover
    } else {
        None
    };
    let (urg, rank) = urgency(order_by, today);
    let period = lt + cycle;
    let per_day = if period > 0.0 {
        plan.coverage_demand / period
    } else {
        0.0
    };
    let excluded = li.in_stock.iter().filter(|s| !**s).count();
    let step_names = [
        ("net_need", "need"),
        ("never_negative", "need"),
        ("round_whole_units", "whole units"),
        ("moq", "MOQ"),
        ("pack_size", "pack size"),
        ("max_stock", "max"),
        ("min_stock", "min"),
        ("order_quantity", "order quantity"),
    ];
    let steps: Vec<Value> = plan
        .explanation
        .iter()
        .filter_map(|e| {
            let name = step_names.iter().find(|(t, _)| *t == e.term)?.1;
            Some(json!({"step": name, "quantity": round6(e.value), "note": e.text}))
        })
        .collect();
    let lines_of_text: Vec<Value> = plan
        .explanation
        .iter()
        .map(|e| json!({"term": e.term, "value": round6(e.value), "text": e.text}))
        .collect();
    let mut notes: Vec<String> = Vec::new();
    if li.bundle {
        notes.push(
            "A bundle ships as its components: its sales count as their demand, and the bundle itself is never ordered."
                .into(),
        );
    }
    let explanation = json!({
        "demand": {
            "method": fc.method,
            "class": fc.class.name(),
            "candidates": fc.candidates.iter().map(|c| json!({"method": c.method, "score": c.score.map(round6)})).collect::<Vec<_>>(),
            "per_day": round6(per_day),
            "coverage_days": period,
            "history_days": li.values.len(),
            "stockout_days_excluded": excluded,
        },
        "safety_stock": {
            "service_level": li.service_level,
            "method": if plan.safety_stock_method == "distribution" {
                format!("quantile of the lead-time demand ({})", lt_total.method)
            } else {
                plan.safety_stock_method.to_string()
            },
            "z": round6(plan.z),
            "sigma_daily": round6(sd),
            "lead_time_days": lt,
            "lead_time_sigma_days": Value::Null,
            "value": round6(plan.safety_stock),
        },
        "contributions": li.contributions,
        "steps": steps,
        "terms": lines_of_text,
        "notes": notes,
    });
    let on_order: f64 = open.iter().map(|o| o.quantity).sum();
    let mut tags = String::from(";");
    for t in &li.tags {
        tags.push_str(t);
        tags.push(';');
    }
    let row = PlanLineRow {
        account_id: account_id.to_string(),
        sku_key: li.sku_key,
        sku: li.sku,
        title: li.title,
        vendor: li.vendor,
        category: li.category,
        brand: li.brand,
        tags,
        available: round6(available),
        on_order: round6(on_order),
        demand_per_day: round6(per_day),
        lead_time_days: lt,
        days_of_stock: cycle,
        coverage_demand: round6(plan.coverage_demand),
        safety_stock: round6(plan.safety_stock),
        reorder_point: round6(plan.reorder_point),
        order_quantity: round6(plan.order_quantity),
        order_by,
        days_of_cover: days_of_cover.map(round6),
        urgency: urg.to_string(),
        urgency_rank: rank,
        forecast_method: fc.method.clone(),
        unit_cost: li.unit_cost.map(round6),
        order_value: li.unit_cost.map(|c| round6(c * plan.order_quantity)),
    };
    let detail = LineDetail {
        accounts: serde_json::to_string(&li.accounts).unwrap_or_else(|_| "[]".into()),
        explanation: explanation.to_string(),
    };
    (row, detail)
}

/// A roll-up problem the merchant should resolve (`GET …/conflicts`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Conflict {
    /// The normalised SKU concerned.
    pub sku: String,
    /// Machine-friendly kind.
    pub kind: String,
    /// The accounts involved.
    pub account_ids: Vec<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// Keys a child's variants: normalised SKU; a second variant of the same
/// child with the same key gets `key#variant id` (and is a conflict).
fn child_keys(c: &ChildData, conflicts: &mut Vec<Conflict>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    c.variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key = sku::normalise(&v.sku);
            if let Some(&first) = seen.get(&key) {
                conflicts.push(Conflict {
                    sku: key.clone(),
                    kind: "duplicate_sku_in_account".into(),
                    account_ids: vec![c.account.id.clone()],
                    message: format!(
                        "Variants `{}` and `{}` of account {} have the same SKU once normalised (`{}`); they are planned apart. Give one of them its own SKU, or remove the duplicate.",
                        c.variants[first].id, v.id, c.account.name, key
                    ),
                });
                format!("{key}#{}", v.id)
            } else {
                seen.insert(key.clone(), i);
                key
            }
        })
        .collect()
}

/// Computes a child account's plan lines.
fn child_lines(c: &ChildData) -> (Vec<PlanLineRow>, Vec<LineDetail>) {
    let mut ignored = Vec::new();
    let keys = child_keys(c, &mut ignored);
    // Each line's inputs are shaped where it is computed, so that only the
    // lines in flight hold a daily series.
    keys.into_par_iter()
        .enumerate()
        .map(|(i, k)| compute_line(&c.account.id, c.today, child_line_input(c, i, k)))
        .unzip()
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

/// The master's roll-up: its children's data grouped by normalised SKU and
/// links, with the conflicts found on the way.
struct Rollup {
    /// Group key → members (child index, variant index), children in
    /// creation order.
    groups: BTreeMap<String, Vec<(usize, usize)>>,
    conflicts: Vec<Conflict>,
}

fn roll_up(children: &[ChildData], links: &[SkuLink]) -> Rollup {
    let mut conflicts = Vec::new();
    let link_of: HashMap<(&str, &str), String> = links
        .iter()
        .map(|l| {
            (
                (l.account_id.as_str(), l.variant_id.as_str()),
                sku::normalise(&l.sku),
            )
        })
        .collect();
    let mut groups: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (ci, c) in children.iter().enumerate() {
        // Two variants of one child with the same normalised SKU are one
        // item to the master (listed as a conflict so the merchant can fix
        // the source); the child's own plan keeps them apart.
        let _ = child_keys(c, &mut conflicts);
        for (vi, v) in c.variants.iter().enumerate() {
            let key = link_of
                .get(&(c.account.id.as_str(), v.id.as_str()))
                .cloned()
                .unwrap_or_else(|| sku::normalise(&v.sku));
            groups.entry(key).or_default().push((ci, vi));
        }
    }
    for (key, members) in &groups {
        let barcodes: BTreeMap<String, Vec<String>> =
            members.iter().fold(BTreeMap::new(), |mut m, &(ci, vi)| {
                if let Some(b) = children[ci].variants[vi]
                    .barcode
                    .as_deref()
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                {
                    m.entry(b.to_string())
                        .or_default()
                        .push(children[ci].account.id.clone());
                }
                m
            });
        if barcodes.len() > 1 {
            conflicts.push(Conflict {
                sku: key.clone(),
                kind: "barcode_mismatch".into(),
                account_ids: barcodes.values().flatten().cloned().collect(),
                message: format!(
                    "SKU `{key}` has different barcodes in different accounts ({}); check that it is the same item. If it is not, change one SKU; if it is, correct the barcode.",
                    barcodes.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let titles: HashSet<&str> = members
            .iter()
            .filter_map(|&(ci, vi)| children[ci].variants[vi].title.as_deref())
            .collect();
        let vendors: HashSet<&str> = members
            .iter()
            .map(|&(ci, vi)| children[ci].terms[vi].vendor_name.as_str())
            .filter(|v| !v.is_empty())
            .collect();
        if vendors.len() > 1 {
            conflicts.push(Conflict {
                sku: key.clone(),
                kind: "vendor_differs".into(),
                account_ids: members.iter().map(|&(ci, _)| children[ci].account.id.clone()).collect(),
                message: format!(
                    "SKU `{key}` has different vendors in different accounts; the master uses the one of the earliest-created account. Align the vendors if that is wrong."
                ),
            });
        } else if titles.len() > 1 {
            conflicts.push(Conflict {
                sku: key.clone(),
                kind: "title_differs".into(),
                account_ids: members.iter().map(|&(ci, _)| children[ci].account.id.clone()).collect(),
                message: format!(
                    "SKU `{key}` has different titles in different accounts; the master shows the one of the earliest-created account."
                ),
            });
        }
    }
    Rollup { groups, conflicts }
}

/// Everything a master plan is made from.
struct MasterInputs {
    children: Vec<ChildData>,
    flags: Vec<WarehouseFlags>,
    rates: Vec<ExchangeRate>,
    rollup: Rollup,
    /// Per child: its stored plan's figures by key.
    child_plans: Vec<HashMap<String, LineFigures>>,
}

/// How [`load_master`] treats the children's own plans.
enum Children<'a> {
    /// Read their stored plans as they are, and of their records only the
    /// catalogue (variants and terms: what the roll-up's conflicts need; no
    /// sales, stock or orders).
    CatalogueOnly,
    /// First compute and store each stale child's plan, from the data loaded
    /// for the master where the planning dates agree (each child's records
    /// are read once for both); `progress(done)` after each child. With a
    /// `writer` (a second connection) the children's plans are stored on it
    /// while the next child's records are read.
    Refresh {
        fixed_today: Option<NaiveDate>,
        progress: &'a mut dyn FnMut(i64),
        writer: Option<&'a mut DbConn>,
    },
}

fn load_master(
    conn: &mut DbConn,
    master: &Account,
    today: NaiveDate,
    mut mode: Children,
) -> Result<MasterInputs, ServiceError> {
    let mut kids = Account::list_children(conn, &master.id)?;
    kids.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let settings: Vec<WarehouseSetting> = store::warehouse_settings(conn, &master.id)?;
    let links = store::links(conn, &master.id)?;
    let rates = store::exchange_rates(conn, &master.organisation_id)?;
    let mut children = Vec::new();
    let mut child_plans = Vec::new();
    let catalogue_only = matches!(mode, Children::CatalogueOnly);
    // A stale child's plan is computed (on the worker pool) while the next
    // child's records are read; its lines are stored once that read is done
    // (the connection is this thread's).
    type Pending = (ChildData, PlanHeader, Vec<PlanLineRow>, Vec<LineDetail>);
    type Computed = (PlanHeader, Vec<PlanLineRow>, Vec<LineDetail>);
    let writer = match &mut mode {
        Children::Refresh { writer, .. } => writer.take(),
        Children::CatalogueOnly => None,
    };
    std::thread::scope(|scope| -> Result<(), ServiceError> {
        let mut pending: Option<std::thread::ScopedJoinHandle<Pending>> = None;
        // With a second connection, computed plans are stored on it, in
        // order, while this thread reads on.
        let (to_store, computed) = std::sync::mpsc::channel::<Computed>();
        let storer = writer.map(|w| {
            scope.spawn(move || -> Result<(), ServiceError> {
                for (h, lines, details) in computed {
                    store_lines(w, &h, &lines, &details)?;
                }
                Ok(())
            })
        });
        // Stores a computed child plan (or hands it to the storer): its data
        // and figures for the master.
        let finish = |conn: &mut DbConn,
                      handle: std::thread::ScopedJoinHandle<Pending>|
         -> Result<(ChildData, HashMap<String, LineFigures>), ServiceError> {
            let (data, h, lines, details) = handle.join().map_err(|_| {
                ServiceError::Internal("a child's plan computation panicked".into())
            })?;
            let figures = lines
                .iter()
                .map(|l| (l.sku_key.clone(), LineFigures::from(l)))
                .collect();
            match &storer {
                // A storer that stopped has its error, seen when it is joined.
                Some(_) => {
                    let _ = to_store.send((h, lines, details));
                }
                None => store_lines(conn, &h, &lines, &details)?,
            }
            Ok((data, figures))
        };
        let done = |mode: &mut Children, n: usize| {
            if let Children::Refresh { progress, .. } = mode {
                progress(n as i64);
            }
        };
        for k in &kids {
            // The child's inputs version is read before its records, as in
            // `compute_and_store`: a write in between leaves the plan stale.
            let stale = match &mode {
                Children::Refresh { fixed_today, .. } => stale_version(conn, k, *fixed_today)?,
                Children::CatalogueOnly => None,
            };
            let data = load_child(conn, k, today, catalogue_only)?;
            let own = match &stale {
                Some((_, k_today)) if *k_today != today => {
                    Some(load_child(conn, k, *k_today, false)?)
                }
                _ => None,
            };
            if let Some(handle) = pending.take() {
                let (data, figures) = finish(conn, handle)?;
                children.push(data);
                child_plans.push(figures);
                done(&mut mode, children.len());
            }
            match stale {
                Some((version, k_today)) => {
                    let k = k.clone();
                    pending = Some(scope.spawn(move || {
                        let started = std::time::Instant::now();
                        let (lines, details) = child_lines(own.as_ref().unwrap_or(&data));
                        let h = header(&k, version, k_today, &lines, started);
                        (data, h, lines, details)
                    }));
                }
                None => {
                    child_plans.push(
                        store::line_figures(conn, &k.id)?
                            .into_iter()
                            .map(|l| (l.sku_key.clone(), l))
                            .collect(),
                    );
                    children.push(data);
                    done(&mut mode, children.len());
                }
            }
        }
        if let Some(handle) = pending.take() {
            let (data, figures) = finish(conn, handle)?;
            children.push(data);
            child_plans.push(figures);
            done(&mut mode, children.len());
        }
        drop(to_store);
        match storer.map(|s| s.join()) {
            Some(Err(_)) => Err(ServiceError::Internal(
                "storing a child's plan panicked".into(),
            )),
            Some(Ok(stored)) => stored,
            None => Ok(()),
        }
    })?;
    let flags = kids
        .iter()
        .map(|k| {
            WarehouseFlags(
                settings
                    .iter()
                    .filter(|s| s.account_id == k.id)
                    .map(|s| (s.warehouse_id.clone(), (s.include_stock, s.include_sales)))
                    .collect(),
            )
        })
        .collect();
    let rollup = roll_up(&children, &links);
    Ok(MasterInputs {
        children,
        flags,
        rates,
        rollup,
        child_plans,
    })
}

fn master_line_input(
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

fn master_lines(
    m: &MasterInputs,
    master: &Account,
    today: NaiveDate,
) -> (Vec<PlanLineRow>, Vec<LineDetail>) {
    let groups: Vec<(&String, &Vec<(usize, usize)>)> = m.rollup.groups.iter().collect();
    // Each line's inputs are shaped where it is computed (see `child_lines`).
    groups
        .into_par_iter()
        .map(|(k, members)| {
            let mut ignored = Vec::new();
            let li = master_line_input(m, master, today, k, members, &mut ignored);
            compute_line(&master.id, today, li)
        })
        .unzip()
}

/// The conflicts of a master's roll-up, as of its current data.
pub fn conflicts(
    conn: &mut DbConn,
    master: &Account,
    today: NaiveDate,
) -> Result<Vec<Conflict>, ServiceError> {
    let m = load_master(conn, master, today, Children::CatalogueOnly)?;
    let mut out = m.rollup.conflicts.clone();
    for (k, members) in &m.rollup.groups {
        master_line_input(&m, master, today, k, members, &mut out);
    }
    Ok(out)
}

/// Computes an account's plan (a master: its stale children first) and
/// stores it; returns the stored header. `writer`, a second connection,
/// lets a master store its children's plans while it reads on.
/// `progress(done, total)` reports the accounts done.
pub fn compute_and_store(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
    writer: Option<&mut DbConn>,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<PlanHeader, ServiceError> {
    let started = std::time::Instant::now();
    let today = planning_date(account, fixed_today);
    if account.is_master() {
        let total = Account::list_children(conn, &account.id)?.len() as i64 + 1;
        // The master's version first: a child's plan stored below is not
        // one of its inputs, its children's records are.
        let version = inputs_version(conn, account, today)?;
        let m = load_master(
            conn,
            account,
            today,
            Children::Refresh {
                fixed_today,
                progress: &mut |done| progress(done, total),
                writer,
            },
        )?;
        let loaded = started.elapsed().as_secs_f64();
        let (lines, details) = master_lines(&m, account, today);
        drop(m);
        let header = header(account, version, today, &lines, started);
        store_lines(conn, &header, &lines, &details)?;
        tracing::debug!(account = %account.id, loaded_s = loaded, "master inputs loaded (children refreshed)");
        progress(total, total);
        Ok(header)
    } else {
        progress(0, 1);
        let version = inputs_version(conn, account, today)?;
        let data = load_child(conn, account, today, false)?;
        let (lines, details) = child_lines(&data);
        drop(data);
        let header = header(account, version, today, &lines, started);
        store_lines(conn, &header, &lines, &details)?;
        progress(1, 1);
        Ok(header)
    }
}

/// Stores a computed plan and logs it (for operators: how long plans take).
/// A plan computed from inputs that have changed since never replaces a
/// stored plan that is current: two computations of one plan may overlap
/// (a worker's job and a direct computation, or two processes), and the one
/// that started first may finish last.
fn store_lines(
    conn: &mut DbConn,
    h: &PlanHeader,
    lines: &[PlanLineRow],
    details: &[LineDetail],
) -> Result<(), ServiceError> {
    let started = std::time::Instant::now();
    if let Some(account) = Account::find_by_id(conn, &h.account_id)? {
        let current = inputs_version(conn, &account, h.planning_date)?;
        let stored = store::plan_header(conn, &h.account_id)?;
        if h.inputs_version != current && stored.is_some_and(|s| s.inputs_version == current) {
            tracing::info!(account = %h.account_id, "an outdated plan was not stored: the stored one is current");
            return Ok(());
        }
    }
    store::store_plan(conn, h, lines, details)?;
    tracing::info!(
        account = %h.account_id,
        lines = h.line_count,
        compute_s = h.seconds,
        store_s = started.elapsed().as_secs_f64(),
        "plan computed and stored"
    );
    Ok(())
}

fn header(
    account: &Account,
    version: String,
    today: NaiveDate,
    lines: &[PlanLineRow],
    started: std::time::Instant,
) -> PlanHeader {
    PlanHeader {
        account_id: account.id.clone(),
        inputs_version: version,
        planning_date: today,
        computed_at: Utc::now().naive_utc(),
        line_count: lines.len() as i64,
        seconds: started.elapsed().as_secs_f64(),
        summary: serde_json::to_string(&PlanSummary::of(lines)).unwrap_or_else(|_| "{}".into()),
    }
}

/// Whether the stored plan of an account is missing or out of date.
pub fn is_stale(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
) -> Result<bool, ServiceError> {
    Ok(stale_version(conn, account, fixed_today)?.is_some())
}

/// The current inputs version and planning date of an account whose stored
/// plan is missing or out of date (`None`: the stored plan is current).
fn stale_version(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
) -> Result<Option<(String, NaiveDate)>, ServiceError> {
    let today = planning_date(account, fixed_today);
    let version = inputs_version(conn, account, today)?;
    let current = store::plan_header(conn, &account.id)?;
    Ok(current
        .is_none_or(|h| h.inputs_version != version)
        .then_some((version, today)))
}

/// Computes and stores every stale plan of an organisation now (children
/// first, then the master); returns how many plans were computed. The demo
/// uses it so that its first page shows a computed plan.
pub fn compute_organisation(
    conn: &mut DbConn,
    org: &str,
    fixed_today: Option<NaiveDate>,
    mut writer: Option<&mut DbConn>,
) -> Result<usize, ServiceError> {
    let accounts = Account::list_by_organisation(conn, org)?;
    let mut stale = Vec::new();
    for a in &accounts {
        if is_stale(conn, a, fixed_today)? {
            stale.push(a);
        }
    }
    // A master computes its stale children on the way (reading each child's
    // records once for both plans); then any child still stale.
    for a in stale.iter().filter(|a| a.is_master()) {
        compute_and_store(conn, a, fixed_today, writer.as_deref_mut(), &mut |_, _| {})?;
    }
    for a in stale.iter().filter(|a| !a.is_master()) {
        if is_stale(conn, a, fixed_today)? {
            compute_and_store(conn, a, fixed_today, None, &mut |_, _| {})?;
        }
    }
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two computations of one plan overlap and the older finishes last:
    /// its lines do not replace the current plan.
    #[test]
    fn an_outdated_plan_does_not_replace_a_current_one() {
        let (_dir, db, child) = crate::services::testing::one_child();
        let mut conn = db.conn().unwrap();
        let today: NaiveDate = "2026-03-01".parse().unwrap();
        let fresh =
            compute_and_store(&mut conn, &child, Some(today), None, &mut |_, _| {}).unwrap();
        let outdated = PlanHeader {
            inputs_version: "an older version".into(),
            computed_at: Utc::now().naive_utc(),
            ..fresh.clone()
        };
        store_lines(&mut conn, &outdated, &[], &[]).unwrap();
        let stored = store::plan_header(&mut conn, &child.id).unwrap().unwrap();
        assert_eq!(stored.inputs_version, fresh.inputs_version);
        assert!(!is_stale(&mut conn, &child, Some(today)).unwrap());
        // Once the stored plan is outdated too, the other one may replace it.
        Account::bump_data_version(&mut conn, &child.id).unwrap();
        store_lines(&mut conn, &outdated, &[], &[]).unwrap();
        let stored = store::plan_header(&mut conn, &child.id).unwrap().unwrap();
        assert_eq!(stored.inputs_version, "an older version");
    }
}
