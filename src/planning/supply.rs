//! The supply plan: a line's stock projected week by week from the planning
//! date — opening stock, open orders received, forecast demand, the orders
//! the plan would place and their arrivals, closing stock against safety
//! stock (`api.md`, "Supply plan").
//!
//! Pure: days are offsets from the planning date (day 0), weeks are 7-day
//! buckets from it. Planned orders follow the order plan's rules by running
//! [`replenish::plan`] itself on the projected position: the plan is reviewed
//! once per order cycle (days of stock, at least one day) from day 0 on; a
//! review that needs an order places it on its order-by day, unless the next
//! review comes first. The review on day 0 is the order plan's own
//! computation, so the first planned order is exactly its order quantity and
//! order-by day. A merchant's quantity for a week replaces the recommended
//! orders of that week: it is ordered on the week's first day (0 orders
//! nothing). An order arrives its lead time (whole days, rounded up) after it
//! is placed.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::forecast::TotalDistribution;

#[cfg(test)]
use crate::planning::fits::FitUse;
#[cfg(test)]
use crate::planning::line;
#[cfg(test)]
use crate::planning::series::LineInput;
use crate::replenish::{self, OpenOrder, PlanInput};

/// Weeks a supply plan shows unless asked otherwise.
pub const DEFAULT_WEEKS: usize = 26;
/// Most weeks a supply plan shows.
pub const MAX_WEEKS: usize = 104;

/// Who set a planned order's quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The plan's rules.
    Recommended,
    /// The merchant's quantity for the week.
    Merchant,
}

/// An order the supply plan places in a week.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedOrder {
    /// Units ordered.
    pub quantity: f64,
    /// The day it is placed.
    pub order_day: NaiveDate,
    /// The day it arrives (placed + lead time).
    pub arrival_day: NaiveDate,
    /// `recommended` or `merchant`.
    pub source: Source,
}

/// One week of a supply plan.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// The week's first day (the planning date for the first week).
    pub first_day: NaiveDate,
    /// Projected stock at the start of the week.
    pub opening: f64,
    /// Open stock orders expected in the week (overdue ones in the first).
    pub receipts: f64,
    /// Of `receipts`, orders already overdue (first week only).
    pub receipts_overdue: f64,
    /// Forecast demand of the week.
    pub forecast: f64,
    /// The model's forecast of the week, before any merchant edit.
    pub model_forecast: f64,
    /// The order placed in the week, if any.
    pub planned_order: Option<PlannedOrder>,
    /// Planned orders arriving in the week.
    pub planned_arrivals: f64,
    /// opening + receipts + planned_arrivals − forecast.
    pub closing: f64,
    /// Safety stock of the latest review on or before the week's first day.
    pub safety_stock: f64,
    /// The week ends below its safety stock.
    pub below_safety: bool,
    /// The week ends with no stock.
    pub out_of_stock: bool,
}

/// What a supply plan is projected from.
pub struct Projection<'a> {
    /// The order plan's input on the planning date (its daily forecast is
    /// the plan's horizon).
    pub base: PlanInput<'a>,
    /// Daily forecast from day 0, at least `weeks × 7` days plus the plan's
    /// horizon (its first days are `base.daily_forecast`).
    pub forecast: &'a [f64],
    /// The model's daily forecast before edits, as long as `forecast`.
    pub model_forecast: &'a [f64],
    /// The merchant's quantity by week index (0 = the first week).
    pub overrides: &'a BTreeMap<usize, f64>,
    /// Weeks to project.
    pub weeks: usize,
}

/// A placed order, in day offsets.
struct Placed {
    day: usize,
    arrives: usize,
    quantity: f64,
    source: Source,
}

fn day_of(fc: &[f64], d: usize) -> f64 {
    fc.get(d).or(fc.last()).copied().unwrap_or(0.0).max(0.0)
}

