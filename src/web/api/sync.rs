//! Syncing connections (`api.md`, "Sync"): `POST /accounts/{id}/sync`
//! queues the sync of a child's connection, or on a master loads data from
//! all connections; progress and per-account status come from
//! `GET /jobs/{id}`. `GET/PUT /sync-schedule` is the organisation's
//! automatic sync (off by default).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::auth::Caller;
use crate::services::sync;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Declares the sync routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/sync", web::post().to(start))
        .route("/sync-schedule", web::get().to(get_schedule))
        .route("/sync-schedule", web::put().to(put_schedule));
}

/// The sync part of the API description.
#[derive(OpenApi)]
#[openapi(
    paths(start, get_schedule, put_schedule),
    components(schemas(SyncStarted, Schedule))
)]
pub struct SyncDoc;

/// The answer to a sync request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncStarted {
    /// The job to follow at `GET /api/v1/jobs/{job_id}`.
    pub job_id: String,
}

/// The organisation's automatic sync.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Minutes between automatic loads of all connections (5 to 10080);
    /// null: off.
    pub interval_minutes: Option<i32>,
}

/// Syncs a child's connection, or on a master loads data from all
/// connections. A second request while one runs gets the same job.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/sync", tag = "sync",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 202, body = SyncStarted), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require_write()?;
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let job_id = state
        .db
        .run(move |conn| sync::enqueue(conn, &account).map_err(AppError::from))
        .await?;
    state.jobs.wake();
    Ok(HttpResponse::Accepted().json(SyncStarted { job_id }))
}

/// The organisation's automatic sync interval.
#[utoipa::path(get, path = "/api/v1/sync-schedule", tag = "sync",
    responses((status = 200, body = Schedule)))]
pub async fn get_schedule(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Schedule>, AppError> {
    let org = caller.organisation_id.clone();
    let interval_minutes = state
        .db
        .run(move |conn| sync::schedule(conn, &org).map_err(AppError::from))
        .await?;
    Ok(web::Json(Schedule { interval_minutes }))
}

/// Sets or turns off the automatic sync (admins).
#[utoipa::path(put, path = "/api/v1/sync-schedule", tag = "sync", request_body = Schedule,
    responses((status = 200, body = Schedule), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_schedule(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Schedule>,
) -> Result<web::Json<Schedule>, AppError> {
    caller.require_organisation_wide()?;
    let org = caller.organisation_id.clone();
    let minutes = body.interval_minutes;
    state
        .db
        .run(move |conn| sync::set_schedule(conn, &org, minutes).map_err(AppError::from))
        .await?;
    state.jobs.wake();
    Ok(web::Json(body.into_inner()))
}
