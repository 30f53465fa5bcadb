//! The line stage: runs the pure engine (`forecast` fast path and
//! `replenish`) on one row's inputs and shapes the stored plan line and its
//! explanation.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::db::models::planning::{LineDetail, PlanLineRow};
use crate::forecast::{self, Calibration, Forecast, Options, SeriesInput, TotalDistribution};
use crate::planning::edits;
use crate::planning::explain::{
    CandidateScore, Contribution, DemandExplained, Explanation, ReconciledExplained,
    SafetyStockExplained, Step, Term,
};
use crate::planning::fits::{self, FitUse};
use crate::planning::series::LineInput;
use crate::planning::supply;
use crate::replenish::{self, OpenOrder, PlanInput};

pub(crate) fn urgency(order_by: Option<NaiveDate>, today: NaiveDate) -> (&'static str, i32) {
    match order_by {
        Some(d) if d <= today => ("now", 0),
        Some(d) if d <= today + chrono::Duration::days(7) => ("soon", 1),
        _ => ("ok", 2),
    }
}

/// Rounds to 6 decimals; never −0 (an empty sum is −0.0 in Rust, which a
/// database may or may not keep: a stored figure must read back as it was).
pub(crate) fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6 + 0.0
    } else {
        0.0
    }
}

/// A line out of stock for at least this many days (up to yesterday, with
/// nothing available now) is flagged `long_stockout`.
pub const LONG_STOCKOUT_DAYS: usize = 28;

/// A line in stock without a sale for at least this many days is flagged
/// `no_recent_sales`.
pub const NO_RECENT_SALES_DAYS: usize = 90;

/// Something a merchant should confirm before ordering a line (`api.md`:
/// `long_stockout`, `no_recent_sales`, `late_open_order`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flag {
    /// Machine-friendly code.
    pub code: String,
    /// How many days the condition has lasted (or, for a late order, how
    /// many days stock is out before it arrives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    /// What it means and what to check.
    pub message: String,
}

/// Days at the end of `flags` for which `pred` holds.
fn trailing(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    (0..n).rev().take_while(|&d| pred(d)).count()
}

/// The days a line has sold nothing in stock at the end of its series,
/// when that run is [`NO_RECENT_SALES_DAYS`] or longer and it sold before
/// (the `no_recent_sales` flag's run, whatever the stock today).
fn quiet_run(values: &[f64], in_stock: &[bool]) -> Option<usize> {
    let n = values.len().min(in_stock.len());
    let quiet = trailing(n, |d| in_stock[d] && values[d] <= 0.0);
    (quiet >= NO_RECENT_SALES_DAYS && quiet < n).then_some(quiet)
}

/// Whether a line has stopped selling ([`quiet_run`]).
fn stopped_selling(values: &[f64], in_stock: &[bool]) -> bool {
    quiet_run(values, in_stock).is_some()
}

