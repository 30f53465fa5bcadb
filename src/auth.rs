//! Who is calling: JWTs for people, API keys for integrations, and the
//! session cookie for pages. [`authenticate`] resolves any of them into a
//! [`Caller`], which carries the checks every use case needs (write access, account
//! visibility, key management).
//!
//! Logging in goes through [`login`]: a [`LoginLimiter`] refuses further
//! attempts (429) after a few failures per e-mail or per client address in a
//! sliding window; the user is fetched with a pooled connection that is
//! released before argon2 runs on the blocking pool; an unknown e-mail is
//! checked against a dummy hash so it takes as long as a known one.
//!
//! Every JWT carries the user's `token_version` (the session epoch); a token
//! whose version is not the user's current one is refused, so bumping it
//! (logout, password change, role change) ends every session and token of
//! that user. This module never builds queries and knows nothing of pages.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use chrono::Utc;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::db::models::{ApiKey, User};
use crate::db::Db;
use crate::services::ServiceError;

/// Name of the page session cookie.
pub const SESSION_COOKIE: &str = "tributary_session";

/// Name of the pre-session cookie of the login form (the double-submit
/// half of its CSRF token).
pub const LOGIN_CSRF_COOKIE: &str = "tributary_login";

/// Header that carries the session's CSRF token when a page's script calls
/// a state-changing `/api/v1` endpoint with the session cookie.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Signs and checks JWTs. Its `Debug` output hides the secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    secret: Vec<u8>,
    ttl_seconds: i64,
}

/// Claims of a tributary JWT.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Organisation id.
    pub org: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// The user's `token_version` when the token was issued; a token from
    /// an older version is refused.
    #[serde(default)]
    pub ver: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("secret", &"<redacted>")
            .field("ttl_seconds", &self.ttl_seconds)
            .finish()
    }
}

impl JwtKeys {
    /// Keys from a secret and a token lifetime.
    pub fn new(secret: &str, ttl_seconds: i64) -> JwtKeys {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            secret: secret.as_bytes().to_vec(),
            ttl_seconds,
        }
    }

    /// Issues a token for a user; returns it with its expiry.
    pub fn issue(&self, user: &User) -> (String, chrono::DateTime<Utc>) {
        let now = Utc::now();
        let exp = now + chrono::Duration::seconds(self.ttl_seconds);
        let claims = Claims {
            sub: user.id.clone(),
            org: user.organisation_id.clone(),
            exp: exp.timestamp(),
            iat: now.timestamp(),
            ver: user.token_version,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &self.encoding)
            .expect("HS256 signing does not fail");
        (token, exp)
    }

    /// Verifies a token (signature and expiry, no leeway).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::default();
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// The CSRF token that belongs to a session token.
    pub fn csrf_token(&self, session: &str) -> String {
        crypto::keyed_tag(&self.secret, &format!("csrf:{session}"))
    }

    /// The login form's CSRF token for a pre-session cookie value.
    pub fn login_csrf_token(&self, nonce: &str) -> String {
        crypto::keyed_tag(&self.secret, &format!("login-csrf:{nonce}"))
    }

    /// Whether `token` is the CSRF token of `session` (a non-empty session).
    pub fn check_csrf(&self, session: &str, token: &str) -> bool {
        !session.is_empty() && constant_time_eq(&self.csrf_token(session), token)
    }

    /// Whether `token` is the login form's CSRF token for the pre-session
    /// cookie value `nonce` (a non-empty one).
    pub fn check_login_csrf(&self, nonce: &str, token: &str) -> bool {
        !nonce.is_empty() && constant_time_eq(&self.login_csrf_token(nonce), token)
    }
}

/// Compares two strings without stopping at the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The failures in the window, by key (an e-mail or a client address).
#[derive(Debug, Default)]
struct Failures {
    by_key: HashMap<String, VecDeque<Instant>>,
    /// Keys that had failures leave the map when it next reaches this size
    /// (doubling after each sweep, so sweeping stays cheap under a flood).
    sweep_at: usize,
}

/// Keys kept before expired ones are first swept out of a map.
const SWEEP_ABOVE: usize = 10_000;