/// Stock projected at the start of day `day`.
fn opening(p: &Projection, placed: &[Placed], day: usize) -> f64 {
    let received: f64 = p
        .base
        .open_orders
        .iter()
        .filter(|o| (o.expected_day.max(0) as usize) < day)
        .map(|o| o.quantity)
        .sum();
    let arrived: f64 = placed
        .iter()
        .filter(|o| o.arrives < day)
        .map(|o| o.quantity)
        .sum();
    let used: f64 = (0..day).map(|d| day_of(p.forecast, d)).sum();
    p.base.available + received + arrived - used
}

/// The order plan reviewed on day `day`, from the position projected then.
fn review(p: &Projection, placed: &[Placed], day: usize) -> replenish::Plan {
    let mut open: Vec<OpenOrder> = p
        .base
        .open_orders
        .iter()
        .filter(|o| day == 0 || o.expected_day.max(0) as usize >= day)
        .map(|o| OpenOrder {
            quantity: o.quantity,
            expected_day: o.expected_day - day as i64,
        })
        .collect();
    open.extend(
        placed
            .iter()
            .filter(|o| o.arrives >= day)
            .map(|o| OpenOrder {
                quantity: o.quantity,
                expected_day: (o.arrives - day) as i64,
            }),
    );
    let h = p.base.daily_forecast.len();
    let end = (day + h).min(p.forecast.len());
    let fc = &p.forecast[day.min(end)..end];
    replenish::plan(&PlanInput {
        available: opening(p, placed, day),
        open_orders: &open,
        daily_forecast: if day == 0 { p.base.daily_forecast } else { fc },
        ..p.base.clone()
    })
}

/// Places the orders over the projection's days: merchant quantities on
/// their weeks' first days, the reviews' recommendations on their order-by
/// days. Returns the orders and each review's (day, safety stock).
fn place(p: &Projection) -> (Vec<Placed>, Vec<(usize, f64)>) {
    let days = p.weeks * 7;
    let lead = p.base.lead_time_days.max(0.0).ceil() as usize;
    let step = p.base.days_of_stock.max(1.0);
    let mut placed: Vec<Placed> = Vec::new();
    let mut reviews = Vec::new();
    let mut next_review = 0usize;
    let mut k = 0usize;
    let mut scheduled: Option<(usize, f64)> = None;
    for day in 0..days {
        let week = day / 7;
        if day % 7 == 0 {
            if let Some(&q) = p.overrides.get(&week).filter(|q| **q > 0.0) {
                placed.push(Placed {
                    day,
                    arrives: day + lead,
                    quantity: q,
                    source: Source::Merchant,
                });
            }
        }
        if day == next_review {
            k += 1;
            next_review = (k as f64 * step).floor() as usize;
            let plan = review(p, &placed, day);
            reviews.push((day, plan.safety_stock));
            scheduled = plan
                .order_by_day
                .filter(|_| plan.order_quantity > 0.0)
                .map(|x| (day + x.max(0) as usize, plan.order_quantity))
                .filter(|(d, _)| *d < next_review);
        }
        if let Some((d, q)) = scheduled {
            if d == day {
                scheduled = None;
                if !p.overrides.contains_key(&week) {
                    placed.push(Placed {
                        day,
                        arrives: day + lead,
                        quantity: q,
                        source: Source::Recommended,
                    });
                }
            }
        }
    }
    (placed, reviews)
}

