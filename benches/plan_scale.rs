//! Scale benchmark: the server's fast forecasting path over 200,000 generated daily series of
//! 730 days each (smooth, weekly-seasonal, trending, intermittent, lumpy, new items with short
//! histories, stopped items, some with stock-outs), in parallel with rayon: per series the
//! 60-day forecast and the distribution of the demand over a 14-day lead time (what the plan
//! job's safety stock is made of). Prints the wall time and the peak resident memory (VmHWM).
//!
//! Afterwards, a holdout check of the fast path's 80 % interval: for every 20th series, the
//! last `HORIZON` days are held out and the share of in-stock held-out days inside the
//! interval is printed (overall and per demand class), with the MAE against the actuals, and
//! the share of series whose first 14 held-out days total at most the 95 % quantile of the
//! lead-time distribution (`service95`) and within its 80 % interval (`coverage80_total`).
//!
//! The generator is deterministic (splitmix64 seeded per series), so runs are comparable.
//! Series are generated and forecast in batches so the whole data set is never held at once,
//! as the server would stream variants through the plan job.

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use tributary::forecast::{forecast_many_with_total, Options, SeriesInput};

const SERIES: usize = 200_000;
const DAYS: usize = 730;
const HORIZON: usize = 60;
const BATCH: usize = 10_000;
const LEAD_TIME: usize = 14;

/// splitmix64 pseudo-random generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unif().max(1e-300);
        let v = self.unif();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Poisson count (Knuth for small means, rounded normal otherwise).
    fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda > 12.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0);
        }
        let l = (-lambda).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= self.unif();
            if p <= l {
                return k;
            }
            k += 1.0;
        }
    }
}

