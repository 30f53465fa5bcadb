//! `/accounts/{id}/order-plan`: the page merchants open every morning. The
//! totals to order now and soon, the stored plan as a table (urgency
//! colours, filters and search, sortable columns, paging, CSV export), on a
//! master each row expanding into its children's own amounts, and each row
//! opening its explanation (`/accounts/{id}/order-plan/{sku}`). A plan that
//! is still being recomputed shows a banner with the recompute's progress.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::db::models::planning::{PlanLineRow, PlanSummary};
use crate::db::models::Account;
use crate::planning::explain::Explanation;
use crate::services::order_plan::{self, Extras, PlanParams};
use crate::services::plans::ChildFigures;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::{check_csrf, redirect, render, shell, urlencode, Shell};

/// The page's query: the API's filters, sort and paging (read leniently:
/// a link never fails).
pub type PageQuery = PlanParams;

/// The query string of a query's filters (without paging and sort), for links.
fn filters_qs(q: &PageQuery) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("q", &q.q),
        ("vendor", &q.vendor),
        ("category", &q.category),
        ("brand", &q.brand),
        ("tag", &q.tag),
        ("urgency", &q.urgency),
        ("flag", &q.flag),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", urlencode(v)));
        }
    }
    parts.join("&")
}

/// One row as the page shows it.
pub struct RowView {
    /// Flags to confirm: (code, message, label).
    pub flags: Vec<(String, String, String)>,
    /// SKU.
    pub sku: String,
    /// Link target (percent-encoded SKU).
    pub sku_path: String,
    /// Title.
    pub title: String,
    /// Vendor.
    pub vendor: String,
    /// Figures, formatted.
    pub available: String,
    /// On order.
    pub on_order: String,
    /// Demand per day.
    pub demand_per_day: String,
    /// Safety stock.
    pub safety_stock: String,
    /// Reorder point.
    pub reorder_point: String,
    /// Order quantity.
    pub order_quantity: String,
    /// Order value.
    pub order_value: String,
    /// Order by, or "—".
    pub order_by: String,
    /// Days of cover, or "—".
    pub days_of_cover: String,
    /// now / soon / ok.
    pub urgency: String,
    /// Forecast method.
    pub method: String,
    /// Per-child amounts (a master).
    pub children: Vec<ChildView>,
}

/// One child's amounts under a master row.
pub struct ChildView {
    /// Account name.
    pub name: String,
    /// Available.
    pub available: String,
    /// On order.
    pub on_order: String,
    /// Coverage demand.
    pub coverage_demand: String,
    /// Order quantity.
    pub order_quantity: String,
    /// What the master counts of it.
    pub included: String,
}

/// Formats a quantity: whole numbers without decimals, others with two.
pub fn qty(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.2}")
    }
}

/// A figure with thousands separators and `decimals` places: 441697 →
/// "441,697.00" with 2.
pub fn grouped(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// Units as a whole number where they are one, grouped by thousands.
pub fn units(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        grouped(x, 0)
    } else {
        grouped(x, 2)
    }
}

fn included(f: &ChildFigures) -> String {
    match (f.included.stock, f.included.sales) {
        (true, true) => "stock and sales",
        (true, false) => "stock only",
        (false, true) => "sales only",
        (false, false) => "nothing",
    }
    .into()
}

fn row_view(l: &PlanLineRow, children: &[ChildFigures]) -> RowView {
    let flags: Vec<crate::planning::line::Flag> =
        serde_json::from_str(&l.flags).unwrap_or_default();
    RowView {
        flags: flags
            .into_iter()
            .map(|f| {
                let label = match (f.code.as_str(), f.days) {
                    ("long_stockout", Some(d)) => format!("out of stock {d} days"),
                    ("no_recent_sales", Some(d)) => format!("no sale for {d} days"),
                    ("late_open_order", Some(d)) => format!("open order {d} days late"),
                    _ => f.code.replace('_', " "),
                };
                (f.code, f.message, label)
            })
            .collect(),
        sku: l.sku.clone(),
        sku_path: urlencode(&l.sku_key),
        title: l.title.clone(),
        vendor: l.vendor.clone(),
        available: qty(l.available),
        on_order: qty(l.on_order),
        demand_per_day: format!("{:.2}", l.demand_per_day),
        safety_stock: qty(l.safety_stock),
        reorder_point: qty(l.reorder_point),
        order_quantity: qty(l.order_quantity),
        order_value: l.order_value.map(|v| grouped(v, 2)).unwrap_or_default(),
        order_by: l
            .order_by
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into()),
        days_of_cover: l
            .days_of_cover
            .map(|d| format!("{d:.0}"))
            .unwrap_or_else(|| "—".into()),
        urgency: l.urgency.clone(),
        method: crate::forecast::method_label(&l.forecast_method),
        children: children
            .iter()
            .map(|c| ChildView {
                name: c.account_name.clone(),
                available: qty(c.available),
                on_order: qty(c.on_order),
                coverage_demand: qty(c.coverage_demand),
                order_quantity: qty(c.order_quantity),
                included: included(c),
            })
            .collect(),
    }
}

