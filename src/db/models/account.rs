//! Accounts: the master and its children. Rows only; the rules (the master
//! created with the second child, connections added from the master) live
//! in `crate::services::accounts`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::accounts;
use crate::db::DbConn;
pub use crate::domain::AccountKind;

/// An account row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    /// Opaque id.
    pub id: String,
    /// Owner.
    pub organisation_id: String,
    /// Display name.
    pub name: String,
    /// Master or child.
    #[diesel(deserialize_as = String)]
    pub kind: AccountKind,
    /// The master above a child.
    pub master_id: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// IANA time zone.
    pub timezone: String,
    /// Connection kind of a child (`manual`, `shopify`, …).
    pub connection_kind: Option<String>,
    /// Non-secret connection settings, JSON object.
    pub connection_settings: Option<String>,
    /// Secret connection settings, JSON object sealed with the server key.
    pub connection_secret: Option<String>,
    /// Whether the master counts this child's stock.
    pub include_stock: bool,
    /// Whether the master counts this child's sales.
    pub include_sales: bool,
    /// Planning default: lead time in days.
    pub lead_time_days: i32,
    /// Planning default: days of stock (order cycle).
    pub days_of_stock: i32,
    /// Planning default: service level in (0, 1).
    pub service_level: f64,
    /// Last successful sync.
    pub last_synced_at: Option<NaiveDateTime>,
    /// Last change sequence number handed out to this account's records.
    pub change_seq: i64,
    /// Bumped whenever data or settings that plans depend on change.
    pub data_version: i64,
    /// Created.
    pub created_at: NaiveDateTime,
}

/// An account to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccount {
    /// Opaque id.
    pub id: String,
    /// Owner.
    pub organisation_id: String,
    /// Name.
    pub name: String,
    /// Master or child.
    #[diesel(serialize_as = String)]
    pub kind: AccountKind,
    /// Master above.
    pub master_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// Time zone.
    pub timezone: String,
    /// Connection kind.
    pub connection_kind: Option<String>,
    /// Non-secret settings.
    pub connection_settings: Option<String>,
    /// Sealed secrets.
    pub connection_secret: Option<String>,
    /// Include stock.
    pub include_stock: bool,
    /// Include sales.
    pub include_sales: bool,
    /// Lead time.
    pub lead_time_days: i32,
    /// Days of stock.
    pub days_of_stock: i32,
    /// Service level.
    pub service_level: f64,
    /// Created.
    pub created_at: NaiveDateTime,
}

/// Changes to an account (`None` leaves a field as it is).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = accounts)]
pub struct AccountChanges {
    /// Name.
    pub name: Option<String>,
    /// Currency.
    pub currency: Option<String>,
    /// Time zone.
    pub timezone: Option<String>,
    /// Connection settings.
    pub connection_settings: Option<Option<String>>,
    /// Sealed secrets.
    pub connection_secret: Option<Option<String>>,
    /// Include stock.
    pub include_stock: Option<bool>,
    /// Include sales.
    pub include_sales: Option<bool>,
    /// Lead time.
    pub lead_time_days: Option<i32>,
    /// Days of stock.
    pub days_of_stock: Option<i32>,
    /// Service level.
    pub service_level: Option<f64>,
}

impl Account {
    /// True for the master account.
    pub fn is_master(&self) -> bool {
        self.kind == AccountKind::Master
    }

    /// Lists an organisation's accounts, master first, then children by creation.
    pub fn list_by_organisation(conn: &mut DbConn, org: &str) -> QueryResult<Vec<Account>> {
        let mut rows: Vec<Account> = accounts::table
            .filter(accounts::organisation_id.eq(org))
            .order((accounts::created_at.asc(), accounts::id.asc()))
            .select(Account::as_select())
            .load(conn)?;
        rows.sort_by_key(|a| !a.is_master());
        Ok(rows)
    }

    /// Every account of every organisation, by organisation, master first
    /// (the command line's replan of everything).
    pub fn list_all(conn: &mut DbConn) -> QueryResult<Vec<Account>> {
        let mut rows: Vec<Account> = accounts::table
            .order((accounts::created_at.asc(), accounts::id.asc()))
            .select(Account::as_select())
            .load(conn)?;
        rows.sort_by(|a, b| {
            a.organisation_id
                .cmp(&b.organisation_id)
                .then(b.is_master().cmp(&a.is_master()))
        });
        Ok(rows)
    }

