/* ce_text.c - see ce_text.h. */
#include "events/ce_text.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "common/utf8.h"

bool kh_ce_string_valid(const char *s, size_t len, size_t *bad_offset) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = kh_utf8_decode(p + i, len - i, &cp);
        bool control = cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f);
        bool noncharacter = (cp >= 0xfdd0 && cp <= 0xfdef) ||
                            (cp & 0xfffe) == 0xfffe;
        if (n == 0 || control || noncharacter) {
            if (bad_offset)
                *bad_offset = i;
            return false;
        }
        i += n;
    }
    return true;
}

/* Reads exactly `n` decimal digits. */
static bool digits(const char **p, int n, int *out) {
    int value = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + (c - '0');
    }
    *p += n;
    *out = value;
    return true;
}

static bool expect(const char **p, char c) {
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2) {
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return leap ? 29 : 28;
    }
    return days[month - 1];
}

bool kh_ce_timestamp_valid(const char *s) {
    if (!s)
        return false;
    const char *p = s;
    int year, month, day, hour, minute, second;
    if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &month) ||
        !expect(&p, '-') || !digits(&p, 2, &day))
        return false;
    if (*p != 'T' && *p != 't')
        return false;
    p++;
    if (!digits(&p, 2, &hour) || !expect(&p, ':') || !digits(&p, 2, &minute) ||
        !expect(&p, ':') || !digits(&p, 2, &second))
        return false;
    if (month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 60) /* 60: a leap second */
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        p++;
        int offset_hour, offset_minute;
        if (!digits(&p, 2, &offset_hour) || !expect(&p, ':') ||
            !digits(&p, 2, &offset_minute) || offset_hour > 23 ||
            offset_minute > 59)
            return false;
    } else {
        return false;
    }
    return *p == '\0';
}

/* RFC 7230 tchar. */
static bool is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_token(const char *p) {
    while (is_token_char(*p))
        p++;
    return p;
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

bool kh_ce_media_type_valid(const char *s) {
    if (!s)
        return false;
    const char *p = skip_space(s);
    const char *end = skip_token(p);
    if (end == p || *end != '/')
        return false;
    p = end + 1;
    end = skip_token(p);
    if (end == p)
        return false;
    p = skip_space(end);
    while (*p == ';') {
        p = skip_space(p + 1);
        if (*p == '\0')
            break; /* a trailing ';' is harmless */
        end = skip_token(p);
        if (end == p || *end != '=')
            return false;
        p = end + 1;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if ((unsigned char)*p < 0x20 && *p != '\t')
                    return false;
                p++;
            }
            if (*p != '"')
                return false;
            p++;
        } else {
            end = skip_token(p);
            if (end == p)
                return false;
            p = end;
        }
        p = skip_space(p);
    }
    return *p == '\0';
}

bool kh_ce_media_type_essence(const char *content_type, char *out,
                              size_t out_len) {
    if (!content_type || out_len == 0)
        return false;
    const char *p = skip_space(content_type);
    size_t n = 0;
    while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
        n++;
    if (n >= out_len)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
    return true;
}

bool kh_ce_absolute_uri_valid(const char *s) {
    if (!s || !isalpha((unsigned char)s[0]))
        return false;
    const char *p = s + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || p[1] == '\0')
        return false;
    for (p = s; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}
