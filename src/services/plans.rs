//! Planning orchestration: freshness (a plan records the version of its
//! inputs, [`inputs_version`]; when that moves on the plan is stale and the
//! job worker, `crate::jobs`, recomputes it), computing an account's plan
//! through the pipeline of `crate::planning` (a master: its stale children
//! on the way, each child's records read once), and storing it.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rayon::prelude::*;

use crate::db::models::planning::{
    self as store, LineDetail, LineFigures, PlanHeader, PlanLineRow, PlanSummary, WarehouseSetting,
};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::forecast::Calibration;
use crate::planning::calibrate;
use crate::planning::fits::{self, FitUse};
use crate::planning::line::compute_line;
use crate::planning::rollup::{child_keys, roll_up, Rollup, WarehouseFlags};
use crate::planning::series::{child_line_input, master_line_input};
use crate::planning::snapshot::{load_child, ChildData, MasterInputs, Reads};
use crate::services::ServiceError;

pub use crate::planning::rollup::Conflict;
pub use crate::planning::series::{convert, known_available, ChildFigures, Included};
use crate::services::replan;

/// The version of the planner's rules, part of every plan's inputs version:
/// bumped when a change to planning changes what a plan computes, so that
/// every stored plan is recomputed whole once.
pub const PLANNER_VERSION: u32 = 7;

/// The planning date of an account: `TRIBUTARY_TODAY` if set, else today in
/// the account's time zone.
pub fn planning_date(account: &Account, fixed: Option<NaiveDate>) -> NaiveDate {
    fixed.unwrap_or_else(|| {
        let tz: Tz = account.timezone.parse().unwrap_or(Tz::UTC);
        tz.from_utc_datetime(&Utc::now().naive_utc()).date_naive()
    })
}

/// The version of everything a plan depends on: the account's own data and
/// settings version, the planning date, and for a master every child's
/// version, name and flags. A stored plan with another version is stale.
pub fn inputs_version(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
) -> Result<String, ServiceError> {
    let mut v = format!("{}@{}~p{}", account.data_version, today, PLANNER_VERSION);
    if account.is_master() {
        for c in Account::list_children(conn, &account.id)? {
            v.push_str(&format!(
                "|{}:{}:{}{}",
                c.id, c.data_version, c.include_stock as u8, c.include_sales as u8
            ));
        }
    }
    Ok(v)
}

/// A child's whole plan, with its catalogue calibration. The lines of the
/// variants in `shared` (those that make up a master row alone) share their
/// fits for the master's rows (`planning::fits`).
fn child_lines(
    c: &ChildData,
    cal: &Calibration,
    shared: Option<(&HashSet<usize>, FitUse)>,
) -> (Vec<PlanLineRow>, Vec<LineDetail>) {
    let cal = calibrate::in_use(cal);
    let mut ignored = Vec::new();
    let keys = child_keys(c, &mut ignored);
    // Each line's inputs are shaped where it is computed, so that only the
    // lines in flight hold a daily series.
    crate::planning::pool::run(|| {
        keys.into_par_iter()
            .enumerate()
            .map(|(i, k)| {
                let mut li = child_line_input(c, i, k);
                if let Some((_, share)) = shared.filter(|(single, _)| single.contains(&i)) {
                    li.fit = share;
                }
                compute_line(&c.account.id, c.today, li, cal)
            })
            .unzip()
    })
}

/// Per child: the variants that make up a master row alone (whose line's
/// fit is the row's, `planning::fits`).
fn single_members(rollup: &Rollup, children: usize) -> Vec<HashSet<usize>> {
    let mut single = vec![HashSet::new(); children];
    for members in rollup.groups.values() {
        if let [(ci, vi)] = members[..] {
            single[ci].insert(vi);
        }
    }
    single
}

