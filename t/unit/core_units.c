/*
 * core_units.c — unit tests of the core's pure parts: framing edge cases, the
 * hash map behind the handler map, handler registration (duplicates refused),
 * the plugin descriptor checks (ABI rule) and configuration errors with line
 * numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "framing.h"
#include "generation.h"
#include "plugin_loader.h"
#include "tap.h"
#include "u64map.h"

static void test_framing(void)
{
    imgate_pdu_header h = {0}, back;
    uint8_t buf[64] = {0};
    imgate_pdu_header_make(&h, 0x0007, 0x0701, 42, 0);
    imgate_pdu_header_encode(&h, buf);
    static const uint8_t want[16] = {0, 0, 0, 16, 0, 1, 0, 0, 0, 7, 0x07, 0x01, 0, 42, 0, 0};
    tap_ok(memcmp(buf, want, 16) == 0, "heartbeat header encodes big-endian, length counts the header");
    imgate_pdu_header_decode(buf, &back);
    tap_ok(back.length == 16 && back.service_id == 7 && back.command_id == 0x0701 && back.seq_num == 42,
           "header decodes back");

    tap_is_int(frame_check(buf, 15, 1024, &back), FRAME_NEED_MORE, "15 bytes: wait for the header");
    tap_is_int(frame_check(buf, 16, 1024, &back), FRAME_COMPLETE, "bare 16-byte PDU is complete");

    imgate_put_u32(buf, 0);
    tap_is_int(frame_check(buf, 16, 1024, &back), FRAME_BAD_LENGTH, "length 0 is refused");
    imgate_put_u32(buf, 5);
    tap_is_int(frame_check(buf, 16, 1024, &back), FRAME_BAD_LENGTH, "length 5 is refused");
    imgate_put_u32(buf, 15);
    tap_is_int(frame_check(buf, 16, 1024, &back), FRAME_BAD_LENGTH, "length 15 is refused");
    imgate_put_u32(buf, 1025);
    tap_is_int(frame_check(buf, 16, 1024, &back), FRAME_TOO_LARGE, "over the cap is refused before the body arrives");
    imgate_put_u32(buf, 1024);
    tap_is_int(frame_check(buf, 16, 1024, &back), FRAME_NEED_MORE, "exactly the cap is accepted (body pending)");
    imgate_put_u32(buf, 20);
    tap_is_int(frame_check(buf, 19, 1024, &back), FRAME_NEED_MORE, "partial body: wait");
    tap_is_int(frame_check(buf, 64, 1024, &back), FRAME_COMPLETE, "body complete with more bytes behind it");
    imgate_put_u32(buf, 0xffffffffu);
    tap_is_int(frame_check(buf, 16, 0xffffffffu, &back), FRAME_NEED_MORE,
               "a 4 GiB length under a huge cap only waits (no overflow)");
}

static void test_u64map(void)
{
    u64map m;
    u64map_init(&m);
    int ok = 1;
    for (uint64_t k = 1; k <= 5000; k++)
        ok &= u64map_put(&m, k * 7919, (void *)(uintptr_t)k) == 0;
    tap_ok(ok && m.len == 5000, "5000 keys inserted");
    for (uint64_t k = 1; k <= 5000; k += 2)
        ok &= u64map_del(&m, k * 7919) == (void *)(uintptr_t)k;
    tap_ok(ok && m.len == 2500, "every other key deleted");
    int found = 1;
    for (uint64_t k = 1; k <= 5000; k++) {
        void *v = u64map_get(&m, k * 7919);
        found &= (k % 2) ? v == NULL : v == (void *)(uintptr_t)k;
    }
    tap_ok(found, "survivors still found after backward-shift deletes");
    tap_ok(u64map_put(&m, 0, (void *)1) != 0, "key 0 is reserved");
    size_t pos = 0, n = 0;
    while (u64map_next(&m, &pos, NULL, NULL))
        n++;
    tap_is_int(n, 2500, "iteration visits every entry once");
    u64map_free(&m);
}

static void dummy_handler(void *state, const imgate_request *req) {}

static void test_handler_map(void)
{
    generation g;
    memset(&g, 0, sizeof g);
    u64map_init(&g.handlers);
    imgate_instance a = {.gen = &g, .name = "a", .in_init = 1};
    imgate_instance b = {.gen = &g, .name = "b", .in_init = 1};
    tap_is_int(generation_register(&a, 0x0001, 0x0103, 0, dummy_handler), IMGATE_OK, "register login request");
    tap_is_int(generation_register(&a, 0x1000, 0x0001, IMGATE_HANDLER_PRE_LOGIN, dummy_handler), IMGATE_OK,
               "register a pre-login command");
    tap_is_int(generation_register(&b, 0x0001, 0x0103, 0, dummy_handler), IMGATE_EEXIST,
               "a duplicate (service, command) from another plugin is refused");
    tap_is_int(generation_register(&a, 0x0001, 0x0103, 0, dummy_handler), IMGATE_EEXIST,
               "a duplicate from the same plugin is refused");
    b.in_init = 0;
    tap_is_int(generation_register(&b, 0x0002, 0x0201, 0, dummy_handler), IMGATE_ESTATE,
               "registering outside init is refused");
    const handler_entry *e = generation_handler(&g, 0x1000, 0x0001);
    tap_ok(e && e->inst == &a && (e->flags & IMGATE_HANDLER_PRE_LOGIN), "look-up finds the flagged handler");
    tap_ok(generation_handler(&g, 0x0103, 0x0001) == NULL, "service and command are not interchangeable");
    tap_ok(generation_handler(&g, 0x0002, 0x0103) == NULL, "same command under another service is distinct");
    size_t pos = 0;
    void *v;
    while (u64map_next(&g.handlers, &pos, NULL, &v))
        free(v);
    u64map_free(&g.handlers);
}

static int fake_init(imgate_instance *self, const imgate_core_api *api, void **state) { return 0; }

static void test_descriptor(void)
{
    char err[512];
    imgate_plugin good = {IMGATE_PLUGIN_MAGIC, IMGATE_ABI_MAJOR, IMGATE_ABI_MINOR, sizeof(imgate_plugin),
                          IMGATE_BUILD_SIGNATURE, "login", "1", fake_init, NULL, NULL};
    tap_is_int(plugin_check_descriptor(&good, "login", err, sizeof err), 0, "a current descriptor is accepted");
    imgate_plugin d = good;
    d.abi_major = IMGATE_ABI_MAJOR + 1;
    tap_ok(plugin_check_descriptor(&d, "login", err, sizeof err) != 0 && strstr(err, "ABI major"),
           "another ABI major is refused: %s", err);
    d = good;
    d.abi_minor = IMGATE_ABI_MINOR + 1;
    tap_ok(plugin_check_descriptor(&d, "login", err, sizeof err) != 0 && strstr(err, "newer"),
           "a newer minor than the core's is refused: %s", err);
    d = good;
    d.magic = 0x12345678;
    tap_ok(plugin_check_descriptor(&d, "login", err, sizeof err) != 0, "bad magic is refused");
    d = good;
    d.struct_size = 8;
    tap_ok(plugin_check_descriptor(&d, "login", err, sizeof err) != 0, "a truncated descriptor is refused");
    d = good;
    d.build_signature = "imgate-abi-1;ptr=4;order=4321";
    tap_ok(plugin_check_descriptor(&d, "login", err, sizeof err) != 0 && strstr(err, "signature"),
           "a foreign build signature is refused");
    tap_ok(plugin_check_descriptor(&good, "buddy", err, sizeof err) != 0 && strstr(err, "enabled as"),
           "a plugin enabled under another name is refused");
    d = good;
    d.init = NULL;
    tap_ok(plugin_check_descriptor(&d, "login", err, sizeof err) != 0, "a descriptor without init is refused");
}

static config *load_text(const char *text, char *err, size_t errlen)
{
    char path[] = "core_units_ini_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        tap_bail("mkstemp failed");
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        tap_bail("write failed");
    close(fd);
    config *c = config_load(path, err, errlen);
    /* Report errors against a stable name so the assertions do not depend on the temp name. */
    if (c == NULL) {
        size_t pl = strlen(path);
        if (strncmp(err, path, pl) == 0) {
            memmove(err + 3, err + pl, strlen(err + pl) + 1);
            memcpy(err, "INI", 3);
        }
    }
    unlink(path);
    return c;
}

