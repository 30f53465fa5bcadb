//! The forecasting methods, each a small pure fit/predict over a slice.
//!
//! Every method has the same shape: [`Method::fit`] estimates parameters on a history `y` with
//! season length `m` and returns a [`Fit`] (or `None` when the method does not apply, e.g. a
//! seasonal model on less than two seasons, or a multiplicative model on data with zeros).
//! [`Fit::rolling`] then walks any series with those fixed parameters and emits the `h`-step
//! forecast made at each origin, which gives both the final forecast (origin = end of the series)
//! and the rolling-origin backtest used for model selection and interval calibration.
//!
//! No I/O, no clock, no randomness.

use crate::forecast::arima::{auto_arima, ArimaFit};
use crate::forecast::optim::nelder_mead;

/// A forecasting method the engine can fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Last value repeated.
    Naive,
    /// Value one season ago repeated.
    SeasonalNaive,
    /// Simple exponential smoothing, ETS(A,N,N).
    Ses,
    /// Holt's linear method with damped trend, ETS(A,Ad,N).
    HoltDamped,
    /// Holt–Winters additive seasonality, ETS(A,N,A).
    EtsAdditive,
    /// Holt–Winters damped trend + additive seasonality, ETS(A,Ad,A).
    EtsDampedAdditive,
    /// Multiplicative seasonality, ETS(M,N,M) (positive data only).
    EtsMultiplicative,
    /// Damped trend + multiplicative seasonality, ETS(M,Ad,M) (positive data only).
    EtsDampedMultiplicative,
    /// Theta method (SES with drift on seasonally adjusted data).
    Theta,
    /// Seasonal ARIMA(0,1,1)(0,1,1)m, the "airline" model, on logs for positive data.
    Airline,
    /// Multiplicative seasonality with undamped additive trend, ETS(M,A,M) (positive data only).
    EtsTrendMultiplicative,
    /// The ETS model with the lowest AICc among SES, damped Holt, ETS(A,N,A), ETS(A,Ad,A) and,
    /// for positive data, ETS(M,N,M), ETS(M,Ad,M), ETS(M,A,M) — an AutoETS.
    AutoEts,
    /// Seasonal ARIMA with automatic order selection ([`crate::forecast::arima`]), raw scale.
    AutoArima,
    /// Croston's method for intermittent demand.
    Croston,
    /// Syntetos–Boylan approximation (bias-corrected Croston).
    Sba,
    /// Teunter–Syntetos–Babai: demand probability and size smoothed separately (handles
    /// obsolescence: the forecast decays when demand stops).
    Tsb,
}

impl Method {
    /// Stable short name (used in outputs and explanations).
    pub fn name(self) -> &'static str {
        match self {
            Method::Naive => "naive",
            Method::SeasonalNaive => "seasonal_naive",
            Method::Ses => "ses",
            Method::HoltDamped => "holt_damped",
            Method::EtsAdditive => "ets_ana",
            Method::EtsDampedAdditive => "ets_adamped_a",
            Method::EtsMultiplicative => "ets_mnm",
            Method::EtsDampedMultiplicative => "ets_madamped_m",
            Method::Theta => "theta",
            Method::Airline => "arima_airline",
            Method::EtsTrendMultiplicative => "ets_mam",
            Method::AutoEts => "auto_ets",
            Method::AutoArima => "auto_arima",
            Method::Croston => "croston",
            Method::Sba => "sba",
            Method::Tsb => "tsb",
        }
    }

    /// Fits the method on `y` with season length `m` (1 = no seasonality).
    pub fn fit(self, y: &[f64], m: usize) -> Option<Fit> {
        let n = y.len();
        if n == 0 {
            return None;
        }
        let m = m.max(1);
        let kind = match self {
            Method::Naive => FitKind::Naive,
            Method::SeasonalNaive => {
                if m < 2 || n < m {
                    return None;
                }
                FitKind::SeasonalNaive(m)
            }
            Method::Ses => FitKind::Ets(fit_ets(y, m, false, Season::None)?),
            Method::HoltDamped => {
                if n < 4 {
                    return None;
                }
                FitKind::Ets(fit_ets(y, m, true, Season::None)?)
            }
            Method::EtsAdditive | Method::EtsDampedAdditive => {
                if m < 2 || n < 2 * m + 2 {
                    return None;
                }
                FitKind::Ets(fit_ets(
                    y,
                    m,
                    self == Method::EtsDampedAdditive,
                    Season::Additive,
                )?)
            }
            Method::EtsMultiplicative | Method::EtsDampedMultiplicative => {
                if m < 2 || n < 2 * m + 2 || y.iter().any(|&v| v <= 0.0) {
                    return None;
                }
                FitKind::Ets(fit_ets(
                    y,
                    m,
                    self == Method::EtsDampedMultiplicative,
                    Season::Multiplicative,
                )?)
            }
            Method::Theta => FitKind::Theta(fit_theta(y, m)?),
            Method::Airline => FitKind::Airline(fit_airline(y, m)?),
            Method::EtsTrendMultiplicative => {
                if m < 2 || n < 2 * m + 2 || y.iter().any(|&v| v <= 0.0) {
                    return None;
                }
                FitKind::Ets(fit_ets_phi(y, m, true, Season::Multiplicative, Some(1.0))?)
            }
            Method::AutoEts => {
                let (chosen, fit) = ETS_FAMILY
                    .iter()
                    .filter_map(|&c| {
                        let f = c.fit(y, m)?;
                        let aicc = f.ets_aicc(y)?;
                        Some((aicc, c, f))
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, c, f)| (c, f))?;
                FitKind::Selected(chosen, Box::new(fit))
            }
            Method::AutoArima => FitKind::Arima(auto_arima(y, m)?),
            Method::Croston | Method::Sba => {
                let alpha = fit_croston(y, self == Method::Sba)?;
                FitKind::Croston {
                    alpha,
                    sba: self == Method::Sba,
                }
            }
            Method::Tsb => {
                let (alpha, beta) = fit_tsb(y)?;
                FitKind::Tsb { alpha, beta }
            }
        };
        Some(Fit { method: self, kind })
    }
}

