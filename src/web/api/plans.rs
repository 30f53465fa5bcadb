//! Planning reads and the master's roll-up settings (`api.md`, "Planning
//! reads" and "Master roll-up settings"): the order plan (paged, filtered,
//! sorted in the database, or as CSV), one line's explanation, links,
//! conflicts, per-warehouse flags, exchange rates, and jobs.
//!
//! A read of an out-of-date plan queues its recompute and waits for it up to
//! [`order_plan::PLAN_WAIT`]; past that it answers the last stored plan with
//! `"stale": true`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Caller;
use crate::db::models::planning::PlanLineRow;
use crate::db::models::Account;
use crate::db::DbConn;
use crate::jobs::{Job, Signal};
use crate::planning::line::Flag;
use crate::services::accounts::utc;
use crate::services::order_plan::{self, Extras, Freshness, PlanParams};
use crate::services::plan_settings::{
    self, LinkBody, RateBody, SkuSettingBody, SkuSettingView, WarehouseSettingBody,
};
use crate::services::plans::{self, ChildFigures, Conflict};
use crate::services::ServiceError;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

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
        .route(
            "/accounts/{id}/sku-settings",
            web::get().to(get_sku_settings),
        )
        .route(
            "/accounts/{id}/sku-settings",
            web::put().to(put_sku_settings),
        )
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
        get_sku_settings,
        put_sku_settings,
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
        SkuSettingBody,
        SkuSettingView,
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
    /// What to confirm before ordering (`long_stockout`, `no_recent_sales`,
    /// `late_open_order`).
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// On a master: every child's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub accounts: Option<Vec<ChildFigures>>,
}

impl OrderPlanRow {
    fn from_line(l: &PlanLineRow, accounts: Option<Vec<ChildFigures>>) -> OrderPlanRow {
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
            flags: serde_json::from_str(&l.flags).unwrap_or_default(),
            accounts,
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
    /// Only rows with this flag (`long_stockout`, `no_recent_sales`,
    /// `late_open_order`).
    pub flag: Option<String>,
    /// `csv` for every matching row as CSV.
    pub format: Option<String>,
}

impl PlanQuery {
    fn params(&self) -> PlanParams {
        PlanParams {
            page: self.page,
            per_page: self.per_page,
            sort: self.sort.clone(),
            order: self.order.clone(),
            q: self.q.clone(),
            vendor: self.vendor.clone(),
            category: self.category.clone(),
            brand: self.brand.clone(),
            tag: self.tag.clone(),
            urgency: self.urgency.clone(),
            flag: self.flag.clone(),
        }
    }
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
    /// What it does.
    pub kind: crate::jobs::JobKind,
    /// Where it is.
    pub status: crate::jobs::JobStatus,
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
            kind: j.kind,
            status: j.status,
            progress: serde_json::json!({"done": j.progress_done, "total": j.progress_total}),
            accounts: serde_json::from_str(&j.detail).unwrap_or(Value::Array(vec![])),
            error: j.error.clone(),
            started_at: j.started_at.map(utc),
            finished_at: j.finished_at.map(utc),
        }
    }
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

/// Every matching row as a CSV download.
pub fn csv_response(rows: &[PlanLineRow]) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"order-plan.csv\"",
        ))
        .body(csv_of(rows)?))
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
    let req = query.params().checked()?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::invalid_field("format", "must be json or csv")),
    };
    let today = state.config.today;
    if csv {
        let read = order_plan::read_page(
            &state.db,
            &state.jobs,
            &account,
            today,
            req.all(),
            Extras::Rows,
        )
        .await?;
        return csv_response(&read.rows);
    }
    let (page, per_page) = (req.page, req.per_page);
    let read = order_plan::read_page(
        &state.db,
        &state.jobs,
        &account,
        today,
        req,
        Extras::Accounts,
    )
    .await?;
    let mut accounts = read.accounts.map(Vec::into_iter);
    Ok(HttpResponse::Ok().json(OrderPlanPage {
        total: read.total,
        page,
        per_page,
        computed_at: computed_at(&read.freshness),
        stale: read.freshness.stale,
        rows: read
            .rows
            .iter()
            .map(|l| OrderPlanRow::from_line(l, accounts.as_mut().and_then(Iterator::next)))
            .collect(),
    }))
}

