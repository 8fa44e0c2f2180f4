/* store.c - the store's domain operations, written once over the SQL port
 * (sql.h), plus the connection pool and the migrations at open. */
#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/random.h"
#include "common/utf8.h"
#include "storage/migrations.h"
#include "storage/sql.h"

/* ---- the store and its pool ------------------------------------------- */

typedef enum slot_state { SLOT_EMPTY, SLOT_IDLE, SLOT_BUSY } slot_state;

struct kh_store {
    const kh_sql_driver *driver;
    char *target;
    pthread_mutex_t lock;
    pthread_cond_t released;
    void *conns[KH_STORE_POOL_SIZE];
    slot_state state[KH_STORE_POOL_SIZE];
};

/* Hands out an idle connection, opens a new one while the pool has room,
 * else waits for one to come back. */
static int pool_acquire(kh_store *s, int *slot, kh_error *err) {
    pthread_mutex_lock(&s->lock);
    for (;;) {
        int empty = -1;
        for (int i = 0; i < KH_STORE_POOL_SIZE; i++) {
            if (s->state[i] == SLOT_IDLE) {
                s->state[i] = SLOT_BUSY;
                pthread_mutex_unlock(&s->lock);
                *slot = i;
                return KH_OK;
            }
            if (s->state[i] == SLOT_EMPTY && empty < 0)
                empty = i;
        }
        if (empty >= 0) {
            s->state[empty] = SLOT_BUSY; /* reserved while connecting */
            pthread_mutex_unlock(&s->lock);
            int rc = s->driver->connect(s->target, &s->conns[empty], err);
            if (rc != KH_OK) {
                pthread_mutex_lock(&s->lock);
                s->state[empty] = SLOT_EMPTY;
                pthread_cond_signal(&s->released);
                pthread_mutex_unlock(&s->lock);
                return rc;
            }
            *slot = empty;
            return KH_OK;
        }
        pthread_cond_wait(&s->released, &s->lock);
    }
}

static void pool_release(kh_store *s, int slot) {
    pthread_mutex_lock(&s->lock);
    s->state[slot] = SLOT_IDLE;
    pthread_cond_signal(&s->released);
    pthread_mutex_unlock(&s->lock);
}

/* A transaction on one pooled connection. */
typedef struct tx {
    kh_store *store;
    int slot;
    void *conn;
} tx;

static int tx_begin(kh_store *s, bool write, tx *t, kh_error *err) {
    int rc = pool_acquire(s, &t->slot, err);
    if (rc != KH_OK)
        return rc;
    t->store = s;
    t->conn = s->conns[t->slot];
    rc = s->driver->begin(t->conn, write, err);
    if (rc != KH_OK)
        pool_release(s, t->slot);
    return rc;
}

static int tx_commit(tx *t, kh_error *err) {
    int rc = t->store->driver->exec_script(t->conn, "COMMIT", err);
    if (rc != KH_OK)
        t->store->driver->exec_script(t->conn, "ROLLBACK", NULL);
    pool_release(t->store, t->slot);
    return rc;
}

static void tx_abort(tx *t) {
    t->store->driver->exec_script(t->conn, "ROLLBACK", NULL);
    pool_release(t->store, t->slot);
}

static int run(tx *t, const char *sql, const kh_sql_value *params, size_t n,
               kh_sql_result *res, kh_error *err) {
    return t->store->driver->query(t->conn, sql, params, n, res, err);
}

/* A statement that returns no rows; *changes: how many rows it touched. */
static int run_changes(tx *t, const char *sql, const kh_sql_value *params,
                       size_t n, int64_t *changes, kh_error *err) {
    kh_sql_result res;
    int rc = run(t, sql, params, n, &res, err);
    if (rc != KH_OK)
        return rc;
    *changes = res.changes;
    kh_sql_result_free(&res);
    return KH_OK;
}

/* values... as the (params, n) pair: an array compound literal. */
#define SQL_PARAMS(...)                                                        \
    (const kh_sql_value[]){__VA_ARGS__},                                       \
        sizeof((const kh_sql_value[]){__VA_ARGS__}) / sizeof(kh_sql_value)

/* RUN(t, res, err, sql, values...) and RUN_CHANGES(t, changes, err, sql,
 * values...): run and run_changes with the values listed. */
#define RUN(t, res, err, sql, ...)                                             \
    run((t), (sql), SQL_PARAMS(__VA_ARGS__), (res), (err))
#define RUN_CHANGES(t, changes, err, sql, ...)                                 \
    run_changes((t), (sql), SQL_PARAMS(__VA_ARGS__), (changes), (err))

/* ---- validation ----------------------------------------------------------- */

