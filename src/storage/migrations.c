/* migrations.c - the schema, one numbered migration after another. Never
 * edit a migration that has shipped: add the next one. The same text runs
 * on SQLite and PostgreSQL (types both accept: TEXT, INTEGER, BIGINT,
 * DOUBLE PRECISION), so the logical schema is one. Times are milliseconds
 * since the Unix epoch. */
#include "storage/migrations.h"

#include "common/domain.h"

#define SCORE_COLUMN(id, name) name " DOUBLE PRECISION,\n"

static const char migration_1[] =
    "CREATE TABLE IF NOT EXISTS pictures (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  name TEXT NOT NULL DEFAULT '',\n"
    "  content_type TEXT NOT NULL DEFAULT '',\n"
    "  blob_key TEXT,\n"
    "  size_bytes BIGINT NOT NULL DEFAULT 0,\n"
    "  width INTEGER,\n"
    "  height INTEGER,\n"
    "  received_at BIGINT NOT NULL,\n"
    "  updated_at BIGINT NOT NULL,\n"
    "  status TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK (status IN ('pending', 'done', 'failed')),\n"
    "  error TEXT,\n"
    "  expected_faces INTEGER\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS faces (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  picture_id TEXT NOT NULL REFERENCES pictures (id) ON DELETE CASCADE,\n"
    "  face_index INTEGER NOT NULL,\n"
    "  detector TEXT NOT NULL,\n"
    "  score DOUBLE PRECISION NOT NULL,\n"
    "  box_x DOUBLE PRECISION NOT NULL,\n"
    "  box_y DOUBLE PRECISION NOT NULL,\n"
    "  box_w DOUBLE PRECISION NOT NULL,\n"
    "  box_h DOUBLE PRECISION NOT NULL,\n"
    "  crop_key TEXT,\n"
    "  top_emotion TEXT,\n"
    "  created_at BIGINT NOT NULL,\n"
    "  event_id TEXT NOT NULL UNIQUE,\n"
    "  UNIQUE (picture_id, face_index)\n"
    ");\n"
    /* No foreign key to faces: scores may arrive before their face. */
    "CREATE TABLE IF NOT EXISTS emotion_scores (\n"
    "  face_id TEXT NOT NULL,\n"
    "  picture_id TEXT NOT NULL REFERENCES pictures (id) ON DELETE CASCADE,\n"
    "  model TEXT NOT NULL,\n"
    KH_EMOTIONS(SCORE_COLUMN)
    "  created_at BIGINT NOT NULL,\n"
    "  event_id TEXT NOT NULL UNIQUE,\n"
    "  PRIMARY KEY (picture_id, face_id, model)\n"
    ");\n";

/* Newest-first lists and the emotion filter walk these in order. */
static const char migration_2[] =
    "CREATE INDEX IF NOT EXISTS pictures_newest\n"
    "  ON pictures (received_at, id);\n"
    "CREATE INDEX IF NOT EXISTS faces_newest ON faces (created_at, id);\n"
    "CREATE INDEX IF NOT EXISTS faces_by_emotion\n"
    "  ON faces (top_emotion, created_at, id);\n"
    "CREATE INDEX IF NOT EXISTS emotion_scores_by_face\n"
    "  ON emotion_scores (face_id);\n";

const char *const kh__migrations[] = {migration_1, migration_2};
const int kh__migration_count =
    (int)(sizeof kh__migrations / sizeof kh__migrations[0]);
