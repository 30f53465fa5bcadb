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

/// Lowers the current thread to about nice value `nice` (0–19) under the
/// ordinary policy (the read threads: `db::Db::read`); where the system
/// refuses, it keeps its priority.
pub(crate) fn lower_priority_to(nice: i8) {
    // The crate maps 0–99 onto the nice values 19 … −20.
    let value = (19 - i32::from(nice.clamp(0, 19))) * 99 / 39;
    let Ok(value) = u8::try_from(value).unwrap_or(0).try_into() else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Crossplatform(value),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
        );
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread_priority::set_current_thread_priority(
            thread_priority::ThreadPriority::Crossplatform(value),
        );
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
        // Nice 10 (`/proc/thread-self/stat`, field 19).
        let nice = super::run(|| {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(16).unwrap().to_string()
        });
        assert_eq!(nice, "10");
    }
}
