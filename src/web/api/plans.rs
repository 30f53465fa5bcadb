//! Planning reads and the master's roll-up settings (`api.md`, "Planning
//! reads" and "Master roll-up settings"): the order plan (paged, filtered,
//! sorted in the database, or as CSV), one line's explanation, links,
//! conflicts, per-warehouse flags, exchange rates, and jobs.
//!
//! A read of an out-of-date plan queues its recompute and waits for it up to
//! [`PLAN_WAIT`]; past that it answers the last stored plan with
//! `"stale": true`.

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Caller;
use crate::db::models::planning::{
    self as store, ExchangeRate, LineFilter, PlanHeader, PlanLineRow, SkuLink, WarehouseSetting,
    SORT_FIELDS,
};
use crate::db::models::Account;
use crate::domain::sku;
use crate::jobs::{self, Job};
use crate::services::plans::{self, ChildFigures, Conflict};
use crate::services::Detail;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// How long a read waits for a stale plan to be recomputed.
pub const PLAN_WAIT: Duration = Duration::from_secs(10);

/// Declares the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/order-plan", web::get().to(order_plan))
        .route("/accounts/{id}/order-plan/{sku}", web::get().to(explain))
        .route("/accounts/{id}/plan-status", web::get().to(plan_status))
        .route("/accounts/{id}/links", web::get().to(get_links))
        .route("/accounts/{id}/links", web::put().to(put_links))
        .route("/accounts/{id}/conflicts", web::get().to(get_conflicts))
        .route(
            "/accounts/{id}/warehouse-settings",
            web::get().to(get_warehouse_settings),
        )
        .route(
            "/accounts/{id}/warehouse-settings",
            web::put().to(put_warehouse_settings),
        )
        .route("/exchange-rates", web::get().to(get_rates))
        .route("/exchange-rates", web::put().to(put_rates))
        .route("/jobs/{id}", web::get().to(get_job));
}

/// The planning part of the API description (merged into the document).
#[derive(OpenApi)]
#[openapi(
    paths(
        order_plan,
        explain,
        plan_status,
        get_links,
        put_links,
        get_conflicts,
        get_warehouse_settings,
        put_warehouse_settings,
        get_rates,
        put_rates,
        get_job
    ),
    components(schemas(
        OrderPlanRow,
        OrderPlanPage,
        ExplainAnswer,
        PlanStatus,
        LinkBody,
        WarehouseSettingBody,
        RateBody,
        JobView,
        Conflict
    ))
)]
pub struct PlanningDoc;

/// One order-plan row (`api.md`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderPlanRow {
    /// SKU as the account (a master: its earliest child) has it.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Vendor name.
    pub vendor: String,
    /// Category.
    pub category: String,
    /// Brand.
    pub brand: String,
    /// Available stock (on hand − allocated).
    pub available: f64,
    /// Open purchase / transfer quantities.
    pub on_order: f64,
    /// Forecast over the coverage window ÷ its length.
    pub demand_per_day: f64,
    /// Lead time.
    pub lead_time_days: f64,
    /// Days of stock (order cycle).
    pub days_of_stock: f64,
    /// Forecast over lead time + days of stock.
    pub coverage_demand: f64,
    /// Safety stock.
    pub safety_stock: f64,
    /// Reorder point.
    pub reorder_point: f64,
    /// Recommended order quantity.
    pub order_quantity: f64,
    /// Latest day to order; null when nothing needs ordering.
    pub order_by: Option<NaiveDate>,
    /// Days the stock and open orders last; null when there is no demand.
    pub days_of_cover: Option<f64>,
    /// `now`, `soon` or `ok`.
    pub urgency: String,
    /// The forecast method chosen.
    pub forecast_method: String,
    /// Unit cost in the account's currency (extension).
    pub unit_cost: Option<f64>,
    /// Order quantity × unit cost (extension).
    pub order_value: Option<f64>,
    /// On a master: every child's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub accounts: Option<Vec<ChildFigures>>,
}

