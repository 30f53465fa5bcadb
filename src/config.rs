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
/// Default number of imports running at once (per database).
pub const DEFAULT_MAX_CONCURRENT_IMPORTS: usize = 4;
/// Default for `MAX_CONCURRENT_IMPORTS_PER_ORGANISATION`.
pub const DEFAULT_MAX_CONCURRENT_IMPORTS_PER_ORGANISATION: usize = 2;
/// Default wait for a free import slot before answering 429, in seconds.
pub const DEFAULT_IMPORT_WAIT_SECONDS: u64 = 10;
/// Default JWT lifetime: 12 hours.
pub const DEFAULT_JWT_TTL: i64 = 12 * 3600;
/// Default number of failed logins for one e-mail within the window before
/// further attempts answer 429.
pub const DEFAULT_LOGIN_FAILURES_PER_EMAIL: u32 = 5;
/// Default number of failed logins from one client address within the
/// window before further attempts answer 429.
pub const DEFAULT_LOGIN_FAILURES_PER_ADDRESS: u32 = 20;
/// Default length of the sliding login-failure window: one minute.
pub const DEFAULT_LOGIN_WINDOW_SECONDS: u64 = 60;

/// Everything the server reads from its environment. Its `Debug` output
/// hides the secrets (JWT secret, server key, database password).
#[derive(Clone)]
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
    /// `MAX_FIELD_BYTES`: one CSV cell or JSON string of an import.
    pub max_field_bytes: usize,
    /// `MAX_RECORD_BYTES`: one CSV row or JSON batch element of an import.
    pub max_record_bytes: usize,
    /// `MAX_CONCURRENT_IMPORTS`: imports running at once; others wait.
    pub max_concurrent_imports: usize,
    /// `MAX_CONCURRENT_IMPORTS_PER_ORGANISATION`: of those, at most this many
    /// for one organisation, so that one tenant's imports cannot take every
    /// slot.
    pub max_concurrent_imports_per_organisation: usize,
    /// `IMPORT_WAIT_SECONDS`: how long an import waits for a slot before
    /// answering 429 with `Retry-After`.
    pub import_wait_seconds: u64,
    /// `BODY_READ_SECONDS` (default 30): how long the StockTrim-compatible
    /// API waits for a request's whole body before answering 408.
    pub body_read_seconds: u64,
    /// `TRIBUTARY_TODAY`: fixes the planning date.
    pub today: Option<NaiveDate>,
    /// `TRIBUTARY_HTTPS=true`: the session cookie is marked `Secure`.
    pub https: bool,
    /// `LOGIN_FAILURES_PER_EMAIL`: failed logins for one e-mail allowed
    /// within the window.
    pub login_failures_per_email: u32,
    /// `LOGIN_FAILURES_PER_ADDRESS`: failed logins from one client address
    /// allowed within the window.
    pub login_failures_per_address: u32,
    /// `LOGIN_WINDOW_SECONDS`: the sliding window of the login limits.
    pub login_window_seconds: u64,
    /// Outbound sync settings (`TRIBUTARY_SYNC_*`, `TRIBUTARY_SHOPIFY_API_BASE`,
    /// `TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS`).
    pub sync: SyncConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { Some("<redacted>") } else { None };
        f.debug_struct("Config")
            .field("bind_addr", &self.bind_addr)
            .field("database_url", &redact_database_url(&self.database_url))
            .field("jwt_secret", &hidden(self.jwt_secret.is_some()))
            .field("jwt_ttl_seconds", &self.jwt_ttl_seconds)
            .field("secret_key", &hidden(self.secret_key.is_some()))
            .field("secret_key_file", &self.secret_key_file)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("today", &self.today)
            .field("https", &self.https)
            .field("login_failures_per_email", &self.login_failures_per_email)
            .field(
                "login_failures_per_address",
                &self.login_failures_per_address,
            )
            .field("login_window_seconds", &self.login_window_seconds)
            .finish()
    }
}

