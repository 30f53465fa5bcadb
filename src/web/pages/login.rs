//! The login form, the session cookie, and logging out.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::SESSION_COOKIE;
use crate::state::AppState;
use crate::web::api::auth::check_credentials;
use crate::web::error::AppError;
use crate::web::pages::{check_csrf, redirect, render};

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Error to show.
    pub error: Option<String>,
    /// E-mail to prefill.
    pub email: String,
    /// Where to go after logging in.
    pub next: String,
}

/// Query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go after logging in.
    pub next: Option<String>,
}

/// Login form fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Where to go after logging in.
    pub next: Option<String>,
}

/// Logout form fields.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// CSRF token.
    pub csrf_token: String,
}

/// Only local paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") => n.to_string(),
        _ => "/accounts".to_string(),
    }
}

/// Shows the login form.
pub async fn form(query: web::Query<LoginQuery>) -> Result<HttpResponse, AppError> {
    render(&LoginPage {
        error: None,
        email: String::new(),
        next: safe_next(query.next.as_deref()),
    })
}

/// Checks the credentials and sets the session cookie.
pub async fn submit(
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    match check_credentials(&state, form.email.clone(), form.password).await {
        Ok(user) => {
            let (token, _) = state.jwt.issue(&user);
            let cookie = Cookie::build(SESSION_COOKIE, token)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.config.https)
                .max_age(CookieDuration::seconds(state.config.jwt_ttl_seconds))
                .finish();
            let mut resp = redirect(&next);
            resp.add_cookie(&cookie).map_err(AppError::internal)?;
            Ok(resp)
        }
        Err(AppError::Unauthorized(message)) => {
            let mut resp = render(&LoginPage {
                error: Some(message),
                email: form.email,
                next,
            })?;
            *resp.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

/// Clears the session cookie.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    let mut cookie = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    let mut resp = redirect("/login");
    resp.add_cookie(&cookie).map_err(AppError::internal)?;
    Ok(resp)
}
