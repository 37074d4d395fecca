/*
 * proto_roundtrip.c — checks imgate's generated TeamTalk protobuf code.
 *
 * Three kinds of checks:
 *  - generic, driven by the descriptors of all 110 messages: a message with
 *    every field set packs, unpacks and re-packs to the same bytes, and
 *    deleting any one required field from the wire makes unpacking fail
 *    (clients parse with proto2 rules, so required really means required;
 *    the one exception, a required field with a default, is noted below);
 *  - hand-written round trips, one or more per .proto file, reading the
 *    fields back by name;
 *  - byte-exact encodings computed by hand, and a few command/enum ids, so a
 *    wrong field number, type or enum value cannot go unnoticed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.BaseDefine.pb-c.h"
#include "IM.Buddy.pb-c.h"
#include "IM.File.pb-c.h"
#include "IM.Group.pb-c.h"
#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "IM.Other.pb-c.h"
#include "IM.Server.pb-c.h"
#include "IM.SwitchService.pb-c.h"

#include "t/lib/tap.h"

/* ---------------------------------------------------------------- helpers */

/* Packs any message into a fresh malloc'd buffer. */
static uint8_t *pack_message(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf)
        tap_bail("out of memory");
    size_t written = protobuf_c_message_pack(msg, buf);
    if (written != *len)
        tap_bail("pack wrote %zu bytes, get_packed_size said %zu", written, *len);
    return buf;
}

static void diag_hex(const char *label, const uint8_t *p, size_t n)
{
    char line[3 * 64 + 1];
    size_t used = 0;
    for (size_t i = 0; i < n && used + 4 < sizeof(line); i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%02x ", p[i]);
    line[used] = '\0';
    tap_diag("%s (%zu bytes): %s", label, n, line);
}

/* Packs `msg` and compares the result with hand-computed wire bytes. */
static int is_encoding(const ProtobufCMessage *msg, const uint8_t *want, size_t want_len,
                       const char *name)
{
    size_t len;
    uint8_t *got = pack_message(msg, &len);
    int same = len == want_len && memcmp(got, want, len) == 0;
    if (!tap_ok(same, "%s encodes byte for byte", name)) {
        diag_hex("got ", got, len);
        diag_hex("want", want, want_len);
    }
    free(got);
    return same;
}

static int binary_is(ProtobufCBinaryData got, const void *want, size_t want_len)
{
    return got.len == want_len && (want_len == 0 || memcmp(got.data, want, want_len) == 0);
}

/* ------------------------------------------- generic descriptor-driven checks */

/* Remembers the memory the generic filler allocates, so it can all be freed. */
struct arena {
    void *blocks[256];
    size_t count;
};

static void *arena_alloc(struct arena *a, size_t size)
{
    if (a->count == sizeof(a->blocks) / sizeof(a->blocks[0]))
        tap_bail("test arena full");
    void *p = calloc(1, size ? size : 1);
    if (!p)
        tap_bail("out of memory");
    a->blocks[a->count++] = p;
    return p;
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->count; i++)
        free(a->blocks[i]);
    a->count = 0;
}

static ProtobufCMessage *new_filled_message(const ProtobufCMessageDescriptor *d,
                                            struct arena *a, int depth);

/* Stores one non-default value of the field's type at `slot`. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *slot, struct arena *a, int depth)
{
    static char text[] = "x";
    static uint8_t raw[] = { 0x00, 0xff };

    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32:
        *(uint32_t *)slot = 100 + f->id;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        /* the last value: non-zero in every TeamTalk enum */
        *(int *)slot = e->values[e->n_values - 1].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)slot = text;
        break;
    case PROTOBUF_C_TYPE_BYTES:
        ((ProtobufCBinaryData *)slot)->len = sizeof(raw);
        ((ProtobufCBinaryData *)slot)->data = raw;
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)slot = new_filled_message(f->descriptor, a, depth + 1);
        break;
    default:
        tap_bail("field %s has a type this test does not know (%d)", f->name, (int)f->type);
    }
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32: return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: tap_bail("field %s: unexpected type %d", f->name, (int)f->type);
    }
}

/* Builds a message with every field set: required, optional, and one
 * element in each repeated field. */
static ProtobufCMessage *new_filled_message(const ProtobufCMessageDescriptor *d,
                                            struct arena *a, int depth)
{
    if (depth > 4)
        tap_bail("%s nests too deeply", d->name);
    ProtobufCMessage *msg = arena_alloc(a, d->sizeof_message);
    protobuf_c_message_init(d, msg);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)msg;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            void *array = arena_alloc(a, value_size(f));
            fill_value(f, array, a, depth);
            *(size_t *)(base + f->quantifier_offset) = 1;
            *(void **)(base + f->offset) = array;
            continue;
        }
        fill_value(f, base + f->offset, a, depth);
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
            *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return msg;
}

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; *pos < len && shift < 64; shift += 7) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Copies wire bytes, leaving out every top-level occurrence of field `id`. */
static size_t strip_field(const uint8_t *in, size_t len, uint32_t id, uint8_t *out)
{
    size_t pos = 0, kept = 0;
    while (pos < len) {
        size_t start = pos;
        uint64_t tag, skip;
        if (!read_varint(in, len, &pos, &tag))
            tap_bail("bad tag in packed message");
        switch (tag & 7) {
        case 0:
            if (!read_varint(in, len, &pos, &skip))
                tap_bail("bad varint in packed message");
            break;
        case 1: pos += 8; break;
        case 2:
            if (!read_varint(in, len, &pos, &skip))
                tap_bail("bad length in packed message");
            pos += skip;
            break;
        case 5: pos += 4; break;
        default: tap_bail("unexpected wire type %u", (unsigned)(tag & 7));
        }
        if (pos > len)
            tap_bail("truncated packed message");
        if ((tag >> 3) != id) {
            memcpy(out + kept, in + start, pos - start);
            kept += pos - start;
        }
    }
    return kept;
}

