/*
 * pdu_metrics.h — PDU and byte counters per (service, command) and direction,
 * without formatting or searching per PDU: each command's series is created
 * once and kept in a map. Only commands something handles (and what the
 * server itself sends) get series, so client-chosen ids cannot grow /metrics.
 * Loop thread only.
 */
#ifndef IMGATE_PDU_METRICS_H
#define IMGATE_PDU_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A handled (or core-answered) command arrived: count the PDU and its bytes. */
void pdu_metrics_in(uint16_t service_id, uint16_t command_id, size_t bytes);
/* An unhandled command arrived: bytes only. */
void pdu_metrics_in_bytes(size_t bytes);
void pdu_metrics_out(uint16_t service_id, uint16_t command_id, size_t bytes);
void pdu_metrics_free(void);

#endif
