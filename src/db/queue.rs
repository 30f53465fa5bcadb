//! The queue of this process's SQLite writers: first come, first served.
//!
//! SQLite lets one writer at a time hold a database, and its busy handler
//! keeps no queue: a writer that finds the lock taken sleeps (up to 100 ms
//! between tries) and the lock goes to whoever asks at the moment it is
//! free. With writers back to back, a writer can so lose every try for as
//! long as the others keep coming: under the load benchmark an import
//! waited 20 s while hundreds of short plan transactions took the lock
//! between its tries (`docs/hardening.md`). Short transactions only help a
//! waiting writer if it is served in turn.
//!
//! So every outermost write transaction ([`crate::db::transaction`]) takes
//! its turn here before `BEGIN IMMEDIATE` and keeps it to its commit or
//! rollback: one [`parking_lot::FairMutex`] per database file, which hands
//! the lock to the longest waiter when it is let go. A writer then waits
//! for the transactions queued before it, not for luck.
//!
//! What the queue does not cover waits as before, through SQLite's busy
//! handler: another process (the command line) and a write outside
//! [`crate::db::transaction`]. A turn is waited for at most [`TURN_WAIT`]
//! (the connections' busy timeout); past it the writer goes on to `BEGIN
//! IMMEDIATE` without a turn, so a writer that (wrongly) opened a second
//! write transaction on another connection while holding its turn fails
//! with "database is locked" after the busy timeout, as it did without the
//! queue, instead of hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::sqlite::SqliteConnection;
use diesel::RunQueryDsl;
use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{FairMutex, RawFairMutex};

/// How long a writer waits for its turn before it goes on without one (the
/// busy timeout of the server's connections).
pub const TURN_WAIT: Duration = Duration::from_secs(30);

/// A writer's turn: the database is its until this is dropped.
pub type Turn = ArcMutexGuard<RawFairMutex, ()>;

/// The queues, by database file. An entry whose queue nobody holds or
/// waits for is dropped when the map has grown (tests open many files).
static QUEUES: Mutex<Option<HashMap<String, Arc<FairMutex<()>>>>> = Mutex::new(None);

/// The main database file of `conn` (empty for an in-memory database).
#[derive(diesel::QueryableByName)]
struct File {
    #[diesel(sql_type = diesel::sql_types::Text)]
    file: String,
}

fn file_of(conn: &mut SqliteConnection) -> Option<String> {
    diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<File>(conn)
        .ok()
        .map(|f| f.file)
        .filter(|f| !f.is_empty())
}

/// The queue of the database file `file`.
fn queue(file: String) -> Arc<FairMutex<()>> {
    let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    let queues = queues.get_or_insert_with(HashMap::new);
    if queues.len() >= 64 && !queues.contains_key(&file) {
        // Nobody holds or waits for a queue whose only reference is ours.
        queues.retain(|_, q| Arc::strong_count(q) > 1);
    }
    queues.entry(file).or_default().clone()
}

/// Waits for `conn`'s turn to write (at most [`TURN_WAIT`]); `None` for an
/// in-memory database, or when the wait ran out.
pub fn turn(conn: &mut SqliteConnection) -> Option<Turn> {
    turn_within(conn, TURN_WAIT)
}

/// [`turn`] with another bound on the wait.
pub fn turn_within(conn: &mut SqliteConnection, wait: Duration) -> Option<Turn> {
    let queue = queue(file_of(conn)?);
    let turn = queue.try_lock_arc_for(wait);
    if turn.is_none() {
        tracing::warn!(
            waited_s = wait.as_secs(),
            "no turn in the writers' queue; writing without one"
        );
    }
    turn
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;
    use std::sync::mpsc;
    use std::time::Instant;

    fn open(path: &std::path::Path) -> SqliteConnection {
        SqliteConnection::establish(path.to_str().unwrap()).unwrap()
    }

    /// Writers get their turns in the order they asked, whatever the
    /// scheduler does, and two files do not share a queue.
    #[test]
    fn writers_are_served_in_the_order_they_asked_and_files_queue_apart() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let first = turn(&mut open(&a)).expect("a turn");
        // Another file's queue is free meanwhile.
        let started = Instant::now();
        drop(turn(&mut open(&b)).expect("b's own turn"));
        assert!(started.elapsed() < Duration::from_secs(1));
        let (tx, rx) = mpsc::channel();
        let mut waiters = Vec::new();
        for i in 0..5 {
            let (path, tx) = (a.clone(), tx.clone());
            waiters.push(std::thread::spawn(move || {
                let mut conn = open(&path);
                let t = turn(&mut conn).expect("a turn");
                tx.send(i).unwrap();
                drop(t);
            }));
            // Each one waits before the next asks.
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(first);
        for w in waiters {
            w.join().unwrap();
        }
        let order: Vec<i32> = rx.try_iter().collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    /// A turn not had within the bound is given up, not waited for forever.
    #[test]
    fn a_turn_not_had_in_time_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let _held = turn(&mut open(&path)).expect("a turn");
        let started = Instant::now();
        assert!(turn_within(&mut open(&path), Duration::from_millis(100)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(100));
        // An in-memory database has no file to queue on.
        assert!(turn(&mut SqliteConnection::establish(":memory:").unwrap()).is_none());
    }
}
