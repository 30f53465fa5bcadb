//! Transfer before buy (`api.md` "Acting on the plan"): on a master, where
//! one child holds stock beyond its own need and another is short, suggest
//! moving the surplus first and buying only the rest; an accepted
//! suggestion becomes a draft transfer.
//!
//! A child's need is its own plan line's coverage demand plus its safety
//! stock. Its surplus is what it holds beyond that need (at most what is
//! available now: stock on order cannot be sent); a child is short when its
//! own plan orders something, by its need less its stock and open orders.
//! Shortest children are served first, from the largest surplus first.
//!
//! A transfer between two children is a pair of stock orders of kind
//! `transfer`, one in each child: `<id>-out` in the source (its source
//! warehouse only: active, it is taken from that child's available stock)
//! and `<id>-in` in the destination (its destination warehouse only:
//! active, it is on order there). Each names the other as its partner, so
//! confirming, cancelling, editing or receiving one does the same to both
//! (`services::purchase_orders`).

use std::collections::HashMap;

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::models::planning::{self as store, PlanLineRow};
use crate::db::models::stock_orders as orders;
use crate::db::models::Account;
use crate::db::DbConn;
use crate::domain::sku;
use crate::import::{StockOrderKind, StockOrderStatus};
use crate::planning::rollup::Links;
use crate::services::order_plan::child_figures;
use crate::services::purchase_orders::{
    self as po, destination, f, new_meta, variant_for, whole, write, Actor, Draft, DraftLine,
    OrderView,
};
use crate::services::{plans, Detail, ServiceError};

/// A suggested move of stock from one child to another.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The master row's SKU.
    pub sku: String,
    /// The child with the surplus.
    pub from_account_id: String,
    /// The short child.
    pub to_account_id: String,
    /// Whole units to move.
    pub quantity: f64,
    /// Why, in a sentence.
    pub reason: String,
    /// The figures it rests on: each side's available, on order, coverage
    /// demand, safety stock and need; the surplus, the shortfall, and what
    /// is still to buy for the short child after the move.
    #[schema(value_type = Object)]
    pub figures: Value,
}

/// One child's figures for one row.
struct Side {
    child: usize,
    line: PlanLineRow,
    need: f64,
}

impl Side {
    fn surplus(&self) -> f64 {
        let l = &self.line;
        (l.available.min(l.available + l.on_order - self.need))
            .floor()
            .max(0.0)
    }

    fn shortfall(&self) -> f64 {
        let l = &self.line;
        if l.order_quantity <= 0.0 {
            return 0.0;
        }
        (self.need - l.available - l.on_order).ceil().max(0.0)
    }

    fn figures(&self) -> Value {
        let l = &self.line;
        json!({
            "available": l.available,
            "on_order": l.on_order,
            "coverage_demand": l.coverage_demand,
            "safety_stock": l.safety_stock,
            "need": self.need,
            "order_quantity": l.order_quantity,
        })
    }
}

/// The master's transfer suggestions, from its children's stored plans.
/// They change no plan until accepted.
pub fn suggestions(conn: &mut DbConn, master: &Account) -> Result<Vec<Suggestion>, ServiceError> {
    if !master.is_master() {
        return Err(ServiceError::Conflict {
            code: "not_a_master",
            message: "Transfers between children are suggested on a master account.".into(),
        });
    }
    let children = Account::list_children(conn, &master.id)?;
    let mut own: Vec<HashMap<String, PlanLineRow>> = Vec::new();
    for c in &children {
        own.push(
            store::all_lines(conn, &c.id)?
                .into_iter()
                .map(|l| (l.sku_key.clone(), l))
                .collect(),
        );
    }
    let mut rows = store::all_lines(conn, &master.id)?;
    rows.sort_by(|a, b| a.sku_key.cmp(&b.sku_key));
    let figures = store::line_accounts(conn, &master.id, &rows)?;
    let mut out = Vec::new();
    for (row, fig) in rows.iter().zip(figures) {
        let sides: Vec<Side> = child_figures(&fig)
            .iter()
            .filter(|cf| cf.included.stock)
            .filter_map(|cf| {
                let c = children.iter().position(|a| a.id == cf.account_id)?;
                let line = own[c].get(&row.sku_key)?.clone();
                let need = line.coverage_demand + line.safety_stock;
                Some(Side {
                    child: c,
                    line,
                    need,
                })
            })
            .collect();
        out.extend(match_sides(row, &sides, &children));
    }
    Ok(out)
}

/// Serves the shortest children first from the largest surpluses.
fn match_sides(row: &PlanLineRow, sides: &[Side], children: &[Account]) -> Vec<Suggestion> {
    let mut surplus: Vec<(usize, f64)> = sides
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.surplus()))
        .filter(|(_, q)| *q > 0.0)
        .collect();
    let mut short: Vec<(usize, f64)> = sides
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.shortfall()))
        .filter(|(_, q)| *q > 0.0)
        .collect();
    surplus.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    short.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for (to, need) in short {
        let mut left = need;
        for (from, have) in surplus.iter_mut() {
            if left <= 0.0 || *have <= 0.0 {
                continue;
            }
            let q = left.min(*have);
            *have -= q;
            left -= q;
            let (a, b) = (&sides[*from], &sides[to]);
            let (from_name, to_name) = (&children[a.child].name, &children[b.child].name);
            out.push(Suggestion {
                sku: row.sku.clone(),
                from_account_id: children[a.child].id.clone(),
                to_account_id: children[b.child].id.clone(),
                quantity: q,
                reason: format!(
                    "{from_name} holds {} beyond its own need of {}; {to_name} is {} short: move {q} before buying, then buy {}.",
                    a.surplus(),
                    a.need,
                    need,
                    left
                ),
                figures: json!({
                    "from": a.figures(),
                    "to": b.figures(),
                    "surplus": a.surplus(),
                    "shortfall": need,
                    "buy_after": left,
                }),
            });
        }
    }
    out
}