bool kh_store_id_valid(const char *id) {
    if (!id)
        return false;
    size_t n = strnlen(id, KH_ID_MAX);
    if (n == 0 || n >= KH_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* 1..max-1 bytes of printable ASCII. */
static bool printable_ascii(const char *s, size_t max) {
    if (!s)
        return false;
    size_t n = strnlen(s, max);
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static int check_id(const char *what, const char *id, kh_error *err) {
    if (kh_store_id_valid(id))
        return KH_OK;
    return kh_error_set(err, KH_EINVAL, "%s id '%.80s' is not valid (1..%d "
                        "characters of [A-Za-z0-9_-])", what,
                        id ? id : "(null)", KH_ID_MAX - 1);
}

/* The caller's id when it gave one (checked), else a fresh random one. */
static int given_or_new_id(const char *what, const char *given,
                           char id[KH_ID_MAX], kh_error *err) {
    if (!given || !*given)
        return kh_random_hex(id, 16, err);
    int rc = check_id(what, given, err);
    if (rc == KH_OK)
        snprintf(id, KH_ID_MAX, "%s", given);
    return rc;
}

static int check_event_id(const char *event_id, kh_error *err) {
    if (printable_ascii(event_id, KH_EVENT_ID_MAX))
        return KH_OK;
    return kh_error_set(err, KH_EINVAL, "event id is missing or not 1..%d "
                        "printable ASCII characters", KH_EVENT_ID_MAX - 1);
}

/* Copies in as valid UTF-8 without control characters (each bad byte
 * becomes '_'), cut at a character boundary to fit cap. */
static void sanitize_utf8(const char *in, char *out, size_t cap) {
    const unsigned char *s = (const unsigned char *)in;
    size_t left = strlen(in), w = 0;
    while (left) {
        size_t n = kh_utf8_decode(s, left, NULL);
        bool control = n == 1 && (s[0] < 0x20 || s[0] == 0x7f);
        if (n == 0 || control) {
            if (w + 1 >= cap)
                break;
            out[w++] = '_';
            n = 1;
        } else {
            if (w + n >= cap)
                break;
            memcpy(out + w, s, n);
            w += n;
        }
        s += n;
        left -= n;
    }
    out[w] = '\0';
}

/* Keeps the last path component of a client's file name, sanitised. */
static void sanitize_file_name(const char *in, char out[KH_FILE_NAME_MAX]) {
    out[0] = '\0';
    if (!in)
        return;
    const char *base = in;
    for (const char *p = in; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    sanitize_utf8(base, out, KH_FILE_NAME_MAX);
}

/* ---- reading rows --------------------------------------------------------- */

static int64_t cell_i64(const kh_sql_result *r, size_t row, size_t col,
                        int64_t fallback) {
    const char *c = kh_sql_cell(r, row, col);
    if (!c)
        return fallback;
    char *end;
    errno = 0;
    long long v = strtoll(c, &end, 10);
    return (errno || end == c) ? fallback : (int64_t)v;
}

static double cell_double(const kh_sql_result *r, size_t row, size_t col) {
    const char *c = kh_sql_cell(r, row, col);
    return c ? strtod(c, NULL) : 0.0;
}

static void cell_copy(const kh_sql_result *r, size_t row, size_t col,
                      char *dst, size_t cap) {
    const char *c = kh_sql_cell(r, row, col);
    snprintf(dst, cap, "%s", c ? c : "");
}

static const char *const status_names[] = {"pending", "done", "failed"};
_Static_assert(sizeof status_names / sizeof status_names[0] ==
                   KH_PICTURE_STATUS_COUNT,
               "one name per picture status");

const char *kh_picture_status_name(kh_picture_status s) {
    return (unsigned)s < KH_PICTURE_STATUS_COUNT ? status_names[s] : NULL;
}

static kh_picture_status status_from_name(const char *name) {
    for (int i = 0; i < KH_PICTURE_STATUS_COUNT; i++)
        if (name && strcmp(name, status_names[i]) == 0)
            return (kh_picture_status)i;
    return KH_PICTURE_FAILED; /* the CHECK constraint makes this unreachable */
}

#define PICTURE_COLUMNS                                                        \
    "p.id, p.name, p.content_type, p.blob_key, p.size_bytes, p.width, "        \
    "p.height, p.received_at, p.updated_at, p.status, p.error, "               \
    "p.expected_faces, "                                                       \
    "(SELECT count(*) FROM faces f WHERE f.picture_id = p.id), "               \
    "(SELECT count(*) FROM faces f WHERE f.picture_id = p.id AND EXISTS "      \
    "(SELECT 1 FROM emotion_scores s WHERE s.face_id = f.id "        \
    "AND s.picture_id = f.picture_id))"

static void read_picture(const kh_sql_result *r, size_t row,
                         kh_picture_record *p) {
    memset(p, 0, sizeof *p);
    cell_copy(r, row, 0, p->id, sizeof p->id);
    cell_copy(r, row, 1, p->name, sizeof p->name);
    cell_copy(r, row, 2, p->content_type, sizeof p->content_type);
    cell_copy(r, row, 3, p->blob_key, sizeof p->blob_key);
    p->size_bytes = cell_i64(r, row, 4, 0);
    p->width = (int)cell_i64(r, row, 5, 0);
    p->height = (int)cell_i64(r, row, 6, 0);
    p->received_at_ms = cell_i64(r, row, 7, 0);
    p->updated_at_ms = cell_i64(r, row, 8, 0);
    p->status = status_from_name(kh_sql_cell(r, row, 9));
    cell_copy(r, row, 10, p->error, sizeof p->error);
    p->expected_faces = (int)cell_i64(r, row, 11, -1);
    p->face_count = (int)cell_i64(r, row, 12, 0);
    p->scored_faces = (int)cell_i64(r, row, 13, 0);
}

#define FACE_COLUMNS                                                           \
    "f.id, f.picture_id, f.face_index, f.detector, f.score, f.box_x, "         \
    "f.box_y, f.box_w, f.box_h, f.crop_key, f.top_emotion, f.created_at"

static void read_face(const kh_sql_result *r, size_t row, kh_face_record *f) {
    memset(f, 0, sizeof *f);
    cell_copy(r, row, 0, f->id, sizeof f->id);
    cell_copy(r, row, 1, f->picture_id, sizeof f->picture_id);
    f->face_index = (int)cell_i64(r, row, 2, 0);
    cell_copy(r, row, 3, f->face.detector, sizeof f->face.detector);
    f->face.score = (float)cell_double(r, row, 4);
    f->face.box.x = (float)cell_double(r, row, 5);
    f->face.box.y = (float)cell_double(r, row, 6);
    f->face.box.w = (float)cell_double(r, row, 7);
    f->face.box.h = (float)cell_double(r, row, 8);
    cell_copy(r, row, 9, f->crop_key, sizeof f->crop_key);
    f->top_emotion = kh_emotion_from_name(kh_sql_cell(r, row, 10));
    f->created_at_ms = cell_i64(r, row, 11, 0);
    snprintf(f->mean.model, sizeof f->mean.model, "mean");
}

#define SCORE_SELECT(id, name) ", s." name
#define SCORE_COLUMNS                                                          \
    "s.face_id, s.model" KH_EMOTIONS(SCORE_SELECT) ", s.picture_id"
enum {
    SCORE_FIRST_CLASS_COLUMN = 2,
    SCORE_PICTURE_COLUMN = SCORE_FIRST_CLASS_COLUMN + KH_EMOTION_COUNT
};

static void read_scores(const kh_sql_result *r, size_t row,
                        kh_emotion_scores *s) {
    memset(s, 0, sizeof *s);
    cell_copy(r, row, 1, s->model, sizeof s->model);
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        const char *c = kh_sql_cell(r, row, SCORE_FIRST_CLASS_COLUMN + e);
        s->present[e] = c != NULL;
        s->p[e] = c ? (float)strtod(c, NULL) : 0.0f;
    }
}

/* The per-class mean over the models that have the class. */
static void mean_scores(const kh_emotion_scores *models, size_t n,
                        kh_emotion_scores *mean) {
    memset(mean, 0, sizeof *mean);
    snprintf(mean->model, sizeof mean->model, "mean");
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        double sum = 0;
        int count = 0;
        for (size_t m = 0; m < n; m++)
            if (models[m].present[e]) {
                sum += models[m].p[e];
                count++;
            }
        mean->present[e] = count > 0;
        mean->p[e] = count ? (float)(sum / count) : 0.0f;
    }
}

/* Attaches score rows (SCORE_COLUMNS) to the faces they belong to: same
 * face id and same picture (scores name their picture, and a face id claimed
 * for one picture never lends its scores to another). */
static void attach_scores(const kh_sql_result *r, kh_face_record *faces,
                          size_t n_faces) {
    for (size_t row = 0; row < r->n_rows; row++) {
        const char *face_id = kh_sql_cell(r, row, 0);
        const char *picture_id = kh_sql_cell(r, row, SCORE_PICTURE_COLUMN);
        for (size_t i = 0; face_id && picture_id && i < n_faces; i++) {
            kh_face_record *f = &faces[i];
            if (strcmp(f->id, face_id) != 0 ||
                strcmp(f->picture_id, picture_id) != 0 ||
                f->n_models >= KH_STORE_MODELS_MAX)
                continue;
            read_scores(r, row, &f->models[f->n_models++]);
            break;
        }
    }
    for (size_t i = 0; i < n_faces; i++)
        mean_scores(faces[i].models, faces[i].n_models, &faces[i].mean);
}

/* ---- cursors -------------------------------------------------------------- */

/* A cursor is the hex of "<time ms>.<id>" of the last row shown: opaque to
 * clients, exact for keyset paging (time, then id, both descending). */
static void cursor_encode(int64_t time_ms, const char *id,
                          char out[KH_CURSOR_MAX]) {
    char plain[KH_CURSOR_MAX / 2];
    snprintf(plain, sizeof plain, "%" PRId64 ".%s", time_ms, id);
    kh_hex_encode(plain, strlen(plain), out);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int cursor_decode(const char *cursor, int64_t *time_ms,
                         char id[KH_ID_MAX], kh_error *err) {
    char plain[KH_CURSOR_MAX / 2];
    size_t len = strnlen(cursor, KH_CURSOR_MAX);
    if (len == 0 || len >= KH_CURSOR_MAX || len % 2)
        goto bad;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(cursor[i]), lo = hex_value(cursor[i + 1]);
        if (hi < 0 || lo < 0)
            goto bad;
        plain[i / 2] = (char)(hi << 4 | lo);
    }
    plain[len / 2] = '\0';
    char *dot = strchr(plain, '.');
    if (!dot || dot == plain)
        goto bad;
    *dot = '\0';
    for (const char *p = plain; *p; p++)
        if (*p < '0' || *p > '9')
            goto bad;
    errno = 0;
    long long t = strtoll(plain, NULL, 10);
    if (errno || !kh_store_id_valid(dot + 1))
        goto bad;
    *time_ms = t;
    snprintf(id, KH_ID_MAX, "%s", dot + 1);
    return KH_OK;
bad:
    return kh_error_set(err, KH_EINVAL, "cursor '%.40s' is not one this store "
                        "handed out", cursor);
}

static int check_limit(size_t limit, kh_error *err) {
    if (limit >= 1 && limit <= KH_STORE_PAGE_MAX)
        return KH_OK;
    return kh_error_set(err, KH_EINVAL, "page limit %zu out of range 1..%d",
                        limit, KH_STORE_PAGE_MAX);
}

/* ---- open, migrate, close --------------------------------------------- */

static int migrate(kh_store *s, kh_error *err) {
    const kh_sql_driver *d = s->driver;
    tx t;
    int rc = tx_begin(s, true, &t, err);
    if (rc != KH_OK)
        return rc;
    if (d->migration_lock_sql &&
        (rc = run(&t, d->migration_lock_sql, NULL, 0, NULL, err)) != KH_OK)
        goto fail;
    rc = d->exec_script(t.conn,
                        "CREATE TABLE IF NOT EXISTS schema_version (\n"
                        "  version INTEGER PRIMARY KEY,\n"
                        "  applied_at BIGINT NOT NULL\n"
                        ")",
                        err);
    if (rc != KH_OK)
        goto fail;
    if ((rc = tx_commit(&t, err)) != KH_OK)
        return rc;

    for (int version = 1; version <= kh__migration_count; version++) {
        if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
            return rc;
        /* Under the lock, so of two processes the second sees the first's
         * work and skips. */
        if (d->migration_lock_sql &&
            (rc = run(&t, d->migration_lock_sql, NULL, 0, NULL, err)) != KH_OK)
            goto fail;
        kh_sql_result res;
        rc = run(&t, "SELECT max(version) FROM schema_version", NULL, 0,
                 &res, err);
        if (rc != KH_OK)
            goto fail;
        int64_t current = cell_i64(&res, 0, 0, 0);
        kh_sql_result_free(&res);
        if (current > kh__migration_count) {
            rc = kh_error_set(err, KH_EUNSUPPORTED, "database schema version "
                              "%" PRId64 " is newer than this khappy knows "
                              "(%d)", current, kh__migration_count);
            goto fail;
        }
        if (current >= version) {
            tx_abort(&t);
            continue;
        }
        rc = d->exec_script(t.conn, kh__migrations[version - 1], err);
        if (rc == KH_OK)
            rc = RUN(&t, NULL, err, "INSERT INTO schema_version (version, "
                     "applied_at) VALUES (?, ?)",
                     SQL_INT(version), SQL_INT(kh_clock_wall_ms()));
        if (rc != KH_OK) {
            kh_error_prefix(err, "migration %d", version);
            goto fail;
        }
        if ((rc = tx_commit(&t, err)) != KH_OK)
            return kh_error_prefix(err, "migration %d", version);
    }
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}

int kh_store_open(const char *url, kh_store **out, kh_error *err) {
    *out = NULL;
    if (!url || !*url)
        return kh_error_set(err, KH_EINVAL, "store: empty database URL");
    const kh_sql_driver *driver = &kh_sql_sqlite_driver;
    const char *target = url;
    if (strncmp(url, "postgres://", 11) == 0 ||
        strncmp(url, "postgresql://", 13) == 0) {
        driver = &kh_sql_postgres_driver;
    } else if (strncmp(url, "sqlite://", 9) == 0) {
        target = url + 9; /* "sqlite:///abs" -> "/abs" */
    } else if (strstr(url, "://")) {
        return kh_error_set(err, KH_EUNSUPPORTED, "store: '%.40s': unknown "
                            "scheme (sqlite://, postgres://)", url);
    }
    if (!*target)
        return kh_error_set(err, KH_EINVAL, "store: '%s': no file name", url);

    kh_store *s = calloc(1, sizeof *s);
    if (!s || !(s->target = strdup(target))) {
        free(s);
        return kh_error_set(err, KH_ENOMEM, "store: out of memory");
    }
    s->driver = driver;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->released, NULL);
    int rc = migrate(s, err);
    if (rc != KH_OK) {
        kh_error_prefix(err, "store (%s)", driver->name);
        kh_store_close(s);
        return rc;
    }
    *out = s;
    return KH_OK;
}

void kh_store_close(kh_store *s) {
    if (!s)
        return;
    for (int i = 0; i < KH_STORE_POOL_SIZE; i++)
        if (s->state[i] != SLOT_EMPTY)
            s->driver->disconnect(s->conns[i]);
    pthread_cond_destroy(&s->released);
    pthread_mutex_destroy(&s->lock);
    free(s->target);
    free(s);
}

const char *kh_store_backend(const kh_store *s) {
    return s->driver->name;
}

int kh_store_schema_latest(void) {
    return kh__migration_count;
}

int kh_store_schema_version(kh_store *s, int *version, kh_error *err) {
    tx t;
    int rc = tx_begin(s, false, &t, err);
    if (rc != KH_OK)
        return rc;
    kh_sql_result res;
    rc = run(&t, "SELECT max(version) FROM schema_version", NULL, 0, &res, err);
    if (rc != KH_OK) {
        tx_abort(&t);
        return rc;
    }
    *version = (int)cell_i64(&res, 0, 0, 0);
    kh_sql_result_free(&res);
    return tx_commit(&t, err);
}

/* ---- writing ---------------------------------------------------------------- */

int kh_store_picture_create(kh_store *s, const kh_picture_new *pic,
                            char id_out[KH_ID_MAX], kh_error *err) {
    char id[KH_ID_MAX];
    int rc = given_or_new_id("picture", pic->id, id, err);
    if (rc != KH_OK)
        return rc;
    if (pic->content_type && *pic->content_type &&
        !printable_ascii(pic->content_type, KH_CONTENT_TYPE_MAX))
        return kh_error_set(err, KH_EINVAL, "picture %s: content type is not "
                            "1..%d printable ASCII characters", id,
                            KH_CONTENT_TYPE_MAX - 1);
    if (pic->blob_key && *pic->blob_key && !kh_blob_key_valid(pic->blob_key))
        return kh_error_set(err, KH_EINVAL, "picture %s: blob key '%.80s' is "
                            "not valid", id, pic->blob_key);
    if (pic->size_bytes < 0 || pic->width < 0 || pic->height < 0 ||
        pic->received_at_ms < 0)
        return kh_error_set(err, KH_EINVAL, "picture %s: negative size, "
                            "width, height or time", id);
    char name[KH_FILE_NAME_MAX];
    sanitize_file_name(pic->name, name);
    int64_t now = kh_clock_wall_ms();
    int64_t received = pic->received_at_ms ? pic->received_at_ms : now;

    tx t;
    if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
        return rc;
    int64_t changes;
    rc = RUN_CHANGES(&t, &changes, err,
             "INSERT INTO pictures (id, name, content_type, blob_key, "
             "size_bytes, width, height, received_at, updated_at, status) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') "
             "ON CONFLICT DO NOTHING",
             SQL_TEXT(id), SQL_TEXT(name),
             SQL_TEXT(pic->content_type ? pic->content_type : ""),
             SQL_TEXT_OR_NULL(pic->blob_key), SQL_INT(pic->size_bytes),
             pic->width ? SQL_INT(pic->width) : SQL_NULLV,
             pic->height ? SQL_INT(pic->height) : SQL_NULLV, SQL_INT(received),
             SQL_INT(now));
    if (rc != KH_OK) {
        tx_abort(&t);
        return rc;
    }
    if (changes == 0) {
        tx_abort(&t);
        return kh_error_set(err, KH_EEXIST, "picture %s already exists", id);
    }
    if ((rc = tx_commit(&t, err)) != KH_OK)
        return rc;
    if (id_out)
        memcpy(id_out, id, KH_ID_MAX);
    return KH_OK;
}

/* Takes the picture's row lock (PostgreSQL; SQLite's write transaction
 * already excludes other writers) so that two transactions adding the last
 * two faces' scores see each other's rows and one of them completes the
 * picture. Changes no value. KH_ENOTFOUND when the picture is unknown. */
static int lock_picture(tx *t, const char *picture_id, kh_error *err) {
    int64_t changes;
    int rc = RUN_CHANGES(t, &changes, err,
                         "UPDATE pictures SET status = status WHERE id = ?",
                         SQL_TEXT(picture_id));
    if (rc != KH_OK)
        return rc;
    if (changes == 0)
        return kh_error_set(err, KH_ENOTFOUND, "picture %s not found",
                            picture_id);
    return KH_OK;
}

/* pending -> done once the scored faces reach the detector's count. */
static int complete_if_finished(tx *t, const char *picture_id, kh_error *err) {
    return RUN(t, NULL, err,
               "UPDATE pictures SET status = 'done', updated_at = ? "
               "WHERE id = ? AND status = 'pending' "
               "AND expected_faces IS NOT NULL AND expected_faces <= "
               "(SELECT count(*) FROM faces f WHERE f.picture_id = ? AND "
               "EXISTS (SELECT 1 FROM emotion_scores s WHERE s.face_id = f.id AND "
               "s.picture_id = f.picture_id))",
               SQL_INT(kh_clock_wall_ms()), SQL_TEXT(picture_id),
               SQL_TEXT(picture_id));
}

/* faces.top_emotion from the mean of the face's stored scores. */
static int update_top_emotion(tx *t, const char *picture_id,
                              const char *face_id, kh_error *err) {
    kh_sql_result res;
    int rc = RUN(t, &res, err,
                 "SELECT " SCORE_COLUMNS " FROM emotion_scores s "
                 "WHERE s.face_id = ? AND s.picture_id = ? ORDER BY s.model",
                 SQL_TEXT(face_id), SQL_TEXT(picture_id));
    if (rc != KH_OK)
        return rc;
    kh_emotion_scores models[KH_STORE_MODELS_MAX];
    size_t n = 0;
    for (size_t row = 0; row < res.n_rows && n < KH_STORE_MODELS_MAX; row++)
        read_scores(&res, row, &models[n++]);
    kh_sql_result_free(&res);
    kh_emotion_scores mean;
    mean_scores(models, n, &mean);
    kh_emotion top = kh_emotion_top(&mean);
    return RUN(t, NULL, err, "UPDATE faces SET top_emotion = ? WHERE id = ?",
               top == KH_EMOTION_COUNT ? SQL_NULLV
                                       : SQL_TEXT(kh_emotion_name(top)),
               SQL_TEXT(face_id));
}

int kh_store_picture_detected(kh_store *s, const char *picture_id,
                              int face_count, int width, int height,
                              kh_error *err) {
    int rc = check_id("picture", picture_id, err);
    if (rc != KH_OK)
        return rc;
    if (face_count < 0 || width < 0 || height < 0)
        return kh_error_set(err, KH_EINVAL, "picture %s: negative face count "
                            "(%d) or size (%dx%d)", picture_id, face_count,
                            width, height);
    tx t;
    if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
        return rc;
    if ((rc = lock_picture(&t, picture_id, err)) != KH_OK)
        goto fail;
    rc = RUN(&t, NULL, err,
             "UPDATE pictures SET expected_faces = ?, updated_at = ? "
             "WHERE id = ? AND expected_faces IS NULL",
             SQL_INT(face_count), SQL_INT(kh_clock_wall_ms()), SQL_TEXT(picture_id));
    if (rc == KH_OK && width > 0 && height > 0)
        rc = RUN(&t, NULL, err,
                 "UPDATE pictures SET width = ?, height = ? "
                 "WHERE id = ? AND width IS NULL",
                 SQL_INT(width), SQL_INT(height), SQL_TEXT(picture_id));
    if (rc == KH_OK)
        rc = complete_if_finished(&t, picture_id, err);
    if (rc != KH_OK)
        goto fail;
    return tx_commit(&t, err);
fail:
    tx_abort(&t);
    return rc;
}

int kh_store_picture_fail(kh_store *s, const char *picture_id,
                          const char *message, kh_error *err) {
    int rc = check_id("picture", picture_id, err);
    if (rc != KH_OK)
        return rc;
    char text[KH_STORE_MESSAGE_MAX];
    /* Messages come from decoders and may quote hostile bytes. */
    sanitize_utf8(message && *message ? message : "failed", text, sizeof text);
    tx t;
    if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
        return rc;
    if ((rc = lock_picture(&t, picture_id, err)) != KH_OK)
        goto fail;
    rc = RUN(&t, NULL, err,
             "UPDATE pictures SET status = 'failed', error = ?, updated_at = ? "
             "WHERE id = ? AND status = 'pending'",
             SQL_TEXT(text), SQL_INT(kh_clock_wall_ms()), SQL_TEXT(picture_id));
    if (rc != KH_OK)
        goto fail;
    return tx_commit(&t, err);
fail:
    tx_abort(&t);
    return rc;
}

static bool box_ok(const kh_box *b) {
    return isfinite(b->x) && isfinite(b->y) && isfinite(b->w) &&
           isfinite(b->h) && b->w >= 0 && b->h >= 0;
}

int kh_store_face_add(kh_store *s, const kh_face_new *face,
                      char id_out[KH_ID_MAX], bool *inserted, kh_error *err) {
    if (inserted)
        *inserted = false;
    int rc = check_id("picture", face->picture_id, err);
    if (rc != KH_OK || (rc = check_event_id(face->event_id, err)) != KH_OK)
        return rc;
    char id[KH_ID_MAX];
    if ((rc = given_or_new_id("face", face->id, id, err)) != KH_OK)
        return rc;
    if (face->face_index < 0 || face->face_index > 1000000)
        return kh_error_set(err, KH_EINVAL, "face of picture %s: index %d out "
                            "of range 0..1000000", face->picture_id,
                            face->face_index);
    if (!box_ok(&face->face.box) || !isfinite(face->face.score))
        return kh_error_set(err, KH_EINVAL, "face of picture %s: box or score "
                            "not finite, or negative size", face->picture_id);
    if (!printable_ascii(face->face.detector, KH_NAME_MAX))
        return kh_error_set(err, KH_EINVAL, "face of picture %s: detector name "
                            "is not 1..%d printable ASCII characters",
                            face->picture_id, KH_NAME_MAX - 1);
    if (face->crop_key && *face->crop_key && !kh_blob_key_valid(face->crop_key))
        return kh_error_set(err, KH_EINVAL, "face of picture %s: crop key "
                            "'%.80s' is not valid", face->picture_id,
                            face->crop_key);
    tx t;
    if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
        return rc;
    if ((rc = lock_picture(&t, face->picture_id, err)) != KH_OK)
        goto fail;
    const kh_box *b = &face->face.box;
    int64_t changes;
    rc = RUN_CHANGES(&t, &changes, err,
             "INSERT INTO faces (id, picture_id, face_index, detector, score, "
             "box_x, box_y, box_w, box_h, crop_key, created_at, event_id) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
             "ON CONFLICT DO NOTHING",
             SQL_TEXT(id), SQL_TEXT(face->picture_id),
             SQL_INT(face->face_index), SQL_TEXT(face->face.detector),
             SQL_REAL(face->face.score), SQL_REAL(b->x), SQL_REAL(b->y),
             SQL_REAL(b->w), SQL_REAL(b->h), SQL_TEXT_OR_NULL(face->crop_key),
             SQL_INT(kh_clock_wall_ms()), SQL_TEXT(face->event_id));
    if (rc != KH_OK)
        goto fail;
    if (changes == 0) {
        /* A repeat: the same event, or the same face of the picture. */
        kh_sql_result res;
        rc = RUN(&t, &res, err,
                 "SELECT id FROM faces WHERE event_id = ? "
                 "OR (picture_id = ? AND face_index = ?)",
                 SQL_TEXT(face->event_id), SQL_TEXT(face->picture_id),
                 SQL_INT(face->face_index));
        if (rc != KH_OK)
            goto fail;
        if (res.n_rows == 0) {
            kh_sql_result_free(&res);
            rc = kh_error_set(err, KH_EEXIST, "face id %s is taken by another "
                              "picture's face", id);
            goto fail;
        }
        cell_copy(&res, 0, 0, id, sizeof id);
        kh_sql_result_free(&res);
        tx_abort(&t); /* nothing was written */
    } else {
        /* Scores may have come first. */
        if ((rc = update_top_emotion(&t, face->picture_id, id, err)) != KH_OK ||
            (rc = complete_if_finished(&t, face->picture_id, err)) != KH_OK)
            goto fail;
        if ((rc = tx_commit(&t, err)) != KH_OK)
            return rc;
        if (inserted)
            *inserted = true;
    }
    if (id_out)
        memcpy(id_out, id, KH_ID_MAX);
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}

#define SCORE_INSERT_COLUMN(id, name) ", " name
#define SCORE_INSERT_VALUE(id, name) ", ?"

int kh_store_emotions_add(kh_store *s, const kh_emotions_new *em,
                          bool *inserted, kh_error *err) {
    if (inserted)
        *inserted = false;
    int rc = check_id("picture", em->picture_id, err);
    if (rc != KH_OK || (rc = check_id("face", em->face_id, err)) != KH_OK ||
        (rc = check_event_id(em->event_id, err)) != KH_OK)
        return rc;
    const kh_emotion_scores *sc = em->scores;
    if (!sc || !printable_ascii(sc->model, KH_NAME_MAX))
        return kh_error_set(err, KH_EINVAL, "scores of face %s: model name is "
                            "not 1..%d printable ASCII characters",
                            em->face_id, KH_NAME_MAX - 1);
    for (int e = 0; e < KH_EMOTION_COUNT; e++)
        if (sc->present[e] && !isfinite(sc->p[e]))
            return kh_error_set(err, KH_EINVAL, "scores of face %s (%s): %s is "
                                "not finite", em->face_id, sc->model,
                                kh_emotion_name((kh_emotion)e));
    tx t;
    if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
        return rc;
    if ((rc = lock_picture(&t, em->picture_id, err)) != KH_OK)
        goto fail;
    kh_sql_result res;
    rc = RUN(&t, &res, err,
             "SELECT picture_id FROM faces WHERE id = ?", SQL_TEXT(em->face_id));
    if (rc != KH_OK)
        goto fail;
    bool other_picture = res.n_rows > 0 &&
                         strcmp(kh_sql_cell(&res, 0, 0), em->picture_id) != 0;
    kh_sql_result_free(&res);
    if (other_picture) {
        rc = kh_error_set(err, KH_EINVAL, "face %s does not belong to picture "
                          "%s", em->face_id, em->picture_id);
        goto fail;
    }
    rc = RUN(&t, &res, err,
             "SELECT count(*), sum(CASE WHEN model = ? THEN 1 ELSE 0 END) "
             "FROM emotion_scores WHERE face_id = ? AND picture_id = ?",
             SQL_TEXT(sc->model), SQL_TEXT(em->face_id), SQL_TEXT(em->picture_id));
    if (rc != KH_OK)
        goto fail;
    int64_t models = cell_i64(&res, 0, 0, 0);
    int64_t same_model = cell_i64(&res, 0, 1, 0);
    kh_sql_result_free(&res);
    if (models >= KH_STORE_MODELS_MAX && same_model == 0) {
        rc = kh_error_set(err, KH_ELIMIT, "face %s already has scores of %d "
                          "models, the most kept", em->face_id,
                          KH_STORE_MODELS_MAX);
        goto fail;
    }
    kh_sql_value params[3 + KH_EMOTION_COUNT + 2];
    size_t n = 0;
    params[n++] = SQL_TEXT(em->face_id);
    params[n++] = SQL_TEXT(em->picture_id);
    params[n++] = SQL_TEXT(sc->model);
    for (int e = 0; e < KH_EMOTION_COUNT; e++)
        params[n++] = sc->present[e] ? SQL_REAL(sc->p[e]) : SQL_NULLV;
    params[n++] = SQL_INT(kh_clock_wall_ms());
    params[n++] = SQL_TEXT(em->event_id);
    int64_t changes;
    rc = run_changes(&t,
             "INSERT INTO emotion_scores (face_id, picture_id, model"
             KH_EMOTIONS(SCORE_INSERT_COLUMN) ", created_at, event_id) "
             "VALUES (?, ?, ?" KH_EMOTIONS(SCORE_INSERT_VALUE) ", ?, ?) "
             "ON CONFLICT DO NOTHING",
             params, n, &changes, err);
    if (rc != KH_OK)
        goto fail;
    if (changes == 0) {
        tx_abort(&t); /* a repeat: nothing was written */
        return KH_OK;
    }
    if ((rc = update_top_emotion(&t, em->picture_id, em->face_id, err)) != KH_OK ||
        (rc = complete_if_finished(&t, em->picture_id, err)) != KH_OK)
        goto fail;
    if ((rc = tx_commit(&t, err)) != KH_OK)
        return rc;
    if (inserted)
        *inserted = true;
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}

int kh_store_picture_delete(kh_store *s, kh_blob_store *blobs,
                            const char *picture_id, kh_error *err) {
    int rc = check_id("picture", picture_id, err);
    if (rc != KH_OK)
        return rc;
    tx t;
    if ((rc = tx_begin(s, true, &t, err)) != KH_OK)
        return rc;
    kh_sql_result keys;
    rc = RUN(&t, &keys, err,
             "SELECT blob_key FROM pictures WHERE id = ? AND blob_key IS NOT "
             "NULL UNION ALL SELECT crop_key FROM faces WHERE picture_id = ? "
             "AND crop_key IS NOT NULL",
             SQL_TEXT(picture_id), SQL_TEXT(picture_id));
    if (rc != KH_OK)
        goto fail;
    int64_t changes;
    rc = RUN(&t, NULL, err, "DELETE FROM emotion_scores WHERE picture_id = ?",
             SQL_TEXT(picture_id));
    if (rc == KH_OK)
        rc = RUN(&t, NULL, err, "DELETE FROM faces WHERE picture_id = ?",
                 SQL_TEXT(picture_id));
    if (rc == KH_OK)
        rc = RUN_CHANGES(&t, &changes, err, "DELETE FROM pictures WHERE id = ?",
                         SQL_TEXT(picture_id));
    if (rc != KH_OK) {
        kh_sql_result_free(&keys);
        goto fail;
    }
    if (changes == 0) {
        kh_sql_result_free(&keys);
        rc = kh_error_set(err, KH_ENOTFOUND, "picture %s not found",
                          picture_id);
        goto fail;
    }
    if ((rc = tx_commit(&t, err)) != KH_OK) {
        kh_sql_result_free(&keys);
        return rc;
    }
    for (size_t row = 0; blobs && row < keys.n_rows; row++) {
        const char *key = kh_sql_cell(&keys, row, 0);
        kh_error blob_err;
        if (key && *key &&
            kh_blob_delete(blobs, key, &blob_err) != KH_OK && rc == KH_OK)
            rc = kh_error_set(err, KH_EIO, "picture %s deleted, but: %s",
                              picture_id, blob_err.message);
    }
    kh_sql_result_free(&keys);
    return rc;
fail:
    tx_abort(&t);
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

/* Scores of the given faces, attached. */
static int load_scores(tx *t, kh_face_record *faces, size_t n,
                       kh_error *err) {
    if (n == 0)
        return KH_OK;
    /* "... IN (?, ?, ...)": one placeholder per face, values as parameters. */
    char sql[256 + 3 * KH_STORE_PAGE_MAX];
    kh_sql_value params[KH_STORE_PAGE_MAX];
    if (n > KH_STORE_PAGE_MAX)
        return kh_error_set(err, KH_EINTERNAL, "scores of %zu faces", n);
    int w = snprintf(sql, sizeof sql, "SELECT " SCORE_COLUMNS
                     " FROM emotion_scores s WHERE s.face_id IN (");
    for (size_t i = 0; i < n; i++) {
        w += snprintf(sql + w, sizeof sql - (size_t)w, i ? ",?" : "?");
        params[i] = SQL_TEXT(faces[i].id);
    }
    snprintf(sql + w, sizeof sql - (size_t)w, ") ORDER BY s.face_id, s.model");
    kh_sql_result res;
    int rc = run(t, sql, params, n, &res, err);
    if (rc != KH_OK)
        return rc;
    attach_scores(&res, faces, n);
    kh_sql_result_free(&res);
    return KH_OK;
}

/* The first count rows of res (FACE_COLUMNS; res is freed here) into a
 * malloc'd array, each face with its scores. *faces is NULL when count is 0
 * or on failure. */
static int read_faces(tx *t, kh_sql_result *res, size_t count,
                      kh_face_record **faces, kh_error *err) {
    *faces = NULL;
    if (count == 0) {
        kh_sql_result_free(res);
        return KH_OK;
    }
    kh_face_record *list = calloc(count, sizeof *list);
    if (!list) {
        kh_sql_result_free(res);
        return kh_error_set(err, KH_ENOMEM, "store: %zu faces", count);
    }
    for (size_t i = 0; i < count; i++)
        read_face(res, i, &list[i]);
    kh_sql_result_free(res);
    int rc = load_scores(t, list, count, err);
    if (rc != KH_OK) {
        free(list);
        return rc;
    }
    *faces = list;
    return KH_OK;
}

/* The rows sql (one '?': the id) finds for the `what` ("picture", "face")
 * called id, into *res (the caller frees it); KH_ENOTFOUND when none. */
static int select_by_id(tx *t, const char *sql, const char *what,
                        const char *id, kh_sql_result *res, kh_error *err) {
    int rc = RUN(t, res, err, sql, SQL_TEXT(id));
    if (rc != KH_OK)
        return rc;
    if (res->n_rows == 0) {
        kh_sql_result_free(res);
        return kh_error_set(err, KH_ENOTFOUND, "%s %s not found", what, id);
    }
    return KH_OK;
}

int kh_store_picture_get(kh_store *s, const char *picture_id,
                         kh_picture_record *picture, kh_face_record **faces,
                         size_t *n_faces, kh_error *err) {
    if (faces)
        *faces = NULL;
    if (n_faces)
        *n_faces = 0;
    int rc = check_id("picture", picture_id, err);
    if (rc != KH_OK)
        return rc;
    tx t;
    if ((rc = tx_begin(s, false, &t, err)) != KH_OK)
        return rc;
    kh_sql_result res;
    rc = select_by_id(&t, "SELECT " PICTURE_COLUMNS " FROM pictures p "
                      "WHERE p.id = ?", "picture", picture_id, &res, err);
    if (rc != KH_OK)
        goto fail;
    read_picture(&res, 0, picture);
    kh_sql_result_free(&res);
    if (faces) {
        rc = RUN(&t, &res, err,
                 "SELECT " FACE_COLUMNS " FROM faces f WHERE f.picture_id = ? "
                 "ORDER BY f.face_index",
                 SQL_TEXT(picture_id));
        if (rc != KH_OK)
            goto fail;
        size_t n = res.n_rows;
        if ((rc = read_faces(&t, &res, n, faces, err)) != KH_OK)
            goto fail;
        if (n_faces)
            *n_faces = n;
    }
    tx_abort(&t); /* read only: nothing to commit */
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}

int kh_store_face_get(kh_store *s, const char *face_id, kh_face_record *face,
                      kh_error *err) {
    int rc = check_id("face", face_id, err);
    if (rc != KH_OK)
        return rc;
    tx t;
    if ((rc = tx_begin(s, false, &t, err)) != KH_OK)
        return rc;
    kh_sql_result res;
    rc = select_by_id(&t, "SELECT " FACE_COLUMNS " FROM faces f WHERE f.id = ?",
                      "face", face_id, &res, err);
    if (rc != KH_OK)
        goto fail;
    read_face(&res, 0, face);
    kh_sql_result_free(&res);
    if ((rc = load_scores(&t, face, 1, err)) != KH_OK)
        goto fail;
    tx_abort(&t);
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}

int kh_store_pictures_list(kh_store *s, size_t limit, const char *cursor,
                           kh_picture_record **pictures, size_t *n,
                           char next_cursor[KH_CURSOR_MAX], kh_error *err) {
    *pictures = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    int rc = check_limit(limit, err);
    if (rc != KH_OK)
        return rc;
    int64_t after_time = 0;
    char after_id[KH_ID_MAX] = "";
    bool paged = cursor && *cursor;
    if (paged && (rc = cursor_decode(cursor, &after_time, after_id, err)))
        return rc;
    tx t;
    if ((rc = tx_begin(s, false, &t, err)) != KH_OK)
        return rc;
    kh_sql_result res;
    /* One row more than asked tells whether there is a next page. */
    if (paged)
        rc = RUN(&t, &res, err,
                 "SELECT " PICTURE_COLUMNS " FROM pictures p "
                 "WHERE p.received_at < ? OR (p.received_at = ? AND p.id < ?) "
                 "ORDER BY p.received_at DESC, p.id DESC LIMIT ?",
                 SQL_INT(after_time), SQL_INT(after_time), SQL_TEXT(after_id),
                 SQL_INT((int64_t)limit + 1));
    else
        rc = RUN(&t, &res, err,
                 "SELECT " PICTURE_COLUMNS " FROM pictures p "
                 "ORDER BY p.received_at DESC, p.id DESC LIMIT ?",
                 SQL_INT((int64_t)limit + 1));
    tx_abort(&t);
    if (rc != KH_OK)
        return rc;
    size_t count = res.n_rows < limit ? res.n_rows : limit;
    if (count) {
        *pictures = calloc(count, sizeof **pictures);
        if (!*pictures) {
            kh_sql_result_free(&res);
            return kh_error_set(err, KH_ENOMEM, "store: %zu pictures", count);
        }
    }
    for (size_t i = 0; i < count; i++)
        read_picture(&res, i, &(*pictures)[i]);
    if (res.n_rows > limit)
        cursor_encode((*pictures)[count - 1].received_at_ms,
                      (*pictures)[count - 1].id, next_cursor);
    kh_sql_result_free(&res);
    *n = count;
    return KH_OK;
}

int kh_store_faces_list(kh_store *s, kh_emotion emotion, size_t limit,
                        const char *cursor, kh_face_record **faces, size_t *n,
                        char next_cursor[KH_CURSOR_MAX], kh_error *err) {
    *faces = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    int rc = check_limit(limit, err);
    if (rc != KH_OK)
        return rc;
    if ((unsigned)emotion > KH_EMOTION_COUNT)
        return kh_error_set(err, KH_EINVAL, "emotion %d out of range",
                            (int)emotion);
    int64_t after_time = 0;
    char after_id[KH_ID_MAX] = "";
    bool paged = cursor && *cursor;
    if (paged && (rc = cursor_decode(cursor, &after_time, after_id, err)))
        return rc;
    bool filtered = emotion != KH_EMOTION_COUNT;

    /* Four fixed texts, chosen by which conditions apply. */
    static const char *const queries[2][2] = {
        {"SELECT " FACE_COLUMNS " FROM faces f "
         "ORDER BY f.created_at DESC, f.id DESC LIMIT ?",
         "SELECT " FACE_COLUMNS " FROM faces f "
         "WHERE (f.created_at < ? OR (f.created_at = ? AND f.id < ?)) "
         "ORDER BY f.created_at DESC, f.id DESC LIMIT ?"},
        {"SELECT " FACE_COLUMNS " FROM faces f WHERE f.top_emotion = ? "
         "ORDER BY f.created_at DESC, f.id DESC LIMIT ?",
         "SELECT " FACE_COLUMNS " FROM faces f WHERE f.top_emotion = ? AND "
         "(f.created_at < ? OR (f.created_at = ? AND f.id < ?)) "
         "ORDER BY f.created_at DESC, f.id DESC LIMIT ?"},
    };
    kh_sql_value params[5];
    size_t np = 0;
    if (filtered)
        params[np++] = SQL_TEXT(kh_emotion_name(emotion));
    if (paged) {
        params[np++] = SQL_INT(after_time);
        params[np++] = SQL_INT(after_time);
        params[np++] = SQL_TEXT(after_id);
    }
    params[np++] = SQL_INT((int64_t)limit + 1);

    tx t;
    if ((rc = tx_begin(s, false, &t, err)) != KH_OK)
        return rc;
    kh_sql_result res;
    rc = run(&t, queries[filtered][paged], params, np, &res, err);
    if (rc != KH_OK)
        goto fail;
    size_t count = res.n_rows < limit ? res.n_rows : limit;
    bool more = res.n_rows > limit;
    if ((rc = read_faces(&t, &res, count, faces, err)) != KH_OK)
        goto fail;
    tx_abort(&t);
    if (more)
        cursor_encode((*faces)[count - 1].created_at_ms,
                      (*faces)[count - 1].id, next_cursor);
    *n = count;
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}

int kh_store_stats_get(kh_store *s, const char *picture_id,
                       kh_store_stats *stats, kh_error *err) {
    memset(stats, 0, sizeof *stats);
    int rc;
    if (picture_id && (rc = check_id("picture", picture_id, err)) != KH_OK)
        return rc;
    tx t;
    if ((rc = tx_begin(s, false, &t, err)) != KH_OK)
        return rc;
    kh_sql_result res;
    if (picture_id)
        rc = RUN(&t, &res, err,
                 "SELECT status, count(*) FROM pictures WHERE id = ? "
                 "GROUP BY status",
                 SQL_TEXT(picture_id));
    else
        rc = run(&t, "SELECT status, count(*) FROM pictures GROUP BY status",
                 NULL, 0, &res, err);
    if (rc != KH_OK)
        goto fail;
    for (size_t row = 0; row < res.n_rows; row++) {
        int64_t count = cell_i64(&res, row, 1, 0);
        stats->pictures_by_status[status_from_name(kh_sql_cell(&res, row, 0))] +=
            count;
        stats->pictures += count;
    }
    kh_sql_result_free(&res);
    if (picture_id && stats->pictures == 0) {
        rc = kh_error_set(err, KH_ENOTFOUND, "picture %s not found",
                          picture_id);
        goto fail;
    }
    if (picture_id)
        rc = RUN(&t, &res, err,
                 "SELECT top_emotion, count(*) FROM faces WHERE picture_id = ? "
                 "GROUP BY top_emotion",
                 SQL_TEXT(picture_id));
    else
        rc = run(&t, "SELECT top_emotion, count(*) FROM faces "
                 "GROUP BY top_emotion", NULL, 0, &res, err);
    if (rc != KH_OK)
        goto fail;
    for (size_t row = 0; row < res.n_rows; row++) {
        int64_t count = cell_i64(&res, row, 1, 0);
        kh_emotion e = kh_emotion_from_name(kh_sql_cell(&res, row, 0));
        if (e == KH_EMOTION_COUNT)
            stats->faces_unscored += count;
        else
            stats->faces_by_emotion[e] += count;
        stats->faces += count;
    }
    kh_sql_result_free(&res);
    tx_abort(&t);
    return KH_OK;
fail:
    tx_abort(&t);
    return rc;
}
