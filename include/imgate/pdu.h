/*
 * imgate/pdu.h — the TeamTalk PDU header (16 bytes, big-endian).
 *
 * Part of the installed plugin SDK. Pure inline functions: no state, safe on
 * any thread. Layout (protocol A.1): length u32 (header included), version u16,
 * flag u16, service_id u16, command_id u16, seq_num u16, reserved u16.
 */
#ifndef IMGATE_PDU_H
#define IMGATE_PDU_H

#include <stddef.h>
#include <stdint.h>

#define IMGATE_PDU_HEADER_LEN 16u
/* What freshly built server PDUs carry in `version` (replies and pushes). */
#define IMGATE_PDU_VERSION 1u

typedef struct imgate_pdu_header {
    uint32_t length;     /* total bytes, header included: 16 + body length */
    uint16_t version;
    uint16_t flag;
    uint16_t service_id;
    uint16_t command_id;
    uint16_t seq_num;
    uint16_t reserved;
} imgate_pdu_header;

static inline void imgate_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void imgate_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint16_t imgate_get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t imgate_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Writes `h` as 16 wire bytes into `out`. */
static inline void imgate_pdu_header_encode(const imgate_pdu_header *h, uint8_t out[IMGATE_PDU_HEADER_LEN])
{
    imgate_put_u32(out + 0, h->length);
    imgate_put_u16(out + 4, h->version);
    imgate_put_u16(out + 6, h->flag);
    imgate_put_u16(out + 8, h->service_id);
    imgate_put_u16(out + 10, h->command_id);
    imgate_put_u16(out + 12, h->seq_num);
    imgate_put_u16(out + 14, h->reserved);
}

/* Reads 16 wire bytes into `h`. Validation (length >= 16, caps) is the caller's. */
static inline void imgate_pdu_header_decode(const uint8_t in[IMGATE_PDU_HEADER_LEN], imgate_pdu_header *h)
{
    h->length = imgate_get_u32(in + 0);
    h->version = imgate_get_u16(in + 4);
    h->flag = imgate_get_u16(in + 6);
    h->service_id = imgate_get_u16(in + 8);
    h->command_id = imgate_get_u16(in + 10);
    h->seq_num = imgate_get_u16(in + 12);
    h->reserved = imgate_get_u16(in + 14);
}

/* Builds a server header for a body of `body_len` bytes (version 1, flag 0, reserved 0). */
static inline void imgate_pdu_header_make(imgate_pdu_header *h, uint16_t service_id, uint16_t command_id,
                                          uint16_t seq_num, size_t body_len)
{
    h->length = (uint32_t)(IMGATE_PDU_HEADER_LEN + body_len);
    h->version = IMGATE_PDU_VERSION;
    h->flag = 0;
    h->service_id = service_id;
    h->command_id = command_id;
    h->seq_num = seq_num;
    h->reserved = 0;
}

#endif
