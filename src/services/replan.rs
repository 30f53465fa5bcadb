//! Incremental replanning: a change costs what it touches. The write path
//! records, per account and data version, the variants whose plan inputs a
//! write changed (`plan_touches`); a replan compares the stored plan's
//! inputs version with the current one and, when every version in between
//! is accounted for by such records, recomputes only the lines of those
//! variants — in a child, its own lines; in a master, the rows the touched
//! variants belong to, from every child's members of those rows — and
//! upserts them. A product edit that keeps the variant's SKU, bill of
//! materials and kind touches the variant alone. Anything else (a setting,
//! a link, a new, removed or re-keyed variant, a new planning date, a new planner version, more than [`INCREMENTAL_LIMIT`]
//! variants) replans whole. Either way the stored lines are the same, row
//! for row (tested in `tests/it/plans.rs`).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::db::models::planning::{self as store, LineDetail, PlanHeader, PlanLineRow};
use crate::db::models::Account;
use crate::db::DbConn;
use crate::forecast::Calibration;
use crate::planning::calibrate;
use crate::planning::line::compute_line;
use crate::planning::rollup::{child_keys, roll_up, Links};
use crate::planning::series::{child_line_input, master_line_input};
use crate::planning::snapshot::{load_child, with_catalogue, ChildData, MasterInputs, Reads};
use crate::services::plans::{
    children_of, compute_and_store, header, inputs_version, is_stale, planning_date,
    warehouse_flags,
};
use crate::services::ServiceError;

/// Most variants of one account an incremental replan reads by id; past
/// that, a whole read is cheaper than the index probes.
pub const INCREMENTAL_LIMIT: usize = 2_000;

/// How a master's own change records a row it touched: this prefix and
/// the row's key (a child's records name variants).
pub const ROW_TOUCH: &str = "key:";

/// The changes since a stored plan: per account (a child itself, or a
/// master's changed children) the variants touched.
pub type Changes = Vec<(Account, BTreeSet<String>)>;

/// An inputs version taken apart: `data@day~planner`, then for a master
/// `|child:data:flags` per child.
struct Version<'a> {
    data: i64,
    head: &'a str,
    children: Vec<(&'a str, i64, &'a str)>,
}

fn parse(v: &str) -> Option<Version<'_>> {
    let mut parts = v.split('|');
    let first = parts.next()?;
    let at = first.find('@')?;
    let data = first[..at].parse().ok()?;
    let mut children = Vec::new();
    for p in parts {
        let mut f = p.split(':');
        let (id, d, flags) = (f.next()?, f.next()?.parse().ok()?, f.next()?);
        children.push((id, d, flags));
    }
    Some(Version {
        data,
        head: &first[at..],
        children,
    })
}

