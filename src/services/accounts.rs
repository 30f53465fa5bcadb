//! The account rules: a child holds one connection's data; the master is
//! created above the first child when the organisation gets its second one;
//! later children join it; connection secrets are write-only (sealed with the
//! server key, never returned). This service validates account changes and
//! applies them; storage is in `db::models::account`, the JSON shapes in
//! `web::api::accounts`.

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::config::SyncConfig;
use crate::crypto::{new_id, SecretBox};
use crate::db::models::{Account, AccountChanges, NewAccount, Organisation};
use crate::db::DbConn;
use crate::domain::AccountKind;
use crate::services::{Detail, ServiceError};

/// Default planning lead time (days).
pub const DEFAULT_LEAD_TIME_DAYS: i32 = 14;
/// Default days of stock (order cycle).
pub const DEFAULT_DAYS_OF_STOCK: i32 = 30;
/// Default service level.
pub const DEFAULT_SERVICE_LEVEL: f64 = 0.95;
/// The name given to an automatically created master.
pub const MASTER_NAME: &str = "All accounts";

/// Partial planning settings in an update.
#[derive(Debug, Clone, Default)]
pub struct PlanningPatch {
    /// Lead time in days.
    pub lead_time_days: Option<i32>,
    /// Days of stock.
    pub days_of_stock: Option<i32>,
    /// Service level.
    pub service_level: Option<f64>,
}

/// UTC `NaiveDateTime` → RFC 3339 value.
pub fn utc(t: NaiveDateTime) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&t)
}

/// What a new child account is made of.
#[derive(Debug, Clone)]
pub struct NewChild {
    /// Name.
    pub name: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// IANA time zone (default UTC).
    pub timezone: Option<String>,
    /// `{"kind", ...settings}`; default `{"kind": "manual"}`.
    pub connection: Option<Value>,
}

/// A change to an account's settings; fields left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    /// Name.
    pub name: Option<String>,
    /// Currency.
    pub currency: Option<String>,
    /// Time zone.
    pub timezone: Option<String>,
    /// Include the child's stock in the master.
    pub include_stock: Option<bool>,
    /// Include the child's sales in the master.
    pub include_sales: Option<bool>,
    /// Connection settings (secrets left out keep their stored values).
    pub connection: Option<Value>,
    /// Planning defaults.
    pub planning: Option<PlanningPatch>,
}

/// A connection kind's fields: (name, secret).
fn connection_fields(kind: &str) -> Option<&'static [(&'static str, bool)]> {
    Some(match kind {
        "manual" => &[],
        "shopify" => &[("shop", false), ("access_token", true)],
        "woocommerce" => &[
            ("base_url", false),
            ("consumer_key", true),
            ("consumer_secret", true),
        ],
        "tributary" => &[
            ("base_url", false),
            ("account_id", false),
            ("api_key", true),
        ],
        _ => return None,
    })
}

pub use crate::domain::connection::Connection;

