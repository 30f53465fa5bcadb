//! Replenishment: from a daily demand forecast and the stock position of one variant to its
//! safety stock, reorder point, order quantity, order-by day and days of cover, with every number
//! explained step by step (domain.md, "Planning").
//!
//! Pure: no database, no HTTP, no clock. Days are offsets from the planning date (day 0 = today,
//! the first day not yet over); the caller turns them into dates.
//!
//! Conventions:
//! - quantities are `f64` units; the daily forecast is indexed by day offset (element 0 = today)
//!   and is extended with its last value when a calculation needs more days;
//! - lead time and days of stock may be fractional; demand over a fractional span counts the
//!   fraction of the last day;
//! - **rounding**: the order quantity is rounded up to whole units, then raised to the vendor's
//!   minimum order quantity, then rounded up to a multiple of the pack size (a fractional pack
//!   size, e.g. 0.5 kg, gives multiples of that size — the only case with non-whole quantities),
//!   then capped by max stock (rounded *down* to a pack multiple so the cap holds; where the cap
//!   would leave an order above 0 but below the MOQ, the MOQ wins), then raised so stock reaches
//!   min stock (rounded up to a pack multiple, and at least the MOQ; min stock wins over max
//!   stock when the two conflict). A quantity above 0 is never below the MOQ. Every step that
//!   applies is an explanation line;
//! - projected stock at the end of day `d` = available + open orders expected on or before `d`
//!   (past-due orders count from day 0) − forecast demand of days `0..=d`.

use serde::Serialize;

use crate::forecast::TotalDistribution;

/// Default lead time in days when nothing more specific is set.
pub const DEFAULT_LEAD_TIME_DAYS: f64 = 14.0;
/// Default days of stock to cover (the order cycle).
pub const DEFAULT_DAYS_OF_STOCK: f64 = 30.0;
/// Default target service level.
pub const DEFAULT_SERVICE_LEVEL: f64 = 0.95;

/// An open purchase (or transfer) order line for the variant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OpenOrder {
    /// Units still to be received.
    pub quantity: f64,
    /// Expected arrival, in days from the planning date (negative = overdue, counted as today).
    pub expected_day: i64,
}

/// Everything the plan of one variant needs.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    /// Whether stock is tracked; untracked variants plan zero.
    pub tracked: bool,
    /// Available stock now (units).
    pub available: f64,
    /// Open orders not yet received.
    pub open_orders: &'a [OpenOrder],
    /// Forecast demand per day from today (day 0).
    pub daily_forecast: &'a [f64],
    /// Mean daily demand on in-stock days (see [`demand_stats`]); used in the lead-time term of
    /// King's formula. `None`: the mean of the forecast over the lead time.
    pub mean_daily_demand: Option<f64>,
    /// Standard deviation of daily demand on in-stock days (see [`demand_stats`]).
    pub demand_sd: f64,
    /// Lead time in days (variant's own, else vendor's, else account's, else
    /// [`DEFAULT_LEAD_TIME_DAYS`]).
    pub lead_time_days: f64,
    /// Standard deviation of the lead time in days, when known.
    pub lead_time_sd_days: Option<f64>,
    /// Days of stock to cover after the lead time (the order cycle).
    pub days_of_stock: f64,
    /// Target service level (probability of no stock-out during the lead time), e.g. 0.95.
    pub service_level: f64,
    /// Vendor minimum order quantity.
    pub moq: Option<f64>,
    /// Vendor pack size (order in multiples of it).
    pub pack_size: Option<f64>,
    /// Maximum stock position (available + on order) after ordering.
    pub max_stock: Option<f64>,
    /// Minimum stock position (available + on order) after ordering.
    pub min_stock: Option<f64>,
    /// Predictive distribution of the total demand over the lead time (see
    /// [`crate::forecast::total_distribution`], computed for `ceil(lead_time_days)` days). When
    /// given, safety stock = its service-level quantile − its mean (plus King's lead-time
    /// term); when `None`, the textbook normal formula `z·σ·√L` (plus King's term).
    pub lead_time_demand: Option<&'a TotalDistribution>,
}

impl Default for PlanInput<'_> {
    /// A tracked variant with nothing in stock, no forecast, no orders and the domain's
    /// defaults: lead time [`DEFAULT_LEAD_TIME_DAYS`], days of stock [`DEFAULT_DAYS_OF_STOCK`],
    /// service level [`DEFAULT_SERVICE_LEVEL`], textbook safety stock. Callers set what they
    /// know and write `..PlanInput::default()` for the rest.
    fn default() -> Self {
        PlanInput {
            tracked: true,
            available: 0.0,
            open_orders: &[],
            daily_forecast: &[],
            mean_daily_demand: None,
            demand_sd: 0.0,
            lead_time_days: DEFAULT_LEAD_TIME_DAYS,
            lead_time_sd_days: None,
            days_of_stock: DEFAULT_DAYS_OF_STOCK,
            service_level: DEFAULT_SERVICE_LEVEL,
            moq: None,
            pack_size: None,
            max_stock: None,
            min_stock: None,
            lead_time_demand: None,
        }
    }
}