/// A sortable column header.
pub struct Column {
    /// Field name.
    pub field: &'static str,
    /// Label.
    pub label: &'static str,
    /// Link that sorts by it (toggling the order when it is the current sort).
    pub href: String,
    /// `▲`/`▼` when it is the current sort.
    pub mark: &'static str,
}

/// The totals box.
pub struct Totals {
    /// Lines to order now.
    pub now_lines: i64,
    /// Units to order now.
    pub now_units: String,
    /// Value to order now.
    pub now_value: String,
    /// Lines to order within 7 days.
    pub soon_lines: i64,
    /// Units within 7 days.
    pub soon_units: String,
    /// Value within 7 days.
    pub soon_value: String,
}

/// The order-plan page.
#[derive(Template)]
#[template(path = "order_plan.html")]
pub struct OrderPlanPage {
    /// Layout.
    pub shell: Shell,
    /// Account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Currency of money figures.
    pub currency: String,
    /// Whether the account is a master.
    pub is_master: bool,
    /// When the plan was computed ("never" if not yet).
    pub computed_at: String,
    /// Planning date.
    pub planning_date: String,
    /// Whether the shown plan is older than the data.
    pub stale: bool,
    /// Totals to order (of the lines the filters keep).
    pub totals: Totals,
    /// Whether filters are active (the totals are of the matching lines).
    pub filtered: bool,
    /// Column headers.
    pub columns: Vec<Column>,
    /// Rows of this page.
    pub rows: Vec<RowView>,
    /// Matching rows in all.
    pub total: i64,
    /// Page.
    pub page: i64,
    /// Pages.
    pub pages: i64,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
    /// CSV export link (same filters and sort).
    pub csv_href: String,
    /// Current filters, for the form.
    pub query: PageQuery,
    /// Vendors to filter by.
    pub vendors: Vec<String>,
    /// Categories to filter by.
    pub categories: Vec<String>,
    /// Brands to filter by.
    pub brands: Vec<String>,
}

impl OrderPlanPage {
    /// Whether `v` is the selected value of filter `field`.
    pub fn selected(&self, field: &str, v: &str) -> bool {
        let q = &self.query;
        let cur = match field {
            "vendor" => &q.vendor,
            "category" => &q.category,
            "brand" => &q.brand,
            "flag" => &q.flag,
            _ => &q.urgency,
        };
        cur.as_deref() == Some(v)
    }

    /// The current search text.
    pub fn q(&self) -> &str {
        self.query.q.as_deref().unwrap_or_default()
    }

    /// The current tag filter.
    pub fn tag(&self) -> &str {
        self.query.tag.as_deref().unwrap_or_default()
    }

    /// The forecast-edit grid of the group the filters select (category,
    /// brand or tag): (label, link).
    pub fn group_edit(&self) -> Option<(String, String)> {
        let q = &self.query;
        [
            ("category", &q.category),
            ("brand", &q.brand),
            ("tag", &q.tag),
        ]
        .into_iter()
        .find_map(|(k, v)| {
            let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
            Some((
                format!("{k} {v}"),
                format!(
                    "/accounts/{}/forecast-edits?{k}={}",
                    crate::web::pages::urlencode(&self.account_id),
                    crate::web::pages::urlencode(v)
                ),
            ))
        })
    }
}

const COLUMNS: [(&str, &str); 13] = [
    ("sku", "SKU"),
    ("title", "Title"),
    ("vendor", "Vendor"),
    ("available", "Available"),
    ("on_order", "On order"),
    ("demand_per_day", "Demand / day"),
    ("safety_stock", "Safety stock"),
    ("reorder_point", "Reorder point"),
    ("order_quantity", "Order"),
    ("order_value", "Value"),
    ("order_by", "Order by"),
    ("days_of_cover", "Days of cover"),
    ("urgency", "Urgency"),
];

/// The columns whose first click sorts descending (largest amounts first).
const DESC_FIRST: [&str; 7] = [
    "available",
    "on_order",
    "demand_per_day",
    "safety_stock",
    "reorder_point",
    "order_quantity",
    "order_value",
];

async fn visible(state: &AppState, caller: &PageCaller, id: String) -> Result<Account, AppError> {
    crate::web::api::visible_account(state, &caller.0, id).await
}

