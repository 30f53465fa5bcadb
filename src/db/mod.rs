//! Storage: the connection type that serves SQLite and PostgreSQL from one
//! binary, the pool, embedded migrations, and the models that own their
//! queries (`models/`).
//!
//! Nothing outside this module builds diesel queries. Backend-specific SQL is
//! allowed only here, as an explicit `match` on [`DbConn`] with a comment
//! saying why. Blocking database work goes through [`Db::run`] (writers) or
//! [`Db::read`] (reads only), which move it off the actix worker threads.
//!
//! Two pools: the writers' (small; background jobs and every request that
//! writes) and the readers' (sized for request concurrency; on SQLite its
//! connections are `query_only`, and in WAL mode a reader never waits for
//! the write lock). A transaction that writes goes through
//! [`transaction`]: on SQLite it takes the write lock at `BEGIN`
//! (`BEGIN IMMEDIATE`), so that it waits its turn under the busy timeout
//! instead of failing with "database is locked" when it reads first and
//! another connection writes before its own first write. On SQLite a
//! thread keeps the write-ahead log bounded under a crowd of readers
//! ([`wal`]).

pub mod backup;
pub mod ingest;
pub mod models;
pub mod plan_orders;
pub mod queue;
pub mod schema;
pub mod values;
pub mod wal;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// SQLite migrations, embedded at compile time.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// PostgreSQL migrations, embedded at compile time (same version names).
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to either backend; queries written against the shared
/// schema run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for larger deployments.
    Pg(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be had from the pool.
    #[error("database connection unavailable: {0}")]
    Pool(String),
    /// Migrations failed to run.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The blocking task was cancelled.
    #[error("database task cancelled")]
    Cancelled,
}

/// Which backend a `DATABASE_URL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite://path`, `sqlite:path` or a plain path.
    Sqlite,
}

/// Parses a `DATABASE_URL` into its backend and the string the backend's
/// driver expects.
pub fn parse_url(url: &str) -> (Backend, String) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Backend::Postgres, url.to_string())
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        (Backend::Sqlite, path.to_string())
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        (Backend::Sqlite, path.to_string())
    } else {
        (Backend::Sqlite, url.to_string())
    }
}

/// An r2d2 manager that picks the backend from the URL scheme and prepares
/// every new SQLite connection (WAL, foreign keys, busy timeout).
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
    /// The readers' pool: SQLite connections refuse writes (`query_only`).
    read_only: bool,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target)
                .map(DbConn::Pg)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // SQLite only: readers never block the writer (WAL), the
                // writer waits for a lock instead of failing, and foreign
                // keys are enforced (they are off by default in SQLite).
                conn.batch_execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
                )
                .map_err(r2d2::Error::QueryError)?;
                // The log's file is cut back to this size when the log
                // starts over ([`wal`]).
                conn.batch_execute(&format!(
                    "PRAGMA journal_size_limit = {};",
                    wal::JOURNAL_SIZE_LIMIT
                ))
                .map_err(r2d2::Error::QueryError)?;
                if self.read_only {
                    conn.batch_execute("PRAGMA query_only = ON;")
                        .map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        if !is_reusable(conn) {
            return Err(r2d2::Error::QueryError(
                diesel::result::Error::BrokenTransactionManager,
            ));
        }
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection given back while its thread panics, or still inside a
    /// transaction (a panic unwound through `Connection::transaction`, which
    /// neither commits nor rolls back), or whose transaction manager is in
    /// error, is dropped instead of going back to the pool: closing it rolls
    /// the open transaction back. Handing it out again would run the next
    /// writes as savepoints of a transaction that never commits: answered
    /// `200`, gone after a restart.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || !is_reusable(conn)
    }
}

/// Whether a connection may serve another request: no transaction open, the
/// transaction manager not in error, and the driver not reporting it broken.
pub fn is_reusable(conn: &mut DbConn) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    use diesel::r2d2::R2D2Connection;
    // Both backends use diesel's ANSI transaction manager; the
    // multi-connection type has no accessor of its own for its status.
    let (depth, broken) = match conn {
        DbConn::Pg(c) => (
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth(),
            c.is_broken(),
        ),
        DbConn::Sqlite(c) => (
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth(),
            c.is_broken(),
        ),
    };
    matches!(depth, Ok(None)) && !broken
}

