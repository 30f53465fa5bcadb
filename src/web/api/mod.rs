//! The JSON API (`api.md`): handlers validate, call the domain and storage
//! layers through `Db::run`, and answer JSON. They never build queries.

pub mod accounts;
pub mod api_keys;
pub mod auth;
pub mod demand;
pub mod feeds;
pub mod forecast_edits;
pub mod imports;
pub mod openapi;
pub mod plans;
pub mod purchase_orders;
pub mod supply;
pub mod sync;
pub mod users;

use actix_web::web;

use crate::auth::Caller;
use crate::db::models::Account;
use crate::state::AppState;
use crate::web::error::AppError;

/// Declares the `/api/v1` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi::serve))
        .route("/auth/token", web::post().to(auth::token))
        .route("/auth/logout", web::post().to(auth::logout))
        .route("/users", web::get().to(users::list))
        .route("/users", web::post().to(users::create))
        .route("/users/me/password", web::post().to(users::change_password))
        .route("/users/{id}", web::patch().to(users::update))
        .route("/api-keys", web::get().to(api_keys::list))
        .route("/api-keys", web::post().to(api_keys::create))
        .route("/api-keys/{id}", web::delete().to(api_keys::revoke))
        .route("/accounts", web::get().to(accounts::list))
        .route("/accounts", web::post().to(accounts::create))
        .route("/accounts/{id}", web::get().to(accounts::get))
        .route("/accounts/{id}", web::patch().to(accounts::update))
        .configure(imports::configure)
        .configure(plans::configure)
        .configure(purchase_orders::configure)
        .configure(demand::configure)
        .configure(feeds::configure)
        .configure(supply::configure)
        .configure(forecast_edits::configure)
        .configure(sync::configure);
}

/// Loads an account the caller may see, or 404.
pub async fn visible_account(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<Account, AppError> {
    if !caller.can_see(&id) {
        return Err(AppError::not_found("account"));
    }
    let org = caller.organisation_id.clone();
    state
        .db
        .read(move |conn| Account::find_in_organisation(conn, &org, &id).map_err(AppError::from))
        .await?
        .ok_or_else(|| AppError::not_found("account"))
}