/// The members [`Method::AutoEts`] chooses from.
const ETS_FAMILY: [Method; 7] = [
    Method::Ses,
    Method::HoltDamped,
    Method::EtsAdditive,
    Method::EtsDampedAdditive,
    Method::EtsMultiplicative,
    Method::EtsDampedMultiplicative,
    Method::EtsTrendMultiplicative,
];

/// A fitted model: the method with its estimated parameters.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The method that was fitted.
    pub method: Method,
    kind: FitKind,
}

#[derive(Clone, Debug)]
enum FitKind {
    Naive,
    SeasonalNaive(usize),
    Ets(EtsParams),
    Theta(ThetaParams),
    Airline(AirlineParams),
    Arima(ArimaFit),
    /// A member of a family chosen at fit time (kept on refits).
    Selected(Method, Box<Fit>),
    Croston {
        alpha: f64,
        sba: bool,
    },
    Tsb {
        alpha: f64,
        beta: f64,
    },
}

impl Fit {
    /// Walks `y` with the fitted parameters and, for every origin `t` in `from..=y.len()`, appends
    /// to `out` the `h` forecasts made after seeing `y[..t]` (row-major: origin, then step).
    /// Origins with no usable history (`t = 0`) get forecasts of 0.
    ///
    /// Exactly `(y.len() − from + 1) · h` values are always appended: a model whose recursion
    /// breaks down part-way (a multiplicative model meeting a zero or negative value) fills the
    /// origins it cannot forecast with NaN, so callers can drop it instead of misreading rows.
    pub fn rolling(&self, y: &[f64], from: usize, h: usize, out: &mut Vec<f64>) {
        let n = y.len();
        let from = from.min(n);
        let before = out.len();
        self.rolling_raw(y, from, h, out);
        out.resize(before + (n - from + 1) * h, f64::NAN);
    }

    fn rolling_raw(&self, y: &[f64], from: usize, h: usize, out: &mut Vec<f64>) {
        let n = y.len();
        match &self.kind {
            FitKind::Naive => {
                for t in from..=n {
                    let v = if t == 0 { 0.0 } else { y[t - 1] };
                    out.extend(std::iter::repeat_n(v, h));
                }
            }
            FitKind::SeasonalNaive(m) => {
                let m = *m;
                for t in from..=n {
                    for k in 0..h {
                        let v = if t >= m {
                            y[t - m + k % m]
                        } else if t > 0 {
                            y[t - 1]
                        } else {
                            0.0
                        };
                        out.push(v);
                    }
                }
            }
            FitKind::Ets(p) => {
                ets_run(p, y, Some((from, h, out)));
            }
            FitKind::Theta(p) => theta_run(p, y, from, h, out),
            FitKind::Airline(p) => airline_run(p, y, from, h, out),
            FitKind::Arima(p) => p.rolling(y, from, h, out),
            FitKind::Selected(_, f) => f.rolling(y, from, h, out),
            FitKind::Croston { alpha, sba } => croston_run(*alpha, *sba, y, from, h, out),
            FitKind::Tsb { alpha, beta } => {
                tsb_run(*alpha, *beta, y, Some((from, h, out)));
            }
        }
    }

