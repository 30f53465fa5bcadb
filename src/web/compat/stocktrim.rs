//! The StockTrim-compatible API (`api.md`, "Compatibility with the StockTrim
//! open API"), mounted at `/compat/stocktrim`: the paths, field names, status
//! codes and upsert rules of StockTrim's published swagger, over one child
//! account.
//!
//! **Authentication.** `api-auth-id` is an API key's id and
//! `api-auth-signature` the key itself. Missing or wrong headers, or a
//! revoked key, answer 401. A key that is not scoped to exactly one account,
//! or whose account is a master, answers 403 (StockTrim's tenant is one
//! child); a read-only key (or a viewer's) may read but its writes answer 403.
//!
//! **One write path.** Every write builds native import records (`api.md`,
//! "Imports into a child account") and runs them through the native import
//! admission (`web::api::imports::admit_writer`: an import slot of
//! `MAX_CONCURRENT_IMPORTS`, the configured field and record caps) and
//! `services::imports`, exactly as a native JSON batch: the same
//! validation, reference checks, fingerprints, change sequence and import
//! log.
//!
//! **Bodies.** [`guard`] authenticates every request from its headers before
//! anything of the body is read (401 unread), then reads the body up to
//! `MAX_UPLOAD_BYTES` (at most 64 MiB; 413) within `BODY_READ_SECONDS` (408). Mapping: `productId` → variant `id`, `productCodeReadable` (else
//! `productId`) → `sku`, `name` → `title`, `supplierCode` → vendor `id`,
//! `locationCode` → warehouse `id`, `cost`/`price` → `cost_price`/
//! `retail_price`, `leadTime` → `lead_time_days`, `minimumShelfLevel`/
//! `maximumShelfLevel` → `min_stock`/`max_stock`, `unstocked` → `tracked:
//! false`, `parentId` → `product_id`, `minimumOrderQuantity`/`batchSize` →
//! the preferred vendor's terms, `discontinued: true` → `removed: true`.
//! Upserts merge: a field the request leaves out (or sends as null) keeps its
//! stored value, as StockTrim's "create or update" does.
//!
//! **Errors.** A body that is not JSON, a missing required field, or an
//! invalid record (the native 422 with its `details`) answers StockTrim's
//! `400 ProblemDetails` (`type`, `title`, `status`, `detail`, plus `errors`,
//! the native details, and `code`); statuses the swagger does not define
//! (401, 403, 404, 409, 413, 500) carry the native error body.
//!
//! **Quirks matched, each because the published client
//! (`stocktrim-openapi-client`) relies on it:**
//! - `GET /api/Products` and `GET /api/PurchaseOrders` answer 404 rather
//!   than an empty list (the client's helpers turn that 404 into `[]`);
//!   other lists (`SalesOrders`, `SuppliersBulk`, `Customers`,
//!   `V2/PurchaseOrders`) answer `200 []`, which the client expects.
//! - Single-or-array answers: `GET /api/Suppliers?code=`, `GET
//!   /api/Locations?code=`, `GET /api/PurchaseOrders?referenceNumber=` and
//!   `GET /api/boms` with both `productId` and `componentId` answer one
//!   object (the generated parsers read one object); without the filter they
//!   answer an array. `GET /api/boms` answers 201, as the swagger says.
//! - `POST /api/Products` and `POST /api/PurchaseOrders` answer 201 when
//!   they created the record and 200 when they updated it; `DELETE
//!   /api/Suppliers` and `DELETE /api/boms` answer 201 and `DELETE
//!   /api/PurchaseOrders` 204, as in the swagger.
//! - `POST /api/Inventory` answers a `PurchaseOrderResponseDto` (as the
//!   swagger says) whose `message` counts the levels set; `PUT
//!   /api/Customers` answers an array whose items are the customer plus the
//!   members a `PurchaseOrderResponseDto` requires (`supplier`,
//!   `purchaseOrderLineItems`), which is what the swagger and the client's
//!   parser expect.
//! - Bodies are read whatever their content type (the client sends
//!   `application/json-patch+json` for some), and member names match
//!   case-insensitively, as ASP.NET binds them.
//! - `GET /api/Products` pages by `pageNo` from 0, 50 a page (what the
//!   client's `get_all_paginated` assumes); without `pageNo` it answers all.
//!   `GET /api/V2/PurchaseOrders` pages by `page` from 0 and `pageSize`
//!   (default 50), as the client's `get_all_paginated` sends them.
//! - Integer `id`s: StockTrim's DTOs carry integers, native ids are strings;
//!   each `id` is a stable 31-bit hash of the native id.
//!
//! **Semantics where the models differ:**
//! - Sales orders map line by line: an order is keyed by
//!   `externalReferenceId` (a generated id when absent), each line by its
//!   `productId`. `POST /api/SalesOrders` adds or replaces one line of the
//!   order, `POST /api/SalesOrdersBulk` adds or replaces the lines it names,
//!   `PUT /api/SalesOrdersBulk` replaces the order's whole set of lines. The
//!   delete variants remove lines (an order left without lines is marked
//!   removed) or whole orders.
//! - Inventory: a stock level is set per `locationCode`; an entry without a
//!   location sets the level of the account's first location (by code). The
//!   overall figures are always the sum of the locations here, so both "sum
//!   of locations" flags are accepted; with
//!   `updateOverallAllOnHandToBeSumOfLocation: true` an entry without a
//!   location is refused (its figure would be replaced by the sum).
//!   `stockOnOrder` is not settable: on order is what open purchase orders
//!   hold, and it is answered that way.
//! - Purchase orders are native `stock-orders` of kind `purchase`, keyed by
//!   `referenceNumber` (else `clientReferenceNumber`, `externalId`, or a new
//!   id); statuses Draft → `draft`, Approved and Sent → `active`, Received →
//!   `closed` (read back as Draft, Approved, Received).
//! - Bills of materials are the variant's `components`; a stocked product
//!   with components is an assembly, an unstocked one (`unstocked: true`) a
//!   bundle.
//! - `RunForecastCalculations` queues a plan job; `ProcessingStatus` reports
//!   it (processing while a job is queued or running or the plan is out of
//!   date). `POST /api/ProcessingStatus` is accepted and echoed (the server
//!   owns its status). `OrderPlan` reads the stored plan (waiting for a
//!   fresh one like the native read) and `POST
//!   /api/V2/PurchaseOrders/OrderPlan` writes one draft purchase order per
//!   supplier from the plan's order quantities.
//! - Customers are kept as sent (the native model has no customers).
//! - Fields with no native counterpart (`subCategory`, `option1`–`3`,
//!   dimensions, supplier addresses, `externalId`s, …) are accepted and
//!   answered as null.

use std::collections::{HashMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use crate::crypto::{hash_api_key, new_id};
use crate::db::models::planning::{self as store, LineFilter, PlanLineRow};
use crate::db::models::records::VariantRow;
use crate::db::models::{Account, User};
use crate::import::Entity;
use crate::jobs::{self, Job};
use crate::services::compat::{self as data, int_id, num, opt_num, ts};
use crate::services::imports::ImportAnswer;
use crate::services::order_plan::{self, Extras, PageRequest, PLAN_WAIT};
use crate::services::purchase_orders;
use crate::services::{plans, ServiceError};
use crate::state::AppState;
use crate::web::error::AppError;

/// The largest request body the compatible API reads.
pub const MAX_BODY: usize = 64 << 20;

/// Products per page of `GET /api/Products?pageNo=`.
pub const PRODUCTS_PAGE: usize = 50;

// ---------------------------------------------------------------- errors

/// An error of the compatible API: validation problems as StockTrim's
/// `400 ProblemDetails`, everything else as the native error body.
#[derive(Debug)]
pub struct StError(pub AppError);

impl std::fmt::Display for StError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<AppError> for StError {
    fn from(e: AppError) -> Self {
        StError(e)
    }
}

impl From<ServiceError> for StError {
    fn from(e: ServiceError) -> Self {
        StError(AppError::from(e))
    }
}

impl From<crate::db::DbError> for StError {
    fn from(e: crate::db::DbError) -> Self {
        StError(AppError::from(e))
    }
}

impl From<diesel::result::Error> for StError {
    fn from(e: diesel::result::Error) -> Self {
        StError(AppError::internal(e))
    }
}

impl ResponseError for StError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            AppError::Invalid { .. } | AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            other => other.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            AppError::Invalid {
                code,
                message,
                details,
            } => HttpResponse::BadRequest().json(problem(code, message, json!(details))),
            AppError::BadRequest { code, message } => {
                HttpResponse::BadRequest().json(problem(code, message, json!([])))
            }
            other => other.error_response(),
        }
    }
}

fn problem(code: &str, message: &str, errors: Value) -> Value {
    json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "detail": message,
        "code": code,
        "errors": errors,
    })
}

type Res = Result<HttpResponse, StError>;

fn bad(field: &str, message: &str) -> StError {
    StError(AppError::invalid_field(field, message))
}

fn not_found_what(what: &str) -> StError {
    StError(AppError::NotFound(format!(
        "No {what} matches in this account."
    )))
}

/// Unknown paths under `/compat/stocktrim`: 404 with the native body.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "The StockTrim-compatible API has no endpoint {} {}.",
        req.method(),
        req.path()
    )))
}

// ---------------------------------------------------------------- auth

/// The caller of a compatible request: the key's one child account.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The account the key is scoped to.
    pub account: Account,
    /// The e-mail of the key's user (for the import log).
    pub email: String,
    /// Whether writes are allowed.
    pub writable: bool,
}

