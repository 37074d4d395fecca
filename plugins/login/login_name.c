/* login_name.c — see login_name.h. */
#include "login_name.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 character; returns its length, 0 when invalid (overlong, surrogate, > U+10FFFF). */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0)
        return 0;
    uint32_t v = s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

int login_name_canonical(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || name[len - 1] == ' ')
        return 0;
    const unsigned char *p = (const unsigned char *)name;
    int chars = 0;
    while (*p) {
        uint32_t cp;
        int n = utf8_next(p, &cp);
        if (n == 0)
            return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return 0; /* C0, DEL and C1 controls */
        if (++chars > LOGIN_NAME_MAX_CHARS)
            return 0;
        p += n;
    }
    return 1;
}
