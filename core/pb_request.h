/*
 * pb_request.h — decoding a request body for a typed handler: protobuf-c
 * unpacks into a per-request arena (freed in one go after the handler), then
 * the message is checked the way the reference's proto2 parser would: every
 * required field present (protobuf-c does that) and every enum value one its
 * enum defines. A required enum with another value fails the request; an
 * optional one is treated as absent, a repeated one loses that element,
 * exactly as a proto2 parser moves unknown enum values aside. One check goes
 * further than proto2: a string field holding a NUL byte is malformed, since
 * C code would silently see only the part before it.
 * Pure and thread-agnostic: the loop thread and the fuzzers use it.
 */
#ifndef IMGATE_PB_REQUEST_H
#define IMGATE_PB_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* A bump allocator: a first block inside the struct, then malloc'd blocks. */
typedef struct pb_arena {
    struct pb_arena_block *blocks;
    size_t used;
    size_t cap;
    uint8_t *cur;
    _Alignas(16) uint8_t first[4096];
} pb_arena;

void pb_arena_init(pb_arena *a);
/* Frees every block; the arena can be reused after pb_arena_init. */
void pb_arena_release(pb_arena *a);
/* A protobuf-c allocator drawing from `a`. */
ProtobufCAllocator pb_arena_allocator(pb_arena *a);

/* Unpacks and validates; NULL when the body is malformed. The message lives in the arena. */
ProtobufCMessage *pb_request_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t len,
                                    pb_arena *arena);

/* 1 when no string field of the wire message (nested ones included) holds a NUL byte, and the
 * wire format is walkable; 0 otherwise. */
int pb_request_strings_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, int depth);

/* The enum check alone (0 valid, -1 not); fixes optional and repeated enum fields in place. */
int pb_request_validate(ProtobufCMessage *m);

#endif
