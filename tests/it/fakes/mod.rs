//! Fake sources for connector tests: in-process actix servers on port 0
//! that answer like the documented Shopify GraphQL Admin API and
//! WooCommerce REST v3, with faults to inject per request.

pub mod graphql;
pub mod shopify;
pub mod woocommerce;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A fault the next matching request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooMany(u64),
    /// GraphQL `THROTTLED` (Shopify only).
    Throttled,
    /// 500.
    ServerError,
    /// Answer only after this many milliseconds.
    Slow(u64),
    /// A JSON page cut off in the middle.
    Truncated,
    /// Before answering, change the data (a record updated between pages).
    Change,
}

/// Faults queued per resource (`variants`, `orders`, `products`, …).
#[derive(Default)]
pub struct Faults {
    queue: Vec<(String, usize, Fault)>,
    /// Requests seen, per resource.
    pub seen: Vec<String>,
}

impl Faults {
    /// Queues a fault for the next request of `resource`.
    pub fn push(&mut self, resource: &str, fault: Fault) {
        self.queue.push((resource.to_string(), 0, fault));
    }

    /// Queues a fault for the request of `resource` after the next one.
    pub fn queue_after_first(&mut self, resource: &str, fault: Fault) {
        self.queue.push((resource.to_string(), 1, fault));
    }

    /// The fault of a request of `resource`, if one is queued.
    pub fn take(&mut self, resource: &str) -> Option<Fault> {
        self.seen.push(resource.to_string());
        let i = self.queue.iter().position(|(r, _, _)| r == resource)?;
        if self.queue[i].1 > 0 {
            self.queue[i].1 -= 1;
            return None;
        }
        Some(self.queue.remove(i).2)
    }
}

/// A listener on port 0 and its base URL.
pub fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake");
    let addr = format!("http://{}", listener.local_addr().unwrap());
    (listener, addr)
}

/// Shared state of a fake.
pub type Shared<T> = Arc<Mutex<T>>;
