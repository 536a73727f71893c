//! The Tokio runtime the server runs on: which scheduler, how many worker threads.

use std::{io, num::NonZeroUsize};

/// The number of threads [`build`] uses for `worker_threads`: the number given, or
/// else the CPUs this process may use after its CPU affinity and cgroup quota (Rust's
/// `available_parallelism`), or 1 if that cannot be read.
pub fn threads(worker_threads: Option<NonZeroUsize>) -> usize {
    worker_threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
}

/// A Tokio runtime with I/O and timers for `worker_threads` threads (default: see
/// [`threads`]).
///
/// One thread gets the current-thread scheduler rather than a multi-thread scheduler
/// with one worker. Both run every task on one thread, but the multi-thread scheduler
/// runs a task woken by the running task next (its LIFO slot), so each call that
/// finishes wakes the connection's task at once and its reply goes out in a write of
/// its own. The current-thread scheduler runs woken tasks in the order they were woken:
/// the calls finished together (a batch of predictions, say) all reply before the
/// connection's task writes, in one write. Tokio can turn the LIFO slot off only
/// behind its unstable flag (`Builder::disable_lifo_slot`, tokio 1.x).
///
/// # Errors
/// The I/O error of `Builder::build` (the OS refused a thread, an epoll instance or an
/// eventfd).
pub fn build(worker_threads: Option<NonZeroUsize>) -> io::Result<tokio::runtime::Runtime> {
    let threads = threads(worker_threads);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::*;

    #[test]
    fn one_thread_is_the_current_thread_scheduler() {
        let runtime = build(NonZeroUsize::new(1)).unwrap();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            RuntimeFlavor::CurrentThread
        );
        assert_eq!(runtime.block_on(async { 6 * 7 }), 42);
    }

    #[test]
    fn more_threads_are_the_multi_thread_scheduler_with_that_many_workers() {
        let runtime = build(NonZeroUsize::new(3)).unwrap();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            RuntimeFlavor::MultiThread
        );
        assert_eq!(runtime.metrics().num_workers(), 3);
    }

    #[test]
    fn the_default_is_the_cpus_this_process_may_use() {
        assert_eq!(
            threads(None),
            std::thread::available_parallelism().unwrap().get()
        );
        assert_eq!(threads(NonZeroUsize::new(5)), 5);
    }
}
