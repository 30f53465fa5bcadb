//! tributary: a self-hosted inventory-planning server over several sales
//! and stock systems.
//!
//! Map of the crate (dependencies point inward, towards the engine):
//! - [`config`]: settings from the environment.
//! - [`db`]: storage on SQLite or PostgreSQL (one schema, paired
//!   migrations, models that own their queries).
//! - [`domain`]: pure types and rules shared by every layer (SKU matching).
//! - [`import`]: parsing and validating CSV and JSON records (pure: no
//!   database, no HTTP).
//! - [`services`]: the use cases (accounts, users, imports); each owns its
//!   transactions and returns its own error type, knowing nothing of HTTP.
//! - [`planning`]: the planning pipeline (snapshot, roll-up, series, line).
//! - [`forecast`], [`replenish`]: the planning engine (pure: no database,
//!   no HTTP, no clock).
//! - [`auth`], [`crypto`]: callers, credentials, sealed secrets.
//! - [`web`]: the JSON API and the server-rendered pages, one route table,
//!   the extractors and the error body.
//! - [`state`]: the application state (a leaf: database, config, keys).
//! - [`startup`]: building the HTTP server, shared by `main` and tests.
//! - [`demo`]: the seeded demo organisation.

/// The memory allocator of every binary built on the crate: planning
/// allocates and frees millions of small values (series, explanations,
/// rows) from several threads at once, where mimalloc is faster than the
/// system's and returns freed memory sooner.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod auth;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod forecast;
pub mod import;
pub mod jobs;
pub mod planning;
pub mod replenish;
pub mod services;
pub mod startup;
pub mod state;
pub mod web;
