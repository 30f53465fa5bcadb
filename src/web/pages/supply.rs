//! `/accounts/{id}/supply-plan/{sku}`: one SKU's supply plan week by week
//! (`services::supply`). A server-drawn SVG chart (as on the demand page):
//! projected closing stock against safety stock, out-of-stock weeks shaded,
//! receipts of open orders and arrivals of planned orders marked; below it
//! the weekly table, each week with a form to set the merchant's quantity
//! (`POST .../weeks`, an empty quantity clears it). Opened from the order
//! plan's rows and the demand page.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::planning::supply::{Source, Week};
use crate::services::supply;
use crate::state::AppState;
use crate::web::api::demand::decode_segment;
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::demand::{encode_segment, fmt_num, Label, Rect};
use crate::web::pages::{check_csrf, redirect, render, shell, Shell};

/// A marker on the chart (a receipt or a planned arrival).
#[derive(Debug, Clone)]
pub struct Marker {
    /// Centre x.
    pub x: String,
    /// Centre y.
    pub y: String,
    /// CSS class (`receipt`, `arrival`).
    pub class: String,
    /// Hover text.
    pub tip: String,
}

/// The server-drawn chart.
#[derive(Debug, Clone, Default)]
pub struct SupplyChart {
    /// View box width.
    pub width: u32,
    /// View box height.
    pub height: u32,
    /// Plot area.
    pub left: String,
    /// Right of the plot area.
    pub right: String,
    /// Top of the plot area.
    pub top: String,
    /// y of zero.
    pub zero_y: String,
    /// Out-of-stock weeks (shaded).
    pub shades: Vec<Rect>,
    /// Hover targets, one per week.
    pub targets: Vec<Rect>,
    /// Projected stock (closing) as polyline points.
    pub stock: String,
    /// Safety stock as polyline points.
    pub safety: String,
    /// Receipts and planned arrivals.
    pub markers: Vec<Marker>,
    /// Week labels.
    pub x_labels: Vec<Label>,
    /// Quantity labels.
    pub y_labels: Vec<Label>,
    /// Grid lines (y).
    pub grid: Vec<String>,
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

/// Draws projected stock against safety stock, week by week.
pub fn chart(weeks: &[Week]) -> SupplyChart {
    let (width, height) = (960.0, 300.0);
    let (left, right, top, bottom) = (56.0, 950.0, 12.0, 260.0);
    let n = weeks.len().max(1);
    let slot = (right - left) / n as f64;
    let mut ymax: f64 = 1.0;
    let mut ymin: f64 = 0.0;
    for w in weeks {
        ymax = ymax.max(w.opening).max(w.closing).max(w.safety_stock);
        ymin = ymin.min(w.closing);
    }
    ymax *= 1.05;
    let y = |v: f64| bottom - (v - ymin) / (ymax - ymin) * (bottom - top);
    let mut c = SupplyChart {
        width: width as u32,
        height: height as u32,
        left: f1(left),
        right: f1(right),
        top: f1(top),
        zero_y: f1(y(0.0)),
        ..SupplyChart::default()
    };
    let mut stock = Vec::new();
    let mut safety = Vec::new();
    for (i, w) in weeks.iter().enumerate() {
        let x0 = left + i as f64 * slot;
        let xc = x0 + slot / 2.0;
        stock.push(format!("{},{}", f1(xc), f1(y(w.closing))));
        safety.push(format!("{},{}", f1(xc), f1(y(w.safety_stock))));
        if w.out_of_stock {
            c.shades.push(Rect {
                x: f1(x0),
                y: f1(top),
                w: f1(slot),
                h: f1(bottom - top),
                class: "stockout".into(),
                tip: format!("Week of {}: out of stock", w.first_day),
            });
        }
        let mut tip = format!(
            "Week of {}: closing {} (safety stock {}), forecast {}",
            w.first_day,
            fmt_num(w.closing),
            fmt_num(w.safety_stock),
            fmt_num(w.forecast)
        );
        if w.receipts > 0.0 {
            tip.push_str(&format!(", receipts {}", fmt_num(w.receipts)));
            c.markers.push(Marker {
                x: f1(xc - 4.0),
                y: f1(bottom - 6.0),
                class: "receipt".into(),
                tip: format!(
                    "Week of {}: open orders receive {}",
                    w.first_day,
                    fmt_num(w.receipts)
                ),
            });
        }
        if w.planned_arrivals > 0.0 {
            tip.push_str(&format!(
                ", planned arrivals {}",
                fmt_num(w.planned_arrivals)
            ));
            c.markers.push(Marker {
                x: f1(xc + 4.0),
                y: f1(bottom - 6.0),
                class: "arrival".into(),
                tip: format!(
                    "Week of {}: planned orders arrive, {}",
                    w.first_day,
                    fmt_num(w.planned_arrivals)
                ),
            });
        }
        c.targets.push(Rect {
            x: f1(x0),
            y: f1(top),
            w: f1(slot),
            h: f1(bottom - top),
            class: "target".into(),
            tip,
        });
    }
    c.stock = stock.join(" ");
    c.safety = safety.join(" ");
    let every = n.div_ceil(13).max(1);
    for (i, w) in weeks.iter().enumerate() {
        if i % every == 0 {
            c.x_labels.push(Label {
                x: f1(left + (i as f64 + 0.5) * slot),
                y: f1(bottom + 16.0),
                text: w.first_day.format("%d %b").to_string(),
            });
        }
    }
    for k in 0..=4 {
        let v = ymin + (ymax - ymin) * k as f64 / 4.0;
        c.y_labels.push(Label {
            x: f1(left - 6.0),
            y: f1(y(v) + 4.0),
            text: fmt_num(v),
        });
        c.grid.push(f1(y(v)));
    }
    c
}

/// One row of the weekly table, formatted.
#[derive(Debug, Clone)]
pub struct WeekRow {
    /// First day (`YYYY-MM-DD`).
    pub first_day: String,
    /// Opening stock.
    pub opening: String,
    /// Receipts of open orders.
    pub receipts: String,
    /// Of them overdue (empty when none).
    pub overdue: String,
    /// Forecast.
    pub forecast: String,
    /// Planned order quantity (empty: none).
    pub order: String,
    /// The order's quantity for the form (empty: none).
    pub order_value: String,
    /// Order day → arrival day.
    pub order_days: String,
    /// Whether the merchant set the week.
    pub merchant: bool,
    /// Planned arrivals.
    pub arrivals: String,
    /// Closing stock.
    pub closing: String,
    /// Safety stock.
    pub safety_stock: String,
    /// `out`, `below` or ``.
    pub status: String,
}

fn row(w: &Week) -> WeekRow {
    let o = w.planned_order.as_ref();
    WeekRow {
        first_day: w.first_day.to_string(),
        opening: fmt_num(w.opening),
        receipts: fmt_num(w.receipts),
        overdue: if w.receipts_overdue > 0.0 {
            fmt_num(w.receipts_overdue)
        } else {
            String::new()
        },
        forecast: fmt_num(w.forecast),
        order: o.map(|o| fmt_num(o.quantity)).unwrap_or_default(),
        order_value: o.map(|o| o.quantity.to_string()).unwrap_or_default(),
        order_days: o
            .map(|o| format!("{} → {}", o.order_day, o.arrival_day))
            .unwrap_or_default(),
        merchant: o.is_some_and(|o| o.source == Source::Merchant),
        arrivals: fmt_num(w.planned_arrivals),
        closing: fmt_num(w.closing),
        safety_stock: fmt_num(w.safety_stock),
        status: if w.out_of_stock {
            "out".into()
        } else if w.below_safety {
            "below".into()
        } else {
            String::new()
        },
    }
}

/// The supply-plan page.
#[derive(Template)]
#[template(path = "supply_plan.html")]
pub struct SupplyPage {
    /// Layout.
    pub shell: Shell,
    /// Account in view.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// The SKU as stored.
    pub sku: String,
    /// Title.
    pub title: String,
    /// The SKU, percent-encoded for paths.
    pub sku_path: String,
    /// Whether the plan is being recomputed.
    pub stale: bool,
    /// The order plan's quantity and order-by day.
    pub order_quantity: String,
    /// Order by (empty: none).
    pub order_by: String,
    /// Weeks shown.
    pub weeks: usize,
    /// The chart.
    pub chart: SupplyChart,
    /// The table.
    pub rows: Vec<WeekRow>,
}

/// Query of the page.
#[derive(Debug, Deserialize)]
pub struct SupplyQuery {
    /// Weeks (default 26, at most 104).
    pub weeks: Option<i64>,
}

/// The page of one SKU's supply plan.
pub async fn show(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<SupplyQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, sku) = path.into_inner();
    let sku = decode_segment(&sku);
    let weeks = supply::weeks_param(query.weeks)?;
    let (mut shell, accounts) =
        shell(&state, &req, &caller, Some(id.clone()), "Supply plan").await?;
    let account = accounts
        .iter()
        .find(|a| a.id == id && caller.can_see(&a.id))
        .ok_or_else(|| AppError::not_found("account"))?
        .clone();
    let read = supply::line(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &sku,
        weeks,
    )
    .await?;
    shell.title = format!("Supply plan · {}", read.line.sku);
    render(&SupplyPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        sku_path: encode_segment(&read.line.sku),
        sku: read.line.sku.clone(),
        title: read.line.title.clone(),
        stale: read.freshness.stale,
        order_quantity: fmt_num(read.line.order_quantity),
        order_by: read
            .line
            .order_by
            .map(|d| d.to_string())
            .unwrap_or_default(),
        weeks,
        chart: chart(&read.weeks),
        rows: read.weeks.iter().map(row).collect(),
    })
}