/* For one message type: the full message survives pack/unpack/pack
 * unchanged, every required field is enforced, optional ones are not. */
static void check_descriptor(const ProtobufCMessageDescriptor *d)
{
    struct arena arena = { .count = 0 };
    ProtobufCMessage *full = new_filled_message(d, &arena, 0);
    size_t len;
    uint8_t *wire = pack_message(full, &len);

    ProtobufCMessage *back = protobuf_c_message_unpack(d, NULL, len, wire);
    int same = 0;
    if (back) {
        size_t again_len;
        uint8_t *again = pack_message(back, &again_len);
        same = again_len == len && memcmp(again, wire, len) == 0;
        free(again);
        protobuf_c_message_free_unpacked(back, NULL);
    }
    tap_ok(same, "%s: every field set survives pack/unpack/pack", d->name);

    /* protobuf-c fills a missing required field that has a [default] with
     * that default instead of failing (IMGroupCreateReq.group_type is the
     * only such field); those count as tolerated, not enforced. */
    unsigned required = 0, enforced = 0, optional = 0, tolerated = 0;
    uint8_t *stripped = malloc(len ? len : 1);
    if (!stripped)
        tap_bail("out of memory");
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t n = strip_field(wire, len, f->id, stripped);
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, stripped);
        if (f->label == PROTOBUF_C_LABEL_REQUIRED && f->default_value == NULL) {
            required++;
            if (!m)
                enforced++;
            else
                tap_diag("%s: missing required field %s was accepted", d->name, f->name);
        } else {
            optional++;
            if (m)
                tolerated++;
            else
                tap_diag("%s: missing field %s (optional, repeated or defaulted) was rejected",
                         d->name, f->name);
        }
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    tap_ok(enforced == required && tolerated == optional,
           "%s: %u required field(s) enforced, %u other field(s) may be absent",
           d->name, required, optional);
    free(stripped);
    free(wire);
    arena_free(&arena);
}

/* Every message of every package; the count per package is checked below
 * against docs/protocol.md C so a message missing from a .proto file is noticed. */