/// The supply plan of a line, week by week from `today`.
pub fn project(p: &Projection, today: NaiveDate) -> Vec<Week> {
    let (placed, reviews) = place(p);
    let date = |d: usize| today + Duration::days(d as i64);
    let mut stock = p.base.available;
    let mut out = Vec::with_capacity(p.weeks);
    for w in 0..p.weeks {
        let (from, to) = (w * 7, w * 7 + 7);
        let in_week = |d: usize| d >= from && d < to;
        let receipts: f64 = p
            .base
            .open_orders
            .iter()
            .filter(|o| in_week(o.expected_day.max(0) as usize))
            .map(|o| o.quantity)
            .sum::<f64>()
            + 0.0;
        let overdue: f64 = p
            .base
            .open_orders
            .iter()
            .filter(|o| w == 0 && o.expected_day < 0)
            .map(|o| o.quantity)
            .sum::<f64>()
            + 0.0;
        let forecast: f64 = (from..to).map(|d| day_of(p.forecast, d)).sum::<f64>() + 0.0;
        let model: f64 = (from..to).map(|d| day_of(p.model_forecast, d)).sum::<f64>() + 0.0;
        let arrivals: f64 = placed
            .iter()
            .filter(|o| in_week(o.arrives))
            .map(|o| o.quantity)
            .sum::<f64>()
            + 0.0;
        let mut orders = placed.iter().filter(|o| in_week(o.day));
        let planned_order = orders.next().map(|o| PlannedOrder {
            quantity: o.quantity + orders.map(|o| o.quantity).sum::<f64>(),
            order_day: date(o.day),
            arrival_day: date(o.arrives),
            source: o.source,
        });
        let safety_stock = reviews
            .iter()
            .take_while(|r| r.0 <= from)
            .last()
            .map_or(0.0, |r| r.1);
        let opening = stock;
        let closing = opening + receipts + arrivals - forecast;
        stock = closing;
        out.push(Week {
            first_day: date(from),
            opening,
            receipts,
            receipts_overdue: overdue,
            forecast,
            model_forecast: model,
            planned_order,
            planned_arrivals: arrivals,
            closing,
            safety_stock,
            below_safety: closing < safety_stock - 1e-9,
            out_of_stock: closing <= 1e-9,
        });
    }
    out
}

/// What a line's supply plan is projected from, stored with the plan line
/// when it is computed (so a list of supply plans runs no forecast): the
/// order plan's engine input on the planning date. The lead-time total's
/// distribution is kept as what the engine reads of it (its span, mean and
/// quantile at the service level); the daily forecast over the plan's
/// horizon as one value when constant, seven when it repeats weekly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    #[serde(rename = "t")]
    tracked: bool,
    #[serde(rename = "a")]
    available: f64,
    /// Open orders: (quantity, expected day).
    #[serde(rename = "o", default, skip_serializing_if = "Vec::is_empty")]
    open: Vec<(f64, i64)>,
    #[serde(rename = "l")]
    lead_time: f64,
    #[serde(rename = "c")]
    cycle: f64,
    #[serde(rename = "s")]
    service_level: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    moq: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pack: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    mean: Option<f64>,
    #[serde(rename = "sd")]
    sd: f64,
    /// (span, mean, quantile at the service level).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    dist: Option<(usize, f64, f64)>,
    /// Days of the plan's forecast.
    #[serde(rename = "h")]
    horizon: usize,
    #[serde(rename = "f")]
    forecast: Vec<f64>,
}

impl Stored {
    /// The stored form of a line marked not for reorder: its stock is
    /// projected against its forecast, and no order is planned.
    pub fn held(mut self) -> Stored {
        self.tracked = false;
        self
    }

    /// The stored form of an order plan's engine input.
    /// `plan` is the line's plan from `input` (its lead-time quantile is
    /// reused rather than computed again).
    pub fn of(input: &PlanInput, plan: &replenish::Plan) -> Stored {
        let fc = input.daily_forecast;
        let period = if fc.iter().all(|v| *v == fc[0]) {
            1
        } else if fc.len() > 7 && fc.iter().enumerate().all(|(i, v)| *v == fc[i % 7]) {
            7
        } else {
            fc.len()
        };
        let sl = input.service_level;
        let sl = if sl.is_finite() {
            sl.clamp(0.0, 1.0)
        } else {
            0.5
        };
        Stored {
            tracked: input.tracked,
            available: input.available,
            open: input
                .open_orders
                .iter()
                .map(|o| (o.quantity, o.expected_day))
                .collect(),
            lead_time: input.lead_time_days,
            cycle: input.days_of_stock,
            service_level: input.service_level,
            moq: input.moq,
            pack: input.pack_size,
            max: input.max_stock,
            min: input.min_stock,
            mean: input.mean_daily_demand,
            sd: input.demand_sd,
            dist: input.lead_time_demand.map(|d| {
                (
                    d.periods,
                    d.mean,
                    plan.lead_time_quantile.unwrap_or_else(|| d.quantile(sl)),
                )
            }),
            horizon: fc.len(),
            forecast: fc[..period.min(fc.len())].to_vec(),
        }
    }

