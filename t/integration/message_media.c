/*
 * message_media.c — P2P commands and audio over the real protocol.
 *
 * P2P: relayed to every connection of the peer and the sender's other
 * connections with the sender set from the session, never stored; oversized,
 * addressless and malformed commands go nowhere.
 * Audio (single and group): a 4-byte big-endian duration + the sound; the
 * bytes, an IMAudio row and its id as the message content are stored;
 * delivery and history give back duration + bytes exactly, the unread list
 * the clients' encrypted "[语音]" placeholder; too short and too long are
 * refused.
 */
#include <openssl/evp.h>

#include "IM.SwitchService.pb-c.h"
#include "message_util.h"

static harness *h;

enum { ALICE = 231, BOB = 232, CAROL = 233 };
#define GID 60

static void send_p2p(imgate_client *c, uint32_t claimed_from, uint32_t to, const char *text)
{
    IM__SwitchService__IMP2PCmdMsg p = IM__SWITCH_SERVICE__IMP2_PCMD_MSG__INIT;
    p.from_user_id = claimed_from;
    p.to_user_id = to;
    p.cmd_msg_data = (char *)text;
    imgate_client_send_msg(c, SID_SWITCH_SERVICE, CID_SWITCH_P2P_CMD, &p.base, NULL);
}

static int got_p2p(imgate_client *c, uint32_t from, uint32_t to, const char *text)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_SWITCH_P2P_CMD, 0, &pdu, 3000) != 0)
        return 0;
    IM__SwitchService__IMP2PCmdMsg *p = im__switch_service__imp2_pcmd_msg__unpack(NULL, pdu.body_len, pdu.body);
    int ok = p && pdu.h.service_id == SID_SWITCH_SERVICE && p->from_user_id == from && p->to_user_id == to &&
             strcmp(p->cmd_msg_data, text) == 0;
    if (p)
        im__switch_service__imp2_pcmd_msg__free_unpacked(p, NULL);
    imgate_client_pdu_free(&pdu);
    return ok;
}

static void test_p2p(void)
{
    imgate_client *a_pc = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *a_mob = msg_login(h, 0, "alice", "alice123", CLIENT_IOS);
    imgate_client *b_pc = msg_login(h, 0, "bob", "bob123", CLIENT_WINDOWS);
    imgate_client *b_mob = msg_login(h, 0, "bob", "bob123", CLIENT_ANDROID);
    const char *cmd = "{\"cmd_id\":1,\"content\":\"typing\",\"service_id\":1}";
    send_p2p(a_pc, CAROL, BOB, cmd);
    tap_ok(got_p2p(b_pc, ALICE, BOB, cmd), "the peer's PC gets the command verbatim, from the session's user (not the claimed one)");
    tap_ok(got_p2p(b_mob, ALICE, BOB, cmd), "the peer's mobile too");
    tap_ok(got_p2p(a_mob, ALICE, BOB, cmd), "and the sender's other connection");
    tap_ok(nothing_of(a_pc, CID_SWITCH_P2P_CMD, 400), "not the sending connection");
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMRelationShip"), 0, "nothing is stored (not even a relation)");

    char *big = malloc(5000);
    memset(big, 'p', 4999);
    big[4999] = '\0';
    send_p2p(a_pc, ALICE, BOB, big);
    free(big);
    send_p2p(a_pc, ALICE, 0, "to nobody");
    imgate_client_send(a_pc, SID_SWITCH_SERVICE, CID_SWITCH_P2P_CMD, "\x08\xff", 2, NULL);
    tap_ok(nothing_of(b_pc, CID_SWITCH_P2P_CMD, 600), "an oversized, an addressless and a malformed command reach nobody");
    tap_ok(heartbeat_ok(a_pc), "the sender's connection stays usable");
    imgate_client_close(a_pc);
    imgate_client_close(a_mob);
    imgate_client_close(b_pc);
    imgate_client_close(b_mob);
}