static void test_config(void)
{
    char err[512];
    config *c = load_text("[gateway]\nlisten = 127.0.0.1:9000\nnode = n1\n; comment\n"
                          "max_frame = 2m\n[http]\nlisten=*:9001\n[plugins]\ndir = /p\nenable = login, buddy\n"
                          "[plugin.login]\nlockout_failures = 10\n[gateway]\nnode = n2\n",
                          err, sizeof err);
    if (tap_ok(c != NULL, "a valid file loads") || (tap_diag("%s", err), 0)) {
        tap_is_str(c->listen_host, "127.0.0.1", "listen host");
        tap_is_int(c->listen_port, 9000, "listen port");
        tap_is_str(c->node, "n2", "a repeated section merges, the later key wins");
        tap_is_int(c->max_frame, 2 * 1024 * 1024, "size suffixes are understood");
        tap_is_str(c->http_host, "", "'*' means any address");
        tap_ok(c->n_enable == 2 && strcmp(c->enable[1], "buddy") == 0, "enable list parsed");
        tap_is_str(config_lookup(c, "plugin.login", "lockout_failures"), "10", "plugin section look-up");
        tap_is_int(c->login_timeout_ms, 15000, "default login deadline 15 s");
        tap_is_int(c->idle_timeout_pc_ms, 120000, "default PC idle timeout 120 s");
        tap_is_int(c->idle_timeout_mobile_ms, 300000, "default mobile idle timeout 300 s");
        tap_is_int(c->max_frame_prelogin, 16 * 1024, "default pre-login frame cap 16 KiB");
        tap_is_int(c->max_output, 8 * 1024 * 1024, "default output cap 8 MiB");
        tap_is_int(c->msg_rate_per_second, 20, "default message rate 20/s");
        config_free(c);
    }
    struct {
        const char *text, *want;
    } bad[] = {
        {"[gateway]\nlisten = 127.0.0.1:9000\nbogus = 1\n", "INI:3: unknown key 'bogus' in [gateway]"},
        {"[gateway]\n\nlisten = nowhere\n", "INI:3: [gateway] listen: expected HOST:PORT, got 'nowhere'"},
        {"[gateway]\nmax_connections = -4\n", "INI:2: [gateway] max_connections: expected a number from 1 to 1000000, got '-4'"},
        {"[gateway]\nmax_frame = 18014398509481985k\n",
         "INI:2: [gateway] max_frame: expected a number from 16 to 67108864, got '18014398509481985k'"},
        {"[gatewy]\nlisten = 1.2.3.4:5\n", "INI:2: unknown section [gatewy]"},
        {"[plugins]\ndir=/x\nenable = login, Login\n", "INI:3: [plugins] enable: 'Login' is not a plugin name (lowercase letters, digits, _)"},
        {"[plugins]\ndir=/x\nenable = a, a\n", "INI:3: [plugins] enable: 'a' listed twice"},
        {"[gateway]\nlisten = 1.2.3.4:5\nthis line is not ini\n", "INI:3: syntax error (expected [section] or key = value)"},
        {"[gateway]\nlog_level = loud\n", "INI:2: [gateway] log_level: expected error|warn|info|debug, got 'loud'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = load_text(bad[i].text, err, sizeof err);
        tap_ok(c == NULL, "bad config %zu refused", i);
        tap_is_str(err, bad[i].want, "error names file and line: %s", bad[i].want);
        config_free(c);
    }
    c = config_load("/nonexistent/imgated.ini", err, sizeof err);
    tap_ok(c == NULL && strstr(err, "/nonexistent/imgated.ini:0: cannot open"), "a missing file is reported");
}

int main(void)
{
    test_framing();
    test_u64map();
    test_handler_map();
    test_descriptor();
    test_config();
    return tap_done();
}
