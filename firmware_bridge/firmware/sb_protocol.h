/*
 * spikebox serial protocol, version 1: the MCU's end of the frame codec.
 *
 * Sits between the UART and the firmware core (sb_core.h): bytes in, checked
 * frames out, and frames out as bytes. ../PROTOCOL.md is the specification;
 * ../vectors/frames.txt holds the frames both this codec and the Python one
 * (../framing.py) are tested against.
 *
 * Portable C99: no dynamic allocation, no struct casting onto wire bytes
 * (every field is packed byte by byte, little-endian), so it behaves the same
 * on AVR (16-bit int), Cortex-M and a PC.
 */
#ifndef SB_PROTOCOL_H
#define SB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_PROTO_VERSION 1u
/* FNV-1a of the message layouts (PROTOCOL.md "Schema hash"); must equal the
 * hash in the vectors' header and in the Python protocol.SCHEMA_HASH. */
#define SB_SCHEMA_HASH 0x6f5edce0u

#define SB_HEADER_LEN 5u   /* version, msg_id, seq (2), len */
#define SB_CRC_LEN 2u
#define SB_MAX_PAYLOAD 96u
#define SB_MIN_DECODED (SB_HEADER_LEN + SB_CRC_LEN)                  /* 7 */
#define SB_MAX_DECODED (SB_MIN_DECODED + SB_MAX_PAYLOAD)             /* 103 */
#define SB_MAX_ENCODED (SB_MAX_DECODED + SB_MAX_DECODED / 254u + 1u) /* 104 */
#define SB_MAX_WIRE (SB_MAX_ENCODED + 1u) /* with the 0x00 delimiter */

#define SB_FIRMWARE_ID_LEN 16u
#define SB_LOG_TEXT_MAX 80u

/* message ids */
#define SB_MSG_HELLO 0x01u
#define SB_MSG_HELLO_ACK 0x02u
#define SB_MSG_HEARTBEAT 0x03u
#define SB_MSG_DRIVE 0x10u
#define SB_MSG_ESTOP 0x11u
#define SB_MSG_CLEAR 0x12u
#define SB_MSG_ACK 0x13u
#define SB_MSG_TELEMETRY 0x20u
#define SB_MSG_LOG 0x30u

/* payload lengths (LOG: its fixed head; its text adds 0..80) */
#define SB_LEN_HELLO 5u
#define SB_LEN_HELLO_ACK 24u
#define SB_LEN_HEARTBEAT 5u
#define SB_LEN_DRIVE 4u
#define SB_LEN_ESTOP 3u
#define SB_LEN_CLEAR 2u
#define SB_LEN_ACK 4u
#define SB_LEN_TELEMETRY 55u
#define SB_LEN_LOG_HEAD 1u

/* state bits (HEARTBEAT from the MCU, TELEMETRY) */
#define SB_STATE_HANDSHAKEN 0x01u
#define SB_STATE_ESTOPPED 0x02u
#define SB_STATE_WATCHDOG_STOPPED 0x04u
#define SB_STATE_AWAIT_DRIVE 0x08u

#define SB_HELLO_OK 0u
#define SB_HELLO_VERSION_MISMATCH 1u
#define SB_HELLO_SCHEMA_MISMATCH 2u

#define SB_ACK_APPLIED 0u
#define SB_ACK_DUPLICATE 1u
#define SB_ACK_REFUSED 2u
#define SB_ACK_STALE 3u /* older than a command (or handshake) already applied: not applied */

#define SB_WATCHDOG_NEVER 0xFFFFu
#define SB_RANGE_NONE 0xFFFFu

#define SB_LOG_DEBUG 10u
#define SB_LOG_INFO 20u
#define SB_LOG_WARNING 30u
#define SB_LOG_ERROR 40u

/* ---- message payloads, as C values (never overlaid on wire bytes) ---- */

typedef struct {
    uint8_t proto_version;
    uint32_t schema_hash;
} sb_hello_t;

typedef struct {
    uint8_t status;
    uint8_t proto_version;
    uint32_t schema_hash;
    uint16_t watchdog_ms;
    char firmware_id[SB_FIRMWARE_ID_LEN + 1]; /* NUL-terminated here, NUL-padded on the wire */
} sb_hello_ack_t;

typedef struct {
    uint32_t uptime_ms;
    uint8_t state;
} sb_heartbeat_t;

typedef struct {
    int16_t left_mm_s;
    int16_t right_mm_s;
} sb_drive_t;

typedef struct {
    uint16_t cmd_id;
    uint8_t reason;
} sb_estop_t;

typedef struct {
    uint16_t cmd_id;
} sb_clear_t;

typedef struct {
    uint16_t cmd_id;
    uint8_t acked_msg_id;
    uint8_t result;
} sb_ack_t;

