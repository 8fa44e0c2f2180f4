/* khappy serve - the whole system in one process: the embedded broker driven
 * by triggers/, every service as an in-process subscriber (the functions
 * `khappy service` runs behind HTTP), the store, and one HTTP port for the
 * API and UI (kh_web), the CloudEvents ingress (/broker) and /healthz. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "events/broker.h"
#include "events/trigger.h"
#include "net/http.h"
#include "obs/obs.h"
#include "services/services.h"
#include "storage/blob.h"
#include "storage/storage.h"
#include "web/web.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: khappy serve [options]\n"
            "\n"
            "Runs khappy on one machine: upload pictures (web page or\n"
            "POST /api/pictures), and the faces and emotions found in them\n"
            "appear in the database and the page. Inside, the embedded\n"
            "broker routes CloudEvents between the services by the Knative\n"
            "Trigger files of --triggers, durably: kill it and start it\n"
            "again, nothing accepted is lost.\n"
            "\n"
            "options:\n"
            "  --port N          listen port (default 8080; 0: a free port);\n"
            "                    the URL is printed at start\n"
            "  --bind ADDR       listen address (default 127.0.0.1)\n"
            "  --data DIR        database, pictures, crops and the broker's\n"
            "                    queue (default $KHAPPY_DATA, else\n"
            "                    ~/.local/share/khappy)\n"
            "  --db URL          the database (default DIR/khappy.db;\n"
            "                    postgres://... for PostgreSQL)\n"
            "  --triggers DIR    Trigger files (default triggers/ of the\n"
            "                    checkout, or /usr/share/khappy/triggers)\n"
            "  --models DIR      tinyface.onnx, facefinder, expression.onnx\n"
            "                    (default $KHAPPY_MODELS, else models/ of the\n"
            "                    checkout)\n"
            "  --inbox DIR       a folder to watch: new pictures are taken\n"
            "                    once and moved to DIR/done or DIR/failed\n"
            "  --ingest-demo     take the demo pictures MODELS/demo/sample*.jpg\n"
            "                    (once: known ones are skipped)\n"
            "  --threads N       model instances per model (default: the\n"
            "                    number of CPUs)\n"
            "  --max-body BYTES  largest upload or event (default 16 MiB)\n"
            "  --sync full|normal  the broker's commits survive a power cut\n"
            "                    (full, default) or a process crash (normal)\n"
            "%s"
            "\n"
            "HTTP: the API and UI (docs/API.md), POST /broker (CloudEvents\n"
            "ingress: a dev.khappy.picture.stored event with the picture as\n"
            "data, or naming a key of the blob store), GET /healthz, GET\n"
            "/metrics (Prometheus).\n"
            "SIGINT/SIGTERM: stop taking pictures, finish the work in flight,\n"
            "exit 0; what is left waits in the queue for the next start.\n",
            kh_obs_usage);
}

typedef struct serve_app {
    kh_store *store;
    kh_blob_store *blobs;
    kh_trigger_set *triggers;
    kh_web *web;
    kh_http_server *server;
    kh_inbox *inbox;
    kh_model_pool *tinyface, *pico, *classifiers;
    kh_picture_cache *pictures;
    kh_detector_factory_options tinyface_opts, pico_opts;
    kh_classifier_factory_options classifier_opts;
    kh_face_detector_service tinyface_svc, pico_svc;
    kh_face_extractor_service extractor_svc;
    kh_emotion_service emotion_svc;
    kh_report_service report_svc;
    kh_ingest ingest;
    /* Recovered deliveries may run before kh_broker_start returns: the sink
     * waits for the broker to be known. */
    pthread_mutex_t broker_lock;
    pthread_cond_t broker_known;
    kh_broker *broker;
} serve_app;

/* The broker, once kh_broker_start has returned it; NULL after 30 s (a
 * start that failed after its delivery threads began: the delivery then
 * fails and stays queued for the next start). */
static kh_broker *known_broker(serve_app *app) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&app->broker_lock);
    int rc = 0;
    while (!app->broker && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&app->broker_known, &app->broker_lock,
                                    &until);
    kh_broker *broker = app->broker;
    pthread_mutex_unlock(&app->broker_lock);
    return broker;
}

/* The services' sink and the ingest's: the broker's ingress, no HTTP. */
static int broker_sink_send(void *user, const kh_cloudevent *event,
                            kh_error *err) {
    kh_broker *broker = known_broker(user);
    if (!broker)
        return kh_error_set(err, KH_ESTATE, "serve: the broker did not start");
    return kh_broker_ingest(broker, event, err);
}

