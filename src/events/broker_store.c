/* broker_store.c - the broker's durable queue on SQLite (WAL) with group
 * commit. See broker_store.h for the durability contract. */
#include "events/broker_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

/* ------------------------------------------------------ event encoding */

/* "KHEV", version 1, then records: tag (1 byte), length (4 bytes LE),
 * bytes. An extension record holds name length (4 bytes LE), name, value. */
enum {
    TAG_ID = 1,
    TAG_SOURCE,
    TAG_SPECVERSION,
    TAG_TYPE,
    TAG_DATACONTENTTYPE,
    TAG_DATASCHEMA,
    TAG_SUBJECT,
    TAG_TIME,
    TAG_EXTENSION,
    TAG_DATA,
    TAG_DATA_WAS_BASE64,
};
static const char *const TAG_ATTRIBUTE[] = {
    [TAG_ID] = "id",
    [TAG_SOURCE] = "source",
    [TAG_SPECVERSION] = "specversion",
    [TAG_TYPE] = "type",
    [TAG_DATACONTENTTYPE] = "datacontenttype",
    [TAG_DATASCHEMA] = "dataschema",
    [TAG_SUBJECT] = "subject",
    [TAG_TIME] = "time",
};
#define MAGIC "KHEV\x01"
#define MAGIC_LEN 5
/* Stored events are bounded by the ingress limit; this only stops a
 * corrupted length from asking for gigabytes. */
#define RECORD_MAX (64u << 20)

