/* The metrics registry: exact exposition text (escaping, histogram buckets,
 * +Inf, _sum/_count), registration rules, label-set limits, and counts that
 * add up under concurrent updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"

static kh_metrics *new_registry(void) {
    kh_metrics *registry = NULL;
    kh_error err = {0};
    if (kh_metrics_create(&registry, &err) != KH_OK)
        fail_msg("kh_metrics_create: %s", err.message);
    return registry;
}

static kh_metric *add(kh_metrics *registry, kh_metric_desc desc) {
    kh_metric *m = NULL;
    kh_error err = {0};
    if (kh_metrics_register(registry, &desc, &m, &err) != KH_OK)
        fail_msg("register %s: %s", desc.name, err.message);
    return m;
}

static char *render(kh_metrics *registry) {
    char *text = NULL;
    size_t len = 0;
    kh_error err = {0};
    if (kh_metrics_render(registry, &text, &len, &err) != KH_OK)
        fail_msg("render: %s", err.message);
    assert_int_equal(len, strlen(text));
    return text;
}

static void assert_text(const char *expected, const char *actual) {
    if (strcmp(expected, actual) != 0)
        fail_msg("exposition differs.\n--- expected:\n%s--- got:\n%s",
                 expected, actual);
}

static void counter_and_gauge_exposition(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_metric *requests =
        add(registry, (kh_metric_desc){KH_METRIC_COUNTER, "req_total",
                                       "Requests.", KH_LABELS("route", "code"),
                                       NULL, 0, 0});
    kh_metric *depth = add(registry, (kh_metric_desc){KH_METRIC_GAUGE, "depth",
                                                      "Depth now.", NULL, NULL,
                                                      0, 0});
    kh_metric_inc(requests, KH_LABELS("/a", "200"));
    kh_metric_inc(requests, KH_LABELS("/a", "200"));
    kh_metric_add(requests, KH_LABELS("/b", "500"), 2.5);
    kh_metric_add(requests, KH_LABELS("/b", "500"), -1); /* ignored */
    kh_metric_set(depth, NULL, 7);
    kh_metric_add(depth, NULL, -2);
    char *text = render(registry);
    assert_text("# HELP req_total Requests.\n"
                "# TYPE req_total counter\n"
                "req_total{route=\"/a\",code=\"200\"} 2\n"
                "req_total{route=\"/b\",code=\"500\"} 2.5\n"
                "# HELP depth Depth now.\n"
                "# TYPE depth gauge\n"
                "depth 5\n",
                text);
    free(text);
    assert_true(kh_metric_value(requests, KH_LABELS("/a", "200")) == 2);
    assert_true(isnan(kh_metric_value(requests, KH_LABELS("/c", "200"))));
    /* Wrong number of values: nothing happens. */
    kh_metric_inc(requests, KH_LABELS("/a"));
    kh_metric_inc(requests, KH_LABELS("/a", "200", "x"));
    assert_true(kh_metric_value(requests, KH_LABELS("/a", "200")) == 2);
    kh_metrics_destroy(registry);
}

