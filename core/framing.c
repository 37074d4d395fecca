/* framing.c — see framing.h. */
#include "framing.h"

frame_status frame_check(const uint8_t *buf, size_t avail, uint32_t max_length, imgate_pdu_header *out)
{
    if (avail < IMGATE_PDU_HEADER_LEN)
        return FRAME_NEED_MORE;
    imgate_pdu_header_decode(buf, out);
    if (out->length < IMGATE_PDU_HEADER_LEN)
        return FRAME_BAD_LENGTH;
    if (out->length > max_length)
        return FRAME_TOO_LARGE;
    if (avail < out->length)
        return FRAME_NEED_MORE;
    return FRAME_COMPLETE;
}

const char *frame_status_name(frame_status s)
{
    switch (s) {
    case FRAME_NEED_MORE: return "need_more";
    case FRAME_COMPLETE: return "complete";
    case FRAME_BAD_LENGTH: return "bad_length";
    case FRAME_TOO_LARGE: return "frame_too_large";
    }
    return "unknown";
}
