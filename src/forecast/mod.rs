//! Demand forecasting: the pure half of the planning engine.
//!
//! Given one demand series per variant (a slice of quantities, one per period, optionally with an
//! in-stock mask), [`forecast`] classifies the demand (ADI / CV²), fits a pool of methods
//! ([`models`]), scores each by a rolling-origin backtest on the series' own recent history, and
//! returns point forecasts with an 80 % interval calibrated on the backtest errors, the chosen
//! method, every candidate's score and the backtest accuracy. [`forecast_many`] does the same
//! for many series in parallel (rayon).
//!
//! Selection (full path): regular demand defaults to an equal-weight combination — for seasonal
//! series ETS(A,Ad,A) + airline ARIMA on logs + automatic seasonal ARIMA ([`arima`]) + seasonal
//! naive, otherwise AutoETS (AICc over the ETS family) + automatic ARIMA + Theta, with the
//! seasonal naive added when a season is given but fewer than three seasons are available to
//! test it (and at least one full season exists) — because on real data a combination beats
//! per-series selection on one short window. A single method or the mean of the three best replaces the
//! default only when its backtest score is less than half the default's. Sporadic demand
//! (intermittent, lumpy) takes the best of Croston, SBA, TSB, SES and their top-3 mean, scored by
//! RMSE (MAE would reward forecasting zero). Histories shorter than 8 periods get the mean of the
//! last values.
//!
//! The backtest is honest: origins come in blocks, each forecast by a fit on the history before
//! its block, so no scored error has a target the fit has seen. [`forecast_with_total`] also
//! gives the predictive distribution of the total over a span ([`total`]), what a reorder
//! point is made of; [`total_distribution`] is that for one daily series on the fast path.
//! [`forecast`] is total: any input gives finite, non-negative, correctly sized answers, and a
//! series on which a method fails falls back to a safe method without affecting the others.
//!
//! Calibration across a catalogue ([`calibrate`], done by [`forecast_many_with_total`]): every
//! series is also forecast from its history without its last periods and checked against them
//! (split conformal, nothing the fit has seen); the scores, pooled by demand class, scale each
//! 80 % interval and recalibrate each distribution of the total, so the promised coverage
//! follows the data set at hand instead of a constant tuned on one. The shape of the total is
//! fitted the same way: per class, the ratio on the spread of a sum of independent days under
//! which the held-out windows, recalibrated, held the least stock at 95 % service
//! ([`Calibration`], storable as versioned JSON). A candidate whose backtest
//! had nothing to score (every target out of stock) has the score `None`, "not measured", and
//! [`Forecast::stockout_periods`] says how many trailing periods the forecast rests before.
//!
//! Two paths:
//! - the **full** path (`Options { fast: false }`, the default) fits ETS (AICc-selected and
//!   damped additive-seasonal), the airline and an automatically ordered seasonal ARIMA, Theta,
//!   naive methods and Croston/SBA/TSB with optimised parameters, and selects among single methods and
//!   combinations; it is meant for the `tributary forecast` command and for single-series
//!   analysis (a few ms per monthly series);
//! - the **fast** path (`Options { fast: true }`, module [`fast`]) is for server-scale daily SKU
//!   series: a fixed small grid of exponential-smoothing / intermittent models in one pass with a
//!   day-of-week profile; tens of µs per two-year daily series.
//!
//! This module must stay pure: no I/O (except the [`cli`] submodule, which is the command's
//! body), no clock, no randomness, no database or HTTP types.

pub mod arima;
pub mod cli;
pub mod fast;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod total;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use models::{Fit, Method};
pub use total::TotalDistribution;

/// One demand series to forecast.
#[derive(Clone, Copy, Debug)]
pub struct SeriesInput<'a> {
    /// Demand per period, oldest first (starting at the first sale; the current, unfinished
    /// period excluded).
    pub values: &'a [f64],
    /// Per period: was the item in stock? Out-of-stock periods are treated as missing (imputed
    /// from neighbouring in-stock demand and ignored when scoring), not as zero demand.
    pub in_stock: Option<&'a [bool]>,
    /// Season length in periods (7 for daily data with a weekly cycle, 12 for monthly, 1 = none).
    pub season: usize,
}

/// Demand pattern after Syntetos–Boylan (ADI cut-off 1.32, CV² cut-off 0.49).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemandClass {
    /// Regular demand with low size variability.
    Smooth,
    /// Regular demand with high size variability.
    Erratic,
    /// Sporadic demand with stable sizes.
    Intermittent,
    /// Sporadic demand with variable sizes.
    Lumpy,
    /// No demand at all in the (in-stock) history.
    NoDemand,
}

impl DemandClass {
    /// Snake-case name, as serialised.
    pub fn name(self) -> &'static str {
        match self {
            DemandClass::Smooth => "smooth",
            DemandClass::Erratic => "erratic",
            DemandClass::Intermittent => "intermittent",
            DemandClass::Lumpy => "lumpy",
            DemandClass::NoDemand => "no_demand",
        }
    }

    /// True for the sporadic classes (intermittent, lumpy).
    pub fn is_sporadic(self) -> bool {
        matches!(self, DemandClass::Intermittent | DemandClass::Lumpy)
    }
}

/// ADI / CV² classification of a series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Classification {
    /// Average demand interval: periods per non-zero demand (∞ when there is none).
    pub adi: f64,
    /// Squared coefficient of variation of the non-zero demand sizes.
    pub cv2: f64,
    /// Resulting class.
    pub class: DemandClass,
}

/// Classifies `values` (only positions where `valid` is true count) by ADI and CV².
pub fn classify(values: &[f64], valid: Option<&[bool]>) -> Classification {
    let ok = |i: usize| valid.is_none_or(|v| v.get(i).copied().unwrap_or(true));
    let (mut periods, mut count, mut sum, mut sum_sq) = (0usize, 0usize, 0.0, 0.0);
    for (i, &v) in values.iter().enumerate() {
        if ok(i) {
            periods += 1;
            if v > 0.0 {
                count += 1;
                sum += v;
                sum_sq += v * v;
            }
        }
    }
    if count == 0 {
        return Classification {
            adi: f64::INFINITY,
            cv2: 0.0,
            class: DemandClass::NoDemand,
        };
    }
    let adi = periods as f64 / count as f64;
    let mean = sum / count as f64;
    let var = (sum_sq / count as f64 - mean * mean).max(0.0);
    let cv2 = var / (mean * mean);
    let class = match (adi < 1.32, cv2 < 0.49) {
        (true, true) => DemandClass::Smooth,
        (true, false) => DemandClass::Erratic,
        (false, true) => DemandClass::Intermittent,
        (false, false) => DemandClass::Lumpy,
    };
    Classification { adi, cv2, class }
}

/// Options for [`forecast`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Use the cheap server-scale path ([`fast`]) instead of the full model selection.
    pub fast: bool,
}

/// A candidate considered for a series, with its backtest score (lower is better: mean absolute
/// error scaled by the in-sample seasonal-naive MAE for regular demand, root mean squared error
/// scaled by the naive RMSE for sporadic demand).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// Method or combination name.
    pub method: String,
    /// Backtest score; `None` (serialised as `null`) when it was **not measured**: no backtest
    /// target was observed (every day of the backtest windows out of stock, or too short a
    /// history to backtest). Never NaN or infinite, and never a stand-in zero.
    pub score: Option<f64>,
}

impl Candidate {
    /// A candidate whose score is `score` if finite, else not measured.
    pub(crate) fn scored(method: impl Into<String>, score: f64) -> Candidate {
        Candidate {
            method: method.into(),
            score: score.is_finite().then_some(score),
        }
    }
}

/// Backtest accuracy of the chosen method on the last `horizon` periods of the history, with
/// parameters estimated on what came before (NaN where undefined, e.g. too short a history).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    /// Mean absolute scaled error (scale: in-sample seasonal-naive MAE).
    pub mase: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean of forecast − actual.
    pub bias: f64,
    /// Share of actuals inside the 80 % interval.
    pub coverage80: f64,
}

impl Accuracy {
    pub(crate) fn undefined() -> Self {
        Accuracy {
            mase: f64::NAN,
            mae: f64::NAN,
            bias: f64::NAN,
            coverage80: f64::NAN,
        }
    }
}

/// Forecast for one series.
#[derive(Clone, Debug, Serialize)]
pub struct Forecast {
    /// Point forecast per future period (never negative).
    pub point: Vec<f64>,
    /// Lower bound of the 80 % interval (never negative).
    pub low: Vec<f64>,
    /// Upper bound of the 80 % interval.
    pub high: Vec<f64>,
    /// Chosen method (a [`Method::name`], or `mean(a,b,c)` for a combination).
    pub method: String,
    /// Demand class.
    pub class: DemandClass,
    /// ADI / CV² behind `class`.
    pub classification: Classification,
    /// Every candidate considered, best first.
    pub candidates: Vec<Candidate>,
    /// Backtest accuracy of the chosen method.
    pub accuracy: Accuracy,
    /// Periods at the end of the history that were out of stock (0 when the last period was in
    /// stock or no in-stock mask was given): the forecast rests on the history before them.
    pub stockout_periods: usize,
}

/// Number of trailing periods of `input` marked out of stock.
fn trailing_stockout(input: &SeriesInput) -> usize {
    input.in_stock.map_or(0, |s| {
        let s = &s[..s.len().min(input.values.len())];
        s.iter().rev().take_while(|&&ok| !ok).count()
    })
}

/// z for a central 80 % interval (the 90 % quantile of the standard normal).
pub const Z80: f64 = 1.281_551_565_544_600_5;

/// Forecasts `horizon` periods of one series (full selection, or the fast path if `opts.fast`).
///
/// Total: any input gives a forecast of exactly `horizon` finite, non-negative values with
/// `low ≤ point ≤ high`. Non-finite values count as 0 and negative ones (net returns) as 0
/// demand; the history starts at the first sale (leading zeros are dropped). Should a method
/// still fail on a series (a panic, or a non-finite result), the series falls back to the
/// short-history mean (method `fallback_mean`) instead of taking other series down with it.
pub fn forecast(input: &SeriesInput, horizon: usize, opts: &Options) -> Forecast {
    forecast_core(input, horizon, None, opts).0
}

/// [`forecast`] together with the predictive distribution of the total demand over the next
/// `periods` periods ([`total`]), from the same fit. Total like [`forecast`]: a series whose
/// path fails gets the short-history mean and a gamma distribution from its history.
pub fn forecast_with_total(
    input: &SeriesInput,
    horizon: usize,
    periods: usize,
    opts: &Options,
) -> (Forecast, TotalDistribution) {
    let (f, t) = forecast_core(input, horizon, Some(periods), opts);
    (f, t.unwrap_or_else(|| TotalDistribution::zero(periods)))
}