/// One step of the explanation of a plan line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// Short machine-friendly name of the term (e.g. `safety_stock`).
    pub term: String,
    /// Its value.
    pub value: f64,
    /// A sentence a merchant can follow.
    pub text: String,
}

/// The replenishment plan of one variant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// Forecast demand over the lead time.
    pub lead_time_demand: f64,
    /// Forecast demand over lead time + days of stock.
    pub coverage_demand: f64,
    /// z of the service level (one-sided standard normal quantile).
    pub z: f64,
    /// Safety stock (units, not rounded).
    pub safety_stock: f64,
    /// How the demand part of the safety stock was computed: `distribution` (quantile of the
    /// lead-time demand distribution − its mean) or `textbook` (z·σ·√L).
    pub safety_stock_method: &'static str,
    /// Reorder point = lead-time demand + safety stock.
    pub reorder_point: f64,
    /// Units on order (sum of open orders).
    pub on_order: f64,
    /// Recommended order quantity after all rounding steps.
    pub order_quantity: f64,
    /// Latest day (offset from today) to place the order; `None` if not needed within the
    /// planning period.
    pub order_by_day: Option<i64>,
    /// Days the available stock plus open orders last against the forecast; `None` if demand is
    /// zero (they never run out within ten years).
    pub days_of_cover: Option<f64>,
    /// How each number came about.
    pub explanation: Vec<Explanation>,
    /// The lead-time total's quantile at the service level, when a
    /// distribution was given (what the supply plan stores with the line).
    pub lead_time_quantile: Option<f64>,
}

