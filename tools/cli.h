/*
 * cli.h — what imgate-cli's command files share: the global options, the
 * command table row, and helpers to connect, log in as a user, and report.
 *
 * A command is a `cli_command` row. Commands of one feature live in their own
 * tools/cli_<feature>.c, which exports its rows as `cli_<feature>_commands`
 * (ended by a row with a NULL name); imgate-cli.c lists the tables.
 */
#ifndef IMGATE_CLI_H
#define IMGATE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "imgate_client.h"

/* Where to reach the node, from the global options. */
typedef struct {
    const char *host;
    uint16_t port;
    uint16_t http_port;
    int timeout_ms;
} cli_options;

typedef struct {
    const char *name;
    const char *args_usage;
    int min_args;
    int max_args;
    int (*run)(const cli_options *opt, int argc, char **argv);
    const char *help;
} cli_command;

/* The feature tables (tools/cli_<feature>.c), listed by imgate-cli.c. */
extern const cli_command cli_group_commands[];
extern const cli_command cli_buddy_commands[];
extern const cli_command cli_file_commands[];
extern const cli_command cli_message_commands[];

double cli_now_seconds(void);
void cli_print_hex(const uint8_t *p, size_t len);
void cli_print_header(const imgate_pdu_header *h);
/* Prints an optional string field: absent and empty look the same, as they do to a client. */
void cli_print_field(const char *name, const char *value);
/* Connects to -H/-p; prints why not and returns NULL on failure. */
imgate_client *cli_connect(const cli_options *opt);
/* Prints "imgate-cli: WHAT: <reason>" and returns 1 (an exit code). */
int cli_complain(const char *what, int rc);
/* Parses a 16-bit id given in decimal or 0x hex. 0 or -1. */
int cli_parse_u16(const char *s, uint16_t *out);
/* Parses a decimal 32-bit number. 0 or -1. */
int cli_parse_u32(const char *s, uint32_t *out);

/*
 * Connects and logs in as USER/PASS (the password sent as md5hex, as clients
 * do) with `client_type`. On success returns the logged-in connection and the
 * user's id in *user_id; otherwise prints why and returns NULL.
 */
imgate_client *cli_login(const cli_options *opt, const char *user, const char *password, uint32_t client_type,
                         uint32_t *user_id);

/*
 * One request and its reply, as most commands speak: sends `req` (NULL: an
 * empty body) as SID/CID on `c`, waits up to opt->timeout_ms for `rsp_cid`
 * carrying the request's seq, and unpacks the body as `rsp_desc` (e.g.
 * &im__buddy__imusers_info_rsp__descriptor).
 *
 * Returns the unpacked reply, to be cast to its generated type and freed with
 * protobuf_c_message_free_unpacked(). Returns NULL after saying why, in one
 * form for every command so that a failure reads the same everywhere:
 * "imgate-cli: WHAT: no REPLY: <reason>" on stderr when no reply came, or
 * "imgate-cli: WHAT: the reply does not parse as REPLY" on stderr and the
 * reply's header and bytes on stdout (what one needs to tell a server bug
 * from a client one). WHAT names the command; REPLY is rsp_desc's short name.
 *
 * The connection stays open either way: commands close it themselves, as some
 * send more than one request on it.
 */
ProtobufCMessage *cli_call(const cli_options *opt, imgate_client *c, const char *what, uint16_t sid, uint16_t cid,
                           const ProtobufCMessage *req, uint16_t rsp_cid, const ProtobufCMessageDescriptor *rsp_desc);

#endif
