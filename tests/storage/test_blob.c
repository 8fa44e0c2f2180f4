/* The folder blob store: key rules, atomic replace, no escape through
 * symbolic links; and recognising uploaded pictures by their bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/blob.h"
#include "storage/storage.h"

typedef struct fixture {
    char dir[64];
    char root[96];
    kh_blob_store *blobs;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/khappy-blob-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->root, sizeof f->root, "%s/root", f->dir);
    kh_error err = {0};
    if (kh_blob_store_open_dir(f->root, &f->blobs, &err) != KH_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    kh_blob_store_close(f->blobs);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static void key_rules(void **state) {
    (void)state;
    const char *good[] = {"a", "pictures/ab/0123.jpg", "crops/x_y-z.png",
                          "a.b.c", "a/b.", "9"};
    const char *bad[] = {"", "/abs", "a//b", "a/", "..", "../x", "a/../b",
                         "a/./b", ".hidden", "a/.tmp-1", "Upper", "sp ace",
                         "a\\b", "a\nb", "ü", NULL};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!kh_blob_key_valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (kh_blob_key_valid(bad[i]))
            fail_msg("'%s' should be refused", bad[i] ? bad[i] : "(null)");
    char longest[KH_BLOB_KEY_MAX + 1];
    memset(longest, 'a', sizeof longest);
    longest[KH_BLOB_KEY_MAX] = '\0'; /* one character too many */
    assert_false(kh_blob_key_valid(longest));
    longest[KH_BLOB_KEY_MAX - 1] = '\0';
    assert_true(kh_blob_key_valid(longest));

    char key[KH_BLOB_KEY_MAX], other[KH_BLOB_KEY_MAX];
    kh_error err = {0};
    assert_int_equal(kh_blob_key_generate("crops", ".jpg", key, &err), KH_OK);
    assert_int_equal(kh_blob_key_generate("crops", ".jpg", other, &err), KH_OK);
    assert_true(kh_blob_key_valid(key));
    assert_int_equal(strlen(key), strlen("crops/xx/") + 32 + 4);
    assert_string_not_equal(key, other);
    assert_int_equal(kh_blob_key_generate("../up", "", key, &err), KH_EINVAL);
}

