//! Syncing connections (`api.md`, "Sync"; `domain.md`, "Syncing").
//!
//! `POST /accounts/{id}/sync` queues one `sync` job per account (a second
//! request while one is queued or running gets the same job). The job, run
//! by one worker under its lease, syncs a child's connection, or — on a
//! master — every child's, several at once (`TRIBUTARY_SYNC_PARALLEL`). Each
//! child pulls its connector's streams in order from the stored cursors
//! (`sync_cursors`, one per account and stream): every page is stored
//! through the import write path (`import::parse_json_checked` +
//! `db::ingest::apply`: same validation, stale and removed rules) and its
//! cursor advanced in the same transaction, so a failure or a killed
//! process resumes from the last stored page and a repeated page is only
//! `unchanged`. A child that fails leaves the others' results; the job ends
//! `succeeded`, `partial` or `failed`, with each child's status, counts and
//! error in its detail. A sync job has a time budget and each child a page
//! budget (`TRIBUTARY_SYNC_MAX_SECONDS`, `TRIBUTARY_SYNC_MAX_PAGES`): a
//! child that reaches one stops after a stored page and ends `partial`, so
//! an endless or slow source cannot hold a sync worker, and the next sync
//! continues from the stored cursors. Plans follow on their own: stored records move the
//! account's data version, and the plan worker re-queues stale plans.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::SyncConfig;
use crate::connectors::{self, Connector, Page, SyncError};
use crate::crypto::SecretBox;
use crate::db::ingest::{self, Counts};
use crate::db::models::records::known_ids;
use crate::db::models::{Account, Organisation};
use crate::db::schema::{jobs, sync_cursors, sync_schedules};
use crate::db::{Db, DbConn};
use crate::import::{self, Batch, Entity, ImportContext, KnownIds, ParseError};
use crate::jobs::{self as job_queue, Job, JobKind, JobStatus};
use crate::services::accounts::stored_connection;
use crate::services::ServiceError;

/// The job kind.
pub const KIND: JobKind = JobKind::Sync;
/// Progress units per child (one per entity).
const UNITS: i64 = 6;

/// What the sync worker needs besides the database.
#[derive(Clone)]
pub struct SyncContext {
    /// Outbound settings.
    pub config: SyncConfig,
    /// Opens the stored connection secrets.
    pub secrets: SecretBox,
}

/// One child's part of a sync job (the job's `accounts` list).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChildStatus {
    /// The child account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Connection kind.
    pub connection: String,
    /// `queued`, `running`, `succeeded`, `partial` (stopped at the sync's
    /// time or page limit; the next sync continues), `failed`.
    pub status: String,
    /// Records written (created, updated or removed) by this run.
    pub records: u64,
    /// Every record read, by outcome.
    pub counts: Counts,
    /// Why it failed.
    pub error: Option<String>,
    /// When this child last synced successfully.
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// Queues a sync of `account` (a child: its connection; a master: every
/// child's), or returns the queued or running one. Returns the job id.
pub fn enqueue(conn: &mut DbConn, account: &Account) -> Result<String, ServiceError> {
    let id = crate::db::transaction(conn, |conn| {
        // Serialises concurrent requests of the organisation (one job each).
        Organisation::lock_accounts(conn, &account.organisation_id)?;
        if let Some(open) = Job::open_for(conn, &account.id, KIND)? {
            return Ok::<_, diesel::result::Error>(open.id);
        }
        let job = Job::queued(account, KIND);
        diesel::insert_into(jobs::table)
            .values(job.clone())
            .execute(conn)?;
        Ok(job.id)
    })?;
    Ok(id)
}

/// The stored cursor of a child's stream.
pub fn cursor(conn: &mut DbConn, account: &str, stream: Entity) -> QueryResult<Option<String>> {
    sync_cursors::table
        .filter(sync_cursors::account_id.eq(account))
        .filter(sync_cursors::entity.eq(stream.as_str()))
        .select(sync_cursors::cursor)
        .first(conn)
        .optional()
}

