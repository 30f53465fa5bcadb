//! The first complete pass over a large shop's orders as a Shopify bulk
//! operation: `bulkOperationRunQuery` (one query over all orders and their
//! line items, no page sizes, no cost limit), poll `bulkOperation(id:)` until
//! it is `COMPLETED`, download the JSONL file from its `url`, and stitch each
//! line item to its order by `__parentId` (the operation runs ungrouped, so
//! children may come anywhere in the file). Refund lines are read per refund
//! as on paged passes. The stitched orders are stored a page at a time; the
//! cursor holds the operation's id and how many orders are stored, so an
//! interrupted sync resumes from there (the file stays downloadable for a
//! week). Later passes are paged `updated_at` queries from the time the
//! operation started.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    gid, http_date_to_rfc3339, order_records, Cursor, Shopify, WholeOrder, REFUND_LINES_QUERY,
    REFUND_LINE_COST,
};
use crate::connectors::http::Http;
use crate::connectors::{Page, SyncError};
use crate::import::Entity;

/// Counts the shop's orders (up to 10,000).
pub const COUNT: &str = "query{ordersCount(limit:10000){count precision}}";
/// Starts the operation.
pub const RUN: &str = "mutation($query:String!){bulkOperationRunQuery(query:$query,groupObjects:false){bulkOperation{id status}userErrors{field message}}}";
/// Polls it.
pub const POLL: &str =
    "query($id:ID!){bulkOperation(id:$id){id status errorCode objectCount url partialDataUrl}}";
/// The bulk query: every order with its line items.
pub const ORDERS: &str = "{orders(sortKey:ID){edges{node{id createdAt updatedAt cancelledAt currencyCode fulfillments(first:1){location{id}} refunds{id createdAt processedAt} lineItems{edges{node{id quantity currentQuantity variant{id} originalUnitPriceSet{shopMoney{amount}}}}}}}}}";

/// Orders stored per page of a bulk pass.
const PAGE: usize = 250;

/// Stitched orders of one operation, kept for the pages of one sync.
pub(crate) type Stitched = Option<(String, Vec<(Value, Vec<Value>)>)>;

/// Whether this pass should run as a bulk operation: the first pass of a
/// shop with at least `threshold` orders.
pub(crate) fn wanted(sh: &Shopify, what: &str, threshold: u64) -> Result<bool, SyncError> {
    let (data, _) = sh.query(what, COUNT, json!({}), 1.0)?;
    let count = data["ordersCount"]["count"].as_u64().unwrap_or(0);
    Ok(count >= threshold)
}

/// Starts the operation; the page stores nothing and keeps its id.
pub(crate) fn start(sh: &Shopify, what: &str, mut c: Cursor) -> Result<Page, SyncError> {
    let (data, date) = sh.query(what, RUN, json!({"query": ORDERS}), 10.0)?;
    let r = &data["bulkOperationRunQuery"];
    if let Some(e) = r["userErrors"].as_array().and_then(|e| e.first()) {
        return Err(SyncError::new(format!(
            "{what}: the shop refused the bulk operation: {}",
            e["message"].as_str().unwrap_or("no reason given")
        )));
    }
    let id = r["bulkOperation"]["id"]
        .as_str()
        .ok_or_else(|| SyncError::malformed(what, "no bulk operation id"))?;
    c.bulk = Some(id.to_string());
    c.started = date.as_deref().and_then(http_date_to_rfc3339);
    c.done = 0;
    c.polls = 0;
    Ok(Page {
        batches: vec![(Entity::SalesOrders, Vec::new().into())],
        next: Some(serde_json::to_string(&c).unwrap_or_default()),
        more: true,
    })
}

