//! The use cases. Each service validates its input, owns its transactions
//! and returns [`ServiceError`]; it knows nothing of HTTP (the web layer maps
//! its errors onto the error body) and never reads the application state.

pub mod accounts;
pub mod compat;
pub mod demand;
pub mod error;
pub mod feeds;
pub mod imports;
pub mod plans;
pub mod sync;
pub mod users;

pub use error::{Detail, ServiceError};
