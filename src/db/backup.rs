//! Backups of a running server and their restore (`tributary backup` and
//! `tributary restore`).
//!
//! SQLite: `VACUUM INTO` copies the database as one read transaction, so the
//! copy is the state of one moment even while the server keeps writing (in
//! WAL mode readers never block the writer, nor the writer them). PostgreSQL:
//! `pg_dump` in its custom format (one snapshot too), restored with
//! `pg_restore` in a single transaction into an empty database.
//!
//! Both write to a temporary file next to the target and rename it at the
//! end, so a backup cut short never leaves a file that looks complete. The
//! key that seals connection credentials is not in the database: when it is
//! kept in a key file, it is copied next to the backup as `FILE.key` and put
//! back by the restore.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};

use super::{parse_url, Backend};

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target exists already; nothing was written.
    #[error("{0} exists already: choose a new file (nothing was written)")]
    TargetExists(PathBuf),
    /// The database to restore into is not empty.
    #[error("the database to restore into is not empty: restore into a new, empty database (nothing was written)")]
    DatabaseNotEmpty,
    /// The backup file is missing or not a backup.
    #[error("{path} is not a usable backup: {reason}")]
    BadBackup {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The sealing key of the backup differs from the one already in place.
    #[error("{0} holds a different sealing key than the backup's; move it away or restore elsewhere (nothing was written)")]
    KeyDiffers(PathBuf),
    /// `pg_dump` or `pg_restore` is not installed or failed.
    #[error("{tool} failed: {reason}")]
    Tool {
        /// `pg_dump` or `pg_restore`.
        tool: &'static str,
        /// Its error output, or why it did not start.
        reason: String,
    },
    /// The database refused a query.
    #[error("database error: {0}")]
    Query(String),
    /// A file could not be written or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupDone {
    /// The backup file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The copy of the sealing key, when the key is kept in a file.
    pub key_file: Option<PathBuf>,
}

/// The file next to a backup that holds its sealing key.
pub fn key_copy_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// A temporary name next to `target`, renamed to it once complete.
fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Backs up the database at `database_url` (which may be serving) into the
/// new file `to`, and copies the sealing key file `key_file` (when given and
/// present) to `to.key`.
pub fn backup(
    database_url: &str,
    to: &Path,
    key_file: Option<&Path>,
) -> Result<BackupDone, BackupError> {
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_path_buf()));
    }
    let key_copy = key_copy_path(to);
    if key_file.is_some_and(Path::exists) && key_copy.exists() {
        return Err(BackupError::TargetExists(key_copy));
    }
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let (backend, target) = parse_url(database_url);
    let written = match backend {
        Backend::Sqlite => sqlite_backup(&target, &partial),
        Backend::Postgres => pg_dump(&target, &partial),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, to)?;
    let key_file = match key_file.filter(|k| k.exists()) {
        Some(k) => {
            copy_private(k, &key_copy)?;
            Some(key_copy)
        }
        None => None,
    };
    Ok(BackupDone {
        file: to.to_path_buf(),
        bytes: std::fs::metadata(to)?.len(),
        key_file,
    })
}