/* POST /api/pictures. */
static int ingest_upload(void *user, const void *bytes, size_t len,
                         const char *name, char id[KH_ID_MAX], kh_error *err) {
    serve_app *app = user;
    kh_ingest_request req = {.bytes = bytes, .len = len, .name = name,
                             .source = "/khappy/api"};
    int rc = kh_ingest_picture(&app->ingest, &req, id, err);
    /* The web maps KH_ELIMIT to 413 (too large); a full broker backlog is
     * not the client's fault. */
    return rc == KH_ELIMIT ? KH_ESTATE : rc;
}

static void route(void *user, const kh_http_request *req,
                  kh_http_response *res) {
    serve_app *app = user;
    if (strcmp(req->path, "/healthz") == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        kh_http_response_set(res, 200, "application/json", ok, sizeof ok - 1);
        return;
    }
    if (strcmp(req->path, "/broker") == 0 ||
        strncmp(req->path, "/broker/", 8) == 0) {
        /* The ingress answers on / and /<namespace>/<broker>. */
        kh_http_request inner = *req;
        inner.path = req->path[7] ? req->path + 7 : "/";
        kh_broker_http_handler(app->broker, &inner, res);
        return;
    }
    kh_web_handle(app->web, req, res);
}

static void log_inbox_file(void *user, const char *file, bool ok,
                           const char *picture_id, const char *message) {
    (void)user;
    kh_log_fields fields = {.service = "inbox",
                            .picture_id = picture_id[0] ? picture_id : NULL};
    if (ok)
        kh_log(KH_LOG_INFO, &fields, "%s taken, moved to done/", file);
    else
        kh_log(KH_LOG_WARN, &fields, "%s moved to failed/: %s", file, message);
}

static int make_dirs(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int read_whole_file(const char *path, size_t max, void **bytes,
                           size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= max)
            break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    bool failed = !buf || ferror(f) || n >= max;
    fclose(f);
    if (failed) {
        free(buf);
        return -1;
    }
    *bytes = buf;
    *len = n;
    return 0;
}

/* The six demo pictures, each once: their ids come from their bytes. */
static void ingest_demo(serve_app *app, const char *models_dir) {
    char pattern[PATH_MAX + 32];
    snprintf(pattern, sizeof pattern, "%s/demo/sample*.jpg", models_dir);
    glob_t found;
    if (glob(pattern, 0, NULL, &found) != 0) {
        cli_error("--ingest-demo: no %s (run `make models`)", pattern);
        return;
    }
    size_t queued = 0, known = 0;
    for (size_t i = 0; i < found.gl_pathc; i++) {
        const char *path = found.gl_pathv[i];
        void *bytes = NULL;
        size_t len = 0;
        if (read_whole_file(path, KH_SERVICE_MAX_PICTURE_BYTES, &bytes,
                            &len) != 0) {
            cli_error("--ingest-demo: cannot read %s", path);
            continue;
        }
        char id[KH_ID_MAX];
        kh_ingest_content_id("demo", bytes, len, NULL, id);
        const char *slash = strrchr(path, '/');
        kh_ingest_request req = {.bytes = bytes, .len = len,
                                 .name = slash ? slash + 1 : path, .id = id,
                                 .source = "/khappy/demo"};
        kh_error err = {0};
        int rc = kh_ingest_picture(&app->ingest, &req, NULL, &err);
        free(bytes);
        if (rc == KH_OK)
            queued++;
        else if (rc == KH_EEXIST)
            known++;
        else
            cli_error("--ingest-demo: %s: %s", path, err.message);
    }
    globfree(&found);
    fprintf(stderr, "khappy serve: demo pictures: %zu queued, %zu already "
                    "stored\n",
            queued, known);
}

/* Model instances are made on first use; the detectors and the classifier
 * the triggers route to are made now, so that a missing model shows at once. */
static int warm_routed_models(serve_app *app, kh_error *err) {
    for (size_t i = 0; i < app->triggers->count; i++) {
        const char *ref = app->triggers->triggers[i].subscriber.ref_name;
        if (!ref)
            continue;
        kh_model_pool *pool =
            strcmp(ref, "khappy-face-detector-tinyface") == 0 ? app->tinyface
            : strcmp(ref, "khappy-face-detector-pico") == 0   ? app->pico
            : strcmp(ref, "khappy-emotion") == 0 ? app->classifiers
                                                 : NULL;
        int rc = pool ? kh_model_pool_warm(pool, err) : KH_OK;
        if (rc != KH_OK)
            return rc;
    }
    return KH_OK;
}