/// Validates a connection object. With `previous` (a PATCH of the same
/// kind), fields left out keep their previous values.
pub fn parse_connection(
    value: &Value,
    previous: Option<&Connection>,
) -> Result<Connection, ServiceError> {
    let Some(obj) = value.as_object() else {
        return Err(ServiceError::invalid_field(
            "connection",
            "must be an object with a `kind`",
        ));
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(fields) = connection_fields(kind) else {
        return Err(ServiceError::invalid_field(
            "connection.kind",
            "must be one of manual, shopify, woocommerce, tributary",
        ));
    };
    let previous = previous.filter(|p| p.kind == kind);
    let mut details = Vec::new();
    for key in obj.keys() {
        if key != "kind" && !fields.iter().any(|(f, _)| f == key) {
            details.push(Detail::field(
                format!("connection.{key}"),
                format!("unknown setting for a {kind} connection"),
            ));
        }
    }
    let mut conn = Connection {
        kind: kind.to_string(),
        settings: Map::new(),
        secrets: Map::new(),
    };
    // A stored secret never follows the connection to another host: when
    // `base_url` or `shop` changes, the secrets must be given again.
    let mut moved = false;
    for (field, secret) in fields {
        let given = obj.get(*field);
        let value = match given {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(_) => {
                details.push(Detail::field(
                    format!("connection.{field}"),
                    "must be a non-empty string",
                ));
                continue;
            }
            None if *secret && moved => {
                details.push(Detail::field(
                    format!("connection.{field}"),
                    "is required again: the connection now points at another address, and the stored secret is not sent there",
                ));
                continue;
            }
            None => previous
                .and_then(|p| {
                    if *secret {
                        p.secrets.get(*field)
                    } else {
                        p.settings.get(*field)
                    }
                })
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let Some(value) = value else {
            details.push(Detail::field(format!("connection.{field}"), "is required"));
            continue;
        };
        if matches!(*field, "base_url" | "shop") {
            let before = previous
                .and_then(|p| p.settings.get(*field))
                .and_then(Value::as_str);
            if before.is_some_and(|b| b != value) {
                moved = true;
            }
        }
        if field.ends_with("base_url")
            && !(value.starts_with("http://") || value.starts_with("https://"))
        {
            details.push(Detail::field(
                format!("connection.{field}"),
                "must be an http:// or https:// address",
            ));
            continue;
        }
        let target = if *secret {
            &mut conn.secrets
        } else {
            &mut conn.settings
        };
        target.insert(field.to_string(), Value::String(value));
    }
    if details.is_empty() {
        Ok(conn)
    } else {
        Err(ServiceError::invalid(
            "The connection settings are not valid.",
            details,
        ))
    }
}

/// Checks where a connection points as a sync would, when it is saved:
/// the connector is built, which checks the address
/// (`connectors::http::check_target`: no credentials, query or fragment in
/// it; unless the operator allows them, no private addresses).
pub fn check_address(connection: &Connection, net: &SyncConfig) -> Result<(), ServiceError> {
    match crate::connectors::for_connection(connection, net) {
        Ok(_) => Ok(()),
        Err(e) => {
            let field = if connection.kind == "shopify" {
                "connection.shop"
            } else {
                "connection.base_url"
            };
            Err(ServiceError::invalid_field(field, e.message))
        }
    }
}

/// The stored connection of an account, secrets opened.
pub fn stored_connection(account: &Account, secrets: &SecretBox) -> Option<Connection> {
    let kind = account.connection_kind.clone()?;
    let settings = account
        .connection_settings
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let secrets = account
        .connection_secret
        .as_deref()
        .and_then(|s| secrets.open_for(s, &account.id))
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    Some(Connection {
        kind,
        settings,
        secrets,
    })
}

/// Upper-cases and checks an ISO 4217-shaped code.
pub fn parse_currency(field: &str, value: &str) -> Result<String, ServiceError> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(ServiceError::invalid_field(
            field,
            "must be a 3-letter ISO 4217 code such as EUR",
        ))
    }
}

/// Checks an IANA time zone name.
pub fn parse_timezone(field: &str, value: &str) -> Result<String, ServiceError> {
    value
        .trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| {
            ServiceError::invalid_field(field, "must be an IANA time zone such as Europe/Berlin")
        })
}

fn parse_name(value: &str) -> Result<String, ServiceError> {
    let name = value.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    Ok(name.to_string())
}

/// Seals a connection's secrets for the account that holds them.
fn seal(secrets: &Map<String, Value>, sealer: &SecretBox, account_id: &str) -> Option<String> {
    (!secrets.is_empty())
        .then(|| sealer.seal_for(&Value::Object(secrets.clone()).to_string(), account_id))
}

/// Re-seals connection secrets of the old form (sealed without their
/// account) for their account, in one transaction; returns how many. Run at
/// every start, before anything reads them: a database written by an older
/// version is migrated on SQLite and PostgreSQL alike (the server key is
/// not in the database, so an SQL migration could not do it). A secret that
/// does not open with this key is left as it is (it opens nowhere either
/// way).
pub fn reseal_unbound(conn: &mut DbConn, sealer: &SecretBox) -> Result<usize, ServiceError> {
    use crate::db::schema::accounts;
    use diesel::prelude::*;
    let n = crate::db::transaction(conn, |conn| {
        let sealed: Vec<(String, String)> = accounts::table
            .filter(accounts::connection_secret.is_not_null())
            .select((accounts::id, accounts::connection_secret.assume_not_null()))
            .load(conn)?;
        let mut n = 0;
        for (id, value) in sealed {
            if !SecretBox::is_unbound(&value) {
                continue;
            }
            let Some(plain) = sealer.open(&value) else {
                continue;
            };
            diesel::update(accounts::table.find(&id))
                .set(accounts::connection_secret.eq(sealer.seal_for(&plain, &id)))
                .execute(conn)?;
            n += 1;
        }
        Ok::<_, diesel::result::Error>(n)
    })?;
    Ok(n)
}

