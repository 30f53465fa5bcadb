//! Acting on the plan (`api.md` "Acting on the plan", `domain.md` "Stock
//! orders"): draft purchase orders from the order plan, their lifecycle
//! (draft → active → closed, or cancelled), receipts, edits, and the history
//! of every change.
//!
//! An order created here is a stock order like an imported one: it is
//! written through `db::ingest` (the one write path), which bumps the
//! account's data version and records the touched variants, so a confirmed
//! order is on order in the very next plan read, counted by the one
//! mechanism that counts imported orders. What only the server knows (the
//! order date, who created it, the push state, cancelled lines) is kept in
//! `stock_order_meta`; every change is appended to `stock_order_history`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::models::planning::{self as store, PlanLineRow};
use crate::db::models::records::VariantRow;
use crate::db::models::stock_orders::{self as orders, OrderFilter, OrderHead, OrderMeta};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::domain::sku;
use crate::import::{
    Batch, Currency, Format, StockLevelRecord, StockOrderKind, StockOrderLine, StockOrderRecord,
    StockOrderStatus,
};
use crate::planning::rollup::Links;
use crate::services::{plans, Detail, ServiceError};

/// The largest quantity a line may carry.
const MAX_QUANTITY: i64 = 1_000_000_000;

/// One line of an order as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineView {
    /// The line's id (stable across edits).
    pub id: String,
    /// The variant's SKU.
    pub sku: String,
    /// The variant.
    pub variant_id: String,
    /// Quantity ordered.
    pub quantity: f64,
    /// Received so far.
    pub received: f64,
    /// Still to come: quantity − received.
    pub open: f64,
    /// Cost per unit in the order's currency.
    pub unit_cost: Option<f64>,
    /// Cancelled while the order was active (its open quantity dropped).
    pub cancelled: bool,
}

/// Whether and how an order was written to the account's connection.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushView {
    /// `not_pushed`, `pushed`, `failed` or `unsupported`.
    pub state: String,
    /// The last push's error.
    pub error: Option<String>,
    /// When it was last pushed.
    pub pushed_at: Option<DateTime<Utc>>,
}

/// A stock order (`api.md`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: String,
    /// The (child) account holding it.
    pub account_id: String,
    /// `purchase`, `transfer` or `assembly`.
    pub kind: String,
    /// `draft`, `active`, `closed` or `cancelled`.
    pub status: String,
    /// Vendor (purchases).
    pub vendor_id: Option<String>,
    /// The vendor's name.
    pub vendor_name: Option<String>,
    /// Currency of the costs.
    pub currency: String,
    /// Order date (none for an imported order).
    pub ordered_at: Option<NaiveDate>,
    /// Expected delivery.
    pub expected_at: Option<NaiveDate>,
    /// Where stock leaves (transfers).
    pub source_warehouse_id: Option<String>,
    /// Where stock arrives.
    pub destination_warehouse_id: Option<String>,
    /// Active, expected before the planning date and something still open.
    pub overdue: bool,
    /// Created through this server (false: imported or synced).
    pub created_here: bool,
    /// A transfer between children: the other half (in the other child).
    pub partner_order_id: Option<String>,
    /// Lines.
    pub lines: Vec<LineView>,
    /// Push state.
    pub push: PushView,
}

impl OrderView {
    /// Σ open quantity.
    pub fn open_total(&self) -> f64 {
        self.lines.iter().map(|l| l.open).sum()
    }
}

/// One change to an order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (e-mail).
    pub actor: String,
    /// `created`, `edited`, `confirmed`, `received`, `cancelled`, ...
    pub action: String,
    /// What changed.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// A quantity the merchant sets for a SKU (it replaces the recommendation).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityLine {
    /// SKU (matched after normalisation).
    pub sku: String,
    /// Whole units, 0 or more (a number or a numeric string).
    #[schema(value_type = f64)]
    pub quantity: Value,
}

/// `POST .../purchase-orders/from-plan`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromPlan {
    /// These rows (SKUs); none: every row with something to order.
    pub skus: Option<Vec<String>>,
    /// Only rows of this urgency (`now` or `soon`).
    pub urgency: Option<String>,
    /// The merchant's quantities (replace the recommendation).
    pub lines: Option<Vec<QuantityLine>>,
    /// Destination warehouse (default: the account's first).
    pub destination_warehouse_id: Option<String>,
    /// On a master: the child receiving everything (default: each child its share).
    pub destination_account_id: Option<String>,
}

/// A line of a `PATCH`: `id` changes a line, `sku` adds one; quantity 0
/// removes a draft's line.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinePatch {
    /// An existing line's id.
    #[schema(value_type = Option<String>)]
    pub id: Option<Value>,
    /// A SKU of the account, for a new line.
    pub sku: Option<String>,
    /// Whole units, 0 or more.
    #[schema(value_type = f64)]
    pub quantity: Value,
    /// Cost per unit, 0 or more.
    #[schema(value_type = Option<f64>)]
    pub unit_cost: Option<Value>,
}

/// `PATCH /purchase-orders/{po_id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    /// Vendor (draft only).
    pub vendor_id: Option<String>,
    /// Destination warehouse (draft only).
    pub destination_warehouse_id: Option<String>,
    /// Order date.
    pub ordered_at: Option<NaiveDate>,
    /// Expected delivery.
    pub expected_at: Option<NaiveDate>,
    /// Lines to change or add (draft only).
    pub lines: Option<Vec<LinePatch>>,
    /// Ids of lines whose open quantity is cancelled (active only).
    #[schema(value_type = Option<Vec<String>>)]
    pub cancel_lines: Option<Vec<Value>>,
}

/// One line of a receipt.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    /// The line's id.
    #[schema(value_type = String)]
    pub line_id: Value,
    /// Whole units received, more than 0 and at most the open quantity.
    #[schema(value_type = f64)]
    pub quantity: Value,
}

/// `POST /purchase-orders/{po_id}/receive`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// What arrived.
    pub lines: Vec<ReceiptLine>,
}

/// The filters of an order list (query-string text).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    /// Status.
    pub status: Option<String>,
    /// Vendor id.
    pub vendor_id: Option<String>,
    /// Destination warehouse id.
    pub destination_warehouse_id: Option<String>,
    /// `true`: overdue orders only.
    pub overdue: Option<bool>,
    /// Expected on or after.
    pub expected_from: Option<NaiveDate>,
    /// Expected on or before.
    pub expected_to: Option<NaiveDate>,
}

/// Who acts, and the planning date override (tests, demo).
#[derive(Debug, Clone)]
pub struct Actor {
    /// E-mail of the user.
    pub email: String,
    /// `TRIBUTARY_TODAY`, if set.
    pub today: Option<NaiveDate>,
}