/// The login limits: at most `per_email` failed attempts for one e-mail and
/// `per_address` from one client address within a sliding `window`; past
/// either, attempts answer 429 with the seconds until the oldest failure
/// leaves the window. In process: each server counts its own.
///
/// An attempt counts as a failure from the moment it starts (so parallel
/// guesses cannot slip past the limit) and is taken back when it succeeds;
/// a success also clears its e-mail's failures. Successes are never
/// limited by other e-mails' failures unless their address is over its own
/// (higher) limit.
#[derive(Debug)]
pub struct LoginLimiter {
    per_email: usize,
    per_address: usize,
    window: Duration,
    emails: Mutex<Failures>,
    addresses: Mutex<Failures>,
}

/// An attempt admitted by [`LoginLimiter::begin`]; pass it back to
/// [`LoginLimiter::succeeded`] when the credentials were right.
#[derive(Debug)]
pub struct Attempt {
    email: String,
    address: String,
    at: Instant,
}

impl LoginLimiter {
    /// A limiter with the given limits.
    pub fn new(per_email: u32, per_address: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            per_email: per_email.max(1) as usize,
            per_address: per_address.max(1) as usize,
            window,
            emails: Mutex::new(Failures::default()),
            addresses: Mutex::new(Failures::default()),
        }
    }

    /// A limiter with the configured limits.
    pub fn from_config(config: &crate::config::Config) -> LoginLimiter {
        LoginLimiter::new(
            config.login_failures_per_email,
            config.login_failures_per_address,
            Duration::from_secs(config.login_window_seconds),
        )
    }

    /// Admits an attempt (counting it as a failure until it succeeds), or
    /// refuses it with the seconds to wait.
    pub fn begin(&self, email: &str, address: &str) -> Result<Attempt, ServiceError> {
        let now = Instant::now();
        let email = email.trim().to_lowercase();
        let mut emails = self.emails.lock().unwrap_or_else(|p| p.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let wait_email = self.wait(&mut emails, &email, self.per_email, now);
        let wait_address = self.wait(&mut addresses, address, self.per_address, now);
        if let Some(wait) = wait_email.or(wait_address) {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let seconds = seconds.max(1);
            let whose = if wait_email.is_some() {
                "this e-mail"
            } else {
                "this address"
            };
            return Err(ServiceError::TooMany {
                message: format!(
                    "Too many failed logins for {whose}; try again in {seconds} seconds."
                ),
                retry_after: seconds,
            });
        }
        for (failures, key) in [(&mut *emails, email.as_str()), (&mut *addresses, address)] {
            if failures.by_key.len() >= failures.sweep_at.max(SWEEP_ABOVE) {
                let window = self.window;
                failures
                    .by_key
                    .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
                failures.sweep_at = 2 * failures.by_key.len();
            }
            failures
                .by_key
                .entry(key.to_string())
                .or_default()
                .push_back(now);
        }
        Ok(Attempt {
            email,
            address: address.to_string(),
            at: now,
        })
    }

    /// Takes a successful attempt back and clears its e-mail's failures.
    pub fn succeeded(&self, attempt: Attempt) {
        self.emails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .remove(&attempt.email);
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = addresses.by_key.get_mut(&attempt.address) {
            if let Some(i) = q.iter().rposition(|t| *t == attempt.at) {
                q.remove(i);
            }
            if q.is_empty() {
                addresses.by_key.remove(&attempt.address);
            }
        }
    }

    /// Drops a key's failures that left the window; how long to wait if it
    /// is at its limit.
    fn wait(
        &self,
        failures: &mut Failures,
        key: &str,
        limit: usize,
        now: Instant,
    ) -> Option<Duration> {
        let q = failures.by_key.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.is_empty() {
            failures.by_key.remove(key);
            return None;
        }
        if q.len() < limit {
            return None;
        }
        // The attempt that would bring it under the limit again: the
        // oldest of the last `limit` failures leaving the window.
        let oldest = q[q.len() - limit];
        Some(self.window.saturating_sub(now.duration_since(oldest)))
    }
}

/// The address a login is counted against: the peer's IP address, an IPv6
/// one by its /64 network (one host usually holds a whole /64). The
/// `Forwarded` headers are not trusted: anyone can send them.
pub fn client_address(req: &HttpRequest) -> String {
    match req.peer_addr().map(|a| a.ip()) {
        Some(ip) => address_key(ip),
        None => "unknown".to_string(),
    }
}

fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        v4 => v4.to_string(),
    }
}

