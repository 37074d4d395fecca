/*
 * imgate-cli — talk to an imgated node from the shell.
 *
 *   imgate-cli [-H host] [-p port] [-P http_port] [-t timeout_ms] COMMAND [ARGS...]
 *
 * The commands here are the gateway's and login's; each feature's live in
 * tools/cli_<feature>.c (see cli.h) and are listed in `tables` below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "IM.BaseDefine.pb-c.h"
#include "IM.Login.pb-c.h"
#include "bench_login_request.h"
#include "cli.h"
#include "example.pb-c.h"
#include "example_ids.h"
#include "imgate/teamtalk.h"
#include "imgate_client.h"
#include "imgate_http.h"

/* Largest body `raw` will read from a file or stdin. */
#define RAW_MAX_BODY (IMGATE_CLIENT_MAX_FRAME - IMGATE_PDU_HEADER_LEN)

/* Reads all of `path` (or stdin for "-") into a malloc'd buffer. */
static int read_body(const char *path, uint8_t **out, size_t *out_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = -1;
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            rc = ferror(f) ? -1 : 0;
            break;
        }
        if (len == cap) {
            if (cap >= RAW_MAX_BODY) {
                errno = EFBIG;
                break;
            }
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

static int cmd_heartbeat(const cli_options *opt, int argc, char **argv)
{
    imgate_client *c = cli_connect(opt);
    if (!c)
        return 1;
    const uint16_t sid = SID_OTHER;
    const uint16_t cid = CID_OTHER_HEARTBEAT;
    double started = cli_now_seconds();
    uint16_t seq = 0;
    int rc = imgate_client_send(c, sid, cid, NULL, 0, &seq);
    imgate_client_pdu echo = {0};
    if (rc == IMGATE_CLIENT_OK)
        rc = imgate_client_wait(c, cid, seq, &echo, opt->timeout_ms);
    double elapsed_ms = (cli_now_seconds() - started) * 1000.0;
    imgate_client_pdu_free(&echo);
    imgate_client_close(c);
    if (rc != IMGATE_CLIENT_OK)
        return cli_complain("heartbeat", rc);
    printf("heartbeat echoed in %.3f ms\n", elapsed_ms);
    return 0;
}

static int cmd_raw(const cli_options *opt, int argc, char **argv)
{
    uint16_t sid, cid;
    if (cli_parse_u16(argv[0], &sid) < 0 || cli_parse_u16(argv[1], &cid) < 0) {
        fprintf(stderr, "imgate-cli: raw: SID and CID must be 0..65535 (decimal or 0x hex)\n");
        return 2;
    }
    uint8_t *body = NULL;
    size_t len = 0;
    if (read_body(argv[2], &body, &len) < 0) {
        fprintf(stderr, "imgate-cli: raw: cannot read %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    imgate_client *c = cli_connect(opt);
    if (!c) {
        free(body);
        return 1;
    }
    int rc = imgate_client_send(c, sid, cid, body, len, NULL);
    free(body);
    imgate_client_pdu reply = {0};
    if (rc == IMGATE_CLIENT_OK)
        rc = imgate_client_recv(c, &reply, opt->timeout_ms);
    imgate_client_close(c);
    if (rc != IMGATE_CLIENT_OK)
        return cli_complain("raw: no reply", rc);
    cli_print_header(&reply.h);
    cli_print_hex(reply.body, reply.body_len);
    imgate_client_pdu_free(&reply);
    return 0;
}

static int cmd_msg_server(const cli_options *opt, int argc, char **argv)
{
    int status = 0;
    char *body = NULL;
    if (imgate_http_get(opt->host, opt->http_port, "/msg_server", &status, &body, opt->timeout_ms) < 0) {
        fprintf(stderr, "imgate-cli: GET http://%s:%u/msg_server: %s\n", opt->host,
                (unsigned)opt->http_port, strerror(errno));
        return 1;
    }
    printf("%s%s", body, body[0] && body[strlen(body) - 1] != '\n' ? "\n" : "");
    free(body);
    if (status != 200) {
        fprintf(stderr, "imgate-cli: GET /msg_server answered HTTP %d\n", status);
        return 1;
    }
    return 0;
}

static int cmd_example(const cli_options *opt, int argc, char **argv)
{
    imgate_client *c = cli_connect(opt);
    if (!c)
        return 1;
    Imgate__Example__ExampleRsp *rsp = (Imgate__Example__ExampleRsp *)cli_call(
        opt, c, "example", EXAMPLE_SERVICE, EXAMPLE_CMD_REQ, NULL, EXAMPLE_CMD_RSP,
        &imgate__example__example_rsp__descriptor);
    imgate_client_close(c);
    if (rsp == NULL)
        return 1;
    printf("greeting: %s\nversion: %s\nnode: %s\nserved: %u\n", rsp->greeting, rsp->version, rsp->node,
           rsp->served);
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return 0;
}

static void print_login_res(const IM__Login__IMLoginRes *res)
{
    printf("result_code: %u\n", (unsigned)res->result_code);
    cli_print_field("result_string", res->result_string);
    printf("server_time: %u\n", (unsigned)res->server_time);
    if (res->has_online_status)
        printf("online_status: %u\n", (unsigned)res->online_status);
    else
        cli_print_field("online_status", NULL);
    const IM__BaseDefine__UserInfo *u = res->user_info;
    if (u == NULL) {
        /* A refused login carries no user_info; say so rather than print zeros that look real. */
        printf("user_info: (none)\n");
        return;
    }
    printf("user_id: %u\n", (unsigned)u->user_id);
    printf("user_gender: %u\n", (unsigned)u->user_gender);
    cli_print_field("user_nick_name", u->user_nick_name);
    cli_print_field("avatar_url", u->avatar_url);
    printf("department_id: %u\n", (unsigned)u->department_id);
    cli_print_field("email", u->email);
    cli_print_field("user_real_name", u->user_real_name);
    cli_print_field("user_tel", u->user_tel);
    cli_print_field("user_domain", u->user_domain);
    printf("status: %u\n", (unsigned)u->status);
    cli_print_field("sign_info", u->sign_info);
}

/* login USER PASS [-c CLIENT_TYPE]: the option may come before, between or after the names. */
static int cmd_login(const cli_options *opt, int argc, char **argv)
{
    const char *positional[2] = {NULL, NULL};
    int npositional = 0;
    uint32_t client_type = CLIENT_TYPE_WINDOWS;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            if (i + 1 >= argc || bench_parse_client_type(argv[i + 1], &client_type) < 0) {
                fprintf(stderr, "imgate-cli: login: -c wants a number or windows, mac, ios, android\n");
                return 2;
            }
            i++;
        } else if (npositional < 2) {
            positional[npositional++] = argv[i];
        } else {
            npositional++;
        }
    }
    if (npositional != 2) {
        fprintf(stderr, "usage: imgate-cli login USER PASS [-c CLIENT_TYPE]\n");
        return 2;
    }
    char password_md5[BENCH_MD5HEX_LEN];
    if (bench_md5hex(positional[1], password_md5) < 0) {
        fprintf(stderr, "imgate-cli: login: MD5 is not available from libcrypto\n");
        return 1;
    }
    IM__Login__IMLoginReq req;
    bench_login_request_init(&req, positional[0], password_md5, client_type, BENCH_LOGIN_CLIENT_VERSION);

    imgate_client *c = cli_connect(opt);
    if (!c)
        return 1;
    IM__Login__IMLoginRes *res =
        (IM__Login__IMLoginRes *)cli_call(opt, c, "login", SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &req.base,
                                          CID_LOGIN_RES_USERLOGIN, &im__login__imlogin_res__descriptor);
    imgate_client_close(c);
    if (res == NULL)
        return 1;
    print_login_res(res);
    int exit_code = res->result_code == REFUSE_REASON_NONE ? 0 : 1;
    protobuf_c_message_free_unpacked(&res->base, NULL);
    return exit_code;
}

static const cli_command gateway_commands[] = {
    {"heartbeat", "", 0, 0, cmd_heartbeat, "send a heartbeat, print the round-trip time"},
    {"raw", "SID CID FILE", 3, 3, cmd_raw,
     "send FILE ('-' = stdin) as the body of SID/CID, print the first reply"},
    {"msg-server", "", 0, 0, cmd_msg_server, "GET /msg_server on the HTTP port, print the JSON"},
    {"example", "", 0, 0, cmd_example, "call the example plugin, print its reply"},
    {"login", "USER PASS [-c CLIENT_TYPE]", 2, 4, cmd_login,
     "log in (-c: number, windows, mac, ios, android), print IMLoginRes; exit 0 iff result 0"},
    {NULL, NULL, 0, 0, NULL, NULL},
};

/* Every command table, one per feature (cli.h). */
static const cli_command *const tables[] = {
    gateway_commands,
    cli_group_commands,
    cli_buddy_commands,
    cli_file_commands,
    cli_message_commands,
};

static const cli_command *find_command(const char *name)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const cli_command *cmd = tables[t]; cmd->name; cmd++)
            if (strcmp(cmd->name, name) == 0)
                return cmd;
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: imgate-cli [-H host] [-p port] [-P http_port] [-t timeout_ms] COMMAND [ARGS...]\n"
                 "  defaults: -H 127.0.0.1 -p 8000 -P 8080 -t 5000\n"
                 "commands:\n");
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const cli_command *cmd = tables[t]; cmd->name; cmd++)
            fprintf(out, "  %-12s %-30s %s\n", cmd->name, cmd->args_usage, cmd->help);
}

int main(int argc, char **argv)
{
    cli_options opt = {.host = "127.0.0.1", .port = 8000, .http_port = 8080, .timeout_ms = 5000};
    int ch;
    /* '+': stop at the command name, so command arguments may start with '-'. */
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    while ((ch = getopt(argc, argv, "+H:p:P:t:h")) != -1) {
        switch (ch) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
        case 'P':
            if (cli_parse_u16(optarg, ch == 'p' ? &opt.port : &opt.http_port) < 0) {
                fprintf(stderr, "imgate-cli: bad port '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            opt.timeout_ms = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    int nargs = argc - optind - 1;
    const cli_command *cmd = find_command(name);
    if (cmd == NULL) {
        fprintf(stderr, "imgate-cli: unknown command '%s'\n", name);
        usage(stderr);
        return 2;
    }
    if (nargs < cmd->min_args || nargs > cmd->max_args) {
        fprintf(stderr, "usage: imgate-cli %s %s\n", cmd->name, cmd->args_usage);
        return 2;
    }
    return cmd->run(&opt, nargs, argv + optind + 1);
}
