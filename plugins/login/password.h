/*
 * password.h — the two stored password forms the login plugin accepts.
 *
 * Clients send md5hex(plain) (lowercase). The reference stores
 * md5hex(md5hex(plain) + salt) in IMUser.password; imgate can also store an
 * Argon2id hash (libsodium's crypto_pwhash_str) of the client's MD5 string in
 * IMUser.password_argon2. Pure functions, safe on any thread (call
 * password_init once first).
 */
#ifndef IMGATE_LOGIN_PASSWORD_H
#define IMGATE_LOGIN_PASSWORD_H

#include <stddef.h>

/* Initialises libsodium; returns 0 or -1. */
int password_init(void);
/* Lowercase hex MD5 of `len` bytes into out[33]. */
void password_md5hex(const void *data, size_t len, char out[33]);
/* 1 if md5hex(client_md5 + salt) equals `stored` (hex, any case), compared in constant time. */
int password_check_legacy(const char *client_md5, const char *salt, const char *stored);
/* 1 if `client_md5` matches the Argon2id string `stored`. */
int password_check_argon2(const char *client_md5, const char *stored);
/* Hashes `client_md5` into out (at least PASSWORD_ARGON2_MAX bytes); 0 or -1. */
#define PASSWORD_ARGON2_MAX 128
int password_hash_argon2(const char *client_md5, unsigned long long opslimit, size_t memlimit, char *out);

#endif
