//! The one write path for child-account records. Every source (CSV and
//! JSON imports, connectors) hands a validated [`Batch`] to [`apply`], which
//! classifies each record against the stored one (`unchanged` by content
//! fingerprint whatever its timestamp, `stale` when older, else
//! created/updated/removed) and then, in one transaction, reserves change
//! sequence numbers on the account (which also serialises writers of that
//! account), replaces changed rows (an order's whole set of lines), and folds
//! stock readings into the stock history's change points. The reading and
//! sorting out happen before the write transaction when they can (see
//! [`apply_then`]). It never half-writes: any error rolls back.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::db::models::planning;
use crate::db::models::records::*;
use crate::db::models::Account;
use crate::db::schema::{
    sales_order_lines, sales_orders, stock_history, stock_levels, stock_order_lines, stock_orders,
    variants, vendors, warehouses,
};
use crate::db::DbConn;
use crate::import::{Batch, StockLevelRecord};

/// How many records an import created, updated, left, ignored or removed.
/// An order counts once, whatever its number of lines. `removed` counts
/// records newly marked removed (not also counted as created or updated).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Counts {
    /// New records.
    pub created: usize,
    /// Changed records.
    pub updated: usize,
    /// Identical to the stored ones.
    pub unchanged: usize,
    /// Older than the stored ones (ignored).
    pub stale: usize,
    /// Newly marked removed.
    pub removed: usize,
}

/// SQLite's bound-parameter limit, with room to spare.
const MAX_BINDS: usize = 30_000;

/// Inserts rows in bulk, building them chunk by chunk from an iterator so
/// a million-line import never holds all its rows at once. Backend-specific
/// on purpose: SQLite takes multi-row INSERTs that stay under its
/// bound-parameter limit; PostgreSQL takes binary `COPY FROM`, several times
/// faster than INSERTs (the multi-connection type offers neither).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr, $cols:expr) => {{
        let per = match $conn {
            DbConn::Sqlite(_) => (MAX_BINDS / $cols).max(1),
            DbConn::Pg(_) => 50_000,
        };
        let mut rows = $rows.into_iter();
        let mut chunk = Vec::with_capacity(per);
        loop {
            chunk.clear();
            chunk.extend(rows.by_ref().take(per));
            if chunk.is_empty() {
                break;
            }
            match $conn {
                DbConn::Sqlite(c) => {
                    diesel::insert_into($table).values(&chunk).execute(c)?;
                }
                DbConn::Pg(c) => {
                    diesel::copy_from($table)
                        .from_insertable(&chunk)
                        .execute(c)?;
                }
            }
        }
    }};
}

/// Deletes the account's rows whose `$col` is in `$ids`.
macro_rules! delete_ids {
    ($conn:expr, $table:ident, $col:ident, $account:expr, $ids:expr) => {{
        for chunk in $ids.chunks(500) {
            diesel::delete(
                $table::table
                    .filter($table::account_id.eq($account))
                    .filter($table::$col.eq_any(chunk)),
            )
            .execute($conn)?;
        }
    }};
}

/// The variants of the stored lines of orders `ids` (being replaced).
macro_rules! line_variants {
    ($conn:expr, $table:ident, $account:expr, $ids:expr) => {{
        let mut out: Vec<String> = Vec::new();
        for chunk in $ids.chunks(500) {
            out.extend(
                $table::table
                    .filter($table::account_id.eq($account))
                    .filter($table::order_id.eq_any(chunk))
                    .select($table::variant_id)
                    .load::<String>($conn)?,
            );
        }
        out
    }};
}

pub mod early;

enum Action {
    Create,
    Update,
    Unchanged,
    Stale,
}

fn classify(stored: Option<&Stored>, fingerprint: i64, updated_at: NaiveDateTime) -> Action {
    match stored {
        None => Action::Create,
        Some(s) if s.fingerprint == fingerprint => Action::Unchanged,
        Some(s) if updated_at < s.updated_at => Action::Stale,
        Some(_) => Action::Update,
    }
}

