/* threadpool.c - see threadpool.h. */
#include "onnx/kernels/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "onnx/op.h"

/* Iterations a worker (or the caller) polls before sleeping: long enough to
 * catch the next operator's parallel_for, short enough not to burn a core
 * between runs. */
#define SPIN_ITERATIONS 20000

typedef struct worker {
    struct onnx_threadpool *pool;
    int lane;
    pthread_t thread;
} worker;

struct onnx_threadpool {
    int threads;
    worker *workers; /* threads - 1 */
    int started;

    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;

    /* The current job; written by the caller before generation moves. */
    void (*fn)(void *, size_t, size_t, int);
    void *arg;
    size_t n;
    int chunks;

    atomic_uint generation;
    atomic_int remaining; /* workers that have not finished this job */
    atomic_bool stop;
};

static void chunk_bounds(size_t n, int chunks, int lane, size_t *begin,
                         size_t *end) {
    size_t base = n / (size_t)chunks, extra = n % (size_t)chunks;
    size_t l = (size_t)lane;
    *begin = l * base + (l < extra ? l : extra);
    *end = *begin + base + (l < extra ? 1 : 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *p) {
    worker *w = p;
    onnx_threadpool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load(&pool->generation)) == seen &&
               !atomic_load(&pool->stop) && spins < SPIN_ITERATIONS) {
            cpu_relax();
            spins++;
        }
        if (gen == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mutex);
            while ((gen = atomic_load(&pool->generation)) == seen &&
                   !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop))
            return NULL;
        seen = gen;
        /* Every worker reports back, even without a chunk, so the caller
         * never publishes a new job while one is still reading this one. */
        if (w->lane < pool->chunks) {
            size_t begin, end;
            chunk_bounds(pool->n, pool->chunks, w->lane, &begin, &end);
            if (begin < end)
                pool->fn(pool->arg, begin, end, w->lane);
        }
        if (atomic_fetch_sub(&pool->remaining, 1) == 1) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
}

int onnx_threadpool_create(int threads, onnx_threadpool **out,
                           kh_error *err) {
    *out = NULL;
    if (threads < 2 || threads > 1024)
        return kh_error_set(err, KH_EINVAL,
                            "thread pool: %d threads (expected 2..1024)",
                            threads);
    onnx_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return kh_error_set(err, KH_ENOMEM, "thread pool: out of memory");
    pool->threads = threads;
    pool->workers = calloc((size_t)threads - 1, sizeof *pool->workers);
    if (!pool->workers) {
        free(pool);
        return kh_error_set(err, KH_ENOMEM, "thread pool: out of memory");
    }
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->remaining, 0);
    atomic_init(&pool->stop, false);
    for (int i = 0; i < threads - 1; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].lane = i + 1;
        if (pthread_create(&pool->workers[i].thread, NULL, worker_main,
                           &pool->workers[i]) != 0) {
            onnx_threadpool_destroy(pool);
            return kh_error_set(err, KH_ENOMEM,
                                "thread pool: cannot start worker %d", i + 1);
        }
        pool->started++;
    }
    *out = pool;
    return KH_OK;
}

void onnx_threadpool_destroy(onnx_threadpool *pool) {
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

int onnx_threadpool_threads(const onnx_threadpool *pool) {
    return pool ? pool->threads : 1;
}

void onnx_threadpool_run(onnx_threadpool *pool, size_t n, int chunks,
                         void (*fn)(void *arg, size_t begin, size_t end,
                                    int lane),
                         void *arg) {
    if (chunks > pool->threads)
        chunks = pool->threads;
    if (chunks < 1)
        chunks = 1;
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunks = chunks;
    atomic_store(&pool->remaining, pool->threads - 1);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    size_t begin, end;
    chunk_bounds(n, chunks, 0, &begin, &end);
    if (begin < end)
        fn(arg, begin, end, 0);

    int spins = 0;
    while (atomic_load(&pool->remaining) > 0 && spins < SPIN_ITERATIONS) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&pool->remaining) > 0) {
        pthread_mutex_lock(&pool->mutex);
        while (atomic_load(&pool->remaining) > 0)
            pthread_cond_wait(&pool->done, &pool->mutex);
        pthread_mutex_unlock(&pool->mutex);
    }
}

void onnx_parallel_for(const onnx_exec *ex, size_t n,
                       void (*fn)(void *arg, size_t begin, size_t end,
                                  int worker),
                       void *arg) {
    if (n == 0)
        return;
    int threads = ex && ex->threads > 1 ? ex->threads : 1;
    if (!ex || !ex->pool || threads < 2 || n < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    int chunks = (size_t)threads < n ? threads : (int)n;
    onnx_threadpool_run(ex->pool, n, chunks, fn, arg);
}
