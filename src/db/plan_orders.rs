//! Orderings of stored plans, kept in memory: which lines of an account's
//! plan a filter keeps, in a sort's order.
//!
//! Sorting a large plan by a field without an index reads every line of it
//! (about 25 ms for a master of 92,000 rows, twice that while a replan
//! takes the cores), and counting the matches reads them again. A merchant
//! paging through one view, or several people reading the same view, paid
//! that at every page. Now, once a view's second read is answered (by the
//! database, as its first was), the view's order is worked out and kept,
//! and every later page of it reads only its own rows by key. (Working a
//! view out takes about 60 ms of a core: not worth it for a view read
//! once, and, done after every first read, it slowed a run of different
//! first reads from 36 to 101 ms each.)
//!
//! A view is keyed by the stored plan (its inputs version and when it was
//! computed), so a new plan, whole or upserted, is never read in an old
//! plan's order. A view names its lines by position in one table of the
//! plan's line keys (4 bytes a line), which all views of the plan share.
//! Plans of fewer than [`MIN_LINES`] lines are sorted by the database at
//! every read. The least recently used views go first once the views and
//! their tables take more than [`MAX_BYTES`].

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use chrono::NaiveDateTime;
use lru::LruCache;

use crate::db::models::planning::LineFilter;

/// Most bytes the held views take together, with the key tables of their
/// plans (a view of a plan of n lines takes 4·n bytes; its plan's key
/// table, shared by all its views, about 70 bytes a line).
pub const MAX_BYTES: usize = 64 << 20;

/// Plans with fewer lines are sorted by the database at every read (it
/// takes well under a millisecond).
pub const MIN_LINES: i64 = 2_000;

/// Most views held, whatever their size.
const MAX_VIEWS: usize = 1_024;

/// Most views remembered as read once.
const SEEN: usize = 4_096;

/// One stored plan: the account, its inputs version and when it was
/// computed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlanId {
    /// The account.
    pub account: String,
    /// The stored plan's inputs version.
    pub inputs_version: String,
    /// When the stored plan was computed.
    pub computed_at: NaiveDateTime,
}

/// What a view is: one stored plan, a filter and a sort.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ViewKey {
    /// The stored plan.
    pub plan: PlanId,
    /// The filter.
    pub filter: LineFilter,
    /// The sort field.
    pub sort: String,
    /// Descending order.
    pub descending: bool,
}

/// Every line key of one stored plan, each once; views name lines by
/// their position here.
#[derive(Debug)]
pub struct PlanKeys {
    keys: Vec<Box<str>>,
    position: HashMap<Box<str>, u32>,
    bytes: usize,
}

impl PlanKeys {
    /// The table of these keys.
    pub fn new(keys: Vec<String>) -> PlanKeys {
        let keys: Vec<Box<str>> = keys.into_iter().map(String::into_boxed_str).collect();
        let position = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
        let bytes = keys.iter().map(|k| 2 * k.len() + 56).sum();
        PlanKeys {
            keys,
            position,
            bytes,
        }
    }
}

/// The lines a view keeps, in order, and the totals of what they ask to
/// buy once a read needed them.
#[derive(Debug)]
pub struct View {
    table: Arc<PlanKeys>,
    order: Vec<u32>,
    totals: OnceLock<Vec<(String, i64, f64, f64)>>,
}

impl View {
    /// A view of `keys` in this order, each a key of `table` (others are
    /// left out: a line stored after the table was read).
    pub fn new(table: Arc<PlanKeys>, keys: &[String]) -> View {
        let order = keys
            .iter()
            .filter_map(|k| table.position.get(k.as_str()).copied())
            .collect();
        View {
            table,
            order,
            totals: OnceLock::new(),
        }
    }

    /// How many lines it keeps.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether it keeps no line.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The keys of one page (`offset`, at most `limit` lines).
    pub fn page(&self, offset: i64, limit: i64) -> Vec<String> {
        let len = self.order.len();
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(len);
        let to = from
            .saturating_add(usize::try_from(limit).unwrap_or(0))
            .min(len);
        self.order[from..to]
            .iter()
            .map(|&i| self.table.keys[i as usize].to_string())
            .collect()
    }