/// Tallies one record and says whether it must be written.
fn tally(counts: &mut Counts, action: &Action, removed: bool, was_removed: bool) -> bool {
    match action {
        Action::Unchanged => counts.unchanged += 1,
        Action::Stale => counts.stale += 1,
        Action::Create | Action::Update if removed && !was_removed => counts.removed += 1,
        Action::Create => counts.created += 1,
        Action::Update => counts.updated += 1,
    }
    matches!(action, Action::Create | Action::Update)
}

/// What the write path needs of a record keyed by its source id.
trait Keyed {
    fn key(&self) -> &str;
    fn changed_at(&self) -> Option<DateTime<Utc>>;
    fn is_removed(&self) -> bool;
    fn content(&self) -> i64;
}

macro_rules! keyed {
    ($($t:ty),*) => {$(
        impl Keyed for $t {
            fn key(&self) -> &str { &self.id }
            fn changed_at(&self) -> Option<DateTime<Utc>> { self.updated_at }
            fn is_removed(&self) -> bool { self.removed }
            fn content(&self) -> i64 { self.fingerprint() }
        }
    )*};
}

keyed!(
    crate::import::WarehouseRecord,
    crate::import::VendorRecord,
    crate::import::VariantRecord,
    crate::import::SalesOrderRecord,
    crate::import::StockOrderRecord
);

/// How a record to write is stamped.
struct Stamp {
    at: NaiveDateTime,
    fingerprint: i64,
    seq: i64,
}

/// The ids of a batch's records.
fn keys<R: Keyed>(records: &[R]) -> Vec<&str> {
    records.iter().map(|r| r.key()).collect()
}