static void put_get_replace_delete(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    assert_int_equal(kh_blob_put(f->blobs, "p/q/r.bin", "hello", 5, &err),
                     KH_OK);
    void *bytes;
    size_t len;
    assert_int_equal(kh_blob_get(f->blobs, "p/q/r.bin", 0, &bytes, &len, &err),
                     KH_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(bytes, "hello", 5);
    free(bytes);
    assert_int_equal(kh_blob_put(f->blobs, "p/q/r.bin", "bye", 3, &err), KH_OK);
    assert_int_equal(kh_blob_get(f->blobs, "p/q/r.bin", 0, &bytes, &len, &err),
                     KH_OK);
    assert_int_equal(len, 3);
    assert_string_equal(bytes, "bye");
    free(bytes);
    assert_int_equal(kh_blob_get(f->blobs, "p/q/r.bin", 2, &bytes, &len, &err),
                     KH_ELIMIT);
    assert_null(bytes);
    assert_int_equal(kh_blob_put(f->blobs, "empty", NULL, 0, &err), KH_OK);
    assert_int_equal(kh_blob_get(f->blobs, "empty", 0, &bytes, &len, &err),
                     KH_OK);
    assert_int_equal(len, 0);
    free(bytes);

    /* No temporary file is left beside the blob. */
    char path[256];
    snprintf(path, sizeof path, "ls -A '%s/p/q' | wc -l", f->root);
    FILE *p = popen(path, "r");
    int files = -1;
    assert_int_equal(fscanf(p, "%d", &files), 1);
    pclose(p);
    assert_int_equal(files, 1);

    assert_int_equal(kh_blob_delete(f->blobs, "p/q/r.bin", &err), KH_OK);
    assert_int_equal(kh_blob_get(f->blobs, "p/q/r.bin", 0, &bytes, &len, &err),
                     KH_ENOTFOUND);
    assert_int_equal(kh_blob_delete(f->blobs, "p/q/r.bin", &err), KH_OK);
    assert_int_equal(kh_blob_delete(f->blobs, "never/was", &err), KH_OK);
}

static void bad_keys_are_refused_before_the_disk(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    void *bytes;
    size_t len;
    assert_int_equal(kh_blob_put(f->blobs, "../escape", "x", 1, &err),
                     KH_EINVAL);
    assert_non_null(strstr(err.message, "../escape"));
    assert_int_equal(kh_blob_get(f->blobs, "/etc/passwd", 0, &bytes, &len,
                                 &err),
                     KH_EINVAL);
    assert_int_equal(kh_blob_delete(f->blobs, "a/../../b", &err), KH_EINVAL);
    char outside[128];
    snprintf(outside, sizeof outside, "%s/escape", f->dir);
    assert_int_equal(access(outside, F_OK), -1);
}

static void symbolic_links_cannot_lead_outside(void **state) {
    fixture *f = *state;
    char outside[128], link[128], target_file[160];
    snprintf(outside, sizeof outside, "%s/outside", f->dir);
    assert_int_equal(mkdir(outside, 0755), 0);
    snprintf(target_file, sizeof target_file, "%s/secret", outside);
    FILE *fp = fopen(target_file, "w");
    fputs("secret", fp);
    fclose(fp);
    /* root/link -> ../outside (a folder), root/file -> ../outside/secret */
    snprintf(link, sizeof link, "%s/link", f->root);
    assert_int_equal(symlink(outside, link), 0);
    snprintf(link, sizeof link, "%s/file", f->root);
    assert_int_equal(symlink(target_file, link), 0);

    kh_error err = {0};
    void *bytes = NULL;
    size_t len;
    assert_int_equal(kh_blob_put(f->blobs, "link/new", "x", 1, &err), KH_EIO);
    assert_int_equal(kh_blob_get(f->blobs, "link/secret", 0, &bytes, &len,
                                 &err),
                     KH_EIO);
    assert_int_equal(kh_blob_get(f->blobs, "file", 0, &bytes, &len, &err),
                     KH_EIO);
    assert_int_equal(kh_blob_delete(f->blobs, "link/secret", &err), KH_EIO);
    char created[160];
    snprintf(created, sizeof created, "%s/new", outside);
    assert_int_equal(access(created, F_OK), -1);
    assert_int_equal(access(target_file, F_OK), 0);
    /* Replacing the link with a blob replaces the link, not its target. */
    assert_int_equal(kh_blob_put(f->blobs, "file", "mine", 4, &err), KH_OK);
    fp = fopen(target_file, "r");
    char text[16] = "";
    assert_non_null(fgets(text, sizeof text, fp));
    fclose(fp);
    assert_string_equal(text, "secret");
}

static void pictures_are_recognised_by_their_bytes(void **state) {
    (void)state;
    static const uint8_t png[24] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
                                    '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                    0, 0, 2, 0, 0, 0, 1, 0x2c};
    int w = -1, h = -1;
    assert_string_equal(kh_picture_sniff(png, sizeof png, &w, &h), "image/png");
    assert_int_equal(w, 512);
    assert_int_equal(h, 300);
    /* SOI, APP0 (length 16), SOF2 (progressive) 1024x768 */
    static const uint8_t jpeg[] = {
        0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1,
        0, 1, 0, 0, 0xff, 0xc2, 0, 17, 8, 0x03, 0x00, 0x04, 0x00, 3, 1, 0x22,
        0, 2, 0x11, 1, 3, 0x11, 1};
    assert_string_equal(kh_picture_sniff(jpeg, sizeof jpeg, &w, &h),
                        "image/jpeg");
    assert_int_equal(w, 1024);
    assert_int_equal(h, 768);
    /* Truncated inside a segment: still JPEG, size unknown, no overread. */
    for (size_t cut = 3; cut < sizeof jpeg - 1; cut++) {
        uint8_t *copy = malloc(cut);
        memcpy(copy, jpeg, cut);
        const char *type = kh_picture_sniff(copy, cut, &w, &h);
        free(copy);
        assert_string_equal(type, "image/jpeg");
        if (cut < 29)
            assert_int_equal(w, 0);
    }
    /* A segment length pointing past the end. */
    static const uint8_t lying[] = {0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff, 0};
    assert_string_equal(kh_picture_sniff(lying, sizeof lying, &w, &h),
                        "image/jpeg");
    assert_int_equal(w, 0);
    assert_null(kh_picture_sniff("GIF89a", 6, &w, &h));
    assert_null(kh_picture_sniff(NULL, 0, NULL, NULL));
    assert_null(kh_picture_sniff("\xff\xd8", 2, NULL, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_rules),
        cmocka_unit_test_setup_teardown(put_get_replace_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_keys_are_refused_before_the_disk,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(symbolic_links_cannot_lead_outside,
                                        setup, teardown),
        cmocka_unit_test(pictures_are_recognised_by_their_bytes),
    };
    return cmocka_run_group_tests_name("storage/blob", tests, NULL, NULL);
}
