//! The supply plan (`api.md`, "Supply plan (time-phased)"): one SKU's weeks,
//! every SKU's planned orders by week (paged, filtered like the order plan,
//! or as CSV), and the merchant's quantity for a week. The numbers come from
//! `services::supply`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Caller;
use crate::planning::supply::{PlannedOrder, Source, Week};
use crate::services::accounts::utc;
use crate::services::order_plan::{Freshness, PlanParams};
use crate::services::supply::{self, MAX_QUANTITY};
use crate::state::AppState;
use crate::web::api::demand::decode_segment;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Declares the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/supply-plan", web::get().to(list))
        .route("/accounts/{id}/supply-plan/{sku}", web::get().to(get_sku))
        .route(
            "/accounts/{id}/supply-plan/{sku}/weeks/{first_day}",
            web::put().to(put_week),
        )
        .route(
            "/accounts/{id}/supply-plan/{sku}/weeks/{first_day}",
            web::delete().to(delete_week),
        );
}

/// The supply-plan part of the API description (merged into the document).
#[derive(OpenApi)]
#[openapi(
    paths(list, get_sku, put_week, delete_week),
    components(schemas(
        SupplyPlan,
        SupplyPage,
        SupplyRow,
        Week,
        PlannedOrder,
        Source,
        WeekBody
    ))
)]
pub struct SupplyDoc;

/// One SKU's supply plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplyPlan {
    /// The SKU as stored.
    pub sku: String,
    /// When the plan it comes from was computed.
    pub computed_at: Option<DateTime<Utc>>,
    /// Whether that plan is older than the data.
    pub stale: bool,
    /// The weeks, from the planning date.
    pub weeks: Vec<Week>,
}

/// A page of every SKU's planned orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplyPage {
    /// Matching rows in all.
    pub total: i64,
    /// Page, from 1.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// When the plan was computed.
    pub computed_at: Option<DateTime<Utc>>,
    /// Whether it is older than the data.
    pub stale: bool,
    /// Each week's first day.
    pub weeks: Vec<NaiveDate>,
    /// The rows.
    pub rows: Vec<SupplyRow>,
}

/// One SKU's planned order quantities.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplyRow {
    /// SKU.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Vendor.
    pub vendor: String,
    /// Planned order quantity per week (0: none), in the order of `weeks`.
    pub planned_orders: Vec<f64>,
}

/// A week's quantity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WeekBody {
    /// Units to order in the week (0: none); replaces the recommendation.
    pub quantity: f64,
}

/// Query of one SKU's supply plan.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SkuQuery {
    /// Weeks (default 26, at most 104).
    pub weeks: Option<i64>,
}

/// Query of the supply-plan list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Weeks (default 26, at most 104).
    pub weeks: Option<i64>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Rows per page (default 50, at most 1,000).
    pub per_page: Option<i64>,
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
    /// `csv` for every matching row as CSV.
    pub format: Option<String>,
}

fn computed_at(f: &Freshness) -> Option<DateTime<Utc>> {
    f.header.as_ref().map(|h| utc(h.computed_at))
}

/// Every SKU's planned order quantities by week, in the order plan's order.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/supply-plan", tag = "planning",
    params(("id" = String, Path, description = "Account id"), ListQuery),
    responses((status = 200, body = SupplyPage, description = "A page of rows; CSV with format=csv"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let q = query.into_inner();
    let weeks = supply::weeks_param(q.weeks)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::invalid_field("format", "must be json or csv")),
    };
    let req = PlanParams {
        page: q.page,
        per_page: q.per_page,
        q: q.q,
        vendor: q.vendor,
        category: q.category,
        brand: q.brand,
        tag: q.tag,
        ..PlanParams::default()
    }
    .checked()?;
    let req = if csv { req.all() } else { req };
    let (page, per_page) = (req.page, req.per_page);
    let read = supply::page(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        req,
        weeks,
    )
    .await?;
    if csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut head = vec!["sku".to_string(), "title".into(), "vendor".into()];
        head.extend(read.weeks.iter().map(|d| d.to_string()));
        w.write_record(&head).map_err(AppError::internal)?;
        for (l, q) in &read.rows {
            let mut rec = vec![l.sku.clone(), l.title.clone(), l.vendor.clone()];
            rec.extend(q.iter().map(|v| v.to_string()));
            w.write_record(&rec).map_err(AppError::internal)?;
        }
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"supply-plan.csv\"",
            ))
            .body(w.into_inner().map_err(AppError::internal)?));
    }
    Ok(HttpResponse::Ok().json(SupplyPage {
        total: read.total,
        page,
        per_page,
        computed_at: computed_at(&read.freshness),
        stale: read.freshness.stale,
        weeks: read.weeks,
        rows: read
            .rows
            .into_iter()
            .map(|(l, q)| SupplyRow {
                sku: l.sku,
                title: l.title,
                vendor: l.vendor,
                planned_orders: q,
            })
            .collect(),
    }))
}