/// Classifies every record against the stored ones, tallies the counts,
/// and returns the records to write (with their stamps) and the ids whose
/// stored rows they replace.
fn sort_out<'a, R: Keyed>(
    records: &'a [R],
    stored: &HashMap<String, Stored>,
    received: NaiveDateTime,
    counts: &mut Counts,
    next_seq: &mut impl FnMut() -> i64,
) -> (Vec<(&'a R, Stamp)>, Vec<&'a str>) {
    let mut writes = Vec::new();
    let mut replaced = Vec::new();
    for r in records {
        let at = r.changed_at().map(|t| t.naive_utc()).unwrap_or(received);
        let fingerprint = r.content();
        let s = stored.get(r.key());
        let action = classify(s, fingerprint, at);
        if tally(
            counts,
            &action,
            r.is_removed(),
            s.is_some_and(|s| s.removed),
        ) {
            if matches!(action, Action::Update) {
                replaced.push(r.key());
            }
            writes.push((
                r,
                Stamp {
                    at,
                    fingerprint,
                    seq: next_seq(),
                },
            ));
        }
    }
    (writes, replaced)
}

/// A lead time as stored. Input is bounded to 0–3,650 days; this saturates
/// rather than wraps should a larger value ever reach it.
fn days_i32(d: u32) -> i32 {
    i32::try_from(d).unwrap_or(i32::MAX)
}

fn dec(d: &Decimal) -> String {
    d.normalize().to_string()
}

fn opt_dec(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(dec)
}

/// Applies a validated batch to a child account in one transaction.
/// `received_at` stands in for a missing `updated_at`; `tz` decides the
/// local day of stock readings.
pub fn apply(
    conn: &mut DbConn,
    account: &Account,
    batch: &Batch,
    received_at: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> QueryResult<Counts> {
    apply_then(conn, account, batch, received_at, tz, |_, _| Ok(()))
}

/// Records of one kind to write, with their stamps, and the ids whose
/// stored rows they replace.
type Writes<'a, R> = (Vec<(&'a R, Stamp)>, Vec<&'a str>);

/// What a batch changes, worked out from the stored rows (reads and
/// computation only; [`write`] writes it).
enum Work<'a> {
    Warehouses(Writes<'a, crate::import::WarehouseRecord>),
    Vendors(Writes<'a, crate::import::VendorRecord>),
    Variants(
        Writes<'a, crate::import::VariantRecord>,
        HashMap<String, NaiveDateTime>,
    ),
    Stock {
        rows: Vec<NewStockLevel<'a>>,
        replaced: Vec<(&'a str, &'a str)>,
        history: HistoryChanges,
    },
    SalesOrders(Writes<'a, crate::import::SalesOrderRecord>),
    StockOrders(Writes<'a, crate::import::StockOrderRecord>),
}

/// A batch worked out against the stored rows as of change sequence
/// `first_seq - 1` of its account.
struct Prepared<'a> {
    /// The first change sequence number its records are stamped with.
    first_seq: i64,
    /// Stands in for a missing `updated_at` (and a new variant's creation).
    received: NaiveDateTime,
    counts: Counts,
    /// The variants whose plan inputs the write changes (`None`: anything
    /// — a new, removed or re-keyed variant, a vendor or warehouse change).
    touched: Option<Vec<String>>,
    work: Work<'a>,
}

/// Applies a validated batch ([`apply`]), then `then` with the counts inside
/// the same transaction (the import's log row), so the data and its record
/// commit together or not at all.
///
/// Called outside a transaction (an import), it reads the stored rows and
/// sorts out what is new or changed before it takes the write lock, noting
/// the account's change sequence; in the write transaction it only checks
/// that the sequence has not moved (no other write of the account came in
/// between; else it works the batch out again, under the lock) and writes.
/// On SQLite, where one writer at a time holds the database, other writers
/// so wait for the writing alone. Called inside a transaction (a sync
/// page), everything happens in it.
pub fn apply_then(
    conn: &mut DbConn,
    account: &Account,
    batch: &Batch,
    received_at: DateTime<Utc>,
    tz: chrono_tz::Tz,
    then: impl FnOnce(&mut DbConn, &Counts) -> QueryResult<()>,
) -> QueryResult<Counts> {
    let received = received_at.naive_utc();
    let acc = account.id.as_str();
    let currency = account.currency.as_str();
    let n = batch.len() as i64;
    let ahead = if crate::db::in_transaction(conn) {
        None
    } else {
        let before = Account::change_seq_of(conn, acc)?;
        let prepared = prepare(conn, acc, batch, received, tz, before + 1)?;
        #[cfg(any(test, feature = "fault-injection"))]
        fault::prepared(acc);
        Some(prepared)
    };
    // Many new orders: their lines first, in short transactions ([`early`]).
    let early = match &ahead {
        Some(p) => early::write_lines(conn, acc, p)?,
        None => None,
    };
    let result = crate::db::transaction(conn, |conn| {
        let first = Account::reserve_seq(conn, acc, n)?;
        let (prepared, early) = match ahead {
            Some(p) if p.first_seq == first && early::intact(conn, acc, early.as_ref())? => {
                (p, early.as_ref())
            }
            Some(_) => {
                tracing::debug!(
                    account = acc,
                    "another write came in; working the batch out again"
                );
                early::undo(conn, acc, early.as_ref())?;
                (prepare(conn, acc, batch, received, tz, first)?, None)
            }
            None => (prepare(conn, acc, batch, received, tz, first)?, None),
        };
        let counts = write(conn, acc, currency, prepared, early)?;
        // Every row is written, nothing committed yet.
        #[cfg(any(test, feature = "fault-injection"))]
        fault::point(acc)?;
        then(conn, &counts)?;
        Ok(counts)
    });
    match (&result, &early) {
        (Ok(_), Some(e)) => early::release(conn, acc, e),
        (Err(_), Some(e)) => {
            if let Err(undo_failed) = crate::db::transaction(conn, |c| early::undo(c, acc, Some(e)))
            {
                tracing::warn!(account = acc, error = %undo_failed,
                    "an import's early lines stay until the next start");
            }
        }
        _ => {}
    }
    result
}

/// Works a batch out against the stored rows: classifies every record,
/// tallies the counts and gathers what to write, stamping the records with
/// change sequence numbers from `first_seq`. Reads only.
fn prepare<'a>(
    conn: &mut DbConn,
    acc: &'a str,
    batch: &'a Batch,
    received: NaiveDateTime,
    tz: chrono_tz::Tz,
    first_seq: i64,
) -> QueryResult<Prepared<'a>> {
    let mut seq = first_seq;
    let mut next_seq = || {
        let s = seq;
        seq += 1;
        s
    };
    let mut counts = Counts::default();
    let mut touched: Option<Vec<String>> = None;
    let work = match batch {
        Batch::Warehouses(records) => {
            let stored = stored_warehouses(conn, acc, &keys(records))?;
            Work::Warehouses(sort_out(
                records,
                &stored,
                received,
                &mut counts,
                &mut next_seq,
            ))
        }
        Batch::Vendors(records) => {
            let stored = stored_vendors(conn, acc, &keys(records))?;
            Work::Vendors(sort_out(
                records,
                &stored,
                received,
                &mut counts,
                &mut next_seq,
            ))
        }
        Batch::Variants(records) => {
            // One read: what every record's write needs, and what tells
            // which plan rows an update touches.
            let rows = stored_variant_rows(conn, acc, &keys(records))?;
            let stored: HashMap<String, Stored> = rows
                .iter()
                .map(|(id, r)| (id.clone(), r.stored.clone()))
                .collect();
            let (writes, replaced) =
                sort_out(records, &stored, received, &mut counts, &mut next_seq);
            touched = variant_touches(&writes, &rows);
            let created_at = rows.into_iter().map(|(id, r)| (id, r.created_at)).collect();
            Work::Variants((writes, replaced), created_at)
        }
        Batch::Stock(records) => {
            let variant_ids: Vec<&str> = records.iter().map(|r| &*r.variant_id).collect();
            let stored = stored_stock_levels(conn, acc, &variant_ids)?;
            // A batch may carry several readings of one (variant,
            // warehouse): the latest sets the level, the others only
            // fill in history (and count as stale).
            let mut latest: HashMap<(&str, &str), (NaiveDateTime, usize)> = HashMap::new();
            for (i, r) in records.iter().enumerate() {
                let at = r.updated_at.map(|t| t.naive_utc()).unwrap_or(received);
                let e = latest
                    .entry((&*r.variant_id, &*r.warehouse_id))
                    .or_insert((at, i));
                if at >= e.0 {
                    *e = (at, i);
                }
            }
            let mut rows = Vec::new();
            let mut replaced: Vec<(&str, &str)> = Vec::new();
            for (i, r) in records.iter().enumerate() {
                if latest[&(&*r.variant_id, &*r.warehouse_id)].1 != i {
                    counts.stale += 1;
                    continue;
                }
                let at = r.updated_at.map(|t| t.naive_utc()).unwrap_or(received);
                let fp = r.fingerprint();
                let s = stored.get(&(r.variant_id.to_string(), r.warehouse_id.to_string()));
                let action = classify(s, fp, at);
                if tally(&mut counts, &action, false, false) {
                    if matches!(action, Action::Update) {
                        replaced.push((&r.variant_id, &r.warehouse_id));
                    }
                    rows.push(NewStockLevel {
                        account_id: acc,
                        variant_id: &r.variant_id,
                        warehouse_id: &r.warehouse_id,
                        on_hand: dec(&r.on_hand),
                        allocated: dec(&r.allocated),
                        updated_at: at,
                        fingerprint: fp,
                        seq: next_seq(),
                    });
                }
            }
            let history = history_changes(conn, acc, records, received, tz)?;
            touched = Some(records.iter().map(|r| r.variant_id.to_string()).collect());
            Work::Stock {
                rows,
                replaced,
                history,
            }
        }
        Batch::SalesOrders(records) => {
            let stored = stored_sales_orders(conn, acc, &keys(records))?;
            let (writes, replaced) =
                sort_out(records, &stored, received, &mut counts, &mut next_seq);
            let mut ids = line_variants!(conn, sales_order_lines, acc, replaced);
            ids.extend(
                writes
                    .iter()
                    .flat_map(|(r, _)| r.lines.iter().map(|l| l.variant_id.to_string())),
            );
            touched = Some(ids);
            Work::SalesOrders((writes, replaced))
        }
        Batch::StockOrders(records) => {
            let stored = stored_stock_orders(conn, acc, &keys(records))?;
            let (writes, replaced) =
                sort_out(records, &stored, received, &mut counts, &mut next_seq);
            let mut ids = line_variants!(conn, stock_order_lines, acc, replaced);
            ids.extend(
                writes
                    .iter()
                    .flat_map(|(r, _)| r.lines.iter().map(|l| l.variant_id.to_string())),
            );
            touched = Some(ids);
            Work::StockOrders((writes, replaced))
        }
    };
    if let Some(ids) = &mut touched {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(Prepared {
        first_seq,
        received,
        counts,
        touched,
        work,
    })
}

/// Writes what [`prepare`] worked out: replaces the changed rows, and on
/// any change bumps the account's data version and records what it
/// touched. Returns the counts.
fn write(
    conn: &mut DbConn,
    acc: &str,
    currency: &str,
    prepared: Prepared<'_>,
    early: Option<&early::Early<'_>>,
) -> QueryResult<Counts> {
    let Prepared {
        counts,
        touched,
        work,
        received,
        ..
    } = prepared;
    match work {
        Work::Warehouses((writes, replaced)) => {
            let rows: Vec<_> = writes
                .iter()
                .map(|(r, st)| NewWarehouse {
                    account_id: acc,
                    id: &r.id,
                    name: &r.name,
                    updated_at: st.at,
                    removed: r.removed,
                    fingerprint: st.fingerprint,
                    seq: st.seq,
                })
                .collect();
            delete_ids!(conn, warehouses, id, acc, replaced);
            insert_all!(conn, warehouses::table, rows, 7);
        }
        Work::Vendors((writes, replaced)) => {
            let rows: Vec<_> = writes
                .iter()
                .map(|(r, st)| NewVendor {
                    account_id: acc,
                    id: &r.id,
                    name: &r.name,
                    currency: r.currency.as_ref().map(|c| c.as_str()),
                    lead_time_days: r.lead_time_days.map(days_i32),
                    minimum_order_quantity: opt_dec(&r.minimum_order_quantity),
                    pack_size: opt_dec(&r.pack_size),
                    updated_at: st.at,
                    removed: r.removed,
                    fingerprint: st.fingerprint,
                    seq: st.seq,
                })
                .collect();
            delete_ids!(conn, vendors, id, acc, replaced);
            insert_all!(conn, vendors::table, rows, 11);
        }
        Work::Variants((writes, replaced), created_at) => {
            let rows: Vec<_> = writes
                .iter()
                .map(|(r, st)| {
                    let created = created_at.get(&*r.id).copied().unwrap_or(received);
                    variant_row(acc, r, st, created)
                })
                .collect();
            delete_ids!(conn, variants, id, acc, replaced);
            insert_all!(conn, variants::table, rows, 27);
        }
        Work::Stock {
            rows,
            replaced,
            history,
        } => {
            for (v, w) in replaced {
                diesel::delete(
                    stock_levels::table
                        .filter(stock_levels::account_id.eq(acc))
                        .filter(stock_levels::variant_id.eq(v))
                        .filter(stock_levels::warehouse_id.eq(w)),
                )
                .execute(conn)?;
            }
            insert_all!(conn, stock_levels::table, rows, 8);
            write_history(conn, acc, history)?;
        }
        Work::SalesOrders((writes, replaced)) => {
            let headers = writes.iter().map(|(r, st)| NewSalesOrder {
                account_id: acc,
                id: &r.id,
                ordered_at: r.ordered_at.naive_utc(),
                warehouse_id: r.warehouse_id.as_deref(),
                currency: r.currency.as_ref().map(|c| c.as_str()).unwrap_or(currency),
                cancelled: r.cancelled,
                removed: r.removed,
                updated_at: st.at,
                fingerprint: st.fingerprint,
                seq: st.seq,
            });
            // New orders: an import in progress may claim them; the lines
            // written early are not written again.
            let replaced_ids: std::collections::HashSet<&str> = replaced.iter().copied().collect();
            let created: Vec<&str> = writes
                .iter()
                .map(|(r, _)| &*r.id)
                .filter(|id| !replaced_ids.contains(id))
                .filter(|id| !early.is_some_and(|e| e.orders.contains(id)))
                .collect();
            early::take_over(conn, acc, &created)?;
            let written_early = |id: &str| early.is_some_and(|e| e.orders.contains(id));
            let lines = writes
                .iter()
                .filter(|(r, _)| !written_early(&r.id))
                .flat_map(|(r, _)| sale_lines(acc, r));
            delete_ids!(conn, sales_order_lines, order_id, acc, replaced);
            delete_ids!(conn, sales_orders, id, acc, replaced);
            insert_all!(conn, sales_orders::table, headers, 10);
            insert_all!(conn, sales_order_lines::table, lines, 6);
        }
        Work::StockOrders((writes, replaced)) => {
            let headers = writes.iter().map(|(r, st)| NewStockOrder {
                account_id: acc,
                id: &r.id,
                kind: r.kind.as_str(),
                status: r.status.as_str(),
                vendor_id: r.vendor_id.as_deref(),
                source_warehouse_id: r.source_warehouse_id.as_deref(),
                destination_warehouse_id: r.destination_warehouse_id.as_deref(),
                expected_at: r.expected_at,
                currency: r.currency.as_ref().map(|c| c.as_str()).unwrap_or(currency),
                updated_at: st.at,
                removed: r.removed,
                fingerprint: st.fingerprint,
                seq: st.seq,
            });
            let lines = writes.iter().flat_map(|(r, _)| {
                r.lines.iter().enumerate().map(|(i, l)| NewStockOrderLine {
                    account_id: acc,
                    order_id: &r.id,
                    line_no: i32::try_from(i + 1).unwrap_or(i32::MAX),
                    line_id: l.id.as_deref(),
                    variant_id: &l.variant_id,
                    quantity: dec(&l.quantity),
                    received_quantity: opt_dec(&l.received_quantity),
                    unit_cost: opt_dec(&l.unit_cost),
                })
            });
            delete_ids!(conn, stock_order_lines, order_id, acc, replaced);
            delete_ids!(conn, stock_orders, id, acc, replaced);
            insert_all!(conn, stock_orders::table, headers, 13);
            insert_all!(conn, stock_order_lines::table, lines, 8);
        }
    }
    // Plans depend on the data: only a write that changed something
    // makes them stale (an import of identical records does not).
    if counts.created + counts.updated + counts.removed > 0 {
        Account::bump_data_version(conn, acc)?;
        // What the new version touched, for incremental replanning.
        let version = Account::data_version_of(conn, acc)?;
        planning::record_touches(conn, acc, version, touched.as_deref())?;
    }
    Ok(counts)
}

/// An order's sale lines as stored.
fn sale_lines<'a>(
    acc: &'a str,
    r: &'a crate::import::SalesOrderRecord,
) -> impl Iterator<Item = NewSalesLine<'a>> + 'a {
    r.lines.iter().map(move |l| NewSalesLine {
        account_id: acc,
        order_id: &r.id,
        line_id: &l.id,
        variant_id: &l.variant_id,
        quantity: dec(&l.quantity),
        unit_price: opt_dec(&l.unit_price),
    })
}

/// A computation on stored values that does not fit the decimal type. Input
/// is bounded at the boundary (`import::values`), so this is a safety net:
/// the transaction rolls back instead of a panic.
#[derive(Debug)]
struct Overflow(&'static str);

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "arithmetic overflow computing {}", self.0)
    }
}

