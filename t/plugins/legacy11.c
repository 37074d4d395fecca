/*
 * legacy11 — a test-only plugin built against the ABI 1.1 header
 * (t/abi/1.1/imgate/plugin.h), to prove a plugin of an older minor keeps
 * loading and working on this core. Never installed.
 *
 *   0x7E00/0x0001 (pre-login): answers 0x0002 with 12 raw bytes: the
 *   connection id from conn_info (8, big-endian) and a guard word (4) that
 *   stays 0xC0FFEE11 only if the core wrote no more than the 1.1 struct.
 */
#include <stdint.h>
#include <stdlib.h>

#include <imgate/plugin.h>

#include "testkit_ids.h"


typedef struct legacy {
    imgate_instance *self;
    const imgate_core_api *api;
} legacy;

static void on_hello(void *state, const imgate_request *req)
{
    legacy *st = state;
    struct {
        imgate_conn_info info; /* the 1.1 layout */
        uint32_t guard;
    } probe;
    probe.guard = 0xC0FFEE11u;
    uint8_t out[12];
    uint64_t id = 0;
    if (st->api->conn_info(st->self, req->conn_id, &probe.info) == IMGATE_OK)
        id = probe.info.conn_id;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(id >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(probe.guard >> (24 - 8 * i));
    st->api->send(st->self, req->conn_id, LEGACY_SERVICE, LEGACY_HELLO_RSP, req->seq_num, out, sizeof out);
}

static int legacy_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    legacy *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->self = self;
    st->api = api;
    if (api->register_handler(self, LEGACY_SERVICE, LEGACY_HELLO, IMGATE_HANDLER_PRE_LOGIN, on_hello) != IMGATE_OK) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void legacy_fini(void *state) { free(state); }

IMGATE_PLUGIN_DEFINE("legacy11", "1.1", legacy_init, legacy_fini);
