//! Acting on the plan (`api.md`): purchase orders drafted from the order
//! plan, listed, read, edited, confirmed, received and cancelled, with
//! their history. The work is `services::purchase_orders`; a handler
//! checks the caller, calls it and answers JSON.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::auth::Caller;
use crate::db::models::Account;
use crate::services::order_plan;
use crate::services::purchase_orders::{
    self as po, Actor, FromPlan, HistoryEntry, LinePatch, LineView, ListParams, OrderPatch,
    OrderView, PushView, QuantityLine, Receipt, ReceiptLine,
};
use crate::services::transfers::{self, Accept, AcceptItem, Suggestion};
use crate::services::ServiceError;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Declares the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/accounts/{id}/purchase-orders/from-plan",
        web::post().to(from_plan),
    )
    .route("/accounts/{id}/purchase-orders", web::get().to(list))
    .route("/purchase-orders/{po_id}", web::get().to(get))
    .route("/purchase-orders/{po_id}", web::patch().to(patch))
    .route("/purchase-orders/{po_id}/confirm", web::post().to(confirm))
    .route("/purchase-orders/{po_id}/receive", web::post().to(receive))
    .route("/purchase-orders/{po_id}/cancel", web::post().to(cancel))
    .route("/purchase-orders/{po_id}/push", web::post().to(push))
    .route("/purchase-orders/{po_id}/history", web::get().to(history))
    .route(
        "/accounts/{id}/transfer-suggestions",
        web::get().to(transfer_suggestions),
    )
    .route(
        "/accounts/{id}/transfer-suggestions/accept",
        web::post().to(accept_transfers),
    );
}

/// The purchase-order part of the API description.
#[derive(OpenApi)]
#[openapi(
    paths(
        from_plan,
        list,
        get,
        patch,
        confirm,
        receive,
        cancel,
        push,
        history,
        transfer_suggestions,
        accept_transfers
    ),
    components(schemas(
        OrderView,
        LineView,
        PushView,
        HistoryEntry,
        FromPlan,
        QuantityLine,
        OrderPatch,
        LinePatch,
        Receipt,
        ReceiptLine,
        Suggestion,
        Accept,
        AcceptItem
    ))
)]
pub struct PurchaseOrdersDoc;

/// The accounts the caller may see (an order is found among them).
pub async fn visible_accounts(state: &AppState, caller: &Caller) -> Result<Vec<Account>, AppError> {
    let org = caller.organisation_id.clone();
    let all = state
        .db
        .run(move |conn| Account::list_by_organisation(conn, &org).map_err(AppError::from))
        .await?;
    Ok(all.into_iter().filter(|a| caller.can_see(&a.id)).collect())
}

fn actor(state: &AppState, caller: &Caller) -> Actor {
    Actor {
        email: caller.email.clone(),
        today: state.config.today,
    }
}

/// Drafts purchase orders from the account's order plan: one per vendor
/// and destination.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/purchase-orders/from-plan", tag = "orders",
    request_body = FromPlan,
    params(("id" = String, Path, description = "Account id (a child or a master)")),
    responses((status = 201, body = Vec<OrderView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn from_plan(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<FromPlan>,
) -> Result<HttpResponse, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    // The plan it orders from: fresh if it can be within the wait.
    order_plan::fresh(
        &state.db,
        &state.jobs,
        &account,
        state.config.today,
        order_plan::PLAN_WAIT,
    )
    .await?;
    let act = actor(&state, &caller);
    let req = body.into_inner();
    let created = state
        .db
        .run(move |conn| po::from_plan(conn, &account, &req, &act))
        .await?;
    state.jobs.wake();
    Ok(HttpResponse::Created().json(created))
}

/// Query of an order list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `draft`, `active`, `closed` or `cancelled`.
    pub status: Option<String>,
    /// Vendor id.
    pub vendor_id: Option<String>,
    /// Destination warehouse id.
    pub destination_warehouse_id: Option<String>,
    /// `true`: only active orders expected before the planning date with something open.
    pub overdue: Option<bool>,
    /// Expected on or after (YYYY-MM-DD).
    pub expected_from: Option<chrono::NaiveDate>,
    /// Expected on or before (YYYY-MM-DD).
    pub expected_to: Option<chrono::NaiveDate>,
}

/// An account's stock orders of every kind (a master: its children's),
/// created here or imported; newest change first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/purchase-orders", tag = "orders",
    params(("id" = String, Path, description = "Account id"), ListQuery),
    responses((status = 200, body = Vec<OrderView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Vec<OrderView>>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    let q = query.into_inner();
    let params = ListParams {
        status: q.status,
        vendor_id: q.vendor_id,
        destination_warehouse_id: q.destination_warehouse_id,
        overdue: q.overdue,
        expected_from: q.expected_from,
        expected_to: q.expected_to,
    };
    let today = state.config.today;
    let rows = state
        .db
        .run(move |conn| po::list(conn, &account, &params, today))
        .await?;
    Ok(web::Json(rows))
}

/// One order.
#[utoipa::path(get, path = "/api/v1/purchase-orders/{po_id}", tag = "orders",
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<OrderView>, AppError> {
    let visible = visible_accounts(&state, &caller).await?;
    let id = path.into_inner();
    let today = state.config.today;
    let v = state
        .db
        .run(move |conn| po::get(conn, &visible, &id, today))
        .await?;
    Ok(web::Json(v))
}

/// Runs a change of one order for a writer and wakes the plan worker.
async fn change(
    state: &web::Data<AppState>,
    caller: &Caller,
    id: String,
    f: impl FnOnce(&mut crate::db::DbConn, &[Account], &str, &Actor) -> Result<OrderView, ServiceError>
        + Send
        + 'static,
) -> Result<web::Json<OrderView>, AppError> {
    let visible = visible_accounts(state, caller).await?;
    caller.require_write()?;
    let act = actor(state, caller);
    let v = state
        .db
        .run(move |conn| f(conn, &visible, &id, &act))
        .await?;
    state.jobs.wake();
    Ok(web::Json(v))
}

/// Edits an order: while draft its lines, quantities, dates, vendor and
/// destination; once active its dates and the cancelling of open lines.
#[utoipa::path(patch, path = "/api/v1/purchase-orders/{po_id}", tag = "orders",
    request_body = OrderPatch,
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<OrderPatch>,
) -> Result<web::Json<OrderView>, AppError> {
    let body = body.into_inner();
    change(&state, &caller, path.into_inner(), move |c, v, id, a| {
        po::edit(c, v, id, &body, a)
    })
    .await
}

