/* khappy service NAME - one service of the event flow on its own, as a
 * Knative service: a CloudEvents receiver on $PORT, the events it emits to
 * $K_SINK (with K_CE_OVERRIDES), replies in the HTTP response, GET /healthz.
 * The service functions are those `khappy serve` calls in process. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "events/ce_receiver.h"
#include "net/http.h"
#include "obs/obs.h"
#include "services/services.h"
#include "storage/blob.h"
#include "storage/storage.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: khappy service NAME [options]\n"
            "\n"
            "Runs one service of khappy's event flow as a CloudEvents HTTP\n"
            "service (a Knative Service; `khappy broker` or a Knative Broker\n"
            "delivers to it):\n"
            "  face-detector   picture.stored -> face.detected per face (to the\n"
            "                  sink), reply picture.detected | picture.failed\n"
            "  face-extractor  face.detected -> reply face.cropped (PNG crop)\n"
            "  emotion         face.cropped -> reply emotion.scored\n"
            "  report          emotion.scored, picture.detected,\n"
            "                  picture.failed -> the database\n"
            "\n"
            "options (and the environment variables Knative sets):\n"
            "  --port N          listen port (default $PORT, else 8080; 0: a\n"
            "                    free port, printed at start)\n"
            "  --bind ADDR       listen address (default 0.0.0.0)\n"
            "  --sink URL        where emitted events go (default $K_SINK;\n"
            "                    required by face-detector)\n"
            "  --data DIR        the shared data folder: blobs in DIR/blobs\n"
            "                    (default $KHAPPY_DATA, else\n"
            "                    ~/.local/share/khappy)\n"
            "  --db URL          report's database (default\n"
            "                    $KHAPPY_DATABASE_URL, else DIR/khappy.db;\n"
            "                    postgres://... for PostgreSQL)\n"
            "  --models DIR      tinyface.onnx, facefinder, expression.onnx\n"
            "                    (default $KHAPPY_MODELS, else models/ of the\n"
            "                    checkout or /usr/share/khappy/models)\n"
            "  --detector NAME   tinyface or pico (default $KHAPPY_DETECTOR,\n"
            "                    else tinyface)\n"
            "  --threads N       model instances, that many events are\n"
            "                    worked on at once (default 2)\n"
            "  --max-body BYTES  largest accepted event (default 16 MiB)\n"
            "%s"
            "K_CE_OVERRIDES='{\"extensions\":{\"name\":\"value\"}}' sets\n"
            "extensions on every event sent, as a SinkBinding asks.\n"
            "GET /healthz answers 200, GET /metrics the Prometheus metrics.\n"
            "\n"
            "SIGINT/SIGTERM: finish the requests in flight, exit 0.\n",
            kh_obs_usage);
}

typedef struct service_app {
    const char *name;
    kh_ce_event_handler handle;
    void *service;
    const kh_ce_overrides *overrides;
    kh_ce_receiver_options receiver;
} service_app;

/* The service function (it logs and traces each event), then
 * K_CE_OVERRIDES on the reply. */
static int handle_event(void *user, const kh_cloudevent *in,
                        kh_cloudevent *reply, kh_error *err) {
    service_app *app = user;
    int rc = app->handle(app->service, in, reply, err);
    if (rc == KH_OK && reply && reply->id) {
        kh_error override_err = {0};
        if (kh_ce_overrides_apply(app->overrides, reply, &override_err) !=
            KH_OK) {
            *err = override_err;
            rc = KH_EINTERNAL;
        }
    }
    return rc;
}

/* Behind kh_obs_http_handler (request spans, /metrics): /healthz, and
 * CloudEvents on every other path. */
