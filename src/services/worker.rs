//! The job kinds the worker runs and what each of its rounds queues: the
//! plan job (a plan computed under a PostgreSQL advisory lock on its
//! account, so two processes never compute the same plan at once), the
//! sync job (`services::sync`), the plans that went stale (queued without
//! hooks in the write paths: each account's inputs version against its
//! stored plan's) and the organisations' automatic syncs. `jobs` claims,
//! leases and records; this module is its [`Runner`] and spawns the
//! server's workers in two pools (one plan worker, `TRIBUTARY_SYNC_WORKERS`
//! sync workers), so neither kind of job can hold up the other.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::models::Account;
use crate::db::schema::accounts;
use crate::db::{Db, DbConn};
use crate::jobs::{enqueue, progress, spawn_worker, Job, JobKind, Outcome, Pool, Runner, Signal};
use crate::services::sync::{self, SyncContext};
use crate::services::{plans, ServiceError};

/// The plan jobs' pool: one worker per process, any organisation.
pub const PLAN_POOL: Pool = Pool {
    kind: JobKind::Plan,
    per_organisation: i64::MAX,
    wakes_others: false,
};

/// The sync jobs' pool: one organisation holds at most
/// `TRIBUTARY_SYNC_WORKERS_PER_ORGANISATION` of its workers; a finished
/// sync wakes the plan worker for the plan it queued.
pub fn sync_pool(sync: &SyncContext) -> Pool {
    Pool {
        kind: sync::KIND,
        per_organisation: sync.config.workers_per_organisation.max(1) as i64,
        wakes_others: true,
    }
}

/// Spawns the background workers of one server process, in two pools so
/// that neither kind of job can hold up the other: one plan worker (it also
/// queues stale plans and due automatic syncs) and `TRIBUTARY_SYNC_WORKERS`
/// sync workers. They stop when their [`Signal`] is dropped.
pub fn spawn(db: &Db, today: Option<NaiveDate>, sync: SyncContext, signal: &Arc<Signal>) {
    // The jobs a crashed predecessor of this server held are taken up now,
    // not a lease later.
    match db
        .conn()
        .map_err(|e| e.to_string())
        .and_then(|mut c| crate::jobs::release_dead_leases(&mut c).map_err(|e| e.to_string()))
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            jobs = n,
            "resuming the jobs of a server process that is gone"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not look for the jobs of a server process that is gone")
        }
    }
    let pool = sync_pool(&sync);
    let workers = sync.config.workers.clamp(1, 64);
    for i in 0..workers {
        let runner = Jobs {
            queues_due: false,
            ..Jobs::new(today, sync.clone())
        };
        spawn_worker(
            &format!("tributary-sync-{i}"),
            db.clone(),
            pool,
            runner,
            signal,
        );
    }
    spawn_worker(
        "tributary-plans",
        db.clone(),
        PLAN_POOL,
        Jobs::new(today, sync),
        signal,
    );
}

/// The runner of one of this server's workers: plan and sync jobs.
pub struct Jobs {
    today: Option<NaiveDate>,
    sync: SyncContext,
    /// Whether its rounds queue stale plans and due automatic syncs (the
    /// plan worker's do; the sync workers' only claim).
    queues_due: bool,
    /// The stale inputs versions seen in the previous round (the debounce
    /// of [`queue_stale_plans`]).
    seen: HashMap<String, String>,
}

impl Jobs {
    /// The runner for a fixed planning date (tests, the demo) or today's,
    /// with the sync settings.
    pub fn new(today: Option<NaiveDate>, sync: SyncContext) -> Jobs {
        Jobs {
            today,
            sync,
            queues_due: true,
            seen: HashMap::new(),
        }
    }
}

impl Runner for Jobs {
    fn queue_due(&mut self, _db: &Db, conn: &mut DbConn) -> bool {
        if !self.queues_due {
            return true;
        }
        if self.sync.config.scheduler {
            if let Err(e) = sync::queue_scheduled(conn, Utc::now().naive_utc()) {
                tracing::warn!(error = %e, "job worker: could not check automatic syncs");
            }
        }
        if let Err(e) = queue_stale_plans(conn, self.today, &mut self.seen) {
            tracing::warn!(error = %e, "job worker: could not check plans");
            return false;
        }
        true
    }

    fn run(&mut self, db: &Db, conn: &mut DbConn, job: &Job) -> Outcome {
        match job.kind {
            JobKind::Plan => {
                Outcome::Done(run_plan(db, conn, job, self.today).map_err(|e| e.to_string()))
            }
            // A sync writes its own end (succeeded, partial or failed).
            JobKind::Sync => match sync::run_job(db, job, &self.sync) {
                Ok(()) => {
                    plan_after_sync(conn, job, self.today);
                    Outcome::Recorded
                }
                Err(e) => Outcome::Done(Err(e.to_string())),
            },
        }
    }
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
    // Progress only when a connection is free now (`Db::try_conn`).
    let mut report = |done: i64, total: i64| {
        if let Some(mut c) = db.try_conn() {
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
        if Job::open_for(conn, &a.id, JobKind::Plan)?.is_none() {
            enqueue(conn, a, JobKind::Plan)?;
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
            enqueue(conn, &target, JobKind::Plan)?;
        }
        Ok(())
    };
    if let Err(e) = queue(conn) {
        tracing::warn!(error = %e, "job worker: could not queue the plans of a sync");
    }
}
