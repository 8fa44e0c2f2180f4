/* error.h - status codes and error messages shared by every khappy library.
 *
 * Library code never prints and never exits: a function that can fail returns
 * a kh_status (0 on success, a negative KH_E* code otherwise) and, when given a
 * non-NULL kh_error, fills it with a message that says what failed and where
 * (file and byte offset, node name and op, header name, ...).
 */
#ifndef KH_ERROR_H
#define KH_ERROR_H

#include <stddef.h>

/* One list: the enum, kh_strerror() and kh_err_name() are generated from it,
 * so a code cannot be half-added. */
#define KH_ERRNO_MAP(X)                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(EIO, -3, "input/output error")                                           \
    X(EFORMAT, -4, "malformed input")                                          \
    X(EUNSUPPORTED, -5, "unsupported feature")                                 \
    X(ENOTFOUND, -6, "not found")                                              \
    X(ERANGE, -7, "value out of range")                                        \
    X(ESHAPE, -8, "shape mismatch")                                            \
    X(ETYPE, -9, "type mismatch")                                              \
    X(EDYNAMIC, -10, "value not known until run time")                         \
    X(ELIMIT, -11, "limit exceeded")                                           \
    X(EEXIST, -12, "already exists")                                           \
    X(ESTATE, -13, "invalid state")                                            \
    X(ENETWORK, -14, "network error")                                          \
    X(EDB, -15, "database error")                                              \
    X(ETIMEOUT, -16, "timed out")                                              \
    X(EINTERNAL, -17, "internal error")

typedef enum kh_status {
    KH_OK = 0,
#define KH__ERR_ENUM(name, code, text) KH_##name = code,
    KH_ERRNO_MAP(KH__ERR_ENUM)
#undef KH__ERR_ENUM
} kh_status;

#define KH_ERROR_MESSAGE_MAX 512

/* Filled by failing functions. `code` repeats the returned status. */
typedef struct kh_error {
    int code;
    char message[KH_ERROR_MESSAGE_MAX];
} kh_error;

/* Sets err (if non-NULL) to code and a printf-style message; returns code so
 * callers can write `return kh_error_set(err, KH_EINVAL, "...")`. */
int kh_error_set(kh_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context as an error
 * travels up: "model.onnx: node 'conv1' (Conv): ..."). Returns err->code. */
int kh_error_prefix(kh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears err (if non-NULL). */
void kh_error_clear(kh_error *err);

/* Static descriptions; never NULL ("unknown error" for unknown codes). */
const char *kh_strerror(int code);
const char *kh_err_name(int code);

#endif
