/* slots.h - parallel loops whose workers may each need their own scratch
 * buffer, with tasks claimed dynamically.
 *
 * An operator sizes its scratch at reshape time, before it knows how many
 * threads a run will use, so it reserves KERNEL_MAX_SLOTS buffers. The loop
 * below runs n tasks on at most that many lanes ("slots"), each claiming the
 * next task when done; no two threads ever share a slot, so slot s may use
 * buffer s. With more threads than slots the extra threads stay idle in
 * such loops.
 */
#ifndef KH_ONNX_KERNELS_SLOTS_H
#define KH_ONNX_KERNELS_SLOTS_H

#include <stddef.h>

#include "onnx/op.h"

#define KERNEL_MAX_SLOTS 8

/* Work estimated to take less than this on one thread runs on the calling
 * thread only: waking a worker and waiting for it costs microseconds on a
 * quiet machine and can cost a whole scheduler slice on a busy one. */
#define KERNEL_PARALLEL_MIN_NS 100000.0

/* ex itself, or a single-threaded copy of it in *serial when est_ns (the
 * estimated single-thread time) is too small to share. */
static inline const onnx_exec *kernel_exec_for(const onnx_exec *ex, double est_ns,
                                               onnx_exec *serial) {
    if (!ex || ex->threads < 2 || est_ns >= KERNEL_PARALLEL_MIN_NS)
        return ex;
    *serial = *ex;
    serial->pool = NULL;
    serial->threads = 1;
    return serial;
}

/* Calls fn(arg, t, t + 1, slot) for every task t in [0, n) (all of [0, n)
 * at once when single-threaded), in parallel; slot < KERNEL_MAX_SLOTS and
 * distinct per concurrent call. */
void kernel_parallel_slots(const onnx_exec *ex, size_t n,
                           void (*fn)(void *arg, size_t begin, size_t end,
                                      int slot),
                           void *arg);

#endif
