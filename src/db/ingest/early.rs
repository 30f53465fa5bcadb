//! A large import of new sales orders, written in short transactions.
//!
//! On SQLite one writer at a time holds the database: an import of 20,000
//! sale lines written in one transaction kept every other writer (sync
//! pages, plan stores, job claims) waiting for seconds under load
//! (`docs/hardening.md`). Yet an import is all or nothing.
//!
//! What makes both possible: a sale line is only ever read through its
//! order's header (the plan's read, the demand analysis, the feeds and
//! the compatible API all start from `sales_orders`). So an import whose
//! new orders carry at least [`MIN_LINES`] lines writes those lines first,
//! [`BATCH_LINES`] or so a transaction ([`write_lines`]), where no reader
//! sees them, and then, in its one last transaction, the headers of every
//! order, the lines of the orders it replaces, and its import record, as
//! before. Until then each order it wrote early is claimed in
//! `import_claims` under the import's key:
//!
//! - an early batch claims only orders that have no header and no claim
//!   (else the import writes everything in its last transaction, as a
//!   small one does), and removes lines no claim covers (left by a crash);
//! - another writer that creates a claimed order takes the claim over and
//!   removes the early lines ([`take_over`]), so its own lines stand alone;
//! - the last transaction checks that every claim is still the import's
//!   ([`intact`]) and that no other write of the account came in (its
//!   change sequence); else it removes its early lines ([`undo`]) and works
//!   the batch out again under the lock, writing it whole;
//! - once the last transaction committed, the claims go, a few short
//!   transactions later ([`release`]);
//! - a failed import removes its early lines; a killed one leaves its
//!   claims, and the next start removes their lines ([`drop_unfinished`]).

use std::collections::HashSet;

use diesel::prelude::*;

use crate::db::schema::{import_claims, sales_order_lines, sales_orders};
use crate::db::DbConn;
use crate::import::SalesOrderRecord;

use super::{sale_lines, Prepared, Work, MAX_BINDS};

/// The new orders' lines over which an import writes them early.
pub const MIN_LINES: usize = 2_000;
/// About how many lines each early transaction writes (whole orders).
pub const BATCH_LINES: usize = 500;

/// The new orders whose lines an import wrote early, under its claims.
pub(super) struct Early<'a> {
    key: String,
    /// The orders written early.
    pub(super) orders: HashSet<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = import_claims, treat_none_as_default_value = false)]
struct NewClaim<'a> {
    account_id: &'a str,
    order_id: &'a str,
    import_key: &'a str,
}

/// Writes the lines of a worked-out batch's new sales orders early, in
/// short transactions of their own, when they are [`MIN_LINES`] or more;
/// `None` when they are fewer, or when another writer has or claims one of
/// them (the import then writes everything in its last transaction). An
/// error removes what it wrote.
pub(super) fn write_lines<'a>(
    conn: &mut DbConn,
    acc: &str,
    prepared: &Prepared<'a>,
) -> QueryResult<Option<Early<'a>>> {
    let Work::SalesOrders((writes, replaced)) = &prepared.work else {
        return Ok(None);
    };
    let replaced: HashSet<&str> = replaced.iter().copied().collect();
    let new: Vec<&'a SalesOrderRecord> = writes
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| !replaced.contains(&*r.id))
        .collect();
    if new.iter().map(|r| r.lines.len()).sum::<usize>() < MIN_LINES {
        return Ok(None);
    }
    let mut early = Early {
        key: format!("{:016x}", rand::random::<u64>()),
        orders: HashSet::new(),
    };
    let mut start = 0;
    let mut _batch = 0;
    while start < new.len() {
        let (mut end, mut lines) = (start, 0);
        while end < new.len() && (lines == 0 || lines + new[end].lines.len() <= BATCH_LINES) {
            lines += new[end].lines.len();
            end += 1;
        }
        let chunk = &new[start..end];
        let written =
            crate::db::transaction(conn, |conn| claim_and_write(conn, acc, &early.key, chunk));
        #[cfg(any(test, feature = "fault-injection"))]
        let written = written.and_then(|w| fault::point(acc, _batch).map(|()| w));
        match written {
            Ok(true) => early.orders.extend(chunk.iter().map(|r| &*r.id)),
            Ok(false) => {
                crate::db::transaction(conn, |conn| undo(conn, acc, Some(&early)))?;
                return Ok(None);
            }
            Err(e) => {
                if let Err(undo_failed) =
                    crate::db::transaction(conn, |conn| undo(conn, acc, Some(&early)))
                {
                    tracing::warn!(account = acc, error = %undo_failed,
                        "an import's early lines stay until the next start");
                }
                return Err(e);
            }
        }
        start = end;
        _batch += 1;
    }
    Ok(Some(early))
}

