//! The error type of the use-case services: what went wrong, in the words of
//! the domain, with no HTTP in it. The web layer maps each variant onto the
//! status and error body of `api.md` (`web::error`); the command line prints
//! the message.

use serde::{Deserialize, Serialize};

use crate::db::DbError;

/// One problem in a request, naming the row (1-based) and the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Detail {
    /// 1-based position of the record (CSV data row or JSON array element); 0 for the request itself.
    pub row: usize,
    /// The field, with a path for nested ones (`lines[2].quantity`).
    pub field: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl Detail {
    /// A detail about a field of the request itself (row 0).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Detail {
        Detail {
            row: 0,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input cannot be read at all (not JSON, not CSV, not UTF-8).
    #[error("{message}")]
    Malformed {
        /// snake_case code.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// No or bad credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// A known caller that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown, or not visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it.
    #[error("{message}")]
    Conflict {
        /// snake_case code.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// Too large to accept.
    #[error("{0}")]
    TooLarge(String),
    /// Slow down: try again after the given number of seconds.
    #[error("{message}")]
    TooMany {
        /// Human sentence.
        message: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Read, but the content is invalid.
    #[error("{message}")]
    Invalid {
        /// snake_case code.
        code: &'static str,
        /// Human sentence.
        message: String,
        /// Every problem found (at most 1,000).
        details: Vec<Detail>,
    },
    /// Anything internal; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// Invalid content with details.
    pub fn invalid(message: impl Into<String>, details: Vec<Detail>) -> ServiceError {
        ServiceError::Invalid {
            code: "validation_failed",
            message: message.into(),
            details,
        }
    }

    /// Invalid content in one field of the request.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ServiceError {
        let message = message.into();
        ServiceError::Invalid {
            code: "validation_failed",
            message: format!("The field `{field}` is invalid: {message}"),
            details: vec![Detail::field(field, message)],
        }
    }

    /// Not found, with the standard sentence for an id.
    pub fn not_found(what: &str) -> ServiceError {
        ServiceError::NotFound(format!(
            "No {what} with that id exists or it is not visible to you."
        ))
    }

    /// The message a person may see (never an internal cause).
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Internal(_) => {
                "Something went wrong on the server; the error has been logged.".to_string()
            }
            other => other.to_string(),
        }
    }

    /// An internal failure from any cause.
    pub fn internal(cause: impl std::fmt::Display) -> ServiceError {
        ServiceError::Internal(cause.to_string())
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        ServiceError::Internal(e.to_string())
    }
}