static const ProtobufCMessageDescriptor *const all_messages[] = {
    /* IM.BaseDefine: 15 */
    &im__base_define__ip_addr__descriptor, &im__base_define__user_info__descriptor,
    &im__base_define__contact_session_info__descriptor, &im__base_define__user_stat__descriptor,
    &im__base_define__server_user_stat__descriptor, &im__base_define__unread_info__descriptor,
    &im__base_define__msg_info__descriptor, &im__base_define__group_version_info__descriptor,
    &im__base_define__group_info__descriptor, &im__base_define__user_token_info__descriptor,
    &im__base_define__push_result__descriptor, &im__base_define__shield_status__descriptor,
    &im__base_define__offline_file_info__descriptor, &im__base_define__depart_info__descriptor,
    &im__base_define__push_shield_status__descriptor,
    /* IM.Login: 15 */
    &im__login__immsg_serv_req__descriptor, &im__login__immsg_serv_rsp__descriptor,
    &im__login__imlogin_req__descriptor, &im__login__imlogin_res__descriptor,
    &im__login__imlogout_req__descriptor, &im__login__imlogout_rsp__descriptor,
    &im__login__imkick_user__descriptor, &im__login__imdevice_token_req__descriptor,
    &im__login__imdevice_token_rsp__descriptor, &im__login__imkick_pcclient_req__descriptor,
    &im__login__imkick_pcclient_rsp__descriptor, &im__login__impush_shield_req__descriptor,
    &im__login__impush_shield_rsp__descriptor, &im__login__imquery_push_shield_req__descriptor,
    &im__login__imquery_push_shield_rsp__descriptor,
    /* IM.Buddy: 21 */
    &im__buddy__imrecent_contact_session_req__descriptor,
    &im__buddy__imrecent_contact_session_rsp__descriptor,
    &im__buddy__imuser_stat_notify__descriptor, &im__buddy__imusers_info_req__descriptor,
    &im__buddy__imusers_info_rsp__descriptor, &im__buddy__imremove_session_req__descriptor,
    &im__buddy__imremove_session_rsp__descriptor, &im__buddy__imall_user_req__descriptor,
    &im__buddy__imall_user_rsp__descriptor, &im__buddy__imusers_stat_req__descriptor,
    &im__buddy__imusers_stat_rsp__descriptor, &im__buddy__imchange_avatar_req__descriptor,
    &im__buddy__imchange_avatar_rsp__descriptor, &im__buddy__impclogin_status_notify__descriptor,
    &im__buddy__imremove_session_notify__descriptor, &im__buddy__imdepartment_req__descriptor,
    &im__buddy__imdepartment_rsp__descriptor, &im__buddy__imavatar_changed_notify__descriptor,
    &im__buddy__imchange_sign_info_req__descriptor, &im__buddy__imchange_sign_info_rsp__descriptor,
    &im__buddy__imsign_info_changed_notify__descriptor,
    /* IM.Message: 14 */
    &im__message__immsg_data__descriptor, &im__message__immsg_data_ack__descriptor,
    &im__message__immsg_data_read_ack__descriptor, &im__message__immsg_data_read_notify__descriptor,
    &im__message__imclient_time_req__descriptor, &im__message__imclient_time_rsp__descriptor,
    &im__message__imunread_msg_cnt_req__descriptor, &im__message__imunread_msg_cnt_rsp__descriptor,
    &im__message__imget_msg_list_req__descriptor, &im__message__imget_msg_list_rsp__descriptor,
    &im__message__imget_latest_msg_id_req__descriptor,
    &im__message__imget_latest_msg_id_rsp__descriptor,
    &im__message__imget_msg_by_id_req__descriptor, &im__message__imget_msg_by_id_rsp__descriptor,
    /* IM.Group: 11 */
    &im__group__imnormal_group_list_req__descriptor, &im__group__imnormal_group_list_rsp__descriptor,
    &im__group__imgroup_info_list_req__descriptor, &im__group__imgroup_info_list_rsp__descriptor,
    &im__group__imgroup_create_req__descriptor, &im__group__imgroup_create_rsp__descriptor,
    &im__group__imgroup_change_member_req__descriptor,
    &im__group__imgroup_change_member_rsp__descriptor,
    &im__group__imgroup_shield_req__descriptor, &im__group__imgroup_shield_rsp__descriptor,
    &im__group__imgroup_change_member_notify__descriptor,
    /* IM.File: 12 */
    &im__file__imfile_login_req__descriptor, &im__file__imfile_login_rsp__descriptor,
    &im__file__imfile_state__descriptor, &im__file__imfile_pull_data_req__descriptor,
    &im__file__imfile_pull_data_rsp__descriptor, &im__file__imfile_req__descriptor,
    &im__file__imfile_rsp__descriptor, &im__file__imfile_notify__descriptor,
    &im__file__imfile_has_offline_req__descriptor, &im__file__imfile_has_offline_rsp__descriptor,
    &im__file__imfile_add_offline_req__descriptor, &im__file__imfile_del_offline_req__descriptor,
    /* IM.Server: 20 */
    &im__server__imstop_receive_packet__descriptor, &im__server__imvalidate_req__descriptor,
    &im__server__imvalidate_rsp__descriptor, &im__server__imget_device_token_req__descriptor,
    &im__server__imget_device_token_rsp__descriptor, &im__server__imrole_set__descriptor,
    &im__server__imonline_user_info__descriptor, &im__server__immsg_serv_info__descriptor,
    &im__server__imuser_status_update__descriptor, &im__server__imuser_cnt_update__descriptor,
    &im__server__imserver_kick_user__descriptor,
    &im__server__imserver_pclogin_status_notify__descriptor,
    &im__server__impush_to_user_req__descriptor, &im__server__impush_to_user_rsp__descriptor,
    &im__server__imgroup_get_shield_req__descriptor, &im__server__imgroup_get_shield_rsp__descriptor,
    &im__server__imfile_transfer_req__descriptor, &im__server__imfile_transfer_rsp__descriptor,
    &im__server__imfile_server_ipreq__descriptor, &im__server__imfile_server_iprsp__descriptor,
    /* IM.Other: 1 */
    &im__other__imheart_beat__descriptor,
    /* IM.SwitchService: 1 */
    &im__switch_service__imp2_pcmd_msg__descriptor,
};

static void check_all_descriptors(void)
{
    static const struct {
        const char *package;
        unsigned messages;
        unsigned fields;
    } expected[] = {
        { "IM.BaseDefine", 15, 69 }, { "IM.Login", 15, 39 }, { "IM.Buddy", 21, 64 },
        { "IM.Message", 14, 57 },    { "IM.Group", 11, 48 }, { "IM.File", 12, 52 },
        { "IM.Server", 20, 56 },     { "IM.Other", 1, 0 },   { "IM.SwitchService", 1, 3 },
    };
    size_t n = sizeof(all_messages) / sizeof(all_messages[0]);
    unsigned total_fields = 0;
    for (size_t p = 0; p < sizeof(expected) / sizeof(expected[0]); p++) {
        unsigned messages = 0, fields = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(all_messages[i]->package_name, expected[p].package) == 0) {
                messages++;
                fields += all_messages[i]->n_fields;
            }
        }
        total_fields += fields;
        tap_is_int(messages, expected[p].messages, "%s has %u messages", expected[p].package,
                   expected[p].messages);
        tap_is_int(fields, expected[p].fields, "%s messages have %u fields in all",
                   expected[p].package, expected[p].fields);
    }
    /* docs/protocol.md C lists 388 field lines */
    tap_is_int(total_fields, 388, "388 fields in all packages");
    for (size_t i = 0; i < n; i++)
        check_descriptor(all_messages[i]);
}

