//! `/accounts/{id}/demand/{sku}`: demand analysis of one SKU. The history
//! chart is SVG drawn here, in the served HTML (bars stacked by child on a
//! master, stockout periods shaded, the forecast with its 80 % band after
//! the planning-date marker); `static/demand.js` only adds hover. Below:
//! the method and why (candidates' scores), the accuracy of past
//! forecasts, safety stock and reorder point, and the sale lines with their
//! account, paged (`?page=`) and downloadable as CSV (`?format=csv`).
//!
//! `/accounts/{id}/demand?sku=…` is the search box's target: it redirects
//! to the SKU's page. The page links the same SKU in every other account;
//! an account that does not sell it answers a page that says so (404).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::db::models::Account;
use crate::services::demand::{self, Demand, MAX_SALES};
use crate::services::forecast_edits;
use crate::state::AppState;
use crate::web::api::demand::{csv_response, decode_segment, load, parse_period};
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::{redirect, render, shell, Shell};

/// Sale lines per page of the table.
pub const PER_PAGE: usize = 100;

/// Percent-encodes one path segment (everything but unreserved characters,
/// `/` included).
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Formats a quantity for people: at most two decimals, no trailing zeros.
pub fn fmt_num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn opt_num(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "—".into())
}

/// A rectangle of the chart.
#[derive(Debug, Clone)]
pub struct Rect {
    /// Left.
    pub x: String,
    /// Top.
    pub y: String,
    /// Width.
    pub w: String,
    /// Height.
    pub h: String,
    /// CSS class (`acc0`…, `stockout`).
    pub class: String,
    /// Hover text.
    pub tip: String,
}

/// An axis label of the chart.
#[derive(Debug, Clone)]
pub struct Label {
    /// x.
    pub x: String,
    /// y.
    pub y: String,
    /// Text.
    pub text: String,
}

/// The server-drawn chart.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Width of the view box.
    pub width: u32,
    /// Height of the view box.
    pub height: u32,
    /// Stockout shading (behind the bars).
    pub stockouts: Vec<Rect>,
    /// History bars, stacked by account.
    pub bars: Vec<Rect>,
    /// Invisible hover targets for the forecast periods.
    pub forecast_targets: Vec<Rect>,
    /// The 80 % band as polygon points.
    pub band: String,
    /// The point forecast as polyline points (forecast edits applied).
    pub line: String,
    /// The model's forecast before edits, as polyline points (empty when
    /// no edit changes it).
    pub model_line: String,
    /// x of the planning-date marker.
    pub today_x: String,
    /// Top and bottom of the plot area.
    pub top: String,
    /// Bottom of the plot area (the zero line is `zero_y`).
    pub bottom: String,
    /// y of zero.
    pub zero_y: String,
    /// Left of the plot area.
    pub left: String,
    /// Right of the plot area.
    pub right: String,
    /// Period labels under the axis.
    pub x_labels: Vec<Label>,
    /// Quantity labels left of the axis.
    pub y_labels: Vec<Label>,
    /// Grid lines (y).
    pub grid: Vec<String>,
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

