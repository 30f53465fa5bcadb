//! Daily accuracy benchmark: the server's fast path on 2,797 real daily SKU series of a
//! wholesaler (`tests/data/online_retail_daily_to_2011-09-30.csv.gz`, `series_id,period,quantity`,
//! each series from its first sale to 2011-09-30; negative quantities are net returns).
//!
//! Rolling origin: four 28-day windows at the end of the data. For each window the engine sees
//! only the days before it (no window is seen by the fit) and forecasts the 28 days and the
//! distribution of their total. Reported per window and overall:
//!
//! - `mase` (scale: in-sample MAE of the lag-7 seasonal naive) and `mae` of the daily points;
//! - `coverage80`: share of days inside the daily 80 % interval;
//! - `coverage80_total`: share of series whose 28-day total lies in the total's 10 %–90 % range
//!   (with the shares below and above it); a window's total is its demand, each day's net
//!   returns counting as no demand;
//! - `service95`: share of series whose 28-day total is at most the total's 95 % quantile (the
//!   share of 28-day lead times that end without a stock-out when the reorder point is that
//!   quantile), and `inventory95` = Σ q95 / Σ actual total (units held per unit sold);
//! - the textbook reorder point (forecast total + z·σ·√28, σ of daily demand) for comparison:
//!   its service, and the inventory it needs once its safety stock is inflated until it, too,
//!   reaches 95 %;
//! - the same two figures before the catalogue calibration (one series' forecast alone, as a
//!   plan line computes it), and both per demand class;
//! - the inventory the uncalibrated distributions need when read at the one level that serves
//!   exactly 95 % of the window's series (chosen on the window, like the textbook's
//!   inflation): which of the two spreads the stock better across series.
//!
//! - the **plan job's path**: each series a plan line with no stock and a lead time of 28 days
//!   (the window) or 14 (the window's first 14 days), its reorder point (lead-time forecast
//!   plus safety stock) computed as the plan job computes a line, with the calibration the
//!   plan job fits on an account's lines (an even sample of at most 400, on the days before
//!   the window, `planning::calibrate::fit`) and without it: `service95` (share of series whose
//!   lead-time demand is at most the reorder point) and `inventory95` (Σ reorder point /
//!   Σ demand), overall and per demand class: what a merchant's plan line serves.
//!
//! Each window's MASE and MAE are printed beside statsforecast's best single model and best
//! equal-weight combination on the same split (`benches/data/statsforecast_reference.json`).
//!
//! Run with `cargo bench --bench daily_accuracy`.

use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

use rayon::prelude::*;
use tributary::forecast::{
    forecast_with_total, metrics, Calibration, DemandClass, Options, SeriesInput, TotalDistribution,
};
use tributary::planning::calibrate;
use tributary::replenish::demand_stats;

mod reference;

const WINDOW: usize = 28;
const WINDOWS: usize = 4;
const Z95: f64 = 1.644_853_626_951_472_2;

/// Reads the gzipped long CSV into series (in order of first appearance), all ending on the
/// same last day.
fn read() -> Vec<(String, Vec<f64>)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/online_retail_daily_to_2011-09-30.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("data file"))
        .read_to_string(&mut text)
        .expect("gzip");
    let mut order: Vec<String> = Vec::new();
    let mut map: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for line in text.lines().skip(1) {
        let mut it = line.split(',');
        let (id, day, q) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let q: f64 = q.parse().expect("quantity");
        map.entry(id.to_string())
            .or_insert_with(|| {
                order.push(id.to_string());
                Vec::new()
            })
            .push((day.to_string(), q));
    }
    order
        .into_iter()
        .map(|id| {
            let mut rows = map.remove(&id).unwrap();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let v = rows.into_iter().map(|r| r.1).collect();
            (id, v)
        })
        .collect()
}

/// Per-series results of one window.
struct Row {
    mase: f64,
    mae: f64,
    inside: usize,
    days: usize,
    actual: f64,
    low: f64,
    high: f64,
    q95: f64,
    text_mean: f64,
    text_ss: f64,
    /// Demand class of the series (the forecast's).
    class: DemandClass,
    /// 95 % quantile of the total before the catalogue calibration (what one series'
    /// forecast alone gives).
    raw_q95: f64,
    /// The distribution of the total before the catalogue calibration.
    raw: TotalDistribution,
}

