/* threadpool.h - persistent worker threads behind onnx_parallel_for (op.h).
 *
 * A pool of `threads` lanes: the calling thread is lane 0 and threads-1
 * workers (lanes 1..threads-1) are started once at create time, so a
 * parallel call creates no threads. A call cuts [0, n) into contiguous
 * chunks that the caller and the workers claim one at a time from a shared
 * counter; the caller runs every chunk no worker has picked up, so a worker
 * that the scheduler has not run yet costs nothing: the call returns once
 * every chunk is done, without waiting for workers that claimed none.
 * Between calls workers spin briefly, then sleep on a futex.
 *
 * One pool serves one model run at a time. A chunk function that calls
 * onnx_parallel_for on the pool it runs under gets a serial run on its own
 * lane (nested calls never deadlock); another thread calling while a call is
 * in progress also runs serially, as lane 0.
 */
#ifndef KH_ONNX_THREADPOOL_H
#define KH_ONNX_THREADPOOL_H

#include <stddef.h>

#include "common/error.h"

typedef struct onnx_threadpool onnx_threadpool;

/* Chunks one call may cut its range into (the claim counter's width). */
#define ONNX_THREADPOOL_MAX_CHUNKS 65535

/* Starts threads-1 workers (threads 2..1024). *out owns the pool; free with
 * onnx_threadpool_destroy, which joins the workers. */
int onnx_threadpool_create(int threads, onnx_threadpool **out, kh_error *err);
void onnx_threadpool_destroy(onnx_threadpool *pool); /* NULL is a no-op */
int onnx_threadpool_threads(const onnx_threadpool *pool); /* 1 for NULL */

/* Runs fn(arg, begin, end, lane) once for each of `chunks` contiguous pieces
 * of [0, n) (chunks clamped to 1..min(n, ONNX_THREADPOOL_MAX_CHUNKS)) on
 * lanes [0, lanes) (lanes clamped to the pool's threads) and returns when
 * all are done. A lane runs its chunks one after another, so lane is
 * distinct among chunks running at the same time. */
void onnx_threadpool_run(onnx_threadpool *pool, size_t n, size_t chunks, int lanes,
                         void (*fn)(void *arg, size_t begin, size_t end,
                                    int lane),
                         void *arg);

#endif
