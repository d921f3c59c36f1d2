import COpenBLAS

/// Keeps OpenBLAS's products on the thread that calls them: parallelism belongs to the caller's
/// ``ParallelLoop``, one part per core, and OpenBLAS threads of its own would oversubscribe them.
///
/// Asks OpenBLAS only when it is set to more threads: Debian's 0.3.21 starts its pool of threads
/// again on every request, and a new pool spins on `sched_yield` for about a tenth of a second,
/// a core taken from the seeding it was meant to leave alone.
public func useOneBLASThread() {
    if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
}