/// A database URL with its password hidden (in the user-info part and in a
/// `password=` query parameter), for logs and `Debug` output.
pub fn redact_database_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://").map(|i| i + 3) {
        let authority_end = out[scheme_end..]
            .find(['/', '?'])
            .map(|i| i + scheme_end)
            .unwrap_or(out.len());
        if let Some(at) = out[scheme_end..authority_end].rfind('@') {
            let at = at + scheme_end;
            if let Some(colon) = out[scheme_end..at].find(':') {
                out.replace_range(scheme_end + colon + 1..at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{head}{query}");
    }
    out
}

/// How connections are pulled.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS` (default false): whether a
    /// connection may reach addresses that are not globally routable
    /// (loopback, private, link-local, …).
    pub allow_private: bool,
    /// `TRIBUTARY_PRIVATE_CONNECTION_HOSTS`: host names (or addresses),
    /// comma-separated, that connections may reach although they are
    /// private (a WooCommerce shop or another server on the LAN).
    pub private_hosts: Vec<String>,
    /// `TRIBUTARY_SHOPIFY_API_BASE` (default `https://{shop}`): where the
    /// Shopify Admin API is reached; `{shop}` is replaced by the shop domain.
    pub shopify_api_base: String,
    /// `TRIBUTARY_SHOPIFY_API_VERSION` (default
    /// [`crate::connectors::shopify::API_VERSION`]): the Admin API version
    /// asked for, `YYYY-MM` of a quarterly release (01, 04, 07 or 10).
    /// Shopify supports each version for a year: move it on with releases.
    pub shopify_api_version: String,
    /// `TRIBUTARY_SHOPIFY_BULK_ORDERS` (default 5000): a shop holding at
    /// least this many orders has its first complete pass over them read by
    /// a bulk operation instead of pages.
    pub shopify_bulk_orders: u64,
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
    /// `TRIBUTARY_SYNC_WORKERS` (default 2): sync jobs this process runs at
    /// once (plan jobs have a worker of their own).
    pub workers: usize,
    /// `TRIBUTARY_SYNC_WORKERS_PER_ORGANISATION` (default 1): sync jobs one
    /// organisation may have running at once; its others wait.
    pub workers_per_organisation: usize,
    /// `TRIBUTARY_SYNC_MAX_SECONDS` (default 1800): how long one sync job
    /// may pull; then it ends `partial`, and the next sync continues from
    /// the stored cursors.
    pub max_seconds: u64,
    /// `TRIBUTARY_SYNC_MAX_PAGES` (default 2000): pages one child's sync may
    /// read; then it ends `partial` as above.
    pub max_pages: u64,
    /// `TRIBUTARY_SYNC_MAX_ANSWER_BYTES`: the largest answer body read from
    /// a source (default: derived from the page size, see
    /// [`SyncConfig::answer_cap`]).
    pub max_answer_bytes: Option<u64>,
}

/// Bytes one record of a page may take on average, for the answer cap.
pub const ANSWER_BYTES_PER_RECORD: u64 = 8 * 1024;

