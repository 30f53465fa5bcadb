//! Forecast accuracy measures (pure functions over slices).
//!
//! Conventions: `actual` and `forecast` have the same length; scaled errors divide by an
//! in-sample measure of the training history, as in the M4/M5 competitions. A scale of zero (a
//! constant history) makes the scaled measure undefined, reported as `NaN` so callers can skip it.

/// Mean absolute error.
pub fn mae(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(a, f)| (f - a).abs()))
}

/// Root mean squared error.
pub fn rmse(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(a, f)| (f - a) * (f - a))).sqrt()
}

/// Bias: mean of forecast − actual (positive = over-forecast).
pub fn bias(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(a, f)| f - a))
}

/// Share of actuals inside `[low, high]` (bounds included).
pub fn coverage(actual: &[f64], low: &[f64], high: &[f64]) -> f64 {
    mean(
        actual
            .iter()
            .zip(low.iter().zip(high))
            .map(|(a, (l, h))| if *a >= *l && *a <= *h { 1.0 } else { 0.0 }),
    )
}

/// In-sample mean absolute error of the seasonal naive forecast with lag `m` on `train`
/// (falls back to lag 1 if the history is not longer than `m`). `NaN` if undefined.
pub fn mase_scale(train: &[f64], m: usize) -> f64 {
    let lag = if m >= 1 && train.len() > m { m } else { 1 };
    if train.len() <= lag {
        return f64::NAN;
    }
    mean(train.windows(lag + 1).map(|w| (w[lag] - w[0]).abs()))
}

/// In-sample mean squared error of the one-step naive forecast on `train`. `NaN` if undefined.
pub fn rmsse_scale(train: &[f64]) -> f64 {
    if train.len() < 2 {
        return f64::NAN;
    }
    mean(train.windows(2).map(|w| (w[1] - w[0]) * (w[1] - w[0])))
}

/// Mean absolute scaled error: MAE divided by [`mase_scale`] of the training history.
pub fn mase(train: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> f64 {
    let s = mase_scale(train, m);
    if s > 0.0 {
        mae(actual, forecast) / s
    } else {
        f64::NAN
    }
}

/// Root mean squared scaled error: √(MSE / [`rmsse_scale`]) of the training history.
pub fn rmsse(train: &[f64], actual: &[f64], forecast: &[f64]) -> f64 {
    let s = rmsse_scale(train);
    if s > 0.0 {
        (rmse(actual, forecast).powi(2) / s).sqrt()
    } else {
        f64::NAN
    }
}

/// Mean of an iterator; `NaN` when empty.
fn mean<I: Iterator<Item = f64>>(it: I) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_measures() {
        let train = [1.0, 3.0, 2.0, 4.0];
        let actual = [5.0, 6.0];
        let fc = [4.0, 8.0];
        // errors f-a: -1, +2 → MAE 1.5, RMSE √2.5, bias 0.5
        assert_eq!(mae(&actual, &fc), 1.5);
        assert_eq!(rmse(&actual, &fc), 2.5f64.sqrt());
        assert_eq!(bias(&actual, &fc), 0.5);
        // lag-2 seasonal naive in-sample: |2-1|, |4-3| → 1; MASE = 1.5
        assert_eq!(mase_scale(&train, 2), 1.0);
        assert_eq!(mase(&train, &actual, &fc, 2), 1.5);
        // one-step naive: 2,-1,2 → squares 4,1,4 → 3; RMSSE = √(2.5/3)
        assert_eq!(rmsse_scale(&train), 3.0);
        assert!((rmsse(&train, &actual, &fc) - (2.5f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(coverage(&actual, &[4.0, 6.5], &[5.0, 9.0]), 0.5);
    }

    #[test]
    fn constant_history_is_undefined() {
        assert!(mase(&[2.0, 2.0, 2.0], &[2.0], &[3.0], 1).is_nan());
    }
}
