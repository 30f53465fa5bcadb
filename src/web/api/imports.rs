//! Imports into a child account: a JSON batch upsert and a CSV upload per
//! entity, and the import log. The account and the caller's permission are
//! checked before any of the body is read; then the import waits for one of
//! its organisation's `MAX_CONCURRENT_IMPORTS_PER_ORGANISATION` slots and
//! one of the server's `MAX_CONCURRENT_IMPORTS` (up to `IMPORT_WAIT_SECONDS`
//! in all, then 429 with `Retry-After`), so one tenant's imports cannot take
//! every slot. Bodies of both formats are spooled to a temporary file
//! with the configured limit (413 past it, without reading the rest) and
//! parsed from it as a stream. Every import is logged, whatever stopped it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::Caller;
use crate::db::models::import_run::ImportRun;
use crate::db::models::Account;
use crate::import::Entity;
use crate::services::imports::{self, Body, ImportAnswer, ImportView};
use crate::services::{Detail, ServiceError};
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

/// The import slots of each database: at most `MAX_CONCURRENT_IMPORTS`
/// imports run at once against one database, from the first byte of the
/// body to the answer, and at most `MAX_CONCURRENT_IMPORTS_PER_ORGANISATION`
/// of them for one organisation. Keyed by the database URL, so servers
/// sharing a process (the tests) keep their own. Returns the server's
/// semaphore and the organisation's (both first come, first served).
fn gates(state: &AppState, organisation: &str) -> (Arc<Semaphore>, Arc<Semaphore>) {
    /// Keyed by database URL and organisation (`""`: the server's).
    type Gates = HashMap<(String, String), Arc<Semaphore>>;
    static GATES: OnceLock<Mutex<Gates>> = OnceLock::new();
    let mut gates = GATES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let all = state
        .config
        .max_concurrent_imports
        .clamp(1, Semaphore::MAX_PERMITS);
    let url = &state.config.database_url;
    let mut gate = |org: &str, permits: usize| {
        Arc::clone(
            gates
                .entry((url.clone(), org.to_string()))
                .or_insert_with(|| Arc::new(Semaphore::new(permits))),
        )
    };
    let server = gate("", all);
    let mine = gate(
        organisation,
        state
            .config
            .max_concurrent_imports_per_organisation
            .clamp(1, all),
    );
    (server, mine)
}

/// The problems an import refused or failed outside the service is logged
/// with.
fn problems_of(err: &AppError) -> Vec<Detail> {
    match err {
        AppError::Internal(_) => vec![Detail::field("body", imports::FAILED_ON_THE_SERVER)],
        AppError::Invalid { details, .. } if !details.is_empty() => details.clone(),
        other => vec![Detail::field("body", other.to_string())],
    }
}

