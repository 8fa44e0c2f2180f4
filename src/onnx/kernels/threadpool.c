/* threadpool.c - see threadpool.h.
 *
 * One 64-bit word, `claim`, holds the current call: its generation (32
 * bits), its chunk count and the next unclaimed chunk (16 bits each). A lane
 * claims chunk i by moving the word from (gen, chunks, i) to (gen, chunks,
 * i + 1) with a compare-and-swap, so a worker that wakes up late, after its
 * call has ended and a new one started, can never claim a chunk of the wrong
 * call: its swap expects the old generation and fails. The call's function,
 * argument and size are plain fields written before the word is published
 * and read only after a successful claim (which synchronises with that
 * publication), and they are not rewritten before every claimed chunk has
 * reported done.
 */
#include "onnx/kernels/threadpool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "onnx/op.h"

/* Polls before sleeping (a PAUSE takes 30 to 80 ns on the Zen 5 development
 * machine, less on older CPUs: up to about 300 us here): long enough to
 * catch the next operator's call within one model run, short enough not to
 * take a shared core from other processes between runs. */
#define SPIN_ITERATIONS 4000

/* Chunks per lane that onnx_parallel_for cuts a range into when it is long
 * enough: a lane that starts late then leaves at most one small chunk to
 * wait for, and the others share out the rest. */
#define CHUNKS_PER_LANE 4

typedef void (*chunk_fn)(void *arg, size_t begin, size_t end, int lane);

typedef struct worker {
    struct onnx_threadpool *pool;
    int lane;
    pthread_t thread;
} worker;

struct onnx_threadpool {
    int threads;
    worker *workers; /* threads - 1 */
    int started;

    /* The current call; written by the caller before `claim` publishes it. */
    chunk_fn fn;
    void *arg;
    size_t n;
    uint32_t generation; /* the caller's count of calls */
    atomic_int lanes;    /* lanes below this may claim; stored before claim */

    _Alignas(64) _Atomic uint64_t claim; /* generation | chunks | next */
    _Alignas(64) atomic_uint done;       /* chunks finished this call */
    atomic_uint caller_sleeping;         /* caller waits on `done` */
    _Alignas(64) atomic_uint wake_seq;   /* futex word workers sleep on */
    atomic_int sleepers;                 /* workers asleep or about to be */
    atomic_bool stop;
    atomic_flag busy; /* a call is in progress */
};

/* The pool whose chunk this thread is running (NULL outside), and its lane:
 * a call from inside a chunk runs serially on that lane. */
static _Thread_local const onnx_threadpool *current_pool;
static _Thread_local int current_lane;

static inline uint64_t claim_word(uint32_t generation, size_t chunks, size_t next) {
    return (uint64_t)generation << 32 | (uint64_t)chunks << 16 | (uint64_t)next;
}
static inline uint32_t claim_generation(uint64_t w) { return (uint32_t)(w >> 32); }
static inline size_t claim_chunks(uint64_t w) { return (size_t)(w >> 16 & 0xffff); }
static inline size_t claim_next(uint64_t w) { return (size_t)(w & 0xffff); }

static void futex_wait(atomic_uint *word, unsigned expected) {
    /* Returns at once when *word != expected; spurious wake-ups are fine:
     * every caller re-checks its condition. */
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *word) {
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void chunk_bounds(size_t n, size_t chunks, size_t index, size_t *begin, size_t *end) {
    size_t base = n / chunks, extra = n % chunks;
    *begin = index * base + (index < extra ? index : extra);
    *end = *begin + base + (index < extra ? 1 : 0);
}

/* Claims and runs chunks of call `generation` until none is left. */
static void run_chunks(onnx_threadpool *pool, uint32_t generation, int lane) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&pool->claim, memory_order_relaxed);
        do {
            if (claim_generation(w) != generation || claim_next(w) >= claim_chunks(w))
                return;
        } while (!atomic_compare_exchange_weak_explicit(&pool->claim, &w, w + 1,
                                                        memory_order_acquire,
                                                        memory_order_relaxed));
        size_t chunks = claim_chunks(w), begin, end;
        chunk_bounds(pool->n, chunks, claim_next(w), &begin, &end);
        pool->fn(pool->arg, begin, end, lane);
        /* seq_cst pairs with the caller's store to caller_sleeping: either
         * the caller sees this chunk done or this worker sees it asleep. */
        if (atomic_fetch_add(&pool->done, 1) + 1 == chunks &&
            atomic_load(&pool->caller_sleeping))
            futex_wake_all(&pool->done);
    }
}

/* Waits for a call newer than `seen` (or stop); returns its claim word. */
static uint64_t wait_for_call(onnx_threadpool *pool, uint32_t seen) {
    for (int spins = 0; spins < SPIN_ITERATIONS; spins++) {
        uint64_t w = atomic_load_explicit(&pool->claim, memory_order_acquire);
        if (claim_generation(w) != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed))
            return w;
        cpu_relax();
    }
    for (;;) {
        unsigned seq = atomic_load(&pool->wake_seq);
        /* Announce the sleep before the last look (seq_cst on both sides:
         * a caller publishing now either sees the sleeper or is seen). */
        atomic_fetch_add(&pool->sleepers, 1);
        uint64_t w = atomic_load(&pool->claim);
        if (claim_generation(w) != seen || atomic_load(&pool->stop)) {
            atomic_fetch_sub(&pool->sleepers, 1);
            return w;
        }
        futex_wait(&pool->wake_seq, seq);
        atomic_fetch_sub(&pool->sleepers, 1);
    }
}

