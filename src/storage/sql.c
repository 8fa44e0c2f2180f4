/* sql.c - the materialised result shared by the SQL adapters. */
#include "storage/sql.h"

#include <stdlib.h>
#include <string.h>

const char *kh_sql_cell(const kh_sql_result *res, size_t row, size_t col) {
    if (!res || row >= res->n_rows || col >= res->n_cols)
        return NULL;
    return res->cells[row * res->n_cols + col];
}

void kh_sql_result_free(kh_sql_result *res) {
    if (!res)
        return;
    for (size_t i = 0; i < res->n_rows * res->n_cols; i++)
        free(res->cells[i]);
    free(res->cells);
    memset(res, 0, sizeof *res);
}

int kh_sql_result_push_row(kh_sql_result *res, const char *const *cells,
                           size_t n, kh_error *err) {
    if (n != res->n_cols)
        return kh_error_set(err, KH_EINTERNAL, "sql: row of %zu cells in a "
                            "result of %zu columns", n, res->n_cols);
    if (n == 0) {
        res->n_rows++;
        return KH_OK;
    }
    char **grown = realloc(res->cells, (res->n_rows + 1) * n * sizeof *grown);
    if (!grown)
        return kh_error_set(err, KH_ENOMEM, "sql: result of %zu rows",
                            res->n_rows + 1);
    res->cells = grown;
    char **row = grown + res->n_rows * n;
    for (size_t c = 0; c < n; c++) {
        row[c] = NULL;
        if (cells[c] && !(row[c] = strdup(cells[c]))) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            return kh_error_set(err, KH_ENOMEM, "sql: result cell");
        }
    }
    res->n_rows++;
    return KH_OK;
}