/// Checks an e-mail and password under the login limits: the user is
/// fetched (and the pooled connection released), then argon2 runs on the
/// blocking pool, against a dummy hash when the e-mail is unknown.
pub async fn login(
    db: &Db,
    limiter: &LoginLimiter,
    address: &str,
    email: String,
    password: String,
) -> Result<User, ServiceError> {
    let attempt = limiter.begin(&email, address)?;
    let user = db
        .read(move |conn| User::find_by_email(conn, &email).map_err(ServiceError::from))
        .await?;
    let (user, ok) = actix_web::web::block(move || {
        let ok = crypto::verify_login_password(
            &password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        );
        (user, ok)
    })
    .await
    .map_err(ServiceError::internal)?;
    match user {
        Some(user) if ok => {
            limiter.succeeded(attempt);
            Ok(user)
        }
        _ => Err(ServiceError::Unauthenticated(
            "The e-mail or password is not right.".into(),
        )),
    }
}

/// Checks a logged-in user's password again (changing it) under the same
/// limits as logging in, keyed by that user's e-mail and the address.
pub async fn recheck_password(
    limiter: &LoginLimiter,
    address: &str,
    user: &User,
    password: String,
) -> Result<(), ServiceError> {
    let attempt = limiter.begin(&user.email, address)?;
    let hash = user.password_hash.clone();
    let ok = actix_web::web::block(move || crypto::verify_login_password(&password, Some(&hash)))
        .await
        .map_err(ServiceError::internal)?;
    if ok {
        limiter.succeeded(attempt);
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "The current password is not right.".into(),
        ))
    }
}

