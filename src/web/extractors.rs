//! Request extractors of the web layer: [`Caller`] for the API (any
//! credential, or a 401 error body) and [`PageCaller`] for pages (a logged-in
//! session, or a redirect to the login page that comes back afterwards).
//!
//! The API accepts the page session cookie, but for a state-changing method
//! only with the session's CSRF token in the `X-CSRF-Token` header: a form
//! (even a same-site one) cannot set headers, so it cannot write to
//! `/api/v1` with the cookie. Bearer credentials need no such header.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::auth::{authenticate, Caller, Via, CSRF_HEADER, SESSION_COOKIE};
use crate::state::AppState;
use crate::web::error::AppError;

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal("application state missing"))
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let caller = authenticate(&state.db, &state.jwt, &req).await?;
            if caller.via == Via::Session && !req.method().is_safe() {
                check_csrf_header(&state, &req)?;
            }
            Ok(caller)
        })
    }
}

/// A state-changing API request authenticated by the session cookie must
/// carry the session's CSRF token in `X-CSRF-Token` (403 otherwise).
fn check_csrf_header(state: &AppState, req: &HttpRequest) -> Result<(), AppError> {
    let session = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if state.jwt.check_csrf(&session, sent) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "With the page session cookie, changes through the API need the page's CSRF token in the `{CSRF_HEADER}` header; scripts elsewhere send `Authorization: Bearer <token>` instead."
        )))
    }
}

/// A visitor of a page who is logged in with the session cookie. Extracting
/// it from a request without a valid session answers a redirect to
/// `/login?next=<this page>`.
#[derive(Debug, Clone)]
pub struct PageCaller(pub Caller);

impl std::ops::Deref for PageCaller {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// The answer to a page request without a session: 303 to the login page.
#[derive(Debug)]
pub struct LoginRedirect(String);

impl std::fmt::Display for LoginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "log in first: {}", self.0)
    }
}

impl ResponseError for LoginRedirect {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, self.0.clone()))
            .finish()
    }
}

/// Where a page without a session sends its visitor.
pub fn login_location(req: &HttpRequest) -> String {
    format!(
        "/login?next={}",
        crate::web::pages::urlencode(
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        )
    )
}

impl FromRequest for PageCaller {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<PageCaller, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            match authenticate(&state.db, &state.jwt, &req).await {
                Ok(c) if c.via == Via::Session => Ok(PageCaller(c)),
                _ => Err(LoginRedirect(login_location(&req)).into()),
            }
        })
    }
}
