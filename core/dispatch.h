/*
 * dispatch.h — what a complete frame means: the protocol policy between the
 * transport (conn.c) and the plugins' handlers. In order: the heartbeat echo
 * (every connection, kicked ones included), the kicked-connection gate, the
 * role gate, the auth gate (before login only the login request and
 * pre-login handlers), unknown commands, the per-second budget of
 * rate-limited handlers, the in-flight caps of tracked handlers, decoding and
 * validating typed bodies, and finally the handler, under a reference on its
 * generation. Loop thread only.
 */
#ifndef IMGATE_DISPATCH_H
#define IMGATE_DISPATCH_H

#include <stdint.h>

#include "conn.h"
#include "imgate/pdu.h"

typedef enum dispatch_result {
    DISPATCH_DONE,    /* the frame was handled (or refused): drop it from the input */
    DISPATCH_BLOCKED  /* no in-flight room: keep the frame buffered and stop reading */
} dispatch_result;

dispatch_result dispatch_frame(conn *c, const imgate_pdu_header *h, const uint8_t *frame);

#endif
