//! Forecast edits in the plan: which of an account's edits apply to one plan
//! line (a SKU's edit beats a group's; two group edits on one SKU and month
//! are a conflict, and neither applies), and how they change its daily
//! forecast (a month's quantity spread evenly over its days, a percent on
//! each day, no demand). Pure: the edits are read with the rest of the
//! plan's inputs (`planning::snapshot`).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::db::models::forecast_edit::ForecastEdit;
use crate::domain::sku;
use crate::planning::explain::Explanation;
use crate::planning::line::{round6, Flag};
use crate::replenish;

/// How an edit changes a month's forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// A quantity for the whole month, spread evenly over its days.
    Quantity,
    /// A percentage up or down on each day.
    Percent,
    /// No demand (discontinued).
    NoDemand,
}

impl EditKind {
    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<EditKind> {
        match s {
            "quantity" => Some(EditKind::Quantity),
            "percent" => Some(EditKind::Percent),
            "no_demand" => Some(EditKind::NoDemand),
            _ => None,
        }
    }

    /// The API's name.
    pub fn name(self) -> &'static str {
        match self {
            EditKind::Quantity => "quantity",
            EditKind::Percent => "percent",
            EditKind::NoDemand => "no_demand",
        }
    }
}

/// The kinds of target an edit may have, as the API names them.
pub const TARGET_KINDS: [&str; 5] = ["sku", "category", "vendor_id", "brand", "tag"];

/// What a target of `kind` matches: a SKU normalised, a vendor id as given
/// (trimmed), a category, brand or tag case-insensitively.
pub fn target_key(kind: &str, target: &str) -> String {
    match kind {
        "sku" => sku::normalise(target),
        "vendor_id" => target.trim().to_string(),
        _ => target.trim().to_lowercase(),
    }
}

/// The first day of a `YYYY-MM` month.
pub fn month_start(month: &str) -> Option<NaiveDate> {
    if month.len() != 7 || month.as_bytes()[4] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()
}

/// The number of days of the month starting on `first`.
pub fn days_in_month(first: NaiveDate) -> i64 {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.map_or(30, |n| (n - first).num_days())
}

/// An edit ready to apply: its month as days.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEdit {
    /// The edit's id.
    pub id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// First day of the month.
    pub first: NaiveDate,
    /// Days in the month.
    pub days: i64,
    /// Kind.
    pub kind: EditKind,
    /// Quantity for the month or percent (0 for no demand).
    pub value: f64,
    /// Its target (`sku: SH-1`, `category: Shoes`, …).
    pub target: String,
}

/// Two or more group edits that would change one line in one month: none
/// of them is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditConflict {
    /// `YYYY-MM`.
    pub month: String,
    /// The edits, by id.
    pub edit_ids: Vec<String>,
    /// Their targets (`category: Shoes`, …).
    pub targets: Vec<String>,
}

/// The edits of one plan line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineEdits {
    /// Applied, by month.
    pub applied: Vec<ResolvedEdit>,
    /// Months in conflict.
    pub conflicts: Vec<EditConflict>,
}

/// An account's edits that have not expired, indexed by target.
#[derive(Debug, Clone, Default)]
pub struct EditSet {
    by_target: HashMap<(String, String), Vec<ResolvedEdit>>,
}

impl EditSet {
    /// The edits of `rows` whose month has not ended before `today`.
    pub fn new(rows: &[ForecastEdit], today: NaiveDate) -> EditSet {
        let mut by_target: HashMap<(String, String), Vec<ResolvedEdit>> = HashMap::new();
        for r in rows {
            let (Some(first), Some(kind)) = (month_start(&r.month), EditKind::parse(&r.kind))
            else {
                continue;
            };
            let days = days_in_month(first);
            if first + chrono::Duration::days(days) <= today {
                continue;
            }
            let value = r
                .value
                .as_deref()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            by_target
                .entry((r.target_kind.clone(), r.target_key.clone()))
                .or_default()
                .push(ResolvedEdit {
                    id: r.id.clone(),
                    month: r.month.clone(),
                    first,
                    days,
                    kind,
                    value,
                    target: format!("{}: {}", r.target_kind, r.target),
                });
        }
        EditSet { by_target }
    }