/// Draws the history (stacked by account) and the forecast band.
pub fn chart(d: &Demand) -> Chart {
    let (width, height) = (960.0, 300.0);
    let (left, right, top, bottom) = (48.0, 950.0, 12.0, 260.0);
    let n_h = d.history.len();
    let n = (n_h + d.forecast.len()).max(1);
    let slot = (right - left) / n as f64;
    let mut ymax: f64 = 1.0;
    let mut ymin: f64 = 0.0;
    for h in &d.history {
        let pos: f64 = h.by_account.values().filter(|v| **v > 0.0).sum();
        let neg: f64 = h.by_account.values().filter(|v| **v < 0.0).sum();
        ymax = ymax.max(pos).max(h.quantity);
        ymin = ymin.min(neg).min(h.quantity);
    }
    for f in &d.forecast {
        ymax = ymax.max(f.high).max(f.model_quantity);
    }
    ymax *= 1.05;
    let y = |v: f64| bottom - (v - ymin) / (ymax - ymin) * (bottom - top);
    let mut c = Chart {
        width: width as u32,
        height: height as u32,
        top: f1(top),
        bottom: f1(bottom),
        zero_y: f1(y(0.0)),
        left: f1(left),
        right: f1(right),
        ..Chart::default()
    };
    let bar_w = (slot * 0.8).max(0.5);
    for (i, h) in d.history.iter().enumerate() {
        let x0 = left + i as f64 * slot;
        if h.stockout_days > 0 {
            c.stockouts.push(Rect {
                x: f1(x0),
                y: f1(top),
                w: f1(slot),
                h: f1(bottom - top),
                class: "stockout".into(),
                tip: format!("{}: {} day(s) out of stock", h.period, h.stockout_days),
            });
        }
        let (mut up, mut down) = (0.0, 0.0);
        for (ai, a) in d.accounts.iter().enumerate() {
            let v = h.by_account.get(&a.account_id).copied().unwrap_or(0.0);
            if v == 0.0 {
                continue;
            }
            let (from, to) = if v > 0.0 {
                up += v;
                (up - v, up)
            } else {
                down += v;
                (down, down - v)
            };
            c.bars.push(Rect {
                x: f1(x0 + (slot - bar_w) / 2.0),
                y: f1(y(to)),
                w: f1(bar_w),
                h: f1((y(from) - y(to)).max(0.5)),
                class: format!("acc{}", ai % 8),
                tip: format!(
                    "{}: {} sold {} (total {})",
                    h.period,
                    a.account_name,
                    fmt_num(v),
                    fmt_num(h.quantity)
                ),
            });
        }
    }
    let mut upper = Vec::new();
    let mut lower = Vec::new();
    let mut line = Vec::new();
    let mut model_line = Vec::new();
    let edited = d
        .forecast
        .iter()
        .any(|f| (f.quantity - f.model_quantity).abs() > 1e-9);
    for (j, f) in d.forecast.iter().enumerate() {
        let x0 = left + (n_h + j) as f64 * slot;
        let xc = x0 + slot / 2.0;
        upper.push(format!("{},{}", f1(xc), f1(y(f.high))));
        lower.push(format!("{},{}", f1(xc), f1(y(f.low))));
        line.push(format!("{},{}", f1(xc), f1(y(f.quantity))));
        if edited {
            model_line.push(format!("{},{}", f1(xc), f1(y(f.model_quantity))));
        }
        c.forecast_targets.push(Rect {
            x: f1(x0),
            y: f1(top),
            w: f1(slot),
            h: f1(bottom - top),
            class: "target".into(),
            tip: format!(
                "{}: forecast {} (80 % band {} – {}){}",
                f.period,
                fmt_num(f.quantity),
                fmt_num(f.low),
                fmt_num(f.high),
                if edited {
                    format!(", model {}", fmt_num(f.model_quantity))
                } else {
                    String::new()
                }
            ),
        });
    }
    lower.reverse();
    upper.extend(lower);
    c.band = upper.join(" ");
    c.line = line.join(" ");
    c.model_line = model_line.join(" ");
    c.today_x = f1(left + n_h as f64 * slot);
    // At most about 12 period labels.
    let labels: Vec<&str> = d
        .history
        .iter()
        .map(|h| h.period.as_str())
        .chain(d.forecast.iter().map(|f| f.period.as_str()))
        .collect();
    let every = labels.len().div_ceil(12).max(1);
    for (i, l) in labels.iter().enumerate() {
        if i % every == 0 {
            c.x_labels.push(Label {
                x: f1(left + (i as f64 + 0.5) * slot),
                y: f1(bottom + 16.0),
                text: (*l).to_string(),
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

/// A row of the sale-lines table.
#[derive(Debug, Clone)]
pub struct SaleLineRow {
    /// Order time (UTC).
    pub ordered_at: String,
    /// Local day.
    pub day: String,
    /// Account.
    pub account: String,
    /// Order id.
    pub order_id: String,
    /// Quantity.
    pub quantity: String,
    /// Unit price.
    pub unit_price: String,
    /// Currency.
    pub currency: String,
    /// `counted`, `return`, `cancelled`, `removed`, `today` (not yet in history).
    pub status: String,
}

/// A link to the same SKU in another account.
#[derive(Debug, Clone)]
pub struct AccountLink {
    /// Label.
    pub name: String,
    /// Page.
    pub href: String,
    /// The account in view.
    pub current: bool,
}

/// The demand page.
#[derive(Template)]
#[template(path = "demand.html")]
pub struct DemandPage {
    /// Layout.
    pub shell: Shell,
    /// Account in view.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// The SKU asked for.
    pub asked: String,
    /// The analysis (None: not sold here, or only the search box).
    pub demand: Option<Demand>,
    /// `day`, `week`, `month`.
    pub period: String,
    /// Base path of this SKU's page.
    pub base: String,
    /// The chart.
    pub chart: Chart,
    /// Legend: (class, name).
    pub legend: Vec<(String, String)>,
    /// Table rows of this page.
    pub rows: Vec<SaleLineRow>,
    /// Page of the table.
    pub page: usize,
    /// Pages of the table.
    pub pages: usize,
    /// Whether the plan is stale.
    pub stale: bool,
    /// This SKU in the other accounts.
    pub links: Vec<AccountLink>,
    /// Facts shown: (label, value, id).
    pub facts: Vec<(String, String, String)>,
    /// Candidates: (method, score, chosen).
    pub candidates: Vec<(String, String, bool)>,
    /// SKUs of the account that contain what was asked for (when it is not
    /// a SKU of its own): name is the SKU.
    pub suggestions: Vec<AccountLink>,
    /// The plan line's explanation page of this SKU.
    pub line_href: String,
    /// The forecast-edit grid's rows.
    pub edit_rows: Vec<EditRow>,
    /// Whether the caller may change edits.
    pub can_edit: bool,
}

/// A row of the forecast-edit grid, formatted.
#[derive(Debug, Clone)]
pub struct EditRow {
    /// `YYYY-MM`.
    pub month: String,
    /// The model's forecast.
    pub model: String,
    /// The edit in force, as text (`+50 %`, `300 for the month`, …).
    pub edit: String,
    /// Where it comes from (`sku: …`, `category: …`), or the conflict.
    pub source: String,
    /// The SKU's own edit's id (which the row may clear).
    pub own_id: Option<String>,
    /// The forecast the plan uses.
    pub result: String,
}

/// The grid's rows for a demand analysis.
fn edit_rows(d: &Demand) -> Vec<EditRow> {
    d.edit_grid
        .iter()
        .map(|m| {
            let (edit, source, own_id) = match (&m.edit, &m.conflict) {
                (Some(e), _) => (
                    match (e.kind.as_str(), e.value) {
                        ("percent", Some(v)) => {
                            format!("{}{} %", if v >= 0.0 { "+" } else { "" }, fmt_num(v))
                        }
                        ("quantity", Some(v)) => format!("{} for the month", fmt_num(v)),
                        _ => "no demand".into(),
                    },
                    e.target.clone(),
                    e.target.starts_with("sku:").then(|| e.id.clone()),
                ),
                (None, Some(c)) => ("—".into(), c.clone(), None),
                (None, None) => ("—".into(), String::new(), None),
            };
            EditRow {
                month: m.month.clone(),
                model: fmt_num(m.model),
                edit,
                source,
                own_id,
                result: fmt_num(m.result),
            }
        })
        .collect()
}

/// The grid's form: one month's edit of the SKU, or `clear` (an edit id).
#[derive(Debug, Deserialize)]
pub struct EditForm {
    /// CSRF token.
    pub csrf_token: String,
    /// `YYYY-MM`.
    pub month: Option<String>,
    /// `quantity`, `percent` or `no_demand`.
    pub kind: Option<String>,
    /// Quantity or percent.
    pub value: Option<String>,
    /// The id of the SKU's edit to remove instead.
    pub clear: Option<String>,
}

/// Saves (or clears) one month's edit of the SKU from the grid, then shows
/// the page again by month.
pub async fn save_edit(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, AppError> {
    crate::web::pages::check_csrf(&state, &req, &form.csrf_token)?;
    caller.require_write()?;
    let (id, sku) = path.into_inner();
    let sku = decode_segment(&sku);
    let account = crate::web::api::visible_account(&state, &caller, id).await?;
    let today = crate::services::plans::planning_date(&account, state.config.today);
    let by = caller.email.clone();
    let form = form.into_inner();
    let st = state.clone();
    let back = format!(
        "/accounts/{}/demand/{}?period=month",
        encode_segment(&account.id),
        encode_segment(&sku)
    );
    state
        .db
        .run(move |conn| match form.clear.filter(|c| !c.is_empty()) {
            Some(edit) => forecast_edits::delete(conn, &account, &by, &edit, &st.jobs),
            None => {
                let value = form
                    .value
                    .filter(|v| !v.trim().is_empty())
                    .map_or(serde_json::Value::Null, serde_json::Value::String);
                let row = serde_json::json!({
                    "target": {"sku": sku},
                    "month": form.month,
                    "kind": form.kind,
                    "value": value,
                });
                forecast_edits::put(conn, &account, &by, &[row], today, &st.jobs).map(|_| ())
            }
        })
        .await?;
    Ok(redirect(&back))
}

impl DemandPage {
    /// The SKU's supply-plan page.
    pub fn supply_href(&self) -> String {
        self.base.replacen("/demand/", "/supply-plan/", 1)
    }
}

/// Query of the search box.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// The SKU.
    pub sku: Option<String>,
}

/// Query of the demand page.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// `day`, `week`, `month`.
    pub period: Option<String>,
    /// Page of the sale lines, from 1.
    pub page: Option<usize>,
    /// `csv`: the sale lines as CSV.
    pub format: Option<String>,
}

fn visible<'a>(
    caller: &crate::auth::Caller,
    accounts: &'a [Account],
    id: &str,
) -> Result<&'a Account, AppError> {
    accounts
        .iter()
        .find(|a| a.id == id && caller.can_see(&a.id))
        .ok_or_else(|| AppError::not_found("account"))
}

fn empty_page(
    shell: Shell,
    account: &Account,
    asked: String,
    links: Vec<AccountLink>,
) -> DemandPage {
    DemandPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        base: format!(
            "/accounts/{}/demand/{}",
            encode_segment(&account.id),
            encode_segment(&asked)
        ),
        asked,
        demand: None,
        period: "day".into(),
        chart: Chart::default(),
        legend: vec![],
        rows: vec![],
        page: 1,
        pages: 1,
        stale: false,
        links,
        facts: vec![],
        candidates: vec![],
        suggestions: vec![],
        line_href: String::new(),
        edit_rows: vec![],
        can_edit: false,
    }
}

/// The search box's target: redirects to the SKU's page (or shows the box).
pub async fn search(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if let Some(sku) = query
        .sku
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Ok(redirect(&format!(
            "/accounts/{}/demand/{}",
            encode_segment(&id),
            encode_segment(sku)
        )));
    }
    let (shell, accounts) = shell(&state, &req, &caller, Some(id.clone()), "Demand").await?;
    let account = visible(&caller, &accounts, &id)?;
    render(&empty_page(shell, account, String::new(), vec![]))
}