/* duration (big-endian) + n bytes of a pattern that is anything but text. */
static uint8_t *make_audio(uint32_t duration, size_t n, size_t *len)
{
    uint8_t *a = malloc(4 + n);
    a[0] = (uint8_t)(duration >> 24);
    a[1] = (uint8_t)(duration >> 16);
    a[2] = (uint8_t)(duration >> 8);
    a[3] = (uint8_t)duration;
    for (size_t i = 0; i < n; i++)
        a[4 + i] = (uint8_t)(i * 7 + (i >> 8));
    *len = 4 + n;
    return a;
}

static void md5_hex(const uint8_t *p, size_t n, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    EVP_Digest(p, n, d, &dn, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The clients' decryption (protocol A.3): base64, AES-256-ECB, the length in the last 4 bytes. */
static int client_decrypt(const uint8_t *in, size_t len, char *out, size_t out_len)
{
    uint8_t raw[256], plain[256];
    if (len >= 300)
        return -1;
    int n = EVP_DecodeBlock(raw, in, (int)len);
    while (len > 0 && in[len - 1] == '=' && n > 0)
        len--, n--;
    if (n <= 0 || n % 16 != 0)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    EVP_DecryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, (const uint8_t *)"12345678901234567890123456789012", NULL);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_DecryptUpdate(ctx, plain, &l1, raw, n);
    EVP_DecryptFinal_ex(ctx, plain + l1, &l2);
    EVP_CIPHER_CTX_free(ctx);
    uint32_t size = (uint32_t)plain[n - 4] << 24 | (uint32_t)plain[n - 3] << 16 | (uint32_t)plain[n - 2] << 8 | plain[n - 1];
    if (size > (uint32_t)n - 4 || size >= out_len)
        return -1;
    memcpy(out, plain, size);
    out[size] = '\0';
    return 0;
}

static void test_single_audio(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_ANDROID);
    imgate_client *b = msg_login(h, 0, "bob", "bob123", CLIENT_IOS);
    size_t len;
    uint8_t *audio = make_audio(7, 3000, &len);
    int seq = msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_AUDIO, audio, len);
    uint32_t id = msg_ack_id(a, seq, 5000);
    tap_is_int(id, 1, "a 7-second audio message is acked");
    IM__Message__IMMsgData *m = msg_wait_data(b, 3000);
    tap_ok(m && m->msg_type == MSG_TYPE_SINGLE_AUDIO && m->msg_data.len == len && memcmp(m->msg_data.data, audio, len) == 0,
           "the receiver gets duration + sound, byte for byte");
    msg_free_data(m);
    long long rel = relation_of(h, ALICE, BOB);
    long long audio_id = sql_num(h, "SELECT content FROM IMMessage_%lld WHERE relateId = %lld AND msgId = 1", rel % 8, rel);
    tap_ok(audio_id > 0, "the message content is an IMAudio id (%lld)", audio_id);
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMAudio WHERE id = %lld AND fromId = %d AND toId = %d AND size = 3000 AND "
                          "duration = 7", audio_id, ALICE, BOB),
               1, "IMAudio holds sender, receiver, size and duration");
    char want[33], got[64] = "", sql[160];
    md5_hex(audio + 4, len - 4, want);
    snprintf(sql, sizeof sql, "SELECT MD5(data) FROM imgate_audio_data WHERE id = %lld", audio_id);
    harness_sql(h, sql, got, sizeof got);
    tap_is_str(got, want, "imgate_audio_data holds the sound exactly");

    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.session_type = SESSION_TYPE_SINGLE;
    req.session_id = ALICE;
    req.msg_cnt = 10;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(b, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, CID_MSG_LIST_RESPONSE, &pdu, 5000);
    IM__Message__IMGetMsgListRsp *l = rc == 0 ? im__message__imget_msg_list_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(l && l->n_msg_list == 1 && l->msg_list[0]->msg_type == MSG_TYPE_SINGLE_AUDIO &&
               l->msg_list[0]->msg_data.len == len && memcmp(l->msg_list[0]->msg_data.data, audio, len) == 0,
           "history gives back duration + sound exactly");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);

    IM__Message__IMUnreadMsgCntReq ureq = IM__MESSAGE__IMUNREAD_MSG_CNT_REQ__INIT;
    rc = imgate_client_call(b, SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &ureq.base, CID_MSG_UNREAD_CNT_RESPONSE, &pdu, 5000);
    IM__Message__IMUnreadMsgCntRsp *u = rc == 0 ? im__message__imunread_msg_cnt_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    char text[64] = "";
    tap_ok(u && u->n_unreadinfo_list == 1 && u->unreadinfo_list[0]->latest_msg_type == MSG_TYPE_SINGLE_AUDIO &&
               client_decrypt(u->unreadinfo_list[0]->latest_msg_data.data, u->unreadinfo_list[0]->latest_msg_data.len,
                              text, sizeof text) == 0,
           "the unread list shows an encrypted placeholder for the audio");
    tap_is_str(text, "[语音]", "which decrypts, as a client does, to the reference's text");
    if (u)
        im__message__imunread_msg_cnt_rsp__free_unpacked(u, NULL);
    free(audio);

    uint8_t *too_long = make_audio(9, 9000, &len);
    seq = msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_AUDIO, too_long, len);
    tap_ok(msg_wait_ack(a, seq, 800) == NULL, "audio over audio_max_bytes (8k here) is refused");
    free(too_long);
    seq = msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_AUDIO, "\0\0\0\3", 4);
    tap_ok(msg_wait_ack(a, seq, 800) == NULL, "a 4-byte audio (no sound) is refused");
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMAudio"), 1, "neither left an IMAudio row");
    tap_ok(heartbeat_ok(a), "the connection stays usable");
    imgate_client_close(a);
    imgate_client_close(b);
}