impl Ctx {
    fn require_write(&self) -> Result<(), StError> {
        if self.writable {
            Ok(())
        } else {
            Err(StError(AppError::Forbidden(
                "This API key is read-only (or its user is a viewer): it cannot change data."
                    .into(),
            )))
        }
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The caller of a request: resolved once by [`guard`], before the body is
/// read.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Ctx, StError> {
    if let Some(ctx) = req.extensions().get::<Ctx>() {
        return Ok(ctx.clone());
    }
    resolve_key(state, req).await
}

/// The largest body the compatible API reads: `MAX_UPLOAD_BYTES`, the limit
/// of native imports, but at most [`MAX_BODY`] (bodies are read in memory).
pub fn body_limit(config: &crate::config::Config) -> u64 {
    config.max_upload_bytes.min(MAX_BODY as u64)
}

/// Runs before every route of the compatible API: authenticates from the
/// headers before anything of the body is read (a request without a valid
/// key is answered 401 unread), then reads the body, at most
/// [`body_limit`] bytes (413 beyond, by `Content-Length` before reading)
/// and within `BODY_READ_SECONDS` (408 after), and hands it on with the
/// resolved caller.
pub async fn guard(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use futures_util::StreamExt;
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let ctx = match resolve_key(&state, req.request()).await {
        Ok(ctx) => ctx,
        Err(e) => {
            let resp = e.error_response();
            return Ok(req.into_response(resp));
        }
    };
    let limit = body_limit(&state.config);
    let too_large = || {
        StError(AppError::TooLarge(format!(
            "The body is larger than the {limit} bytes this API reads (MAX_UPLOAD_BYTES, at most {MAX_BODY}); nothing was written."
        )))
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(req.into_response(too_large().error_response()));
    }
    let mut payload = req.take_payload();
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| None)?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(Some(()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    let wait = std::time::Duration::from_secs(state.config.body_read_seconds);
    let body = match tokio::time::timeout(wait, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(Some(()))) => return Ok(req.into_response(too_large().error_response())),
        Ok(Err(None)) => {
            let e = StError(AppError::BadRequest {
                code: "malformed_body",
                message: "The body could not be read.".into(),
            });
            return Ok(req.into_response(e.error_response()));
        }
        Err(_) => {
            let message = format!(
                "The body did not arrive within {} seconds (BODY_READ_SECONDS); nothing was written.",
                state.config.body_read_seconds
            );
            let resp = HttpResponse::RequestTimeout()
                .insert_header(("connection", "close"))
                .json(json!({"error": {"code": "request_timeout", "message": message, "details": []}}));
            return Ok(req.into_response(resp));
        }
    };
    req.set_payload(actix_web::dev::Payload::from(body));
    req.extensions_mut().insert(ctx);
    next.call(req).await
}

/// Resolves `api-auth-id` / `api-auth-signature` into the key's account.
async fn resolve_key(state: &AppState, req: &HttpRequest) -> Result<Ctx, StError> {
    let (Some(id), Some(signature)) = (
        header(req, "api-auth-id"),
        header(req, "api-auth-signature"),
    ) else {
        return Err(StError(AppError::Unauthorized(
            "Send the headers api-auth-id (the API key's id) and api-auth-signature (the key)."
                .into(),
        )));
    };
    let (id, hash) = (id.to_string(), hash_api_key(signature));
    let found = state
        .db
        .run(move |conn| {
            let Some(key) = data::live_key_by_id(conn, &id)? else {
                return Ok::<_, ServiceError>(None);
            };
            if key.key_hash != hash {
                return Ok(None);
            }
            let Some(user) = User::find_by_id(conn, &key.user_id)? else {
                return Ok(None);
            };
            // An unreadable scope grants nothing (403 below).
            let scope = key.scope().ok().flatten();
            let account = match scope.as_deref() {
                Some([one]) => Account::find_in_organisation(conn, &key.organisation_id, one)?,
                _ => return Ok(Some(Err(()))),
            };
            Ok(Some(Ok((key, user, account))))
        })
        .await?;
    let unauthorized = || {
        StError(AppError::Unauthorized(
            "The api-auth-id and api-auth-signature do not match a live API key.".into(),
        ))
    };
    match found {
        None => Err(unauthorized()),
        Some(Err(())) => Err(StError(AppError::Forbidden(
            "This API key must be scoped to exactly one child account to use the StockTrim-compatible API."
                .into(),
        ))),
        Some(Ok((_, _, None))) => Err(StError(AppError::Forbidden(
            "The account this API key is scoped to no longer exists.".into(),
        ))),
        Some(Ok((_, _, Some(a)))) if a.is_master() => Err(StError(AppError::Forbidden(
            "This API key is scoped to a master account; the StockTrim-compatible API feeds one child account."
                .into(),
        ))),
        Some(Ok((key, user, Some(account)))) => Ok(Ctx {
            account,
            writable: user.role == "admin" && !key.read_only,
            email: user.email,
        }),
    }
}

// ---------------------------------------------------------------- input helpers

fn parse_body(body: &[u8]) -> Result<Value, StError> {
    serde_json::from_slice(body).map_err(|e| {
        StError(AppError::BadRequest {
            code: "malformed_body",
            message: format!("The body is not valid JSON: {e}."),
        })
    })
}

fn object(v: Value, what: &str) -> Result<Map<String, Value>, StError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(bad("body", &format!("the body must be one {what} object"))),
    }
}

/// A member by name, case-insensitively (as ASP.NET binds JSON); null is absent.
fn get<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key)
        .or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// A member as text (numbers given as text too); empty strings are absent.
fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    match get(m, key)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn required(m: &Map<String, Value>, key: &str) -> Result<String, StError> {
    text(m, key).ok_or_else(|| bad(key, &format!("{key} is required")))
}

fn boolean(m: &Map<String, Value>, key: &str) -> Option<bool> {
    get(m, key).and_then(Value::as_bool)
}