impl OrderPlanRow {
    fn from_line(l: &PlanLineRow, accounts: Option<&str>) -> OrderPlanRow {
        OrderPlanRow {
            sku: l.sku.clone(),
            title: l.title.clone(),
            vendor: l.vendor.clone(),
            category: l.category.clone(),
            brand: l.brand.clone(),
            available: l.available,
            on_order: l.on_order,
            demand_per_day: l.demand_per_day,
            lead_time_days: l.lead_time_days,
            days_of_stock: l.days_of_stock,
            coverage_demand: l.coverage_demand,
            safety_stock: l.safety_stock,
            reorder_point: l.reorder_point,
            order_quantity: l.order_quantity,
            order_by: l.order_by,
            days_of_cover: l.days_of_cover,
            urgency: l.urgency.clone(),
            forecast_method: l.forecast_method.clone(),
            unit_cost: l.unit_cost,
            order_value: l.order_value,
            accounts: accounts.map(|a| serde_json::from_str(a).unwrap_or_default()),
        }
    }
}

/// A page of the order plan.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPlanPage {
    /// Matching rows in all.
    pub total: i64,
    /// Page (from 1).
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// When the plan was computed (null: never yet).
    pub computed_at: Option<DateTime<Utc>>,
    /// Whether the plan is older than the data.
    pub stale: bool,
    /// The rows.
    pub rows: Vec<OrderPlanRow>,
}

/// Query of the order plan.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlanQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Rows per page (default 50, at most 1,000).
    pub per_page: Option<i64>,
    /// Any row field.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// Substring of the SKU (normalised) or title.
    pub q: Option<String>,
    /// Vendor name.
    pub vendor: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// A tag.
    pub tag: Option<String>,
    /// `now`, `soon` or `ok`.
    pub urgency: Option<String>,
    /// `csv` for every matching row as CSV.
    pub format: Option<String>,
}

/// The state of an account's plan (for the page's banner).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanStatus {
    /// When the stored plan was computed (null: never yet).
    pub computed_at: Option<DateTime<Utc>>,
    /// Whether it is older than the data.
    pub stale: bool,
    /// The planning date it was made for.
    pub planning_date: Option<NaiveDate>,
    /// Lines in the stored plan.
    pub lines: i64,
    /// The recompute under way, if any.
    pub job: Option<JobView>,
}

/// A job as the API shows it (`api.md`, "Sync").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Id.
    pub id: String,
    /// `plan` or `sync`.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed`, `partial`.
    pub status: String,
    /// `{"done", "total"}`.
    #[schema(value_type = Object)]
    pub progress: Value,
    /// Per-account status.
    #[schema(value_type = Vec<Object>)]
    pub accounts: Value,
    /// Error of a failed job.
    pub error: Option<String>,
    /// First claimed at.
    pub started_at: Option<DateTime<Utc>>,
    /// Done at.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        JobView {
            id: j.id.clone(),
            kind: j.kind.clone(),
            status: j.status.clone(),
            progress: serde_json::json!({"done": j.progress_done, "total": j.progress_total}),
            accounts: serde_json::from_str(&j.detail).unwrap_or(Value::Array(vec![])),
            error: j.error.clone(),
            started_at: j.started_at.map(crate::services::accounts::utc),
            finished_at: j.finished_at.map(crate::services::accounts::utc),
        }
    }
}

