/* Integration: every event `khappy broker` answered 202 for is delivered,
 * although the broker process is killed with SIGKILL while the subscriber
 * is down and started again.
 *
 *   broker_durability /path/to/khappy
 *
 * Steps: a subscriber (in this process, 127.0.0.1, free port) answers 503;
 * the broker (a child process) accepts N events and keeps retrying; SIGKILL;
 * the subscriber recovers; the broker restarts on the same data directory
 * and must deliver all N (at least once each); SIGTERM must then exit 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "events/ce_receiver.h"
#include "events/ce_sender.h"

#define N_EVENTS 50
#define DEADLINE_S 60

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool subscriber_up;
static int calls_while_down;
static int deliveries[N_EVENTS]; /* per event id, while up */

static int on_event(void *user, const kh_cloudevent *in, kh_cloudevent *reply,
                    kh_error *err) {
    (void)user;
    (void)reply;
    pthread_mutex_lock(&lock);
    bool up = subscriber_up;
    if (!up)
        calls_while_down++;
    int index = -1;
    if (up && sscanf(in->id, "event-%d", &index) == 1 && index >= 0 &&
        index < N_EVENTS)
        deliveries[index]++;
    pthread_mutex_unlock(&lock);
    if (!up) {
        kh_error_set(err, KH_EIO, "subscriber is down for maintenance");
        return 503;
    }
    return KH_OK;
}

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "broker_durability: FAIL: " __VA_ARGS__);              \
        fputc('\n', stderr);                                                   \
        exit(1);                                                               \
    } while (0)

typedef struct child {
    pid_t pid;
    int port;
    long recovered;
} child;

/* Starts `khappy broker`, reads its "listening on" line for the port. */
static child start_broker(const char *khappy, const char *dir,
                          const char *subscriber) {
    int out[2];
    if (pipe(out) != 0)
        FAIL("pipe: %s", strerror(errno));
    char triggers[512], data[512];
    snprintf(triggers, sizeof triggers, "%s/triggers", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    pid_t pid = fork();
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(khappy, khappy, "broker", "--port", "0", "--bind", "127.0.0.1",
              "--triggers", triggers, "--data", data, "--subscriber",
              subscriber, "--log", "quiet", (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", khappy, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[512] = "";
    if (!f || !fgets(line, sizeof line, f))
        FAIL("the broker printed nothing (exited?)");
    fclose(f);
    child c = {.pid = pid};
    const char *at = strstr(line, "127.0.0.1:");
    if (!at || sscanf(at, "127.0.0.1:%d", &c.port) != 1)
        FAIL("no port in \"%s\"", line);
    const char *rec = strstr(line, "triggers loaded, ");
    if (!rec || sscanf(rec, "triggers loaded, %ld", &c.recovered) != 1)
        FAIL("no recovery count in \"%s\"", line);
    return c;
}

static int wait_exit(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s /path/to/khappy\n", argv[0]);
        return 2;
    }
    const char *khappy = argv[1];
    char dir[] = "/tmp/kh-durability-XXXXXX";
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
    char path[600];
    snprintf(path, sizeof path, "%s/triggers", dir);
    if (mkdir(path, 0700) != 0)
        FAIL("mkdir %s", path);
    snprintf(path, sizeof path, "%s/triggers/all.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        FAIL("write %s", path);
    fputs("apiVersion: eventing.knative.dev/v1\n"
          "kind: Trigger\n"
          "metadata: {name: everything}\n"
          "spec:\n"
          "  broker: default\n"
          "  subscriber:\n"
          "    ref: {apiVersion: serving.knative.dev/v1, kind: Service, "
          "name: sink}\n"
          "  delivery: {retry: 1000, backoffPolicy: linear, backoffDelay: "
          "PT0.05S}\n",
          f);
    fclose(f);

    kh_ce_receiver *receiver = NULL;
    kh_ce_receiver_options ropts = {.bind_addr = "127.0.0.1", .port = 0};
    kh_error err = {0};
    if (kh_ce_receiver_start(&ropts, on_event, NULL, &receiver, &err) !=
        KH_OK)
        FAIL("subscriber: %s", err.message);
    char subscriber[128];
    snprintf(subscriber, sizeof subscriber, "sink=http://127.0.0.1:%d/",
             kh_ce_receiver_port(receiver));

    child broker = start_broker(khappy, dir, subscriber);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", broker.port);
    for (int i = 0; i < N_EVENTS; i++) {
        kh_cloudevent ev;
        kh_cloudevent_init(&ev);
        char id[32];
        snprintf(id, sizeof id, "event-%d", i);
        kh_cloudevent_set(&ev, "id", id, NULL);
        kh_cloudevent_set(&ev, "source", "/durability", NULL);
        kh_cloudevent_set(&ev, "specversion", "1.0", NULL);
        kh_cloudevent_set(&ev, "type", "dev.khappy.picture.stored", NULL);
        kh_cloudevent_set_data(&ev, "{}", 2, "application/json", NULL);
        int status = 0;
        if (kh_ce_send(url, &ev, KH_CE_MODE_BINARY, NULL, 0, 10000, &status,
                       NULL, &err) != KH_OK)
            FAIL("sending %s: %s", id, err.message);
        if (status != 202)
            FAIL("%s: expected 202, got %d", id, status);
        kh_cloudevent_free(&ev);
    }
    /* Let the subscriber refuse a few attempts, then kill the broker hard. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&lock);
        int down_calls = calls_while_down;
        pthread_mutex_unlock(&lock);
        if (down_calls >= N_EVENTS)
            break;
        usleep(20000);
    }
    kill(broker.pid, SIGKILL);
    int status = wait_exit(broker.pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        FAIL("the broker was not killed by SIGKILL (status %d)", status);
    printf("killed the broker after %d refused attempts\n", calls_while_down);

    pthread_mutex_lock(&lock);
    subscriber_up = true;
    pthread_mutex_unlock(&lock);
    broker = start_broker(khappy, dir, subscriber);
    if (broker.recovered != N_EVENTS)
        FAIL("expected %d deliveries recovered, the broker says %ld",
             N_EVENTS, broker.recovered);

    time_t deadline = time(NULL) + DEADLINE_S;
    int missing = N_EVENTS;
    while (time(NULL) < deadline) {
        missing = 0;
        pthread_mutex_lock(&lock);
        for (int i = 0; i < N_EVENTS; i++)
            missing += deliveries[i] == 0;
        pthread_mutex_unlock(&lock);
        if (missing == 0)
            break;
        usleep(20000);
    }
    if (missing)
        FAIL("%d of %d accepted events never delivered after the restart",
             missing, N_EVENTS);
    int duplicates = 0;
    for (int i = 0; i < N_EVENTS; i++)
        duplicates += deliveries[i] - 1;
    printf("all %d events delivered after the restart (%d duplicates)\n",
           N_EVENTS, duplicates);

    kill(broker.pid, SIGTERM);
    status = wait_exit(broker.pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("SIGTERM: expected exit 0, got status %d", status);
    kh_ce_receiver_stop(receiver);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        FAIL("cleaning %s", dir);
    printf("PASS\n");
    return 0;
}