/// The flags of a line: its demand series (`values`, `in_stock`, up to
/// yesterday), its available stock and open orders, and the forecast.
pub fn flags(
    values: &[f64],
    in_stock: &[bool],
    available: f64,
    open: &[OpenOrder],
    daily_forecast: &[f64],
    today: NaiveDate,
) -> Vec<Flag> {
    let mut out = Vec::new();
    let n = values.len();
    let out_days = trailing(n, |d| !in_stock[d]);
    if out_days >= LONG_STOCKOUT_DAYS && available <= 0.0 {
        out.push(Flag {
            code: "long_stockout".into(),
            days: Some(out_days as i64),
            message: format!(
                "Out of stock for {out_days} days: the forecast rests on the demand before the stockout. Confirm the product is still wanted at that rate."
            ),
        });
    }
    if let Some(quiet) = quiet_run(values, in_stock).filter(|_| available > 0.0) {
        out.push(Flag {
            code: "no_recent_sales".into(),
            days: Some(quiet as i64),
            message: format!(
                "No sale for {quiet} days with {} in stock: check that the product is still listed and sellable before ordering more.",
                round6(available)
            ),
        });
    }
    // The first day projected stock runs out, against the open orders'
    // arrival days.
    let horizon = daily_forecast.len();
    let mut stock = available;
    let mut runs_out = None;
    for (d, f) in daily_forecast.iter().enumerate().take(horizon) {
        stock += open
            .iter()
            .filter(|o| o.expected_day.max(0) as usize == d)
            .map(|o| o.quantity)
            .sum::<f64>();
        stock -= f;
        if *f > 0.0 && stock < 0.0 {
            runs_out = Some(d as i64);
            break;
        }
    }
    if let (Some(d), Some(late)) = (runs_out, open.iter().map(|o| o.expected_day).max()) {
        if late > d {
            let day = today + chrono::Duration::days(d);
            let arrives = today + chrono::Duration::days(late);
            out.push(Flag {
                code: "late_open_order".into(),
                days: Some(late - d),
                message: format!(
                    "Projected stock runs out on {day}, {} days before the open order expected on {arrives} arrives: ask the vendor to deliver sooner, or order the gap.",
                    late - d
                ),
            });
        }
    }
    out
}

/// How far pooling explains a master's order against the sum of its
/// children's: one child's stock beyond its own coverage demand covers
/// another's need.
fn pooling_note(accounts: &[crate::planning::series::ChildFigures], order: f64) -> Option<String> {
    if accounts.is_empty() {
        return None;
    }
    let children: f64 = accounts.iter().map(|a| a.order_quantity).sum();
    if (children - order).abs() < 1e-9 {
        return None;
    }
    let surplus: Vec<(String, f64)> = accounts
        .iter()
        .map(|a| {
            (
                a.account_name.clone(),
                a.available + a.on_order - a.coverage_demand,
            )
        })
        .filter(|(_, s)| *s > 0.0 && accounts.iter().any(|b| b.order_quantity > 0.0))
        .collect();
    let pooled: f64 = surplus
        .iter()
        .map(|s| s.1)
        .sum::<f64>()
        .min(children.max(0.0));
    let who = surplus
        .iter()
        .map(|(n, s)| format!("{n} holds {} beyond its own coverage demand", round6(*s)))
        .collect::<Vec<_>>()
        .join("; ");
    let rest = children - order - pooled;
    Some(format!(
        "The children would order {} in all, the master {}: a difference of {}. Pooled stock accounts for {}{}; the remaining {} is safety stock held once for the combined demand instead of per child, and rounding.",
        round6(children),
        round6(order),
        round6(children - order),
        round6(pooled),
        if who.is_empty() { String::new() } else { format!(" ({who})") },
        round6(rest),
    ))
}

/// What reconciling a master's forecast to its children's did, in words.
fn reconciliation_note(r: &Reconciled) -> String {
    format!(
        "The master's demand adds up its children's: each child holds its own stock and plans its own demand ({} a day in all), so the forecast on the combined history ({} a day) is scaled to that sum, keeping its weekly pattern and trend.",
        round6(r.children_per_day),
        round6(r.own_per_day)
    )
}

/// A line the merchant marked not for reorder: its stock and demand stay
/// in the plan, its order quantity is 0 and it has no order date; the
/// explanation says what would have been ordered.
fn hold(plan: &mut replenish::Plan, note: Option<&str>) {
    let recommended = plan.order_quantity;
    plan.explanation.push(replenish::Explanation {
        term: "not_for_reorder".into(),
        value: 0.0,
        text: format!(
            "Marked not for reorder{}: the recommended {} is not ordered.",
            note.map(|n| format!(" ({n})")).unwrap_or_default(),
            round6(recommended)
        ),
    });
    plan.order_quantity = 0.0;
    plan.order_by_day = None;
}

