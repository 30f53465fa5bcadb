//! Reads of the stored order plan, shared by the API (`web::api::plans`),
//! the pages (`web::pages::plans`) and the StockTrim surface
//! (`web::compat::stocktrim`): one definition of "a fresh enough plan"
//! (queue its recompute, wait up to [`PLAN_WAIT`] for a plan of the data
//! as it was when the read started, else answer the last stored plan marked
//! stale), of the filters, sort and paging of a
//! read (checked strictly for the API, leniently for the pages), and of a
//! master row's per-child figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::db::models::planning::{
    self as store, LineDetail, LineFilter, PlanHeader, PlanLineRow, PlanSummary, SORT_FIELDS,
};
use crate::db::models::Account;
use crate::db::plan_orders::{PlanId, PlanKeys, PlanOrders, View, ViewKey, MIN_LINES};
use crate::db::{Db, DbConn};
use crate::domain::sku;
use crate::jobs::{self, Job, Signal};
use crate::services::plans::{self, ChildFigures};
use crate::services::ServiceError;

/// How long a read waits for a stale plan to be recomputed.
pub const PLAN_WAIT: Duration = Duration::from_secs(10);

/// The urgencies a read may filter by.
const URGENCIES: [&str; 3] = ["now", "soon", "ok"];

/// The stored plan a read answers from.
#[derive(Debug, Clone)]
pub struct Freshness {
    /// The stored plan's header (none: never computed yet).
    pub header: Option<PlanHeader>,
    /// Whether it is still older than the data.
    pub stale: bool,
}

/// Makes sure a plan of the data as it is when the read starts is coming
/// and waits for it up to `wait`; returns the stored header (if any) and
/// whether it is still older than that data. A plan stored meanwhile from
/// newer data answers too: a read waits for the changes made before it,
/// not for a stream of imports to pause. The wait asks the database again
/// only when a job of this process ended (or each second, for another
/// process's). A read never fails for want of queueing: the worker queues
/// stale plans itself too.
pub async fn fresh(
    db: &Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
    wait: Duration,
) -> Result<Freshness, ServiceError> {
    let deadline = Instant::now() + wait;
    // Subscribed before the first read, so that no job's end is missed.
    let mut ends = worker.job_ends();
    let acc = account.clone();
    let (target, header, queued, timing) = db
        .read(move |conn| {
            let day = plans::planning_date(&acc, today);
            let target = plans::inputs_version(conn, &acc, day)?;
            let header = store::plan_header(conn, &acc.id)?;
            let queued = jobs::queued_id(conn, &acc.id, jobs::JobKind::Plan)?.is_some();
            let timing = jobs::timing(conn, &acc.id, jobs::JobKind::Plan)?;
            Ok::<_, ServiceError>((target, header, queued, timing))
        })
        .await?;
    let covered = |h: &Option<PlanHeader>| {
        h.as_ref()
            .is_some_and(|h| covers(&h.inputs_version, &target))
    };
    if covered(&header) {
        return Ok(Freshness {
            header,
            stale: false,
        });
    }
    let hopeless = header.is_some()
        && beyond(
            timing,
            chrono::Utc::now().naive_utc(),
            deadline.saturating_duration_since(Instant::now()),
        );
    // A job queued already starts after this read began: it will do. Else
    // one is queued (the only write of a read).
    if !queued {
        let acc = account.clone();
        if let Err(e) = db
            .run(move |conn| {
                jobs::enqueue(conn, &acc, jobs::JobKind::Plan).map_err(ServiceError::from)
            })
            .await
        {
            tracing::warn!(error = %e, "could not queue a plan");
        }
    }
    worker.wake();
    // The plan that covers this read cannot be stored within the wait (the
    // last one took longer): the stored plan now, marked stale, rather than
    // the same answer after the whole wait.
    if hopeless {
        return Ok(Freshness {
            header,
            stale: true,
        });
    }
    let (mut header, mut timing) = (header, timing);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Freshness {
                header,
                stale: true,
            });
        }
        let ended =
            tokio::time::timeout((deadline - now).min(Duration::from_secs(1)), ends.changed())
                .await
                .is_ok();
        ends.borrow_and_update();
        let id = account.id.clone();
        // The jobs' timing is asked again only when a job ended (a new
        // one may have started); meanwhile the running one's length so far
        // grows with the clock.
        let (h, t) = db
            .read(move |conn| {
                let h = store::plan_header(conn, &id)?;
                let t = match ended {
                    true => Some(jobs::timing(conn, &id, jobs::JobKind::Plan)?),
                    false => None,
                };
                Ok::<_, ServiceError>((h, t))
            })
            .await?;
        header = h;
        timing = t.unwrap_or(timing);
        if covered(&header) {
            return Ok(Freshness {
                header,
                stale: false,
            });
        }
        // The estimate made at the start may have been too hopeful (a job
        // running longer than the last ones took): once the covering plan
        // can no longer come within what is left of the wait, the stored
        // plan now rather than after the whole wait.
        if header.is_some()
            && beyond(
                timing,
                chrono::Utc::now().naive_utc(),
                deadline.saturating_duration_since(Instant::now()),
            )
        {
            return Ok(Freshness {
                header,
                stale: true,
            });
        }
    }
}

