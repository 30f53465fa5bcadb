//! The error policy of the web layer.
//!
//! Every failure that reaches a client becomes one body,
//! `{"error": {"code", "message", "details"}}`, with the status `api.md`
//! names: 400 unparseable, 401 no or bad credentials, 403 not allowed, 404
//! unknown or invisible (another organisation's ids are always 404), 409
//! state conflict, 413 too large, 422 invalid content, 429 slow down.
//! Internal causes (database, I/O, bugs) are logged with `tracing` and shown
//! only as a generic 500 sentence: their text never reaches the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::db::DbError;

pub use crate::services::Detail;
use crate::services::ServiceError;

/// The error type of the web layer.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the body cannot be parsed at all.
    #[error("{message}")]
    BadRequest {
        /// snake_case code.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// 401: missing or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: known caller, not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown or not visible.
    #[error("{0}")]
    NotFound(String),
    /// 409: state conflict.
    #[error("{message}")]
    Conflict {
        /// snake_case code.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// 413: too large.
    #[error("{0}")]
    TooLarge(String),
    /// 422: parsed but invalid content.
    #[error("{message}")]
    Invalid {
        /// snake_case code.
        code: &'static str,
        /// Human sentence.
        message: String,
        /// Every problem found (at most 1,000).
        details: Vec<Detail>,
    },
    /// 429: slow down.
    #[error("{message}")]
    TooMany {
        /// Human sentence.
        message: String,
        /// Seconds to wait (the `Retry-After` header).
        retry_after: u64,
    },
    /// 500: anything internal; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// 422 with details.
    pub fn invalid(message: impl Into<String>, details: Vec<Detail>) -> AppError {
        AppError::Invalid {
            code: "validation_failed",
            message: message.into(),
            details,
        }
    }

    /// 422 about one field of the request body.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> AppError {
        let message = message.into();
        AppError::Invalid {
            code: "validation_failed",
            message: format!("The field `{field}` is invalid: {message}"),
            details: vec![Detail::field(field, message)],
        }
    }

    /// 404 with the standard sentence for an id.
    pub fn not_found(what: &str) -> AppError {
        AppError::NotFound(format!(
            "No {what} with that id exists or it is not visible to you."
        ))
    }

    /// 500 from any internal cause (logged when the response is built).
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError::Internal(cause.to_string())
    }

    /// The snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict { code, .. } => code,
            AppError::TooLarge(_) => "payload_too_large",
            AppError::TooMany { .. } => "too_many_requests",
            AppError::Invalid { code, .. } => code,
            AppError::Internal(_) => "internal_error",
        }
    }

    /// The message shown to the client (never an internal cause).
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => {
                "Something went wrong on the server; the error has been logged.".to_string()
            }
            other => other.to_string(),
        }
    }

    /// The error body of `api.md`.
    pub fn body(&self) -> serde_json::Value {
        let details = match self {
            AppError::Invalid { details, .. } => serde_json::to_value(details).unwrap_or_default(),
            _ => serde_json::Value::Array(vec![]),
        };
        serde_json::json!({
            "error": {"code": self.code(), "message": self.public_message(), "details": details}
        })
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Malformed { code, message } => AppError::BadRequest { code, message },
            ServiceError::Unauthenticated(m) => AppError::Unauthorized(m),
            ServiceError::Forbidden(m) => AppError::Forbidden(m),
            ServiceError::NotFound(m) => AppError::NotFound(m),
            ServiceError::Conflict { code, message } => AppError::Conflict { code, message },
            ServiceError::TooLarge(m) => AppError::TooLarge(m),
            ServiceError::TooMany {
                message,
                retry_after,
            } => AppError::TooMany {
                message,
                retry_after,
            },
            ServiceError::Invalid {
                code,
                message,
                details,
            } => AppError::Invalid {
                code,
                message,
                details,
            },
            ServiceError::Internal(m) => AppError::Internal(m),
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let mut builder = HttpResponse::build(self.status_code());
        if let AppError::Unauthorized(_) = self {
            builder.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let AppError::TooMany { retry_after, .. } = self {
            builder.insert_header(("Retry-After", retry_after.to_string()));
        }
        builder.json(self.body())
    }
}

/// Maps actix's JSON extractor errors onto the error policy: syntax → 400,
/// well-formed but wrong content (types, unknown or missing fields) → 422,
/// oversize → 413.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> AppError {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => {
            AppError::TooLarge("The request body is larger than this endpoint accepts.".into())
        }
        J::ContentType => AppError::BadRequest {
            code: "unsupported_content_type",
            message: "Send the body as JSON with `Content-Type: application/json`.".into(),
        },
        J::Deserialize(e) if e.is_data() => {
            let message = e.to_string();
            let field = field_from_serde_message(&message);
            AppError::Invalid {
                code: "validation_failed",
                message: format!("The request body is not valid: {message}."),
                details: vec![Detail::field(field, message)],
            }
        }
        J::Deserialize(e) => AppError::BadRequest {
            code: "malformed_json",
            message: format!("The request body is not valid JSON: {e}."),
        },
        other => AppError::BadRequest {
            code: "bad_request",
            message: format!("The request body could not be read: {other}."),
        },
    }
}

/// Pulls the field name out of serde's "unknown field `x`" / "missing field
/// `x`" messages, so the detail names it.
fn field_from_serde_message(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_default()
}

/// Maps query-string errors to 422.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> AppError {
    AppError::invalid(
        format!("The query string is not valid: {err}."),
        vec![Detail::field("query", err.to_string())],
    )
}

/// Maps path errors to 404 (an unparseable id names nothing).
pub fn path_error(_err: actix_web::error::PathError) -> AppError {
    AppError::NotFound("Nothing exists at this address.".into())
}

/// The page a browser gets for an error of a page (not of the API): the
/// same status and message, as HTML with a way back.
#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

/// Middleware for the pages: an error answered as the API's JSON body is
/// turned into an HTML page with the same status and message, so that a
/// wrong SKU or account in a page's address shows a page, not raw JSON.
/// The API, the compatible API and static files keep their answers; a 401
/// (the login redirect's business) and 429 (with `Retry-After`) too.
pub fn html_errors<B: actix_web::body::MessageBody + 'static>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let path = res.request().path();
    let page = !(path.starts_with("/api/")
        || path.starts_with("/compat/")
        || path.starts_with("/static/"));
    let status = res.status();
    let app_error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>())
        .map(|e| e.public_message());
    let (Some(message), true) = (app_error, page) else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let title = match status {
        StatusCode::NOT_FOUND => "Not found".to_string(),
        StatusCode::FORBIDDEN => "Not allowed".to_string(),
        s => s.canonical_reason().unwrap_or("Error").to_string(),
    };
    let html = askama::Template::render(&ErrorPage { title, message })
        .unwrap_or_else(|_| "An error occurred.".into());
    let (req, _) = res.into_parts();
    let resp = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html);
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, resp).map_into_right_body(),
    ))
}