/// Days the order plan forecasts a line for: its lead time plus its order
/// cycle (at least one).
pub(crate) fn plan_horizon(li: &LineInput) -> usize {
    let period = li.lead_time_days.max(0.0) + li.days_of_stock.max(0.0);
    (period.ceil() as usize).max(1)
}

/// A master's forecast reconciled to the sum of its children's
/// (`domain.md`: a master's demand adds up its children's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reconciled {
    /// The master's own fit on the combined history, per day over the
    /// coverage window.
    pub(crate) own_per_day: f64,
    /// The sum of the children's own plans' demand per day.
    pub(crate) children_per_day: f64,
    /// The factor the master's forecast, band and lead-time total were
    /// scaled by (`None`: its own fit forecast nothing or next to nothing,
    /// so the children's rate is used flat).
    pub(crate) ratio: Option<f64>,
}

/// The most a master's own fit is scaled up to its children's demand: a fit
/// far below them (a model that sees the combined history fade out) carries
/// no shape worth keeping, and its relative spread scaled up would be
/// noise; the children's rate is then used flat.
const MAX_RECONCILE_RATIO: f64 = 5.0;

/// Scales a master's forecast (point, band and the lead-time total) so that
/// its demand per day over the coverage window equals the sum of its
/// children's, keeping the master's own fit's shape (its weekly pattern,
/// its trend) and relative uncertainty. Children who hold separate stock
/// each lose only their own sales in a stockout, and each child's plan
/// already reads its own demand; the master's fit on the combined history
/// differs from their sum only by its model choice, which must not make
/// the master disagree with the children it adds up.
fn reconcile(
    li: &LineInput,
    fc: &mut Forecast,
    lt_total: &mut TotalDistribution,
) -> Option<Reconciled> {
    let target = li.children_per_day?;
    let period = li.lead_time_days.max(0.0) + li.days_of_stock.max(0.0);
    if period <= 0.0 || !target.is_finite() {
        return None;
    }
    let own = replenish::demand_over(&fc.point, period) / period;
    if (own - target).abs() <= 1e-9 {
        return None;
    }
    let r = Reconciled {
        own_per_day: own,
        children_per_day: target,
        ratio: (own * MAX_RECONCILE_RATIO >= target).then(|| target / own),
    };
    r.apply(&mut fc.point, &mut fc.low, &mut fc.high);
    *lt_total = match r.ratio {
        Some(k) => lt_total.scaled(k),
        // The combined history's model sees no demand where the children's
        // do: their rate, with a Poisson spread.
        None => {
            let n = lt_total.periods;
            let mean = target * n as f64;
            TotalDistribution::gamma(n, mean, mean.sqrt())
        }
    };
    Some(r)
}

impl Reconciled {
    /// Applies the reconciliation to a daily forecast and its band: scaled
    /// by the ratio, or the children's rate flat (with a Poisson band) where
    /// the master's own fit forecast nothing.
    pub(crate) fn apply(&self, point: &mut [f64], low: &mut [f64], high: &mut [f64]) {
        match self.ratio {
            Some(k) => {
                for v in [point, low, high] {
                    v.iter_mut().for_each(|x| *x *= k);
                }
            }
            None => {
                let rate = self.children_per_day;
                point.iter_mut().for_each(|x| *x = rate);
                low.iter_mut().for_each(|x| *x = 0.0);
                let high_rate = rate + forecast::Z80 * rate.sqrt();
                high.iter_mut().for_each(|x| *x = high_rate);
            }
        }
    }

    /// The reconciliation a stored explanation records (`demand.reconciled`).
    pub(crate) fn from_explanation(explanation: &Explanation) -> Option<Reconciled> {
        let r = explanation.demand.reconciled?;
        Some(Reconciled {
            own_per_day: r.own_per_day,
            children_per_day: r.children_per_day,
            ratio: r.ratio,
        })
    }
}