/// What changed between a stored plan's inputs version and the current one
/// (`None`: replan whole).
pub fn changes(
    conn: &mut DbConn,
    account: &Account,
    stored: &str,
    current: &str,
) -> Result<Option<Changes>, ServiceError> {
    let (Some(s), Some(c)) = (parse(stored), parse(current)) else {
        return Ok(None);
    };
    if s.head != c.head {
        return Ok(None);
    }
    if !account.is_master() {
        return Ok(
            touched(conn, &account.id, s.data, c.data)?.map(|ids| vec![(account.clone(), ids)])
        );
    }
    if s.children.len() != c.children.len() {
        return Ok(None);
    }
    let kids = Account::list_children(conn, &account.id)?;
    let mut out: Changes = Vec::new();
    // A master's own versions replan incrementally only where each recorded
    // what it touched: its rows by key (`key:<sku key>`, a SKU's mark) or
    // its children's variants (`<child id>:<variant id>`, forecast edits).
    // A setting of the roll-up records nothing and replans whole.
    if s.data != c.data {
        let Some(ids) = touched(conn, &account.id, s.data, c.data)? else {
            return Ok(None);
        };
        let mut rows = BTreeSet::new();
        for id in ids {
            if id.starts_with(ROW_TOUCH) {
                rows.insert(id);
                continue;
            }
            let Some((child, variant)) = id.split_once(':') else {
                return Ok(None);
            };
            if variant.is_empty() {
                // A write that touched no row.
                continue;
            }
            let Some(kid) = kids.iter().find(|k| k.id == child) else {
                return Ok(None);
            };
            match out
                .iter_mut()
                .find(|(a, _): &&mut (Account, BTreeSet<String>)| a.id == kid.id)
            {
                Some((_, set)) => {
                    set.insert(variant.to_string());
                }
                None => out.push((kid.clone(), BTreeSet::from([variant.to_string()]))),
            }
        }
        if !rows.is_empty() {
            out.push((account.clone(), rows));
        }
    }
    for (a, b) in s.children.iter().zip(&c.children) {
        if a.0 != b.0 || a.2 != b.2 {
            return Ok(None);
        }
        if a.1 == b.1 {
            continue;
        }
        let Some(kid) = kids.iter().find(|k| k.id == b.0) else {
            return Ok(None);
        };
        match touched(conn, &kid.id, a.1, b.1)? {
            Some(ids) => match out.iter_mut().find(|(a, _)| a.id == kid.id) {
                Some((_, set)) => set.extend(ids),
                None => out.push((kid.clone(), ids)),
            },
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn touched(
    conn: &mut DbConn,
    account: &str,
    after: i64,
    upto: i64,
) -> Result<Option<BTreeSet<String>>, ServiceError> {
    if upto < after {
        return Ok(None);
    }
    Ok(store::touches(conn, account, after, upto)?.filter(|ids| ids.len() <= INCREMENTAL_LIMIT))
}

/// Forgets the touch records no stored plan needs any more. A stored plan
/// has read a child up to some data version (a child's own plan, and its
/// master's plan in its `|child:version` part); an incremental replan only
/// asks for the versions after it. So a child's records at or below the
/// lowest version its stored readers have read can go. A reader without a
/// stored plan (or a master plan that does not list the child) replans
/// whole and needs none. Called after every stored plan: a master's prunes
/// each of its children, a child's itself.
pub(crate) fn prune_touches(conn: &mut DbConn, account: &Account) -> Result<(), ServiceError> {
    let children = if account.is_master() {
        if let Some(h) = store::plan_header(conn, &account.id)? {
            if let Some(v) = parse(&h.inputs_version) {
                store::forget_touches(conn, &account.id, v.data)?;
            }
        }
        Account::list_children(conn, &account.id)?
    } else {
        vec![account.clone()]
    };
    for child in children {
        let own = store::plan_header(conn, &child.id)?
            .and_then(|h| parse(&h.inputs_version).map(|v| v.data));
        let via_master = match &child.master_id {
            Some(m) => store::plan_header(conn, m)?.and_then(|h| {
                parse(&h.inputs_version)?
                    .children
                    .iter()
                    .find(|c| c.0 == child.id)
                    .map(|c| c.1)
            }),
            None => None,
        };
        if let Some(floor) = own.into_iter().chain(via_master).min() {
            store::forget_touches(conn, &child.id, floor)?;
        }
    }
    Ok(())
}

/// Recomputes the lines `changed` touches and upserts them.
pub fn incremental(
    conn: &mut DbConn,
    account: &Account,
    fixed_today: Option<NaiveDate>,
    version: String,
    changed: Changes,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<PlanHeader, ServiceError> {
    let started = std::time::Instant::now();
    let today = planning_date(account, fixed_today);
    // The calibration the whole plan of the day stored; without one (lost,
    // or fitted for another version) the plan is computed whole, fitting it.
    let Some(cal) = calibrate::stored(conn, &account.id, today)? else {
        return crate::services::plans::compute_full(conn, account, fixed_today, None, progress);
    };
    let h = if account.is_master() {
        master(
            conn,
            account,
            fixed_today,
            (today, &cal),
            version,
            &changed,
            started,
        )?
    } else {
        let ids = changed.into_iter().flat_map(|c| c.1).collect();
        child(conn, account, (today, &cal), version, &ids, started)?
    };
    progress(1, 1);
    Ok(h)
}

fn child(
    conn: &mut DbConn,
    account: &Account,
    (today, cal): (NaiveDate, &Calibration),
    version: String,
    ids: &BTreeSet<String>,
    started: std::time::Instant,
) -> Result<PlanHeader, ServiceError> {
    let mut data = load_child(conn, account, today, Reads::Catalogue)?;
    data.fill(conn, Some(ids))?;
    let keys = child_keys(&data, &mut Vec::new());
    let read = data.read.clone().unwrap_or_default();
    // Recomputed for its master (within the master's scope), the lines
    // share their fits: the master's rows of one member, recomputed next,
    // take them (`planning::fits`).
    let used = crate::planning::fits::current();
    let (lines, details): (Vec<PlanLineRow>, Vec<LineDetail>) = crate::planning::pool::run(|| {
        read.par_iter()
            .map(|&i| {
                let mut li = child_line_input(&data, i, keys[i].clone());
                li.fit = used;
                compute_line(&account.id, today, li, calibrate::in_use(cal))
            })
            .unzip()
    });
    let upsert_keys: Vec<String> = read.iter().map(|&i| keys[i].clone()).collect();
    let h = header(account, version, today, &lines, started);
    upsert(conn, account, h, &upsert_keys, &lines, &details)
}

fn master(
    conn: &mut DbConn,
    master: &Account,
    fixed_today: Option<NaiveDate>,
    (today, cal): (NaiveDate, &Calibration),
    version: String,
    changed: &Changes,
    started: std::time::Instant,
) -> Result<PlanHeader, ServiceError> {
    let kids = children_of(conn, master)?;
    // The children's own plans first (each incrementally where it can),
    // their recomputed lines sharing their fits with the rows below.
    let scope = crate::planning::fits::Scope::enter();
    for k in &kids {
        if is_stale(conn, k, fixed_today)? {
            compute_and_store(conn, k, fixed_today, None, &mut |_, _| {})?;
        }
    }
    let children_s = started.elapsed().as_secs_f64();
    let link_rows = store::links(conn, &master.id)?;
    let links = Links::new(&link_rows);
    let settings = store::warehouse_settings(conn, &master.id)?;
    let rates = store::exchange_rates(conn, &master.organisation_id)?;
    let (mut children, keys) = member_catalogues(conn, &kids, today, &links, changed)?;
    let catalogues_s = started.elapsed().as_secs_f64();
    let mut child_plans = Vec::with_capacity(children.len());
    for c in &mut children {
        let members: BTreeSet<String> = c
            .variants
            .iter()
            .filter(|v| keys.contains(&links.row_key(&c.account.id, &v.id, &v.sku)))
            .map(|v| v.id.clone())
            .collect();
        c.fill(conn, Some(&members))?;
        // A member's own line is under its normalised SKU, or `key#id` when
        // another variant of the child has that key.
        let wanted: Vec<String> = c
            .read
            .iter()
            .flatten()
            .flat_map(|&i| {
                let v = &c.variants[i];
                let key = crate::domain::sku::normalise(&v.sku);
                [format!("{key}#{}", v.id), key]
            })
            .collect();
        child_plans.push(
            store::line_figures_of(conn, &c.account.id, &wanted)?
                .into_iter()
                .map(|l| (l.sku_key.clone(), l))
                .collect(),
        );
    }
    let records_s = started.elapsed().as_secs_f64();
    let rollup = roll_up(&children, &link_rows);
    let m = MasterInputs {
        edits: crate::planning::edits::EditSet::new(
            &crate::db::models::forecast_edit::ForecastEdit::of_account(conn, &master.id)?,
            today,
        ),
        flags: warehouse_flags(&kids, &settings),
        children,
        rates,
        rollup,
        child_plans,
        not_for_reorder: crate::db::models::sku_settings::not_for_reorder(conn, &master.id)?,
    };
    let groups: Vec<(&String, &Vec<(usize, usize)>)> = m
        .rollup
        .groups
        .iter()
        .filter(|(k, _)| keys.contains(*k))
        .collect();
    let (lines, details): (Vec<PlanLineRow>, Vec<LineDetail>) = crate::planning::pool::run(|| {
        groups
            .into_par_iter()
            .map(|(k, members)| {
                let mut li = master_line_input(&m, master, today, k, members, &mut Vec::new());
                if members.len() == 1 {
                    li.fit = scope.take();
                }
                compute_line(&master.id, today, li, calibrate::in_use(cal))
            })
            .unzip()
    });
    tracing::debug!(
        account = %master.id,
        children_s,
        catalogues_s,
        records_s,
        computed_s = started.elapsed().as_secs_f64(),
        "master lines recomputed"
    );
    let keys: Vec<String> = keys.into_iter().collect();
    let h = header(master, version, today, &lines, started);
    upsert(conn, master, h, &keys, &lines, &details)
}

/// Each child's variants that make up the rows the changes touch (all of
/// a row's members, so a row is computed as a whole read would), and those
/// rows' keys. Read by key; a child with bundles or assemblies (whose
/// records reach other rows) is read whole.
fn member_catalogues(
    conn: &mut DbConn,
    kids: &[Account],
    today: NaiveDate,
    links: &Links,
    changed: &Changes,
) -> Result<(Vec<ChildData>, BTreeSet<String>), ServiceError> {
    let mut whole = false;
    for k in kids {
        whole |= store::has_components(conn, &k.id)?;
    }
    if whole {
        let mut children = Vec::with_capacity(kids.len());
        for k in kids {
            children.push(load_child(conn, k, today, Reads::Catalogue)?);
        }
        let keys = touched_rows(&children, links, changed);
        return Ok((children, keys));
    }
    let mut keys = master_rows(changed);
    for (acc, ids) in changed {
        if acc.is_master() {
            continue;
        }
        let ids: Vec<String> = ids.iter().cloned().collect();
        for v in store::live_variants_of(conn, &acc.id, &[], &ids)? {
            keys.insert(links.row_key(&acc.id, &v.id, &v.sku));
        }
    }
    let key_list: Vec<String> = keys.iter().cloned().collect();
    let mut children = Vec::with_capacity(kids.len());
    for k in kids {
        let linked: Vec<String> = key_list
            .iter()
            .flat_map(|key| {
                links
                    .linked_to(&k.id, key)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        let variants = store::live_variants_of(conn, &k.id, &key_list, &linked)?;
        children.push(with_catalogue(conn, k, today, variants)?);
    }
    Ok((children, keys))
}

/// The master rows the touched variants belong to, and those of the
/// components of touched bundles and assemblies (whose demand or movements
/// they carry).
fn touched_rows(children: &[ChildData], links: &Links, changed: &Changes) -> BTreeSet<String> {
    let mut keys = master_rows(changed);
    for (acc, ids) in changed {
        let Some(c) = children.iter().find(|c| c.account.id == acc.id) else {
            continue;
        };
        for id in ids {
            let Some(&i) = c.index.get(id) else {
                continue;
            };
            for &j in std::iter::once(&i).chain(c.components[i].iter().map(|(j, _)| j)) {
                let v = &c.variants[j];
                keys.insert(links.row_key(&c.account.id, &v.id, &v.sku));
            }
        }
    }
    keys
}

/// The rows a master's own changes name.
fn master_rows(changed: &Changes) -> BTreeSet<String> {
    changed
        .iter()
        .filter(|(acc, _)| acc.is_master())
        .flat_map(|(_, ids)| ids.iter().filter_map(|k| k.strip_prefix(ROW_TOUCH)))
        .map(String::from)
        .collect()
}

/// Upserts recomputed lines unless the plan they were computed for is
/// outdated while the stored one is current (see `plans::store_lines`).
fn upsert(
    conn: &mut DbConn,
    account: &Account,
    h: PlanHeader,
    keys: &[String],
    lines: &[PlanLineRow],
    details: &[LineDetail],
) -> Result<PlanHeader, ServiceError> {
    let stored_at = std::time::Instant::now();
    let fresh = Account::find_by_id(conn, &account.id)?.unwrap_or_else(|| account.clone());
    let current = inputs_version(conn, &fresh, h.planning_date)?;
    if let Some(stored) = store::plan_header(conn, &account.id)? {
        if h.inputs_version != current && stored.inputs_version == current {
            return Ok(stored);
        }
    }
    let h = store::upsert_lines(conn, &h, keys, lines, details)?;
    prune_touches(conn, account)?;
    tracing::info!(
        account = %account.id,
        lines = lines.len(),
        compute_s = h.seconds,
        store_s = stored_at.elapsed().as_secs_f64(),
        "plan lines recomputed and upserted"
    );
    Ok(h)
}
