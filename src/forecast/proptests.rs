//! Property tests: the engine is total. Random series (empty to 60 periods, with zeros,
//! negatives, spikes and huge values, seasons 1, 7 and 12) through both paths of [`forecast`]
//! and [`total_distribution`](crate::forecast::total_distribution) must give finite,
//! non-negative, correctly sized, ordered answers and never panic. The case budget is small
//! and fixed so the suite runs in seconds in a debug build.

use proptest::prelude::*;

use crate::forecast::{forecast, forecast_with_total, total_distribution, Options, SeriesInput};

/// One value: mostly ordinary demand, sometimes zero, a return, a spike or a huge value.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..50.0,
        3 => Just(0.0),
        1 => -20.0f64..0.0,
        1 => 500.0f64..5_000.0,
        1 => 1e9f64..1e12,
        1 => (0u32..4).prop_map(f64::from),
    ]
}

/// A series with an optional in-stock mask, a season and a horizon.
fn case() -> impl Strategy<Value = (Vec<f64>, Option<Vec<bool>>, usize, usize)> {
    (
        prop::collection::vec(value(), 0..=60),
        prop::sample::select(vec![1usize, 7, 12]),
        0usize..=14,
        any::<bool>(),
    )
        .prop_flat_map(|(v, m, h, masked)| {
            let n = v.len();
            let mask = if masked {
                prop::collection::vec(prop::bool::weighted(0.85), n)
                    .prop_map(Some)
                    .boxed()
            } else {
                Just(None).boxed()
            };
            (Just(v), mask, Just(m), Just(h))
        })
}

fn check(values: &[f64], mask: Option<&[bool]>, season: usize, horizon: usize, fast: bool) {
    let input = SeriesInput {
        values,
        in_stock: mask,
        season,
    };
    let f = forecast(&input, horizon, &Options { fast });
    assert_eq!(f.point.len(), horizon);
    assert_eq!(f.low.len(), horizon);
    assert_eq!(f.high.len(), horizon);
    for k in 0..horizon {
        let (l, p, h) = (f.low[k], f.point[k], f.high[k]);
        assert!(l.is_finite() && p.is_finite() && h.is_finite(), "{f:?}");
        assert!(0.0 <= l && l <= p && p <= h, "{f:?}");
    }
    let periods = horizon * 2;
    let (g, t) = forecast_with_total(&input, horizon, periods, &Options { fast });
    assert_eq!(g.point, f.point);
    assert_eq!(t.periods, periods);
    assert!(t.mean.is_finite() && t.mean >= 0.0, "{t:?}");
    let mut last = 0.0;
    for i in 0..=20 {
        let q = t.quantile(i as f64 / 20.0);
        assert!(q.is_finite() && q >= last, "{t:?}");
        last = q;
    }
    if fast {
        let (_, same) = forecast_with_total(&input, periods, periods, &Options { fast });
        assert_eq!(total_distribution(&input, periods), same);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn full_path_is_total((v, mask, m, h) in case()) {
        check(&v, mask.as_deref(), m, h, false);
    }

    #[test]
    fn fast_path_is_total((v, mask, m, h) in case()) {
        check(&v, mask.as_deref(), m, h, true);
    }
}

#[test]
fn edge_cases_are_total() {
    let long_zero = vec![0.0; 60];
    let constant = vec![7.0; 40];
    let huge = vec![1e12; 30];
    let negative = vec![-3.0; 30];
    let one = [5.0];
    let cases: [&[f64]; 6] = [&[], &one, &constant, &long_zero, &huge, &negative];
    for v in cases {
        for m in [1, 7, 12] {
            for fast in [false, true] {
                check(v, None, m, 12, fast);
            }
        }
    }
}
