/*
 * cli_message.c — imgate-cli's message commands: send a message as a user,
 * listen as a user (print what a logged-in client receives), and read a
 * user's unread counts and history. Message bodies are sent and shown as
 * given: stock clients encrypt text (protocol A.3) before sending, these
 * commands do not.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "IM.SwitchService.pb-c.h"
#include "bench_login_request.h"
#include "cli.h"
#include "imgate/teamtalk.h"

/* A keepalive well inside the server's idle timeout for PCs (120 s). */
#define LISTEN_HEARTBEAT_S 30.0

/* Common flags: -c TYPE, -g (group), -n N, -b N, -s SECONDS. */
typedef struct msg_args {
    const char *pos[4];
    int npos;
    uint32_t client_type;
    int group;
    long count;
    uint32_t begin;
    double seconds;
} msg_args;

static int parse_args(const char *cmd, int argc, char **argv, int want_pos, msg_args *a)
{
    memset(a, 0, sizeof *a);
    a->client_type = CLIENT_TYPE_WINDOWS;
    a->count = -1;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "-g") == 0) {
            a->group = 1;
        } else if (strcmp(f, "-c") == 0) {
            if (v == NULL || bench_parse_client_type(v, &a->client_type) < 0) {
                fprintf(stderr, "imgate-cli: %s: -c wants a number or windows, mac, ios, android\n", cmd);
                return -1;
            }
            i++;
        } else if (strcmp(f, "-n") == 0 || strcmp(f, "-b") == 0) {
            uint32_t n;
            if (v == NULL || cli_parse_u32(v, &n) < 0) {
                fprintf(stderr, "imgate-cli: %s: %s wants a number\n", cmd, f);
                return -1;
            }
            if (f[1] == 'n')
                a->count = n;
            else
                a->begin = n;
            i++;
        } else if (strcmp(f, "-s") == 0) {
            char *end;
            a->seconds = v ? strtod(v, &end) : -1;
            if (v == NULL || *end || a->seconds <= 0) {
                fprintf(stderr, "imgate-cli: %s: -s wants seconds > 0\n", cmd);
                return -1;
            }
            i++;
        } else if (a->npos < 4) {
            a->pos[a->npos++] = f;
        } else {
            a->npos++;
        }
    }
    if (a->npos != want_pos) {
        fprintf(stderr, "imgate-cli: %s: expected %d arguments\n", cmd, want_pos);
        return -1;
    }
    return 0;
}

static const char *type_name(uint32_t t)
{
    switch (t) {
    case MSG_TYPE_SINGLE_TEXT:
        return "text";
    case MSG_TYPE_SINGLE_AUDIO:
        return "audio";
    case MSG_TYPE_GROUP_TEXT:
        return "group-text";
    case MSG_TYPE_GROUP_AUDIO:
        return "group-audio";
    default:
        return "other";
    }
}

/* Text as a quoted string when it is printable UTF-8 (control bytes escaped), else hex. */
static void print_data(const uint8_t *p, size_t len)
{
    int text = 1;
    for (size_t i = 0; i < len; i++)
        if (p[i] == 0 || (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f)
            text = 0;
    if (!text) {
        printf("hex:");
        for (size_t i = 0; i < len; i++)
            printf("%02x", p[i]);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] == '\n')
            printf("\\n");
        else if (p[i] == '\t')
            printf("\\t");
        else
            putchar(p[i]);
    }
    putchar('"');
}

/* --- send -------------------------------------------------------------------------------------------- */

static int cmd_send(const cli_options *opt, int argc, char **argv)
{
    msg_args a;
    uint32_t to, me;
    if (parse_args("send", argc, argv, 4, &a) < 0 || cli_parse_u32(a.pos[2], &to) < 0) {
        fprintf(stderr, "usage: imgate-cli send FROM_USER FROM_PASS TO_ID TEXT [-g] [-c CLIENT_TYPE]\n");
        return 2;
    }
    imgate_client *c = cli_login(opt, a.pos[0], a.pos[1], a.client_type, &me);
    if (c == NULL)
        return 1;
    IM__Message__IMMsgData m = IM__MESSAGE__IMMSG_DATA__INIT;
    m.from_user_id = me;
    m.to_session_id = to;
    m.msg_type = a.group ? MSG_TYPE_GROUP_TEXT : MSG_TYPE_SINGLE_TEXT;
    m.msg_data.data = (uint8_t *)a.pos[3];
    m.msg_data.len = strlen(a.pos[3]);
    /* Not cli_call: here a missing ack has a meaning of its own, as the server does not answer a message it
     * refuses or could not store. */
    imgate_client_pdu reply = {0};
    int rc = imgate_client_call(c, SID_MSG, CID_MSG_DATA, &m.base, CID_MSG_DATA_ACK, &reply, opt->timeout_ms);
    imgate_client_close(c);
    if (rc == IMGATE_CLIENT_TIMEOUT) {
        fprintf(stderr, "imgate-cli: send: no IMMsgDataAck: the message was refused or not stored\n");
        return 1;
    }
    if (rc != IMGATE_CLIENT_OK)
        return cli_complain("send", rc);
    IM__Message__IMMsgDataAck *ack = im__message__immsg_data_ack__unpack(NULL, reply.body_len, reply.body);
    imgate_client_pdu_free(&reply);
    if (ack == NULL) {
        fprintf(stderr, "imgate-cli: send: the reply does not parse as IMMsgDataAck\n");
        return 1;
    }
    printf("acked: msg_id=%u from=%u session=%u session_type=%s\n", ack->msg_id, ack->user_id, ack->session_id,
           ack->session_type == SESSION_TYPE_GROUP ? "group" : "single");
    im__message__immsg_data_ack__free_unpacked(ack, NULL);
    return 0;
}