static void route(void *user, const kh_http_request *req,
                  kh_http_response *res) {
    service_app *app = user;
    if (strcmp(req->path, "/healthz") == 0 &&
        strcmp(req->method, "GET") == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        kh_http_response_set(res, 200, "application/json", ok, sizeof ok - 1);
        return;
    }
    kh_ce_receiver_handle(&app->receiver, handle_event, app, req, res);
}

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* `dir` and its parents, like mkdir -p. */
static int make_dirs(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -1;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Data folder: --data, $KHAPPY_DATA, ~/.local/share/khappy. */
static bool data_dir_of(const char *given, char *out, size_t size) {
    const char *home = getenv("HOME");
    if (given)
        snprintf(out, size, "%s", given);
    else if (getenv("KHAPPY_DATA") && *getenv("KHAPPY_DATA"))
        snprintf(out, size, "%s", getenv("KHAPPY_DATA"));
    else if (home && *home)
        snprintf(out, size, "%s/.local/share/khappy", home);
    else
        return false;
    return true;
}

int cmd_service(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') {
        cli_error("service: which one? face-detector, face-extractor, "
                  "emotion or report (see --help)");
        return 2;
    }
    const char *name = argv[1];
    bool is_detector = strcmp(name, "face-detector") == 0;
    bool is_extractor = strcmp(name, "face-extractor") == 0;
    bool is_emotion = strcmp(name, "emotion") == 0;
    bool is_report = strcmp(name, "report") == 0;
    if (!is_detector && !is_extractor && !is_emotion && !is_report) {
        cli_error("service: unknown service '%s' (face-detector, "
                  "face-extractor, emotion, report)", name);
        return 2;
    }
    const char *bind = "0.0.0.0", *sink_url = env_or("K_SINK", NULL);
    const char *data_arg = NULL, *db_url = env_or("KHAPPY_DATABASE_URL", NULL);
    const char *models_arg = env_or("KHAPPY_MODELS", NULL);
    const char *detector = env_or("KHAPPY_DETECTOR", "tinyface");
    long port = 8080, threads = 2, max_body = 16L << 20;
    kh_obs_options obs = {.service_name = name};
    kh_error err = {0};
    const char *env_port = env_or("PORT", NULL);
    if (env_port && !cli_parse_long(env_port, 0, 65535, &port)) {
        cli_error("service: $PORT '%s' is not a port number", env_port);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int used = kh_obs_parse_flag(&obs, argc, argv, &i, &err);
        if (used < 0) {
            cli_error("%s", err.message);
            return 2;
        }
        if (used)
            continue;
        const char *opt = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) {
            cli_error("service: %s needs a value (see --help)", opt);
            return 2;
        }
        i++;
        if (strcmp(opt, "--port") == 0) {
            if (!cli_parse_long(value, 0, 65535, &port)) {
                cli_error("--port: '%s' is not a port number", value);
                return 2;
            }
        } else if (strcmp(opt, "--bind") == 0) {
            bind = value;
        } else if (strcmp(opt, "--sink") == 0) {
            sink_url = value;
        } else if (strcmp(opt, "--data") == 0) {
            data_arg = value;
        } else if (strcmp(opt, "--db") == 0) {
            db_url = value;
        } else if (strcmp(opt, "--models") == 0) {
            models_arg = value;
        } else if (strcmp(opt, "--detector") == 0) {
            detector = value;
        } else if (strcmp(opt, "--threads") == 0) {
            if (!cli_parse_long(value, 1, 256, &threads)) {
                cli_error("--threads: 1..256, got '%s'", value);
                return 2;
            }
        } else if (strcmp(opt, "--max-body") == 0) {
            if (!cli_parse_long(value, 1024, 1L << 30, &max_body)) {
                cli_error("--max-body: 1024..1073741824 bytes, got '%s'",
                          value);
                return 2;
            }
        } else {
            cli_error("service: unknown option '%s' (see --help)", opt);
            return 2;
        }
    }
    if (strcmp(detector, "tinyface") != 0 && strcmp(detector, "pico") != 0) {
        cli_error("--detector: tinyface or pico, got '%s'", detector);
        return 2;
    }
    if (is_detector && !sink_url) {
        cli_error("face-detector: where do face events go? Set K_SINK or "
                  "--sink URL");
        return 2;
    }
    if (sink_url && strncmp(sink_url, "http://", 7) != 0 &&
        strncmp(sink_url, "https://", 8) != 0) {
        cli_error("sink '%s' is not an http(s) URL", sink_url);
        return 2;
    }

    int status = 1;
    kh_ce_overrides overrides = {0};
    kh_blob_store *blobs = NULL;
    kh_store *store = NULL;
    kh_model_pool *pool = NULL;
    kh_picture_cache *pictures = NULL;
    kh_http_server *server = NULL;
    bool obs_started = false;
    char data_dir[PATH_MAX], models_dir[PATH_MAX], path[PATH_MAX + 16];
    service_app app = {.name = name, .overrides = &overrides};

    /* Signals go to sigwait below, not to whichever thread runs: blocked
     * before the first thread starts (the tracer's, the servers'), which
     * inherit the mask. */
    sigset_t stop_signals;
    cli_block_stop_signals(&stop_signals);
    if (kh_obs_init(&obs, &err) != KH_OK) {
        cli_error("%s", err.message);
        status = 2;
        goto out;
    }
    obs_started = true;
    if (kh_ce_overrides_parse(getenv("K_CE_OVERRIDES"), &overrides, &err) !=
        KH_OK) {
        cli_error("%s", err.message);
        status = 2;
        goto out;
    }
    kh_http_sink http_sink = {.url = sink_url, .overrides = &overrides};
    kh_event_sink sink = {.send = sink_url ? kh_http_sink_send : NULL,
                          .user = &http_sink};
    if (!data_dir_of(data_arg, data_dir, sizeof data_dir)) {
        cli_error("service: no data folder: give --data DIR or set "
                  "KHAPPY_DATA");
        goto out;
    }
    if (!is_report || !db_url) {
        snprintf(path, sizeof path, "%s/blobs", data_dir);
        if (make_dirs(data_dir) != 0) {
            cli_error("%s: %s", data_dir, strerror(errno));
            goto out;
        }
    }
    if (!is_report) {
        if (kh_blob_store_open_dir(path, &blobs, &err) != KH_OK) {
            cli_error("%s", err.message);
            goto out;
        }
    }
    if (is_detector || is_emotion) {
        if (models_arg)
            snprintf(models_dir, sizeof models_dir, "%s", models_arg);
        else if (kh_find_shipped_dir("models", is_emotion ? "expression.onnx"
                                                          : NULL,
                                     models_dir, sizeof models_dir,
                                     &err) != KH_OK) {
            cli_error("%s (give --models DIR)", err.message);
            goto out;
        }
    }

    kh_detector_factory_options detector_opts = {0};
    kh_classifier_factory_options classifier_opts = {0};
    kh_face_detector_service detector_svc = {0};
    kh_face_extractor_service extractor_svc = {0};
    kh_emotion_service emotion_svc = {0};
    kh_report_service report_svc = {0};
    char source[64];
    if (is_detector) {
        detector_opts = (kh_detector_factory_options){detector, models_dir};
        if (kh_model_pool_create((size_t)threads, kh_detector_factory,
                                 &detector_opts, kh_detector_factory_destroy,
                                 &pool, &err) != KH_OK ||
            kh_model_pool_warm(pool, &err) != KH_OK) {
            cli_error("%s", err.message);
            goto out;
        }
        snprintf(source, sizeof source, "/khappy/face-detector/%s", detector);
        detector_svc = (kh_face_detector_service){
            .detector = detector, .detectors = pool, .blobs = blobs,
            .sink = sink, .source = source};
        app.handle = kh_face_detector_handle;
        app.service = &detector_svc;
    } else if (is_extractor) {
        if (kh_picture_cache_create((size_t)(2 * threads), &pictures, &err) !=
            KH_OK) {
            cli_error("%s", err.message);
            goto out;
        }
        extractor_svc = (kh_face_extractor_service){
            .blobs = blobs, .cache = pictures, .sink = sink};
        app.handle = kh_face_extractor_handle;
        app.service = &extractor_svc;
    } else if (is_emotion) {
        classifier_opts = (kh_classifier_factory_options){models_dir};
        if (kh_model_pool_create((size_t)threads, kh_classifier_factory,
                                 &classifier_opts,
                                 kh_classifier_factory_destroy, &pool,
                                 &err) != KH_OK ||
            kh_model_pool_warm(pool, &err) != KH_OK) {
            cli_error("%s", err.message);
            goto out;
        }
        emotion_svc = (kh_emotion_service){.classifiers = pool,
                                           .blobs = blobs, .sink = sink};
        app.handle = kh_emotion_handle;
        app.service = &emotion_svc;
    } else {
        char default_db[PATH_MAX + 16];
        snprintf(default_db, sizeof default_db, "%s/khappy.db", data_dir);
        if (kh_store_open(db_url ? db_url : default_db, &store, &err) !=
            KH_OK) {
            cli_error("%s", err.message);
            goto out;
        }
        report_svc.store = store;
        app.handle = kh_report_handle;
        app.service = &report_svc;
    }


    kh_http_server_options server_opts = {
        .bind_addr = bind,
        .port = (int)port,
        .max_body_bytes = (size_t)max_body,
        .thread_per_connection = true, /* inference blocks for a while */
        .connection_limit = (unsigned)(4 * threads + 16),
    };
    kh_obs_http_wrapper wrapper = {.handler = route, .user = &app,
                                   .service = name, .serve_metrics = true};
    if (kh_http_server_start(&server_opts, kh_obs_http_handler, &wrapper,
                             &server, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    printf("khappy service %s: listening on http://%s:%d/", name,
           strcmp(bind, "0.0.0.0") == 0 ? "127.0.0.1" : bind,
           kh_http_server_port(server));
    if (sink_url)
        printf(" (sink %s)", sink_url);
    if (is_detector)
        printf(" (detector %s)", detector);
    printf("\n");
    fflush(stdout);

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    fprintf(stderr, "khappy service %s: %s received, finishing requests in "
                    "flight\n",
            name, signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
out:
    kh_http_server_stop(server);
    kh_model_pool_destroy(pool);
    kh_picture_cache_destroy(pictures);
    kh_store_close(store);
    kh_blob_store_close(blobs);
    kh_ce_overrides_free(&overrides);
    if (obs_started)
        kh_obs_shutdown();
    return status;
}