impl SyncConfig {
    /// The largest answer body read from a source: the configured value,
    /// else room for a page of `page_size` records (at least Shopify's and
    /// WooCommerce's 250) of [`ANSWER_BYTES_PER_RECORD`] each, plus one
    /// record of the largest size an import accepts.
    pub fn answer_cap(&self) -> u64 {
        self.max_answer_bytes.unwrap_or_else(|| {
            (self.page_size.max(250) as u64) * ANSWER_BYTES_PER_RECORD
                + crate::import::DEFAULT_MAX_RECORD_BYTES as u64
        })
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            allow_private: false,
            private_hosts: Vec::new(),
            shopify_api_base: "https://{shop}".into(),
            shopify_api_version: crate::connectors::shopify::API_VERSION.into(),
            shopify_bulk_orders: 5000,
            retry_seconds: 60,
            timeout_seconds: 30,
            parallel: 4,
            page_size: 5000,
            scheduler: true,
            workers: 2,
            workers_per_organisation: 1,
            max_seconds: 1800,
            max_pages: 2000,
            max_answer_bytes: None,
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
        let positive = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match non_empty(name) {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError {
                        name,
                        message: "expected a positive whole number".into(),
                    }),
                None => Ok(default),
            }
        };
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let max_field_bytes = as_usize(positive(
            "MAX_FIELD_BYTES",
            crate::import::DEFAULT_MAX_FIELD_BYTES as u64,
        )?);
        let max_record_bytes = as_usize(positive(
            "MAX_RECORD_BYTES",
            crate::import::DEFAULT_MAX_RECORD_BYTES as u64,
        )?);
        let max_concurrent_imports = as_usize(positive(
            "MAX_CONCURRENT_IMPORTS",
            DEFAULT_MAX_CONCURRENT_IMPORTS as u64,
        )?);
        let max_concurrent_imports_per_organisation = as_usize(positive(
            "MAX_CONCURRENT_IMPORTS_PER_ORGANISATION",
            DEFAULT_MAX_CONCURRENT_IMPORTS_PER_ORGANISATION as u64,
        )?);
        let import_wait_seconds = match non_empty("IMPORT_WAIT_SECONDS") {
            Some(v) => v.trim().parse::<u64>().ok().ok_or(ConfigError {
                name: "IMPORT_WAIT_SECONDS",
                message: "expected a whole number of seconds".into(),
            })?,
            None => DEFAULT_IMPORT_WAIT_SECONDS,
        };
        let body_read_seconds = positive("BODY_READ_SECONDS", 30)?;
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
        let count = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match non_empty(name) {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError {
                        name,
                        message: "expected a positive whole number".into(),
                    }),
                None => Ok(default),
            }
        };
        let per_email = count(
            "LOGIN_FAILURES_PER_EMAIL",
            DEFAULT_LOGIN_FAILURES_PER_EMAIL.into(),
        )?;
        let per_address = count(
            "LOGIN_FAILURES_PER_ADDRESS",
            DEFAULT_LOGIN_FAILURES_PER_ADDRESS.into(),
        )?;
        let login_window_seconds = count("LOGIN_WINDOW_SECONDS", DEFAULT_LOGIN_WINDOW_SECONDS)?;
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
            private_hosts: non_empty("TRIBUTARY_PRIVATE_CONNECTION_HOSTS")
                .map(|v| {
                    v.split(',')
                        .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']'))
                        .filter(|h| !h.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            shopify_api_base: non_empty("TRIBUTARY_SHOPIFY_API_BASE")
                .map(|v| v.trim().trim_end_matches('/').to_string())
                .unwrap_or(defaults.shopify_api_base),
            shopify_api_version: match non_empty("TRIBUTARY_SHOPIFY_API_VERSION") {
                Some(v) if crate::connectors::shopify::is_api_version(v.trim()) => {
                    v.trim().to_string()
                }
                Some(_) => {
                    return Err(ConfigError {
                        name: "TRIBUTARY_SHOPIFY_API_VERSION",
                        message: "expected a Shopify API version such as 2026-10 (a year and 01, 04, 07 or 10)".into(),
                    })
                }
                None => defaults.shopify_api_version,
            },
            shopify_bulk_orders: number("TRIBUTARY_SHOPIFY_BULK_ORDERS", defaults.shopify_bulk_orders)?,
            retry_seconds: number("TRIBUTARY_SYNC_RETRY_SECONDS", defaults.retry_seconds)?,
            timeout_seconds: number("TRIBUTARY_SYNC_TIMEOUT_SECONDS", defaults.timeout_seconds)?,
            parallel: number("TRIBUTARY_SYNC_PARALLEL", defaults.parallel as u64)? as usize,
            page_size: number("TRIBUTARY_SYNC_PAGE_SIZE", defaults.page_size as u64)?.min(10_000)
                as usize,
            scheduler: flag("TRIBUTARY_SYNC_SCHEDULER", defaults.scheduler)?,
            workers: number("TRIBUTARY_SYNC_WORKERS", defaults.workers as u64)?.min(64) as usize,
            workers_per_organisation: number(
                "TRIBUTARY_SYNC_WORKERS_PER_ORGANISATION",
                defaults.workers_per_organisation as u64,
            )?
            .min(64) as usize,
            max_seconds: number("TRIBUTARY_SYNC_MAX_SECONDS", defaults.max_seconds)?,
            max_pages: number("TRIBUTARY_SYNC_MAX_PAGES", defaults.max_pages)?,
            max_answer_bytes: match non_empty("TRIBUTARY_SYNC_MAX_ANSWER_BYTES") {
                Some(_) => Some(number("TRIBUTARY_SYNC_MAX_ANSWER_BYTES", 1)?),
                None => None,
            },
        };
        Ok(Config {
            bind_addr: non_empty("BIND_ADDR").unwrap_or_else(|| DEFAULT_BIND.to_string()),
            database_url,
            jwt_secret: non_empty("JWT_SECRET"),
            jwt_ttl_seconds,
            secret_key,
            secret_key_file,
            max_upload_bytes,
            max_field_bytes,
            max_record_bytes,
            max_concurrent_imports,
            max_concurrent_imports_per_organisation,
            import_wait_seconds,
            body_read_seconds,
            today,
            https,
            login_failures_per_email: u32::try_from(per_email).unwrap_or(u32::MAX),
            login_failures_per_address: u32::try_from(per_address).unwrap_or(u32::MAX),
            login_window_seconds,
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
        assert_eq!(c.max_field_bytes, 64 * 1024);
        assert_eq!(c.max_record_bytes, 4 * 1024 * 1024);
        assert_eq!(c.max_concurrent_imports, 4);
        assert_eq!(c.max_concurrent_imports_per_organisation, 2);
        assert_eq!(c.import_wait_seconds, 10);
        assert_eq!(c.secret_key_file, PathBuf::from("tributary.key"));
        assert!(!c.sync.allow_private);
        assert!(c.sync.private_hosts.is_empty());
    }

    #[test]
    fn the_shopify_api_version_is_a_current_release() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.sync.shopify_api_version, "2026-10");
        assert_eq!(c.sync.shopify_bulk_orders, 5000);
        let set = |v: &'static str| {
            Config::from_lookup(move |k| {
                (k == "TRIBUTARY_SHOPIFY_API_VERSION").then(|| v.to_string())
            })
        };
        assert_eq!(set("2026-07").unwrap().sync.shopify_api_version, "2026-07");
        let e = set("2026-08").unwrap_err();
        assert_eq!(e.name, "TRIBUTARY_SHOPIFY_API_VERSION");
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_database_url("postgres://trb:pa:ss@db.example:5432/trb"),
            "postgres://trb:***@db.example:5432/trb"
        );
        assert_eq!(
            redact_database_url("postgres:///trb?host=/run/pg&password=hunter2&sslmode=require"),
            "postgres:///trb?host=/run/pg&password=***&sslmode=require"
        );
        assert_eq!(
            redact_database_url("sqlite://tributary.db"),
            "sqlite://tributary.db"
        );
        assert_eq!(
            redact_database_url("postgres://trb@localhost/trb"),
            "postgres://trb@localhost/trb"
        );
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let mut c = Config::from_lookup(|_| None).unwrap();
        c.jwt_secret = Some("jwt-secret-value".into());
        c.secret_key = Some([0xcd; 32]);
        c.database_url = "postgres://u:db-password@localhost/trb".into();
        let shown = format!("{c:?}");
        assert!(!shown.contains("jwt-secret-value"), "{shown}");
        assert!(!shown.contains("205") && !shown.contains("cdcd"), "{shown}");
        assert!(!shown.contains("db-password"), "{shown}");
    }

    #[test]
    fn login_limits_default_and_parse() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(
            (
                c.login_failures_per_email,
                c.login_failures_per_address,
                c.login_window_seconds
            ),
            (5, 20, 60)
        );
        let c =
            Config::from_lookup(|k| (k == "LOGIN_WINDOW_SECONDS").then(|| "300".into())).unwrap();
        assert_eq!(c.login_window_seconds, 300);
        let e = Config::from_lookup(|k| (k == "LOGIN_FAILURES_PER_EMAIL").then(|| "0".into()))
            .unwrap_err();
        assert_eq!(e.name, "LOGIN_FAILURES_PER_EMAIL");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e =
            Config::from_lookup(|k| (k == "TRIBUTARY_TODAY").then(|| "soon".into())).unwrap_err();
        assert_eq!(e.name, "TRIBUTARY_TODAY");
        let e = Config::from_lookup(|k| (k == "TRIBUTARY_SECRET_KEY").then(|| "abc".into()))
            .unwrap_err();
        assert_eq!(e.name, "TRIBUTARY_SECRET_KEY");
        let e = Config::from_lookup(|k| (k == "MAX_CONCURRENT_IMPORTS").then(|| "0".into()))
            .unwrap_err();
        assert_eq!(e.name, "MAX_CONCURRENT_IMPORTS");
    }
}
