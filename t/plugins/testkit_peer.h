/*
 * testkit_peer.h — the test-only service "testkit.peer" (version 1) that the
 * testsvc plugin exports and the testkit plugin imports.
 */
#ifndef IMGATE_TESTKIT_PEER_H
#define IMGATE_TESTKIT_PEER_H

#include <stdint.h>

#define TESTKIT_PEER_SERVICE "testkit.peer"

typedef struct testkit_peer_v1 {
    /* testsvc's [plugin.testsvc] value. */
    uint32_t (*value)(void *state);
} testkit_peer_v1;

#endif