static void put_u32(kh_text *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    kh_text_append(w, b, 4);
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_record(kh_text *w, uint8_t tag, const void *bytes,
                       size_t n) {
    if (n > RECORD_MAX) {
        w->failed = true;
        return;
    }
    kh_text_append(w, &tag, 1);
    put_u32(w, (uint32_t)n);
    kh_text_append(w, bytes, n);
}

int kh_broker_event_encode(const kh_cloudevent *ev, uint8_t **out,
                           size_t *len, kh_error *err) {
    kh_text w = {0};
    kh_text_append(&w, MAGIC, MAGIC_LEN);
    const char *values[] = {
        [TAG_ID] = ev->id,
        [TAG_SOURCE] = ev->source,
        [TAG_SPECVERSION] = ev->specversion,
        [TAG_TYPE] = ev->type,
        [TAG_DATACONTENTTYPE] = ev->datacontenttype,
        [TAG_DATASCHEMA] = ev->dataschema,
        [TAG_SUBJECT] = ev->subject,
        [TAG_TIME] = ev->time,
    };
    for (uint8_t tag = TAG_ID; tag <= TAG_TIME; tag++)
        if (values[tag])
            put_record(&w, tag, values[tag], strlen(values[tag]));
    for (size_t i = 0; i < ev->n_extensions; i++) {
        size_t name_len = strlen(ev->extensions[i].name);
        size_t value_len = strlen(ev->extensions[i].value);
        uint8_t tag = TAG_EXTENSION;
        kh_text_append(&w, &tag, 1);
        put_u32(&w, (uint32_t)(4 + name_len + value_len));
        put_u32(&w, (uint32_t)name_len);
        kh_text_append(&w, ev->extensions[i].name, name_len);
        kh_text_append(&w, ev->extensions[i].value, value_len);
    }
    if (ev->data)
        put_record(&w, TAG_DATA, ev->data, ev->data_len);
    if (ev->data_is_base64_in_json)
        put_record(&w, TAG_DATA_WAS_BASE64, NULL, 0);
    if (w.failed) {
        kh_text_free(&w);
        return kh_error_set(err, KH_ENOMEM,
                            "encoding event '%s' for the store",
                            ev->id ? ev->id : "?");
    }
    *out = (uint8_t *)w.data;
    *len = w.len;
    return KH_OK;
}

/* A NUL-terminated copy of bytes that must not contain NUL. */
static char *text_copy(const uint8_t *p, size_t n) {
    if (memchr(p, '\0', n))
        return NULL;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int kh_broker_event_decode(const uint8_t *data, size_t len,
                           kh_cloudevent *ev, kh_error *err) {
    kh_cloudevent_init(ev);
    if (!data || len < MAGIC_LEN || memcmp(data, MAGIC, MAGIC_LEN) != 0)
        return kh_error_set(err, KH_EFORMAT,
                            "stored event: not a version 1 event record");
    size_t off = MAGIC_LEN;
    int rc = KH_OK;
    while (rc == KH_OK && off < len) {
        if (len - off < 5) {
            rc = kh_error_set(err, KH_EFORMAT,
                              "stored event: truncated header at byte %zu",
                              off);
            break;
        }
        uint8_t tag = data[off];
        size_t n = get_u32(data + off + 1);
        size_t at = off;
        off += 5;
        if (n > len - off) {
            rc = kh_error_set(err, KH_EFORMAT,
                              "stored event: record at byte %zu claims %zu "
                              "bytes, %zu left",
                              at, n, len - off);
            break;
        }
        const uint8_t *p = data + off;
        off += n;
        if (tag >= TAG_ID && tag <= TAG_TIME) {
            char *value = text_copy(p, n);
            if (!value) {
                rc = kh_error_set(err, KH_EFORMAT,
                                  "stored event: attribute '%s' at byte %zu "
                                  "holds a NUL",
                                  TAG_ATTRIBUTE[tag], at);
                break;
            }
            rc = kh_cloudevent_set(ev, TAG_ATTRIBUTE[tag], value, err);
            free(value);
        } else if (tag == TAG_EXTENSION) {
            size_t name_len = n >= 4 ? get_u32(p) : 0;
            if (n < 4 || name_len > n - 4) {
                rc = kh_error_set(err, KH_EFORMAT,
                                  "stored event: extension at byte %zu has "
                                  "a bad name length",
                                  at);
                break;
            }
            char *name = text_copy(p + 4, name_len);
            char *value = text_copy(p + 4 + name_len, n - 4 - name_len);
            if (!name || !value)
                rc = kh_error_set(err, KH_EFORMAT,
                                  "stored event: extension at byte %zu holds "
                                  "a NUL",
                                  at);
            else
                rc = kh_cloudevent_set(ev, name, value, err);
            free(name);
            free(value);
        } else if (tag == TAG_DATA) {
            rc = kh_cloudevent_set_data(ev, p, n, NULL, err);
        } else if (tag == TAG_DATA_WAS_BASE64) {
            ev->data_is_base64_in_json = true;
        } else {
            rc = kh_error_set(err, KH_EFORMAT,
                              "stored event: unknown record tag %u at byte "
                              "%zu",
                              tag, at);
        }
    }
    if (rc == KH_OK)
        rc = kh_cloudevent_validate(ev, err);
    if (rc != KH_OK)
        kh_cloudevent_free(ev);
    return rc;
}

/* ---------------------------------------------------------- the store */

typedef enum op_kind { OP_ACCEPT, OP_COMPLETE, OP_FAILURE } op_kind;

/* One queued operation. Accepts live on their caller's stack (it waits);
 * completions and failures are owned by the queue and freed after commit. */
typedef struct store_op {
    op_kind kind;
    struct store_op *next;
    bool owned_by_queue;
    /* accept */
    const uint8_t *blob;
    size_t blob_len;
    const char *event_id;
    const char *event_source;
    const char *const *trigger_keys;
    size_t n_triggers;
    int64_t due_ms;
    /* complete, failure */
    int64_t seq;
    char *trigger_key;
    int attempts;
    int last_status;
    uint8_t *body;
    size_t body_len;
    int64_t next_ms;
    /* result */
    bool done;
    int rc;
    kh_error err;
} store_op;

enum {
    STMT_INSERT_EVENT,
    STMT_INSERT_DELIVERY,
    STMT_DELETE_DELIVERY,
    STMT_DELETE_EVENT_IF_DONE,
    STMT_UPDATE_FAILURE,
    STMT_SELECT_EVENT,
    STMT_SELECT_PENDING,
    STMT_COUNT_EVENTS,
    STMT_COUNT_DELIVERIES,
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT__COUNT
};

static const char *const STMT_SQL[STMT__COUNT] = {
    [STMT_INSERT_EVENT] = "INSERT INTO broker_events(event_id, event_source, "
                          "accepted_ms, body) VALUES (?1, ?2, ?3, ?4)",
    [STMT_INSERT_DELIVERY] = "INSERT INTO broker_deliveries(seq, trigger_key, "
                             "next_ms) VALUES (?1, ?2, ?3)",
    [STMT_DELETE_DELIVERY] = "DELETE FROM broker_deliveries WHERE seq = ?1 "
                             "AND trigger_key = ?2",
    [STMT_DELETE_EVENT_IF_DONE] =
        "DELETE FROM broker_events WHERE seq = ?1 AND NOT EXISTS (SELECT 1 "
        "FROM broker_deliveries WHERE seq = ?1)",
    [STMT_UPDATE_FAILURE] = "UPDATE broker_deliveries SET attempts = ?3, "
                            "last_status = ?4, last_body = ?5, next_ms = ?6 "
                            "WHERE seq = ?1 AND trigger_key = ?2",
    [STMT_SELECT_EVENT] = "SELECT body FROM broker_events WHERE seq = ?1",
    [STMT_SELECT_PENDING] =
        "SELECT seq, trigger_key, attempts, last_status, last_body, next_ms "
        "FROM broker_deliveries ORDER BY seq, trigger_key",
    [STMT_COUNT_EVENTS] = "SELECT count(*) FROM broker_events",
    [STMT_COUNT_DELIVERIES] = "SELECT count(*) FROM broker_deliveries",
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS broker_events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id TEXT NOT NULL,"
    "  event_source TEXT NOT NULL,"
    "  accepted_ms INTEGER NOT NULL,"
    "  body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS broker_deliveries ("
    "  seq INTEGER NOT NULL REFERENCES broker_events(seq),"
    "  trigger_key TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER NOT NULL DEFAULT 0,"
    "  last_body BLOB,"
    "  next_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (seq, trigger_key)) WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

struct kh_broker_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[STMT__COUNT];
    /* Guards the connection: the committing leader and the readers. */
    pthread_mutex_t db_lock;
    /* Guards the queue and the leader flag. */
    pthread_mutex_t queue_lock;
    pthread_cond_t committed;
    store_op *head, *tail;
    bool leader_active;
};

static int db_fail(kh_broker_store *s, kh_error *err, const char *what) {
    return kh_error_set(err, KH_EDB, "%s: %s: %s", s->path, what,
                        sqlite3_errmsg(s->db));
}

/* At open, SQLITE_BUSY means another broker holds the exclusive lock on the
 * file: that replaces SQLite's message. Returns the status to report. */
static int busy_means_in_use(kh_broker_store *s, int rc, kh_error *err) {
    if (sqlite3_errcode(s->db) != SQLITE_BUSY)
        return rc;
    return kh_error_set(err, KH_EDB, "%s is in use by another broker process",
                        s->path);
}

/* Runs a prepared statement that returns no rows. */
static int step_done(kh_broker_store *s, int which, kh_error *err) {
    sqlite3_stmt *st = s->stmt[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, STMT_SQL[which]);
    return KH_OK;
}

static int exec_op(kh_broker_store *s, store_op *op) {
    sqlite3_stmt *st;
    int rc;
    switch (op->kind) {
    case OP_ACCEPT:
        st = s->stmt[STMT_INSERT_EVENT];
        sqlite3_bind_text(st, 1, op->event_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->event_source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, op->due_ms);
        sqlite3_bind_blob(st, 4, op->blob, (int)op->blob_len, SQLITE_STATIC);
        if ((rc = step_done(s, STMT_INSERT_EVENT, &op->err)) != KH_OK)
            return rc;
        op->seq = sqlite3_last_insert_rowid(s->db);
        for (size_t i = 0; i < op->n_triggers; i++) {
            st = s->stmt[STMT_INSERT_DELIVERY];
            sqlite3_bind_int64(st, 1, op->seq);
            sqlite3_bind_text(st, 2, op->trigger_keys[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, op->due_ms);
            if ((rc = step_done(s, STMT_INSERT_DELIVERY, &op->err)) != KH_OK)
                return rc;
        }
        return KH_OK;
    case OP_COMPLETE:
        st = s->stmt[STMT_DELETE_DELIVERY];
        sqlite3_bind_int64(st, 1, op->seq);
        sqlite3_bind_text(st, 2, op->trigger_key, -1, SQLITE_STATIC);
        if ((rc = step_done(s, STMT_DELETE_DELIVERY, &op->err)) != KH_OK)
            return rc;
        st = s->stmt[STMT_DELETE_EVENT_IF_DONE];
        sqlite3_bind_int64(st, 1, op->seq);
        return step_done(s, STMT_DELETE_EVENT_IF_DONE, &op->err);
    case OP_FAILURE:
        st = s->stmt[STMT_UPDATE_FAILURE];
        sqlite3_bind_int64(st, 1, op->seq);
        sqlite3_bind_text(st, 2, op->trigger_key, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, op->attempts);
        sqlite3_bind_int(st, 4, op->last_status);
        if (op->body_len)
            sqlite3_bind_blob(st, 5, op->body, (int)op->body_len,
                              SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, op->next_ms);
        return step_done(s, STMT_UPDATE_FAILURE, &op->err);
    }
    return kh_error_set(&op->err, KH_EINTERNAL, "unknown store operation");
}

static void run_transaction(kh_broker_store *s, store_op *first,
                            store_op *stop, bool *all_ok) {
    kh_error scratch;
    *all_ok = false;
    if (step_done(s, STMT_BEGIN, &scratch) != KH_OK) {
        for (store_op *op = first; op != stop; op = op->next) {
            op->rc = scratch.code;
            op->err = scratch;
        }
        return;
    }
    bool ok = true;
    for (store_op *op = first; ok && op != stop; op = op->next)
        ok = (op->rc = exec_op(s, op)) == KH_OK;
    if (ok && step_done(s, STMT_COMMIT, &scratch) == KH_OK) {
        *all_ok = true;
        return;
    }
    step_done(s, STMT_ROLLBACK, &scratch);
    if (ok) /* the commit itself failed: every op failed with it */
        for (store_op *op = first; op != stop; op = op->next) {
            op->rc = scratch.code;
            op->err = scratch;
        }
}

/* Commits a batch in one transaction; if anything fails, each operation is
 * retried alone so that one bad operation does not fail its neighbours. */
static void commit_batch(kh_broker_store *s, store_op *batch) {
    pthread_mutex_lock(&s->db_lock);
    bool all_ok;
    run_transaction(s, batch, NULL, &all_ok);
    if (!all_ok && batch->next)
        for (store_op *op = batch; op; op = op->next)
            run_transaction(s, op, op->next, &all_ok);
    pthread_mutex_unlock(&s->db_lock);
}

static void free_op(store_op *op) {
    free(op->trigger_key);
    free(op->body);
    free(op);
}

/* Called with queue_lock held; returns with it held. Commits batches until
 * the queue is empty. */
static void lead(kh_broker_store *s) {
    s->leader_active = true;
    while (s->head) {
        store_op *batch = s->head;
        s->head = s->tail = NULL;
        pthread_mutex_unlock(&s->queue_lock);
        commit_batch(s, batch);
        pthread_mutex_lock(&s->queue_lock);
        for (store_op *op = batch, *next; op; op = next) {
            next = op->next;
            if (op->owned_by_queue)
                free_op(op); /* async: a failure means a redelivery */
            else
                op->done = true;
        }
        pthread_cond_broadcast(&s->committed);
    }
    s->leader_active = false;
}

/* Called with queue_lock held: commits the queue when no thread leads,
 * else waits for the leader's next commit. */
static void lead_or_wait(kh_broker_store *s) {
    if (!s->leader_active)
        lead(s);
    else
        pthread_cond_wait(&s->committed, &s->queue_lock);
}

static void submit(kh_broker_store *s, store_op *op, bool wait) {
    pthread_mutex_lock(&s->queue_lock);
    op->next = NULL;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    if (!wait) {
        if (!s->leader_active)
            lead(s);
    } else {
        while (!op->done)
            lead_or_wait(s);
    }
    pthread_mutex_unlock(&s->queue_lock);
}

int kh_broker_store_flush(kh_broker_store *s, kh_error *err) {
    (void)err;
    pthread_mutex_lock(&s->queue_lock);
    while (s->head || s->leader_active)
        lead_or_wait(s);
    pthread_mutex_unlock(&s->queue_lock);
    return KH_OK;
}

int kh_broker_store_open(const char *path, kh_store_sync sync,
                         kh_broker_store **out, kh_error *err) {
    *out = NULL;
    kh_broker_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return kh_error_set(err, KH_ENOMEM, "opening the broker store");
    }
    pthread_mutex_init(&s->db_lock, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->committed, NULL);
    int rc = KH_OK;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = kh_error_set(err, KH_EDB, "%s: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 2000);
    /* EXCLUSIVE locking: a second broker on the same data directory fails
     * at start instead of delivering everything twice. */
    const char *pragmas =
        sync == KH_STORE_SYNC_NORMAL
            ? "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
              "PRAGMA synchronous=NORMAL;"
            : "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
              "PRAGMA synchronous=FULL;";
    char *msg = NULL;
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        rc = kh_error_set(err, KH_EDB, "%s: %s", path, msg ? msg : "pragma");
        rc = busy_means_in_use(s, rc, err);
        sqlite3_free(msg);
        goto fail;
    }
    sqlite3_stmt *version = NULL;
    int user_version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &version,
                           NULL) == SQLITE_OK &&
        sqlite3_step(version) == SQLITE_ROW)
        user_version = sqlite3_column_int(version, 0);
    sqlite3_finalize(version);
    if (user_version < 0) {
        rc = db_fail(s, err, "reading the schema version");
        rc = busy_means_in_use(s, rc, err);
        goto fail;
    }
    if (user_version > 1) {
        rc = kh_error_set(err, KH_EDB,
                          "%s: schema version %d is newer than this khappy "
                          "(1)",
                          path, user_version);
        goto fail;
    }
    if (sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        rc = kh_error_set(err, KH_EDB, "%s: creating the schema: %s", path,
                          msg ? msg : "?");
        rc = busy_means_in_use(s, rc, err);
        sqlite3_free(msg);
        goto fail;
    }
    for (int i = 0; i < STMT__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, STMT_SQL[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            rc = db_fail(s, err, STMT_SQL[i]);
            goto fail;
        }
    }
    *out = s;
    return KH_OK;
fail:
    kh_broker_store_close(s);
    return rc;
}

