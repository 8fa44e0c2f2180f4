/* bench_obs - what observability costs on the request path: a span (start,
 * two tags, end) without and with export (enqueue while the export thread
 * ships batches to a local collector), a counter increment (label look-up
 * and cached series, one thread and contended), a histogram observation, a
 * log line, traceparent parse/format and the CloudEvent inject. Prints
 * nanoseconds per operation (median of 5 runs) and an estimate per picture.
 *   bench_obs [ITERATIONS]   (default 200000) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/cloudevent.h"
#include "net/http.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/trace.h"

static long iterations = 200000;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void *ctx, long n);

/* Median ns per operation over 5 runs of n operations. */
static double measure(bench_fn fn, void *ctx, long n) {
    double runs[5];
    fn(ctx, n / 10); /* warm-up */
    for (int r = 0; r < 5; r++) {
        double t0 = now_ns();
        fn(ctx, n);
        runs[r] = (now_ns() - t0) / (double)n;
    }
    qsort(runs, 5, sizeof *runs, compare_doubles);
    return runs[2];
}

/* ---- spans ---- */

static void spans(void *ctx, long n) {
    kh_tracer *tracer = ctx;
    for (long i = 0; i < n; i++) {
        kh_span *span = kh_span_start(tracer, "face-detector",
                                      "face-detector dev.khappy.picture.stored",
                                      KH_SPAN_CONSUMER, NULL);
        kh_span_tag(span, "cloudevents.event_id", "picture-12345");
        kh_span_tag(span, "khappy.picture_id", "12345");
        kh_span_end(span);
    }
}

/* The request-path cost with export on: bursts of 512 spans (timed), each
 * followed by an untimed flush, so the queue stays at a realistic depth
 * instead of growing by hundreds of megabytes. Returns ns per span. */
static double spans_exported_in_bursts(kh_tracer *tracer, long n) {
    double timed = 0;
    long done = 0;
    while (done < n) {
        long burst = n - done < 512 ? n - done : 512;
        double t0 = now_ns();
        spans(tracer, burst);
        timed += now_ns() - t0;
        kh_tracer_flush(tracer, 60000, NULL);
        done += burst;
    }
    return timed / (double)n;
}

static void collector_handler(void *user, const kh_http_request *req,
                              kh_http_response *res) {
    (void)user;
    (void)req;
    kh_http_response_set(res, 202, "application/json", "", 0);
}

/* ---- metrics ---- */

typedef struct metric_ctx {
    kh_metric *counter;
    kh_metric_series *series;
    kh_metric *histogram;
} metric_ctx;

static void counter_lookup(void *ctx, long n) {
    metric_ctx *m = ctx;
    for (long i = 0; i < n; i++)
        kh_metric_inc(m->counter, KH_LABELS("dev.khappy.face.detected",
                                            "default/face-extractor"));
}

static void counter_cached(void *ctx, long n) {
    metric_ctx *m = ctx;
    for (long i = 0; i < n; i++)
        kh_series_add(m->series, 1);
}

static void histogram_observe(void *ctx, long n) {
    metric_ctx *m = ctx;
    for (long i = 0; i < n; i++)
        kh_metric_observe(m->histogram, KH_LABELS("tinyface"),
                          0.001 * (double)(i & 63));
}

typedef struct contended_arg {
    metric_ctx *m;
    long n;
} contended_arg;

static void *contended_worker(void *arg) {
    contended_arg *a = arg;
    counter_lookup(a->m, a->n);
    return NULL;
}

static void counter_contended(void *ctx, long n) {
    pthread_t threads[4];
    contended_arg arg = {ctx, n / 4};
    for (int t = 0; t < 4; t++)
        pthread_create(&threads[t], NULL, contended_worker, &arg);
    for (int t = 0; t < 4; t++)
        pthread_join(threads[t], NULL);
}

/* ---- logs, propagation ---- */

static void null_sink(void *user, kh_log_level level, const char *line,
                      size_t len) {
    (void)level;
    (void)line;
    *(size_t *)user += len;
}

static void log_lines(void *ctx, long n) {
    (void)ctx;
    kh_log_fields fields = {.service = "emotion", .event_id = "face-3",
                            .picture_id = "12345",
                            .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};
    for (long i = 0; i < n; i++)
        kh_log(KH_LOG_INFO, &fields, "scored face %ld: %s", i, "happy");
}

static void traceparent_round_trip(void *ctx, long n) {
    (void)ctx;
    kh_span_context parsed;
    char out[KH_TRACEPARENT_SIZE];
    for (long i = 0; i < n; i++) {
        kh_traceparent_parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parsed,
            NULL);
        kh_traceparent_format(&parsed, out);
    }
}

static void event_inject(void *ctx, long n) {
    kh_cloudevent *ev = ctx;
    kh_span_context parsed;
    kh_traceparent_parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parsed,
        NULL);
    for (long i = 0; i < n; i++) {
        kh_trace_inject_event(ev, &parsed, NULL);
        kh_trace_extract_event(ev, &parsed);
    }
}

