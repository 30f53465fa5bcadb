//! `tributary demo`: a seeded demo organisation so a newcomer sees a real
//! master with children (user `demo@example.com`, password `demo`).

use crate::accounts::{create_child, CreateAccount};
use crate::crypto::SecretBox;
use crate::db::models::Account;
use crate::db::Db;
use crate::users::add_user;

/// The demo user's e-mail.
pub const DEMO_EMAIL: &str = "demo@example.com";
/// The demo user's password.
pub const DEMO_PASSWORD: &str = "demo";
/// The demo organisation.
pub const DEMO_ORGANISATION: &str = "Demo Outdoor Co.";

/// The demo's children: name, currency, time zone.
pub const DEMO_CHILDREN: [(&str, &str, &str); 3] = [
    (
        "Shopify: demo-outdoor.myshopify.com",
        "EUR",
        "Europe/Berlin",
    ),
    (
        "WooCommerce: shop.demo-outdoor.example",
        "EUR",
        "Europe/Berlin",
    ),
    ("Wholesale IMS", "EUR", "Europe/Berlin"),
];

/// Seeds the demo organisation (idempotent: an organisation that already has
/// accounts is left as it is).
pub fn seed(db: &Db, secrets: &SecretBox) -> anyhow::Result<()> {
    let mut conn = db.conn()?;
    let added = add_user(
        &mut conn,
        DEMO_EMAIL,
        DEMO_PASSWORD,
        DEMO_ORGANISATION,
        "admin",
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !Account::list_by_organisation(&mut conn, &added.organisation_id)?.is_empty() {
        return Ok(());
    }
    for (name, currency, tz) in DEMO_CHILDREN {
        let input = CreateAccount {
            name: name.into(),
            currency: currency.into(),
            timezone: Some(tz.into()),
            connection: Some(serde_json::json!({"kind": "manual"})),
        };
        create_child(&mut conn, &added.organisation_id, &input, secrets)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}