    /// The totals by urgency, computed by `compute` the first time.
    pub fn totals<E>(
        &self,
        compute: impl FnOnce() -> Result<Vec<(String, i64, f64, f64)>, E>,
    ) -> Result<Vec<(String, i64, f64, f64)>, E> {
        if let Some(t) = self.totals.get() {
            return Ok(t.clone());
        }
        let t = compute()?;
        // Two readers may compute them at once: the same figures.
        let _ = self.totals.set(t.clone());
        Ok(t)
    }

    fn bytes(&self) -> usize {
        4 * self.order.len() + 256
    }
}

/// The views held, least recently used first out, and the key tables of
/// their plans.
pub struct PlanOrders {
    inner: Mutex<Held>,
}

struct Held {
    views: LruCache<ViewKey, Arc<View>>,
    tables: HashMap<PlanId, Weak<PlanKeys>>,
    /// Views being worked out.
    building: std::collections::HashSet<ViewKey>,
    /// Views read once, not held.
    seen: LruCache<ViewKey, ()>,
}

impl Default for PlanOrders {
    fn default() -> Self {
        PlanOrders {
            inner: Mutex::new(Held {
                views: LruCache::new(NonZeroUsize::new(MAX_VIEWS).expect("not zero")),
                tables: HashMap::new(),
                building: Default::default(),
                seen: LruCache::new(NonZeroUsize::new(SEEN).expect("not zero")),
            }),
        }
    }
}

impl std::fmt::Debug for PlanOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanOrders")
            .field("held", &self.held())
            .finish()
    }
}

impl Held {
    /// The bytes the held views and their plans' tables take.
    fn bytes(&self) -> usize {
        let mut tables: HashMap<*const PlanKeys, usize> = HashMap::new();
        let mut bytes = 0;
        for (_, v) in self.views.iter() {
            bytes += v.bytes();
            tables.insert(Arc::as_ptr(&v.table), v.table.bytes);
        }
        bytes + tables.values().sum::<usize>()
    }
}

impl PlanOrders {
    /// The view if it is held (it becomes the most recently used).
    pub fn get(&self, key: &ViewKey) -> Option<Arc<View>> {
        let mut held = self.inner.lock().ok()?;
        held.views.get(key).cloned()
    }

    /// Notes a read of a view not held, and claims the working out of it
    /// when it is its second read: `false` on a first read (a view read
    /// once, such as each of a run of different sorts, is not worth its
    /// working out), when it is held, or when another read is working it
    /// out.
    pub fn start(&self, key: &ViewKey) -> bool {
        self.inner.lock().is_ok_and(|mut held| {
            if held.views.contains(key) {
                return false;
            }
            if held.seen.put(key.clone(), ()).is_none() {
                return false;
            }
            held.building.insert(key.clone())
        })
    }

    /// Gives up working out a view (it is not held).
    pub fn abandon(&self, key: &ViewKey) {
        if let Ok(mut held) = self.inner.lock() {
            held.building.remove(key);
        }
    }

    /// Whether the view is held (without making it the most recently used).
    pub fn holds(&self, key: &ViewKey) -> bool {
        self.inner.lock().is_ok_and(|held| held.views.contains(key))
    }

    /// The key table of a plan that a held view (or a read under way) uses.
    pub fn table(&self, plan: &PlanId) -> Option<Arc<PlanKeys>> {
        let held = self.inner.lock().ok()?;
        held.tables.get(plan).and_then(Weak::upgrade)
    }

    /// Holds a view, letting the least recently used go while the views and
    /// their tables take more than [`MAX_BYTES`] (a view larger than that
    /// alone is not held).
    pub fn put(&self, key: ViewKey, view: Arc<View>) {
        let Ok(mut held) = self.inner.lock() else {
            return;
        };
        held.building.remove(&key);
        held.seen.pop(&key);
        if view.bytes() + view.table.bytes > MAX_BYTES {
            return;
        }
        held.tables
            .insert(key.plan.clone(), Arc::downgrade(&view.table));
        held.views.put(key, view);
        while held.bytes() > MAX_BYTES && held.views.pop_lru().is_some() {}
        held.tables.retain(|_, t| t.strong_count() > 0);
    }

    /// Lets every view go.
    pub fn clear(&self) {
        if let Ok(mut held) = self.inner.lock() {
            held.views.clear();
            held.tables.clear();
            held.building.clear();
            held.seen.clear();
        }
    }

