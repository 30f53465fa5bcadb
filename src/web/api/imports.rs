//! Imports into a child account: a JSON batch upsert and a CSV upload per
//! entity, and the import log. Bodies are read with the configured limit
//! (413 past it, without reading the rest); CSV bodies are spooled to a
//! temporary file and parsed from it as a stream.

use std::io::Write;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::StreamExt;

use crate::auth::Caller;
use crate::db::models::import_run::ImportRun;
use crate::db::models::Account;
use crate::import::Entity;
use crate::services::imports::{self, Body, ImportAnswer, ImportView};
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

fn too_large(limit: u64) -> AppError {
    AppError::TooLarge(format!(
        "The upload is larger than this server accepts ({limit} bytes, MAX_UPLOAD_BYTES). Split the file or raise the limit."
    ))
}

/// Refuses a body whose declared length is over the limit, before reading it.
pub fn check_declared_length(req: &HttpRequest, limit: u64) -> Result<(), AppError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Streams a body into memory, failing with 413 past `limit`.
pub async fn read_limited(mut payload: web::Payload, limit: u64) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest {
            code: "body_unreadable",
            message: format!("The request body could not be read: {e}."),
        })?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Streams a body (or a stream of chunks) into an anonymous temporary file,
/// failing with 413 past `limit`.
pub async fn spool<S, E>(mut stream: S, limit: u64) -> Result<std::fs::File, AppError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let file = tempfile::tempfile().map_err(AppError::internal)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest {
            code: "body_unreadable",
            message: format!("The request body could not be read: {e}."),
        })?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        writer.write_all(&chunk).map_err(AppError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::internal(e.error()))
}

/// Reads a CSV upload: the raw body, or the `file` field of a multipart form.
pub async fn csv_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: u64,
) -> Result<std::fs::File, AppError> {
    check_declared_length(req, limit)?;
    let is_multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        return spool(payload, limit).await;
    }
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| AppError::BadRequest {
            code: "malformed_body",
            message: format!("The form could not be read: {e}."),
        })?;
        if field.name() == Some("file") {
            return spool(field, limit).await;
        }
    }
    Err(AppError::invalid_field(
        "file",
        "the form has no `file` field with the CSV file",
    ))
}

async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    account: Account,
    entity: Entity,
    body: Body,
    started_at: chrono::DateTime<Utc>,
) -> Result<HttpResponse, AppError> {
    let email = caller.email.clone();
    let answer: ImportAnswer = state
        .db
        .run(move |conn| imports::run(conn, &account, &email, entity, body, started_at))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The account an import may go to: visible, writable by the caller, a child.
async fn precheck(
    state: &AppState,
    caller: &Caller,
    account_id: String,
) -> Result<Account, AppError> {
    let account = visible_account(state, caller, account_id).await?;
    caller.require_write()?;
    imports::require_child(&account)?;
    Ok(account)
}

/// JSON batch upsert of one entity (`PUT /api/v1/accounts/{id}/<entity>`).
pub async fn put_json(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    entity: Entity,
) -> Result<HttpResponse, AppError> {
    let started_at = Utc::now();
    let account = precheck(&state, &caller, path.into_inner()).await?;
    let limit = state.config.max_upload_bytes;
    check_declared_length(&req, limit)?;
    let bytes = read_limited(payload, limit).await?;
    import(
        state,
        caller,
        account,
        entity,
        Body::Json(bytes),
        started_at,
    )
    .await
}

/// CSV upload of one entity (`POST /api/v1/accounts/{id}/imports/<entity>`).
pub async fn post_csv(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    entity: Entity,
) -> Result<HttpResponse, AppError> {
    let started_at = Utc::now();
    let account = precheck(&state, &caller, path.into_inner()).await?;
    let file = csv_body(&req, payload, state.config.max_upload_bytes).await?;
    import(state, caller, account, entity, Body::Csv(file), started_at).await
}

/// The account's imports, newest first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/imports", tag = "imports",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = Vec<ImportView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<ImportView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let runs = state
        .db
        .run(move |conn| ImportRun::list_by_account(conn, &account.id, 500).map_err(AppError::from))
        .await?;
    Ok(web::Json(runs.iter().map(ImportView::from).collect()))
}

macro_rules! entity_routes {
    ($( $entity:expr, $json_fn:ident, $csv_fn:ident, $json_path:literal, $csv_path:literal, $name:literal );* $(;)?) => {
        $(
            #[doc = concat!("JSON batch upsert of ", $name, ": a JSON array of records; all-or-nothing.")]
            #[utoipa::path(put, path = $json_path, tag = "imports",
                params(("id" = String, Path, description = "Child account id")),
                request_body(content = Vec<Object>, content_type = "application/json"),
                responses((status = 200, body = ImportAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
                    (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
            pub async fn $json_fn(state: web::Data<AppState>, caller: Caller, req: HttpRequest, path: web::Path<String>, payload: web::Payload) -> Result<HttpResponse, AppError> {
                put_json(state, caller, req, path, payload, $entity).await
            }

            #[doc = concat!("CSV upload of ", $name, ": the raw body (`text/csv`) or the `file` field of a multipart form; all-or-nothing.")]
            #[utoipa::path(post, path = $csv_path, tag = "imports",
                params(("id" = String, Path, description = "Child account id")),
                request_body(content = String, content_type = "text/csv"),
                responses((status = 200, body = ImportAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
                    (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
            pub async fn $csv_fn(state: web::Data<AppState>, caller: Caller, req: HttpRequest, path: web::Path<String>, payload: web::Payload) -> Result<HttpResponse, AppError> {
                post_csv(state, caller, req, path, payload, $entity).await
            }
        )*

        /// Declares the import routes.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            cfg.route("/accounts/{id}/imports", web::get().to(list));
            $(
                cfg.route(&$json_path["/api/v1".len()..], web::put().to($json_fn));
                cfg.route(&$csv_path["/api/v1".len()..], web::post().to($csv_fn));
            )*
        }
    };
}

entity_routes! {
    Entity::Warehouses, put_warehouses, post_warehouses, "/api/v1/accounts/{id}/warehouses", "/api/v1/accounts/{id}/imports/warehouses", "warehouses";
    Entity::Vendors, put_vendors, post_vendors, "/api/v1/accounts/{id}/vendors", "/api/v1/accounts/{id}/imports/vendors", "vendors";
    Entity::Variants, put_variants, post_variants, "/api/v1/accounts/{id}/variants", "/api/v1/accounts/{id}/imports/variants", "variants";
    Entity::Stock, put_stock, post_stock, "/api/v1/accounts/{id}/stock", "/api/v1/accounts/{id}/imports/stock", "stock levels";
    Entity::SalesOrders, put_sales_orders, post_sales_orders, "/api/v1/accounts/{id}/sales-orders", "/api/v1/accounts/{id}/imports/sales-orders", "sales orders";
    Entity::StockOrders, put_stock_orders, post_stock_orders, "/api/v1/accounts/{id}/stock-orders", "/api/v1/accounts/{id}/imports/stock-orders", "stock orders";
}