const STATUSES: [&str; 4] = ["draft", "active", "closed", "cancelled"];

/// A whole number of units (a JSON number or numeric string), 0 or more.
pub(crate) fn whole(v: &Value) -> Result<Decimal, String> {
    let d = decimal(v)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err("must be 0 or more".into());
    }
    if !d.fract().is_zero() {
        return Err("must be a whole number of units".into());
    }
    if d > Decimal::from(MAX_QUANTITY) {
        return Err(format!("must be at most {MAX_QUANTITY}"));
    }
    Ok(d.normalize())
}

/// A decimal given as a JSON number or a numeric string.
fn decimal(v: &Value) -> Result<Decimal, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("must be a number".into()),
    };
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| "must be a number".to_string())
}

/// An id given as a string or a number.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

fn dec_of(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

/// An order as it will be written.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) id: String,
    pub(crate) kind: StockOrderKind,
    pub(crate) status: StockOrderStatus,
    pub(crate) vendor_id: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) destination: Option<String>,
    pub(crate) expected_at: Option<NaiveDate>,
    pub(crate) currency: String,
    pub(crate) lines: Vec<DraftLine>,
}

#[derive(Debug, Clone)]
pub(crate) struct DraftLine {
    pub(crate) id: String,
    pub(crate) variant_id: String,
    pub(crate) quantity: Decimal,
    pub(crate) received: Decimal,
    pub(crate) unit_cost: Option<Decimal>,
}

impl DraftLine {
    fn open(&self) -> Decimal {
        (self.quantity - self.received).max(Decimal::ZERO)
    }
}

fn status_of(s: &str) -> StockOrderStatus {
    StockOrderStatus::parse(s).unwrap_or(StockOrderStatus::Draft)
}

fn load_draft(conn: &mut DbConn, head: &OrderHead) -> Result<Draft, ServiceError> {
    let lines = orders::lines(conn, &head.account_id, std::slice::from_ref(&head.id))?;
    Ok(Draft {
        id: head.id.clone(),
        kind: StockOrderKind::parse(&head.kind).unwrap_or(StockOrderKind::Purchase),
        status: status_of(&head.status),
        vendor_id: head.vendor_id.clone(),
        source: head.source_warehouse_id.clone(),
        destination: head.destination_warehouse_id.clone(),
        expected_at: head.expected_at,
        currency: head.currency.clone(),
        lines: lines
            .into_iter()
            .map(|l| DraftLine {
                id: l.line_id.clone().unwrap_or_else(|| l.line_no.to_string()),
                variant_id: l.variant_id,
                quantity: dec_of(&l.quantity),
                received: l
                    .received_quantity
                    .as_deref()
                    .map(dec_of)
                    .unwrap_or_default(),
                unit_cost: l.unit_cost.as_deref().map(dec_of),
            })
            .collect(),
    })
}

fn tz_of(account: &Account) -> chrono_tz::Tz {
    account.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
}

/// Writes an order through the one write path (bumping the data version
/// and recording its variants as touched when anything changed). `after`
/// is the stored order's last change: a write is never older than it.
pub(crate) fn write(
    conn: &mut DbConn,
    account: &Account,
    d: &Draft,
    after: Option<chrono::NaiveDateTime>,
) -> Result<(), ServiceError> {
    let mut at = Utc::now();
    if let Some(a) = after {
        let floor = a.and_utc() + Duration::milliseconds(1);
        if at < floor {
            at = floor;
        }
    }
    let record = StockOrderRecord {
        id: d.id.clone().into(),
        kind: d.kind,
        status: d.status,
        vendor_id: d.vendor_id.as_deref().map(Arc::from),
        source_warehouse_id: d.source.as_deref().map(Arc::from),
        destination_warehouse_id: d.destination.as_deref().map(Arc::from),
        expected_at: d.expected_at,
        currency: Currency::parse(&d.currency),
        updated_at: Some(at),
        removed: false,
        row: 1,
        format: Format::Json,
        lines: d
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| StockOrderLine {
                id: Some(l.id.clone().into()),
                variant_id: Arc::from(l.variant_id.as_str()),
                quantity: l.quantity,
                received_quantity: (!l.received.is_zero()).then_some(l.received),
                unit_cost: l.unit_cost,
                row: u32::try_from(i + 1).unwrap_or(u32::MAX),
            })
            .collect(),
    };
    crate::db::ingest::apply(
        conn,
        account,
        &Batch::StockOrders(vec![record]),
        at,
        tz_of(account),
    )?;
    Ok(())
}

pub(crate) fn new_meta(
    account: &str,
    order: &str,
    ordered_at: NaiveDate,
    actor: &str,
) -> OrderMeta {
    OrderMeta {
        account_id: account.into(),
        order_id: order.into(),
        ordered_at: Some(ordered_at),
        created_by: actor.into(),
        created_at: Utc::now().naive_utc(),
        push_state: "not_pushed".into(),
        push_error: None,
        pushed_at: None,
        cancelled_lines: "{}".into(),
        partner_account_id: None,
        partner_order_id: None,
    }
}

/// The API view of a stored order.
pub fn view(
    conn: &mut DbConn,
    account: &Account,
    head: &OrderHead,
    today: Option<NaiveDate>,
) -> Result<OrderView, ServiceError> {
    let d = load_draft(conn, head)?;
    let meta = orders::meta(conn, &head.account_id, &head.id)?;
    let ids: Vec<String> = d.lines.iter().map(|l| l.variant_id.clone()).collect();
    let skus: HashMap<String, String> = orders::skus_of(conn, &head.account_id, &ids)?
        .into_iter()
        .collect();
    let cancelled: BTreeMap<String, Value> = meta
        .as_ref()
        .and_then(|m| serde_json::from_str(&m.cancelled_lines).ok())
        .unwrap_or_default();
    let vendor_name = match &head.vendor_id {
        Some(v) => orders::live_vendor_names(conn, &head.account_id)?
            .into_iter()
            .find(|(id, _)| id == v)
            .map(|(_, n)| n),
        None => None,
    };
    let lines: Vec<LineView> = d
        .lines
        .iter()
        .map(|l| LineView {
            id: l.id.clone(),
            sku: skus.get(&l.variant_id).cloned().unwrap_or_default(),
            variant_id: l.variant_id.clone(),
            quantity: f(l.quantity),
            received: f(l.received),
            open: f(l.open()),
            unit_cost: l.unit_cost.map(f),
            cancelled: cancelled.contains_key(&l.id),
        })
        .collect();
    let planning = plans::planning_date(account, today);
    let overdue = head.status == "active"
        && head.expected_at.is_some_and(|e| e < planning)
        && lines.iter().any(|l| l.open > 0.0);
    Ok(OrderView {
        id: head.id.clone(),
        account_id: head.account_id.clone(),
        kind: head.kind.clone(),
        status: head.status.clone(),
        vendor_id: head.vendor_id.clone(),
        vendor_name,
        currency: head.currency.clone(),
        ordered_at: meta.as_ref().and_then(|m| m.ordered_at),
        expected_at: head.expected_at,
        source_warehouse_id: head.source_warehouse_id.clone(),
        destination_warehouse_id: head.destination_warehouse_id.clone(),
        overdue,
        created_here: meta.as_ref().is_some_and(|m| !m.created_by.is_empty()),
        partner_order_id: meta.as_ref().and_then(|m| m.partner_order_id.clone()),
        lines,
        push: PushView {
            state: meta
                .as_ref()
                .map(|m| m.push_state.clone())
                .unwrap_or_else(|| "not_pushed".into()),
            error: meta.as_ref().and_then(|m| m.push_error.clone()),
            pushed_at: meta.as_ref().and_then(|m| m.pushed_at).map(|t| t.and_utc()),
        },
    })
}

