/* pb_request.c — see pb_request.h. */
#include "pb_request.h"

#include <stdlib.h>
#include <string.h>

struct pb_arena_block {
    struct pb_arena_block *next;
    _Alignas(16) uint8_t data[];
};

void pb_arena_init(pb_arena *a)
{
    a->blocks = NULL;
    a->cur = a->first;
    a->used = 0;
    a->cap = sizeof a->first;
}

void pb_arena_release(pb_arena *a)
{
    while (a->blocks) {
        struct pb_arena_block *n = a->blocks->next;
        free(a->blocks);
        a->blocks = n;
    }
    pb_arena_init(a);
}

static void *arena_alloc(void *data, size_t size)
{
    pb_arena *a = data;
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    if (a->cap - a->used < size) {
        size_t want = size > 16384 ? size : 16384;
        struct pb_arena_block *b = malloc(sizeof *b + want);
        if (b == NULL)
            return NULL;
        b->next = a->blocks;
        a->blocks = b;
        a->cur = b->data;
        a->used = 0;
        a->cap = want;
    }
    void *p = a->cur + a->used;
    a->used += size;
    return p;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* everything goes at once in pb_arena_release */
}

ProtobufCAllocator pb_arena_allocator(pb_arena *a)
{
    ProtobufCAllocator al = {arena_alloc, arena_free, a};
    return al;
}

static int enum_ok(const ProtobufCFieldDescriptor *f, int value)
{
    return protobuf_c_enum_descriptor_get_value(f->descriptor, value) != NULL;
}

int pb_request_validate(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *member = (char *)m + f->offset;
        if (f->type == PROTOBUF_C_TYPE_ENUM) {
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                size_t *n = (size_t *)((char *)m + f->quantifier_offset);
                int *values = *(int **)member;
                size_t kept = 0;
                for (size_t j = 0; j < *n; j++)
                    if (enum_ok(f, values[j]))
                        values[kept++] = values[j];
                *n = kept;
            } else if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
                if (!enum_ok(f, *(int *)member))
                    return -1;
            } else {
                protobuf_c_boolean *has = (protobuf_c_boolean *)((char *)m + f->quantifier_offset);
                if (*has && !enum_ok(f, *(int *)member)) {
                    *has = 0;
                    *(int *)member = f->default_value ? *(const int *)f->default_value : 0;
                }
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                size_t n = *(size_t *)((char *)m + f->quantifier_offset);
                ProtobufCMessage **subs = *(ProtobufCMessage ***)member;
                for (size_t j = 0; j < n; j++)
                    if (subs[j] && pb_request_validate(subs[j]) != 0)
                        return -1;
            } else {
                ProtobufCMessage *sub = *(ProtobufCMessage **)member;
                if (sub && pb_request_validate(sub) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* Reads a varint; returns the bytes used, 0 when truncated or longer than 10 bytes. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

int pb_request_strings_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, int depth)
{
    if (depth > 32)
        return 0; /* protobuf-c refuses such nesting anyway */
    size_t pos = 0;
    while (pos < len) {
        uint64_t tag, n;
        size_t used = read_varint(data + pos, len - pos, &tag);
        if (used == 0)
            return 0;
        pos += used;
        switch (tag & 7) {
        case 0: /* varint */
            used = read_varint(data + pos, len - pos, &n);
            if (used == 0)
                return 0;
            pos += used;
            break;
        case 1: /* 64-bit */
            if (len - pos < 8)
                return 0;
            pos += 8;
            break;
        case 5: /* 32-bit */
            if (len - pos < 4)
                return 0;
            pos += 4;
            break;
        case 2: { /* length-delimited */
            used = read_varint(data + pos, len - pos, &n);
            if (used == 0 || n > len - pos - used)
                return 0;
            pos += used;
            const ProtobufCFieldDescriptor *f =
                desc ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3)) : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && memchr(data + pos, 0, (size_t)n) != NULL)
                return 0;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !pb_request_strings_ok(f->descriptor, data + pos, (size_t)n, depth + 1))
                return 0;
            pos += (size_t)n;
            break;
        }
        default:
            return 0; /* groups (3, 4) and unknown wire types: protobuf-c would refuse too */
        }
    }
    return 1;
}

ProtobufCMessage *pb_request_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t len,
                                    pb_arena *arena)
{
    /* A NUL inside a string would be cut off silently by every C string function: "pu3\0x" would
     * act as "pu3". Such a request is malformed (bytes fields may carry anything). */
    if (!pb_request_strings_ok(desc, body, len, 0))
        return NULL;
    ProtobufCAllocator al = pb_arena_allocator(arena);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &al, len, body);
    if (m == NULL || pb_request_validate(m) != 0)
        return NULL;
    return m;
}
