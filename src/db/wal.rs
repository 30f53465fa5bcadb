//! Keeps SQLite's write-ahead log bounded while readers never stop.
//!
//! SQLite appends every committed page to the log, copies pages back into
//! the database file at checkpoints, and starts the log over only when a
//! writer begins while (a) the whole log is copied back and (b) no reader
//! still reads a snapshot that needs the log. The automatic checkpoint
//! (`wal_autocheckpoint`, after a commit) is `PASSIVE`: it copies back only
//! what no reader still needs and never waits, so with readers always under
//! way and writers back to back neither (a) nor (b) ever holds and the log
//! grows with every page written (about 1 GB a minute in the load
//! benchmark; every page lookup goes through the log's index, which grows
//! with it). `journal_size_limit` only shrinks the file when the log starts
//! over, so it cannot help on its own.
//!
//! What does: a `RESTART` checkpoint. It takes the write lock, copies the
//! whole log back, and waits until every reader still on an older snapshot
//! is done (readers that start meanwhile read the database file alone, as
//! the log is all copied back), so that the next writer starts the log
//! over. It succeeds only once the readers on old snapshots are done, and
//! it waits for them (and for the write lock) through the busy handler,
//! while writers of this process that come back to back would each take
//! the write lock before it (SQLite gives it to whoever asks at the right
//! moment; the experiment without a turn of its own kept 21,320 of 33,900
//! pages). `TRUNCATE` is `RESTART` plus cutting the file to nothing, which
//! the next writes grow again; `RESTART` with `journal_size_limit` reuses
//! the file. `wal_autocheckpoint` stays at its default (a writer copies
//! back after its commit, holding no lock), so the thread's `PASSIVE` step
//! usually finds little left to copy.
//!
//! So, per SQLite database, a thread ([`start`]) every [`EVERY`]:
//!
//! 1. runs a `PASSIVE` checkpoint (copies back what it can, holds nothing);
//! 2. when the log is still over [`RESTART_FRAMES`] pages, takes its turn
//!    in this process's queue of writers ([`crate::db::queue`]), runs a
//!    `RESTART` checkpoint with a busy timeout of [`RESTART_WAIT`], and
//!    lets the turn go, whether it succeeded or not (after one that gave
//!    up, the next waits [`BACK_OFF`], so writers are not kept waiting
//!    most of the time by a reader that keeps it from succeeding).
//!
//! With its turn, no writer of this process holds the write lock, so the
//! `RESTART` waits only for readers (at most [`RESTART_WAIT`]) and for
//! writers of other processes (the command line), and the writers queued
//! behind it wait for it as for any writer: first come, first served.

//! Every connection also sets `journal_size_limit` ([`JOURNAL_SIZE_LIMIT`]):
//! when the log starts over, its file is cut back to that size, so a large
//! transaction (an import of many lines) does not leave a large file
//! behind.
//!
//! Measured by the tests below (two writers back to back, about 10,000
//! pages a second on a quiet machine, two readers whose snapshots always
//! overlap): without the thread the log held every page written (19,800
//! frames for 16,400 pages written; 60,000–125,000 when run for 4 s);
//! with it, it stayed at 6,700–17,400 pages while 32,800 were written, a
//! `RESTART` took 100–250 ms, and the longest write transaction (then
//! behind a gate the `RESTART` closed, before the writers' queue) was
//! 1.3–3.2 s against 0.8–2.9 s without at load average 4–8 (8.1 s against
//! 3.0 s at load average 78).

use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult, RunQueryDsl};

/// The log's length (in pages) over which a `RESTART` is asked for.
pub const RESTART_FRAMES: i64 = 4096;
/// How long a `RESTART` may wait for the write lock or for readers (the
/// busy timeout of its connection).
pub const RESTART_WAIT: Duration = Duration::from_millis(250);
/// How often the log is looked at.
pub const EVERY: Duration = Duration::from_millis(50);
/// How long after a `RESTART` that gave up the next one may take a turn
/// (so that readers that keep it from succeeding do not keep writers
/// waiting most of the time).
pub const BACK_OFF: Duration = Duration::from_millis(200);
/// `journal_size_limit` of every connection, in bytes.
pub const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