/// The child accounts whose orders a list of `account` shows: itself, or a
/// master's children.
pub fn order_accounts(conn: &mut DbConn, account: &Account) -> Result<Vec<Account>, ServiceError> {
    Ok(if account.is_master() {
        Account::list_children(conn, &account.id)?
    } else {
        vec![account.clone()]
    })
}

/// The stock orders of an account (a master: of its children), filtered.
pub fn list(
    conn: &mut DbConn,
    account: &Account,
    params: &ListParams,
    today: Option<NaiveDate>,
) -> Result<Vec<OrderView>, ServiceError> {
    if let Some(s) = &params.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ServiceError::invalid_field(
                "status",
                "must be draft, active, closed or cancelled",
            ));
        }
    }
    let accounts = order_accounts(conn, account)?;
    let by_id: HashMap<String, Account> =
        accounts.iter().map(|a| (a.id.clone(), a.clone())).collect();
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let filter = OrderFilter {
        status: params.status.clone(),
        vendor_id: params.vendor_id.clone(),
        destination_warehouse_id: params.destination_warehouse_id.clone(),
        kind: None,
    };
    let mut out = Vec::new();
    for head in orders::list(conn, &ids, &filter)? {
        if params
            .expected_from
            .is_some_and(|d| head.expected_at.is_none_or(|e| e < d))
            || params
                .expected_to
                .is_some_and(|d| head.expected_at.is_none_or(|e| e > d))
        {
            continue;
        }
        let v = view(conn, &by_id[&head.account_id], &head, today)?;
        if params.overdue == Some(true) && !v.overdue {
            continue;
        }
        out.push(v);
    }
    Ok(out)
}

/// Finds an order among the accounts the caller may see.
fn find(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
) -> Result<(Account, OrderHead), ServiceError> {
    let ids: Vec<String> = visible
        .iter()
        .filter(|a| !a.is_master())
        .map(|a| a.id.clone())
        .collect();
    let head = orders::find(conn, &ids, po_id)?.ok_or_else(|| ServiceError::not_found("order"))?;
    let account = visible
        .iter()
        .find(|a| a.id == head.account_id)
        .cloned()
        .ok_or_else(|| ServiceError::not_found("order"))?;
    Ok((account, head))
}

/// One order.
pub fn get(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    today: Option<NaiveDate>,
) -> Result<OrderView, ServiceError> {
    let (account, head) = find(conn, visible, po_id)?;
    view(conn, &account, &head, today)
}

/// An order's history, oldest first.
pub fn history(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
) -> Result<Vec<HistoryEntry>, ServiceError> {
    let (account, head) = find(conn, visible, po_id)?;
    Ok(orders::history(conn, &account.id, &head.id)?
        .into_iter()
        .map(|h| HistoryEntry {
            at: h.at.and_utc(),
            actor: h.actor,
            action: h.action,
            detail: serde_json::from_str(&h.detail).unwrap_or(Value::Null),
        })
        .collect())
}

/// What a change did, for the history.
struct Change {
    action: &'static str,
    detail: Value,
}

/// Loads an order, lets `change` alter it and its record, and writes both
/// with the history entry in one transaction.
fn mutate(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    actor: &Actor,
    change: impl FnOnce(
        &mut DbConn,
        &Account,
        &mut Draft,
        &mut OrderMeta,
    ) -> Result<Change, ServiceError>,
) -> Result<OrderView, ServiceError> {
    let (account, head) = find(conn, visible, po_id)?;
    crate::db::transaction(conn, |conn| {
        let mut d = load_draft(conn, &head)?;
        let today = plans::planning_date(&account, actor.today);
        let mut meta = orders::meta(conn, &account.id, &head.id)?.unwrap_or_else(|| {
            // An imported order, changed here: not created here.
            let mut m = new_meta(&account.id, &head.id, today, "");
            m.ordered_at = None;
            m
        });
        let c = change(conn, &account, &mut d, &mut meta)?;
        write(conn, &account, &d, Some(head.updated_at))?;
        orders::save_meta(conn, &meta)?;
        if let (Some(pa), Some(po)) = (&meta.partner_account_id, &meta.partner_order_id) {
            sync_partner(conn, &d, pa, po, actor, c.action)?;
        }
        let now = Utc::now().naive_utc();
        orders::add_history(
            conn,
            &account.id,
            &head.id,
            now,
            &actor.email,
            c.action,
            &c.detail,
        )?;
        let head = orders::find(conn, std::slice::from_ref(&account.id), &head.id)?
            .ok_or_else(|| ServiceError::not_found("order"))?;
        view(conn, &account, &head, actor.today)
    })
}

pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Conflict {
        code,
        message: message.into(),
    }
}

/// Draft → active: on order for the plan at once.
pub fn confirm(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    actor: &Actor,
) -> Result<OrderView, ServiceError> {
    mutate(conn, visible, po_id, actor, |_, _, d, _| {
        match d.status {
            StockOrderStatus::Draft => {}
            StockOrderStatus::Cancelled => {
                return Err(conflict(
                    "order_cancelled",
                    "This order is cancelled; it cannot be confirmed.",
                ))
            }
            _ => {
                return Err(conflict(
                    "order_not_draft",
                    "Only a draft order can be confirmed; this one already is.",
                ))
            }
        }
        if d.lines.iter().all(|l| l.quantity.is_zero()) {
            return Err(ServiceError::invalid_field(
                "lines",
                "an order needs at least one line with a quantity",
            ));
        }
        d.status = StockOrderStatus::Active;
        Ok(Change {
            action: "confirmed",
            detail: json!({"status": "active"}),
        })
    })
}

