//! Background jobs. A job is a row of `jobs`, so it survives a restart and
//! several server processes can share one queue: a worker claims a job by
//! writing its lease (`lease_owner`, `lease_until`); a job whose lease ran
//! out (its process died) can be claimed again. On PostgreSQL the claim uses
//! `FOR UPDATE SKIP LOCKED`, and a plan is computed under a session advisory
//! lock on its account, so two processes never compute the same plan at
//! once.
//!
//! The worker also keeps plans fresh without hooks in the write paths: it
//! compares each account's inputs version with its stored plan's and queues
//! a plan job for every account whose plan is stale (`services::plans`).
//!
//! Plan and sync jobs run in separate pools of worker threads (one plan
//! worker, `TRIBUTARY_SYNC_WORKERS` sync workers), so a slow source never
//! holds up planning; within a pool organisations take turns, and one
//! organisation holds at most `TRIBUTARY_SYNC_WORKERS_PER_ORGANISATION`
//! sync workers, so one tenant's syncs cannot hold up another's.
//!
//! `sync` jobs (`services::sync`) pull an account's connections; the same
//! claim and lease apply (the sync renews its lease while it runs, so a job
//! is run by exactly one process, and a dead process's job is taken over
//! and resumes from the stored cursors). The worker also queues the
//! organisations' automatic syncs when they are due.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::Serialize;

use crate::crypto::new_id;
use crate::db::models::Account;
use crate::db::schema::{accounts, jobs};
use crate::db::{Db, DbConn};
use crate::services::sync::{self, SyncContext};
use crate::services::{plans, ServiceError};

/// How long a claimed job's lease lasts before another worker may take it.
pub const LEASE_SECONDS: i64 = 60;

/// A job row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = jobs, treat_none_as_default_value = false)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Organisation.
    pub organisation_id: String,
    /// `plan` or `sync`.
    pub kind: String,
    /// The account it is for.
    pub account_id: String,
    /// `queued`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// Units done.
    pub progress_done: i64,
    /// Units in all.
    pub progress_total: i64,
    /// Times claimed.
    pub attempts: i32,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// Lease end.
    pub lease_until: Option<NaiveDateTime>,
    /// JSON detail (per-account status of a multi-account job).
    pub detail: String,
    /// Error of a failed job.
    pub error: Option<String>,
    /// Queued at.
    pub created_at: NaiveDateTime,
    /// First claimed at.
    pub started_at: Option<NaiveDateTime>,
    /// Done at.
    pub finished_at: Option<NaiveDateTime>,
}

impl Job {
    /// A job by id.
    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Job>> {
        jobs::table
            .find(id)
            .select(Job::as_select())
            .first(conn)
            .optional()
    }

    /// The queued or running job of a kind for an account, if any.
    pub fn open_for(conn: &mut DbConn, account: &str, kind: &str) -> QueryResult<Option<Job>> {
        jobs::table
            .filter(jobs::account_id.eq(account))
            .filter(jobs::kind.eq(kind))
            .filter(jobs::status.eq_any(["queued", "running"]))
            .order(jobs::created_at.desc())
            .select(Job::as_select())
            .first(conn)
            .optional()
    }

    /// The latest job of a kind for an account.
    pub fn latest_for(conn: &mut DbConn, account: &str, kind: &str) -> QueryResult<Option<Job>> {
        jobs::table
            .filter(jobs::account_id.eq(account))
            .filter(jobs::kind.eq(kind))
            .order(jobs::created_at.desc())
            .select(Job::as_select())
            .first(conn)
            .optional()
    }
}

/// Queues a job of `kind` for an account unless one is already queued (a
/// running one does not count: the data may have changed since it started).
/// Returns the queued job's id.
pub fn enqueue(conn: &mut DbConn, account: &Account, kind: &str) -> QueryResult<String> {
    // No read-then-write transaction here: on SQLite upgrading a read
    // transaction to a write fails at once (SQLITE_BUSY_SNAPSHOT) when
    // another connection wrote in between. A rare second queued job is
    // harmless: the claim runs one job per account at a time, and a job
    // whose plan is already fresh recomputes nothing new.
    let queued: Option<String> = jobs::table
        .filter(jobs::account_id.eq(&account.id))
        .filter(jobs::kind.eq(kind))
        .filter(jobs::status.eq("queued"))
        .select(jobs::id)
        .first(conn)
        .optional()?;
    if let Some(id) = queued {
        return Ok(id);
    }
    let job = Job {
        id: new_id("job"),
        organisation_id: account.organisation_id.clone(),
        kind: kind.to_string(),
        account_id: account.id.clone(),
        status: "queued".into(),
        progress_done: 0,
        progress_total: 0,
        attempts: 0,
        lease_owner: None,
        lease_until: None,
        detail: "[]".into(),
        error: None,
        created_at: Utc::now().naive_utc(),
        started_at: None,
        finished_at: None,
    };
    diesel::insert_into(jobs::table)
        .values(&job)
        .execute(conn)?;
    Ok(job.id)
}

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Which jobs a worker takes: its kind, and how many jobs of that kind one
/// organisation may hold at once (its other jobs wait while another
/// organisation's are claimed).
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    /// `plan` or `sync`.
    pub kind: &'static str,
    /// Running jobs of this kind one organisation may hold.
    pub per_organisation: i64,
}