/// Creates a child account, creating the master above the first child when
/// this is the organisation's second, in one transaction that holds the
/// organisation's lock. Returns the new child.
pub fn create_child(
    conn: &mut DbConn,
    org: &str,
    input: &NewChild,
    sealer: &SecretBox,
    net: &SyncConfig,
) -> Result<Account, ServiceError> {
    let name = parse_name(&input.name)?;
    let currency = parse_currency("currency", &input.currency)?;
    let timezone = parse_timezone("timezone", input.timezone.as_deref().unwrap_or("UTC"))?;
    let connection = match &input.connection {
        Some(v) => parse_connection(v, None)?,
        None => parse_connection(&serde_json::json!({"kind": "manual"}), None)?,
    };
    check_address(&connection, net)?;
    crate::db::transaction(conn, |conn| {
        Organisation::lock_accounts(conn, org)?;
        let existing = Account::list_by_organisation(conn, org)?;
        let now = Utc::now().naive_utc();
        let master_id = match existing.iter().find(|a| a.is_master()) {
            Some(master) => Some(master.id.clone()),
            None => match existing.first() {
                Some(first) => {
                    let master = NewAccount {
                        id: new_id("acc"),
                        organisation_id: org.to_string(),
                        name: MASTER_NAME.to_string(),
                        kind: AccountKind::Master,
                        master_id: None,
                        currency: first.currency.clone(),
                        timezone: first.timezone.clone(),
                        connection_kind: None,
                        connection_settings: None,
                        connection_secret: None,
                        include_stock: true,
                        include_sales: true,
                        lead_time_days: first.lead_time_days,
                        days_of_stock: first.days_of_stock,
                        service_level: first.service_level,
                        created_at: now,
                    };
                    Account::insert(conn, &master)?;
                    for child in &existing {
                        Account::set_master(conn, &child.id, &master.id)?;
                    }
                    Some(master.id)
                }
                None => None,
            },
        };
        let child_id = new_id("acc");
        let child = NewAccount {
            connection_secret: seal(&connection.secrets, sealer, &child_id),
            id: child_id,
            organisation_id: org.to_string(),
            name,
            kind: AccountKind::Child,
            master_id,
            currency,
            timezone,
            connection_kind: Some(connection.kind.clone()),
            connection_settings: Some(Value::Object(connection.settings.clone()).to_string()),
            include_stock: true,
            include_sales: true,
            lead_time_days: DEFAULT_LEAD_TIME_DAYS,
            days_of_stock: DEFAULT_DAYS_OF_STOCK,
            service_level: DEFAULT_SERVICE_LEVEL,
            created_at: now,
        };
        Account::insert(conn, &child)?;
        let created = Account::find_by_id(conn, &child.id)?
            .ok_or_else(|| ServiceError::internal("account vanished after insert"))?;
        Ok(created)
    })
}

