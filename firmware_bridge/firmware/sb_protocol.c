/*
 * spikebox serial protocol codec: CRC, COBS, frames, and the streaming
 * decoder that turns UART bytes into checked frames (payloads are in
 * sb_messages.c). See sb_protocol.h for the API and ../PROTOCOL.md for the
 * bytes.
 */
#include "sb_protocol.h"
#include "sb_bytes.h"

/* ---- CRC-16/CCITT-FALSE ---- */

uint16_t sb_crc16(uint16_t crc, const uint8_t *data, size_t n)
{
    /* Bitwise: 8 shifts a byte is fast enough at 115200 baud and saves the
     * 512-byte table an AVR would rather keep in RAM for other things. */
    while (n--) {
        uint8_t bit;
        crc ^= (uint16_t)((uint16_t)*data++ << 8);
        for (bit = 0; bit < 8u; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u)
                                  : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* ---- COBS ----
 * The encoder is streaming (bytes are put one at a time) so a frame is
 * encoded straight from header, payload and CRC without a second buffer. */

typedef struct {
    uint8_t *out;
    size_t cap;
    size_t pos;      /* next free output byte */
    size_t code_pos; /* where the current block's code byte goes */
    uint8_t code;    /* 1 + data bytes in the current block */
    uint8_t ok;
} cobs_writer_t;

static void cobs_begin(cobs_writer_t *w, uint8_t *out, size_t cap)
{
    w->out = out;
    w->cap = cap;
    w->code_pos = 0;
    w->pos = 1;
    w->code = 1;
    w->ok = cap >= 1u;
}

/* Writes the current block's code byte and opens a new block; 0 if full. */
static int cobs_next_block(cobs_writer_t *w)
{
    if (w->pos >= w->cap) {
        w->ok = 0;
        return 0;
    }
    w->out[w->code_pos] = w->code;
    w->code_pos = w->pos++;
    w->code = 1;
    return 1;
}

static void cobs_put(cobs_writer_t *w, uint8_t b)
{
    if (!w->ok) {
        return;
    }
    /* A full block (254 data bytes) is closed only once more input comes, so
     * input that ends exactly on a block gets no extra trailing code byte
     * (as Python's cobs.encode does; frames here never get that long). */
    if (w->code == 0xFFu && !cobs_next_block(w)) {
        return;
    }
    if (b == 0u) {
        (void)cobs_next_block(w);
    } else if (w->pos >= w->cap) {
        w->ok = 0;
    } else {
        w->out[w->pos++] = b;
        w->code++;
    }
}

/* Returns the encoded length, 0 if it did not fit. */
static size_t cobs_end(cobs_writer_t *w)
{
    if (!w->ok) {
        return 0;
    }
    w->out[w->code_pos] = w->code;
    return w->pos;
}

size_t sb_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    cobs_writer_t w;
    size_t i;
    cobs_begin(&w, out, cap);
    for (i = 0; i < n; i++) {
        cobs_put(&w, in[i]);
    }
    return cobs_end(&w);
}

int sb_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    /* In place is safe: the write index never passes the read index. */
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++];
        uint8_t k;
        if (code == 0u || (size_t)(code - 1u) > n - i) {
            return 0; /* a stray 0x00, or a block running past the chunk */
        }
        for (k = 1; k < code; k++) {
            if (in[i] == 0u || o >= cap) {
                return 0;
            }
            out[o++] = in[i++];
        }
        if (i < n && code != 0xFFu) {
            if (o >= cap) {
                return 0;
            }
            out[o++] = 0u;
        }
    }
    *out_len = o;
    return 1;
}

/* ---- frames ---- */

size_t sb_encode_frame(uint8_t version, uint8_t msg_id, uint16_t seq,
                       const uint8_t *payload, uint8_t len, uint8_t *out, size_t cap)
{
    uint8_t header[SB_HEADER_LEN];
    uint16_t crc;
    cobs_writer_t w;
    size_t i, n;

    if (len > SB_MAX_PAYLOAD || cap < 2u) {
        return 0;
    }
    header[0] = version;
    header[1] = msg_id;
    put_u16(header + 2, seq);
    header[4] = len;
    crc = sb_crc16(SB_CRC_INIT, header, sizeof header);
    crc = sb_crc16(crc, payload, len);

    cobs_begin(&w, out, cap - 1u); /* keep room for the delimiter */
    for (i = 0; i < sizeof header; i++) {
        cobs_put(&w, header[i]);
    }
    for (i = 0; i < len; i++) {
        cobs_put(&w, payload[i]);
    }
    cobs_put(&w, (uint8_t)(crc & 0xFFu));
    cobs_put(&w, (uint8_t)(crc >> 8));
    n = cobs_end(&w);
    if (n == 0u) {
        return 0;
    }
    out[n] = 0u;
    return n + 1u;
}

