#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kh_error_set(kh_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

int kh_error_prefix(kh_error *err, const char *fmt, ...) {
    if (!err)
        return KH_EINVAL;
    char prefix[KH_ERROR_MESSAGE_MAX];
    char old[KH_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* Truncation is fine: the message stays NUL-terminated. */
    size_t n = strlen(prefix);
    if (n > sizeof err->message - 3)
        n = sizeof err->message - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t rest = sizeof err->message - n - 3;
    size_t m = strlen(old);
    if (m > rest)
        m = rest;
    memcpy(err->message + n + 2, old, m);
    err->message[n + 2 + m] = '\0';
    return err->code;
}

void kh_error_clear(kh_error *err) {
    if (err) {
        err->code = KH_OK;
        err->message[0] = '\0';
    }
}

const char *kh_strerror(int code) {
    switch (code) {
    case KH_OK:
        return "success";
#define KH__ERR_STR(name, value, text)                                         \
    case value:                                                                \
        return text;
        KH_ERRNO_MAP(KH__ERR_STR)
#undef KH__ERR_STR
    }
    return "unknown error";
}

const char *kh_err_name(int code) {
    switch (code) {
    case KH_OK:
        return "OK";
#define KH__ERR_NAME(name, value, text)                                        \
    case value:                                                                \
        return #name;
        KH_ERRNO_MAP(KH__ERR_NAME)
#undef KH__ERR_NAME
    }
    return "EUNKNOWN";
}