/// Whether a plan that starts now (or after the one running, `timing.1`,
/// which started before this read and so may not cover it) would end after
/// `wait`, if it takes as long as the longest of the last ones (`timing.0`)
/// or the one running so far, whichever is longer.
fn beyond(
    timing: (Option<chrono::Duration>, Option<chrono::NaiveDateTime>),
    now: chrono::NaiveDateTime,
    wait: Duration,
) -> bool {
    let (Some(took), running) = timing else {
        return false;
    };
    // A running job already longer than the estimate is the better one.
    let took = running.map_or(took, |r| took.max(now - r));
    let start = running.map_or(now, |r| (r + took).max(now));
    let Ok(wait) = chrono::Duration::from_std(wait) else {
        return false;
    };
    start + took > now + wait
}

/// Whether a stored plan's inputs version (`plans::inputs_version`:
/// `{data version}@{planning date}~p{planner}` then, on a master,
/// `|{child}:{data version}:{include flags}` per child) covers `target`:
/// the same planning date, planner, children and include flags, and every
/// data version at least the target's (versions only grow).
pub fn covers(stored: &str, target: &str) -> bool {
    if stored == target {
        return true;
    }
    /// A data version, the rest of the first part, the children's
    /// `(id, data version, flags)`.
    type Parts<'a> = (i64, &'a str, Vec<(&'a str, i64, &'a str)>);
    fn parts(v: &str) -> Option<Parts<'_>> {
        let mut segs = v.split('|');
        let (version, rest) = segs.next()?.split_once('@')?;
        let children = segs
            .map(|c| {
                let mut p = c.rsplitn(3, ':');
                let flags = p.next()?;
                let version = p.next()?.parse().ok()?;
                Some((p.next()?, version, flags))
            })
            .collect::<Option<Vec<_>>>()?;
        Some((version.parse().ok()?, rest, children))
    }
    let (Some(s), Some(t)) = (parts(stored), parts(target)) else {
        return false;
    };
    s.0 >= t.0
        && s.1 == t.1
        && s.2.len() == t.2.len()
        && t.2.iter().all(|(id, version, flags)| {
            s.2.iter()
                .any(|(i, v, f)| i == id && f == flags && v >= version)
        })
}

/// The filters, sort and paging of an order-plan read as a caller gives
/// them (query-string text).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PlanParams {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Rows per page (default 50, at most 1,000).
    pub per_page: Option<i64>,
    /// Any row field ([`SORT_FIELDS`]).
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// Substring of the SKU (normalised) or title.
    pub q: Option<String>,
    /// Vendor name.
    pub vendor: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// A tag.
    pub tag: Option<String>,
    /// `now`, `soon` or `ok`.
    pub urgency: Option<String>,
    /// Only rows with this flag (`long_stockout`, `no_recent_sales`,
    /// `late_open_order`).
    pub flag: Option<String>,
}

/// Most rows a page of the order plan holds.
pub const MAX_PER_PAGE: i64 = 1000;

/// A checked order-plan read: filters, sort and the page.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Filters.
    pub filter: LineFilter,
    /// A field of [`SORT_FIELDS`].
    pub sort: String,
    /// Descending order.
    pub descending: bool,
    /// Page, from 1.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

impl PageRequest {
    /// Every matching row, in this order.
    pub fn all(mut self) -> PageRequest {
        self.page = 1;
        self.per_page = i64::MAX;
        self
    }
}

