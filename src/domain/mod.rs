//! Pure domain types and rules shared by every layer: no diesel, no actix.

pub mod connection;
pub mod sku;