/// Restores the backup `from` into the new or empty database at
/// `database_url`, and its sealing key (`from.key`, when there is one) to
/// `key_file` unless the key is given another way (`key_file` `None`).
pub fn restore(
    from: &Path,
    database_url: &str,
    key_file: Option<&Path>,
) -> Result<(), BackupError> {
    if !from.is_file() {
        return Err(BackupError::BadBackup {
            path: from.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    // The key first checked, so that a refusal writes nothing.
    let key_copy = key_copy_path(from);
    let key_to_write = match key_file {
        Some(dest) if key_copy.exists() => {
            let key = std::fs::read(&key_copy)?;
            match std::fs::read(dest) {
                Ok(existing) if existing == key => None,
                Ok(_) => return Err(BackupError::KeyDiffers(dest.to_path_buf())),
                Err(_) => Some((dest.to_path_buf(), key_copy)),
            }
        }
        _ => None,
    };
    let (backend, target) = parse_url(database_url);
    match backend {
        Backend::Sqlite => sqlite_restore(from, Path::new(&target))?,
        Backend::Postgres => pg_restore(from, &target)?,
    }
    if let Some((dest, copy)) = key_to_write {
        copy_private(&copy, &dest)?;
    }
    Ok(())
}

/// Copies a key file, readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::copy(from, to)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// SQL text literal.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "''"))
}

fn query_error(e: impl std::fmt::Display) -> BackupError {
    BackupError::Query(e.to_string())
}

/// `PRAGMA quick_check` on a SQLite file: `ok` or what is wrong.
fn sqlite_check(conn: &mut SqliteConnection) -> Result<(), String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        quick_check: String,
    }
    let rows: Vec<Row> = diesel::sql_query("PRAGMA quick_check")
        .load(conn)
        .map_err(|e| e.to_string())?;
    match rows.first() {
        Some(r) if r.quick_check == "ok" && rows.len() == 1 => Ok(()),
        _ => Err(rows
            .iter()
            .map(|r| r.quick_check.as_str())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

fn sqlite_backup(database: &str, to: &Path) -> Result<(), BackupError> {
    if !Path::new(database).is_file() {
        return Err(BackupError::Query(format!(
            "no SQLite database at {database}"
        )));
    }
    let mut conn = SqliteConnection::establish(database).map_err(query_error)?;
    // The server may hold the write lock for a while; a reader in WAL mode
    // does not wait for it, but a checkpoint might: wait rather than fail.
    conn.batch_execute("PRAGMA busy_timeout = 30000;")
        .map_err(query_error)?;
    conn.batch_execute(&format!("VACUUM INTO {}", quoted(to)))
        .map_err(query_error)?;
    let mut copy = SqliteConnection::establish(&to.to_string_lossy()).map_err(query_error)?;
    sqlite_check(&mut copy).map_err(BackupError::Query)
}

fn sqlite_restore(from: &Path, to: &Path) -> Result<(), BackupError> {
    if std::fs::metadata(to).is_ok_and(|m| m.len() > 0) {
        return Err(BackupError::DatabaseNotEmpty);
    }
    let bad = |reason: String| BackupError::BadBackup {
        path: from.to_path_buf(),
        reason,
    };
    let mut header = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(from)?;
        if f.read_exact(&mut header).is_err() || &header != b"SQLite format 3\0" {
            return Err(bad(
                "not a SQLite database (a PostgreSQL backup restores into a postgres:// DATABASE_URL)"
                    .into(),
            ));
        }
    }
    let mut conn = SqliteConnection::establish(&from.to_string_lossy()).map_err(query_error)?;
    sqlite_check(&mut conn).map_err(bad)?;
    // An empty file and the journal files of a database never written are
    // left-overs: a stale `-wal` would be applied over the restore.
    for leftover in ["", "-wal", "-shm"] {
        let mut name = to.as_os_str().to_owned();
        name.push(leftover);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    if let Err(e) = conn.batch_execute(&format!("VACUUM INTO {}", quoted(&partial))) {
        let _ = std::fs::remove_file(&partial);
        return Err(query_error(e));
    }
    std::fs::rename(&partial, to)?;
    Ok(())
}

fn run_tool(tool: &'static str, cmd: &mut Command) -> Result<(), BackupError> {
    let out = cmd.output().map_err(|e| BackupError::Tool {
        tool,
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            format!("{tool} is not installed (Debian: apt-get install postgresql-client)")
        } else {
            e.to_string()
        },
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            tool,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn pg_dump(url: &str, to: &Path) -> Result<(), BackupError> {
    run_tool(
        "pg_dump",
        Command::new("pg_dump")
            .arg("--format=custom")
            .arg("--no-owner")
            .arg("--no-privileges")
            .arg("--file")
            .arg(to)
            .arg("--dbname")
            .arg(url),
    )
}

fn pg_restore(from: &Path, url: &str) -> Result<(), BackupError> {
    // pg_dump's custom format starts with these five bytes.
    let mut magic = [0u8; 5];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(from)?;
        if f.read_exact(&mut magic).is_err() || &magic != b"PGDMP" {
            return Err(BackupError::BadBackup {
                path: from.to_path_buf(),
                reason: "not a pg_dump custom-format archive (a SQLite backup restores into a sqlite:// DATABASE_URL)".into(),
            });
        }
    }
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel::pg::PgConnection::establish(url).map_err(query_error)?;
    let tables: N = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .get_result(&mut conn)
    .map_err(query_error)?;
    if tables.n > 0 {
        return Err(BackupError::DatabaseNotEmpty);
    }
    drop(conn);
    run_tool(
        "pg_restore",
        Command::new("pg_restore")
            .arg("--no-owner")
            .arg("--no-privileges")
            .arg("--exit-on-error")
            .arg("--single-transaction")
            .arg("--dbname")
            .arg(url)
            .arg(from),
    )
}