/// The daily forecast of a line for `days` days from the planning date and
/// the distribution of its lead-time total: what the plan and the supply
/// plan both use. The engine runs over the plan's horizon
/// ([`plan_horizon`]); beyond it the forecast's last seven days repeat. A
/// master whose children hold separate stock is reconciled to their sum
/// ([`Reconciled`]). With the account's catalogue calibration
/// ([`crate::planning::calibrate`]) the forecast's band and the lead-time
/// total are calibrated ([`Calibration::apply`]).
pub(crate) fn forecast_line(
    li: &LineInput,
    days: usize,
    used: FitUse,
    calibration: Option<&Calibration>,
) -> (Forecast, TotalDistribution, Option<Reconciled>) {
    let input = SeriesInput {
        values: &li.values,
        in_stock: Some(&li.in_stock),
        season: 7,
    };
    // The lead-time total's distribution sets the safety stock (the
    // service-level quantile minus its mean), fit for intermittent demand.
    let lt_days = (li.lead_time_days.max(0.0).ceil() as usize).max(1);
    let horizon = plan_horizon(li);
    // The same inputs give the same fit: a master row of one child's one
    // variant takes that line's (`fits`).
    let (mut fc, mut lt_total) = fits::fit(&input, horizon, lt_days, &Options { fast: true }, used);
    if let Some(c) = calibration {
        c.apply(&input, &mut fc, &mut lt_total);
    }
    let reconciled = reconcile(li, &mut fc, &mut lt_total);
    for v in [&mut fc.point, &mut fc.low, &mut fc.high] {
        let week = v.len().min(7);
        let start = v.len() - week;
        while week > 0 && v.len() < days {
            v.push(v[start + (v.len() - start) % week]);
        }
    }
    (fc, lt_total, reconciled)
}

/// A line's stock position on the planning date: available stock (less
/// what outgoing movements take) and its open incoming orders by expected
/// day (an order without a date is expected after the lead time).
pub(crate) fn position(li: &LineInput, today: NaiveDate) -> (f64, Vec<OpenOrder>) {
    let mut available = li.available;
    let mut open = Vec::new();
    for (q, expected) in &li.movements {
        if *q < 0.0 {
            available += q;
        } else {
            let day = expected
                .map(|e| (e - today).num_days())
                .unwrap_or(li.lead_time_days.max(0.0).ceil() as i64);
            open.push(OpenOrder {
                quantity: *q,
                expected_day: day,
            });
        }
    }
    (available, open)
}

/// The engine's input for a line's order plan on the planning date, from
/// its position, forecast and demand statistics (`(mean, sd)`).
pub(crate) fn plan_input<'a>(
    li: &LineInput,
    available: f64,
    open: &'a [OpenOrder],
    fc: &'a Forecast,
    lt_total: &'a TotalDistribution,
    (mean, sd): (f64, f64),
) -> PlanInput<'a> {
    PlanInput {
        tracked: li.tracked && !li.bundle,
        available,
        open_orders: open,
        daily_forecast: &fc.point,
        mean_daily_demand: Some(mean),
        demand_sd: sd,
        lead_time_days: li.lead_time_days.max(0.0),
        lead_time_sd_days: None,
        days_of_stock: li.days_of_stock.max(0.0),
        service_level: li.service_level,
        moq: li.moq,
        pack_size: li.pack_size,
        max_stock: li.max_stock,
        min_stock: li.min_stock,
        // domain.md: the textbook formula for smooth demand; for
        // intermittent and lumpy demand the quantile of the lead-time total.
        lead_time_demand: fc.class.is_sporadic().then_some(lt_total),
    }
}