/// Polls the operation until it completes (or the retry budget passes: the
/// page then stores nothing and the next one polls again).
fn wait(sh: &Shopify, what: &str, id: &str) -> Result<Option<Option<String>>, SyncError> {
    let deadline = Instant::now() + sh.http.budget();
    let mut pause = Duration::from_millis(100);
    loop {
        let (data, _) = sh.query(what, POLL, json!({"id": id}), 1.0)?;
        let op = &data["bulkOperation"];
        match op["status"].as_str() {
            Some("COMPLETED") => return Ok(Some(op["url"].as_str().map(str::to_string))),
            Some("CREATED" | "RUNNING") => {}
            Some(other) => {
                return Err(SyncError::new(format!(
                    "{what}: the shop's bulk operation ended {other} ({}); the next sync starts it again",
                    op["errorCode"].as_str().unwrap_or("no error code")
                )))
            }
            None => return Err(SyncError::malformed(what, "a bulk operation without status")),
        }
        if Instant::now() + pause > deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Reads the JSONL file and stitches each child to its parent.
fn download(sh: &Shopify, what: &str, url: &str) -> Result<Vec<(Value, Vec<Value>)>, SyncError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SyncError::malformed(what, e))?;
    let origin = parsed.origin().ascii_serialization();
    let http = Http::for_base(&origin, &sh.config)?;
    let answer = http.send(what, |c| c.get(url))?;
    let mut parents: Vec<(Value, Vec<Value>)> = Vec::new();
    let mut children: HashMap<String, Vec<Value>> = HashMap::new();
    for (i, line) in answer.body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| SyncError::malformed(what, format!("line {} of the file: {e}", i + 1)))?;
        match v["__parentId"].as_str() {
            Some(p) => children.entry(p.to_string()).or_default().push(v),
            None => parents.push((v, Vec::new())),
        }
    }
    for (p, kids) in parents.iter_mut() {
        if let Some(k) = p["id"].as_str().and_then(|id| children.remove(id)) {
            *kids = k;
        }
    }
    if let Some(orphan) = children.keys().next() {
        return Err(SyncError::malformed(
            what,
            format!("a line of the file names a parent it does not hold ({orphan})"),
        ));
    }
    Ok(parents)
}

/// A page of a bulk pass: waits for the operation, downloads its file once
/// per sync, and stores the next [`PAGE`] orders.
pub(crate) fn next_page(sh: &Shopify, what: &str, mut c: Cursor) -> Result<Page, SyncError> {
    let id = c.bulk.clone().unwrap_or_default();
    let cached = sh
        .stitched
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|(op, _)| *op == id);
    if !cached {
        let Some(url) = wait(sh, what, &id)? else {
            c.polls += 1;
            return Ok(Page {
                batches: vec![(Entity::SalesOrders, Vec::new().into())],
                next: Some(serde_json::to_string(&c).unwrap_or_default()),
                more: true,
            });
        };
        let orders = match url {
            Some(url) => download(sh, what, &url)?,
            // No url: the operation found nothing.
            None => Vec::new(),
        };
        *sh.stitched.lock().unwrap() = Some((id.clone(), orders));
    }
    let slice: Vec<(Value, Vec<Value>)> = {
        let guard = sh.stitched.lock().unwrap();
        let all = &guard.as_ref().unwrap().1;
        all.iter().skip(c.done).take(PAGE).cloned().collect()
    };
    let total = sh
        .stitched
        .lock()
        .unwrap()
        .as_ref()
        .map(|(_, a)| a.len())
        .unwrap_or(0);
    let mut items = Vec::new();
    for (order, lines) in &slice {
        if gid(&order["id"]).is_none() {
            return Err(SyncError::malformed(what, "an order without id"));
        }
        let mut refunds = Vec::new();
        for r in order["refunds"].as_array().into_iter().flatten() {
            let rlines = sh.rest_of(
                what,
                REFUND_LINES_QUERY,
                &r["id"],
                &["refund", "refundLineItems"],
                REFUND_LINE_COST,
                None,
            )?;
            refunds.push((r.clone(), rlines));
        }
        let whole = WholeOrder {
            order: order.clone(),
            lines: lines.clone(),
            refunds,
        };
        items.extend(order_records(&whole, what)?);
    }
    c.done += slice.len();
    let more = c.done < total;
    let next = if more {
        c
    } else {
        *sh.stitched.lock().unwrap() = None;
        Cursor {
            since: c.started.clone(),
            ..Cursor::default()
        }
    };
    Ok(Page {
        batches: vec![(Entity::SalesOrders, items.into())],
        next: Some(serde_json::to_string(&next).unwrap_or_default()),
        more,
    })
}
