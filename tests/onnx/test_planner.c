/* Planning: arena reuse by lifetime, constant folding (Shape-driven too),
 * run-time shapes (KH_EDYNAMIC), no allocation between runs, error
 * prefixes. Uses the engine's internals to put test operators on nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "engine_fixtures.h"
#include "onnx/engine.h"

static onnx_node *node_named(onnx_model *m, const char *name) {
    for (size_t i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return &m->nodes[i];
    fail_msg("no node '%s'", name);
    return NULL;
}

/* ---- test operators ---- */

static int runs_counted;

static int copy_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims,
                               err);
}

static int counting_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    runs_counted++;
    memcpy(n->outputs[0]->data, n->inputs[0]->data,
           n->inputs[0]->numel * onnx_dtype_size(n->inputs[0]->dtype));
    return KH_OK;
}

static const onnx_operator counting_op = {
    .op_type = "Counting", .min_opset = 1,
    .reshape = copy_reshape, .run = counting_run};

/* Output shape = the values of input 1 (int64); needs them known. */
static int shaped_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *shape = n->inputs[1];
    if (!onnx_tensor_value_known(shape))
        return kh_error_set(err, KH_EDYNAMIC, "shape not known");
    int64_t dims[ONNX_MAX_RANK];
    for (size_t i = 0; i < shape->numel; i++)
        dims[i] = onnx_tensor_get_i64(shape, i);
    n->scratch_bytes = 100;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, (int)shape->numel,
                               dims, err);
}

static int shaped_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    assert_non_null(ex->scratch);
    float *y = n->outputs[0]->data;
    for (size_t i = 0; i < n->outputs[0]->numel; i++)
        y[i] = (float)i;
    return KH_OK;
}

static const onnx_operator shaped_op = {
    .op_type = "Shaped", .min_opset = 1,
    .reshape = shaped_reshape, .run = shaped_run};

static int shape_reshape(onnx_node *n, kh_error *err) {
    int64_t d[1] = {n->inputs[0]->rank};
    return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, 1, d, err);
}

static int shape_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    int64_t *y = n->outputs[0]->data;
    for (int i = 0; i < n->inputs[0]->rank; i++)
        y[i] = n->inputs[0]->dims[i];
    return KH_OK;
}

static const onnx_operator shape_op = {
    .op_type = "Shape", .min_opset = 1,
    .reshape = shape_reshape, .run = shape_run};

static int failing_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)n;
    (void)ex;
    return kh_error_set(err, KH_ERANGE, "index 7 out of range");
}

static int silent_failing_run(onnx_node *n, const onnx_exec *ex,
                              kh_error *err) {
    (void)n;
    (void)ex;
    (void)err;
    return KH_ERANGE;
}

static const onnx_operator failing_op = {
    .op_type = "Failing", .min_opset = 1,
    .reshape = copy_reshape, .run = failing_run};
static const onnx_operator silent_failing_op = {
    .op_type = "Failing", .min_opset = 1,
    .reshape = copy_reshape, .run = silent_failing_run};

/* Tensors alive at the same time never share arena bytes. */
static void assert_arena_is_sound(const onnx_model *m) {
    for (size_t i = 0; i < m->n_tensors; i++) {
        const engine_tensor *a = m->tensors[i];
        if (!a->in_arena)
            continue;
        assert_true(a->offset % ENGINE_ALIGN == 0);
        assert_true(a->offset + a->bytes <= m->arena_bytes);
        int a_last = a->last_use > a->producer ? a->last_use : a->producer;
        for (size_t j = i + 1; j < m->n_tensors; j++) {
            const engine_tensor *b = m->tensors[j];
            if (!b->in_arena)
                continue;
            int b_last = b->last_use > b->producer ? b->last_use : b->producer;
            bool live_together = a->producer <= b_last &&
                                 b->producer <= a_last;
            bool share = a->offset < b->offset + b->bytes &&
                         b->offset < a->offset + a->bytes;
            if (live_together && share)
                fail_msg("'%s' [%d,%d] @%zu+%zu overlaps '%s' [%d,%d] "
                         "@%zu+%zu",
                         a->t.name, a->producer, a_last, a->offset, a->bytes,
                         b->t.name, b->producer, b_last, b->offset, b->bytes);
        }
    }
}