typedef struct serve_options {
    long port, threads, max_body;
    const char *bind, *data_arg, *db_url, *triggers_arg, *models_arg, *inbox;
    bool ingest_demo;
    kh_store_sync sync;
    kh_obs_options obs;
} serve_options;

static int parse_options(int argc, char **argv, serve_options *o) {
    for (int i = 1; i < argc; i++) {
        kh_error err = {0};
        int used = kh_obs_parse_flag(&o->obs, argc, argv, &i, &err);
        if (used < 0) {
            cli_error("%s", err.message);
            return -1;
        }
        if (used)
            continue;
        const char *opt = argv[i];
        if (strcmp(opt, "--ingest-demo") == 0) {
            o->ingest_demo = true;
            continue;
        }
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) {
            cli_error("serve: %s needs a value (see --help)", opt);
            return -1;
        }
        i++;
        if (strcmp(opt, "--port") == 0) {
            if (!cli_parse_long(value, 0, 65535, &o->port)) {
                cli_error("--port: '%s' is not a port number", value);
                return -1;
            }
        } else if (strcmp(opt, "--bind") == 0) {
            o->bind = value;
        } else if (strcmp(opt, "--data") == 0) {
            o->data_arg = value;
        } else if (strcmp(opt, "--db") == 0) {
            o->db_url = value;
        } else if (strcmp(opt, "--triggers") == 0) {
            o->triggers_arg = value;
        } else if (strcmp(opt, "--models") == 0) {
            o->models_arg = value;
        } else if (strcmp(opt, "--inbox") == 0) {
            o->inbox = value;
        } else if (strcmp(opt, "--threads") == 0) {
            if (!cli_parse_long(value, 1, 64, &o->threads)) {
                cli_error("--threads: 1..64, got '%s'", value);
                return -1;
            }
        } else if (strcmp(opt, "--max-body") == 0) {
            if (!cli_parse_long(value, 1024, 1L << 30, &o->max_body)) {
                cli_error("--max-body: 1024..1073741824 bytes, got '%s'",
                          value);
                return -1;
            }
        } else if (strcmp(opt, "--sync") == 0) {
            if (strcmp(value, "full") == 0)
                o->sync = KH_STORE_SYNC_FULL;
            else if (strcmp(value, "normal") == 0)
                o->sync = KH_STORE_SYNC_NORMAL;
            else {
                cli_error("--sync: full or normal, got '%s'", value);
                return -1;
            }
        } else {
            cli_error("serve: unknown option '%s' (see --help)", opt);
            return -1;
        }
    }
    return 0;
}

