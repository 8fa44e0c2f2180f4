/* storage.h - the database of pictures, faces and emotion scores.
 *
 * One interface, two adapters chosen by URL at open:
 *   "sqlite:///var/lib/khappy/khappy.db", "sqlite://relative.db" or a plain
 *   path                       -> SQLite (embedded, the default)
 *   "postgres://..." or "postgresql://..." (any libpq URI) -> PostgreSQL,
 *   for several machines sharing one database.
 * Both run the same operations and the same logical schema; the schema is
 * versioned (table schema_version) and migrated at open, each migration in
 * its own transaction, idempotently (opening twice changes nothing; two
 * processes opening at once migrate once).
 *
 * Threads: a kh_store may be used from any number of threads at once. It
 * keeps a small pool of connections (KH_STORE_POOL_SIZE), each used by one
 * thread at a time: SQLite in WAL mode then serves readers in parallel with
 * the one writer, and PostgreSQL runs statements in parallel, where a single
 * connection behind a mutex would queue the web UI's reads behind the
 * pipeline's writes.
 *
 * Redelivery: every row written on behalf of an event carries that event's
 * id under a UNIQUE constraint and is inserted with ON CONFLICT DO NOTHING,
 * so the same event applied twice stores its row once and reports
 * inserted = false the second time.
 *
 * When is a picture done? The detector knows how many faces it found and
 * says so (kh_store_picture_detected). The picture turns from pending to
 * done in the transaction that makes "faces stored with at least one set of
 * emotion scores" reach that number, whatever the order in which faces,
 * scores and the count arrive. A picture with 0 faces is done at once.
 *
 * Errors: KH_EINVAL (bad argument: ids, limits, non-finite numbers),
 * KH_ENOTFOUND (unknown picture/face), KH_EEXIST, KH_EDB (the database said
 * no; the message names the statement), KH_ENOMEM.
 */
#ifndef KH_STORAGE_STORAGE_H
#define KH_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/domain.h"
#include "common/error.h"
#include "storage/blob.h"

/* Ids are 1..63 characters of [A-Za-z0-9_-]; the store makes 32 lowercase
 * hex characters when the caller gives none. Event ids: 1..255 printable
 * ASCII characters (CloudEvents ids are free-form). */
#define KH_ID_MAX 64
#define KH_EVENT_ID_MAX 256
#define KH_FILE_NAME_MAX 256
#define KH_CONTENT_TYPE_MAX 64
#define KH_STORE_MESSAGE_MAX 512
#define KH_CURSOR_MAX 192
#define KH_STORE_PAGE_MAX 200 /* largest page a list returns */
#define KH_STORE_MODELS_MAX 4 /* emotion models kept per face */
#define KH_STORE_POOL_SIZE 4

typedef struct kh_store kh_store;

typedef enum kh_picture_status {
    KH_PICTURE_PENDING,
    KH_PICTURE_DONE,
    KH_PICTURE_FAILED,
    KH_PICTURE_STATUS_COUNT
} kh_picture_status;

/* "pending", "done", "failed"; NULL when out of range. */
const char *kh_picture_status_name(kh_picture_status s);

/* True for 1..63 characters of [A-Za-z0-9_-]. */
bool kh_store_id_valid(const char *id);

/* Opens (and migrates) the database at url. *out is owned by the caller
 * (kh_store_close). A SQLite file and its folder must exist or be creatable;
 * the file is created when missing. */
int kh_store_open(const char *url, kh_store **out, kh_error *err);
/* Waits for nothing: the caller makes sure no other thread still uses the
 * store. NULL is a no-op. */
void kh_store_close(kh_store *store);

/* "sqlite" or "postgres". */
const char *kh_store_backend(const kh_store *store);
/* The schema version the database is at (after migration). */
int kh_store_schema_version(kh_store *store, int *version, kh_error *err);
/* The newest schema version this build knows. */
int kh_store_schema_latest(void);

