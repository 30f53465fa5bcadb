//! Seasonal ARIMA(p,d,q)(P,D,Q)m with automatic order selection (a small Hyndman–Khandakar
//! search).
//!
//! - Seasonal differencing `D` (0 or 1) from the seasonal strength of a classical additive
//!   decomposition (`D = 1` above 0.64, as in `forecast::nsdiffs` / statsforecast), tried only
//!   with at least three full seasons.
//! - Ordinary differencing `d` (0–2) by repeated KPSS tests (level stationarity, 5 %).
//! - Orders `p, q ∈ {0,1,2}`, `P, Q ∈ {0,1}`, `p+q+P+Q ≤ 5`, a constant (mean or drift) when
//!   `d + D ≤ 1`; stepwise search from four starting models over ±1 moves, each model fitted by
//!   conditional sum of squares (CSS) with Nelder–Mead, compared by AICc on a common
//!   conditioning window so that every model is scored on the same residuals.
//! - Stationarity and invertibility are enforced through the triangle conditions for the
//!   (at most quadratic) non-seasonal polynomials and `|Φ|, |Θ| < 1`.
//!
//! Forecasts run the expanded difference equation on the original scale with future
//! shocks set to zero. Pure numeric code: no I/O, no clock.

use crate::forecast::optim::nelder_mead;

/// Order of a seasonal ARIMA model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// Non-seasonal AR order.
    pub p: usize,
    /// Non-seasonal differences.
    pub d: usize,
    /// Non-seasonal MA order.
    pub q: usize,
    /// Seasonal AR order (0 or 1).
    pub sp: usize,
    /// Seasonal differences (0 or 1).
    pub sd: usize,
    /// Seasonal MA order (0 or 1).
    pub sq: usize,
    /// Season length (1 when the model has no seasonal part).
    pub m: usize,
    /// Whether a constant (mean for `d + D = 0`, drift for `d + D = 1`) is included.
    pub constant: bool,
}

impl Order {
    fn npar(&self) -> usize {
        self.p + self.q + self.sp + self.sq
    }
}

/// A fitted seasonal ARIMA model.
#[derive(Clone, Debug)]
pub struct ArimaFit {
    /// The model order.
    pub order: Order,
    /// Coefficients: φ₁..φp, Φ₁ (if P = 1), θ₁..θq, Θ₁ (if Q = 1).
    pub coef: Vec<f64>,
    /// Mean of the differenced series (0 without a constant).
    pub mean: f64,
    /// AICc of the CSS fit.
    pub aicc: f64,
}

/// Significance threshold of the seasonal strength for a seasonal difference.
const SEASONAL_STRENGTH: f64 = 0.64;
/// KPSS 5 % critical value (level stationarity).
const KPSS_CRIT: f64 = 0.463;
/// Maximum `p + q + P + Q`.
const MAX_ORDER: usize = 5;

/// Sparse polynomial: `(lag, coefficient)` pairs.
pub(crate) type Lags = Vec<(usize, f64)>;

/// Applies `d` ordinary and `sd` lag-`m` differences.
pub(crate) fn difference(z: &[f64], d: usize, sd: usize, m: usize) -> Vec<f64> {
    let mut w = z.to_vec();
    for _ in 0..sd {
        w = (m..w.len()).map(|t| w[t] - w[t - m]).collect();
    }
    for _ in 0..d {
        w = (1..w.len()).map(|t| w[t] - w[t - 1]).collect();
    }
    w
}

