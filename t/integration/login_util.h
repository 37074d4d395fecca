/*
 * login_util.h — what the login tests share: a TeamTalk login as a client
 * does it (password sent as md5hex), test users, and small waits.
 */
#ifndef IMGATE_T_LOGIN_UTIL_H
#define IMGATE_T_LOGIN_UTIL_H

#include <openssl/evp.h>
#include <stdio.h>

#include "IM.Buddy.pb-c.h"
#include "IM.Login.pb-c.h"
#include "common.h"
#include "imgate/teamtalk.h"

#define CLIENT_WINDOWS CLIENT_TYPE_WINDOWS
#define CLIENT_MAC CLIENT_TYPE_MAC
#define CLIENT_IOS CLIENT_TYPE_IOS
#define CLIENT_ANDROID CLIENT_TYPE_ANDROID

static inline void md5hex(const char *s, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Sends IMLoginReq and returns the unpacked IMLoginRes (free with
 * im__login__imlogin_res__free_unpacked), or NULL if none came. */
static inline IM__Login__IMLoginRes *login_as(imgate_client *c, const char *user, const char *plain,
                                             uint32_t client_type, uint32_t online_status)
{
    char pw[33];
    md5hex(plain, pw);
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = (char *)user;
    req.password = pw;
    req.online_status = (IM__BaseDefine__UserStatType)online_status;
    req.client_type = (IM__BaseDefine__ClientType)client_type;
    req.client_version = (char *)"imgate-test";
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &req.base, CID_LOGIN_RES_USERLOGIN, &pdu, 10000) != 0)
        return NULL;
    IM__Login__IMLoginRes *res = im__login__imlogin_res__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return res;
}

/* 1 when the login succeeded. */
static inline int login_ok(imgate_client *c, const char *user, const char *plain, uint32_t client_type)
{
    IM__Login__IMLoginRes *res = login_as(c, user, plain, client_type, 1);
    int ok = res && res->result_code == 0 && res->user_info != NULL;
    if (res)
        im__login__imlogin_res__free_unpacked(res, NULL);
    return ok;
}

/* The login's result code and string ("" when no reply), for refusal checks. */
static inline int login_result(imgate_client *c, const char *user, const char *plain, char *text, size_t len)
{
    IM__Login__IMLoginRes *res = login_as(c, user, plain, CLIENT_WINDOWS, 1);
    if (res == NULL) {
        snprintf(text, len, "(no reply)");
        return -1;
    }
    int code = (int)res->result_code;
    snprintf(text, len, "%s", res->result_string ? res->result_string : "");
    im__login__imlogin_res__free_unpacked(res, NULL);
    return code;
}

/* Adds a user with the reference password form md5hex(md5hex(plain) + salt). */
static inline void add_user(harness *h, unsigned id, const char *name, const char *plain, int status)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status,"
             " created, updated, push_shield_status, sign_info) VALUES (%u, 2, '%s', '%s_domain', 'Nick %s',"
             " MD5(CONCAT(MD5('%s'), '4321')), '4321', '1380000%04u', '%s@example.com', 'http://av/%s.png', 7, %d,"
             " 1700000000, 1700000001, 0, 'sign of %s')",
             id, name, name, name, plain, id, name, name, status, name);
    char out[64];
    if (harness_sql(h, sql, out, sizeof out) != 0)
        tap_bail("cannot insert user %s", name);
}

static inline imgate_client *connect_from(harness *h, int node, const char *source)
{
    imgate_client *c = imgate_client_connect_from("127.0.0.1", harness_node_port(h, node), source, 5000);
    if (c == NULL)
        tap_bail("cannot connect from %s", source);
    return c;
}

#endif
