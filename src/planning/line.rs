//! The line stage: runs the pure engine (`forecast` fast path and
//! `replenish`) on one row's inputs and shapes the stored plan line and its
//! explanation.

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::db::models::planning::{LineDetail, PlanLineRow};
use crate::forecast::{self, Options, SeriesInput};
use crate::planning::series::LineInput;
use crate::replenish::{self, OpenOrder, PlanInput};

pub(crate) fn urgency(order_by: Option<NaiveDate>, today: NaiveDate) -> (&'static str, i32) {
    match order_by {
        Some(d) if d <= today => ("now", 0),
        Some(d) if d <= today + chrono::Duration::days(7) => ("soon", 1),
        _ => ("ok", 2),
    }
}

pub(crate) fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

/// A computed plan line and its details.
pub(crate) type Computed = (PlanLineRow, LineDetail);

/// Runs the engine on one line's inputs and shapes the stored line and its
/// explanation.
pub(crate) fn compute_line(account_id: &str, today: NaiveDate, li: LineInput) -> Computed {
    let lt = li.lead_time_days.max(0.0);
    let cycle = li.days_of_stock.max(0.0);
    let horizon = ((lt + cycle).ceil() as usize).max(1);
    let input = SeriesInput {
        values: &li.values,
        in_stock: Some(&li.in_stock),
        season: 7,
    };
    // The lead-time total's distribution sets the safety stock (the
    // service-level quantile minus its mean), fit for intermittent demand.
    let lt_days = (lt.ceil() as usize).max(1);
    let (fc, lt_total) =
        forecast::forecast_with_total(&input, horizon, lt_days, &Options { fast: true });
    let (mean, sd) = replenish::demand_stats(&li.values, Some(&li.in_stock));
    let mut available = li.available;
    let mut open = Vec::new();
    for (q, expected) in &li.movements {
        if *q < 0.0 {
            available += q;
        } else {
            let day = expected
                .map(|e| (e - today).num_days())
                .unwrap_or(lt.ceil() as i64);
            open.push(OpenOrder {
                quantity: *q,
                expected_day: day,
            });
        }
    }
    let plan = replenish::plan(&PlanInput {
        tracked: li.tracked && !li.bundle,
        available,
        open_orders: &open,
        daily_forecast: &fc.point,
        mean_daily_demand: Some(mean),
        demand_sd: sd,
        lead_time_days: lt,
        lead_time_sd_days: None,
        days_of_stock: cycle,
        service_level: li.service_level,
        moq: li.moq,
        pack_size: li.pack_size,
        max_stock: li.max_stock,
        min_stock: li.min_stock,
        // domain.md: the textbook formula for smooth demand; for
        // intermittent and lumpy demand the quantile of the lead-time total.
        lead_time_demand: fc.class.is_sporadic().then_some(&lt_total),
    });
    let order_by = if plan.order_quantity > 0.0 {
        plan.order_by_day
            .map(|d| today + chrono::Duration::days(d.max(0)))
    } else {
        None
    };
    let days_of_cover = if plan.coverage_demand > 0.0 {
        plan.days_of_cover
    } else {
        None
    };
    let (urg, rank) = urgency(order_by, today);
    let period = lt + cycle;
    let per_day = if period > 0.0 {
        plan.coverage_demand / period
    } else {
        0.0
    };
    let excluded = li.in_stock.iter().filter(|s| !**s).count();
    let step_names = [
        ("net_need", "need"),
        ("never_negative", "need"),
        ("round_whole_units", "whole units"),
        ("moq", "MOQ"),
        ("pack_size", "pack size"),
        ("max_stock", "max"),
        ("min_stock", "min"),
        ("order_quantity", "order quantity"),
    ];
    let steps: Vec<Value> = plan
        .explanation
        .iter()
        .filter_map(|e| {
            let name = step_names.iter().find(|(t, _)| *t == e.term)?.1;
            Some(json!({"step": name, "quantity": round6(e.value), "note": e.text}))
        })
        .collect();
    let lines_of_text: Vec<Value> = plan
        .explanation
        .iter()
        .map(|e| json!({"term": e.term, "value": round6(e.value), "text": e.text}))
        .collect();
    let mut notes: Vec<String> = Vec::new();
    if li.bundle {
        notes.push(
            "A bundle ships as its components: its sales count as their demand, and the bundle itself is never ordered."
                .into(),
        );
    }
    let explanation = json!({
        "demand": {
            "method": fc.method,
            "class": fc.class.name(),
            "candidates": fc.candidates.iter().map(|c| json!({"method": c.method, "score": round6(c.score)})).collect::<Vec<_>>(),
            "per_day": round6(per_day),
            "coverage_days": period,
            "history_days": li.values.len(),
            "stockout_days_excluded": excluded,
        },
        "safety_stock": {
            "service_level": li.service_level,
            "method": if plan.safety_stock_method == "distribution" {
                format!("quantile of the lead-time demand ({})", lt_total.method)
            } else {
                plan.safety_stock_method.to_string()
            },
            "z": round6(plan.z),
            "sigma_daily": round6(sd),
            "lead_time_days": lt,
            "lead_time_sigma_days": Value::Null,
            "value": round6(plan.safety_stock),
        },
        "contributions": li.contributions,
        "steps": steps,
        "terms": lines_of_text,
        "notes": notes,
    });
    let on_order: f64 = open.iter().map(|o| o.quantity).sum();
    let mut tags = String::from(";");
    for t in &li.tags {
        tags.push_str(t);
        tags.push(';');
    }
    let row = PlanLineRow {
        account_id: account_id.to_string(),
        sku_key: li.sku_key,
        sku: li.sku,
        title: li.title,
        vendor: li.vendor,
        category: li.category,
        brand: li.brand,
        tags,
        available: round6(available),
        on_order: round6(on_order),
        demand_per_day: round6(per_day),
        lead_time_days: lt,
        days_of_stock: cycle,
        coverage_demand: round6(plan.coverage_demand),
        safety_stock: round6(plan.safety_stock),
        reorder_point: round6(plan.reorder_point),
        order_quantity: round6(plan.order_quantity),
        order_by,
        days_of_cover: days_of_cover.map(round6),
        urgency: urg.to_string(),
        urgency_rank: rank,
        forecast_method: fc.method.clone(),
        unit_cost: li.unit_cost.map(round6),
        order_value: li.unit_cost.map(|c| round6(c * plan.order_quantity)),
    };
    let detail = LineDetail {
        accounts: serde_json::to_string(&li.accounts).unwrap_or_else(|_| "[]".into()),
        explanation: explanation.to_string(),
    };
    (row, detail)
}
