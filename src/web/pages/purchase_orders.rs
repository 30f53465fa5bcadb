//! Purchase-order pages: the list (`/accounts/{id}/purchase-orders`,
//! filtered by status, vendor, destination and expected date, overdue
//! orders marked), the review step that drafts orders from the order plan
//! (`/accounts/{id}/purchase-orders/new`: pick rows or all urgent ones,
//! edit quantities), and one order (`/purchase-orders/{po_id}`: lines,
//! receipts, push state, history, editing while draft, confirm, receive,
//! cancel, CSV and a print view). Forms post without script; every change
//! goes through `services::purchase_orders`, as the API's do.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::db::models::planning::PlanLineRow;
use crate::db::models::Account;
use crate::services::order_plan;
use crate::services::purchase_orders::{
    self as po, Actor, FromPlan, HistoryEntry, LinePatch, ListParams, OrderPatch, OrderView,
    QuantityLine, Receipt, ReceiptLine,
};
use crate::services::ServiceError;
use crate::state::AppState;
use crate::web::api::purchase_orders::visible_accounts;
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::plans::qty;
use crate::web::pages::{check_csrf, redirect, render, shell, urlencode, Shell};

/// The list's filters as the form sends them (blank: no filter).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    /// Status.
    pub status: Option<String>,
    /// Vendor id.
    pub vendor_id: Option<String>,
    /// Destination warehouse id.
    pub destination: Option<String>,
    /// Expected on or after.
    pub expected_from: Option<String>,
    /// Expected on or before.
    pub expected_to: Option<String>,
    /// `1`: overdue only.
    pub overdue: Option<String>,
}

fn clean(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.trim().is_empty())
}

/// One order in the list.
pub struct OrderRow {
    /// The order.
    pub order: OrderView,
    /// The child's name.
    pub account_name: String,
    /// Open units, formatted.
    pub open: String,
}

/// The purchase-orders list.
#[derive(Template)]
#[template(path = "purchase_orders.html")]
pub struct ListPage {
    /// Layout.
    pub shell: Shell,
    /// Account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// The orders.
    pub rows: Vec<OrderRow>,
    /// Filters.
    pub query: ListQuery,
    /// Vendors met (id).
    pub vendors: Vec<String>,
    /// Destinations met (warehouse id).
    pub destinations: Vec<String>,
}

impl ListPage {
    /// Whether `v` is the value of filter `field`.
    pub fn selected(&self, field: &str, v: &str) -> bool {
        let q = &self.query;
        let cur = match field {
            "status" => &q.status,
            "vendor_id" => &q.vendor_id,
            _ => &q.destination,
        };
        cur.as_deref() == Some(v)
    }

    /// A text filter's value.
    pub fn text(&self, field: &str) -> &str {
        match field {
            "expected_from" => self.query.expected_from.as_deref(),
            _ => self.query.expected_to.as_deref(),
        }
        .unwrap_or_default()
    }

    /// Whether "overdue only" is ticked.
    pub fn overdue_only(&self) -> bool {
        self.query.overdue.as_deref() == Some("1")
    }
}

async fn visible(state: &AppState, caller: &PageCaller, id: String) -> Result<Account, AppError> {
    crate::web::api::visible_account(state, &caller.0, id).await
}

fn actor(state: &AppState, caller: &PageCaller) -> Actor {
    Actor {
        email: caller.0.email.clone(),
        today: state.config.today,
    }
}

/// The purchase orders of an account (a master: its children's).
pub async fn list(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let account = visible(&state, &caller, path.into_inner()).await?;
    let (mut shell, all) = shell(
        &state,
        &req,
        &caller,
        Some(account.id.clone()),
        "Purchase orders",
    )
    .await?;
    shell.title = format!("Purchase orders · {}", account.name);
    let q = query.into_inner();
    let date = |v: &Option<String>| clean(v).and_then(|s| s.parse().ok());
    let params = ListParams {
        status: clean(&q.status)
            .filter(|s| ["draft", "active", "closed", "cancelled"].contains(&s.as_str())),
        vendor_id: None,
        destination_warehouse_id: None,
        overdue: (q.overdue.as_deref() == Some("1")).then_some(true),
        expected_from: date(&q.expected_from),
        expected_to: date(&q.expected_to),
    };
    let today = state.config.today;
    let acc = account.clone();
    let orders = state
        .db
        .run(move |conn| po::list(conn, &acc, &params, today))
        .await?;
    let mut vendors: Vec<String> = orders.iter().filter_map(|o| o.vendor_id.clone()).collect();
    vendors.sort();
    vendors.dedup();
    let mut destinations: Vec<String> = orders
        .iter()
        .filter_map(|o| o.destination_warehouse_id.clone())
        .collect();
    destinations.sort();
    destinations.dedup();
    let (vendor, dest) = (clean(&q.vendor_id), clean(&q.destination));
    let rows = orders
        .into_iter()
        .filter(|o| vendor.is_none() || o.vendor_id == vendor)
        .filter(|o| dest.is_none() || o.destination_warehouse_id == dest)
        .map(|o| OrderRow {
            account_name: all
                .iter()
                .find(|a| a.id == o.account_id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            open: qty(o.open_total()),
            order: o,
        })
        .collect();
    render(&ListPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        rows,
        query: q,
        vendors,
        destinations,
    })
}

