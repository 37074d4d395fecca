/*
 * sdk_units.c — the parts of the core behind the SDK that need no daemon:
 * the kick rules of protocol H.3 on the session registry (with the kick action
 * recorded instead of sent), request decoding (enum ranges as a proto2 parser
 * checks them, NUL inside strings, the arena), and declared plugin
 * configuration checked against an ini file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "config.h"
#include "imgate/teamtalk.h"
#include "pb_request.h"
#include "plugin_config.h"
#include "session.h"
#include "tap.h"

/* --- kick rules ---------------------------------------------------------------------------- */

static uint64_t kicked_ids[16];
static uint32_t kicked_reasons[16];
static int n_kicked;

static void record_kick(conn *victim, uint32_t reason)
{
    if (n_kicked < 16) {
        kicked_ids[n_kicked] = victim->id;
        kicked_reasons[n_kicked] = reason;
    }
    n_kicked++;
    victim->kicked = 1;
}

static conn *new_conn(uint64_t id)
{
    conn *c = calloc(1, sizeof *c);
    c->id = id;
    return c;
}

static void test_kick_rules(void)
{
    session_set_kick_hook(record_kick);
    conn *win = new_conn(1), *android = new_conn(2), *mac = new_conn(3), *ios = new_conn(4), *other = new_conn(5);

    tap_is_int(session_bind(win, 100, CLIENT_TYPE_WINDOWS), 0, "first PC login kicks nobody");
    tap_is_int(session_bind(android, 100, CLIENT_TYPE_ANDROID), 0, "PC + mobile: nobody kicked");
    tap_is_int(session_presence(100), IMGATE_CLASS_PC | IMGATE_CLASS_MOBILE, "the user is online on both classes");
    tap_is_int(session_bind(other, 200, CLIENT_TYPE_WINDOWS), 0, "another user's PC login kicks nobody");

    tap_is_int(session_bind(mac, 100, CLIENT_TYPE_MAC), 1, "a Mac login after Windows kicks one (same class)");
    tap_ok(n_kicked == 1 && kicked_ids[0] == 1 && kicked_reasons[0] == KICK_REASON_DUPLICATE_USER,
           "the Windows connection, with reason 1 (duplicate)");
    uint64_t ids[4];
    tap_ok(session_conns(100, IMGATE_CLASS_PC, ids, 4) == 1 && ids[0] == 3, "the Mac is the user's only PC now");

    tap_is_int(session_bind(ios, 100, CLIENT_TYPE_IOS), 1, "an iOS login after Android kicks the Android");
    tap_ok(n_kicked == 2 && kicked_ids[1] == 2, "the Android connection");
    tap_ok(session_conns(100, IMGATE_CLASS_ALL, ids, 4) == 2, "one PC and one mobile remain");

    tap_is_int(session_kick(100, IMGATE_CLASS_PC, ios->id, KICK_REASON_MOBILE_KICK), 1, "the mobile kicks the PC");
    tap_ok(n_kicked == 3 && kicked_ids[2] == 3 && kicked_reasons[2] == KICK_REASON_MOBILE_KICK,
           "the Mac, with reason 2 (mobile kick)");
    tap_is_int(session_presence(100), IMGATE_CLASS_MOBILE, "only the mobile is online");
    tap_is_int(session_kick(100, IMGATE_CLASS_PC, ios->id, KICK_REASON_MOBILE_KICK), 0,
               "a kicked connection is not in the registry any more");

    session_unbind(ios);
    tap_is_int(session_presence(100), 0, "closing the last connection takes the user offline");
    tap_is_int(session_presence(200), IMGATE_CLASS_PC, "the other user is untouched");
    tap_is_int((long long)session_user_count(), 1, "one user online");

    session_unbind(other);
    session_set_kick_hook(NULL);
    free(win);
    free(android);
    free(mac);
    free(ios);
    free(other);
}

/* --- request decoding ---------------------------------------------------------------------- */

static size_t pack_login(uint8_t *buf, int online_status, int client_type, const char *name)
{
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = (char *)name;
    req.password = (char *)"x";
    req.online_status = (IM__BaseDefine__UserStatType)online_status;
    req.client_type = (IM__BaseDefine__ClientType)client_type;
    return protobuf_c_message_pack(&req.base, buf);
}