/* ------------------------------------------------ hand-written, per package */

static void test_base_define(void)
{
    /* IpAddr {ip="127.0.0.1", port=8000}: 8000 = 0x1f40 -> varint c0 3e */
    IM__BaseDefine__IpAddr addr = IM__BASE_DEFINE__IP_ADDR__INIT;
    addr.ip = "127.0.0.1";
    addr.port = 8000;
    static const uint8_t addr_wire[] = { 0x0a, 0x09, '1', '2', '7', '.', '0', '.', '0', '.', '1',
                                         0x10, 0xc0, 0x3e };
    is_encoding(&addr.base, addr_wire, sizeof(addr_wire), "IM.BaseDefine.IpAddr");

    IM__BaseDefine__IpAddr *back =
        im__base_define__ip_addr__unpack(NULL, sizeof(addr_wire), addr_wire);
    if (tap_ok(back != NULL, "IpAddr unpacks")) {
        tap_is_str(back->ip, "127.0.0.1", "IpAddr.ip");
        tap_is_int(back->port, 8000, "IpAddr.port");
        im__base_define__ip_addr__free_unpacked(back, NULL);
    }
    static const uint8_t no_port[] = { 0x0a, 0x01, 'x' };
    tap_ok(im__base_define__ip_addr__unpack(NULL, sizeof(no_port), no_port) == NULL,
           "IpAddr without its required port is rejected");

    /* GroupInfo: unpacked repeated uint32 -> one tag per element (40 xx) */
    uint32_t members[] = { 1, 300 };
    IM__BaseDefine__GroupInfo group = IM__BASE_DEFINE__GROUP_INFO__INIT;
    group.group_id = 9;
    group.version = 1;
    group.group_name = "g";
    group.group_avatar = "";
    group.group_creator_id = 1;
    group.group_type = IM__BASE_DEFINE__GROUP_TYPE__GROUP_TYPE_NORMAL;
    group.shield_status = 0;
    group.n_group_member_list = 2;
    group.group_member_list = members;
    static const uint8_t group_wire[] = { 0x08, 0x09, 0x10, 0x01, 0x1a, 0x01, 'g', 0x22, 0x00,
                                          0x28, 0x01, 0x30, 0x01, 0x38, 0x00, 0x40, 0x01,
                                          0x40, 0xac, 0x02 };
    is_encoding(&group.base, group_wire, sizeof(group_wire), "IM.BaseDefine.GroupInfo");
    IM__BaseDefine__GroupInfo *g =
        im__base_define__group_info__unpack(NULL, sizeof(group_wire), group_wire);
    if (tap_ok(g != NULL, "GroupInfo unpacks")) {
        tap_is_int(g->n_group_member_list, 2, "GroupInfo has 2 members");
        tap_is_int(g->group_member_list[1], 300, "GroupInfo second member");
        tap_is_int(g->shield_status, 0, "GroupInfo.shield_status 0 kept");
        im__base_define__group_info__free_unpacked(g, NULL);
    }
}

/* UserInfo used by the login and buddy tests: every required field set. */
static void make_user_info(IM__BaseDefine__UserInfo *u, uint32_t id, char *nick)
{
    im__base_define__user_info__init(u);
    u->user_id = id;
    u->user_gender = 1;
    u->user_nick_name = nick;
    u->avatar_url = "";
    u->department_id = 2;
    u->email = "";
    u->user_real_name = "";
    u->user_tel = "";
    u->user_domain = "";
    u->status = 1;
}