/* ---- writing ----------------------------------------------------------- */

typedef struct kh_picture_new {
    const char *id;           /* NULL or "": the store makes one */
    const char *name;         /* original file name; may be NULL. Path
                                 components are dropped, control characters
                                 and invalid UTF-8 become '_' */
    const char *content_type; /* "image/jpeg"; may be NULL */
    const char *blob_key;     /* where the bytes are; may be NULL */
    int64_t size_bytes;
    int width, height;        /* 0 when not known yet */
    int64_t received_at_ms;   /* 0: now */
} kh_picture_new;

/* Stores a pending picture. id_out (may be NULL) receives its id.
 * KH_EEXIST when the id is taken. */
int kh_store_picture_create(kh_store *store, const kh_picture_new *pic,
                            char id_out[KH_ID_MAX], kh_error *err);

/* The detector's word: face_count faces found (>= 0), and the picture's
 * size (0: leave as is). The first count reported is kept (a redelivered
 * or repeated detection changes nothing). May complete the picture. */
int kh_store_picture_detected(kh_store *store, const char *picture_id,
                              int face_count, int width, int height,
                              kh_error *err);

/* Marks a pending picture failed with a message (truncated to
 * KH_STORE_MESSAGE_MAX-1 bytes). A picture already done or failed keeps its
 * state (a late failure report changes nothing). KH_ENOTFOUND when unknown. */
int kh_store_picture_fail(kh_store *store, const char *picture_id,
                          const char *message, kh_error *err);

typedef struct kh_face_new {
    const char *id;         /* NULL or "": the store makes one */
    const char *picture_id; /* must exist (KH_ENOTFOUND otherwise) */
    int face_index;         /* 0-based order within the picture */
    kh_face face;           /* box, score, detector */
    const char *crop_key;   /* blob key of the crop; may be NULL */
    const char *event_id;   /* required */
} kh_face_new;

/* Stores a face, once per event id and once per (picture, face_index):
 * on a repeat nothing changes, *inserted (may be NULL) is false and id_out
 * (may be NULL) receives the id stored the first time. */
int kh_store_face_add(kh_store *store, const kh_face_new *face,
                      char id_out[KH_ID_MAX], bool *inserted, kh_error *err);

typedef struct kh_emotions_new {
    const char *picture_id; /* must exist */
    const char *face_id;    /* the face may be stored before or after */
    const kh_emotion_scores *scores; /* model name required; present
                                        scores finite */
    const char *event_id;   /* required */
} kh_emotions_new;

/* Stores one model's scores for one face, once per event id and once per
 * (picture, face, model). At most KH_STORE_MODELS_MAX models per face
 * (KH_ELIMIT). Scores count only for the face of that id in that picture;
 * once the face is stored, scores naming another picture are KH_EINVAL.
 * Updates the face's top emotion (that of the per-class mean over its
 * models) and may complete the picture. */
int kh_store_emotions_add(kh_store *store, const kh_emotions_new *emotions,
                          bool *inserted, kh_error *err);

/* Deletes a picture, its faces and their scores in one transaction, then
 * (blobs non-NULL) the picture's and crops' blobs. Rows go first: a crash
 * in between leaves unreferenced files, never rows pointing at nothing.
 * KH_ENOTFOUND when unknown; a blob that cannot be deleted is reported
 * (KH_EIO) after all the others were tried. */
int kh_store_picture_delete(kh_store *store, kh_blob_store *blobs,
                            const char *picture_id, kh_error *err);

/* ---- reading ------------------------------------------------------------ */

typedef struct kh_picture_record {
    char id[KH_ID_MAX];
    char name[KH_FILE_NAME_MAX];
    char content_type[KH_CONTENT_TYPE_MAX];
    char blob_key[KH_BLOB_KEY_MAX]; /* "" when none */
    int64_t size_bytes;
    int width, height;              /* 0 when not known */
    int64_t received_at_ms, updated_at_ms;
    kh_picture_status status;
    char error[KH_STORE_MESSAGE_MAX]; /* "" unless failed */
    int expected_faces;             /* -1 until the detector reported */
    int face_count;                 /* faces stored */
    int scored_faces;               /* faces with at least one model's scores */
} kh_picture_record;