void kh_broker_store_close(kh_broker_store *s) {
    if (!s)
        return;
    if (s->db) {
        kh_broker_store_flush(s, NULL);
        for (int i = 0; i < STMT__COUNT; i++)
            sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
    }
    pthread_mutex_destroy(&s->db_lock);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->committed);
    free(s->path);
    free(s);
}

int kh_broker_store_accept(kh_broker_store *s, const kh_cloudevent *ev,
                           const char *const *trigger_keys, size_t n_triggers,
                           int64_t due_ms, int64_t *seq, kh_error *err) {
    if (!s || !ev || !ev->id || !ev->source || n_triggers == 0 ||
        !trigger_keys)
        return kh_error_set(err, KH_EINVAL,
                            "store accept: an event with id and source and "
                            "at least one trigger is required");
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int rc = kh_broker_event_encode(ev, &blob, &blob_len, err);
    if (rc != KH_OK)
        return rc;
    if (blob_len > RECORD_MAX) {
        free(blob);
        return kh_error_set(err, KH_ELIMIT,
                            "event '%s' is %zu bytes, the store keeps at "
                            "most %u",
                            ev->id, blob_len, RECORD_MAX);
    }
    store_op op = {.kind = OP_ACCEPT,
                   .blob = blob,
                   .blob_len = blob_len,
                   .event_id = ev->id,
                   .event_source = ev->source,
                   .trigger_keys = trigger_keys,
                   .n_triggers = n_triggers,
                   .due_ms = due_ms};
    submit(s, &op, true);
    free(blob);
    if (op.rc != KH_OK) {
        if (err)
            *err = op.err;
        return op.rc;
    }
    if (seq)
        *seq = op.seq;
    return KH_OK;
}

