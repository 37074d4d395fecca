/* password.c — see password.h. */
#include "password.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

int password_init(void) { return sodium_init() < 0 ? -1 : 0; }

void password_md5hex(const void *data, size_t len, char out[33])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (EVP_Digest(data, len, digest, &dlen, EVP_md5(), NULL) != 1 || dlen != 16) {
        out[0] = '\0';
        return;
    }
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[32] = '\0';
}

int password_check_legacy(const char *client_md5, const char *salt, const char *stored)
{
    char joined[512];
    size_t a = strlen(client_md5), b = strlen(salt);
    if (a + b >= sizeof joined || strlen(stored) != 32)
        return 0;
    memcpy(joined, client_md5, a);
    memcpy(joined + a, salt, b);
    char want[33], have[33];
    password_md5hex(joined, a + b, want);
    for (int i = 0; i < 32; i++)
        have[i] = (char)tolower((unsigned char)stored[i]);
    have[32] = '\0';
    sodium_memzero(joined, sizeof joined);
    /* Constant time: how many leading characters match must not show in the timing. */
    return want[0] != '\0' && sodium_memcmp(want, have, 32) == 0;
}

int password_check_argon2(const char *client_md5, const char *stored)
{
    return crypto_pwhash_str_verify(stored, client_md5, strlen(client_md5)) == 0;
}

int password_hash_argon2(const char *client_md5, unsigned long long opslimit, size_t memlimit, char *out)
{
    char buf[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(buf, client_md5, strlen(client_md5), opslimit, memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -1;
    if (strlen(buf) >= PASSWORD_ARGON2_MAX)
        return -1;
    strcpy(out, buf);
    return 0;
}