    /// The supply plan for `weeks` weeks from `today` with the merchant's
    /// quantities by week index.
    pub fn weeks(
        &self,
        today: NaiveDate,
        weeks: usize,
        overrides: &BTreeMap<usize, f64>,
    ) -> Vec<Week> {
        let n = self.forecast.len().max(1);
        let long: Vec<f64> = (0..weeks * 7 + self.horizon)
            .map(|d| {
                let i = if d < self.horizon {
                    d % n
                } else {
                    // Beyond the plan's horizon its last seven days repeat
                    // (as `line::forecast_line` extends it).
                    let week = self.horizon.min(7);
                    let start = self.horizon - week;
                    (start + (d - start) % week.max(1)) % n
                };
                self.forecast.get(i).copied().unwrap_or(0.0)
            })
            .collect();
        let open: Vec<OpenOrder> = self
            .open
            .iter()
            .map(|&(quantity, expected_day)| OpenOrder {
                quantity,
                expected_day,
            })
            .collect();
        let dist = self
            .dist
            .map(|(span, mean, q)| TotalDistribution::from_quantiles(span, mean, &[q, q]));
        let base = PlanInput {
            tracked: self.tracked,
            available: self.available,
            open_orders: &open,
            daily_forecast: &long[..self.horizon.min(long.len())],
            mean_daily_demand: self.mean,
            demand_sd: self.sd,
            lead_time_days: self.lead_time,
            lead_time_sd_days: None,
            days_of_stock: self.cycle,
            service_level: self.service_level,
            moq: self.moq,
            pack_size: self.pack,
            max_stock: self.max,
            min_stock: self.min,
            lead_time_demand: dist.as_ref(),
        };
        project(
            &Projection {
                base,
                forecast: &long,
                model_forecast: &long,
                overrides,
                weeks,
            },
            today,
        )
    }
}

