/* slots.h - parallel loops whose workers each need their own scratch buffer.
 *
 * An operator sizes its scratch at reshape time, before it knows how many
 * threads a run will use, so it reserves KERNEL_MAX_SLOTS buffers. The loop
 * below runs n tasks split into at most that many contiguous slices ("slots");
 * no two threads ever share a slot, so slot s may use buffer s. With more
 * threads than slots the extra threads stay idle in such loops.
 */
#ifndef KH_ONNX_KERNELS_SLOTS_H
#define KH_ONNX_KERNELS_SLOTS_H

#include <stddef.h>

#include "onnx/op.h"

#define KERNEL_MAX_SLOTS 8

/* Calls fn(arg, task_begin, task_end, slot) for slices of [0, n), in
 * parallel; slot < KERNEL_MAX_SLOTS and distinct per concurrent call. */
void kernel_parallel_slots(const onnx_exec *ex, size_t n,
                           void (*fn)(void *arg, size_t begin, size_t end,
                                      int slot),
                           void *arg);

#endif
