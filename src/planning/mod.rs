//! The planning pipeline, one stage a module:
//!
//! ```text
//! snapshot (db reads → typed values) → rollup (which variants make a row)
//!   → series (demand with stockouts marked, supply position) → line (engine,
//!   explanation) → stored by `db::models::planning`
//! ```
//!
//! `services::plans` orchestrates it: freshness, jobs, transactions. Every
//! stage but the snapshot is pure. Lines are computed on the planning pool
//! ([`pool`]), at background priority.

pub mod calibrate;
pub mod edits;
pub mod explain;
pub mod fits;
pub mod line;
pub mod pool;
pub mod rollup;
pub mod series;
pub mod snapshot;
pub mod supply;
