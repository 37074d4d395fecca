/*
 * login_name.h — the one spelling of a login name. IMUser.name is a
 * varchar(32) compared with a PAD SPACE collation: "pu5 " finds the row of
 * "pu5". If such spellings were accepted, each would get its own lockout
 * window and ten more guesses. So a name must be what the column would store
 * as sent: valid UTF-8, 1..32 characters, no control characters, no trailing
 * space (a NUL inside the name never gets here: the core refuses strings
 * holding one). Pure: any thread.
 */
#ifndef IMGATE_LOGIN_NAME_H
#define IMGATE_LOGIN_NAME_H

#define LOGIN_NAME_MAX_CHARS 32

/* 1 when `name` is canonical as described above, else 0. */
int login_name_canonical(const char *name);

#endif