/// Mean and standard deviation (sample, n − 1) of daily demand over in-stock days only.
/// Returns `(0, 0)` with no in-stock day and a deviation of 0 with a single one.
pub fn demand_stats(daily_demand: &[f64], in_stock: Option<&[bool]>) -> (f64, f64) {
    let vals: Vec<f64> = daily_demand
        .iter()
        .enumerate()
        .filter(|(i, _)| in_stock.is_none_or(|s| s.get(*i).copied().unwrap_or(true)))
        .map(|(_, &v)| v)
        .collect();
    let n = vals.len() as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = vals.iter().sum::<f64>() / n;
    if n < 2.0 {
        return (mean, 0.0);
    }
    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error below
/// 1.2e-9). `p` is clamped to [1e-12, 1 − 1e-12].
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Forecast demand of day `d` (the last forecast value beyond the end; 0 if empty).
fn day_demand(fc: &[f64], d: usize) -> f64 {
    fc.get(d).or(fc.last()).copied().unwrap_or(0.0).max(0.0)
}

/// Forecast demand over `days` days from today (fractional days count proportionally). Days
/// beyond the forecast repeat its last value, in closed form, so any span costs at most one
/// pass over the forecast.
pub fn demand_over(fc: &[f64], days: f64) -> f64 {
    let days = if days.is_finite() { days.max(0.0) } else { 0.0 };
    let whole = days.floor();
    let len = fc.len();
    let inside = (whole.min(len as f64)) as usize;
    let mut s: f64 = (0..inside).map(|d| day_demand(fc, d)).sum();
    if whole > len as f64 {
        s += (whole - len as f64) * day_demand(fc, len);
    }
    let frac = days - whole;
    if frac > 0.0 {
        s += frac * day_demand(fc, whole as usize);
    }
    s
}

/// Rounds `q` up to a multiple of `pack` (whole units if there is no pack size).
pub(crate) fn round_up(q: f64, pack: Option<f64>) -> f64 {
    match pack {
        Some(p) if p > 0.0 && (q / p).is_finite() => (q / p - 1e-9).ceil().max(0.0) * p,
        Some(p) if p > 0.0 => q.max(0.0),
        _ => (q - 1e-9).ceil().max(0.0),
    }
}

/// Rounds `q` down to a multiple of `pack` (whole units if there is no pack size).
fn round_down(q: f64, pack: Option<f64>) -> f64 {
    match pack {
        Some(p) if p > 0.0 && (q / p).is_finite() => (q / p + 1e-9).floor().max(0.0) * p,
        Some(p) if p > 0.0 => q.max(0.0),
        _ => (q + 1e-9).floor().max(0.0),
    }
}

/// Computes the plan of one variant (see the module docs for every convention).
pub fn plan(input: &PlanInput) -> Plan {
    let mut ex: Vec<Explanation> = Vec::new();
    let mut say = |term: &str, value: f64, text: String| {
        ex.push(Explanation {
            term: term.to_string(),
            value,
            text,
        })
    };
    if !input.tracked {
        say(
            "untracked",
            0.0,
            "Stock is not tracked for this variant: nothing is planned or ordered.".into(),
        );
        return Plan {
            lead_time_demand: 0.0,
            coverage_demand: 0.0,
            z: 0.0,
            safety_stock: 0.0,
            safety_stock_method: "none",
            reorder_point: 0.0,
            on_order: 0.0,
            order_quantity: 0.0,
            order_by_day: None,
            days_of_cover: None,
            explanation: ex,
            lead_time_quantile: None,
        };
    }
    let fc = input.daily_forecast;
    let lt = input.lead_time_days.max(0.0);
    let cycle = input.days_of_stock.max(0.0);
    let period = lt + cycle;
    let ltd = demand_over(fc, lt);
    let coverage = demand_over(fc, period);
    say(
        "lead_time_demand",
        ltd,
        format!("Forecast demand over the lead time of {lt} days: {ltd:.2}."),
    );
    say(
        "coverage_demand",
        coverage,
        format!(
            "Forecast demand over the planning period, lead time {lt} + days of stock {cycle} = {period} days: {coverage:.2}."
        ),
    );
    let sl = input.service_level;
    let z = inverse_normal_cdf(sl);
    say(
        "z",
        z,
        format!(
            "Service level {:.1} % → z = {z:.4} (one-sided normal quantile).",
            sl * 100.0
        ),
    );
    let mut lead_time_quantile = None;
    let (demand_term, method) = match input.lead_time_demand {
        Some(d) => {
            let sl_q = if sl.is_finite() {
                sl.clamp(0.0, 1.0)
            } else {
                0.5
            };
            let q = d.quantile(sl_q);
            lead_time_quantile = Some(q);
            // A distribution for another span than the lead time is rescaled by √(L / span).
            let span = d.periods as f64;
            let k = if span > 0.0 && (span - lt).abs() > 1e-9 {
                (lt / span).sqrt()
            } else {
                1.0
            };
            let v = ((q - d.mean) * k).max(0.0);
            say(
                "safety_stock_demand",
                v,
                format!(
                    "Demand variability from the distribution of lead-time demand ({}): {:.1} % quantile {q:.2} − mean {:.2}{} = {v:.2}.",
                    d.method,
                    sl_q * 100.0,
                    d.mean,
                    if k != 1.0 { format!(", rescaled from {span} to {lt} days by √({lt}/{span})") } else { String::new() }
                ),
            );
            (v, "distribution")
        }
        None => {
            let v = z * input.demand_sd.max(0.0) * lt.sqrt();
            say(
                "safety_stock_demand",
                v,
                format!(
                    "Demand variability (textbook, normal): z {z:.4} × σ of daily demand on in-stock days {:.4} × √(lead time {lt}) = {v:.2}.",
                    input.demand_sd
                ),
            );
            (v, "textbook")
        }
    };
    let mean_daily = input.mean_daily_demand.unwrap_or(if lt > 0.0 {
        ltd / lt
    } else {
        day_demand(fc, 0)
    });
    let lt_term = match input.lead_time_sd_days {
        Some(sd) if sd > 0.0 => {
            let v = z * mean_daily * sd;
            say(
                "safety_stock_lead_time",
                v,
                format!(
                    "Lead-time variability (King): z {z:.4} × mean daily demand {mean_daily:.4} × σ of lead time {sd} days = {v:.2}."
                ),
            );
            v
        }
        _ => 0.0,
    };
    // domain.md: safety stock follows the demand level the forecast uses.
    // Its variability comes from the history; where the forecast expects
    // less than the history's in-stock rate (a product that stopped
    // selling), the buffer shrinks in proportion — no demand, no safety
    // stock, however variable the history was.
    let level = if lt > 0.0 {
        ltd / lt
    } else {
        day_demand(fc, 0)
    };
    let scale = match input.mean_daily_demand {
        Some(m) if m > 0.0 && level < m => (level / m).max(0.0),
        _ => 1.0,
    };
    if scale < 1.0 && coverage > 0.0 {
        say(
            "safety_stock_level",
            scale,
            format!(
                "The forecast expects {level:.4} a day, below the history's in-stock rate of {:.4}: the buffer is scaled by {scale:.4}.",
                input.mean_daily_demand.unwrap_or(0.0)
            ),
        );
    }
    let safety_stock = if coverage > 0.0 {
        ((demand_term + lt_term) * scale).max(0.0)
    } else {
        0.0
    };
    say(
        "safety_stock",
        safety_stock,
        if coverage > 0.0 {
            format!("Safety stock: {safety_stock:.2}.")
        } else {
            "Safety stock: 0, because the forecast expects no demand over the planning period."
                .into()
        },
    );
    let reorder_point = ltd + safety_stock;
    say(
        "reorder_point",
        reorder_point,
        format!(
            "Reorder point = lead-time demand {ltd:.2} + safety stock {safety_stock:.2} = {reorder_point:.2}."
        ),
    );
    // `+ 0.0`: an empty sum is −0.0, which would read "on order -0".
    let on_order: f64 = input.open_orders.iter().map(|o| o.quantity).sum::<f64>() + 0.0;
    let avail = input.available;
    let raw = coverage + safety_stock - avail - on_order;
    say(
        "net_need",
        raw,
        format!(
            "Need = coverage demand {coverage:.2} + safety stock {safety_stock:.2} − available {avail} − on order {on_order} = {raw:.2}."
        ),
    );
    let pack = input.pack_size.filter(|p| *p > 0.0);
    let mut q = raw.max(0.0);
    if raw < 0.0 {
        say(
            "never_negative",
            0.0,
            "The need is negative: stock and open orders cover the period, order 0.".into(),
        );
    }
    if q > 0.0 {
        let whole = match pack {
            Some(p) if p.fract() != 0.0 => q,
            _ => round_up(q, None),
        };
        if whole != q {
            say(
                "round_whole_units",
                whole,
                format!("Rounded up to whole units: {q:.2} → {whole}."),
            );
        }
        q = whole;
        if let Some(moq) = input.moq.filter(|m| *m > 0.0) {
            if q < moq {
                say(
                    "moq",
                    moq,
                    format!("Raised to the vendor's minimum order quantity: {q} → {moq}."),
                );
                q = moq;
            }
        }
        if let Some(p) = pack {
            let r = round_up(q, Some(p));
            if r != q {
                say(
                    "pack_size",
                    r,
                    format!("Rounded up to a multiple of the pack size {p}: {q} → {r}."),
                );
            }
            q = r;
        }
    }
    let moq = input.moq.filter(|m| *m > 0.0);
    // The smallest order a vendor accepts, in whole packs.
    let least = moq.map(|m| round_up(m, pack));
    if let Some(max) = input.max_stock {
        let headroom = (max - avail - on_order).max(0.0);
        if q > headroom {
            let capped = round_down(headroom, pack);
            match least {
                Some(least) if capped > 0.0 && capped < least => {
                    say(
                        "max_stock",
                        least,
                        format!(
                            "Max stock {max} leaves room for {headroom} (available {avail} + on order {on_order}), {capped} in whole packs, which is below the vendor's minimum order quantity: the MOQ wins, {q} → {least}."
                        ),
                    );
                    q = least;
                }
                _ => {
                    say(
                        "max_stock",
                        capped,
                        format!(
                            "Capped by max stock {max}: available {avail} + on order {on_order} leaves room for {headroom}; {q} → {capped}."
                        ),
                    );
                    q = capped;
                }
            }
        }
    }
    if let Some(min) = input.min_stock {
        let short = min - avail - on_order - q;
        if short > 0.0 {
            let mut r = round_up(q + short, pack);
            let mut note = String::new();
            if let Some(least) = least.filter(|l| r < *l) {
                r = least;
                note = format!(", at least the vendor's minimum order quantity {least}");
            }
            say(
                "min_stock",
                r,
                format!(
                    "Raised so stock reaches min stock {min}: available {avail} + on order {on_order} + order {q} is short by {short}; {q} → {r}{note}."
                ),
            );
            q = r;
        }
    }
    say("order_quantity", q, format!("Order quantity: {q}."));
    // Order-by day: first day within the planning period on which projected stock falls below
    // safety stock, minus the lead time, never before today.
    let horizon = period.ceil() as usize;
    let below = first_day_below(avail, input.open_orders, fc, safety_stock, horizon);
    let order_by_day = below
        .filter(|_| q > 0.0)
        .map(|d| ((d as f64 - lt).floor() as i64).max(0));
    let days_of_cover = cover(avail, input.open_orders, fc);
    match (below, order_by_day) {
        (Some(d), Some(o)) => say(
            "order_by",
            o as f64,
            format!(
                "Projected stock falls below safety stock on day {d}; minus lead time {lt} → order by day {o}{}.",
                late_note(d, lt, days_of_cover, safety_stock)
            ),
        ),
        (Some(d), None) => {
            let late = input
                .open_orders
                .iter()
                .any(|o| o.expected_day.max(0) as usize > d);
            say(
                "order_by",
                f64::NAN,
                if late {
                    format!("Nothing more to order, but projected stock falls below safety stock on day {d}, before an open order arrives: the risk is the late order, not a missing one.")
                } else {
                    format!("Nothing to order, so no order date (projected stock falls below safety stock on day {d}).")
                },
            )
        }
        _ => say(
            "order_by",
            f64::NAN,
            format!("Projected stock stays above safety stock for the {horizon}-day planning period: no order date."),
        ),
    }
    if let Some(c) = days_of_cover {
        say(
            "days_of_cover",
            c,
            format!("Available stock plus open orders last {c:.1} days at the forecast demand."),
        );
    }
    Plan {
        lead_time_demand: ltd,
        coverage_demand: coverage,
        z,
        safety_stock,
        safety_stock_method: method,
        reorder_point,
        on_order,
        order_quantity: q,
        order_by_day,
        days_of_cover,
        explanation: ex,
        lead_time_quantile,
    }
}

/// Why an order is due today when stock falls below safety stock on day
/// `d`, sooner than the lead time `lt`: stock runs out before an order
/// placed now arrives (late), or it lasts beyond the lead time and only the
/// safety stock, the buffer against demand above the forecast, would be
/// used up by then (due, not late).
fn late_note(d: usize, lt: f64, cover: Option<f64>, safety_stock: f64) -> String {
    if (d as f64) >= lt {
        return String::new();
    }
    match cover {
        Some(c) if c >= lt => format!(
            " (today: stock lasts {c:.1} days at the forecast, longer than the lead time, but an order placed now arrives on day {lt} with less than the safety stock of {safety_stock:.2} left; the safety stock is the buffer against demand above the forecast)"
        ),
        Some(c) => format!(
            " (today: it is already late: stock lasts {c:.1} days, an order placed now arrives on day {lt})"
        ),
        None => " (today: it is already late)".into(),
    }
}

/// First day `d < horizon` at whose end projected stock (available + arrivals on or before `d`
/// − forecast demand of days `0..=d`) is below `threshold`. Day by day while the forecast
/// varies; beyond it, where daily demand is constant, segment by segment between arrivals in
/// closed form, so a span of any length costs O(forecast + orders).
fn first_day_below(
    available: f64,
    orders: &[OpenOrder],
    fc: &[f64],
    threshold: f64,
    horizon: usize,
) -> Option<usize> {
    let mut days: Vec<(usize, f64)> = orders
        .iter()
        .map(|o| (o.expected_day.max(0) as usize, o.quantity))
        .collect();
    days.sort_by_key(|d| d.0);
    let mut next = 0;
    let mut stock = available;
    let explicit = horizon.min(fc.len());
    for d in 0..explicit {
        while next < days.len() && days[next].0 <= d {
            stock += days[next].1;
            next += 1;
        }
        stock -= day_demand(fc, d);
        if stock < threshold {
            return Some(d);
        }
    }
    // Constant demand `rate` per day from day `explicit` on.
    let rate = day_demand(fc, explicit);
    let mut d = explicit;
    while d < horizon {
        while next < days.len() && days[next].0 <= d {
            stock += days[next].1;
            next += 1;
        }
        // Days d..seg_end have no arrival after day d's.
        let seg_end = days.get(next).map_or(horizon, |a| a.0.min(horizon));
        // End of day d + j: stock − rate·(j + 1); first j with that below the threshold.
        let j = if stock - rate < threshold {
            0.0
        } else if rate > 0.0 {
            ((stock - threshold) / rate).floor()
        } else {
            f64::INFINITY
        };
        if j < (seg_end - d) as f64 {
            return Some(d + j as usize);
        }
        stock -= rate * (seg_end - d) as f64;
        d = seg_end;
    }
    None
}

/// Units arriving on day `d` (overdue orders arrive on day 0).
fn arrivals(orders: &[OpenOrder], d: usize) -> f64 {
    orders
        .iter()
        .filter(|o| o.expected_day.max(0) as usize == d)
        .map(|o| o.quantity)
        .sum()
}

/// Days until available stock plus open orders (on their days) run out, with the fraction of the
/// last day; `None` if that does not happen within ten years.
fn cover(available: f64, orders: &[OpenOrder], fc: &[f64]) -> Option<f64> {
    const DAYS: usize = 3650;
    let mut stock = available.max(0.0);
    // Day by day while the forecast or the arrivals still change; after
    // that demand is the forecast's last value every day, in closed form.
    let last_arrival = orders
        .iter()
        .map(|o| o.expected_day.max(0) as usize)
        .max()
        .unwrap_or(0);
    let stepped = fc.len().max(last_arrival + 1).min(DAYS);
    for d in 0..stepped {
        stock += arrivals(orders, d);
        let dem = day_demand(fc, d);
        if dem >= stock && dem > 0.0 {
            return Some(d as f64 + stock / dem);
        }
        stock -= dem;
    }
    let dem = day_demand(fc, stepped);
    if dem <= 0.0 {
        return None;
    }
    // The first whole day k from `stepped` on whose demand reaches what is left.
    let k = (stock / dem - 1.0).ceil().max(0.0);
    let left = stock - k * dem;
    let day = stepped as f64 + k;
    (day < DAYS as f64).then(|| day + left / dem)
}

/// One bundle (kit, multipack) a component is part of: the bundle's daily sales and how many
/// units of the component one bundle contains.
#[derive(Clone, Copy, Debug)]
pub struct BundleUse<'a> {
    /// Daily sales of the bundle, oldest first, ending on the same day as the component's.
    pub bundle_sales: &'a [f64],
    /// Units of the component per bundle.
    pub quantity: f64,
}