impl PlanParams {
    /// The read these parameters ask for; a value out of range is an error
    /// naming its field (the API).
    pub fn checked(&self) -> Result<PageRequest, ServiceError> {
        let page = self.page.unwrap_or(1);
        if page < 1 {
            return Err(ServiceError::invalid_field("page", "must be 1 or more"));
        }
        let per_page = self.per_page.unwrap_or(50);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ServiceError::invalid_field(
                "per_page",
                format!("must be 1 to {MAX_PER_PAGE}"),
            ));
        }
        let sort = self.sort.clone().unwrap_or_else(|| "urgency".into());
        if !SORT_FIELDS.contains(&sort.as_str()) {
            return Err(ServiceError::invalid_field(
                "sort",
                format!("must be one of {}", SORT_FIELDS.join(", ")),
            ));
        }
        let descending = match self.order.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(ServiceError::invalid_field("order", "must be asc or desc")),
        };
        if let Some(u) = &self.urgency {
            if !URGENCIES.contains(&u.as_str()) {
                return Err(ServiceError::invalid_field(
                    "urgency",
                    "must be now, soon or ok",
                ));
            }
        }
        let filter = LineFilter {
            q: self
                .q
                .as_deref()
                .map(sku::normalise)
                .filter(|s| !s.is_empty()),
            vendor: self.vendor.clone(),
            category: self.category.clone(),
            brand: self.brand.clone(),
            tag: self.tag.clone(),
            urgency: self.urgency.clone(),
            flag: self.flag.clone(),
        };
        Ok(PageRequest {
            filter,
            sort,
            descending,
            page,
            per_page,
        })
    }

    /// The read these parameters ask for, a value out of range or blank
    /// falling back to its default (the pages: a link never fails).
    pub fn lenient(&self) -> PageRequest {
        let clean = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        PageRequest {
            filter: LineFilter {
                q: clean(&self.q).map(|q| sku::normalise(&q)),
                vendor: clean(&self.vendor),
                category: clean(&self.category),
                brand: clean(&self.brand),
                tag: clean(&self.tag),
                urgency: clean(&self.urgency).filter(|u| URGENCIES.contains(&u.as_str())),
                flag: clean(&self.flag),
            },
            sort: self
                .sort
                .clone()
                .filter(|s| SORT_FIELDS.contains(&s.as_str()))
                .unwrap_or_else(|| "urgency".into()),
            descending: self.order.as_deref() == Some("desc"),
            page: self.page.unwrap_or(1).max(1),
            per_page: self.per_page.unwrap_or(50).clamp(1, MAX_PER_PAGE),
        }
    }
}

/// What a read returns besides the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extras {
    /// The rows alone (an export).
    Rows,
    /// On a master, each row's per-child figures (the API).
    Accounts,
    /// The per-child figures and the plan's summary (the page).
    AccountsAndSummary,
}

/// A page of the stored order plan.
#[derive(Debug)]
pub struct PlanPage {
    /// The stored plan it was read from and whether it is stale.
    pub freshness: Freshness,
    /// Matching rows in all.
    pub total: i64,
    /// The rows of the page.
    pub rows: Vec<PlanLineRow>,
    /// On a master, with [`Extras::Accounts`]: every row's per-child
    /// figures, in row order (read for this page's rows only); none on a
    /// child.
    pub accounts: Option<Vec<Vec<ChildFigures>>>,
    /// With [`Extras::AccountsAndSummary`]: the plan's totals and filter lists (summarised when
    /// the plan was stored).
    pub summary: Option<PlanSummary>,
}

