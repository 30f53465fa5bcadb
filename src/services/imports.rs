//! Running one import: parse and validate the body (CSV or JSON, streamed
//! from a spooled file, with size caps on fields and records), check
//! references against what the account holds, hand the batch to the one
//! write path (`db::ingest`), and record the import with its counts and
//! problems, whether it succeeded or not (a success in the same transaction
//! as its data).

use std::io::{BufReader, Seek};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::new_id;
use crate::db::ingest::{self, Counts};
use crate::db::models::import_run::ImportRun;
use crate::db::models::records::known_ids;
use crate::db::models::Account;
use crate::db::DbConn;
use crate::import::{self, Entity, ImportContext, ParseError, Problem};
use crate::services::{Detail, ServiceError};

/// The body of an import, spooled to a temporary file and parsed from it as
/// a stream: neither format is held whole in memory.
pub enum Body {
    /// A JSON array of records.
    Json(std::fs::File),
    /// A CSV file.
    Csv(std::fs::File),
}

impl Body {
    fn format(&self) -> &'static str {
        match self {
            Body::Json(_) => "json",
            Body::Csv(_) => "csv",
        }
    }
}

/// The problem logged for an import that failed on the server.
pub const FAILED_ON_THE_SERVER: &str =
    "The import failed on the server and nothing was written; the error has been logged. Send it again.";

/// Logs an import refused or failed before or outside the write (too large,
/// unreadable, server busy, failed on the server): status `failed`, no
/// counts, `problems` as given.
pub fn log_failed(
    conn: &mut DbConn,
    account_id: &str,
    user_email: &str,
    entity: Entity,
    format: &str,
    started_at: DateTime<Utc>,
    problems: &[Detail],
) -> Result<(), ServiceError> {
    let run = ImportRun {
        id: new_id("imp"),
        account_id: account_id.to_string(),
        entity: entity.as_str().to_string(),
        format: format.to_string(),
        user_email: user_email.to_string(),
        started_at: started_at.naive_utc(),
        finished_at: Some(Utc::now().naive_utc()),
        status: "failed".into(),
        counts: serde_json::to_string(&Counts::default()).unwrap_or_default(),
        problems: serde_json::to_string(problems).unwrap_or_default(),
    };
    ImportRun::insert(conn, &run)?;
    Ok(())
}

/// The answer to a successful import.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportAnswer {
    /// New records.
    pub created: usize,
    /// Changed records.
    pub updated: usize,
    /// Identical records.
    pub unchanged: usize,
    /// Older than stored (ignored).
    pub stale: usize,
    /// Newly marked removed.
    pub removed: usize,
    /// What was accepted with a fallback.
    pub warnings: Vec<Detail>,
    /// The import's id in the log.
    pub import_id: String,
}

/// One logged import as the API lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportView {
    /// Id.
    pub id: String,
    /// Entity.
    pub entity: String,
    /// `csv` or `json`.
    pub format: String,
    /// Who sent it.
    pub user: String,
    /// When it arrived.
    pub started_at: DateTime<Utc>,
    /// When it was done.
    pub finished_at: Option<DateTime<Utc>>,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Counts (zero when it failed).
    pub counts: Counts,
    /// Errors of a failed import, warnings of a successful one.
    pub problems: Vec<Detail>,
}

impl From<&ImportRun> for ImportView {
    fn from(r: &ImportRun) -> Self {
        ImportView {
            id: r.id.clone(),
            entity: r.entity.clone(),
            format: r.format.clone(),
            user: r.user_email.clone(),
            started_at: crate::services::accounts::utc(r.started_at),
            finished_at: r.finished_at.map(crate::services::accounts::utc),
            status: r.status.clone(),
            counts: serde_json::from_str(&r.counts).unwrap_or_default(),
            problems: serde_json::from_str(&r.problems).unwrap_or_default(),
        }
    }
}

fn detail(p: &Problem) -> Detail {
    Detail {
        row: p.row,
        field: p.field.clone(),
        message: p.message.clone(),
    }
}

/// Maps a parse error onto the error policy.
pub fn parse_error(e: ParseError) -> ServiceError {
    match e {
        ParseError::Malformed { message } => ServiceError::Malformed {
            code: "malformed_body",
            message,
        },
        ParseError::Empty => ServiceError::Invalid {
            code: "empty_import",
            message: ParseError::Empty.to_string(),
            details: vec![],
        },
        ParseError::Invalid { ref problems, .. } => ServiceError::Invalid {
            code: "invalid_records",
            message: e.to_string(),
            details: problems.iter().map(detail).collect(),
        },
    }
}