/// How [`load_master`] treats the children's own plans.
enum Children<'a> {
    /// Read their stored plans as they are, and of their records only the
    /// catalogue (variants and terms: what the roll-up's conflicts need; no
    /// sales, stock or orders).
    CatalogueOnly,
    /// First compute and store each stale child's plan, from the data loaded
    /// for the master where the planning dates agree (each child's records
    /// are read once for both); `progress(done)` after each child. With a
    /// `writer` (a second connection) the children's plans are stored on it
    /// while the next child's records are read.
    Refresh {
        fixed_today: Option<NaiveDate>,
        progress: &'a mut dyn FnMut(i64),
        writer: Option<&'a mut DbConn>,
        /// Every child's plan is recomputed, stale or not (a full replan).
        every: bool,
    },
}

/// Per child (in order): which of its warehouses the master counts.
pub(crate) fn warehouse_flags(
    kids: &[Account],
    settings: &[WarehouseSetting],
) -> Vec<WarehouseFlags> {
    kids.iter()
        .map(|k| {
            WarehouseFlags(
                settings
                    .iter()
                    .filter(|s| s.account_id == k.id)
                    .map(|s| (s.warehouse_id.clone(), (s.include_stock, s.include_sales)))
                    .collect(),
            )
        })
        .collect()
}

/// A master's children, oldest first (the order of its row's members).
pub(crate) fn children_of(
    conn: &mut DbConn,
    master: &Account,
) -> Result<Vec<Account>, ServiceError> {
    let mut kids = Account::list_children(conn, &master.id)?;
    kids.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(kids)
}

fn load_master(
    conn: &mut DbConn,
    master: &Account,
    today: NaiveDate,
    mut mode: Children,
) -> Result<MasterInputs, ServiceError> {
    let kids = children_of(conn, master)?;
    let mut children = Vec::new();
    let mut child_plans = Vec::new();
    let records = matches!(mode, Children::Refresh { .. });
    // A stale child's plan is computed (on the worker pool) while the next
    // child's records are read; its lines are stored once that read is done
    // (the connection is this thread's).
    type Pending = (ChildData, PlanHeader, Vec<PlanLineRow>, Vec<LineDetail>);
    type Computed = (PlanHeader, Vec<PlanLineRow>, Vec<LineDetail>);
    let writer = match &mut mode {
        Children::Refresh { writer, .. } => writer.take(),
        Children::CatalogueOnly => None,
    };
    let (mut stale, catalogues, rollup) = children_before_lines(conn, master, &kids, today, &mode)?;
    let single = single_members(&rollup, kids.len());
    // Within the master's scope (`compute_whole`): its rows take these.
    let share = fits::current();
    std::thread::scope(|scope| -> Result<(), ServiceError> {
        let mut pending: Option<std::thread::ScopedJoinHandle<Pending>> = None;
        // With a second connection, computed plans are stored on it, in
        // order, while this thread reads on.
        let (to_store, computed) = std::sync::mpsc::channel::<Computed>();
        let storer = writer.map(|w| {
            scope.spawn(move || -> Result<(), ServiceError> {
                for (h, lines, details) in computed {
                    store_lines(w, &h, &lines, &details)?;
                }
                Ok(())
            })
        });
        // Stores a computed child plan (or hands it to the storer): its data
        // and figures for the master.
        let finish = |conn: &mut DbConn,
                      handle: std::thread::ScopedJoinHandle<Pending>|
         -> Result<(ChildData, HashMap<String, LineFigures>), ServiceError> {
            let (data, h, lines, details) = handle.join().map_err(|_| {
                ServiceError::Internal("a child's plan computation panicked".into())
            })?;
            let figures = lines
                .iter()
                .map(|l| (l.sku_key.clone(), LineFigures::from(l)))
                .collect();
            match &storer {
                // A storer that stopped has its error, seen when it is joined.
                Some(_) => {
                    let _ = to_store.send((h, lines, details));
                }
                None => store_lines(conn, &h, &lines, &details)?,
            }
            Ok((data, figures))
        };
        let done = |mode: &mut Children, n: usize| {
            if let Children::Refresh { progress, .. } = mode {
                progress(n as i64);
            }
        };
        for ((ci, k), mut data) in kids.iter().enumerate().zip(catalogues) {
            if records {
                data.fill(conn, None)?;
            }
            let own = match &stale[ci] {
                Some((_, k_today)) if *k_today != today => {
                    Some(load_child(conn, k, *k_today, Reads::All)?)
                }
                _ => None,
            };
            if let Some(handle) = pending.take() {
                let (data, figures) = finish(conn, handle)?;
                children.push(data);
                child_plans.push(figures);
                done(&mut mode, children.len());
            }
            match stale[ci].take() {
                Some((version, k_today)) => {
                    let k = k.clone();
                    let single = &single[ci];
                    let cal = calibrate::for_child(conn, own.as_ref().unwrap_or(&data))?;
                    pending = Some(scope.spawn(move || {
                        let started = std::time::Instant::now();
                        let (lines, details) = match &own {
                            Some(own) => child_lines(own, &cal, None),
                            None => child_lines(&data, &cal, Some((single, share))),
                        };
                        let h = header(&k, version, k_today, &lines, started);
                        (data, h, lines, details)
                    }));
                }
                None => {
                    child_plans.push(
                        store::line_figures(conn, &k.id)?
                            .into_iter()
                            .map(|l| (l.sku_key.clone(), l))
                            .collect(),
                    );
                    children.push(data);
                    done(&mut mode, children.len());
                }
            }
        }
        if let Some(handle) = pending.take() {
            let (data, figures) = finish(conn, handle)?;
            children.push(data);
            child_plans.push(figures);
            done(&mut mode, children.len());
        }
        drop(to_store);
        match storer.map(|s| s.join()) {
            Some(Err(_)) => Err(ServiceError::Internal(
                "storing a child's plan panicked".into(),
            )),
            Some(Ok(stored)) => stored,
            None => Ok(()),
        }
    })?;
    master_inputs(conn, master, today, &kids, children, child_plans, rollup)
}