static void test_decoding(void)
{
    uint8_t buf[256];
    pb_arena arena;
    pb_arena_init(&arena);
    size_t n = pack_login(buf, USER_STATUS_ONLINE, CLIENT_TYPE_ANDROID, "pu3");
    tap_ok(pb_request_decode(&im__login__imlogin_req__descriptor, buf, n, &arena) != NULL, "a valid login decodes");
    n = pack_login(buf, USER_STATUS_ONLINE, 99, "pu3");
    tap_ok(pb_request_decode(&im__login__imlogin_req__descriptor, buf, n, &arena) == NULL,
           "client_type 99 (no such ClientType) is malformed, as the reference's parser says");
    n = pack_login(buf, 0, CLIENT_TYPE_WINDOWS, "pu3");
    tap_ok(pb_request_decode(&im__login__imlogin_req__descriptor, buf, n, &arena) == NULL,
           "online_status 0 (no such UserStatType) is malformed");
    /* "pu3\0xyz" on the wire: protobuf-c would hand C code "pu3". */
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = (char *)"pu3Axyz";
    req.password = (char *)"x";
    req.online_status = USER_STATUS_ONLINE;
    req.client_type = CLIENT_TYPE_WINDOWS;
    n = protobuf_c_message_pack(&req.base, buf);
    uint8_t *a = memchr(buf, 'A', n);
    *a = '\0';
    tap_ok(pb_request_decode(&im__login__imlogin_req__descriptor, buf, n, &arena) == NULL,
           "a NUL inside a string field is malformed");
    /* bytes fields may carry anything, NUL included */
    IM__Message__IMMsgData msg = IM__MESSAGE__IMMSG_DATA__INIT;
    msg.msg_type = MSG_TYPE_SINGLE_TEXT;
    msg.msg_data.data = (uint8_t *)"a\0b";
    msg.msg_data.len = 3;
    n = protobuf_c_message_pack(&msg.base, buf);
    IM__Message__IMMsgData *back =
        (IM__Message__IMMsgData *)pb_request_decode(&im__message__immsg_data__descriptor, buf, n, &arena);
    tap_ok(back && back->msg_data.len == 3 && memcmp(back->msg_data.data, "a\0b", 3) == 0,
           "a bytes field keeps its NUL");
    /* An optional enum outside its range is treated as absent. */
    IM__Login__IMDeviceTokenReq tok = IM__LOGIN__IMDEVICE_TOKEN_REQ__INIT;
    tok.device_token = (char *)"t";
    tok.has_client_type = 1;
    tok.client_type = (IM__BaseDefine__ClientType)77;
    n = protobuf_c_message_pack(&tok.base, buf);
    IM__Login__IMDeviceTokenReq *t =
        (IM__Login__IMDeviceTokenReq *)pb_request_decode(&im__login__imdevice_token_req__descriptor, buf, n, &arena);
    tap_ok(t && !t->has_client_type, "an optional enum outside its range reads as absent");
    tap_ok(pb_request_decode(&im__login__imlogin_req__descriptor, (const uint8_t *)"\xff\xff\xff", 3, &arena) == NULL,
           "garbage is malformed");
    pb_arena_release(&arena);
    /* The arena grows past its first block and gives everything back at once. */
    pb_arena_init(&arena);
    ProtobufCAllocator al = pb_arena_allocator(&arena);
    int all = 1;
    for (int i = 0; i < 100; i++)
        all &= al.alloc(al.allocator_data, 1000) != NULL;
    tap_ok(all, "the arena serves 100 KB in 1 KB pieces");
    pb_arena_release(&arena);
}

/* --- declared plugin configuration ----------------------------------------------------------- */

static const imgate_config_key keys[] = {
    {"limit", IMGATE_CFG_INT, 1, 10, "5", NULL},
    {"size", IMGATE_CFG_SIZE, 1024, 1048576, "64k", NULL},
    {"flag", IMGATE_CFG_BOOL, 0, 0, "no", NULL},
    {"mode", IMGATE_CFG_ENUM, 0, 0, "fast", "fast|safe"},
    {"name", IMGATE_CFG_STRING, 0, 4, "x", NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static void check_ini(const char *body, const char *want_error)
{
    char path[] = "/tmp/imgate-sdk-units-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(body, f);
    fclose(f);
    char err[512] = "", want[512];
    config *cfg = config_load(path, err, sizeof err);
    int rc = cfg ? plugin_config_check(cfg, "kit", keys, err, sizeof err) : -1;
    if (want_error == NULL)
        tap_ok(rc == 0, "accepted: %s", err);
    else {
        snprintf(want, sizeof want, "%s:%s", path, want_error);
        tap_is_str(rc == 0 ? "(accepted)" : err, want, "refused with FILE:LINE: %s", want_error);
    }
    config_free(cfg);
    unlink(path);
}

static void test_plugin_config(void)
{
    check_ini("[plugin.kit]\nlimit = 7\nsize = 32k\nflag = yes\nmode = safe\nname = abcd\n", NULL);
    check_ini("[plugin.kit]\nlimit = 7\nlimt = 3\n", "3: unknown key 'limt' in [plugin.kit]");
    check_ini("[plugin.kit]\nlimit = 11\n", "2: [plugin.kit] limit: expected a number from 1 to 10, got '11'");
    check_ini("[plugin.kit]\nlimit = ten\n", "2: [plugin.kit] limit: expected a number from 1 to 10, got 'ten'");
    check_ini("[plugin.kit]\nsize = 2m\n",
              "2: [plugin.kit] size: expected a number from 1024 to 1048576 (k/m suffixes allowed), got '2m'");
    check_ini("[plugin.kit]\nflag = maybe\n", "2: [plugin.kit] flag: expected yes or no, got 'maybe'");
    check_ini("[plugin.kit]\nmode = slow\n", "2: [plugin.kit] mode: expected fast|safe, got 'slow'");
    check_ini("[plugin.kit]\nname = abcde\n", "2: [plugin.kit] name: expected at most 4 bytes, got 'abcde'");
    check_ini("[plugin.other]\nanything = 1\n", NULL);
    check_ini("[plugin.kit]\nsize=-09444444444444M\n",
              "2: [plugin.kit] size: expected a number from 1024 to 1048576 (k/m suffixes allowed), got '-09444444444444M'");
    long long v;
    char why[128];
    tap_ok(plugin_config_parse(&keys[1], "64k", &v, why, sizeof why) == 0 && v == 65536, "64k is 65536 bytes");
    tap_ok(plugin_config_parse(&keys[3], "safe", &v, why, sizeof why) == 0 && v == 1, "an enum value is its index");
}

int main(void)
{
    test_kick_rules();
    test_decoding();
    test_plugin_config();
    return tap_done();
}
