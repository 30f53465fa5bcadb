//! Fitted forecasts handed from one line to another with the same series.
//!
//! The engine's result for a line depends only on its inputs: the daily
//! series, its stockout marks, the horizon and the lead time. A master row
//! made of one child's one variant (most rows of a master whose children
//! sell different ranges) has exactly the inputs of that child's own line,
//! computed moments before in the same replan. The child's line *shares*
//! its fit here; the master's line *takes* it instead of running the engine
//! again. A fit is found by a 128-bit hash of every input, so a row whose
//! inputs differ in anything (another warehouse's sales left out, another
//! lead time) is never given another's fit, and a plan computed with fits
//! taken from here equals one computed without, row for row.
//!
//! Fits are shared within a [`Scope`], one master's replan: its children's
//! lines share, its rows take, and what is left when the scope ends (rows of
//! several members never take) is dropped, whatever other replans run at
//! the same time. Shared fits are held within [`BUDGET`] bytes in all; what
//! does not fit is computed again by its taker.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::forecast::{self, Forecast, Options, SeriesInput, TotalDistribution};

/// The most bytes of shared fits held at once.
pub const BUDGET: usize = 192 << 20;

/// A line's fitted forecast and the distribution of its lead-time total.
pub(crate) type Fit = (Forecast, TotalDistribution);

/// What a line does with its fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum FitUse {
    /// Computes its own and keeps it to itself.
    #[default]
    Own,
    /// Computes its own and shares it, within a scope, for a later line with
    /// the same inputs.
    Share(u64),
    /// Takes a fit shared within a scope with the same inputs, if there is
    /// one.
    Take(u64),
}

/// One master's replan, within which fits are shared and taken; entered on
/// the thread that runs it ([`current`]), its leftovers dropped at its end.
pub(crate) struct Scope {
    id: u64,
    outer: Option<u64>,
}

static SCOPES: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: Cell<Option<u64>> = const { Cell::new(None) };
}

impl Scope {
    /// A new scope, current on this thread until it is dropped.
    pub(crate) fn enter() -> Scope {
        let id = SCOPES.fetch_add(1, Ordering::Relaxed);
        let outer = CURRENT.with(|c| c.replace(Some(id)));
        Scope { id, outer }
    }

    /// How this scope's children's lines use their fits.
    #[cfg(test)]
    fn share(&self) -> FitUse {
        FitUse::Share(self.id)
    }

    /// How this scope's rows use their fits.
    pub(crate) fn take(&self) -> FitUse {
        FitUse::Take(self.id)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.outer));
        let mut guard = shared();
        if let Some(s) = guard.as_mut() {
            let mut freed = 0;
            s.fits.retain(|(scope, _), (_, bytes, _)| {
                let keep = *scope != self.id;
                if !keep {
                    freed += *bytes;
                }
                keep
            });
            s.bytes -= freed;
        }
    }
}

/// How a line computed on this thread uses its fit: shared within the
/// current scope (a master's replan recomputing its children), else its own.
pub(crate) fn current() -> FitUse {
    CURRENT.with(|c| c.get()).map_or(FitUse::Own, FitUse::Share)
}

