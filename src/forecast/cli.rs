//! Body of the `tributary forecast` command: the engine on a long CSV `series_id,period,quantity`.
//!
//! This is the only part of [`crate::forecast`] that does I/O (files, standard output, the wall
//! clock for the reported run time); everything it computes comes from the pure engine.
//!
//! Periods are dates (`YYYY-MM-DD`, `YYYY/MM/DD`, `DD/MM/YYYY`, `YYYY-MM` or `YYYY-MM-DDTHH:MM:SS`
//! style timestamps — whichever parses the first period; all periods must share it). The step
//! (day, week, month, quarter, year) is inferred as the most common gap between consecutive
//! periods of a series; a missing period counts as zero demand; `season` defaults from the step
//! (7, 52, 12, 4, 1). Forecast periods are written in the input's date format.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::forecast::{forecast_many_with_total, metrics, Options, SeriesInput, TotalDistribution};

/// Arguments of `tributary forecast`.
#[derive(Clone, Debug)]
pub struct ForecastArgs {
    /// Long CSV with header `series_id,period,quantity`.
    pub input: PathBuf,
    /// Number of future periods to forecast.
    pub horizon: usize,
    /// Season length; defaults from the inferred step.
    pub season: Option<usize>,
    /// Output CSV path; standard output if absent.
    pub output: Option<PathBuf>,
    /// Hold out the last H points of each series and print accuracy as one JSON line instead.
    pub holdout: Option<usize>,
    /// Also write, per series, the distribution of the total over the horizon
    /// (`series_id,periods,total,low,high,q95`).
    pub totals: Option<PathBuf>,
}

/// Spacing of the periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// One day.
    Day,
    /// Seven days.
    Week,
    /// One calendar month.
    Month,
    /// Three calendar months.
    Quarter,
    /// Twelve calendar months.
    Year,
}

impl Step {
    /// Default season length for the step.
    pub fn default_season(self) -> usize {
        match self {
            Step::Day => 7,
            Step::Week => 52,
            Step::Month => 12,
            Step::Quarter => 4,
            Step::Year => 1,
        }
    }

    /// Period index of a date (consecutive periods differ by one).
    fn index(self, d: NaiveDate) -> i64 {
        let months = d.year() as i64 * 12 + d.month0() as i64;
        match self {
            Step::Day => d.num_days_from_ce() as i64,
            Step::Week => (d.num_days_from_ce() as i64).div_euclid(7),
            Step::Month => months,
            Step::Quarter => months.div_euclid(3),
            Step::Year => d.year() as i64,
        }
    }

    /// The date `k` steps after `d` (month-based steps keep month ends at month ends).
    fn advance(self, d: NaiveDate, k: u32) -> NaiveDate {
        let months = match self {
            Step::Day => return d + chrono::Duration::days(k as i64),
            Step::Week => return d + chrono::Duration::days(7 * k as i64),
            Step::Month => k,
            Step::Quarter => 3 * k,
            Step::Year => 12 * k,
        };
        let month_end = d.succ_opt().is_some_and(|n| n.month() != d.month());
        let out = d.checked_add_months(Months::new(months)).unwrap_or(d);
        if month_end {
            let first_next = NaiveDate::from_ymd_opt(out.year(), out.month(), 1)
                .and_then(|f| f.checked_add_months(Months::new(1)))
                .unwrap_or(out);
            first_next.pred_opt().unwrap_or(out)
        } else {
            out
        }
    }

    fn from_days(days: i64) -> Option<Step> {
        match days {
            1 => Some(Step::Day),
            7 => Some(Step::Week),
            28..=31 => Some(Step::Month),
            89..=92 => Some(Step::Quarter),
            365 | 366 => Some(Step::Year),
            _ => None,
        }
    }
}

/// Date formats tried on the first period, in order.
const FORMATS: [&str; 5] = ["%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d.%m.%Y", "%Y%m%d"];

/// How periods are written in the input.
#[derive(Clone, Debug)]
enum DateFormat {
    /// A chrono date format.
    Date(&'static str),
    /// `YYYY-MM`.
    YearMonth,
    /// A timestamp `YYYY-MM-DD<sep>HH:MM:SS`; the time part is echoed from the first period.
    DateTime(String),
}

impl DateFormat {
    fn detect(s: &str) -> Option<DateFormat> {
        for f in FORMATS {
            if NaiveDate::parse_from_str(s, f).is_ok() {
                return Some(DateFormat::Date(f));
            }
        }
        if NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok() && s.len() <= 7 {
            return Some(DateFormat::YearMonth);
        }
        for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
            if NaiveDateTime::parse_from_str(s, f).is_ok() {
                return Some(DateFormat::DateTime(s[10..].to_string()));
            }
        }
        None
    }