/// Draft or active → cancelled.
pub fn cancel(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    actor: &Actor,
) -> Result<OrderView, ServiceError> {
    mutate(conn, visible, po_id, actor, |_, _, d, _| {
        if !matches!(d.status, StockOrderStatus::Draft | StockOrderStatus::Active) {
            return Err(conflict(
                "order_not_open",
                format!(
                    "This order is {}; it cannot be cancelled.",
                    d.status.as_str()
                ),
            ));
        }
        let before = d.status.as_str();
        d.status = StockOrderStatus::Cancelled;
        Ok(Change {
            action: "cancelled",
            detail: json!({"status": {"from": before, "to": "cancelled"}}),
        })
    })
}

/// Receives all or part of some lines; the order closes when nothing is
/// open. On a `manual` account the received quantity is added to the
/// destination's stock (a synced account's source stays the truth).
pub fn receive(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    body: &Receipt,
    actor: &Actor,
) -> Result<OrderView, ServiceError> {
    mutate(conn, visible, po_id, actor, |conn, account, d, meta| {
        if meta.partner_order_id.is_some() && d.destination.is_none() {
            return Err(conflict(
                "transfer_out",
                format!(
                    "This is the sending half of a transfer; receive it at its destination, order {}.",
                    meta.partner_order_id.as_deref().unwrap_or_default()
                ),
            ));
        }
        if d.status != StockOrderStatus::Active {
            return Err(conflict(
                "order_not_active",
                format!(
                    "Only a confirmed (active) order can be received; this one is {}.",
                    d.status.as_str()
                ),
            ));
        }
        if body.lines.is_empty() {
            return Err(ServiceError::invalid_field("lines", "must not be empty"));
        }
        let mut details = Vec::new();
        let mut got: Vec<(usize, Decimal)> = Vec::new();
        for (i, r) in body.lines.iter().enumerate() {
            let field = |name: &str| format!("lines[{}].{name}", i + 1);
            let pos = id_text(&r.line_id).and_then(|id| d.lines.iter().position(|l| l.id == id));
            let Some(pos) = pos else {
                details.push(Detail::field(
                    field("line_id"),
                    "no line of this order has that id",
                ));
                continue;
            };
            match whole(&r.quantity) {
                Err(m) => details.push(Detail::field(field("quantity"), m)),
                Ok(q) if q.is_zero() => {
                    details.push(Detail::field(field("quantity"), "must be more than 0"))
                }
                Ok(q) => {
                    let already: Decimal =
                        got.iter().filter(|(p, _)| *p == pos).map(|(_, q)| *q).sum();
                    let open = d.lines[pos].open() - already;
                    if q > open {
                        details.push(Detail::field(
                            field("quantity"),
                            format!("is more than the open quantity {}", open.normalize()),
                        ));
                    } else {
                        got.push((pos, q));
                    }
                }
            }
        }
        if !details.is_empty() {
            return Err(ServiceError::invalid(
                "The receipt is invalid; nothing was received.",
                details,
            ));
        }
        for (pos, q) in &got {
            d.lines[*pos].received += *q;
        }
        if d.lines.iter().all(|l| l.open().is_zero()) {
            d.status = StockOrderStatus::Closed;
        }
        let manual = account.connection_kind.as_deref().unwrap_or("manual") == "manual";
        if manual {
            if let Some(w) = &d.destination {
                let mut per_variant: BTreeMap<String, Decimal> = BTreeMap::new();
                for (pos, q) in &got {
                    *per_variant
                        .entry(d.lines[*pos].variant_id.clone())
                        .or_default() += *q;
                }
                add_stock(conn, account, w, per_variant)?;
            }
        }
        Ok(Change {
            action: "received",
            detail: json!({
                "lines": got.iter().map(|(p, q)| json!({"line_id": d.lines[*p].id, "quantity": f(*q)})).collect::<Vec<_>>(),
                "status": d.status.as_str(),
                "stock_added": manual,
            }),
        })
    })
}

/// Adds quantities (negative: takes them away) to a warehouse's stock on a
/// `manual` account, through the one write path.
fn add_stock(
    conn: &mut DbConn,
    account: &Account,
    warehouse: &str,
    per_variant: BTreeMap<String, Decimal>,
) -> Result<(), ServiceError> {
    let now = Utc::now();
    let mut records = Vec::new();
    for (variant, q) in per_variant {
        let (on_hand, allocated) = orders::stock_level(conn, &account.id, &variant, warehouse)?
            .map(|(o, a)| (dec_of(&o), dec_of(&a)))
            .unwrap_or_default();
        records.push(StockLevelRecord {
            variant_id: Arc::from(variant.as_str()),
            warehouse_id: Arc::from(warehouse),
            on_hand: on_hand + q,
            allocated,
            updated_at: Some(now),
            removed: false,
            row: records.len() + 1,
        });
    }
    if records.is_empty() {
        return Ok(());
    }
    crate::db::ingest::apply(conn, account, &Batch::Stock(records), now, tz_of(account))?;
    Ok(())
}

/// Brings the other half of a transfer between children in line with the
/// half just changed: status, expected date, and each line's quantity and
/// received quantity (matched by line id). What the destination received
/// leaves the source's stock on a `manual` account.
fn sync_partner(
    conn: &mut DbConn,
    d: &Draft,
    partner_account: &str,
    partner_order: &str,
    actor: &Actor,
    action: &str,
) -> Result<(), ServiceError> {
    let Some(account) = Account::find_by_id(conn, partner_account)? else {
        return Ok(());
    };
    let Some(head) = orders::find(conn, std::slice::from_ref(&account.id), partner_order)? else {
        return Ok(());
    };
    let mut p = load_draft(conn, &head)?;
    p.status = d.status;
    p.expected_at = d.expected_at;
    let mut left: BTreeMap<String, Decimal> = BTreeMap::new();
    p.lines.retain(|l| d.lines.iter().any(|m| m.id == l.id));
    for l in &mut p.lines {
        if let Some(m) = d.lines.iter().find(|m| m.id == l.id) {
            let delta = m.received - l.received;
            if !delta.is_zero() {
                *left.entry(l.variant_id.clone()).or_default() -= delta;
            }
            l.quantity = m.quantity;
            l.received = m.received;
        }
    }
    write(conn, &account, &p, Some(head.updated_at))?;
    let manual = account.connection_kind.as_deref().unwrap_or("manual") == "manual";
    if manual {
        if let Some(w) = &p.source {
            add_stock(conn, &account, w, left)?;
        }
    }
    let now = Utc::now().naive_utc();
    orders::add_history(
        conn,
        &account.id,
        partner_order,
        now,
        &actor.email,
        action,
        &json!({"via": d.id, "status": d.status.as_str()}),
    )?;
    Ok(())
}