fn list<'a>(m: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    get(m, key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| {
            q.into_inner()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .filter(|(_, v)| !v.trim().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Copies a request member into a native record under another name (a
/// member left out or null keeps the stored value).
fn carry(rec: &mut Map<String, Value>, m: &Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = get(m, from) {
        rec.insert(to.to_string(), v.clone());
    }
}

fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------- running

async fn db<T, F>(state: &AppState, f: F) -> Result<T, StError>
where
    F: FnOnce(&mut crate::db::DbConn) -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    Ok(state.db.run(f).await?)
}

async fn write(
    state: &AppState,
    ctx: &Ctx,
    entity: Entity,
    records: Vec<Value>,
) -> Result<ImportAnswer, StError> {
    ctx.require_write()?;
    if records.is_empty() {
        return Ok(ImportAnswer {
            created: 0,
            updated: 0,
            unchanged: 0,
            stale: 0,
            removed: 0,
            warnings: vec![],
            import_id: String::new(),
        });
    }
    // The one import path: an import slot (MAX_CONCURRENT_IMPORTS), the
    // configured field and record caps, the import log.
    let started_at = Utc::now();
    let admitted = crate::web::api::imports::admit_writer(
        state,
        &ctx.email,
        ctx.account.clone(),
        entity,
        "json",
        started_at,
    )
    .await?;
    let file = match data::spool(records) {
        Ok(f) => f,
        Err(e) => return Err(StError(admitted.refused(state, AppError::from(e)).await)),
    };
    Ok(admitted
        .run(state, crate::services::imports::Body::Json(file))
        .await?)
}

fn created_or_ok(answer: &ImportAnswer, body: Value) -> HttpResponse {
    if answer.created > 0 {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

// ---------------------------------------------------------------- routes

/// Declares the routes of the compatible API (under `/compat/stocktrim`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/Products", web::get().to(products_get))
        .route("/api/Products", web::post().to(products_post))
        .route("/api/Products", web::delete().to(products_delete))
        .route("/api/Customers", web::get().to(customers_get))
        .route("/api/Customers", web::put().to(customers_put))
        .route("/api/Customers/{code}", web::get().to(customer_get))
        .route("/api/Suppliers", web::get().to(suppliers_get))
        .route("/api/Suppliers", web::post().to(suppliers_post))
        .route("/api/Suppliers", web::delete().to(suppliers_delete))
        .route("/api/SuppliersBulk", web::get().to(suppliers_bulk))
        .route("/api/Locations", web::get().to(locations_get))
        .route("/api/Locations", web::post().to(locations_post))
        .route("/api/V2/Locations", web::post().to(locations_post))
        .route("/api/Inventory", web::post().to(inventory_post))
        .route("/api/SalesOrders", web::get().to(sales_get))
        .route("/api/SalesOrders", web::post().to(sales_post))
        .route("/api/SalesOrders", web::delete().to(sales_delete_product))
        .route("/api/SalesOrders/All", web::delete().to(sales_delete_all))
        .route(
            "/api/SalesOrders/Range",
            web::delete().to(sales_delete_range),
        )
        .route("/api/SalesOrdersBulk", web::post().to(sales_bulk_post))
        .route("/api/SalesOrdersBulk", web::put().to(sales_bulk_put))
        .route(
            "/api/SalesOrdersLocation",
            web::delete().to(sales_delete_location),
        )
        .route("/api/PurchaseOrders", web::get().to(po_get))
        .route("/api/PurchaseOrders", web::post().to(po_post))
        .route("/api/PurchaseOrders", web::delete().to(po_delete))
        .route("/api/V2/PurchaseOrders", web::get().to(po_v2_list))
        .route(
            "/api/V2/PurchaseOrders/OrderPlan",
            web::post().to(po_from_plan),
        )
        .route(
            "/api/V2/PurchaseOrders/{reference}",
            web::get().to(po_v2_get),
        )
        .route("/api/boms", web::get().to(boms_get))
        .route("/api/boms", web::post().to(boms_post))
        .route("/api/boms", web::delete().to(boms_delete))
        .route("/api/RunForecastCalculations", web::post().to(run_forecast))
        .route("/api/ProcessingStatus", web::get().to(processing_get))
        .route("/api/ProcessingStatus", web::post().to(processing_post))
        .route("/api/OrderPlan", web::post().to(order_plan))
        .route(
            "/api/InventoryManagementSystemSettings",
            web::get().to(ims_get),
        )
        .route(
            "/api/InventoryManagementSystemSettings",
            web::post().to(ims_post),
        )
        .route(
            "/api/Configuration/{name}",
            web::get().to(configuration_get),
        );
}

type State = web::Data<AppState>;

// ---------------------------------------------------------------- products

struct Catalogue {
    stock: HashMap<String, Vec<(String, String)>>,
    on_order: HashMap<String, f64>,
    warehouses: HashMap<String, String>,
    vendors: HashMap<String, String>,
}

fn catalogue(conn: &mut crate::db::DbConn, account: &str) -> Result<Catalogue, ServiceError> {
    Ok(Catalogue {
        stock: data::stock_by_variant(conn, account)?,
        on_order: data::on_order_by_variant(conn, account)?,
        warehouses: data::warehouses(conn, account, None)?
            .into_iter()
            .map(|(id, name, _)| (id, name))
            .collect(),
        vendors: data::vendors(conn, account, None)?
            .into_iter()
            .map(|v| (v.id, v.name))
            .collect(),
    })
}

fn product_dto(v: &VariantRow, c: &Catalogue) -> Value {
    let levels = c.stock.get(&v.id).cloned().unwrap_or_default();
    let on_hand: f64 = levels.iter().fold(0.0, |t, (_, q)| t + store::num(q));
    let vendors: Vec<Value> = v
        .vendors
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let preferred = vendors
        .iter()
        .find(|t| t["vendor_id"].as_str() == v.vendor_id.as_deref())
        .cloned()
        .unwrap_or(Value::Null);
    let term = |k: &str| match &preferred[k] {
        Value::String(s) => num(s),
        other => other.clone(),
    };
    json!({
        "id": int_id(&v.id),
        "productId": v.id,
        "productCodeReadable": v.sku,
        "name": v.title,
        "category": v.category,
        "subCategory": null,
        "leadTime": v.lead_time_days,
        "stockOnHand": on_hand,
        "stockOnOrder": c.on_order.get(&v.id).copied().unwrap_or(0.0),
        "cost": opt_num(&v.cost_price),
        "price": opt_num(&v.retail_price),
        "supplierCode": v.vendor_id,
        "suppliers": vendors.iter().map(|t| {
            let id = t["vendor_id"].as_str().unwrap_or_default();
            json!({"supplierId": id, "supplierName": c.vendors.get(id), "supplierSkuCode": t["vendor_sku"]})
        }).collect::<Vec<_>>(),
        "minimumOrderQuantity": term("minimum_order_quantity"),
        "batchSize": term("pack_size"),
        "minimumShelfLevel": opt_num(&v.min_stock),
        "maximumShelfLevel": opt_num(&v.max_stock),
        "barcode": v.barcode,
        "discontinued": v.removed,
        "unstocked": !v.tracked,
        "parentId": v.product_id,
        "stockLocations": levels.iter().map(|(w, q)| json!({
            "locationCode": w,
            "locationName": c.warehouses.get(w),
            "stockOnHand": num(q),
            "stockOnOrder": 0,
        })).collect::<Vec<_>>(),
    })
}

async fn products_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let q = query(&req);
    let code = q.get("code").cloned();
    let page = match q.get("pageno") {
        Some(p) => Some(
            p.trim()
                .parse::<usize>()
                .map_err(|_| bad("pageNo", "pageNo must be a whole number from 0"))?,
        ),
        None => None,
    };
    let acc = ctx.account.id.clone();
    let body = db(&state, move |conn| {
        let rows = data::variants(conn, &acc, code.as_deref(), false)?;
        let rows: Vec<VariantRow> = match page {
            Some(p) => rows
                .into_iter()
                .skip(p * PRODUCTS_PAGE)
                .take(PRODUCTS_PAGE)
                .collect(),
            None => rows,
        };
        let c = catalogue(conn, &acc)?;
        Ok(rows.iter().map(|v| product_dto(v, &c)).collect::<Vec<_>>())
    })
    .await?;
    if body.is_empty() {
        return Err(not_found_what("product"));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// Builds the native variant record of a `ProductsRequestDto`, merged onto
/// the stored variant.
fn product_record(m: &Map<String, Value>, stored: Option<&VariantRow>) -> Result<Value, StError> {
    let id = required(m, "productId")?;
    let mut rec = stored.map(data::variant_record).unwrap_or_default();
    rec.insert("id".into(), id.clone().into());
    match text(m, "productCodeReadable") {
        Some(s) => {
            rec.insert("sku".into(), s.into());
        }
        None => {
            rec.entry("sku").or_insert_with(|| id.clone().into());
        }
    }
    carry(&mut rec, m, "name", "title");
    carry(&mut rec, m, "category", "category");
    carry(&mut rec, m, "barcode", "barcode");
    carry(&mut rec, m, "cost", "cost_price");
    carry(&mut rec, m, "price", "retail_price");
    carry(&mut rec, m, "leadTime", "lead_time_days");
    carry(&mut rec, m, "minimumShelfLevel", "min_stock");
    carry(&mut rec, m, "maximumShelfLevel", "max_stock");
    carry(&mut rec, m, "parentId", "product_id");
    if let Some(u) = boolean(m, "unstocked") {
        rec.insert("tracked".into(), (!u).into());
    }
    let discontinued = boolean(m, "discontinued").unwrap_or(false);
    rec.insert("removed".into(), discontinued.into());
    if let Some(s) = text(m, "supplierCode") {
        rec.insert("vendor_id".into(), s.into());
    }
    // Vendor terms: the listed suppliers, plus MOQ and batch size on the
    // preferred one.
    let mut terms: Vec<Map<String, Value>> = rec
        .get("vendors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_object().cloned()).collect())
        .unwrap_or_default();
    for s in list(m, "suppliers") {
        let Some(sid) = text(s, "supplierId") else {
            return Err(bad("suppliers.supplierId", "supplierId is required"));
        };
        let pos = match terms.iter().position(|t| t["vendor_id"] == sid.as_str()) {
            Some(p) => p,
            None => {
                let mut t = Map::new();
                t.insert("vendor_id".into(), sid.clone().into());
                terms.push(t);
                terms.len() - 1
            }
        };
        if let Some(sku) = text(s, "supplierSkuCode") {
            terms[pos].insert("vendor_sku".into(), sku.into());
        }
    }
    let moq = get(m, "minimumOrderQuantity").cloned();
    let pack = get(m, "batchSize").cloned();
    if moq.is_some() || pack.is_some() {
        let Some(preferred) = rec
            .get("vendor_id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(bad(
                "supplierCode",
                "minimumOrderQuantity and batchSize are the terms of the product's supplier: give supplierCode too",
            ));
        };
        let pos = match terms
            .iter()
            .position(|t| t["vendor_id"] == preferred.as_str())
        {
            Some(p) => p,
            None => {
                let mut t = Map::new();
                t.insert("vendor_id".into(), preferred.into());
                terms.push(t);
                terms.len() - 1
            }
        };
        if let Some(v) = moq {
            terms[pos].insert("minimum_order_quantity".into(), v);
        }
        if let Some(v) = pack {
            terms[pos].insert("pack_size".into(), v);
        }
    }
    if !terms.is_empty() {
        rec.insert(
            "vendors".into(),
            Value::Array(terms.into_iter().map(Value::Object).collect()),
        );
    }
    Ok(Value::Object(rec))
}

async fn products_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "ProductsRequestDto")?;
    let id = required(&m, "productId")?;
    let acc = ctx.account.id.clone();
    let pid = id.clone();
    let stored = db(&state, move |conn| Ok(data::variant(conn, &acc, &pid)?)).await?;
    let rec = product_record(&m, stored.as_ref())?;
    let answer = write(&state, &ctx, Entity::Variants, vec![rec]).await?;
    // Stock per location, when given.
    let levels: Vec<Value> = list(&m, "stockLocations")
        .into_iter()
        .filter_map(|l| {
            let on_hand = get(l, "stockOnHand")?.clone();
            Some(json!({"variant_id": id, "warehouse_id": text(l, "locationCode")?, "on_hand": on_hand}))
        })
        .collect();
    write(&state, &ctx, Entity::Stock, levels).await?;
    let acc = ctx.account.id.clone();
    let dto = db(&state, move |conn| {
        let v = data::variant(conn, &acc, &id)?
            .ok_or_else(|| ServiceError::internal("variant vanished after its import"))?;
        Ok(product_dto(&v, &catalogue(conn, &acc)?))
    })
    .await?;
    Ok(created_or_ok(&answer, dto))
}

async fn products_delete(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let Some(id) = query(&req).get("productid").cloned() else {
        return Err(bad("productId", "productId is required"));
    };
    let acc = ctx.account.id.clone();
    let stored = db(&state, move |conn| Ok(data::variant(conn, &acc, &id)?))
        .await?
        .filter(|v| !v.removed)
        .ok_or_else(|| not_found_what("product"))?;
    let mut rec = data::variant_record(&stored);
    rec.insert("removed".into(), true.into());
    write(&state, &ctx, Entity::Variants, vec![Value::Object(rec)]).await?;
    Ok(HttpResponse::Ok().finish())
}

// ---------------------------------------------------------------- customers