fn migrate(conn: &mut DbConn) -> Result<(), DbError> {
    let result = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// A pooled connection.
pub type PooledConn = PooledConnection<Manager>;

/// The writers' pool size: background jobs (a plan job holds up to three
/// connections, each sync worker one or two) and the requests that write.
const WRITERS: u32 = 8;
/// The readers' pool size: requests that only read (plans, demand, pages,
/// most GETs), sized for request concurrency rather than for the one
/// writer SQLite allows at a time.
const READERS: u32 = 24;

/// The threads reads run on ([`Db::read`]): as many as the readers' pool
/// has connections, at nice 5 on Linux (where the system allows it).
/// Against a writer's thread (nice 0) each gets about a third of the share
/// of a core the writer gets, so a writer holding SQLite's write lock is
/// not slowed to a crawl by 200 clients' reads (under the load bench the
/// holder otherwise got about one core-share in 27), and the writers
/// queued behind it wait less; reads still get every core nobody else
/// wants.
fn read_threads() -> &'static rayon::ThreadPool {
    static THREADS: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    THREADS.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(READERS as usize)
            .thread_name(|i| format!("reader-{i}"))
            .start_handler(|_| crate::planning::pool::lower_priority_to(READ_NICE))
            .build()
            .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
            .expect("a thread for reads")
    })
}

/// The nice value of the read threads.
const READ_NICE: i8 = 5;

/// Whether `conn` is inside a transaction.
pub fn in_transaction(conn: &mut DbConn) -> bool {
    use diesel::connection::TransactionManager;
    type Tm = <DbConn as Connection>::TransactionManager;
    !matches!(
        Tm::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    )
}

/// Runs `f` in a transaction meant to write, nested ones as savepoints. On
/// SQLite the outermost takes the write lock at `BEGIN` (`BEGIN
/// IMMEDIATE`): a deferred transaction that reads first and then writes
/// fails at once with "database is locked" (`SQLITE_BUSY_SNAPSHOT`, no
/// busy wait) when another connection committed a write in between. On
/// PostgreSQL it is an ordinary transaction. An outermost transaction that
/// lasts over a second is logged (a warning naming its caller): on SQLite
/// every other writer waited that long.
#[track_caller]
pub fn transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Tm = <DbConn as Connection>::TransactionManager;
    let outermost = matches!(
        Tm::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    );
    // Backend-specific: SQLite's lock mode is chosen at BEGIN; diesel's
    // generic transaction issues a deferred BEGIN.
    // It takes its turn in this process's queue of writers first, and
    // keeps it to its commit or rollback ([`queue`]).
    let (asked, caller) = (std::time::Instant::now(), std::panic::Location::caller());
    let mut _turn = None;
    match conn {
        DbConn::Sqlite(c) if outermost => {
            _turn = queue::turn(c);
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        _ => Tm::begin_transaction(conn)?,
    }
    let started = std::time::Instant::now();
    let result = f(conn);
    let result = match result {
        Ok(value) => Tm::commit_transaction(conn)
            .map(|()| value)
            .map_err(E::from),
        Err(e) => match Tm::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    };
    if outermost {
        held(caller, started - asked, started.elapsed());
    }
    result
}

/// Notes how long an outermost write transaction waited for its lock
/// (`BEGIN`, and on SQLite its turn in the writers' queue) and then held it (to its
/// commit or rollback): a warning over [`HELD_WARN`] (on SQLite every
/// other writer waited that long), a debug event over [`HELD_DEBUG`]
/// (`RUST_LOG=tributary::db=debug` shows what holds the write lock).
fn held(caller: &std::panic::Location<'_>, waited: Duration, held: Duration) {
    if held > HELD_WARN {
        tracing::warn!(
            held_ms = held.as_millis() as u64,
            waited_ms = waited.as_millis() as u64,
            at = %caller,
            "a write transaction held the database for over half a second"
        );
    } else if held > HELD_DEBUG || waited > HELD_WARN {
        tracing::debug!(
            held_ms = held.as_millis() as u64,
            waited_ms = waited.as_millis() as u64,
            at = %caller,
            "write transaction"
        );
    }
}

/// How long a write transaction may hold the database before a warning:
/// on SQLite every other writer waits for it.
pub const HELD_WARN: Duration = Duration::from_millis(500);
/// Write transactions held longer are noted at debug level.
const HELD_DEBUG: Duration = Duration::from_millis(50);

/// The database handle shared by the server: the writers' and the readers'
/// pools plus the backend kind, and the orderings of stored plans read
/// (`plan_orders`).
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    readers: r2d2::Pool<Manager>,
    backend: Backend,
    plan_orders: std::sync::Arc<plan_orders::PlanOrders>,
    /// SQLite: keeps the log's checkpointing thread going ([`wal`]).
    _checkpoints: Option<std::sync::Arc<()>>,
}

