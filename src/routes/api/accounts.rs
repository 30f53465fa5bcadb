//! Accounts: list, get, create a child (the master appears with the second
//! child), and update settings.

use actix_web::{web, HttpResponse};

use crate::accounts::{self, AccountView, CreateAccount, UpdateAccount};
use crate::auth::Caller;
use crate::db::models::Account;
use crate::error::AppError;
use crate::routes::api::openapi::ErrorBody;
use crate::routes::api::visible_account;
use crate::startup::AppState;

/// Every account the caller may see, master first.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    responses((status = 200, body = Vec<AccountView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<AccountView>>, AppError> {
    let org = caller.organisation_id.clone();
    let rows = state
        .db
        .run(move |conn| Account::list_by_organisation(conn, &org).map_err(AppError::from))
        .await?;
    Ok(web::Json(
        rows.iter()
            .filter(|a| caller.can_see(&a.id))
            .map(AccountView::from)
            .collect(),
    ))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<AccountView>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    Ok(web::Json(AccountView::from(&account)))
}

/// Creates a child account; the organisation's second child creates the
/// master "All accounts" above both.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = AccountView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateAccount>,
) -> Result<HttpResponse, AppError> {
    caller.require_write()?;
    if caller.key.as_ref().is_some_and(|k| k.account_ids.is_some()) {
        return Err(AppError::Forbidden(
            "A key scoped to some accounts cannot add accounts.".into(),
        ));
    }
    let org = caller.organisation_id.clone();
    let st = state.clone();
    let created = state
        .db
        .run(move |conn| accounts::create_child(conn, &org, &body, &st.secrets))
        .await?;
    tracing::info!(account = %created.id, kind = ?created.connection_kind, "account created");
    Ok(HttpResponse::Created().json(AccountView::from(&created)))
}

/// Updates names, currency, time zone, include flags, connection settings
/// and planning defaults.
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts", request_body = UpdateAccount,
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UpdateAccount>,
) -> Result<web::Json<AccountView>, AppError> {
    let account = visible_account(&state, &caller, path.into_inner()).await?;
    caller.require_write()?;
    let changes = accounts::changes_for(&account, &body, &state.secrets)?;
    let id = account.id.clone();
    let updated = state
        .db
        .run(move |conn| {
            Account::update(conn, &id, &changes)?;
            Account::find_by_id(conn, &id)?.ok_or_else(|| AppError::not_found("account"))
        })
        .await?;
    Ok(web::Json(AccountView::from(&updated)))
}
