//! tributary: a self-hosted inventory-planning server over several sales
//! and stock systems.
//!
//! Map of the crate (dependencies point inward, towards the engine):
//! - [`config`]: settings from the environment.
//! - [`db`]: storage on SQLite or PostgreSQL (one schema, paired
//!   migrations, models that own their queries).
//! - [`accounts`], [`users`]: the domain rules for accounts and tenants.
//! - [`import`]: parsing and validating CSV and JSON records (pure).
//! - [`forecast`], [`replenish`]: the planning engine (pure: no database,
//!   no HTTP, no clock).
//! - [`auth`], [`crypto`]: callers, credentials, sealed secrets.
//! - [`routes`]: the JSON API and the server-rendered pages, one route table.
//! - [`startup`]: building state and the HTTP server, shared by `main` and tests.
//! - [`demo`]: the seeded demo organisation.

pub mod accounts;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod forecast;
pub mod import;
pub mod imports;
pub mod replenish;
pub mod routes;
pub mod startup;
pub mod users;
