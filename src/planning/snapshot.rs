//! The snapshot stage of planning: reads what a plan needs of an account
//! into typed values — a child's catalogue with its vendor terms resolved
//! once, its stock, stock history (change points), demand (sales on the
//! account's local day, bundles expanded into their components) and open
//! stock-order movements. Queries live in `db::models::planning`; this
//! module only shapes their rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;

/// A hash map with a fast hasher, for the read's per-line lookups (keys
/// are ids from the account's own records).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use crate::db::models::forecast_edit::ForecastEdit;
use crate::db::models::planning::{
    self as store, num, opt_num, ExchangeRate, LineFigures, VariantRow, VendorTerms,
};
use crate::db::models::Account;
use crate::db::values::IdHash;
use crate::db::DbConn;
use crate::planning::edits::EditSet;
use crate::planning::rollup::{Rollup, WarehouseFlags};
use crate::services::ServiceError;

/// One sale that counts as demand, on the account's local day. Compact (16
/// bytes): a master holds every child's sales at once.
#[derive(Debug, Clone, Copy)]
pub struct Sale {
    pub(crate) day: NaiveDate,
    /// Index into [`ChildData::warehouses`] ([`NO_WAREHOUSE`]: none).
    pub(crate) warehouse: u32,
    pub(crate) quantity: f64,
}

/// [`Sale::warehouse`] of a sale without a warehouse.
pub(crate) const NO_WAREHOUSE: u32 = u32::MAX;

/// An open stock-order movement of one variant.
#[derive(Debug, Clone)]
pub(crate) struct Movement {
    pub(crate) warehouse: Option<String>,
    pub(crate) quantity: f64,
    pub(crate) expected: Option<NaiveDate>,
}

/// Vendor terms that apply to one variant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    pub(crate) vendor_name: String,
    pub(crate) lead_time_days: Option<f64>,
    pub(crate) moq: Option<f64>,
    pub(crate) pack_size: Option<f64>,
    pub(crate) cost: Option<f64>,
}

/// Everything of one child account the planner reads.
pub(crate) struct ChildData {
    pub(crate) account: Account,
    pub(crate) today: NaiveDate,
    pub(crate) variants: Vec<VariantRow>,
    pub(crate) terms: Vec<Terms>,
    /// Per variant: available per warehouse.
    pub(crate) stock: Vec<Vec<(String, f64)>>,
    /// Per variant: per warehouse, change points (day, available).
    pub(crate) history: Vec<BTreeMap<String, Vec<(NaiveDate, f64)>>>,
    /// Per variant: sales (bundles already expanded into their components).
    pub(crate) sales: Vec<Vec<Sale>>,
    /// The warehouse ids the sales refer to (by index).
    pub(crate) warehouses: Vec<String>,
    /// Per variant: open movements.
    pub(crate) movements: Vec<Vec<Movement>>,
    /// Variants that are bundles (sold as their components).
    pub(crate) bundle: Vec<bool>,
    /// Variant id → position.
    pub(crate) index: FastMap<String, usize>,
    /// Per variant: its components (position, quantity per unit).
    pub(crate) components: Vec<Vec<(usize, f64)>>,
    /// After a subset read: the positions whose records were read (the
    /// lines an incremental replan recomputes); `None`: all or none.
    pub(crate) read: Option<Vec<usize>>,
    /// The account's SKU keys marked not for reorder, with their notes.
    pub(crate) not_for_reorder: HashMap<String, Option<String>>,
    /// The account's forecast edits in force.
    pub(crate) edits: EditSet,
}

pub(crate) fn parse_json_list(s: &Option<String>) -> Vec<Value> {
    s.as_deref()
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .unwrap_or_default()
}

pub(crate) fn json_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// Which of a child's records [`load_child`] reads besides its catalogue.
#[derive(Debug, Clone, Copy)]
pub enum Reads<'a> {
    /// None (a roll-up's conflicts need the catalogue only).
    Catalogue,
    /// Every variant's.
    All,
    /// Those of these variants (with their bundles' and components'): an
    /// incremental replan.
    Variants(&'a std::collections::BTreeSet<String>),
}

