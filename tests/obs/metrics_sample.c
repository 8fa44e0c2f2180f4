/* metrics_sample - a populated registry, for the exposition checks:
 *   metrics_sample            prints khappy's metric set, every kind of
 *                             series and hostile label values, in the text
 *                             format (piped into `promtool check metrics`)
 *   metrics_sample --serve S  serves it on 127.0.0.1 (a free port, printed
 *                             as "port N") for S seconds, with
 *                             khappy_events_received_total moving every
 *                             100 ms (for prometheus-scrape.sh) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/metrics.h"

static void populate(kh_metrics *registry, kh_std_metrics *std) {
    kh_error err = {0};
    if (kh_std_metrics_register(registry, NULL, std, &err) != KH_OK) {
        fprintf(stderr, "metrics_sample: %s\n", err.message);
        exit(1);
    }
    const char *types[] = {"dev.khappy.picture.stored",
                           "dev.khappy.face.detected",
                           "dev.khappy.face.cropped",
                           "dev.khappy.emotion.scored"};
    const char *triggers[] = {"default/face-detector", "default/face-extractor",
                              "default/emotion", "default/report"};
    for (int i = 0; i < 4; i++) {
        kh_metric_add(std->events_received, KH_LABELS(types[i], triggers[i]),
                      10 + i);
        kh_metric_add(std->events_delivered, KH_LABELS(types[i], triggers[i]),
                      10 + i);
    }
    kh_metric_inc(std->events_retried,
                  KH_LABELS(types[1], "default/face-extractor"));
    kh_metric_inc(std->events_dead_lettered, KH_LABELS(types[2], ""));
    kh_metric_inc(std->events_dropped, KH_LABELS(types[3], "default/report"));
    kh_metric_add(std->http_requests,
                  KH_LABELS("/api/pictures", "POST", "202"), 6);
    kh_metric_add(std->http_requests,
                  KH_LABELS("/api/pictures/:id", "GET", "200"), 31);
    kh_metric_inc(std->http_requests, KH_LABELS("unmatched", "GET", "404"));
    for (int i = 0; i < 40; i++) {
        kh_metric_observe(std->http_request_duration,
                          KH_LABELS("/api/pictures"), 0.0004 * (i + 1));
        kh_metric_observe(std->pipeline_latency, NULL, 0.05 * i);
        kh_metric_observe(std->inference_duration, KH_LABELS("tinyface"),
                          0.001 * i);
        kh_metric_observe(std->inference_duration,
                          KH_LABELS("face_expression"), 0.0003 * i);
    }
    kh_metric_observe(std->pipeline_latency, NULL, 1e9); /* +Inf bucket */
    kh_metric_add(std->pictures_processed, KH_LABELS("done"), 5);
    kh_metric_inc(std->pictures_processed, KH_LABELS("failed"));
    kh_metric_add(std->faces_detected, KH_LABELS("tinyface"), 17);
    kh_metric_add(std->faces_detected, KH_LABELS("pico"), 12);
    kh_metric_set(std->queue_depth, KH_LABELS("broker"), 3);
    kh_metric_set(std->trace_spans_exported, NULL, 120);
    kh_metric_set(std->trace_spans_dropped, KH_LABELS("queue_full"), 0);
    kh_metric_set(std->trace_spans_dropped, KH_LABELS("export"), 4);

    /* Hostile values from outside must still give a valid exposition. */
    kh_metric_inc(std->events_received,
                  KH_LABELS("quote\" back\\slash\nnewline \x01 \xff\xfe",
                            "tab\there"));
    kh_metric_desc odd = {KH_METRIC_GAUGE, "khappy_sample_odd_values",
                          "Help with \\ backslash and\nnewline.",
                          KH_LABELS("case"), NULL, 0, 0};
    kh_metric *m = NULL;
    kh_metrics_register(registry, &odd, &m, &err);
    kh_metric_set(m, KH_LABELS("negative"), -1.5);
    kh_metric_set(m, KH_LABELS("tiny"), 1e-300);
    kh_metric_set(m, KH_LABELS("huge"), 1.7976931348623157e308);
    kh_metric_set(m, KH_LABELS("nan"), 0.0 / 0.0);
    kh_metric_set(m, KH_LABELS("inf"), 1.0 / 0.0);
    kh_metric_set(m, KH_LABELS("minus_inf"), -1.0 / 0.0);
    kh_metric_set(m, KH_LABELS(""), 0);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    kh_metrics *registry = NULL;
    kh_error err = {0};
    if (kh_metrics_create(&registry, &err) != KH_OK)
        return 1;
    kh_std_metrics std;
    populate(registry, &std);
    if (argc == 1) {
        char *text = NULL;
        size_t len = 0;
        if (kh_metrics_render(registry, &text, &len, &err) != KH_OK) {
            fprintf(stderr, "metrics_sample: %s\n", err.message);
            return 1;
        }
        fwrite(text, 1, len, stdout);
        free(text);
        kh_metrics_destroy(registry);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "--serve") != 0) {
        fprintf(stderr, "usage: metrics_sample [--serve SECONDS]\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    kh_http_server_options opts = {.bind_addr = "127.0.0.1"};
    kh_http_server *server = NULL;
    if (kh_http_server_start(&opts, kh_metrics_http_handler, registry, &server,
                             &err) != KH_OK) {
        fprintf(stderr, "metrics_sample: %s\n", err.message);
        return 1;
    }
    printf("port %d\n", kh_http_server_port(server));
    fflush(stdout);
    long ticks = atol(argv[2]) * 10;
    for (long i = 0; i < ticks && !stop; i++) {
        kh_metric_inc(std.events_received,
                      KH_LABELS("dev.khappy.picture.stored",
                                "default/face-detector"));
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    kh_http_server_stop(server);
    kh_metrics_destroy(registry);
    return 0;
}
