/*
 * bench_login_request.h — an IMLoginReq built the way TeamTalk clients build it.
 *
 * Shared by `imgate-cli login` and the load generator's login scenario, so
 * both send byte-for-byte what a real client sends: the password as the
 * lowercase hex MD5 of the plaintext (protocol A.3), status USER_STATUS_ONLINE.
 */
#ifndef BENCH_LOGIN_REQUEST_H
#define BENCH_LOGIN_REQUEST_H

#include <stdint.h>

#include "IM.Login.pb-c.h"

/* 32 hex digits and a NUL. */
#define BENCH_MD5HEX_LEN 33

/* What imgate's tools put in IMLoginReq.client_version. */
#define BENCH_LOGIN_CLIENT_VERSION "imgate-cli"

/* Writes the lowercase hex MD5 of `plain` into `out`. Returns 0, or -1 if libcrypto fails. */
int bench_md5hex(const char *plain, char out[BENCH_MD5HEX_LEN]);

/*
 * Parses a client type: a number (decimal or 0x hex, any value, so tests can
 * send types the server must refuse) or one of windows, mac, ios, android.
 * Returns 0, or -1 if `s` is neither.
 */
int bench_parse_client_type(const char *s, uint32_t *out);

/* "windows", "mac", "ios", "android", or "other" for a value outside the enum. */
const char *bench_client_type_name(uint32_t client_type);

/*
 * Fills `req` (which the function initialises) with the given fields. The
 * strings are borrowed: they must outlive every use of `req`.
 */
void bench_login_request_init(IM__Login__IMLoginReq *req, const char *user_name, const char *password_md5hex,
                              uint32_t client_type, const char *client_version);

#endif