/// Expanded AR and MA lag coefficients `(lag, coefficient)` of
/// `(1 − Σφᵢ Bⁱ)(1 − Φ Bᵐ)` (as `wₜ = Σ c·wₜ₋ₗ + …`) and `(1 + Σθⱼ Bʲ)(1 + Θ Bᵐ)`.
pub(crate) fn expand(o: &Order, coef: &[f64]) -> (Lags, Lags) {
    let (phi, rest) = coef.split_at(o.p);
    let (sphi, rest) = rest.split_at(o.sp);
    let (theta, stheta) = rest.split_at(o.q);
    let mut ar: Vec<(usize, f64)> = phi.iter().enumerate().map(|(i, &c)| (i + 1, c)).collect();
    if let Some(&s) = sphi.first() {
        ar.push((o.m, s));
        ar.extend(phi.iter().enumerate().map(|(i, &c)| (o.m + i + 1, -c * s)));
    }
    let mut ma: Vec<(usize, f64)> = theta.iter().enumerate().map(|(j, &c)| (j + 1, c)).collect();
    if let Some(&s) = stheta.first() {
        ma.push((o.m, s));
        ma.extend(theta.iter().enumerate().map(|(j, &c)| (o.m + j + 1, c * s)));
    }
    (ar, ma)
}

/// Whether `1 − a₁B − a₂B²` has its roots outside the unit circle (with a small margin).
fn stationary2(a: &[f64]) -> bool {
    const LIM: f64 = 0.99;
    match a.len() {
        0 => true,
        1 => a[0].abs() < LIM,
        _ => a[1] > -LIM && a[0] + a[1] < LIM && a[1] - a[0] < LIM,
    }
}

fn admissible(o: &Order, coef: &[f64]) -> bool {
    let (phi, rest) = coef.split_at(o.p);
    let (sphi, rest) = rest.split_at(o.sp);
    let (theta, stheta) = rest.split_at(o.q);
    // MA invertibility of 1 + θ₁B + θ₂B² is stationarity of the AR form with −θ.
    let neg: Vec<f64> = theta.iter().map(|v| -v).collect();
    stationary2(phi)
        && stationary2(&neg)
        && sphi.iter().all(|v| v.abs() < 0.99)
        && stheta.iter().all(|v| v.abs() < 0.99)
}

/// Conditional sum of squares of the centred series `wc` (`w − mean`): residuals from index
/// `start` (the largest AR lag), earlier ones zero, summed from `sum_from`. The hottest loop
/// of the full path: the steps before the largest MA lag check that lag, the rest run
/// without the check.
fn css(
    wc: &[f64],
    ar: &[(usize, f64)],
    ma: &[(usize, f64)],
    start: usize,
    sum_from: usize,
    e: &mut Vec<f64>,
) -> f64 {
    let n = wc.len();
    e.clear();
    e.resize(n, 0.0);
    let max_ma = ma.iter().map(|&(l, _)| l).max().unwrap_or(0);
    let split = start.max(max_ma).min(n);
    let mut s = 0.0;
    for t in start..split {
        let mut v = wc[t];
        for &(l, c) in ar {
            v -= c * wc[t - l];
        }
        for &(l, c) in ma {
            if l <= t {
                v -= c * e[t - l];
            }
        }
        e[t] = v;
        if t >= sum_from {
            s += v * v;
        }
    }
    for t in split.max(start)..n {
        let mut v = wc[t];
        for &(l, c) in ar {
            v -= c * wc[t - l];
        }
        for &(l, c) in ma {
            v -= c * e[t - l];
        }
        e[t] = v;
        if t >= sum_from {
            s += v * v;
        }
    }
    s
}

/// Fits the ARMA part of `o` on the differenced series `w` by CSS; returns coefficients and
/// AICc (on the residuals from `sum_from`), or `None` if no admissible fit exists.
fn fit_order(
    w: &[f64],
    o: &Order,
    sum_from: usize,
    x0: Option<&[f64]>,
    e: &mut Vec<f64>,
) -> Option<(Vec<f64>, f64, f64)> {
    let n_eff = w.len().checked_sub(sum_from)? as f64;
    let mean = if o.constant {
        w.iter().sum::<f64>() / w.len() as f64
    } else {
        0.0
    };
    let k = o.npar();
    let start = o.p + o.sp * o.m;
    let wc: Vec<f64> = w.iter().map(|v| v - mean).collect();
    let obj = |x: &[f64], e: &mut Vec<f64>| -> f64 {
        if !admissible(o, x) {
            return f64::INFINITY;
        }
        let (ar, ma) = expand(o, x);
        css(&wc, &ar, &ma, start, sum_from, e)
    };
    let (coef, v) = if k == 0 {
        (Vec::new(), obj(&[], e))
    } else {
        let init: Vec<f64> = x0.map_or_else(|| vec![0.0; k], |x| x.to_vec());
        nelder_mead(|x| obj(x, e), &init, &vec![0.1; k], 80 + 60 * k, 1e-8)
    };
    if !v.is_finite() {
        return None;
    }
    let npar = (k + o.constant as usize + 1) as f64;
    if n_eff <= npar + 2.0 {
        return None;
    }
    let scale = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    let sigma2 = (v / n_eff).max(1e-12 * scale.max(1e-300));
    let aicc = n_eff * sigma2.ln() + 2.0 * npar + 2.0 * npar * (npar + 1.0) / (n_eff - npar - 1.0);
    Some((coef, mean, aicc))
}