/// [`forecast_with_total`] for many series in parallel (rayon), calibrated across the
/// catalogue ([`calibrate`]); results are in input order.
pub fn forecast_many_with_total(
    inputs: &[SeriesInput],
    horizon: usize,
    periods: usize,
    opts: &Options,
) -> Vec<(Forecast, TotalDistribution)> {
    let mut out: Vec<(Forecast, TotalDistribution)> = inputs
        .par_iter()
        .map(|i| forecast_with_total(i, horizon, periods, opts))
        .collect();
    calibrate(inputs, horizon, periods, opts, &mut out);
    out
}

/// Fewest calibration scores a demand class needs to be calibrated on its own (else the
/// scores of the whole catalogue are used, and with fewer than that nothing changes).
const MIN_POOL: usize = 50;

/// Out-of-sample calibration scores of one series: the engine run on its history without its
/// last windows of `max(horizon, periods)` periods, checked against them (nothing the fit has
/// seen).
struct Scores {
    /// Per observed step: how many half-widths the actual lay from the point, on its side.
    interval: Vec<f64>,
    /// Per window whose periods were all in stock: the model's distribution of the total,
    /// the actual total, and the largest total the series had over such a span before the
    /// window (the bound [`Calibration::apply`] puts on a recalibrated quantile).
    totals: Vec<Window>,
}

/// One held-out window of a series: the model's distribution of its total (as forecast
/// from the history before it), the actual total, and the bound on a recalibrated quantile.
struct Window {
    model: TotalDistribution,
    actual: f64,
    cap: Option<f64>,
}

/// Past windows each series is checked on: the last `max(horizon, periods)` periods, and on
/// the fast path the two spans before them too (one window is one draw of the market: a
/// catalogue calibrated on the last month alone carries that month's surprise into the next;
/// the full path, a hundred times dearer a run, checks one).
fn calibration_windows(opts: &Options) -> usize {
    if opts.fast {
        3
    } else {
        1
    }
}

/// Shortest history a held-out window of `hold` periods is forecast from: as long as the
/// window itself, and never more than twice [`MIN_SELECT`] (room for the model selection and
/// its backtest). A catalogue of short histories (a shop's first months summed to months, a
/// year of weeks) is then calibrated on forecasts made from histories as short as its own,
/// where a fixed look-back it cannot meet left it uncalibrated; a long window (the plan job's
/// 28 days) keeps the look-back of twice [`MIN_SELECT`].
fn min_past(hold: usize) -> usize {
    (2 * MIN_SELECT).min(hold).max(1)
}

/// Where one series of `n` periods is cut for its held-out windows of `hold` periods (the
/// length of the history each window is forecast from), newest first: the last `hold`
/// periods, and on the fast path the spans before them ([`calibration_windows`]), each
/// window's history at least [`min_past`] long. Empty when the history is too short for one.
fn calibration_cuts(n: usize, hold: usize, opts: &Options) -> Vec<usize> {
    (1..=calibration_windows(opts))
        .take_while(|j| n >= j * hold + min_past(hold))
        .map(|j| n - j * hold)
        .collect()
}

/// Calibration scores of one series (`None` when its history is too short to hold out).
fn series_scores(
    input: &SeriesInput,
    horizon: usize,
    periods: usize,
    opts: &Options,
) -> Option<Scores> {
    let hold = horizon.max(periods).max(1);
    let n = input.values.len();
    let mut out = Scores {
        interval: Vec::new(),
        totals: Vec::new(),
    };
    for cut in calibration_cuts(n, hold, opts) {
        let past = SeriesInput {
            values: &input.values[..cut],
            in_stock: input.in_stock.map(|s| &s[..cut.min(s.len())]),
            season: input.season,
        };
        let (f, t) = forecast_with_total(&past, horizon, periods, opts);
        let ok = |i: usize| {
            input
                .in_stock
                .is_none_or(|s| s.get(i).copied().unwrap_or(true))
        };
        let actual = |i: usize| {
            let v = input.values[i];
            if v.is_finite() {
                v.max(0.0)
            } else {
                0.0
            }
        };
        out.interval
            .extend((0..horizon).filter(|&k| ok(cut + k)).map(|k| {
                let (a, p) = (actual(cut + k), f.point[k]);
                let w = if a >= p { f.high[k] - p } else { p - f.low[k] };
                let d = (a - p).abs();
                if d == 0.0 {
                    0.0
                } else if w > 0.0 {
                    d / w
                } else {
                    f64::INFINITY
                }
            }));
        if periods > 0 && (cut..cut + periods).all(ok) {
            out.totals.push(Window {
                model: t,
                actual: (cut..cut + periods).map(actual).sum(),
                cap: largest_total(&past, periods),
            });
        }
    }
    (!out.interval.is_empty() || !out.totals.is_empty()).then_some(out)
}

/// Calibrates forecasts across a catalogue (split conformal): each series is also forecast
/// from its history without its last `max(horizon, periods)` periods and checked against them
/// (a history at least as long as the window, at most 16 periods asked for, [`min_past`])
/// (on the fast path also from the two spans before, [`calibration_windows`]);
/// the scores are pooled by demand class (the whole catalogue where a class has fewer than
/// [`MIN_POOL`] series measured). Each 80 % interval is then scaled about its point by the
/// pooled scores' conformal 80 % quantile (so that 80 % of the held-out actuals of the pool
/// would have been inside), and each distribution of the total is given the pool's spread
/// (its daily shape times the pool's fitted ratio, [`fit_totals`]) and recalibrated by the
/// pooled probability integral transforms ([`TotalDistribution::recalibrate`]), a recalibrated
/// quantile bounded by the model's own plus the largest total the series had over such a
/// span ([`TotalDistribution::limit`]). The data decide the
/// widths on every set: no constant is tuned to one. Costs one more run of the engine per
/// series and window. The same as [`Calibration::fit`] on `inputs` followed by
/// [`Calibration::apply`] on each series.
pub fn calibrate(
    inputs: &[SeriesInput],
    horizon: usize,
    periods: usize,
    opts: &Options,
    out: &mut [(Forecast, TotalDistribution)],
) {
    let classes: Vec<DemandClass> = out.iter().map(|(f, _)| f.class).collect();
    let cal = Calibration::fit_with_classes(inputs, &classes, horizon, periods, opts);
    for (input, (f, t)) in inputs.iter().zip(out.iter_mut()) {
        cal.apply(input, f, t);
    }
}

/// Version of [`Calibration`]'s serialised form ([`Calibration::to_json`]): a stored
/// calibration of another version is refused ([`Calibration::from_json`]), to be fitted again.
pub const CALIBRATION_VERSION: u32 = 1;

/// Steps of a pool's table of levels: the quantiles of its probability integral transforms at
/// probabilities `i / LEVEL_STEPS` (every level a plan asks for in steps of half a percent is
/// read exactly; the table's size does not grow with the catalogue).
const LEVEL_STEPS: usize = 200;

/// The service level whose stock the spread ratio of a pool is chosen to minimise: the plan's
/// default ([`crate::replenish::DEFAULT_SERVICE_LEVEL`]). Other levels are served calibrated by
/// the levels table all the same.
const SHAPE_LEVEL: f64 = 0.95;

/// Steps either side of 1 of the spread ratios a pool chooses among (`2^(k/4)`, ¼ to 4).
const RATIO_STEPS: i32 = 8;

/// Spread ratio `k` of the grid (`2^(k/4)`, held to nine decimals).
fn spread_ratio(k: i32) -> f64 {
    stored(2f64.powf(f64::from(k) / 4.0))
}

/// `v` held to nine decimals: what a calibration keeps of each fitted number, so that its JSON
/// form reads back bit for bit (a decimal of at most fifteen digits parses exactly) and a
/// stored calibration applies exactly as the fitted one did.
fn stored(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// One pool of calibration scores (a demand class, or the whole catalogue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Pool {
    /// Factor on the 80 % interval's half-widths (`None`: unchanged).
    factor: Option<f64>,
    /// Ratio on the daily spread of the distribution of the total
    /// ([`TotalDistribution::use_daily_spread`]).
    spread: f64,
    /// Quantiles of the pool's probability integral transforms (under the spread ratio) at
    /// probabilities `i / LEVEL_STEPS` (empty: the distribution of the total is not
    /// recalibrated).
    levels: Vec<f64>,
}

/// A catalogue's calibration ([`calibrate`]), fitted once and applied to each series'
/// forecast: the plan job's way to calibrate lines that it forecasts one by one.
///
/// How the plan job uses it: once per plan, [`Calibration::fit`] on the catalogue's daily
/// series (the same [`SeriesInput`]s the lines are forecast from, or an evenly spread sample
/// of at least a few hundred of them; with `horizon = periods = 28` and `Options { fast: true }`);
/// then for each line, right after [`forecast_with_total`] and before the safety stock reads
/// the total, [`Calibration::apply`] with the line's own input, forecast and total. The
/// levels are probabilities and the spread ratio a ratio, so a calibration fitted on 28-day
/// totals applies to a total over any lead time (the bound on a recalibrated quantile is the
/// series' own largest total over that lead time). It can be stored with the plan it served
/// ([`Calibration::to_json`], versioned) and applied again from the stored form with identical
/// results. Pure: no I/O, no clock; fitting costs three more runs of the fast path per series
/// fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// [`CALIBRATION_VERSION`] of the form it was fitted in.
    version: u32,
    /// Per demand class measured on at least [`MIN_POOL`] series.
    classes: Vec<(DemandClass, Pool)>,
    /// The whole catalogue, for the other classes (`None`: fewer than [`MIN_POOL`] series
    /// could be measured, nothing changes).
    all: Option<Pool>,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            version: CALIBRATION_VERSION,
            classes: Vec::new(),
            all: None,
        }
    }
}

/// Why a stored calibration could not be read ([`Calibration::from_json`]).
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// Not the JSON form of a calibration.
    #[error("not a stored calibration: {0}")]
    Json(#[from] serde_json::Error),
    /// Stored in another version of the form.
    #[error("calibration version {found}, this engine reads version {expected}")]
    Version {
        /// The stored version.
        found: u32,
        /// [`CALIBRATION_VERSION`].
        expected: u32,
    },
}