static void test_login(void)
{
    IM__BaseDefine__UserInfo user;
    make_user_info(&user, 7, "n");
    IM__Login__IMLoginRes res = IM__LOGIN__IMLOGIN_RES__INIT;
    res.server_time = 1;
    res.result_code = IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NONE;
    res.user_info = &user;
    /* result_code 0 is required, so it must be on the wire even though 0;
     * the nested UserInfo is 21 (0x15) bytes behind tag 2a */
    static const uint8_t res_wire[] = {
        0x08, 0x01, 0x10, 0x00, 0x2a, 0x15,
        0x08, 0x07, 0x10, 0x01, 0x1a, 0x01, 'n', 0x22, 0x00, 0x28, 0x02,
        0x32, 0x00, 0x3a, 0x00, 0x42, 0x00, 0x4a, 0x00, 0x50, 0x01,
    };
    is_encoding(&res.base, res_wire, sizeof(res_wire), "IM.Login.IMLoginRes");
    IM__Login__IMLoginRes *r = im__login__imlogin_res__unpack(NULL, sizeof(res_wire), res_wire);
    if (tap_ok(r != NULL, "IMLoginRes unpacks")) {
        tap_is_int(r->server_time, 1, "IMLoginRes.server_time");
        tap_ok(!r->has_online_status && r->result_string == NULL,
               "IMLoginRes optional fields absent");
        tap_ok(r->user_info != NULL, "IMLoginRes.user_info present");
        if (r->user_info) {
            tap_is_int(r->user_info->user_id, 7, "IMLoginRes.user_info.user_id");
            tap_is_str(r->user_info->user_nick_name, "n", "IMLoginRes.user_info.user_nick_name");
            tap_ok(r->user_info->sign_info == NULL, "IMLoginRes.user_info.sign_info absent");
        }
        im__login__imlogin_res__free_unpacked(r, NULL);
    }

    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = "alice";
    req.password = "e10adc3949ba59abbe56e057f20f883e";
    req.online_status = IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_LEAVE;
    req.client_type = IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_ANDROID;
    req.client_version = "1.0";
    size_t len;
    uint8_t *wire = pack_message(&req.base, &len);
    IM__Login__IMLoginReq *q = im__login__imlogin_req__unpack(NULL, len, wire);
    if (tap_ok(q != NULL, "IMLoginReq round trip unpacks")) {
        tap_is_str(q->user_name, "alice", "IMLoginReq.user_name");
        tap_is_str(q->password, "e10adc3949ba59abbe56e057f20f883e", "IMLoginReq.password");
        tap_is_int(q->online_status, 3, "IMLoginReq.online_status");
        tap_is_int(q->client_type, 0x12, "IMLoginReq.client_type");
        tap_is_str(q->client_version, "1.0", "IMLoginReq.client_version");
        im__login__imlogin_req__free_unpacked(q, NULL);
    }
    free(wire);

    /* an empty message is a bare header on the wire: zero body bytes */
    IM__Login__IMMsgServReq empty = IM__LOGIN__IMMSG_SERV_REQ__INIT;
    tap_is_int(im__login__immsg_serv_req__get_packed_size(&empty), 0, "IMMsgServReq packs to 0 bytes");
    IM__Login__IMMsgServReq *e = im__login__immsg_serv_req__unpack(NULL, 0, (const uint8_t *)"");
    tap_ok(e != NULL, "IMMsgServReq unpacks from 0 bytes");
    if (e)
        im__login__immsg_serv_req__free_unpacked(e, NULL);
}

static void test_buddy(void)
{
    IM__BaseDefine__UserInfo a, b;
    make_user_info(&a, 11, "amy");
    make_user_info(&b, 12, "bob");
    b.sign_info = "hi";
    IM__BaseDefine__UserInfo *list[] = { &a, &b };
    IM__Buddy__IMUsersInfoRsp rsp = IM__BUDDY__IMUSERS_INFO_RSP__INIT;
    rsp.user_id = 11;
    rsp.n_user_info_list = 2;
    rsp.user_info_list = list;
    rsp.has_attach_data = 1;
    rsp.attach_data.len = 3;
    rsp.attach_data.data = (uint8_t *)"\x01\x02\x03";
    size_t len;
    uint8_t *wire = pack_message(&rsp.base, &len);
    IM__Buddy__IMUsersInfoRsp *r = im__buddy__imusers_info_rsp__unpack(NULL, len, wire);
    if (tap_ok(r != NULL, "IMUsersInfoRsp round trip unpacks")) {
        tap_is_int(r->user_id, 11, "IMUsersInfoRsp.user_id");
        tap_is_int(r->n_user_info_list, 2, "IMUsersInfoRsp has 2 users");
        if (r->n_user_info_list == 2) {
            tap_is_str(r->user_info_list[1]->user_nick_name, "bob", "second user's nick");
            tap_is_str(r->user_info_list[1]->sign_info, "hi", "second user's sign_info");
        }
        tap_ok(r->has_attach_data && binary_is(r->attach_data, "\x01\x02\x03", 3),
               "IMUsersInfoRsp.attach_data (field 20)");
        im__buddy__imusers_info_rsp__free_unpacked(r, NULL);
    }
    free(wire);

    /* a nested message missing a required field makes the outer one fail */
    static const uint8_t stat_without_status[] = { 0x0a, 0x02, 0x08, 0x05 };
    tap_ok(im__buddy__imuser_stat_notify__unpack(NULL, sizeof(stat_without_status),
                                                 stat_without_status) == NULL,
           "IMUserStatNotify with UserStat lacking status is rejected");
}