/// Confirms a draft: it is active, on order for the plan at once.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{po_id}/confirm", tag = "orders",
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn confirm(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<OrderView>, AppError> {
    let confirmed = change(&state, &caller, path.into_inner(), po::confirm).await?;
    Ok(web::Json(
        push_confirmed(&state, &caller, confirmed.into_inner()).await,
    ))
}

/// Pushes a just-confirmed order where its account's connection has an
/// answer for it (pushed, failed or unsupported, all kept on the order); the
/// confirmation stands whatever the push does.
pub async fn push_confirmed(state: &AppState, caller: &Caller, order: OrderView) -> OrderView {
    let Ok(visible) = visible_accounts(state, caller).await else {
        return order;
    };
    let Some(account) = visible.iter().find(|a| a.id == order.account_id) else {
        return order;
    };
    if po::push_support(account).is_none() {
        return order;
    }
    let ctx = crate::services::sync::SyncContext {
        config: state.config.sync.clone(),
        secrets: state.secrets.clone(),
    };
    let id = order.id.clone();
    match po::push(&state.db, &ctx, visible, id, actor(state, caller)).await {
        Ok(pushed) => pushed,
        Err(e) => {
            tracing::warn!(error = %e, "push after confirm");
            order
        }
    }
}

/// Writes a confirmed order to the account's connection: a `tributary`
/// source takes it as a stock order (idempotent by the order's id); Shopify
/// and WooCommerce have none (`unsupported`). A failed push answers 200 with
/// `push.state` `failed` and its error, and can be pushed again.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{po_id}/push", tag = "orders",
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn push(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<OrderView>, AppError> {
    let visible = visible_accounts(&state, &caller).await?;
    caller.require_write()?;
    let ctx = crate::services::sync::SyncContext {
        config: state.config.sync.clone(),
        secrets: state.secrets.clone(),
    };
    let v = po::push(
        &state.db,
        &ctx,
        visible,
        path.into_inner(),
        actor(&state, &caller),
    )
    .await?;
    Ok(web::Json(v))
}

/// Receives all or part of some lines of an active order.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{po_id}/receive", tag = "orders",
    request_body = Receipt,
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn receive(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Receipt>,
) -> Result<web::Json<OrderView>, AppError> {
    let body = body.into_inner();
    change(&state, &caller, path.into_inner(), move |c, v, id, a| {
        po::receive(c, v, id, &body, a)
    })
    .await
}

/// Cancels a draft or active order.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{po_id}/cancel", tag = "orders",
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<OrderView>, AppError> {
    change(&state, &caller, path.into_inner(), po::cancel).await
}

/// Who changed what, when.
#[utoipa::path(get, path = "/api/v1/purchase-orders/{po_id}/history", tag = "orders",
    params(("po_id" = String, Path, description = "Order id")),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<HistoryEntry>>, AppError> {
    let visible = visible_accounts(&state, &caller).await?;
    let id = path.into_inner();
    let rows = state
        .db
        .run(move |conn| po::history(conn, &visible, &id))
        .await?;
    Ok(web::Json(rows))
}

/// Surplus in one child moved to a short child before anything is bought
/// (a master); suggestions change no plan until accepted.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/transfer-suggestions", tag = "orders",
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 200, body = Vec<Suggestion>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn transfer_suggestions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<Vec<Suggestion>>, AppError> {
    let master = visible_account(&state, &caller, path.into_inner()).await?;
    order_plan::fresh(
        &state.db,
        &state.jobs,
        &master,
        state.config.today,
        order_plan::PLAN_WAIT,
    )
    .await?;
    let rows = state
        .db
        .run(move |conn| transfers::suggestions(conn, &master))
        .await?;
    Ok(web::Json(rows))
}

/// Turns suggestions into draft transfers: a pair of orders per item, out
/// of the sending child and into the receiving one.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/transfer-suggestions/accept", tag = "orders",
    request_body = Accept,
    params(("id" = String, Path, description = "Master account id")),
    responses((status = 201, body = Vec<OrderView>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn accept_transfers(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Accept>,
) -> Result<HttpResponse, AppError> {
    let master = visible_account(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    let act = actor(&state, &caller);
    let body = body.into_inner();
    let made = state
        .db
        .run(move |conn| transfers::accept(conn, &master, &body, &act))
        .await?;
    state.jobs.wake();
    Ok(HttpResponse::Created().json(made))
}