static void *worker_main(void *p) {
    worker *w = p;
    onnx_threadpool *pool = w->pool;
    current_pool = pool;
    current_lane = w->lane;
    uint32_t seen = 0;
    for (;;) {
        uint64_t word = wait_for_call(pool, seen);
        if (atomic_load(&pool->stop))
            return NULL;
        seen = claim_generation(word);
        /* Acquiring the word made this call's lane limit visible. */
        if (w->lane < atomic_load_explicit(&pool->lanes, memory_order_relaxed))
            run_chunks(pool, seen, w->lane);
    }
}

static void wake_workers(onnx_threadpool *pool) {
    if (atomic_load(&pool->sleepers) > 0) {
        atomic_fetch_add(&pool->wake_seq, 1);
        futex_wake_all(&pool->wake_seq);
    }
}

int onnx_threadpool_create(int threads, onnx_threadpool **out, kh_error *err) {
    *out = NULL;
    if (threads < 2 || threads > 1024)
        return kh_error_set(err, KH_EINVAL, "thread pool: %d threads (expected 2..1024)",
                            threads);
    onnx_threadpool *pool = aligned_alloc(64, (sizeof *pool + 63) / 64 * 64);
    if (!pool)
        return kh_error_set(err, KH_ENOMEM, "thread pool: out of memory");
    *pool = (onnx_threadpool){.threads = threads};
    atomic_init(&pool->claim, claim_word(0, 0, 0));
    atomic_init(&pool->done, 0);
    atomic_init(&pool->caller_sleeping, 0);
    atomic_init(&pool->wake_seq, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stop, false);
    atomic_flag_clear(&pool->busy);
    pool->workers = calloc((size_t)threads - 1, sizeof *pool->workers);
    if (!pool->workers) {
        free(pool);
        return kh_error_set(err, KH_ENOMEM, "thread pool: out of memory");
    }
    for (int i = 0; i < threads - 1; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].lane = i + 1;
        int rc = pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]);
        if (rc != 0) {
            onnx_threadpool_destroy(pool);
            return kh_error_set(err, KH_ENOMEM, "thread pool: cannot start worker %d of %d (%s)",
                                i + 1, threads - 1, rc == EAGAIN ? "EAGAIN" : "error");
        }
        pool->started++;
    }
    *out = pool;
    return KH_OK;
}

void onnx_threadpool_destroy(onnx_threadpool *pool) {
    if (!pool)
        return;
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->wake_seq, 1);
    futex_wake_all(&pool->wake_seq);
    for (int i = 0; i < pool->started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    free(pool->workers);
    free(pool);
}

int onnx_threadpool_threads(const onnx_threadpool *pool) {
    return pool ? pool->threads : 1;
}

void onnx_threadpool_run(onnx_threadpool *pool, size_t n, size_t chunks, int lanes, chunk_fn fn,
                         void *arg) {
    if (n == 0)
        return;
    if (chunks > n)
        chunks = n;
    if (chunks > ONNX_THREADPOOL_MAX_CHUNKS)
        chunks = ONNX_THREADPOOL_MAX_CHUNKS;
    if (lanes > pool->threads)
        lanes = pool->threads;
    if (current_pool == pool) { /* nested: this lane is already busy */
        fn(arg, 0, n, current_lane);
        return;
    }
    if (chunks < 2 || lanes < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    if (atomic_flag_test_and_set_explicit(&pool->busy, memory_order_acquire)) {
        fn(arg, 0, n, 0); /* another thread's call holds the pool */
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->generation++;
    atomic_store_explicit(&pool->lanes, lanes, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store(&pool->claim, claim_word(pool->generation, chunks, 0));
    wake_workers(pool);

    const onnx_threadpool *outer_pool = current_pool; /* a chunk of another pool */
    int outer_lane = current_lane;
    current_pool = pool;
    current_lane = 0;
    run_chunks(pool, pool->generation, 0);
    current_pool = outer_pool;
    current_lane = outer_lane;

    /* Every chunk is claimed; wait for those still running on workers. */
    for (int spins = 0; atomic_load_explicit(&pool->done, memory_order_acquire) < chunks;
         spins++) {
        if (spins < SPIN_ITERATIONS) {
            cpu_relax();
            continue;
        }
        atomic_store(&pool->caller_sleeping, 1);
        unsigned done = atomic_load(&pool->done);
        if (done < chunks)
            futex_wait(&pool->done, done);
        atomic_store(&pool->caller_sleeping, 0);
    }
    atomic_flag_clear_explicit(&pool->busy, memory_order_release);
}

void onnx_parallel_for(const onnx_exec *ex, size_t n,
                       void (*fn)(void *arg, size_t begin, size_t end, int worker), void *arg) {
    if (n == 0)
        return;
    if (!ex || !ex->pool || ex->threads < 2 || n < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    /* worker < min(threads, n): kernel_parallel_slots relies on it. */
    size_t lanes = (size_t)ex->threads < n ? (size_t)ex->threads : n;
    onnx_threadpool_run(ex->pool, n, lanes * CHUNKS_PER_LANE, (int)lanes, fn, arg);
}
