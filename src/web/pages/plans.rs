//! `/accounts/{id}/order-plan`: the page merchants open every morning. The
//! totals to order now and soon, the stored plan as a table (urgency
//! colours, filters and search, sortable columns, paging, CSV export), on a
//! master each row expanding into its children's own amounts, and each row
//! opening its explanation (`/accounts/{id}/order-plan/{sku}`). A plan that
//! is still being recomputed shows a banner with the recompute's progress.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use crate::db::models::planning::{self as store, LineFilter, PlanLineRow, SORT_FIELDS};
use crate::db::models::Account;
use crate::domain::sku;
use crate::services::plans::ChildFigures;
use crate::state::AppState;
use crate::web::api::plans::{fresh_plan, PLAN_WAIT};
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::{render, shell, urlencode, Shell};

/// The page's query: the API's filters, sort and paging.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PageQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Rows per page.
    pub per_page: Option<i64>,
    /// Sort field.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// Search text.
    pub q: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Urgency.
    pub urgency: Option<String>,
}

impl PageQuery {
    fn filter(&self) -> LineFilter {
        let clean = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        LineFilter {
            q: clean(&self.q).map(|q| sku::normalise(&q)),
            vendor: clean(&self.vendor),
            category: clean(&self.category),
            brand: clean(&self.brand),
            tag: clean(&self.tag),
            urgency: clean(&self.urgency).filter(|u| ["now", "soon", "ok"].contains(&u.as_str())),
        }
    }

    fn sort(&self) -> String {
        self.sort
            .clone()
            .filter(|s| SORT_FIELDS.contains(&s.as_str()))
            .unwrap_or_else(|| "urgency".into())
    }

    fn descending(&self) -> bool {
        self.order.as_deref() == Some("desc")
    }

    /// The query string of these filters (without paging and sort), for links.
    fn filters_qs(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("q", &self.q),
            ("vendor", &self.vendor),
            ("category", &self.category),
            ("brand", &self.brand),
            ("tag", &self.tag),
            ("urgency", &self.urgency),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        parts.join("&")
    }
}