    /// Re-estimates the parameters on `y` keeping the model structure chosen at fit time (the
    /// ARIMA order); other methods are simply fitted again.
    pub fn refit(&self, y: &[f64], m: usize) -> Option<Fit> {
        match &self.kind {
            FitKind::Arima(p) => Some(Fit {
                method: self.method,
                kind: FitKind::Arima(p.refit(y)?),
            }),
            FitKind::Selected(c, _) => Some(Fit {
                method: self.method,
                kind: FitKind::Selected(*c, Box::new(c.fit(y, m)?)),
            }),
            _ => self.method.fit(y, m),
        }
    }

    /// AICc of a fitted ETS model on `y` (Gaussian likelihood of the additive- or
    /// multiplicative-error form; every optimised parameter, the initial states including the
    /// `m − 1` free seasonal ones, and σ counted); `None` for other methods.
    fn ets_aicc(&self, y: &[f64]) -> Option<f64> {
        let FitKind::Ets(p) = &self.kind else {
            return None;
        };
        let n = y.len() as f64;
        let loss = ets_run(p, y, None);
        let lik = match p.season {
            // n·ln(Σ(e/ŷ)²) + 2Σ ln ŷ; subtract n·ln n to match n·ln(SSE/n).
            Season::Multiplicative => loss - n * n.ln(),
            _ => n * (loss.max(1e-300) / n).ln(),
        };
        let seasonal = p.season != Season::None;
        let phi_est = p.damped && self.method != Method::EtsTrendMultiplicative;
        let k = 3.0
            + if p.damped { 2.0 } else { 0.0 }
            + if phi_est { 1.0 } else { 0.0 }
            + if seasonal { p.m as f64 } else { 0.0 };
        if !lik.is_finite() || n <= k + 1.0 {
            return None;
        }
        Some(lik + 2.0 * k + 2.0 * k * (k + 1.0) / (n - k - 1.0))
    }

    /// The `h` forecasts made at the end of `y`.
    pub fn predict(&self, y: &[f64], h: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(h);
        self.rolling(y, y.len(), h, &mut out);
        out
    }