/// The supply plan of one plan line (the inputs the order plan computes it
/// from, [`crate::planning::line`]) for `weeks` weeks from `today`, with the
/// merchant's quantities by week index, straight from the forecast (what
/// [`Stored`] keeps must project the same).
#[cfg(test)]
pub(crate) fn line_weeks(
    li: &LineInput,
    today: NaiveDate,
    weeks: usize,
    overrides: &BTreeMap<usize, f64>,
) -> Vec<Week> {
    let horizon = line::plan_horizon(li);
    let (mut fc, lt_total, _) = line::forecast_line(li, weeks * 7 + horizon, FitUse::Own, None);
    let model = fc.point.clone();
    let long = std::mem::take(&mut fc.point);
    // The order plan's forecast is the first `horizon` days of the long one.
    fc.point = long[..horizon.min(long.len())].to_vec();
    let stats = replenish::demand_stats(&li.values, Some(&li.in_stock));
    let (available, open) = line::position(li, today);
    let base = line::plan_input(li, available, &open, &fc, &lt_total, stats);
    project(
        &Projection {
            base,
            forecast: &long,
            model_forecast: &model,
            overrides,
            weeks,
        },
        today,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The example: 10 a day, 100 available, an active order of 200
    /// arriving on day 10, lead time 14, order cycle 28, no variability.
    fn example(overrides: &BTreeMap<usize, f64>, weeks: usize) -> (replenish::Plan, Vec<Week>) {
        let open = [OpenOrder {
            quantity: 200.0,
            expected_day: 10,
        }];
        let horizon = vec![10.0; 42];
        let long = vec![10.0; weeks * 7 + 42];
        let base = PlanInput {
            available: 100.0,
            open_orders: &open,
            daily_forecast: &horizon,
            mean_daily_demand: Some(10.0),
            demand_sd: 0.0,
            lead_time_days: 14.0,
            days_of_stock: 28.0,
            ..PlanInput::default()
        };
        let plan = replenish::plan(&base);
        let weeks = project(
            &Projection {
                base,
                forecast: &long,
                model_forecast: &long,
                overrides,
                weeks,
            },
            d("2026-03-02"),
        );
        (plan, weeks)
    }

    fn row(w: &Week) -> [f64; 5] {
        [
            w.opening,
            w.receipts,
            w.planned_arrivals,
            w.forecast,
            w.closing,
        ]
    }

    #[test]
    fn the_worked_example_week_by_week() {
        let (plan, weeks) = example(&BTreeMap::new(), 12);
        // Order plan: coverage 42 × 10 = 420 − 100 − 200 = 120; stock hits
        // 0 at the end of day 29, below safety stock 0 on day 30, order by
        // day 30 − 14 = 16.
        assert_eq!(plan.order_quantity, 120.0);
        assert_eq!(plan.order_by_day, Some(16));
        assert_eq!(weeks.len(), 12);
        assert_eq!(weeks[0].first_day, d("2026-03-02"));
        assert_eq!(weeks[1].first_day, d("2026-03-09"));
        assert_eq!(row(&weeks[0]), [100.0, 0.0, 0.0, 70.0, 30.0]);
        assert_eq!(row(&weeks[1]), [30.0, 200.0, 0.0, 70.0, 160.0]);
        // The first planned order is the order plan's: 120 on day 16
        // (week 3), arriving day 30 (week 5).
        assert_eq!(row(&weeks[2]), [160.0, 0.0, 0.0, 70.0, 90.0]);
        let first = weeks[2].planned_order.clone().unwrap();
        assert_eq!(first.quantity, 120.0);
        assert_eq!(first.order_day, d("2026-03-18"));
        assert_eq!(first.arrival_day, d("2026-04-01"));
        assert_eq!(first.source, Source::Recommended);
        assert_eq!(row(&weeks[3]), [90.0, 0.0, 0.0, 70.0, 20.0]);
        // Review on day 28: 20 on hand + 120 on order, coverage 420 → 280,
        // needed now (stock runs out on day 42 = 28 + lead time).
        let second = weeks[4].planned_order.clone().unwrap();
        assert_eq!(second.quantity, 280.0);
        assert_eq!(second.order_day, d("2026-03-30"));
        assert_eq!(row(&weeks[4]), [20.0, 0.0, 120.0, 70.0, 70.0]);
        assert_eq!(row(&weeks[5]), [70.0, 0.0, 0.0, 70.0, 0.0]);
        assert!(weeks[5].out_of_stock && !weeks[5].below_safety);
        assert_eq!(row(&weeks[6]), [0.0, 0.0, 280.0, 70.0, 210.0]);
        // Then 280 every order cycle (day 56 = week 9, day 84 = week 13).
        assert_eq!(weeks[8].planned_order.as_ref().unwrap().quantity, 280.0);
        assert_eq!(
            weeks[8].planned_order.as_ref().unwrap().order_day,
            d("2026-04-27")
        );
        let placed: Vec<usize> = (0..12)
            .filter(|&w| weeks[w].planned_order.is_some())
            .collect();
        assert_eq!(placed, vec![2, 4, 8]);
        for w in &weeks {
            assert_eq!(
                w.closing,
                w.opening + w.receipts + w.planned_arrivals - w.forecast
            );
            assert_eq!(w.safety_stock, 0.0);
        }
        for pair in weeks.windows(2) {
            assert_eq!(pair[1].opening, pair[0].closing);
        }
    }

    #[test]
    fn a_merchant_quantity_replaces_the_weeks_recommendation() {
        let overrides = BTreeMap::from([(2, 150.0), (4, 0.0)]);
        let (_, weeks) = example(&overrides, 8);
        let o = weeks[2].planned_order.clone().unwrap();
        assert_eq!(o.quantity, 150.0);
        assert_eq!(o.source, Source::Merchant);
        // Ordered on the week's first day (day 14), arriving day 28.
        assert_eq!(o.order_day, d("2026-03-16"));
        assert_eq!(o.arrival_day, d("2026-03-30"));
        assert_eq!(row(&weeks[4]), [20.0, 0.0, 150.0, 70.0, 100.0]);
        // Week 5's recommendation is cleared by the merchant's 0.
        assert!(weeks[4].planned_order.is_none());
        assert_eq!(weeks[5].closing, 30.0);
    }

    /// A line's inputs for the engine's tests: lead time 10.5, 21 days of
    /// stock, MOQ 30, pack 12, max 400, three movements.
    pub(crate) fn line(values: Vec<f64>, available: f64) -> LineInput {
        let today = d("2026-03-02");
        LineInput {
            sku_key: "a".into(),
            sku: "A".into(),
            title: String::new(),
            vendor: String::new(),
            category: String::new(),
            brand: String::new(),
            tags: vec![],
            tracked: true,
            bundle: false,
            available,
            movements: vec![
                (40.0, Some(today + Duration::days(9))),
                (-3.0, None),
                (25.0, Some(today - Duration::days(2))),
            ],
            in_stock: vec![true; values.len()],
            values,
            lead_time_days: 10.5,
            days_of_stock: 21.0,
            service_level: 0.95,
            moq: Some(30.0),
            pack_size: Some(12.0),
            min_stock: None,
            max_stock: Some(400.0),
            unit_cost: None,
            accounts: vec![],
            contributions: vec![],
            children_per_day: None,
            child_flags: vec![],
            not_for_reorder: None,
            edits: Default::default(),
            fit: FitUse::Own,
        }
    }

    #[test]
    fn the_first_planned_order_is_the_order_plans() {
        let today = d("2026-03-02");
        let values: Vec<f64> = (0..200).map(|i| ((i * 7) % 11) as f64).collect();
        for available in [0.0, 20.0, 90.0, 300.0] {
            let li = line(values.clone(), available);
            let weeks = line_weeks(&li, today, 26, &BTreeMap::new());
            let (row, _) = line::compute_line("acc", today, li, None);
            let first = weeks.iter().find_map(|w| w.planned_order.clone());
            match row.order_by {
                Some(by) => {
                    let first = first.expect("a planned order");
                    assert_eq!(first.quantity, row.order_quantity, "available {available}");
                    assert_eq!(first.order_day, by);
                    assert_eq!((first.arrival_day - by).num_days(), 11);
                }
                None => assert!(row.order_quantity == 0.0),
            }
            assert_eq!(line::round6(weeks[0].safety_stock), row.safety_stock);
            // 25 overdue and 40 on day 9; the −3 movement leaves available.
            assert_eq!(weeks[0].receipts_overdue, 25.0);
            assert_eq!(weeks[0].receipts, 25.0);
            assert_eq!(weeks[1].receipts, 40.0);
            assert_eq!(weeks[0].opening, available - 3.0);
            // The stored form projects the same weeks.
            let li = line(values.clone(), available);
            let (_, detail) = line::compute_line("acc", today, li, None);
            let stored: Stored = serde_json::from_str(&detail.supply).unwrap();
            assert_eq!(stored.weeks(today, 26, &BTreeMap::new()), weeks);
        }
    }

    #[test]
    fn overdue_orders_arrive_in_the_first_week() {
        let open = [
            OpenOrder {
                quantity: 5.0,
                expected_day: -3,
            },
            OpenOrder {
                quantity: 7.0,
                expected_day: 2,
            },
        ];
        let fc = vec![1.0; 7 * 3 + 40];
        let weeks = project(
            &Projection {
                base: PlanInput {
                    available: 50.0,
                    open_orders: &open,
                    daily_forecast: &fc[..40],
                    ..PlanInput::default()
                },
                forecast: &fc,
                model_forecast: &fc,
                overrides: &BTreeMap::new(),
                weeks: 3,
            },
            d("2026-03-02"),
        );
        assert_eq!(weeks[0].receipts, 12.0);
        assert_eq!(weeks[0].receipts_overdue, 5.0);
        assert_eq!(weeks[0].closing, 55.0);
        assert_eq!(weeks[1].receipts_overdue, 0.0);
        assert!(weeks.iter().all(|w| w.planned_order.is_none()));
    }
}