/// Edits an order: while draft its lines, quantities, dates, vendor and
/// destination; once active its dates and the cancelling of open lines.
pub fn edit(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    patch: &OrderPatch,
    actor: &Actor,
) -> Result<OrderView, ServiceError> {
    mutate(conn, visible, po_id, actor, |conn, account, d, meta| {
        let mut changed = serde_json::Map::new();
        match d.status {
            StockOrderStatus::Draft => {
                if patch.cancel_lines.is_some() {
                    return Err(conflict(
                        "order_not_active",
                        "`cancel_lines` applies to a confirmed order; set a draft line's quantity to 0 to remove it.",
                    ));
                }
            }
            StockOrderStatus::Active => {
                for (name, given) in [
                    ("vendor_id", patch.vendor_id.is_some()),
                    (
                        "destination_warehouse_id",
                        patch.destination_warehouse_id.is_some(),
                    ),
                    ("lines", patch.lines.is_some()),
                ] {
                    if given {
                        return Err(conflict(
                            "order_not_draft",
                            format!("Once confirmed, only the dates change and open lines can be cancelled; `{name}` cannot."),
                        ));
                    }
                }
            }
            _ => {
                return Err(conflict(
                    "order_not_open",
                    format!("This order is {}; it cannot be changed.", d.status.as_str()),
                ))
            }
        }
        if let Some(v) = &patch.vendor_id {
            if !orders::live_vendor_names(conn, &account.id)?
                .iter()
                .any(|(id, _)| id == v)
            {
                return Err(ServiceError::not_found("vendor"));
            }
            changed.insert("vendor_id".into(), json!({"from": d.vendor_id, "to": v}));
            d.vendor_id = Some(v.clone());
        }
        if let Some(w) = &patch.destination_warehouse_id {
            if !orders::live_warehouses(conn, &account.id)?
                .iter()
                .any(|(id, _)| id == w)
            {
                return Err(ServiceError::not_found("warehouse"));
            }
            changed.insert(
                "destination_warehouse_id".into(),
                json!({"from": d.destination, "to": w}),
            );
            d.destination = Some(w.clone());
        }
        if let Some(e) = patch.expected_at {
            changed.insert(
                "expected_at".into(),
                json!({"from": d.expected_at, "to": e}),
            );
            d.expected_at = Some(e);
        }
        if let Some(o) = patch.ordered_at {
            changed.insert(
                "ordered_at".into(),
                json!({"from": meta.ordered_at, "to": o}),
            );
            meta.ordered_at = Some(o);
        }
        if let Some(lines) = &patch.lines {
            let log = edit_lines(conn, account, d, lines)?;
            changed.insert("lines".into(), log);
        }
        if let Some(ids) = &patch.cancel_lines {
            let log = cancel_lines(d, meta, ids)?;
            changed.insert("cancel_lines".into(), log);
        }
        Ok(Change {
            action: "edited",
            detail: Value::Object(changed),
        })
    })
}

/// Applies line edits to a draft (all checked first); returns what changed.
fn edit_lines(
    conn: &mut DbConn,
    account: &Account,
    d: &mut Draft,
    lines: &[LinePatch],
) -> Result<Value, ServiceError> {
    let mut details = Vec::new();
    let mut log = Vec::new();
    let mut next = d
        .lines
        .iter()
        .filter_map(|l| l.id.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    for (i, p) in lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{}].{name}", i + 1);
        let quantity = match whole(&p.quantity) {
            Ok(q) => q,
            Err(m) => {
                details.push(Detail::field(field("quantity"), m));
                continue;
            }
        };
        let unit_cost = match &p.unit_cost {
            None | Some(Value::Null) => None,
            Some(v) => match decimal(v) {
                Ok(c) if !c.is_sign_negative() || c.is_zero() => Some(c.normalize()),
                Ok(_) => {
                    details.push(Detail::field(field("unit_cost"), "must be 0 or more"));
                    continue;
                }
                Err(m) => {
                    details.push(Detail::field(field("unit_cost"), m));
                    continue;
                }
            },
        };
        match (&p.id, &p.sku) {
            (Some(id), _) => {
                let id = id_text(id).unwrap_or_default();
                let Some(line) = d.lines.iter_mut().find(|l| l.id == id) else {
                    details.push(Detail::field(
                        field("id"),
                        "no line of this order has that id",
                    ));
                    continue;
                };
                log.push(
                    json!({"id": id, "quantity": {"from": f(line.quantity), "to": f(quantity)}}),
                );
                line.quantity = quantity;
                if unit_cost.is_some() {
                    line.unit_cost = unit_cost;
                }
            }
            (None, Some(_)) if d.kind != StockOrderKind::Purchase => {
                details.push(Detail::field(
                    field("sku"),
                    "lines can be added to a purchase order only",
                ));
            }
            (None, Some(s)) => {
                let key = sku::normalise(s);
                let found = store::live_variants_of(conn, &account.id, &[key], &[])?;
                let Some(v) = found.first() else {
                    details.push(Detail::field(
                        field("sku"),
                        "no variant of this account has that SKU",
                    ));
                    continue;
                };
                next += 1;
                log.push(json!({"id": next.to_string(), "sku": v.sku, "quantity": {"from": null, "to": f(quantity)}}));
                d.lines.push(DraftLine {
                    id: next.to_string(),
                    variant_id: v.id.clone(),
                    quantity,
                    received: Decimal::ZERO,
                    unit_cost: unit_cost.or_else(|| v.cost_price.as_deref().map(dec_of)),
                });
            }
            (None, None) => details.push(Detail::field(
                field("id"),
                "give the id of a line to change or the sku of a line to add",
            )),
        }
    }
    if !details.is_empty() {
        return Err(ServiceError::invalid(
            "The lines are invalid; nothing was changed.",
            details,
        ));
    }
    d.lines.retain(|l| !l.quantity.is_zero());
    if d.lines.is_empty() {
        return Err(ServiceError::invalid_field(
            "lines",
            "an order needs at least one line",
        ));
    }
    Ok(Value::Array(log))
}

