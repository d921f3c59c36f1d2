#ifndef VORONOID_C_PART_POOL_H
#define VORONOID_C_PART_POOL_H

/// A fixed set of threads that run the parts of one job at a time, for the clustering thread's
/// batches. A batch is a few milliseconds of work split into one part per core, started hundreds
/// of times a second. Woken for each batch (Dispatch's `concurrentPerform`), the second thread
/// started its part 0.1 to 0.4 ms late on average on a busy two-core machine, against parts of
/// about a millisecond. The threads here keep polling for the next job for a while after each
/// part (yielding the core to any other runnable thread meanwhile), then sleep until woken.

/// Runs part `part` of the job whose context is `context`.
typedef void (*voronoid_part_body)(void *context, long part);

typedef struct voronoid_part_pool voronoid_part_pool;

/// Starts `threads` threads (≥ 0), named `name` (at most 15 bytes are kept), that poll for a job
/// for `poll_nanoseconds` after each one before they sleep. Returns NULL when a thread cannot be
/// started.
voronoid_part_pool *voronoid_part_pool_create(int threads, long long poll_nanoseconds, const char *name);

/// Runs `body(context, p)` once for each p in 0 ..< parts on the calling thread and the pool's
/// (beyond 65 535 parts, on the calling thread alone), and returns when every call has returned. Any thread may run any part; a part
/// no pool thread has taken when the caller is free is run by the caller. One caller at a time.
void voronoid_part_pool_run(voronoid_part_pool *pool, long parts, voronoid_part_body body, void *context);

/// Stops and joins the threads and frees the pool.
void voronoid_part_pool_destroy(voronoid_part_pool *pool);

#endif