/// The order plan of an account.
pub async fn order_plan(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let account = visible(&state, &caller, path.into_inner()).await?;
    let (mut shell, _) = shell(
        &state,
        &req,
        &caller,
        Some(account.id.clone()),
        "Order plan",
    )
    .await?;
    shell.title = format!("Order plan · {}", account.name);
    let q = query.into_inner();
    let req = q.lenient();
    let (sort, desc, page, per_page) = (req.sort.clone(), req.descending, req.page, req.per_page);
    let read = order_plan::read_page(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        req,
        Extras::AccountsAndSummary,
    )
    .await?;
    let header = read.freshness.header;
    let total = read.total;
    // A master's rows expand into every child's figures (a child has none).
    let accounts = read
        .accounts
        .unwrap_or_else(|| vec![Vec::new(); read.rows.len()]);
    let PlanSummary {
        totals,
        vendors,
        categories,
        brands,
    } = read.summary.unwrap_or_default();
    let pick = |u: &str| {
        totals
            .iter()
            .find(|t| t.0 == u)
            .map(|t| (t.1, units(t.2), grouped(t.3, 2)))
            .unwrap_or((0, "0".into(), "0.00".into()))
    };
    let (now_lines, now_units, now_value) = pick("now");
    let (soon_lines, soon_units, soon_value) = pick("soon");
    let filters = filters_qs(&q);
    let base = format!("/accounts/{}/order-plan", urlencode(&account.id));
    let with = |extra: String| {
        let mut parts: Vec<String> = Vec::new();
        if !filters.is_empty() {
            parts.push(filters.clone());
        }
        parts.push(extra);
        format!("{base}?{}", parts.join("&"))
    };
    let columns = COLUMNS
        .iter()
        .map(|(field, label)| {
            let current = *field == sort;
            // Amounts sort largest first on the first click; names, dates
            // and cover smallest first.
            let next_order = match (current, desc) {
                (true, false) => "desc",
                (true, true) => "asc",
                _ if DESC_FIRST.contains(field) => "desc",
                _ => "asc",
            };
            Column {
                field,
                label,
                href: with(format!(
                    "sort={field}&order={next_order}&per_page={per_page}"
                )),
                mark: match (current, desc) {
                    (true, false) => "▲",
                    (true, true) => "▼",
                    _ => "",
                },
            }
        })
        .collect();
    let order = if desc { "desc" } else { "asc" };
    let pages = ((total + per_page - 1) / per_page).max(1);
    let page_link = |p: i64| {
        with(format!(
            "sort={sort}&order={order}&per_page={per_page}&page={p}"
        ))
    };
    render(&OrderPlanPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        currency: account.currency.clone(),
        is_master: account.is_master(),
        computed_at: header
            .as_ref()
            .map(|h| crate::web::pages::local_time(&account.timezone, h.computed_at))
            .unwrap_or_else(|| "never".into()),
        planning_date: header
            .as_ref()
            .map(|h| h.planning_date.to_string())
            .unwrap_or_default(),
        stale: read.freshness.stale,
        filtered: !filters.is_empty(),
        totals: Totals {
            now_lines,
            now_units,
            now_value,
            soon_lines,
            soon_units,
            soon_value,
        },
        columns,
        rows: read
            .rows
            .iter()
            .zip(&accounts)
            .map(|(l, a)| row_view(l, a))
            .collect(),
        total,
        page,
        pages,
        prev: (page > 1).then(|| page_link(page - 1)),
        next: (page < pages).then(|| page_link(page + 1)),
        csv_href: format!(
            "{base}/export.csv?{}",
            [filters.clone(), format!("sort={sort}&order={order}")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("&")
        ),
        query: q,
        vendors,
        categories,
        brands,
    })
}

/// Every matching row as CSV (the API's `?format=csv`, for the page's session).
pub async fn export(
    state: web::Data<AppState>,
    caller: PageCaller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let account = visible(&state, &caller, path.into_inner()).await?;
    let req = query.lenient().all();
    let read = order_plan::read_page(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        req,
        Extras::Rows,
    )
    .await?;
    crate::web::api::plans::csv_response(&read.rows)
}

/// One term of the explanation as the page lists it.
pub struct Term {
    /// Name.
    pub term: String,
    /// Value, formatted.
    pub value: String,
    /// The sentence.
    pub text: String,
}

/// The explanation page of one plan line.
#[derive(Template)]
#[template(path = "plan_line.html")]
pub struct PlanLinePage {
    /// Layout.
    pub shell: Shell,
    /// Account id.
    pub account_id: String,
    /// The row.
    pub row: RowView,
    /// Forecast method.
    pub method: String,
    /// Demand class.
    pub class: String,
    /// Candidates (method, score).
    pub candidates: Vec<(String, String)>,
    /// Days of history used.
    pub history_days: String,
    /// Stockout days left out.
    pub stockout_days: String,
    /// Safety stock terms (label, value).
    pub safety: Vec<(String, String)>,
    /// Contributions (child name, available, on order, sales counted, included).
    pub contributions: Vec<(String, String, String, String, String)>,
    /// The rounding steps (step, quantity, note).
    pub steps: Vec<(String, String, String)>,
    /// Every term.
    pub terms: Vec<Term>,
    /// Notes.
    pub notes: Vec<String>,
    /// Whether the caller may change the line's marks.
    pub can_write: bool,
    /// The line is marked not for reorder.
    pub not_for_reorder: bool,
}