static void chain_reuses_two_buffers(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1, 1000};
    onnx_model_writer_add_input(w, "t0", ONNX_FLOAT, 2, d, NULL);
    char names[11][16];
    for (int i = 0; i <= 10; i++)
        snprintf(names[i], sizeof names[i], "t%d", i);
    for (int i = 0; i < 10; i++) {
        const char *in[] = {names[i]}, *out[] = {names[i + 1]};
        onnx_model_writer_add_node(w, "Identity", NULL, in, 1, out, 1);
    }
    onnx_model_writer_add_output(w, "t10", ONNX_FLOAT, 2, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    assert_true(m->planned); /* fixed input shapes: planned at load */
    size_t one = (4000 + ENGINE_ALIGN - 1) / ENGINE_ALIGN * ENGINE_ALIGN;
    assert_int_equal(m->arena_bytes, 2 * one);
    assert_arena_is_sound(m);

    float *x = calloc(1000, sizeof *x);
    x[999] = 5;
    onnx_tensor_view in = {ONNX_FLOAT, 2, {1, 1000}, x}, out;
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_true(((float *)out.data)[999] == 5.0f);
    /* Same shapes: nothing planned or allocated again. */
    void *arena = m->arena, *data = out.data;
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_ptr_equal(m->arena, arena);
    assert_ptr_equal(out.data, data);
    free(x);
    onnx_model_destroy(m);
}

static void branches_share_without_overlap(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {7, 13};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 2, d, NULL);
    /* x -> a -> b -> c ; a -> d ; (c, d) -> e ; b -> f (unused output) */
    const char *x[] = {"x"}, *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"},
               *dd[] = {"d"}, *cd[] = {"c", "d"}, *e[] = {"e"},
               *f[] = {"f"};
    onnx_model_writer_add_node(w, "Identity", "na", x, 1, a, 1);
    onnx_model_writer_add_node(w, "Identity", "nb", a, 1, b, 1);
    onnx_model_writer_add_node(w, "Identity", "nf", b, 1, f, 1);
    onnx_model_writer_add_node(w, "Identity", "nc", b, 1, c, 1);
    onnx_model_writer_add_node(w, "Identity", "nd", a, 1, dd, 1);
    onnx_model_writer_add_node(w, "Identity", "ne", cd, 2, e, 1);
    onnx_model_writer_add_output(w, "e", ONNX_FLOAT, 2, d, NULL);
    onnx_model_writer_add_output(w, "b", ONNX_FLOAT, 2, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    assert_arena_is_sound(m);
    onnx_model_destroy(m);
}

