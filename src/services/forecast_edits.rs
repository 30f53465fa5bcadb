//! Forecast edits as use cases (`api.md`, "Forecast edits"): list an
//! account's edits in force, upsert a list of them by (target, month) —
//! validated whole, every problem by row and field, nothing written when
//! any is found —, delete one, and list their history. A write bumps the
//! account's data version and records the variants it touches
//! (`plan_touches`), in one transaction, so that the next replan recomputes
//! those lines; a master's touches name its children's variants as
//! `<child id>:<variant id>` (`services::replan`).

use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::db::models::forecast_edit::{self as store, ForecastEdit, VariantGroups};
use crate::db::models::planning::{self as plan_store, record_touches};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::jobs::Signal;
use crate::planning::edits::{self, days_in_month, month_start, target_key, EditKind};
use crate::planning::explain::Explanation;
use crate::planning::rollup::Links;
use crate::services::accounts::utc;
use crate::services::{Detail, ServiceError};

/// Most edits one request may hold.
pub const MAX_EDITS: usize = 10_000;

/// One edit as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EditView {
    /// Opaque id.
    pub id: String,
    /// `{"sku"}`, `{"category"}`, `{"vendor_id"}`, `{"brand"}` or `{"tag"}`.
    #[schema(value_type = Object)]
    pub target: Value,
    /// `YYYY-MM`.
    pub month: String,
    /// `quantity`, `percent` or `no_demand`.
    pub kind: String,
    /// The month's quantity, or the percent (50 = +50 %); null for no demand.
    pub value: Option<f64>,
    /// The merchant's note.
    pub note: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Who wrote it (e-mail).
    pub created_by: String,
}

impl From<&ForecastEdit> for EditView {
    fn from(e: &ForecastEdit) -> EditView {
        let mut target = Map::new();
        target.insert(e.target_kind.clone(), Value::String(e.target.clone()));
        EditView {
            id: e.id.clone(),
            target: Value::Object(target),
            month: e.month.clone(),
            kind: e.kind.clone(),
            value: e.value.as_deref().and_then(|v| v.parse().ok()),
            note: e.note.clone(),
            created_at: utc(e.created_at),
            created_by: e.created_by.clone(),
        }
    }
}

/// One change of an edit, as the history lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EditChangeView {
    /// The edit.
    pub edit_id: String,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// The edit's target.
    #[schema(value_type = Object)]
    pub target: Value,
    /// `YYYY-MM`.
    pub month: String,
    /// Kind.
    pub kind: String,
    /// Value.
    pub value: Option<f64>,
    /// Note.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (e-mail).
    pub by: String,
}

/// Whether an edit of `month` has ended before `today` (it no longer applies).
fn expired(month: &str, today: NaiveDate) -> bool {
    month_start(month).is_some_and(|f| f + chrono::Duration::days(days_in_month(f)) <= today)
}

/// The account's edits in force (their month has not ended).
pub fn list(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
) -> Result<Vec<EditView>, ServiceError> {
    Ok(ForecastEdit::of_account(conn, &account.id)?
        .iter()
        .filter(|e| !expired(&e.month, today))
        .map(EditView::from)
        .collect())
}

/// Every change of the account's edits, newest first (expired and deleted
/// ones included).
pub fn history(conn: &mut DbConn, account: &Account) -> Result<Vec<EditChangeView>, ServiceError> {
    Ok(store::history(conn, &account.id)?
        .into_iter()
        .map(|c| {
            let mut target = Map::new();
            target.insert(c.target_kind.clone(), Value::String(c.target.clone()));
            EditChangeView {
                edit_id: c.edit_id,
                action: c.action,
                target: Value::Object(target),
                month: c.month,
                kind: c.kind,
                value: c.value.as_deref().and_then(|v| v.parse().ok()),
                note: c.note,
                at: utc(c.at),
                by: c.by_user,
            }
        })
        .collect())
}

/// A validated edit, before it is stored.
struct Valid {
    target_kind: String,
    target: String,
    key: String,
    month: String,
    kind: EditKind,
    value: Option<Decimal>,
    note: Option<String>,
}

