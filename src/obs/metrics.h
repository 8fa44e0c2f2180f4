/* metrics.h - a small metrics registry rendered in the Prometheus text
 * exposition format 0.0.4, and the metric set khappy exposes.
 *
 * A metric (kh_metric) is a family: a name, help text, label names and a
 * type. Each distinct set of label values is a series, created on first use
 * and kept for the registry's life. Hot path: finding a series hashes the
 * label values and walks a short chain without locks or allocation (only
 * the first use of a label set allocates, under the family's mutex); values
 * are atomics. A caller on a very hot path can keep the kh_metric_series
 * pointer and skip the look-up.
 *
 * Label values often come from outside (event types, routes). To bound
 * memory, a family holds at most max_series series; label sets beyond that
 * are counted in one series whose label values are all "_overflow".
 *
 * Everything here is safe from any number of threads.
 */
#ifndef KH_OBS_METRICS_H
#define KH_OBS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "net/http.h"

typedef enum kh_metric_type {
    KH_METRIC_COUNTER,
    KH_METRIC_GAUGE,
    KH_METRIC_HISTOGRAM,
} kh_metric_type;

#define KH_METRIC_MAX_LABELS 8
#define KH_METRIC_MAX_BUCKETS 64
#define KH_METRIC_DEFAULT_MAX_SERIES 2000
/* Label value of the series that collects label sets over the limit. */
#define KH_METRIC_OVERFLOW_VALUE "_overflow"

/* A NULL-terminated list of label values (or names), for the calls below:
 * kh_metric_inc(m, KH_LABELS("dev.khappy.picture.stored", "face-detector")) */
#define KH_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct kh_metric_desc {
    kh_metric_type type;
    /* [a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in _total. */
    const char *name;
    const char *help;           /* any text; escaped when rendered */
    /* Label names, NULL-terminated ([a-zA-Z_][a-zA-Z0-9_]*, not "__...",
     * not "le" for histograms, no repeats); NULL: no labels. */
    const char *const *labels;
    /* Histograms: finite upper bounds, strictly ascending (+Inf is
     * implicit). NULL: Prometheus' defaults, .005 to 10 seconds. */
    const double *buckets;
    size_t n_buckets;
    size_t max_series;          /* 0: KH_METRIC_DEFAULT_MAX_SERIES */
} kh_metric_desc;

typedef struct kh_metrics kh_metrics;
typedef struct kh_metric kh_metric;
typedef struct kh_metric_series kh_metric_series;

/* Caller owns the registry (kh_metrics_destroy). */
int kh_metrics_create(kh_metrics **out, kh_error *err);
/* Frees the registry and every metric and series in it. NULL: no-op. */
void kh_metrics_destroy(kh_metrics *registry);

/* Adds a metric; *out is owned by the registry. Registering a name again
 * with the same type, labels and buckets returns the existing metric (so two
 * modules can ask for the same one); with another definition: KH_EEXIST.
 * KH_EINVAL for invalid names or buckets. A metric without labels starts
 * with its single series at 0, so it is rendered before first use. */
int kh_metrics_register(kh_metrics *registry, const kh_metric_desc *desc,
                        kh_metric **out, kh_error *err);
/* The metric named `name`, or NULL. */
kh_metric *kh_metrics_find(kh_metrics *registry, const char *name);

/* The series for these label values (NULL-terminated, one per label name,
 * so no value may be NULL: use ""; NULL for a metric without labels),
 * created on first use. Owned by the registry, valid until
 * kh_metrics_destroy. NULL when m is NULL, the number of values is wrong,
 * or memory is short. */
kh_metric_series *kh_metric_series_get(kh_metric *m,
                                       const char *const *label_values);

/* Counters: adds v >= 0 (negative or NaN v is ignored). Gauges: adds v. */
void kh_series_add(kh_metric_series *series, double v);
/* Gauges: sets. Counters: sets too, for mirroring a count kept elsewhere
 * (kh_broker_stats); never set a counter lower than before. */
void kh_series_set(kh_metric_series *series, double v);
/* Histograms: counts v in the first bucket with v <= upper bound, adds it
 * to the sum. NaN is ignored. */
void kh_series_observe(kh_metric_series *series, double v);

/* One-call forms: look-up + update; every argument may be NULL (no-op). */
void kh_metric_inc(kh_metric *m, const char *const *label_values);
void kh_metric_add(kh_metric *m, const char *const *label_values, double v);
void kh_metric_set(kh_metric *m, const char *const *label_values, double v);
void kh_metric_observe(kh_metric *m, const char *const *label_values,
                       double v);

/* Current value of a counter or gauge series, the count of a histogram's;
 * NaN when the series does not exist (it is not created). For tests. */
double kh_metric_value(kh_metric *m, const char *const *label_values);

/* Called at the start of every render, e.g. to copy a queue depth into a
 * gauge. At most 16 per registry (KH_ELIMIT). */
typedef void (*kh_metrics_collect_fn)(void *user, kh_metrics *registry);
int kh_metrics_on_collect(kh_metrics *registry, kh_metrics_collect_fn fn,
                          void *user, kh_error *err);

/* The whole registry in the text exposition format 0.0.4. *out is
 * malloc'd, NUL-terminated, owned by the caller. */
int kh_metrics_render(kh_metrics *registry, char **out, size_t *len,
                      kh_error *err);

#define KH_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* GET /metrics as a kh_http_handler (user = the registry): 200 with the
 * rendered registry; HEAD too; other methods 405. Route it yourself:
 *   if (strcmp(req->path, "/metrics") == 0)
 *       return kh_metrics_http_handler(registry, req, res); */
void kh_metrics_http_handler(void *registry, const kh_http_request *req,
                             kh_http_response *res);

/* ---- The metrics khappy exposes ---- */

typedef struct kh_std_metrics {
    /* Counters by {type, trigger}: events a service received, and what the
     * broker did with each delivery (kh_obs_broker_record in obs.h maps
     * kh_broker_record outcomes onto these). */
    kh_metric *events_received;      /* khappy_events_received_total */
    kh_metric *events_delivered;     /* khappy_events_delivered_total */
    kh_metric *events_retried;       /* khappy_events_retried_total */
    kh_metric *events_dead_lettered; /* khappy_events_dead_lettered_total */
    kh_metric *events_dropped;       /* khappy_events_dropped_total */
    /* khappy_http_requests_total {route, method, status} */
    kh_metric *http_requests;
    /* khappy_http_request_duration_seconds {route}, histogram */
    kh_metric *http_request_duration;
    /* khappy_pipeline_latency_seconds: picture received -> done */
    kh_metric *pipeline_latency;
    /* khappy_pictures_processed_total {status}: "done" or "failed" */
    kh_metric *pictures_processed;
    /* khappy_inference_duration_seconds {model}, histogram */
    kh_metric *inference_duration;
    /* khappy_faces_detected_total {detector} */
    kh_metric *faces_detected;
    /* khappy_queue_depth {queue}, gauge (e.g. queue="broker") */
    kh_metric *queue_depth;
    /* khappy_build_info {version} 1 */
    kh_metric *build_info;
    /* khappy_trace_spans_exported_total, khappy_trace_spans_dropped_total
     * {reason: "queue_full" or "export"} (mirrored from kh_tracer_stats) */
    kh_metric *trace_spans_exported;
    kh_metric *trace_spans_dropped;
} kh_std_metrics;

/* Registers the set above in registry (idempotent) and sets build_info's
 * series for `version` (NULL: this build's) to 1. */
int kh_std_metrics_register(kh_metrics *registry, const char *version,
                            kh_std_metrics *out, kh_error *err);

#endif