/// The log after a checkpoint: whether it stopped short (readers or a
/// writer), its length and how much of it is copied back, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::QueryableByName)]
pub struct Checkpoint {
    /// Whether it stopped short.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub busy: i32,
    /// Pages in the log.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub log: i32,
    /// Pages of it copied back.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub checkpointed: i32,
}

/// A checkpoint of the log: `mode` is `PASSIVE`, `FULL`, `RESTART` or
/// `TRUNCATE`.
pub fn checkpoint(conn: &mut SqliteConnection, mode: &str) -> QueryResult<Checkpoint> {
    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).get_result(conn)
}

/// One turn of the thread: `PASSIVE`, then, when the log is over
/// [`RESTART_FRAMES`] and `restart` allows it, `RESTART` in its turn
/// among this process's writers. Returns the last checkpoint's state
/// and whether it was a `RESTART`.
pub fn turn(conn: &mut SqliteConnection, restart: bool) -> QueryResult<(Checkpoint, bool)> {
    let state = checkpoint(conn, "PASSIVE")?;
    // `busy` here: another connection's checkpoint was running. A log all
    // copied back is started over by the next writer (or, when a reader on
    // an old snapshot keeps it from that, grows and is seen again).
    if !restart
        || state.busy != 0
        || state.checkpointed >= state.log
        || i64::from(state.log) <= RESTART_FRAMES
    {
        return Ok((state, false));
    }
    // Its turn among this process's writers: none of them holds the write
    // lock meanwhile, and none waits longer than its turn.
    let _turn = crate::db::queue::turn(conn);
    let started = std::time::Instant::now();
    let state = checkpoint(conn, "RESTART")?;
    // A `RESTART` holds the write lock while it copies the log back and
    // waits for readers: every writer waits that long.
    let took = started.elapsed();
    if took > crate::db::HELD_WARN {
        tracing::warn!(
            ms = took.as_millis() as u64,
            ?state,
            "a log restart held the database for over half a second"
        );
    } else {
        tracing::debug!(ms = took.as_millis() as u64, ?state, "log restart");
    }
    Ok((state, true))
}