    fn parse(&self, s: &str) -> Option<NaiveDate> {
        match self {
            DateFormat::Date(f) => NaiveDate::parse_from_str(s, f).ok(),
            DateFormat::YearMonth => NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok(),
            DateFormat::DateTime(_) => s.get(..10).and_then(|d| d.parse().ok()),
        }
    }

    fn format(&self, d: NaiveDate) -> String {
        match self {
            DateFormat::Date(f) => d.format(f).to_string(),
            DateFormat::YearMonth => d.format("%Y-%m").to_string(),
            DateFormat::DateTime(tail) => format!("{}{tail}", d.format("%Y-%m-%d")),
        }
    }
}

/// One series read from the long CSV, densified.
#[derive(Clone, Debug)]
pub struct LongSeries {
    /// The `series_id` column.
    pub id: String,
    /// Date of the first period.
    pub start: NaiveDate,
    /// Quantity per period from `start`, missing periods as 0.
    pub values: Vec<f64>,
}

/// A long CSV read into dense series.
#[derive(Clone, Debug)]
pub struct LongData {
    /// Series in order of first appearance.
    pub series: Vec<LongSeries>,
    /// Inferred step.
    pub step: Step,
    format: DateFormat,
}

impl LongData {
    /// Formats the date `k` steps after the last observed period of `s` (k = 1 is the first
    /// future period) in the input's date format.
    pub fn future_period(&self, s: &LongSeries, k: usize) -> String {
        let last = self.step.advance(s.start, (s.values.len() - 1) as u32);
        self.format.format(self.step.advance(last, k as u32))
    }
}

impl LongData {
    /// The same series summed into coarser periods of `step` (e.g. daily data into weeks or
    /// months), each series keeping only complete periods (a partial first or last period is
    /// dropped: it would read as a drop in demand). Periods are written `YYYY-MM-DD`
    /// (`YYYY-MM` for months) at the start of each period.
    pub fn aggregate(&self, step: Step) -> LongData {
        let series = self
            .series
            .iter()
            .filter_map(|s| {
                let n = s.values.len();
                let date = |i: usize| self.step.advance(s.start, i as u32);
                // Bucket index of every period, and how many input periods a full bucket has
                // (counted from the calendar, so months of 28 to 31 days are all complete).
                let keys: Vec<i64> = (0..n).map(|i| step.index(date(i))).collect();
                let first = *keys.first()?;
                let last = *keys.last()?;
                let full = |k: i64, count: usize| {
                    let start = bucket_start(step, k);
                    let end = bucket_start(step, k + 1);
                    let mut d = start;
                    let mut periods = 0usize;
                    while d < end {
                        periods += 1;
                        d = self.step.advance(d, 1);
                    }
                    count == periods
                };
                let mut out: Vec<(i64, f64, usize)> = Vec::new();
                for (i, &k) in keys.iter().enumerate() {
                    match out.last_mut() {
                        Some(b) if b.0 == k => {
                            b.1 += s.values[i];
                            b.2 += 1;
                        }
                        _ => out.push((k, s.values[i], 1)),
                    }
                }
                if out.first().is_some_and(|b| b.0 == first && !full(b.0, b.2)) {
                    out.remove(0);
                }
                if out.last().is_some_and(|b| b.0 == last && !full(b.0, b.2)) {
                    out.pop();
                }
                let start = bucket_start(step, out.first()?.0);
                Some(LongSeries {
                    id: s.id.clone(),
                    start,
                    values: out.into_iter().map(|b| b.1).collect(),
                })
            })
            .collect();
        LongData {
            series,
            step,
            format: if step == Step::Month {
                DateFormat::YearMonth
            } else {
                DateFormat::Date("%Y-%m-%d")
            },
        }
    }
}

/// First day of bucket `k` of `step` (the inverse of `Step::index`).
fn bucket_start(step: Step, k: i64) -> NaiveDate {
    let month = |m: i64| {
        NaiveDate::from_ymd_opt(m.div_euclid(12) as i32, m.rem_euclid(12) as u32 + 1, 1)
            .unwrap_or_default()
    };
    match step {
        Step::Day => NaiveDate::from_num_days_from_ce_opt(k as i32).unwrap_or_default(),
        Step::Week => NaiveDate::from_num_days_from_ce_opt((7 * k) as i32).unwrap_or_default(),
        Step::Month => month(k),
        Step::Quarter => month(3 * k),
        Step::Year => NaiveDate::from_ymd_opt(k as i32, 1, 1).unwrap_or_default(),
    }
}