/// The review step's query.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewQuery {
    /// `urgent`: tick the rows to order now (default: every row with something to order).
    pub select: Option<String>,
    /// An error from the last submission.
    pub error: Option<String>,
}

/// One row of the review.
pub struct ReviewRow {
    /// SKU.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Vendor name.
    pub vendor: String,
    /// Urgency.
    pub urgency: String,
    /// The recommended quantity.
    pub recommended: String,
    /// Ticked.
    pub picked: bool,
}

/// The review step before drafting orders from the plan.
#[derive(Template)]
#[template(path = "purchase_orders_new.html")]
pub struct ReviewPage {
    /// Layout.
    pub shell: Shell,
    /// Account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Whether the account is a master.
    pub is_master: bool,
    /// Children (id, name) a master can send everything to.
    pub children: Vec<(String, String)>,
    /// Rows with something to order.
    pub rows: Vec<ReviewRow>,
    /// An error from the last submission.
    pub error: Option<String>,
}

/// The review step: the plan's rows with something to order, ticked and
/// with their quantities editable.
pub async fn review(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ReviewQuery>,
) -> Result<HttpResponse, AppError> {
    let account = visible(&state, &caller, path.into_inner()).await?;
    let (mut shell, all) = shell(
        &state,
        &req,
        &caller,
        Some(account.id.clone()),
        "Create purchase orders",
    )
    .await?;
    shell.title = format!("Create purchase orders · {}", account.name);
    let rows = to_order(&state, &account).await?;
    let urgent = query.select.as_deref() == Some("urgent");
    render(&ReviewPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        is_master: account.is_master(),
        children: all
            .iter()
            .filter(|a| a.master_id.as_deref() == Some(account.id.as_str()))
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect(),
        rows: rows
            .iter()
            .map(|r| ReviewRow {
                sku: r.sku.clone(),
                title: r.title.clone(),
                vendor: r.vendor.clone(),
                urgency: r.urgency.clone(),
                recommended: qty(r.order_quantity),
                picked: !urgent || r.urgency == "now",
            })
            .collect(),
        error: query.into_inner().error,
    })
}

/// The plan's rows with something to order, most urgent first.
async fn to_order(state: &AppState, account: &Account) -> Result<Vec<PlanLineRow>, AppError> {
    let req = order_plan::PlanParams::default().lenient().all();
    let read = order_plan::read_page(
        &state.db,
        &state.jobs,
        account,
        state.config.today,
        req,
        order_plan::Extras::Rows,
    )
    .await?;
    Ok(read
        .rows
        .into_iter()
        .filter(|r| r.order_quantity > 0.0)
        .collect())
}

/// A submitted form as its pairs (row fields are numbered: `pick_3`).
type Pairs = Vec<(String, String)>;

fn value<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Drafts the orders the review asks for and shows them.
pub async fn create(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let pairs = form.into_inner();
    check_csrf(
        &state,
        &req,
        value(&pairs, "csrf_token").unwrap_or_default(),
    )?;
    caller.0.require_write()?;
    let account = visible(&state, &caller, path.into_inner()).await?;
    let mut skus = Vec::new();
    let mut lines = Vec::new();
    for (k, _) in pairs.iter().filter(|(k, _)| k.starts_with("pick_")) {
        let i = &k["pick_".len()..];
        let Some(sku) = value(&pairs, &format!("sku_{i}")) else {
            continue;
        };
        skus.push(sku.to_string());
        let given = value(&pairs, &format!("qty_{i}"))
            .unwrap_or_default()
            .trim();
        if given != value(&pairs, &format!("rec_{i}")).unwrap_or_default() {
            lines.push(QuantityLine {
                sku: sku.to_string(),
                quantity: serde_json::Value::String(given.to_string()),
            });
        }
    }
    let back = format!("/accounts/{}/purchase-orders", urlencode(&account.id));
    if skus.is_empty() {
        return Ok(redirect(&format!(
            "{back}/new?error={}",
            urlencode("Tick at least one row.")
        )));
    }
    let body = FromPlan {
        skus: Some(skus),
        urgency: None,
        lines: (!lines.is_empty()).then_some(lines),
        destination_warehouse_id: None,
        destination_account_id: value(&pairs, "destination_account_id")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    };
    let act = actor(&state, &caller);
    let acc = account.clone();
    let created = state
        .db
        .run(move |conn| po::from_plan(conn, &acc, &body, &act))
        .await;
    state.jobs.wake();
    match created {
        Ok(orders) if orders.len() == 1 => Ok(redirect(&format!(
            "/purchase-orders/{}",
            urlencode(&orders[0].id)
        ))),
        Ok(_) => Ok(redirect(&format!("{back}?status=draft"))),
        Err(e) => Ok(redirect(&format!(
            "{back}/new?error={}",
            urlencode(&message(&e))
        ))),
    }
}