/// Cancels the open quantity of some lines of an active order: each line's
/// quantity drops to what was received (kept in the order's record); the
/// order closes (or is cancelled, if nothing was received) when nothing is
/// open any more.
fn cancel_lines(d: &mut Draft, meta: &mut OrderMeta, ids: &[Value]) -> Result<Value, ServiceError> {
    let mut details = Vec::new();
    let mut positions = Vec::new();
    for (i, v) in ids.iter().enumerate() {
        match id_text(v).and_then(|id| d.lines.iter().position(|l| l.id == id)) {
            Some(p) => positions.push(p),
            None => details.push(Detail::field(
                format!("cancel_lines[{}]", i + 1),
                "no line of this order has that id",
            )),
        }
    }
    if !details.is_empty() {
        return Err(ServiceError::invalid(
            "The lines are invalid; nothing was changed.",
            details,
        ));
    }
    let mut cancelled: BTreeMap<String, Value> =
        serde_json::from_str(&meta.cancelled_lines).unwrap_or_default();
    let mut log = Vec::new();
    for p in positions {
        let l = &mut d.lines[p];
        if l.open().is_zero() {
            continue;
        }
        cancelled.insert(l.id.clone(), json!(f(l.quantity)));
        log.push(json!({"id": l.id, "quantity": {"from": f(l.quantity), "to": f(l.received)}}));
        l.quantity = l.received;
    }
    meta.cancelled_lines = serde_json::to_string(&cancelled).unwrap_or_else(|_| "{}".into());
    if d.lines.iter().all(|l| l.open().is_zero()) {
        d.status = if d.lines.iter().any(|l| !l.received.is_zero()) {
            StockOrderStatus::Closed
        } else {
            StockOrderStatus::Cancelled
        };
    }
    Ok(Value::Array(log))
}

/// The plan rows a request selects (in key order) and the merchant's
/// quantities by row key; every problem is reported at once.
fn select_rows(
    conn: &mut DbConn,
    account: &Account,
    req: &FromPlan,
) -> Result<(Vec<PlanLineRow>, HashMap<String, Decimal>), ServiceError> {
    let mut rows = store::all_lines(conn, &account.id)?;
    rows.sort_by(|a, b| a.sku_key.cmp(&b.sku_key));
    let known: HashMap<String, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.sku_key.clone(), i))
        .collect();
    let mut details = Vec::new();
    if let Some(u) = &req.urgency {
        if u != "now" && u != "soon" {
            details.push(Detail::field("urgency", "must be now or soon"));
        }
    }
    let mut merchant = HashMap::new();
    for (i, l) in req.lines.iter().flatten().enumerate() {
        let key = sku::normalise(&l.sku);
        if !known.contains_key(&key) {
            details.push(Detail::field(
                format!("lines[{}].sku", i + 1),
                "no row of this account's plan has that SKU",
            ));
        }
        match whole(&l.quantity) {
            Ok(q) => {
                merchant.insert(key, q);
            }
            Err(m) => details.push(Detail::field(format!("lines[{}].quantity", i + 1), m)),
        }
    }
    let mut chosen: Vec<usize> = Vec::new();
    if let Some(skus) = &req.skus {
        for (i, s) in skus.iter().enumerate() {
            match known.get(&sku::normalise(s)) {
                Some(p) => chosen.push(*p),
                None => details.push(Detail::field(
                    format!("skus[{}]", i + 1),
                    "no row of this account's plan has that SKU",
                )),
            }
        }
    } else if req.lines.is_none() || req.urgency.is_some() {
        chosen.extend(
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.order_quantity > 0.0)
                .filter(|(_, r)| req.urgency.as_ref().is_none_or(|u| &r.urgency == u))
                .map(|(i, _)| i),
        );
    }
    if !details.is_empty() {
        return Err(ServiceError::invalid(
            "The request is invalid; no order was created.",
            details,
        ));
    }
    chosen.extend(merchant.keys().filter_map(|k| known.get(k)).copied());
    chosen.sort_unstable();
    chosen.dedup();
    let picked = chosen.into_iter().map(|i| rows[i].clone()).collect();
    Ok((picked, merchant))
}

/// One child's part of a plan row: how much, and whether it still needs
/// rounding to the child's pack size (a master's figure given to one child).
struct Share {
    child: usize,
    key: String,
    quantity: Decimal,
    round: bool,
    recommended: f64,
}

pub(crate) fn units(x: f64) -> Decimal {
    Decimal::from_f64_retain(x.max(0.0).ceil()).unwrap_or_default()
}

/// Splits `total` over `weights` in proportion (largest remainders get the
/// leftover units); all to the first when the weights are all zero.
fn split(total: Decimal, weights: &[f64]) -> Vec<Decimal> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() {
        return vec![];
    }
    if sum <= 0.0 {
        let mut out = vec![Decimal::ZERO; weights.len()];
        out[0] = total;
        return out;
    }
    let t = f(total);
    let raw: Vec<f64> = weights.iter().map(|w| t * w / sum).collect();
    let mut out: Vec<Decimal> = raw.iter().map(|r| units(r.floor())).collect();
    let mut left = total - out.iter().copied().sum::<Decimal>();
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|a, b| {
        (raw[*b] - raw[*b].floor())
            .total_cmp(&(raw[*a] - raw[*a].floor()))
            .then(a.cmp(b))
    });
    for i in order.into_iter().cycle() {
        if left <= Decimal::ZERO {
            break;
        }
        out[i] += Decimal::ONE;
        left -= Decimal::ONE;
    }
    out
}

/// Each selected row's quantity, per child that receives it.
fn shares(
    conn: &mut DbConn,
    account: &Account,
    children: &[Account],
    only: Option<usize>,
    rows: &[PlanLineRow],
    merchant: &HashMap<String, Decimal>,
) -> Result<Vec<Share>, ServiceError> {
    let mut out = Vec::new();
    if !account.is_master() {
        for r in rows {
            let quantity = merchant
                .get(&r.sku_key)
                .copied()
                .unwrap_or_else(|| units(r.order_quantity));
            out.push(Share {
                child: 0,
                key: r.sku_key.clone(),
                quantity,
                round: false,
                recommended: r.order_quantity,
            });
        }
        return Ok(out);
    }
    let figures = store::line_accounts(conn, &account.id, rows)?;
    for (r, fig) in rows.iter().zip(figures) {
        let given = merchant.get(&r.sku_key).copied();
        if let Some(c) = only {
            out.push(Share {
                child: c,
                key: r.sku_key.clone(),
                quantity: given.unwrap_or_else(|| units(r.order_quantity)),
                round: given.is_none(),
                recommended: r.order_quantity,
            });
            continue;
        }
        let members: Vec<(usize, f64)> = crate::services::order_plan::child_figures(&fig)
            .iter()
            .filter_map(|cf| {
                let c = children.iter().position(|a| a.id == cf.account_id)?;
                Some((c, cf.order_quantity.max(0.0)))
            })
            .collect();
        let quantities: Vec<Decimal> = match given {
            Some(total) => split(total, &members.iter().map(|(_, q)| *q).collect::<Vec<_>>()),
            None => members.iter().map(|(_, q)| units(*q)).collect(),
        };
        for ((c, own), quantity) in members.iter().zip(quantities) {
            out.push(Share {
                child: *c,
                key: r.sku_key.clone(),
                quantity,
                round: false,
                recommended: *own,
            });
        }
    }
    Ok(out)
}