fn computed_at(f: &Freshness) -> Option<DateTime<Utc>> {
    f.header.as_ref().map(|h| utc(h.computed_at))
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
    let (freshness, line, detail) = order_plan::read_line(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &sku_text,
    )
    .await?;
    let accounts = account
        .is_master()
        .then(|| order_plan::child_figures(&detail.accounts));
    Ok(web::Json(ExplainAnswer {
        computed_at: computed_at(&freshness),
        stale: freshness.stale,
        row: OrderPlanRow::from_line(&line, accounts),
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
    let s = state
        .db
        .read(move |conn| order_plan::state(conn, &account, today))
        .await?;
    Ok(web::Json(PlanStatus {
        computed_at: s.header.as_ref().map(|h| utc(h.computed_at)),
        stale: s.stale,
        planning_date: s.header.as_ref().map(|h| h.planning_date),
        lines: s.header.as_ref().map(|h| h.line_count).unwrap_or(0),
        job: s.job.as_ref().map(JobView::from),
    }))
}

async fn master_of(state: &AppState, caller: &Caller, id: String) -> Result<Account, AppError> {
    let account = visible_account(state, caller, id).await?;
    plan_settings::require_master(&account)?;
    Ok(account)
}

/// Reads one of a master's settings with `read`.
async fn read_setting<T: Send + 'static>(
    state: &AppState,
    caller: &Caller,
    id: String,
    read: fn(&mut DbConn, &Account) -> Result<Vec<T>, ServiceError>,
) -> Result<web::Json<Vec<T>>, AppError> {
    let master = master_of(state, caller, id).await?;
    let rows = state.db.read(move |conn| read(conn, &master)).await?;
    Ok(web::Json(rows))
}

/// Replaces one of a master's settings with `write` (which validates,
/// writes and wakes the worker); answers what was sent.
async fn write_setting<T: Send + 'static>(
    state: &web::Data<AppState>,
    caller: &Caller,
    id: String,
    body: Vec<T>,
    write: fn(&mut DbConn, &Account, &[T], &Signal) -> Result<(), ServiceError>,
) -> Result<web::Json<Vec<T>>, AppError> {
    let master = master_of(state, caller, id).await?;
    caller.require_write()?;
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            write(conn, &master, &body, &st.jobs)?;
            Ok::<_, AppError>(web::Json(body))
        })
        .await
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
    read_setting(&state, &caller, path.into_inner(), plan_settings::links).await
}

/// Replaces the master's explicit links.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/links", tag = "roll-up", request_body = Vec<LinkBody>,
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<LinkBody>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_links(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Vec<LinkBody>>,
) -> Result<web::Json<Vec<LinkBody>>, AppError> {
    let body = body.into_inner();
    write_setting(
        &state,
        &caller,
        path.into_inner(),
        body,
        plan_settings::replace_links,
    )
    .await
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
        .read(move |conn| plans::conflicts(conn, &master, today))
        .await?;
    Ok(web::Json(rows))
}

/// The master's per-warehouse include settings.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/warehouse-settings", tag = "roll-up",
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<WarehouseSettingBody>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn get_warehouse_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<WarehouseSettingBody>>, AppError> {
    let read = plan_settings::warehouse_settings;
    read_setting(&state, &caller, path.into_inner(), read).await
}

/// Replaces the master's per-warehouse include settings.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/warehouse-settings", tag = "roll-up",
    request_body = Vec<WarehouseSettingBody>,
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<WarehouseSettingBody>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_warehouse_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Vec<WarehouseSettingBody>>,
) -> Result<web::Json<Vec<WarehouseSettingBody>>, AppError> {
    let write = plan_settings::replace_warehouse_settings;
    write_setting(&state, &caller, path.into_inner(), body.into_inner(), write).await
}

/// An account's marks on SKUs (not for reorder, with a note).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/sku-settings", tag = "planning",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<SkuSettingView>), (status = 404, body = ErrorBody)))]
pub async fn get_sku_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<SkuSettingView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let rows = state
        .db
        .read(move |conn| plan_settings::sku_settings(conn, &account))
        .await?;
    Ok(web::Json(rows))
}

/// Sets marks on SKUs of an account's plan: a SKU marked not for reorder
/// keeps its line (stock and demand still count) with an order quantity of
/// 0 and the flag `not_for_reorder`; `false` clears the mark. Answers every
/// mark of the account.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/sku-settings", tag = "planning",
    request_body = Vec<SkuSettingBody>,
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<SkuSettingView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_sku_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Vec<SkuSettingBody>>,
) -> Result<web::Json<Vec<SkuSettingView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    let st = state.clone();
    let by = caller.email.clone();
    let body = body.into_inner();
    let rows = state
        .db
        .run(move |conn| plan_settings::put_sku_settings(conn, &account, &by, &body, &st.jobs))
        .await?;
    Ok(web::Json(rows))
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
        .read(move |conn| plan_settings::rates(conn, &org))
        .await?;
    Ok(web::Json(rows))
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
    let org = caller.organisation_id.clone();
    let st = state.clone();
    let body = body.into_inner();
    state
        .db
        .run(move |conn| {
            plan_settings::upsert_rates(conn, &org, &body, &st.jobs)?;
            Ok::<_, AppError>(web::Json(body))
        })
        .await
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
        .read(move |conn| Job::find(conn, &id).map_err(AppError::from))
        .await?
        .filter(|j| j.organisation_id == caller.organisation_id && caller.can_see(&j.account_id))
        .ok_or_else(|| AppError::not_found("job"))?;
    Ok(web::Json(JobView::from(&job)))
}
