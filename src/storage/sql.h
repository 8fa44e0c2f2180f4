/* sql.h - the port between the store's domain operations (store.c, written
 * once) and a SQL engine (sql_sqlite.c, sql_postgres.c). Internal to the
 * storage module.
 *
 * Why the adapters sit at this level: every picture/face/emotion operation,
 * its SQL text and its transaction boundaries exist once, so the SQLite and
 * PostgreSQL stores cannot drift apart logically; an adapter only knows how
 * to connect, run one parameterised statement and begin a transaction.
 *
 * SQL text uses '?' placeholders (the PostgreSQL adapter rewrites them to
 * $1, $2, ...). Values always travel as parameters, never inside the text.
 * A connection is used by one thread at a time (the store's pool sees to it).
 */
#ifndef KH_STORAGE_SQL_H
#define KH_STORAGE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef enum kh_sql_type {
    KH_SQL_NULL,
    KH_SQL_INT,
    KH_SQL_REAL,
    KH_SQL_TEXT,
} kh_sql_type;

typedef struct kh_sql_value {
    kh_sql_type type;
    int64_t i;
    double r;
    const char *s; /* borrowed for the duration of the call */
} kh_sql_value;

#define SQL_NULLV ((kh_sql_value){.type = KH_SQL_NULL})
#define SQL_INT(v) ((kh_sql_value){.type = KH_SQL_INT, .i = (v)})
#define SQL_REAL(v) ((kh_sql_value){.type = KH_SQL_REAL, .r = (v)})
#define SQL_TEXT(v) ((kh_sql_value){.type = KH_SQL_TEXT, .s = (v)})
/* Text, or SQL NULL when v is NULL or "". */
#define SQL_TEXT_OR_NULL(v)                                                    \
    ((v) && *(v) ? SQL_TEXT(v) : SQL_NULLV)

/* A whole result, materialised: results here are small (pages of at most a
 * few hundred rows). Every cell is text as the engine prints it, or NULL
 * for SQL NULL. */
typedef struct kh_sql_result {
    size_t n_rows, n_cols;
    char **cells;    /* n_rows * n_cols, row-major; each malloc'd */
    int64_t changes; /* rows changed by an INSERT/UPDATE/DELETE */
} kh_sql_result;

/* NULL for SQL NULL or out of range. */
const char *kh_sql_cell(const kh_sql_result *res, size_t row, size_t col);
void kh_sql_result_free(kh_sql_result *res); /* NULL-safe; zeroes res */

/* The most columns an adapter reads from one result (a row's cells are
 * gathered on its stack). */
#define KH_SQL_COLUMNS_MAX 64

/* Appends one row of n cells (copies; NULL stays NULL). For adapters. */
int kh_sql_result_push_row(kh_sql_result *res, const char *const *cells,
                           size_t n, kh_error *err);

typedef struct kh_sql_driver {
    const char *name; /* "sqlite", "postgres" */
    /* target: a file path (sqlite) or a libpq connection URI (postgres). */
    int (*connect)(const char *target, void **conn, kh_error *err);
    void (*disconnect)(void *conn);
    /* Several statements without parameters (migrations, COMMIT, ...). */
    int (*exec_script)(void *conn, const char *sql, kh_error *err);
    /* One statement; res may be NULL when the rows are not wanted. */
    int (*query)(void *conn, const char *sql, const kh_sql_value *params,
                 size_t n_params, kh_sql_result *res, kh_error *err);
    /* Starts a transaction. write: the transaction will write, so the
     * SQLite adapter takes the write lock up front (BEGIN IMMEDIATE) and
     * never fails half-way with SQLITE_BUSY on upgrade. */
    int (*begin)(void *conn, bool write, kh_error *err);
    /* Run first inside the migration transaction so that two processes
     * opening one database at once migrate it once; NULL when the write
     * transaction already serialises (SQLite). */
    const char *migration_lock_sql;
} kh_sql_driver;

extern const kh_sql_driver kh_sql_sqlite_driver;
extern const kh_sql_driver kh_sql_postgres_driver;

#endif
