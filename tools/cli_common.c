/* cli_common.c — see cli.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Login.pb-c.h"
#include "bench_login_request.h"
#include "cli.h"
#include "imgate/teamtalk.h"

double cli_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_print_hex(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02x%s", p[i], (i + 1) % 32 == 0 || i + 1 == len ? "\n" : " ");
}

void cli_print_header(const imgate_pdu_header *h)
{
    printf("sid=0x%04x cid=0x%04x seq=%u len=%u\n", (unsigned)h->service_id, (unsigned)h->command_id,
           (unsigned)h->seq_num, (unsigned)h->length);
}

void cli_print_field(const char *name, const char *value) { printf("%s: %s\n", name, value ? value : ""); }

imgate_client *cli_connect(const cli_options *opt)
{
    imgate_client *c = imgate_client_connect(opt->host, opt->port, opt->timeout_ms);
    if (!c)
        fprintf(stderr, "imgate-cli: cannot connect to %s:%u: %s\n", opt->host, (unsigned)opt->port,
                strerror(errno));
    return c;
}

int cli_complain(const char *what, int rc)
{
    fprintf(stderr, "imgate-cli: %s: %s\n", what, imgate_client_strerror(rc));
    return 1;
}

int cli_parse_u16(const char *s, uint16_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || !end || *end || end == s || v > 0xffff)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int cli_parse_u32(const char *s, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || end == s || v > 0xffffffffull || *s == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

ProtobufCMessage *cli_call(const cli_options *opt, imgate_client *c, const char *what, uint16_t sid, uint16_t cid,
                           const ProtobufCMessage *req, uint16_t rsp_cid, const ProtobufCMessageDescriptor *rsp_desc)
{
    imgate_client_pdu reply = {0};
    int rc = imgate_client_call(c, sid, cid, req, rsp_cid, &reply, opt->timeout_ms);
    if (rc != IMGATE_CLIENT_OK) {
        fprintf(stderr, "imgate-cli: %s: no %s: %s\n", what, rsp_desc->short_name, imgate_client_strerror(rc));
        return NULL;
    }
    ProtobufCMessage *rsp = protobuf_c_message_unpack(rsp_desc, NULL, reply.body_len, reply.body);
    if (rsp == NULL) {
        fprintf(stderr, "imgate-cli: %s: the reply does not parse as %s\n", what, rsp_desc->short_name);
        cli_print_header(&reply.h);
        cli_print_hex(reply.body, reply.body_len);
    }
    imgate_client_pdu_free(&reply);
    return rsp;
}

imgate_client *cli_login(const cli_options *opt, const char *user, const char *password, uint32_t client_type,
                         uint32_t *user_id)
{
    char password_md5[BENCH_MD5HEX_LEN];
    if (bench_md5hex(password, password_md5) < 0) {
        fprintf(stderr, "imgate-cli: MD5 is not available from libcrypto\n");
        return NULL;
    }
    IM__Login__IMLoginReq req;
    bench_login_request_init(&req, user, password_md5, client_type, BENCH_LOGIN_CLIENT_VERSION);
    imgate_client *c = cli_connect(opt);
    if (!c)
        return NULL;
    IM__Login__IMLoginRes *res =
        (IM__Login__IMLoginRes *)cli_call(opt, c, "login", SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &req.base,
                                          CID_LOGIN_RES_USERLOGIN, &im__login__imlogin_res__descriptor);
    /* Every command acts as the user, so a login without user_info is as good as refused. */
    if (res == NULL || res->result_code != REFUSE_REASON_NONE || res->user_info == NULL) {
        if (res) {
            fprintf(stderr, "imgate-cli: login as %s refused: %s\n", user,
                    res->result_string ? res->result_string : "(no reason given)");
            protobuf_c_message_free_unpacked(&res->base, NULL);
        }
        imgate_client_close(c);
        return NULL;
    }
    if (user_id)
        *user_id = res->user_info->user_id;
    protobuf_c_message_free_unpacked(&res->base, NULL);
    return c;
}