/// Every flag of a line: its own (tracked stock only), its children's
/// doubts on a master (where the master's own flag does not already say
/// so: its line stands on that child's demand too), the merchant's mark and
/// forecast-edit conflicts.
fn all_flags(
    li: &LineInput,
    available: f64,
    open: &[OpenOrder],
    daily_forecast: &[f64],
    today: NaiveDate,
) -> Vec<Flag> {
    let mut line_flags = if li.tracked && !li.bundle {
        flags(
            &li.values,
            &li.in_stock,
            available,
            open,
            daily_forecast,
            today,
        )
    } else {
        vec![]
    };
    let own_codes: Vec<String> = line_flags.iter().map(|f| f.code.clone()).collect();
    line_flags.extend(
        li.child_flags
            .iter()
            .filter(|f| !own_codes.contains(&f.code))
            .cloned(),
    );
    if let Some(note) = &li.not_for_reorder {
        line_flags.push(Flag {
            code: "not_for_reorder".into(),
            days: None,
            message: match note {
                Some(n) => format!("Marked not for reorder: {n}"),
                None => "Marked not for reorder: nothing is ordered for it.".into(),
            },
        });
    }
    line_flags.extend(edits::conflict_flags(&li.edits.conflicts));
    line_flags
}

/// A computed plan line and its details.
pub(crate) type Computed = (PlanLineRow, LineDetail);

/// Runs the engine on one line's inputs and shapes the stored line and its
/// explanation. With the account's catalogue calibration for `today`
/// (non-empty, [`crate::planning::calibrate`]), the safety stock of every
/// line reads the calibrated lead-time distribution.
pub(crate) fn compute_line(
    account_id: &str,
    today: NaiveDate,
    mut li: LineInput,
    calibration: Option<&Calibration>,
) -> Computed {
    let lt = li.lead_time_days.max(0.0);
    let cycle = li.days_of_stock.max(0.0);
    let (mut fc, mut lt_total, reconciled) =
        forecast_line(&li, plan_horizon(&li), li.fit, calibration);
    let (mut mean, mut sd) = replenish::demand_stats(&li.values, Some(&li.in_stock));
    // The textbook safety stock's demand statistics follow the reconciled
    // level as the forecast does.
    match reconciled {
        Some(Reconciled { ratio: Some(r), .. }) => (mean, sd) = (mean * r, sd * r),
        Some(Reconciled {
            children_per_day, ..
        }) => (mean, sd) = (children_per_day, children_per_day.sqrt()),
        None => {}
    }
    // The merchant's edits replace the model's days; the safety stock follows
    // the edited level over the lead time.
    let edit = edits::apply(&mut fc.point, today, lt, &li.edits.applied);
    if let Some(r) = edit.as_ref().map(|e| e.level_ratio) {
        (mean, sd, lt_total) = (mean * r, sd * r, lt_total.scaled(r));
    }
    let (available, open) = position(&li, today);
    let mut input = plan_input(&li, available, &open, &fc, &lt_total, (mean, sd));
    if calibration.is_some() {
        // Calibrated on the catalogue's held-out windows, the distribution
        // serves its level for smooth demand too. It is the forecast's own,
        // at the forecast's level: not scaled down again where that level
        // is below the history's (the textbook's σ is the history's) —
        // except for a line that has stopped selling (domain.md: no demand,
        // no safety stock). Its distribution still mixes in last year's
        // rate, in case it picks up again; that hedge is the merchant's
        // call (the line is flagged), not a buffer to buy.
        input.lead_time_demand = Some(&lt_total);
        if !stopped_selling(&li.values, &li.in_stock) {
            input.mean_daily_demand = None;
        }
    }
    let mut plan = replenish::plan(&input);
    if let Some(note) = &li.not_for_reorder {
        hold(&mut plan, note.as_deref());
    }
    let stored = supply::Stored::of(&input, &plan);
    let stored = if li.not_for_reorder.is_some() {
        stored.held()
    } else {
        stored
    };
    let supply = serde_json::to_string(&stored).unwrap_or_default();
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
    let line_flags = all_flags(&li, available, &open, &fc.point, today);
    let contributions = std::mem::take(&mut li.contributions);
    let mut explanation = explain(
        &li,
        &fc,
        &lt_total,
        &plan,
        Explained {
            sd,
            per_day,
            period,
            lead_time: lt,
            flags: &line_flags,
            reconciled,
            calibrated: calibration.is_some().then_some(today),
        },
        contributions,
    );
    edits::explain(&mut explanation, edit.as_ref(), &li.edits.conflicts);
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
        flags: serde_json::to_string(&line_flags).unwrap_or_else(|_| "[]".into()),
    };
    let detail = LineDetail {
        accounts: serde_json::to_string(&li.accounts).unwrap_or_else(|_| "[]".into()),
        explanation: serde_json::to_string(&explanation).unwrap_or_default(),
        supply,
    };
    (row, detail)
}