/* --- listen ------------------------------------------------------------------------------------------- */

/* One line per PDU the user receives. */
static void print_pdu(const imgate_client_pdu *p)
{
    switch (p->h.command_id) {
    case CID_MSG_DATA: {
        IM__Message__IMMsgData *m = im__message__immsg_data__unpack(NULL, p->body_len, p->body);
        if (m == NULL)
            break;
        printf("msg id=%u from=%u to=%u type=%s time=%u data=", m->msg_id, m->from_user_id, m->to_session_id,
               type_name((uint32_t)m->msg_type), m->create_time);
        print_data(m->msg_data.data, m->msg_data.len);
        putchar('\n');
        im__message__immsg_data__free_unpacked(m, NULL);
        return;
    }
    case CID_MSG_READ_NOTIFY: {
        IM__Message__IMMsgDataReadNotify *n = im__message__immsg_data_read_notify__unpack(NULL, p->body_len, p->body);
        if (n == NULL)
            break;
        printf("read session=%u session_type=%s msg_id=%u (on another device)\n", n->session_id,
               n->session_type == SESSION_TYPE_GROUP ? "group" : "single", n->msg_id);
        im__message__immsg_data_read_notify__free_unpacked(n, NULL);
        return;
    }
    case CID_SWITCH_P2P_CMD: {
        IM__SwitchService__IMP2PCmdMsg *c = im__switch_service__imp2_pcmd_msg__unpack(NULL, p->body_len, p->body);
        if (c == NULL)
            break;
        printf("p2p from=%u to=%u data=", c->from_user_id, c->to_user_id);
        print_data((const uint8_t *)c->cmd_msg_data, strlen(c->cmd_msg_data));
        putchar('\n');
        im__switch_service__imp2_pcmd_msg__free_unpacked(c, NULL);
        return;
    }
    case CID_LOGIN_KICK_USER: {
        IM__Login__IMKickUser *k = im__login__imkick_user__unpack(NULL, p->body_len, p->body);
        printf("kicked reason=%u\n", k ? (unsigned)k->kick_reason : 0u);
        if (k)
            im__login__imkick_user__free_unpacked(k, NULL);
        return;
    }
    case CID_OTHER_HEARTBEAT:
        return;
    default:
        break;
    }
    printf("pdu ");
    cli_print_header(&p->h);
}