/// One accepted suggestion.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptItem {
    /// The master row's SKU.
    pub sku: String,
    /// The child sending.
    pub from_account_id: String,
    /// The child receiving.
    pub to_account_id: String,
    /// Whole units, more than 0.
    #[schema(value_type = f64)]
    pub quantity: Value,
}

/// `POST .../transfer-suggestions/accept`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// The suggestions to turn into draft transfers.
    pub items: Vec<AcceptItem>,
}

/// Turns accepted suggestions into draft transfers (a pair of orders per
/// item: out of the source child, into the destination child), each child's
/// first warehouse; expected on the planning date plus the destination's
/// lead time.
pub fn accept(
    conn: &mut DbConn,
    master: &Account,
    body: &Accept,
    actor: &Actor,
) -> Result<Vec<OrderView>, ServiceError> {
    let children = Account::list_children(conn, &master.id)?;
    let links = Links::new(&store::links(conn, &master.id)?);
    let child = |id: &str| {
        children
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| ServiceError::not_found("account"))
    };
    let mut details = Vec::new();
    let mut planned = Vec::new();
    for (i, item) in body.items.iter().enumerate() {
        let field = |name: &str| format!("items[{}].{name}", i + 1);
        let (from, to) = (child(&item.from_account_id)?, child(&item.to_account_id)?);
        if from.id == to.id {
            details.push(Detail::field(
                field("to_account_id"),
                "must be another child",
            ));
            continue;
        }
        let quantity = match whole(&item.quantity) {
            Ok(q) if q > Decimal::ZERO => q,
            Ok(_) => {
                details.push(Detail::field(field("quantity"), "must be more than 0"));
                continue;
            }
            Err(m) => {
                details.push(Detail::field(field("quantity"), m));
                continue;
            }
        };
        let key = sku::normalise(&item.sku);
        let (Some(vf), Some(vt)) = (
            variant_for(conn, &from, &links, &key)?,
            variant_for(conn, &to, &links, &key)?,
        ) else {
            details.push(Detail::field(
                field("sku"),
                "both children need a variant with that SKU",
            ));
            continue;
        };
        planned.push((from, to, vf, vt, quantity));
    }
    if !details.is_empty() {
        return Err(ServiceError::invalid(
            "The transfers are invalid; none was made.",
            details,
        ));
    }
    crate::db::transaction(conn, |conn| {
        let mut out = Vec::new();
        for (from, to, vf, vt, quantity) in planned {
            let base = crate::crypto::new_id("tr");
            let (out_id, in_id) = (format!("{base}-out"), format!("{base}-in"));
            let today = plans::planning_date(&to, actor.today);
            let expected = Some(today + Duration::days(i64::from(to.lead_time_days)));
            let half = |id: &str, variant: &str, source, destination, currency: &str| Draft {
                id: id.to_string(),
                kind: StockOrderKind::Transfer,
                status: StockOrderStatus::Draft,
                vendor_id: None,
                source,
                destination,
                expected_at: expected,
                currency: currency.to_string(),
                lines: vec![DraftLine {
                    id: "1".into(),
                    variant_id: variant.to_string(),
                    quantity,
                    received: Decimal::ZERO,
                    unit_cost: None,
                }],
            };
            let source_wh = destination(conn, &from, None)?;
            let dest_wh = destination(conn, &to, None)?;
            let sending = half(&out_id, &vf.id, Some(source_wh), None, &from.currency);
            let receiving = half(&in_id, &vt.id, None, Some(dest_wh), &to.currency);
            let now = Utc::now().naive_utc();
            for (acc, d, partner, partner_id) in [
                (&from, &sending, &to, &in_id),
                (&to, &receiving, &from, &out_id),
            ] {
                write(conn, acc, d, None)?;
                let mut meta = new_meta(&acc.id, &d.id, today, &actor.email);
                meta.partner_account_id = Some(partner.id.clone());
                meta.partner_order_id = Some(partner_id.clone());
                orders::save_meta(conn, &meta)?;
                let detail = json!({
                    "from": "transfer_suggestion",
                    "sku": vf.sku,
                    "quantity": f(quantity),
                    "from_account_id": from.id,
                    "to_account_id": to.id,
                });
                orders::add_history(conn, &acc.id, &d.id, now, &actor.email, "created", &detail)?;
            }
            for (acc, id) in [(&from, &out_id), (&to, &in_id)] {
                let head = orders::find(conn, std::slice::from_ref(&acc.id), id)?
                    .ok_or_else(|| ServiceError::not_found("order"))?;
                out.push(po::view(conn, acc, &head, actor.today)?);
            }
        }
        Ok(out)
    })
}