/// Generates series `i` into `out` (length `DAYS`) and its in-stock mask; returns the number of
/// leading days before the item's first sale (which the caller drops) and whether a mask is used.
fn generate(i: usize, out: &mut [f64], stock: &mut [bool]) -> (usize, bool) {
    let mut r = Rng(0x5EED_0000 ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let kind = r.next_u64() % 100;
    let level = 0.5 + 40.0 * r.unif() * r.unif();
    let dow: [f64; 7] = [0.8, 0.85, 0.9, 1.0, 1.15, 1.5, 0.8];
    let mut start = 0;
    let mut stop = DAYS;
    match kind {
        0..=24 => {}                                                  // smooth
        25..=44 => {}                                                 // weekly seasonal
        45..=54 => {}                                                 // trending
        55..=74 => {}                                                 // intermittent
        75..=84 => {}                                                 // lumpy
        85..=92 => start = DAYS - 10 - (r.next_u64() % 110) as usize, // new item
        _ => stop = DAYS - 30 - (r.next_u64() % 200) as usize,        // stopped item
    }
    for (t, o) in out.iter_mut().enumerate() {
        let v = if t < start || t >= stop {
            0.0
        } else {
            match kind {
                0..=24 | 85..=99 => r.poisson(level),
                25..=44 => r.poisson(level * dow[t % 7]),
                45..=54 => r.poisson(level * (0.5 + 1.5 * t as f64 / DAYS as f64)),
                55..=74 => {
                    if r.unif() < 0.15 {
                        1.0 + (r.next_u64() % 3) as f64
                    } else {
                        0.0
                    }
                }
                _ => {
                    if r.unif() < 0.05 {
                        (level * 3.0 * r.unif() * r.unif()).ceil()
                    } else {
                        0.0
                    }
                }
            }
        };
        *o = v;
    }
    // A tenth of the items have stock-outs: runs of 5–20 days with no sales recorded.
    let masked = r.next_u64().is_multiple_of(10);
    stock.iter_mut().for_each(|s| *s = true);
    if masked {
        let mut t = start + (r.next_u64() % 60) as usize;
        while t < DAYS {
            let len = 5 + (r.next_u64() % 16) as usize;
            for d in t..(t + len).min(DAYS) {
                stock[d] = false;
                out[d] = 0.0;
            }
            t += len + 60 + (r.next_u64() % 120) as usize;
        }
    }
    (start, masked)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let opts = Options { fast: true };
    let started = Instant::now();
    let mut values = vec![0.0f64; BATCH * DAYS];
    let mut stock = vec![true; BATCH * DAYS];
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_forecast = 0.0;
    let mut total_q95 = 0.0;
    let mut gen_secs = 0.0;
    for b0 in (0..SERIES).step_by(BATCH) {
        let count = BATCH.min(SERIES - b0);
        let g = Instant::now();
        let meta: Vec<(usize, bool)> = values[..count * DAYS]
            .par_chunks_mut(DAYS)
            .zip(stock[..count * DAYS].par_chunks_mut(DAYS))
            .enumerate()
            .map(|(j, (v, s))| generate(b0 + j, v, s))
            .collect();
        gen_secs += g.elapsed().as_secs_f64();
        let inputs: Vec<SeriesInput> = meta
            .iter()
            .enumerate()
            .map(|(j, &(start, masked))| SeriesInput {
                values: &values[j * DAYS + start..(j + 1) * DAYS],
                in_stock: masked.then(|| &stock[j * DAYS + start..(j + 1) * DAYS]),
                season: 7,
            })
            .collect();
        let fcs = forecast_many_with_total(&inputs, HORIZON, LEAD_TIME, &opts);
        for (f, t) in &fcs {
            *methods.entry(f.method.clone()).or_default() += 1;
            *classes.entry(f.class.name()).or_default() += 1;
            *totals.entry(t.method.clone()).or_default() += 1;
            total_forecast += f.point.iter().sum::<f64>();
            total_q95 += t.quantile(0.95);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let rss = peak_rss_kib();
    println!(
        "plan_scale: series={SERIES} days={DAYS} horizon={HORIZON} threads={} wall={secs:.2}s (generation {gen_secs:.2}s) peak_rss={:.0}MiB",
        rayon::current_num_threads(),
        rss as f64 / 1024.0
    );
    println!("classes: {classes:?}");
    println!("methods: {methods:?}");
    println!("lead-time distributions: {totals:?}");
    println!(
        "sum of point forecasts: {total_forecast:.1}; sum of {LEAD_TIME}-day q95: {total_q95:.1}"
    );
    coverage_check(&opts);
}

/// Holdout coverage of the fast path's 80 % interval on every 20th generated series.
fn coverage_check(opts: &Options) {
    let started = Instant::now();
    let ids: Vec<usize> = (0..SERIES).step_by(20).collect();
    // (class, inside, total, abs error, lead-time total in 80 % interval, served at q95)
    let per: Vec<(&'static str, usize, usize, f64, bool, bool)> = ids
        .par_chunks(1000)
        .flat_map_iter(|chunk| {
            let mut v = vec![0.0; DAYS];
            let mut s = vec![true; DAYS];
            let mut out = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let (start, masked) = generate(i, &mut v, &mut s);
                let (vals, stock) = (&v[start..], &s[start..]);
                if vals.len() <= HORIZON + 14 {
                    continue;
                }
                let cut = vals.len() - HORIZON;
                let (f, lt) = forecast_many_with_total(
                    &[SeriesInput {
                        values: &vals[..cut],
                        in_stock: masked.then(|| &stock[..cut]),
                        season: 7,
                    }],
                    HORIZON,
                    LEAD_TIME,
                    opts,
                )
                .pop()
                .expect("one forecast");
                let lt_actual: f64 = vals[cut..cut + LEAD_TIME].iter().sum();
                let in80 = lt_actual >= lt.quantile(0.1) && lt_actual <= lt.quantile(0.9);
                let served = lt_actual <= lt.quantile(0.95);
                let (mut inside, mut total, mut err) = (0, 0, 0.0);
                for k in 0..HORIZON {
                    if stock[cut + k] {
                        let a = vals[cut + k];
                        inside += usize::from(a >= f.low[k] && a <= f.high[k]);
                        total += 1;
                        err += (a - f.point[k]).abs();
                    }
                }
                out.push((f.class.name(), inside, total, err, in80, served));
            }
            out
        })
        .collect();
    let mut by: BTreeMap<&'static str, (usize, usize, f64)> = BTreeMap::new();
    let (mut in80, mut served) = (0usize, 0usize);
    let series = per.len();
    for (c, i, t, e, a, b) in per {
        in80 += usize::from(a);
        served += usize::from(b);
        for key in [c, "all"] {
            let x = by.entry(key).or_default();
            x.0 += i;
            x.1 += t;
            x.2 += e;
        }
    }
    let line: Vec<String> = by
        .iter()
        .map(|(c, (i, t, e))| {
            format!(
                "{c}={:.3} (mae {:.2})",
                *i as f64 / (*t).max(1) as f64,
                e / (*t).max(1) as f64
            )
        })
        .collect();
    println!(
        "fast-path 80% coverage, last {HORIZON} days held out, {} series ({:.2}s): {}",
        ids.len(),
        started.elapsed().as_secs_f64(),
        line.join(" ")
    );
    println!(
        "lead-time ({LEAD_TIME} days) total: coverage80_total={:.3} service95={:.3} over {series} series",
        in80 as f64 / series.max(1) as f64,
        served as f64 / series.max(1) as f64
    );
}
