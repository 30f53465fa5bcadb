//! The use cases. Each service validates its input, owns its transactions
//! and returns [`ServiceError`]; it knows nothing of HTTP (the web layer maps
//! its errors onto the error body) and never reads the application state.

pub mod accounts;
pub mod compat;
pub mod demand;
pub mod error;
pub mod feeds;
pub mod forecast_edits;
pub mod imports;
pub mod order_plan;
pub mod plan_settings;
pub mod plans;
pub mod purchase_orders;
pub mod replan;
pub mod supply;
pub mod sync;
pub mod transfers;
pub mod users;
pub mod worker;

pub use error::{Detail, ServiceError};

/// What the services' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::crypto::SecretBox;
    use crate::db::models::Account;
    use crate::db::Db;

    /// A fresh SQLite database (kept while the directory lives) with an
    /// organisation holding one child account, `Shop` in EUR.
    pub(crate) fn one_child() -> (tempfile::TempDir, Db, Account) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let mut conn = db.conn().unwrap();
        let u = super::users::add_user(&mut conn, "a@example.com", "a-long-password", "A", "admin")
            .unwrap();
        let input = super::accounts::NewChild {
            name: "Shop".into(),
            currency: "EUR".into(),
            timezone: None,
            connection: None,
        };
        let child = super::accounts::create_child(
            &mut conn,
            &u.organisation_id,
            &input,
            &SecretBox::new(&[1; 32]),
            &crate::config::SyncConfig::default(),
        )
        .unwrap();
        drop(conn);
        (dir, db, child)
    }
}
