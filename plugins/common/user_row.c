/* user_row.c — see user_row.h. */
#include "user_row.h"

void user_row_binds(imgate_user *u, imgate_db_bind cols[USER_ROW_NCOLS])
{
    imgate_db_bind b[USER_ROW_NCOLS] = {
        IMGATE_DB_U32(&u->id),           IMGATE_DB_U32(&u->sex),        IMGATE_DB_STR_OUT(u->name),
        IMGATE_DB_STR_OUT(u->domain),    IMGATE_DB_STR_OUT(u->nick),    IMGATE_DB_STR_OUT(u->phone),
        IMGATE_DB_STR_OUT(u->email),     IMGATE_DB_STR_OUT(u->avatar),  IMGATE_DB_U32(&u->depart_id),
        IMGATE_DB_U32(&u->status),       IMGATE_DB_STR_OUT(u->sign_info), IMGATE_DB_U32(&u->updated),
    };
    for (int i = 0; i < USER_ROW_NCOLS; i++)
        cols[i] = b[i];
}

void user_row_to_info(const imgate_user *u, IM__BaseDefine__UserInfo *info)
{
    im__base_define__user_info__init(info);
    info->user_id = u->id;
    info->user_gender = u->sex;
    info->user_nick_name = (char *)u->nick;
    info->avatar_url = (char *)u->avatar;
    info->department_id = u->depart_id;
    info->email = (char *)u->email;
    info->user_real_name = (char *)u->name;
    info->user_tel = (char *)u->phone;
    info->user_domain = (char *)u->domain;
    info->status = u->status;
    info->sign_info = (char *)u->sign_info;
}