/// The variant of child `child` that a row key names: a linked variant
/// (a master's row), else the first with that normalised SKU, else the
/// `key#id` form of a second variant with one key.
pub(crate) fn variant_for(
    conn: &mut DbConn,
    child: &Account,
    links: &Links,
    key: &str,
) -> Result<Option<VariantRow>, ServiceError> {
    let linked: Vec<String> = links
        .linked_to(&child.id, key)
        .map(str::to_string)
        .collect();
    let suffix: Vec<String> = key
        .rsplit_once('#')
        .map(|(_, id)| id.to_string())
        .into_iter()
        .collect();
    let mut ids = linked.clone();
    ids.extend(suffix.clone());
    let found = store::live_variants_of(conn, &child.id, &[key.to_string()], &ids)?;
    let pick = found
        .iter()
        .find(|v| linked.contains(&v.id))
        .or_else(|| found.iter().find(|v| v.sku_norm == key))
        .or_else(|| found.iter().find(|v| suffix.contains(&v.id)));
    Ok(pick.cloned())
}

/// One line to order, with what its vendor terms say.
struct Want {
    child: usize,
    sku: String,
    variant_id: String,
    vendor_id: Option<String>,
    warehouse: String,
    currency: String,
    lead_time: i64,
    quantity: Decimal,
    unit_cost: Option<Decimal>,
    recommended: f64,
    /// Made here from its components (an assembly order), not bought.
    assembly: bool,
}

/// Drafts purchase orders from the account's stored plan: one per vendor
/// and destination (account and warehouse; an assembly's rows make an
/// assembly order instead: components out, assemblies in), quantities from the plan (a
/// master: each child its own share, or the whole row to one child) or
/// the merchant's, unit cost and currency from the vendor terms, expected
/// on the order date plus the lead time.
pub fn from_plan(
    conn: &mut DbConn,
    account: &Account,
    req: &FromPlan,
    actor: &Actor,
) -> Result<Vec<OrderView>, ServiceError> {
    let children = order_accounts(conn, account)?;
    let only = match &req.destination_account_id {
        None => None,
        Some(id) => Some(
            children
                .iter()
                .position(|c| &c.id == id)
                .ok_or_else(|| ServiceError::not_found("account"))?,
        ),
    };
    let (rows, merchant) = select_rows(conn, account, req)?;
    let shares = shares(conn, account, &children, only, &rows, &merchant)?;
    let links = if account.is_master() {
        Links::new(&store::links(conn, &account.id)?)
    } else {
        Links::default()
    };
    let mut wants = Vec::new();
    let mut warehouses: HashMap<usize, String> = HashMap::new();
    for s in shares.into_iter().filter(|s| !s.quantity.is_zero()) {
        let child = &children[s.child];
        let Some(v) = variant_for(conn, child, &links, &s.key)? else {
            continue;
        };
        let warehouse = match warehouses.get(&s.child) {
            Some(w) => w.clone(),
            None => {
                let w = destination(conn, child, req.destination_warehouse_id.as_deref())?;
                warehouses.insert(s.child, w.clone());
                w
            }
        };
        let today = plans::planning_date(child, actor.today);
        let data = crate::planning::snapshot::with_catalogue(conn, child, today, vec![v.clone()])?;
        let terms = data.terms[0].clone();
        let vendor_currency = match &v.vendor_id {
            Some(id) => store::live_vendors(conn, &child.id)?
                .into_iter()
                .find(|x| &x.id == id)
                .and_then(|x| x.currency),
            None => None,
        };
        let quantity = if s.round {
            units(crate::replenish::round_up(f(s.quantity), terms.pack_size))
        } else {
            s.quantity
        };
        wants.push(Want {
            child: s.child,
            sku: v.sku.clone(),
            variant_id: v.id.clone(),
            vendor_id: v.vendor_id.clone().filter(|_| !v.assembly),
            assembly: v.assembly,
            warehouse,
            currency: vendor_currency
                .or_else(|| v.currency.clone())
                .unwrap_or_else(|| child.currency.clone()),
            lead_time: terms
                .lead_time_days
                .map(|d| d.ceil() as i64)
                .unwrap_or(i64::from(child.lead_time_days)),
            quantity,
            unit_cost: terms
                .cost
                .and_then(Decimal::from_f64_retain)
                .map(|c| c.round_dp(6).normalize()),
            recommended: s.recommended,
        });
    }
    crate::db::transaction(conn, |conn| {
        let mut out = Vec::new();
        for group in group_wants(wants) {
            let child = &children[group[0].child];
            let today = plans::planning_date(child, actor.today);
            let lead = group.iter().map(|w| w.lead_time).max().unwrap_or(0);
            let d = Draft {
                id: crate::crypto::new_id("po"),
                // An assembly is made in its warehouse: its components
                // leave that warehouse, the assemblies arrive in it.
                kind: if group[0].assembly {
                    StockOrderKind::Assembly
                } else {
                    StockOrderKind::Purchase
                },
                status: StockOrderStatus::Draft,
                vendor_id: group[0].vendor_id.clone(),
                source: group[0].assembly.then(|| group[0].warehouse.clone()),
                destination: Some(group[0].warehouse.clone()),
                expected_at: Some(today + Duration::days(lead)),
                currency: group[0].currency.clone(),
                lines: group
                    .iter()
                    .enumerate()
                    .map(|(i, w)| DraftLine {
                        id: (i + 1).to_string(),
                        variant_id: w.variant_id.clone(),
                        quantity: w.quantity,
                        received: Decimal::ZERO,
                        unit_cost: w.unit_cost,
                    })
                    .collect(),
            };
            write(conn, child, &d, None)?;
            orders::save_meta(conn, &new_meta(&child.id, &d.id, today, &actor.email))?;
            let detail = json!({
                "from": "plan",
                "plan_account_id": account.id,
                "lines": group.iter().map(|w| json!({"sku": w.sku, "quantity": f(w.quantity), "recommended": w.recommended})).collect::<Vec<_>>(),
            });
            let now = Utc::now().naive_utc();
            orders::add_history(
                conn,
                &child.id,
                &d.id,
                now,
                &actor.email,
                "created",
                &detail,
            )?;
            let head = orders::find(conn, std::slice::from_ref(&child.id), &d.id)?
                .ok_or_else(|| ServiceError::not_found("order"))?;
            out.push(view(conn, child, &head, actor.today)?);
        }
        Ok(out)
    })
}

