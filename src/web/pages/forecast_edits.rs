//! `/accounts/{id}/forecast-edits?category=…` (or `brand`, `tag`,
//! `vendor_id`): the forecast-edit grid of a group, opened from the order
//! plan's filters — per month, the group's edit in force with a form to set
//! or clear it, the group's current plan totals, and every edit of the
//! account in force (SKU edits are made on each SKU's demand page).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Datelike;
use serde::Deserialize;

use crate::services::demand::EDIT_GRID_MONTHS;
use crate::services::forecast_edits::{self, EditView};
use crate::services::order_plan::{self, Extras, PlanParams};
use crate::services::plans::planning_date;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::demand::fmt_num;
use crate::web::pages::{check_csrf, redirect, render, shell, urlencode, Shell};

/// The group in view.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct GroupQuery {
    /// Category.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Vendor id.
    pub vendor_id: Option<String>,
}

impl GroupQuery {
    /// (target kind, value) of the group asked for, if any.
    pub fn target(&self) -> Option<(&'static str, String)> {
        [
            ("category", &self.category),
            ("brand", &self.brand),
            ("tag", &self.tag),
            ("vendor_id", &self.vendor_id),
        ]
        .into_iter()
        .find_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (k, v.trim().to_string()))
        })
    }
}

/// A month of the group's grid.
#[derive(Debug, Clone)]
pub struct GroupMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The group's edit, as text.
    pub edit: String,
    /// Its id (to clear it).
    pub id: Option<String>,
}

/// An edit in force, formatted.
#[derive(Debug, Clone)]
pub struct EditLine {
    /// Id.
    pub id: String,
    /// `kind: value`.
    pub target: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The change, as text.
    pub change: String,
    /// Note.
    pub note: String,
    /// Who and when.
    pub by: String,
}

/// The page.
#[derive(Template)]
#[template(path = "forecast_edits.html")]
pub struct EditsPage {
    /// Layout.
    pub shell: Shell,
    /// Account id.
    pub account_id: String,
    /// `category`, …
    pub kind: String,
    /// The group's value.
    pub value: String,
    /// Months.
    pub months: Vec<GroupMonth>,
    /// SKUs of the group in the plan, their coverage demand and order.
    pub totals: Option<(i64, String, String)>,
    /// Every edit in force.
    pub edits: Vec<EditLine>,
    /// Whether the caller may change edits.
    pub can_edit: bool,
    /// This page's path with its query.
    pub back: String,
}

fn change(e: &EditView) -> String {
    match (e.kind.as_str(), e.value) {
        ("percent", Some(v)) => format!("{}{} %", if v >= 0.0 { "+" } else { "" }, fmt_num(v)),
        ("quantity", Some(v)) => format!("{} for the month", fmt_num(v)),
        _ => "no demand".into(),
    }
}

