/* ce_text.c - see ce_text.h. */
#include "events/ce_text.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 sequence at s[0..len); returns its length (1..4) and
 * the code point, or 0 when the sequence is malformed. */
static size_t utf8_next(const uint8_t *s, size_t len, uint32_t *cp) {
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t need;
    uint32_t min;
    uint32_t value;
    if ((b0 & 0xe0) == 0xc0) {
        need = 2;
        min = 0x80;
        value = b0 & 0x1f;
    } else if ((b0 & 0xf0) == 0xe0) {
        need = 3;
        min = 0x800;
        value = b0 & 0x0f;
    } else if ((b0 & 0xf8) == 0xf0) {
        need = 4;
        min = 0x10000;
        value = b0 & 0x07;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        value = (value << 6) | (s[i] & 0x3f);
    }
    if (value < min || value > 0x10ffff ||
        (value >= 0xd800 && value <= 0xdfff))
        return 0;
    *cp = value;
    return need;
}

bool kh_ce_utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool kh_ce_string_valid(const char *s, size_t len, size_t *bad_offset) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
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

static const char BASE64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *kh_ce_base64_encode(const uint8_t *data, size_t len) {
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t out_len = (len + 2) / 3 * 4;
    char *out = malloc(out_len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 |
                     data[i + 2];
        out[o++] = BASE64_ALPHABET[v >> 18];
        out[o++] = BASE64_ALPHABET[(v >> 12) & 63];
        out[o++] = BASE64_ALPHABET[(v >> 6) & 63];
        out[o++] = BASE64_ALPHABET[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        out[o++] = BASE64_ALPHABET[v >> 18];
        out[o++] = BASE64_ALPHABET[(v >> 12) & 63];
        out[o++] = i + 1 < len ? BASE64_ALPHABET[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool kh_ce_base64_decode(const char *text, size_t len, uint8_t **out,
                         size_t *out_len) {
    /* Padding only at the end, at most two, and only to complete a quad. */
    size_t padding = 0;
    while (len > 0 && text[len - 1] == '=' && padding < 2) {
        len--;
        padding++;
    }
    if (padding > 0 && (len + padding) % 4 != 0)
        return false;
    if (len % 4 == 1)
        return false;
    uint8_t *bytes = malloc(len / 4 * 3 + 3);
    if (!bytes)
        return false;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(text[i]);
        if (v < 0) {
            free(bytes);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out = bytes;
    *out_len = n;
    return true;
}

void kh_ce_buf_append(kh_ce_buf *buf, const void *data, size_t len) {
    if (buf->failed)
        return;
    if (len > SIZE_MAX / 2 - buf->len - 1) {
        buf->failed = true;
        return;
    }
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->len + len + 1)
            cap *= 2;
        char *grown = realloc(buf->data, cap);
        if (!grown) {
            buf->failed = true;
            return;
        }
        buf->data = grown;
        buf->cap = cap;
    }
    if (len > 0)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void kh_ce_buf_append_str(kh_ce_buf *buf, const char *s) {
    kh_ce_buf_append(buf, s, strlen(s));
}

void kh_ce_buf_append_json_string(kh_ce_buf *buf, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    kh_ce_buf_append(buf, "\"", 1);
    size_t run_start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        kh_ce_buf_append(buf, s + run_start, i - run_start);
        run_start = i + 1;
        switch (c) {
        case '"':
            kh_ce_buf_append(buf, "\\\"", 2);
            break;
        case '\\':
            kh_ce_buf_append(buf, "\\\\", 2);
            break;
        case '\n':
            kh_ce_buf_append(buf, "\\n", 2);
            break;
        case '\r':
            kh_ce_buf_append(buf, "\\r", 2);
            break;
        case '\t':
            kh_ce_buf_append(buf, "\\t", 2);
            break;
        case '\b':
            kh_ce_buf_append(buf, "\\b", 2);
            break;
        case '\f':
            kh_ce_buf_append(buf, "\\f", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            kh_ce_buf_append(buf, esc, sizeof esc);
        }
        }
    }
    kh_ce_buf_append(buf, s + run_start, len - run_start);
    kh_ce_buf_append(buf, "\"", 1);
}

void kh_ce_buf_free(kh_ce_buf *buf) {
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    buf->failed = false;
}