const CUSTOMER_FIELDS: [&str; 11] = [
    "code",
    "name",
    "streetAddress",
    "addressLine1",
    "addressLine2",
    "state",
    "country",
    "postCode",
    "emailAddress",
    "phone",
    "city",
];

async fn customers_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let acc = ctx.account.id.clone();
    let rows = db(&state, move |conn| Ok(data::customers(conn, &acc, None)?)).await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn customer_get(state: State, req: HttpRequest, path: web::Path<String>) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let acc = ctx.account.id.clone();
    let code = path.into_inner();
    let rows = db(&state, move |conn| {
        Ok(data::customers(conn, &acc, Some(&code))?)
    })
    .await?;
    rows.into_iter()
        .next()
        .map(|c| HttpResponse::Ok().json(c))
        .ok_or_else(|| not_found_what("customer"))
}

async fn save_customer(
    state: &AppState,
    ctx: &Ctx,
    m: &Map<String, Value>,
) -> Result<Value, StError> {
    ctx.require_write()?;
    let code = required(m, "code")?;
    let acc = ctx.account.id.clone();
    let given: Vec<(String, Value)> = CUSTOMER_FIELDS
        .iter()
        .filter_map(|k| get(m, k).map(|v| (k.to_string(), v.clone())))
        .collect();
    db(state, move |conn| {
        let stored = data::customers(conn, &acc, Some(&code))?.into_iter().next();
        let mut merged = match stored {
            Some(Value::Object(o)) => o,
            _ => CUSTOMER_FIELDS
                .iter()
                .map(|k| (k.to_string(), Value::Null))
                .collect(),
        };
        for (k, v) in given {
            merged.insert(k, v);
        }
        merged.insert("code".into(), code.clone().into());
        let body = Value::Object(merged);
        data::upsert_customer(conn, &acc, &code, &body)?;
        Ok(body)
    })
    .await
}

async fn customers_put(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let m = object(parse_body(&body)?, "CustomerDto")?;
    let mut saved = save_customer(&state, &ctx, &m).await?;
    // The swagger types this answer as an array of PurchaseOrderResponseDto
    // (the published client parses it so): the customer comes with that
    // DTO's required members.
    if let Value::Object(o) = &mut saved {
        o.insert(
            "supplier".into(),
            json!({"supplierCode": null, "supplierName": null}),
        );
        o.insert("purchaseOrderLineItems".into(), json!([]));
    }
    Ok(HttpResponse::Ok().json(vec![saved]))
}

// ---------------------------------------------------------------- suppliers

fn supplier_dto(v: &data::VendorRow) -> Value {
    json!({
        "id": int_id(&v.id),
        "supplierCode": v.id,
        "supplierName": v.name,
        "emailAddress": null,
        "primaryContactName": null,
        "externalId": null,
        "defaultLeadTime": v.lead_time_days,
        "streetAddress": null,
        "addressLine1": null,
        "addressLine2": null,
        "state": null,
        "country": null,
        "postCode": null,
    })
}

async fn suppliers_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let code = query(&req).get("code").cloned();
    let acc = ctx.account.id.clone();
    let one = code.is_some();
    let rows = db(&state, move |conn| {
        Ok(data::vendors(conn, &acc, code.as_deref())?)
    })
    .await?;
    if one {
        let v = rows.first().ok_or_else(|| not_found_what("supplier"))?;
        return Ok(HttpResponse::Ok().json(supplier_dto(v)));
    }
    Ok(HttpResponse::Ok().json(rows.iter().map(supplier_dto).collect::<Vec<_>>()))
}

async fn suppliers_bulk(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let acc = ctx.account.id.clone();
    let rows = db(&state, move |conn| Ok(data::vendors(conn, &acc, None)?)).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(supplier_dto).collect::<Vec<_>>()))
}

async fn suppliers_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let items: Vec<Map<String, Value>> = match parse_body(&body)? {
        Value::Array(a) => a
            .into_iter()
            .map(|v| object(v, "SupplierRequestDto"))
            .collect::<Result<_, _>>()?,
        Value::Object(o) => vec![o],
        _ => {
            return Err(bad(
                "body",
                "the body must be an array of SupplierRequestDto",
            ))
        }
    };
    let mut codes = Vec::new();
    for (i, m) in items.iter().enumerate() {
        codes.push(
            text(m, "supplierCode")
                .ok_or_else(|| bad(&format!("[{i}].supplierCode"), "supplierCode is required"))?,
        );
    }
    let acc = ctx.account.id.clone();
    let stored: HashMap<String, data::VendorRow> =
        db(&state, move |conn| Ok(data::vendors(conn, &acc, None)?))
            .await?
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
    let records: Vec<Value> = items
        .iter()
        .zip(&codes)
        .map(|(m, code)| {
            let mut rec = stored.get(code).map(|v| v.record()).unwrap_or_default();
            rec.insert("id".into(), code.clone().into());
            match text(m, "supplierName") {
                Some(n) => {
                    rec.insert("name".into(), n.into());
                }
                None => {
                    rec.entry("name").or_insert_with(|| code.clone().into());
                }
            }
            carry(&mut rec, m, "defaultLeadTime", "lead_time_days");
            rec.insert("removed".into(), false.into());
            Value::Object(rec)
        })
        .collect();
    write(&state, &ctx, Entity::Vendors, records).await?;
    let acc = ctx.account.id.clone();
    let rows = db(&state, move |conn| Ok(data::vendors(conn, &acc, None)?)).await?;
    let out: Vec<Value> = codes
        .iter()
        .filter_map(|c| rows.iter().find(|v| &v.id == c).map(supplier_dto))
        .collect();
    Ok(HttpResponse::Created().json(out))
}

async fn suppliers_delete(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let Some(code) = query(&req).get("suppliercodeorname").cloned() else {
        return Err(bad("supplierCodeOrName", "supplierCodeOrName is required"));
    };
    let acc = ctx.account.id.clone();
    let rows = db(&state, move |conn| {
        Ok(data::vendors(conn, &acc, Some(&code))?)
    })
    .await?;
    if rows.is_empty() {
        return Err(not_found_what("supplier"));
    }
    let records = rows
        .iter()
        .map(|v| {
            let mut r = v.record();
            r.insert("removed".into(), true.into());
            Value::Object(r)
        })
        .collect();
    write(&state, &ctx, Entity::Vendors, records).await?;
    Ok(HttpResponse::Created().finish())
}

// ---------------------------------------------------------------- locations

fn location_dto(id: &str, name: &str) -> Value {
    json!({"id": int_id(id), "locationCode": id, "locationName": name, "externalId": null})
}

async fn locations_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let code = query(&req).get("code").cloned();
    let one = code.is_some();
    let acc = ctx.account.id.clone();
    let rows = db(&state, move |conn| {
        Ok(data::warehouses(conn, &acc, code.as_deref())?)
    })
    .await?;
    if one {
        let (id, name, _) = rows.first().ok_or_else(|| not_found_what("location"))?;
        return Ok(HttpResponse::Ok().json(location_dto(id, name)));
    }
    Ok(HttpResponse::Ok().json(
        rows.iter()
            .map(|(id, name, _)| location_dto(id, name))
            .collect::<Vec<_>>(),
    ))
}

async fn locations_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "LocationRequestDto")?;
    let code = required(&m, "locationCode")?;
    let acc = ctx.account.id.clone();
    let c = code.clone();
    let stored = db(&state, move |conn| {
        Ok(data::warehouses(conn, &acc, Some(&c))?)
    })
    .await?
    .into_iter()
    .find(|(id, _, _)| id == &code);
    let name = text(&m, "locationName")
        .or(stored.map(|(_, n, _)| n))
        .unwrap_or_else(|| code.clone());
    let answer = write(
        &state,
        &ctx,
        Entity::Warehouses,
        vec![json!({"id": code, "name": name})],
    )
    .await?;
    let mut dto = location_dto(&code, &name);
    dto["externalId"] = get(&m, "externalId").cloned().unwrap_or(Value::Null);
    let _ = answer;
    Ok(HttpResponse::Created().json(dto))
}

// ---------------------------------------------------------------- inventory

async fn inventory_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "SetInventoryRequest")?;
    let sum_on_hand = boolean(&m, "updateOverallAllOnHandToBeSumOfLocation").unwrap_or(false);
    let entries = list(&m, "inventory");
    let acc = ctx.account.id.clone();
    let first_location = db(&state, move |conn| Ok(data::warehouses(conn, &acc, None)?))
        .await?
        .into_iter()
        .next()
        .map(|(id, _, _)| id);
    let mut records = Vec::new();
    let mut ignored_on_order = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let product = text(e, "productId").ok_or_else(|| {
            bad(
                &format!("inventory[{i}].productId"),
                "productId is required",
            )
        })?;
        let location = match text(e, "locationCode") {
            Some(l) => l,
            None if sum_on_hand => {
                return Err(bad(
                    &format!("inventory[{i}].locationCode"),
                    "with updateOverallAllOnHandToBeSumOfLocation the overall stock is the sum of the locations: give each entry its locationCode",
                ))
            }
            None => first_location.clone().ok_or_else(|| {
                bad(
                    &format!("inventory[{i}].locationCode"),
                    "the account has no location yet: create one (POST /api/Locations) or give locationCode",
                )
            })?,
        };
        if get(e, "stockOnOrder").and_then(f64_of).unwrap_or(0.0) != 0.0 {
            ignored_on_order += 1;
        }
        let on_hand = get(e, "stockOnHand").cloned().unwrap_or(json!(0));
        records.push(json!({"variant_id": product, "warehouse_id": location, "on_hand": on_hand}));
    }
    let n = records.len();
    let answer = write(&state, &ctx, Entity::Stock, records).await?;
    let mut message = format!(
        "{n} stock level(s) received: {} created, {} updated, {} unchanged.",
        answer.created, answer.updated, answer.unchanged
    );
    if ignored_on_order > 0 {
        message.push_str(
            " stockOnOrder is not set directly here: it is what open purchase orders hold.",
        );
    }
    Ok(HttpResponse::Ok().json(json!({
        "id": 0,
        "message": message,
        "supplier": {"supplierCode": null, "supplierName": null},
        "purchaseOrderLineItems": [],
    })))
}

