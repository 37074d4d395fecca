/*
 * message_cli.c — imgate-cli's message commands against a real node: `listen`
 * prints what a logged-in user receives, `send` sends and reports the ack,
 * `unread` and `history` show what was stored.
 */
#include <stdio.h>
#include <sys/wait.h>

#include "message_util.h"

static harness *h;

/* Runs imgate-cli with `args` against node 0; its output (stdout + stderr) goes to out. Exit status. */
static int cli(const char *args, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/tools/imgate-cli' -p %u %s 2>&1", getenv("top_builddir"),
             (unsigned)harness_node_port(h, 0), args);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    for (char *c = out; *c; c++) /* one line, for the TAP descriptions */
        if (*c == '\n')
            *c = ' ';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    h = harness_start("message_cli");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, MSG_PLUGINS, NULL) != 0)
        tap_bail("imgated did not start");
    add_user(h, 261, "alice", "alice123", 0);
    add_user(h, 262, "bob", "bob123", 0);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/tools/imgate-cli' -p %u listen bob bob123 -n 1 -s 20 2>&1", getenv("top_builddir"),
             (unsigned)harness_node_port(h, 0));
    FILE *listener = popen(cmd, "r");
    char line[512] = "";
    if (listener && fgets(line, sizeof line, listener))
        line[strcspn(line, "\n")] = '\0';
    tap_ok(strstr(line, "listening as bob (user 262)") != NULL,
           "imgate-cli listen logs in and says so: %s", line);

    char out[1024];
    int rc = cli("send alice alice123 262 'hello from the cli'", out, sizeof out);
    tap_is_int(rc, 0, "imgate-cli send exits 0 when acked");
    tap_ok(strstr(out, "acked: msg_id=1 from=261 session=262 session_type=single") != NULL, "and prints the ack: %s", out);

    line[0] = '\0';
    if (listener && fgets(line, sizeof line, listener))
        line[strcspn(line, "\n")] = '\0';
    tap_ok(strncmp(line, "msg id=1 from=261 to=262 type=text time=", 40) == 0 &&
               strstr(line, "data=\"hello from the cli\"") != NULL,
           "the listener prints the message it received: %s", line);
    int listen_status = listener ? pclose(listener) : -1;
    tap_ok(listen_status != -1 && WIFEXITED(listen_status) && WEXITSTATUS(listen_status) == 0,
           "listen -n 1 exits 0 after one message");

    rc = cli("unread bob bob123", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "total=1 sessions=1") && strstr(out, "session=261 type=single unread=1 latest_id=1"),
           "imgate-cli unread shows it: %s", out);
    rc = cli("history bob bob123 261", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "msg id=1 from=261 type=text") && strstr(out, "\"hello from the cli\""),
           "imgate-cli history shows it: %s", out);
    rc = cli("send alice alice123 262", out, sizeof out);
    tap_is_int(rc, 2, "send with a missing argument is a usage error");
    rc = cli("send alice alice123 261 'to myself'", out, sizeof out);
    tap_ok(rc == 1 && strstr(out, "no IMMsgDataAck"), "a refused message: exit 1, no ack reported: %s", out);
    harness_stop(h);
    return tap_done();
}