impl std::error::Error for Overflow {}

/// Fault points for tests: a failure injected inside the write transaction,
/// after every row of the batch is written and before the commit, for one
/// account and one import; and a pause once a batch is worked out, before
/// it is written. Compiled only into the crate's unit tests and
/// with the `fault-injection` feature (which the integration tests use, via
/// `cargo test --all-features`); a release build has no fault point.
#[cfg(any(test, feature = "fault-injection"))]
#[doc(hidden)]
pub mod fault {
    use std::sync::{mpsc, Mutex};

    /// What an armed fault point does.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// Panics, as a bug in the write path would.
        Panic,
        /// Fails with an error, as a lost database would.
        Error,
    }

    static ARMED: Mutex<Vec<(String, Fault)>> = Mutex::new(Vec::new());

    /// A pause armed for an account: tells that the point was reached, then
    /// waits to be released.
    type Pause = (String, mpsc::Sender<()>, mpsc::Receiver<()>);

    static PAUSES: Mutex<Vec<Pause>> = Mutex::new(Vec::new());

    /// Holds the next import into `account_id` once its batch is worked out
    /// against the stored rows, before anything is written: the first
    /// receiver hears when it got there; it goes on when the sender sends
    /// (or is dropped).
    pub fn pause_when_prepared(account_id: &str) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (reached_tx, reached_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        PAUSES.lock().unwrap_or_else(|e| e.into_inner()).push((
            account_id.to_string(),
            reached_tx,
            release_rx,
        ));
        (reached_rx, release_tx)
    }

    /// Holds here if a pause is armed for `account_id`.
    pub(crate) fn prepared(account_id: &str) {
        let pause = {
            let mut pauses = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
            pauses
                .iter()
                .position(|(a, _, _)| a == account_id)
                .map(|i| pauses.remove(i))
        };
        if let Some((_, reached, release)) = pause {
            let _ = reached.send(());
            let _ = release.recv();
        }
    }

    /// Makes the next import into `account_id` fail inside its write
    /// transaction (once).
    pub fn arm(account_id: &str, fault: Fault) {
        ARMED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((account_id.to_string(), fault));
    }

    /// Fires the fault armed for `account_id`, if any.
    pub(crate) fn point(account_id: &str) -> diesel::QueryResult<()> {
        let fired = {
            let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
            armed
                .iter()
                .position(|(a, _)| a == account_id)
                .map(|i| armed.remove(i).1)
        };
        match fired {
            None => Ok(()),
            Some(Fault::Panic) => panic!("fault injected inside the write transaction"),
            Some(Fault::Error) => Err(diesel::result::Error::QueryBuilderError(
                "fault injected inside the write transaction".into(),
            )),
        }
    }
}

