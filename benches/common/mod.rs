//! What several benchmarks share: a fresh PostgreSQL database for a run and
//! the log subscriber.

use diesel::connection::SimpleConnection;
use diesel::Connection;

/// Drops and creates the database that `url` names, so a run starts empty;
/// returns `url`. The name is the path's last part, before any query (whose
/// `host=/var/run/…` has slashes of its own).
pub fn fresh_postgres(url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let (base, name) = path.rsplit_once('/').expect("a database name in the URL");
    let admin = if query.is_empty() {
        format!("{base}/postgres")
    } else {
        format!("{base}/postgres?{query}")
    };
    let mut c = diesel::pg::PgConnection::establish(&admin).expect("PostgreSQL");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    url.to_string()
}

/// Logs to stderr as `RUST_LOG` says (`tributary=debug` shows where a
/// plan's time goes); warnings only by default.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
