//! `POST /api/v1/auth/token`: e-mail and password for a JWT.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::verify_password;
use crate::db::models::User;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::error::AppError;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Login e-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A bearer token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub token: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Checks credentials off the async workers (argon2 is deliberately slow).
pub async fn check_credentials(
    state: &AppState,
    email: String,
    password: String,
) -> Result<User, AppError> {
    state
        .db
        .run(move |conn| {
            let user = User::find_by_email(conn, &email)?;
            Ok::<_, AppError>(user.filter(|u| verify_password(&password, &u.password_hash)))
        })
        .await?
        .ok_or_else(|| AppError::Unauthorized("The e-mail or password is not right.".into()))
}

/// Exchanges e-mail and password for a JWT.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
pub async fn token(
    state: web::Data<AppState>,
    body: web::Json<TokenRequest>,
) -> Result<web::Json<TokenResponse>, AppError> {
    let body = body.into_inner();
    let user = check_credentials(&state, body.email, body.password).await?;
    let (token, expires_at) = state.jwt.issue(&user);
    Ok(web::Json(TokenResponse { token, expires_at }))
}