/// Reads what planning needs of a child account: its catalogue and terms and,
/// unless `catalogue_only`, its stock, stock history, demand (sales by local
/// day, bundles exploded into components) and open stock orders.
pub(crate) fn load_child(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
    reads: Reads,
) -> Result<ChildData, ServiceError> {
    let started = std::time::Instant::now();
    let variants = store::live_variants(conn, &account.id)?;
    let mut data = with_catalogue(conn, account, today, variants)?;
    match reads {
        Reads::Catalogue => {}
        Reads::All => data.fill(conn, None)?,
        Reads::Variants(ids) => data.fill(conn, Some(ids))?,
    }
    tracing::debug!(
        account = %account.id,
        variants = data.variants.len(),
        seconds = started.elapsed().as_secs_f64(),
        "child records loaded for planning"
    );
    Ok(data)
}

/// A child's data for these of its variants (its catalogue, or a part of
/// it that holds every variant of the rows being planned), records not yet
/// read.
pub(crate) fn with_catalogue(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
    variants: Vec<VariantRow>,
) -> Result<ChildData, ServiceError> {
    let index: FastMap<String, usize> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.clone(), i))
        .collect();
    let vendors: HashMap<String, VendorTerms> = store::live_vendors(conn, &account.id)?
        .into_iter()
        .map(|v| (v.id.clone(), v))
        .collect();
    let n = variants.len();
    let mut terms = Vec::with_capacity(n);
    let mut components: Vec<Vec<(usize, f64)>> = vec![vec![]; n];
    let mut bundle = vec![false; n];
    for (i, v) in variants.iter().enumerate() {
        let vendor = v.vendor_id.as_ref().and_then(|id| vendors.get(id));
        let own_terms = parse_json_list(&v.vendors).into_iter().find(|t| {
            t.get("vendor_id").and_then(Value::as_str) == v.vendor_id.as_deref()
                || v.vendor_id.is_none()
        });
        let term = |k: &str| own_terms.as_ref().and_then(|t| t.get(k)).and_then(json_num);
        terms.push(Terms {
            vendor_name: vendor.map(|v| v.name.clone()).unwrap_or_default(),
            lead_time_days: v
                .lead_time_days
                .map(f64::from)
                .or_else(|| term("lead_time_days"))
                .or_else(|| vendor.and_then(|v| v.lead_time_days).map(f64::from)),
            moq: term("minimum_order_quantity")
                .or_else(|| vendor.and_then(|v| opt_num(&v.minimum_order_quantity))),
            pack_size: term("pack_size").or_else(|| vendor.and_then(|v| opt_num(&v.pack_size))),
            cost: opt_num(&v.cost_price).or_else(|| term("cost_price")),
        });
        let comps: Vec<(usize, f64)> = parse_json_list(&v.components)
            .iter()
            .filter_map(|c| {
                let id = c.get("variant_id")?.as_str()?;
                Some((*index.get(id)?, c.get("quantity").and_then(json_num)?))
            })
            .collect();
        if !comps.is_empty() && !v.assembly {
            bundle[i] = true;
        }
        components[i] = comps;
    }
    let data = ChildData {
        account: account.clone(),
        today,
        variants,
        terms,
        stock: vec![vec![]; n],
        history: vec![BTreeMap::new(); n],
        sales: vec![vec![]; n],
        warehouses: Vec::new(),
        movements: vec![vec![]; n],
        bundle,
        index,
        components,
        read: None,
        not_for_reorder: crate::db::models::sku_settings::not_for_reorder(conn, &account.id)?,
        edits: EditSet::new(&ForecastEdit::of_account(conn, &account.id)?, today),
    };
    Ok(data)
}

