/* slots.c - see slots.h. */
#include "onnx/kernels/slots.h"

typedef struct slot_job {
    void (*fn)(void *, size_t, size_t, int);
    void *arg;
    size_t n, slots;
} slot_job;

static void run_slots(void *arg, size_t begin, size_t end, int lane) {
    (void)lane;
    const slot_job *job = arg;
    for (size_t s = begin; s < end; s++) {
        size_t a = s * job->n / job->slots, b = (s + 1) * job->n / job->slots;
        if (a < b)
            job->fn(job->arg, a, b, (int)s);
    }
}

void kernel_parallel_slots(const onnx_exec *ex, size_t n,
                           void (*fn)(void *arg, size_t begin, size_t end,
                                      int slot),
                           void *arg) {
    if (n == 0)
        return;
    size_t slots = ex && ex->threads > 1 ? (size_t)ex->threads : 1;
    if (slots > KERNEL_MAX_SLOTS)
        slots = KERNEL_MAX_SLOTS;
    if (slots > n)
        slots = n;
    if (slots <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    slot_job job = {fn, arg, n, slots};
    /* slots <= threads, so every lane gets exactly one slot. */
    onnx_parallel_for(ex, slots, run_slots, &job);
}
