//! `/api/v1/users`: admins list and add the people of their organisation
//! (the first user of a server comes from `tributary user add`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::db::models::User;
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::error::AppError;

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login e-mail.
    pub email: String,
    /// Initial password.
    pub password: String,
    /// `admin` or `viewer` (default `viewer`).
    pub role: Option<String>,
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
    let user = state
        .db
        .run(move |conn| {
            if User::find_by_email(conn, &body.email)?.is_some() {
                return Err(AppError::Conflict {
                    code: "email_taken",
                    message: "A user with that e-mail already exists.".into(),
                });
            }
            let added = crate::services::users::add_user_to_organisation(
                conn,
                &body.email,
                &body.password,
                &org,
                &role,
            )?;
            User::find_by_id(conn, &added)?
                .ok_or_else(|| AppError::internal("user vanished after insert"))
        })
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}
