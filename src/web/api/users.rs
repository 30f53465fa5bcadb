//! `/api/v1/users`: admins list and add the people of their organisation and
//! change their roles (the first user of a server comes from `tributary user
//! add`); anyone logged in changes their own password. Changing a role or a
//! password ends that user's sessions and tokens.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{client_address, recheck_password, Caller, LoginLimiter};
use crate::crypto::hash_password;
use crate::db::models::User;
use crate::services::users as service;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::error::AppError;

/// `POST /api/v1/users` body. Its `Debug` output hides the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login e-mail.
    pub email: String,
    /// Initial password (at least 12 characters).
    pub password: String,
    /// `admin` or `viewer` (default `viewer`).
    pub role: Option<String>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// `PATCH /api/v1/users/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// `admin` or `viewer`.
    pub role: String,
}

/// `POST /api/v1/users/me/password` body. Its `Debug` output hides both
/// passwords.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    pub current_password: String,
    /// The new password (at least 12 characters).
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassword")
            .field("current_password", &"<redacted>")
            .field("new_password", &"<redacted>")
            .finish()
    }
}

/// A user as listed (never the password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: String,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            created_at: crate::services::accounts::utc(u.created_at),
        }
    }
}

fn require_admin(caller: &Caller) -> Result<(), AppError> {
    caller.require_person()?;
    if caller.role != "admin" {
        return Err(AppError::Forbidden("Only admins manage users.".into()));
    }
    Ok(())
}

/// Hashes a password on the blocking pool (argon2 is deliberately slow and
/// must hold neither a worker thread nor a database connection).
async fn hash_off_pool(password: String) -> Result<String, AppError> {
    web::block(move || hash_password(&password))
        .await
        .map_err(AppError::internal)
}

/// The organisation's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<UserView>>, AppError> {
    require_admin(&caller)?;
    let org = caller.organisation_id.clone();
    let users = state
        .db
        .run(move |conn| User::list_by_organisation(conn, &org).map_err(AppError::from))
        .await?;
    Ok(web::Json(users.iter().map(UserView::from).collect()))
}

/// Adds a user to the caller's organisation.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, AppError> {
    require_admin(&caller)?;
    let body = body.into_inner();
    let org = caller.organisation_id.clone();
    let role = body.role.unwrap_or_else(|| "viewer".into());
    let email = body.email.trim().to_lowercase();
    let taken = {
        let email = email.clone();
        state
            .db
            .run(move |conn| User::find_by_email(conn, &email).map_err(AppError::from))
            .await?
            .is_some()
    };
    if taken {
        return Err(AppError::Conflict {
            code: "email_taken",
            message: "A user with that e-mail already exists.".into(),
        });
    }
    let email = service::validate_new_user(&email, &body.password, &role)?;
    let hash = hash_off_pool(body.password).await?;
    let user = state
        .db
        .run(move |conn| {
            if User::find_by_email(conn, &email)?.is_some() {
                return Err(AppError::Conflict {
                    code: "email_taken",
                    message: "A user with that e-mail already exists.".into(),
                });
            }
            let added = service::add_user_to_organisation(conn, &email, &hash, &org, &role)?;
            User::find_by_id(conn, &added)?
                .ok_or_else(|| AppError::internal("user vanished after insert"))
        })
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

/// Changes a user's role (admins only). The user's sessions and tokens end;
/// they log in again with the new role. The organisation's last admin
/// cannot step down (409).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UpdateUser>,
) -> Result<web::Json<UserView>, AppError> {
    require_admin(&caller)?;
    let id = path.into_inner();
    let org = caller.organisation_id.clone();
    let role = body.into_inner().role;
    let user = state
        .db
        .run(move |conn| service::change_role(conn, &org, &id, &role).map_err(AppError::from))
        .await?;
    Ok(web::Json(UserView::from(&user)))
}

/// Changes the caller's own password (people only, not API keys): the
/// current password must be right (wrong answers count against the login
/// limits), the new one must have at least 12 characters. Every session
/// and token of the user ends, this one included: log in again.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", request_body = ChangePassword,
    responses((status = 204, description = "Changed; every session of the user has ended"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn change_password(
    state: web::Data<AppState>,
    limiter: web::Data<LoginLimiter>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<ChangePassword>,
) -> Result<HttpResponse, AppError> {
    caller.require_person()?;
    let body = body.into_inner();
    let id = caller.user_id.clone();
    let user = state
        .db
        .run(move |conn| User::find_by_id(conn, &id).map_err(AppError::from))
        .await?
        .ok_or_else(|| AppError::Unauthorized("The token is no longer valid.".into()))?;
    recheck_password(
        &limiter,
        &client_address(&req),
        &user,
        body.current_password,
    )
    .await?;
    service::check_new_password("new_password", &body.new_password)?;
    let hash = hash_off_pool(body.new_password).await?;
    state
        .db
        .run(move |conn| service::set_password_hash(conn, &user.id, &hash).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