static void constant_subgraphs_fold_once(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {2};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_initializer(w, "c", 1, d, (float[]){4, 5});
    const char *c[] = {"c"}, *k[] = {"k"}, *x[] = {"x"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "from_const", c, 1, k, 1);
    onnx_model_writer_add_node(w, "Identity", "from_input", x, 1, y, 1);
    onnx_model_writer_add_output(w, "k", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    node_named(m, "from_const")->op = &counting_op;
    node_named(m, "from_input")->op = &counting_op;
    runs_counted = 0;
    if (engine_plan(m, NULL, &err))
        fail_msg("plan: %s", err.message);
    assert_int_equal(runs_counted, 1); /* the folded node, at plan time */
    onnx_tensor_view in = {ONNX_FLOAT, 1, {2}, (float[]){1, 2}}, out[2];
    for (int i = 0; i < 3; i++)
        if (onnx_model_run(m, &in, 1, out, 2, &err))
            fail_msg("run: %s", err.message);
    assert_int_equal(runs_counted, 4); /* 1 + from_input three times */
    assert_true(((float *)out[0].data)[1] == 5.0f);
    assert_true(((float *)out[1].data)[1] == 2.0f);
    assert_true(out[0].data != NULL);
    assert_false(engine_tensor_of((onnx_tensor *)m->outputs[0])->in_arena);
    onnx_model_destroy(m);
}

/* x -> Shape -> s ; Shaped(x, s) -> y: Shape folds, so y's shape is known
 * while planning. */
static void shape_driven_subgraphs_fold(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {2, 3};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 2, d, NULL);
    const char *x[] = {"x"}, *s[] = {"s"}, *xs[] = {"x", "s"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "shape", x, 1, s, 1);
    onnx_model_writer_add_node(w, "Identity", "shaped", xs, 2, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    onnx_node *shape = node_named(m, "shape");
    shape->op = &shape_op;
    shape->op_type = "Shape";
    node_named(m, "shaped")->op = &shaped_op;
    if (engine_plan(m, NULL, &err))
        fail_msg("plan: %s", err.message);
    assert_true(m->node_folded[0]);
    assert_int_equal(m->dynamic_from, m->n_nodes); /* all planned */
    assert_int_equal(m->scratch_bytes, 100);
    onnx_tensor_view in = {ONNX_FLOAT, 2, {2, 3}, (float[6]){0}}, out;
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[0], 2);
    assert_int_equal(out.dims[1], 3);
    assert_true(((float *)out.data)[5] == 5.0f);
    onnx_model_destroy(m);
}

/* The shape comes from a graph input's values: planned node by node. */
static void value_dependent_shapes_are_planned_at_run_time(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1}, d2[] = {2};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_input(w, "n", ONNX_INT64, 1, d2, NULL);
    const char *xn[] = {"x", "n"}, *y[] = {"y"}, *z[] = {"z"};
    onnx_model_writer_add_node(w, "Identity", "shaped", xn, 2, y, 1);
    onnx_model_writer_add_node(w, "Identity", "after", y, 1, z, 1);
    onnx_model_writer_add_output(w, "z", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    node_named(m, "shaped")->op = &shaped_op;
    node_named(m, "after")->op = &counting_op;
    if (engine_plan(m, NULL, &err))
        fail_msg("plan: %s", err.message);
    assert_int_equal(m->dynamic_from, 0);
    float x = 0;
    int64_t n[2] = {2, 3};
    onnx_tensor_view in[2] = {{ONNX_FLOAT, 1, {1}, &x},
                              {ONNX_INT64, 1, {2}, n}},
                     out;
    if (onnx_model_run(m, in, 2, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[1], 3);
    assert_true(((float *)out.data)[5] == 5.0f);
    n[0] = 4; /* same input shapes, new values: new output shape */
    if (onnx_model_run(m, in, 2, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_int_equal(out.dims[0], 4);
    assert_true(((float *)out.data)[11] == 11.0f);
    onnx_model_destroy(m);
}

static void operator_errors_name_the_node(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *x[] = {"x"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "bad", x, 1, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    onnx_node *bad = node_named(m, "bad");
    bad->op = &failing_op;
    onnx_tensor_view in = {ONNX_FLOAT, 1, {1}, (float[]){1}}, out;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ERANGE);
    assert_string_equal(err.message,
                        "node 'bad' (Identity): index 7 out of range");
    bad->op = &silent_failing_op;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ERANGE);
    assert_string_equal(err.message,
                        "node 'bad' (Identity): value out of range");
    onnx_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_reuses_two_buffers),
        cmocka_unit_test(branches_share_without_overlap),
        cmocka_unit_test(constant_subgraphs_fold_once),
        cmocka_unit_test(shape_driven_subgraphs_fold),
        cmocka_unit_test(value_dependent_shapes_are_planned_at_run_time),
        cmocka_unit_test(operator_errors_name_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