fn json_list<T: Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}

/// A variant's bill of materials as stored.
fn components_text(r: &crate::import::VariantRecord) -> Option<String> {
    let components: Vec<serde_json::Value> = r
        .components
        .iter()
        .map(|c| serde_json::json!({"variant_id": &*c.variant_id, "quantity": dec(&c.quantity)}))
        .collect();
    json_list(&components)
}

/// The variants a catalogue write touches for planning: their own lines
/// alone when every write updates a live variant and keeps its row (the
/// normalised SKU), its bill of materials and whether it is an assembly.
/// Otherwise `None` (everything): a new, removed or restored variant, or
/// one that moves row or changes components, changes which variants make
/// up a row, the keys of its row's other lines or other rows' demand.
fn variant_touches(
    writes: &[(&crate::import::VariantRecord, Stamp)],
    stored: &HashMap<String, StoredVariant>,
) -> Option<Vec<String>> {
    writes
        .iter()
        .map(|(r, _)| {
            let s = stored.get(&*r.id)?;
            let keeps = !s.removed
                && !r.removed
                && s.assembly == r.assembly
                && s.sku_norm == crate::import::sku_normalise(&r.sku)
                && s.components == components_text(r);
            keeps.then(|| r.id.to_string())
        })
        .collect()
}

fn variant_row(
    acc: &str,
    r: &crate::import::VariantRecord,
    st: &Stamp,
    created_at: NaiveDateTime,
) -> VariantRow {
    let vendors: Vec<serde_json::Value> = r
        .vendors
        .iter()
        .map(|v| {
            serde_json::json!({
                "vendor_id": &*v.vendor_id,
                "cost_price": opt_dec(&v.cost_price),
                "lead_time_days": v.lead_time_days,
                "minimum_order_quantity": opt_dec(&v.minimum_order_quantity),
                "pack_size": opt_dec(&v.pack_size),
                "vendor_sku": v.vendor_sku,
            })
        })
        .collect();
    VariantRow {
        account_id: acc.to_string(),
        id: r.id.to_string(),
        sku: r.sku.clone(),
        sku_norm: crate::import::sku_normalise(&r.sku),
        barcode: r.barcode.clone(),
        title: r.title.clone(),
        product_id: r.product_id.clone(),
        product_title: r.product_title.clone(),
        vendor_id: r.vendor_id.as_deref().map(str::to_string),
        vendors: json_list(&vendors),
        brand: r.brand.clone(),
        category: r.category.clone(),
        tags: json_list(&r.tags),
        cost_price: opt_dec(&r.cost_price),
        retail_price: opt_dec(&r.retail_price),
        currency: r.currency.as_ref().map(|c| c.as_str().to_string()),
        tracked: r.tracked,
        lead_time_days: r.lead_time_days.map(days_i32),
        min_stock: opt_dec(&r.min_stock),
        max_stock: opt_dec(&r.max_stock),
        components: components_text(r),
        assembly: r.assembly,
        updated_at: st.at,
        removed: r.removed,
        fingerprint: st.fingerprint,
        seq: st.seq,
        created_at,
    }
}