/// Reads a long CSV `series_id,period,quantity` (header required, columns found by name).
pub fn read_long_csv(path: &std::path::Path) -> Result<LongData> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| anyhow!("missing column {name}"))
    };
    let (ci, cp, cq) = (col("series_id")?, col("period")?, col("quantity")?);
    let mut order: Vec<String> = Vec::new();
    let mut rows: HashMap<String, Vec<(NaiveDate, f64)>> = HashMap::new();
    let mut format: Option<DateFormat> = None;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        // Line of the file the record starts on (1 = the header), for error messages.
        let line = rec.position().map_or(i as u64 + 2, |p| p.line()) as usize - 2;
        let id = rec.get(ci).unwrap_or("");
        let p = rec.get(cp).unwrap_or("");
        let q = rec.get(cq).unwrap_or("");
        let fmt = match &format {
            Some(f) => f,
            None => format.insert(
                DateFormat::detect(p)
                    .ok_or_else(|| anyhow!("line {}: unrecognised date {p:?}", line + 2))?,
            ),
        };
        let d = fmt
            .parse(p)
            .ok_or_else(|| anyhow!("line {}: bad date {p:?}", line + 2))?;
        let v: f64 = if q.is_empty() {
            0.0
        } else {
            q.parse()
                .with_context(|| format!("line {}: bad quantity {q:?}", line + 2))?
        };
        if !v.is_finite() {
            bail!(
                "line {}: field quantity is {q:?}, not a finite number (NaN and infinity are refused)",
                line + 2
            );
        }
        match rows.get_mut(id) {
            Some(r) => r.push((d, v)),
            None => {
                order.push(id.to_string());
                rows.insert(id.to_string(), vec![(d, v)]);
            }
        }
    }
    let format = format.ok_or_else(|| anyhow!("no data rows"))?;
    // Step: most common gap (in days) between consecutive distinct periods.
    let mut gaps: HashMap<Step, usize> = HashMap::new();
    for r in rows.values_mut() {
        r.sort_by_key(|x| x.0);
        for w in r.windows(2) {
            let days = (w[1].0 - w[0].0).num_days();
            if let Some(s) = Step::from_days(days) {
                *gaps.entry(s).or_default() += 1;
            }
        }
    }
    let step = gaps
        .into_iter()
        .max_by_key(|(s, c)| (*c, std::cmp::Reverse(*s as u8)))
        .map(|(s, _)| s)
        .unwrap_or(Step::Day);
    let mut series = Vec::with_capacity(order.len());
    for id in order {
        let r = &rows[&id];
        let start = r[0].0;
        let i0 = step.index(start);
        let len = (step.index(r[r.len() - 1].0) - i0 + 1) as usize;
        let mut values = vec![0.0; len];
        for (d, v) in r {
            values[(step.index(*d) - i0) as usize] += v;
        }
        series.push(LongSeries { id, start, values });
    }
    Ok(LongData {
        series,
        step,
        format,
    })
}

/// Accuracy of the holdout protocol, averaged unweighted over series (series where a scaled
/// measure is undefined — a constant training history — are left out of that average only).
#[derive(Clone, Debug, Serialize)]
pub struct HoldoutReport {
    /// Series evaluated (those longer than the holdout).
    pub series: usize,
    /// Holdout length.
    pub holdout: usize,
    /// Season length used.
    pub season: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// MAE scaled by the in-sample seasonal-naive (lag = season) MAE.
    pub mase: f64,
    /// RMSE scaled by the in-sample one-step naive RMSE.
    pub rmsse: f64,
    /// Mean of forecast − actual.
    pub bias: f64,
    /// Share of held-out actuals inside the 80 % interval.
    pub coverage80: f64,
    /// Share of series whose held-out total lies in the 80 % interval of the total (its 10 %
    /// and 90 % quantiles).
    pub coverage80_total: f64,
    /// Share of series whose held-out total is at most the 95 % quantile of the total.
    pub service95: f64,
    /// Σ 95 % quantiles of the totals / Σ held-out totals: stock held per unit sold by a
    /// reorder point at that quantile.
    pub inventory95: f64,
    /// Wall-clock seconds (reading, fitting and scoring).
    pub seconds: f64,
}

