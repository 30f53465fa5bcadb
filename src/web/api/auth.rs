//! `POST /api/v1/auth/token`: e-mail and password for a JWT, under the login
//! limits; `POST /api/v1/auth/logout`: end every session and token of the
//! caller's user.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{client_address, Caller, LoginLimiter};
use crate::db::models::User;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::error::AppError;

/// Credentials. Its `Debug` output hides the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Login e-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A bearer token. Its `Debug` output hides the token.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub token: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Checks credentials under the login limits (429 past them), with argon2
/// off the async workers and off the database pool.
pub async fn check_credentials(
    state: &AppState,
    limiter: &LoginLimiter,
    req: &HttpRequest,
    email: String,
    password: String,
) -> Result<User, AppError> {
    Ok(crate::auth::login(&state.db, limiter, &client_address(req), email, password).await?)
}

/// Exchanges e-mail and password for a JWT. A few failures for one e-mail
/// (or more from one address) within a minute answer 429 with
/// `Retry-After` until the window has passed.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest, security(()),
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn token(
    state: web::Data<AppState>,
    limiter: web::Data<LoginLimiter>,
    req: HttpRequest,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let user = check_credentials(&state, &limiter, &req, body.email, body.password).await?;
    let (token, expires_at) = state.jwt.issue(&user);
    // A credential: no cache may keep it.
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse { token, expires_at }))
}

/// Ends every session and token of the caller's user (all devices, page
/// sessions included). API keys are not affected (revoke them by id) and
/// cannot call this.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Every session and token of the user has ended"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    caller.require_person()?;
    let id = caller.user_id.clone();
    state
        .db
        .run(move |conn| User::end_sessions(conn, &id).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