// ---------------------------------------------------------------- sales orders

fn sale_line_dto(
    o: &data::SalesOrder,
    line: &data::SaleLine,
    warehouses: &HashMap<String, String>,
) -> Value {
    json!({
        "id": int_id(&format!("{}\u{1f}{}", o.id, line.0)),
        "locationId": o.warehouse_id.as_deref().map(int_id).unwrap_or(0),
        "productId": line.1,
        "externalReferenceId": o.id,
        "orderDate": ts(o.ordered_at),
        "quantity": num(&line.2),
        "unitPrice": opt_num(&line.3),
        "locationCode": o.warehouse_id,
        "locationName": o.warehouse_id.as_ref().and_then(|w| warehouses.get(w)),
        "customerCode": null,
        "customerName": null,
    })
}

async fn sales_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let product = query(&req).get("productid").cloned();
    let acc = ctx.account.id.clone();
    let out = db(&state, move |conn| {
        let orders = data::sales_orders(conn, &acc, None)?;
        let wh: HashMap<String, String> = data::warehouses(conn, &acc, None)?
            .into_iter()
            .map(|(i, n, _)| (i, n))
            .collect();
        let mut out = Vec::new();
        for o in &orders {
            for l in &o.lines {
                if product.as_deref().is_none_or(|p| p == l.1) {
                    out.push(sale_line_dto(o, l, &wh));
                }
            }
        }
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One incoming sale line: (line id, native line record).
fn sale_line(m: &Map<String, Value>, field: &str) -> Result<(String, Value), StError> {
    let product = text(m, "productId")
        .ok_or_else(|| bad(&format!("{field}productId"), "productId is required"))?;
    let quantity = get(m, "quantity")
        .cloned()
        .ok_or_else(|| bad(&format!("{field}quantity"), "quantity is required"))?;
    let mut line = Map::new();
    line.insert("id".into(), product.clone().into());
    line.insert("variant_id".into(), product.clone().into());
    line.insert("quantity".into(), quantity);
    carry(&mut line, m, "unitPrice", "unit_price");
    Ok((product, Value::Object(line)))
}

enum LineMerge {
    /// Add or replace the lines given, keep the others.
    Merge,
    /// The given lines are the order's whole set.
    Replace,
}

/// Writes one sales order from its head fields and lines, merged with the
/// stored order as `how` says; returns the written order.
#[allow(clippy::too_many_arguments)]
async fn save_sale(
    state: &AppState,
    ctx: &Ctx,
    order_id: String,
    order_date: Value,
    location: Option<String>,
    customer: Option<(String, Option<String>)>,
    lines: Vec<(String, Value)>,
    how: LineMerge,
) -> Result<data::SalesOrder, StError> {
    ctx.require_write()?;
    let acc = ctx.account.id.clone();
    let oid = order_id.clone();
    let stored = db(state, move |conn| {
        Ok(data::sales_orders(
            conn,
            &acc,
            Some(std::slice::from_ref(&oid)),
        )?)
    })
    .await?
    .into_iter()
    .next();
    let mut rec = stored.as_ref().map(|o| o.record()).unwrap_or_default();
    rec.insert("id".into(), order_id.clone().into());
    rec.insert("ordered_at".into(), order_date);
    if let Some(l) = location {
        rec.insert("warehouse_id".into(), l.into());
    }
    rec.remove("removed");
    let mut merged: Vec<Value> = match how {
        LineMerge::Merge => rec
            .get("lines")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        LineMerge::Replace => vec![],
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (product, mut line) in lines {
        let n = seen.entry(product.clone()).or_insert(0);
        *n += 1;
        let line_id = if *n == 1 {
            product.clone()
        } else {
            format!("{product}#{n}")
        };
        line["id"] = line_id.clone().into();
        merged.retain(|l| l["id"].as_str() != Some(line_id.as_str()));
        merged.push(line);
    }
    rec.insert("lines".into(), Value::Array(merged));
    write(state, ctx, Entity::SalesOrders, vec![Value::Object(rec)]).await?;
    if let Some((code, name)) = customer {
        let mut c = Map::new();
        c.insert("code".into(), code.into());
        if let Some(n) = name {
            c.insert("name".into(), n.into());
        }
        save_customer(state, ctx, &c).await?;
    }
    let acc = ctx.account.id.clone();
    db(state, move |conn| {
        Ok(data::sales_orders(conn, &acc, Some(&[order_id]))?)
    })
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| StError(AppError::internal("sales order vanished after its import")))
}

fn customer_of(m: &Map<String, Value>) -> Option<(String, Option<String>)> {
    text(m, "customerCode").map(|c| (c, text(m, "customerName")))
}

async fn answer_sale(state: &AppState, ctx: &Ctx, o: &data::SalesOrder, line_id: &str) -> Res {
    let acc = ctx.account.id.clone();
    let wh: HashMap<String, String> = db(state, move |conn| {
        Ok(data::warehouses(conn, &acc, None)?
            .into_iter()
            .map(|(i, n, _)| (i, n))
            .collect())
    })
    .await?;
    let line = o
        .lines
        .iter()
        .find(|l| l.0 == line_id)
        .or(o.lines.first())
        .ok_or_else(|| StError(AppError::internal("sales order without lines")))?;
    Ok(HttpResponse::Created().json(sale_line_dto(o, line, &wh)))
}

async fn sales_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "SalesOrderRequestDto")?;
    let date = get(&m, "orderDate")
        .cloned()
        .ok_or_else(|| bad("orderDate", "orderDate is required"))?;
    let (product, line) = sale_line(&m, "")?;
    let order_id = text(&m, "externalReferenceId").unwrap_or_else(|| new_id("so"));
    let o = save_sale(
        &state,
        &ctx,
        order_id,
        date,
        text(&m, "locationCode"),
        customer_of(&m),
        vec![(product.clone(), line)],
        LineMerge::Merge,
    )
    .await?;
    answer_sale(&state, &ctx, &o, &product).await
}

async fn sales_bulk(state: State, req: HttpRequest, body: web::Bytes, how: LineMerge) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "SalesOrderWithLineItemsRequestDto")?;
    let date = get(&m, "orderDate")
        .cloned()
        .ok_or_else(|| bad("orderDate", "orderDate is required"))?;
    let items = list(&m, "saleOrderLineItems");
    if items.is_empty() {
        return Err(bad(
            "saleOrderLineItems",
            "an order needs at least one line in saleOrderLineItems",
        ));
    }
    let mut lines = Vec::new();
    for (i, l) in items.iter().enumerate() {
        lines.push(sale_line(l, &format!("saleOrderLineItems[{i}]."))?);
    }
    let order_id = items
        .iter()
        .find_map(|l| text(l, "externalReferenceId"))
        .unwrap_or_else(|| new_id("so"));
    let first = lines[0].0.clone();
    let location =
        text(&m, "locationCode").or_else(|| items.iter().find_map(|l| text(l, "locationCode")));
    let customer = customer_of(&m).or_else(|| items.iter().find_map(|l| customer_of(l)));
    let o = save_sale(&state, &ctx, order_id, date, location, customer, lines, how).await?;
    answer_sale(&state, &ctx, &o, &first).await
}

async fn sales_bulk_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    sales_bulk(state, req, body, LineMerge::Merge).await
}

async fn sales_bulk_put(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    sales_bulk(state, req, body, LineMerge::Replace).await
}

/// Removes the lines `drop` selects from the orders `pick` selects (all
/// their lines when `drop` is None); orders left without lines are marked
/// removed.
async fn remove_sales(
    state: &AppState,
    ctx: &Ctx,
    pick: impl Fn(&data::SalesOrder) -> bool + Send + 'static,
    drop: Option<String>,
) -> Res {
    ctx.require_write()?;
    let acc = ctx.account.id.clone();
    let orders = db(state, move |conn| Ok(data::sales_orders(conn, &acc, None)?)).await?;
    let mut records = Vec::new();
    for o in orders.iter().filter(|o| pick(o)) {
        let mut rec = o.record();
        match &drop {
            Some(product) => {
                if !o.lines.iter().any(|l| &l.1 == product) {
                    continue;
                }
                let kept: Vec<Value> = rec["lines"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|l| l["variant_id"].as_str() != Some(product.as_str()))
                    .collect();
                if kept.is_empty() {
                    rec.insert("removed".into(), true.into());
                } else {
                    rec.insert("lines".into(), Value::Array(kept));
                }
            }
            None => {
                rec.insert("removed".into(), true.into());
            }
        }
        records.push(Value::Object(rec));
    }
    write(state, ctx, Entity::SalesOrders, records).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn sales_delete_product(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let Some(product) = query(&req).get("productid").cloned() else {
        return Err(bad(
            "productId",
            "productId is required (DELETE /api/SalesOrders/All removes every order)",
        ));
    };
    remove_sales(&state, &ctx, |_| true, Some(product)).await
}

async fn sales_delete_all(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    remove_sales(&state, &ctx, |_| true, None).await
}

fn date_param(
    q: &HashMap<String, String>,
    key: &str,
    name: &str,
) -> Result<Option<NaiveDate>, StError> {
    let Some(v) = q.get(key) else {
        return Ok(None);
    };
    let v = v.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v.get(..10).unwrap_or(v), "%Y-%m-%d") {
        return Ok(Some(d));
    }
    Err(bad(name, "give a date as YYYY-MM-DD (or an ISO date-time)"))
}

