/* sql_sqlite.c - the SQLite adapter of the SQL port (sql.h).
 *
 * One file in the data folder, WAL journal (readers never block the writer),
 * a 5 s busy timeout so that connections of the pool wait for each other's
 * write transactions instead of failing, foreign keys on. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "storage/sql.h"

#define SQLITE_BUSY_TIMEOUT_MS 5000

static int sqlite_fail(sqlite3 *db, const char *what, const char *sql,
                       kh_error *err) {
    return kh_error_set(err, KH_EDB, "sqlite: %s: %s (in \"%.120s\")", what,
                        db ? sqlite3_errmsg(db) : "no connection",
                        sql ? sql : "");
}

static int sqlite_connect(const char *target, void **conn, kh_error *err) {
    *conn = NULL;
    sqlite3 *db = NULL;
    /* Each connection is used by one thread at a time (the store's pool),
     * so SQLite's own per-connection mutex is not needed. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(target, &db, flags, NULL) != SQLITE_OK) {
        int rc = kh_error_set(err, KH_EDB, "sqlite: open %s: %s", target,
                              db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, SQLITE_BUSY_TIMEOUT_MS);
    const char *setup = "PRAGMA journal_mode=WAL;"
                        "PRAGMA synchronous=NORMAL;"
                        "PRAGMA foreign_keys=ON;";
    char *msg = NULL;
    if (sqlite3_exec(db, setup, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kh_error_set(err, KH_EDB, "sqlite: %s: setup: %s", target,
                              msg ? msg : "unknown error");
        sqlite3_free(msg);
        sqlite3_close(db);
        return rc;
    }
    *conn = db;
    return KH_OK;
}

static void sqlite_disconnect(void *conn) {
    sqlite3_close(conn);
}

static int sqlite_exec_script(void *conn, const char *sql, kh_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kh_error_set(err, KH_EDB, "sqlite: %s (in \"%.120s\")",
                              msg ? msg : sqlite3_errmsg(conn), sql);
        sqlite3_free(msg);
        return rc;
    }
    return KH_OK;
}

static int bind_params(sqlite3_stmt *stmt, const kh_sql_value *params,
                       size_t n) {
    for (size_t i = 0; i < n; i++) {
        int col = (int)i + 1, rc;
        switch (params[i].type) {
        case KH_SQL_INT:
            rc = sqlite3_bind_int64(stmt, col, params[i].i);
            break;
        case KH_SQL_REAL:
            rc = sqlite3_bind_double(stmt, col, params[i].r);
            break;
        case KH_SQL_TEXT:
            rc = params[i].s ? sqlite3_bind_text(stmt, col, params[i].s, -1,
                                                 SQLITE_STATIC)
                             : sqlite3_bind_null(stmt, col);
            break;
        default:
            rc = sqlite3_bind_null(stmt, col);
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int sqlite_query(void *conn, const char *sql,
                        const kh_sql_value *params, size_t n_params,
                        kh_sql_result *res, kh_error *err) {
    sqlite3 *db = conn;
    sqlite3_stmt *stmt = NULL;
    if (res)
        memset(res, 0, sizeof *res);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return sqlite_fail(db, "prepare", sql, err);
    if ((size_t)sqlite3_bind_parameter_count(stmt) != n_params) {
        sqlite3_finalize(stmt);
        return kh_error_set(err, KH_EINTERNAL, "sqlite: %d placeholders, %zu "
                            "values (in \"%.120s\")",
                            sqlite3_bind_parameter_count(stmt), n_params, sql);
    }
    if (bind_params(stmt, params, n_params) != SQLITE_OK) {
        int rc = sqlite_fail(db, "bind", sql, err);
        sqlite3_finalize(stmt);
        return rc;
    }
    int n_cols = sqlite3_column_count(stmt);
    if (n_cols > KH_SQL_COLUMNS_MAX) {
        sqlite3_finalize(stmt);
        return kh_error_set(err, KH_EINTERNAL, "sqlite: %d columns, at most %d",
                            n_cols, KH_SQL_COLUMNS_MAX);
    }
    if (res)
        res->n_cols = (size_t)n_cols;
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!res)
            continue;
        const char *cells[KH_SQL_COLUMNS_MAX];
        for (int c = 0; c < n_cols; c++)
            cells[c] = (const char *)sqlite3_column_text(stmt, c);
        int rc = kh_sql_result_push_row(res, cells, (size_t)n_cols, err);
        if (rc != KH_OK) {
            sqlite3_finalize(stmt);
            kh_sql_result_free(res);
            return rc;
        }
    }
    if (step != SQLITE_DONE) {
        int rc = sqlite_fail(db, "step", sql, err);
        sqlite3_finalize(stmt);
        if (res)
            kh_sql_result_free(res);
        return rc;
    }
    if (res)
        res->changes = sqlite3_changes64(db);
    sqlite3_finalize(stmt);
    return KH_OK;
}

static int sqlite_begin(void *conn, bool write, kh_error *err) {
    return sqlite_exec_script(conn, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
}

const kh_sql_driver kh_sql_sqlite_driver = {
    .name = "sqlite",
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .exec_script = sqlite_exec_script,
    .query = sqlite_query,
    .begin = sqlite_begin,
    .migration_lock_sql = NULL,
};
