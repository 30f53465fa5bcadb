//! Demand analysis of one SKU (`api.md`, "Planning reads"): its sales
//! history per day, ISO week or month with the stockout days and each
//! child's share, every sale line (newest first, cancelled and removed ones
//! shown and marked, never counted), the forecast over the coverage window
//! with its 80 % band, the method chosen and the candidates' scores, the
//! accuracy of past forecasts measured out of sample, and the stored plan's
//! safety stock and reorder point.
//!
//! The series is shaped exactly as the plan job shapes it
//! (`services::plans`): sales bucketed by each child's local day, demand
//! from the first sale to yesterday, a day out of stock when its available
//! stock is ≤ 0 (on a master: when no child whose stock is included had
//! stock), and the forecast made by the same fast path, so the page agrees
//! with the order plan. On a master the SKU is the roll-up's group:
//! children's variants with that normalised SKU (the oldest per child) and
//! the variants linked to it, from the children (and warehouses) whose
//! sales are included.
//!
//! Reads go through `db::models::demand` and touch only the SKU's rows: its
//! variants by `(account_id, sku_norm)`, its lines by the
//! `(account_id, variant_id)` index, its stock history by primary key.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;

use crate::db::models::demand::{self as q, VariantRow};
use crate::db::models::forecast_edit::ForecastEdit;
use crate::db::models::planning::{self as store, num, opt_num};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::domain::sku;
use crate::forecast::{self, metrics, Options, SeriesInput, Z80};
use crate::planning::calibrate;
use crate::planning::edits;
use crate::planning::explain::Explanation;
use crate::planning::line::Reconciled;
use crate::planning::rollup::Links;
use crate::planning::series::{row_demand, tags_of, MemberSeries};
use crate::planning::snapshot::Sale;
use crate::services::ServiceError;

/// At most this many sale lines are listed (all are counted).
pub const MAX_SALES: usize = 5_000;

/// Length of each rolling-origin backtest window, in days.
pub const BACKTEST_WINDOW: usize = 7;

/// How many rolling origins the accuracy is measured over (at most).
pub const BACKTEST_ORIGINS: usize = 8;

/// The shortest training history a backtest origin needs, in days.
pub const BACKTEST_MIN_TRAIN: usize = 28;

/// The bucket of the history and the forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The account's local day, labelled `YYYY-MM-DD`.
    Day,
    /// ISO week (Monday to Sunday), labelled `YYYY-Www` (ISO week-year).
    Week,
    /// Calendar month, labelled `YYYY-MM`.
    Month,
}

impl Period {
    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The name used in queries.
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The label of the period holding `d`.
    pub fn label(self, d: NaiveDate) -> String {
        match self {
            Period::Day => d.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => d.format("%Y-%m").to_string(),
        }
    }
}

/// One period of the history.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HistoryRow {
    /// Period label (see [`Period`]).
    pub period: String,
    /// First day of the period inside the history.
    pub from: NaiveDate,
    /// Net quantity sold (returns reduce it; cancelled and removed orders
    /// do not count).
    pub quantity: f64,
    /// Days of the period with no available stock.
    pub stockout_days: u32,
    /// Quantity per child account (a child: its own id).
    pub by_account: BTreeMap<String, f64>,
}

/// One sale line.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SaleRow {
    /// Order time, UTC (RFC 3339).
    pub ordered_at: String,
    /// The account's local day the sale counts on.
    pub day: NaiveDate,
    /// The child account the sale came from.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Order id.
    pub order_id: String,
    /// Line id.
    pub line_id: String,
    /// Quantity (negative: a return).
    pub quantity: f64,
    /// Unit price.
    pub unit_price: Option<f64>,
    /// Currency of the order.
    pub currency: String,
    /// The order is cancelled (shown, not counted).
    pub cancelled: bool,
    /// The order is removed (shown, not counted).
    pub removed: bool,
}