/// An import that passed the account and permission checks and holds an
/// import slot: from here on, whatever happens to it is logged.
pub struct Admitted {
    account: Account,
    email: String,
    entity: Entity,
    format: &'static str,
    started_at: chrono::DateTime<Utc>,
    _slots: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// Checks that `caller` may import into `account` (visible, writable, a
/// child) before any of the body is read, then waits for an import slot:
/// up to `IMPORT_WAIT_SECONDS`, then 429 with `Retry-After` (logged).
pub async fn admit(
    state: &AppState,
    caller: &Caller,
    account: Account,
    entity: Entity,
    format: &'static str,
    started_at: chrono::DateTime<Utc>,
) -> Result<Admitted, AppError> {
    caller.require_write()?;
    admit_writer(state, &caller.email, account, entity, format, started_at).await
}

/// [`admit`] for a writer already checked by its surface (the compatible
/// API's key): the child check and the wait for an import slot.
pub async fn admit_writer(
    state: &AppState,
    email: &str,
    account: Account,
    entity: Entity,
    format: &'static str,
    started_at: chrono::DateTime<Utc>,
) -> Result<Admitted, AppError> {
    imports::require_child(&account)?;
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_secs(state.config.import_wait_seconds);
    let (server, mine) = gates(state, &account.organisation_id);
    let too_many = |message: String| AppError::TooMany {
        message,
        retry_after: state.config.import_wait_seconds.clamp(1, 60),
    };
    // The organisation's slot first: an organisation over its share waits
    // in its own queue, not in front of the others'.
    let slots = match tokio::time::timeout_at(deadline, mine.acquire_owned()).await {
        Ok(Ok(own)) => match tokio::time::timeout_at(deadline, server.acquire_owned()).await {
            Ok(Ok(slot)) => Ok((own, slot)),
            _ => Err(too_many(format!(
                "The server is running as many imports as it takes at once (MAX_CONCURRENT_IMPORTS = {}); nothing was written. Send the import again in a little while.",
                state.config.max_concurrent_imports
            ))),
        },
        _ => Err(too_many(format!(
            "This organisation is running as many imports as it may at once (MAX_CONCURRENT_IMPORTS_PER_ORGANISATION = {}); nothing was written. Send the import again once one has finished.",
            state.config.max_concurrent_imports_per_organisation
        ))),
    };
    let slots = match slots {
        Ok(slots) => slots,
        Err(err) => {
            log_failure(state, &account.id, email, entity, format, started_at, &err).await;
            return Err(err);
        }
    };
    Ok(Admitted {
        account,
        email: email.to_string(),
        entity,
        format,
        started_at,
        _slots: slots,
    })
}

/// Logs an import that failed outside the service (best effort: a failure
/// to log is itself logged).
async fn log_failure(
    state: &AppState,
    account_id: &str,
    email: &str,
    entity: Entity,
    format: &'static str,
    started_at: chrono::DateTime<Utc>,
    err: &AppError,
) {
    let problems = problems_of(err);
    let (account_id, email) = (account_id.to_string(), email.to_string());
    let logged = state
        .db
        .run(move |conn| {
            imports::log_failed(
                conn,
                &account_id,
                &email,
                entity,
                format,
                started_at,
                &problems,
            )
        })
        .await;
    if let Err(e) = logged {
        tracing::error!(error = %e, "could not log a failed import");
    }
}

impl Admitted {
    /// Logs a refusal of the body (too large, unreadable, not a form) and
    /// hands the error back.
    pub async fn refused(&self, state: &AppState, err: AppError) -> AppError {
        let account = &self.account.id;
        log_failure(
            state,
            account,
            &self.email,
            self.entity,
            self.format,
            self.started_at,
            &err,
        )
        .await;
        err
    }