fn save_cursor(
    conn: &mut DbConn,
    account: &str,
    stream: Entity,
    value: Option<&str>,
) -> QueryResult<()> {
    diesel::delete(
        sync_cursors::table
            .filter(sync_cursors::account_id.eq(account))
            .filter(sync_cursors::entity.eq(stream.as_str())),
    )
    .execute(conn)?;
    if let Some(v) = value {
        diesel::insert_into(sync_cursors::table)
            .values((
                sync_cursors::account_id.eq(account),
                sync_cursors::entity.eq(stream.as_str()),
                sync_cursors::cursor.eq(v),
                sync_cursors::updated_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn add(total: &mut Counts, c: Counts) {
    total.created += c.created;
    total.updated += c.updated;
    total.unchanged += c.unchanged;
    total.stale += c.stale;
    total.removed += c.removed;
}

/// Why a page could not be stored.
enum StoreError {
    Source(SyncError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::Db(e)
    }
}

/// The ids a child's records may refer to, kept through one child's sync so
/// that a page is checked without reading them all again: loaded once, then
/// grown by every batch of warehouses, vendors and variants checked. Ids are
/// never deleted (a removed record keeps its row), so the set only misses
/// ids another writer stored meanwhile; a page it rejects is checked again
/// against freshly read ids before it counts as rejected.
struct Known {
    ids: Option<KnownIds>,
}

impl Known {
    fn get(&mut self, conn: &mut DbConn, account: &str) -> QueryResult<&KnownIds> {
        if self.ids.is_none() {
            self.ids = Some(known_ids(conn, account)?);
        }
        Ok(self.ids.get_or_insert_with(KnownIds::default))
    }

    fn learn(&mut self, batch: &Batch) {
        let Some(ids) = self.ids.as_mut() else {
            return;
        };
        match batch {
            Batch::Warehouses(r) => ids.warehouses.extend(r.iter().map(|r| r.id.to_string())),
            Batch::Vendors(r) => ids.vendors.extend(r.iter().map(|r| r.id.to_string())),
            Batch::Variants(r) => ids.variants.extend(r.iter().map(|r| r.id.to_string())),
            _ => {}
        }
    }
}

/// Checks a page's batches through the import validation (outside the
/// write turn), in order, each against the ids known after the ones before.
fn check_page(
    conn: &mut DbConn,
    account: &Account,
    ctx: &ImportContext,
    page: &Page,
    known: &mut Known,
) -> Result<Vec<Batch>, StoreError> {
    let mut out = Vec::new();
    for (entity, records) in &page.batches {
        if records.is_empty() {
            continue;
        }
        let body = records.to_json().map_err(|e| {
            StoreError::Source(SyncError::new(format!("a page could not be read: {e}")))
        })?;
        let parsed =
            match import::parse_json_checked(*entity, &body, ctx, known.get(conn, &account.id)?) {
                Ok(p) => p,
                Err(ParseError::Invalid { .. }) => {
                    // Perhaps an id stored by another writer since the set was
                    // read: check once more against the stored ids (and this
                    // page's batches before this one, not stored yet).
                    known.ids = Some(known_ids(conn, &account.id)?);
                    for batch in &out {
                        known.learn(batch);
                    }
                    import::parse_json_checked(*entity, &body, ctx, known.get(conn, &account.id)?)
                        .map_err(|e| StoreError::Source(rejected(*entity, e)))?
                }
                Err(e) => return Err(StoreError::Source(rejected(*entity, e))),
            };
        known.learn(&parsed.batch);
        out.push(parsed.batch);
    }
    Ok(out)
}

/// Checks one page ([`check_page`]), then stores it through [`store_once`],
/// serialised on SQLite, and tries again (the transaction was rolled back)
/// when the database was busy.
fn store_page(
    conn: &mut DbConn,
    account: &Account,
    stream: Entity,
    page: &Page,
    known: &mut Known,
) -> Result<Counts, SyncError> {
    let tz: chrono_tz::Tz = account.timezone.parse().unwrap_or(chrono_tz::UTC);
    let ctx = ImportContext {
        account_currency: account.currency.clone(),
        timezone: tz,
        limits: import::Limits::default(),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        // On SQLite the children synced in parallel take turns in the
        // writers' queue (`db::queue`), transaction by transaction.
        let result = check_page(conn, account, &ctx, page, known).and_then(|batches| {
            store_once(conn, account, tz, stream, &batches, page.next.as_deref())
        });
        match result {
            Err(StoreError::Db(e)) if attempt < 5 => {
                tracing::warn!(account = %account.id, error = %e, attempt, "sync: storing a page failed; trying again");
                known.ids = None;
                std::thread::sleep(Duration::from_millis(200 * attempt));
            }
            Ok(c) => return Ok(c),
            Err(StoreError::Source(e)) => return Err(e),
            Err(StoreError::Db(e)) => {
                tracing::error!(account = %account.id, error = %e, "sync: storing a page failed");
                return Err(SyncError::new(
                    "the records could not be stored (database error); the sync can be run again",
                ));
            }
        }
    }
}

/// Stores a page's checked batches in order and the stream's new cursor,
/// all or nothing.
fn store_once(
    conn: &mut DbConn,
    account: &Account,
    tz: chrono_tz::Tz,
    stream: Entity,
    batches: &[Batch],
    next: Option<&str>,
) -> Result<Counts, StoreError> {
    if let [batch] = batches {
        // One batch (the usual page): worked out before the write lock, a
        // large one's new order lines written early (`ingest::apply_then`),
        // the cursor stored in its last transaction.
        return Ok(ingest::apply_then(
            conn,
            account,
            batch,
            Utc::now(),
            tz,
            |conn, _| save_cursor(conn, &account.id, stream, next),
        )?);
    }
    crate::db::transaction(conn, |conn| {
        let mut counts = Counts::default();
        for batch in batches {
            let c = ingest::apply(conn, account, batch, Utc::now(), tz)?;
            add(&mut counts, c);
        }
        save_cursor(conn, &account.id, stream, next)?;
        Ok::<_, StoreError>(counts)
    })
}

fn rejected(entity: Entity, e: ParseError) -> SyncError {
    let mut message = format!(
        "the source sent {} this server cannot accept; nothing of that page was stored",
        entity.as_str()
    );
    if let ParseError::Invalid { problems, .. } = &e {
        let first: Vec<String> = problems
            .iter()
            .take(3)
            .map(|p| format!("record {}, {}: {}", p.row, p.field, p.message))
            .collect();
        message.push_str(&format!(" ({})", first.join("; ")));
    } else {
        message.push_str(&format!(" ({e})"));
    }
    SyncError::new(message)
}

/// How far one child's sync got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every stream was read to its end.
    Complete,
    /// The sync's time or page budget ran out first; the stored cursors
    /// say where the next sync continues.
    Budget,
}

/// Syncs one child: every stream of its connector from its stored cursor,
/// until its streams end, `deadline` passes or it has read `max_pages`
/// pages (then it stops after a stored page: the next sync continues from
/// its cursor). `report` is called after each stored page with the counts
/// so far and the streams done.
pub fn sync_child(
    db: &Db,
    account: &Account,
    ctx: &SyncContext,
    deadline: Instant,
    report: &mut dyn FnMut(&Counts, usize, usize),
) -> Result<(Counts, Reach), SyncError> {
    let Some(connection) = stored_connection(account, &ctx.secrets) else {
        return Ok((Counts::default(), Reach::Complete));
    };
    let connector: Box<dyn Connector> = connectors::for_connection(&connection, &ctx.config)?;
    let streams = connector.streams();
    let mut total = Counts::default();
    if streams.is_empty() {
        // A manual connection: nothing to pull, nothing synced.
        report(&total, 0, 0);
        return Ok((total, Reach::Complete));
    }
    let db_error = |e: crate::db::DbError| {
        tracing::error!(error = %e, "sync: no database connection");
        SyncError::new("the database could not be reached; the sync can be run again")
    };
    let mut known = Known { ids: None };
    let mut pages = 0u64;
    for (i, stream) in streams.iter().enumerate() {
        let mut conn = db.conn().map_err(db_error)?;
        let mut at = cursor(&mut conn, &account.id, *stream).map_err(|e| db_error(e.into()))?;
        drop(conn);
        loop {
            if Instant::now() >= deadline || pages >= ctx.config.max_pages {
                return Ok((total, Reach::Budget));
            }
            let page = connector.fetch(*stream, at.as_deref())?;
            let mut conn = db.conn().map_err(db_error)?;
            let counts = store_page(&mut conn, account, *stream, &page, &mut known)?;
            // Released before the report, which may want a connection.
            drop(conn);
            add(&mut total, counts);
            report(&total, i, streams.len());
            pages += 1;
            if !page.more {
                break;
            }
            if page.next == at {
                return Err(SyncError::new(format!(
                    "reading {}: the source sent the same page again; stopped to avoid a loop",
                    stream.as_str()
                )));
            }
            at = page.next;
        }
    }
    report(&total, streams.len(), streams.len());
    let mut conn = db.conn().map_err(db_error)?;
    Account::touch_synced(&mut conn, &account.id, Utc::now().naive_utc())
        .map_err(|e| db_error(e.into()))?;
    Ok((total, Reach::Complete))
}

fn written(c: &Counts) -> u64 {
    (c.created + c.updated + c.removed) as u64
}

/// Runs a claimed sync job to its end (status, detail, error written).
pub fn run_job(db: &Db, job: &Job, ctx: &SyncContext) -> Result<(), ServiceError> {
    let mut conn = db.conn()?;
    let Some(account) = Account::find_by_id(&mut conn, &job.account_id)? else {
        job_queue::finish(
            &mut conn,
            &job.id,
            JobStatus::Failed,
            Some("the account is gone".into()),
        )?;
        return Ok(());
    };
    let children = if account.is_master() {
        Account::list_children(&mut conn, &account.id)?
    } else {
        vec![account.clone()]
    };
    drop(conn);
    let statuses: Mutex<Vec<ChildStatus>> = Mutex::new(
        children
            .iter()
            .map(|c| ChildStatus {
                account_id: c.id.clone(),
                account_name: c.name.clone(),
                connection: c.connection_kind.clone().unwrap_or_else(|| "manual".into()),
                status: "queued".into(),
                records: 0,
                counts: Counts::default(),
                error: None,
                last_synced_at: c.last_synced_at.map(crate::services::accounts::utc),
            })
            .collect(),
    );
    let units: Vec<AtomicUsize> = children.iter().map(|_| AtomicUsize::new(0)).collect();
    let total_units = children.len() as i64 * UNITS;
    // Writes the job's progress and lease; the final status always, a
    // report on the way only when a connection is free now (`Db::try_conn`:
    // the next report writes it again).
    let write = |final_status: Option<(JobStatus, Option<String>)>, wait: bool| {
        let detail = {
            let s = statuses.lock().unwrap_or_else(|e| e.into_inner());
            serde_json::to_string(&*s).unwrap_or_else(|_| "[]".into())
        };
        let done: usize = units.iter().map(|u| u.load(Ordering::Relaxed)).sum();
        let conn = match wait || final_status.is_some() {
            true => db.conn().ok(),
            false => db.try_conn(),
        };
        if let Some(mut c) = conn {
            let until =
                Utc::now().naive_utc() + chrono::Duration::seconds(job_queue::LEASE_SECONDS);
            let _ = crate::db::transaction(&mut c, |c| {
                diesel::update(jobs::table.find(&job.id))
                    .set((
                        jobs::detail.eq(detail),
                        jobs::progress_done.eq(done as i64),
                        jobs::progress_total.eq(total_units),
                        jobs::lease_until.eq(Some(until)),
                    ))
                    .execute(c)
            });
            if let Some((status, error)) = final_status {
                let _ = job_queue::finish(&mut c, &job.id, status, error);
            }
        }
    };
    write(None, true);
    let deadline = Instant::now() + Duration::from_secs(ctx.config.max_seconds);
    let next = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let parallel = ctx.config.parallel.clamp(1, 64).min(children.len().max(1));
    std::thread::scope(|scope| {
        // Keeps the lease while requests wait on slow sources.
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    if finished.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                // The lease must be kept: this one waits.
                write(None, true);
            }
        });
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(child) = children.get(i) else {
                        return;
                    };
                    set_status(&statuses, i, |s| s.status = "running".into());
                    write(None, false);
                    let mut report = |c: &Counts, done: usize, of: usize| {
                        let u = (done * UNITS as usize)
                            .checked_div(of)
                            .unwrap_or(UNITS as usize);
                        units[i].store(u, Ordering::Relaxed);
                        set_status(&statuses, i, |s| {
                            s.counts = *c;
                            s.records = written(c);
                        });
                        write(None, false);
                    };
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sync_child(db, child, ctx, deadline, &mut report)
                    }))
                    .unwrap_or_else(|_| Err(SyncError::new("the sync failed unexpectedly")));
                    units[i].store(UNITS as usize, Ordering::Relaxed);
                    match outcome {
                        Ok((c, Reach::Budget)) => set_status(&statuses, i, |s| {
                            s.status = "partial".into();
                            s.counts = c;
                            s.records = written(&c);
                            s.error = Some(format!(
                                "stopped at this sync's limit ({} s or {} pages); the next sync continues from here",
                                ctx.config.max_seconds, ctx.config.max_pages
                            ));
                        }),
                        // A manual child has nothing to load: it is fed
                        // by uploads and the API, and says so.
                        Ok((c, Reach::Complete)) if is_manual(&statuses, i) => {
                            set_status(&statuses, i, |s| {
                                s.status = "skipped".into();
                                s.counts = c;
                                s.records = 0;
                                s.error = Some(MANUAL_NOTE.into());
                            })
                        }
                        Ok((c, Reach::Complete)) => set_status(&statuses, i, |s| {
                            s.status = "succeeded".into();
                            s.counts = c;
                            s.records = written(&c);
                            s.last_synced_at = Some(Utc::now());
                        }),
                        Err(e) => {
                            tracing::warn!(job = %job.id, account = %child.id, error = %e, "sync of a child failed");
                            set_status(&statuses, i, |s| {
                                s.status = "failed".into();
                                s.error = Some(e.message.clone());
                            })
                        }
                    }
                    write(None, false);
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    let (failed, stopped, all) = {
        let s = statuses.lock().unwrap_or_else(|e| e.into_inner());
        let count = |st: &str| s.iter().filter(|c| c.status == st).count();
        (count("failed"), count("partial"), s.len())
    };
    let (status, error) = if failed == 0 && stopped == 0 {
        (JobStatus::Succeeded, None)
    } else if failed == all {
        let s = statuses.lock().unwrap_or_else(|e| e.into_inner());
        let first = s.iter().find_map(|c| c.error.clone()).unwrap_or_default();
        (
            JobStatus::Failed,
            Some(if all == 1 {
                first
            } else {
                format!("every connection failed; the first: {first}")
            }),
        )
    } else if failed == 0 {
        (
            JobStatus::Partial,
            Some(format!(
                "{stopped} of {all} connections stopped at this sync's limit ({} s or {} pages per connection); the next sync continues from where they stopped",
                ctx.config.max_seconds, ctx.config.max_pages
            )),
        )
    } else {
        (
            JobStatus::Partial,
            Some(format!(
                "{failed} of {all} connections failed; the others were loaded"
            )),
        )
    };
    write(Some((status, error)), true);
    Ok(())
}