/// One period of the forecast.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ForecastRow {
    /// Period label.
    pub period: String,
    /// First forecast day in the period.
    pub from: NaiveDate,
    /// Point forecast (sum of the daily forecasts), forecast edits applied.
    pub quantity: f64,
    /// The model's point forecast, before forecast edits.
    pub model_quantity: f64,
    /// Lower bound of the 80 % band.
    pub low: f64,
    /// Upper bound of the 80 % band.
    pub high: f64,
}

/// A forecast method considered, with its backtest score (lower is better):
/// the one type the plan's explanation and the demand read share.
pub use crate::planning::explain::CandidateScore;

/// Accuracy of past forecasts, measured out of sample (null: not enough
/// history).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PastAccuracy {
    /// Mean absolute scaled error (scale: in-sample weekly-naive MAE of
    /// each origin's training data), averaged over origins.
    pub mase: Option<f64>,
    /// Mean absolute error per day.
    pub mae: Option<f64>,
    /// Mean of forecast − actual per day.
    pub bias: Option<f64>,
    /// Share of actual days inside the 80 % band.
    pub coverage80: Option<f64>,
    /// Origins measured.
    pub origins: usize,
    /// Days per origin.
    pub window_days: usize,
}

/// A child account of the answer (legend of the chart).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AccountRef {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub account_name: String,
}

/// The demand analysis of one SKU.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Demand {
    /// SKU as the account (a master: its earliest child) has it.
    pub sku: String,
    /// Normalised SKU.
    pub sku_key: String,
    /// Title.
    pub title: String,
    /// `day`, `week` or `month`.
    pub period: String,
    /// The planning date: history ends the day before.
    pub planning_date: NaiveDate,
    /// The accounts whose sales are counted, in roll-up order.
    pub accounts: Vec<AccountRef>,
    /// History per period, first sale to yesterday.
    pub history: Vec<HistoryRow>,
    /// Sale lines, newest first (the API: at most [`MAX_SALES`]).
    pub sales: Vec<SaleRow>,
    /// Every sale line counted.
    pub sales_total: usize,
    /// Forecast per period over the coverage window.
    pub forecast: Vec<ForecastRow>,
    /// Coverage window (lead time + days of stock), days.
    pub coverage_days: usize,
    /// The planning date whose catalogue calibration (fitted on the
    /// account's lines' held-out windows with the plan) scaled the 80 %
    /// band, as on the plan's line; null: the band is the model's own (no
    /// plan for the date yet, or too few series to calibrate).
    pub band_calibrated_for: Option<NaiveDate>,
    /// Method chosen.
    pub method: String,
    /// Demand class behind the choice.
    pub class: String,
    /// Every candidate with its score, best first.
    pub candidates: Vec<CandidateScore>,
    /// Accuracy of past forecasts.
    pub accuracy: PastAccuracy,
    /// Safety stock of the stored plan line (null: no line yet).
    pub safety_stock: Option<f64>,
    /// Reorder point of the stored plan line.
    pub reorder_point: Option<f64>,
    /// Days of the history that were out of stock (left out of the fit).
    pub stockout_days: usize,
    /// The forecast-edit grid: this month and the next
    /// [`EDIT_GRID_MONTHS`] − 1, the model's forecast, the edit and the result.
    pub edit_grid: Vec<EditMonth>,
}

/// How many calendar months the forecast-edit grid shows (this one first).
pub const EDIT_GRID_MONTHS: u32 = 6;

/// One month of the forecast-edit grid (from the planning date on in the
/// current month).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EditMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The model's forecast for the month's days from the planning date.
    pub model: f64,
    /// The edit in force for the SKU in that month (its own or its group's).
    pub edit: Option<GridEdit>,
    /// Group edits that conflict in that month (neither applies).
    pub conflict: Option<String>,
    /// The forecast the plan uses.
    pub result: f64,
}

/// An edit as the grid shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct GridEdit {
    /// The edit's id.
    pub id: String,
    /// Its target (`sku: …`, `category: …`).
    pub target: String,
    /// `quantity`, `percent` or `no_demand`.
    pub kind: String,
    /// Quantity or percent.
    pub value: Option<f64>,
}