    /// Runs the import. The service logs what it refuses or fails to write;
    /// a failure around it (a panic in the write, no connection) is logged
    /// here.
    pub async fn run(self, state: &AppState, body: Body) -> Result<ImportAnswer, ServiceError> {
        let limits = crate::import::Limits {
            max_field_bytes: state.config.max_field_bytes,
            max_record_bytes: state.config.max_record_bytes,
        };
        let (account, email, entity, started_at) = (
            self.account.clone(),
            self.email.clone(),
            self.entity,
            self.started_at,
        );
        let result = state
            .db
            .run(move |conn| {
                Ok::<_, crate::db::DbError>(imports::run_with_limits(
                    conn, &account, &email, entity, body, started_at, limits,
                ))
            })
            .await;
        match result {
            Ok(answer) => answer,
            Err(e) => {
                let err = AppError::Internal(e.to_string());
                let account = &self.account.id;
                log_failure(
                    state,
                    account,
                    &self.email,
                    entity,
                    self.format,
                    started_at,
                    &err,
                )
                .await;
                Err(ServiceError::Internal(e.to_string()))
            }
        }
    }
}

/// The account an import may go to, or 404 (before anything is read).
async fn import_account(
    state: &AppState,
    caller: &Caller,
    account_id: String,
) -> Result<Account, AppError> {
    visible_account(state, caller, account_id).await
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
    let account = import_account(&state, &caller, path.into_inner()).await?;
    let admitted = admit(&state, &caller, account, entity, "json", started_at).await?;
    let limit = state.config.max_upload_bytes;
    let spooled = match check_declared_length(&req, limit) {
        Ok(()) => spool(payload, limit).await,
        Err(e) => Err(e),
    };
    let file = match spooled {
        Ok(f) => f,
        Err(e) => return Err(admitted.refused(&state, e).await),
    };
    let answer = admitted.run(&state, Body::Json(file)).await?;
    Ok(HttpResponse::Ok().json(answer))
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
    let account = import_account(&state, &caller, path.into_inner()).await?;
    let admitted = admit(&state, &caller, account, entity, "csv", started_at).await?;
    let file = match csv_body(&req, payload, state.config.max_upload_bytes).await {
        Ok(f) => f,
        Err(e) => return Err(admitted.refused(&state, e).await),
    };
    let answer = admitted.run(&state, Body::Csv(file)).await?;
    Ok(HttpResponse::Ok().json(answer))
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

/// The documented ranges of imported values (also in `docs/imports.md`).
macro_rules! ranges {
    () => {
        "Ranges: every quantity, stock figure (on_hand, allocated, min_stock, max_stock), \
pack size, minimum order quantity and amount of money (prices, costs) is a decimal with |x| < 10^12 \
and at most 6 decimal places (trailing zeros do not count); lead times are whole days from 0 to 3650; \
pack_size > 0, minimum_order_quantity >= 0, min_stock and max_stock >= 0 (min_stock <= max_stock), \
allocated >= 0, stock-order line quantity > 0. One CSV cell or JSON string holds at most \
MAX_FIELD_BYTES (default 65536) bytes, one CSV row or JSON batch element at most MAX_RECORD_BYTES \
(default 4194304). A value out of range answers 422 naming its row and field."
    };
}

macro_rules! entity_routes {
    ($( $entity:expr, $json_fn:ident, $csv_fn:ident, $json_path:literal, $csv_path:literal, $name:literal );* $(;)?) => {
        $(
            #[doc = concat!("JSON batch upsert of ", $name, ": a JSON array of records; all-or-nothing.")]
            #[doc = ""]
            #[doc = ranges!()]
            #[utoipa::path(put, path = $json_path, tag = "imports",
                params(("id" = String, Path, description = "Child account id")),
                request_body(content = Vec<Object>, content_type = "application/json"),
                responses((status = 200, body = ImportAnswer, description = "Imported; the counts and the log entry"),
                    (status = 400, body = ErrorBody, description = "Not JSON"),
                    (status = 403, body = ErrorBody, description = "The caller may not write"),
                    (status = 404, body = ErrorBody, description = "No such account"),
                    (status = 409, body = ErrorBody, description = "A master account holds no data"),
                    (status = 413, body = ErrorBody, description = "Larger than MAX_UPLOAD_BYTES"),
                    (status = 422, body = ErrorBody, description = "Invalid records (every problem by row and field), a value out of range, or a field or record over its size cap"),
                    (status = 429, body = ErrorBody, description = "MAX_CONCURRENT_IMPORTS imports (or MAX_CONCURRENT_IMPORTS_PER_ORGANISATION of the organisation's) are running; try again after Retry-After seconds")))]
            pub async fn $json_fn(state: web::Data<AppState>, caller: Caller, req: HttpRequest, path: web::Path<String>, payload: web::Payload) -> Result<HttpResponse, AppError> {
                put_json(state, caller, req, path, payload, $entity).await
            }

            #[doc = concat!("CSV upload of ", $name, ": the raw body (`text/csv`) or the `file` field of a multipart form; all-or-nothing.")]
            #[doc = ""]
            #[doc = ranges!()]
            #[utoipa::path(post, path = $csv_path, tag = "imports",
                params(("id" = String, Path, description = "Child account id")),
                request_body(content = String, content_type = "text/csv"),
                responses((status = 200, body = ImportAnswer, description = "Imported; the counts and the log entry"),
                    (status = 400, body = ErrorBody, description = "Not readable CSV (not UTF-8, JSON sent as CSV)"),
                    (status = 403, body = ErrorBody, description = "The caller may not write"),
                    (status = 404, body = ErrorBody, description = "No such account"),
                    (status = 409, body = ErrorBody, description = "A master account holds no data"),
                    (status = 413, body = ErrorBody, description = "Larger than MAX_UPLOAD_BYTES"),
                    (status = 422, body = ErrorBody, description = "Invalid records (every problem by row and field), a value out of range, or a cell or row over its size cap"),
                    (status = 429, body = ErrorBody, description = "MAX_CONCURRENT_IMPORTS imports (or MAX_CONCURRENT_IMPORTS_PER_ORGANISATION of the organisation's) are running; try again after Retry-After seconds")))]
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