/// A service error as one sentence with its details (for a page).
fn message(e: &ServiceError) -> String {
    match e {
        ServiceError::Invalid {
            message, details, ..
        } => {
            let mut m = message.clone();
            for d in details {
                m.push_str(&format!(" {}: {}.", d.field, d.message));
            }
            m
        }
        other => other.public_message(),
    }
}

/// One order's page.
#[derive(Template)]
#[template(path = "purchase_order.html")]
pub struct OrderPage {
    /// Layout.
    pub shell: Shell,
    /// The order.
    pub order: OrderView,
    /// The child's name.
    pub account_name: String,
    /// The account's connection kind.
    pub connection: String,
    /// Receipts: (when, who, line id, quantity).
    pub receipts: Vec<(String, String, String, String)>,
    /// History: (when, who, action, detail).
    pub history: Vec<(String, String, String, String)>,
    /// An error from the last form.
    pub error: Option<String>,
}

impl OrderPage {
    /// Formats a quantity.
    pub fn q(&self, x: &f64) -> String {
        qty(*x)
    }

    /// Whether the account's source has no purchase orders to push to.
    pub fn unsupported(&self) -> bool {
        matches!(self.connection.as_str(), "shopify" | "woocommerce")
    }
}

/// The query of an order page.
#[derive(Debug, Default, Deserialize)]
pub struct OrderQuery {
    /// An error from the last form.
    pub error: Option<String>,
}

async fn load(
    state: &AppState,
    caller: &PageCaller,
    id: String,
) -> Result<(OrderView, Vec<HistoryEntry>, Vec<Account>), AppError> {
    let visible = visible_accounts(state, &caller.0).await?;
    let today = state.config.today;
    let v = visible.clone();
    let (order, history) = state
        .db
        .run(move |conn| {
            let o = po::get(conn, &v, &id, today)?;
            let h = po::history(conn, &v, &id)?;
            Ok::<_, ServiceError>((o, h))
        })
        .await?;
    Ok((order, history, visible))
}

/// One order: lines, receipts, push state, history, and its forms.
pub async fn show(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<OrderQuery>,
) -> Result<HttpResponse, AppError> {
    let (order, history, visible) = load(&state, &caller, path.into_inner()).await?;
    let account = visible.iter().find(|a| a.id == order.account_id).cloned();
    let (mut shell, _) = shell(
        &state,
        &req,
        &caller,
        account
            .as_ref()
            .and_then(|a| a.master_id.clone())
            .or(Some(order.account_id.clone())),
        "Purchase order",
    )
    .await?;
    shell.title = format!("Purchase order {}", order.id);
    let at = |e: &HistoryEntry| e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut receipts = Vec::new();
    for e in history.iter().filter(|e| e.action == "received") {
        for l in e.detail["lines"].as_array().into_iter().flatten() {
            receipts.push((
                at(e),
                e.actor.clone(),
                l["line_id"].as_str().unwrap_or_default().to_string(),
                l["quantity"].as_f64().map(qty).unwrap_or_default(),
            ));
        }
    }
    render(&OrderPage {
        shell,
        account_name: account.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
        connection: account
            .and_then(|a| a.connection_kind)
            .unwrap_or_else(|| "manual".into()),
        receipts,
        history: history
            .iter()
            .map(|e| {
                (
                    at(e),
                    e.actor.clone(),
                    e.action.clone(),
                    e.detail.to_string(),
                )
            })
            .collect(),
        order,
        error: query.into_inner().error,
    })
}

/// The printable order.
#[derive(Template)]
#[template(path = "purchase_order_print.html")]
pub struct PrintPage {
    /// The order.
    pub order: OrderView,
    /// The child's name.
    pub account_name: String,
}

