/* khappy broker - the embedded CloudEvents broker on its own: an HTTP
 * ingress, Knative Trigger files, a durable SQLite queue, delivery to HTTP
 * subscribers. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "events/broker.h"
#include "events/trigger.h"
#include "net/http.h"

#define MAX_SUBSCRIBERS 64

static void usage(FILE *out) {
    fprintf(out,
            "usage: khappy broker --triggers DIR|FILE --data DIR [options]\n"
            "\n"
            "Runs the embedded CloudEvents broker: POST events to / or\n"
            "/<namespace>/<broker>; each matching Knative Trigger's\n"
            "subscriber gets them over HTTP, at least once, also across\n"
            "restarts (the queue is DIR/broker.db).\n"
            "\n"
            "options:\n"
            "  --port N               listen port (default 8081; 0: any free\n"
            "                         port, printed at start)\n"
            "  --bind ADDR            listen address (default 0.0.0.0)\n"
            "  --triggers PATH        a Trigger file, or a directory of them\n"
            "                         (*.yaml, *.yml; subfolders not read)\n"
            "  --data DIR             where the durable queue lives\n"
            "  --subscriber NAME=URL  the address of a ref'd service (repeat);\n"
            "                         also KHAPPY_SUBSCRIBERS=\"n=url,n=url\"\n"
            "  --name NAME            broker name (default \"default\"); only\n"
            "                         triggers with this spec.broker are used\n"
            "  --namespace NS         only triggers of this namespace\n"
            "  --workers N            delivery threads (default 4)\n"
            "  --http-threads N       ingress threads (default 4)\n"
            "  --max-body BYTES       largest accepted event (default 8 MiB)\n"
            "  --sync full|normal     fsync each commit (full, default) or\n"
            "                         survive process crashes only (normal)\n"
            "  --log info|warn|quiet  delivery log on stderr (default info)\n"
            "\n"
            "SIGINT/SIGTERM: stop taking events, finish deliveries in flight,\n"
            "exit 0. Undelivered events stay queued for the next start.\n");
}

typedef enum log_level { LOG_QUIET, LOG_WARN, LOG_INFO } log_level;

static log_level current_log = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_record(void *user, const kh_broker_record *r) {
    (void)user;
    bool problem = r->outcome != KH_BROKER_DELIVERED &&
                   r->outcome != KH_BROKER_REPLY_ACCEPTED;
    if (current_log == LOG_QUIET || (current_log == LOG_WARN && !problem))
        return;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "broker: %-14s event %s (%s) trigger %s",
            kh_broker_outcome_name(r->outcome), r->event_id, r->event_type,
            r->trigger);
    if (r->target[0])
        fprintf(stderr, " -> %s", r->target);
    if (r->attempt)
        fprintf(stderr, " attempt %d", r->attempt);
    if (r->status || r->outcome == KH_BROKER_RETRY)
        fprintf(stderr, " status %d", r->status);
    if (r->outcome == KH_BROKER_RETRY)
        fprintf(stderr, " next in %lld ms", (long long)r->retry_in_ms);
    if (r->detail[0])
        fprintf(stderr, ": %s", r->detail);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}

typedef struct subscriber_list {
    kh_broker_subscriber items[MAX_SUBSCRIBERS];
    char *owned[MAX_SUBSCRIBERS];
    size_t n;
} subscriber_list;

/* "name=url"; later definitions of a name replace earlier ones. */
static bool add_subscriber(subscriber_list *list, const char *spec) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        cli_error("--subscriber wants NAME=URL, got '%s'", spec);
        return false;
    }
    if (strncmp(eq + 1, "http://", 7) != 0 &&
        strncmp(eq + 1, "https://", 8) != 0) {
        cli_error("subscriber '%.*s': '%s' is not an http(s) URL",
                  (int)(eq - spec), spec, eq + 1);
        return false;
    }
    char *copy = strdup(spec);
    if (!copy) {
        cli_error("out of memory");
        return false;
    }
    copy[eq - spec] = '\0';
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->items[i].name, copy) == 0) {
            free(list->owned[i]);
            list->owned[i] = copy;
            list->items[i].name = copy;
            list->items[i].url = copy + (eq - spec) + 1;
            return true;
        }
    if (list->n == MAX_SUBSCRIBERS) {
        free(copy);
        cli_error("at most %d subscribers", MAX_SUBSCRIBERS);
        return false;
    }
    list->owned[list->n] = copy;
    list->items[list->n].name = copy;
    list->items[list->n].url = copy + (eq - spec) + 1;
    list->n++;
    return true;
}

static bool add_subscribers_from_env(subscriber_list *list) {
    const char *env = getenv("KHAPPY_SUBSCRIBERS");
    if (!env || !*env)
        return true;
    char *copy = strdup(env);
    if (!copy)
        return false;
    bool ok = true;
    char *save = NULL;
    for (char *item = strtok_r(copy, ", ", &save); item && ok;
         item = strtok_r(NULL, ", ", &save))
        ok = add_subscriber(list, item);
    free(copy);
    return ok;
}