/// One SKU's supply plan, week by week (SKU matched after normalisation).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/supply-plan/{sku}", tag = "planning",
    params(("id" = String, Path, description = "Account id"), ("sku" = String, Path, description = "SKU, percent-encoded"), SkuQuery),
    responses((status = 200, body = SupplyPlan), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_sku(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<SkuQuery>,
) -> Result<web::Json<SupplyPlan>, AppError> {
    let (id, sku_text) = path.into_inner();
    let account = visible_account(&state, &caller, id).await?;
    let weeks = supply::weeks_param(query.weeks)?;
    let read = supply::line(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &decode_segment(&sku_text),
        weeks,
    )
    .await?;
    Ok(web::Json(SupplyPlan {
        sku: read.line.sku,
        computed_at: computed_at(&read.freshness),
        stale: read.freshness.stale,
        weeks: read.weeks,
    }))
}

/// Reads `{"quantity"}`, naming the field at fault.
fn week_body(body: &[u8]) -> Result<f64, AppError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| AppError::BadRequest {
        code: "malformed_json",
        message: "The body is not valid JSON.".into(),
    })?;
    let Value::Object(map) = v else {
        return Err(AppError::invalid_field(
            "quantity",
            "the body must be an object with a `quantity`",
        ));
    };
    if let Some(k) = map.keys().find(|k| *k != "quantity") {
        return Err(AppError::invalid_field(k, "unknown field"));
    }
    match map.get("quantity") {
        None => Err(AppError::invalid_field("quantity", "is required")),
        Some(q) => q.as_f64().ok_or_else(|| {
            AppError::invalid_field(
                "quantity",
                format!("must be a number from 0 to {MAX_QUANTITY}"),
            )
        }),
    }
}

/// Sets a week's planned order quantity: it replaces the recommendation
/// until deleted. `first_day` must be a week's first day (the planning date
/// plus a multiple of 7 days).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/supply-plan/{sku}/weeks/{first_day}", tag = "planning",
    request_body = WeekBody,
    params(("id" = String, Path, description = "Account id"), ("sku" = String, Path, description = "SKU, percent-encoded"),
        ("first_day" = String, Path, description = "The week's first day, YYYY-MM-DD")),
    responses((status = 200, body = WeekBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_week(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<web::Json<WeekBody>, AppError> {
    let (id, sku_text, first_day) = path.into_inner();
    let account = visible_account(&state, &caller, id).await?;
    caller.require_write()?;
    let quantity = week_body(&body)?;
    supply::set_week(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &decode_segment(&sku_text),
        &first_day,
        Some(quantity),
    )
    .await?;
    Ok(web::Json(WeekBody { quantity }))
}

/// Clears a week's quantity: the recommendation applies again.
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/supply-plan/{sku}/weeks/{first_day}", tag = "planning",
    params(("id" = String, Path, description = "Account id"), ("sku" = String, Path, description = "SKU, percent-encoded"),
        ("first_day" = String, Path, description = "The week's first day, YYYY-MM-DD")),
    responses((status = 204, description = "Cleared"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_week(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, sku_text, first_day) = path.into_inner();
    let account = visible_account(&state, &caller, id).await?;
    caller.require_write()?;
    supply::set_week(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        &decode_segment(&sku_text),
        &first_day,
        None,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