/// The lines to order grouped by child, vendor and warehouse (in the order
/// first met).
fn group_wants(wants: Vec<Want>) -> Vec<Vec<Want>> {
    let mut groups: Vec<Vec<Want>> = Vec::new();
    for w in wants {
        match groups.iter_mut().find(|g| {
            g[0].child == w.child
                && g[0].vendor_id == w.vendor_id
                && g[0].warehouse == w.warehouse
                && g[0].assembly == w.assembly
        }) {
            Some(g) => g.push(w),
            None => groups.push(vec![w]),
        }
    }
    groups
}

/// The destination warehouse in a child: the one asked for (404 if the
/// child has no such warehouse), else its first.
pub(crate) fn destination(
    conn: &mut DbConn,
    child: &Account,
    asked: Option<&str>,
) -> Result<String, ServiceError> {
    let live = orders::live_warehouses(conn, &child.id)?;
    match asked {
        Some(w) => live
            .into_iter()
            .find(|(id, _)| id == w)
            .map(|(id, _)| id)
            .ok_or_else(|| ServiceError::not_found("warehouse")),
        None => live.into_iter().next().map(|(id, _)| id).ok_or_else(|| {
            ServiceError::invalid_field(
                "destination_warehouse_id",
                format!(
                    "the account {} has no warehouse to receive the order",
                    child.name
                ),
            )
        }),
    }
}

/// Whether an account's connection can take a pushed order: `Some(true)`
/// for `tributary`, `Some(false)` for a shop without purchase orders
/// (Shopify, WooCommerce), `None` without a connection (`manual`).
pub fn push_support(account: &Account) -> Option<bool> {
    match account.connection_kind.as_deref() {
        Some("tributary") => Some(true),
        Some("shopify") | Some("woocommerce") => Some(false),
        _ => None,
    }
}

/// The order as an import record of the source's open API.
fn push_record(o: &OrderView) -> Value {
    let mut head = serde_json::Map::new();
    head.insert("id".into(), json!(o.id));
    head.insert("kind".into(), json!(o.kind));
    head.insert("status".into(), json!(o.status));
    for (k, v) in [
        ("vendor_id", &o.vendor_id),
        ("source_warehouse_id", &o.source_warehouse_id),
        ("destination_warehouse_id", &o.destination_warehouse_id),
    ] {
        if let Some(v) = v {
            head.insert(k.into(), json!(v));
        }
    }
    if let Some(e) = o.expected_at {
        head.insert("expected_at".into(), json!(e));
    }
    head.insert("currency".into(), json!(o.currency));
    let lines: Vec<Value> = o
        .lines
        .iter()
        .filter(|l| l.quantity > 0.0)
        .map(|l| {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), json!(l.id));
            m.insert("variant_id".into(), json!(l.variant_id));
            m.insert("quantity".into(), json!(l.quantity));
            if l.received > 0.0 {
                m.insert("received_quantity".into(), json!(l.received));
            }
            if let Some(c) = l.unit_cost {
                m.insert("unit_cost".into(), json!(c));
            }
            Value::Object(m)
        })
        .collect();
    head.insert("lines".into(), Value::Array(lines));
    Value::Object(head)
}

/// Records a push's outcome on the order (its state, error and time) and
/// in its history; the order itself is unchanged.
fn record_push(
    conn: &mut DbConn,
    visible: &[Account],
    po_id: &str,
    outcome: Result<&'static str, String>,
    actor: &Actor,
) -> Result<OrderView, ServiceError> {
    let (account, head) = find(conn, visible, po_id)?;
    crate::db::transaction(conn, |conn| {
        let today = plans::planning_date(&account, actor.today);
        let mut meta = orders::meta(conn, &account.id, &head.id)?.unwrap_or_else(|| {
            // An imported order, changed here: not created here.
            let mut m = new_meta(&account.id, &head.id, today, "");
            m.ordered_at = None;
            m
        });
        let now = Utc::now().naive_utc();
        let (action, detail) = match &outcome {
            Ok(state) => {
                meta.push_state = state.to_string();
                meta.push_error = None;
                if *state == "pushed" {
                    meta.pushed_at = Some(now);
                }
                (
                    if *state == "pushed" {
                        "pushed"
                    } else {
                        "push_unsupported"
                    },
                    json!({"state": state}),
                )
            }
            Err(e) => {
                meta.push_state = "failed".into();
                meta.push_error = Some(e.clone());
                ("push_failed", json!({"state": "failed", "error": e}))
            }
        };
        orders::save_meta(conn, &meta)?;
        orders::add_history(
            conn,
            &account.id,
            &head.id,
            now,
            &actor.email,
            action,
            &detail,
        )?;
        view(conn, &account, &head, actor.today)
    })
}

/// Writes a confirmed order to its account's connection: a `tributary`
/// connection takes it as a stock order through the source's open API
/// (idempotent by the order's id: pushed twice, it exists once there, and
/// the next sync brings it back as the same order); Shopify and WooCommerce
/// have no purchase orders (state `unsupported`). A failed push is kept on
/// the order with its error and can be pushed again.
pub async fn push(
    db: &crate::db::Db,
    ctx: &crate::services::sync::SyncContext,
    visible: Vec<Account>,
    po_id: String,
    actor: Actor,
) -> Result<OrderView, ServiceError> {
    let (v, id, today) = (visible.clone(), po_id.clone(), actor.today);
    let (account, order) = db
        .run(move |conn| {
            let (a, h) = find(conn, &v, &id)?;
            let o = view(conn, &a, &h, today)?;
            Ok::<_, ServiceError>((a, o))
        })
        .await?;
    if !matches!(order.status.as_str(), "active" | "closed") {
        return Err(conflict(
            "order_not_confirmed",
            format!(
                "Only a confirmed order is pushed; this one is {}.",
                order.status
            ),
        ));
    }
    let outcome = match push_support(&account) {
        None => return Err(conflict(
            "no_connection",
            "This account has no connection to push to; send the vendor the CSV or the print view.",
        )),
        Some(false) => Ok("unsupported"),
        Some(true) => {
            let connection = crate::services::accounts::stored_connection(&account, &ctx.secrets)
                .ok_or_else(|| ServiceError::internal("no stored connection"))?;
            let config = ctx.config.clone();
            let record = push_record(&order);
            tokio::task::spawn_blocking(move || {
                crate::connectors::tributary_writer(&connection, &config)?.push_stock_order(&record)
            })
            .await
            .map_err(ServiceError::internal)?
            .map(|()| "pushed")
            .map_err(|e| e.message)
        }
    };
    db.run(move |conn| record_push(conn, &visible, &po_id, outcome, &actor))
        .await
}
