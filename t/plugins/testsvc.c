/*
 * testsvc — a test-only plugin that exports the service testkit.peer
 * (testkit_peer.h), whose one call returns its configured `value`. Never
 * installed.
 */
#include <stdlib.h>

#include <imgate/plugin.h>

#include "testkit_peer.h"

typedef struct testsvc {
    uint32_t value;
} testsvc;

static uint32_t peer_value(void *state) { return ((testsvc *)state)->value; }

static const testkit_peer_v1 peer = {peer_value};

static const imgate_config_key config[] = {
    {"value", IMGATE_CFG_INT, 0, 1000000, "42", NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static int testsvc_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    testsvc *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->value = (uint32_t)api->config_int(self, "value");
    if (api->export_service(self, TESTKIT_PEER_SERVICE, 1, &peer) != IMGATE_OK) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void testsvc_fini(void *state) { free(state); }

IMGATE_PLUGIN(.name = "testsvc", .version = "test", .init = testsvc_init, .fini = testsvc_fini, .config = config);