/// A decimal from a JSON number or numeric string.
fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .ok()
        }
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// Validates row `row` (1-based); every problem goes to `details`.
fn validate(row: usize, v: &Value, today: NaiveDate, details: &mut Vec<Detail>) -> Option<Valid> {
    let mut bad = |field: &str, message: String| {
        details.push(Detail {
            row,
            field: field.to_string(),
            message,
        })
    };
    let Some(o) = v.as_object() else {
        bad("", "Each edit must be a JSON object.".into());
        return None;
    };
    for k in o.keys() {
        if !["target", "month", "kind", "value", "note", "id"].contains(&k.as_str()) {
            bad(
                k,
                format!("Unknown field `{k}`: an edit has target, month, kind, value and note."),
            );
        }
    }
    let target = match o.get("target").and_then(Value::as_object) {
        None => {
            bad("target", "Required: an object naming one of sku, category, vendor_id, brand or tag, e.g. {\"category\": \"Shoes\"}.".into());
            None
        }
        Some(t) if t.len() != 1 => {
            bad(
                "target",
                "Name exactly one of sku, category, vendor_id, brand or tag.".into(),
            );
            None
        }
        Some(t) => {
            let (k, val) = t.iter().next().expect("one entry");
            let field = format!("target.{k}");
            if !edits::TARGET_KINDS.contains(&k.as_str()) {
                bad(
                    &field,
                    format!("Unknown target `{k}`: use sku, category, vendor_id, brand or tag."),
                );
                None
            } else {
                match val.as_str().map(str::trim) {
                    Some(s) if !s.is_empty() && s.chars().count() <= 255 => {
                        Some((k.clone(), s.to_string(), target_key(k, s)))
                    }
                    _ => {
                        bad(&field, "A non-empty text of at most 255 characters.".into());
                        None
                    }
                }
            }
        }
    };
    let month = match o.get("month").and_then(Value::as_str) {
        Some(m) if month_start(m).is_some() => {
            if expired(m, today) {
                bad(
                    "month",
                    format!(
                        "{m} has ended: an edit applies to this month ({}) or a later one.",
                        today.format("%Y-%m")
                    ),
                );
                None
            } else {
                Some(m.to_string())
            }
        }
        Some(m) => {
            bad(
                "month",
                format!("`{m}` is not a month: write YYYY-MM, e.g. 2026-04."),
            );
            None
        }
        None => {
            bad("month", "Required: the calendar month, YYYY-MM.".into());
            None
        }
    };
    let kind = match o.get("kind").and_then(Value::as_str).map(EditKind::parse) {
        Some(Some(k)) => Some(k),
        _ => {
            bad("kind", "Required: quantity, percent or no_demand.".into());
            None
        }
    };
    let raw = o.get("value").filter(|v| !v.is_null());
    let value = match (kind, raw) {
        (Some(EditKind::NoDemand), Some(_)) => {
            bad(
                "value",
                "No value with no_demand: the month's demand is 0.".into(),
            );
            None
        }
        (Some(k), None) if k != EditKind::NoDemand => {
            bad(
                "value",
                format!(
                    "Required with {}: {}.",
                    k.name(),
                    if k == EditKind::Quantity {
                        "the month's quantity"
                    } else {
                        "the percent, e.g. 50 for +50 % or -20 for −20 %"
                    }
                ),
            );
            None
        }
        (Some(k), Some(r)) => match decimal(r) {
            None => {
                bad("value", "A number (or a numeric string).".into());
                None
            }
            Some(d) if d.abs() > Decimal::from(1_000_000_000_000i64) => {
                bad("value", "At most 1,000,000,000,000.".into());
                None
            }
            Some(d) if k == EditKind::Quantity && d.is_sign_negative() && !d.is_zero() => {
                bad("value", "A month's quantity is 0 or more.".into());
                None
            }
            Some(d) if k == EditKind::Percent && d < Decimal::from(-100) => {
                bad("value", "A percent is −100 (no demand) or more.".into());
                None
            }
            Some(d) => Some(d.normalize()),
        },
        _ => None,
    };
    let note = match o.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 1000 => Some(s.clone()),
        Some(_) => {
            bad("note", "A text of at most 1,000 characters.".into());
            None
        }
    };
    let (Some((target_kind, target, key)), Some(month), Some(kind)) = (target, month, kind) else {
        return None;
    };
    if kind != EditKind::NoDemand && value.is_none() {
        return None;
    }
    Some(Valid {
        target_kind,
        target,
        key,
        month,
        kind,
        value,
        note,
    })
}