/// A child's inputs version and planning date, when its plan is to be
/// recomputed.
type Stale = Option<(String, NaiveDate)>;

/// What a master reads of its children before any line is computed: each
/// child's inputs version if its plan is to be recomputed (read before its
/// records, as in `compute_and_store`: a write in between leaves the plan
/// stale), then the catalogues and their roll-up, which tells which child
/// lines' fits the master's rows take (`planning::fits`).
fn children_before_lines(
    conn: &mut DbConn,
    master: &Account,
    kids: &[Account],
    today: NaiveDate,
    mode: &Children,
) -> Result<(Vec<Stale>, Vec<ChildData>, Rollup), ServiceError> {
    let mut stale = Vec::with_capacity(kids.len());
    for k in kids {
        stale.push(match mode {
            Children::Refresh {
                fixed_today,
                every: true,
                ..
            } => {
                let k_today = planning_date(k, *fixed_today);
                Some((inputs_version(conn, k, k_today)?, k_today))
            }
            Children::Refresh { fixed_today, .. } => stale_version(conn, k, *fixed_today)?,
            Children::CatalogueOnly => None,
        });
    }
    let mut catalogues = Vec::with_capacity(kids.len());
    for k in kids {
        catalogues.push(load_child(conn, k, today, Reads::Catalogue)?);
    }
    let rollup = roll_up(&catalogues, &store::links(conn, &master.id)?);
    Ok((stale, catalogues, rollup))
}

/// A master's inputs around its children's loaded data and plan figures:
/// its roll-up settings, links, rates, edits and marks.
fn master_inputs(
    conn: &mut DbConn,
    master: &Account,
    today: NaiveDate,
    kids: &[Account],
    children: Vec<ChildData>,
    child_plans: Vec<HashMap<String, LineFigures>>,
    rollup: Rollup,
) -> Result<MasterInputs, ServiceError> {
    let settings: Vec<WarehouseSetting> = store::warehouse_settings(conn, &master.id)?;
    Ok(MasterInputs {
        edits: crate::planning::edits::EditSet::new(
            &crate::db::models::forecast_edit::ForecastEdit::of_account(conn, &master.id)?,
            today,
        ),
        flags: warehouse_flags(kids, &settings),
        rates: store::exchange_rates(conn, &master.organisation_id)?,
        rollup,
        children,
        child_plans,
        not_for_reorder: crate::db::models::sku_settings::not_for_reorder(conn, &master.id)?,
    })
}

