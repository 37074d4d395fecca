/*
 * fuzz_frame.c — the frame decoder: arbitrary bytes as the start of a
 * connection's input, under the caps a connection can have. Whatever the
 * bytes, frame_check must classify them and never read past `size`.
 */
#include <string.h>

#include "framing.h"
#include "fuzz.h"
#include "imgate/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t caps[] = {16, 16 * 1024, 64 * 1024, 1024 * 1024};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        size_t pos = 0;
        /* Walk the input frame by frame, as the connection does. */
        while (pos < size) {
            imgate_pdu_header h;
            frame_status st = frame_check(data + pos, size - pos, caps[i], &h);
            if (st != FRAME_COMPLETE)
                break;
            if (h.length < IMGATE_PDU_HEADER_LEN || h.length > size - pos || h.length > caps[i])
                __builtin_trap(); /* a complete frame must lie inside the input and the cap */
            uint8_t again[IMGATE_PDU_HEADER_LEN];
            imgate_pdu_header_encode(&h, again);
            if (memcmp(again, data + pos, IMGATE_PDU_HEADER_LEN) != 0)
                __builtin_trap(); /* decode and encode are inverses */
            pos += h.length;
        }
    }
    return 0;
}
