//! Storage: the connection type that serves SQLite and PostgreSQL from one
//! binary, the pool, embedded migrations, and the models that own their
//! queries (`models/`).
//!
//! Nothing outside this module builds diesel queries. Backend-specific SQL is
//! allowed only here, as an explicit `match` on [`DbConn`] with a comment
//! saying why. Blocking database work goes through [`Db::run`], which moves
//! it off the actix worker threads.

pub mod backup;
pub mod ingest;
pub mod models;
pub mod schema;

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

/// A pooled connection.
pub type PooledConn = PooledConnection<Manager>;

/// The database handle shared by the server: a pool plus the backend kind.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
}

impl Db {
    /// Opens a pool on `url` and runs pending migrations.
    pub fn connect(url: &str) -> Result<Db, DbError> {
        let (backend, target) = parse_url(url);
        let manager = Manager { backend, target };
        let size = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 12,
        };
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(|e| DbError::Pool(e.to_string()))?;
        let db = Db { pool, backend };
        db.migrate()?;
        Ok(db)
    }

    /// The backend this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
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

    fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self.conn()?;
        let result = match &mut *conn {
            DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        };
        result.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Runs blocking database work on the blocking thread pool and awaits it.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
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