/// One early batch: claims `orders` under `key` and writes their lines;
/// `false` (writing nothing) when one of them has a header or a claim.
fn claim_and_write(
    conn: &mut DbConn,
    acc: &str,
    key: &str,
    orders: &[&SalesOrderRecord],
) -> QueryResult<bool> {
    let ids: Vec<&str> = orders.iter().map(|r| &*r.id).collect();
    for chunk in ids.chunks(500) {
        let headers: i64 = sales_orders::table
            .filter(sales_orders::account_id.eq(acc))
            .filter(sales_orders::id.eq_any(chunk))
            .count()
            .get_result(conn)?;
        let claims: i64 = import_claims::table
            .filter(import_claims::account_id.eq(acc))
            .filter(import_claims::order_id.eq_any(chunk))
            .count()
            .get_result(conn)?;
        if headers + claims > 0 {
            return Ok(false);
        }
    }
    // Lines without a header or a claim: a crash's leftovers.
    delete_ids!(conn, sales_order_lines, order_id, acc, ids);
    let claims = ids.iter().map(|id| NewClaim {
        account_id: acc,
        order_id: id,
        import_key: key,
    });
    insert_all!(conn, import_claims::table, claims, 3);
    let lines = orders.iter().flat_map(|r| sale_lines(acc, r));
    insert_all!(conn, sales_order_lines::table, lines, 6);
    Ok(true)
}

/// Whether every order `early` wrote is still claimed by it (no other
/// writer took one over). `None`: nothing was written early.
pub(super) fn intact(conn: &mut DbConn, acc: &str, early: Option<&Early<'_>>) -> QueryResult<bool> {
    let Some(early) = early else {
        return Ok(true);
    };
    let claimed: i64 = import_claims::table
        .filter(import_claims::account_id.eq(acc))
        .filter(import_claims::import_key.eq(&early.key))
        .count()
        .get_result(conn)?;
    Ok(claimed as usize == early.orders.len())
}

/// Removes the lines `early` wrote of the orders it still claims, and its
/// claims.
pub(super) fn undo(conn: &mut DbConn, acc: &str, early: Option<&Early<'_>>) -> QueryResult<()> {
    let Some(early) = early else {
        return Ok(());
    };
    let claimed = import_claims::table
        .filter(import_claims::account_id.eq(acc))
        .filter(import_claims::import_key.eq(&early.key))
        .select(import_claims::order_id);
    diesel::delete(
        sales_order_lines::table
            .filter(sales_order_lines::account_id.eq(acc))
            .filter(sales_order_lines::order_id.eq_any(claimed)),
    )
    .execute(conn)?;
    finish(conn, acc, early)
}

/// Lets go of `early`'s claims.
fn finish(conn: &mut DbConn, acc: &str, early: &Early<'_>) -> QueryResult<()> {
    diesel::delete(
        import_claims::table
            .filter(import_claims::account_id.eq(acc))
            .filter(import_claims::import_key.eq(&early.key)),
    )
    .execute(conn)?;
    Ok(())
}