    /// Short description of the fitted parameters (for explanations).
    pub fn describe(&self) -> String {
        match &self.kind {
            FitKind::Naive => "last value".into(),
            FitKind::SeasonalNaive(m) => format!("value {m} periods ago"),
            FitKind::Ets(p) => format!(
                "alpha={:.3} beta={:.3} gamma={:.3} phi={:.3}",
                p.alpha, p.beta, p.gamma, p.phi
            ),
            FitKind::Theta(p) => format!("alpha={:.3} drift={:.4}", p.alpha, p.drift),
            FitKind::Airline(p) => format!("theta={:.3} Theta={:.3}", p.theta, p.stheta),
            FitKind::Arima(p) => p.describe(),
            FitKind::Selected(c, f) => format!("{} {}", c.name(), f.describe()),
            FitKind::Croston { alpha, .. } => format!("alpha={alpha:.3}"),
            FitKind::Tsb { alpha, beta } => format!("alpha={alpha:.3} beta={beta:.3}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exponential smoothing (ETS) with additive or multiplicative seasonality and damped trend.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Season {
    None,
    Additive,
    Multiplicative,
}

#[derive(Clone, Debug)]
struct EtsParams {
    damped: bool,
    season: Season,
    m: usize,
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
    l0: f64,
    b0: f64,
    s0: Vec<f64>,
}

/// Runs the ETS recursions over `y`. Returns the fitting loss (SSE for additive seasonality,
/// the multiplicative-error likelihood −2 log L up to constants otherwise); when `emit` is given,
/// appends the forecasts from each origin `t >= from`.
fn ets_run(p: &EtsParams, y: &[f64], mut emit: Option<(usize, usize, &mut Vec<f64>)>) -> f64 {
    let n = y.len();
    let m = if p.season == Season::None { 1 } else { p.m };
    let mut s = p.s0.clone();
    if s.is_empty() {
        s.push(if p.season == Season::Multiplicative {
            1.0
        } else {
            0.0
        });
    }
    let (mut l, mut b) = (p.l0, if p.damped { p.b0 } else { 0.0 });
    let phi = if p.damped { p.phi } else { 0.0 };
    let mut sse = 0.0;
    let mut sum_log = 0.0;
    // Position in the season (t mod m), kept as a counter: no division per step.
    let mut j = 0;
    for t in 0..=n {
        if let Some((from, h, out)) = emit.as_mut() {
            if t >= *from {
                let mut damp = 0.0;
                let mut ph = 1.0;
                for k in 0..*h {
                    ph *= phi;
                    damp += ph;
                    let sj = s[(t + k) % m];
                    let base = l + damp * b;
                    out.push(match p.season {
                        Season::None => base,
                        Season::Additive => base + sj,
                        Season::Multiplicative => base * sj,
                    });
                }
            }
        }
        if t == n {
            break;
        }
        let lb = l + phi * b;
        match p.season {
            Season::None => {
                let e = y[t] - lb;
                sse += e * e;
                l = lb + p.alpha * e;
                b = phi * b + p.beta * e;
            }
            Season::Additive => {
                let e = y[t] - lb - s[j];
                sse += e * e;
                l = lb + p.alpha * e;
                b = phi * b + p.beta * e;
                s[j] += p.gamma * e;
            }
            Season::Multiplicative => {
                let yhat = lb * s[j];
                if yhat <= 0.0 || lb <= 0.0 || !yhat.is_finite() {
                    return f64::INFINITY;
                }
                let e = y[t] - yhat;
                let rel = e / yhat;
                sse += rel * rel;
                sum_log += yhat.ln();
                l = lb + p.alpha * e / s[j];
                b = phi * b + p.beta * e / s[j];
                s[j] += p.gamma * e / lb;
            }
        }
        j += 1;
        if j == m {
            j = 0;
        }
    }
    match p.season {
        Season::Multiplicative => n as f64 * (sse.max(1e-300)).ln() + 2.0 * sum_log,
        _ => sse,
    }
}

/// Heuristic initial states: level, trend and seasonal indices from the first seasons.
fn ets_init(y: &[f64], m: usize, season: Season) -> (f64, f64, Vec<f64>) {
    let n = y.len();
    if season == Season::None {
        let k = n.min(4);
        let l0 = y[0];
        let b0 = if k >= 2 {
            (y[k - 1] - y[0]) / (k - 1) as f64
        } else {
            0.0
        };
        return (l0, b0, Vec::new());
    }
    let k = (n / m).clamp(1, 3);
    let means: Vec<f64> = (0..k)
        .map(|i| y[i * m..(i + 1) * m].iter().sum::<f64>() / m as f64)
        .collect();
    let b0 = if k >= 2 {
        (means[k - 1] - means[0]) / ((k - 1) * m) as f64
    } else {
        0.0
    };
    let mut s = vec![0.0; m];
    for (i, mean_i) in means.iter().enumerate() {
        for (j, sj) in s.iter_mut().enumerate() {
            let trend = mean_i + (j as f64 - (m as f64 - 1.0) / 2.0) * b0;
            let v = y[i * m + j];
            *sj += if season == Season::Multiplicative {
                v / trend.max(1e-12)
            } else {
                v - trend
            } / k as f64;
        }
    }
    let avg = s.iter().sum::<f64>() / m as f64;
    for sj in s.iter_mut() {
        if season == Season::Multiplicative {
            *sj /= avg.max(1e-12);
        } else {
            *sj -= avg;
        }
    }
    let l0 = means[0] - (m as f64 + 1.0) / 2.0 * b0;
    (l0, b0, s)
}

fn fit_ets(y: &[f64], m: usize, damped: bool, season: Season) -> Option<EtsParams> {
    fit_ets_phi(y, m, damped, season, None)
}

/// Fits ETS; with `phi_fixed`, the trend damping is not estimated (1.0 = undamped trend).
fn fit_ets_phi(
    y: &[f64],
    m: usize,
    damped: bool,
    season: Season,
    phi_fixed: Option<f64>,
) -> Option<EtsParams> {
    let (l0, b0, s0) = ets_init(y, m, season);
    let scale = y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64 + 1e-9;
    let has_season = season != Season::None;
    let mut base = EtsParams {
        damped,
        season,
        m,
        alpha: 0.3,
        beta: 0.0,
        gamma: 0.0,
        phi: phi_fixed.unwrap_or(1.0),
        l0,
        b0,
        s0,
    };
    // Parameter vector: alpha, [beta, phi], [gamma], l0, [b0].
    let mut x0 = vec![if has_season { 0.2 } else { 0.3 }];
    let mut st = vec![0.1];
    let est_phi = damped && phi_fixed.is_none();
    if damped {
        x0.push(0.05);
        st.push(0.03);
    }
    if est_phi {
        x0.push(0.95);
        st.push(-0.05);
    }
    if has_season {
        x0.push(0.05);
        st.push(0.05);
    }
    x0.push(l0);
    st.push(0.1 * scale);
    if damped {
        x0.push(b0);
        st.push(0.01 * scale);
    }
    let unpack = |x: &[f64], p: &mut EtsParams| -> bool {
        let mut i = 0;
        p.alpha = x[i];
        i += 1;
        if !(1e-4..=0.9999).contains(&p.alpha) {
            return false;
        }
        if damped {
            p.beta = x[i];
            i += 1;
            if !(1e-4..=p.alpha).contains(&p.beta) {
                return false;
            }
        }
        if est_phi {
            p.phi = x[i];
            i += 1;
            if !(0.8..=0.98).contains(&p.phi) {
                return false;
            }
        }
        if has_season {
            p.gamma = x[i];
            i += 1;
            if !(1e-4..=(1.0 - p.alpha)).contains(&p.gamma) {
                return false;
            }
        }
        p.l0 = x[i];
        i += 1;
        if damped {
            p.b0 = x[i];
        }
        true
    };
    let mut work = base.clone();
    let max_evals = 60 + 40 * x0.len();
    let (x, v) = nelder_mead(
        |x| {
            if unpack(x, &mut work) {
                ets_run(&work, y, None)
            } else {
                f64::INFINITY
            }
        },
        &x0,
        &st,
        max_evals,
        1e-9,
    );
    if !v.is_finite() || !unpack(&x, &mut base) {
        return None;
    }
    Some(base)
}

// ---------------------------------------------------------------------------------------------
// Theta method (Hyndman & Billah 2003 form) with classical multiplicative seasonal adjustment.

#[derive(Clone, Debug)]
struct ThetaParams {
    alpha: f64,
    drift: f64,
    /// Seasonal indices by position `t % m` (empty when not seasonal).
    idx: Vec<f64>,
    l0: f64,
}

/// Lag-`m` autocorrelation test (90 % one-sided, Bartlett variance), as used by the Theta
/// method to decide on seasonal adjustment.
pub(crate) fn seasonal_test(y: &[f64], m: usize) -> bool {
    let n = y.len();
    if m < 2 || n < 3 * m {
        return false;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let var: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return false;
    }
    let acf = |k: usize| -> f64 {
        (k..n)
            .map(|t| (y[t] - mean) * (y[t - k] - mean))
            .sum::<f64>()
            / var
    };
    let mut sum_sq = 0.0;
    for k in 1..m {
        sum_sq += acf(k).powi(2);
    }
    let r_m = acf(m);
    let limit = 1.645 * ((1.0 + 2.0 * sum_sq) / n as f64).sqrt();
    r_m.abs() > limit
}

/// Classical multiplicative decomposition: seasonal indices from ratios to a centred moving
/// average, normalised to mean 1.
fn classical_indices(y: &[f64], m: usize) -> Vec<f64> {
    let n = y.len();
    let mut sum = vec![0.0; m];
    let mut cnt = vec![0usize; m];
    let half = m / 2;
    for t in half..n.saturating_sub(half) {
        let ma = if m.is_multiple_of(2) {
            if t + half >= n {
                continue;
            }
            let inner: f64 = y[t + 1 - half..t + half].iter().sum();
            (inner + 0.5 * (y[t - half] + y[t + half])) / m as f64
        } else {
            y[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        if ma > 0.0 {
            sum[t % m] += y[t] / ma;
            cnt[t % m] += 1;
        }
    }
    let mut idx: Vec<f64> = sum
        .iter()
        .zip(&cnt)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { 1.0 })
        .collect();
    let avg = idx.iter().sum::<f64>() / m as f64;
    idx.iter_mut().for_each(|v| *v /= avg);
    idx
}

fn fit_theta(y: &[f64], m: usize) -> Option<ThetaParams> {
    let n = y.len();
    if n < 3 {
        return None;
    }
    let idx = if y.iter().all(|&v| v > 0.0) && seasonal_test(y, m) {
        classical_indices(y, m)
    } else {
        Vec::new()
    };
    let x: Vec<f64> = adjust(y, &idx);
    // OLS slope of the adjusted series on time: the theta=0 line; its half is the drift.
    let tm = (n as f64 - 1.0) / 2.0;
    let xm = x.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in x.iter().enumerate() {
        sxy += (t as f64 - tm) * (v - xm);
        sxx += (t as f64 - tm).powi(2);
    }
    let slope = sxy / sxx;
    let l0 = x[0];
    let sse = |alpha: f64| -> f64 {
        let mut l = l0;
        let mut s = 0.0;
        for v in &x {
            let e = v - l;
            s += e * e;
            l += alpha * e;
        }
        s
    };
    let (a, _) = nelder_mead(
        |p| {
            if (0.01..=0.99).contains(&p[0]) {
                sse(p[0])
            } else {
                f64::INFINITY
            }
        },
        &[0.5],
        &[0.2],
        80,
        1e-10,
    );
    Some(ThetaParams {
        alpha: a[0],
        drift: slope / 2.0,
        idx,
        l0,
    })
}

fn adjust(y: &[f64], idx: &[f64]) -> Vec<f64> {
    if idx.is_empty() {
        y.to_vec()
    } else {
        y.iter()
            .enumerate()
            .map(|(t, v)| v / idx[t % idx.len()])
            .collect()
    }
}

// The loop runs to n inclusive (the last origin has no observation).
#[allow(clippy::needless_range_loop)]
fn theta_run(p: &ThetaParams, y: &[f64], from: usize, h: usize, out: &mut Vec<f64>) {
    let n = y.len();
    let x = adjust(y, &p.idx);
    let mut l = p.l0;
    let a = p.alpha;
    let mut decay = 1.0; // (1 - alpha)^t
    for t in 0..=n {
        if t >= from {
            for k in 1..=h {
                let trend = p.drift * ((k as f64 - 1.0) + 1.0 / a - decay / a);
                let f = l + trend;
                let si = if p.idx.is_empty() {
                    1.0
                } else {
                    p.idx[(t + k - 1) % p.idx.len()]
                };
                out.push(f * si);
            }
        }
        if t < n {
            l += a * (x[t] - l);
            decay *= 1.0 - a;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Seasonal ARIMA(0,1,1)(0,1,1)m ("airline"), conditional sum of squares.

#[derive(Clone, Debug)]
struct AirlineParams {
    m: usize,
    log: bool,
    theta: f64,
    stheta: f64,
}

fn airline_residuals(z: &[f64], m: usize, th: f64, sth: f64, a: &mut Vec<f64>) -> f64 {
    let n = z.len();
    a.clear();
    a.resize(n, 0.0);
    let mut css = 0.0;
    for t in (m + 1)..n {
        let w = z[t] - z[t - 1] - z[t - m] + z[t - m - 1];
        let e = w - th * a[t - 1] - sth * a[t - m] - th * sth * a[t - m - 1];
        a[t] = e;
        css += e * e;
    }
    css
}

fn fit_airline(y: &[f64], m: usize) -> Option<AirlineParams> {
    if m < 2 || y.len() < 3 * m + 2 {
        return None;
    }
    let log = y.iter().all(|&v| v > 0.0);
    let z: Vec<f64> = if log {
        y.iter().map(|v| v.ln()).collect()
    } else {
        y.to_vec()
    };
    let mut a = Vec::new();
    let (x, v) = nelder_mead(
        |p| {
            if p[0].abs() < 0.98 && p[1].abs() < 0.98 {
                airline_residuals(&z, m, p[0], p[1], &mut a)
            } else {
                f64::INFINITY
            }
        },
        &[-0.4, -0.5],
        &[0.2, 0.2],
        200,
        1e-10,
    );
    if !v.is_finite() {
        return None;
    }
    Some(AirlineParams {
        m,
        log,
        theta: x[0],
        stheta: x[1],
    })
}

fn airline_run(p: &AirlineParams, y: &[f64], from: usize, h: usize, out: &mut Vec<f64>) {
    let n = y.len();
    let m = p.m;
    let z: Vec<f64> = if p.log {
        y.iter().map(|v| v.max(1e-12).ln()).collect()
    } else {
        y.to_vec()
    };
    let mut a = Vec::new();
    airline_residuals(&z, m, p.theta, p.stheta, &mut a);
    let mut zh = vec![0.0; h];
    for t in from..=n {
        if t < m + 2 {
            // Too little history for the differencing: repeat the last value.
            let v = if t > 0 { y[t - 1] } else { 0.0 };
            out.extend(std::iter::repeat_n(v, h));
            continue;
        }
        let get = |i: usize, zh: &[f64]| if i < t { z[i] } else { zh[i - t] };
        let ga = |i: usize| if i < t { a[i] } else { 0.0 };
        for k in 0..h {
            let j = t + k;
            let v = get(j - 1, &zh) + get(j - m, &zh) - get(j - m - 1, &zh)
                + p.theta * ga(j - 1)
                + p.stheta * ga(j - m)
                + p.theta * p.stheta * ga(j - m - 1);
            zh[k] = v;
        }
        for &v in &zh {
            out.push(if p.log { v.exp() } else { v });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Intermittent demand: Croston, SBA, TSB.

const SMOOTHING_GRID: [f64; 6] = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3];

// The loop runs to n inclusive (the last origin has no observation).
#[allow(clippy::needless_range_loop)]
fn croston_run(alpha: f64, sba: bool, y: &[f64], from: usize, h: usize, out: &mut Vec<f64>) {
    let n = y.len();
    let factor = if sba { 1.0 - alpha / 2.0 } else { 1.0 };
    let (mut z, mut p) = (0.0, 0.0);
    let mut q = 1.0; // periods since the last demand
    let mut started = false;
    for t in 0..=n {
        if t >= from {
            let f = if started && p > 0.0 {
                factor * z / p
            } else {
                0.0
            };
            out.extend(std::iter::repeat_n(f, h));
        }
        if t == n {
            break;
        }
        if y[t] > 0.0 {
            if started {
                z += alpha * (y[t] - z);
                p += alpha * (q - p);
            } else {
                z = y[t];
                p = q;
                started = true;
            }
            q = 1.0;
        } else {
            q += 1.0;
        }
    }
}

fn croston_sse(alpha: f64, sba: bool, y: &[f64]) -> f64 {
    let mut f = Vec::with_capacity(y.len() + 1);
    croston_run(alpha, sba, y, 0, 1, &mut f);
    y.iter().zip(&f).map(|(v, f)| (v - f).powi(2)).sum()
}

fn fit_croston(y: &[f64], sba: bool) -> Option<f64> {
    if !y.iter().any(|&v| v > 0.0) {
        return None;
    }
    SMOOTHING_GRID
        .iter()
        .map(|&a| (a, croston_sse(a, sba, y)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(a, _)| a)
}

/// TSB recursions; returns the one-step SSE; with `emit`, appends forecasts per origin.
// The loop runs to n inclusive (the last origin has no observation).
#[allow(clippy::needless_range_loop)]
fn tsb_run(
    alpha: f64,
    beta: f64,
    y: &[f64],
    mut emit: Option<(usize, usize, &mut Vec<f64>)>,
) -> f64 {
    let n = y.len();
    let first = y.iter().position(|&v| v > 0.0);
    let nz = y.iter().filter(|&&v| v > 0.0).count();
    let mut prob = (nz as f64 / n as f64).clamp(0.0, 1.0);
    let mut size = first.map(|i| y[i]).unwrap_or(0.0);
    let mut sse = 0.0;
    for t in 0..=n {
        let f = prob * size;
        if let Some((from, h, out)) = emit.as_mut() {
            if t >= *from {
                out.extend(std::iter::repeat_n(f, *h));
            }
        }
        if t == n {
            break;
        }
        sse += (y[t] - f).powi(2);
        if y[t] > 0.0 {
            prob += beta * (1.0 - prob);
            size += alpha * (y[t] - size);
        } else {
            prob -= beta * prob;
        }
    }
    sse
}

fn fit_tsb(y: &[f64]) -> Option<(f64, f64)> {
    if !y.iter().any(|&v| v > 0.0) {
        return None;
    }
    let mut best = (0.1, 0.1, f64::INFINITY);
    for &a in &SMOOTHING_GRID {
        for &b in &SMOOTHING_GRID {
            let s = tsb_run(a, b, y, None);
            if s < best.2 {
                best = (a, b, s);
            }
        }
    }
    Some((best.0, best.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_and_seasonal_naive_by_hand() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        let f = Method::Naive.fit(&y, 1).unwrap();
        assert_eq!(f.predict(&y, 2), vec![5.0, 5.0]);
        let s = Method::SeasonalNaive.fit(&y, 2).unwrap();
        // last season is [4, 5]; 3 steps: 4, 5, 4
        assert_eq!(s.predict(&y, 3), vec![4.0, 5.0, 4.0]);
        // rolling from origin 4: forecasts after seeing [1,2,3,4] are 3,4; at 5: 4,5
        let mut out = Vec::new();
        s.rolling(&y, 4, 2, &mut out);
        assert_eq!(out, vec![3.0, 4.0, 4.0, 5.0]);
    }

    #[test]
    fn croston_by_hand() {
        // alpha 0.1, y = 0 2 0 0 4: first demand z=2 with interval 2; then z = 2 + 0.1*(4-2) =
        // 2.2, p = 2 + 0.1*(3-2) = 2.1 → forecast 2.2/2.1; SBA multiplies by 0.95.
        let y = [0.0, 2.0, 0.0, 0.0, 4.0];
        let mut out = Vec::new();
        croston_run(0.1, false, &y, 5, 1, &mut out);
        assert!((out[0] - 2.2 / 2.1).abs() < 1e-12);
        out.clear();
        croston_run(0.1, true, &y, 5, 1, &mut out);
        assert!((out[0] - 0.95 * 2.2 / 2.1).abs() < 1e-12);
    }

    #[test]
    fn tsb_decays_after_demand_stops() {
        let mut y = vec![3.0; 20];
        y.extend(vec![0.0; 40]);
        let f = Method::Tsb.fit(&y, 1).unwrap();
        let p = f.predict(&y, 1)[0];
        assert!(p < 1.0, "{p}");
    }

    #[test]
    fn ses_on_constant_is_constant() {
        let y = vec![7.0; 30];
        let f = Method::Ses.fit(&y, 1).unwrap();
        for v in f.predict(&y, 3) {
            assert!((v - 7.0).abs() < 1e-6);
        }
    }

    #[test]
    fn seasonal_models_recover_a_clean_pattern() {
        let pattern = [10.0, 20.0, 30.0, 40.0];
        let y: Vec<f64> = (0..40)
            .map(|t| pattern[t % 4] * (1.0 + 0.01 * t as f64))
            .collect();
        for m in [
            Method::EtsDampedMultiplicative,
            Method::EtsAdditive,
            Method::Airline,
            Method::Theta,
        ] {
            let f = m.fit(&y, 4).unwrap();
            let p = f.predict(&y, 4);
            for (k, v) in p.iter().enumerate() {
                let truth = pattern[(40 + k) % 4] * (1.0 + 0.01 * (40 + k) as f64);
                assert!((v - truth).abs() / truth < 0.05, "{m:?} {k} {v} {truth}");
            }
        }
    }

    #[test]
    fn auto_ets_picks_by_aicc() {
        // A constant series with a ±10 alternation of period 4: seasonal forms fit exactly, so
        // AutoETS must choose a seasonal member and forecast the pattern.
        let y: Vec<f64> = (0..48)
            .map(|t| if t % 4 < 2 { 110.0 } else { 90.0 })
            .collect();
        let f = Method::AutoEts.fit(&y, 4).unwrap();
        let FitKind::Selected(chosen, _) = &f.kind else {
            panic!("not a selection");
        };
        assert!(
            matches!(
                chosen,
                Method::EtsAdditive
                    | Method::EtsDampedAdditive
                    | Method::EtsMultiplicative
                    | Method::EtsDampedMultiplicative
                    | Method::EtsTrendMultiplicative
            ),
            "{chosen:?}"
        );
        for (k, v) in f.predict(&y, 4).iter().enumerate() {
            let truth = if (48 + k) % 4 < 2 { 110.0 } else { 90.0 };
            assert!((v - truth).abs() < 1.0, "{k} {v}");
        }
        // Without a season only SES and damped Holt are eligible; a flat series gets a flat
        // forecast, and a refit keeps the chosen member.
        let flat = vec![5.0; 30];
        let f = Method::AutoEts.fit(&flat, 1).unwrap();
        let g = f.refit(&flat[..20], 1).unwrap();
        let (FitKind::Selected(a, _), FitKind::Selected(b, _)) = (&f.kind, &g.kind) else {
            panic!("not a selection");
        };
        assert!(matches!(a, Method::Ses | Method::HoltDamped));
        assert_eq!(a, b);
        assert!(f.predict(&flat, 3).iter().all(|v| (v - 5.0).abs() < 1e-6));
    }

    #[test]
    fn auto_arima_method_and_refit() {
        // y = 10 + 0.5t: one difference with drift; the refit on more data keeps the order and
        // extrapolates the line.
        let y: Vec<f64> = (0..60).map(|t| 10.0 + 0.5 * t as f64).collect();
        let f = Method::AutoArima.fit(&y[..40], 1).unwrap();
        let g = f.refit(&y, 1).unwrap();
        assert!(g.describe().starts_with("ARIMA("), "{}", g.describe());
        assert_eq!(f.describe(), g.describe());
        for (k, v) in g.predict(&y, 2).iter().enumerate() {
            assert!((v - (10.0 + 0.5 * (60 + k) as f64)).abs() < 1e-6, "{v}");
        }
        // Too short to fit.
        assert!(Method::AutoArima.fit(&y[..6], 1).is_none());
    }
}