/// Runs the holdout protocol on `data`: per series the last `h` points are the test window
/// and the model sees only what precedes them.
pub fn holdout(data: &LongData, h: usize, season: usize, opts: &Options) -> HoldoutReport {
    holdout_detail(data, h, season, opts).0
}

/// [`holdout`], also returning the series evaluated with the distribution of their total
/// over the held-out window.
pub fn holdout_detail<'a>(
    data: &'a LongData,
    h: usize,
    season: usize,
    opts: &Options,
) -> (HoldoutReport, Vec<(&'a LongSeries, TotalDistribution)>) {
    let used: Vec<&LongSeries> = data.series.iter().filter(|s| s.values.len() > h).collect();
    let inputs: Vec<SeriesInput> = used
        .iter()
        .map(|s| SeriesInput {
            values: &s.values[..s.values.len() - h],
            in_stock: None,
            season,
        })
        .collect();
    let out = forecast_many_with_total(&inputs, h, h, opts);
    let mut acc = [(0.0, 0usize); 8];
    let mut add = |i: usize, v: f64| {
        if v.is_finite() {
            acc[i].0 += v;
            acc[i].1 += 1;
        }
    };
    let (mut q95_sum, mut actual_sum) = (0.0, 0.0);
    for (s, (f, t)) in used.iter().zip(&out) {
        let n = s.values.len();
        let (train, test) = s.values.split_at(n - h);
        add(0, metrics::mae(test, &f.point));
        add(1, metrics::rmse(test, &f.point));
        add(2, metrics::mase(train, test, &f.point, season));
        add(3, metrics::rmsse(train, test, &f.point));
        add(4, metrics::bias(test, &f.point));
        add(5, metrics::coverage(test, &f.low, &f.high));
        // The window's demand: a period's net returns count as no demand (as
        // the engine reads history), not as negative sales.
        let total: f64 = test.iter().map(|v| v.max(0.0)).sum();
        let inside = total >= t.quantile(0.1) && total <= t.quantile(0.9);
        add(6, f64::from(u8::from(inside)));
        add(7, f64::from(u8::from(total <= t.quantile(0.95))));
        q95_sum += t.quantile(0.95);
        actual_sum += total;
    }
    let avg = |i: usize| acc[i].0 / acc[i].1.max(1) as f64;
    let report = HoldoutReport {
        series: used.len(),
        holdout: h,
        season,
        mae: avg(0),
        rmse: avg(1),
        mase: avg(2),
        rmsse: avg(3),
        bias: avg(4),
        coverage80: avg(5),
        coverage80_total: avg(6),
        service95: avg(7),
        inventory95: if actual_sum > 0.0 {
            q95_sum / actual_sum
        } else {
            f64::NAN
        },
        seconds: 0.0,
    };
    let totals = used
        .into_iter()
        .zip(out.into_iter().map(|(_, t)| t))
        .collect();
    (report, totals)
}

/// The path for the data: the server's fast path for daily series, the full model selection
/// for coarser steps.
pub fn options_for(step: Step) -> Options {
    Options {
        fast: step == Step::Day,
    }
}

/// Writes `series_id,periods,total,low,high,q95` per series.
fn write_totals(path: &std::path::Path, rows: &[(&LongSeries, TotalDistribution)]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    w.write_record(["series_id", "periods", "total", "low", "high", "q95"])?;
    for (s, t) in rows {
        w.write_record([
            s.id.as_str(),
            &t.periods.to_string(),
            &fmt_num(t.mean),
            &fmt_num(t.quantile(0.1)),
            &fmt_num(t.quantile(0.9)),
            &fmt_num(t.quantile(0.95)),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Runs `tributary forecast`.
pub fn run(args: &ForecastArgs) -> Result<()> {
    let started = Instant::now();
    if args.horizon == 0 && args.holdout.is_none() {
        bail!("--horizon must be at least 1");
    }
    let data = read_long_csv(&args.input)?;
    let season = args.season.unwrap_or(data.step.default_season()).max(1);
    let opts = options_for(data.step);
    if let Some(h) = args.holdout {
        if h == 0 {
            bail!("--holdout must be at least 1");
        }
        let (mut report, totals) = holdout_detail(&data, h, season, &opts);
        if let Some(p) = &args.totals {
            write_totals(p, &totals)?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let inputs: Vec<SeriesInput> = data
        .series
        .iter()
        .map(|s| SeriesInput {
            values: &s.values,
            in_stock: None,
            season,
        })
        .collect();
    let out = forecast_many_with_total(&inputs, args.horizon, args.horizon, &opts);
    if let Some(p) = &args.totals {
        let rows: Vec<(&LongSeries, TotalDistribution)> = data
            .series
            .iter()
            .zip(&out)
            .map(|(s, (_, t))| (s, t.clone()))
            .collect();
        write_totals(p, &rows)?;
    }
    let fcs: Vec<_> = out.into_iter().map(|(f, _)| f).collect();
    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    w.write_record(["series_id", "period", "forecast", "low", "high", "method"])?;
    for (s, f) in data.series.iter().zip(&fcs) {
        for k in 0..args.horizon {
            w.write_record([
                s.id.as_str(),
                &data.future_period(s, k + 1),
                &fmt_num(f.point[k]),
                &fmt_num(f.low[k]),
                &fmt_num(f.high[k]),
                &f.method,
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Numbers with up to 4 decimals, trailing zeros trimmed.
fn fmt_num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tmp(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("tributary-cli-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_monthly_and_fills_gaps() {
        let p = write_tmp(
            "m.csv",
            "series_id,period,quantity\na,2020-01-31,1\na,2020-02-29,2\na,2020-04-30,4\nb,2021-01-31,5\nb,2021-02-28,6\n",
        );
        let d = read_long_csv(&p).unwrap();
        assert_eq!(d.step, Step::Month);
        assert_eq!(d.series[0].values, vec![1.0, 2.0, 0.0, 4.0]);
        // month ends stay month ends
        assert_eq!(d.future_period(&d.series[0], 1), "2020-05-31");
        assert_eq!(d.future_period(&d.series[1], 1), "2021-03-31");
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn aggregation_keeps_complete_periods_only() {
        // One unit a day from Wednesday 2020-01-15 to Tuesday 2020-03-10.
        let mut text = String::from("series_id,period,quantity\n");
        let mut d = NaiveDate::from_ymd_opt(2020, 1, 15).unwrap();
        while d <= NaiveDate::from_ymd_opt(2020, 3, 10).unwrap() {
            text.push_str(&format!("a,{d},1\n"));
            d = d.succ_opt().unwrap();
        }
        let p = write_tmp("agg.csv", &text);
        let daily = read_long_csv(&p).unwrap();
        std::fs::remove_file(p).ok();
        // Months: January and March are partial, February 2020 has 29 days.
        let m = daily.aggregate(Step::Month);
        assert_eq!(m.step, Step::Month);
        assert_eq!(m.series[0].values, vec![29.0]);
        assert_eq!(
            m.series[0].start,
            NaiveDate::from_ymd_opt(2020, 2, 1).unwrap()
        );
        // Weeks: complete weeks only, seven units each.
        let w = daily.aggregate(Step::Week);
        assert!(!w.series[0].values.is_empty());
        assert!(w.series[0].values.iter().all(|&v| v == 7.0), "{w:?}");
        assert_eq!(w.series[0].values.len(), 7);
        // Months to quarters: February alone is no complete quarter.
        assert!(m.aggregate(Step::Quarter).series.is_empty());
    }

    #[test]
    fn weekly_and_other_formats() {
        let p = write_tmp(
            "w.csv",
            "series_id,period,quantity\nx,06/01/2020,1\nx,13/01/2020,2\nx,27/01/2020,3\n",
        );
        let d = read_long_csv(&p).unwrap();
        assert_eq!(d.step, Step::Week);
        assert_eq!(d.series[0].values, vec![1.0, 2.0, 0.0, 3.0]);
        assert_eq!(d.future_period(&d.series[0], 2), "10/02/2020");
        assert_eq!(d.step.default_season(), 52);
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn a_holdout_window_counts_returns_as_no_demand() {
        // 40 days of 8 to 12, then a window of 40 sold and 20 returned: its
        // demand is 40, far above the distribution of a 2-day total (≈ 20),
        // not the net 20 at its middle.
        let mut text = String::from("series_id,period,quantity\n");
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let values = (0..40u32)
            .map(|i| f64::from(8 + (i * 7 + i / 3) % 5))
            .chain([40.0, -20.0]);
        for (i, v) in values.enumerate() {
            let day = start + chrono::Duration::days(i as i64);
            text.push_str(&format!("a,{day},{v}\n"));
        }
        let p = write_tmp("returns.csv", &text);
        let d = read_long_csv(&p).unwrap();
        let r = holdout(&d, 2, 7, &Options { fast: false });
        assert_eq!((r.series, r.service95, r.coverage80_total), (1, 0.0, 0.0));
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn number_format() {
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(1.23456), "1.2346");
    }
}