/// The week form.
#[derive(Debug, Deserialize)]
pub struct WeekForm {
    /// CSRF token.
    pub csrf_token: String,
    /// The week's first day.
    pub first_day: String,
    /// Units (empty: clear the week).
    #[serde(default)]
    pub quantity: String,
    /// Weeks shown (kept on the way back).
    pub weeks: Option<i64>,
}

/// Sets or clears a week's quantity, then back to the page.
pub async fn set_week(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<WeekForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    caller.require_write()?;
    let (id, sku) = path.into_inner();
    let sku = decode_segment(&sku);
    let account = crate::web::api::visible_account(&state, &caller, id).await?;
    let text = form.quantity.trim();
    let quantity = if text.is_empty() {
        None
    } else {
        Some(text.parse::<f64>().map_err(|_| {
            AppError::invalid_field(
                "quantity",
                "must be a number from 0 (empty clears the week)",
            )
        })?)
    };
    supply::set_week(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &sku,
        &form.first_day,
        quantity,
    )
    .await?;
    let weeks = form
        .weeks
        .map(|w| format!("?weeks={w}"))
        .unwrap_or_default();
    Ok(redirect(&format!(
        "/accounts/{}/supply-plan/{}{weeks}#week-{}",
        encode_segment(&account.id),
        encode_segment(&sku),
        form.first_day
    )))
}