int cmd_broker(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *triggers_path = NULL, *data_dir = NULL, *bind = "0.0.0.0";
    const char *name = NULL, *namespace_name = NULL;
    long port = 8081, workers = 4, http_threads = 4;
    long max_body = 8L << 20;
    kh_store_sync sync = KH_STORE_SYNC_FULL;
    subscriber_list subs = {0};
    int status = 2;
    kh_error err = {0};
    kh_trigger_set *triggers = NULL;
    kh_broker *broker = NULL;
    kh_http_server *server = NULL;
    kh_broker_stats stats = {0};
    if (!add_subscribers_from_env(&subs))
        goto out;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) {
            cli_error("broker: %s needs a value (see --help)", opt);
            goto out;
        }
        i++;
        if (strcmp(opt, "--port") == 0) {
            if (!cli_parse_long(value, 0, 65535, &port)) {
                cli_error("--port: '%s' is not a port number", value);
                goto out;
            }
        } else if (strcmp(opt, "--bind") == 0) {
            bind = value;
        } else if (strcmp(opt, "--triggers") == 0) {
            triggers_path = value;
        } else if (strcmp(opt, "--data") == 0) {
            data_dir = value;
        } else if (strcmp(opt, "--subscriber") == 0) {
            if (!add_subscriber(&subs, value))
                goto out;
        } else if (strcmp(opt, "--name") == 0) {
            name = value;
        } else if (strcmp(opt, "--namespace") == 0) {
            namespace_name = value;
        } else if (strcmp(opt, "--workers") == 0) {
            if (!cli_parse_long(value, 1, 256, &workers)) {
                cli_error("--workers: 1..256, got '%s'", value);
                goto out;
            }
        } else if (strcmp(opt, "--http-threads") == 0) {
            if (!cli_parse_long(value, 1, 256, &http_threads)) {
                cli_error("--http-threads: 1..256, got '%s'", value);
                goto out;
            }
        } else if (strcmp(opt, "--max-body") == 0) {
            if (!cli_parse_long(value, 1024, 1L << 30, &max_body)) {
                cli_error("--max-body: 1024..1073741824 bytes, got '%s'",
                          value);
                goto out;
            }
        } else if (strcmp(opt, "--sync") == 0) {
            if (strcmp(value, "full") == 0)
                sync = KH_STORE_SYNC_FULL;
            else if (strcmp(value, "normal") == 0)
                sync = KH_STORE_SYNC_NORMAL;
            else {
                cli_error("--sync: full or normal, got '%s'", value);
                goto out;
            }
        } else if (strcmp(opt, "--log") == 0) {
            if (strcmp(value, "info") == 0)
                current_log = LOG_INFO;
            else if (strcmp(value, "warn") == 0)
                current_log = LOG_WARN;
            else if (strcmp(value, "quiet") == 0)
                current_log = LOG_QUIET;
            else {
                cli_error("--log: info, warn or quiet, got '%s'", value);
                goto out;
            }
        } else {
            cli_error("broker: unknown option '%s' (see --help)", opt);
            goto out;
        }
    }
    if (!triggers_path || !data_dir) {
        cli_error("broker: --triggers and --data are required (see --help)");
        goto out;
    }
    status = 1;

    struct stat st;
    if (kh_trigger_set_create(&triggers, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto out;
    }
    int rc = stat(triggers_path, &st) == 0 && S_ISDIR(st.st_mode)
                 ? kh_trigger_set_load_dir(triggers, triggers_path, &err)
                 : kh_trigger_set_load_file(triggers, triggers_path, &err);
    if (rc != KH_OK) {
        cli_error("%s", err.message);
        goto stop;
    }
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        cli_error("%s: %s", data_dir, strerror(errno));
        goto stop;
    }
    char store_path[PATH_MAX];
    if (snprintf(store_path, sizeof store_path, "%s/broker.db", data_dir) >=
        (int)sizeof store_path) {
        cli_error("%s: path too long", data_dir);
        goto stop;
    }

    /* Signals go to sigwait below, not to whichever thread runs. */
    sigset_t stop_signals;
    cli_block_stop_signals(&stop_signals);

    kh_broker_options opts = {
        .store_path = store_path,
        .sync = sync,
        .name = name,
        .namespace_name = namespace_name,
        .triggers = triggers,
        .subscribers = subs.items,
        .n_subscribers = subs.n,
        .workers = (int)workers,
        .on_record = log_record,
    };
    if (kh_broker_start(&opts, &broker, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto stop;
    }
    kh_http_server_options server_opts = {
        .bind_addr = bind,
        .port = (int)port,
        .max_body_bytes = (size_t)max_body,
        .threads = (int)http_threads,
    };
    if (kh_http_server_start(&server_opts, kh_broker_http_handler, broker,
                             &server, &err) != KH_OK) {
        cli_error("%s", err.message);
        goto stop;
    }
    kh_broker_get_stats(broker, &stats);
    printf("khappy broker: listening on http://%s:%d (broker '%s', %zu "
           "triggers loaded, %llu deliveries recovered)\n",
           bind, kh_http_server_port(server), name ? name : "default",
           triggers->count, (unsigned long long)stats.recovered);
    fflush(stdout);

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    fprintf(stderr, "khappy broker: %s received, finishing deliveries in "
                    "flight\n",
            signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
stop:
    kh_http_server_stop(server); /* no new events; running handlers end */
    if (broker) {
        kh_broker_drain(broker);
        kh_broker_get_stats(broker, &stats);
        kh_broker_stop(broker);
        fprintf(stderr,
                "khappy broker: stopped: %llu accepted, %llu delivered, %llu "
                "retries, %llu dead-lettered, %llu dropped, %zu pending "
                "left for the next start\n",
                (unsigned long long)stats.accepted,
                (unsigned long long)stats.delivered,
                (unsigned long long)stats.retries,
                (unsigned long long)stats.dead_lettered,
                (unsigned long long)stats.dropped, stats.pending);
    }
    kh_trigger_set_destroy(triggers);
out:
    for (size_t i = 0; i < subs.n; i++)
        free(subs.owned[i]);
    return status;
}