/// One variant of the group, from one child.
struct Member {
    account: Account,
    tz: Tz,
    variant: VariantRow,
    /// Warehouse → whether its sales / stock count (master only).
    flags: HashMap<String, (bool, bool)>,
    master: bool,
}

impl Member {
    fn sales_count(&self, wh: Option<&str>) -> bool {
        !self.master
            || (self.account.include_sales
                && wh
                    .and_then(|w| self.flags.get(w))
                    .map(|f| f.1)
                    .unwrap_or(true))
    }
    fn stock_counts(&self, wh: &str) -> bool {
        !self.master
            || (self.account.include_stock && self.flags.get(wh).map(|f| f.0).unwrap_or(true))
    }
}

fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then(|| round6(x))
}

/// The variants making up SKU `key` in `account` (a master: its roll-up group).
fn members(conn: &mut DbConn, account: &Account, key: &str) -> Result<Vec<Member>, ServiceError> {
    let tz_of = |a: &Account| a.timezone.parse::<Tz>().unwrap_or(Tz::UTC);
    if !account.is_master() {
        return Ok(q::variants_by_sku(conn, &account.id, key)?
            .into_iter()
            .take(1)
            .map(|variant| Member {
                tz: tz_of(account),
                account: account.clone(),
                variant,
                flags: HashMap::new(),
                master: false,
            })
            .collect());
    }
    let mut kids = Account::list_children(conn, &account.id)?;
    kids.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let links = Links::new(&store::links(conn, &account.id)?);
    let settings = store::warehouse_settings(conn, &account.id)?;
    let mut out = Vec::new();
    for k in kids {
        // The candidates (every variant with the normalised SKU, and those
        // linked to it), kept where the roll-up puts them in this row.
        let linked_here: Vec<String> = links.linked_to(&k.id, key).map(String::from).collect();
        let mut vs: Vec<VariantRow> = q::variants_by_sku(conn, &k.id, key)?;
        for v in q::variants_by_ids(conn, &k.id, &linked_here)? {
            if !vs.iter().any(|x| x.id == v.id) {
                vs.push(v);
            }
        }
        vs.retain(|v| links.row_key(&k.id, &v.id, &v.sku) == key);
        let flags: HashMap<String, (bool, bool)> = settings
            .iter()
            .filter(|s| s.account_id == k.id)
            .map(|s| (s.warehouse_id.clone(), (s.include_stock, s.include_sales)))
            .collect();
        for variant in vs {
            out.push(Member {
                tz: tz_of(&k),
                account: k.clone(),
                variant,
                flags: flags.clone(),
                master: true,
            });
        }
    }
    Ok(out)
}

/// Out-of-sample accuracy: the last [`BACKTEST_ORIGINS`] origins, each
/// [`BACKTEST_WINDOW`] days apart, fitting the fast path on the days before
/// the origin only and scoring its forecast against the in-stock days that
/// followed.
pub fn past_accuracy(values: &[f64], in_stock: &[bool]) -> PastAccuracy {
    let h = BACKTEST_WINDOW;
    let n = values.len();
    let (mut abs, mut signed, mut inside, mut count) = (0.0, 0.0, 0usize, 0usize);
    let mut scaled = Vec::new();
    let mut origins = 0;
    for k in 1..=BACKTEST_ORIGINS {
        let Some(origin) = n.checked_sub(k * h) else {
            break;
        };
        if origin < BACKTEST_MIN_TRAIN {
            break;
        }
        let input = SeriesInput {
            values: &values[..origin],
            in_stock: Some(&in_stock[..origin]),
            season: 7,
        };
        let fc = forecast::forecast(&input, h, &Options { fast: true });
        let (mut w_abs, mut w_n) = (0.0, 0usize);
        for d in 0..h {
            let day = origin + d;
            if !in_stock[day] {
                continue;
            }
            let (a, f) = (values[day], fc.point[d]);
            abs += (f - a).abs();
            signed += f - a;
            w_abs += (f - a).abs();
            w_n += 1;
            count += 1;
            if a >= fc.low[d] && a <= fc.high[d] {
                inside += 1;
            }
        }
        if w_n == 0 {
            continue;
        }
        origins += 1;
        let train: Vec<f64> = values[..origin]
            .iter()
            .zip(&in_stock[..origin])
            .filter(|(_, s)| **s)
            .map(|(v, _)| *v)
            .collect();
        let scale = metrics::mase_scale(&train, 7);
        if scale > 0.0 {
            scaled.push(w_abs / w_n as f64 / scale);
        }
    }
    let per = |x: f64| (count > 0).then(|| round6(x / count as f64));
    PastAccuracy {
        mase: (!scaled.is_empty())
            .then(|| round6(scaled.iter().sum::<f64>() / scaled.len() as f64)),
        mae: per(abs),
        bias: per(signed),
        coverage80: per(inside as f64),
        origins,
        window_days: h,
    }
}