    /// Whether no edit is in force.
    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }

    /// The edits of a line: its SKU (`sku_key`, the row's key, and `sku` as
    /// the account has it), its vendor ids (a master also accepts
    /// `<child id>:<vendor id>`), category, brand and tags.
    pub fn for_line(
        &self,
        sku_key: &str,
        sku_text: &str,
        vendor_ids: &[String],
        category: &str,
        brand: &str,
        tags: &[String],
    ) -> LineEdits {
        if self.is_empty() {
            return LineEdits::default();
        }
        let get = |kind: &str, key: String| self.by_target.get(&(kind.to_string(), key));
        let base = sku_key.split('#').next().unwrap_or(sku_key).to_string();
        let mut skus: Vec<&ResolvedEdit> = Vec::new();
        let own = sku::normalise(sku_text);
        let sku_keys = if own == base {
            vec![base]
        } else {
            vec![base, own]
        };
        for key in sku_keys {
            if let Some(v) = get("sku", key) {
                skus.extend(v.iter());
            }
        }
        let mut groups: Vec<&ResolvedEdit> = Vec::new();
        let mut keys: Vec<(&str, String)> = vec![
            ("category", target_key("category", category)),
            ("brand", target_key("brand", brand)),
        ];
        keys.extend(vendor_ids.iter().map(|v| ("vendor_id", v.clone())));
        let mut tag_keys: Vec<String> = tags.iter().map(|t| target_key("tag", t)).collect();
        tag_keys.sort();
        tag_keys.dedup();
        keys.extend(tag_keys.into_iter().map(|t| ("tag", t)));
        for (kind, key) in keys {
            if key.is_empty() {
                continue;
            }
            if let Some(v) = get(kind, key) {
                groups.extend(v.iter());
            }
        }
        let mut months: Vec<&str> = skus
            .iter()
            .chain(groups.iter())
            .map(|e| e.month.as_str())
            .collect();
        months.sort_unstable();
        months.dedup();
        let mut out = LineEdits::default();
        for m in months {
            if let Some(e) = skus.iter().find(|e| e.month == m) {
                out.applied.push((*e).clone());
                continue;
            }
            let mut g: Vec<&&ResolvedEdit> = groups.iter().filter(|e| e.month == m).collect();
            g.sort_by(|a, b| a.id.cmp(&b.id));
            g.dedup_by(|a, b| a.id == b.id);
            match g.as_slice() {
                [one] => out.applied.push((**one).clone()),
                _ => out.conflicts.push(EditConflict {
                    month: m.to_string(),
                    edit_ids: g.iter().map(|e| e.id.clone()).collect(),
                    targets: g.iter().map(|e| e.target.clone()).collect(),
                }),
            }
        }
        out
    }
}

/// One edit as applied to a line's forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedEdit {
    /// The edit's id.
    pub id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Kind.
    pub kind: EditKind,
    /// Quantity for the month or percent (null for no demand).
    pub value: Option<f64>,
    /// The model's forecast per day over the month's days in the forecast.
    pub model_per_day: f64,
    /// The edited forecast per day over the same days.
    pub edited_per_day: f64,
}

/// What the edits did to a line's forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct EditNote {
    /// Each edit that reached a day of the forecast.
    pub edits: Vec<AppliedEdit>,
    /// Edited ÷ model demand over the lead time (1 when the model expects
    /// none): the safety stock follows the edited level by this factor.
    pub level_ratio: f64,
}

/// Applies a line's edits to its daily forecast `point` (day 0 = `today`),
/// and says what they did (`None`: no edit reaches a day of it). The
/// safety stock follows by [`EditNote::level_ratio`], the edited over the
/// model demand over `lead_time_days`.
pub fn apply(
    point: &mut [f64],
    today: NaiveDate,
    lead_time_days: f64,
    edits: &[ResolvedEdit],
) -> Option<EditNote> {
    if edits.is_empty() || point.is_empty() {
        return None;
    }
    let model_ltd = replenish::demand_over(point, lead_time_days);
    let len = point.len() as i64;
    let mut out = Vec::new();
    for e in edits {
        let start = (e.first - today).num_days();
        let (from, to) = (start.max(0), (start + e.days).min(len));
        if from >= to {
            continue;
        }
        let (mut model, mut edited) = (0.0, 0.0);
        for d in point.iter_mut().take(to as usize).skip(from as usize) {
            model += *d;
            *d = match e.kind {
                EditKind::Quantity => (e.value / e.days as f64).max(0.0),
                EditKind::Percent => (*d * (1.0 + e.value / 100.0)).max(0.0),
                EditKind::NoDemand => 0.0,
            };
            edited += *d;
        }
        let n = (to - from) as f64;
        out.push(AppliedEdit {
            id: e.id.clone(),
            month: e.month.clone(),
            kind: e.kind,
            value: (e.kind != EditKind::NoDemand).then_some(e.value),
            model_per_day: round6(model / n),
            edited_per_day: round6(edited / n),
        });
    }
    if out.is_empty() {
        return None;
    }
    let edited_ltd = replenish::demand_over(point, lead_time_days);
    let level_ratio = if model_ltd > 0.0 {
        edited_ltd / model_ltd
    } else {
        1.0
    };
    Some(EditNote {
        edits: out,
        level_ratio,
    })
}

