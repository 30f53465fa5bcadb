//! Background jobs. A job is a row of `jobs`, so it survives a restart and
//! several server processes can share one queue: a worker claims a job by
//! writing its lease (`lease_owner`, `lease_until`); a job whose lease ran
//! out (its process died) can be claimed again, and a server starting on the
//! same host takes up at once the jobs of a process of its host that is gone
//! ([`release_dead_leases`]). On PostgreSQL the claim uses
//! `FOR UPDATE SKIP LOCKED`.
//!
//! This module knows the queue and the workers' loop only: what a job of
//! each kind does and what each round queues (stale plans, automatic syncs)
//! is given from above as a [`Runner`] (`services::worker`), so the jobs
//! depend on storage alone and the services that queue jobs (`sync`,
//! `order_plan`) depend on them, not the other way round.
//!
//! Workers claim from a [`Pool`]: one kind of job, organisations taking
//! turns, and at most a given number of running jobs per organisation. The
//! layer above spawns separate pools for plan and sync jobs (one plan
//! worker, `TRIBUTARY_SYNC_WORKERS` sync workers), so a slow source never
//! holds up planning and one tenant's syncs cannot hold up another's.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::Serialize;

use crate::crypto::new_id;
use crate::db::models::Account;
use crate::db::schema::jobs;
use crate::db::{Db, DbConn};
use crate::domain::names;

/// What a job does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Recompute an account's plan.
    Plan,
    /// Sync an account's connection (on a master: load all connections).
    Sync,
}

/// Where a job is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Claimed by a worker (its lease says until when).
    Running,
    /// Done.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// A sync that ended within its budget with more to fetch, or with some
    /// of its accounts failed: the next one resumes from its cursor.
    Partial,
}

names!(JobKind { Plan => "plan", Sync => "sync" });
names!(JobStatus {
    Queued => "queued",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Partial => "partial",
});

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
    /// What it does.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: JobKind,
    /// The account it is for.
    pub account_id: String,
    /// Where it is.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: JobStatus,
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
    /// A new queued job of `kind` on `account` (not yet stored).
    pub fn queued(account: &Account, kind: JobKind) -> Job {
        Job {
            id: new_id("job"),
            organisation_id: account.organisation_id.clone(),
            kind,
            account_id: account.id.clone(),
            status: JobStatus::Queued,
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
        }
    }

    /// A job by id.
    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Job>> {
        jobs::table
            .find(id)
            .select(Job::as_select())
            .first(conn)
            .optional()
    }

    /// The queued or running job of a kind for an account, if any.
    pub fn open_for(conn: &mut DbConn, account: &str, kind: JobKind) -> QueryResult<Option<Job>> {
        jobs::table
            .filter(jobs::account_id.eq(account))
            .filter(jobs::kind.eq(kind.as_str()))
            .filter(jobs::status.eq_any([JobStatus::Queued.as_str(), JobStatus::Running.as_str()]))
            .order(jobs::created_at.desc())
            .select(Job::as_select())
            .first(conn)
            .optional()
    }

    /// The latest job of a kind for an account.
    pub fn latest_for(conn: &mut DbConn, account: &str, kind: JobKind) -> QueryResult<Option<Job>> {
        jobs::table
            .filter(jobs::account_id.eq(account))
            .filter(jobs::kind.eq(kind.as_str()))
            .order(jobs::created_at.desc())
            .select(Job::as_select())
            .first(conn)
            .optional()
    }
}

/// Queues a job of `kind` for an account unless one is already queued (a
/// running one does not count: the data may have changed since it started).
/// Returns the queued job's id.
pub fn enqueue(conn: &mut DbConn, account: &Account, kind: JobKind) -> QueryResult<String> {
    // Mostly one is queued already: found without the write lock. Else one
    // write transaction (on SQLite it holds the write lock from its start,
    // so two callers cannot both find none queued). On PostgreSQL two may
    // still race: a rare second queued job is harmless, the claim runs one
    // job per account at a time and a job whose plan is already fresh
    // recomputes nothing new.
    if let Some(id) = queued_id(conn, &account.id, kind)? {
        return Ok(id);
    }
    crate::db::transaction(conn, |conn| {
        if let Some(id) = queued_id(conn, &account.id, kind)? {
            return Ok(id);
        }
        let job = Job::queued(account, kind);
        diesel::insert_into(jobs::table)
            .values(job.clone())
            .execute(conn)?;
        Ok(job.id)
    })
}

/// The job of `kind` queued (not yet running) for an account, if any.
pub fn queued_id(conn: &mut DbConn, account: &str, kind: JobKind) -> QueryResult<Option<String>> {
    jobs::table
        .filter(jobs::account_id.eq(account))
        .filter(jobs::kind.eq(kind.as_str()))
        .filter(jobs::status.eq(JobStatus::Queued.as_str()))
        .select(jobs::id)
        .first(conn)
        .optional()
}