static void test_message(void)
{
    static const uint8_t body[] = { 0x00, 0xff, 'A' };
    IM__Message__IMMsgData msg = IM__MESSAGE__IMMSG_DATA__INIT;
    msg.from_user_id = 1;
    msg.to_session_id = 2;
    msg.msg_id = 3;
    msg.create_time = 1000;
    msg.msg_type = IM__BASE_DEFINE__MSG_TYPE__MSG_TYPE_SINGLE_TEXT;
    msg.msg_data.len = sizeof(body);
    msg.msg_data.data = (uint8_t *)body;
    msg.has_attach_data = 1;
    msg.attach_data.len = 2;
    msg.attach_data.data = (uint8_t *)"ab";
    /* create_time 1000 -> e8 07; field 20 bytes -> tag (20<<3)|2 = 162 -> a2 01 */
    static const uint8_t wire[] = { 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0xe8, 0x07,
                                    0x28, 0x01, 0x32, 0x03, 0x00, 0xff, 'A',
                                    0xa2, 0x01, 0x02, 'a', 'b' };
    is_encoding(&msg.base, wire, sizeof(wire), "IM.Message.IMMsgData");
    IM__Message__IMMsgData *m = im__message__immsg_data__unpack(NULL, sizeof(wire), wire);
    if (tap_ok(m != NULL, "IMMsgData unpacks")) {
        tap_is_int(m->create_time, 1000, "IMMsgData.create_time");
        tap_is_int(m->msg_type, 1, "IMMsgData.msg_type");
        tap_ok(binary_is(m->msg_data, body, sizeof(body)), "IMMsgData.msg_data keeps NUL and 0xff");
        tap_ok(m->has_attach_data && binary_is(m->attach_data, "ab", 2), "IMMsgData.attach_data");
        im__message__immsg_data__free_unpacked(m, NULL);
    }

    IM__BaseDefine__UnreadInfo info = IM__BASE_DEFINE__UNREAD_INFO__INIT;
    info.session_id = 5;
    info.session_type = IM__BASE_DEFINE__SESSION_TYPE__SESSION_TYPE_GROUP;
    info.unread_cnt = 4;
    info.latest_msg_id = 40;
    info.latest_msg_data.len = 1;
    info.latest_msg_data.data = (uint8_t *)"z";
    info.latest_msg_type = IM__BASE_DEFINE__MSG_TYPE__MSG_TYPE_GROUP_AUDIO;
    info.latest_msg_from_user_id = 6;
    IM__BaseDefine__UnreadInfo *infos[] = { &info };
    IM__Message__IMUnreadMsgCntRsp cnt = IM__MESSAGE__IMUNREAD_MSG_CNT_RSP__INIT;
    cnt.user_id = 1;
    cnt.total_cnt = 4;
    cnt.n_unreadinfo_list = 1;
    cnt.unreadinfo_list = infos;
    size_t len;
    uint8_t *buf = pack_message(&cnt.base, &len);
    IM__Message__IMUnreadMsgCntRsp *c = im__message__imunread_msg_cnt_rsp__unpack(NULL, len, buf);
    if (tap_ok(c != NULL && c->n_unreadinfo_list == 1, "IMUnreadMsgCntRsp round trip")) {
        tap_is_int(c->total_cnt, 4, "IMUnreadMsgCntRsp.total_cnt");
        tap_is_int(c->unreadinfo_list[0]->latest_msg_type, 0x12, "UnreadInfo.latest_msg_type");
        tap_is_int(c->unreadinfo_list[0]->session_type, 2, "UnreadInfo.session_type");
    }
    if (c)
        im__message__imunread_msg_cnt_rsp__free_unpacked(c, NULL);
    free(buf);
}

static void test_group(void)
{
    IM__Group__IMGroupCreateReq req = IM__GROUP__IMGROUP_CREATE_REQ__INIT;
    tap_is_int(req.group_type, IM__BASE_DEFINE__GROUP_TYPE__GROUP_TYPE_TMP,
               "IMGroupCreateReq.group_type defaults to GROUP_TYPE_TMP");
    uint32_t members[] = { 2, 3, 4 };
    req.user_id = 2;
    req.group_name = "team";
    req.group_avatar = "";
    req.n_member_id_list = 3;
    req.member_id_list = members;
    size_t len;
    uint8_t *wire = pack_message(&req.base, &len);
    IM__Group__IMGroupCreateReq *r = im__group__imgroup_create_req__unpack(NULL, len, wire);
    if (tap_ok(r != NULL, "IMGroupCreateReq round trip unpacks")) {
        tap_is_int(r->group_type, 2, "IMGroupCreateReq.group_type on the wire");
        tap_is_str(r->group_name, "team", "IMGroupCreateReq.group_name");
        tap_is_int(r->n_member_id_list, 3, "IMGroupCreateReq member count");
        if (r->n_member_id_list == 3)
            tap_is_int(r->member_id_list[2], 4, "IMGroupCreateReq third member");
        im__group__imgroup_create_req__free_unpacked(r, NULL);
    }
    free(wire);

    /* protobuf-c does not reject a missing required field that has a
     * default: it reads the default. Senders must still write group_type
     * (packing always does), but a receiver sees GROUP_TYPE_TMP. */
    static const uint8_t no_type[] = { 0x08, 0x02, 0x1a, 0x01, 't', 0x22, 0x00 };
    r = im__group__imgroup_create_req__unpack(NULL, sizeof(no_type), no_type);
    tap_ok(r != NULL && r->group_type == IM__BASE_DEFINE__GROUP_TYPE__GROUP_TYPE_TMP,
           "IMGroupCreateReq without group_type reads the default GROUP_TYPE_TMP");
    if (r)
        im__group__imgroup_create_req__free_unpacked(r, NULL);
    static const uint8_t no_name[] = { 0x08, 0x02, 0x10, 0x01, 0x22, 0x00 };
    tap_ok(im__group__imgroup_create_req__unpack(NULL, sizeof(no_name), no_name) == NULL,
           "IMGroupCreateReq without group_name is rejected");

    IM__Group__IMGroupChangeMemberNotify note = IM__GROUP__IMGROUP_CHANGE_MEMBER_NOTIFY__INIT;
    uint32_t cur[] = { 1, 2 }, chg[] = { 3 };
    note.user_id = 1;
    note.change_type = IM__BASE_DEFINE__GROUP_MODIFY_TYPE__GROUP_MODIFY_TYPE_DEL;
    note.group_id = 77;
    note.n_cur_user_id_list = 2;
    note.cur_user_id_list = cur;
    note.n_chg_user_id_list = 1;
    note.chg_user_id_list = chg;
    static const uint8_t note_wire[] = { 0x08, 0x01, 0x10, 0x02, 0x18, 0x4d,
                                         0x20, 0x01, 0x20, 0x02, 0x28, 0x03 };
    is_encoding(&note.base, note_wire, sizeof(note_wire), "IM.Group.IMGroupChangeMemberNotify");
}

