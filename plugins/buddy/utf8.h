/*
 * utf8.h — checking text a client wants stored in a utf8mb4 column.
 */
#ifndef IMGATE_BUDDY_UTF8_H
#define IMGATE_BUDDY_UTF8_H

#include <stddef.h>

/*
 * 1 when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), with the number of characters in
 * *chars; 0 otherwise. Ill-formed input is refused rather than stored: MySQL
 * would refuse or mangle it, and two spellings of one text must not exist.
 */
int utf8_check(const char *s, size_t len, size_t *chars);

#endif