/// Claims a job of the pool's kind: queued, or running with a lapsed lease,
/// no other job of the same kind and account holding a live lease, and its
/// organisation under the pool's cap. Organisations take turns: the one
/// whose last job of this kind started longest ago goes first, then the
/// oldest job.
pub fn claim(conn: &mut DbConn, owner: &str, pool: Pool) -> QueryResult<Option<Job>> {
    let now = Utc::now().naive_utc();
    // An idle worker only reads: the UPDATE below takes SQLite's write lock
    // even when it matches nothing, and the workers of every pool poll.
    let waiting: Option<String> = jobs::table
        .filter(jobs::kind.eq(pool.kind))
        .filter(
            jobs::status.eq("queued").or(jobs::status
                .eq("running")
                .and(jobs::lease_until.lt(Some(now)))),
        )
        .select(jobs::id)
        .first(conn)
        .optional()?;
    if waiting.is_none() {
        return Ok(None);
    }
    let until = now + chrono::Duration::seconds(LEASE_SECONDS);
    // Backend-specific: PostgreSQL skips rows other workers are claiming
    // (FOR UPDATE SKIP LOCKED); SQLite has one writer, so the UPDATE itself
    // is atomic.
    let lock = match conn {
        DbConn::Pg(_) => "FOR UPDATE OF j SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
         started_at = COALESCE(started_at, $3), attempts = attempts + 1 \
         WHERE id = (SELECT j.id FROM jobs j \
           WHERE j.kind = $4 \
           AND (j.status = 'queued' OR (j.status = 'running' AND j.lease_until < $3)) \
           AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.account_id = j.account_id \
             AND r.kind = j.kind AND r.status = 'running' AND r.lease_until >= $3 AND r.id <> j.id) \
           AND (SELECT COUNT(*) FROM jobs r WHERE r.organisation_id = j.organisation_id \
             AND r.kind = j.kind AND r.status = 'running' AND r.lease_until >= $3 AND r.id <> j.id) < $5 \
           ORDER BY (SELECT COALESCE(MAX(r.started_at), $6) FROM jobs r \
             WHERE r.organisation_id = j.organisation_id AND r.kind = j.kind), j.created_at \
           LIMIT 1 {lock}) \
         RETURNING id"
    );
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let claimed: Vec<ClaimedId> = diesel::sql_query(sql)
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(pool.kind)
        .bind::<BigInt, _>(pool.per_organisation.max(1))
        .bind::<Timestamp, _>(epoch)
        .load(conn)?;
    match claimed.into_iter().next() {
        Some(c) => Job::find(conn, &c.id),
        None => Ok(None),
    }
}

