/* threadpool.h - persistent worker threads behind onnx_parallel_for (op.h).
 *
 * A pool of `threads` lanes: the calling thread is lane 0 and threads-1
 * workers are started once at create time, so a parallel_for creates no
 * threads. Workers spin briefly for new work, then sleep on a condition
 * variable. One pool serves one model run at a time (not reentrant: a chunk
 * function must not call onnx_parallel_for on the same pool).
 */
#ifndef KH_ONNX_THREADPOOL_H
#define KH_ONNX_THREADPOOL_H

#include <stddef.h>

#include "common/error.h"

typedef struct onnx_threadpool onnx_threadpool;

/* Starts threads-1 workers (threads >= 2). *out owns the pool; free with
 * onnx_threadpool_destroy, which joins the workers. */
int onnx_threadpool_create(int threads, onnx_threadpool **out, kh_error *err);
void onnx_threadpool_destroy(onnx_threadpool *pool); /* NULL is a no-op */
int onnx_threadpool_threads(const onnx_threadpool *pool);

/* Runs fn(arg, begin, end, lane) for `chunks` contiguous pieces of [0, n),
 * chunks <= threads, in parallel; returns when all are done. */
void onnx_threadpool_run(onnx_threadpool *pool, size_t n, int chunks,
                         void (*fn)(void *arg, size_t begin, size_t end,
                                    int lane),
                         void *arg);

#endif