/// What a load-all says of a manual child (status `skipped`).
pub const MANUAL_NOTE: &str =
    "nothing to load: this account has no live connection; it is fed by CSV uploads and the API";

fn is_manual(statuses: &std::sync::Mutex<Vec<ChildStatus>>, i: usize) -> bool {
    statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(i)
        .is_some_and(|s| s.connection == "manual")
}

fn set_status(statuses: &Mutex<Vec<ChildStatus>>, i: usize, f: impl FnOnce(&mut ChildStatus)) {
    let mut s = statuses.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = s.get_mut(i) {
        f(c);
    }
}

/// The latest sync job that covered each account, for the accounts page:
/// account id → its status in that job.
pub fn latest_statuses(
    conn: &mut DbConn,
    org: &str,
) -> QueryResult<std::collections::HashMap<String, ChildStatus>> {
    let recent: Vec<Job> = jobs::table
        .filter(jobs::organisation_id.eq(org))
        .filter(jobs::kind.eq(KIND.as_str()))
        .order(jobs::created_at.desc())
        .limit(50)
        .select(Job::as_select())
        .load(conn)?;
    let mut out = std::collections::HashMap::new();
    for j in recent {
        let detail: Vec<ChildStatus> = serde_json::from_str(&j.detail).unwrap_or_default();
        for c in detail {
            out.entry(c.account_id.clone()).or_insert(c);
        }
    }
    Ok(out)
}