/// Seasonal strength `max(0, 1 − Var(R) / Var(S + R))` of a classical additive decomposition
/// (centred moving-average trend, fixed seasonal means); 0 when undefined.
pub(crate) fn seasonal_strength(z: &[f64], m: usize) -> f64 {
    let n = z.len();
    if m < 2 || n < 2 * m + 1 {
        return 0.0;
    }
    let half = m / 2;
    let mut det = vec![f64::NAN; n];
    for t in half..n - half {
        let ma = if m.is_multiple_of(2) {
            if t + half >= n {
                continue;
            }
            let inner: f64 = z[t + 1 - half..t + half].iter().sum();
            (inner + 0.5 * (z[t - half] + z[t + half])) / m as f64
        } else {
            z[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        det[t] = z[t] - ma;
    }
    let mut sum = vec![0.0f64; m];
    let mut cnt = vec![0.0f64; m];
    for (t, &v) in det.iter().enumerate() {
        if v.is_finite() {
            sum[t % m] += v;
            cnt[t % m] += 1.0;
        }
    }
    let mut s: Vec<f64> = sum.iter().zip(&cnt).map(|(a, c)| a / c.max(1.0)).collect();
    let avg = s.iter().sum::<f64>() / m as f64;
    s.iter_mut().for_each(|v| *v -= avg);
    let (mut dv, mut rv) = (Vec::new(), Vec::new());
    for (t, &v) in det.iter().enumerate() {
        if v.is_finite() {
            dv.push(v);
            rv.push(v - s[t % m]);
        }
    }
    let var = |x: &[f64]| {
        let mu = x.iter().sum::<f64>() / x.len() as f64;
        x.iter().map(|v| (v - mu).powi(2)).sum::<f64>()
    };
    let vd = var(&dv);
    if vd <= 0.0 {
        return 0.0;
    }
    (1.0 - var(&rv) / vd).max(0.0)
}

/// KPSS statistic for level stationarity, Bartlett long-run variance with
/// `⌊4 (n/100)^¼⌋` lags. Returns 0 for a constant series.
pub(crate) fn kpss(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 3 {
        return 0.0;
    }
    let nf = n as f64;
    let mu = x.iter().sum::<f64>() / nf;
    let e: Vec<f64> = x.iter().map(|v| v - mu).collect();
    let mut cum = 0.0;
    let mut eta = 0.0;
    for v in &e {
        cum += v;
        eta += cum * cum;
    }
    eta /= nf * nf;
    let lags = (4.0 * (nf / 100.0).powf(0.25)) as usize;
    let mut s2 = e.iter().map(|v| v * v).sum::<f64>() / nf;
    for l in 1..=lags.min(n - 1) {
        let g: f64 = (l..n).map(|t| e[t] * e[t - l]).sum::<f64>() / nf;
        s2 += 2.0 * (1.0 - l as f64 / (lags as f64 + 1.0)) * g;
    }
    let scale = x.iter().map(|v| v.abs()).sum::<f64>() / nf;
    if s2 <= 1e-12 * scale * scale || s2 <= 0.0 {
        return 0.0;
    }
    eta / s2
}

/// Number of ordinary differences (0–2) by repeated KPSS tests.
pub(crate) fn ndiffs(x: &[f64]) -> usize {
    let mut w = x.to_vec();
    let mut d = 0;
    while d < 2 && w.len() > 8 && kpss(&w) > KPSS_CRIT {
        w = difference(&w, 1, 0, 1);
        d += 1;
    }
    d
}

/// Selects and fits a seasonal ARIMA on `y`. `None` for histories too short to fit anything.
pub fn auto_arima(y: &[f64], m: usize) -> Option<ArimaFit> {
    let n = y.len();
    if n < 10 {
        return None;
    }
    let z = y;
    let seasonal = m >= 2 && n >= 3 * m;
    let m_eff = if seasonal { m } else { 1 };
    let sd = usize::from(seasonal && seasonal_strength(z, m) > SEASONAL_STRENGTH);
    let d = ndiffs(&difference(z, 0, sd, m_eff));
    let w = difference(z, d, sd, m_eff);
    if w.len() < 8 {
        return None;
    }
    // Seasonal AR needs m + 2 conditioning values plus enough residuals.
    let max_sp = usize::from(seasonal && w.len() >= 3 * m + 2);
    let max_sq = usize::from(seasonal);
    let sum_from = 2 + max_sp * m;
    if w.len() < sum_from + 8 {
        return None;
    }
    let allow_c = d + sd <= 1;
    let base = Order {
        p: 0,
        d,
        q: 0,
        sp: 0,
        sd,
        sq: 0,
        m: m_eff,
        constant: allow_c,
    };
    let mk = |p: usize, q: usize, sp: usize, sq: usize, c: bool| Order {
        p,
        q,
        sp: sp.min(max_sp),
        sq: sq.min(max_sq),
        constant: c && allow_c,
        ..base
    };
    let mut e = Vec::new();
    let mut tried: Vec<Order> = Vec::new();
    let mut best: Option<(Order, Vec<f64>, f64, f64)> = None;
    let mut consider = |o: Order, tried: &mut Vec<Order>, best: &mut Option<_>| -> bool {
        if o.p > 2 || o.q > 2 || o.npar() > MAX_ORDER || tried.contains(&o) {
            return false;
        }
        tried.push(o);
        match fit_order(&w, &o, sum_from, None, &mut e) {
            Some((coef, mean, aicc))
                if best
                    .as_ref()
                    .is_none_or(|b: &(Order, Vec<f64>, f64, f64)| aicc < b.3) =>
            {
                *best = Some((o, coef, mean, aicc));
                true
            }
            _ => false,
        }
    };
    for o in [
        mk(2, 2, 1, 1, true),
        mk(0, 0, 0, 0, true),
        mk(1, 0, 1, 0, true),
        mk(0, 1, 0, 1, true),
        mk(0, 0, 0, 0, false),
    ] {
        consider(o, &mut tried, &mut best);
    }
    // Stepwise: move to the first better neighbour until none improves.
    for _ in 0..40 {
        let (cur, ..) = best.clone()?;
        let moves: [(isize, isize, isize, isize, bool); 13] = [
            (-1, 0, 0, 0, false),
            (1, 0, 0, 0, false),
            (0, -1, 0, 0, false),
            (0, 1, 0, 0, false),
            (-1, -1, 0, 0, false),
            (1, 1, 0, 0, false),
            (-1, 1, 0, 0, false),
            (1, -1, 0, 0, false),
            (0, 0, -1, 0, false),
            (0, 0, 1, 0, false),
            (0, 0, 0, -1, false),
            (0, 0, 0, 1, false),
            (0, 0, 0, 0, true),
        ];
        let mut improved = false;
        for (dp, dq, dsp, dsq, flip) in moves {
            let add = |v: usize, dv: isize| v.checked_add_signed(dv);
            let (Some(p), Some(q), Some(sp), Some(sq)) = (
                add(cur.p, dp),
                add(cur.q, dq),
                add(cur.sp, dsp),
                add(cur.sq, dsq),
            ) else {
                continue;
            };
            if sp > max_sp || sq > max_sq {
                continue;
            }
            let c = cur.constant ^ flip;
            if flip && !allow_c {
                continue;
            }
            if consider(mk(p, q, sp, sq, c), &mut tried, &mut best) {
                improved = true;
                break;
            }
        }
        if !improved {
            break;
        }
    }
    let (order, coef, mean, aicc) = best?;
    Some(ArimaFit {
        order,
        coef,
        mean,
        aicc,
    })
}

impl ArimaFit {
    /// Re-estimates the coefficients on `y` keeping the order.
    pub fn refit(&self, y: &[f64]) -> Option<ArimaFit> {
        let o = self.order;
        let w = difference(y, o.d, o.sd, o.m);
        let sum_from = 2 + o.sp * o.m;
        let mut e = Vec::new();
        let (coef, mean, aicc) = fit_order(&w, &o, sum_from, Some(&self.coef), &mut e)?;
        Some(ArimaFit {
            order: o,
            coef,
            mean,
            aicc,
        })
    }

    /// Appends, for every origin `t` in `from..=y.len()`, the `h` forecasts made after seeing
    /// `y[..t]` (origins too early for the differencing repeat the last value).
    pub fn rolling(&self, y: &[f64], from: usize, h: usize, out: &mut Vec<f64>) {
        let o = &self.order;
        let n = y.len();
        let z = y;
        // Full polynomial on z: c(B) = φ̃(B)(1 − B)^d(1 − B^m)^D, c₀ = 1.
        let (ar, ma) = expand(o, &self.coef);
        let arma_deg = o.p + o.sp * o.m;
        let mut c = vec![0.0; arma_deg + 1];
        c[0] = 1.0;
        for &(l, v) in &ar {
            c[l] -= v;
        }
        let phi1: f64 = c.iter().sum();
        for _ in 0..o.d {
            c = mul_poly(&c, 1);
        }
        for _ in 0..o.sd {
            c = mul_poly(&c, o.m);
        }
        let deg = c.len() - 1;
        let konst = self.mean * phi1;
        let mut a = vec![0.0; n];
        for t in deg..n {
            let mut v = z[t] - konst;
            for (i, &ci) in c.iter().enumerate().skip(1) {
                v += ci * z[t - i];
            }
            for &(l, th) in &ma {
                if l <= t {
                    v -= th * a[t - l];
                }
            }
            a[t] = v;
        }
        let mut zh = vec![0.0; h];
        for t in from.min(n)..=n {
            if t <= deg {
                let v = if t > 0 { y[t - 1] } else { 0.0 };
                out.extend(std::iter::repeat_n(v, h));
                continue;
            }
            for k in 0..h {
                let j = t + k;
                let mut v = konst;
                for (i, &ci) in c.iter().enumerate().skip(1) {
                    let zi = if j - i < t { z[j - i] } else { zh[j - i - t] };
                    v -= ci * zi;
                }
                for &(l, th) in &ma {
                    if l <= j && j - l < t {
                        v += th * a[j - l];
                    }
                }
                zh[k] = v;
            }
            out.extend_from_slice(&zh);
        }
    }

    /// Short description, e.g. `ARIMA(1,1,0)(0,1,1)12`.
    pub fn describe(&self) -> String {
        let o = &self.order;
        let mut s = format!("ARIMA({},{},{})", o.p, o.d, o.q);
        if o.m > 1 {
            s += &format!("({},{},{}){}", o.sp, o.sd, o.sq, o.m);
        }
        if o.constant {
            s += " with constant";
        }
        s
    }
}

/// Multiplies polynomial `c` (coefficients of B⁰, B¹, …) by `1 − Bˡᵃᵍ`.
fn mul_poly(c: &[f64], lag: usize) -> Vec<f64> {
    let mut out = vec![0.0; c.len() + lag];
    for (i, &v) in c.iter().enumerate() {
        out[i] += v;
        out[i + lag] -= v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random standard normals (xorshift + Box–Muller).
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut u = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| (-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos())
            .collect()
    }

    #[test]
    fn expansion_by_hand() {
        // (1 − 0.5B)(1 − 0.3B⁴): lags 1 → 0.5, 4 → 0.3, 5 → −0.15;
        // (1 + 0.2B)(1 + 0.4B⁴): lags 1 → 0.2, 4 → 0.4, 5 → 0.08.
        let o = Order {
            p: 1,
            d: 0,
            q: 1,
            sp: 1,
            sd: 0,
            sq: 1,
            m: 4,
            constant: false,
        };
        let (ar, ma) = expand(&o, &[0.5, 0.3, 0.2, 0.4]);
        assert_eq!(ar, vec![(1, 0.5), (4, 0.3), (5, -0.15)]);
        assert_eq!(ma[..2], [(1, 0.2), (4, 0.4)]);
        assert!((ma[2].1 - 0.08).abs() < 1e-15 && ma[2].0 == 5);
    }

    #[test]
    fn kpss_by_hand() {
        // x = 1,−1,1,−1: partial sums 1,0,1,0 → η = 2/16; one lag: γ₀ = 1, γ₁ = −3/4,
        // s² = 1 + 2·½·(−¾) = ¼ → statistic ½.
        assert!((kpss(&[1.0, -1.0, 1.0, -1.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn differencing_decisions() {
        let e = noise(300, 7);
        assert_eq!(ndiffs(&e), 0);
        let walk: Vec<f64> = e
            .iter()
            .scan(0.0, |s, v| {
                *s += v;
                Some(*s)
            })
            .collect();
        assert_eq!(ndiffs(&walk), 1, "{}", kpss(&walk));
        let seasonal: Vec<f64> = (0..120)
            .map(|t| 10.0 * ((t % 12) as f64 - 5.5) + e[t])
            .collect();
        assert!(seasonal_strength(&seasonal, 12) > 0.9);
        assert!(seasonal_strength(&e[..120], 12) < 0.64);
    }

    #[test]
    fn linear_trend_is_extrapolated_exactly() {
        // y = 3 + 2t: one difference leaves the constant 2, the drift; forecasts continue the
        // line whatever ARMA part is chosen (all residuals are zero).
        let y: Vec<f64> = (0..40).map(|t| 3.0 + 2.0 * t as f64).collect();
        let f = auto_arima(&y, 1).unwrap();
        assert_eq!((f.order.d, f.order.constant), (1, true));
        let mut out = Vec::new();
        f.rolling(&y, 40, 3, &mut out);
        for (k, v) in out.iter().enumerate() {
            assert!((v - (3.0 + 2.0 * (40 + k) as f64)).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn recovers_an_ar1() {
        // yₜ = 0.7 yₜ₋₁ + eₜ: the search should find AR(1)-like dynamics with φ ≈ 0.7.
        let e = noise(500, 11);
        let mut y = vec![0.0; 500];
        for t in 1..500 {
            y[t] = 0.7 * y[t - 1] + e[t];
        }
        let f = auto_arima(&y, 1).unwrap();
        assert_eq!(f.order.d, 0);
        let mut out = Vec::new();
        f.rolling(&y, 500, 1, &mut out);
        // One-step forecast ≈ 0.7·y₄₉₉ (+ small mean).
        assert!(
            (out[0] - 0.7 * y[499]).abs() < 0.25,
            "{} {}",
            out[0],
            y[499]
        );
    }

    #[test]
    fn seasonal_pattern_is_forecast() {
        let e = noise(120, 3);
        let pat = [
            5.0, 9.0, 14.0, 20.0, 17.0, 12.0, 8.0, 6.0, 4.0, 3.0, 3.5, 4.5,
        ];
        let y: Vec<f64> = (0..120)
            .map(|t| 50.0 + 0.2 * t as f64 + pat[t % 12] + 0.5 * e[t])
            .collect();
        let f = auto_arima(&y, 12).unwrap();
        assert_eq!(f.order.sd, 1, "{}", f.describe());
        let mut out = Vec::new();
        f.rolling(&y, 120, 12, &mut out);
        for (k, v) in out.iter().enumerate() {
            let truth = 50.0 + 0.2 * (120 + k) as f64 + pat[k % 12];
            assert!((v - truth).abs() < 2.5, "{k} {v} {truth} {}", f.describe());
        }
        // Refit keeps the order.
        assert_eq!(f.refit(&y[..108]).unwrap().order, f.order);
    }
}