/// The flag of a line whose edits conflict.
pub fn conflict_flags(conflicts: &[EditConflict]) -> Vec<Flag> {
    conflicts
        .iter()
        .map(|c| Flag {
            code: "forecast_edit_conflict".into(),
            days: None,
            message: format!(
                "Edits for {} conflict ({}): neither is applied. Add an edit for this SKU and month, or remove all but one of them.",
                c.month,
                c.targets.join("; ")
            ),
        })
        .collect()
}

/// Adds the edits to a line's explanation: `edit` (the first applied, as
/// `api.md` names it), `edits` (all), `edit_conflicts`, and a note when the
/// safety stock follows the edited level.
pub fn explain(explanation: &mut Explanation, note: Option<&EditNote>, conflicts: &[EditConflict]) {
    let edits: Vec<AppliedEdit> = note.map(|n| n.edits.clone()).unwrap_or_default();
    explanation.edit = edits.first().cloned();
    explanation.edits = edits;
    explanation.edit_conflicts = conflicts.to_vec();
    if let Some(n) = note.filter(|n| (n.level_ratio - 1.0).abs() > 1e-12) {
        explanation.notes.push(format!(
            "The forecast edits change the demand over the lead time by a factor of {:.4}: the safety stock follows.",
            n.level_ratio
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, kind: &str, target: &str, month: &str, ek: &str, v: &str) -> ForecastEdit {
        ForecastEdit {
            id: id.into(),
            account_id: "a".into(),
            target_kind: kind.into(),
            target: target.into(),
            target_key: target_key(kind, target),
            month: month.into(),
            kind: ek.into(),
            value: Some(v.into()),
            note: None,
            created_at: chrono::NaiveDateTime::default(),
            created_by: "x".into(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_sku_edit_beats_groups_and_two_groups_conflict() {
        let set = EditSet::new(
            &[
                row("e1", "category", "Shoes", "2026-04", "percent", "50"),
                row("e2", "brand", "acme", "2026-04", "percent", "-20"),
                row("e3", "sku", "sh-1", "2026-05", "quantity", "31"),
                row("e4", "tag", "Sale", "2026-05", "no_demand", "0"),
                row("e5", "tag", "sale", "2026-02", "no_demand", "0"),
            ],
            day("2026-03-01"),
        );
        let e = set.for_line(
            "sh-1",
            "SH-1",
            &[],
            "shoes",
            "ACME",
            &["SALE".into(), "x".into()],
        );
        assert_eq!(
            e.applied.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e3"]
        );
        assert_eq!(e.conflicts.len(), 1);
        assert_eq!(e.conflicts[0].edit_ids, ["e1", "e2"]);
        let other = set.for_line("sh-2", "SH-2", &[], "Shoes", "", &[]);
        assert_eq!(other.applied[0].id, "e1");
        assert!(other.conflicts.is_empty());
    }

    #[test]
    fn quantities_spread_percents_multiply_and_no_demand_zeroes() {
        let today = day("2026-03-30");
        let mut p = vec![2.0; 40];
        let edits = EditSet::new(
            &[
                row("q", "sku", "a", "2026-03", "quantity", "62"),
                row("p", "sku", "a", "2026-04", "percent", "50"),
                row("n", "sku", "a", "2026-05", "no_demand", "0"),
            ],
            today,
        )
        .for_line("a", "a", &[], "", "", &[]);
        let note = apply(&mut p, today, 2.0, &edits.applied).unwrap();
        assert_eq!(&p[..2], &[2.0, 2.0]);
        assert_eq!(&p[2..32], &[3.0; 30]);
        assert_eq!(&p[32..], &[0.0; 8]);
        assert_eq!(note.edits.len(), 3);
        assert_eq!(note.edits[1].model_per_day, 2.0);
        assert_eq!(note.edits[1].edited_per_day, 3.0);
        assert_eq!(note.level_ratio, 1.0);
    }
}