typedef struct {
    uint32_t mcu_time_ms;
    uint16_t last_drive_seq;
    uint8_t state;
    int16_t left_mm_s, right_mm_s;
    int32_t left_ticks, right_ticks;
    uint16_t battery_mv;
    uint16_t range_mm;
    int16_t accel_x_mg, accel_y_mg, accel_z_mg;
    int16_t gyro_x_cdps, gyro_y_cdps, gyro_z_cdps;
    uint16_t watchdog_stop_ms;
    uint16_t crc_errors, seq_gaps, resyncs, oversize, unknown_ids, timeouts;
    uint16_t framing_errors, version_errors, stale_frames;
} sb_telemetry_t;

typedef struct {
    uint8_t level;
    uint8_t text_len;              /* 0..SB_LOG_TEXT_MAX */
    char text[SB_LOG_TEXT_MAX];    /* not NUL-terminated, as on the wire */
} sb_log_t;

/* One message of any kind: msg_id says which union member is meant. */
typedef struct {
    uint8_t msg_id;
    union {
        sb_hello_t hello;
        sb_hello_ack_t hello_ack;
        sb_heartbeat_t heartbeat;
        sb_drive_t drive;
        sb_estop_t estop;
        sb_clear_t clear;
        sb_ack_t ack;
        sb_telemetry_t telemetry;
        sb_log_t log;
    } u;
} sb_message_t;

/* A frame that passed every check of PROTOCOL.md "Receiving a frame". */
typedef struct {
    uint8_t version;
    uint8_t msg_id;
    uint16_t seq;
    uint8_t len;
    uint8_t payload[SB_MAX_PAYLOAD];
} sb_frame_t;

/* ---- checksums and byte stuffing ---- */

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final XOR.
 * Pass SB_CRC_INIT as crc for a fresh computation; feed pieces to continue. */
#define SB_CRC_INIT 0xFFFFu
uint16_t sb_crc16(uint16_t crc, const uint8_t *data, size_t n);

/* COBS encode n bytes; returns the encoded length (no delimiter), or 0 if it
 * would not fit in cap bytes. */
size_t sb_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* COBS decode n bytes (no delimiter); in and out may be the same buffer.
 * Returns 1 and sets *out_len, or 0 for a malformed chunk or one that would
 * not fit in cap bytes. */
int sb_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

/* ---- payloads ---- */

/* Is len a valid payload length for msg_id? 0 for unknown ids too. */
int sb_payload_len_ok(uint8_t msg_id, uint8_t len);

/* Pack m into payload (at least SB_MAX_PAYLOAD bytes); returns its length,
 * or -1 for an unknown msg_id. */
int sb_pack(const sb_message_t *m, uint8_t *payload);

/* Unpack a payload into *m; 0 if msg_id is unknown or len is wrong for it. */
int sb_unpack(uint8_t msg_id, const uint8_t *payload, uint8_t len, sb_message_t *m);

/* ---- frames ---- */

/* Write COBS(header | payload | crc) | 0x00 into out; returns the number of
 * bytes written, or 0 if len > SB_MAX_PAYLOAD or it does not fit in cap
 * (SB_MAX_WIRE always fits). */
size_t sb_encode_frame(uint8_t version, uint8_t msg_id, uint16_t seq,
                       const uint8_t *payload, uint8_t len, uint8_t *out, size_t cap);

/* sb_pack + sb_encode_frame. */
size_t sb_encode_message(uint8_t version, uint16_t seq, const sb_message_t *m,
                         uint8_t *out, size_t cap);

/* ---- streaming decoder ---- */

/* Link counters; u16 and saturating at 0xFFFF, as they go into TELEMETRY. */
typedef struct {
    uint16_t crc_errors;
    uint16_t framing_errors;
    uint16_t seq_gaps;
    uint16_t resyncs;
    uint16_t oversize;
    uint16_t unknown_ids;
    uint16_t version_errors;
} sb_link_counters_t;

typedef struct {
    uint8_t buf[SB_MAX_ENCODED]; /* the undelimited chunk so far */
    uint8_t len;
    uint8_t skipping;            /* dropping an oversize chunk up to the next 0x00 */
    uint8_t have_seq;            /* last_seq is a valid reference */
    uint8_t version;             /* the protocol version this receiver speaks */
    uint16_t last_seq;
    uint32_t frames;             /* good frames (not sent anywhere; wraps) */
    sb_link_counters_t counters;
} sb_decoder_t;

void sb_decoder_init(sb_decoder_t *d, uint8_t version);

/* Forget the sequence reference: the next frame sets it (after a handshake). */
void sb_decoder_reset_sequence(sb_decoder_t *d);

/* Feed one byte; returns 1 when it completed a valid frame, written to *out. */
int sb_decoder_feed_byte(sb_decoder_t *d, uint8_t byte, sb_frame_t *out);

/* Feed bytes until one frame completes or the input runs out. Returns the
 * number of bytes consumed; *got_frame is 1 if *out holds a new frame. Call
 * again with the rest of the input until everything is consumed. */
size_t sb_decoder_feed(sb_decoder_t *d, const uint8_t *data, size_t n,
                       sb_frame_t *out, int *got_frame);

#ifdef __cplusplus
}
#endif

#endif /* SB_PROTOCOL_H */