#[derive(Default)]
struct Shared {
    /// By the hash of the inputs: the fit, its size, and how many lines
    /// shared it (lines of different variants may have the same inputs).
    fits: HashMap<(u64, u128), (Fit, usize, usize)>,
    bytes: usize,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

/// Fits taken since the process started.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// How many lines took a shared fit since the process started (for
/// operators and tests: it only grows).
pub fn taken() -> u64 {
    TAKEN.load(Ordering::Relaxed)
}

fn shared() -> MutexGuard<'static, Option<Shared>> {
    // A panic while the lock was held leaves whole entries behind: the map
    // is still sound.
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The hash of everything the engine's result depends on: the history as
/// the engine reads it (from the first sale, `forecast::clean_history`: a
/// master row's series may start earlier, at another child's first sale),
/// the season, the horizon and the lead time.
fn key(input: &SeriesInput, horizon: usize, lt_days: usize, opts: &Options) -> u128 {
    let (values, mask) = forecast::clean_history(input);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for n in [
        horizon,
        lt_days,
        input.season,
        opts.fast as usize,
        values.len(),
    ] {
        h.update(&(n as u64).to_le_bytes());
    }
    for v in &values {
        h.update(&v.to_bits().to_le_bytes());
    }
    match mask {
        Some(s) => h.update(&s.iter().map(|&b| b as u8).collect::<Vec<u8>>()),
        None => h.update(&[2]),
    }
    h.digest128()
}

/// Roughly the heap a fit holds.
fn size(fit: &Fit) -> usize {
    let (fc, _) = fit;
    std::mem::size_of::<Fit>()
        + 8 * (fc.point.len() + fc.low.len() + fc.high.len())
        + fc.method.len()
        + fc.candidates.len() * 48
        + 256
}

/// The engine's forecast of `horizon` days and lead-time total of `lt_days`
/// days for `input`: taken from a line that shared the same inputs if one
/// did ([`FitUse::Take`]), else computed; shared for a later line
/// ([`FitUse::Share`]).
pub(crate) fn fit(
    input: &SeriesInput,
    horizon: usize,
    lt_days: usize,
    opts: &Options,
    used: FitUse,
) -> Fit {
    let scope = match used {
        FitUse::Own => return forecast::forecast_with_total(input, horizon, lt_days, opts),
        FitUse::Share(scope) | FitUse::Take(scope) => scope,
    };
    let k = (scope, key(input, horizon, lt_days, opts));
    if let FitUse::Take(_) = used {
        let mut guard = shared();
        if let Some(s) = guard.as_mut() {
            if let Some(entry) = s.fits.get_mut(&k) {
                TAKEN.fetch_add(1, Ordering::Relaxed);
                if entry.2 > 1 {
                    entry.2 -= 1;
                    return entry.0.clone();
                }
                let (fit, bytes, _) = s.fits.remove(&k).expect("found above");
                s.bytes -= bytes;
                return fit;
            }
        }
    }
    let fit = forecast::forecast_with_total(input, horizon, lt_days, opts);
    if let FitUse::Share(_) = used {
        let bytes = size(&fit);
        let mut guard = shared();
        let s = guard.get_or_insert_with(Shared::default);
        if let Some(entry) = s.fits.get_mut(&k) {
            entry.2 += 1;
        } else if s.bytes + bytes <= BUDGET {
            s.fits.insert(k, (fit.clone(), bytes, 1));
            s.bytes += bytes;
        }
    }
    fit
}

/// Whether a fit for these inputs is shared and not yet taken.
#[cfg(test)]
fn is_held(scope: &Scope, input: &SeriesInput, horizon: usize, lt_days: usize) -> bool {
    let k = (
        scope.id,
        key(input, horizon, lt_days, &Options { fast: true }),
    );
    shared().as_ref().is_some_and(|s| s.fits.contains_key(&k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(values: &'a [f64], in_stock: &'a [bool]) -> SeriesInput<'a> {
        SeriesInput {
            values,
            in_stock: Some(in_stock),
            season: 7,
        }
    }

    #[test]
    fn a_taken_fit_equals_a_computed_one_and_other_inputs_get_their_own() {
        let values: Vec<f64> = (0..211).map(|t| ((t * 7) % 5) as f64 + 0.125).collect();
        let stock = vec![true; 211];
        let opts = Options { fast: true };
        let scope = Scope::enter();
        assert_eq!(current(), scope.share());
        let own = forecast::forecast_with_total(&input(&values, &stock), 30, 14, &opts);
        let first = fit(&input(&values, &stock), 30, 14, &opts, scope.share());
        assert_eq!(first.0.point, own.0.point);
        // Another lead time, another stockout mark, another value: not it.
        let mut marked = stock.clone();
        marked[150] = false;
        let mut other = values.clone();
        other[10] += 1.0;
        for (v, s, lt) in [
            (&values, &stock, 7),
            (&values, &marked, 14),
            (&other, &stock, 14),
        ] {
            let theirs = fit(&input(v, s), 30, lt, &opts, scope.take());
            let computed = forecast::forecast_with_total(&input(v, s), 30, lt, &opts);
            assert_eq!(theirs.0.point, computed.0.point);
            assert_eq!(theirs.1.mean, computed.1.mean);
        }
        // Days before the first sale do not count (the engine starts there).
        let mut earlier = vec![0.0; 30];
        earlier.extend(&values);
        let mut earlier_stock = vec![false; 30];
        earlier_stock.extend(&stock);
        assert!(is_held(&scope, &input(&earlier, &earlier_stock), 30, 14));
        // Another scope (another master's replan) does not see it.
        {
            let other_scope = Scope::enter();
            assert!(!is_held(&other_scope, &input(&values, &stock), 30, 14));
        }
        assert_eq!(current(), scope.share());
        // Shared twice (two variants with one history): taken twice.
        fit(&input(&values, &stock), 30, 14, &opts, scope.share());
        fit(&input(&values, &stock), 30, 14, &opts, scope.take());
        assert!(is_held(&scope, &input(&values, &stock), 30, 14));
        let taken = fit(&input(&values, &stock), 30, 14, &opts, scope.take());
        assert_eq!(taken.0.point, own.0.point);
        assert_eq!(taken.0.low, own.0.low);
        assert_eq!(taken.0.high, own.0.high);
        assert_eq!(taken.0.method, own.0.method);
        assert_eq!(taken.1.mean, own.1.mean);
        assert_eq!(taken.1.quantile(0.95), own.1.quantile(0.95));
        assert!(!is_held(&scope, &input(&values, &stock), 30, 14));
        // A line that neither shares nor takes leaves nothing behind.
        fit(&input(&other, &marked), 30, 14, &opts, FitUse::Own);
        assert!(!is_held(&scope, &input(&other, &marked), 30, 14));
        // What is left when the scope ends is dropped.
        fit(&input(&other, &marked), 30, 14, &opts, scope.share());
        let id = scope.id;
        drop(scope);
        assert_eq!(current(), FitUse::Own);
        let k = (id, key(&input(&other, &marked), 30, 14, &opts));
        assert!(!shared().as_ref().is_some_and(|s| s.fits.contains_key(&k)));
    }
}