/// Makes sure a fresh plan is coming and waits for it up to `wait`; returns
/// the stored header (if any) and whether it is still stale.
pub async fn fresh_plan(
    state: &AppState,
    account: &Account,
    wait: Duration,
) -> Result<(Option<PlanHeader>, bool), AppError> {
    let started = Instant::now();
    let today = state.config.today;
    let mut queued = false;
    loop {
        let acc = account.clone();
        let (header, stale) = state
            .db
            .run(move |conn| {
                let stale = plans::is_stale(conn, &acc, today)?;
                let header = store::plan_header(conn, &acc.id)?;
                Ok::<_, AppError>((header, stale))
            })
            .await?;
        if !stale || started.elapsed() >= wait {
            return Ok((header, stale));
        }
        if !queued {
            let acc = account.clone();
            // A read never fails for want of queueing: the worker queues
            // stale plans itself too.
            if let Err(e) = state
                .db
                .run(move |conn| jobs::enqueue(conn, &acc, "plan").map_err(AppError::from))
                .await
            {
                tracing::warn!(error = %e, "could not queue a plan");
            }
            state.jobs.wake();
            queued = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn parse_query(q: &PlanQuery) -> Result<(LineFilter, String, bool, i64, i64), AppError> {
    let page = q.page.unwrap_or(1);
    if page < 1 {
        return Err(AppError::invalid_field("page", "must be 1 or more"));
    }
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=1000).contains(&per_page) {
        return Err(AppError::invalid_field("per_page", "must be 1 to 1000"));
    }
    let sort = q.sort.clone().unwrap_or_else(|| "urgency".into());
    if !SORT_FIELDS.contains(&sort.as_str()) {
        return Err(AppError::invalid_field(
            "sort",
            format!("must be one of {}", SORT_FIELDS.join(", ")),
        ));
    }
    let descending = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(AppError::invalid_field("order", "must be asc or desc")),
    };
    if let Some(u) = &q.urgency {
        if !["now", "soon", "ok"].contains(&u.as_str()) {
            return Err(AppError::invalid_field(
                "urgency",
                "must be now, soon or ok",
            ));
        }
    }
    let filter = LineFilter {
        q: q.q.as_deref().map(sku::normalise).filter(|s| !s.is_empty()),
        vendor: q.vendor.clone(),
        category: q.category.clone(),
        brand: q.brand.clone(),
        tag: q.tag.clone(),
        urgency: q.urgency.clone(),
    };
    Ok((filter, sort, descending, page, per_page))
}

const CSV_COLUMNS: [&str; 20] = [
    "sku",
    "title",
    "vendor",
    "category",
    "brand",
    "available",
    "on_order",
    "demand_per_day",
    "lead_time_days",
    "days_of_stock",
    "coverage_demand",
    "safety_stock",
    "reorder_point",
    "order_quantity",
    "order_by",
    "days_of_cover",
    "urgency",
    "forecast_method",
    "unit_cost",
    "order_value",
];

/// The order-plan rows as CSV (every row field but `accounts`).
pub fn csv_of(rows: &[PlanLineRow]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(AppError::internal)?;
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for l in rows {
        w.write_record([
            l.sku.clone(),
            l.title.clone(),
            l.vendor.clone(),
            l.category.clone(),
            l.brand.clone(),
            l.available.to_string(),
            l.on_order.to_string(),
            l.demand_per_day.to_string(),
            l.lead_time_days.to_string(),
            l.days_of_stock.to_string(),
            l.coverage_demand.to_string(),
            l.safety_stock.to_string(),
            l.reorder_point.to_string(),
            l.order_quantity.to_string(),
            l.order_by.map(|d| d.to_string()).unwrap_or_default(),
            opt(l.days_of_cover),
            l.urgency.clone(),
            l.forecast_method.clone(),
            opt(l.unit_cost),
            opt(l.order_value),
        ])
        .map_err(AppError::internal)?;
    }
    w.into_inner().map_err(AppError::internal)
}

/// The order plan of an account, as stored by the last plan computation.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/order-plan", tag = "planning",
    params(("id" = String, Path, description = "Account id"), PlanQuery),
    responses((status = 200, body = OrderPlanPage, description = "A page of rows; CSV with format=csv"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn order_plan(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PlanQuery>,
) -> Result<HttpResponse, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let (filter, sort, descending, page, per_page) = parse_query(&query)?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::invalid_field("format", "must be json or csv")),
    };
    let (header, stale) = fresh_plan(&state, &account, PLAN_WAIT).await?;
    let id = account.id.clone();
    let master = account.is_master();
    if csv {
        let (_, rows) = state
            .db
            .run(move |conn| {
                store::page_lines(conn, &id, &filter, &sort, descending, 0, i64::MAX)
                    .map_err(AppError::from)
            })
            .await?;
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"order-plan.csv\"",
            ))
            .body(csv_of(&rows)?));
    }
    let (total, rows, accounts) = state
        .db
        .run(move |conn| {
            let (total, rows) = store::page_lines(
                conn,
                &id,
                &filter,
                &sort,
                descending,
                (page - 1) * per_page,
                per_page,
            )?;
            // A master's rows carry every child's figures, read for this
            // page's rows only.
            let accounts = if master {
                store::line_accounts(conn, &id, &rows)?
            } else {
                Vec::new()
            };
            Ok::<_, AppError>((total, rows, accounts))
        })
        .await?;
    Ok(HttpResponse::Ok().json(OrderPlanPage {
        total,
        page,
        per_page,
        computed_at: header
            .as_ref()
            .map(|h| crate::services::accounts::utc(h.computed_at)),
        stale,
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, l)| OrderPlanRow::from_line(l, accounts.get(i).map(String::as_str)))
            .collect(),
    }))
}