/// How long a job of `kind` for an account takes: the longest of its last
/// five that succeeded (a job that found its plan current ends at once;
/// the longest is what a wait can expect), and the start of the one
/// running now (if any).
pub fn timing(
    conn: &mut DbConn,
    account: &str,
    kind: JobKind,
) -> QueryResult<(Option<chrono::Duration>, Option<NaiveDateTime>)> {
    let last: Vec<(Option<NaiveDateTime>, Option<NaiveDateTime>)> = jobs::table
        .filter(jobs::account_id.eq(account))
        .filter(jobs::kind.eq(kind.as_str()))
        .filter(jobs::status.eq(JobStatus::Succeeded.as_str()))
        .order(jobs::finished_at.desc())
        .select((jobs::started_at, jobs::finished_at))
        .limit(5)
        .load(conn)?;
    let running: Option<Option<NaiveDateTime>> = jobs::table
        .filter(jobs::account_id.eq(account))
        .filter(jobs::kind.eq(kind.as_str()))
        .filter(jobs::status.eq(JobStatus::Running.as_str()))
        .select(jobs::started_at)
        .first(conn)
        .optional()?;
    let took = last.into_iter().filter_map(|(s, f)| Some(f? - s?)).max();
    Ok((took, running.flatten()))
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
    /// The kind of job it runs.
    pub kind: JobKind,
    /// Running jobs of this kind one organisation may hold.
    pub per_organisation: i64,
    /// Whether a finished job of this pool may have queued work for another
    /// pool (a sync queues its plan), so the other workers are woken.
    pub wakes_others: bool,
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
        .filter(jobs::kind.eq(pool.kind.as_str()))
        .filter(
            jobs::status.eq(JobStatus::Queued.as_str()).or(jobs::status
                .eq(JobStatus::Running.as_str())
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
    // A write: it takes its turn among the writers (`db::queue`).
    crate::db::transaction(conn, |conn| {
        let claimed: Vec<ClaimedId> = diesel::sql_query(sql)
            .bind::<Text, _>(owner)
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(pool.kind.as_str())
            .bind::<BigInt, _>(pool.per_organisation.max(1))
            .bind::<Timestamp, _>(epoch)
            .load(conn)?;
        match claimed.into_iter().next() {
            Some(c) => Job::find(conn, &c.id),
            None => Ok(None),
        }
    })
}

/// This host's name, where the system tells it (Linux: procfs).
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(':'))
}

/// A new lease owner name for one worker of this process: `host:pid:wrk_…`
/// where the host's name is known (so that a restarted server can tell its
/// dead predecessor's leases, see [`release_dead_leases`]), else `wrk_…`.
pub fn new_owner() -> String {
    match host_name() {
        Some(host) => format!("{host}:{}:{}", std::process::id(), new_id("wrk")),
        None => new_id("wrk"),
    }
}