async fn sales_delete_range(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let q = query(&req);
    let from = date_param(&q, "fromdate", "fromDate")?;
    let to = date_param(&q, "todate", "toDate")?;
    if from.is_none() && to.is_none() {
        return Err(bad("fromDate", "give fromDate, toDate or both"));
    }
    let product = q.get("productid").cloned();
    let pick = move |o: &data::SalesOrder| {
        let d = o.ordered_at.date();
        from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
    };
    remove_sales(&state, &ctx, pick, product).await
}

async fn sales_delete_location(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let Some(loc) = query(&req).get("locationcodeorname").cloned() else {
        return Err(bad("locationCodeOrName", "locationCodeOrName is required"));
    };
    let acc = ctx.account.id.clone();
    let ids: HashSet<String> = db(&state, move |conn| {
        Ok(data::warehouses(conn, &acc, Some(&loc))?)
    })
    .await?
    .into_iter()
    .map(|(id, _, _)| id)
    .collect();
    if ids.is_empty() {
        return Err(not_found_what("location"));
    }
    remove_sales(
        &state,
        &ctx,
        move |o| o.warehouse_id.as_ref().is_some_and(|w| ids.contains(w)),
        None,
    )
    .await
}

// ---------------------------------------------------------------- purchase orders

fn native_status(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "draft" => Some("draft"),
        "approved" | "sent" => Some("active"),
        "received" => Some("closed"),
        _ => None,
    }
}

fn stocktrim_status(s: &str) -> &'static str {
    match s {
        "draft" => "Draft",
        "closed" => "Received",
        _ => "Approved",
    }
}

struct Names {
    vendors: HashMap<String, String>,
    warehouses: HashMap<String, String>,
}

fn names(conn: &mut crate::db::DbConn, account: &str) -> Result<Names, ServiceError> {
    Ok(Names {
        vendors: data::vendors(conn, account, None)?
            .into_iter()
            .map(|v| (v.id, v.name))
            .collect(),
        warehouses: data::warehouses(conn, account, None)?
            .into_iter()
            .map(|(i, n, _)| (i, n))
            .collect(),
    })
}

fn po_dto(o: &data::StockOrder, n: &Names) -> Value {
    let received = o.status == "closed";
    json!({
        "id": int_id(&o.id),
        "message": null,
        "orderDate": ts(o.updated_at),
        "createdDate": ts(o.updated_at),
        "fullyReceivedDate": if received { ts(o.updated_at) } else { Value::Null },
        "supplier": {
            "supplierCode": o.vendor_id,
            "supplierName": o.vendor_id.as_ref().and_then(|v| n.vendors.get(v)),
        },
        "externalId": null,
        "referenceNumber": o.id,
        "clientReferenceNumber": o.id,
        "location": {
            "locationCode": o.destination_warehouse_id,
            "locationName": o.destination_warehouse_id.as_ref().and_then(|w| n.warehouses.get(w)),
        },
        "status": stocktrim_status(&o.status),
        "purchaseOrderLineItems": o.lines.iter().map(|(v, q, r, c)| json!({
            "productId": v,
            "quantity": num(q),
            "receivedDate": if r.is_some() && received { ts(o.updated_at) } else { Value::Null },
            "unitPrice": opt_num(c),
        })).collect::<Vec<_>>(),
    })
}

async fn load_pos(state: &AppState, ctx: &Ctx, id: Option<String>) -> Result<Vec<Value>, StError> {
    let acc = ctx.account.id.clone();
    db(state, move |conn| {
        let orders = data::purchase_orders(conn, &acc, id.as_deref())?;
        let n = names(conn, &acc)?;
        Ok(orders
            .iter()
            .filter(|o| o.status != "cancelled")
            .map(|o| po_dto(o, &n))
            .collect())
    })
    .await
}

async fn po_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let reference = query(&req).get("referencenumber").cloned();
    let one = reference.is_some();
    let rows = load_pos(&state, &ctx, reference).await?;
    if rows.is_empty() {
        return Err(not_found_what("purchase order"));
    }
    if one {
        return Ok(HttpResponse::Ok().json(&rows[0]));
    }
    Ok(HttpResponse::Ok().json(rows))
}

async fn po_v2_get(state: State, req: HttpRequest, path: web::Path<String>) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let rows = load_pos(&state, &ctx, Some(path.into_inner())).await?;
    rows.into_iter()
        .next()
        .map(|r| HttpResponse::Ok().json(r))
        .ok_or_else(|| not_found_what("purchase order"))
}

async fn po_v2_list(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let q = query(&req);
    let int = |k: &str, name: &str, default: usize| -> Result<usize, StError> {
        match q.get(k) {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| bad(name, &format!("{name} must be a whole number"))),
            None => Ok(default),
        }
    };
    let page = int("page", "page", 0)?;
    let size = int("pagesize", "pageSize", 50)?.clamp(1, 1000);
    let status = match q.get("status") {
        Some(s) => Some(
            native_status(s)
                .ok_or_else(|| bad("status", "status is one of Draft, Approved, Sent, Received"))?,
        ),
        None => None,
    };
    let rows = load_pos(&state, &ctx, None).await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .filter(|r| status.is_none_or(|s| r["status"].as_str().and_then(native_status) == Some(s)))
        .skip(page * size)
        .take(size)
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}

async fn po_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "PurchaseOrderRequestDto")?;
    let supplier = get(&m, "supplier")
        .and_then(Value::as_object)
        .and_then(|s| text(s, "supplierCode"))
        .ok_or_else(|| bad("supplier.supplierCode", "supplier.supplierCode is required"))?;
    let id = text(&m, "referenceNumber")
        .or_else(|| text(&m, "clientReferenceNumber"))
        .or_else(|| text(&m, "externalId"))
        .unwrap_or_else(|| new_id("po"));
    let status = match text(&m, "status") {
        Some(s) => native_status(&s)
            .ok_or_else(|| bad("status", "status is one of Draft, Approved, Sent, Received"))?,
        None => "draft",
    };
    let items = list(&m, "purchaseOrderLineItems");
    if items.is_empty() {
        return Err(bad(
            "purchaseOrderLineItems",
            "a purchase order needs at least one line",
        ));
    }
    let mut lines = Vec::new();
    for (i, l) in items.iter().enumerate() {
        let product = text(l, "productId").ok_or_else(|| {
            bad(
                &format!("purchaseOrderLineItems[{i}].productId"),
                "productId is required",
            )
        })?;
        let quantity = get(l, "quantity").cloned().ok_or_else(|| {
            bad(
                &format!("purchaseOrderLineItems[{i}].quantity"),
                "quantity is required",
            )
        })?;
        let mut line = Map::new();
        line.insert("id".into(), format!("{}", i + 1).into());
        line.insert("variant_id".into(), product.into());
        if status == "closed" || get(l, "receivedDate").is_some() {
            line.insert("received_quantity".into(), quantity.clone());
        }
        line.insert("quantity".into(), quantity);
        carry(&mut line, l, "unitPrice", "unit_cost");
        lines.push(Value::Object(line));
    }
    let location = get(&m, "location")
        .and_then(Value::as_object)
        .and_then(|l| text(l, "locationCode"));
    let acc = ctx.account.id.clone();
    let oid = id.clone();
    let stored = db(&state, move |conn| {
        Ok(data::purchase_orders(conn, &acc, Some(&oid))?)
    })
    .await?
    .into_iter()
    .next();
    let mut rec = Map::new();
    rec.insert("id".into(), id.clone().into());
    rec.insert("kind".into(), "purchase".into());
    rec.insert("status".into(), status.into());
    rec.insert("vendor_id".into(), supplier.into());
    if let Some(w) = location.or(stored
        .as_ref()
        .and_then(|o| o.destination_warehouse_id.clone()))
    {
        rec.insert("destination_warehouse_id".into(), w.into());
    }
    if let Some(d) = stored.as_ref().and_then(|o| o.expected_at) {
        rec.insert("expected_at".into(), d.to_string().into());
    }
    rec.insert("lines".into(), Value::Array(lines));
    let answer = write(&state, &ctx, Entity::StockOrders, vec![Value::Object(rec)]).await?;
    let dto = load_pos(&state, &ctx, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            StError(AppError::internal(
                "purchase order vanished after its import",
            ))
        })?;
    Ok(created_or_ok(&answer, dto))
}

fn po_record(o: &data::StockOrder) -> Map<String, Value> {
    let mut rec = Map::new();
    rec.insert("id".into(), o.id.clone().into());
    rec.insert("kind".into(), o.kind.clone().into());
    rec.insert("status".into(), o.status.clone().into());
    rec.insert("vendor_id".into(), o.vendor_id.clone().into());
    rec.insert(
        "destination_warehouse_id".into(),
        o.destination_warehouse_id.clone().into(),
    );
    rec.insert(
        "expected_at".into(),
        o.expected_at.map(|d| d.to_string()).into(),
    );
    rec.insert("currency".into(), o.currency.clone().into());
    rec.insert(
        "lines".into(),
        Value::Array(
            o.lines
                .iter()
                .enumerate()
                .map(|(i, (v, q, r, c))| {
                    let mut l = Map::new();
                    l.insert("id".into(), format!("{}", i + 1).into());
                    l.insert("variant_id".into(), v.clone().into());
                    l.insert("quantity".into(), q.clone().into());
                    l.insert("received_quantity".into(), r.clone().into());
                    l.insert("unit_cost".into(), c.clone().into());
                    data::compact(l)
                })
                .collect(),
        ),
    );
    rec.retain(|_, v| !v.is_null());
    rec
}