/// Records progress and renews the lease of a running job.
pub fn progress(conn: &mut DbConn, id: &str, done: i64, total: i64) -> QueryResult<()> {
    let until = Utc::now().naive_utc() + chrono::Duration::seconds(LEASE_SECONDS);
    diesel::update(jobs::table.find(id))
        .set((
            jobs::progress_done.eq(done),
            jobs::progress_total.eq(total),
            jobs::lease_until.eq(Some(until)),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Ends a job.
pub fn finish(conn: &mut DbConn, id: &str, status: &str, error: Option<String>) -> QueryResult<()> {
    diesel::update(jobs::table.find(id))
        .set((
            jobs::status.eq(status),
            jobs::error.eq(error),
            jobs::lease_owner.eq(None::<String>),
            jobs::finished_at.eq(Some(Utc::now().naive_utc())),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Runs one claimed plan job; progress is written through a second
/// connection so that readers see it while the plan is computed.
fn run_plan(
    db: &Db,
    conn: &mut DbConn,
    job: &Job,
    today: Option<NaiveDate>,
) -> Result<(), ServiceError> {
    let Some(account) = Account::find_by_id(conn, &job.account_id)? else {
        return Ok(());
    };
    // Backend-specific: on PostgreSQL several processes may run workers; a
    // session advisory lock on the account keeps two from computing the
    // same plan at once (SQLite has one process).
    let pg = matches!(conn, DbConn::Pg(_));
    if pg {
        diesel::sql_query("SELECT pg_advisory_lock(hashtext($1))")
            .bind::<Text, _>(&account.id)
            .execute(conn)?;
    }
    let id = job.id.clone();
    let mut report = |done: i64, total: i64| {
        if let Ok(mut c) = db.conn() {
            let _ = progress(&mut c, &id, done, total);
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Planned meanwhile (by its master's job, another process or a
        // second queued job): the stored plan is current, nothing to do.
        if !plans::is_stale(conn, &account, today)? {
            return Ok(());
        }
        // A master stores its children's plans on a second connection while
        // it reads on (none free: on this one).
        let mut writer = account.is_master().then(|| db.spare_conn()).flatten();
        plans::compute_and_store(conn, &account, today, writer.as_deref_mut(), &mut report)
            .map(|_| ())
    }));
    if pg {
        diesel::sql_query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind::<Text, _>(&account.id)
            .execute(conn)?;
    }
    match result {
        Ok(r) => r,
        Err(_) => Err(ServiceError::internal(
            "the plan computation failed unexpectedly",
        )),
    }
}

/// Queues a plan job for every account whose stored plan is stale and that
/// has no queued job (a child whose master is stale too is left to the
/// master's job, which plans it on the way); returns how many were queued.
/// Debounced: an account is
/// queued only once its inputs version has stayed the same since the
/// previous round (`seen` remembers the stale versions), so that a burst of
/// imports is planned once, after it. Reads queue their plan at once.
pub fn queue_stale_plans(
    conn: &mut DbConn,
    today: Option<NaiveDate>,
    seen: &mut HashMap<String, String>,
) -> Result<usize, ServiceError> {
    let all: Vec<Account> = accounts::table
        .order(accounts::created_at.asc())
        .select(Account::as_select())
        .load(conn)?;
    let mut queued = 0;
    let mut still = HashMap::new();
    let mut stale: Vec<(&Account, String)> = Vec::new();
    // Children first: a master's plan reads its children's.
    for a in all
        .iter()
        .filter(|a| !a.is_master())
        .chain(all.iter().filter(|a| a.is_master()))
    {
        let day = plans::planning_date(a, today);
        let version = plans::inputs_version(conn, a, day)?;
        let stored = crate::db::models::planning::plan_header(conn, &a.id)?;
        if stored.is_some_and(|h| h.inputs_version == version) {
            continue;
        }
        stale.push((a, version));
    }
    // A stale child of a stale master is planned by the master's job, which
    // reads each child's records once for both plans.
    let stale_masters: std::collections::HashSet<&str> = stale
        .iter()
        .filter(|(a, _)| a.is_master())
        .map(|(a, _)| a.id.as_str())
        .collect();
    for (a, version) in stale {
        let settled = seen.get(&a.id) == Some(&version);
        still.insert(a.id.clone(), version);
        if !settled
            || a.master_id
                .as_deref()
                .is_some_and(|m| stale_masters.contains(m))
        {
            continue;
        }
        if Job::open_for(conn, &a.id, "plan")?.is_none() {
            enqueue(conn, a, "plan")?;
            queued += 1;
        }
    }
    *seen = still;
    Ok(queued)
}

/// Queues the plan a finished sync made stale at once, without the
/// debounce of [`queue_stale_plans`] (the sync's writes are over): the
/// master's of a synced master or of a synced child that has one (it plans
/// its stale children on the way), else the child's.
fn plan_after_sync(conn: &mut DbConn, job: &Job, today: Option<NaiveDate>) {
    let queue = |conn: &mut DbConn| -> Result<(), ServiceError> {
        let Some(account) = Account::find_by_id(conn, &job.account_id)? else {
            return Ok(());
        };
        let target = match account.master_id.as_deref() {
            Some(m) => Account::find_by_id(conn, m)?.unwrap_or(account),
            None => account,
        };
        if plans::is_stale(conn, &target, today)? {
            enqueue(conn, &target, "plan")?;
        }
        Ok(())
    };
    if let Err(e) = queue(conn) {
        tracing::warn!(error = %e, "job worker: could not queue the plans of a sync");
    }
}

/// Wakes the workers when there is new work.
#[derive(Default)]
pub struct Signal {
    /// Bumped by every wake; each worker remembers the last one it saw.
    generation: Mutex<u64>,
    cond: Condvar,
}

impl Signal {
    /// Wakes the workers now.
    pub fn wake(&self) {
        if let Ok(mut g) = self.generation.lock() {
            *g = g.wrapping_add(1);
            self.cond.notify_all();
        }
    }

    /// Waits until a wake this worker has not seen yet (one during its last
    /// round counts) or the timeout.
    fn wait(&self, seen: &mut u64, timeout: Duration) {
        if let Ok(g) = self.generation.lock() {
            let (g, _) = self
                .cond
                .wait_timeout_while(g, timeout, |g| *g == *seen)
                .unwrap_or_else(|e| e.into_inner());
            *seen = *g;
        }
    }
}

/// The plan jobs' pool: one worker per process, any organisation.
pub const PLAN_POOL: Pool = Pool {
    kind: "plan",
    per_organisation: i64::MAX,
};

/// The background workers of one server process, in two pools so that
/// neither kind of job can hold up the other: one plan worker (it also
/// queues stale plans and due automatic syncs) and
/// `TRIBUTARY_SYNC_WORKERS` sync workers, of which one organisation holds
/// at most `TRIBUTARY_SYNC_WORKERS_PER_ORGANISATION`. They stop when their
/// [`Signal`] is dropped (the server's state is gone).
pub fn spawn_worker(db: Db, today: Option<NaiveDate>, sync: SyncContext, signal: &Arc<Signal>) {
    let sync_pool = Pool {
        kind: sync::KIND,
        per_organisation: sync.config.workers_per_organisation.max(1) as i64,
    };
    let workers = sync.config.workers.clamp(1, 64);
    spawn_pool_worker("tributary-plans", &db, today, &sync, signal, PLAN_POOL);
    for i in 0..workers {
        spawn_pool_worker(
            &format!("tributary-sync-{i}"),
            &db,
            today,
            &sync,
            signal,
            sync_pool,
        );
    }
}

fn spawn_pool_worker(
    name: &str,
    db: &Db,
    today: Option<NaiveDate>,
    sync: &SyncContext,
    signal: &Arc<Signal>,
    pool: Pool,
) {
    let weak: Weak<Signal> = Arc::downgrade(signal);
    let owner = new_id("wrk");
    let (db, sync) = (db.clone(), sync.clone());
    let _ = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut seen_plans = HashMap::new();
            let mut seen_wake = 0u64;
            loop {
                let Some(signal) = weak.upgrade() else {
                    return;
                };
                let worked = match db.conn() {
                    Ok(mut conn) => {
                        if pool.kind == PLAN_POOL.kind {
                            queue_due(&mut conn, today, &sync, &mut seen_plans);
                        }
                        work_once(&db, &mut conn, &owner, today, &sync, pool)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "job worker: no database connection");
                        false
                    }
                };
                if worked && pool.kind == sync::KIND {
                    // A sync queued plans: the plan worker takes them now.
                    signal.wake();
                }
                if !worked {
                    signal.wait(&mut seen_wake, Duration::from_millis(500));
                }
            }
        });
}

/// Queues the automatic syncs that are due and the plans that went stale.
fn queue_due(
    conn: &mut DbConn,
    today: Option<NaiveDate>,
    sync_ctx: &SyncContext,
    seen: &mut HashMap<String, String>,
) {
    if sync_ctx.config.scheduler {
        if let Err(e) = sync::queue_scheduled(conn, Utc::now().naive_utc()) {
            tracing::warn!(error = %e, "job worker: could not check automatic syncs");
        }
    }
    if let Err(e) = queue_stale_plans(conn, today, seen) {
        tracing::warn!(error = %e, "job worker: could not check plans");
    }
}

/// Claims one job of the pool's kind and runs it. Returns whether a job ran.
pub fn work_once(
    db: &Db,
    conn: &mut DbConn,
    owner: &str,
    today: Option<NaiveDate>,
    sync_ctx: &SyncContext,
    pool: Pool,
) -> bool {
    let job = match claim(conn, owner, pool) {
        Ok(Some(j)) => j,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "job worker: could not claim a job");
            return false;
        }
    };
    let outcome = match job.kind.as_str() {
        "plan" => run_plan(db, conn, &job, today).map_err(|e| e.to_string()),
        // A sync writes its own end (succeeded, partial or failed).
        sync::KIND => match sync::run_job(db, &job, sync_ctx) {
            Ok(()) => {
                plan_after_sync(conn, &job, today);
                return true;
            }
            Err(e) => Err(e.to_string()),
        },
        other => Err(format!("unknown job kind {other}")),
    };
    let (status, error) = match outcome {
        Ok(()) => ("succeeded", None),
        Err(e) => {
            tracing::error!(job = %job.id, account = %job.account_id, error = %e, "job failed");
            ("failed", Some(e))
        }
    };
    if let Err(e) = finish(conn, &job.id, status, error) {
        tracing::warn!(error = %e, "job worker: could not record the end of a job");
    }
    true
}
