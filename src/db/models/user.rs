//! Users: people who log in, each in one organisation with a role.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::DbConn;

/// A user. Its `Debug` output hides the password hash.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// Opaque id.
    pub id: String,
    /// Organisation the user belongs to.
    pub organisation_id: String,
    /// Login e-mail (unique, stored lowercase).
    pub email: String,
    /// argon2 hash.
    pub password_hash: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// Created (UTC).
    pub created_at: NaiveDateTime,
    /// Session epoch: every JWT carries it, and bumping it ends every token
    /// and page session issued before (logout, password or role change).
    pub token_version: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("organisation_id", &self.organisation_id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .field("token_version", &self.token_version)
            .finish()
    }
}

/// A user to insert. Its `Debug` output hides the password hash.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Opaque id.
    pub id: &'a str,
    /// Organisation.
    pub organisation_id: &'a str,
    /// E-mail, lowercase.
    pub email: &'a str,
    /// argon2 hash.
    pub password_hash: &'a str,
    /// Role.
    pub role: &'a str,
    /// Created.
    pub created_at: NaiveDateTime,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("organisation_id", &self.organisation_id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl User {
    /// Finds a user by e-mail (case-insensitive: e-mails are stored lowercase).
    pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(email.trim().to_lowercase()))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// An organisation's users, by e-mail.
    pub fn list_by_organisation(conn: &mut DbConn, org: &str) -> QueryResult<Vec<User>> {
        users::table
            .filter(users::organisation_id.eq(org))
            .order(users::email.asc())
            .select(User::as_select())
            .load(conn)
    }

    /// Finds a user by id.
    pub fn find_by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// Inserts a user.
    pub fn insert(conn: &mut DbConn, user: &NewUser) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::insert_into(users::table)
                .values(user)
                .execute(conn)
                .map(|_| ())
        })
    }

    /// Replaces a user's password hash and role, ending the user's
    /// sessions.
    pub fn update_credentials(
        conn: &mut DbConn,
        id: &str,
        password_hash: &str,
        role: &str,
    ) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::update(users::table.find(id))
                .set((
                    users::password_hash.eq(password_hash),
                    users::role.eq(role),
                    users::token_version.eq(users::token_version + 1),
                ))
                .execute(conn)
                .map(|_| ())
        })
    }

    /// Replaces a user's password hash, ending the user's sessions.
    pub fn update_password(conn: &mut DbConn, id: &str, password_hash: &str) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::update(users::table.find(id))
                .set((
                    users::password_hash.eq(password_hash),
                    users::token_version.eq(users::token_version + 1),
                ))
                .execute(conn)
                .map(|_| ())
        })
    }

    /// Sets a user's role, ending the user's sessions.
    pub fn update_role(conn: &mut DbConn, id: &str, role: &str) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::update(users::table.find(id))
                .set((
                    users::role.eq(role),
                    users::token_version.eq(users::token_version + 1),
                ))
                .execute(conn)
                .map(|_| ())
        })
    }

    /// Ends every token and page session of a user (logging out).
    pub fn end_sessions(conn: &mut DbConn, id: &str) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::update(users::table.find(id))
                .set(users::token_version.eq(users::token_version + 1))
                .execute(conn)
                .map(|_| ())
        })
    }

    /// How many admins an organisation has.
    pub fn count_admins(conn: &mut DbConn, org: &str) -> QueryResult<i64> {
        users::table
            .filter(users::organisation_id.eq(org))
            .filter(users::role.eq("admin"))
            .count()
            .get_result(conn)
    }
}