int cmd_serve(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    serve_options o = {
        .port = 8080,
        .threads = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus,
        .max_body = 16L << 20,
        .bind = "127.0.0.1",
        .models_arg = getenv("KHAPPY_MODELS") && *getenv("KHAPPY_MODELS")
                          ? getenv("KHAPPY_MODELS")
                          : NULL,
        .sync = KH_STORE_SYNC_FULL,
        .obs = {.service_name = "khappy"},
    };
    if (parse_options(argc, argv, &o) != 0)
        return 2;

    int status = 1;
    kh_error err = {0};
    serve_app app = {0};
    pthread_mutex_init(&app.broker_lock, NULL);
    pthread_cond_init(&app.broker_known, NULL);
    kh_broker *broker = NULL;
    kh_broker_stats stats = {0};
    bool obs_started = false;
    char data_dir[PATH_MAX], models_dir[PATH_MAX], triggers_dir[PATH_MAX];
    char path[PATH_MAX + 32];

    /* Signals go to sigwait below, not to whichever thread runs: blocked
     * before the first thread starts (the tracer's, the servers'), which
     * inherit the mask. */
    sigset_t stop_signals;
    cli_block_stop_signals(&stop_signals);
    if (kh_obs_init(&o.obs, &err) != KH_OK) {
        cli_error("%s", err.message);
        status = 2;
        goto out;
    }
    obs_started = true;

    const char *home = getenv("HOME");
    if (o.data_arg)
        snprintf(data_dir, sizeof data_dir, "%s", o.data_arg);
    else if (getenv("KHAPPY_DATA") && *getenv("KHAPPY_DATA"))
        snprintf(data_dir, sizeof data_dir, "%s", getenv("KHAPPY_DATA"));
    else if (home && *home)
        snprintf(data_dir, sizeof data_dir, "%s/.local/share/khappy", home);
    else {
        cli_error("serve: no data folder: give --data DIR");
        goto out;
    }
    if (make_dirs(data_dir) != 0) {
        cli_error("%s: %s", data_dir, strerror(errno));
        goto out;
    }
    if (o.models_arg)
        snprintf(models_dir, sizeof models_dir, "%s", o.models_arg);
    else if (kh_find_shipped_dir("models", "expression.onnx", models_dir,
                                 sizeof models_dir, &err) != KH_OK) {
        cli_error("%s (run `make models`, or give --models DIR)", err.message);
        goto out;
    }
    if (o.triggers_arg)
        snprintf(triggers_dir, sizeof triggers_dir, "%s", o.triggers_arg);
    else if (kh_find_shipped_dir("triggers", NULL, triggers_dir,
                                 sizeof triggers_dir, &err) != KH_OK) {
        cli_error("%s (give --triggers DIR)", err.message);
        goto out;
    }

    snprintf(path, sizeof path, "%s/khappy.db", data_dir);
    if (kh_store_open(o.db_url ? o.db_url : path, &app.store, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    snprintf(path, sizeof path, "%s/blobs", data_dir);
    if (kh_blob_store_open_dir(path, &app.blobs, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    struct stat st;
    int rc = kh_trigger_set_create(&app.triggers, &err);
    if (rc == KH_OK)
        rc = stat(triggers_dir, &st) == 0 && S_ISDIR(st.st_mode)
                 ? kh_trigger_set_load_dir(app.triggers, triggers_dir, &err)
                 : kh_trigger_set_load_file(app.triggers, triggers_dir, &err);
    if (rc != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }

    /* The models, the services and their sink. */
    app.tinyface_opts = (kh_detector_factory_options){"tinyface", models_dir};
    app.pico_opts = (kh_detector_factory_options){"pico", models_dir};
    app.classifier_opts = (kh_classifier_factory_options){models_dir};
    size_t instances = (size_t)o.threads;
    if (kh_model_pool_create(instances, kh_detector_factory, &app.tinyface_opts,
                             kh_detector_factory_destroy, &app.tinyface,
                             &err) != KH_OK ||
        kh_model_pool_create(instances, kh_detector_factory, &app.pico_opts,
                             kh_detector_factory_destroy, &app.pico,
                             &err) != KH_OK ||
        kh_model_pool_create(instances, kh_classifier_factory,
                             &app.classifier_opts,
                             kh_classifier_factory_destroy, &app.classifiers,
                             &err) != KH_OK ||
        warm_routed_models(&app, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    /* One decoded picture per delivery thread is plenty. */
    if (kh_picture_cache_create((size_t)(2 * o.threads + 2), &app.pictures,
                                &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    kh_event_sink sink = {.send = broker_sink_send, .user = &app};
    app.tinyface_svc = (kh_face_detector_service){
        .detector = "tinyface", .detectors = app.tinyface, .blobs = app.blobs,
        .sink = sink, .source = "/khappy/face-detector/tinyface"};
    app.pico_svc = (kh_face_detector_service){
        .detector = "pico", .detectors = app.pico, .blobs = app.blobs,
        .sink = sink, .source = "/khappy/face-detector/pico"};
    app.extractor_svc = (kh_face_extractor_service){
        .blobs = app.blobs, .cache = app.pictures, .sink = sink};
    app.emotion_svc = (kh_emotion_service){
        .classifiers = app.classifiers, .blobs = app.blobs, .sink = sink};
    app.report_svc = (kh_report_service){.store = app.store};
    app.ingest = (kh_ingest){.store = app.store, .blobs = app.blobs,
                             .sink = sink};

    /* The subscriber names are those of the Knative Services the triggers
     * reference: the same files route here and on Knative. */
    const kh_broker_subscriber subscribers[] = {
        {.name = "khappy-face-detector-tinyface",
         .function = kh_face_detector_handle,
         .function_user = &app.tinyface_svc},
        {.name = "khappy-face-detector-pico",
         .function = kh_face_detector_handle,
         .function_user = &app.pico_svc},
        {.name = "khappy-face-extractor",
         .function = kh_face_extractor_handle,
         .function_user = &app.extractor_svc},
        {.name = "khappy-emotion",
         .function = kh_emotion_handle,
         .function_user = &app.emotion_svc},
        {.name = "khappy-report",
         .function = kh_report_handle,
         .function_user = &app.report_svc},
    };


    snprintf(path, sizeof path, "%s/broker.db", data_dir);
    kh_broker_options broker_opts = {
        .store_path = path,
        .sync = o.sync,
        .triggers = app.triggers,
        .subscribers = subscribers,
        .n_subscribers = sizeof subscribers / sizeof subscribers[0],
        /* Enough delivery threads that cheap steps (report) never wait
         * behind every model instance being busy. */
        .workers = (int)(2 * o.threads + 2),
        .on_record = kh_obs_broker_on_record, /* metrics and log lines */
    };
    if (kh_broker_start(&broker_opts, &broker, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    pthread_mutex_lock(&app.broker_lock);
    app.broker = broker;
    pthread_cond_broadcast(&app.broker_known);
    pthread_mutex_unlock(&app.broker_lock);
    kh_obs_watch_broker(broker);

    kh_web_hooks hooks = {.ingest = ingest_upload, .user = &app};
    if (kh_web_create(app.store, app.blobs, &hooks, &app.web, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    kh_http_server_options server_opts = {
        .bind_addr = o.bind,
        .port = (int)o.port,
        .max_body_bytes = (size_t)o.max_body,
        .threads = (int)(o.threads < 4 ? 8 : 2 * o.threads),
    };
    /* Request spans (an upload's trace goes on through the pipeline),
     * request metrics and GET /metrics around the routes. */
    kh_obs_http_wrapper wrapper = {.handler = route, .user = &app,
                                   .service = "khappy", .serve_metrics = true};
    if (kh_http_server_start(&server_opts, kh_obs_http_handler, &wrapper,
                             &app.server, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    kh_broker_get_stats(broker, &stats);
    printf("khappy serve: listening on http://%s:%d/\n",
           strcmp(o.bind, "0.0.0.0") == 0 ? "127.0.0.1" : o.bind,
           kh_http_server_port(app.server));
    fflush(stdout);
    fprintf(stderr, "khappy serve: data %s, %zu triggers from %s, models %s, "
                    "%llu deliveries recovered\n",
            data_dir, app.triggers->count, triggers_dir, models_dir,
            (unsigned long long)stats.recovered);

    if (o.ingest_demo)
        ingest_demo(&app, models_dir);
    if (o.inbox) {
        kh_inbox_options inbox_opts = {.dir = o.inbox,
                                       .max_bytes = (size_t)o.max_body,
                                       .ingest = &app.ingest,
                                       .on_file = log_inbox_file};
        if (kh_inbox_start(&inbox_opts, &app.inbox, &err) != KH_OK) {
            cli_error("%s", err.message);
            goto out;
        }
        fprintf(stderr, "khappy serve: watching %s\n", o.inbox);
    }

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    fprintf(stderr, "khappy serve: %s received, finishing the work in "
                    "flight\n",
            signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
out:
    /* Outside in: no new pictures, then the deliveries in flight end. */
    kh_http_server_stop(app.server);
    kh_inbox_stop(app.inbox);
    if (broker) {
        kh_obs_watch_broker(NULL);
        kh_broker_drain(broker);
        kh_broker_get_stats(broker, &stats);
        kh_broker_stop(broker);
        if (status == 0)
            fprintf(stderr, "khappy serve: stopped: %llu events accepted, "
                            "%llu delivered, %zu deliveries left for the "
                            "next start\n",
                    (unsigned long long)stats.accepted,
                    (unsigned long long)stats.delivered, stats.pending);
    }
    kh_web_destroy(app.web);
    kh_model_pool_destroy(app.tinyface);
    kh_model_pool_destroy(app.pico);
    kh_model_pool_destroy(app.classifiers);
    kh_picture_cache_destroy(app.pictures);
    kh_trigger_set_destroy(app.triggers);
    kh_blob_store_close(app.blobs);
    kh_store_close(app.store);
    if (obs_started)
        kh_obs_shutdown();
    pthread_cond_destroy(&app.broker_known);
    pthread_mutex_destroy(&app.broker_lock);
    return status;
}