/// One plan line with its explanation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExplainAnswer {
    /// When the plan was computed.
    pub computed_at: Option<DateTime<Utc>>,
    /// Whether it is older than the data.
    pub stale: bool,
    /// The row.
    pub row: OrderPlanRow,
    /// Every number of the row followed back to its inputs.
    #[schema(value_type = Object)]
    pub explanation: Value,
}

/// One line of the order plan with its explanation (SKU matched after
/// normalisation).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/order-plan/{sku}", tag = "planning",
    params(("id" = String, Path, description = "Account id"), ("sku" = String, Path, description = "SKU, percent-encoded")),
    responses((status = 200, body = ExplainAnswer), (status = 404, body = ErrorBody)))]
pub async fn explain(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ExplainAnswer>, AppError> {
    let (id, sku_text) = path.into_inner();
    let account = visible_account(&state, &caller, id).await?;
    let (header, stale) = fresh_plan(&state, &account, PLAN_WAIT).await?;
    let key = sku::normalise(&sku_text);
    let id = account.id.clone();
    let line = state
        .db
        .run(move |conn| store::line_with_explanation(conn, &id, &key).map_err(AppError::from))
        .await?
        .ok_or_else(|| {
            AppError::NotFound("This account's plan has no line for that SKU.".into())
        })?;
    let (line, detail) = line;
    let master = account.is_master();
    Ok(web::Json(ExplainAnswer {
        computed_at: header
            .as_ref()
            .map(|h| crate::services::accounts::utc(h.computed_at)),
        stale,
        row: OrderPlanRow::from_line(&line, master.then_some(detail.accounts.as_str())),
        explanation: serde_json::from_str(&detail.explanation).unwrap_or(Value::Null),
    }))
}

/// The state of an account's plan and its recompute (never waits).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/plan-status", tag = "planning",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = PlanStatus), (status = 404, body = ErrorBody)))]
pub async fn plan_status(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<PlanStatus>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let today = state.config.today;
    let status = state
        .db
        .run(move |conn| {
            let stale = plans::is_stale(conn, &account, today)?;
            let header = store::plan_header(conn, &account.id)?;
            let job = Job::open_for(conn, &account.id, "plan")?;
            Ok::<_, AppError>(PlanStatus {
                computed_at: header
                    .as_ref()
                    .map(|h| crate::services::accounts::utc(h.computed_at)),
                stale,
                planning_date: header.as_ref().map(|h| h.planning_date),
                lines: header.as_ref().map(|h| h.line_count).unwrap_or(0),
                job: job.as_ref().map(JobView::from),
            })
        })
        .await?;
    Ok(web::Json(status))
}

async fn master_of(state: &AppState, caller: &Caller, id: String) -> Result<Account, AppError> {
    let account = visible_account(state, caller, id).await?;
    if !account.is_master() {
        return Err(AppError::Conflict {
            code: "not_a_master",
            message: "Links, conflicts and warehouse settings belong to a master account; use the master's id.".into(),
        });
    }
    Ok(account)
}

/// A link in the API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The master row the variant joins.
    pub sku: String,
    /// The child account.
    pub account_id: String,
    /// The child's variant id.
    pub variant_id: String,
}

/// The master's explicit links.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/links", tag = "roll-up",
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<LinkBody>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get_links(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<LinkBody>>, AppError> {
    let master = master_of(&state, &caller, path.into_inner()).await?;
    let rows = state
        .db
        .run(move |conn| store::links(conn, &master.id).map_err(AppError::from))
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|l| LinkBody {
                sku: l.sku,
                account_id: l.account_id,
                variant_id: l.variant_id,
            })
            .collect(),
    ))
}

async fn children_ids(state: &AppState, master: &Account) -> Result<Vec<String>, AppError> {
    let id = master.id.clone();
    Ok(state
        .db
        .run(move |conn| Account::list_children(conn, &id).map_err(AppError::from))
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect())
}