/// One row as the page shows it.
pub struct RowView {
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

fn included(f: &ChildFigures) -> String {
    match (f.included.stock, f.included.sales) {
        (true, true) => "stock and sales",
        (true, false) => "stock only",
        (false, true) => "sales only",
        (false, false) => "nothing",
    }
    .into()
}

fn row_view(l: &PlanLineRow, accounts: &str) -> RowView {
    let children: Vec<ChildFigures> = serde_json::from_str(accounts).unwrap_or_default();
    RowView {
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
        order_value: l.order_value.map(|v| format!("{v:.2}")).unwrap_or_default(),
        order_by: l
            .order_by
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into()),
        days_of_cover: l
            .days_of_cover
            .map(|d| format!("{d:.0}"))
            .unwrap_or_else(|| "—".into()),
        urgency: l.urgency.clone(),
        method: l.forecast_method.clone(),
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
    /// Totals to order.
    pub totals: Totals,
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
    let (header, stale) = fresh_plan(&state, &account, PLAN_WAIT).await?;
    let q = query.into_inner();
    let filter = q.filter();
    let sort = q.sort();
    let desc = q.descending();
    let per_page = q.per_page.unwrap_or(50).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    let id = account.id.clone();
    let master = account.is_master();
    let f = filter.clone();
    let s = sort.clone();
    let (total, rows, accounts, summary) = state
        .db
        .run(move |conn| {
            let (total, rows) =
                store::page_lines(conn, &id, &f, &s, desc, (page - 1) * per_page, per_page)?;
            // A master's rows expand into every child's figures (a child
            // has none to read).
            let accounts = if master {
                store::line_accounts(conn, &id, &rows)?
            } else {
                vec!["[]".to_string(); rows.len()]
            };
            // Totals and filter lists were summarised when the plan was stored.
            let summary = store::plan_summary(conn, &id)?;
            Ok::<_, AppError>((total, rows, accounts, summary))
        })
        .await?;
    let store::PlanSummary {
        totals,
        vendors,
        categories,
        brands,
    } = summary;
    let pick = |u: &str| {
        totals
            .iter()
            .find(|t| t.0 == u)
            .map(|t| (t.1, qty(t.2), format!("{:.2}", t.3)))
            .unwrap_or((0, "0".into(), "0.00".into()))
    };
    let (now_lines, now_units, now_value) = pick("now");
    let (soon_lines, soon_units, soon_value) = pick("soon");
    let filters = q.filters_qs();
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
            let next_order = if current && !desc { "desc" } else { "asc" };
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
            .map(|h| h.computed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into()),
        planning_date: header
            .as_ref()
            .map(|h| h.planning_date.to_string())
            .unwrap_or_default(),
        stale,
        totals: Totals {
            now_lines,
            now_units,
            now_value,
            soon_lines,
            soon_units,
            soon_value,
        },
        columns,
        rows: rows
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
    let _ = fresh_plan(&state, &account, PLAN_WAIT).await?;
    let q = query.into_inner();
    let (filter, sort, desc) = (q.filter(), q.sort(), q.descending());
    let id = account.id.clone();
    let (_, rows) = state
        .db
        .run(move |conn| {
            store::page_lines(conn, &id, &filter, &sort, desc, 0, i64::MAX).map_err(AppError::from)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"order-plan.csv\"",
        ))
        .body(crate::web::api::plans::csv_of(&rows)?))
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
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map(qty).unwrap_or_default(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
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
    let _ = fresh_plan(&state, &account, PLAN_WAIT).await?;
    let key = sku::normalise(&sku_text);
    let acc = account.id.clone();
    let line = state
        .db
        .run(move |conn| store::line_with_explanation(conn, &acc, &key).map_err(AppError::from))
        .await?
        .ok_or_else(|| {
            AppError::NotFound("This account's plan has no line for that SKU.".into())
        })?;
    let (line, detail) = line;
    shell.title = format!("{} · {}", line.sku, account.name);
    let e: Value = serde_json::from_str(&detail.explanation).unwrap_or(Value::Null);
    let d = &e["demand"];
    let ss = &e["safety_stock"];
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    render(&PlanLinePage {
        shell,
        account_id: account.id.clone(),
        row: row_view(&line, &detail.accounts),
        method: fmt_value(&d["method"]),
        class: fmt_value(&d["class"]),
        candidates: list(&d["candidates"])
            .iter()
            .map(|c| {
                (
                    fmt_value(&c["method"]),
                    c["score"]
                        .as_f64()
                        .map_or_else(|| "not measured".to_string(), |v| format!("{v:.3}")),
                )
            })
            .collect(),
        history_days: fmt_value(&d["history_days"]),
        stockout_days: fmt_value(&d["stockout_days_excluded"]),
        safety: [
            "service_level",
            "method",
            "z",
            "sigma_daily",
            "lead_time_days",
            "value",
        ]
        .iter()
        .map(|k| (k.replace('_', " "), fmt_value(&ss[*k])))
        .collect(),
        contributions: list(&e["contributions"])
            .iter()
            .map(|c| {
                (
                    fmt_value(&c["account_name"]),
                    fmt_value(&c["available"]),
                    fmt_value(&c["on_order"]),
                    fmt_value(&c["sales_counted"]),
                    format!(
                        "stock {}, sales {}",
                        if c["included"]["stock"] == true {
                            "yes"
                        } else {
                            "no"
                        },
                        if c["included"]["sales"] == true {
                            "yes"
                        } else {
                            "no"
                        }
                    ),
                )
            })
            .collect(),
        steps: list(&e["steps"])
            .iter()
            .map(|s| {
                (
                    fmt_value(&s["step"]),
                    fmt_value(&s["quantity"]),
                    fmt_value(&s["note"]),
                )
            })
            .collect(),
        terms: list(&e["terms"])
            .iter()
            .map(|t| Term {
                term: fmt_value(&t["term"]),
                value: fmt_value(&t["value"]),
                text: fmt_value(&t["text"]),
            })
            .collect(),
        notes: list(&e["notes"]).iter().map(fmt_value).collect(),
    })
}