/// Starts the checkpointing thread of the SQLite database at `target`; it
/// ends once every clone of the returned token is dropped.
pub fn start(target: &str) -> std::io::Result<Arc<()>> {
    let token = Arc::new(());
    let alive: Weak<()> = Arc::downgrade(&token);
    let target = target.to_string();
    std::thread::Builder::new()
        .name("wal-checkpoint".into())
        .spawn(move || {
            let mut conn = None;
            let mut restart_after = std::time::Instant::now();
            while alive.strong_count() > 0 {
                std::thread::sleep(EVERY);
                if conn.is_none() {
                    conn = SqliteConnection::establish(&target).ok().and_then(|mut c| {
                        let wait = RESTART_WAIT.as_millis();
                        c.batch_execute(&format!("PRAGMA busy_timeout = {wait};"))
                            .ok()
                            .map(|_| c)
                    });
                }
                let Some(c) = conn.as_mut() else { continue };
                let restart = std::time::Instant::now() >= restart_after;
                match turn(c, restart) {
                    Ok((state, true)) if state.busy != 0 => {
                        // The restart gave up (a reader or a writer).
                        tracing::debug!(?state, "log restart put off");
                        restart_after = std::time::Instant::now() + BACK_OFF;
                    }
                    Ok((state, _)) => tracing::trace!(?state, "checkpoint"),
                    Err(e) => {
                        tracing::debug!(error = %e, "checkpoint failed");
                        restart_after = std::time::Instant::now() + BACK_OFF;
                    }
                }
            }
        })?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{transaction, Db};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    /// Through the server's pools: two writers back to back (10 pages a
    /// transaction) and two readers whose snapshots always overlap (each
    /// holds one 80 ms, 40 ms apart), until about `pages` pages are
    /// written (at most two minutes, on a slow machine). Returns the longest
    /// the log got (pages, sampled every 5 ms), how many times it was seen
    /// to start over, the pages written (about) and the longest write
    /// transaction (its turn in the queue to commit).
    fn load(db: &Db, target: &str, pages: i64) -> (i64, usize, i64, Duration) {
        // One load at a time: they share the machine's cores.
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..2u64 {
            let (stop, db) = (stop.clone(), db.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = db.read_conn().unwrap();
                std::thread::sleep(Duration::from_millis(40 * i));
                while !stop.load(Ordering::Relaxed) {
                    c.batch_execute("BEGIN; SELECT count(*) FROM t;").unwrap();
                    std::thread::sleep(Duration::from_millis(80));
                    c.batch_execute("COMMIT;").unwrap();
                }
                (0, Duration::ZERO)
            }));
        }
        let total = Arc::new(std::sync::atomic::AtomicI64::new(0));
        for _ in 0..2 {
            let (stop, db, total) = (stop.clone(), db.clone(), total.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = db.conn().unwrap();
                let (mut written, mut longest) = (0, Duration::ZERO);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    transaction(&mut c, |c| {
                        c.batch_execute(
                            "DELETE FROM t WHERE n IN (SELECT n FROM t ORDER BY n LIMIT 10); \
                             INSERT INTO t (v) SELECT randomblob(4000) FROM \
                             (WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 10) \
                              SELECT i FROM k);",
                        )
                    })
                    .unwrap();
                    longest = longest.max(t.elapsed());
                    written += 10;
                    total.fetch_add(10, Ordering::Relaxed);
                }
                (written, longest)
            }));
        }
        // The log's length: `mxFrame` of the wal-index header at the start
        // of the shared-memory file (a native-endian `u32` at byte 16),
        // read without taking part in any lock or checkpoint.
        let shm = format!("{target}-shm");
        let (mut longest_log, mut last, mut restarts) = (0, 0, 0);
        let started = Instant::now();
        while total.load(Ordering::Relaxed) < pages && started.elapsed() < Duration::from_secs(120)
        {
            use std::io::Read;
            let mut header = [0u8; 20];
            if let Ok(mut f) = std::fs::File::open(&shm) {
                if f.read_exact(&mut header).is_ok() {
                    let frames = i64::from(u32::from_ne_bytes(header[16..20].try_into().unwrap()));
                    longest_log = longest_log.max(frames);
                    if last > RESTART_FRAMES && frames < last / 2 {
                        restarts += 1;
                    }
                    last = frames;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let (mut written, mut longest_write) = (0, Duration::ZERO);
        for t in threads {
            let (w, l) = t.join().unwrap();
            written += w;
            longest_write = longest_write.max(l);
        }
        (longest_log, restarts, written, longest_write)
    }

    /// Readers that always overlap and writers back to back keep SQLite
    /// from starting its log over by itself (the log held every page
    /// written without the thread); with it the log starts over again and
    /// again, and no write waits long.
    #[test]
    fn the_log_stays_bounded_under_overlapping_readers_and_back_to_back_writers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.db").display().to_string();
        let db = Db::connect(&format!("sqlite://{target}")).unwrap();
        db.conn()
            .unwrap()
            .batch_execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v BLOB NOT NULL);")
            .unwrap();
        let (longest, restarts, written, longest_write) = load(&db, &target, 16 * RESTART_FRAMES);
        println!(
            "with the thread: the log got to {longest} pages and started over {restarts} times, \
             {written} written, longest write {longest_write:?}"
        );
        assert!(
            written >= 16 * RESTART_FRAMES,
            "the writers wrote only {written} pages"
        );
        // How high the log gets between two starts depends on how much of
        // the cores the thread gets: 6,700-17,400 pages alone, 22,500-24,700
        // beside the other unit tests. That it starts over, again and again,
        // does not.
        assert!(
            restarts >= 2 && longest < 3 * written / 4,
            "the log started over {restarts} times and grew to {longest} pages of {written} written"
        );
        assert!(
            longest_write < Duration::from_secs(10),
            "a write transaction took {longest_write:?}"
        );
    }

    /// What the thread is there for: without it the same load keeps the log
    /// growing with every page written.
    #[test]
    fn without_the_checkpoints_the_log_holds_every_page_written() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.db").display().to_string();
        let db = Db::connect_without_checkpoints(&format!("sqlite://{target}")).unwrap();
        db.conn()
            .unwrap()
            .batch_execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v BLOB NOT NULL);")
            .unwrap();
        let (longest, restarts, written, longest_write) = load(&db, &target, 4 * RESTART_FRAMES);
        println!(
            "without the thread: the log got to {longest} pages and started over {restarts} times, \
             {written} written, longest write {longest_write:?}"
        );
        assert!(
            written >= 4 * RESTART_FRAMES && longest > written / 2 && restarts == 0,
            "the log started over {restarts} times and grew to {longest} pages of {written} written"
        );
    }
}