/// The spread ratio and levels table of one pool's held-out windows: among the ratios
/// `2^(k/4)`, `|k| ≤ RATIO_STEPS` (searched coarse to fine), the one under which the windows'
/// distributions in their daily shape ([`TotalDistribution::use_daily_spread`]), recalibrated
/// by the transforms of their own actuals and bounded as [`Calibration::apply`] bounds them,
/// hold the least stock at [`SHAPE_LEVEL`] while still serving that share of the windows: the
/// spread that shares the stock out best across the pool's series, read from outcomes no fit
/// had seen. Empty levels with fewer than [`MIN_POOL`] windows.
fn fit_totals(windows: &[&Window]) -> (f64, Vec<f64>) {
    if windows.len() < MIN_POOL {
        return (1.0, Vec::new());
    }
    // Stock held at the level, whether it serves, and the levels table, under ratio 2^(k/4).
    let evaluate = |k: i32| -> (bool, f64, Vec<f64>) {
        let r = spread_ratio(k);
        let models: Vec<TotalDistribution> = windows
            .par_iter()
            .map(|w| {
                let mut d = w.model.clone();
                d.use_daily_spread(r);
                d
            })
            .collect();
        let pits: Vec<f64> = models
            .par_iter()
            .zip(windows)
            .map(|(d, w)| d.cdf(w.actual))
            .collect();
        let levels = level_table(pits);
        if levels.is_empty() {
            return (false, f64::INFINITY, levels);
        }
        let (stock, served) = models
            .into_par_iter()
            .zip(windows)
            .map(|(mut d, w)| {
                d.recalibrate(&levels);
                if let Some(cap) = w.cap {
                    d.limit(cap);
                }
                let q = d.quantile(SHAPE_LEVEL);
                (q, usize::from(w.actual <= q))
            })
            .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        // Serving the level within one window of the pool counts as serving it (the table
        // interpolates between transforms).
        let serves = (served + 1) as f64 >= SHAPE_LEVEL * windows.len() as f64;
        (serves, stock, levels)
    };
    let better = |a: &(bool, f64, Vec<f64>), b: &(bool, f64, Vec<f64>)| {
        (a.0 && !b.0) || (a.0 == b.0 && a.1 < b.1)
    };
    // Coarse to fine: every fourth step of the grid, then the two steps either side of the
    // best, then the one step either side.
    let mut best_k = 0;
    let mut best = evaluate(0);
    let mut seen = vec![0];
    for step in [4, 2, 1] {
        let centre = best_k;
        let ks: Vec<i32> = if step == 4 {
            (-RATIO_STEPS..=RATIO_STEPS).step_by(4).collect()
        } else {
            vec![centre - step, centre + step]
        };
        for k in ks {
            if k.abs() > RATIO_STEPS || seen.contains(&k) {
                continue;
            }
            seen.push(k);
            let e = evaluate(k);
            if better(&e, &best) {
                (best_k, best) = (k, e);
            }
        }
    }
    if best.2.is_empty() {
        return (1.0, Vec::new());
    }
    (spread_ratio(best_k), best.2)
}

/// The table of levels of a pool's probability integral transforms (quantiles at
/// `i / LEVEL_STEPS`, linear between the sorted transforms); empty with fewer than
/// [`MIN_POOL`] finite ones.
fn level_table(mut pits: Vec<f64>) -> Vec<f64> {
    pits.retain(|x| x.is_finite());
    if pits.len() < MIN_POOL {
        return Vec::new();
    }
    pits.sort_by(f64::total_cmp);
    let last = (pits.len() - 1) as f64;
    (0..=LEVEL_STEPS)
        .map(|i| {
            let pos = i as f64 / LEVEL_STEPS as f64 * last;
            let j = pos.floor() as usize;
            stored(match pits.get(j + 1) {
                Some(&b) => pits[j] + (b - pits[j]) * (pos - j as f64),
                None => pits[j],
            })
        })
        .collect()
}

impl Calibration {
    /// Fits the calibration on `inputs` ([`calibrate`]): held-out windows of
    /// `max(horizon, periods)` periods, scores pooled by demand class.
    pub fn fit(
        inputs: &[SeriesInput],
        horizon: usize,
        periods: usize,
        opts: &Options,
    ) -> Calibration {
        let classes: Vec<DemandClass> = inputs.par_iter().map(series_class).collect();
        Calibration::fit_with_classes(inputs, &classes, horizon, periods, opts)
    }

    /// True when applying it changes nothing (too few series could be measured).
    pub fn is_empty(&self) -> bool {
        self.all.is_none()
    }

    /// The spread ratio fitted per pool, as `class=ratio` pairs (`all` for the whole
    /// catalogue): what a benchmark or a log line reports of it.
    pub fn summary(&self) -> String {
        let pools = self
            .classes
            .iter()
            .map(|(c, p)| (c.name(), p))
            .chain(self.all.iter().map(|p| ("all", p)));
        pools
            .map(|(name, p)| format!("{name}={:.3}", p.spread))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The calibration as JSON, with its [`CALIBRATION_VERSION`]: what a plan stores to apply
    /// again later ([`Calibration::from_json`] gives it back, applying identically).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a calibration serialises")
    }

    /// A calibration stored by [`Calibration::to_json`]; refused when it is not one or was
    /// stored in another version of the form.
    pub fn from_json(text: &str) -> Result<Calibration, CalibrationError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned = serde_json::from_str(text)?;
        if v.version != CALIBRATION_VERSION {
            return Err(CalibrationError::Version {
                found: v.version,
                expected: CALIBRATION_VERSION,
            });
        }
        Ok(serde_json::from_str(text)?)
    }

    /// [`Calibration::fit`] with each series' demand class given.
    fn fit_with_classes(
        inputs: &[SeriesInput],
        classes: &[DemandClass],
        horizon: usize,
        periods: usize,
        opts: &Options,
    ) -> Calibration {
        let scores: Vec<Option<Scores>> = inputs
            .par_iter()
            .map(|i| series_scores(i, horizon, periods, opts))
            .collect();
        let pool = |pred: &dyn Fn(usize) -> bool| -> (Vec<f64>, Vec<&Window>, usize) {
            let (mut iv, mut totals, mut count) = (Vec::new(), Vec::new(), 0);
            for (i, s) in scores.iter().enumerate() {
                if let Some(s) = s.as_ref().filter(|_| pred(i)) {
                    count += 1;
                    iv.extend_from_slice(&s.interval);
                    totals.extend(s.totals.iter());
                }
            }
            (iv, totals, count)
        };
        let all = pool(&|_| true);
        if all.2 < MIN_POOL {
            return Calibration::default();
        }
        // Conformal quantile: the ⌈0.8 (N + 1)⌉-th smallest score.
        let factor = |iv: &[f64]| -> Option<f64> {
            if iv.is_empty() {
                return None;
            }
            let mut v = iv.to_vec();
            v.sort_by(f64::total_cmp);
            let r = ((0.8 * (v.len() as f64 + 1.0)).ceil() as usize).clamp(1, v.len());
            let c = stored(v[r - 1]);
            c.is_finite().then_some(c)
        };
        let all_factor = factor(&all.0);
        let (all_spread, all_levels) = fit_totals(&all.1);
        let mut cal = Calibration {
            all: Some(Pool {
                factor: all_factor,
                spread: all_spread,
                levels: all_levels.clone(),
            }),
            ..Calibration::default()
        };
        for cls in [
            DemandClass::Smooth,
            DemandClass::Erratic,
            DemandClass::Intermittent,
            DemandClass::Lumpy,
            DemandClass::NoDemand,
        ] {
            let own = pool(&|i| classes.get(i) == Some(&cls));
            if own.2 < MIN_POOL {
                continue;
            }
            let (spread, levels) = match fit_totals(&own.1) {
                (_, l) if l.is_empty() => (all_spread, all_levels.clone()),
                fitted => fitted,
            };
            cal.classes.push((
                cls,
                Pool {
                    factor: factor(&own.0).or(all_factor),
                    spread,
                    levels,
                },
            ));
        }
        cal
    }

    /// Applies the calibration to one series' forecast `f` and distribution of the total `t`
    /// (from `input`, [`forecast_with_total`]): the 80 % interval scaled about the point, the
    /// total's spread scaled, the total recalibrated and bounded ([`calibrate`]), by the pool
    /// of the forecast's demand class.
    pub fn apply(&self, input: &SeriesInput, f: &mut Forecast, t: &mut TotalDistribution) {
        let Some(pool) = self.pool(f.class) else {
            return;
        };
        self.apply_band(f);
        if !pool.levels.is_empty() {
            t.use_daily_spread(pool.spread);
            t.recalibrate(&pool.levels);
            if let Some(cap) = largest_total(input, t.periods) {
                t.limit(cap);
            }
        }
    }
}

impl Calibration {
    /// The pool of a demand class: its own, or the whole catalogue's.
    fn pool(&self, class: DemandClass) -> Option<&Pool> {
        self.classes
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, p)| p)
            .or(self.all.as_ref())
    }

    /// Applies the calibration to one series' 80 % band alone (the part of
    /// [`Calibration::apply`] a forecast without a lead-time total reads):
    /// scaled about the point by the pool of the forecast's demand class,
    /// floored at 0.
    pub fn apply_band(&self, f: &mut Forecast) {
        if let Some(c) = self.pool(f.class).and_then(|p| p.factor) {
            for k in 0..f.point.len() {
                let p = f.point[k];
                f.low[k] = (p - c * (p - f.low[k])).max(0.0);
                f.high[k] = p + c * (f.high[k] - p);
            }
        }
    }
}

/// The demand class [`forecast`] gives `input` (its cleaned, imputed history classified).
fn series_class(input: &SeriesInput) -> DemandClass {
    let (values, mask) = clean_history(input);
    let (_, valid) = impute(&values, mask.as_deref(), input.season.max(1));
    classify(&values, Some(&valid)).class
}

/// The largest total demand of `input` over `periods` consecutive periods (net returns and
/// out-of-stock periods counting as no demand); `None` when the history is shorter than the
/// span or `periods` is 0.
fn largest_total(input: &SeriesInput, periods: usize) -> Option<f64> {
    let n = input.values.len();
    if periods == 0 || n < periods {
        return None;
    }
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let x = input.values[i];
            let ok = input
                .in_stock
                .is_none_or(|s| s.get(i).copied().unwrap_or(true));
            if ok && x.is_finite() {
                x.max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    let mut sum: f64 = v[..periods].iter().sum();
    let mut best = sum;
    for i in periods..n {
        sum += v[i] - v[i - periods];
        best = best.max(sum);
    }
    Some(best)
}

/// Distribution of the total demand over the next `days` days of one daily series (the
/// server's fast path, [`fast`]): its `mean` is the forecast total and
/// [`TotalDistribution::quantile`] gives, e.g., the reorder point for a service level. For the
/// plan job: pass it to [`crate::replenish::PlanInput::lead_time_demand`] with
/// `days = ceil(lead time)`.
pub fn total_distribution(input: &SeriesInput, days: usize) -> TotalDistribution {
    forecast_with_total(input, days, days, &Options { fast: true }).1
}

/// Both paths behind the per-series safety net (see [`forecast`]).
fn forecast_core(
    input: &SeriesInput,
    horizon: usize,
    periods: Option<usize>,
    opts: &Options,
) -> (Forecast, Option<TotalDistribution>) {
    let (values, mask) = clean_history(input);
    let clean = SeriesInput {
        values: &values,
        in_stock: mask.as_deref(),
        season: input.season.max(1),
    };
    let run = || {
        if opts.fast {
            fast::fast_core(&clean, horizon, periods)
        } else {
            forecast_full_core(&clean, horizon, periods)
        }
    };
    let safe = || {
        let f = fallback(&clean, horizon);
        let t = periods.map(|p| fallback_total(&clean, p));
        (f, t)
    };
    let stockout = trailing_stockout(&clean);
    let (mut f, t) = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok((f, t)) => match sane(f, horizon) {
            Some(f) => {
                let t = match (t, periods) {
                    (Some(t), Some(_)) if t.mean.is_finite() => Some(t),
                    (_, Some(p)) => Some(fallback_total(&clean, p)),
                    _ => None,
                };
                (f, t)
            }
            None => safe(),
        },
        Err(_) => safe(),
    };
    f.stockout_periods = stockout;
    (f, t)
}

