//! Column values the planner's bulk reads take straight from the row,
//! without a `String` per value: an id kept only to be matched (a sale
//! line's order and variant) as its hash, a stored decimal as its number.
//! A million sale lines are read per account; allocating three strings for
//! each was a large part of a full replan.

use std::sync::OnceLock;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Text;
use diesel::sqlite::{Sqlite, SqliteValue};

/// A text id as a 128-bit hash, seeded afresh by each process: ids are
/// compared as hashes (two different ids collide with a probability near
/// 2⁻¹²⁸ per pair, and no input can be crafted to collide with a seed it
/// cannot know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, FromSqlRow)]
pub struct IdHash(u128);

impl IdHash {
    /// The hash of an id.
    pub fn of(id: &str) -> IdHash {
        IdHash::of_bytes(id.as_bytes())
    }

    fn of_bytes(bytes: &[u8]) -> IdHash {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(rand::random);
        IdHash(xxhash_rust::xxh3::xxh3_128_with_seed(bytes, seed))
    }
}

impl FromSql<Text, Sqlite> for IdHash {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(IdHash::of(value.read_text()))
    }
}

impl FromSql<Text, Pg> for IdHash {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(IdHash::of_bytes(value.as_bytes()))
    }
}

/// Stored decimal text read as a number, as [`super::models::planning::num`]
/// parses it (unreadable or non-finite text counts as 0).
#[derive(Debug, Clone, Copy, PartialEq, FromSqlRow)]
pub struct Decimal(pub f64);

impl FromSql<Text, Sqlite> for Decimal {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Decimal(super::models::planning::num(value.read_text())))
    }
}

impl FromSql<Text, Pg> for Decimal {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(value.as_bytes())?;
        Ok(Decimal(super::models::planning::num(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_from_sqlite_as_their_text_would() {
        use diesel::dsl::sql;
        use diesel::prelude::*;
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let id: IdHash = diesel::select(sql::<Text>("'ord-1'"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(id, IdHash::of("ord-1"));
        assert_ne!(id, IdHash::of("ord-10"));
        assert_ne!(IdHash::of(""), IdHash::of(" "));
        for (text, number) in [("2.50", 2.5), ("-1", -1.0), ("x", 0.0), ("inf", 0.0)] {
            let d: Decimal = diesel::select(sql::<Text>(&format!("'{text}'")))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(d.0, number, "{text}");
        }
    }
}