/// Replaces the master's explicit links.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/links", tag = "roll-up", request_body = Vec<LinkBody>,
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<LinkBody>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_links(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Vec<LinkBody>>,
) -> Result<web::Json<Vec<LinkBody>>, AppError> {
    let master = master_of(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    let kids = children_ids(&state, &master).await?;
    let mut details = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, l) in body.iter().enumerate() {
        if sku::normalise(&l.sku).is_empty() {
            details.push(Detail {
                row: i + 1,
                field: "sku".into(),
                message: "must not be empty".into(),
            });
        }
        if !kids.contains(&l.account_id) {
            details.push(Detail {
                row: i + 1,
                field: "account_id".into(),
                message: "is not a child of this master".into(),
            });
        }
        if !seen.insert((l.account_id.clone(), l.variant_id.clone())) {
            details.push(Detail {
                row: i + 1,
                field: "variant_id".into(),
                message: "is linked twice".into(),
            });
        }
    }
    if !details.is_empty() {
        return Err(AppError::invalid(
            "The links are not valid; nothing was changed.",
            details,
        ));
    }
    let rows: Vec<SkuLink> = body
        .iter()
        .map(|l| SkuLink {
            master_id: master.id.clone(),
            account_id: l.account_id.clone(),
            variant_id: l.variant_id.trim().to_string(),
            sku: l.sku.trim().to_string(),
        })
        .collect();
    let id = master.id.clone();
    state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                store::replace_links(conn, &id, &rows)?;
                Account::bump_data_version(conn, &id)
            })
            .map_err(AppError::from)
        })
        .await?;
    state.jobs.wake();
    Ok(web::Json(body.into_inner()))
}

/// Rows the roll-up could not match safely, each with what to do.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/conflicts", tag = "roll-up",
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<Conflict>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get_conflicts(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<Conflict>>, AppError> {
    let master = master_of(&state, &caller, path.into_inner()).await?;
    let today = plans::planning_date(&master, state.config.today);
    let rows = state
        .db
        .run(move |conn| plans::conflicts(conn, &master, today).map_err(AppError::from))
        .await?;
    Ok(web::Json(rows))
}

/// A per-warehouse include setting in the API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSettingBody {
    /// The child account.
    pub account_id: String,
    /// Its warehouse id.
    pub warehouse_id: String,
    /// Count the warehouse's stock in the master.
    pub include_stock: bool,
    /// Count the warehouse's sales in the master.
    pub include_sales: bool,
}

/// The master's per-warehouse include settings.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/warehouse-settings", tag = "roll-up",
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<WarehouseSettingBody>), (status = 404, body = ErrorBody)))]
pub async fn get_warehouse_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<WarehouseSettingBody>>, AppError> {
    let master = master_of(&state, &caller, path.into_inner()).await?;
    let rows = state
        .db
        .run(move |conn| store::warehouse_settings(conn, &master.id).map_err(AppError::from))
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| WarehouseSettingBody {
                account_id: r.account_id,
                warehouse_id: r.warehouse_id,
                include_stock: r.include_stock,
                include_sales: r.include_sales,
            })
            .collect(),
    ))
}

/// Replaces the master's per-warehouse include settings.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/warehouse-settings", tag = "roll-up",
    request_body = Vec<WarehouseSettingBody>,
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<WarehouseSettingBody>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_warehouse_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Vec<WarehouseSettingBody>>,
) -> Result<web::Json<Vec<WarehouseSettingBody>>, AppError> {
    let master = master_of(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    let kids = children_ids(&state, &master).await?;
    let mut details = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in body.iter().enumerate() {
        if !kids.contains(&s.account_id) {
            details.push(Detail {
                row: i + 1,
                field: "account_id".into(),
                message: "is not a child of this master".into(),
            });
        }
        if s.warehouse_id.trim().is_empty() {
            details.push(Detail {
                row: i + 1,
                field: "warehouse_id".into(),
                message: "must not be empty".into(),
            });
        }
        if !seen.insert((s.account_id.clone(), s.warehouse_id.clone())) {
            details.push(Detail {
                row: i + 1,
                field: "warehouse_id".into(),
                message: "is listed twice".into(),
            });
        }
    }
    if !details.is_empty() {
        return Err(AppError::invalid(
            "The warehouse settings are not valid; nothing was changed.",
            details,
        ));
    }
    let rows: Vec<WarehouseSetting> = body
        .iter()
        .map(|s| WarehouseSetting {
            master_id: master.id.clone(),
            account_id: s.account_id.clone(),
            warehouse_id: s.warehouse_id.trim().to_string(),
            include_stock: s.include_stock,
            include_sales: s.include_sales,
        })
        .collect();
    let id = master.id.clone();
    state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                store::replace_warehouse_settings(conn, &id, &rows)?;
                Account::bump_data_version(conn, &id)
            })
            .map_err(AppError::from)
        })
        .await?;
    state.jobs.wake();
    Ok(web::Json(body.into_inner()))
}