size_t sb_encode_message(uint8_t version, uint16_t seq, const sb_message_t *m,
                         uint8_t *out, size_t cap)
{
    uint8_t payload[SB_MAX_PAYLOAD];
    int len = sb_pack(m, payload);
    if (len < 0) {
        return 0;
    }
    return sb_encode_frame(version, m->msg_id, seq, payload, (uint8_t)len, out, cap);
}

/* ---- streaming decoder ---- */

static void bump(uint16_t *counter)
{
    if (*counter != 0xFFFFu) {
        (*counter)++;
    }
}

/* Every drop in steps 1-6 of PROTOCOL.md also counts one resync. */
static int drop(sb_decoder_t *d, uint16_t *counter)
{
    bump(counter);
    bump(&d->counters.resyncs);
    return 0;
}

void sb_decoder_init(sb_decoder_t *d, uint8_t version)
{
    sb_link_counters_t zero = {0, 0, 0, 0, 0, 0, 0};
    d->len = 0;
    d->skipping = 0;
    d->have_seq = 0;
    d->version = version;
    d->last_seq = 0;
    d->frames = 0;
    d->counters = zero;
}

void sb_decoder_reset_sequence(sb_decoder_t *d)
{
    d->have_seq = 0;
}

/* Steps 2-7 of PROTOCOL.md "Receiving a frame", on the n-byte chunk in buf. */
static int decode_chunk(sb_decoder_t *d, size_t n, sb_frame_t *out)
{
    size_t m, i;
    uint8_t len;
    uint16_t seq, crc;

    if (!sb_cobs_decode(d->buf, n, d->buf, sizeof d->buf, &m)) {
        return drop(d, &d->counters.framing_errors);
    }
    /* The length checks come before anything reads the payload. */
    if (m < SB_MIN_DECODED || m > SB_MAX_DECODED) {
        return drop(d, &d->counters.framing_errors);
    }
    len = d->buf[4];
    if (len > SB_MAX_PAYLOAD || m != SB_MIN_DECODED + len) {
        return drop(d, &d->counters.framing_errors);
    }
    crc = get_u16(d->buf + SB_HEADER_LEN + len);
    if (sb_crc16(SB_CRC_INIT, d->buf, SB_HEADER_LEN + len) != crc) {
        return drop(d, &d->counters.crc_errors);
    }
    /* HELLO and HELLO_ACK are frozen across versions so that a mismatch can
     * always be told; everything else from another version is dropped. */
    if (d->buf[0] != d->version && d->buf[1] != SB_MSG_HELLO && d->buf[1] != SB_MSG_HELLO_ACK) {
        return drop(d, &d->counters.version_errors);
    }
    if (!sb_payload_len_ok(d->buf[1], len)) {
        return drop(d, &d->counters.unknown_ids);
    }
    seq = get_u16(d->buf + 2);
    if (d->have_seq && seq != (uint16_t)(d->last_seq + 1u)) {
        bump(&d->counters.seq_gaps);
    }
    d->have_seq = 1;
    d->last_seq = seq;
    d->frames++;

    out->version = d->buf[0];
    out->msg_id = d->buf[1];
    out->seq = seq;
    out->len = len;
    for (i = 0; i < len; i++) {
        out->payload[i] = d->buf[SB_HEADER_LEN + i];
    }
    return 1;
}

int sb_decoder_feed_byte(sb_decoder_t *d, uint8_t byte, sb_frame_t *out)
{
    size_t n;
    if (byte != 0u) {
        if (d->skipping) {
            return 0;
        }
        if (d->len >= SB_MAX_ENCODED) {
            /* Too long to be a frame: never store more, drop up to the next 0x00. */
            drop(d, &d->counters.oversize);
            d->len = 0;
            d->skipping = 1;
            return 0;
        }
        d->buf[d->len++] = byte;
        return 0;
    }
    if (d->skipping) {
        d->skipping = 0; /* the oversize chunk ends here; already counted */
        return 0;
    }
    if (d->len == 0u) {
        return 0; /* two delimiters in a row: a sender flushing us, not an error */
    }
    n = d->len;
    d->len = 0;
    return decode_chunk(d, n, out);
}

size_t sb_decoder_feed(sb_decoder_t *d, const uint8_t *data, size_t n,
                       sb_frame_t *out, int *got_frame)
{
    size_t i = 0;
    *got_frame = 0;
    while (i < n) {
        if (sb_decoder_feed_byte(d, data[i++], out)) {
            *got_frame = 1;
            break;
        }
    }
    return i;
}