/// Figures of a line that its explanation shows besides the engine's.
struct Explained<'a> {
    sd: f64,
    per_day: f64,
    period: f64,
    lead_time: f64,
    flags: &'a [Flag],
    reconciled: Option<Reconciled>,
    /// The planning date whose catalogue calibration the line applied.
    calibrated: Option<NaiveDate>,
}

/// The explanation of a line (`api.md`): the demand and how it was
/// forecast, the safety stock's terms, each child's contribution, every
/// rounding step, every term of the engine's sum, notes and flags.
fn explain(
    li: &LineInput,
    fc: &forecast::Forecast,
    lt_total: &forecast::TotalDistribution,
    plan: &replenish::Plan,
    x: Explained,
    contributions: Vec<Contribution>,
) -> Explanation {
    let Explained {
        sd,
        per_day,
        period,
        lead_time: lt,
        flags: line_flags,
        reconciled,
        calibrated,
    } = x;
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
        ("not_for_reorder", "not for reorder"),
    ];
    let steps: Vec<Step> = plan
        .explanation
        .iter()
        .filter_map(|e| {
            let name = step_names.iter().find(|(t, _)| *t == e.term)?.1;
            Some(Step {
                step: name.to_string(),
                quantity: round6(e.value),
                note: e.text.clone(),
            })
        })
        .collect();
    let terms: Vec<Term> = plan
        .explanation
        .iter()
        .map(|e| Term {
            term: e.term.clone(),
            value: round6(e.value),
            text: e.text.clone(),
        })
        .collect();
    let mut notes: Vec<String> = Vec::new();
    notes.extend(reconciled.map(|r| reconciliation_note(&r)));
    notes.extend(pooling_note(&li.accounts, plan.order_quantity));
    if let Some(day) = calibrated {
        notes.push(format!(
            "The lead-time demand's distribution and the forecast's band are calibrated on the catalogue's held-out windows: the account's lines forecast from their history before each of their last three {}-day windows and checked against them, fitted for the planning date {day}.",
            crate::planning::calibrate::WINDOW
        ));
    }
    if li.bundle {
        notes.push(
            "A bundle ships as its components: its sales count as their demand, and the bundle itself is never ordered."
                .into(),
        );
    }
    Explanation {
        demand: DemandExplained {
            method: fc.method.clone(),
            class: fc.class.name().to_string(),
            candidates: fc
                .candidates
                .iter()
                .map(|c| CandidateScore {
                    method: c.method.clone(),
                    score: c.score.map(round6),
                })
                .collect(),
            per_day: round6(per_day),
            coverage_days: period,
            history_days: li.values.len(),
            stockout_days_excluded: excluded,
            reconciled: reconciled.map(|r| ReconciledExplained {
                own_per_day: round6(r.own_per_day),
                children_per_day: round6(r.children_per_day),
                ratio: r.ratio.map(round6),
            }),
        },
        safety_stock: SafetyStockExplained {
            service_level: li.service_level,
            method: if plan.safety_stock_method == "distribution" {
                match calibrated {
                    Some(day) => format!(
                        "quantile of the lead-time demand ({}), calibrated on the catalogue's held-out windows (fitted for {day})",
                        lt_total.method
                    ),
                    None => format!("quantile of the lead-time demand ({})", lt_total.method),
                }
            } else {
                plan.safety_stock_method.to_string()
            },
            z: round6(plan.z),
            sigma_daily: round6(sd),
            lead_time_days: lt,
            lead_time_sigma_days: None,
            value: round6(plan.safety_stock),
        },
        contributions,
        steps,
        terms,
        notes,
        flags: line_flags.to_vec(),
        ..Explanation::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::supply::tests::line;
    use serde_json::{json, Value};

    #[test]
    fn a_master_is_reconciled_to_the_sum_of_its_childrens_demand() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        // Its own fit on the combined history: 3 a day; its children's own
        // plans: 4.5 a day in all (each lost sales in its own stockouts).
        let mut li = line(vec![3.0; 200], 0.0);
        li.children_per_day = Some(4.5);
        let (row, detail) = compute_line("m", today, li, None);
        // Coverage 10.5 + 21 = 31.5 days at 4.5 a day.
        assert_eq!(row.demand_per_day, 4.5);
        assert_eq!(row.coverage_demand, 141.75);
        let e: Value = serde_json::from_str(&detail.explanation).unwrap();
        assert_eq!(
            e["demand"]["reconciled"],
            json!({"own_per_day": 3.0, "children_per_day": 4.5, "ratio": 1.5})
        );
        assert!(e["notes"][0]
            .as_str()
            .unwrap()
            .contains("(4.5 a day in all)"));
        // Where the combined history's model forecasts nothing, the
        // children's rate is used flat, with a Poisson lead-time total.
        let mut values = vec![2.0; 100];
        values.extend(vec![0.0; 100]);
        let mut li = line(values, 0.0);
        li.children_per_day = Some(2.0);
        let (row, detail) = compute_line("m", today, li, None);
        assert_eq!(row.demand_per_day, 2.0);
        let e: Value = serde_json::from_str(&detail.explanation).unwrap();
        assert_eq!(e["demand"]["reconciled"]["ratio"], Value::Null);
        // A child's line (no children) is its own fit.
        let (row, detail) = compute_line("c", today, line(vec![3.0; 200], 0.0), None);
        assert_eq!(row.demand_per_day, 3.0);
        assert!(detail.explanation.contains("\"reconciled\":null"));
    }

    /// A series' values and in-stock days.
    type Series = (Vec<f64>, Vec<bool>);

    /// A catalogue of 80 irregular series of `days` days in stock, and the
    /// plan job's calibration fitted on it (not empty).
    fn catalogue(days: u64) -> (Vec<Series>, Calibration) {
        let series: Vec<Series> = (0..80u64)
            .map(|s| {
                let v: Vec<f64> = (0..days)
                    .map(|d| ((d * (s + 3) * 7919 + s * 104_729) % 13) as f64 * (1 + s % 4) as f64)
                    .collect();
                (v, vec![true; days as usize])
            })
            .collect();
        let cal = crate::planning::calibrate::fit(&series);
        assert!(!cal.is_empty());
        (series, cal)
    }

    /// A line that sold 2–6 a day for 200 days and nothing on its last 100
    /// days in stock: its calibrated distribution still mixes in last year's
    /// rate, and its 95 % quantile is well above its mean, but domain.md's
    /// rule holds — no demand, no safety stock: the buffer is scaled to the
    /// forecast's level as on an uncalibrated line. One day fewer without a
    /// sale than the flag's run and the calibrated buffer stands.
    #[test]
    fn a_calibrated_line_that_stopped_selling_keeps_no_buffer() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let (_, cal) = catalogue(300);
        let stopped = |quiet: usize| -> Vec<f64> {
            (0..300)
                .map(|d| {
                    if d < 300 - quiet {
                        2.0 + (d % 5) as f64
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mut li = line(stopped(NO_RECENT_SALES_DAYS + 10), 0.0);
        li.available = 50.0;
        let (row, detail) = compute_line("c", today, li, Some(&cal));
        let e: Value = serde_json::from_str(&detail.explanation).unwrap();
        let scale = e["terms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["term"] == "safety_stock_level")
            .map(|t| t["value"].as_f64().unwrap());
        assert!(scale.is_some_and(|s| s < 0.05), "{scale:?}");
        assert!(row.safety_stock < 0.5, "{}", row.safety_stock);
        assert_eq!(row.order_quantity, 0.0);
        // The same history one day short of the run: the calibrated
        // distribution's buffer, unscaled.
        let mut li = line(stopped(NO_RECENT_SALES_DAYS - 1), 0.0);
        li.available = 50.0;
        let (row, detail) = compute_line("c", today, li, Some(&cal));
        assert!(!detail.explanation.contains("safety_stock_level"));
        assert!(row.safety_stock > 1.0, "{}", row.safety_stock);
    }

    /// A line computed with a catalogue calibration: its safety stock's demand
    /// term is the calibrated lead-time total's 95 % quantile less its mean, as
    /// [`Calibration::apply`] on the engine's own forecast gives it (rescaled
    /// from 11 to 10.5 days), for smooth demand too; without one, a smooth
    /// line keeps the textbook formula.
    #[test]
    fn a_calibrated_line_reads_the_calibrated_lead_time_total() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let (series, cal) = catalogue(200);
        let li = line(series[5].0.clone(), 0.0);
        let input = SeriesInput {
            values: &li.values,
            in_stock: Some(&li.in_stock),
            season: 7,
        };
        let (mut fc, mut t) =
            forecast::forecast_with_total(&input, plan_horizon(&li), 11, &Options { fast: true });
        let raw_q = t.quantile(0.95) - t.mean;
        cal.apply(&input, &mut fc, &mut t);
        let expected = round6(((t.quantile(0.95) - t.mean) * (10.5f64 / 11.0).sqrt()).max(0.0));
        assert!((expected - round6(raw_q * (10.5f64 / 11.0).sqrt())).abs() > 1e-3);
        let (row, detail) = compute_line("c", today, line(series[5].0.clone(), 0.0), Some(&cal));
        let e: Value = serde_json::from_str(&detail.explanation).unwrap();
        let term = |e: &Value, name: &str| {
            e["terms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["term"] == name)
                .map(|t| t["value"].as_f64().unwrap())
        };
        // The demand term of the safety stock is the safety stock: the
        // calibrated distribution is at the forecast's level already, and is
        // not scaled down again where that level is below the history's.
        assert_eq!(term(&e, "safety_stock_demand"), Some(expected));
        assert_eq!(term(&e, "safety_stock_level"), None);
        assert_eq!(row.safety_stock, expected);
        assert!(e["safety_stock"]["method"]
            .as_str()
            .unwrap()
            .ends_with("calibrated on the catalogue's held-out windows (fitted for 2026-03-02)"));
        let (plain, detail) = compute_line("c", today, line(series[5].0.clone(), 0.0), None);
        assert_ne!(plain.safety_stock, row.safety_stock);
        if !fc.class.is_sporadic() {
            assert!(detail.explanation.contains("\"method\":\"textbook\""));
        }
        // Demand halving over the history: uncalibrated, the buffer is scaled
        // down to the forecast's level; calibrated, it is not scaled again.
        let fading: Vec<f64> = (0..200)
            .map(|d| series[5].0[d] * (2.0 - d as f64 / 100.0).max(0.5))
            .collect();
        let (_, detail) = compute_line("c", today, line(fading.clone(), 0.0), None);
        let e: Value = serde_json::from_str(&detail.explanation).unwrap();
        assert!(term(&e, "safety_stock_level").is_some());
        let (row, detail) = compute_line("c", today, line(fading, 0.0), Some(&cal));
        let e: Value = serde_json::from_str(&detail.explanation).unwrap();
        assert_eq!(term(&e, "safety_stock_level"), None);
        assert_eq!(term(&e, "safety_stock_demand"), Some(row.safety_stock));
    }
}