/// Validates a PATCH against the stored account and turns it into changes.
pub fn changes_for(
    account: &Account,
    patch: &AccountPatch,
    sealer: &SecretBox,
    net: &SyncConfig,
) -> Result<AccountChanges, ServiceError> {
    let mut changes = AccountChanges::default();
    if let Some(name) = &patch.name {
        changes.name = Some(parse_name(name)?);
    }
    if let Some(c) = &patch.currency {
        changes.currency = Some(parse_currency("currency", c)?);
    }
    if let Some(tz) = &patch.timezone {
        changes.timezone = Some(parse_timezone("timezone", tz)?);
    }
    if patch.include_stock.is_some() || patch.include_sales.is_some() || patch.connection.is_some()
    {
        if account.is_master() {
            let field = if patch.connection.is_some() {
                "connection"
            } else {
                "include_stock"
            };
            return Err(ServiceError::invalid_field(
                field,
                "applies to child accounts only; a master has no connection of its own",
            ));
        }
        changes.include_stock = patch.include_stock;
        changes.include_sales = patch.include_sales;
    }
    if let Some(v) = &patch.connection {
        let previous = stored_connection(account, sealer);
        let conn = parse_connection(v, previous.as_ref())?;
        check_address(&conn, net)?;
        changes.connection_settings = Some(Some(Value::Object(conn.settings.clone()).to_string()));
        changes.connection_secret = Some(seal(&conn.secrets, sealer, &account.id));
        if Some(&conn.kind) != account.connection_kind.as_ref() {
            return Err(ServiceError::invalid_field(
                "connection.kind",
                "cannot change; create a new account for another kind of connection",
            ));
        }
    }
    if let Some(p) = &patch.planning {
        if let Some(l) = p.lead_time_days {
            if !(0..=3650).contains(&l) {
                return Err(ServiceError::invalid_field(
                    "planning.lead_time_days",
                    "must be 0 to 3650 days",
                ));
            }
            changes.lead_time_days = Some(l);
        }
        if let Some(d) = p.days_of_stock {
            if !(0..=3650).contains(&d) {
                return Err(ServiceError::invalid_field(
                    "planning.days_of_stock",
                    "must be 0 to 3650 days",
                ));
            }
            changes.days_of_stock = Some(d);
        }
        if let Some(s) = p.service_level {
            if !(s > 0.0 && s < 1.0) {
                return Err(ServiceError::invalid_field(
                    "planning.service_level",
                    "must be between 0 and 1, exclusive (0.95 for 95 %)",
                ));
            }
            changes.service_level = Some(s);
        }
    }
    Ok(changes)
}

/// Applies a validated update to an account in one transaction and returns
/// the account as stored afterwards.
pub fn update(
    conn: &mut DbConn,
    account: &Account,
    patch: &AccountPatch,
    sealer: &SecretBox,
    net: &SyncConfig,
) -> Result<Account, ServiceError> {
    let changes = changes_for(account, patch, sealer, net)?;
    crate::db::transaction(conn, |conn| {
        Account::update(conn, &account.id, &changes)?;
        Account::find_by_id(conn, &account.id)?.ok_or_else(|| ServiceError::not_found("account"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(v: Value) -> Connection {
        parse_connection(&v, None).unwrap()
    }

    #[test]
    fn a_new_address_needs_the_secret_again() {
        let prev = stored(json!({"kind": "tributary", "base_url": "https://a.example",
            "account_id": "acc_1", "api_key": "k1"}));
        // Same host: the stored key stays.
        let same = parse_connection(
            &json!({"kind": "tributary", "account_id": "acc_2"}),
            Some(&prev),
        )
        .unwrap();
        assert_eq!(same.secrets["api_key"], "k1");
        // Another host without the key: refused, naming the field.
        let err = parse_connection(
            &json!({"kind": "tributary", "base_url": "https://evil.example"}),
            Some(&prev),
        )
        .unwrap_err();
        assert!(format!("{err:?}").contains("connection.api_key"), "{err:?}");
        // Another host with the key: accepted.
        let ok = parse_connection(
            &json!({"kind": "tributary", "base_url": "https://b.example", "api_key": "k2"}),
            Some(&prev),
        )
        .unwrap();
        assert_eq!(ok.secrets["api_key"], "k2");

        let shop =
            stored(json!({"kind": "shopify", "shop": "a.myshopify.com", "access_token": "t"}));
        assert!(parse_connection(
            &json!({"kind": "shopify", "shop": "b.myshopify.com"}),
            Some(&shop)
        )
        .is_err());
        let woo = stored(
            json!({"kind": "woocommerce", "base_url": "https://shop.example",
            "consumer_key": "ck", "consumer_secret": "cs"}),
        );
        let err = parse_connection(
            &json!({"kind": "woocommerce", "base_url": "https://other.example", "consumer_key": "ck2"}),
            Some(&woo),
        )
        .unwrap_err();
        assert!(format!("{err:?}").contains("consumer_secret"), "{err:?}");
    }
}