async fn po_delete(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let Some(reference) = query(&req).get("referencenumber").cloned() else {
        return Err(bad("referenceNumber", "referenceNumber is required"));
    };
    let acc = ctx.account.id.clone();
    let stored = db(&state, move |conn| {
        Ok(data::purchase_orders(conn, &acc, Some(&reference))?)
    })
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| not_found_what("purchase order"))?;
    let mut rec = po_record(&stored);
    rec.insert("removed".into(), true.into());
    write(&state, &ctx, Entity::StockOrders, vec![Value::Object(rec)]).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/V2/PurchaseOrders/OrderPlan`: one draft purchase order per
/// supplier from the fresh plan's order quantities.
async fn po_from_plan(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = if body.is_empty() {
        Map::new()
    } else {
        object(parse_body(&body)?, "OrderPlanFilterCriteriaDto")?
    };
    if text(&m, "currentStatus").is_some_and(|s| s.eq_ignore_ascii_case("discontinued")) {
        return Ok(HttpResponse::Ok().json(Vec::<Value>::new()));
    }
    let search = text(&m, "searchString").map(|s| s.to_lowercase());
    let strings = |k: &str| -> Vec<String> {
        get(&m, k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let suppliers = strings("supplierCodes");
    let locations = strings("locationCodes");
    order_plan::fresh(
        &state.db,
        &state.jobs,
        &ctx.account,
        state.config.today,
        PLAN_WAIT,
    )
    .await?;
    let acc = ctx.account.id.clone();
    let (lines, variants, warehouses) = db(&state, move |conn| {
        Ok((
            store::all_lines(conn, &acc)?,
            data::variants(conn, &acc, None, false)?,
            data::warehouses(conn, &acc, None)?,
        ))
    })
    .await?;
    let destination = match locations.first() {
        Some(l) => {
            if !warehouses.iter().any(|(id, _, _)| id == l) {
                return Err(bad("locationCodes", &format!("there is no location {l}")));
            }
            Some(l.clone())
        }
        None => warehouses.first().map(|(id, _, _)| id.clone()),
    };
    let mut by_sku: HashMap<&str, &VariantRow> = HashMap::new();
    for v in &variants {
        by_sku.entry(v.sku_norm.as_str()).or_insert(v);
    }
    // The rows to order (a supplier's, matching the search); the drafts are
    // made by the one implementation the native API and pages use.
    let mut skus = Vec::new();
    for l in lines.iter().filter(|l| l.order_quantity > 0.0) {
        if let Some(s) = &search {
            if !l.sku_key.contains(s.as_str()) && !l.title.to_lowercase().contains(s.as_str()) {
                continue;
            }
        }
        let Some(vendor) = by_sku
            .get(l.sku_key.as_str())
            .and_then(|v| v.vendor_id.as_ref())
        else {
            continue;
        };
        if !suppliers.is_empty() && !suppliers.contains(vendor) {
            continue;
        }
        skus.push(l.sku_key.clone());
    }
    if skus.is_empty() {
        return Ok(HttpResponse::Ok().json(Vec::<Value>::new()));
    }
    let request = purchase_orders::FromPlan {
        skus: Some(skus),
        destination_warehouse_id: destination,
        ..Default::default()
    };
    let actor = purchase_orders::Actor {
        email: ctx.email.clone(),
        today: state.config.today,
    };
    let account = ctx.account.clone();
    let created = db(&state, move |conn| {
        purchase_orders::from_plan(conn, &account, &request, &actor)
    })
    .await?;
    state.jobs.wake();
    let ids: Vec<String> = created.into_iter().map(|o| o.id).collect();
    let all = load_pos(&state, &ctx, None).await?;
    let out: Vec<&Value> = ids
        .iter()
        .filter_map(|id| {
            all.iter()
                .find(|p| p["referenceNumber"].as_str() == Some(id))
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

// ---------------------------------------------------------------- boms

fn components_of(v: &VariantRow) -> Vec<(String, Value)> {
    v.components
        .as_deref()
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            Some((
                c["variant_id"].as_str()?.to_string(),
                match &c["quantity"] {
                    Value::String(s) => num(s),
                    other => other.clone(),
                },
            ))
        })
        .collect()
}

fn bom_dto(
    product: &VariantRow,
    component: &str,
    quantity: &Value,
    all: &[VariantRow],
    c: &Catalogue,
) -> Value {
    let find = |id: &str| all.iter().find(|v| v.id == id).map(|v| product_dto(v, c));
    json!({
        "id": int_id(&format!("{}\u{1f}{component}", product.id)),
        "assemblyTimeDays": null,
        "skuComponent": find(component),
        "skuProduct": find(&product.id),
        "productId": product.id,
        "componentId": component,
        "quantity": quantity,
    })
}

async fn boms_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let q = query(&req);
    let product = q.get("productid").cloned();
    let component = q.get("componentid").cloned();
    let one = product.is_some() && component.is_some();
    let acc = ctx.account.id.clone();
    let out = db(&state, move |conn| {
        let all = data::variants(conn, &acc, None, false)?;
        let c = catalogue(conn, &acc)?;
        let mut out = Vec::new();
        for v in &all {
            if product.as_deref().is_some_and(|p| p != v.id) {
                continue;
            }
            for (comp, qty) in components_of(v) {
                if component.as_deref().is_some_and(|k| k != comp) {
                    continue;
                }
                out.push(bom_dto(v, &comp, &qty, &all, &c));
            }
        }
        Ok(out)
    })
    .await?;
    if one {
        let first = out
            .into_iter()
            .next()
            .ok_or_else(|| not_found_what("bill of materials line"))?;
        return Ok(HttpResponse::Created().json(first));
    }
    Ok(HttpResponse::Created().json(out))
}

async fn set_components(
    state: &AppState,
    ctx: &Ctx,
    product: &str,
    change: impl FnOnce(&mut Vec<Value>),
) -> Result<(), StError> {
    let acc = ctx.account.id.clone();
    let pid = product.to_string();
    let stored = db(state, move |conn| Ok(data::variant(conn, &acc, &pid)?))
        .await?
        .filter(|v| !v.removed)
        .ok_or_else(|| {
            StError(AppError::invalid_field(
                "productId",
                format!("there is no product {product}"),
            ))
        })?;
    let mut rec = data::variant_record(&stored);
    let mut comps: Vec<Value> = rec
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    change(&mut comps);
    if comps.is_empty() {
        rec.remove("components");
        rec.insert("assembly".into(), false.into());
    } else {
        rec.insert("components".into(), Value::Array(comps));
        rec.insert("assembly".into(), stored.tracked.into());
    }
    write(state, ctx, Entity::Variants, vec![Value::Object(rec)]).await?;
    Ok(())
}

async fn boms_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "BillOfMaterialsRequestDto")?;
    let product = required(&m, "productId")?;
    let component = required(&m, "componentId")?;
    let quantity = get(&m, "quantity").cloned().unwrap_or(json!(1));
    let (comp, qty) = (component.clone(), quantity.clone());
    set_components(&state, &ctx, &product, move |comps| {
        comps.retain(|c| c["variant_id"].as_str() != Some(comp.as_str()));
        comps.push(json!({"variant_id": comp, "quantity": qty}));
    })
    .await?;
    let acc = ctx.account.id.clone();
    let dto = db(&state, move |conn| {
        let all = data::variants(conn, &acc, None, false)?;
        let c = catalogue(conn, &acc)?;
        let p = all
            .iter()
            .find(|v| v.id == product)
            .ok_or_else(|| ServiceError::internal("product vanished after its import"))?;
        let q = components_of(p)
            .into_iter()
            .find(|(k, _)| k == &component)
            .map(|(_, q)| q)
            .unwrap_or(Value::Null);
        Ok(bom_dto(p, &component, &q, &all, &c))
    })
    .await?;
    Ok(HttpResponse::Created().json(dto))
}

async fn boms_delete(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let q = query(&req);
    let Some(product) = q.get("productid").cloned() else {
        return Err(bad("productId", "productId is required"));
    };
    let component = q.get("componentid").cloned();
    set_components(&state, &ctx, &product, move |comps| match component {
        Some(k) => comps.retain(|c| c["variant_id"].as_str() != Some(k.as_str())),
        None => comps.clear(),
    })
    .await?;
    Ok(HttpResponse::Created().finish())
}

// ---------------------------------------------------------------- forecasting

async fn run_forecast(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let account = ctx.account.clone();
    db(&state, move |conn| {
        Ok(jobs::enqueue(conn, &account, jobs::JobKind::Plan)?)
    })
    .await?;
    state.jobs.wake();
    Ok(HttpResponse::Created().finish())
}

async fn processing_get(state: State, req: HttpRequest) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let account = ctx.account.clone();
    let today = state.config.today;
    let (job, stale) = db(&state, move |conn| {
        let job = Job::open_for(conn, &account.id, jobs::JobKind::Plan)?;
        let stale = plans::is_stale(conn, &account, today)?;
        Ok((job, stale))
    })
    .await?;
    let body = match (&job, stale) {
        (Some(j), _) => {
            let pct = if j.progress_total > 0 {
                (j.progress_done * 100 / j.progress_total).clamp(0, 99)
            } else {
                0
            };
            json!({
                "id": int_id(&j.id),
                "isProcessing": true,
                "percentageComplete": pct,
                "statusMessage": if j.status == jobs::JobStatus::Running { "Calculating forecasts" } else { "Forecast calculation queued" },
            })
        }
        (None, true) => json!({
            "id": 0,
            "isProcessing": true,
            "percentageComplete": 0,
            "statusMessage": "Data changed: forecast calculation queued",
        }),
        (None, false) => json!({
            "id": 0,
            "isProcessing": false,
            "percentageComplete": 100,
            "statusMessage": "Forecasts are up to date",
        }),
    };
    Ok(HttpResponse::Ok().json(body))
}

async fn processing_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let _ctx = authenticate(&state, &req).await?;
    let m = object(parse_body(&body)?, "ProcessingStatusRequestDto")?;
    Ok(HttpResponse::Ok().json(json!({
        "isProcessing": boolean(&m, "isProcessing").unwrap_or(false),
        "percentageComplete": get(&m, "percentageComplete").cloned().unwrap_or(json!(0)),
        "statusMessage": get(&m, "statusMessage").cloned(),
    })))
}

fn sku_result(
    l: &PlanLineRow,
    v: Option<&VariantRow>,
    computed: NaiveDateTime,
    today: NaiveDate,
) -> Value {
    let lead = l.lead_time_days.round() as i64;
    let mut out = json!({
        "id": int_id(&l.sku_key),
        "skuPropertyId": null,
        "skuId": v.map(|v| int_id(&v.id)),
        "locationId": null,
        "channelId": null,
        "skuGroupingId": null,
        "skuOptimizedResultsGroupId": null,
        "tenantId": null,
        "calculatedDateTime": ts(computed),
        "effectiveToDateTime": null,
        "reorderPoint": l.reorder_point,
        "orderQuantity": l.order_quantity,
        "leadDemand": l.demand_per_day * l.lead_time_days,
        "forecastPeriodDemand": l.coverage_demand,
        "overriddenFutureDemandEffectiveFromNow": null,
        "safetyStockLevel": l.safety_stock,
        "economicOrderQuantity": null,
        "optimialStockCycle": l.days_of_stock,
        "leadTimeDays": lead,
        "reorderFrequencyDays": l.days_of_stock.round() as i64,
        "orderCount": 0,
        "latestOrderDate": null,
        "firstPurchaseDate": null,
        "minimumOrderQuantity": null,
        "batchSize": null,
        "stockOnHand": l.available,
        "stockOnOrder": l.on_order,
        "finishedGoodStockOnHand": null,
        "finishedGoodStockOnOrder": null,
        "finishedGoodQuantityUsed": null,
        "componentStockOnHand": null,
        "daysUntilReplenishmentDue": l.order_by.map(|d| (d - today).num_days()),
        "daysUntilStockOut": l.days_of_cover.map(|d| d.floor() as i64),
    });
    let more = json!({
        "isUncertain": false,
        "ordersInPreviousLeadTime": 0.0,
        "avgDailyOrdersLast120Days": 0.0,
        "leadDemandPredictionBasedOnAverage": null,
        "leadDemandPredictionBasedOnLinearRegression": null,
        "leadDemandPredictionBasedOn2ndOrderPolynomialRegression": null,
        "leadDemandPredictionBasedOnLastMonth": null,
        "leadDemandPredictionBasedOnPreviousLeadtimeDays": null,
        "standardDev": null,
        "serviceFactor": null,
        "maxRSquared": null,
        "minRSquared": null,
        "maxRange": null,
        "parentQuantity": null,
        "mostAccurateAlgorithmTypeId": null,
        "errorText": null,
    });
    let rest = json!({
        "category": l.category,
        "subCategory": null,
        "brand": l.brand,
        "productType": null,
        "option1": null,
        "option2": null,
        "option3": null,
        "size": null,
        "productCode": v.map(|v| v.id.clone()).unwrap_or_else(|| l.sku.clone()),
        "name": l.title,
        "skuCost": l.unit_cost,
        "skuPrice": v.and_then(|v| v.retail_price.as_deref().map(store::num)),
        "isDiscontinued": false,
        "isUnstocked": v.is_some_and(|v| !v.tracked),
        "productOfCount": 0,
        "componentOfCount": 0,
        "customerCount": 0,
        "locationCount": 0,
        "locationName": null,
        "showForecastForAllLocations": true,
        "manufacturingTime": null,
        "minimumShelfLevel": v.and_then(|v| v.min_stock.as_deref().map(store::num)),
        "maximumShelfLevel": v.and_then(|v| v.max_stock.as_deref().map(store::num)),
        "serviceLevel": null,
        "weight": null,
        "height": null,
        "width": null,
        "length": null,
        "dimensionsCubicMeters": null,
        "externalId": v.map(|v| v.id.clone()),
        "skuCode": l.sku,
        "externalIdParent": v.and_then(|v| v.product_id.clone()),
        "skuCodeParent": null,
        "childVariantsCount": 0,
    });
    for part in [more, rest] {
        if let (Some(o), Value::Object(m)) = (out.as_object_mut(), part) {
            o.extend(m);
        }
    }
    out
}

/// `POST /api/OrderPlan`: the stored plan in StockTrim's shape, filtered by
/// `searchString`, `supplier` (code or name), `category`, `currentStatus`
/// and `excludeManufactured`, paged by `page` (from 0) and `perPage` (all
/// rows when absent).
async fn order_plan(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let m = if body.is_empty() {
        Map::new()
    } else {
        object(parse_body(&body)?, "OrderPlanFilterCriteria")?
    };
    let page = get(&m, "page").and_then(Value::as_i64).unwrap_or(0).max(0);
    let per_page = get(&m, "perPage")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0);
    let discontinued =
        text(&m, "currentStatus").is_some_and(|s| s.eq_ignore_ascii_case("discontinued"));
    let exclude_made = boolean(&m, "excludeManufactured").unwrap_or(false);
    let supplier = text(&m, "supplier");
    let mut filter = LineFilter {
        q: text(&m, "searchString"),
        category: text(&m, "category"),
        ..LineFilter::default()
    };
    let acc = ctx.account.id.clone();
    if let Some(s) = supplier {
        let name = db(&state, move |conn| {
            Ok(data::vendors(conn, &acc, Some(&s))?
                .into_iter()
                .next()
                .map(|v| v.name)
                .unwrap_or(s))
        })
        .await?;
        filter.vendor = Some(name);
    }
    let req = PageRequest {
        filter,
        sort: "sku".into(),
        descending: false,
        page: 1,
        per_page: 100_000,
    };
    let read = order_plan::read_page(
        &state.db,
        &state.jobs,
        &ctx.account,
        state.config.today,
        req,
        Extras::Rows,
    )
    .await?;
    let acc = ctx.account.id.clone();
    let variants = db(&state, move |conn| {
        Ok(data::variants(conn, &acc, None, false)?)
    })
    .await?;
    let today = plans::planning_date(&ctx.account, state.config.today);
    let variants: HashMap<String, VariantRow> = variants
        .into_iter()
        .rev()
        .map(|v| (v.sku_norm.clone(), v))
        .collect();
    let rows: Vec<PlanLineRow> = read
        .rows
        .into_iter()
        .filter(|_| !discontinued)
        .filter(|l| {
            !exclude_made
                || !variants
                    .get(&l.sku_key)
                    .is_some_and(|v| v.assembly && v.components.is_some())
        })
        .collect();
    let (rows, has_next) = match per_page {
        Some(n) => {
            let start = (page * n) as usize;
            let has_next = rows.len() > start + n as usize;
            (
                rows.into_iter()
                    .skip(start)
                    .take(n as usize)
                    .collect::<Vec<_>>(),
                has_next,
            )
        }
        None => (rows, false),
    };
    let header = read.freshness.header;
    let computed = header
        .map(|h| h.computed_at)
        .unwrap_or_else(|| Utc::now().naive_utc());
    let results: Vec<Value> = rows
        .iter()
        .map(|l| sku_result(l, variants.get(&l.sku_key), computed, today))
        .collect();
    let mut criteria = m.clone();
    criteria.insert("page".into(), json!(page));
    criteria.insert(
        "perPage".into(),
        json!(per_page.unwrap_or(results.len() as i64)),
    );
    criteria.insert("hasNextPage".into(), json!(has_next));
    Ok(HttpResponse::Ok().json(json!({"results": results, "filterCriteria": criteria})))
}

// ---------------------------------------------------------------- settings

async fn ims_get(state: State, req: HttpRequest) -> Res {
    let _ctx = authenticate(&state, &req).await?;
    Ok(HttpResponse::Ok().json(json!({"name": "StockTrimIncomingApi"})))
}

async fn ims_post(state: State, req: HttpRequest, body: web::Bytes) -> Res {
    let ctx = authenticate(&state, &req).await?;
    ctx.require_write()?;
    let m = object(parse_body(&body)?, "InventoryManagementSystemRequest")?;
    match text(&m, "api") {
        Some(a) if a == "StockTrimIncomingApi" || a == "CsvUpload" => {
            Ok(HttpResponse::Created().finish())
        }
        _ => Err(StError(AppError::Conflict {
            code: "not_supported",
            message: "This account is fed through this API (StockTrimIncomingApi); connect other systems as tributary connections.".into(),
        })),
    }
}

async fn configuration_get(state: State, req: HttpRequest, path: web::Path<String>) -> Res {
    let ctx = authenticate(&state, &req).await?;
    let name = path.into_inner();
    let value = match name.to_ascii_lowercase().as_str() {
        "currency" => Some(ctx.account.currency.clone()),
        "timezone" => Some(ctx.account.timezone.clone()),
        "leadtime" => Some(ctx.account.lead_time_days.to_string()),
        "servicelevel" => Some(ctx.account.service_level.to_string()),
        _ => None,
    };
    match value {
        Some(v) => Ok(HttpResponse::Ok().json(json!({"name": v}))),
        None => Err(not_found_what("configuration value")),
    }
}
