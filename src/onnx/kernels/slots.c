/* slots.c - see slots.h. */
#include "onnx/kernels/slots.h"

#include <stdatomic.h>

typedef struct slot_job {
    void (*fn)(void *, size_t, size_t, int);
    void *arg;
    size_t n;
    atomic_size_t next;
} slot_job;

/* Every lane claims tasks one at a time until none are left: a lane that
 * starts late (its thread was not scheduled) finds the work already done
 * by the others instead of holding them up with a fixed share. The lane
 * index is the slot: lanes run concurrently, slots never do twice. */
static void claim_tasks(void *arg, size_t begin, size_t end, int lane) {
    (void)begin;
    (void)end;
    slot_job *job = arg;
    for (;;) {
        size_t t = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (t >= job->n)
            break;
        job->fn(job->arg, t, t + 1, lane);
    }
}

void kernel_parallel_slots(const onnx_exec *ex, size_t n,
                           void (*fn)(void *arg, size_t begin, size_t end,
                                      int slot),
                           void *arg) {
    if (n == 0)
        return;
    size_t slots = ex && ex->pool && ex->threads > 1 ? (size_t)ex->threads : 1;
    if (slots > KERNEL_MAX_SLOTS)
        slots = KERNEL_MAX_SLOTS;
    if (slots > n)
        slots = n;
    if (slots <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    slot_job job = {fn, arg, n, 0};
    atomic_init(&job.next, 0);
    /* slots <= threads: onnx_parallel_for runs lanes 0 .. slots-1. */
    onnx_parallel_for(ex, slots, claim_tasks, &job);
}