/// An exchange rate in the API: 1 `from` = `rate` `to`, from `date` on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// First day the rate holds.
    pub date: NaiveDate,
    /// From currency.
    pub from: String,
    /// To currency.
    pub to: String,
    /// Rate (more than 0).
    #[schema(value_type = f64)]
    pub rate: rust_decimal::Decimal,
}

/// The organisation's exchange rates.
#[utoipa::path(get, path = "/api/v1/exchange-rates", tag = "roll-up",
    responses((status = 200, body = Vec<RateBody>)))]
pub async fn get_rates(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<RateBody>>, AppError> {
    let org = caller.organisation_id.clone();
    let rows = state
        .db
        .run(move |conn| store::exchange_rates(conn, &org).map_err(AppError::from))
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| RateBody {
                date: r.day,
                from: r.from_currency,
                to: r.to_currency,
                rate: rust_decimal::Decimal::from_f64_retain(r.rate).unwrap_or_default(),
            })
            .collect(),
    ))
}

/// Adds or replaces exchange rates (by pair and date).
#[utoipa::path(put, path = "/api/v1/exchange-rates", tag = "roll-up", request_body = Vec<RateBody>,
    responses((status = 200, body = Vec<RateBody>), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_rates(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Vec<RateBody>>,
) -> Result<web::Json<Vec<RateBody>>, AppError> {
    caller.require_organisation_wide()?;
    let mut details = Vec::new();
    let mut rows = Vec::new();
    for (i, r) in body.iter().enumerate() {
        let from = crate::services::accounts::parse_currency("from", &r.from);
        let to = crate::services::accounts::parse_currency("to", &r.to);
        let rate: f64 = r.rate.try_into().unwrap_or(0.0);
        if from.is_err() {
            details.push(Detail {
                row: i + 1,
                field: "from".into(),
                message: "must be a 3-letter ISO 4217 code".into(),
            });
        }
        if to.is_err() {
            details.push(Detail {
                row: i + 1,
                field: "to".into(),
                message: "must be a 3-letter ISO 4217 code".into(),
            });
        }
        if !(rate > 0.0 && rate < 1e9) {
            details.push(Detail {
                row: i + 1,
                field: "rate".into(),
                message: "must be more than 0 and less than 10^9".into(),
            });
        }
        if let (Ok(from), Ok(to)) = (from, to) {
            rows.push(ExchangeRate {
                organisation_id: caller.organisation_id.clone(),
                day: r.date,
                from_currency: from,
                to_currency: to,
                rate,
            });
        }
    }
    if !details.is_empty() {
        return Err(AppError::invalid(
            "The exchange rates are not valid; nothing was changed.",
            details,
        ));
    }
    let org = caller.organisation_id.clone();
    state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                store::upsert_rates(conn, &rows)?;
                Account::bump_masters(conn, &org)
            })
            .map_err(AppError::from)
        })
        .await?;
    state.jobs.wake();
    Ok(web::Json(body.into_inner()))
}

/// One job: status, progress, per-account status.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<JobView>, AppError> {
    let id = path.into_inner();
    let job = state
        .db
        .run(move |conn| Job::find(conn, &id).map_err(AppError::from))
        .await?
        .filter(|j| j.organisation_id == caller.organisation_id && caller.can_see(&j.account_id))
        .ok_or_else(|| AppError::not_found("job"))?;
    Ok(web::Json(JobView::from(&job)))
}
