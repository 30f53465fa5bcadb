//! The threads plan lines are computed on: a pool of its own at background
//! priority (nice 10 and `SCHED_BATCH` on Linux), so that while a plan of
//! tens of thousands of lines takes every core, the server's requests are
//! still served first. The planning stages are CPU-bound and
//! throughput-oriented; a request is short and latency-bound. Nice 10, not
//! 19: against the server's own threads (nice 0) planning gets about a
//! tenth of a core they want, but another busy process on the machine (a
//! database, a backup) does not starve it.

use std::sync::OnceLock;

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Runs `f` (which uses rayon's parallel iterators) on the planning pool;
/// the calling thread waits for it.
pub fn run<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    pool().install(f)
}

/// Runs `f` on a thread of its own at the planning pool's background
/// priority; the calling thread waits for it. A full replan runs whole on
/// one (its reads and stores as well as its lines, and any thread it
/// spawns inherits the priority), so that the server's requests are served
/// first while it takes every core.
pub fn background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("planning-full".into())
            .spawn_scoped(scope, || {
                lower_priority();
                f()
            })
            .expect("a thread for a full replan");
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn pool() -> &'static ThreadPool {
    static POOL: OnceLock<ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        ThreadPoolBuilder::new()
            .thread_name(|i| format!("planning-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .or_else(|_| ThreadPoolBuilder::new().num_threads(1).build())
            .expect("a thread for planning")
    })
}

/// Lowers the current thread to background priority; where the system
/// refuses (a container without the right), it keeps its priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        use thread_priority::ThreadPriority;
        // The crate maps 0–99 onto the nice values 19 … −20: 22 is nice 10.
        let Ok(value) = 22u8.try_into() else {
            return;
        };
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(value),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        );
    }
    #[cfg(not(target_os = "linux"))]
    {
        if let Ok(value) = 22u8.try_into() {
            let _ = thread_priority::set_current_thread_priority(
                thread_priority::ThreadPriority::Crossplatform(value),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn work_runs_on_the_planning_threads() {
        let names: Vec<String> = super::run(|| {
            use rayon::prelude::*;
            (0..4)
                .into_par_iter()
                .map(|_| {
                    std::thread::current()
                        .name()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        });
        assert!(
            names.iter().all(|n| n.starts_with("planning-")),
            "{names:?}"
        );
    }

    /// A thread's nice value (`/proc/thread-self/stat`, field 19).
    #[cfg(target_os = "linux")]
    fn nice() -> String {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().to_string()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_replan_and_the_threads_it_spawns_run_at_background_priority() {
        let caller = nice();
        let (own, spawned) = super::background(|| {
            let spawned = std::thread::spawn(nice).join().unwrap();
            (nice(), spawned)
        });
        assert_eq!((own.as_str(), spawned.as_str()), ("10", "10"));
        assert_eq!(nice(), caller, "the caller keeps its priority");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_planning_threads_run_at_background_priority() {
        use thread_priority::unix::{
            thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        let policy = super::run(|| thread_schedule_policy().unwrap());
        assert_eq!(
            policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch)
        );
        assert_eq!(super::run(nice), "10");
    }
}
