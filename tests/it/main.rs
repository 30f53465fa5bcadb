//! The integration-test binary: files mirror the routes. Every test gets a
//! fresh database: a temporary SQLite file by default, or a new PostgreSQL
//! database when `TEST_DATABASE=postgres` (server from `TEST_POSTGRES_URL`,
//! default the local socket).

mod accounts;
mod api_keys;
mod auth;
mod backup;
mod browser;
mod calibration;
mod cli;
mod compat;
mod crash;
mod demand;
mod demo;
mod durability;
mod fakes;
mod forecast_edits;
mod fuzz;
mod helpers;
mod import_batches;
mod imports;
mod openapi;
mod pages;
mod plan_pages;
mod plan_store;
mod plans;
mod purchase_orders;
mod real_data;
mod security;
mod supply;
mod sync;
mod uploads;
mod users;

pub use helpers::TestApp;
