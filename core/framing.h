/*
 * framing.h — deciding whether buffered bytes hold a complete, acceptable PDU
 * (protocol A.1). Pure functions, no I/O: the connection code feeds it the first
 * bytes of its input buffer.
 */
#ifndef IMGATE_FRAMING_H
#define IMGATE_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "imgate/pdu.h"

typedef enum frame_status {
    FRAME_NEED_MORE = 0, /* fewer than header or `length` bytes buffered */
    FRAME_COMPLETE,      /* `length` bytes are there; header decoded */
    FRAME_BAD_LENGTH,    /* length < 16: the reference would underflow; we close */
    FRAME_TOO_LARGE,     /* length above the connection's current cap */
} frame_status;

/*
 * Looks at `avail` buffered bytes starting at `buf`. At least
 * IMGATE_PDU_HEADER_LEN bytes must be readable at `buf` when avail >= 16.
 * Oversized and undersized lengths are reported as soon as the header is in,
 * without waiting for a body that would never be accepted.
 */
frame_status frame_check(const uint8_t *buf, size_t avail, uint32_t max_length, imgate_pdu_header *out);

/* A short token for logs and metrics. */
const char *frame_status_name(frame_status s);

#endif