/// Distribution of the total for a series whose path failed: gamma from its history.
fn fallback_total(input: &SeriesInput, periods: usize) -> TotalDistribution {
    let (y, valid) = impute(input.values, input.in_stock, input.season.max(1));
    let f = fallback(input, 1);
    total::history_gamma(&y, &valid, periods, f.point[0] * periods as f64)
}

/// The history the models see: non-finite values and net returns (negative values) as 0, from
/// the first sale on (with the matching part of the in-stock mask).
pub(crate) fn clean_history(input: &SeriesInput) -> (Vec<f64>, Option<Vec<bool>>) {
    let first = input
        .values
        .iter()
        .position(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(input.values.len());
    let values: Vec<f64> = input.values[first..]
        .iter()
        .map(|&v| if v.is_finite() && v > 0.0 { v } else { 0.0 })
        .collect();
    let mask = input.in_stock.map(|s| {
        (first..input.values.len())
            .map(|i| s.get(i).copied().unwrap_or(true))
            .collect()
    });
    (values, mask)
}

/// `f` if it has `horizon` finite, non-negative values per row (bounds ordered around the
/// point), else `None`.
fn sane(mut f: Forecast, horizon: usize) -> Option<Forecast> {
    let ok = |v: &[f64]| v.len() == horizon && v.iter().all(|x| x.is_finite() && *x >= 0.0);
    if !(ok(&f.point) && ok(&f.low) && ok(&f.high)) {
        return None;
    }
    for k in 0..horizon {
        f.low[k] = f.low[k].min(f.point[k]);
        f.high[k] = f.high[k].max(f.point[k]);
    }
    Some(f)
}

/// The safe method for a series on which the chosen path failed: the short-history mean.
fn fallback(input: &SeriesInput, horizon: usize) -> Forecast {
    let (y, valid) = impute(input.values, input.in_stock, input.season.max(1));
    let cls = classify(&y, Some(&valid));
    let mut f = short_history(&y, &valid, horizon, cls);
    if cls.class != DemandClass::NoDemand {
        f.method = "fallback_mean".to_string();
        f.candidates[0].method = f.method.clone();
    }
    sane(f, horizon).unwrap_or_else(|| Forecast {
        point: vec![0.0; horizon],
        low: vec![0.0; horizon],
        high: vec![0.0; horizon],
        method: "zero".to_string(),
        class: cls.class,
        classification: cls,
        candidates: Vec::new(),
        accuracy: Accuracy::undefined(),
        stockout_periods: 0,
    })
}

/// Forecasts many series in parallel (rayon); results are in input order.
pub fn forecast_many(inputs: &[SeriesInput], horizon: usize, opts: &Options) -> Vec<Forecast> {
    inputs
        .par_iter()
        .map(|i| forecast(i, horizon, opts))
        .collect()
}

/// Replaces out-of-stock periods by an estimate of the demand that was lost: the mean of the
/// in-stock values within `w` periods on either side (`w` = max(season, 3)), else the mean of
/// the `w` last in-stock values before it (else the first ones after it), else 0. Returns the imputed series and the validity mask (true = observed).
pub fn impute(values: &[f64], in_stock: Option<&[bool]>, season: usize) -> (Vec<f64>, Vec<bool>) {
    let n = values.len();
    let valid: Vec<bool> = (0..n)
        .map(|i| in_stock.is_none_or(|s| s.get(i).copied().unwrap_or(true)))
        .collect();
    let mut y = values.to_vec();
    if valid.iter().all(|&v| v) {
        return (y, valid);
    }
    // Prefix sums of in-stock values and counts for O(1) window means.
    let mut ps = vec![0.0; n + 1];
    let mut pc = vec![0usize; n + 1];
    for i in 0..n {
        ps[i + 1] = ps[i] + if valid[i] { values[i] } else { 0.0 };
        pc[i + 1] = pc[i] + valid[i] as usize;
    }
    let w = season.max(3);
    for i in 0..n {
        if valid[i] {
            continue;
        }
        let (a, b) = (i.saturating_sub(w), (i + w + 1).min(n));
        let c = pc[b] - pc[a];
        y[i] = if c > 0 {
            (ps[b] - ps[a]) / c as f64
        } else {
            // Deep inside a long stockout (a product out of stock now): the
            // in-stock rate before it — the mean of the `w` last in-stock
            // values, not one day's — else the first ones after it.
            let before: Vec<f64> = (0..i)
                .rev()
                .filter(|&j| valid[j])
                .take(w)
                .map(|j| values[j])
                .collect();
            let near = if before.is_empty() {
                (i + 1..n)
                    .filter(|&j| valid[j])
                    .take(w)
                    .map(|j| values[j])
                    .collect()
            } else {
                before
            };
            if near.is_empty() {
                0.0
            } else {
                near.iter().sum::<f64>() / near.len() as f64
            }
        };
    }
    (y, valid)
}

/// Linear-interpolated quantile of `v` (reordered in place), `q` in [0, 1]; NaN if empty.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, &mut a, rest) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    let b = if pos > lo as f64 {
        rest.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        a
    };
    a + (b - a) * (pos - lo as f64)
}

/// Minimum history (periods) for model selection; shorter series use the short-history method.
const MIN_SELECT: usize = 8;

/// Blocks of backtest origins, each scored by a fit on the history before it (fewer when the
/// history is short).
const FOLDS: usize = 2;

/// Relative backtest improvement another option needs to replace the default ensemble.
const OVERRIDE_MARGIN: f64 = 0.5;

/// A scored option: one method or a combination of methods (indices into the fitted pool).
struct Scored {
    name: String,
    members: Vec<usize>,
    /// Combination weights of the members (sum to 1).
    weights: Vec<f64>,
    /// Backtest forecasts, rows = origins `t0..n`, `hv` columns.
    fc: Vec<f64>,
    score: f64,
}

#[cfg(test)]
fn forecast_full(input: &SeriesInput, horizon: usize) -> Forecast {
    forecast_full_core(input, horizon, None).0
}

/// Short-history forecast with, if asked for, the gamma distribution of its total.
fn short_with_total(
    y: &[f64],
    valid: &[bool],
    horizon: usize,
    cls: Classification,
    periods: Option<usize>,
) -> (Forecast, Option<TotalDistribution>) {
    let f = short_history(y, valid, horizon, cls);
    let total = periods.map(|p| {
        let rate = short_history(y, valid, 1, cls).point[0];
        total::history_gamma(y, valid, p, rate * p as f64)
    });
    (f, total)
}