/// Reads a page of an account's stored plan once it is fresh (or waited
/// for [`PLAN_WAIT`]): filtered, sorted and paged in the database, a
/// master's rows with their per-child figures and the plan's summary as
/// `extras` asks.
pub async fn read_page(
    db: &Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
    req: PageRequest,
    extras: Extras,
) -> Result<PlanPage, ServiceError> {
    let freshness = fresh(db, worker, account, today, PLAN_WAIT).await?;
    let id = account.id.clone();
    let accounts = account.is_master() && extras != Extras::Rows;
    let summary = extras == Extras::AccountsAndSummary;
    let orders = db.plan_orders().clone();
    let (total, rows, accounts, summary, unheld) = db
        .read(move |conn| {
            let offset = (req.page - 1).saturating_mul(req.per_page);
            // A read of every row (an export) reads them in one pass.
            let paged = req.per_page <= MAX_PER_PAGE;
            let key = if paged {
                view_key(conn, &id, &req)?
            } else {
                None
            };
            let (view, unheld) = match key {
                None => (None, None),
                Some(key) => match orders.get(&key) {
                    Some(v) => (Some(v), None),
                    None => (None, Some(key)),
                },
            };
            let (total, rows) = match &view {
                Some(v) => (
                    v.len() as i64,
                    store::lines_in_order(conn, &id, &v.page(offset, req.per_page))?,
                ),
                None => store::page_lines(
                    conn,
                    &id,
                    &req.filter,
                    &req.sort,
                    req.descending,
                    offset,
                    req.per_page,
                )?,
            };
            let accounts = if accounts {
                Some(
                    store::line_accounts(conn, &id, &rows)?
                        .iter()
                        .map(|a| child_figures(a))
                        .collect(),
                )
            } else {
                None
            };
            // The totals follow the filter (the plan's own summary holds
            // them for every line).
            let summary = if summary {
                let mut s = store::plan_summary(conn, &id)?;
                if req.filter.is_active() {
                    let mut totals = || store::filtered_totals(conn, &id, &req.filter);
                    s.totals = match &view {
                        Some(v) => v.totals(totals)?,
                        None => totals()?,
                    };
                }
                Some(s)
            } else {
                None
            };
            Ok::<_, ServiceError>((total, rows, accounts, summary, unheld))
        })
        .await?;
    // A large plan's view read again: its order is held for the next
    // reads, worked out after this one is answered.
    if let Some(key) = unheld {
        if db.plan_orders().start(&key) {
            let (db, orders) = (db.clone(), db.plan_orders().clone());
            actix_web::rt::spawn(async move {
                let built = db.read(move |conn| hold_view(conn, &orders, key)).await;
                if let Err(e) = built {
                    tracing::warn!(error = %e, "order-plan view not held");
                }
            });
        }
    }
    Ok(PlanPage {
        freshness,
        total,
        rows,
        accounts,
        summary,
    })
}

/// The view a read asks for (`db::plan_orders`); `None` for a plan too
/// small to hold (the database sorts it at every read).
fn view_key(
    conn: &mut DbConn,
    account: &str,
    req: &PageRequest,
) -> Result<Option<ViewKey>, ServiceError> {
    let Some(h) = store::plan_header(conn, account)? else {
        return Ok(None);
    };
    if h.line_count < MIN_LINES {
        return Ok(None);
    }
    Ok(Some(ViewKey {
        plan: PlanId {
            account: account.to_string(),
            inputs_version: h.inputs_version,
            computed_at: h.computed_at,
        },
        filter: req.filter.clone(),
        sort: req.sort.clone(),
        descending: req.descending,
    }))
}

/// Works out a view's order and holds it. Its plan may have been replaced
/// meanwhile: then the view is not held (no read asks for it any more).
fn hold_view(conn: &mut DbConn, orders: &PlanOrders, key: ViewKey) -> Result<(), ServiceError> {
    let result = (|| {
        let account = key.plan.account.as_str();
        let keys = store::ordered_keys(conn, account, &key.filter, &key.sort, key.descending)?;
        let current = store::plan_header(conn, account)?.is_some_and(|h| {
            h.inputs_version == key.plan.inputs_version && h.computed_at == key.plan.computed_at
        });
        if !current {
            return Ok(None);
        }
        // The plan's table of keys: held with its other views, else these
        // keys when the view keeps every line, else read.
        let table = match orders.table(&key.plan) {
            Some(t) => t,
            None if !key.filter.is_active() => Arc::new(PlanKeys::new(keys.clone())),
            None => Arc::new(PlanKeys::new(store::ordered_keys(
                conn,
                account,
                &LineFilter::default(),
                "sku",
                false,
            )?)),
        };
        Ok::<_, ServiceError>(Some(Arc::new(View::new(table, &keys))))
    })();
    match result {
        Ok(Some(view)) => {
            orders.put(key, view);
            Ok(())
        }
        Ok(None) => {
            orders.abandon(&key);
            Ok(())
        }
        Err(e) => {
            orders.abandon(&key);
            Err(e)
        }
    }
}