    /// How many views are held, and the bytes they and their tables take.
    pub fn held(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|h| (h.views.len(), h.bytes()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(account: &str) -> PlanId {
        PlanId {
            account: account.into(),
            inputs_version: "1@2026-03-01~1".into(),
            computed_at: "2026-03-01T00:00:00".parse().unwrap(),
        }
    }

    fn key(account: &str, sort: &str) -> ViewKey {
        ViewKey {
            plan: plan(account),
            filter: LineFilter::default(),
            sort: sort.into(),
            descending: false,
        }
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("K{i:07}")).collect()
    }

    #[test]
    fn a_view_names_its_lines_in_its_order_and_pages_slice_it() {
        let table = Arc::new(PlanKeys::new(keys(5)));
        let mut order = keys(5);
        order.reverse();
        order.push("stored later".into());
        let v = View::new(table, &order);
        assert_eq!(v.len(), 5);
        assert_eq!(v.page(0, 2), ["K0000004", "K0000003"]);
        assert_eq!(v.page(4, 100), ["K0000000"]);
        assert!(v.page(5, 10).is_empty());
        assert!(v.page(i64::MAX, i64::MAX).is_empty());
        assert_eq!(v.page(3, i64::MAX), ["K0000001", "K0000000"]);
    }

    #[test]
    fn views_of_a_plan_share_its_table_and_the_least_recently_used_go_first() {
        let orders = PlanOrders::default();
        // A table of about 6.4 MB and views of 400 kB each.
        let n = 100_000;
        let all = keys(n);
        let a = Arc::new(PlanKeys::new(all.clone()));
        let table_bytes = a.bytes;
        for sort in ["sku", "title"] {
            orders.put(key("a", sort), Arc::new(View::new(a.clone(), &all)));
        }
        assert_eq!(orders.held(), (2, table_bytes + 2 * (4 * n + 256)));
        assert!(orders
            .table(&plan("a"))
            .is_some_and(|t| Arc::ptr_eq(&t, &a)));
        // Other plans until the budget is spent; `b`, read after each, is
        // never the least recently used.
        let b = Arc::new(PlanKeys::new(all.clone()));
        orders.put(key("b", "sku"), Arc::new(View::new(b, &all)));
        let mut i = 0;
        while orders.holds(&key("a", "sku")) {
            let t = Arc::new(PlanKeys::new(all.clone()));
            orders.put(key(&format!("p{i}"), "sku"), Arc::new(View::new(t, &all)));
            assert!(orders.get(&key("b", "sku")).is_some());
            i += 1;
        }
        assert!(i > 3, "{i}");
        let (views, bytes) = orders.held();
        assert!(bytes <= MAX_BYTES, "{bytes}");
        assert_eq!(views, MAX_BYTES / (table_bytes + 4 * n + 256), "{bytes}");
        // Freeing `a`'s table took both its views.
        assert!(!orders.holds(&key("a", "title")));
        drop(a);
        assert!(orders.table(&plan("a")).is_none());
        orders.clear();
        assert_eq!(orders.held(), (0, 0));
    }

    #[test]
    fn a_view_larger_than_the_budget_is_not_held() {
        let orders = PlanOrders::default();
        let all = keys(MAX_BYTES / 60);
        let t = Arc::new(PlanKeys::new(all.clone()));
        orders.put(key("a", "sku"), Arc::new(View::new(t, &all)));
        assert_eq!(orders.held(), (0, 0));
    }

    #[test]
    fn one_read_works_a_view_out_at_a_time() {
        let orders = PlanOrders::default();
        let k = key("a", "sku");
        assert!(!orders.start(&k), "a first read");
        assert!(orders.start(&k), "the second read works it out");
        assert!(!orders.start(&k), "another read is working it out");
        orders.abandon(&k);
        assert!(orders.start(&k), "given up: the next read may");
        let t = Arc::new(PlanKeys::new(keys(3)));
        orders.put(k.clone(), Arc::new(View::new(t, &keys(3))));
        assert!(!orders.start(&k), "held");
        orders.clear();
        assert!(!orders.start(&k), "a first read again");
        assert!(orders.start(&k));
    }

    #[test]
    fn totals_are_computed_once() {
        let v = View::new(Arc::new(PlanKeys::new(keys(1))), &keys(1));
        let t = vec![("now".to_string(), 1, 2.0, 3.0)];
        assert_eq!(v.totals(|| Ok::<_, ()>(t.clone())), Ok(t.clone()));
        assert_eq!(v.totals(|| Err(())), Ok(t));
    }
}