/// What a reading leaves available: on hand less allocated, checked.
fn available(r: &StockLevelRecord) -> QueryResult<Decimal> {
    r.on_hand.checked_sub(r.allocated).ok_or_else(|| {
        diesel::result::Error::QueryBuilderError(Box::new(Overflow("on_hand - allocated")))
    })
}

/// A stock history point's key: variant and warehouse.
type Key = (String, String);

/// The change points stock readings delete and insert.
struct HistoryChanges {
    to_delete: Vec<(Key, NaiveDate)>,
    to_insert: Vec<HistoryPoint>,
}

/// Folds stock readings into the history's change points: a reading holds
/// from its local day; the last reading of a day wins; older readings fill
/// in history (back-filling); a point equal to the one before it is dropped.
/// Reads only: [`write_history`] writes the changes.
fn history_changes(
    conn: &mut DbConn,
    acc: &str,
    records: &[StockLevelRecord],
    received: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> QueryResult<HistoryChanges> {
    let mut readings: HashMap<Key, Vec<(NaiveDate, Decimal, NaiveDateTime)>> = HashMap::new();
    for r in records {
        let at = r.updated_at.map(|t| t.naive_utc()).unwrap_or(received);
        let day = chrono::TimeZone::from_utc_datetime(&tz, &at).date_naive();
        readings
            .entry((r.variant_id.to_string(), r.warehouse_id.to_string()))
            .or_default()
            .push((day, available(r)?, at));
    }
    let mut existing: HashMap<Key, BTreeMap<NaiveDate, (Decimal, NaiveDateTime)>> = HashMap::new();
    let variant_ids: Vec<&str> = records.iter().map(|r| &*r.variant_id).collect();
    for p in history_points_of(conn, acc, &variant_ids)? {
        let key = (p.variant_id, p.warehouse_id);
        if readings.contains_key(&key) {
            let value = p.available.parse::<Decimal>().unwrap_or_default();
            existing
                .entry(key)
                .or_default()
                .insert(p.day, (value, p.reading_at));
        }
    }
    let mut to_insert = Vec::new();
    let mut to_delete: Vec<(Key, NaiveDate)> = Vec::new();
    for (key, mut list) in readings {
        list.sort_by_key(|(_, _, at)| *at);
        let before = existing.remove(&key).unwrap_or_default();
        let mut points = before.clone();
        for (day, value, at) in list {
            match points.get(&day) {
                Some((_, prev_at)) if *prev_at > at => {}
                _ => {
                    points.insert(day, (value, at));
                }
            }
        }
        // Keep change points only.
        let mut last: Option<Decimal> = None;
        points.retain(|_, (value, _)| {
            let keep = last != Some(*value);
            last = Some(*value);
            keep
        });
        for (day, old) in &before {
            if points.get(day) != Some(old) {
                to_delete.push((key.clone(), *day));
            }
        }
        for (day, (value, at)) in &points {
            if before.get(day) != Some(&(*value, *at)) {
                to_insert.push(HistoryPoint {
                    account_id: acc.to_string(),
                    variant_id: key.0.clone(),
                    warehouse_id: key.1.clone(),
                    day: *day,
                    available: dec(value),
                    reading_at: *at,
                });
            }
        }
    }
    Ok(HistoryChanges {
        to_delete,
        to_insert,
    })
}

/// Writes the change points [`history_changes`] worked out.
fn write_history(conn: &mut DbConn, acc: &str, changes: HistoryChanges) -> QueryResult<()> {
    let HistoryChanges {
        to_delete,
        to_insert,
    } = changes;
    for ((v, w), day) in to_delete {
        diesel::delete(
            stock_history::table
                .filter(stock_history::account_id.eq(acc))
                .filter(stock_history::variant_id.eq(v))
                .filter(stock_history::warehouse_id.eq(w))
                .filter(stock_history::day.eq(day)),
        )
        .execute(conn)?;
    }
    insert_all!(conn, stock_history::table, to_insert, 6);
    Ok(())
}
