#define _GNU_SOURCE
#include "CPartPool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The job's claims are one word: generation (32 bits) | parts (16) | next part (16). A thread
// takes a part with a compare-and-swap on it, so a thread still looking at the previous job can
// never take a part of the next one, and the job's body and context are read only after a part
// is taken: the caller cannot replace them before that part is done.
#define PARTS_SHIFT 16
#define GENERATION_SHIFT 32
#define FIELD_MASK 0xFFFFull

struct voronoid_part_pool {
    _Atomic uint64_t claims;
    // The generation again, as the 32-bit word the sleeping threads wait on.
    _Atomic uint32_t published;
    _Atomic int sleepers;
    _Atomic long done;
    _Atomic int stopping;
    voronoid_part_body body;
    void *context;
    long long poll_nanoseconds;
    int threads;
    pthread_t *handles;
};

static long long now_nanoseconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

// Takes and runs parts of generation `generation` until none is left.
static void take_parts(voronoid_part_pool *pool, uint64_t generation) {
    uint64_t seen = atomic_load_explicit(&pool->claims, memory_order_acquire);
    for (;;) {
        if ((seen >> GENERATION_SHIFT) != generation) return;
        uint64_t parts = (seen >> PARTS_SHIFT) & FIELD_MASK, next = seen & FIELD_MASK;
        if (next >= parts) return;
        if (atomic_compare_exchange_weak_explicit(&pool->claims, &seen, seen + 1,
                                                  memory_order_acq_rel, memory_order_acquire)) {
            pool->body(pool->context, (long)next);
            atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
            seen = atomic_load_explicit(&pool->claims, memory_order_acquire);
        }
    }
}

static void *worker(void *raw) {
    voronoid_part_pool *pool = raw;
    // Generation 0 is the pool's state at creation: a job published before this thread got to
    // run is still new to it.
    uint32_t seen = 0;
    for (;;) {
        // Poll for the next job, giving the core to any runnable thread between looks; sleep
        // once the poll has lasted its time.
        uint32_t generation = atomic_load_explicit(&pool->published, memory_order_acquire);
        if (generation == seen && !atomic_load(&pool->stopping)) {
            long long deadline = now_nanoseconds() + pool->poll_nanoseconds;
            for (unsigned spins = 1;; spins++) {
                generation = atomic_load_explicit(&pool->published, memory_order_acquire);
                if (generation != seen || atomic_load(&pool->stopping)) break;
                if ((spins & 15) == 0) {
                    if (now_nanoseconds() >= deadline) {
                        atomic_fetch_add(&pool->sleepers, 1);
                        // The caller publishes, then looks for sleepers; looking again after
                        // counting ourselves in means one of the two sees the other.
                        if (atomic_load(&pool->published) == seen && !atomic_load(&pool->stopping)) {
                            futex_wait(&pool->published, seen);
                        }
                        atomic_fetch_sub(&pool->sleepers, 1);
                        deadline = now_nanoseconds() + pool->poll_nanoseconds;
                    } else {
                        sched_yield();
                    }
                } else {
                    relax();
                }
            }
        }
        if (atomic_load(&pool->stopping)) return NULL;
        seen = generation;
        take_parts(pool, generation);
    }
}

voronoid_part_pool *voronoid_part_pool_create(int threads, long long poll_nanoseconds, const char *name) {
    voronoid_part_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) return NULL;
    pool->poll_nanoseconds = poll_nanoseconds > 0 ? poll_nanoseconds : 0;
    pool->handles = calloc(threads > 0 ? (size_t)threads : 1, sizeof(pthread_t));
    if (pool->handles == NULL) {
        free(pool);
        return NULL;
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&pool->handles[i], NULL, worker, pool) != 0) {
            pool->threads = i;
            voronoid_part_pool_destroy(pool);
            return NULL;
        }
        char truncated[16] = {0};
        strncpy(truncated, name != NULL ? name : "voronoid-part", sizeof truncated - 1);
        pthread_setname_np(pool->handles[i], truncated);
        pool->threads = i + 1;
    }
    return pool;
}

void voronoid_part_pool_run(voronoid_part_pool *pool, long parts, voronoid_part_body body, void *context) {
    if (parts <= 0) return;
    // More parts than the claim word can count (never asked for: a part per core) run here.
    if (parts == 1 || pool->threads == 0 || parts > (long)FIELD_MASK) {
        for (long p = 0; p < parts; p++) body(context, p);
        return;
    }
    pool->body = body;
    pool->context = context;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    uint32_t generation = atomic_load_explicit(&pool->published, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->claims,
                          ((uint64_t)generation << GENERATION_SHIFT) | ((uint64_t)parts << PARTS_SHIFT),
                          memory_order_release);
    atomic_store(&pool->published, generation);
    if (atomic_load(&pool->sleepers) > 0) futex_wake_all(&pool->published);
    take_parts(pool, generation);
    // The rest is running on pool threads: each is a share of the same batch, so a short wait.
    for (unsigned spins = 1; atomic_load_explicit(&pool->done, memory_order_acquire) < parts; spins++) {
        if ((spins & 63) == 0) sched_yield(); else relax();
    }
}

void voronoid_part_pool_destroy(voronoid_part_pool *pool) {
    if (pool == NULL) return;
    atomic_store(&pool->stopping, 1);
    atomic_fetch_add(&pool->published, 1);
    futex_wake_all(&pool->published);
    for (int i = 0; i < pool->threads; i++) pthread_join(pool->handles[i], NULL);
    free(pool->handles);
    free(pool);
}