typedef struct kh_face_record {
    char id[KH_ID_MAX];
    char picture_id[KH_ID_MAX];
    int face_index;
    kh_face face;
    char crop_key[KH_BLOB_KEY_MAX]; /* "" when none */
    int64_t created_at_ms;
    kh_emotion top_emotion;         /* KH_EMOTION_COUNT until scored */
    kh_emotion_scores mean;         /* per-class mean over the models;
                                       model "mean"; all absent if none */
    size_t n_models;
    kh_emotion_scores models[KH_STORE_MODELS_MAX]; /* by model name */
} kh_face_record;

/* One picture with its faces in face_index order. faces (may be NULL to
 * skip them) receives a malloc'd array owned by the caller (free()), NULL
 * when there are none. KH_ENOTFOUND when unknown. */
int kh_store_picture_get(kh_store *store, const char *picture_id,
                         kh_picture_record *picture, kh_face_record **faces,
                         size_t *n_faces, kh_error *err);

/* One face with its scores. KH_ENOTFOUND when unknown. */
int kh_store_face_get(kh_store *store, const char *face_id,
                      kh_face_record *face, kh_error *err);

/* Newest pictures first (received_at, then id). cursor: NULL or "" for the
 * first page, else a next_cursor from an earlier call (KH_EINVAL when it is
 * not one). limit 1..KH_STORE_PAGE_MAX. *pictures is malloc'd, owned by the
 * caller (free()), NULL when empty. next_cursor is "" after the last page. */
int kh_store_pictures_list(kh_store *store, size_t limit, const char *cursor,
                           kh_picture_record **pictures, size_t *n,
                           char next_cursor[KH_CURSOR_MAX], kh_error *err);

/* Newest faces first (stored at, then id), only those whose top emotion is
 * `emotion` unless it is KH_EMOTION_COUNT (all faces, scored or not).
 * Paging and ownership as kh_store_pictures_list. */
int kh_store_faces_list(kh_store *store, kh_emotion emotion, size_t limit,
                        const char *cursor, kh_face_record **faces, size_t *n,
                        char next_cursor[KH_CURSOR_MAX], kh_error *err);

typedef struct kh_store_stats {
    int64_t pictures;                             /* total */
    int64_t pictures_by_status[KH_PICTURE_STATUS_COUNT];
    int64_t faces;                                /* total */
    int64_t faces_unscored;                       /* no scores yet */
    int64_t faces_by_emotion[KH_EMOTION_COUNT];   /* by top emotion */
} kh_store_stats;

/* Counts over everything (picture_id NULL) or over one picture (then
 * pictures is 1 and KH_ENOTFOUND when unknown). */
int kh_store_stats_get(kh_store *store, const char *picture_id,
                       kh_store_stats *stats, kh_error *err);

/* ---- ingest -------------------------------------------------------------- */

/* "image/jpeg" or "image/png" from the first bytes; NULL for anything else.
 * Also reads width and height from the header when it can (0 otherwise;
 * either out pointer may be NULL). */
const char *kh_picture_sniff(const void *bytes, size_t len, int *width,
                             int *height);

/* What an upload does before the pipeline sees it: checks the bytes are a
 * JPEG or PNG (KH_EUNSUPPORTED otherwise), puts them in the blob store under
 * "pictures/<id>.<ext>" and stores a pending picture. id_out receives the
 * new id. On failure nothing is left behind. */
int kh_store_picture_ingest(kh_store *store, kh_blob_store *blobs,
                            const void *bytes, size_t len, const char *name,
                            char id_out[KH_ID_MAX], kh_error *err);

#endif