/// Demand of a component: its own daily sales plus, for every bundle containing it, bundle sales
/// × component quantity. Series are aligned at their last day (all end the day before the
/// planning date); the result is as long as the longest input.
pub fn component_demand(own_sales: &[f64], bundles: &[BundleUse]) -> Vec<f64> {
    let len = bundles
        .iter()
        .map(|b| b.bundle_sales.len())
        .chain(std::iter::once(own_sales.len()))
        .max()
        .unwrap_or(0);
    let mut out = vec![0.0; len];
    let add = |out: &mut [f64], s: &[f64], k: f64| {
        let off = len - s.len();
        for (o, v) in out[off..].iter_mut().zip(s) {
            *o += v * k;
        }
    };
    add(&mut out, own_sales, 1.0);
    for b in bundles {
        add(&mut out, b.bundle_sales, b.quantity);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base<'a>(fc: &'a [f64], orders: &'a [OpenOrder]) -> PlanInput<'a> {
        PlanInput {
            tracked: true,
            available: 300.0,
            open_orders: orders,
            daily_forecast: fc,
            mean_daily_demand: None,
            demand_sd: 4.0,
            lead_time_days: 14.0,
            lead_time_sd_days: Some(2.0),
            days_of_stock: 30.0,
            service_level: 0.95,
            moq: Some(100.0),
            pack_size: Some(25.0),
            max_stock: Some(600.0),
            min_stock: None,
            lead_time_demand: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn inverse_normal_known_values() {
        assert!((inverse_normal_cdf(0.95) - 1.644_853_626_951_472_2).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.99) - 2.326_347_874_040_841).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.999) - 3.090_232_306_167_813_5).abs() < 1e-8);
        assert!(inverse_normal_cdf(0.5).abs() < 1e-12);
        assert!((inverse_normal_cdf(0.01) + 2.326_347_874_040_841).abs() < 1e-8);
    }

    #[test]
    fn worked_example() {
        // Flat forecast 10/day; lead time 14 d (σ 2 d), 30 days of stock, 95 % → z = 1.64485.
        // Lead-time demand = 14 × 10 = 140; coverage = 44 × 10 = 440.
        // Safety stock = z·4·√14 + z·10·2 = 1.6448536·(14.9666295 + 20) = 57.5149874.
        // Reorder point = 140 + 57.5149874 = 197.5149874.
        // Need = 440 + 57.5149874 − 300 − 50 = 147.5149874 → whole units 148 → MOQ 100 no
        // change → pack 25: 150 → max 600 leaves 250, no cap → order 150.
        // Projected stock end of day d (order of 50 on day 5): 300 + 50 − 10(d+1) < 57.515
        // first at d = 29 → order by 29 − 14 = day 15.
        // Cover: 350 units at 10/day → 35.0 days.
        let fc = [10.0; 60];
        let orders = [OpenOrder {
            quantity: 50.0,
            expected_day: 5,
        }];
        let p = plan(&base(&fc, &orders));
        assert!(close(p.lead_time_demand, 140.0));
        assert!(close(p.coverage_demand, 440.0));
        assert!((p.safety_stock - 57.514_987_432_808_98).abs() < 1e-6);
        assert!((p.reorder_point - 197.514_987_432_809).abs() < 1e-6);
        assert_eq!(p.on_order, 50.0);
        assert_eq!(p.order_quantity, 150.0);
        assert_eq!(p.order_by_day, Some(15));
        assert!(close(p.days_of_cover.unwrap(), 35.0));
        let terms: Vec<&str> = p.explanation.iter().map(|e| e.term.as_str()).collect();
        assert!(terms.contains(&"round_whole_units") && terms.contains(&"pack_size"));
        assert!(!terms.contains(&"moq") && !terms.contains(&"max_stock"));
    }

    #[test]
    fn moq_pack_and_max() {
        let fc = [10.0; 60];
        // available 400, nothing on order: need = 440 + 57.515 − 400 = 97.515 → 98 → MOQ 100
        // → pack 25: 100 (already a multiple) → max 600 leaves 200 → 100.
        let mut i = base(&fc, &[]);
        i.available = 400.0;
        assert_eq!(plan(&i).order_quantity, 100.0);
        // MOQ 110 → pack 25 rounds 110 up to 125.
        i.moq = Some(110.0);
        let p = plan(&i);
        assert_eq!(p.order_quantity, 125.0);
        // Max stock 480 leaves 80 → 75 in whole packs, below the MOQ of 110: the MOQ wins, in
        // whole packs 125 (domain.md: a quantity above 0 is never below the MOQ).
        i.max_stock = Some(480.0);
        let p = plan(&i);
        assert_eq!(p.order_quantity, 125.0);
        assert!(p
            .explanation
            .iter()
            .any(|e| e.term == "max_stock" && e.value == 125.0 && e.text.contains("MOQ wins")));
        // Max stock 410 leaves 10 → 0 whole packs: nothing is ordered (0 may be below the MOQ).
        i.max_stock = Some(410.0);
        let p = plan(&i);
        assert_eq!(p.order_quantity, 0.0);
        assert_eq!(p.order_by_day, None);
    }

    #[test]
    fn never_negative_and_min_stock() {
        let fc = [1.0; 60];
        // Need = 44 + SS − 1000 < 0 → 0.
        let mut i = base(&fc, &[]);
        i.available = 1000.0;
        i.max_stock = None;
        let p = plan(&i);
        assert_eq!(p.order_quantity, 0.0);
        assert_eq!(p.order_by_day, None);
        // Min stock 1110: short by 1110 − 1000 = 110 → rounded up to the pack of 25: 125.
        i.min_stock = Some(1110.0);
        assert_eq!(plan(&i).order_quantity, 125.0);
        // Min stock 1010: short by 10 → one pack of 25, raised to the MOQ (in packs).
        i.min_stock = Some(1010.0);
        i.moq = Some(60.0);
        assert_eq!(plan(&i).order_quantity, 75.0);
    }

    #[test]
    fn fractional_pack_and_no_pack() {
        // σ = 0 and no lead-time sd → no safety stock. Need = 44·1.3 − 50 = 7.2.
        let fc = [1.3; 60];
        let mut i = base(&fc, &[]);
        i.available = 50.0;
        i.demand_sd = 0.0;
        i.lead_time_sd_days = None;
        i.moq = None;
        i.max_stock = None;
        i.pack_size = Some(0.5);
        // fractional pack: no whole-unit step, 7.2 → 7.5
        assert!(close(plan(&i).order_quantity, 7.5));
        i.pack_size = None;
        // whole units: 7.2 → 8
        assert_eq!(plan(&i).order_quantity, 8.0);
    }

    #[test]
    fn order_by_today_when_already_late() {
        // 10/day, available 100, SS 57.515: end of day 4 stock 50 < SS → 4 − 14 < 0 → today.
        let fc = [10.0; 60];
        let mut i = base(&fc, &[]);
        i.available = 100.0;
        let p = plan(&i);
        assert_eq!(p.order_by_day, Some(0));
        let text = |p: &Plan| {
            p.explanation
                .iter()
                .find(|e| e.term == "order_by")
                .unwrap()
                .text
                .clone()
        };
        assert!(
            text(&p).ends_with("(today: it is already late: stock lasts 10.0 days, an order placed now arrives on day 14)."),
            "{}",
            text(&p)
        );
        // 160 available lasts 16 days, past the lead time, but falls below
        // the safety stock on day 10 (160 − 110 = 50 < 57.5): due today,
        // and the explanation says it is the buffer, not a stockout.
        i.available = 160.0;
        let p = plan(&i);
        assert_eq!(p.order_by_day, Some(0));
        assert!(
            text(&p).contains("order by day 0 (today: stock lasts 16.0 days at the forecast, longer than the lead time, but an order placed now arrives on day 14 with less than the safety stock of 57.51 left"),
            "{}",
            text(&p)
        );
    }

    #[test]
    fn safety_stock_from_the_lead_time_demand_distribution() {
        // Quantiles 0 … 200 evenly over p = 0 … 1 (uniform on [0, 200]), mean 100: at 95 % the
        // quantile is 190, so the demand part of safety stock is 190 − 100 = 90.
        let fc = [10.0; 60];
        let qs: Vec<f64> = (0..=100).map(|i| 2.0 * i as f64).collect();
        let d = TotalDistribution::from_quantiles(14, 100.0, &qs);
        let mut i = base(&fc, &[]);
        i.lead_time_sd_days = None;
        i.lead_time_demand = Some(&d);
        let p = plan(&i);
        assert!(close(p.safety_stock, 90.0), "{}", p.safety_stock);
        assert_eq!(p.safety_stock_method, "distribution");
        assert!(close(p.reorder_point, 140.0 + 90.0));
        let e = p
            .explanation
            .iter()
            .find(|e| e.term == "safety_stock_demand")
            .unwrap();
        assert!(e.text.contains("distribution"), "{}", e.text);
        // King's lead-time term still adds: z · 10/day · σ 2 days.
        i.lead_time_sd_days = Some(2.0);
        let z = inverse_normal_cdf(0.95);
        assert!(close(plan(&i).safety_stock, 90.0 + z * 10.0 * 2.0));
        // A distribution over 7 days for a 14-day lead time is rescaled by √2.
        let d7 = TotalDistribution::from_quantiles(7, 100.0, &qs);
        i.lead_time_sd_days = None;
        i.lead_time_demand = Some(&d7);
        assert!(close(plan(&i).safety_stock, 90.0 * 2f64.sqrt()));
        // Without a distribution: the textbook formula, named as such.
        i.lead_time_demand = None;
        let p = plan(&i);
        assert_eq!(p.safety_stock_method, "textbook");
        assert!(close(p.safety_stock, z * 4.0 * 14f64.sqrt()));
    }

    #[test]
    fn defaults_follow_the_domain() {
        let fc = [2.0; 10];
        let p = plan(&PlanInput {
            daily_forecast: &fc,
            ..PlanInput::default()
        });
        // 14 days of lead time at 2/day, 44 days of planning period, nothing in stock.
        assert!(close(p.lead_time_demand, 28.0));
        assert!(close(p.coverage_demand, 88.0));
        assert_eq!(p.order_quantity, 88.0);
    }

    #[test]
    fn untracked_plans_zero() {
        let fc = [10.0; 60];
        let mut i = base(&fc, &[]);
        i.tracked = false;
        let p = plan(&i);
        assert_eq!(p.order_quantity, 0.0);
        assert_eq!(p.safety_stock, 0.0);
        assert_eq!(p.explanation[0].term, "untracked");
    }

    #[test]
    fn demand_stats_skip_out_of_stock_days() {
        // in-stock values 2, 4, 6: mean 4, sample sd 2.
        let (m, s) = demand_stats(&[2.0, 0.0, 4.0, 6.0], Some(&[true, false, true, true]));
        assert_eq!(m, 4.0);
        assert_eq!(s, 2.0);
    }

    #[test]
    fn fractional_lead_time_and_extension() {
        // forecast [1, 2, 3] extended with 3: 2.5 days → 1 + 2 + 0.5·3 = 4.5; 5 days → 12.
        assert_eq!(demand_over(&[1.0, 2.0, 3.0], 2.5), 4.5);
        assert_eq!(demand_over(&[1.0, 2.0, 3.0], 5.0), 12.0);
    }

    #[test]
    fn bundles_explode_onto_components() {
        // own [1, 1, 1]; a 2-pack sold [3, 0] on the last two days; a kit with 1 unit [1, 1, 1].
        let d = component_demand(
            &[1.0, 1.0, 1.0],
            &[
                BundleUse {
                    bundle_sales: &[3.0, 0.0],
                    quantity: 2.0,
                },
                BundleUse {
                    bundle_sales: &[1.0, 1.0, 1.0],
                    quantity: 1.0,
                },
            ],
        );
        assert_eq!(d, vec![2.0, 8.0, 2.0]);
    }

    /// Any finite inputs give finite outputs and no panic: zero, negative and huge lead times
    /// and days of stock, service levels at and beyond 0 and 1, tiny and huge packs and MOQs,
    /// max stock below min stock, overdue and far-future orders.
    /// Days of cover by hand, and the closed form past the forecast equal
    /// to stepping day by day for ten years.
    #[test]
    fn days_of_cover_by_hand_and_in_closed_form() {
        // 100 units at 2 a day: day 49 starts with 2 left, which it uses up.
        assert_eq!(cover(100.0, &[], &[2.0; 7]), Some(50.0));
        // 20 more arrive on day 10: ten days more.
        let order = OpenOrder {
            quantity: 20.0,
            expected_day: 10,
        };
        assert_eq!(cover(100.0, &[order], &[2.0; 7]), Some(60.0));
        // 0.01 a day never runs out of 176 within ten years.
        assert_eq!(cover(176.0, &[], &[0.01; 7]), None);
        assert_eq!(cover(5.0, &[], &[]), None);
        let stepped = |available: f64, orders: &[OpenOrder], fc: &[f64]| {
            let mut stock = available.max(0.0);
            for d in 0..3650usize {
                stock += arrivals(orders, d);
                let dem = day_demand(fc, d);
                if dem >= stock && dem > 0.0 {
                    return Some(d as f64 + stock / dem);
                }
                stock -= dem;
            }
            None
        };
        let fc = [0.0, 3.0, 1.5, 0.25, 0.0, 4.0, 0.5];
        for available in [0.0, 0.3, 7.0, 55.5, 400.0, 1000.0, 1e4] {
            for orders in [
                vec![],
                vec![order],
                vec![
                    order,
                    OpenOrder {
                        quantity: 3.0,
                        expected_day: -2,
                    },
                ],
            ] {
                let (a, b) = (
                    cover(available, &orders, &fc),
                    stepped(available, &orders, &fc),
                );
                match (a, b) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6, "{available}: {a} vs {b}"),
                    _ => assert_eq!(a, b, "{available}"),
                }
            }
        }
    }

    mod total {
        use super::super::*;
        use proptest::prelude::*;

        fn num() -> impl Strategy<Value = f64> {
            prop_oneof![
                3 => 0.0f64..100.0,
                1 => Just(0.0),
                1 => -100.0f64..0.0,
                1 => 1e6f64..1e12,
                1 => 1e-9f64..1e-3,
            ]
        }

        fn opt() -> impl Strategy<Value = Option<f64>> {
            prop_oneof![1 => Just(None), 2 => num().prop_map(Some)]
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 256,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn plan_is_total(
                fc in prop::collection::vec(num(), 0..40),
                orders in prop::collection::vec((num(), -10i64..1_000_000), 0..4),
                (available, sd, lt, cycle) in (num(), num(), num(), num()),
                (lt_sd, mean) in (opt(), opt()),
                sl in prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0, Just(1e-9), Just(1.0 - 1e-12), -1.0f64..2.0],
                (moq, pack, max_stock, min_stock) in (opt(), opt(), opt(), opt()),
                tracked in prop::bool::weighted(0.9),
                ltq in opt(),
            ) {
                let orders: Vec<OpenOrder> = orders
                    .into_iter()
                    .map(|(quantity, expected_day)| OpenOrder { quantity, expected_day })
                    .collect();
                let dist = ltq.map(|q| crate::forecast::TotalDistribution::from_quantiles(
                    lt.clamp(0.0, 1e6).ceil() as usize, q * 0.5, &[0.0, q * 0.5, q]));
                let input = PlanInput {
                    tracked,
                    available,
                    open_orders: &orders,
                    daily_forecast: &fc,
                    mean_daily_demand: mean,
                    demand_sd: sd,
                    lead_time_days: lt,
                    lead_time_sd_days: lt_sd,
                    days_of_stock: cycle,
                    service_level: sl,
                    moq,
                    pack_size: pack,
                    max_stock,
                    min_stock,
                    lead_time_demand: dist.as_ref(),
                };
                let p = plan(&input);
                for v in [p.lead_time_demand, p.coverage_demand, p.z, p.safety_stock,
                          p.reorder_point, p.on_order, p.order_quantity] {
                    prop_assert!(v.is_finite(), "{p:?}");
                }
                prop_assert!(p.order_quantity >= 0.0 && p.safety_stock >= 0.0);
                if let Some(c) = p.days_of_cover {
                    prop_assert!(c.is_finite() && c >= 0.0);
                }
                if let Some(d) = p.order_by_day {
                    prop_assert!(d >= 0);
                }
            }
        }
    }
}