/// Whether variant `v` of account `acc` is what `(kind, key)` targets.
fn targets(kind: &str, key: &str, acc: &str, v: &VariantGroups) -> bool {
    let tk = |s: &Option<String>| s.as_deref().map(|s| target_key(kind, s));
    match kind {
        "sku" => v.sku_norm == key,
        "category" => tk(&v.category).as_deref() == Some(key),
        "brand" => tk(&v.brand).as_deref() == Some(key),
        "vendor_id" => v
            .vendor_id
            .as_deref()
            .is_some_and(|id| id == key || format!("{acc}:{id}") == key),
        _ => v
            .tags
            .as_deref()
            .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
            .is_some_and(|tags| tags.iter().any(|t| target_key("tag", t) == key)),
    }
}

/// The variants whose plan lines edits on `(kind, key)` targets change:
/// a child's own ids; a master's `<child id>:<variant id>`, one member per
/// row (the replan recomputes a row from all its members).
fn touched_by(
    conn: &mut DbConn,
    account: &Account,
    targets_: &[(String, String)],
) -> Result<Vec<String>, ServiceError> {
    let matches =
        |acc: &str, v: &VariantGroups| targets_.iter().any(|(k, key)| targets(k, key, acc, v));
    if !account.is_master() {
        return Ok(store::variant_groups(conn, &account.id)?
            .iter()
            .filter(|v| matches(&account.id, v))
            .map(|v| v.id.clone())
            .collect());
    }
    let links = Links::new(&plan_store::links(conn, &account.id)?);
    let sku_keys: HashSet<&str> = targets_
        .iter()
        .filter(|(k, _)| k == "sku")
        .map(|(_, key)| key.as_str())
        .collect();
    let mut rows = BTreeSet::new();
    let mut out = Vec::new();
    for kid in Account::list_children(conn, &account.id)? {
        for v in store::variant_groups(conn, &kid.id)? {
            let row = links.row_key(&kid.id, &v.id, &v.sku_norm);
            if (sku_keys.contains(row.as_str()) || matches(&kid.id, &v)) && rows.insert(row) {
                out.push(format!("{}:{}", kid.id, v.id));
            }
        }
    }
    Ok(out)
}

/// Bumps the account's data version and records what the write touched.
fn bump(conn: &mut DbConn, account: &Account, touched: &[String]) -> diesel::QueryResult<()> {
    Account::bump_data_version(conn, &account.id)?;
    let version = Account::data_version_of(conn, &account.id)?;
    let mut ids = touched.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // A write that touches no variant still moves the version: record it
    // as touching nothing in particular, so the replan stays incremental.
    if ids.is_empty() {
        ids.push(format!("{}:", account.id));
    }
    record_touches(conn, &account.id, version, Some(&ids))
}