    /// Finds an account of the organisation (another organisation's id finds nothing).
    pub fn find_in_organisation(
        conn: &mut DbConn,
        org: &str,
        id: &str,
    ) -> QueryResult<Option<Account>> {
        accounts::table
            .filter(accounts::id.eq(id))
            .filter(accounts::organisation_id.eq(org))
            .select(Account::as_select())
            .first(conn)
            .optional()
    }

    /// Finds an account by id alone (background jobs).
    pub fn find_by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<Account>> {
        accounts::table
            .find(id)
            .select(Account::as_select())
            .first(conn)
            .optional()
    }

    /// The children of a master, by creation.
    pub fn list_children(conn: &mut DbConn, master_id: &str) -> QueryResult<Vec<Account>> {
        accounts::table
            .filter(accounts::master_id.eq(master_id))
            .order((accounts::created_at.asc(), accounts::id.asc()))
            .select(Account::as_select())
            .load(conn)
    }

    /// Inserts an account.
    pub fn insert(conn: &mut DbConn, account: &NewAccount) -> QueryResult<()> {
        diesel::insert_into(accounts::table)
            .values(account.clone())
            .execute(conn)
            .map(|_| ())
    }

    /// Attaches a child to a master.
    pub fn set_master(conn: &mut DbConn, id: &str, master_id: &str) -> QueryResult<()> {
        diesel::update(accounts::table.find(id))
            .set(accounts::master_id.eq(master_id))
            .execute(conn)
            .map(|_| ())
    }

    /// Applies changes and bumps the data version (plans depend on settings).
    pub fn update(conn: &mut DbConn, id: &str, changes: &AccountChanges) -> QueryResult<()> {
        diesel::update(accounts::table.find(id))
            .set((
                changes,
                accounts::data_version.eq(accounts::data_version + 1),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Reserves `n` change sequence numbers for the account and returns the
    /// first. Called inside the write transaction, so it also serialises
    /// writers of one account.
    pub fn reserve_seq(conn: &mut DbConn, id: &str, n: i64) -> QueryResult<i64> {
        diesel::update(accounts::table.find(id))
            .set(accounts::change_seq.eq(accounts::change_seq + n))
            .execute(conn)?;
        let last: i64 = accounts::table
            .find(id)
            .select(accounts::change_seq)
            .first(conn)?;
        Ok(last - n + 1)
    }

    /// The last change sequence number reserved on an account: it moves
    /// with every write of the account's records ([`Account::reserve_seq`]).
    pub fn change_seq_of(conn: &mut DbConn, id: &str) -> QueryResult<i64> {
        accounts::table
            .find(id)
            .select(accounts::change_seq)
            .first(conn)
    }

    /// The current data version of an account.
    pub fn data_version_of(conn: &mut DbConn, id: &str) -> QueryResult<i64> {
        accounts::table
            .find(id)
            .select(accounts::data_version)
            .first(conn)
    }

    /// Bumps the data version: something plans depend on has changed.
    pub fn bump_data_version(conn: &mut DbConn, id: &str) -> QueryResult<()> {
        diesel::update(accounts::table.find(id))
            .set(accounts::data_version.eq(accounts::data_version + 1))
            .execute(conn)
            .map(|_| ())
    }

    /// Bumps the data version of every master of an organisation (their
    /// plans depend on organisation-wide settings such as exchange rates).
    pub fn bump_masters(conn: &mut DbConn, org: &str) -> QueryResult<()> {
        diesel::update(
            accounts::table
                .filter(accounts::organisation_id.eq(org))
                .filter(accounts::kind.eq(AccountKind::Master.as_str())),
        )
        .set(accounts::data_version.eq(accounts::data_version + 1))
        .execute(conn)
        .map(|_| ())
    }

    /// Records a successful sync.
    pub fn touch_synced(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<()> {
        crate::db::transaction(conn, |conn| {
            diesel::update(accounts::table.find(id))
                .set(accounts::last_synced_at.eq(Some(at)))
                .execute(conn)
                .map(|_| ())
        })
    }
}