static int cmd_listen(const cli_options *opt, int argc, char **argv)
{
    msg_args a;
    if (parse_args("listen", argc, argv, 2, &a) < 0) {
        fprintf(stderr, "usage: imgate-cli listen USER PASS [-c CLIENT_TYPE] [-n COUNT] [-s SECONDS]\n");
        return 2;
    }
    uint32_t me;
    imgate_client *c = cli_login(opt, a.pos[0], a.pos[1], a.client_type, &me);
    if (c == NULL)
        return 1;
    fprintf(stderr, "imgate-cli: listening as %s (user %u)\n", a.pos[0], me);
    setvbuf(stdout, NULL, _IOLBF, 0);
    double start = cli_now_seconds(), last_beat = start;
    long messages = 0;
    int rc = IMGATE_CLIENT_OK;
    while (a.count < 0 || messages < a.count) {
        double now = cli_now_seconds();
        if (a.seconds > 0 && now - start >= a.seconds)
            break;
        if (now - last_beat >= LISTEN_HEARTBEAT_S) {
            imgate_client_send(c, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
            last_beat = now;
        }
        imgate_client_pdu p;
        rc = imgate_client_recv(c, &p, 500);
        if (rc == IMGATE_CLIENT_TIMEOUT)
            continue;
        if (rc != IMGATE_CLIENT_OK)
            break;
        print_pdu(&p);
        if (p.h.command_id == CID_MSG_DATA)
            messages++;
        imgate_client_pdu_free(&p);
    }
    imgate_client_close(c);
    if (rc == IMGATE_CLIENT_CLOSED) {
        fprintf(stderr, "imgate-cli: listen: the server closed the connection\n");
        return 1;
    }
    return 0;
}

/* --- unread, history ---------------------------------------------------------------------------------- */

static int cmd_unread(const cli_options *opt, int argc, char **argv)
{
    msg_args a;
    if (parse_args("unread", argc, argv, 2, &a) < 0) {
        fprintf(stderr, "usage: imgate-cli unread USER PASS [-c CLIENT_TYPE]\n");
        return 2;
    }
    uint32_t me;
    imgate_client *c = cli_login(opt, a.pos[0], a.pos[1], a.client_type, &me);
    if (c == NULL)
        return 1;
    IM__Message__IMUnreadMsgCntReq req = IM__MESSAGE__IMUNREAD_MSG_CNT_REQ__INIT;
    req.user_id = me;
    IM__Message__IMUnreadMsgCntRsp *r = (IM__Message__IMUnreadMsgCntRsp *)cli_call(
        opt, c, "unread", SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &req.base, CID_MSG_UNREAD_CNT_RESPONSE,
        &im__message__imunread_msg_cnt_rsp__descriptor);
    imgate_client_close(c);
    if (r == NULL)
        return 1;
    printf("total=%u sessions=%zu\n", r->total_cnt, r->n_unreadinfo_list);
    for (size_t i = 0; i < r->n_unreadinfo_list; i++) {
        IM__BaseDefine__UnreadInfo *u = r->unreadinfo_list[i];
        printf("session=%u type=%s unread=%u latest_id=%u latest_from=%u latest_type=%s latest=", u->session_id,
               u->session_type == SESSION_TYPE_GROUP ? "group" : "single", u->unread_cnt, u->latest_msg_id,
               u->latest_msg_from_user_id, type_name((uint32_t)u->latest_msg_type));
        print_data(u->latest_msg_data.data, u->latest_msg_data.len);
        putchar('\n');
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

static int cmd_history(const cli_options *opt, int argc, char **argv)
{
    msg_args a;
    uint32_t session, me;
    if (parse_args("history", argc, argv, 3, &a) < 0 || cli_parse_u32(a.pos[2], &session) < 0) {
        fprintf(stderr, "usage: imgate-cli history USER PASS SESSION_ID [-g] [-n COUNT] [-b MSG_ID_BEGIN]\n");
        return 2;
    }
    imgate_client *c = cli_login(opt, a.pos[0], a.pos[1], a.client_type, &me);
    if (c == NULL)
        return 1;
    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.user_id = me;
    req.session_type = a.group ? SESSION_TYPE_GROUP : SESSION_TYPE_SINGLE;
    req.session_id = session;
    req.msg_id_begin = a.begin;
    req.msg_cnt = a.count < 0 ? 20 : (uint32_t)a.count;
    IM__Message__IMGetMsgListRsp *r = (IM__Message__IMGetMsgListRsp *)cli_call(
        opt, c, "history", SID_MSG, CID_MSG_LIST_REQUEST, &req.base, CID_MSG_LIST_RESPONSE,
        &im__message__imget_msg_list_rsp__descriptor);
    imgate_client_close(c);
    if (r == NULL)
        return 1;
    for (size_t i = 0; i < r->n_msg_list; i++) {
        IM__BaseDefine__MsgInfo *m = r->msg_list[i];
        printf("msg id=%u from=%u type=%s time=%u data=", m->msg_id, m->from_session_id, type_name((uint32_t)m->msg_type),
               m->create_time);
        print_data(m->msg_data.data, m->msg_data.len);
        putchar('\n');
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

const cli_command cli_message_commands[] = {
    {"send", "FROM_USER FROM_PASS TO_ID TEXT [-g] [-c T]", 4, 7, cmd_send,
     "log in, send TEXT to user TO_ID (-g: to group TO_ID), print the ack; exit 0 iff acked"},
    {"listen", "USER PASS [-c T] [-n COUNT] [-s SECONDS]", 2, 8, cmd_listen,
     "log in, print every message, read notice and P2P command received (until COUNT messages / SECONDS)"},
    {"unread", "USER PASS [-c T]", 2, 4, cmd_unread, "log in, print the unread counts and latest messages"},
    {"history", "USER PASS SESSION_ID [-g] [-n N] [-b ID]", 3, 10, cmd_history,
     "log in, print N messages of the session (-g: a group), newest first, ids <= ID"},
    {NULL, NULL, 0, 0, NULL, NULL},
};
