//! The settings that shape a master's roll-up, as use cases: explicit links
//! of children's variants to master rows, per-warehouse include flags, and
//! the organisation's exchange rates. A change is validated whole (every
//! problem by row and field; nothing is written when any is found), written
//! in one transaction with the bump of the data version of every plan it
//! changes, and then wakes the job worker to replan ([`change_plans`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::models::planning::{self as store, ExchangeRate, SkuLink, WarehouseSetting};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::domain::sku;
use crate::jobs::Signal;
use crate::services::accounts::parse_currency;
use crate::services::{Detail, ServiceError};

/// A link: a child's variant joins a master row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The master row the variant joins.
    pub sku: String,
    /// The child account.
    pub account_id: String,
    /// The child's variant id.
    pub variant_id: String,
}

/// A per-warehouse include setting.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSettingBody {
    /// The child account.
    pub account_id: String,
    /// Its warehouse id.
    pub warehouse_id: String,
    /// Count the warehouse's stock in the master.
    pub include_stock: bool,
    /// Count the warehouse's sales in the master.
    pub include_sales: bool,
}

/// An exchange rate: 1 `from` = `rate` `to`, from `date` on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// First day the rate holds.
    pub date: chrono::NaiveDate,
    /// From currency.
    pub from: String,
    /// To currency.
    pub to: String,
    /// Rate (more than 0).
    #[schema(value_type = f64)]
    pub rate: rust_decimal::Decimal,
}

