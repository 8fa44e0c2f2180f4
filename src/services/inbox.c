/* inbox.c - a watched folder: files dropped in are ingested once and moved
 * to done/ or failed/. Polling rather than inotify: it works the same on
 * network and container file systems, and a poll a second is nothing next
 * to detecting faces. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "services/services.h"

#define MAX_TRACKED 1024

/* A file seen at the last poll, with what it looked like then. */
typedef struct seen_file {
    char name[NAME_MAX + 1];
    off_t size;
    struct timespec mtime;
} seen_file;

struct kh_inbox {
    kh_inbox_options opts;
    char dir[PATH_MAX];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    seen_file seen[MAX_TRACKED];
    size_t n_seen;
};

static int make_dir(const char *path, kh_error *err) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return kh_error_set(err, KH_EIO, "inbox: cannot create %s: %s", path,
                            strerror(errno));
    return KH_OK;
}

static int read_file(int dir_fd, const char *name, size_t max, void **bytes,
                     size_t *len, kh_error *err) {
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kh_error_set(err, KH_EIO, "%s: %s", name, strerror(errno));
    struct stat st;
    int rc = KH_OK;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = kh_error_set(err, KH_EIO, "%s: not a regular file", name);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = kh_error_set(err, KH_ELIMIT, "%s: %lld bytes, more than %zu",
                          name, (long long)st.st_size, max);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        rc = kh_error_set(err, KH_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = kh_error_set(err, KH_EIO, "%s: read: %s", name,
                              n < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)n;
    }
    *bytes = buf;
    *len = size;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

static void take_file(kh_inbox *inbox, int dir_fd, const char *name) {
    const kh_inbox_options *o = &inbox->opts;
    kh_error err = {0};
    void *bytes = NULL;
    size_t len = 0;
    char id[KH_ID_MAX] = "";
    bool retry_later = false;
    int rc = read_file(dir_fd, name, o->max_bytes, &bytes, &len, &err);
    if (rc == KH_OK) {
        kh_ingest_content_id("inbox", bytes, len, name, id);
        kh_ingest_request req = {.bytes = bytes, .len = len, .name = name,
                                 .id = id, .source = "/khappy/inbox"};
        rc = kh_ingest_picture(o->ingest, &req, NULL, &err);
        if (rc == KH_EEXIST) /* taken before a crash, not moved yet */
            rc = KH_OK;
        /* Our failures (disk, database, broker backlog) leave the file for
         * the next poll; a file that is no picture goes to failed/. */
        retry_later = rc != KH_OK && rc != KH_EUNSUPPORTED && rc != KH_EINVAL;
    }
    free(bytes);
    if (retry_later)
        return;
    char target[NAME_MAX + 16];
    snprintf(target, sizeof target, "%s/%.*s", rc == KH_OK ? "done" : "failed",
             NAME_MAX, name);
    if (renameat(dir_fd, name, dir_fd, target) != 0 && rc == KH_OK)
        kh_error_set(&err, KH_EIO, "cannot move to %s: %s", target,
                     strerror(errno));
    if (o->on_file)
        o->on_file(o->report_user, name, rc == KH_OK, rc == KH_OK ? id : "",
                   rc == KH_OK ? "" : err.message);
}

/* One pass: files unchanged since the previous pass are taken; the others
 * are remembered for the next one (a file still being written changes). */
static void poll_once(kh_inbox *inbox) {
    DIR *d = opendir(inbox->dir);
    if (!d)
        return;
    int dir_fd = dirfd(d);
    seen_file now[MAX_TRACKED];
    size_t n_now = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n_now < MAX_TRACKED) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        seen_file *f = &now[n_now++];
        snprintf(f->name, sizeof f->name, "%s", e->d_name);
        f->size = st.st_size;
        f->mtime = st.st_mtim;
    }
    for (size_t i = 0; i < n_now; i++) {
        bool steady = false;
        for (size_t j = 0; j < inbox->n_seen; j++)
            if (strcmp(inbox->seen[j].name, now[i].name) == 0) {
                steady = inbox->seen[j].size == now[i].size &&
                         inbox->seen[j].mtime.tv_sec == now[i].mtime.tv_sec &&
                         inbox->seen[j].mtime.tv_nsec == now[i].mtime.tv_nsec;
                break;
            }
        pthread_mutex_lock(&inbox->lock);
        bool stopping = inbox->stopping;
        pthread_mutex_unlock(&inbox->lock);
        if (stopping)
            break;
        if (steady)
            take_file(inbox, dir_fd, now[i].name);
    }
    memcpy(inbox->seen, now, n_now * sizeof *now);
    inbox->n_seen = n_now;
    closedir(d);
}

static void *inbox_main(void *arg) {
    kh_inbox *inbox = arg;
    for (;;) {
        poll_once(inbox);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += inbox->opts.poll_ms / 1000;
        until.tv_nsec += (inbox->opts.poll_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&inbox->lock);
        while (!inbox->stopping &&
               pthread_cond_timedwait(&inbox->wake, &inbox->lock, &until) !=
                   ETIMEDOUT)
            ;
        bool stopping = inbox->stopping;
        pthread_mutex_unlock(&inbox->lock);
        if (stopping)
            return NULL;
    }
}

int kh_inbox_start(const kh_inbox_options *opts, kh_inbox **out,
                   kh_error *err) {
    if (!opts->dir || !opts->ingest)
        return kh_error_set(err, KH_EINVAL, "inbox: a folder and an ingest "
                            "are required");
    kh_inbox *inbox = calloc(1, sizeof *inbox);
    if (!inbox)
        return kh_error_set(err, KH_ENOMEM, "inbox: out of memory");
    inbox->opts = *opts;
    if (inbox->opts.poll_ms <= 0)
        inbox->opts.poll_ms = 1000;
    if (inbox->opts.max_bytes == 0)
        inbox->opts.max_bytes = KH_SERVICE_MAX_PICTURE_BYTES;
    if (snprintf(inbox->dir, sizeof inbox->dir, "%s", opts->dir) >=
        (int)sizeof inbox->dir) {
        free(inbox);
        return kh_error_set(err, KH_EINVAL, "inbox: path too long");
    }
    char sub[PATH_MAX + 8];
    int rc = make_dir(inbox->dir, err);
    snprintf(sub, sizeof sub, "%s/done", inbox->dir);
    if (rc == KH_OK)
        rc = make_dir(sub, err);
    snprintf(sub, sizeof sub, "%s/failed", inbox->dir);
    if (rc == KH_OK)
        rc = make_dir(sub, err);
    if (rc != KH_OK) {
        free(inbox);
        return rc;
    }
    pthread_mutex_init(&inbox->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&inbox->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&inbox->thread, NULL, inbox_main, inbox) != 0) {
        pthread_cond_destroy(&inbox->wake);
        pthread_mutex_destroy(&inbox->lock);
        free(inbox);
        return kh_error_set(err, KH_ENOMEM, "inbox: cannot start a thread");
    }
    *out = inbox;
    return KH_OK;
}

void kh_inbox_stop(kh_inbox *inbox) {
    if (!inbox)
        return;
    pthread_mutex_lock(&inbox->lock);
    inbox->stopping = true;
    pthread_cond_signal(&inbox->wake);
    pthread_mutex_unlock(&inbox->lock);
    pthread_join(inbox->thread, NULL);
    pthread_cond_destroy(&inbox->wake);
    pthread_mutex_destroy(&inbox->lock);
    free(inbox);
}