/// A master's whole plan; a row of one member takes `take`, the fit its
/// child's line shared (`planning::fits`).
fn master_lines(
    m: &MasterInputs,
    master: &Account,
    today: NaiveDate,
    take: FitUse,
    cal: &Calibration,
) -> (Vec<PlanLineRow>, Vec<LineDetail>) {
    let cal = calibrate::in_use(cal);
    let groups: Vec<(&String, &Vec<(usize, usize)>)> = m.rollup.groups.iter().collect();
    // Each line's inputs are shaped where it is computed (see `child_lines`).
    crate::planning::pool::run(|| {
        groups
            .into_par_iter()
            .map(|(k, members)| {
                let mut ignored = Vec::new();
                let mut li = master_line_input(m, master, today, k, members, &mut ignored);
                if members.len() == 1 {
                    li.fit = take;
                }
                compute_line(&master.id, today, li, cal)
            })
            .unzip()
    })
}

/// The conflicts of a master's roll-up, as of its current data.
pub fn conflicts(
    conn: &mut DbConn,
    master: &Account,
    today: NaiveDate,
) -> Result<Vec<Conflict>, ServiceError> {
    let m = load_master(conn, master, today, Children::CatalogueOnly)?;
    let mut out = m.rollup.conflicts.clone();
    for (k, members) in &m.rollup.groups {
        master_line_input(&m, master, today, k, members, &mut out);
    }
    Ok(out)
}

