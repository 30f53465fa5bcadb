//! The threads plan lines are computed on: a pool of its own at background
//! priority (the lowest nice value, `SCHED_BATCH` on Linux), so that while a
//! plan of tens of thousands of lines takes every core, the server's
//! requests are still served first. The planning stages are CPU-bound and
//! throughput-oriented; a request is short and latency-bound.

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
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        );
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
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
        // Nice 19, the kernel's lowest priority (`/proc/thread-self/stat`,
        // field 19).
        let nice = super::run(|| {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(16).unwrap().to_string()
        });
        assert_eq!(nice, "19");
    }
}
