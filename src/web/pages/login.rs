//! The login form, the session cookie, and logging out.
//!
//! The form carries a CSRF token although there is no session yet: showing
//! it sets a random pre-session cookie (or keeps the browser's, so several
//! open login tabs all work), and the form's hidden token is that
//! value's HMAC under the server secret; a post without both (a form on
//! another site, a script that never loaded the page) is refused with 403.
//! Logins go through the same limits as the API (429 with `Retry-After`).
//! After logging in only local paths are followed (`next`), and logging out
//! ends every session and token of the user.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::{authenticate, LoginLimiter, Via, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use crate::crypto::random_token;
use crate::db::models::User;
use crate::state::AppState;
use crate::web::api::auth::check_credentials;
use crate::web::error::AppError;
use crate::web::pages::{check_csrf, redirect, render};

/// Where a login goes when `next` is missing or not a local path.
pub const DEFAULT_NEXT: &str = "/";

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
    /// The form's CSRF token (bound to the pre-session cookie).
    pub csrf: String,
}

/// Query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go after logging in.
    pub next: Option<String>,
}

/// Login form fields. Its `Debug` output hides the password.
#[derive(Deserialize)]
pub struct LoginForm {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Where to go after logging in.
    pub next: Option<String>,
    /// The form's CSRF token.
    pub csrf_token: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("next", &self.next)
            .field(
                "csrf_token",
                &self.csrf_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Logout form fields.
#[derive(Deserialize)]
pub struct LogoutForm {
    /// CSRF token.
    pub csrf_token: String,
}

impl std::fmt::Debug for LogoutForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutForm")
            .field("csrf_token", &"<redacted>")
            .finish()
    }
}

/// Only local paths are followed after login (no open redirect): a single
/// leading `/` not followed by `/` or `\`, no backslash, no control
/// character or whitespace anywhere (browsers drop tabs and newlines, and
/// read `\` as `/`, so `/\evil.example` would leave the site); anything else
/// goes to [`DEFAULT_NEXT`].
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.len() <= 2048
                && n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_string()
        }
        _ => DEFAULT_NEXT.to_string(),
    }
}

/// The pre-session cookie's value, if the browser sent a plausible one.
fn login_nonce(req: &HttpRequest) -> Option<String> {
    req.cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == NONCE_LEN && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Length of the pre-session cookie's random value.
const NONCE_LEN: usize = 32;

/// The login page with its form token, bound to the browser's pre-session
/// cookie (kept, so two open login tabs both work) or a new one.
fn login_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<String>,
    email: String,
    next: String,
) -> Result<HttpResponse, AppError> {
    let nonce = login_nonce(req).unwrap_or_else(|| random_token(NONCE_LEN));
    let mut resp = render(&LoginPage {
        error,
        email,
        next,
        csrf: state.jwt.login_csrf_token(&nonce),
    })?;
    *resp.status_mut() = status;
    let cookie = Cookie::build(LOGIN_CSRF_COOKIE, nonce)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.https)
        .finish();
    resp.add_cookie(&cookie).map_err(AppError::internal)?;
    Ok(resp)
}

/// Shows the login form.
pub async fn form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    login_page(
        &state,
        &req,
        StatusCode::OK,
        None,
        String::new(),
        safe_next(query.next.as_deref()),
    )
}

/// Checks the form's CSRF token and the credentials and sets the session
/// cookie.
pub async fn submit(
    state: web::Data<AppState>,
    limiter: web::Data<LoginLimiter>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let nonce = login_nonce(&req).unwrap_or_default();
    let token = form.csrf_token.as_deref().unwrap_or_default();
    if !state.jwt.check_login_csrf(&nonce, token) {
        return login_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            Some(
                "The login form has expired or did not come from this site; please log in again."
                    .into(),
            ),
            form.email,
            next,
        );
    }
    match check_credentials(&state, &limiter, &req, form.email.clone(), form.password).await {
        Ok(user) => {
            let (token, _) = state.jwt.issue(&user);
            let cookie = Cookie::build(SESSION_COOKIE, token)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.config.https)
                .max_age(CookieDuration::seconds(state.config.jwt_ttl_seconds))
                .finish();
            let mut used = Cookie::build(LOGIN_CSRF_COOKIE, "").path("/login").finish();
            used.make_removal();
            let mut resp = redirect(&next);
            resp.add_cookie(&cookie).map_err(AppError::internal)?;
            resp.add_cookie(&used).map_err(AppError::internal)?;
            Ok(resp)
        }
        Err(AppError::Unauthorized(message)) => login_page(
            &state,
            &req,
            StatusCode::UNAUTHORIZED,
            Some(message),
            form.email,
            next,
        ),
        Err(AppError::TooMany {
            message,
            retry_after,
        }) => {
            let mut resp = login_page(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
                form.email,
                next,
            )?;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

/// Ends every session and token of the user (not only this browser's) and
/// clears the session cookie.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    if let Ok(caller) = authenticate(&state.db, &state.jwt, &req).await {
        if caller.via == Via::Session {
            let id = caller.user_id;
            state
                .db
                .run(move |conn| User::end_sessions(conn, &id).map_err(AppError::from))
                .await?;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        for ok in ["/", "/accounts/acc_1?x=1", "/accounts/a%2Fb"] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "/\\evil.example",
            "//evil",
            "https://evil.example",
            "evil",
            "/a\\b",
            "/\t/evil",
            "/x\r\nLocation: //evil",
            "/ evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), super::DEFAULT_NEXT, "{bad:?}");
        }
        assert_eq!(safe_next(None), super::DEFAULT_NEXT);
    }
}