/// One SKU's demand analysis page (or its sale lines as CSV).
pub async fn show(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, sku) = path.into_inner();
    let sku = decode_segment(&sku);
    let period = parse_period(query.period.as_deref())?;
    let (mut shell, accounts) = shell(&state, &req, &caller, Some(id.clone()), "Demand").await?;
    let account = visible(&caller, &accounts, &id)?.clone();
    if query.format.as_deref() == Some("csv") {
        let a = load(&state, &account, &sku, period, usize::MAX).await?;
        return csv_response(&a.demand.sku_key, &a.demand.sales);
    }
    // The same SKU in every account the caller sees (those selling it).
    let candidates: Vec<Account> = accounts
        .iter()
        .filter(|a| caller.can_see(&a.id))
        .cloned()
        .collect();
    let sku2 = sku.clone();
    let selling: Vec<bool> = state
        .db
        .read(move |conn| {
            candidates
                .iter()
                .map(|a| demand::sells(conn, a, &sku2).map_err(AppError::from))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let links: Vec<AccountLink> = accounts
        .iter()
        .filter(|a| caller.can_see(&a.id))
        .zip(selling)
        .filter(|(_, s)| *s)
        .map(|(a, _)| AccountLink {
            name: a.name.clone(),
            href: format!(
                "/accounts/{}/demand/{}?period={}",
                encode_segment(&a.id),
                encode_segment(&sku),
                period.name()
            ),
            current: a.id == account.id,
        })
        .collect();
    let answer = match load(&state, &account, &sku, period, MAX_SALES).await {
        Ok(a) => a,
        Err(AppError::NotFound(_)) => {
            // What the merchant may have meant: SKUs of the plan that
            // contain the text (one match opens it).
            let (acc, text) = (account.id.clone(), sku.clone());
            let (_, near) = state
                .db
                .read(move |conn| {
                    crate::db::models::planning::page_lines(
                        conn,
                        &acc,
                        &crate::db::models::planning::LineFilter {
                            q: Some(text),
                            ..Default::default()
                        },
                        "sku",
                        false,
                        0,
                        20,
                    )
                    .map_err(AppError::from)
                })
                .await?;
            if near.len() == 1 {
                return Ok(redirect(&format!(
                    "/accounts/{}/demand/{}",
                    encode_segment(&account.id),
                    encode_segment(&near[0].sku_key)
                )));
            }
            shell.title = format!("{sku} is not sold in {}", account.name);
            let mut page = empty_page(shell, &account, sku, links);
            page.suggestions = near
                .iter()
                .map(|l| AccountLink {
                    name: l.sku.clone(),
                    href: format!(
                        "/accounts/{}/demand/{}",
                        encode_segment(&account.id),
                        encode_segment(&l.sku_key)
                    ),
                    current: false,
                })
                .collect();
            let mut resp = render(&page)?;
            *resp.status_mut() = actix_web::http::StatusCode::NOT_FOUND;
            return Ok(resp);
        }
        Err(e) => return Err(e),
    };
    let d = answer.demand;
    shell.title = format!("Demand · {}", d.sku);
    let pages = d.sales.len().div_ceil(PER_PAGE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let today = d.planning_date;
    let rows = d
        .sales
        .iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|s| SaleLineRow {
            ordered_at: chrono::DateTime::parse_from_rfc3339(&s.ordered_at)
                .map(|t| crate::web::pages::local_time(&account.timezone, t.naive_utc()))
                .unwrap_or_else(|_| s.ordered_at.replace('T', " ").replace('Z', " UTC")),
            day: s.day.to_string(),
            account: s.account_name.clone(),
            order_id: s.order_id.clone(),
            quantity: fmt_num(s.quantity),
            unit_price: s.unit_price.map(fmt_num).unwrap_or_default(),
            currency: s.currency.clone(),
            status: if s.removed {
                "removed"
            } else if s.cancelled {
                "cancelled"
            } else if s.day >= today {
                "not yet counted"
            } else if s.quantity < 0.0 {
                "return"
            } else {
                "counted"
            }
            .into(),
        })
        .collect();
    let legend = d
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("acc{}", i % 8), a.account_name.clone()))
        .collect();
    let acc = &d.accuracy;
    let pct = |x: Option<f64>| {
        x.map(|v| format!("{} %", fmt_num(v * 100.0)))
            .unwrap_or_else(|| "—".into())
    };
    let facts = vec![
        (
            "Method".into(),
            format!(
                "{} ({} demand)",
                crate::forecast::method_label(&d.method),
                d.class
            ),
            "fact-method".into(),
        ),
        (
            "Planning date".into(),
            d.planning_date.to_string(),
            "fact-today".into(),
        ),
        (
            "Forecast window".into(),
            format!("{} days (lead time + days of stock)", d.coverage_days),
            "fact-window".into(),
        ),
        (
            "80 % band".into(),
            match d.band_calibrated_for {
                Some(day) => format!(
                    "calibrated on the catalogue's held-out windows, as the plan's (fitted for {day})"
                ),
                None => "the model's own".into(),
            },
            "fact-band".into(),
        ),
        (
            "Safety stock".into(),
            opt_num(d.safety_stock),
            "fact-safety".into(),
        ),
        (
            "Reorder point".into(),
            opt_num(d.reorder_point),
            "fact-reorder".into(),
        ),
        (
            "Days out of stock".into(),
            format!("{} (left out of the fit)", d.stockout_days),
            "fact-stockouts".into(),
        ),
        ("MASE".into(), opt_num(acc.mase), "acc-mase".into()),
        ("MAE per day".into(), opt_num(acc.mae), "acc-mae".into()),
        ("Bias per day".into(), opt_num(acc.bias), "acc-bias".into()),
        (
            "Inside the 80 % band".into(),
            pct(acc.coverage80),
            "acc-coverage".into(),
        ),
        (
            "Measured over".into(),
            format!(
                "{} past forecasts of {} days each, fitted only on the days before each",
                acc.origins, acc.window_days
            ),
            "acc-origins".into(),
        ),
    ];
    let candidates = d
        .candidates
        .iter()
        .map(|c| {
            let score = c
                .score
                .map(fmt_num)
                .unwrap_or_else(|| "not measured".into());
            (
                crate::forecast::method_label(&c.method),
                score,
                c.method == d.method,
            )
        })
        .collect();
    let line_href = format!(
        "/accounts/{}/order-plan/{}",
        encode_segment(&account.id),
        encode_segment(&d.sku_key)
    );
    render(&DemandPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        base: format!(
            "/accounts/{}/demand/{}",
            encode_segment(&account.id),
            encode_segment(&sku)
        ),
        asked: sku,
        chart: chart(&d),
        edit_rows: edit_rows(&d),
        period: d.period.clone(),
        demand: Some(d),
        legend,
        rows,
        page,
        pages,
        stale: answer.stale,
        line_href,
        links,
        facts,
        candidates,
        suggestions: vec![],
        can_edit: caller.role == "admin" && !caller.key.as_ref().is_some_and(|k| k.read_only),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_encodes() {
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(-1.5), "-1.5");
        assert_eq!(fmt_num(0.333333), "0.33");
        assert_eq!(fmt_num(-0.001), "0");
        assert_eq!(encode_segment("Box/2 pk%"), "Box%2F2%20pk%25");
    }
}
