//! API keys: bearer credentials for integrations, stored as SHA-256 hashes,
//! optionally scoped to some accounts and read-only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::api_keys;
use crate::db::DbConn;

/// A stored key (never the key itself).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// Opaque id.
    pub id: String,
    /// Organisation.
    pub organisation_id: String,
    /// The user who created it (the key acts as that user).
    pub user_id: String,
    /// Human name.
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// JSON array of account ids, or NULL for all accounts.
    pub account_ids: Option<String>,
    /// Read-only keys cannot write.
    pub read_only: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Revoked, if it was.
    pub revoked_at: Option<NaiveDateTime>,
}

/// The stored scope of a key is not a JSON array of account ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the API key's stored account scope cannot be read")]
pub struct UnreadableScope;

/// A key to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    /// Opaque id.
    pub id: &'a str,
    /// Organisation.
    pub organisation_id: &'a str,
    /// Creator.
    pub user_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Hash.
    pub key_hash: &'a str,
    /// Scope.
    pub account_ids: Option<String>,
    /// Read-only flag.
    pub read_only: bool,
    /// Created.
    pub created_at: NaiveDateTime,
}

impl ApiKey {
    /// The scope as a list (`Ok(None)` = all accounts). A stored scope that
    /// cannot be read is an error, never "all accounts": the caller must
    /// refuse the key.
    pub fn scope(&self) -> Result<Option<Vec<String>>, UnreadableScope> {
        match self.account_ids.as_deref() {
            None => Ok(None),
            Some(s) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| UnreadableScope),
        }
    }

    /// Finds a live (not revoked) key by its hash.
    pub fn find_live_by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .filter(api_keys::key_hash.eq(hash))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKey::as_select())
            .first(conn)
            .optional()
    }

    /// Lists an organisation's live keys.
    pub fn list_by_organisation(conn: &mut DbConn, org: &str) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::organisation_id.eq(org))
            .filter(api_keys::revoked_at.is_null())
            .order(api_keys::created_at.asc())
            .select(ApiKey::as_select())
            .load(conn)
    }

    /// Inserts a key.
    pub fn insert(conn: &mut DbConn, key: &NewApiKey) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::insert_into(api_keys::table)
                .values(key)
                .execute(conn)
                .map(|_| ())
        })
    }

    /// Revokes a key of the organisation; false if there was no live one.
    pub fn revoke(conn: &mut DbConn, org: &str, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
        crate::db::transaction(conn, |conn| {
            diesel::update(
                api_keys::table
                    .filter(api_keys::id.eq(id))
                    .filter(api_keys::organisation_id.eq(org))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(at))
            .execute(conn)
            .map(|n| n > 0)
        })
    }
}