/// Lets go of `early`'s claims once its last transaction committed, 1,000
/// a transaction (not in the last one, which they would lengthen). A claim
/// on an order that has its header guards nothing: an early batch skips
/// such an order, a writer updates it, and the next start removes what a
/// crash here leaves.
pub(super) fn release(conn: &mut DbConn, acc: &str, early: &Early<'_>) {
    let ids: Vec<&str> = early.orders.iter().copied().collect();
    for chunk in ids.chunks(1_000) {
        let released = crate::db::transaction(conn, |conn| {
            diesel::delete(
                import_claims::table
                    .filter(import_claims::account_id.eq(acc))
                    .filter(import_claims::order_id.eq_any(chunk))
                    .filter(import_claims::import_key.eq(&early.key)),
            )
            .execute(conn)
        });
        if let Err(e) = released {
            tracing::warn!(account = acc, error = %e,
                "an import's claims stay until the next start");
            return;
        }
    }
}

/// Before a writer creates orders `ids`: takes over any of them an import
/// in progress claims, removing that import's early lines (the import
/// notices in its last transaction and writes its batch whole).
pub(super) fn take_over(conn: &mut DbConn, acc: &str, ids: &[&str]) -> QueryResult<()> {
    let any: bool = diesel::select(diesel::dsl::exists(
        import_claims::table.filter(import_claims::account_id.eq(acc)),
    ))
    .get_result(conn)?;
    if !any {
        return Ok(());
    }
    for chunk in ids.chunks(500) {
        let claimed: Vec<String> = import_claims::table
            .filter(import_claims::account_id.eq(acc))
            .filter(import_claims::order_id.eq_any(chunk))
            .select(import_claims::order_id)
            .load(conn)?;
        if claimed.is_empty() {
            continue;
        }
        delete_ids!(conn, sales_order_lines, order_id, acc, claimed);
        delete_ids!(conn, import_claims, order_id, acc, claimed);
    }
    Ok(())
}

/// Removes what killed imports left: the lines of claimed orders that have
/// no header, and every claim. Run at start. An import under way in
/// another process loses its early lines too and, finding its claims
/// gone, writes its batch whole.
pub fn drop_unfinished(conn: &mut DbConn) -> QueryResult<usize> {
    let claims: Vec<(String, String)> = import_claims::table
        .select((import_claims::account_id, import_claims::order_id))
        .load(conn)?;
    if claims.is_empty() {
        return Ok(0);
    }
    crate::db::transaction(conn, |conn| {
        for (acc, order) in &claims {
            let headers: i64 = sales_orders::table
                .filter(sales_orders::account_id.eq(acc))
                .filter(sales_orders::id.eq(order))
                .count()
                .get_result(conn)?;
            if headers == 0 {
                diesel::delete(
                    sales_order_lines::table
                        .filter(sales_order_lines::account_id.eq(acc))
                        .filter(sales_order_lines::order_id.eq(order)),
                )
                .execute(conn)?;
            }
        }
        diesel::delete(import_claims::table).execute(conn)?;
        Ok(claims.len())
    })
}

/// A test-only hook run after each early batch of an import is committed
/// (a reader's look, an error, or a panic standing for a kill), compiled
/// with the `fault-injection` feature; a release build has none. It shares
/// the plan store's registry (`planning::store_fault`) under a key of its
/// own.
#[cfg(any(test, feature = "fault-injection"))]
pub mod fault {
    use crate::db::models::planning::store_fault;

    pub use store_fault::Hook;

    fn key(account_id: &str) -> String {
        format!("import:{account_id}")
    }

    /// Runs `hook` after each early batch of the imports into `account_id`
    /// until [`disarm`].
    pub fn arm(account_id: &str, hook: Hook) {
        store_fault::arm(&key(account_id), hook);
    }

    /// Removes the hook of `account_id`.
    pub fn disarm(account_id: &str) {
        store_fault::disarm(&key(account_id));
    }

    /// Runs the hook of `account_id`, if any.
    pub(crate) fn point(account_id: &str, batch: usize) -> diesel::QueryResult<()> {
        store_fault::point(&key(account_id), batch)
    }
}
