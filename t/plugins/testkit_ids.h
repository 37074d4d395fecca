/*
 * testkit_ids.h — the test-only plugins' service and command ids, shared by
 * the plugins (testkit.c, legacy11.c) and the tests that drive them.
 * What each command does is described at the top of testkit.c.
 */
#ifndef IMGATE_TESTKIT_IDS_H
#define IMGATE_TESTKIT_IDS_H

#define TESTKIT_SERVICE 0x7F00
#define TK_BIND 0x0001
#define TK_BIND_RSP 0x0002
#define TK_KICK_PC 0x0003
#define TK_SLOW 0x0005
#define TK_SLOW_RSP 0x0006
#define TK_TRACKED_JOB 0x0007
#define TK_TRACKED_JOB_RSP 0x0008
#define TK_TYPED 0x0010
#define TK_TYPED_RSP 0x0011
#define TK_JOBS 0x0012
#define TK_JOBS_RSP 0x0013
#define TK_DB 0x0014
#define TK_DB_RSP 0x0015
#define TK_WRITES 0x0016
#define TK_WRITES_RSP 0x0017
#define TK_SERVICE 0x0018
#define TK_SERVICE_RSP 0x0019
#define TK_CONN_DATA 0x001a
#define TK_CONN_DATA_RSP 0x001b
#define TK_AUTHORIZE 0x001c
#define TK_AUTHORIZE_RSP 0x001d
#define TK_ROLE_ECHO 0x001e
#define TK_ROLE_ECHO_RSP 0x001f
#define TK_TRACKED 0x0020
#define TK_TRACKED_RSP 0x0021
#define TK_PRESENCE 0x0022
#define TK_PRESENCE_RSP 0x0023
#define TK_DELIVER 0x0024
#define TK_PUSH 0x0025
#define TK_DELIVER_RSP 0x0026
#define TK_BROADCAST 0x0027
#define TK_BROADCAST_RSP 0x0028
#define TK_LOG_FLOOD 0x0029
#define TK_LOG_FLOOD_RSP 0x002a
#define TK_HOG_FDS 0x002b
#define TK_HOG_FDS_RSP 0x002c

/* legacy11 (built against the ABI 1.1 header) */
#define LEGACY_SERVICE 0x7E00
#define LEGACY_HELLO 0x0001
#define LEGACY_HELLO_RSP 0x0002

#endif