static int queue_async(op_kind kind, int64_t seq,
                       const char *trigger_key, kh_error *err,
                       store_op **out) {
    store_op *op = calloc(1, sizeof *op);
    if (!op || !(op->trigger_key = strdup(trigger_key))) {
        free(op);
        return kh_error_set(err, KH_ENOMEM, "queueing a store update");
    }
    op->kind = kind;
    op->seq = seq;
    op->owned_by_queue = true;
    *out = op;
    return KH_OK;
}

int kh_broker_store_complete(kh_broker_store *s, int64_t seq,
                             const char *trigger_key, kh_error *err) {
    store_op *op = NULL;
    int rc = queue_async(OP_COMPLETE, seq, trigger_key, err, &op);
    if (rc == KH_OK)
        submit(s, op, false);
    return rc;
}

int kh_broker_store_record_failure(kh_broker_store *s, int64_t seq,
                                   const char *trigger_key, int attempts,
                                   int last_status, const uint8_t *body,
                                   size_t body_len, int64_t next_ms,
                                   kh_error *err) {
    store_op *op = NULL;
    int rc = queue_async(OP_FAILURE, seq, trigger_key, err, &op);
    if (rc != KH_OK)
        return rc;
    if (body_len > KH_STORE_ERROR_BODY_MAX)
        body_len = KH_STORE_ERROR_BODY_MAX;
    if (body && body_len) {
        op->body = malloc(body_len);
        if (!op->body) {
            free_op(op);
            return kh_error_set(err, KH_ENOMEM, "queueing a store update");
        }
        memcpy(op->body, body, body_len);
        op->body_len = body_len;
    }
    op->attempts = attempts;
    op->last_status = last_status;
    op->next_ms = next_ms;
    submit(s, op, false);
    return KH_OK;
}

