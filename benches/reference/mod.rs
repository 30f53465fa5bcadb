//! statsforecast's reference figures for the accuracy benches
//! (`benches/data/statsforecast_reference.json`, written by
//! `scripts/statsforecast_reference.py` on the benches' own splits): per set, the best single
//! model and the best equal-weight combination of models by MASE and by MAE, printed beside
//! the engine's figures so that every run says where the engine stands.

use serde_json::Value;

/// One reference model's figures.
pub struct Best {
    /// Model or `A+B` combination name.
    pub model: String,
    /// Its MASE (per-series mean).
    pub mase: f64,
    /// Its MAE (per-series mean).
    pub mae: f64,
}

/// The reference figures of one set.
pub struct Reference {
    /// Best single model by MASE, by MAE.
    pub single: [Best; 2],
    /// Best equal-weight combination (pairs and triples) by MASE, by MAE.
    pub combination: [Best; 2],
}

/// The reference figures of `set`, if the fixture has them.
pub fn reference(set: &str) -> Option<Reference> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/data/statsforecast_reference.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let s = json["sets"]
        .as_array()?
        .iter()
        .find(|s| s["set"].as_str() == Some(set))?;
    let best = |key: &str| -> Option<Best> {
        let b = &s[key];
        Some(Best {
            model: b["model"].as_str()?.to_string(),
            mase: b["mase"].as_f64()?,
            mae: b["mae"].as_f64()?,
        })
    };
    Some(Reference {
        single: [best("best_single_mase")?, best("best_single_mae")?],
        combination: [
            best("best_combination_mase")?,
            best("best_combination_mae")?,
        ],
    })
}

/// One line: the engine's MASE and MAE on `set` against statsforecast's best single model
/// and best combination on each measure, with the engine's difference in per cent (negative:
/// the engine is ahead).
pub fn compare(bench: &str, set: &str, mase: f64, mae: f64) -> String {
    let Some(r) = reference(set) else {
        return format!("{bench} reference {set}: engine mase={mase:.4} mae={mae:.4}; no statsforecast figures for this set");
    };
    let pct = |engine: f64, other: f64| 100.0 * (engine / other - 1.0);
    let side = |label: &str, b: &[Best; 2]| {
        format!(
            "best {label} mase {} {:.4} (engine {:+.1} %), mae {} {:.4} (engine {:+.1} %)",
            b[0].model,
            b[0].mase,
            pct(mase, b[0].mase),
            b[1].model,
            b[1].mae,
            pct(mae, b[1].mae)
        )
    };
    format!(
        "{bench} reference {set}: engine mase={mase:.4} mae={mae:.4} | {} | {}",
        side("single", &r.single),
        side("combination", &r.combination)
    )
}