int main(int argc, char **argv) {
    if (argc > 1)
        iterations = atol(argv[1]);
    if (iterations < 1000)
        iterations = 1000;
    kh_error err = {0};

    kh_tracer *quiet = NULL;
    kh_tracer_create(NULL, &quiet, &err);
    double span_no_export = measure(spans, quiet, iterations);
    kh_tracer_destroy(quiet);

    kh_http_server_options server_opts = {.bind_addr = "127.0.0.1"};
    kh_http_server *collector = NULL;
    if (kh_http_server_start(&server_opts, collector_handler, NULL, &collector,
                             &err) != KH_OK) {
        fprintf(stderr, "bench_obs: %s\n", err.message);
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d",
             kh_http_server_port(collector));
    kh_tracer_options opts = {.zipkin_url = url,
                              .queue_capacity = 1 << 20,
                              .shutdown_timeout_ms = 30000};
    kh_tracer *exporting = NULL;
    if (kh_tracer_create(&opts, &exporting, &err) != KH_OK) {
        fprintf(stderr, "bench_obs: %s\n", err.message);
        return 1;
    }
    spans_exported_in_bursts(exporting, iterations / 10); /* warm-up */
    double runs[5];
    for (int r = 0; r < 5; r++)
        runs[r] = spans_exported_in_bursts(exporting, iterations / 4);
    qsort(runs, 5, sizeof *runs, compare_doubles);
    double span_export = runs[2];
    kh_tracer_flush(exporting, 60000, NULL);
    kh_tracer_stats stats;
    kh_tracer_get_stats(exporting, &stats);
    kh_tracer_destroy(exporting);
    kh_http_server_stop(collector);

    kh_metrics *registry = NULL;
    kh_metrics_create(&registry, &err);
    kh_std_metrics std;
    kh_std_metrics_register(registry, NULL, &std, &err);
    metric_ctx m = {
        .counter = std.events_received,
        .series = kh_metric_series_get(std.events_received,
                                       KH_LABELS("dev.khappy.face.detected",
                                                 "default/face-extractor")),
        .histogram = std.inference_duration,
    };
    double inc_lookup = measure(counter_lookup, &m, iterations);
    double inc_cached = measure(counter_cached, &m, iterations);
    double observe = measure(histogram_observe, &m, iterations);
    double inc_contended = measure(counter_contended, &m, iterations);
    char *text = NULL;
    size_t text_len = 0;
    double t0 = now_ns();
    kh_metrics_render(registry, &text, &text_len, &err);
    double render_us = (now_ns() - t0) / 1e3;
    free(text);
    kh_metrics_destroy(registry);

    size_t sunk = 0;
    kh_log_set_sink(null_sink, &sunk);
    kh_log_set_format(KH_LOG_TEXT);
    double log_text = measure(log_lines, NULL, iterations / 4);
    kh_log_set_format(KH_LOG_JSON);
    double log_json = measure(log_lines, NULL, iterations / 4);
    kh_log_set_sink(NULL, NULL);

    double parse_format = measure(traceparent_round_trip, NULL, iterations);
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    kh_cloudevent_set(&ev, "id", "x", NULL);
    double inject = measure(event_inject, &ev, iterations);
    kh_cloudevent_free(&ev);

    printf("bench_obs: %ld iterations per run, median of 5 runs\n",
           iterations);
    printf("  span start + 2 tags + end, no exporter     %8.0f ns\n",
           span_no_export);
    printf("  span start + 2 tags + end, Zipkin export*  %8.0f ns"
           "  (exported %llu, dropped %llu)\n",
           span_export, (unsigned long long)stats.spans_exported,
           (unsigned long long)(stats.spans_dropped_queue +
                                stats.spans_dropped_export));
    printf("    * in bursts of 512, export thread running, queue flushed between\n");
    printf("  counter inc, 2-label look-up               %8.1f ns\n",
           inc_lookup);
    printf("  counter inc, cached series                 %8.1f ns\n",
           inc_cached);
    printf("  counter inc, look-up, 4 threads same series%8.1f ns/op\n",
           inc_contended);
    printf("  histogram observe, 1-label look-up         %8.1f ns\n", observe);
    printf("  log line to a sink, text                   %8.0f ns\n",
           log_text);
    printf("  log line to a sink, JSON                   %8.0f ns\n",
           log_json);
    printf("  traceparent parse + format                 %8.0f ns\n",
           parse_format);
    printf("  CloudEvent traceparent inject + extract    %8.0f ns\n", inject);
    printf("  render of khappy's metric set              %8.0f us"
           "  (%zu bytes)\n",
           render_us, text_len);
    /* One picture with 3 faces: 1 ingest + 1 detect + 1 inference, then per
     * face extract + emotion + inference + report + store = 18 spans; about
     * 25 metric updates, 12 log lines and 12 context hand-overs. */
    double per_picture_us = (18 * span_export + 25 * inc_lookup +
                             12 * log_json + 12 * inject) / 1e3;
    printf("  estimate per picture (3 faces: 18 spans, 25 metric updates,\n"
           "    12 log lines, 12 event hand-overs)       %8.1f us\n",
           per_picture_us);
    return 0;
}
