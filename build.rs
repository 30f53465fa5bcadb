//! Rebuilds the crate when a migration changes: the migrations are embedded
//! at compile time (`db::SQLITE_MIGRATIONS`, `db::POSTGRES_MIGRATIONS`), and
//! a new migration directory alone would not make cargo compile again.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