/// The explanation of one line: every number followed back to its inputs.
pub async fn explanation(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, sku_text) = path.into_inner();
    let account = visible(&state, &caller, id).await?;
    let (mut shell, _) =
        shell(&state, &req, &caller, Some(account.id.clone()), "Plan line").await?;
    let (_, line, detail) = order_plan::read_line(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &sku_text,
    )
    .await?;
    shell.title = format!("{} · {}", line.sku, account.name);
    let e = Explanation::parse(&detail.explanation).unwrap_or_default();
    let d = &e.demand;
    let ss = &e.safety_stock;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    // "quantile of the lead-time demand (code)": the code named.
    let ss_method = match (ss.method.rfind('('), ss.method.ends_with(')')) {
        (Some(at), true) => format!(
            "{}({})",
            &ss.method[..at],
            crate::forecast::method_label(&ss.method[at + 1..ss.method.len() - 1])
        ),
        _ => ss.method.clone(),
    };
    render(&PlanLinePage {
        shell,
        account_id: account.id.clone(),
        row: row_view(&line, &order_plan::child_figures(&detail.accounts)),
        method: crate::forecast::method_label(&d.method),
        class: d.class.clone(),
        candidates: d
            .candidates
            .iter()
            .map(|c| {
                (
                    crate::forecast::method_label(&c.method),
                    c.score
                        .map_or_else(|| "not measured".to_string(), |v| format!("{v:.3}")),
                )
            })
            .collect(),
        history_days: qty(d.history_days as f64),
        stockout_days: qty(d.stockout_days_excluded as f64),
        safety: vec![
            ("service level".into(), qty(ss.service_level)),
            ("method".into(), ss_method),
            ("z".into(), qty(ss.z)),
            ("sigma daily".into(), qty(ss.sigma_daily)),
            ("lead time days".into(), qty(ss.lead_time_days)),
            ("value".into(), qty(ss.value)),
        ],
        contributions: e
            .contributions
            .iter()
            .map(|c| {
                (
                    c.account_name.clone(),
                    qty(c.available),
                    qty(c.on_order),
                    qty(c.sales_counted),
                    format!(
                        "stock {}, sales {}",
                        yes_no(c.included.stock),
                        yes_no(c.included.sales)
                    ),
                )
            })
            .collect(),
        steps: e
            .steps
            .iter()
            .map(|s| (s.step.clone(), qty(s.quantity), s.note.clone()))
            .collect(),
        terms: e
            .terms
            .iter()
            .map(|t| Term {
                term: t.term.clone(),
                value: qty(t.value),
                text: t.text.clone(),
            })
            .collect(),
        notes: e.notes.clone(),
        can_write: caller.require_write().is_ok(),
        not_for_reorder: line.flags.contains("\"not_for_reorder\""),
    })
}

/// The form that marks a line not for reorder (or clears the mark).
#[derive(Debug, Deserialize)]
pub struct MarkForm {
    /// Session CSRF token.
    pub csrf_token: String,
    /// `true` to mark, `false` to clear.
    pub not_for_reorder: bool,
    /// Why.
    #[serde(default)]
    pub note: Option<String>,
}

/// Marks a line not for reorder (or clears the mark) from its page, then
/// shows the line again (replanned).
pub async fn mark(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<MarkForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    caller.require_write()?;
    let (id, sku_text) = path.into_inner();
    let account = visible(&state, &caller, id).await?;
    let by = caller.email.clone();
    let body = vec![crate::services::plan_settings::SkuSettingBody {
        sku: sku_text.clone(),
        not_for_reorder: form.not_for_reorder,
        note: form.note.clone(),
    }];
    let st = state.clone();
    let acc = account.clone();
    state
        .db
        .run(move |conn| {
            crate::services::plan_settings::put_sku_settings(conn, &acc, &by, &body, &st.jobs)
        })
        .await?;
    Ok(redirect(&format!(
        "/accounts/{}/order-plan/{}",
        account.id,
        urlencode(&sku_text)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_grouped_by_thousands() {
        assert_eq!(grouped(441_697.0, 2), "441,697.00");
        assert_eq!(grouped(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(-1234.5, 1), "-1,234.5");
        assert_eq!(grouped(-0.0001, 2), "0.00");
        assert_eq!(units(12_000.0), "12,000");
        assert_eq!(units(2.5), "2.50");
    }
}
