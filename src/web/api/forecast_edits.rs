//! Forecast edits (`api.md`, "Forecast edits"): `GET/PUT
//! /api/v1/accounts/{id}/forecast-edits`, `DELETE .../forecast-edits/{edit_id}`,
//! `GET .../forecast-edits/history` and `GET .../forecast-edits/conflicts`
//! (the plan lines where two group edits meet). The use cases are
//! `services::forecast_edits`.

use actix_web::{web, HttpResponse};
use serde_json::Value;
use utoipa::OpenApi;

use crate::auth::Caller;
use crate::services::forecast_edits::{self, ConflictView, EditChangeView, EditView};
use crate::services::plans::planning_date;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Declares the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/forecast-edits", web::get().to(list))
        .route("/accounts/{id}/forecast-edits", web::put().to(put))
        .route(
            "/accounts/{id}/forecast-edits/history",
            web::get().to(history),
        )
        .route(
            "/accounts/{id}/forecast-edits/conflicts",
            web::get().to(conflicts),
        )
        .route(
            "/accounts/{id}/forecast-edits/{edit_id}",
            web::delete().to(delete),
        );
}

/// The forecast-edit part of the API description (merged into the document).
#[derive(OpenApi)]
#[openapi(
    paths(list, put, delete, history, conflicts),
    components(schemas(EditView, EditChangeView, ConflictView))
)]
pub struct ForecastEditsDoc;

/// The account's forecast edits in force (those whose month has not ended).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/forecast-edits", tag = "forecast edits",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<EditView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<EditView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let today = planning_date(&account, state.config.today);
    let rows = state
        .db
        .run(move |conn| forecast_edits::list(conn, &account, today))
        .await?;
    Ok(web::Json(rows))
}

/// Upserts a list of edits by (target, month): `[{"target": {"sku"} |
/// {"category"} | {"vendor_id"} | {"brand"} | {"tag"}, "month": "YYYY-MM",
/// "kind": "quantity" | "percent" | "no_demand", "value", "note"}]`; every
/// problem is named by row and field and nothing is written when any is
/// found. Answers the stored edits in the order sent.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/forecast-edits", tag = "forecast edits",
    request_body = Vec<Object>,
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<EditView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Vec<Value>>,
) -> Result<web::Json<Vec<EditView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    let today = planning_date(&account, state.config.today);
    let st = state.clone();
    let by = caller.email.clone();
    let rows = state
        .db
        .run(move |conn| forecast_edits::put(conn, &account, &by, &body, today, &st.jobs))
        .await?;
    Ok(web::Json(rows))
}

/// Deletes one edit (it stays in the history).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/forecast-edits/{edit_id}", tag = "forecast edits",
    params(("id" = String, Path, description = "Account id"), ("edit_id" = String, Path, description = "Edit id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, edit_id) = path.into_inner();
    let account = visible_account(&state, &caller, id).await?;
    caller.require_write()?;
    let st = state.clone();
    let by = caller.email.clone();
    state
        .db
        .run(move |conn| forecast_edits::delete(conn, &account, &by, &edit_id, &st.jobs))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every change of the account's edits, newest first, with who and when
/// (expired and deleted edits included).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/forecast-edits/history", tag = "forecast edits",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<EditChangeView>), (status = 404, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<EditChangeView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let rows = state
        .db
        .run(move |conn| forecast_edits::history(conn, &account))
        .await?;
    Ok(web::Json(rows))
}

/// The plan lines where two group edits meet in one month: neither is
/// applied until a SKU edit decides or one of them goes (the fresh plan,
/// waited for as the order plan is).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/forecast-edits/conflicts", tag = "forecast edits",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<ConflictView>), (status = 404, body = ErrorBody)))]
pub async fn conflicts(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<ConflictView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let rows =
        forecast_edits::conflicts(&state.db, &state.jobs, &account, state.config.today).await?;
    Ok(web::Json(rows))
}