impl PrintPage {
    /// Formats a quantity.
    pub fn q(&self, x: &f64) -> String {
        qty(*x)
    }
}

/// A print view of one order (no navigation).
pub async fn print(
    state: web::Data<AppState>,
    caller: PageCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (order, _, visible) = load(&state, &caller, path.into_inner()).await?;
    let account_name = visible
        .iter()
        .find(|a| a.id == order.account_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    render(&PrintPage {
        order,
        account_name,
    })
}

/// One order's lines as CSV.
pub async fn export(
    state: web::Data<AppState>,
    caller: PageCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (order, _, _) = load(&state, &caller, path.into_inner()).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "order_id",
        "status",
        "vendor_id",
        "currency",
        "expected_at",
        "line_id",
        "sku",
        "quantity",
        "received",
        "open",
        "unit_cost",
    ])
    .map_err(AppError::internal)?;
    for l in &order.lines {
        w.write_record([
            order.id.clone(),
            order.status.clone(),
            order.vendor_id.clone().unwrap_or_default(),
            order.currency.clone(),
            order.expected_at.map(|d| d.to_string()).unwrap_or_default(),
            l.id.clone(),
            l.sku.clone(),
            qty(l.quantity),
            qty(l.received),
            qty(l.open),
            l.unit_cost.map(|c| c.to_string()).unwrap_or_default(),
        ])
        .map_err(AppError::internal)?;
    }
    let body = w.into_inner().map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"purchase-order-{}.csv\"",
                order.id.replace('"', "")
            ),
        ))
        .body(body))
}

/// A form posted on an order's page: `action` is `edit`, `confirm`,
/// `receive` or `cancel`; lines are numbered (`qty_<line id>`).
pub async fn act(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let pairs = form.into_inner();
    check_csrf(
        &state,
        &req,
        value(&pairs, "csrf_token").unwrap_or_default(),
    )?;
    caller.0.require_write()?;
    let visible = visible_accounts(&state, &caller.0).await?;
    let act = actor(&state, &caller);
    let per_line = |prefix: &str| -> Vec<(String, String)> {
        pairs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.trim().to_string())))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    };
    let date = |name: &str| value(&pairs, name).and_then(|s| s.parse().ok());
    let edit = OrderPatch {
        expected_at: date("expected_at"),
        ordered_at: date("ordered_at"),
        lines: Some(
            per_line("qty_")
                .into_iter()
                .map(|(line, q)| LinePatch {
                    id: Some(serde_json::Value::String(line)),
                    sku: None,
                    quantity: serde_json::Value::String(q),
                    unit_cost: None,
                })
                .collect(),
        ),
        ..OrderPatch::default()
    };
    let receipt = Receipt {
        lines: per_line("receive_")
            .into_iter()
            .filter(|(_, q)| q != "0")
            .map(|(line, q)| ReceiptLine {
                line_id: serde_json::Value::String(line),
                quantity: serde_json::Value::String(q),
            })
            .collect(),
    };
    let cancel_lines: Vec<serde_json::Value> = per_line("cancel_")
        .into_iter()
        .map(|(line, _)| serde_json::Value::String(line))
        .collect();
    let id2 = id.clone();
    let (confirming, force) = (action == "confirm", action == "push");
    let done = state
        .db
        .run(move |conn| match action.as_str() {
            "edit" => po::edit(conn, &visible, &id2, &edit, &act),
            "dates" => po::edit(
                conn,
                &visible,
                &id2,
                &OrderPatch {
                    lines: None,
                    cancel_lines: (!cancel_lines.is_empty()).then_some(cancel_lines),
                    ..edit
                },
                &act,
            ),
            "confirm" => po::confirm(conn, &visible, &id2, &act),
            "receive" => po::receive(conn, &visible, &id2, &receipt, &act),
            "cancel" => po::cancel(conn, &visible, &id2, &act),
            "push" => po::get(conn, &visible, &id2, act.today),
            _ => Err(ServiceError::not_found("action")),
        })
        .await;
    state.jobs.wake();
    let page = format!("/purchase-orders/{}", urlencode(&id));
    let done = match done {
        Ok(order) if force || (confirming && order.status == "active") => {
            Ok(crate::web::api::purchase_orders::push_confirmed(&state, &caller.0, order).await)
        }
        other => other,
    };
    match done {
        Ok(_) => Ok(redirect(&page)),
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => Ok(redirect(
            &format!("{page}?error={}", urlencode(&message(&e))),
        )),
        Err(e) => Err(e.into()),
    }
}
