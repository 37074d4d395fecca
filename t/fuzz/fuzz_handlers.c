/*
 * fuzz_handlers.c — every handler a plugin registers, fed arbitrary request
 * bodies on the fake core (t/lib/fakecore.h): decoding and validation as the
 * core does it, then the handler and every asynchronous step it starts, with
 * the backends down or answering empty. Built once per plugin (the plugin's
 * sources are linked in; FUZZ_PLUGIN_INI is its configuration).
 *
 * Input: byte 0 picks the handler, byte 1 the connection (bit 0 logged in,
 * bit 1 mobile, bit 2 a role connection's id), byte 2 the backend mode; the
 * rest is the body.
 */
#include <stdlib.h>

#include "fakecore.h"
#include "fuzz.h"
#include "imgate/teamtalk.h"

#ifndef FUZZ_PLUGIN_INI
#define FUZZ_PLUGIN_INI ""
#endif

extern const imgate_plugin imgate_plugin_descriptor;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        if (fakecore_start(&imgate_plugin_descriptor, FUZZ_PLUGIN_INI) != 0)
            abort();
        started = 1;
    }
    if (size < 3 || fakecore_handler_count() == 0)
        return 0;
    uint16_t sid, cid;
    fakecore_handler(data[0] % fakecore_handler_count(), &sid, &cid);
    uint64_t conn = (data[1] & 4) ? 2 : 1;
    fakecore_conn(conn, (data[1] & 1) ? 1001 : 0, (data[1] & 2) ? CLIENT_TYPE_ANDROID : CLIENT_TYPE_WINDOWS,
                  data[1] & 1, "192.0.2.7:5555");
    fakecore_backend((data[2] & 1) ? FAKE_BACKEND_EMPTY : FAKE_BACKEND_DOWN);
    fakecore_call_raw(sid, cid, 7, conn, data + 3, size - 3);
    fakecore_run_pending();
    fakecore_clear();
    return 0;
}