/// The group's grid and the account's edits.
pub async fn show(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    let account = crate::web::api::visible_account(&state, &caller, path.into_inner()).await?;
    let (mut shell, _) = shell(
        &state,
        &req,
        &caller,
        Some(account.id.clone()),
        "Forecast edits",
    )
    .await?;
    let today = planning_date(&account, state.config.today);
    let acc = account.clone();
    let all = state
        .db
        .run(move |conn| forecast_edits::list(conn, &acc, today))
        .await?;
    let target = query.target();
    let (kind, value) = target.clone().unwrap_or(("category", String::new()));
    shell.title = if value.is_empty() {
        format!("Forecast edits · {}", account.name)
    } else {
        format!("Forecast edits · {kind}: {value}")
    };
    let key = crate::planning::edits::target_key(kind, &value);
    let this = chrono::NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let months = (0..EDIT_GRID_MONTHS)
        .filter_map(|k| this.checked_add_months(chrono::Months::new(k)))
        .map(|m| {
            let month = m.format("%Y-%m").to_string();
            let e = all.iter().find(|e| {
                e.month == month
                    && e.target
                        .get(kind)
                        .and_then(|v| v.as_str())
                        .is_some_and(|v| crate::planning::edits::target_key(kind, v) == key)
            });
            GroupMonth {
                month,
                edit: e.map(change).unwrap_or_else(|| "—".into()),
                id: e.map(|e| e.id.clone()),
            }
        })
        .collect();
    let totals = if target.is_some() && kind != "vendor_id" {
        let params = PlanParams {
            category: (kind == "category").then(|| value.clone()),
            brand: (kind == "brand").then(|| value.clone()),
            tag: (kind == "tag").then(|| value.clone()),
            ..PlanParams::default()
        };
        let read = order_plan::read_page(
            &state.db,
            &state.jobs,
            &account,
            state.config.today,
            params.lenient().all(),
            Extras::Rows,
        )
        .await?;
        Some((
            read.total,
            fmt_num(read.rows.iter().map(|r| r.coverage_demand).sum()),
            fmt_num(read.rows.iter().map(|r| r.order_quantity).sum()),
        ))
    } else {
        None
    };
    let edits = all
        .iter()
        .map(|e| EditLine {
            id: e.id.clone(),
            target: e
                .target
                .as_object()
                .and_then(|o| o.iter().next())
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                .unwrap_or_default(),
            month: e.month.clone(),
            change: change(e),
            note: e.note.clone().unwrap_or_default(),
            by: format!(
                "{} · {}",
                e.created_by,
                e.created_at.format("%Y-%m-%d %H:%M")
            ),
        })
        .collect();
    render(&EditsPage {
        shell,
        back: format!(
            "/accounts/{}/forecast-edits?{kind}={}",
            urlencode(&account.id),
            urlencode(&value)
        ),
        account_id: account.id.clone(),
        kind: kind.to_string(),
        value,
        months,
        totals,
        edits,
        can_edit: caller.role == "admin" && !caller.key.as_ref().is_some_and(|k| k.read_only),
    })
}

/// The grid's form: a group's month, or `clear` (an edit id).
#[derive(Debug, Deserialize)]
pub struct GroupForm {
    /// CSRF token.
    pub csrf_token: String,
    /// Target kind.
    pub target_kind: Option<String>,
    /// Target value.
    pub target: Option<String>,
    /// `YYYY-MM`.
    pub month: Option<String>,
    /// `quantity`, `percent` or `no_demand`.
    pub kind: Option<String>,
    /// Quantity or percent.
    pub value: Option<String>,
    /// The id of an edit to remove instead.
    pub clear: Option<String>,
    /// Where to go back to.
    pub back: Option<String>,
}

/// Saves or clears one edit from the page, then shows it again.
pub async fn save(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<GroupForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    caller.require_write()?;
    let account = crate::web::api::visible_account(&state, &caller, path.into_inner()).await?;
    let today = planning_date(&account, state.config.today);
    let by = caller.email.clone();
    let form = form.into_inner();
    let own = format!("/accounts/{}/forecast-edits", urlencode(&account.id));
    let back = form
        .back
        .clone()
        .filter(|b| b.starts_with(&format!("{own}?")) && !b.contains(".."))
        .unwrap_or(own);
    let st = state.clone();
    state
        .db
        .run(move |conn| match form.clear.filter(|c| !c.is_empty()) {
            Some(edit) => forecast_edits::delete(conn, &account, &by, &edit, &st.jobs),
            None => {
                let mut target = serde_json::Map::new();
                target.insert(
                    form.target_kind.unwrap_or_default(),
                    serde_json::Value::String(form.target.unwrap_or_default()),
                );
                let row = serde_json::json!({
                    "target": target,
                    "month": form.month,
                    "kind": form.kind,
                    "value": form.value.filter(|v| !v.trim().is_empty()),
                });
                forecast_edits::put(conn, &account, &by, &[row], today, &st.jobs).map(|_| ())
            }
        })
        .await?;
    Ok(redirect(&back))
}
