/*
 * example_ids.h — the example plugin's service and command ids, shared by the
 * plugin, imgate-cli and the tests. Third-party plugins use a service id of
 * 0x1000 (IMGATE_SID_THIRD_PARTY_FIRST) or above.
 */
#ifndef IMGATE_EXAMPLE_IDS_H
#define IMGATE_EXAMPLE_IDS_H

#define EXAMPLE_SERVICE 0x1000
#define EXAMPLE_CMD_REQ 0x0001       /* ExampleReq */
#define EXAMPLE_CMD_RSP 0x0002       /* ExampleRsp */
#define EXAMPLE_CMD_STATS_REQ 0x0003 /* ExampleStatsReq */
#define EXAMPLE_CMD_STATS_RSP 0x0004 /* ExampleStatsRsp */

#endif