int kh_broker_store_pending(kh_broker_store *s,
                            int (*visit)(void *user,
                                         const kh_pending_delivery *d),
                            void *user, kh_error *err) {
    int rc = kh_broker_store_flush(s, err);
    if (rc != KH_OK)
        return rc;
    pthread_mutex_lock(&s->db_lock);
    sqlite3_stmt *st = s->stmt[STMT_SELECT_PENDING];
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        kh_pending_delivery d = {
            .seq = sqlite3_column_int64(st, 0),
            .trigger_key = (const char *)sqlite3_column_text(st, 1),
            .attempts = sqlite3_column_int(st, 2),
            .last_status = sqlite3_column_int(st, 3),
            .last_body = sqlite3_column_blob(st, 4),
            .last_body_len = (size_t)sqlite3_column_bytes(st, 4),
            .next_ms = sqlite3_column_int64(st, 5),
        };
        if (!d.trigger_key)
            continue;
        if ((rc = visit(user, &d)) != 0)
            break;
    }
    if (rc == KH_OK && step != SQLITE_DONE)
        rc = db_fail(s, err, "reading pending deliveries");
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int kh_broker_store_load_event(kh_broker_store *s, int64_t seq,
                               kh_cloudevent *ev, kh_error *err) {
    kh_cloudevent_init(ev);
    pthread_mutex_lock(&s->db_lock);
    sqlite3_stmt *st = s->stmt[STMT_SELECT_EVENT];
    sqlite3_bind_int64(st, 1, seq);
    int step = sqlite3_step(st);
    int rc;
    if (step == SQLITE_ROW)
        rc = kh_broker_event_decode(sqlite3_column_blob(st, 0),
                                    (size_t)sqlite3_column_bytes(st, 0), ev,
                                    err);
    else if (step == SQLITE_DONE)
        rc = kh_error_set(err, KH_ENOTFOUND, "%s: no stored event %lld",
                          s->path, (long long)seq);
    else
        rc = db_fail(s, err, "loading an event");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&s->db_lock);
    if (rc != KH_OK && rc != KH_ENOTFOUND)
        kh_error_prefix(err, "event %lld", (long long)seq);
    return rc;
}

int kh_broker_store_counts(kh_broker_store *s, size_t *events,
                           size_t *deliveries, kh_error *err) {
    int rc = kh_broker_store_flush(s, err);
    if (rc != KH_OK)
        return rc;
    pthread_mutex_lock(&s->db_lock);
    size_t *outs[2] = {events, deliveries};
    int which[2] = {STMT_COUNT_EVENTS, STMT_COUNT_DELIVERIES};
    for (int i = 0; i < 2 && rc == KH_OK; i++) {
        sqlite3_stmt *st = s->stmt[which[i]];
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (outs[i])
                *outs[i] = (size_t)sqlite3_column_int64(st, 0);
        } else {
            rc = db_fail(s, err, "counting rows");
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}