/// An API key's limits, when the caller authenticated with one.
#[derive(Debug, Clone)]
pub struct KeyScope {
    /// Key id.
    pub id: String,
    /// Accounts the key may see (None: all).
    pub account_ids: Option<Vec<String>>,
    /// Read-only key.
    pub read_only: bool,
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer <jwt>`.
    Token,
    /// `Authorization: Bearer <api key>`.
    ApiKey,
    /// The page session cookie.
    Session,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id (for a key: the user who created it).
    pub user_id: String,
    /// That user's e-mail.
    pub email: String,
    /// Organisation.
    pub organisation_id: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// Set when the caller used an API key.
    pub key: Option<KeyScope>,
    /// How the caller authenticated.
    pub via: Via,
}

impl Caller {
    /// Fails with 403 unless the caller may change data.
    pub fn require_write(&self) -> Result<(), ServiceError> {
        if self.role != "admin" {
            return Err(ServiceError::Forbidden(
                "Your role is viewer: you can read but not change data.".into(),
            ));
        }
        if self.key.as_ref().is_some_and(|k| k.read_only) {
            return Err(ServiceError::Forbidden("This API key is read-only.".into()));
        }
        Ok(())
    }

    /// Fails with 403 unless the caller may change settings of the whole
    /// organisation (exchange rates every master uses, the automatic sync
    /// schedule): an API key scoped to some accounts may not.
    pub fn require_organisation_wide(&self) -> Result<(), ServiceError> {
        self.require_write()?;
        if self.key.as_ref().is_some_and(|k| k.account_ids.is_some()) {
            return Err(ServiceError::Forbidden(
                "This API key is scoped to some accounts: it cannot change settings of the whole organisation.".into(),
            ));
        }
        Ok(())
    }

    /// Fails with 403 for API keys (keys cannot manage keys).
    pub fn require_person(&self) -> Result<(), ServiceError> {
        if self.key.is_some() {
            return Err(ServiceError::Forbidden(
                "API keys cannot create or revoke API keys; log in as a user.".into(),
            ));
        }
        Ok(())
    }

    /// Whether an account id is within the caller's key scope.
    pub fn can_see(&self, account_id: &str) -> bool {
        match self.key.as_ref().and_then(|k| k.account_ids.as_ref()) {
            Some(ids) => ids.iter().any(|id| id == account_id),
            None => true,
        }
    }
}

/// Resolves a bearer credential (JWT or API key) or session cookie.
pub async fn authenticate(
    db: &Db,
    jwt: &JwtKeys,
    req: &HttpRequest,
) -> Result<Caller, ServiceError> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|v| v.trim().to_string());
    let (credential, via) = match bearer {
        Some(b) => {
            let via = if b.matches('.').count() == 2 { Via::Token } else { Via::ApiKey };
            (b, via)
        }
        None => match req.cookie(SESSION_COOKIE) {
            Some(c) => (c.value().to_string(), Via::Session),
            None => {
                return Err(ServiceError::Unauthenticated(
                    "Send `Authorization: Bearer <token or API key>`; get a token from POST /api/v1/auth/token.".into(),
                ))
            }
        },
    };
    let bad = || {
        ServiceError::Unauthenticated("The token or API key is invalid, revoked or expired.".into())
    };
    match via {
        Via::Token | Via::Session => {
            let claims = jwt.verify(&credential).ok_or_else(bad)?;
            let (ver, org) = (claims.ver, claims.org.clone());
            let user = db
                .read(move |conn| User::find_by_id(conn, &claims.sub).map_err(ServiceError::from))
                .await?
                .filter(|u| u.token_version == ver && u.organisation_id == org)
                .ok_or_else(bad)?;
            Ok(Caller {
                user_id: user.id,
                email: user.email,
                organisation_id: user.organisation_id,
                role: user.role,
                key: None,
                via,
            })
        }
        Via::ApiKey => {
            let hash = crypto::hash_api_key(&credential);
            let found = db
                .read(move |conn| {
                    let Some(key) = ApiKey::find_live_by_hash(conn, &hash)? else {
                        return Ok::<_, ServiceError>(None);
                    };
                    let user = User::find_by_id(conn, &key.user_id)?;
                    Ok(user.map(|u| (key, u)))
                })
                .await?;
            let (key, user) = found.ok_or_else(bad)?;
            let account_ids = key.scope().map_err(|e| {
                tracing::warn!(key = %key.id, "{e}: the key is refused");
                ServiceError::Forbidden(
                    "This API key's account scope cannot be read, so it has no access; revoke it and create a new one."
                        .into(),
                )
            })?;
            Ok(Caller {
                user_id: user.id,
                email: user.email,
                organisation_id: key.organisation_id.clone(),
                role: user.role,
                key: Some(KeyScope {
                    id: key.id.clone(),
                    account_ids,
                    read_only: key.read_only,
                }),
                via,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_counts_failures_per_email_and_per_address() {
        let l = LoginLimiter::new(2, 3, Duration::from_secs(60));
        l.begin("a@x", "1.1.1.1").unwrap();
        l.begin("A@X ", "1.1.1.1").unwrap();
        let e = l.begin("a@x", "2.2.2.2").unwrap_err();
        assert!(
            matches!(e, ServiceError::TooMany { retry_after, .. } if (59..=60).contains(&retry_after))
        );
        // Another e-mail from the first address: one more is allowed.
        let ok = l.begin("b@x", "1.1.1.1").unwrap();
        l.succeeded(ok);
        l.begin("c@x", "1.1.1.1").unwrap();
        assert!(l.begin("d@x", "1.1.1.1").is_err());
        assert!(l.begin("d@x", "3.3.3.3").is_ok());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = LoginLimiter::new(1, 10, Duration::from_millis(50));
        l.begin("a@x", "1.1.1.1").unwrap();
        assert!(l.begin("a@x", "1.1.1.1").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.begin("a@x", "1.1.1.1").is_ok());
    }

    #[test]
    fn a_success_clears_its_emails_failures() {
        let l = LoginLimiter::new(2, 10, Duration::from_secs(60));
        l.begin("a@x", "1.1.1.1").unwrap();
        let ok = l.begin("a@x", "1.1.1.1").unwrap();
        l.succeeded(ok);
        assert!(l.begin("a@x", "1.1.1.1").is_ok());
    }

    #[test]
    fn expired_keys_are_swept_out() {
        let l = LoginLimiter::new(5, 5, Duration::from_millis(20));
        for i in 0..SWEEP_ABOVE {
            l.begin(&format!("u{i}@x"), &format!("a{i}")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(30));
        l.begin("late@x", "late").unwrap();
        let emails = l.emails.lock().unwrap();
        assert_eq!(emails.by_key.len(), 1);
        assert_eq!(emails.sweep_at, 0);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_network() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let mapped: std::net::IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7");
    }

    #[test]
    fn jwt_keys_do_not_print_their_secret() {
        let shown = format!("{:?}", JwtKeys::new("jwt-secret-value", 60));
        assert!(!shown.contains("jwt-secret-value"), "{shown}");
    }
}
