//! Generalisation benchmark: the `tributary forecast --holdout` protocol on data held out in
//! several ways, so that no figure rests on the one set a constant could have been tuned to.
//!
//! - `aus_retail` (152 monthly series, H = 12): the last 12 months (the `forecast_accuracy`
//!   figure), an **earlier window** (the 12 months before those, the last year unseen), and the
//!   series split in two halves (**other series**: odd and even positions);
//! - `aus_retail` summed to **quarters** (H = 8, season 4): another frequency;
//! - the wholesaler's 2,797 daily SKU series (`tests/data/online_retail_daily_to_2011-09-30`)
//!   summed to **weeks** (H = 13, season 52) and to **months** (H = 3, season 12): another
//!   domain and other frequencies on the full model selection, short histories (at most 95
//!   weeks, 10 months: the data start in December 2010), intermittent demand;
//! - the same daily series on the server's fast path (H = 28, season 7), last window;
//! - small public sets that `pmdarima` ships offline (`tests/data/public`): two monthly
//!   series of other domains (airline passengers, wine sales; H = 12) and three quarterly
//!   ones (beer, residents, woollen yarn; H = 8).
//!
//! Every line reports MASE, MAE, the 80 % interval's coverage, the coverage of the total's
//! 10 %–90 % range, `service95` and `inventory95` (see [`cli::HoldoutReport`]) and the time.
//! Where statsforecast's figures for a set are in `benches/data/statsforecast_reference.json`,
//! a second line compares the engine's MASE and MAE with its best single model and best
//! equal-weight combination. Run with `cargo bench --bench holdout_sets`.

use std::io::Read;
use std::time::Instant;

use tributary::forecast::cli::{self, LongData, Step};

mod reference;

/// Runs the holdout on `data` and prints its line; with `reference_set`, also the engine
/// against statsforecast's figures for that set ([`reference::compare`]).
fn report(name: &str, data: &LongData, h: usize, season: usize, reference_set: Option<&str>) {
    let t = Instant::now();
    let r = cli::holdout(data, h, season, &cli::options_for(data.step));
    println!(
        "holdout_sets {name}: series={} h={h} season={season} mase={:.4} mae={:.4} rmsse={:.4} bias={:.4} coverage80={:.3} coverage80_total={:.3} service95={:.3} inventory95={:.3} seconds={:.2}",
        r.series,
        r.mase,
        r.mae,
        r.rmsse,
        r.bias,
        r.coverage80,
        r.coverage80_total,
        r.service95,
        r.inventory95,
        t.elapsed().as_secs_f64()
    );
    if let Some(set) = reference_set {
        println!("{}", reference::compare("holdout_sets", set, r.mase, r.mae));
    }
}

/// `data` with the last `k` periods of every series removed (series left too short dropped).
fn cut(data: &LongData, k: usize) -> LongData {
    let mut d = data.clone();
    d.series.retain(|s| s.values.len() > k + 8);
    for s in &mut d.series {
        let n = s.values.len();
        s.values.truncate(n - k);
    }
    d
}

/// The series of `data` at positions `i % 2 == parity`.
fn half(data: &LongData, parity: usize) -> LongData {
    let mut d = data.clone();
    let mut i = 0;
    d.series.retain(|_| {
        i += 1;
        (i - 1) % 2 == parity
    });
    d
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let aus = cli::read_long_csv(&root.join("tests/data/aus_retail_monthly.csv")).expect("aus");
    report(
        "aus_retail_monthly_last12",
        &aus,
        12,
        12,
        Some("aus_retail"),
    );
    report("aus_retail_monthly_earlier12", &cut(&aus, 12), 12, 12, None);
    report(
        "aus_retail_monthly_odd_series",
        &half(&aus, 1),
        12,
        12,
        None,
    );
    report(
        "aus_retail_monthly_even_series",
        &half(&aus, 0),
        12,
        12,
        None,
    );
    report(
        "aus_retail_quarterly",
        &aus.aggregate(Step::Quarter),
        8,
        4,
        None,
    );
    // Small public sets of other domains (tests/data/public/README.md): too few series for
    // the catalogue calibration, so they show the uncalibrated widths.
    let public = root.join("tests/data/public");
    let monthly = cli::read_long_csv(&public.join("pmdarima_monthly.csv")).expect("monthly");
    report(
        "pmdarima_monthly",
        &monthly,
        12,
        12,
        Some("pmdarima_monthly"),
    );
    let quarterly = cli::read_long_csv(&public.join("pmdarima_quarterly.csv")).expect("quarterly");
    report(
        "pmdarima_quarterly",
        &quarterly,
        8,
        4,
        Some("pmdarima_quarterly"),
    );

    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(root.join("tests/data/online_retail_daily_to_2011-09-30.csv.gz"))
            .expect("daily data"),
    )
    .read_to_string(&mut text)
    .expect("gzip");
    let tmp = std::env::temp_dir().join(format!("holdout_sets_{}.csv", std::process::id()));
    std::fs::write(&tmp, text).expect("temp file");
    let daily = cli::read_long_csv(&tmp).expect("daily");
    std::fs::remove_file(&tmp).ok();
    report(
        "wholesaler_weekly",
        &daily.aggregate(Step::Week),
        13,
        52,
        None,
    );
    report(
        "wholesaler_monthly",
        &daily.aggregate(Step::Month),
        3,
        12,
        None,
    );
    report(
        "wholesaler_daily_fast_last28",
        &daily,
        28,
        7,
        Some("daily_window_end-0d"),
    );
    report(
        "wholesaler_daily_fast_earlier28",
        &cut(&daily, 28),
        28,
        7,
        Some("daily_window_end-28d"),
    );
}
