//! The explanation of a plan line, typed (`api.md`: every number followed
//! back to its inputs). The line stage builds one [`Explanation`] per line
//! and serialises it once into `plan_details.explanation`; the API returns
//! that JSON as stored and the pages read it back into the same struct.
//!
//! Fields are declared in alphabetical order, so the JSON keeps the order
//! of the untyped object it replaces.

use serde::{Deserialize, Serialize};

use crate::planning::edits::{AppliedEdit, EditConflict};
use crate::planning::line::Flag;
use crate::planning::series::Included;

/// The explanation of one plan line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Explanation {
    /// On a master: what each child's variant brings to the row.
    pub contributions: Vec<Contribution>,
    /// The demand and how it was forecast.
    pub demand: DemandExplained,
    /// The first forecast edit applied to the line (`api.md` names it).
    pub edit: Option<AppliedEdit>,
    /// Group edits that would change the line in the same month (none applied).
    pub edit_conflicts: Vec<EditConflict>,
    /// Every forecast edit applied.
    pub edits: Vec<AppliedEdit>,
    /// Doubts about the line.
    pub flags: Vec<Flag>,
    /// Notes in words (reconciliation, pooled stock, bundles, edits).
    pub notes: Vec<String>,
    /// The safety stock's terms.
    pub safety_stock: SafetyStockExplained,
    /// The order quantity's rounding steps.
    pub steps: Vec<Step>,
    /// Every term of the engine's sum, in order.
    pub terms: Vec<Term>,
}

/// One child's variant in a master's row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contribution {
    /// The child account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Available stock the master counts from it.
    pub available: f64,
    /// Its own plan's demand per day.
    pub demand_per_day: f64,
    /// Which of its figures the master counts.
    pub included: Included,
    /// Sales estimated lost on its own stockout days.
    pub lost_sales_estimated: f64,
    /// Incoming open orders the master counts from it.
    pub on_order: f64,
    /// Units sold the master counts.
    pub sales_counted: f64,
    /// The variant's SKU as the child spells it.
    pub sku: String,
    /// Its own stockout days whose demand was estimated.
    pub stockout_days_estimated: usize,
    /// The child's variant.
    pub variant_id: String,
}

impl Default for Included {
    fn default() -> Self {
        Included {
            stock: true,
            sales: true,
        }
    }
}

/// The demand part of an explanation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DemandExplained {
    /// Every candidate method with its backtest score (`None`: not measured).
    pub candidates: Vec<CandidateScore>,
    /// The demand class (`smooth`, `intermittent`, …).
    pub class: String,
    /// Lead time plus days of stock.
    pub coverage_days: f64,
    /// Days of history the forecast saw.
    pub history_days: usize,
    /// The chosen method.
    pub method: String,
    /// Forecast demand per day over the coverage period.
    pub per_day: f64,
    /// On a master reconciled to its children's sum: how.
    pub reconciled: Option<ReconciledExplained>,
    /// Stockout days left out of the fit.
    pub stockout_days_excluded: usize,
}

/// A forecast method considered, with its backtest score (lower is better).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CandidateScore {
    /// Method or combination name.
    pub method: String,
    /// Score; `None`: not measured (no in-stock day to score it on).
    pub score: Option<f64>,
}

/// A master's forecast reconciled to its children's demand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReconciledExplained {
    /// The children's own plans' demand per day, summed.
    pub children_per_day: f64,
    /// The master's own fit per day.
    pub own_per_day: f64,
    /// The scale applied (`None`: the fit was replaced by the children's rate).
    pub ratio: Option<f64>,
}

/// The safety stock part of an explanation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SafetyStockExplained {
    /// Lead time in days.
    pub lead_time_days: f64,
    /// Lead-time variability (not modelled: always `null`).
    pub lead_time_sigma_days: Option<f64>,
    /// How it was computed.
    pub method: String,
    /// The service level it aims at.
    pub service_level: f64,
    /// Daily demand's standard deviation over in-stock days.
    pub sigma_daily: f64,
    /// The safety stock in units.
    pub value: f64,
    /// z of the service level.
    pub z: f64,
}

/// One rounding step of the order quantity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Step {
    /// In words.
    pub note: String,
    /// The quantity after the step.
    pub quantity: f64,
    /// Its name (`need`, `MOQ`, `pack size`, …).
    pub step: String,
}

/// One term of the engine's sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Term {
    /// Machine-friendly name.
    pub term: String,
    /// In words.
    pub text: String,
    /// Its value.
    pub value: f64,
}

impl Explanation {
    /// A stored explanation read back (`None`: not a valid one).
    pub fn parse(stored: &str) -> Option<Explanation> {
        serde_json::from_str(stored).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explanation_reads_back_as_it_was_written() {
        let e = Explanation {
            contributions: vec![Contribution {
                account_id: "a".into(),
                account_name: "Shop".into(),
                available: 3.0,
                sku: "S-1".into(),
                stockout_days_estimated: 2,
                ..Contribution::default()
            }],
            demand: DemandExplained {
                candidates: vec![CandidateScore {
                    method: "ses".into(),
                    score: None,
                }],
                method: "ses".into(),
                reconciled: Some(ReconciledExplained {
                    children_per_day: 2.0,
                    own_per_day: 1.0,
                    ratio: Some(2.0),
                }),
                ..DemandExplained::default()
            },
            notes: vec!["n".into()],
            ..Explanation::default()
        };
        let text = serde_json::to_string(&e).unwrap();
        // Keys in alphabetical order, as the untyped object had them.
        assert!(text.starts_with("{\"contributions\":[{\"account_id\":\"a\""));
        assert!(text.contains("\"score\":null"));
        assert_eq!(Explanation::parse(&text), Some(e));
        assert_eq!(Explanation::parse("not json"), None);
    }
}