static void label_values_and_help_are_escaped(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_metric *m = add(registry,
                       (kh_metric_desc){KH_METRIC_COUNTER, "odd_total",
                                        "Back\\slash and\nnew line \"kept\".",
                                        KH_LABELS("v"), NULL, 0, 0});
    kh_metric_inc(m, KH_LABELS("a\"b\\c\nd"));
    kh_metric_inc(m, KH_LABELS("tab\there \x01 bad\xff utf8 \xc3\xa9"));
    char *text = render(registry);
    assert_text("# HELP odd_total Back\\\\slash and\\nnew line \"kept\".\n"
                "# TYPE odd_total counter\n"
                "odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                "odd_total{v=\"tab\xef\xbf\xbdhere \xef\xbf\xbd bad\xef\xbf\xbd"
                " utf8 \xc3\xa9\"} 1\n",
                text);
    free(text);
    kh_metrics_destroy(registry);
}

static void histogram_buckets_are_cumulative(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    static const double bounds[] = {0.1, 0.5, 1};
    kh_metric *h = add(registry, (kh_metric_desc){KH_METRIC_HISTOGRAM,
                                                  "lat_seconds", "Latency.",
                                                  KH_LABELS("model"), bounds,
                                                  3, 0});
    /* On a bound counts in that bucket (le = less or equal). */
    double values[] = {0.05, 0.1, 0.3, 0.5, 0.7, 1, 3, NAN};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        kh_metric_observe(h, KH_LABELS("tiny"), values[i]);
    char *text = render(registry);
    assert_text("# HELP lat_seconds Latency.\n"
                "# TYPE lat_seconds histogram\n"
                "lat_seconds_bucket{model=\"tiny\",le=\"0.1\"} 2\n"
                "lat_seconds_bucket{model=\"tiny\",le=\"0.5\"} 4\n"
                "lat_seconds_bucket{model=\"tiny\",le=\"1\"} 6\n"
                "lat_seconds_bucket{model=\"tiny\",le=\"+Inf\"} 7\n"
                "lat_seconds_sum{model=\"tiny\"} 5.65\n"
                "lat_seconds_count{model=\"tiny\"} 7\n",
                text);
    free(text);
    assert_true(kh_metric_value(h, KH_LABELS("tiny")) == 7);
    kh_metrics_destroy(registry);
}

static void unlabelled_metrics_render_at_zero(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    add(registry, (kh_metric_desc){KH_METRIC_HISTOGRAM, "h", "H.", NULL,
                                   (const double[]){1}, 1, 0});
    add(registry, (kh_metric_desc){KH_METRIC_COUNTER, "c_total", "", NULL,
                                   NULL, 0, 0});
    char *text = render(registry);
    assert_text("# HELP h H.\n# TYPE h histogram\n"
                "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
                "h_sum 0\nh_count 0\n"
                "# HELP c_total \n# TYPE c_total counter\nc_total 0\n",
                text);
    free(text);
    kh_metrics_destroy(registry);
}

static void registration_rules(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_error err = {0};
    kh_metric *m = NULL;
    const struct {
        kh_metric_desc desc;
        const char *why;
    } bad[] = {
        {{KH_METRIC_COUNTER, "9bad", "", NULL, NULL, 0, 0}, "name"},
        {{KH_METRIC_COUNTER, "bad-name", "", NULL, NULL, 0, 0}, "name"},
        {{KH_METRIC_COUNTER, "ok", "", KH_LABELS("__x"), NULL, 0, 0}, "label"},
        {{KH_METRIC_COUNTER, "ok", "", KH_LABELS("a", "a"), NULL, 0, 0},
         "repeated"},
        {{KH_METRIC_HISTOGRAM, "ok", "", KH_LABELS("le"), NULL, 0, 0}, "le"},
        {{KH_METRIC_HISTOGRAM, "ok", "", NULL, (const double[]){1, 1}, 2, 0},
         "not above"},
        {{KH_METRIC_HISTOGRAM, "ok", "", NULL, (const double[]){1, INFINITY},
          2, 0},
         "finite"},
        {{KH_METRIC_HISTOGRAM, "ok", "", NULL, (const double[]){1}, 0, 0},
         "buckets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = kh_metrics_register(registry, &bad[i].desc, &m, &err);
        if (rc != KH_EINVAL || !strstr(err.message, bad[i].why))
            fail_msg("case %zu: expected KH_EINVAL mentioning '%s', got %d "
                     "'%s'",
                     i, bad[i].why, rc, err.message);
    }
    kh_metric_desc desc = {KH_METRIC_COUNTER, "x_total", "X.", KH_LABELS("a"),
                           NULL, 0, 0};
    kh_metric *first = add(registry, desc);
    assert_ptr_equal(add(registry, desc), first); /* same definition */
    desc.labels = KH_LABELS("b");
    assert_int_equal(kh_metrics_register(registry, &desc, &m, &err),
                     KH_EEXIST);
    desc.type = KH_METRIC_GAUGE;
    desc.labels = KH_LABELS("a");
    assert_int_equal(kh_metrics_register(registry, &desc, &m, &err),
                     KH_EEXIST);
    assert_ptr_equal(kh_metrics_find(registry, "x_total"), first);
    assert_null(kh_metrics_find(registry, "nope"));
    kh_metrics_destroy(registry);
    kh_metrics_destroy(NULL);
}

static void label_sets_over_the_limit_fold_into_overflow(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_metric *m = add(registry, (kh_metric_desc){KH_METRIC_COUNTER, "t_total",
                                                  "", KH_LABELS("type"), NULL,
                                                  0, 3});
    for (int i = 0; i < 10; i++) {
        char value[16];
        snprintf(value, sizeof value, "t%d", i);
        kh_metric_inc(m, KH_LABELS(value));
    }
    kh_metric_inc(m, KH_LABELS("t1")); /* existing: still its own series */
    assert_true(kh_metric_value(m, KH_LABELS("t1")) == 2);
    char *text = render(registry);
    assert_non_null(strstr(text, "t_total{type=\"t0\"} 1\n"));
    assert_non_null(strstr(text, "t_total{type=\"t2\"} 1\n"));
    assert_null(strstr(text, "type=\"t3\""));
    if (!strstr(text, "t_total{type=\"_overflow\"} 7\n"))
        fail_msg("no overflow series with 7 in:\n%s", text);
    free(text);
    kh_metrics_destroy(registry);
}

static int collect_calls;
static void collect_sets_gauge(void *user, kh_metrics *registry) {
    (void)registry;
    collect_calls++;
    kh_metric_set(user, NULL, 42);
}

static void collect_hooks_run_before_render(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_metric *g = add(registry, (kh_metric_desc){KH_METRIC_GAUGE, "g", "G.",
                                                  NULL, NULL, 0, 0});
    assert_int_equal(kh_metrics_on_collect(registry, collect_sets_gauge, g,
                                           NULL),
                     KH_OK);
    collect_calls = 0;
    char *text = render(registry);
    assert_int_equal(collect_calls, 1);
    assert_non_null(strstr(text, "\ng 42\n"));
    free(text);
    kh_metrics_destroy(registry);
}

/* ---- concurrency ---- */

#define THREADS 8
#define ROUNDS 20000

typedef struct worker_args {
    kh_metric *counter;
    kh_metric *histogram;
    kh_metric *gauge;
    int index;
} worker_args;

static void *worker(void *arg) {
    worker_args *w = arg;
    char own[16];
    snprintf(own, sizeof own, "w%d", w->index);
    kh_metric_series *cached =
        kh_metric_series_get(w->counter, KH_LABELS("cached"));
    for (int i = 0; i < ROUNDS; i++) {
        kh_metric_inc(w->counter, KH_LABELS("shared"));
        kh_metric_inc(w->counter, KH_LABELS(own));
        kh_series_add(cached, 1);
        /* New label sets appear while others read the chains. */
        char fresh[24];
        snprintf(fresh, sizeof fresh, "n%d", i % 300);
        kh_metric_inc(w->counter, KH_LABELS(fresh));
        kh_metric_observe(w->histogram, NULL, (double)(i % 4));
        kh_metric_add(w->gauge, NULL, 1);
        kh_metric_add(w->gauge, NULL, -1);
    }
    return NULL;
}

static void concurrent_updates_add_up(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_metric *counter =
        add(registry, (kh_metric_desc){KH_METRIC_COUNTER, "c_total", "",
                                       KH_LABELS("k"), NULL, 0, 0});
    kh_metric *histogram = add(registry, (kh_metric_desc){
                                             KH_METRIC_HISTOGRAM, "h", "", NULL,
                                             (const double[]){0.5, 1.5, 2.5}, 3,
                                             0});
    kh_metric *gauge = add(registry, (kh_metric_desc){KH_METRIC_GAUGE, "g", "",
                                                      NULL, NULL, 0, 0});
    pthread_t threads[THREADS];
    worker_args args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (worker_args){counter, histogram, gauge, t};
        assert_int_equal(pthread_create(&threads[t], NULL, worker, &args[t]),
                         0);
    }
    /* Renders race the updates and must stay well formed. */
    for (int r = 0; r < 20; r++)
        free(render(registry));
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    double shared = kh_metric_value(counter, KH_LABELS("shared"));
    if (shared != (double)THREADS * ROUNDS)
        fail_msg("shared: expected %d, got %.0f", THREADS * ROUNDS, shared);
    double cached = kh_metric_value(counter, KH_LABELS("cached"));
    if (cached != (double)THREADS * ROUNDS)
        fail_msg("cached: expected %d, got %.0f", THREADS * ROUNDS, cached);
    for (int t = 0; t < THREADS; t++) {
        char own[16];
        snprintf(own, sizeof own, "w%d", t);
        assert_true(kh_metric_value(counter, KH_LABELS(own)) == ROUNDS);
    }
    double fresh_total = 0;
    for (int i = 0; i < 300; i++) {
        char fresh[24];
        snprintf(fresh, sizeof fresh, "n%d", i);
        fresh_total += kh_metric_value(counter, KH_LABELS(fresh));
    }
    if (fresh_total != (double)THREADS * ROUNDS)
        fail_msg("fresh series total: expected %d, got %.0f", THREADS * ROUNDS,
                 fresh_total);
    assert_true(kh_metric_value(histogram, NULL) == (double)THREADS * ROUNDS);
    assert_true(kh_metric_value(gauge, NULL) == 0);
    char *text = render(registry);
    /* 0,1,2,3 equally often: sum = 1.5 * count. */
    char expected[64];
    snprintf(expected, sizeof expected, "h_sum %d\n", THREADS * ROUNDS * 3 / 2);
    if (!strstr(text, expected))
        fail_msg("expected '%s' in the histogram", expected);
    snprintf(expected, sizeof expected, "h_bucket{le=\"0.5\"} %d\n",
             THREADS * ROUNDS / 4);
    if (!strstr(text, expected))
        fail_msg("expected '%s' in the histogram", expected);
    free(text);
    kh_metrics_destroy(registry);
}

static void std_metrics_register_once(void **state) {
    (void)state;
    kh_metrics *registry = new_registry();
    kh_std_metrics std, again;
    kh_error err = {0};
    assert_int_equal(kh_std_metrics_register(registry, "1.2.3", &std, &err),
                     KH_OK);
    assert_int_equal(kh_std_metrics_register(registry, "1.2.3", &again, &err),
                     KH_OK);
    assert_ptr_equal(std.events_received, again.events_received);
    assert_true(kh_metric_value(std.build_info, KH_LABELS("1.2.3")) == 1);
    char *text = render(registry);
    assert_non_null(strstr(text, "khappy_build_info{version=\"1.2.3\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE khappy_events_received_total counter"));
    assert_non_null(
        strstr(text, "# TYPE khappy_pipeline_latency_seconds histogram"));
    free(text);
    kh_metrics_destroy(registry);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_and_gauge_exposition),
        cmocka_unit_test(label_values_and_help_are_escaped),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(unlabelled_metrics_render_at_zero),
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(label_sets_over_the_limit_fold_into_overflow),
        cmocka_unit_test(collect_hooks_run_before_render),
        cmocka_unit_test(concurrent_updates_add_up),
        cmocka_unit_test(std_metrics_register_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
