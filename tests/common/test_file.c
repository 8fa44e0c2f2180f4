#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/file.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/kh_file_test.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/f", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(data, 1, len, out), len);
    assert_int_equal(fclose(out), 0);
}

static void reads_whole_file_with_a_nul_after(void **state) {
    fixture *f = *state;
    write_file(f->path, "ab\0cd", 5);
    uint8_t *data;
    size_t len;
    kh_error err;
    assert_int_equal(kh_file_read(f->path, 5, &data, &len, &err), KH_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "ab\0cd", 6); /* with the added NUL */
    free(data);

    write_file(f->path, "", 0);
    assert_int_equal(kh_file_read(f->path, 0, &data, &len, &err), KH_OK);
    assert_non_null(data);
    assert_int_equal(len, 0);
    assert_int_equal(data[0], 0);
    free(data);
}

static void refuses_more_than_the_limit(void **state) {
    fixture *f = *state;
    write_file(f->path, "123456", 6);
    uint8_t *data = (uint8_t *)"x";
    size_t len = 9;
    kh_error err;
    assert_int_equal(kh_file_read(f->path, 5, &data, &len, &err), KH_ELIMIT);
    assert_null(data);
    assert_int_equal(len, 0);
    char want[200];
    snprintf(want, sizeof want, "%s: 6 bytes, more than the limit of 5",
             f->path);
    assert_string_equal(err.message, want);
}

static void missing_file_and_directory(void **state) {
    fixture *f = *state;
    uint8_t *data;
    size_t len;
    kh_error err;
    assert_int_equal(kh_file_read(f->path, 10, &data, &len, &err),
                     KH_ENOTFOUND);
    char want[200];
    snprintf(want, sizeof want, "%s: cannot open: ", f->path);
    if (strncmp(err.message, want, strlen(want)) != 0)
        fail_msg("expected \"%s...\", got \"%s\"", want, err.message);
    assert_int_equal(kh_file_read(f->dir, 10, &data, &len, &err), KH_EIO);
    snprintf(want, sizeof want, "%s: not a regular file", f->dir);
    assert_string_equal(err.message, want);
}

static void reads_a_pipe_to_its_end(void **state) {
    fixture *f = *state;
    /* A stream longer than the first buffer (64 KiB), then one over the
     * limit. */
    assert_int_equal(mkfifo(f->path, 0600), 0);
    size_t size = 200000;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        FILE *out = fopen(f->path, "wb");
        for (size_t i = 0; out && i < size; i++)
            fputc('a' + (int)(i % 26), out);
        _exit(out && fclose(out) == 0 ? 0 : 1);
    }
    uint8_t *data;
    size_t len;
    kh_error err;
    assert_int_equal(kh_file_read(f->path, size, &data, &len, &err), KH_OK);
    assert_int_equal(len, size);
    assert_int_equal(data[size - 1], 'a' + (int)((size - 1) % 26));
    assert_int_equal(data[size], 0);
    free(data);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);

    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        FILE *out = fopen(f->path, "wb");
        for (size_t i = 0; out && i < size; i++)
            fputc('a', out);
        fclose(out); /* the reader may be gone: a broken pipe is expected */
        _exit(0);
    }
    assert_int_equal(kh_file_read(f->path, 1000, &data, &len, &err),
                     KH_ELIMIT);
    char want[200];
    snprintf(want, sizeof want, "%s: more than the limit of 1000 bytes",
             f->path);
    assert_string_equal(err.message, want);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reads_whole_file_with_a_nul_after,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_more_than_the_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_file_and_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reads_a_pipe_to_its_end, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