/// The account a write may go to: a child (a master holds no data: 409).
pub fn require_child(account: &Account) -> Result<(), ServiceError> {
    if account.is_master() {
        return Err(ServiceError::Conflict {
            code: "master_holds_no_data",
            message: "This is a master account: it holds no data of its own. Import into one of its child accounts.".into(),
        });
    }
    Ok(())
}

/// Runs an import into a child account and logs it. Blocking: call it
/// through `Db::run`.
///
/// A successful import's log row is written in the same transaction as its
/// data; a refused or failed one is logged with its problems. Fields and
/// records are capped at the defaults ([`run_with_limits`] for others).
pub fn run(
    conn: &mut DbConn,
    account: &Account,
    user_email: &str,
    entity: Entity,
    body: Body,
    started_at: DateTime<Utc>,
) -> Result<ImportAnswer, ServiceError> {
    let limits = import::Limits::default();
    run_with_limits(conn, account, user_email, entity, body, started_at, limits)
}

/// [`run`], with `limits` capping one field and one record of the body.
pub fn run_with_limits(
    conn: &mut DbConn,
    account: &Account,
    user_email: &str,
    entity: Entity,
    body: Body,
    started_at: DateTime<Utc>,
    limits: import::Limits,
) -> Result<ImportAnswer, ServiceError> {
    require_child(account)?;
    let tz: chrono_tz::Tz = account.timezone.parse().unwrap_or(chrono_tz::UTC);
    let ctx = ImportContext {
        account_currency: account.currency.clone(),
        timezone: tz,
        limits,
    };
    let format = body.format();
    let clock = std::time::Instant::now();
    let known = known_ids(conn, &account.id)?;
    let parsed = match body {
        Body::Json(mut file) => {
            file.rewind().map_err(ServiceError::internal)?;
            let reader = BufReader::with_capacity(1 << 20, file);
            import::parse_json_reader_checked(entity, reader, &ctx, &known)
        }
        Body::Csv(mut file) => {
            file.rewind().map_err(ServiceError::internal)?;
            let reader = BufReader::with_capacity(1 << 20, file);
            import::parse_csv_checked(entity, reader, &ctx, &known)
        }
    };
    let id = new_id("imp");
    let mut run = ImportRun {
        id: id.clone(),
        account_id: account.id.clone(),
        entity: entity.as_str().to_string(),
        format: format.to_string(),
        user_email: user_email.to_string(),
        started_at: started_at.naive_utc(),
        finished_at: None,
        status: "failed".into(),
        counts: serde_json::to_string(&Counts::default()).unwrap_or_default(),
        problems: "[]".into(),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            let err = parse_error(e);
            if let ServiceError::Invalid { details, .. } = &err {
                run.problems = serde_json::to_string(details).unwrap_or_default();
            } else {
                run.problems =
                    serde_json::to_string(&[Detail::field("body", err.public_message())])
                        .unwrap_or_default();
            }
            run.finished_at = Some(Utc::now().naive_utc());
            ImportRun::insert(conn, &run)?;
            return Err(err);
        }
    };
    let parse_seconds = clock.elapsed().as_secs_f64();
    let warnings: Vec<Detail> = parsed.warnings.iter().map(detail).collect();
    let written = ingest::apply_then(conn, account, &parsed.batch, started_at, tz, |conn, c| {
        let mut done = run.clone();
        done.status = "succeeded".into();
        done.counts = serde_json::to_string(c).unwrap_or_default();
        done.problems = serde_json::to_string(&warnings).unwrap_or_default();
        done.finished_at = Some(Utc::now().naive_utc());
        // In the write transaction: the data and its log row commit together.
        ImportRun::insert(conn, &done)
    });
    let counts = match written {
        Ok(c) => c,
        Err(e) => {
            // Rolled back; the failure is logged outside the transaction.
            run.problems = serde_json::to_string(&[Detail::field("body", FAILED_ON_THE_SERVER)])
                .unwrap_or_default();
            run.finished_at = Some(Utc::now().naive_utc());
            if let Err(log) = ImportRun::insert(conn, &run) {
                tracing::error!(error = %log, "could not log a failed import");
            }
            return Err(e.into());
        }
    };
    let write_seconds = clock.elapsed().as_secs_f64() - parse_seconds;
    tracing::info!(
        account = %account.id,
        entity = entity.as_str(),
        format,
        ?counts,
        parse_seconds,
        write_seconds,
        "import done"
    );
    Ok(ImportAnswer {
        created: counts.created,
        updated: counts.updated,
        unchanged: counts.unchanged,
        stale: counts.stale,
        removed: counts.removed,
        warnings,
        import_id: id,
    })
}
