//! API keys: create (the key is shown once), list, revoke. Keys cannot
//! manage keys.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::crypto::{hash_api_key, new_id, random_token};
use crate::db::models::{Account, ApiKey, NewApiKey};
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::error::{AppError, Detail};

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name to recognise the key by.
    pub name: String,
    /// Accounts the key may see; null or absent for all.
    pub account_ids: Option<Vec<String>>,
    /// Read-only key (default false).
    #[serde(default)]
    pub read_only: bool,
}

/// A new key: `key` is shown only in this answer. Its `Debug` output hides
/// the key.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// Key id (for revoking).
    pub id: String,
    /// The key itself, to send as a bearer token.
    pub key: String,
    /// Name.
    pub name: String,
    /// Scope.
    pub account_ids: Option<Vec<String>>,
    /// Read-only flag.
    pub read_only: bool,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("name", &self.name)
            .field("account_ids", &self.account_ids)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// A stored key as listed (never the key).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Scope.
    pub account_ids: Option<Vec<String>>,
    /// Read-only flag.
    pub read_only: bool,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
}

/// Creates a key.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateApiKey>,
) -> Result<HttpResponse, AppError> {
    caller.require_person()?;
    caller.require_write()?;
    let body = body.into_inner();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    let key = format!("trb_{}", random_token(40));
    let id = new_id("key");
    let org = caller.organisation_id.clone();
    let scope = body.account_ids.clone();
    let (key_hash, id2, user_id) = (hash_api_key(&key), id.clone(), caller.user_id.clone());
    let read_only = body.read_only;
    state
        .db
        .run(move |conn| {
            if let Some(ids) = &scope {
                let known = Account::list_by_organisation(conn, &org)?;
                let details: Vec<Detail> = ids
                    .iter()
                    .enumerate()
                    .filter(|(_, id)| !known.iter().any(|a| &a.id == *id))
                    .map(|(i, _)| {
                        Detail::field(format!("account_ids[{}]", i + 1), "no such account")
                    })
                    .collect();
                if !details.is_empty() {
                    return Err(AppError::invalid("Some account ids are unknown.", details));
                }
            }
            ApiKey::insert(
                conn,
                &NewApiKey {
                    id: &id2,
                    organisation_id: &org,
                    user_id: &user_id,
                    name: &name,
                    key_hash: &key_hash,
                    account_ids: scope.map(|s| serde_json::to_string(&s).unwrap_or_default()),
                    read_only,
                    created_at: Utc::now().naive_utc(),
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiKey {
        id,
        key,
        name: body.name.trim().to_string(),
        account_ids: body.account_ids,
        read_only,
    }))
}

/// Lists the organisation's live keys (without the keys).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = Vec<ApiKeyView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<ApiKeyView>>, AppError> {
    caller.require_person()?;
    let org = caller.organisation_id.clone();
    let keys = state
        .db
        .run(move |conn| ApiKey::list_by_organisation(conn, &org).map_err(AppError::from))
        .await?;
    Ok(web::Json(
        keys.iter()
            .map(|k| ApiKeyView {
                id: k.id.clone(),
                name: k.name.clone(),
                // A scope that cannot be read grants nothing: shown empty.
                account_ids: k.scope().unwrap_or_else(|_| Some(Vec::new())),
                read_only: k.read_only,
                created_at: crate::services::accounts::utc(k.created_at),
            })
            .collect(),
    ))
}

/// Revokes a key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require_person()?;
    caller.require_write()?;
    let id = path.into_inner();
    let org = caller.organisation_id.clone();
    let revoked = state
        .db
        .run(move |conn| {
            ApiKey::revoke(conn, &org, &id, Utc::now().naive_utc()).map_err(AppError::from)
        })
        .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::not_found("API key"))
    }
}