impl ChildData {
    /// Reads the records of every variant, or (`ids`) of these variants
    /// with the bundles and components that share demand or movements with
    /// them (an incremental replan), and remembers which were read.
    pub(crate) fn fill(
        &mut self,
        conn: &mut DbConn,
        ids: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<(), ServiceError> {
        let only: Option<Vec<String>> = ids.map(|ids| {
            let mut all: std::collections::BTreeSet<String> = ids
                .iter()
                .filter(|id| self.index.contains_key(*id))
                .cloned()
                .collect();
            for id in ids {
                if let Some(&i) = self.index.get(id) {
                    all.extend(
                        self.components[i]
                            .iter()
                            .map(|&(c, _)| self.variants[c].id.clone()),
                    );
                }
            }
            for (i, comps) in self.components.iter().enumerate() {
                if comps
                    .iter()
                    .any(|&(c, _)| all.contains(&self.variants[c].id))
                {
                    all.insert(self.variants[i].id.clone());
                }
            }
            all.into_iter().collect()
        });
        let r = read_records(
            conn,
            &self.account,
            self.today,
            &self.index,
            &self.bundle,
            &self.components,
            only.as_deref(),
        )?;
        self.read = only.map(|ids| {
            ids.iter()
                .filter_map(|id| self.index.get(id).copied())
                .collect()
        });
        self.stock = r.stock;
        self.history = r.history;
        self.sales = r.sales;
        self.warehouses = r.warehouses;
        self.movements = r.movements;
        Ok(())
    }
}

/// A child's stock, stock history, demand and open movements, per variant.
pub(crate) struct Records {
    pub(crate) stock: Vec<Vec<(String, f64)>>,
    pub(crate) history: Vec<BTreeMap<String, Vec<(NaiveDate, f64)>>>,
    pub(crate) sales: Vec<Vec<Sale>>,
    pub(crate) warehouses: Vec<String>,
    pub(crate) movements: Vec<Vec<Movement>>,
}

impl Records {
    pub(crate) fn empty(n: usize) -> Records {
        Records {
            stock: vec![vec![]; n],
            history: vec![BTreeMap::new(); n],
            sales: vec![vec![]; n],
            warehouses: Vec::new(),
            movements: vec![vec![]; n],
        }
    }
}

/// Per variant, the sales that count as demand (each on the account's
/// local day before `today`; bundles' sales as their components'), in a
/// canonical order; and the warehouse ids they refer to.
fn read_sales(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
    index: &FastMap<String, usize>,
    bundle: &[bool],
    components: &[Vec<(usize, f64)>],
    only: Option<&[String]>,
) -> Result<(Vec<Vec<Sale>>, Vec<String>), ServiceError> {
    let tz: Tz = account.timezone.parse().unwrap_or(Tz::UTC);
    let mut sales: Vec<Vec<Sale>> = vec![vec![]; bundle.len()];
    let mut warehouses: Vec<String> = Vec::new();
    let mut wh_index: HashMap<String, u32> = HashMap::new();
    // Orders by id: their local day and warehouse (those from today on do
    // not count yet).
    let mut orders: FastMap<IdHash, (NaiveDate, u32)> = FastMap::default();
    // Variants by the hash their lines carry.
    let by_hash: FastMap<IdHash, usize> =
        index.iter().map(|(id, &i)| (IdHash::of(id), i)).collect();
    // A subset's lines come by the variant index, with their orders; the
    // whole account's orders are read first and its lines streamed.
    let (order_rows, subset_lines) = match only {
        Some(ids) => {
            let (orders, lines) = store::sales_of(conn, &account.id, ids)?;
            (orders, Some(lines))
        }
        None => (store::demand_orders(conn, &account.id)?, None),
    };
    for (id, ordered_at, warehouse_id) in order_rows {
        let day = tz.from_utc_datetime(&ordered_at).date_naive();
        if day >= today {
            continue;
        }
        let warehouse = match warehouse_id {
            None => NO_WAREHOUSE,
            Some(w) => *wh_index.entry(w).or_insert_with_key(|w| {
                warehouses.push(w.clone());
                (warehouses.len() - 1) as u32
            }),
        };
        orders.insert(id, (day, warehouse));
    }
    // A line's order is most often the previous line's (lines come in
    // their orders' order): looked up once per order.
    let mut last: Option<(IdHash, Option<(NaiveDate, u32)>)> = None;
    let mut each = |(order_id, variant_id, quantity): store::SaleLine| {
        let found = match &last {
            Some((id, found)) if *id == order_id => *found,
            _ => {
                let found = orders.get(&order_id).copied();
                last = Some((order_id, found));
                found
            }
        };
        let Some((day, warehouse)) = found else {
            return;
        };
        let Some(&i) = by_hash.get(&variant_id) else {
            return;
        };
        let q = quantity.0;
        if bundle[i] {
            for &(c, k) in &components[i] {
                sales[c].push(Sale {
                    day,
                    warehouse,
                    quantity: q * k,
                });
            }
        } else {
            sales[i].push(Sale {
                day,
                warehouse,
                quantity: q,
            });
        }
    };
    match subset_lines {
        Some(lines) => lines.into_iter().for_each(&mut each),
        None => store::each_sale_line(conn, &account.id, &mut each)?,
    }
    // In a canonical order, whatever order they were read in: a plan
    // computed from a subset equals the one from a whole read, sums
    // included.
    let warehouse_ids = &warehouses;
    for s in &mut sales {
        s.sort_unstable_by(|a, b| {
            (a.day, a.quantity.to_bits())
                .cmp(&(b.day, b.quantity.to_bits()))
                .then_with(|| {
                    warehouse_ids
                        .get(a.warehouse as usize)
                        .cmp(&warehouse_ids.get(b.warehouse as usize))
                })
        });
        s.shrink_to_fit();
    }
    Ok((sales, warehouses))
}

/// Reads a child's records for its variants (`index`: variant id → position;
/// bundles' sales go to their components).
pub(crate) fn read_records(
    conn: &mut DbConn,
    account: &Account,
    today: NaiveDate,
    index: &FastMap<String, usize>,
    bundle: &[bool],
    components: &[Vec<(usize, f64)>],
    only: Option<&[String]>,
) -> Result<Records, ServiceError> {
    let started = std::time::Instant::now();
    let removed_wh: HashSet<String> = store::removed_warehouses(conn, &account.id)?
        .into_iter()
        .collect();
    let Records {
        mut stock,
        mut history,
        mut movements,
        ..
    } = Records::empty(bundle.len());
    for (variant, wh, on_hand, allocated) in store::stock(conn, &account.id, only)? {
        if removed_wh.contains(&wh) {
            continue;
        }
        if let Some(&i) = index.get(&variant) {
            stock[i].push((wh, num(&on_hand) - num(&allocated)));
        }
    }
    for (variant, wh, day, available) in store::history(conn, &account.id, only)? {
        if removed_wh.contains(&wh) {
            continue;
        }
        if let Some(&i) = index.get(&variant) {
            history[i]
                .entry(wh)
                .or_default()
                .push((day, num(&available)));
        }
    }
    let (sales, warehouses) = read_sales(conn, account, today, index, bundle, components, only)?;
    // In a canonical order, whatever order they were read in.
    for s in &mut stock {
        s.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let sales_read = started.elapsed().as_secs_f64();
    for l in store::open_order_lines(conn, &account.id, only)? {
        let Some(&i) = index.get(&l.variant_id) else {
            continue;
        };
        let open = (num(&l.quantity) - opt_num(&l.received_quantity).unwrap_or(0.0)).max(0.0);
        if open <= 0.0 {
            continue;
        }
        let mut push = |v: usize, wh: &Option<String>, q: f64| {
            if wh.as_ref().is_some_and(|w| removed_wh.contains(w)) {
                return;
            }
            movements[v].push(Movement {
                warehouse: wh.clone(),
                quantity: q,
                expected: l.expected_at,
            })
        };
        match l.kind.as_str() {
            "purchase" => push(i, &l.destination_warehouse_id, open),
            // A transfer between two children is a pair of orders, each
            // with only its own side's warehouse: the other side is not in
            // this account (an imported transfer always names both).
            "transfer" => {
                if l.destination_warehouse_id.is_some() {
                    push(i, &l.destination_warehouse_id, open);
                }
                if l.source_warehouse_id.is_some() {
                    push(i, &l.source_warehouse_id, -open);
                }
            }
            "assembly" => {
                push(i, &l.destination_warehouse_id, open);
                for &(c, k) in &components[i] {
                    push(c, &l.source_warehouse_id, -open * k);
                }
            }
            _ => {}
        }
    }
    for m in &mut movements {
        m.sort_by(|a, b| {
            (&a.warehouse, a.expected, a.quantity.to_bits()).cmp(&(
                &b.warehouse,
                b.expected,
                b.quantity.to_bits(),
            ))
        });
    }
    tracing::debug!(
        account = %account.id,
        sales_read_s = sales_read,
        "child records read"
    );
    Ok(Records {
        stock,
        history,
        sales,
        warehouses,
        movements,
    })
}

impl ChildData {
    /// The warehouse id of a sale.
    pub(crate) fn warehouse_of(&self, s: &Sale) -> Option<&str> {
        self.warehouses
            .get(s.warehouse as usize)
            .map(String::as_str)
    }
}

/// Everything a master plan is made from.
pub(crate) struct MasterInputs {
    pub(crate) children: Vec<ChildData>,
    pub(crate) flags: Vec<WarehouseFlags>,
    pub(crate) rates: Vec<ExchangeRate>,
    pub(crate) rollup: Rollup,
    /// Per child: its stored plan's figures by key.
    pub(crate) child_plans: Vec<HashMap<String, LineFigures>>,
    /// The master's SKU keys marked not for reorder, with their notes.
    pub(crate) not_for_reorder: HashMap<String, Option<String>>,
    /// The master's own forecast edits in force.
    pub(crate) edits: EditSet,
}