/// Lets the running jobs whose lease a process of this host holds that is
/// gone (killed, crashed: `/proc/PID` no longer exists) be claimed at once,
/// instead of when their lease runs out ([`LEASE_SECONDS`] later): a server
/// restarted after a crash resumes its syncs and plans right away. Leases of
/// other hosts, and of processes still alive, are left alone. Returns how
/// many were released.
pub fn release_dead_leases(conn: &mut DbConn) -> QueryResult<usize> {
    let Some(host) = host_name() else {
        return Ok(0);
    };
    let prefix = format!("{host}:");
    let now = Utc::now().naive_utc();
    let held: Vec<(String, Option<String>)> = jobs::table
        .filter(jobs::status.eq("running"))
        .filter(jobs::lease_until.ge(Some(now)))
        .filter(jobs::lease_owner.like(format!("{prefix}%")))
        .select((jobs::id, jobs::lease_owner))
        .load(conn)?;
    let me = std::process::id();
    let mut released = 0;
    for (id, owner) in held {
        let Some(pid) = owner
            .as_deref()
            .and_then(|o| o.strip_prefix(&prefix))
            .and_then(|rest| rest.split(':').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // Only if still held by that owner (another worker may have taken it).
        released += crate::db::transaction(conn, |conn| {
            diesel::update(
                jobs::table
                    .find(&id)
                    .filter(jobs::status.eq("running"))
                    .filter(jobs::lease_owner.eq(owner)),
            )
            .set(jobs::lease_until.eq(Some(now - chrono::Duration::seconds(1))))
            .execute(conn)
        })?;
    }
    Ok(released)
}

/// Records progress and renews the lease of a running job.
pub fn progress(conn: &mut DbConn, id: &str, done: i64, total: i64) -> QueryResult<()> {
    crate::db::transaction(conn, |conn| {
        let until = Utc::now().naive_utc() + chrono::Duration::seconds(LEASE_SECONDS);
        diesel::update(jobs::table.find(id))
            .set((
                jobs::progress_done.eq(done),
                jobs::progress_total.eq(total),
                jobs::lease_until.eq(Some(until)),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Ends a job.
pub fn finish(
    conn: &mut DbConn,
    id: &str,
    status: JobStatus,
    error: Option<String>,
) -> QueryResult<()> {
    crate::db::transaction(conn, |conn| {
        diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(status.as_str()),
                jobs::error.eq(error),
                jobs::lease_owner.eq(None::<String>),
                jobs::finished_at.eq(Some(Utc::now().naive_utc())),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Wakes the workers when there is new work, and tells readers waiting for
/// a plan when a job of this process ended.
#[derive(Default)]
pub struct Signal {
    /// Bumped by every wake; each worker remembers the last one it saw.
    generation: Mutex<u64>,
    cond: Condvar,
    /// Bumped after every job this process ran (a plan stored, a sync
    /// ended): what a read waiting for its plan waits on, instead of asking
    /// the database again and again.
    ended: tokio::sync::watch::Sender<u64>,
}

impl Signal {
    /// A receiver that sees the next job end of this process (see
    /// [`tokio::sync::watch::Receiver::changed`]).
    pub fn job_ends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// Tells the waiting readers that a job ended.
    fn job_ended(&self) {
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

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

/// What a claimed job's runner answers.
pub enum Outcome {
    /// Done: the worker records `succeeded`, or `failed` with the error.
    Done(Result<(), String>),
    /// The runner recorded the job's end itself (a sync: `succeeded`,
    /// `partial` or `failed`).
    Recorded,
}

/// The work a worker does, given by the layer above (the job kinds and
/// what each round queues live with their use cases, in
/// `services::worker`): this module only claims, leases and records.
pub trait Runner: Send + 'static {
    /// Queues what is due before a claim (stale plans, automatic syncs);
    /// `false` when the round should stop here (the database failed).
    fn queue_due(&mut self, db: &Db, conn: &mut DbConn) -> bool;

    /// Runs one claimed job.
    fn run(&mut self, db: &Db, conn: &mut DbConn, job: &Job) -> Outcome;
}

/// One background worker of a server process, named `name`: each round
/// queues what is due and claims and runs one job of `pool` with `runner`.
/// The layer above spawns one per pool slot (`services::worker::spawn`).
/// It stops when its [`Signal`] is dropped (the server's state is gone).
pub fn spawn_worker(name: &str, db: Db, pool: Pool, mut runner: impl Runner, signal: &Arc<Signal>) {
    let weak: Weak<Signal> = Arc::downgrade(signal);
    let owner = new_owner();
    let _ = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut seen_wake = 0u64;
            loop {
                let Some(signal) = weak.upgrade() else {
                    return;
                };
                let worked = match db.conn() {
                    Ok(mut conn) => work_once(&db, &mut conn, &owner, pool, &mut runner),
                    Err(e) => {
                        tracing::warn!(error = %e, "job worker: no database connection");
                        false
                    }
                };
                if worked {
                    signal.job_ended();
                }
                if worked && pool.wakes_others {
                    // The job queued work for another pool (a sync its
                    // plan): that pool's workers take it now.
                    signal.wake();
                }
                if !worked {
                    signal.wait(&mut seen_wake, Duration::from_millis(500));
                }
            }
        });
}

/// One round of a worker: queue what is due, then claim one job of the
/// pool's kind, run it and record its end. Returns whether a job ran.
pub fn work_once(
    db: &Db,
    conn: &mut DbConn,
    owner: &str,
    pool: Pool,
    runner: &mut impl Runner,
) -> bool {
    if !runner.queue_due(db, conn) {
        return false;
    }
    let job = match claim(conn, owner, pool) {
        Ok(Some(j)) => j,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "job worker: could not claim a job");
            return false;
        }
    };
    let outcome = match runner.run(db, conn, &job) {
        Outcome::Done(r) => r,
        Outcome::Recorded => return true,
    };
    let (status, error) = match outcome {
        Ok(()) => (JobStatus::Succeeded, None),
        Err(e) => {
            tracing::error!(job = %job.id, account = %job.account_id, error = %e, "job failed");
            (JobStatus::Failed, Some(e))
        }
    };
    if let Err(e) = finish(conn, &job.id, status, error) {
        tracing::warn!(error = %e, "job worker: could not record the end of a job");
    }
    true
}