/// Groups consecutive days into periods: (label, first day, day indices).
fn buckets(period: Period, start: NaiveDate, len: usize) -> Vec<(String, NaiveDate, Vec<usize>)> {
    let mut out: Vec<(String, NaiveDate, Vec<usize>)> = Vec::new();
    for d in 0..len {
        let day = start + Duration::days(d as i64);
        let label = period.label(day);
        match out.last_mut() {
            Some((l, _, idx)) if *l == label => idx.push(d),
            _ => out.push((label, day, vec![d])),
        }
    }
    out
}

/// The demand analysis of SKU `sku_text` (matched after normalisation) in
/// `account` on planning date `today`, listing at most `max_sales` sale
/// lines (the API: [`MAX_SALES`]); `None` when the account has no such SKU.
pub fn analyse(
    conn: &mut DbConn,
    account: &Account,
    sku_text: &str,
    today: NaiveDate,
    period: Period,
    max_sales: usize,
) -> Result<Option<Demand>, ServiceError> {
    let key = sku::normalise(sku_text);
    let members = members(conn, account, &key)?;
    let Some(first) = members.first() else {
        return Ok(None);
    };
    let sku = first.variant.sku.clone();
    let title = first
        .variant
        .title
        .clone()
        .or(first.variant.product_title.clone())
        .unwrap_or_default();

    // Sale lines (member, line, local day) and counted sales (day, member,
    // quantity); only the lines shown are shaped into rows.
    let mut sales: Vec<(usize, q::VariantSaleLine, NaiveDate)> = Vec::new();
    let mut counted: Vec<(NaiveDate, usize, f64)> = Vec::new();
    let mut history_points: Vec<Vec<Vec<(NaiveDate, f64)>>> = Vec::new();
    for (mi, m) in members.iter().enumerate() {
        for l in q::variant_lines(conn, &m.account.id, &m.variant.id)? {
            if !m.sales_count(l.warehouse_id.as_deref()) {
                continue;
            }
            let day = m.tz.from_utc_datetime(&l.ordered_at).date_naive();
            if !l.cancelled && !l.removed && day < today {
                counted.push((day, mi, num(&l.quantity)));
            }
            sales.push((mi, l, day));
        }
        let removed_wh: HashSet<String> = store::removed_warehouses(conn, &m.account.id)?
            .into_iter()
            .collect();
        let mut by_wh: BTreeMap<String, Vec<(NaiveDate, f64)>> = BTreeMap::new();
        for (wh, day, available) in q::variant_history(conn, &m.account.id, &m.variant.id)? {
            if removed_wh.contains(&wh) || !m.stock_counts(&wh) {
                continue;
            }
            by_wh.entry(wh).or_default().push((day, num(&available)));
        }
        history_points.push(by_wh.into_values().collect());
    }
    let account_of = |mi: usize| &members[mi].account.id;
    let newest = |a: &(usize, q::VariantSaleLine, NaiveDate),
                  b: &(usize, q::VariantSaleLine, NaiveDate)| {
        b.1.ordered_at
            .cmp(&a.1.ordered_at)
            .then_with(|| account_of(a.0).cmp(account_of(b.0)))
            .then_with(|| a.1.order_id.cmp(&b.1.order_id))
            .then_with(|| a.1.line_id.cmp(&b.1.line_id))
    };
    let sales_total = sales.len();
    if sales.len() > max_sales {
        sales.select_nth_unstable_by(max_sales, newest);
        sales.truncate(max_sales);
    }
    sales.sort_unstable_by(newest);
    let sales: Vec<SaleRow> = sales
        .into_iter()
        .map(|(mi, l, day)| SaleRow {
            ordered_at: l
                .ordered_at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            day,
            account_id: members[mi].account.id.clone(),
            account_name: members[mi].account.name.clone(),
            quantity: round6(num(&l.quantity)),
            unit_price: opt_num(&l.unit_price).map(round6),
            order_id: l.order_id,
            line_id: l.line_id,
            currency: l.currency,
            cancelled: l.cancelled,
            removed: l.removed,
        })
        .collect();

    // The daily series: first counted sale to yesterday.
    let start = counted.iter().map(|c| c.0).min().unwrap_or(today);
    let len = (today - start).num_days().max(0) as usize;
    let mut net = vec![0.0; len];
    let mut per_member = vec![vec![0.0; len]; members.len()];
    for &(day, mi, qty) in &counted {
        let d = (day - start).num_days() as usize;
        net[d] += qty;
        per_member[mi][d] += qty;
    }
    // The engine's input, shaped as the plan shapes it (`row_demand`: each
    // member's stockout days estimated from its own in-stock rate).
    let member_sales: Vec<Vec<Sale>> = (0..members.len())
        .map(|mi| {
            counted
                .iter()
                .filter(|c| c.1 == mi)
                .map(|&(day, _, quantity)| Sale {
                    day,
                    warehouse: 0,
                    quantity,
                })
                .collect()
        })
        .collect();
    let series: Vec<MemberSeries> = members
        .iter()
        .enumerate()
        .map(|(mi, m)| MemberSeries {
            sales: member_sales[mi].iter().collect(),
            stock_points: (!m.master || m.account.include_stock)
                .then(|| history_points[mi].iter().collect()),
        })
        .collect();
    let demand = row_demand(&series, today);
    // Stockout days shown: days the row's demand is an estimate, by
    // history day (the row's series starts at the same first sale).
    let in_stock = demand.in_stock;
    let values = demand.values;

    // The plan line (safety stock, reorder point, coverage window).
    let stored = store::line_with_explanation(conn, &account.id, &key)?;
    // A master reconciled to its children's sum shows that forecast, as
    // its plan uses it.
    let reconciled = stored.as_ref().and_then(|(_, d)| {
        Explanation::parse(&d.explanation).and_then(|e| Reconciled::from_explanation(&e))
    });
    let line = stored.map(|(l, _)| l);
    let coverage = line
        .as_ref()
        .map(|l| l.lead_time_days + l.days_of_stock)
        .unwrap_or((account.lead_time_days + account.days_of_stock) as f64);
    let horizon = (coverage.max(0.0).ceil() as usize).max(1);
    let mut fc = forecast::forecast(
        &SeriesInput {
            values: &values,
            in_stock: Some(&in_stock),
            season: 7,
        },
        horizon,
        &Options { fast: true },
    );
    // The band the plan's line has: calibrated as the account's catalogue
    // calibration for the planning date says (stored with the plan), then
    // reconciled.
    let calibration = calibrate::stored(conn, &account.id, today)?.filter(|c| !c.is_empty());
    if let Some(c) = &calibration {
        c.apply_band(&mut fc);
    }
    if let Some(r) = &reconciled {
        r.apply(&mut fc.point, &mut fc.low, &mut fc.high);
    }

    // The merchant's edits, as the plan applies them.
    let lt = line
        .as_ref()
        .map(|l| l.lead_time_days)
        .unwrap_or(account.lead_time_days as f64);
    let line_edits = edits_of(conn, account, &key, first, today)?;
    let mut edited = fc.point.clone();
    edits::apply(&mut edited, today, lt, &line_edits.applied);
    let edit_grid = edit_grid(
        (&values, &in_stock),
        &fc.point,
        reconciled.as_ref(),
        &line_edits,
        today,
        lt,
    );

    // Each child once, in roll-up order.
    let mut accounts: Vec<AccountRef> = Vec::new();
    for m in members.iter().filter(|m| m.sales_count(None)) {
        if !accounts.iter().any(|a| a.account_id == m.account.id) {
            accounts.push(AccountRef {
                account_id: m.account.id.clone(),
                account_name: m.account.name.clone(),
            });
        }
    }
    let history = buckets(period, start, len)
        .into_iter()
        .map(|(label, from, days)| {
            let mut by_account: BTreeMap<String, f64> = accounts
                .iter()
                .map(|a| (a.account_id.clone(), 0.0))
                .collect();
            for (mi, m) in members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.sales_count(None))
            {
                let q: f64 = days.iter().map(|&d| per_member[mi][d]).sum();
                *by_account.entry(m.account.id.clone()).or_default() += q;
            }
            by_account.values_mut().for_each(|v| *v = round6(*v));
            HistoryRow {
                period: label,
                from,
                quantity: round6(days.iter().map(|&d| net[d]).sum()),
                stockout_days: days.iter().filter(|&&d| !in_stock[d]).count() as u32,
                by_account,
            }
        })
        .collect();
    // Daily bands add up as independent normal errors: σ_day from each
    // day's upper half-width, σ_period = √Σσ².
    let forecast = buckets(period, today, horizon)
        .into_iter()
        .map(|(label, from, days)| {
            let model: f64 = days.iter().map(|&d| fc.point[d]).sum();
            let point: f64 = days.iter().map(|&d| edited[d]).sum();
            let shift = point - model;
            let var: f64 = days
                .iter()
                .map(|&d| ((fc.high[d] - fc.point[d]).max(0.0) / Z80).powi(2))
                .sum();
            let half = Z80 * var.sqrt();
            // An edit moves the band with the point.
            let (low, high) = if days.len() == 1 {
                (fc.low[days[0]] + shift, fc.high[days[0]] + shift)
            } else {
                (
                    (point - half).max(days.iter().map(|&d| fc.low[d]).sum::<f64>() + shift),
                    point + half,
                )
            };
            ForecastRow {
                period: label,
                from,
                quantity: round6(point),
                model_quantity: round6(model),
                low: round6(low.max(0.0).min(point)),
                high: round6(high.max(point)),
            }
        })
        .collect();
    Ok(Some(Demand {
        sku,
        sku_key: key,
        title,
        period: period.name().to_string(),
        planning_date: today,
        accounts,
        history,
        sales,
        sales_total,
        forecast,
        coverage_days: horizon,
        band_calibrated_for: calibration.map(|_| today),
        method: fc.method.clone(),
        class: fc.class.name().to_string(),
        candidates: fc
            .candidates
            .iter()
            .map(|c| CandidateScore {
                method: c.method.clone(),
                score: c.score.and_then(finite),
            })
            .collect(),
        accuracy: past_accuracy(&values, &in_stock),
        safety_stock: line.as_ref().map(|l| l.safety_stock),
        reorder_point: line.as_ref().map(|l| l.reorder_point),
        stockout_days: in_stock.iter().filter(|s| !**s).count(),
        edit_grid,
    }))
}

