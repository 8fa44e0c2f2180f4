/* sql_postgres.c - the PostgreSQL adapter of the SQL port (sql.h), libpq.
 *
 * Parameters go to the server separately from the text (PQexecParams), in
 * text format; results come back as text. libpq's notices ("relation already
 * exists, skipping") are swallowed: library code never prints. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/sql.h"

#define PG_MAX_PARAMS 256

static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* Only the first line of a server message: the rest repeats the query. */
static int pg_fail(PGconn *pg, const PGresult *r, const char *sql,
                   kh_error *err) {
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
    if (!msg || !*msg)
        msg = PQerrorMessage(pg);
    size_t n = strcspn(msg, "\n");
    return kh_error_set(err, KH_EDB, "postgres: %.*s (in \"%.120s\")", (int)n,
                        msg, sql ? sql : "");
}

static int pg_connect(const char *target, void **conn, kh_error *err) {
    *conn = NULL;
    PGconn *pg = PQconnectdb(target);
    if (!pg)
        return kh_error_set(err, KH_ENOMEM, "postgres: out of memory");
    if (PQstatus(pg) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(pg);
        size_t n = strcspn(msg, "\n");
        /* The URI may hold a password: name only the failure. */
        int rc = kh_error_set(err, KH_EDB, "postgres: connect: %.*s", (int)n,
                              msg);
        PQfinish(pg);
        return rc;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    *conn = pg;
    return KH_OK;
}

static void pg_disconnect(void *conn) {
    PQfinish(conn);
}

/* A connection dropped by the server (restart, idle timeout) is reopened
 * once before the next statement; an error inside a transaction is not
 * retried (the transaction is gone). */
static void pg_revive(PGconn *pg) {
    if (PQstatus(pg) == CONNECTION_BAD)
        PQreset(pg);
}

static int pg_exec_script(void *conn, const char *sql, kh_error *err) {
    PGconn *pg = conn;
    pg_revive(pg);
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = KH_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(pg, r, sql, err);
    PQclear(r);
    return rc;
}

/* '?' -> $n outside quoted strings and identifiers. */
static char *rewrite_placeholders(const char *sql, size_t *n_found) {
    size_t len = strlen(sql), count = 0;
    for (const char *p = sql; *p; p++)
        count += *p == '?';
    /* Each placeholder grows to "$" and its number. */
    char *out = malloc(len + count * 10 + 1);
    if (!out)
        return NULL;
    char *w = out;
    char quote = 0;
    size_t n = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *w++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *w++ = *p;
        } else if (*p == '?') {
            n++;
            w += sprintf(w, "$%zu", n);
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    *n_found = n;
    return out;
}

static int pg_query(void *conn, const char *sql, const kh_sql_value *params,
                    size_t n_params, kh_sql_result *res, kh_error *err) {
    PGconn *pg = conn;
    if (res)
        memset(res, 0, sizeof *res);
    if (n_params > PG_MAX_PARAMS)
        return kh_error_set(err, KH_EINTERNAL, "postgres: %zu parameters, at "
                            "most %d", n_params, PG_MAX_PARAMS);
    size_t n_placeholders = 0;
    char *text = rewrite_placeholders(sql, &n_placeholders);
    if (!text)
        return kh_error_set(err, KH_ENOMEM, "postgres: out of memory");
    if (n_placeholders != n_params) {
        free(text);
        return kh_error_set(err, KH_EINTERNAL, "postgres: %zu placeholders, "
                            "%zu values (in \"%.120s\")", n_placeholders,
                            n_params, sql);
    }
    /* Numbers are sent as text; the server parses them for the column
     * type. %.17g round-trips a double. */
    char numbers[PG_MAX_PARAMS][32];
    const char *values[PG_MAX_PARAMS];
    for (size_t i = 0; i < n_params; i++) {
        switch (params[i].type) {
        case KH_SQL_INT:
            snprintf(numbers[i], sizeof numbers[i], "%" PRId64, params[i].i);
            values[i] = numbers[i];
            break;
        case KH_SQL_REAL:
            snprintf(numbers[i], sizeof numbers[i], "%.17g", params[i].r);
            values[i] = numbers[i];
            break;
        case KH_SQL_TEXT:
            values[i] = params[i].s;
            break;
        default:
            values[i] = NULL;
        }
    }
    pg_revive(pg);
    PGresult *r = PQexecParams(pg, text, (int)n_params, NULL,
                               n_params ? values : NULL, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = KH_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = pg_fail(pg, r, text, err);
        goto done;
    }
    if (!res)
        goto done;
    int n_rows = PQntuples(r), n_cols = PQnfields(r);
    if (n_cols > KH_SQL_COLUMNS_MAX) {
        rc = kh_error_set(err, KH_EINTERNAL, "postgres: %d columns, at most %d",
                          n_cols, KH_SQL_COLUMNS_MAX);
        goto done;
    }
    res->n_cols = (size_t)n_cols;
    for (int row = 0; row < n_rows; row++) {
        const char *cells[KH_SQL_COLUMNS_MAX];
        for (int c = 0; c < n_cols; c++)
            cells[c] = PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
        rc = kh_sql_result_push_row(res, cells, (size_t)n_cols, err);
        if (rc != KH_OK) {
            kh_sql_result_free(res);
            goto done;
        }
    }
    const char *changed = PQcmdTuples(r);
    res->changes = changed && *changed ? strtoll(changed, NULL, 10) : 0;
done:
    PQclear(r);
    free(text);
    return rc;
}

static int pg_begin(void *conn, bool write, kh_error *err) {
    /* Reads see one snapshot (a picture and its faces agree); writes stay
     * READ COMMITTED and serialise per picture through a row lock taken by
     * the store. */
    return pg_exec_script(conn, write ? "BEGIN"
                                      : "BEGIN ISOLATION LEVEL REPEATABLE "
                                        "READ, READ ONLY",
                          err);
}

const kh_sql_driver kh_sql_postgres_driver = {
    .name = "postgres",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec_script = pg_exec_script,
    .query = pg_query,
    .begin = pg_begin,
    /* Any constant key: khappy's migrations take this one lock. */
    .migration_lock_sql = "SELECT pg_advisory_xact_lock(7460210522)",
};
