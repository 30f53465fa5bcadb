//! Derivative-free minimisation (Nelder–Mead) used to fit model parameters.
//!
//! Pure numeric code: no I/O, no clock.

/// Minimises `f` from `x0` with the Nelder–Mead simplex method.
///
/// `step` gives the initial simplex edge per coordinate. Stops after `max_evals` evaluations or
/// when the spread of the simplex values falls below `tol` (relative). Infinite or NaN values
/// are treated as "worse than anything", so objectives can reject infeasible points by returning
/// `f64::INFINITY`. Returns the best point and its value.
pub fn nelder_mead<F: FnMut(&[f64]) -> f64>(
    mut f: F,
    x0: &[f64],
    step: &[f64],
    max_evals: usize,
    tol: f64,
) -> (Vec<f64>, f64) {
    let d = x0.len();
    let clean = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(d + 1);
    let mut vals: Vec<f64> = Vec::with_capacity(d + 1);
    pts.push(x0.to_vec());
    vals.push(clean(f(x0)));
    for i in 0..d {
        let mut p = x0.to_vec();
        p[i] += step[i];
        vals.push(clean(f(&p)));
        pts.push(p);
    }
    let mut evals = d + 1;
    let mut order: Vec<usize> = (0..=d).collect();
    let mut centroid = vec![0.0; d];
    let mut xr = vec![0.0; d];
    let mut xe = vec![0.0; d];
    let mut xc = vec![0.0; d];
    while evals < max_evals {
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        let best = order[0];
        let worst = order[d];
        let second = order[d - 1];
        let (fb, fw) = (vals[best], vals[worst]);
        if fb.is_finite() && fw.is_finite() && (fw - fb).abs() <= tol * (fb.abs() + 1e-12) {
            break;
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for &i in &order[..d] {
            for (c, x) in centroid.iter_mut().zip(&pts[i]) {
                *c += x / d as f64;
            }
        }
        for j in 0..d {
            xr[j] = centroid[j] + (centroid[j] - pts[worst][j]);
        }
        let fr = clean(f(&xr));
        evals += 1;
        if fr < vals[best] {
            for j in 0..d {
                xe[j] = centroid[j] + 2.0 * (centroid[j] - pts[worst][j]);
            }
            let fe = clean(f(&xe));
            evals += 1;
            if fe < fr {
                pts[worst].copy_from_slice(&xe);
                vals[worst] = fe;
            } else {
                pts[worst].copy_from_slice(&xr);
                vals[worst] = fr;
            }
            continue;
        }
        if fr < vals[second] {
            pts[worst].copy_from_slice(&xr);
            vals[worst] = fr;
            continue;
        }
        // Contraction (outside if the reflection improved on the worst, else inside).
        let outside = fr < fw;
        for j in 0..d {
            xc[j] = if outside {
                centroid[j] + 0.5 * (xr[j] - centroid[j])
            } else {
                centroid[j] + 0.5 * (pts[worst][j] - centroid[j])
            };
        }
        let fc = clean(f(&xc));
        evals += 1;
        if fc < fr.min(fw) {
            pts[worst].copy_from_slice(&xc);
            vals[worst] = fc;
            continue;
        }
        // Shrink towards the best point.
        let bp = pts[best].clone();
        for &i in &order[1..] {
            for j in 0..d {
                pts[i][j] = bp[j] + 0.5 * (pts[i][j] - bp[j]);
            }
            vals[i] = clean(f(&pts[i]));
            evals += 1;
        }
    }
    let mut bi = 0;
    for i in 1..=d {
        if vals[i] < vals[bi] {
            bi = i;
        }
    }
    (pts.swap_remove(bi), vals[bi])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_minimum_of_a_quadratic() {
        // (x-1)^2 + 10 (y+2)^2 has its minimum 0 at (1, -2).
        let (x, v) = nelder_mead(
            |p| (p[0] - 1.0).powi(2) + 10.0 * (p[1] + 2.0).powi(2),
            &[0.0, 0.0],
            &[0.5, 0.5],
            2000,
            1e-14,
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] + 2.0).abs() < 1e-4,
            "{x:?}"
        );
        assert!(v < 1e-8);
    }

    #[test]
    fn respects_infeasible_region() {
        // Minimum of x^2 subject to x >= 0.5 is at 0.5.
        let (x, _) = nelder_mead(
            |p| {
                if p[0] < 0.5 {
                    f64::INFINITY
                } else {
                    p[0] * p[0]
                }
            },
            &[2.0],
            &[0.3],
            500,
            1e-12,
        );
        assert!((x[0] - 0.5).abs() < 1e-3, "{x:?}");
    }
}
