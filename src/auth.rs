//! Who is calling: JWTs for people, API keys for integrations, and the
//! session cookie for pages. [`authenticate`] resolves any of them into a
//! [`Caller`], which carries the checks every use case needs (write access, account
//! visibility, key management).

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

/// Signs and checks JWTs.
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
            let user = db
                .run(move |conn| User::find_by_id(conn, &claims.sub).map_err(ServiceError::from))
                .await?
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
                .run(move |conn| {
                    let Some(key) = ApiKey::find_live_by_hash(conn, &hash)? else {
                        return Ok::<_, ServiceError>(None);
                    };
                    let user = User::find_by_id(conn, &key.user_id)?;
                    Ok(user.map(|u| (key, u)))
                })
                .await?;
            let (key, user) = found.ok_or_else(bad)?;
            Ok(Caller {
                user_id: user.id,
                email: user.email,
                organisation_id: key.organisation_id.clone(),
                role: user.role,
                key: Some(KeyScope {
                    id: key.id.clone(),
                    account_ids: key.scope(),
                    read_only: key.read_only,
                }),
                via,
            })
        }
    }
}
