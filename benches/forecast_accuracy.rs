//! Accuracy benchmark: the `tributary forecast --holdout 12 --season 12` protocol on the
//! Australian retail monthly data set (152 series).
use std::time::Instant;

use tributary::forecast::{cli, Options};

mod reference;

fn main() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/aus_retail_monthly.csv");
    let started = Instant::now();
    let data = cli::read_long_csv(&path).expect("read data");
    let mut report = cli::holdout(&data, 12, 12, &Options::default());
    report.seconds = started.elapsed().as_secs_f64();
    println!(
        "forecast_accuracy: series={} MASE={:.4} RMSSE={:.4} MAE={:.3} RMSE={:.3} bias={:.3} coverage80={:.3} seconds={:.3}",
        report.series,
        report.mase,
        report.rmsse,
        report.mae,
        report.rmse,
        report.bias,
        report.coverage80,
        report.seconds
    );
    println!(
        "{}",
        reference::compare("forecast_accuracy", "aus_retail", report.mase, report.mae)
    );
}