static void test_file(void)
{
    IM__BaseDefine__IpAddr ip1 = IM__BASE_DEFINE__IP_ADDR__INIT, ip2 = IM__BASE_DEFINE__IP_ADDR__INIT;
    ip1.ip = "10.0.0.1";
    ip1.port = 8600;
    ip2.ip = "10.0.0.2";
    ip2.port = 8601;
    IM__BaseDefine__IpAddr *ips[] = { &ip1, &ip2 };
    IM__File__IMFileRsp rsp = IM__FILE__IMFILE_RSP__INIT;
    rsp.result_code = 0;
    rsp.from_user_id = 1;
    rsp.to_user_id = 2;
    rsp.file_name = "a.txt";
    rsp.task_id = "task-1";
    rsp.n_ip_addr_list = 2;
    rsp.ip_addr_list = ips;
    rsp.trans_mode = IM__BASE_DEFINE__TRANSFER_FILE_TYPE__FILE_TYPE_OFFLINE;
    size_t len;
    uint8_t *wire = pack_message(&rsp.base, &len);
    IM__File__IMFileRsp *r = im__file__imfile_rsp__unpack(NULL, len, wire);
    if (tap_ok(r != NULL, "IMFileRsp round trip unpacks")) {
        tap_is_str(r->task_id, "task-1", "IMFileRsp.task_id");
        tap_is_int(r->trans_mode, 2, "IMFileRsp.trans_mode");
        tap_is_int(r->n_ip_addr_list, 2, "IMFileRsp has 2 addresses");
        if (r->n_ip_addr_list == 2) {
            tap_is_str(r->ip_addr_list[1]->ip, "10.0.0.2", "IMFileRsp second ip");
            tap_is_int(r->ip_addr_list[1]->port, 8601, "IMFileRsp second port");
        }
        im__file__imfile_rsp__free_unpacked(r, NULL);
    }
    free(wire);

    IM__File__IMFileState state = IM__FILE__IMFILE_STATE__INIT;
    state.state = IM__BASE_DEFINE__CLIENT_FILE_STATE__CLIENT_FILE_PEER_READY;
    state.task_id = "t";
    state.user_id = 5;
    /* state 0 is required, so it is written even though it is zero */
    static const uint8_t state_wire[] = { 0x08, 0x00, 0x12, 0x01, 't', 0x18, 0x05 };
    is_encoding(&state.base, state_wire, sizeof(state_wire), "IM.File.IMFileState");
}

static void test_server(void)
{
    IM__Server__IMFileTransferRsp rsp = IM__SERVER__IMFILE_TRANSFER_RSP__INIT;
    rsp.result_code = 1;
    rsp.from_user_id = 2;
    rsp.to_user_id = 3;
    rsp.task_id = "tid";
    size_t len;
    uint8_t *wire = pack_message(&rsp.base, &len);
    IM__Server__IMFileTransferRsp *r = im__server__imfile_transfer_rsp__unpack(NULL, len, wire);
    if (tap_ok(r != NULL, "IMFileTransferRsp round trip unpacks")) {
        tap_is_int(r->result_code, 1, "IMFileTransferRsp.result_code");
        tap_is_int(r->to_user_id, 3, "IMFileTransferRsp.to_user_id");
        tap_is_str(r->task_id, "tid", "IMFileTransferRsp.task_id");
        tap_ok(r->file_name == NULL && !r->has_file_size && !r->has_trans_mode,
               "IMFileTransferRsp unset optionals stay absent");
        im__server__imfile_transfer_rsp__free_unpacked(r, NULL);
    }
    free(wire);

    IM__Server__IMMsgServInfo info = IM__SERVER__IMMSG_SERV_INFO__INIT;
    info.ip1 = "1.2.3.4";
    info.ip2 = "5.6.7.8";
    info.port = 8000;
    info.max_conn_cnt = 100000;
    info.cur_conn_cnt = 12;
    info.host_name = "h";
    wire = pack_message(&info.base, &len);
    IM__Server__IMMsgServInfo *i = im__server__immsg_serv_info__unpack(NULL, len, wire);
    if (tap_ok(i != NULL, "IMMsgServInfo round trip unpacks")) {
        tap_is_str(i->ip2, "5.6.7.8", "IMMsgServInfo.ip2");
        tap_is_int(i->max_conn_cnt, 100000, "IMMsgServInfo.max_conn_cnt");
        tap_is_str(i->host_name, "h", "IMMsgServInfo.host_name");
        im__server__immsg_serv_info__free_unpacked(i, NULL);
    }
    free(wire);
}