/// An organisation's automatic sync interval in minutes (`None`: off).
pub fn schedule(conn: &mut DbConn, org: &str) -> QueryResult<Option<i32>> {
    sync_schedules::table
        .find(org)
        .select(sync_schedules::interval_minutes)
        .first::<i32>(conn)
        .optional()
        .map(|m| m.filter(|m| *m > 0))
}

/// Sets (or, with `None`, turns off) an organisation's automatic sync.
pub fn set_schedule(
    conn: &mut DbConn,
    org: &str,
    minutes: Option<i32>,
) -> Result<(), ServiceError> {
    if let Some(m) = minutes {
        if !(5..=10_080).contains(&m) {
            return Err(ServiceError::invalid_field(
                "interval_minutes",
                "must be 5 to 10080 minutes (a week), or null to turn automatic syncs off",
            ));
        }
    }
    crate::db::transaction(conn, |conn| {
        diesel::delete(sync_schedules::table.find(org)).execute(conn)?;
        if let Some(m) = minutes {
            diesel::insert_into(sync_schedules::table)
                .values((
                    sync_schedules::organisation_id.eq(org),
                    sync_schedules::interval_minutes.eq(m),
                    sync_schedules::last_run_at.eq(Some(Utc::now().naive_utc())),
                ))
                .execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}

/// Queues the automatic syncs that are due (the master of each
/// organisation with an interval, or its only child); returns how many.
pub fn queue_scheduled(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, ServiceError> {
    let due: Vec<(String, i32, Option<NaiveDateTime>)> = sync_schedules::table
        .filter(sync_schedules::interval_minutes.gt(0))
        .select((
            sync_schedules::organisation_id,
            sync_schedules::interval_minutes,
            sync_schedules::last_run_at,
        ))
        .load(conn)?;
    let mut queued = 0;
    for (org, minutes, last) in due {
        if last.is_some_and(|l| l + chrono::Duration::minutes(minutes as i64) > now) {
            continue;
        }
        let accounts = Account::list_by_organisation(conn, &org)?;
        let target = accounts
            .iter()
            .find(|a| a.is_master())
            .or(accounts.first())
            .cloned();
        crate::db::transaction(conn, |conn| {
            diesel::update(sync_schedules::table.find(&org))
                .set(sync_schedules::last_run_at.eq(Some(now)))
                .execute(conn)
        })?;
        if let Some(a) = target {
            enqueue(conn, &a)?;
            queued += 1;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Records;

    fn put(conn: &mut DbConn, account: &Account, entity: Entity, json: &str) {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, json.as_bytes()).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let body = crate::services::imports::Body::Json(file);
        crate::services::imports::run(conn, account, "test", entity, body, Utc::now()).unwrap();
    }

    fn page(json: &str) -> Page {
        Page {
            batches: vec![(
                Entity::SalesOrders,
                Records::Json(serde_json::from_str(json).unwrap()),
            )],
            next: Some("s1".into()),
            more: false,
        }
    }

    /// The known ids are read once per child sync; a variant stored by
    /// another writer after that is still accepted (the page is checked
    /// again against the stored ids), and one that exists nowhere is not.
    #[test]
    fn a_page_naming_an_id_stored_meanwhile_is_checked_again() {
        let (_dir, db, child) = crate::services::testing::one_child();
        let mut conn = db.conn().unwrap();
        put(
            &mut conn,
            &child,
            Entity::Variants,
            r#"[{"id": "V1", "sku": "A"}]"#,
        );
        let mut known = Known { ids: None };
        known.get(&mut conn, &child.id).unwrap();
        // Another writer stores V2 after the set was read.
        put(
            &mut conn,
            &child,
            Entity::Variants,
            r#"[{"id": "V2", "sku": "B"}]"#,
        );
        let order = |variant: &str| {
            page(&format!(
                r#"[{{"id": "O1", "ordered_at": "2026-01-05T10:00:00Z",
                     "lines": [{{"id": "1", "variant_id": "{variant}", "quantity": 2}}]}}]"#
            ))
        };
        let counts = store_page(
            &mut conn,
            &child,
            Entity::SalesOrders,
            &order("V2"),
            &mut known,
        )
        .unwrap();
        assert_eq!(counts.created, 1);
        assert!(known.ids.as_ref().unwrap().variants.contains("V2"));
        let err = store_page(
            &mut conn,
            &child,
            Entity::SalesOrders,
            &order("V3"),
            &mut known,
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("record 1, lines[1].variant_id: Variant \"V3\""),
            "{}",
            err.message
        );
        assert_eq!(
            cursor(&mut conn, &child.id, Entity::SalesOrders)
                .unwrap()
                .as_deref(),
            Some("s1")
        );
    }
}