/// The full path; with `periods`, also the distribution of the total over that many periods.
fn forecast_full_core(
    input: &SeriesInput,
    horizon: usize,
    periods: Option<usize>,
) -> (Forecast, Option<TotalDistribution>) {
    let n = input.values.len();
    let m = input.season.max(1);
    let (y, valid) = impute(input.values, input.in_stock, m);
    let cls = classify(input.values, Some(&valid));
    if cls.class == DemandClass::NoDemand || n < MIN_SELECT {
        return short_with_total(&y, &valid, horizon, cls, periods);
    }
    // The life of a product. One that stopped selling (no sale for at least three periods and
    // for more than twice its average interval between sales) is forecast as sporadic demand
    // without a season, with the naive method (zero) among the candidates: not from last
    // year's season. One that sells less and less (its last season sold under half the one
    // before) is not given the seasonal default.
    let trailing = y.iter().rev().take_while(|&&v| v <= 0.0).count();
    let stopped = trailing >= 3 && trailing as f64 > 2.0 * cls.adi && trailing < n;
    let m = if stopped { 1 } else { m };
    let declining = m >= 2 && n >= 2 * m && {
        let last: f64 = y[n - m..].iter().sum();
        let before: f64 = y[n - 2 * m..n - m].iter().sum();
        last < 0.5 * before
    };
    let sporadic = cls.class.is_sporadic() || stopped;
    let mut methods: Vec<Method> = if stopped {
        vec![
            Method::Naive,
            Method::Croston,
            Method::Sba,
            Method::Tsb,
            Method::Ses,
        ]
    } else if sporadic {
        vec![Method::Croston, Method::Sba, Method::Tsb, Method::Ses]
    } else {
        vec![
            Method::Naive,
            Method::SeasonalNaive,
            Method::Ses,
            Method::HoltDamped,
            Method::Theta,
            Method::EtsDampedAdditive,
            Method::AutoEts,
            Method::Airline,
            Method::AutoArima,
        ]
    };
    // Backtest design (honest): the last hv origins are forecast by a fit on y[..n-hv]; when
    // the history allows, FOLDS − 1 earlier blocks of hv origins each by a fit on the history
    // before its block. Parameters stay frozen inside a block, so every scored target lies
    // after the data its fit has seen.
    let hv = horizon.clamp(1, (n / 4).max(1));
    let split = n - hv;
    let min_train = if m >= 2 { 3 * m + 2 } else { 0 }
        .max(MIN_SELECT)
        .max(n / 2);
    let mut splits = vec![split];
    while splits.len() < FOLDS && splits[0] >= hv + min_train {
        splits.insert(0, splits[0] - hv);
    }
    let t0 = splits[0];
    let train = &y[..split];
    // Seasonal series use the damped ETS member; AutoETS serves the non-seasonal default.
    let seasonal = m >= 2 && models::seasonal_test(train, m) && !declining;
    if seasonal {
        methods.retain(|&mm| mm != Method::AutoEts);
    }
    let scale = backtest_scale(train, m, sporadic);
    let rows = n - t0;
    let mut pool: Vec<(Method, Vec<f64>, Fit)> = Vec::new();
    'methods: for &meth in &methods {
        let mut fc = Vec::with_capacity((rows + 1) * hv);
        let mut last = None;
        for (f, &s0) in splits.iter().enumerate() {
            let end = splits.get(f + 1).copied().unwrap_or(n);
            let Some(fit) = meth.fit(&y[..s0], m) else {
                continue 'methods;
            };
            let before = fc.len();
            fit.rolling(&y[..end], s0, hv, &mut fc);
            fc.truncate(before + (end - s0) * hv);
            last = Some(fit);
        }
        // A method that cannot forecast every origin drops out of this series' candidates.
        if let Some(fit) = last {
            if fc.len() == rows * hv && fc.iter().all(|v| v.is_finite()) {
                pool.push((meth, fc, fit));
            }
        }
    }
    if pool.is_empty() {
        return short_with_total(&y, &valid, horizon, cls, periods);
    }
    let bt = Backtest {
        y: &y,
        valid: &valid,
        t0,
        hv,
        scale,
        squared: sporadic,
    };
    let mut options: Vec<Scored> = pool
        .iter()
        .enumerate()
        .map(|(i, (meth, fc, _))| Scored {
            name: meth.name().to_string(),
            members: vec![i],
            weights: vec![1.0],
            score: bt.score(fc),
            fc: fc.clone(),
        })
        .collect();
    options.sort_by(|a, b| a.score.total_cmp(&b.score));
    let singles = options.len();
    let pos = |meth: Method| pool.iter().position(|(mm, ..)| *mm == meth);
    let seasonal_set = [
        Method::EtsDampedAdditive,
        Method::Airline,
        Method::AutoArima,
        Method::SeasonalNaive,
    ];
    let plain_set = [Method::AutoEts, Method::AutoArima, Method::Theta];
    // The default ensemble. Seasonal series (lag-m autocorrelation test): damped ETS, the
    // airline ARIMA on logs, the auto-ARIMA and the seasonal naive (at least three of them must
    // fit). Otherwise AutoETS + auto-ARIMA + Theta (each selects its own structure, seasonal
    // only where its criterion supports it), hedged with the seasonal naive when a season is
    // given but the history is too short to test for it (the seasonal naive needs one full
    // season; seasonal ETS two, seasonal ARIMA three, otherwise they fall back to non-seasonal
    // forms or drop out).
    let untestable = m >= 2 && train.len() < 3 * m;
    let mut std_set: Vec<Method> = if sporadic {
        Vec::new()
    } else if seasonal && seasonal_set.iter().filter(|&&mm| pos(mm).is_some()).count() >= 3 {
        seasonal_set.to_vec()
    } else {
        plain_set.to_vec()
    };
    if untestable && !sporadic {
        std_set.push(Method::SeasonalNaive);
    }
    let std_members: Vec<usize> = std_set.iter().filter_map(|&mm| pos(mm)).collect();
    // Equal weights: weighting by backtest score was tried and did not beat equal weights.
    let add_combo = |members: Vec<usize>, options: &mut Vec<Scored>| {
        let weights = vec![1.0 / members.len() as f64; members.len()];
        let fc = combine(members.iter().map(|&i| pool[i].1.as_slice()), &weights);
        let name = format!(
            "mean({})",
            members
                .iter()
                .map(|&i| pool[i].0.name())
                .collect::<Vec<_>>()
                .join(",")
        );
        options.push(Scored {
            name,
            score: bt.score(&fc),
            members,
            weights,
            fc,
        });
    };
    let mut std_idx = None;
    if std_members.len() >= 2 {
        add_combo(std_members, &mut options);
        std_idx = Some(options.len() - 1);
    }
    if singles >= 3 {
        let members: Vec<usize> = options[..3].iter().map(|o| o.members[0]).collect();
        add_combo(members, &mut options);
    }
    if let Some(si) = std_idx {
        // Another option replaces the default ensemble only if its backtest score is less than
        // half the ensemble's: selection on one short window is noisy, combinations are robust.
        let thr = options[si].score * (1.0 - OVERRIDE_MARGIN);
        let best_other = (0..options.len())
            .filter(|&i| i != si)
            .min_by(|&a, &b| options[a].score.total_cmp(&options[b].score));
        let pick = match best_other {
            Some(b) if options[b].score < thr => b,
            _ => si,
        };
        let chosen = options.remove(pick);
        options.sort_by(|a, b| a.score.total_cmp(&b.score));
        options.insert(0, chosen);
    } else {
        options.sort_by(|a, b| a.score.total_cmp(&b.score));
    }
    let best = &options[0];
    // Final forecast: refit the chosen members on the whole history (keeping the structure
    // selected on the training part: ARIMA order, ETS form).
    let mut finals: Vec<Vec<f64>> = Vec::new();
    let mut fw: Vec<f64> = Vec::new();
    for (&i, &w) in best.members.iter().zip(&best.weights) {
        if let Some(f) = pool[i].2.refit(&y, m) {
            finals.push(f.predict(&y, horizon));
            fw.push(w);
        }
    }
    let tot: f64 = fw.iter().sum();
    fw.iter_mut().for_each(|w| *w /= tot);
    let point: Vec<f64> = if finals.is_empty() {
        vec![0.0; horizon]
    } else {
        combine(finals.iter().map(|v| v.as_slice()), &fw)
            .into_iter()
            .map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 })
            .collect()
    };
    let positive = y.iter().all(|&v| v > 0.0);
    let widths = bt.interval_widths(&best.fc, horizon, positive);
    let (low, high) = apply_widths(&point, &widths, positive);
    let accuracy = bt.accuracy(&best.fc, train, m, positive);
    let total = periods.map(|p| {
        let mean: f64 = (0..p)
            .map(|k| point.get(k).or(point.last()).copied().unwrap_or(0.0))
            .sum();
        let sd = bt.total_error_rms(&best.fc, p).unwrap_or_else(|| {
            // No complete window: errors taken as fully persistent over the span.
            (0..p)
                .map(|k| {
                    let w = widths.get(k).or(widths.last()).copied().unwrap_or(0.0);
                    if positive {
                        w * point.get(k).copied().unwrap_or(0.0)
                    } else {
                        w
                    }
                })
                .sum::<f64>()
                / Z80
        });
        let mut t = TotalDistribution::gamma(p, mean, sd);
        t.method = "gamma_backtest".into();
        t
    });
    let f = Forecast {
        point,
        low,
        high,
        method: best.name.clone(),
        class: cls.class,
        classification: cls,
        candidates: options
            .iter()
            .map(|o| Candidate::scored(o.name.clone(), o.score))
            .collect(),
        accuracy,
        stockout_periods: 0,
    };
    (f, total)
}

/// Element-wise weighted sum of equally long slices (weights sum to 1).
fn combine<'a, I: Iterator<Item = &'a [f64]>>(parts: I, weights: &[f64]) -> Vec<f64> {
    let mut acc: Vec<f64> = Vec::new();
    for (p, &w) in parts.zip(weights) {
        if acc.is_empty() {
            acc = vec![0.0; p.len()];
        }
        acc.iter_mut().zip(p).for_each(|(a, v)| *a += w * v);
    }
    acc
}

/// Scale for backtest scores: in-sample seasonal-naive MAE (regular demand) or naive RMSE
/// (sporadic demand) of the training part, falling back to the mean absolute value.
fn backtest_scale(train: &[f64], m: usize, squared: bool) -> f64 {
    let s = if squared {
        metrics::rmsse_scale(train).sqrt()
    } else {
        metrics::mase_scale(train, m)
    };
    if s.is_finite() && s > 0.0 {
        s
    } else {
        train.iter().map(|v| v.abs()).sum::<f64>() / train.len().max(1) as f64 + 1e-9
    }
}

/// The rolling-origin backtest of one series.
struct Backtest<'a> {
    y: &'a [f64],
    valid: &'a [bool],
    t0: usize,
    hv: usize,
    scale: f64,
    squared: bool,
}

impl Backtest<'_> {
    /// Errors (forecast − actual) at step `k` over all origins with an observed target, with the
    /// forecast value.
    fn step_errors(&self, fc: &[f64], k: usize) -> impl Iterator<Item = (f64, f64)> + '_ {
        let n = self.y.len();
        let hv = self.hv;
        let fc: Vec<f64> = fc.to_vec();
        (self.t0..n.saturating_sub(k)).filter_map(move |t| {
            let j = t + k;
            if !self.valid[j] {
                return None;
            }
            let f = fc[(t - self.t0) * hv + k];
            Some((f - self.y[j], f))
        })
    }

    /// Score: mean over steps of the mean absolute (or root mean squared) error, scaled.
    fn score(&self, fc: &[f64]) -> f64 {
        let mut total = 0.0;
        let mut steps = 0.0;
        for k in 0..self.hv {
            let (mut s, mut c) = (0.0, 0.0);
            for (e, _) in self.step_errors(fc, k) {
                s += if self.squared { e * e } else { e.abs() };
                c += 1.0;
            }
            if c > 0.0 {
                let v = s / c;
                total += if self.squared { v.sqrt() } else { v };
                steps += 1.0;
            }
        }
        if steps == 0.0 {
            f64::INFINITY
        } else {
            total / steps / self.scale
        }
    }

    /// Half-widths of the 80 % interval per step (relative to the point forecast if `relative`),
    /// from the 80 % quantile of the absolute backtest errors at each step, made non-decreasing
    /// and extended beyond the backtest horizon with √k growth.
    fn interval_widths(&self, fc: &[f64], horizon: usize, relative: bool) -> Vec<f64> {
        let mut w = Vec::with_capacity(horizon);
        let mut last = 0.0f64;
        for k in 0..self.hv.min(horizon) {
            let mut errs: Vec<f64> = self
                .step_errors(fc, k)
                .map(|(e, f)| {
                    if relative {
                        (e / f.max(1e-9)).abs()
                    } else {
                        e.abs()
                    }
                })
                .collect();
            let q = quantile(&mut errs, 0.8);
            if q.is_finite() {
                last = last.max(q);
            }
            w.push(last);
        }
        let base = self.hv.max(1) as f64;
        while w.len() < horizon {
            let k = (w.len() + 1) as f64;
            w.push(last * (k / base).sqrt());
        }
        w
    }

    /// Root mean square of the backtest errors of the total over `p` periods (actual −
    /// forecast, over every origin with a complete window); spans longer than the backtest
    /// horizon scale the `hv`-period errors by `p / hv` (persistent errors). `None` with fewer
    /// than three windows.
    fn total_error_rms(&self, fc: &[f64], p: usize) -> Option<f64> {
        let n = self.y.len();
        let span = p.min(self.hv).max(1);
        let scale = p.max(1) as f64 / span as f64;
        let errs: Vec<f64> = (self.t0..=n.saturating_sub(span))
            .map(|t| {
                (0..span)
                    .map(|k| self.y[t + k] - fc[(t - self.t0) * self.hv + k].max(0.0))
                    .sum::<f64>()
                    * scale
            })
            .collect();
        if errs.len() < 3 {
            return None;
        }
        Some((errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt())
    }

    /// Accuracy of the out-of-sample window (origin n − hv) with the given interval widths.
    fn accuracy(&self, fc: &[f64], train: &[f64], m: usize, relative: bool) -> Accuracy {
        let n = self.y.len();
        let split = n - self.hv;
        let row = split - self.t0;
        let f = &fc[row * self.hv..(row + 1) * self.hv];
        let widths = self.interval_widths(fc, self.hv, relative);
        let (lo, hi) = apply_widths(f, &widths, relative);
        let idx: Vec<usize> = (0..self.hv).filter(|&k| self.valid[split + k]).collect();
        if idx.is_empty() {
            return Accuracy::undefined();
        }
        let a: Vec<f64> = idx.iter().map(|&k| self.y[split + k]).collect();
        let pf: Vec<f64> = idx.iter().map(|&k| f[k].max(0.0)).collect();
        let l: Vec<f64> = idx.iter().map(|&k| lo[k]).collect();
        let h: Vec<f64> = idx.iter().map(|&k| hi[k]).collect();
        Accuracy {
            mase: metrics::mase(train, &a, &pf, m),
            mae: metrics::mae(&a, &pf),
            bias: metrics::bias(&a, &pf),
            coverage80: metrics::coverage(&a, &l, &h),
        }
    }
}

