//! Orderings of stored plans, kept in memory: which lines of an account's
//! plan a filter keeps, in a sort's order.
//!
//! Sorting a large plan by a field without an index reads every line of it
//! (about 25 ms for a master of 92,000 rows, twice that while a replan
//! takes the cores), and counting the matches reads them again. A merchant
//! paging through one view, or several people reading the same view, paid
//! that at every page. Now the first read of a view keeps its line keys in
//! order, and every later page of it reads only its own rows by key.
//!
//! An entry is keyed by the stored plan's header (its inputs version and
//! when it was stored): a new plan, whole or upserted, is never read in an
//! old plan's order. Plans of fewer than [`MIN_LINES`] lines are sorted by
//! the database at every read. The least recently used views go first once
//! the cache holds [`MAX_KEYS`] line keys in all.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::NaiveDateTime;
use lru::LruCache;

use crate::db::models::planning::LineFilter;

/// Most line keys held in all views together (a key takes about 40 bytes:
/// some 80 MB).
pub const MAX_KEYS: usize = 2_000_000;

/// Plans with fewer lines are sorted by the database at every read (it
/// takes well under a millisecond).
pub const MIN_LINES: i64 = 2_000;

/// Most views held, whatever their size.
const MAX_VIEWS: usize = 1_024;

/// What a view is: one stored plan, a filter and a sort.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ViewKey {
    /// The account.
    pub account: String,
    /// The stored plan's inputs version.
    pub inputs_version: String,
    /// When the stored plan was computed.
    pub computed_at: NaiveDateTime,
    /// The filter.
    pub filter: LineFilter,
    /// The sort field.
    pub sort: String,
    /// Descending order.
    pub descending: bool,
}

/// The lines a view keeps, in order, and the totals of what they ask to
/// buy once a read needed them.
#[derive(Debug)]
pub struct View {
    /// The lines' keys, in the view's order.
    pub keys: Vec<String>,
    totals: OnceLock<Vec<(String, i64, f64, f64)>>,
}

impl View {
    /// A view of these keys.
    pub fn new(keys: Vec<String>) -> View {
        View {
            keys,
            totals: OnceLock::new(),
        }
    }

    /// The keys of one page (`offset`, at most `limit` lines).
    pub fn page(&self, offset: i64, limit: i64) -> &[String] {
        let len = self.keys.len();
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(len);
        let to = from
            .saturating_add(usize::try_from(limit).unwrap_or(0))
            .min(len);
        &self.keys[from..to]
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
}

/// The views held, least recently used first out.
pub struct PlanOrders {
    inner: Mutex<Held>,
}

struct Held {
    views: LruCache<ViewKey, Arc<View>>,
    keys: usize,
}

impl Default for PlanOrders {
    fn default() -> Self {
        PlanOrders {
            inner: Mutex::new(Held {
                views: LruCache::new(NonZeroUsize::new(MAX_VIEWS).expect("not zero")),
                keys: 0,
            }),
        }
    }
}

impl std::fmt::Debug for PlanOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.inner.lock().map(|h| (h.views.len(), h.keys));
        f.debug_struct("PlanOrders")
            .field("held", &held.ok())
            .finish()
    }
}

impl PlanOrders {
    /// The view if it is held (it becomes the most recently used).
    pub fn get(&self, key: &ViewKey) -> Option<Arc<View>> {
        let mut held = self.inner.lock().ok()?;
        held.views.get(key).cloned()
    }

    /// Holds a view, letting the least recently used go while the keys
    /// held exceed [`MAX_KEYS`]. A view larger than that is not held.
    pub fn put(&self, key: ViewKey, view: Arc<View>) {
        if view.keys.len() > MAX_KEYS {
            return;
        }
        let Ok(mut held) = self.inner.lock() else {
            return;
        };
        let added = view.keys.len();
        if let Some((_, old)) = held.views.push(key, view) {
            held.keys -= old.keys.len();
        }
        held.keys += added;
        while held.keys > MAX_KEYS {
            match held.views.pop_lru() {
                Some((_, old)) => held.keys -= old.keys.len(),
                None => break,
            }
        }
    }

    /// How many views and line keys are held.
    pub fn held(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|h| (h.views.len(), h.keys))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str, sort: &str) -> ViewKey {
        ViewKey {
            account: account.into(),
            inputs_version: "1@2026-03-01~1".into(),
            computed_at: "2026-03-01T00:00:00".parse().unwrap(),
            filter: LineFilter::default(),
            sort: sort.into(),
            descending: false,
        }
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("K{i}")).collect()
    }

    #[test]
    fn a_page_is_a_slice_of_the_views_keys() {
        let v = View::new(keys(5));
        assert_eq!(v.page(0, 2), ["K0", "K1"]);
        assert_eq!(v.page(4, 100), ["K4"]);
        assert!(v.page(5, 10).is_empty());
        assert!(v.page(i64::MAX, i64::MAX).is_empty());
        assert_eq!(v.page(3, i64::MAX), ["K3", "K4"]);
    }

    #[test]
    fn the_least_recently_used_views_go_once_too_many_keys_are_held() {
        let orders = PlanOrders::default();
        let half = MAX_KEYS / 2;
        orders.put(key("a", "sku"), Arc::new(View::new(keys(half))));
        orders.put(key("b", "sku"), Arc::new(View::new(keys(half))));
        assert_eq!(orders.held(), (2, MAX_KEYS));
        // `a` is read, so `b` is the least recently used.
        assert!(orders.get(&key("a", "sku")).is_some());
        orders.put(key("c", "sku"), Arc::new(View::new(keys(10))));
        assert_eq!(orders.held(), (2, half + 10));
        assert!(orders.get(&key("b", "sku")).is_none());
        assert!(orders.get(&key("a", "sku")).is_some());
        // The same view again replaces it.
        orders.put(key("c", "sku"), Arc::new(View::new(keys(20))));
        assert_eq!(orders.held(), (2, half + 20));
        // Too large to hold.
        orders.put(key("d", "sku"), Arc::new(View::new(keys(MAX_KEYS + 1))));
        assert!(orders.get(&key("d", "sku")).is_none());
    }

    #[test]
    fn totals_are_computed_once() {
        let v = View::new(keys(1));
        let t = vec![("now".to_string(), 1, 2.0, 3.0)];
        assert_eq!(v.totals(|| Ok::<_, ()>(t.clone())), Ok(t.clone()));
        assert_eq!(v.totals(|| Err(())), Ok(t));
    }
}
