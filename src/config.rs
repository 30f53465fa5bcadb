//! Server configuration, read from the environment (and a `.env` file).
//! Every setting is documented in `.env.example`. The server starts with no
//! configuration at all: missing secrets are generated and kept (see
//! `startup`).

use std::path::PathBuf;

use chrono::NaiveDate;

/// Default bind address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tributary.db";
/// Default upload limit: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;
/// Default JWT lifetime: 12 hours.
pub const DEFAULT_JWT_TTL: i64 = 12 * 3600;

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BIND_ADDR`.
    pub bind_addr: String,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `JWT_SECRET`; generated and kept in the database when unset.
    pub jwt_secret: Option<String>,
    /// `JWT_TTL_SECONDS`.
    pub jwt_ttl_seconds: i64,
    /// `TRIBUTARY_SECRET_KEY` (32 bytes); generated into a file when unset.
    pub secret_key: Option<[u8; 32]>,
    /// Where a generated secret key is kept when `TRIBUTARY_SECRET_KEY` is unset.
    pub secret_key_file: PathBuf,
    /// `MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: u64,
    /// `TRIBUTARY_TODAY`: fixes the planning date.
    pub today: Option<NaiveDate>,
    /// `TRIBUTARY_HTTPS=true`: the session cookie is marked `Secure`.
    pub https: bool,
    /// Outbound sync settings (`TRIBUTARY_SYNC_*`, `TRIBUTARY_SHOPIFY_API_BASE`,
    /// `TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS`).
    pub sync: SyncConfig,
}

/// How connections are pulled.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS` (default true): whether a
    /// connection may reach loopback, private or link-local addresses.
    pub allow_private: bool,
    /// `TRIBUTARY_SHOPIFY_API_BASE` (default `https://{shop}`): where the
    /// Shopify Admin API is reached; `{shop}` is replaced by the shop domain.
    pub shopify_api_base: String,
    /// `TRIBUTARY_SYNC_RETRY_SECONDS` (default 60): how long one request is
    /// retried (timeouts, refused, 5xx, 429) before the child fails.
    pub retry_seconds: u64,
    /// `TRIBUTARY_SYNC_TIMEOUT_SECONDS` (default 30): one attempt's timeout.
    pub timeout_seconds: u64,
    /// `TRIBUTARY_SYNC_PARALLEL` (default 4): children synced at once.
    pub parallel: usize,
    /// `TRIBUTARY_SYNC_PAGE_SIZE` (default 5000): records asked per page of
    /// a `tributary` feed (Shopify and WooCommerce have their own limits).
    pub page_size: usize,
    /// `TRIBUTARY_SYNC_SCHEDULER` (default true): whether this process runs
    /// the organisations' automatic syncs (each off until an interval is set).
    pub scheduler: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            allow_private: true,
            shopify_api_base: "https://{shop}".into(),
            retry_seconds: 60,
            timeout_seconds: 30,
            parallel: 4,
            page_size: 5000,
            scheduler: true,
        }
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration setting {name} is invalid: {message}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Config {
    /// Reads the configuration from the process environment (after loading
    /// `.env` if present).
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (testable without touching the
    /// process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let non_empty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let database_url =
            non_empty("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let jwt_ttl_seconds = match non_empty("JWT_TTL_SECONDS") {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError {
                    name: "JWT_TTL_SECONDS",
                    message: "expected a positive number of seconds".into(),
                })?,
            None => DEFAULT_JWT_TTL,
        };
        let secret_key = match non_empty("TRIBUTARY_SECRET_KEY") {
            Some(v) => Some(parse_key(&v).ok_or(ConfigError {
                name: "TRIBUTARY_SECRET_KEY",
                message: "expected 64 hexadecimal digits (32 bytes)".into(),
            })?),
            None => None,
        };
        let max_upload_bytes = match non_empty("MAX_UPLOAD_BYTES") {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError {
                    name: "MAX_UPLOAD_BYTES",
                    message: "expected a positive number of bytes".into(),
                })?,
            None => DEFAULT_MAX_UPLOAD_BYTES,
        };
        let today = match non_empty("TRIBUTARY_TODAY") {
            Some(v) => Some(
                NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| ConfigError {
                    name: "TRIBUTARY_TODAY",
                    message: "expected a date YYYY-MM-DD".into(),
                })?,
            ),
            None => None,
        };
        let https = matches!(
            non_empty("TRIBUTARY_HTTPS")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("1" | "true" | "yes")
        );
        let secret_key_file = default_key_file(&database_url);
        let flag = |k: &'static str, default: bool| match non_empty(k)
            .as_deref()
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(default),
            Some("1" | "true" | "yes") => Ok(true),
            Some("0" | "false" | "no") => Ok(false),
            Some(_) => Err(ConfigError {
                name: k,
                message: "expected true or false".into(),
            }),
        };
        let number = |k: &'static str, default: u64| match non_empty(k) {
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError {
                    name: k,
                    message: "expected a positive whole number".into(),
                }),
            None => Ok(default),
        };
        let defaults = SyncConfig::default();
        let sync = SyncConfig {
            allow_private: flag(
                "TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS",
                defaults.allow_private,
            )?,
            shopify_api_base: non_empty("TRIBUTARY_SHOPIFY_API_BASE")
                .map(|v| v.trim().trim_end_matches('/').to_string())
                .unwrap_or(defaults.shopify_api_base),
            retry_seconds: number("TRIBUTARY_SYNC_RETRY_SECONDS", defaults.retry_seconds)?,
            timeout_seconds: number("TRIBUTARY_SYNC_TIMEOUT_SECONDS", defaults.timeout_seconds)?,
            parallel: number("TRIBUTARY_SYNC_PARALLEL", defaults.parallel as u64)? as usize,
            page_size: number("TRIBUTARY_SYNC_PAGE_SIZE", defaults.page_size as u64)?.min(10_000)
                as usize,
            scheduler: flag("TRIBUTARY_SYNC_SCHEDULER", defaults.scheduler)?,
        };
        Ok(Config {
            bind_addr: non_empty("BIND_ADDR").unwrap_or_else(|| DEFAULT_BIND.to_string()),
            database_url,
            jwt_secret: non_empty("JWT_SECRET"),
            jwt_ttl_seconds,
            secret_key,
            secret_key_file,
            max_upload_bytes,
            today,
            https,
            sync,
        })
    }
}

/// Parses 64 hex digits into a 32-byte key.
pub fn parse_key(hex_digits: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_digits.trim()).ok()?;
    bytes.try_into().ok()
}

/// A generated key lives beside a SQLite database, or in the working
/// directory for PostgreSQL.
fn default_key_file(database_url: &str) -> PathBuf {
    let (backend, target) = crate::db::parse_url(database_url);
    match backend {
        crate::db::Backend::Sqlite => {
            let path = PathBuf::from(target);
            match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.join("tributary.key"),
                _ => PathBuf::from("tributary.key"),
            }
        }
        crate::db::Backend::Postgres => PathBuf::from("tributary.key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_with_nothing_set() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.bind_addr, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://tributary.db");
        assert_eq!(c.max_upload_bytes, 1 << 30);
        assert_eq!(c.secret_key_file, PathBuf::from("tributary.key"));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e =
            Config::from_lookup(|k| (k == "TRIBUTARY_TODAY").then(|| "soon".into())).unwrap_err();
        assert_eq!(e.name, "TRIBUTARY_TODAY");
        let e = Config::from_lookup(|k| (k == "TRIBUTARY_SECRET_KEY").then(|| "abc".into()))
            .unwrap_err();
        assert_eq!(e.name, "TRIBUTARY_SECRET_KEY");
    }
}