static void test_group_audio(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *c = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    size_t len;
    uint8_t *audio = make_audio(3, 1000, &len);
    int seq = msg_send_as(a, 0, GID, MSG_TYPE_GROUP_AUDIO, audio, len);
    tap_is_int(msg_ack_id(a, seq, 5000), 1, "group audio is acked");
    IM__Message__IMMsgData *m = msg_wait_data(c, 3000);
    tap_ok(m && m->msg_type == MSG_TYPE_GROUP_AUDIO && m->to_session_id == GID && m->msg_data.len == len &&
               memcmp(m->msg_data.data, audio, len) == 0,
           "a member receives duration + sound");
    msg_free_data(m);
    long long audio_id = sql_num(h, "SELECT content FROM IMGroupMessage_%d WHERE groupId = %d AND msgId = 1", GID % 8, GID);
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMAudio WHERE id = %lld AND toId = %d AND duration = 3", audio_id, GID), 1,
               "the group message holds its IMAudio id");
    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.session_type = SESSION_TYPE_GROUP;
    req.session_id = GID;
    req.msg_cnt = 10;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, CID_MSG_LIST_RESPONSE, &pdu, 5000);
    IM__Message__IMGetMsgListRsp *l = rc == 0 ? im__message__imget_msg_list_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(l && l->n_msg_list == 1 && l->msg_list[0]->msg_data.len == len &&
               memcmp(l->msg_list[0]->msg_data.data, audio, len) == 0,
           "group history gives back duration + sound");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    free(audio);
    imgate_client_close(a);
    imgate_client_close(c);
}

int main(void)
{
    h = harness_start("message_media");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, MSG_PLUGINS, "[plugin.message]\naudio_max_bytes = 8k\n") != 0)
        tap_bail("imgated did not start");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    add_user(h, CAROL, "carol", "carol123", 0);
    sql_do(h, "INSERT INTO IMGroup (id, name, creator, type, userCnt, status, version, created, updated) VALUES "
              "(%d, 'voices', %d, 2, 2, 0, 1, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())", GID, ALICE);
    sql_do(h, "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (%d, %d, 0, 1, 1), "
              "(%d, %d, 0, 1, 1)", GID, ALICE, GID, CAROL);
    test_p2p();
    test_single_audio();
    test_group_audio();
    harness_stop(h);
    return tap_done();
}
