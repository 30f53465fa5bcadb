//! Accounts: list, get, create a child (the master appears with the second
//! child), and update settings.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::db::models::Account;
use crate::services::accounts::{self, AccountPatch, NewChild, PlanningPatch};
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Account-wide planning defaults.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Planning {
    /// Lead time in days (default 14).
    pub lead_time_days: i32,
    /// Days of stock to cover after the lead time (default 30).
    pub days_of_stock: i32,
    /// Target service level, between 0 and 1 exclusive (default 0.95).
    pub service_level: f64,
}

/// Partial planning settings in a PATCH.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanningPatchBody {
    /// Lead time in days.
    pub lead_time_days: Option<i32>,
    /// Days of stock.
    pub days_of_stock: Option<i32>,
    /// Service level.
    pub service_level: Option<f64>,
}

/// An account as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// Opaque id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Master or child.
    pub kind: crate::domain::AccountKind,
    /// The master above this child.
    pub master_id: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// IANA time zone.
    pub timezone: String,
    /// `{"kind", ...settings without secrets}`; null on a master.
    #[schema(value_type = Option<Object>)]
    pub connection: Option<Value>,
    /// Whether the master counts this child's stock.
    pub include_stock: bool,
    /// Whether the master counts this child's sales.
    pub include_sales: bool,
    /// Planning defaults.
    pub planning: Planning,
    /// Last successful sync.
    pub last_synced_at: Option<chrono::DateTime<Utc>>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        let connection = a.connection_kind.as_ref().map(|kind| {
            let mut map: Map<String, Value> = a
                .connection_settings
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            map.insert("kind".into(), Value::String(kind.clone()));
            Value::Object(map)
        });
        AccountView {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            master_id: a.master_id.clone(),
            currency: a.currency.clone(),
            timezone: a.timezone.clone(),
            connection,
            include_stock: a.include_stock,
            include_sales: a.include_sales,
            planning: Planning {
                lead_time_days: a.lead_time_days,
                days_of_stock: a.days_of_stock,
                service_level: a.service_level,
            },
            last_synced_at: a.last_synced_at.map(accounts::utc),
        }
    }
}

/// `POST /api/v1/accounts` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Name.
    pub name: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// IANA time zone (default UTC).
    pub timezone: Option<String>,
    /// `{"kind", ...settings}`; default `{"kind": "manual"}`.
    #[schema(value_type = Option<Object>)]
    pub connection: Option<Value>,
}

/// `PATCH /api/v1/accounts/{id}` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// Name.
    pub name: Option<String>,
    /// Currency.
    pub currency: Option<String>,
    /// Time zone.
    pub timezone: Option<String>,
    /// Include the child's stock in the master.
    pub include_stock: Option<bool>,
    /// Include the child's sales in the master.
    pub include_sales: Option<bool>,
    /// Connection settings (secrets left out keep their stored values).
    #[schema(value_type = Option<Object>)]
    pub connection: Option<Value>,
    /// Planning defaults.
    pub planning: Option<PlanningPatchBody>,
}

impl From<CreateAccount> for NewChild {
    fn from(b: CreateAccount) -> Self {
        NewChild {
            name: b.name,
            currency: b.currency,
            timezone: b.timezone,
            connection: b.connection,
        }
    }
}

impl From<UpdateAccount> for AccountPatch {
    fn from(b: UpdateAccount) -> Self {
        AccountPatch {
            name: b.name,
            currency: b.currency,
            timezone: b.timezone,
            include_stock: b.include_stock,
            include_sales: b.include_sales,
            connection: b.connection,
            planning: b.planning.map(|p| PlanningPatch {
                lead_time_days: p.lead_time_days,
                days_of_stock: p.days_of_stock,
                service_level: p.service_level,
            }),
        }
    }
}

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
    let input = NewChild::from(body.into_inner());
    let created = state
        .db
        .run(move |conn| accounts::create_child(conn, &org, &input, &st.secrets, &st.config.sync))
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
    let patch = AccountPatch::from(body.into_inner());
    let st = state.clone();
    let updated = state
        .db
        .run(move |conn| accounts::update(conn, &account, &patch, &st.secrets, &st.config.sync))
        .await?;
    Ok(web::Json(AccountView::from(&updated)))
}
