//! Organisations: the tenants that own users and accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::organisations;
use crate::db::DbConn;

/// A tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    /// Opaque id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// When it was created (UTC).
    pub created_at: NaiveDateTime,
    /// Bumped by every transaction that adds accounts (serialises them).
    pub accounts_version: i64,
}

impl Organisation {
    /// Finds an organisation by its name.
    pub fn find_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Organisation>> {
        organisations::table
            .filter(organisations::name.eq(name))
            .select(Organisation::as_select())
            .first(conn)
            .optional()
    }

    /// Inserts an organisation.
    pub fn insert(conn: &mut DbConn, org: &Organisation) -> QueryResult<()> {
        diesel::insert_into(organisations::table)
            .values(org)
            .execute(conn)
            .map(|_| ())
    }

    /// Takes the organisation's write lock for the rest of the transaction
    /// (a row update: PostgreSQL locks the row, SQLite the database).
    pub fn lock_accounts(conn: &mut DbConn, id: &str) -> QueryResult<()> {
        diesel::update(organisations::table.find(id))
            .set(organisations::accounts_version.eq(organisations::accounts_version + 1))
            .execute(conn)
            .map(|_| ())
    }
}