/// Interval bounds from half-widths (relative widths multiply the point forecast); the lower
/// bound is clipped at zero.
pub(crate) fn apply_widths(point: &[f64], widths: &[f64], relative: bool) -> (Vec<f64>, Vec<f64>) {
    point
        .iter()
        .zip(widths)
        .map(|(&p, &w)| {
            let w = if relative { w * p.abs() } else { w };
            ((p - w).max(0.0), (p + w).max(0.0))
        })
        .unzip()
}

/// Safe method for short or empty histories: the mean of the in-stock values of the last
/// `min(n, 8)` periods, with an interval of ±z·sd·√(1 + 1/n) (sd of those values; if there are
/// fewer than two, half the mean).
pub(crate) fn short_history(
    y: &[f64],
    valid: &[bool],
    horizon: usize,
    cls: Classification,
) -> Forecast {
    let vals: Vec<f64> = y
        .iter()
        .zip(valid)
        .rev()
        .filter(|(_, &ok)| ok)
        .map(|(&v, _)| v)
        .take(8)
        .collect();
    let k = vals.len() as f64;
    let mean = if k > 0.0 {
        vals.iter().sum::<f64>() / k
    } else {
        0.0
    };
    let sd = if k >= 2.0 {
        (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
    } else {
        0.5 * mean
    };
    let w = Z80 * sd * (1.0 + 1.0 / k.max(1.0)).sqrt();
    let method = if cls.class == DemandClass::NoDemand {
        "zero"
    } else {
        "short_history_mean"
    };
    Forecast {
        point: vec![mean.max(0.0); horizon],
        low: vec![(mean - w).max(0.0); horizon],
        high: vec![(mean + w).max(0.0); horizon],
        method: method.to_string(),
        class: cls.class,
        classification: cls,
        candidates: vec![Candidate {
            method: method.to_string(),
            score: None,
        }],
        accuracy: Accuracy::undefined(),
        stockout_periods: 0,
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8: a monthly seasonal series of about three years whose last values are 0
    /// (discontinued, stockouts recorded as 0) made a multiplicative ETS member stop its rolling
    /// forecasts early, and the backtest indexed past them (`index out of bounds` in
    /// `Backtest::score`). These are the shapes that panicked, with variants ending in returns.
    #[test]
    fn seasonal_series_ending_in_zeros_or_returns_is_forecast() {
        let shapes = [
            (37, 0.2, 2.0),
            (38, 0.8, 6.0),
            (30, 0.5, 4.0),
            (26, 0.5, 0.0),
        ];
        let tails: [&[f64]; 4] = [&[0.0; 6], &[0.0, 0.0, 0.0], &[0.0, -4.0, 0.0], &[-2.0]];
        for (n, amp, growth) in shapes {
            for tail in tails {
                let mut y: Vec<f64> = (0..n)
                    .map(|t| {
                        let phase = (t % 12) as f64 / 12.0 * std::f64::consts::TAU;
                        (100.0 + growth * t as f64) * (1.0 + amp * phase.sin())
                    })
                    .collect();
                y[n - tail.len()..].copy_from_slice(tail);
                let input = SeriesInput {
                    values: &y,
                    in_stock: None,
                    season: 12,
                };
                // The model path itself must cope (not only the safety net around it).
                let f = forecast_full(&input, 12);
                assert_eq!(f.point.len(), 12);
                let f = forecast(&input, 12, &Options::default());
                assert_ne!(f.method, "fallback_mean", "n={n} tail={tail:?}");
                for k in 0..12 {
                    assert!(f.point[k].is_finite() && f.low[k] >= 0.0, "{f:?}");
                    assert!(f.low[k] <= f.point[k] && f.point[k] <= f.high[k]);
                }
            }
        }
    }

    /// A SKU whose every backtest day was out of stock has nothing to score its candidates
    /// on: their scores read "not measured" (once a stand-in 0.000), and the forecast says how
    /// many trailing periods it rests before.
    #[test]
    fn unmeasured_scores_are_none_and_the_stockout_is_counted() {
        let mut y: Vec<f64> = (0..120).map(|t| 5.0 + (t % 7) as f64).collect();
        let mut s = vec![true; 120];
        for t in 80..120 {
            y[t] = 0.0;
            s[t] = false;
        }
        for fast in [true, false] {
            let f = forecast(
                &SeriesInput {
                    values: &y,
                    in_stock: Some(&s),
                    season: 7,
                },
                14,
                &Options { fast },
            );
            assert_eq!(f.stockout_periods, 40, "fast={fast}");
            assert!(!f.candidates.is_empty());
            assert!(
                f.candidates.iter().all(|c| c.score.is_none()),
                "fast={fast} {:?}",
                f.candidates
            );
            let json = serde_json::to_value(&f.candidates[0]).unwrap();
            assert!(json["score"].is_null(), "{json}");
        }
        // In stock to the end: measured, finite scores and no stockout.
        let f = forecast(
            &SeriesInput {
                values: &y[..80],
                in_stock: Some(&s[..80]),
                season: 7,
            },
            14,
            &Options { fast: true },
        );
        assert_eq!(f.stockout_periods, 0);
        assert!(f
            .candidates
            .iter()
            .all(|c| c.score.is_some_and(f64::is_finite)));
    }

    /// Daily series with skewed noise and rare week-long promotions the models do not know:
    /// the catalogue calibration brings the held-out coverage of the 80 % intervals and of the
    /// total's 10 %–90 % range near 80 %, and `service95` near 95 %.
    /// A catalogue whose held-out totals all lie far above their forecasts (sixty series whose
    /// sales jumped tenfold three lead times ago) maps the 95 % level near 1 for every series
    /// pooled with them. One lumpy series
    /// among them (10–70 units every 17th day: at most two sales in any 28 days, 120 units at most)
    /// read its model's quantile at that level, a total of many times anything it sold; bounded,
    /// its 95 % quantile is at most its own model's quantile (in the pool's fitted spread)
    /// plus its largest 28-day total.
    #[test]
    fn a_pooled_recalibration_cannot_run_away_on_a_skewed_series() {
        let series = jumped_catalogue(300);
        let inputs = daily_inputs(&series);
        let opts = Options { fast: true };
        let (f, own) = forecast_with_total(&inputs[60], 28, 28, &opts);
        let cal = Calibration::fit(&inputs, 28, 28, &opts);
        let own = in_pool_spread(&cal, f.class, own);
        let out = forecast_many_with_total(&inputs, 28, 28, &opts);
        let t = &out[60].1;
        let largest = largest_total(&inputs[60], 28).expect("long enough");
        assert_eq!(largest, 120.0);
        let q95 = t.quantile(0.95);
        assert!(q95 <= own.quantile(0.95) + largest + 1e-9, "{q95}");
        assert!(
            q95 > own.quantile(0.95),
            "recalibration still raises it: {q95}"
        );
    }

    /// `t` in the spread `cal` gives its class's pool, before recalibration: the model a
    /// recalibrated quantile is read from and bounded by.
    fn in_pool_spread(
        cal: &Calibration,
        class: DemandClass,
        mut t: TotalDistribution,
    ) -> TotalDistribution {
        let pool = cal
            .classes
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, p)| p)
            .or(cal.all.as_ref())
            .expect("a fitted calibration");
        t.use_daily_spread(pool.spread);
        t
    }

    /// Daily inputs (weekly season, no stock mask) over `series`.
    fn daily_inputs(series: &[Vec<f64>]) -> Vec<SeriesInput<'_>> {
        series
            .iter()
            .map(|v| SeriesInput {
                values: v,
                in_stock: None,
                season: 7,
            })
            .collect()
    }

    /// Sixty daily series whose sales jumped tenfold three lead times ago, and a lumpy one.
    fn jumped_catalogue(n: usize) -> Vec<Vec<f64>> {
        let mut series: Vec<Vec<f64>> = (0..60)
            .map(|i| {
                (0..n)
                    .map(|t| {
                        let base = 5.0 + ((t * 7 + i) % 3) as f64;
                        if t >= n - 84 {
                            10.0 * base
                        } else {
                            base
                        }
                    })
                    .collect()
            })
            .collect();
        series.push(
            (0..n)
                .map(|t| {
                    if t % 17 == 0 {
                        ((t * 31 % 7) as f64 + 1.0) * 10.0
                    } else {
                        0.0
                    }
                })
                .collect(),
        );
        series
    }

    /// The plan job forecasts its lines one by one: a calibration fitted once on the
    /// catalogue and applied to each line's own forecast gives exactly what the catalogue run
    /// ([`forecast_many_with_total`]) gives, intervals and quantiles of the total alike.
    #[test]
    fn a_fitted_calibration_applied_line_by_line_matches_the_catalogue_run() {
        let series = jumped_catalogue(300);
        let inputs = daily_inputs(&series);
        let opts = Options { fast: true };
        let batch = forecast_many_with_total(&inputs, 28, 28, &opts);
        let cal = Calibration::fit(&inputs, 28, 28, &opts);
        assert!(!cal.is_empty());
        let mut changed = 0;
        for (input, (bf, bt)) in inputs.iter().zip(&batch) {
            let (mut f, mut t) = forecast_with_total(input, 28, 28, &opts);
            let raw95 = t.quantile(0.95);
            cal.apply(input, &mut f, &mut t);
            changed += usize::from(t.quantile(0.95) != raw95);
            assert_eq!((&f.low, &f.high), (&bf.low, &bf.high));
            for p in [0.1, 0.5, 0.9, 0.95, 0.99] {
                assert_eq!(t.quantile(p), bt.quantile(p), "p={p}");
            }
        }
        assert!(changed > 50, "{changed}");
    }

    /// Steady demand whose lead-time total is known: 300 daily series of Poisson sales (rates
    /// 0.05 to 4 a day, so lumpy, intermittent and regular alike), 28 days ahead. The total of
    /// 28 independent days is Poisson with 28 times the rate; the calibrated 95 % quantiles add
    /// up to within a tenth of the true ones (the daily spread, scaled by the ratio fitted on
    /// the held-out windows), where the model's own spread, recalibrated alone, held more
    /// (its backtest errors widened for their few independent windows).
    #[test]
    fn the_calibrated_total_of_steady_demand_holds_what_its_true_quantile_holds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let poisson = |rng: &mut rand::rngs::StdRng, rate: f64| -> f64 {
            let (limit, mut k, mut p) = ((-rate).exp(), 0.0, 1.0);
            loop {
                p *= rng.gen_range(0.0..1.0);
                if p <= limit {
                    return k;
                }
                k += 1.0;
            }
        };
        let rates: Vec<f64> = (0..300)
            .map(|i| 0.05 + 3.95 * f64::from(i) / 299.0)
            .collect();
        let series: Vec<Vec<f64>> = rates
            .iter()
            .map(|&r| (0..400).map(|_| poisson(&mut rng, r)).collect())
            .collect();
        let inputs = daily_inputs(&series);
        let opts = Options { fast: true };
        let out = forecast_many_with_total(&inputs, 28, 28, &opts);
        // The true 95 % quantile of a Poisson total with mean 28·rate.
        let true_q95 = |mean: f64| -> f64 {
            let (mut k, mut pk, mut cdf) = (0.0, (-mean).exp(), (-mean).exp());
            while cdf < 0.95 {
                k += 1.0;
                pk *= mean / k;
                cdf += pk;
            }
            k
        };
        let truth: f64 = rates.iter().map(|r| true_q95(28.0 * r)).sum();
        let calibrated: f64 = out.iter().map(|(_, t)| t.quantile(0.95)).sum();
        let ratio = calibrated / truth;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{calibrated} / {truth} = {ratio}"
        );
    }

    /// A calibration stored as JSON and read back applies identically (intervals and every
    /// quantile of the total, bit for bit); a stored form of another version, or not a
    /// calibration at all, is refused.
    #[test]
    fn a_stored_calibration_applies_identically_and_another_version_is_refused() {
        let series = jumped_catalogue(300);
        let inputs = daily_inputs(&series);
        let opts = Options { fast: true };
        let cal = Calibration::fit(&inputs, 28, 28, &opts);
        assert!(!cal.is_empty());
        let json = cal.to_json();
        let back = Calibration::from_json(&json).expect("reads back");
        assert_eq!(back, cal);
        for input in inputs.iter().step_by(7) {
            let (mut f1, mut t1) = forecast_with_total(input, 28, 14, &opts);
            let (mut f2, mut t2) = (f1.clone(), t1.clone());
            cal.apply(input, &mut f1, &mut t1);
            back.apply(input, &mut f2, &mut t2);
            assert_eq!((&f1.low, &f1.high), (&f2.low, &f2.high));
            for p in [0.05, 0.1, 0.5, 0.8, 0.9, 0.95, 0.975, 0.99] {
                assert_eq!(t1.quantile(p).to_bits(), t2.quantile(p).to_bits(), "p={p}");
            }
        }
        let mut v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        v["version"] = serde_json::json!(CALIBRATION_VERSION + 1);
        let err = Calibration::from_json(&v.to_string()).expect_err("another version");
        assert!(matches!(err, CalibrationError::Version { .. }), "{err}");
        assert!(Calibration::from_json("{\"levels\": []}").is_err());
        let empty = Calibration::default();
        assert_eq!(Calibration::from_json(&empty.to_json()).ok(), Some(empty));
    }

    /// Levels are probabilities and the spread a ratio: a calibration fitted on 28-day totals
    /// recalibrates a 14-day lead time's total too, bounded by the series' own largest 14-day
    /// total. The jumped catalogue's held-out totals lay far above their forecasts, so a series
    /// of it gets a higher 95 % quantile than its own model's (in the pool's spread), at most
    /// that plus its largest 14-day total.
    /// Fewer than fifty series measured: nothing changes.
    #[test]
    fn a_calibration_applies_to_another_lead_time_and_needs_a_catalogue() {
        let series = jumped_catalogue(300);
        let inputs = daily_inputs(&series);
        let opts = Options { fast: true };
        let cal = Calibration::fit(&inputs, 28, 28, &opts);
        let (mut f, mut t) = forecast_with_total(&inputs[3], 14, 14, &opts);
        let own = in_pool_spread(&cal, f.class, t.clone()).quantile(0.95);
        cal.apply(&inputs[3], &mut f, &mut t);
        let largest = largest_total(&inputs[3], 14).expect("long enough");
        let q95 = t.quantile(0.95);
        assert!(q95 > own && q95 <= own + largest + 1e-9, "{own} {q95}");
        let small = Calibration::fit(&inputs[..40], 28, 28, &opts);
        assert!(small.is_empty());
        let (mut f2, mut t2) = forecast_with_total(&inputs[3], 14, 14, &opts);
        let before = (f2.high.clone(), t2.quantile(0.95));
        small.apply(&inputs[3], &mut f2, &mut t2);
        assert_eq!((f2.high.clone(), t2.quantile(0.95)), before);
    }

    /// Where a series is cut for its held-out windows, worked by hand: a window's history is
    /// at least as long as the window, and at most twice `MIN_SELECT` (16) is asked for.
    #[test]
    fn held_out_windows_of_short_histories_by_hand() {
        let full = Options { fast: false };
        let fast = Options { fast: true };
        // Seven months, windows of 3: cut at 4 (history 4 ≥ 3); the look-back of 16 periods
        // asked before (7 < 3 + 16) left such a catalogue uncalibrated.
        assert_eq!(calibration_cuts(7, 3, &full), vec![4]);
        assert_eq!(calibration_cuts(6, 3, &full), vec![3]);
        assert_eq!(calibration_cuts(5, 3, &full), Vec::<usize>::new());
        // 29 weeks, windows of 13: cut at 16; 25 weeks leave 12 < 13.
        assert_eq!(calibration_cuts(29, 13, &full), vec![16]);
        assert_eq!(calibration_cuts(26, 13, &full), vec![13]);
        assert_eq!(calibration_cuts(25, 13, &full), Vec::<usize>::new());
        // Windows of 28 days keep the look-back of 16: three windows on the fast path while
        // the history before the oldest is 16 days or more.
        assert_eq!(calibration_cuts(100, 28, &fast), vec![72, 44, 16]);
        assert_eq!(calibration_cuts(99, 28, &fast), vec![71, 43]);
        assert_eq!(calibration_cuts(43, 28, &fast), Vec::<usize>::new());
        assert_eq!(calibration_cuts(100, 28, &full), vec![72]);
    }

    /// A catalogue of seven-period histories is calibrated (it was not: a window needed 16
    /// periods before it). Each series is 10, 12, 8, 10 then 20, 20, 20. Its held-out window
    /// is forecast from the first four: mean 10, sd √(8/3) = 1.632993, half-width
    /// z80 · sd · √(1 + 1/4) = 2.339782; every held-out actual (20) lies 10 / 2.339782 =
    /// 4.273902 half-widths above the point, the conformal factor. The band of a series
    /// forecast from 10, 12, 8, 10 is scaled by it: its upper bound is the held-out 20, its
    /// lower one 10 − 10 = 0 (to the
    /// factor's nine decimals).
    #[test]
    fn a_catalogue_of_short_histories_is_calibrated_by_hand() {
        let history = vec![10.0, 12.0, 8.0, 10.0, 20.0, 20.0, 20.0];
        let catalogue = vec![history; 60];
        let inputs: Vec<SeriesInput> = catalogue
            .iter()
            .map(|v| SeriesInput {
                values: v,
                in_stock: None,
                season: 12,
            })
            .collect();
        let opts = Options { fast: false };
        let cal = Calibration::fit(&inputs, 3, 3, &opts);
        assert!(!cal.is_empty());
        let first = [10.0, 12.0, 8.0, 10.0];
        let mut f = forecast(
            &SeriesInput {
                values: &first,
                in_stock: None,
                season: 12,
            },
            3,
            &opts,
        );
        assert_eq!(f.class, DemandClass::Smooth);
        for k in 0..3 {
            assert!((f.point[k] - 10.0).abs() < 1e-9);
            assert!((f.high[k] - 12.339_782_34).abs() < 1e-6, "{:?}", f.high);
        }
        cal.apply_band(&mut f);
        for k in 0..3 {
            assert!((f.high[k] - 20.0).abs() < 1e-6, "{:?}", f.high);
            // 10 − 4.273901825 · 2.339782337 (the factor is held to nine decimals).
            assert!(f.low[k].abs() < 1e-6, "{:?}", f.low);
        }
    }

    #[test]
    fn catalogue_calibration_hits_the_promised_coverage() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (n, h) = (200usize, 28usize);
        let series: Vec<Vec<f64>> = (0..300)
            .map(|_| {
                let level: f64 = rng.gen_range(2.0..40.0);
                // A week of promotion now and then: rare, large and not in the model.
                let mut promo = 0usize;
                (0..n + h)
                    .map(|_| {
                        if promo == 0 && rng.gen_bool(0.005) {
                            promo = 7;
                        }
                        let boost = if promo > 0 {
                            promo -= 1;
                            3.0
                        } else {
                            1.0
                        };
                        let u: f64 = rng.gen_range(0.0..1.0);
                        (level * boost * (0.2 + 3.0 * u.powi(4))).round()
                    })
                    .collect()
            })
            .collect();
        let inputs: Vec<SeriesInput> = series
            .iter()
            .map(|v| SeriesInput {
                values: &v[..n],
                in_stock: None,
                season: 7,
            })
            .collect();
        let opts = Options { fast: true };
        let measure = |out: &[(Forecast, TotalDistribution)]| {
            let (mut inside, mut days, mut in80, mut served) = (0, 0, 0, 0);
            for (v, (f, t)) in series.iter().zip(out) {
                let test = &v[n..];
                for ((a, l), hi) in test.iter().zip(&f.low).zip(&f.high) {
                    inside += usize::from(a >= l && a <= hi);
                    days += 1;
                }
                let total: f64 = test.iter().sum();
                in80 += usize::from(total >= t.quantile(0.1) && total <= t.quantile(0.9));
                served += usize::from(total <= t.quantile(0.95));
            }
            let s = out.len() as f64;
            (
                inside as f64 / days as f64,
                in80 as f64 / s,
                served as f64 / s,
            )
        };
        let raw: Vec<(Forecast, TotalDistribution)> = inputs
            .iter()
            .map(|i| forecast_with_total(i, h, h, &opts))
            .collect();
        let (c_raw, t_raw, s_raw) = measure(&raw);
        let (c, t, s) = measure(&forecast_many_with_total(&inputs, h, h, &opts));
        eprintln!("raw {c_raw:.3} {t_raw:.3} {s_raw:.3}; calibrated {c:.3} {t:.3} {s:.3}");
        assert!((0.74..=0.86).contains(&c), "coverage80 {c} (raw {c_raw})");
        assert!(
            (0.72..=0.88).contains(&t),
            "coverage80_total {t} (raw {t_raw})"
        );
        assert!((0.91..=0.99).contains(&s), "service95 {s} (raw {s_raw})");
    }

    #[test]
    fn classification_by_hand() {
        // 6 periods, 3 non-zero (2, 4, 6): ADI = 2; mean 4, var (4+0+4)/3 = 8/3, CV² = 1/6.
        let c = classify(&[2.0, 0.0, 4.0, 0.0, 6.0, 0.0], None);
        assert_eq!(c.adi, 2.0);
        assert!((c.cv2 - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(c.class, DemandClass::Intermittent);
        // Out-of-stock zeros do not count: ADI = 3 / 3 = 1 → smooth.
        let valid = [true, false, true, false, true, false];
        let c = classify(&[2.0, 0.0, 4.0, 0.0, 6.0, 0.0], Some(&valid));
        assert_eq!(c.class, DemandClass::Smooth);
        assert_eq!(classify(&[0.0, 0.0], None).class, DemandClass::NoDemand);
    }

    #[test]
    fn imputation_uses_in_stock_neighbours() {
        // Window 3 around index 2: in-stock values 4, 6, 8 (index 1, 3, 4... within ±3) → mean.
        let v = [4.0, 6.0, 0.0, 8.0, 10.0, 12.0, 14.0];
        let s = [true, true, false, true, true, true, true];
        let (y, valid) = impute(&v, Some(&s), 1);
        // indices 0..=5 except 2: 4+6+8+10+12 = 40 / 5 = 8
        assert_eq!(y[2], 8.0);
        assert!(!valid[2]);
    }

    #[test]
    fn a_long_trailing_stockout_keeps_the_rate_before_it() {
        // 3, 5, 3, 5, … for 20 days, then 20 days out of stock (season 7:
        // w = 7). Days more than 7 past the last in-stock day take the mean
        // of the 7 last in-stock values (days 13..=19: 5, 3, 5, 3, 5, 3, 5,
        // so 29 / 7), never one day's value (5 before).
        let mut v: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 3.0 } else { 5.0 })
            .collect();
        v.extend([0.0; 20]);
        let s: Vec<bool> = (0..40).map(|i| i < 20).collect();
        let (y, _) = impute(&v, Some(&s), 7);
        for (i, y) in y.iter().enumerate().skip(27) {
            assert!((y - 29.0 / 7.0).abs() < 1e-12, "day {i}: {y}");
        }
    }

    #[test]
    fn short_history_mean_by_hand() {
        let f = forecast(
            &SeriesInput {
                values: &[2.0, 4.0, 6.0],
                in_stock: None,
                season: 1,
            },
            2,
            &Options::default(),
        );
        // mean 4, sd 2, width 1.2816·2·√(4/3)
        assert_eq!(f.point, vec![4.0, 4.0]);
        let w = Z80 * 2.0 * (4.0f64 / 3.0).sqrt();
        assert!((f.high[0] - (4.0 + w)).abs() < 1e-12);
        assert_eq!(f.method, "short_history_mean");
    }

    #[test]
    fn seasonal_series_gets_a_seasonal_forecast() {
        let y: Vec<f64> = (0..96)
            .map(|t| {
                100.0 + t as f64 + 30.0 * ((t % 12) as f64 / 12.0 * std::f64::consts::TAU).sin()
            })
            .collect();
        let f = forecast(
            &SeriesInput {
                values: &y,
                in_stock: None,
                season: 12,
            },
            12,
            &Options::default(),
        );
        for (k, p) in f.point.iter().enumerate() {
            let t = 96 + k;
            let truth =
                100.0 + t as f64 + 30.0 * ((t % 12) as f64 / 12.0 * std::f64::consts::TAU).sin();
            assert!((p - truth).abs() < 5.0, "{k} {p} {truth} {}", f.method);
            assert!(f.low[k] <= *p && *p <= f.high[k]);
        }
        assert_eq!(f.class, DemandClass::Smooth);
        assert!(!f.candidates.is_empty());
    }

    #[test]
    fn intermittent_series_uses_intermittent_methods() {
        // Demand of 3 every fourth period: ADI 4, CV² 0 → intermittent; rate 0.75 per period.
        let y: Vec<f64> = (0..80)
            .map(|t| if t % 4 == 0 { 3.0 } else { 0.0 })
            .collect();
        let f = forecast(
            &SeriesInput {
                values: &y,
                in_stock: None,
                season: 1,
            },
            5,
            &Options::default(),
        );
        assert_eq!(f.class, DemandClass::Intermittent);
        assert!(f.point.iter().all(|p| (p - 0.75).abs() < 0.25), "{f:?}");
        assert!(f.low.iter().all(|&l| l >= 0.0));
    }

    #[test]
    fn out_of_stock_periods_are_not_zero_demand() {
        // Steady 10 per period, but the last 10 periods were out of stock (recorded as 0).
        let mut y = vec![10.0; 60];
        let mut s = vec![true; 60];
        for t in 50..60 {
            y[t] = 0.0;
            s[t] = false;
        }
        for fast in [false, true] {
            let f = forecast(
                &SeriesInput {
                    values: &y,
                    in_stock: Some(&s),
                    season: 1,
                },
                3,
                &Options { fast },
            );
            assert!(
                f.point.iter().all(|p| (p - 10.0).abs() < 0.5),
                "{fast} {f:?}"
            );
        }
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&mut v, 0.8), 4.2);
    }

    #[test]
    fn short_seasonal_history_is_handled() {
        // 20 monthly values (under two seasons): no seasonal test is possible, so the default is
        // the non-seasonal trio hedged with the seasonal naive; forecasts stay finite, positive
        // and near the level, and the interval contains the point.
        let y: Vec<f64> = (0..20)
            .map(|t| 100.0 + [0.0, 5.0, -5.0, 10.0][t % 4] + t as f64)
            .collect();
        let f = forecast(
            &SeriesInput {
                values: &y,
                in_stock: None,
                season: 12,
            },
            12,
            &Options::default(),
        );
        assert!(f.method.contains("seasonal_naive"), "{}", f.method);
        for (k, p) in f.point.iter().enumerate() {
            assert!(p.is_finite() && (80.0..160.0).contains(p), "{k} {p}");
            assert!(f.low[k] <= *p && *p <= f.high[k]);
        }
        // Under one season: no seasonal naive.
        let f = forecast(
            &SeriesInput {
                values: &y[..10],
                in_stock: None,
                season: 12,
            },
            3,
            &Options::default(),
        );
        assert!(!f.method.contains("seasonal_naive"), "{}", f.method);
        assert!(f.point.iter().all(|p| p.is_finite() && *p > 50.0));
    }
}