impl Db {
    /// Opens the pools on `url` and runs pending migrations; on SQLite
    /// starts the thread that keeps the log bounded ([`wal`]).
    pub fn connect(url: &str) -> Result<Db, DbError> {
        let mut db = Db::connect_without_checkpoints(url)?;
        if db.backend == Backend::Sqlite {
            let target = parse_url(url).1;
            let thread = wal::start(&target).map_err(|e| DbError::Pool(e.to_string()))?;
            db._checkpoints = Some(thread);
        }
        Ok(db)
    }

    /// [`Db::connect`] without the SQLite checkpointing thread (tests that
    /// show what it is for).
    pub(crate) fn connect_without_checkpoints(url: &str) -> Result<Db, DbError> {
        let (backend, target) = parse_url(url);
        let build = |read_only: bool, size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(30))
                .build(Manager {
                    backend,
                    target: target.clone(),
                    read_only,
                })
                .map_err(|e| DbError::Pool(e.to_string()))
        };
        let pool = build(false, WRITERS)?;
        let mut conn = pool.get().map_err(|e| DbError::Pool(e.to_string()))?;
        migrate(&mut conn)?;
        // A plan store killed between its batches left lines no reader sees.
        models::planning::drop_unfinished_plans(&mut conn)?;
        // So did an import killed between its early batches.
        ingest::early::drop_unfinished(&mut conn)?;
        drop(conn);
        // After the migrations: a SQLite reader cannot create the schema.
        let readers = build(true, READERS)?;
        Ok(Db {
            pool,
            readers,
            backend,
            plan_orders: Default::default(),
            _checkpoints: None,
        })
    }

    /// The backend this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The orderings of stored plans read through this handle.
    pub fn plan_orders(&self) -> &std::sync::Arc<plan_orders::PlanOrders> {
        &self.plan_orders
    }

    /// A connection from the pool, for blocking code that is already off
    /// the async workers (commands, background jobs, tests).
    pub fn conn(&self) -> Result<PooledConn, DbError> {
        self.pool.get().map_err(|e| DbError::Pool(e.to_string()))
    }

    /// A connection if one is free (or can be opened) within a moment, for
    /// work that can also do without one (a second connection to overlap
    /// writes with reads).
    pub fn spare_conn(&self) -> Option<PooledConn> {
        self.pool.get_timeout(Duration::from_millis(200)).ok()
    }

    /// A connection if one is free now, without waiting: for writes that
    /// may be skipped (a job's progress, which the next report writes
    /// again). A job that waited for a connection to report its progress
    /// would hold its own while it waits, and with several such jobs the
    /// writers' pool runs dry (a load-all stalled for the pool's 30 s
    /// timeout once per child).
    pub fn try_conn(&self) -> Option<PooledConn> {
        self.pool.try_get()
    }

    /// A connection of the readers' pool (on SQLite it refuses writes).
    pub fn read_conn(&self) -> Result<PooledConn, DbError> {
        self.readers.get().map_err(|e| DbError::Pool(e.to_string()))
    }

    /// Runs blocking database work that may write on the blocking thread
    /// pool, with a connection of the writers' pool, and awaits it.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        Self::on(self.pool.clone(), f).await
    }

    /// [`Db::run`] for work that only reads, with a connection of the
    /// readers' pool: it never waits for a writer's connection (nor, on
    /// SQLite, for the write lock).
    ///
    /// It runs on threads of its own at a lower priority than the writers'
    /// ([`read_threads`]): on SQLite a writer holds the one write lock, and
    /// every other writer waits while the holder shares the cores with a
    /// crowd of readers.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        read_threads().spawn(move || {
            // A panic ends this read (its connection is dropped, not
            // pooled: `Manager::has_broken`), not the thread.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut conn = pool
                    .get()
                    .map_err(|e| E::from(DbError::Pool(e.to_string())))?;
                f(&mut conn)
            }));
            let _ = tx.send(result);
        });
        match rx.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(E::from(DbError::Cancelled)),
        }
    }

    async fn on<T, E, F>(pool: r2d2::Pool<Manager>, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let joined = actix_web::web::block(move || {
            let mut conn = pool
                .get()
                .map_err(|e| E::from(DbError::Pool(e.to_string())))?;
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(_) => Err(E::from(DbError::Cancelled)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;
    use std::sync::mpsc;

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// A transaction that reads, then writes after another connection
    /// committed a write meanwhile, waits its turn and commits (a deferred
    /// `BEGIN` fails it at once with "database is locked").
    #[test]
    fn a_transaction_that_reads_then_writes_waits_for_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).unwrap();
        db.conn()
            .unwrap()
            .batch_execute("CREATE TABLE t (n BIGINT NOT NULL); INSERT INTO t VALUES (0);")
            .unwrap();
        let (read, go) = (mpsc::channel::<()>(), mpsc::channel::<()>());
        let (read_tx, read_rx) = read;
        let (go_tx, go_rx) = go;
        let other = {
            let db = db.clone();
            std::thread::spawn(move || {
                read_rx.recv().unwrap();
                let mut c = db.conn().unwrap();
                // Waits for the first transaction's lock (or, deferred,
                // commits before it writes).
                let r = transaction(&mut c, |c| {
                    diesel::sql_query("UPDATE t SET n = n + 1").execute(c)
                });
                go_tx.send(()).unwrap();
                r
            })
        };
        let mut c = db.conn().unwrap();
        let first = transaction(&mut c, |c| {
            let before = diesel::sql_query("SELECT n FROM t").get_result::<N>(c)?.n;
            read_tx.send(()).unwrap();
            // The other writer commits meanwhile if it can.
            let _ = go_rx.recv_timeout(std::time::Duration::from_millis(500));
            diesel::sql_query(format!("UPDATE t SET n = {}", before + 10)).execute(c)
        });
        assert!(first.is_ok(), "{first:?}");
        assert!(other.join().unwrap().is_ok());
        let n = diesel::sql_query("SELECT n FROM t")
            .get_result::<N>(&mut c)
            .unwrap()
            .n;
        assert_eq!(n, 11, "both writes, one after the other");
    }

    /// The readers' pool refuses writes on SQLite.
    #[test]
    fn a_reader_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).unwrap();
        db.conn()
            .unwrap()
            .batch_execute("CREATE TABLE t (n BIGINT NOT NULL);")
            .unwrap();
        let mut r = db.read_conn().unwrap();
        assert!(r.batch_execute("INSERT INTO t VALUES (1);").is_err());
        assert!(r.batch_execute("SELECT n FROM t;").is_ok());
    }

    /// Reads run on the read threads, below the writers' priority (Linux:
    /// nice 5 against the caller's 0); a read that panics answers an error
    /// and the next read still runs.
    #[test]
    fn reads_run_on_their_own_threads_below_the_writers_priority() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).unwrap();
        let nice = || {
            std::fs::read_to_string("/proc/thread-self/stat")
                .ok()
                .and_then(|s| {
                    let fields: Vec<String> = s
                        .rsplit(')')
                        .next()?
                        .split_whitespace()
                        .map(String::from)
                        .collect();
                    // Field 19 of the line, the 17th after the name.
                    fields.get(16)?.parse::<i32>().ok()
                })
        };
        let rt = actix_web::rt::System::new();
        let (name, read_nice) = rt
            .block_on(db.read(move |_| {
                Ok::<_, DbError>((
                    std::thread::current()
                        .name()
                        .unwrap_or_default()
                        .to_string(),
                    nice(),
                ))
            }))
            .unwrap();
        assert!(name.starts_with("reader-"), "{name}");
        if let (Some(r), Some(w)) = (read_nice, nice()) {
            assert_eq!(r - w, READ_NICE as i32, "reader nice {r}, caller {w}");
        }
        let panicked =
            rt.block_on(db.read(|_| -> Result<(), DbError> { panic!("a read that panics") }));
        assert!(matches!(panicked, Err(DbError::Cancelled)));
        let n = rt
            .block_on(db.read(|c| {
                diesel::sql_query("SELECT 1 AS n")
                    .get_result::<N>(c)
                    .map_err(DbError::from)
            }))
            .unwrap();
        assert_eq!(n.n, 1);
    }

    /// With every writer's connection taken, a progress report's
    /// `try_conn` answers at once (a `conn` would wait the pool's 30 s).
    #[test]
    fn try_conn_does_not_wait_for_a_taken_pool() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).unwrap();
        let held: Vec<_> = (0..WRITERS).map(|_| db.conn().unwrap()).collect();
        let started = std::time::Instant::now();
        assert!(db.try_conn().is_none());
        assert!(started.elapsed() < Duration::from_millis(100));
        drop(held);
        assert!(db.try_conn().is_some());
    }
}
