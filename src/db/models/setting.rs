//! Server-wide settings kept in the database (the generated JWT secret).

use diesel::prelude::*;

use crate::db::schema::server_settings;
use crate::db::DbConn;

/// Reads a setting.
pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    server_settings::table
        .find(key)
        .select(server_settings::value)
        .first(conn)
        .optional()
}

/// Returns the stored value of `key`, storing `make()` first if there is
/// none. Safe against two servers starting at once: the first insert wins.
pub fn get_or_insert(
    conn: &mut DbConn,
    key: &str,
    make: impl FnOnce() -> String,
) -> QueryResult<String> {
    if let Some(v) = get(conn, key)? {
        return Ok(v);
    }
    let value = make();
    let inserted = crate::db::transaction(conn, |conn| {
        diesel::insert_into(server_settings::table)
            .values((
                server_settings::key.eq(key),
                server_settings::value.eq(value),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => {}
        // Another server inserted it first: keep theirs.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {}
        Err(e) => return Err(e),
    }
    get(conn, key).map(|v| v.unwrap_or_default())
}