/// A forecast or distribution method's name as a merchant reads it
/// (`ses_dow` → "exponential smoothing with a weekday pattern"); an unknown
/// code is returned as it is.
pub fn method_label(code: &str) -> String {
    if let Some(inner) = code.strip_prefix("mean(").and_then(|r| r.strip_suffix(')')) {
        let mut parts: Vec<String> = inner.split(',').map(method_label).collect();
        let last = parts.pop().unwrap_or_default();
        return if parts.is_empty() {
            format!("average of {last}")
        } else {
            format!("average of {} and {last}", parts.join(", "))
        };
    }
    if let Some(base) = code.strip_suffix("_dow") {
        return format!("{} with a weekday pattern", method_label(base));
    }
    match code {
        "ses" => "exponential smoothing",
        "holt" => "exponential smoothing with trend",
        "holt_damped" => "exponential smoothing with a damped trend",
        "sba" => "Syntetos–Boylan (for intermittent demand)",
        "tsb" => "Teunter–Syntetos–Babai (for intermittent demand that may stop)",
        "croston" => "Croston (for intermittent demand)",
        "historic_average" => "historic average",
        "adida" => "smoothing of demand summed over its usual interval (ADIDA)",
        "naive" => "last value",
        "seasonal_naive" => "same period last season",
        "theta" => "theta method",
        "zero" => "no demand",
        "arima_airline" => "seasonal ARIMA (airline model)",
        "ets_ana" => "exponential smoothing with additive seasonality",
        "ets_adamped_a" => "exponential smoothing with damped trend and additive seasonality",
        "ets_mam" => "exponential smoothing with multiplicative trend-free seasonality",
        "ets_mnm" => "exponential smoothing with multiplicative seasonality",
        "ets_madamped_m" => {
            "exponential smoothing with damped trend and multiplicative seasonality"
        }
        "backtest_errors_gamma_mixture" | "gamma_mixture" => {
            "from past forecast errors (gamma mixture)"
        }
        "backtest_errors" | "gamma_backtest" => "from past forecast errors",
        "gamma" => "gamma distribution around the forecast",
        "gamma_short_history" => "gamma distribution (short history)",
        "quantiles" => "empirical quantiles",
        other => return other.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod label_tests {
    use super::method_label;

    #[test]
    fn method_codes_read_as_words() {
        assert_eq!(
            method_label("ses_dow"),
            "exponential smoothing with a weekday pattern"
        );
        assert_eq!(
            method_label("mean(sba,historic_average)"),
            "average of Syntetos–Boylan (for intermittent demand) and historic average"
        );
        assert_eq!(
            method_label("backtest_errors_gamma_mixture"),
            "from past forecast errors (gamma mixture)"
        );
        assert_eq!(
            method_label("mean(ses,historic_average,adida)_dow"),
            "average of exponential smoothing, historic average and smoothing of demand \
             summed over its usual interval (ADIDA) with a weekday pattern"
        );
        assert_eq!(method_label("something_new"), "something_new");
    }
}