#[derive(Default)]
struct Summary {
    series: usize,
    mase: (f64, usize),
    mae: f64,
    inside: usize,
    days: usize,
    in80: usize,
    below10: usize,
    above90: usize,
    served: usize,
    q95: f64,
    actual: f64,
    text_served: usize,
}

fn summarise(rows: &[Row]) -> Summary {
    let mut s = Summary::default();
    for r in rows {
        s.series += 1;
        if r.mase.is_finite() {
            s.mase.0 += r.mase;
            s.mase.1 += 1;
        }
        s.mae += r.mae;
        s.inside += r.inside;
        s.days += r.days;
        s.in80 += usize::from(r.actual >= r.low && r.actual <= r.high);
        s.below10 += usize::from(r.actual < r.low);
        s.above90 += usize::from(r.actual > r.high);
        s.served += usize::from(r.actual <= r.q95);
        s.q95 += r.q95;
        s.actual += r.actual;
        s.text_served += usize::from(r.actual <= r.text_mean + r.text_ss);
    }
    s
}

/// Inventory per unit sold of the uncalibrated distributions read at the one level that
/// serves exactly 95 % of the series (bisection on the level): the engine's allocation of
/// stock across series judged the way the inflated textbook is (a level chosen on the window
/// itself), so that the two say which spreads the stock better.
fn inflated_engine(rows: &[Row]) -> (f64, f64) {
    let served = |p: f64| {
        rows.par_iter()
            .filter(|r| r.actual <= r.raw.quantile(p))
            .count() as f64
            / rows.len() as f64
    };
    let (mut lo, mut hi) = (0.5, 0.9999);
    for _ in 0..20 {
        let mid = 0.5 * (lo + hi);
        if served(mid) >= 0.95 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let stock: f64 = rows.par_iter().map(|r| r.raw.quantile(hi)).sum();
    let actual: f64 = rows.iter().map(|r| r.actual).sum();
    (hi, stock / actual)
}

/// Inventory per unit sold of the textbook reorder point with its safety stock multiplied by
/// the smallest factor that serves 95 % of the series (bisection).
fn inflated_textbook(rows: &[Row]) -> (f64, f64) {
    let served = |k: f64| {
        rows.iter()
            .filter(|r| r.actual <= r.text_mean + k * r.text_ss)
            .count() as f64
            / rows.len() as f64
    };
    let (mut lo, mut hi) = (0.0, 1.0);
    while served(hi) < 0.95 && hi < 1e6 {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if served(mid) >= 0.95 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let stock: f64 = rows.iter().map(|r| r.text_mean + hi * r.text_ss).sum();
    let actual: f64 = rows.iter().map(|r| r.actual).sum();
    (hi, stock / actual)
}

fn line(name: &str, rows: &[Row]) -> String {
    let s = summarise(rows);
    let (k, inv_text) = inflated_textbook(rows);
    let n = s.series as f64;
    let raw_served = rows.iter().filter(|r| r.actual <= r.raw_q95).count() as f64 / n;
    let raw_inv = rows.iter().map(|r| r.raw_q95).sum::<f64>() / s.actual;
    let (level, inv_engine) = inflated_engine(rows);
    format!(
        "{name}: series={} mase={:.4} mae={:.4} coverage80={:.3} coverage80_total={:.3} (below {:.3}, above {:.3}) service95={:.3} inventory95={:.3} (uncalibrated {raw_served:.3}, {raw_inv:.3}) textbook_service95={:.3} textbook_inflated_x{k:.2}_inventory95={inv_text:.3} uncalibrated_at_level_{level:.4}_inventory95={inv_engine:.3}",
        s.series,
        s.mase.0 / s.mase.1.max(1) as f64,
        s.mae / n,
        s.inside as f64 / s.days.max(1) as f64,
        s.in80 as f64 / n,
        s.below10 as f64 / n,
        s.above90 as f64 / n,
        s.served as f64 / n,
        s.q95 / s.actual,
        s.text_served as f64 / n,
    )
}

/// Per demand class: series, `service95` and `inventory95` after the catalogue calibration
/// and before it (`raw`: one series' forecast alone, as a plan line computes it).
fn by_class(name: &str, rows: &[Row]) -> String {
    let mut parts = Vec::new();
    for cls in [
        DemandClass::Smooth,
        DemandClass::Erratic,
        DemandClass::Intermittent,
        DemandClass::Lumpy,
    ] {
        let r: Vec<&Row> = rows.iter().filter(|r| r.class == cls).collect();
        if r.is_empty() {
            continue;
        }
        let n = r.len() as f64;
        let actual: f64 = r.iter().map(|r| r.actual).sum();
        let served =
            |q: &dyn Fn(&Row) -> f64| r.iter().filter(|r| r.actual <= q(r)).count() as f64 / n;
        parts.push(format!(
            "{}: n={} service95={:.3} inventory95={:.3} raw_service95={:.3} raw_inventory95={:.3}",
            cls.name(),
            r.len(),
            served(&|r| r.q95),
            r.iter().map(|r| r.q95).sum::<f64>() / actual,
            served(&|r| r.raw_q95),
            r.iter().map(|r| r.raw_q95).sum::<f64>() / actual,
        ));
    }
    format!("{name} by class | {}", parts.join(" | "))
}

/// The plan job's path on one window (see the module's doc): per lead time, with the plan
/// job's calibration and without, service and inventory overall and per demand class.
fn plan_lines(name: &str, used: &[(&[f64], &[f64])]) -> Vec<String> {
    let series: Vec<(Vec<f64>, Vec<bool>)> = used
        .iter()
        .map(|(train, _)| {
            (
                train.iter().map(|v| v.max(0.0)).collect(),
                vec![true; train.len()],
            )
        })
        .collect();
    let cal = calibrate::fit(&series);
    let today = chrono::NaiveDate::from_ymd_opt(2011, 1, 1).unwrap();
    let mut out = vec![format!(
        "{name} plan_line calibration (fitted on {} of {} lines): {}",
        series.len().min(calibrate::SAMPLE),
        series.len(),
        cal.summary()
    )];
    for lead in [28usize, 14] {
        // Per series: (class, actual, reorder point calibrated, uncalibrated).
        let rows: Vec<(String, f64, f64, f64)> = series
            .par_iter()
            .zip(used)
            .map(|((v, s), (_, test))| {
                let figures = |c: Option<&Calibration>| {
                    calibrate::line_figures(v.clone(), s.clone(), lead as f64, 30.0, c, today)
                };
                let (a, b) = (figures(Some(&cal)), figures(None));
                let actual: f64 = test[..lead].iter().map(|x| x.max(0.0)).sum();
                (a.class, actual, a.reorder_point, b.reorder_point)
            })
            .collect();
        let figures = |r: &[&(String, f64, f64, f64)]| {
            let n = r.len().max(1) as f64;
            let actual: f64 = r.iter().map(|x| x.1).sum::<f64>().max(1e-9);
            format!(
                "n={} service95={:.3} inventory95={:.3} (uncalibrated {:.3}, {:.3})",
                r.len(),
                r.iter().filter(|x| x.1 <= x.2 + 1e-9).count() as f64 / n,
                r.iter().map(|x| x.2).sum::<f64>() / actual,
                r.iter().filter(|x| x.1 <= x.3 + 1e-9).count() as f64 / n,
                r.iter().map(|x| x.3).sum::<f64>() / actual,
            )
        };
        let all: Vec<&(String, f64, f64, f64)> = rows.iter().collect();
        let mut line = format!("{name} plan_line lead={lead}: {}", figures(&all));
        for cls in ["smooth", "erratic", "intermittent", "lumpy"] {
            let r: Vec<&(String, f64, f64, f64)> = rows.iter().filter(|x| x.0 == cls).collect();
            if !r.is_empty() {
                line.push_str(&format!(" | {cls}: {}", figures(&r)));
            }
        }
        out.push(line);
    }
    out
}

fn main() {
    let started = Instant::now();
    let data = read();
    let read_secs = started.elapsed().as_secs_f64();
    let len = data.iter().map(|s| s.1.len()).max().unwrap_or(0);
    let opts = Options { fast: true };
    let mut all: Vec<Row> = Vec::new();
    let mut lines = Vec::new();
    let mut refs = Vec::new();
    let mut fit_secs = 0.0;
    let mut calibrations = Vec::new();
    let mut plan_job = Vec::new();
    for w in (0..WINDOWS).rev() {
        // Window w ends w·28 days before the last day; the fit sees what precedes it.
        let end = len - w * WINDOW;
        let cut = end - WINDOW;
        let used: Vec<(&[f64], &[f64])> = data
            .iter()
            .filter_map(|(_, v)| {
                // Series are aligned at the last day: series i starts at len − v.len().
                let start = len - v.len();
                (start < cut).then(|| (&v[..cut - start], &v[cut - start..end - start]))
            })
            .collect();
        let inputs: Vec<SeriesInput> = used
            .iter()
            .map(|(train, _)| SeriesInput {
                values: train,
                in_stock: None,
                season: 7,
            })
            .collect();
        let t = Instant::now();
        let raw: Vec<_> = inputs
            .par_iter()
            .map(|i| forecast_with_total(i, WINDOW, WINDOW, &opts))
            .collect();
        // The catalogue calibration, fitted once and applied to each series (what
        // `calibrate` does in one call).
        let cal = Calibration::fit(&inputs, WINDOW, WINDOW, &opts);
        let mut out = raw.clone();
        for (input, (f, t)) in inputs.iter().zip(out.iter_mut()) {
            cal.apply(input, f, t);
        }
        calibrations.push(format!(
            "window_end-{}d spread ratios: {}",
            w * WINDOW,
            cal.summary()
        ));
        fit_secs += t.elapsed().as_secs_f64();
        let rows: Vec<Row> = used
            .par_iter()
            .zip(out.par_iter().zip(&raw))
            .map(|((train, test), ((f, total), (_, raw_total)))| {
                let inside = test
                    .iter()
                    .zip(f.low.iter().zip(&f.high))
                    .filter(|(a, (l, h))| **a >= **l && **a <= **h)
                    .count();
                let clean: Vec<f64> = train.iter().map(|v| v.max(0.0)).collect();
                let (_, sd) = demand_stats(&clean, None);
                let text_mean: f64 = f.point.iter().sum();
                Row {
                    mase: metrics::mase(train, test, &f.point, 7),
                    mae: metrics::mae(test, &f.point),
                    inside,
                    days: test.len(),
                    // Demand: a day's net returns count as no demand (as the engine and
                    // the plan count them), never as negative demand.
                    actual: test.iter().map(|v| v.max(0.0)).sum::<f64>(),
                    low: total.quantile(0.1),
                    high: total.quantile(0.9),
                    q95: total.quantile(0.95),
                    text_mean,
                    text_ss: Z95 * sd * (WINDOW as f64).sqrt(),
                    class: f.class,
                    raw_q95: raw_total.quantile(0.95),
                    raw: raw_total.clone(),
                }
            })
            .collect();
        plan_job.extend(plan_lines(&format!("window_end-{}d", w * WINDOW), &used));
        lines.push(line(&format!("window_end-{}d", w * WINDOW), &rows));
        lines.push(by_class(&format!("window_end-{}d", w * WINDOW), &rows));
        let s = summarise(&rows);
        refs.push(reference::compare(
            "daily_accuracy",
            &format!("daily_window_end-{}d", w * WINDOW),
            s.mase.0 / s.mase.1.max(1) as f64,
            s.mae / s.series.max(1) as f64,
        ));
        all.extend(rows);
    }
    for l in &lines {
        println!("daily_accuracy {l}");
    }
    println!("daily_accuracy {}", line("overall", &all));
    for r in &refs {
        println!("{r}");
    }
    for c in &calibrations {
        println!("daily_accuracy {c}");
    }
    for l in &plan_job {
        println!("daily_accuracy {l}");
    }
    println!(
        "daily_accuracy seconds: read={read_secs:.2} forecast+totals={fit_secs:.2} ({} windows × ~{} series) total={:.2}",
        WINDOWS,
        all.len() / WINDOWS,
        started.elapsed().as_secs_f64()
    );
}
