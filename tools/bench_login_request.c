/*
 * bench_login_request.c — see bench_login_request.h.
 */
#include "bench_login_request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "IM.BaseDefine.pb-c.h"

int bench_md5hex(const char *plain, char out[BENCH_MD5HEX_LEN])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(plain, strlen(plain), digest, &digest_len, EVP_md5(), NULL) != 1 || digest_len != 16)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < digest_len; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[2 * digest_len] = '\0';
    return 0;
}

static const struct {
    const char *name;
    uint32_t value;
} client_types[] = {
    {"windows", IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_WINDOWS},
    {"mac", IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_MAC},
    {"ios", IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_IOS},
    {"android", IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_ANDROID},
};

int bench_parse_client_type(const char *s, uint32_t *out)
{
    for (size_t i = 0; i < sizeof client_types / sizeof client_types[0]; i++) {
        if (strcasecmp(s, client_types[i].name) == 0) {
            *out = client_types[i].value;
            return 0;
        }
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

const char *bench_client_type_name(uint32_t client_type)
{
    for (size_t i = 0; i < sizeof client_types / sizeof client_types[0]; i++)
        if (client_types[i].value == client_type)
            return client_types[i].name;
    return "other";
}

void bench_login_request_init(IM__Login__IMLoginReq *req, const char *user_name, const char *password_md5hex,
                              uint32_t client_type, const char *client_version)
{
    *req = (IM__Login__IMLoginReq)IM__LOGIN__IMLOGIN_REQ__INIT;
    req->user_name = (char *)user_name;
    req->password = (char *)password_md5hex;
    req->online_status = IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_ONLINE;
    /* Any number goes on the wire as is: the server, not the tool, decides what is valid. */
    req->client_type = (IM__BaseDefine__ClientType)client_type;
    req->client_version = (char *)client_version;
}