/// Computes an account's plan (a master: its stale children first) and
/// stores it; returns the stored header. When a plan is stored and what
/// changed since is known (`replan::changes`), only the lines it touched are
/// recomputed and upserted; else the plan is computed whole. `writer`, a second connection,
/// lets a master store its children's plans while it reads on.
/// `progress(done, total)` reports the accounts done.
pub fn compute_and_store(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
    writer: Option<&mut DbConn>,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<PlanHeader, ServiceError> {
    let today = planning_date(account, fixed_today);
    if let Some(stored) = store::plan_header(conn, &account.id)? {
        let version = inputs_version(conn, account, today)?;
        if let Some(changed) = replan::changes(conn, account, &stored.inputs_version, &version)? {
            return replan::incremental(conn, account, fixed_today, version, changed, progress);
        }
    }
    compute_full(conn, account, fixed_today, writer, progress)
}

/// Computes an account's whole plan (a master: its stale children first,
/// each whole) and stores it; returns the stored header.
pub fn compute_full(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
    writer: Option<&mut DbConn>,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<PlanHeader, ServiceError> {
    compute_whole(conn, account, fixed_today, writer, false, progress)
}

/// [`compute_full`]; `every`: a master recomputes every child's plan whole
/// too, stale or not (sharing their lines' fits with its rows).
fn compute_whole(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
    writer: Option<&mut DbConn>,
    every: bool,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<PlanHeader, ServiceError> {
    let started = std::time::Instant::now();
    let today = planning_date(account, fixed_today);
    if account.is_master() {
        let scope = fits::Scope::enter();
        let taken = fits::taken();
        let total = Account::list_children(conn, &account.id)?.len() as i64 + 1;
        // The master's version first: a child's plan stored below is not
        // one of its inputs, its children's records are.
        let version = inputs_version(conn, account, today)?;
        let m = load_master(
            conn,
            account,
            today,
            Children::Refresh {
                fixed_today,
                progress: &mut |done| progress(done, total),
                writer,
                every,
            },
        )?;
        let cal = calibrate::for_master(conn, &m, account, today)?;
        let loaded = started.elapsed().as_secs_f64();
        let (lines, details) = master_lines(&m, account, today, scope.take(), &cal);
        // Fits shared for rows whose inputs turned out to differ.
        drop(scope);
        drop(m);
        let header = header(account, version, today, &lines, started);
        store_lines(conn, &header, &lines, &details)?;
        tracing::debug!(
            account = %account.id,
            loaded_s = loaded,
            fits_taken = fits::taken() - taken,
            "master inputs loaded (children refreshed); rows that took a child line's fit"
        );
        progress(total, total);
        Ok(header)
    } else {
        progress(0, 1);
        let version = inputs_version(conn, account, today)?;
        let data = load_child(conn, account, today, Reads::All)?;
        let cal = calibrate::for_child(conn, &data)?;
        let (lines, details) = child_lines(&data, &cal, None);
        drop(data);
        let header = header(account, version, today, &lines, started);
        store_lines(conn, &header, &lines, &details)?;
        progress(1, 1);
        Ok(header)
    }
}

/// Stores a computed plan and logs it (for operators: how long plans take).
/// A plan computed from inputs that have changed since never replaces a
/// stored plan that is current: two computations of one plan may overlap
/// (a worker's job and a direct computation, or two processes), and the one
/// that started first may finish last.
pub(crate) fn store_lines(
    conn: &mut DbConn,
    h: &PlanHeader,
    lines: &[PlanLineRow],
    details: &[LineDetail],
) -> Result<(), ServiceError> {
    let started = std::time::Instant::now();
    let account = Account::find_by_id(conn, &h.account_id)?;
    if let Some(account) = &account {
        let current = inputs_version(conn, account, h.planning_date)?;
        let stored = store::plan_header(conn, &h.account_id)?;
        if h.inputs_version != current && stored.is_some_and(|s| s.inputs_version == current) {
            tracing::info!(account = %h.account_id, "an outdated plan was not stored: the stored one is current");
            return Ok(());
        }
    }
    store::store_plan(conn, h, lines, details)?;
    if let Some(account) = &account {
        replan::prune_touches(conn, account)?;
    }
    tracing::info!(
        account = %h.account_id,
        lines = h.line_count,
        compute_s = h.seconds,
        store_s = started.elapsed().as_secs_f64(),
        "plan computed and stored"
    );
    Ok(())
}

pub(crate) fn header(
    account: &Account,
    version: String,
    today: NaiveDate,
    lines: &[PlanLineRow],
    started: std::time::Instant,
) -> PlanHeader {
    PlanHeader {
        account_id: account.id.clone(),
        inputs_version: version,
        planning_date: today,
        computed_at: Utc::now().naive_utc(),
        line_count: lines.len() as i64,
        seconds: started.elapsed().as_secs_f64(),
        summary: serde_json::to_string(&PlanSummary::of(lines)).unwrap_or_else(|_| "{}".into()),
    }
}

/// Whether the stored plan of an account is missing or out of date.
pub fn is_stale(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
) -> Result<bool, ServiceError> {
    Ok(stale_version(conn, account, fixed_today)?.is_some())
}

/// The current inputs version and planning date of an account whose stored
/// plan is missing or out of date (`None`: the stored plan is current).
fn stale_version(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
) -> Result<Option<(String, NaiveDate)>, ServiceError> {
    let today = planning_date(account, fixed_today);
    let version = inputs_version(conn, account, today)?;
    let current = store::plan_header(conn, &account.id)?;
    Ok(current
        .is_none_or(|h| h.inputs_version != version)
        .then_some((version, today)))
}

/// Computes and stores every stale plan of an organisation now (children
/// first, then the master); returns how many plans were computed. The demo
/// uses it so that its first page shows a computed plan.
pub fn compute_organisation(
    conn: &mut DbConn,
    org: &str,
    fixed_today: Option<NaiveDate>,
    mut writer: Option<&mut DbConn>,
) -> Result<usize, ServiceError> {
    let accounts = Account::list_by_organisation(conn, org)?;
    let mut stale = Vec::new();
    for a in &accounts {
        if is_stale(conn, a, fixed_today)? {
            stale.push(a);
        }
    }
    // A master computes its stale children on the way (reading each child's
    // records once for both plans); then any child still stale.
    for a in stale.iter().filter(|a| a.is_master()) {
        compute_and_store(conn, a, fixed_today, writer.as_deref_mut(), &mut |_, _| {})?;
    }
    for a in stale.iter().filter(|a| !a.is_master()) {
        if is_stale(conn, a, fixed_today)? {
            compute_and_store(conn, a, fixed_today, None, &mut |_, _| {})?;
        }
    }
    Ok(stale.len())
}

/// What a replan from the command line did to one account.
#[derive(Debug, Clone)]
pub struct Replanned {
    /// The account.
    pub account: Account,
    /// `full`, `incremental` or `current` (nothing to do).
    pub mode: &'static str,
    /// The stored plan's header after the run.
    pub header: Option<PlanHeader>,
}

/// Recomputes plans now (`tributary plan`): one account (a master with its
/// children) or every account. With `full`, every plan is computed whole
/// (children before their master); else each stale plan is brought up to
/// date, incrementally where what changed is known, and current plans are
/// left alone.
pub fn replan_now(
    conn: &mut DbConn,
    account: Option<&str>,
    full: bool,
    fixed_today: Option<NaiveDate>,
) -> Result<Vec<Replanned>, ServiceError> {
    let accounts = match account {
        Some(id) => {
            let a = Account::find_by_id(conn, id)?
                .ok_or_else(|| ServiceError::NotFound(format!("account {id}")))?;
            let mut v = if a.is_master() {
                Account::list_children(conn, &a.id)?
            } else {
                vec![]
            };
            v.push(a);
            v
        }
        // Children first, each master after them.
        None => {
            let mut v = Account::list_all(conn)?;
            v.sort_by_key(|a| a.is_master());
            v
        }
    };
    // A full replan computes each master with all its children (their
    // lines share fits with its rows); then any account not computed yet.
    let mut whole: HashSet<String> = HashSet::new();
    if full {
        for m in accounts.iter().filter(|a| a.is_master()) {
            compute_whole(conn, m, fixed_today, None, true, &mut |_, _| {})?;
            whole.insert(m.id.clone());
            whole.extend(
                Account::list_children(conn, &m.id)?
                    .into_iter()
                    .map(|c| c.id),
            );
        }
    }
    let mut out = Vec::new();
    for a in accounts {
        let mode = if full {
            if !whole.contains(&a.id) {
                compute_full(conn, &a, fixed_today, None, &mut |_, _| {})?;
            }
            "full"
        } else if let Some((version, _)) = stale_version(conn, &a, fixed_today)? {
            let incremental = match store::plan_header(conn, &a.id)? {
                Some(h) => replan::changes(conn, &a, &h.inputs_version, &version)?.is_some(),
                None => false,
            };
            compute_and_store(conn, &a, fixed_today, None, &mut |_, _| {})?;
            if incremental {
                "incremental"
            } else {
                "full"
            }
        } else {
            "current"
        };
        let header = store::plan_header(conn, &a.id)?;
        out.push(Replanned {
            account: a,
            mode,
            header,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two computations of one plan overlap and the older finishes last:
    /// its lines do not replace the current plan.
    #[test]
    fn an_outdated_plan_does_not_replace_a_current_one() {
        let (_dir, db, child) = crate::services::testing::one_child();
        let mut conn = db.conn().unwrap();
        let today: NaiveDate = "2026-03-01".parse().unwrap();
        let fresh =
            compute_and_store(&mut conn, &child, Some(today), None, &mut |_, _| {}).unwrap();
        let outdated = PlanHeader {
            inputs_version: "an older version".into(),
            computed_at: Utc::now().naive_utc(),
            ..fresh.clone()
        };
        store_lines(&mut conn, &outdated, &[], &[]).unwrap();
        let stored = store::plan_header(&mut conn, &child.id).unwrap().unwrap();
        assert_eq!(stored.inputs_version, fresh.inputs_version);
        assert!(!is_stale(&mut conn, &child, Some(today)).unwrap());
        // Once the stored plan is outdated too, the other one may replace it.
        Account::bump_data_version(&mut conn, &child.id).unwrap();
        store_lines(&mut conn, &outdated, &[], &[]).unwrap();
        let stored = store::plan_header(&mut conn, &child.id).unwrap().unwrap();
        assert_eq!(stored.inputs_version, "an older version");
    }
}