static void test_other(void)
{
    IM__Other__IMHeartBeat beat = IM__OTHER__IMHEART_BEAT__INIT;
    tap_is_int(im__other__imheart_beat__get_packed_size(&beat), 0, "IMHeartBeat packs to 0 bytes");
    IM__Other__IMHeartBeat *b = im__other__imheart_beat__unpack(NULL, 0, (const uint8_t *)"");
    tap_ok(b != NULL, "IMHeartBeat unpacks from 0 bytes");
    if (b)
        im__other__imheart_beat__free_unpacked(b, NULL);
}

static void test_switch_service(void)
{
    IM__SwitchService__IMP2PCmdMsg cmd = IM__SWITCH_SERVICE__IMP2_PCMD_MSG__INIT;
    cmd.from_user_id = 1;
    cmd.to_user_id = 2;
    cmd.cmd_msg_data = "{\"cmd\":1}";
    static const uint8_t wire[] = { 0x08, 0x01, 0x10, 0x02, 0x1a, 0x09,
                                    '{', '"', 'c', 'm', 'd', '"', ':', '1', '}' };
    is_encoding(&cmd.base, wire, sizeof(wire), "IM.SwitchService.IMP2PCmdMsg");
    IM__SwitchService__IMP2PCmdMsg *c = im__switch_service__imp2_pcmd_msg__unpack(NULL, sizeof(wire), wire);
    if (tap_ok(c != NULL, "IMP2PCmdMsg unpacks")) {
        tap_is_int(c->to_user_id, 2, "IMP2PCmdMsg.to_user_id");
        tap_is_str(c->cmd_msg_data, "{\"cmd\":1}", "IMP2PCmdMsg.cmd_msg_data");
        im__switch_service__imp2_pcmd_msg__free_unpacked(c, NULL);
    }
}

/* --------------------------------------------------------------- ids */

static void test_ids(void)
{
    tap_is_int(IM__BASE_DEFINE__LOGIN_CMD_ID__CID_LOGIN_KICK_USER, 0x0107, "CID_LOGIN_KICK_USER");
    tap_is_int(IM__BASE_DEFINE__BUDDY_LIST_CMD_ID__CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY, 0x0212,
               "CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY");
    tap_is_int(IM__BASE_DEFINE__MESSAGE_CMD_ID__CID_MSG_DATA, 0x0301, "CID_MSG_DATA");
    tap_is_int(IM__BASE_DEFINE__OTHER_CMD_ID__CID_OTHER_SERVER_KICK_USER, 0x070d,
               "CID_OTHER_SERVER_KICK_USER (no 0x070c)");
    tap_is_int(IM__BASE_DEFINE__OTHER_CMD_ID__CID_OTHER_FILE_TRANSFER_REQ, 0x0731,
               "CID_OTHER_FILE_TRANSFER_REQ");
    tap_is_int(IM__BASE_DEFINE__OTHER_CMD_ID__CID_OTHER_FILE_SERVER_IP_RSP, 0x0734,
               "CID_OTHER_FILE_SERVER_IP_RSP");
    tap_is_int(IM__BASE_DEFINE__SWITCH_SERVICE_CMD_ID__CID_SWITCH_P2P_CMD, 0x0601,
               "CID_SWITCH_P2P_CMD");
    tap_is_int(IM__BASE_DEFINE__MSG_TYPE__MSG_TYPE_GROUP_AUDIO, 0x12, "MSG_TYPE_GROUP_AUDIO");
    tap_is_int(IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_ANDROID, 0x12, "CLIENT_TYPE_ANDROID");
    tap_is_int(IM__BASE_DEFINE__SERVICE_ID__SID_INTERNAL, 8, "SID_INTERNAL");
    tap_is_int(IM__BASE_DEFINE__FILE_SERVER_ERROR__FILE_SERVER_ERRNO_PULL_DATA_FINISHED, 12,
               "FILE_SERVER_ERRNO_PULL_DATA_FINISHED");

    /* The high byte of every command id is its service id; value counts
     * match the tables of docs/protocol.md B.3. */
    static const struct {
        const ProtobufCEnumDescriptor *e;
        int service;
        unsigned values;
    } cmds[] = {
        { &im__base_define__login_cmd_id__descriptor, 1, 15 },
        { &im__base_define__buddy_list_cmd_id__descriptor, 2, 21 },
        { &im__base_define__message_cmd_id__descriptor, 3, 14 },
        { &im__base_define__group_cmd_id__descriptor, 4, 11 },
        { &im__base_define__file_cmd_id__descriptor, 5, 12 },
        { &im__base_define__switch_service_cmd_id__descriptor, 6, 1 },
        { &im__base_define__other_cmd_id__descriptor, 7, 21 },
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        unsigned in_service = 0;
        for (unsigned v = 0; v < cmds[i].e->n_values; v++)
            if ((cmds[i].e->values[v].value >> 8) == cmds[i].service)
                in_service++;
        tap_ok(cmds[i].e->n_values == cmds[i].values && in_service == cmds[i].values,
               "%s: %u ids, all in service 0x%04x", cmds[i].e->name, cmds[i].values,
               (unsigned)cmds[i].service);
    }
}

int main(void)
{
    test_ids();
    test_base_define();
    test_login();
    test_buddy();
    test_message();
    test_group();
    test_file();
    test_server();
    test_other();
    test_switch_service();
    check_all_descriptors();
    return tap_done();
}