/// Upserts `rows` by (target, month), validated whole; answers the stored
/// edits in the order sent.
pub fn put(
    conn: &mut DbConn,
    account: &Account,
    by: &str,
    rows: &[Value],
    today: NaiveDate,
    worker: &Signal,
) -> Result<Vec<EditView>, ServiceError> {
    if rows.len() > MAX_EDITS {
        return Err(ServiceError::invalid_field(
            "",
            format!("At most {MAX_EDITS} edits a request."),
        ));
    }
    let mut details = Vec::new();
    let mut seen = HashSet::new();
    let mut valid = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(v) = validate(i + 1, r, today, &mut details) {
            if !seen.insert((v.target_kind.clone(), v.key.clone(), v.month.clone())) {
                details.push(Detail {
                    row: i + 1,
                    field: "target".into(),
                    message: format!(
                        "This target and month ({}: {}, {}) is already edited by an earlier row.",
                        v.target_kind, v.target, v.month
                    ),
                });
            }
            valid.push(v);
        }
    }
    if !details.is_empty() {
        let n = details.len();
        details.truncate(1000);
        return Err(ServiceError::invalid(
            format!("{n} problem(s) in the forecast edits; nothing was changed."),
            details,
        ));
    }
    let now = Utc::now().naive_utc();
    let keys: Vec<(String, String)> = valid
        .iter()
        .map(|v| (v.target_kind.clone(), v.key.clone()))
        .collect();
    let touched = touched_by(conn, account, &keys)?;
    let out = crate::db::transaction(conn, |conn| {
        let mut out = Vec::with_capacity(valid.len());
        for v in valid {
            let old =
                ForecastEdit::find_target(conn, &account.id, &v.target_kind, &v.key, &v.month)?;
            let e = ForecastEdit {
                id: old
                    .as_ref()
                    .map_or_else(|| crate::crypto::new_id("fe"), |o| o.id.clone()),
                account_id: account.id.clone(),
                target_kind: v.target_kind,
                target: v.target,
                target_key: v.key,
                month: v.month,
                kind: v.kind.name().to_string(),
                value: v.value.map(|d| d.to_string()),
                note: v.note,
                created_at: now,
                created_by: by.to_string(),
            };
            e.save(conn, if old.is_some() { "updated" } else { "created" })?;
            out.push(EditView::from(&e));
        }
        bump(conn, account, &touched)?;
        Ok::<_, diesel::result::Error>(out)
    })?;
    worker.wake();
    Ok(out)
}

/// Deletes one edit of the account (404 when it has none with that id).
pub fn delete(
    conn: &mut DbConn,
    account: &Account,
    by: &str,
    id: &str,
    worker: &Signal,
) -> Result<(), ServiceError> {
    let Some(e) = ForecastEdit::find(conn, &account.id, id)? else {
        return Err(ServiceError::not_found("forecast edit"));
    };
    let touched = touched_by(
        conn,
        account,
        &[(e.target_kind.clone(), e.target_key.clone())],
    )?;
    crate::db::transaction(conn, |conn| {
        e.delete(conn, Utc::now().naive_utc(), by)?;
        bump(conn, account, &touched)
    })?;
    worker.wake();
    Ok(())
}

/// A plan line whose edits conflict in a month (neither applies).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConflictView {
    /// The line's SKU.
    pub sku: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The conflicting edits.
    pub edit_ids: Vec<String>,
    /// Their targets.
    pub targets: Vec<String>,
    /// What to do.
    pub message: String,
}

/// The lines of the account's fresh plan (waited for as the order plan
/// is) where two group edits meet in one month.
pub async fn conflicts(
    db: &crate::db::Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
) -> Result<Vec<ConflictView>, ServiceError> {
    use crate::services::order_plan::{self, Extras, PlanParams};
    let req = PlanParams {
        flag: Some("forecast_edit_conflict".into()),
        sort: Some("sku".into()),
        ..PlanParams::default()
    }
    .checked()?
    .all();
    let page = order_plan::read_page(db, worker, account, today, req, Extras::Rows).await?;
    let id = account.id.clone();
    db.run(move |conn| {
        let mut out = Vec::new();
        for row in &page.rows {
            let Some((_, detail)) = plan_store::line_with_explanation(conn, &id, &row.sku_key)?
            else {
                continue;
            };
            let list = Explanation::parse(&detail.explanation)
                .map(|e| e.edit_conflicts)
                .unwrap_or_default();
            for (c, flag) in list.iter().zip(edits::conflict_flags(&list)) {
                out.push(ConflictView {
                    sku: row.sku.clone(),
                    month: c.month.clone(),
                    edit_ids: c.edit_ids.clone(),
                    targets: c.targets.clone(),
                    message: flag.message,
                });
            }
        }
        Ok::<_, ServiceError>(out)
    })
    .await
}