/// The forecast edits of a SKU's line in `account`, matched as the plan
/// matches them (the row's first member gives its groups).
fn edits_of(
    conn: &mut DbConn,
    account: &Account,
    key: &str,
    first: &Member,
    today: NaiveDate,
) -> Result<edits::LineEdits, ServiceError> {
    let set = edits::EditSet::new(&ForecastEdit::of_account(conn, &account.id)?, today);
    let v = &first.variant;
    let vendor_ids: Vec<String> = v
        .vendor_id
        .iter()
        .flat_map(|id| {
            if first.master {
                vec![id.clone(), format!("{}:{id}", first.account.id)]
            } else {
                vec![id.clone()]
            }
        })
        .collect();
    Ok(set.for_line(
        key,
        &v.sku,
        &vendor_ids,
        v.category.as_deref().unwrap_or_default(),
        v.brand.as_deref().unwrap_or_default(),
        &tags_of(v),
    ))
}

/// The forecast-edit grid: per month, the model's forecast (the plan's for
/// the coverage window `point`, then a forecast made for the grid's whole
/// span), the edit and the result.
fn edit_grid(
    (values, in_stock): (&[f64], &[bool]),
    point: &[f64],
    reconciled: Option<&Reconciled>,
    line_edits: &edits::LineEdits,
    today: NaiveDate,
    lt: f64,
) -> Vec<EditMonth> {
    let this = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let months: Vec<NaiveDate> = (0..EDIT_GRID_MONTHS)
        .filter_map(|k| this.checked_add_months(chrono::Months::new(k)))
        .collect();
    let Some(&last) = months.last() else {
        return vec![];
    };
    let span = (last + Duration::days(edits::days_in_month(last)) - today).num_days() as usize;
    let mut model = point.to_vec();
    if span > model.len() {
        let mut long = forecast::forecast(
            &SeriesInput {
                values,
                in_stock: Some(in_stock),
                season: 7,
            },
            span,
            &Options { fast: true },
        );
        if let Some(r) = reconciled {
            r.apply(&mut long.point, &mut long.low, &mut long.high);
        }
        model.extend_from_slice(&long.point[model.len().min(long.point.len())..]);
    }
    model.truncate(span);
    let mut result = model.clone();
    edits::apply(&mut result, today, lt, &line_edits.applied);
    months
        .iter()
        .map(|&m| {
            let label = m.format("%Y-%m").to_string();
            let from = (m - today).num_days().max(0) as usize;
            let to = ((m - today).num_days() + edits::days_in_month(m)).max(0) as usize;
            let sum = |xs: &[f64]| round6(xs[from.min(xs.len())..to.min(xs.len())].iter().sum());
            EditMonth {
                model: sum(&model),
                result: sum(&result),
                edit: line_edits
                    .applied
                    .iter()
                    .find(|e| e.month == label)
                    .map(|e| GridEdit {
                        id: e.id.clone(),
                        target: e.target.clone(),
                        kind: e.kind.name().to_string(),
                        value: (e.kind != edits::EditKind::NoDemand).then_some(e.value),
                    }),
                conflict: line_edits
                    .conflicts
                    .iter()
                    .find(|c| c.month == label)
                    .map(|c| format!("{} conflict: neither applies", c.targets.join(" and "))),
                month: label,
            }
        })
        .collect()
}

/// Whether `account` (a master: its included children) sells SKU `sku_text`.
pub fn sells(conn: &mut DbConn, account: &Account, sku_text: &str) -> Result<bool, ServiceError> {
    Ok(!members(conn, account, &sku::normalise(sku_text))?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(Period::Day.label(d), "2026-01-01");
        assert_eq!(Period::Week.label(d), "2026-W01");
        assert_eq!(Period::Month.label(d), "2026-01");
        // 2027-01-01 is a Friday of ISO week 53 of 2026.
        let d = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(Period::Week.label(d), "2026-W53");
    }

    #[test]
    fn accuracy_needs_history_before_each_origin() {
        let values = vec![1.0; 30];
        let a = past_accuracy(&values, &[true; 30]);
        assert_eq!(a.origins, 0);
        assert_eq!(a.mae, None);
        let values = vec![2.0; 63];
        let a = past_accuracy(&values, &[true; 63]);
        assert_eq!(a.origins, 5);
        assert_eq!(a.mae, Some(0.0));
    }
}
