/*
 * user_row.h — an IMUser row as the plugins read it: the column list, the
 * result binds that fill an imgate_user, and the UserInfo built from it
 * (protocol C, UserInfo; D, IMUser). Shared code, no state.
 */
#ifndef IMGATE_PLUGIN_USER_ROW_H
#define IMGATE_PLUGIN_USER_ROW_H

#include <imgate/plugin.h>
#include <imgate/services.h>

#include "IM.BaseDefine.pb-c.h"

/* SELECT USER_ROW_COLUMNS FROM IMUser ... fills USER_ROW_NCOLS binds. */
#define USER_ROW_COLUMNS "id, sex, name, domain, nick, phone, email, avatar, departId, status, sign_info, updated"
#define USER_ROW_NCOLS 12

/* Result binds for one row into `u`. */
void user_row_binds(imgate_user *u, imgate_db_bind cols[USER_ROW_NCOLS]);
/* Fills all 11 UserInfo fields; the strings point into `u`. user_real_name is
 * the login name, as the reference sends it. */
void user_row_to_info(const imgate_user *u, IM__BaseDefine__UserInfo *info);

#endif