/// A master line's stored per-child figures (none when unreadable).
pub fn child_figures(accounts: &str) -> Vec<ChildFigures> {
    serde_json::from_str(accounts).unwrap_or_default()
}

/// One line of an account's fresh plan with its details (per-child figures
/// and explanation); the SKU is matched after normalisation.
pub async fn read_line(
    db: &Db,
    worker: &Signal,
    account: &Account,
    today: Option<NaiveDate>,
    sku_text: &str,
) -> Result<(Freshness, PlanLineRow, LineDetail), ServiceError> {
    let freshness = fresh(db, worker, account, today, PLAN_WAIT).await?;
    let key = sku::normalise(sku_text);
    let id = account.id.clone();
    let (line, detail) = db
        .read(move |conn| store::line_with_explanation(conn, &id, &key).map_err(ServiceError::from))
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound("This account's plan has no line for that SKU.".into())
        })?;
    Ok((freshness, line, detail))
}

/// The state of an account's plan and of its recompute (never waits).
#[derive(Debug)]
pub struct PlanState {
    /// The stored plan's header (none: never computed yet).
    pub header: Option<PlanHeader>,
    /// Whether it is older than the data.
    pub stale: bool,
    /// The recompute under way, if any.
    pub job: Option<Job>,
}

/// Reads the state of an account's plan.
pub fn state(
    conn: &mut DbConn,
    account: &Account,
    today: Option<NaiveDate>,
) -> Result<PlanState, ServiceError> {
    Ok(PlanState {
        stale: plans::is_stale(conn, account, today)?,
        header: store::plan_header(conn, &account.id)?,
        job: Job::open_for(conn, &account.id, jobs::JobKind::Plan)?,
    })
}

#[cfg(test)]
mod tests {
    use super::{beyond, covers};
    use std::time::Duration;

    #[test]
    fn a_read_stops_waiting_for_a_plan_that_cannot_come_in_time() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let s = chrono::Duration::seconds;
        let wait = Duration::from_secs(10);
        // Never planned yet, or quick: wait.
        assert!(!beyond((None, None), now, wait));
        assert!(!beyond((Some(s(2)), None), now, wait));
        // Quick, but one of 6 s started 1 s ago: 5 s more, then 6 s.
        assert!(beyond((Some(s(6)), Some(now - s(1))), now, wait));
        assert!(!beyond((Some(s(4)), Some(now - s(1))), now, wait));
        // Slower than the wait.
        assert!(beyond((Some(s(12)), None), now, wait));
        // The last ones took 1 s, but the one running has taken 11 s so far.
        assert!(beyond((Some(s(1)), Some(now - s(11))), now, wait));
    }

    #[test]
    fn a_newer_plan_covers_an_older_version_of_the_same_inputs() {
        let t = "5@2026-01-01~p5|acc_a:10:11|acc_b:3:10";
        assert!(covers(t, t));
        assert!(covers("5@2026-01-01~p5|acc_a:12:11|acc_b:3:10", t));
        assert!(covers("6@2026-01-01~p5|acc_b:4:10|acc_a:10:11", t));
        assert!(covers("7@2026-01-01~p5", "7@2026-01-01~p5"));
        assert!(covers("8@2026-01-01~p5", "7@2026-01-01~p5"));
    }

    #[test]
    fn an_older_or_different_plan_does_not() {
        let t = "5@2026-01-01~p5|acc_a:10:11|acc_b:3:10";
        // A child older.
        assert!(!covers("5@2026-01-01~p5|acc_a:9:11|acc_b:3:10", t));
        // The master older.
        assert!(!covers("4@2026-01-01~p5|acc_a:10:11|acc_b:3:10", t));
        // Another planning date, planner, include flag or set of children.
        assert!(!covers("5@2026-01-02~p5|acc_a:10:11|acc_b:3:10", t));
        assert!(!covers("5@2026-01-01~p6|acc_a:10:11|acc_b:3:10", t));
        assert!(!covers("5@2026-01-01~p5|acc_a:10:01|acc_b:3:10", t));
        assert!(!covers("5@2026-01-01~p5|acc_a:10:11", t));
        assert!(!covers("5@2026-01-01~p5|acc_a:10:11|acc_c:3:10", t));
        assert!(!covers("garbage", t));
    }
}