/// Which plans a settings change makes stale.
enum Changes<'a> {
    /// The master's (links and warehouse settings are its own).
    Master(&'a str),
    /// Every master of the organisation (exchange rates are shared).
    MastersOf(&'a str),
}

/// The one way a settings change is applied: with any `details` nothing is
/// written and the change is refused with `what`'s sentence; otherwise
/// `write` and the bump of the plans it changes go in one transaction, and
/// the worker is woken to replan them.
fn change_plans(
    conn: &mut DbConn,
    what: &str,
    details: Vec<Detail>,
    changes: Changes,
    worker: &Signal,
    write: impl FnOnce(&mut DbConn) -> diesel::QueryResult<()>,
) -> Result<(), ServiceError> {
    if !details.is_empty() {
        return Err(ServiceError::invalid(
            format!("The {what} are not valid; nothing was changed."),
            details,
        ));
    }
    crate::db::transaction(conn, |conn| {
        write(conn)?;
        match changes {
            Changes::Master(id) => Account::bump_data_version(conn, id),
            Changes::MastersOf(org) => Account::bump_masters(conn, org),
        }
    })?;
    worker.wake();
    Ok(())
}

/// Refuses an account that is not a master (links, conflicts and warehouse
/// settings belong to one).
pub fn require_master(account: &Account) -> Result<(), ServiceError> {
    if account.is_master() {
        return Ok(());
    }
    Err(ServiceError::Conflict {
        code: "not_a_master",
        message: "Links, conflicts and warehouse settings belong to a master account; use the master's id.".into(),
    })
}

/// The problems of a master's per-child setting rows, found as the rows
/// are read: every problem by row (1-based) and field.
struct RowProblems {
    /// The master's children.
    kids: Vec<String>,
    /// (child, id) pairs seen so far.
    seen: HashSet<(String, String)>,
    /// What was found.
    details: Vec<Detail>,
}

impl RowProblems {
    fn new(conn: &mut DbConn, master: &Account) -> Result<RowProblems, ServiceError> {
        Ok(RowProblems {
            kids: Account::list_children(conn, &master.id)?
                .into_iter()
                .map(|a| a.id)
                .collect(),
            seen: HashSet::new(),
            details: Vec::new(),
        })
    }

    /// Row `i` (0-based) has a problem with `field`.
    fn add(&mut self, i: usize, field: &str, message: &str) {
        self.details.push(Detail {
            row: i + 1,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Row `i` names a child of the master.
    fn child(&mut self, i: usize, account_id: &str) {
        if !self.kids.iter().any(|k| k == account_id) {
            self.add(i, "account_id", "is not a child of this master");
        }
    }

    /// Row `i`'s (child, `field`) pair is not given twice.
    fn once(&mut self, i: usize, account_id: &str, field: &str, id: &str, message: &str) {
        if !self.seen.insert((account_id.to_string(), id.to_string())) {
            self.add(i, field, message);
        }
    }
}

/// The master's explicit links.
pub fn links(conn: &mut DbConn, master: &Account) -> Result<Vec<LinkBody>, ServiceError> {
    require_master(master)?;
    Ok(store::links(conn, &master.id)?
        .into_iter()
        .map(|l| LinkBody {
            sku: l.sku,
            account_id: l.account_id,
            variant_id: l.variant_id,
        })
        .collect())
}

/// Replaces the master's explicit links.
pub fn replace_links(
    conn: &mut DbConn,
    master: &Account,
    body: &[LinkBody],
    worker: &Signal,
) -> Result<(), ServiceError> {
    require_master(master)?;
    let mut p = RowProblems::new(conn, master)?;
    for (i, l) in body.iter().enumerate() {
        if sku::normalise(&l.sku).is_empty() {
            p.add(i, "sku", "must not be empty");
        }
        p.child(i, &l.account_id);
        p.once(
            i,
            &l.account_id,
            "variant_id",
            &l.variant_id,
            "is linked twice",
        );
    }
    let rows: Vec<SkuLink> = body
        .iter()
        .map(|l| SkuLink {
            master_id: master.id.clone(),
            account_id: l.account_id.clone(),
            variant_id: l.variant_id.trim().to_string(),
            sku: l.sku.trim().to_string(),
        })
        .collect();
    change_plans(
        conn,
        "links",
        p.details,
        Changes::Master(&master.id),
        worker,
        |conn| store::replace_links(conn, &master.id, &rows),
    )
}

/// The master's per-warehouse include settings.
pub fn warehouse_settings(
    conn: &mut DbConn,
    master: &Account,
) -> Result<Vec<WarehouseSettingBody>, ServiceError> {
    require_master(master)?;
    Ok(store::warehouse_settings(conn, &master.id)?
        .into_iter()
        .map(|r| WarehouseSettingBody {
            account_id: r.account_id,
            warehouse_id: r.warehouse_id,
            include_stock: r.include_stock,
            include_sales: r.include_sales,
        })
        .collect())
}

/// Replaces the master's per-warehouse include settings.
pub fn replace_warehouse_settings(
    conn: &mut DbConn,
    master: &Account,
    body: &[WarehouseSettingBody],
    worker: &Signal,
) -> Result<(), ServiceError> {
    require_master(master)?;
    let mut p = RowProblems::new(conn, master)?;
    for (i, s) in body.iter().enumerate() {
        p.child(i, &s.account_id);
        if s.warehouse_id.trim().is_empty() {
            p.add(i, "warehouse_id", "must not be empty");
        }
        p.once(
            i,
            &s.account_id,
            "warehouse_id",
            &s.warehouse_id,
            "is listed twice",
        );
    }
    let rows: Vec<WarehouseSetting> = body
        .iter()
        .map(|s| WarehouseSetting {
            master_id: master.id.clone(),
            account_id: s.account_id.clone(),
            warehouse_id: s.warehouse_id.trim().to_string(),
            include_stock: s.include_stock,
            include_sales: s.include_sales,
        })
        .collect();
    change_plans(
        conn,
        "warehouse settings",
        p.details,
        Changes::Master(&master.id),
        worker,
        |conn| store::replace_warehouse_settings(conn, &master.id, &rows),
    )
}

fn problem(details: &mut Vec<Detail>, i: usize, field: &str, message: &str) {
    details.push(Detail {
        row: i + 1,
        field: field.into(),
        message: message.into(),
    });
}

/// The organisation's exchange rates, oldest first.
pub fn rates(conn: &mut DbConn, org: &str) -> Result<Vec<RateBody>, ServiceError> {
    Ok(store::exchange_rates(conn, org)?
        .into_iter()
        .map(|r| RateBody {
            date: r.day,
            from: r.from_currency,
            to: r.to_currency,
            rate: rust_decimal::Decimal::from_f64_retain(r.rate).unwrap_or_default(),
        })
        .collect())
}

/// Adds or replaces exchange rates (by pair and date); every master of the
/// organisation replans.
pub fn upsert_rates(
    conn: &mut DbConn,
    org: &str,
    body: &[RateBody],
    worker: &Signal,
) -> Result<(), ServiceError> {
    let mut details = Vec::new();
    let mut rows = Vec::new();
    for (i, r) in body.iter().enumerate() {
        let from = parse_currency("from", &r.from);
        let to = parse_currency("to", &r.to);
        let rate: f64 = r.rate.try_into().unwrap_or(0.0);
        if from.is_err() {
            problem(&mut details, i, "from", "must be a 3-letter ISO 4217 code");
        }
        if to.is_err() {
            problem(&mut details, i, "to", "must be a 3-letter ISO 4217 code");
        }
        if !(rate > 0.0 && rate < 1e9) {
            problem(
                &mut details,
                i,
                "rate",
                "must be more than 0 and less than 10^9",
            );
        }
        if let (Ok(from), Ok(to)) = (from, to) {
            rows.push(ExchangeRate {
                organisation_id: org.to_string(),
                day: r.date,
                from_currency: from,
                to_currency: to,
                rate,
            });
        }
    }
    change_plans(
        conn,
        "exchange rates",
        details,
        Changes::MastersOf(org),
        worker,
        |conn| store::upsert_rates(conn, &rows),
    )
}

/// A merchant's mark on one SKU of an account's plan (`PUT
/// .../sku-settings`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuSettingBody {
    /// The SKU (matched after normalisation).
    pub sku: String,
    /// Whether the plan orders nothing for it (its stock and demand still
    /// count; the line is flagged `not_for_reorder`).
    pub not_for_reorder: bool,
    /// Why, in the merchant's words (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// A stored mark, as `GET .../sku-settings` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkuSettingView {
    /// The SKU as last given.
    pub sku: String,
    /// Whether the plan orders nothing for it.
    pub not_for_reorder: bool,
    /// The merchant's note.
    pub note: Option<String>,
    /// Last changed (RFC 3339, UTC).
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Who changed it last.
    pub updated_by: String,
}

/// Longest note kept with a mark.
const NOTE_MAX: usize = 500;

/// An account's marks on SKUs, by normalised SKU.
pub fn sku_settings(
    conn: &mut DbConn,
    account: &Account,
) -> Result<Vec<SkuSettingView>, ServiceError> {
    Ok(
        crate::db::models::sku_settings::of_account(conn, &account.id)?
            .into_iter()
            .map(|s| SkuSettingView {
                sku: s.sku,
                not_for_reorder: s.not_for_reorder,
                note: s.note,
                updated_at: crate::services::accounts::utc(s.updated_at),
                updated_by: s.updated_by,
            })
            .collect(),
    )
}

/// Sets marks on SKUs of an account's plan (any account: a master marks its
/// rows, a child its own lines). Validated whole; written with the bump of
/// the account's data version and the record of what it touched, so that
/// the next replan recomputes only those lines.
pub fn put_sku_settings(
    conn: &mut DbConn,
    account: &Account,
    by: &str,
    body: &[SkuSettingBody],
    worker: &Signal,
) -> Result<Vec<SkuSettingView>, ServiceError> {
    use crate::db::models::sku_settings as marks;
    let mut details = Vec::new();
    let mut seen = HashSet::new();
    let now = chrono::Utc::now().naive_utc();
    let mut rows = Vec::new();
    for (i, s) in body.iter().enumerate() {
        let key = sku::normalise(&s.sku);
        if key.is_empty() {
            problem(&mut details, i, "sku", "must not be empty");
        } else if !seen.insert(key.clone()) {
            problem(
                &mut details,
                i,
                "sku",
                "is listed twice (after normalisation)",
            );
        }
        let note = s
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from);
        if note.as_ref().is_some_and(|n| n.chars().count() > NOTE_MAX) {
            problem(
                &mut details,
                i,
                "note",
                &format!("is longer than {NOTE_MAX} characters"),
            );
        }
        rows.push(marks::SkuSetting {
            account_id: account.id.clone(),
            sku_key: key,
            sku: s.sku.trim().to_string(),
            not_for_reorder: s.not_for_reorder,
            note,
            updated_at: now,
            updated_by: by.to_string(),
        });
    }
    if !details.is_empty() {
        return Err(ServiceError::invalid(
            "The SKU settings are not valid; nothing was changed.",
            details,
        ));
    }
    let keys: Vec<String> = rows.iter().map(|r| r.sku_key.clone()).collect();
    crate::db::transaction(conn, |conn| {
        marks::upsert(conn, &account.id, &rows)?;
        Account::bump_data_version(conn, &account.id)?;
        let version = Account::data_version_of(conn, &account.id)?;
        // What the mark touches: a child's variants of those SKUs, a
        // master's rows of those keys.
        let touched: Vec<String> = if account.is_master() {
            keys.iter()
                .map(|k| format!("{}{k}", crate::services::replan::ROW_TOUCH))
                .collect()
        } else {
            let mut ids = marks::variants_with_keys(conn, &account.id, &keys)?;
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        store::record_touches(conn, &account.id, version, Some(&touched))
    })?;
    worker.wake();
    sku_settings(conn, account)
}
