//! The application state: the database, the configuration it was started
//! with, and the keys. A leaf: it depends on storage, config and crypto only;
//! the web layer reads it, the services are handed what they need from it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::crypto::{random_key, SecretBox};
use crate::db::{models::setting, Db};
use crate::jobs::Signal;

/// Shared state of the server.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The configuration it was started with.
    pub config: Config,
    /// JWT keys.
    pub jwt: JwtKeys,
    /// Connection-secret sealer.
    pub secrets: SecretBox,
    /// Wakes this process's job workers (which stop when the state is dropped).
    pub jobs: Arc<Signal>,
}

impl AppState {
    /// Opens the database (running migrations) and loads or generates the
    /// secrets: a missing JWT secret is generated and kept in the database; a
    /// missing server key is generated into a file readable only by this user.
    pub fn init(config: Config) -> anyhow::Result<AppState> {
        let state = AppState::init_idle(config)?;
        state.start_worker();
        Ok(state)
    }

    /// [`AppState::init`] without starting the job worker: for a command
    /// that writes and plans first (the demo), so that the worker does not
    /// compute the same plans at the same time; it calls
    /// [`AppState::start_worker`] when done.
    pub fn init_idle(config: Config) -> anyhow::Result<AppState> {
        let db = Db::connect(&config.database_url)
            .with_context(|| format!("opening the database {}", redact(&config.database_url)))?;
        let jwt_secret = match &config.jwt_secret {
            Some(s) => s.clone(),
            None => {
                let mut conn = db.conn()?;
                let s = setting::get_or_insert(&mut conn, "jwt_secret", || {
                    tracing::info!("JWT_SECRET is not set: generated one and kept it in the database (server_settings.jwt_secret)");
                    hex::encode(random_key())
                })?;
                s
            }
        };
        let key = match config.secret_key {
            Some(k) => k,
            None => load_or_create_key(&config.secret_key_file)?,
        };
        let jobs = Arc::new(Signal::default());
        let secrets = SecretBox::new(&key);
        let resealed = crate::services::accounts::reseal_unbound(&mut *db.conn()?, &secrets)
            .map_err(|e| anyhow::anyhow!("re-sealing connection secrets: {e}"))?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                "connection secrets re-sealed for their accounts (AES-GCM associated data)"
            );
        }
        Ok(AppState {
            jobs,
            jwt: JwtKeys::new(&jwt_secret, config.jwt_ttl_seconds),
            secrets,
            db,
            config,
        })
    }
}

impl AppState {
    /// Starts this process's job workers (they stop when the state is gone).
    pub fn start_worker(&self) {
        let sync = crate::services::sync::SyncContext {
            config: self.config.sync.clone(),
            secrets: self.secrets.clone(),
        };
        crate::services::worker::spawn(&self.db, self.config.today, sync, &self.jobs);
    }
}

/// Hides a password in a database URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the server key {}", path.display()))?;
        return crate::config::parse_key(&text)
            .with_context(|| format!("{} does not hold 64 hex digits", path.display()));
    }
    let key = random_key();
    write_private(path, &hex::encode(key))
        .with_context(|| format!("writing a new server key to {}", path.display()))?;
    tracing::info!(path = %path.display(), "TRIBUTARY_SECRET_KEY is not set: generated a server key into this file (keep it: it decrypts connection secrets)");
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
