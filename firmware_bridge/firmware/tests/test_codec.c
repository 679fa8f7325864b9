/*
 * Tests of the codec's pieces that the vectors do not pin down on their own:
 * the CRC check value, COBS corner cases, the oversize boundary, sequence
 * gaps, counter saturation.
 */
#include "test_util.h"

#include <string.h>

static void test_crc(void)
{
    const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    t_begin("crc16_check_value");
    EXPECT(sb_crc16(SB_CRC_INIT, check, sizeof check) == 0x29B1u, "crc(\"123456789\") = 0x%04x",
           sb_crc16(SB_CRC_INIT, check, sizeof check));
    /* fed in pieces, same answer */
    EXPECT(sb_crc16(sb_crc16(SB_CRC_INIT, check, 4), check + 4, 5) == 0x29B1u, "split crc");
    EXPECT(sb_crc16(SB_CRC_INIT, check, 0) == 0xFFFFu, "empty crc");
    t_end();
}

static void expect_cobs(const uint8_t *in, size_t n, const uint8_t *want, size_t want_n,
                        const char *what)
{
    uint8_t out[600], back[600];
    size_t got = sb_cobs_encode(in, n, out, sizeof out), back_n = 0;
    EXPECT(got == want_n && memcmp(out, want, want_n) == 0, "%s: encoding", what);
    EXPECT(sb_cobs_decode(out, got, back, sizeof back, &back_n) && back_n == n &&
               memcmp(back, in, n) == 0,
           "%s: round trip", what);
}

static void test_cobs(void)
{
    static const uint8_t zero[] = {0x00}, zero_enc[] = {0x01, 0x01};
    static const uint8_t mixed[] = {0x11, 0x22, 0x00, 0x33}, mixed_enc[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    static const uint8_t two_zeros[] = {0x00, 0x00}, two_zeros_enc[] = {0x01, 0x01, 0x01};
    uint8_t run[254], run_enc[255], run_zero[255], run_zero_enc[257], out[8];
    size_t n = 0, i;
    uint64_t rng = 7;

    t_begin("cobs");
    expect_cobs(zero, 0, (const uint8_t *)"\x01", 1, "empty");
    expect_cobs(zero, 1, zero_enc, 2, "0x00");
    expect_cobs(two_zeros, 2, two_zeros_enc, 3, "00 00");
    expect_cobs(mixed, 4, mixed_enc, 5, "11 22 00 33");
    /* 254 non-zero bytes fill one block exactly: no trailing code byte (as
     * Python's cobs does) */
    memset(run, 0x5A, sizeof run);
    run_enc[0] = 0xFF;
    memset(run_enc + 1, 0x5A, 254);
    expect_cobs(run, 254, run_enc, 255, "254 x 5a");
    memcpy(run_zero, run, 254);
    run_zero[254] = 0;
    memcpy(run_zero_enc, run_enc, 255);
    run_zero_enc[255] = 0x01;
    run_zero_enc[256] = 0x01;
    expect_cobs(run_zero, 255, run_zero_enc, 257, "254 x 5a, 00");

    EXPECT(sb_cobs_encode(mixed, 4, out, 4) == 0u, "encode must refuse a short buffer");
    EXPECT(!sb_cobs_decode((const uint8_t *)"\x05\x01\x02", 3, out, sizeof out, &n),
           "code past the end must fail");
    EXPECT(!sb_cobs_decode((const uint8_t *)"\x02\x00", 2, out, sizeof out, &n),
           "a 0x00 inside a chunk must fail");
    EXPECT(!sb_cobs_decode((const uint8_t *)"\x04\x01\x02\x03", 4, out, 2, &n),
           "decode must refuse a short buffer");

    for (i = 0; i < 2000; i++) { /* random round trips, zeros made common */
        uint8_t data[300], enc[310], dec[310];
        size_t len = t_rand_below(&rng, 300), k, e, d = 0;
        for (k = 0; k < len; k++) {
            data[k] = t_rand_below(&rng, 4) == 0 ? 0 : (uint8_t)t_rand(&rng);
        }
        e = sb_cobs_encode(data, len, enc, sizeof enc);
        EXPECT(e > 0u && memchr(enc, 0, e) == NULL, "random %zu: zero in encoding", i);
        EXPECT(sb_cobs_decode(enc, e, dec, sizeof dec, &d) && d == len &&
                   memcmp(dec, data, len) == 0,
               "random %zu: round trip", i);
    }
    t_end();
}

static size_t drive_frame(uint16_t seq, uint8_t *out)
{
    sb_message_t m;
    m.msg_id = SB_MSG_DRIVE;
    m.u.drive.left_mm_s = 100;
    m.u.drive.right_mm_s = -100;
    return sb_encode_message(SB_PROTO_VERSION, seq, &m, out, SB_MAX_WIRE);
}

static void test_limits(void)
{
    uint8_t buf[300], payload[SB_MAX_PAYLOAD + 1];
    sb_decoder_t d;
    sb_frame_t f;
    size_t n;

    t_begin("encode_limits");
    memset(payload, 0xAB, sizeof payload);
    n = sb_encode_frame(1, SB_MSG_LOG, 0, payload, (uint8_t)SB_MAX_PAYLOAD, buf, sizeof buf);
    EXPECT(n == SB_MAX_WIRE, "a 96-byte payload encodes to %zu bytes, expected %u", n,
           (unsigned)SB_MAX_WIRE);
    EXPECT(sb_encode_frame(1, SB_MSG_LOG, 0, payload, (uint8_t)(SB_MAX_PAYLOAD + 1), buf,
                           sizeof buf) == 0u,
           "a 97-byte payload must be refused");
    EXPECT(sb_encode_frame(1, SB_MSG_LOG, 0, payload, (uint8_t)SB_MAX_PAYLOAD, buf,
                           SB_MAX_WIRE - 1) == 0u,
           "a too small buffer must be refused");
    t_end();

    t_begin("oversize_boundary");
    /* SB_MAX_ENCODED bytes without a delimiter are still a candidate frame
     * (a malformed one here); one more byte is oversize. */
    sb_decoder_init(&d, SB_PROTO_VERSION);
    memset(buf, 0x01, SB_MAX_ENCODED);
    buf[SB_MAX_ENCODED] = 0;
    EXPECT(t_feed_all(&d, buf, SB_MAX_ENCODED + 1, &f, 1) == 0u, "no frame");
    EXPECT(d.counters.oversize == 0u && d.counters.framing_errors == 1u,
           "104 bytes: oversize %u framing %u", d.counters.oversize, d.counters.framing_errors);
    sb_decoder_init(&d, SB_PROTO_VERSION);
    memset(buf, 0x01, SB_MAX_ENCODED + 1);
    buf[SB_MAX_ENCODED + 1] = 0;
    EXPECT(t_feed_all(&d, buf, SB_MAX_ENCODED + 2, &f, 1) == 0u, "no frame");
    EXPECT(d.counters.oversize == 1u && d.counters.framing_errors == 0u &&
               d.counters.resyncs == 1u,
           "105 bytes: oversize %u framing %u resyncs %u", d.counters.oversize,
           d.counters.framing_errors, d.counters.resyncs);
    /* and the next frame is good again */
    n = drive_frame(5, buf);
    EXPECT(t_feed_all(&d, buf, n, &f, 1) == 1u && f.seq == 5u, "frame after oversize");
    /* a leading delimiter (a sender flushing us) is not an error */
    buf[0] = 0;
    n = drive_frame(6, buf + 1);
    EXPECT(t_feed_all(&d, buf, n + 1, &f, 1) == 1u && d.counters.framing_errors == 0u,
           "leading 0x00");
    t_end();
}

static void test_sequence(void)
{
    uint8_t buf[SB_MAX_WIRE];
    sb_decoder_t d;
    sb_frame_t f;
    static const uint16_t seqs[] = {65534, 65535, 0, 1, 5, 6};

    t_begin("seq_gaps");
    sb_decoder_init(&d, SB_PROTO_VERSION);
    {
        size_t i;
        for (i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
            size_t n = drive_frame(seqs[i], buf);
            t_feed_all(&d, buf, n, &f, 1);
        }
    }
    EXPECT(d.counters.seq_gaps == 1u, "wrap 65535→0 is not a gap, 1→5 is: %u",
           d.counters.seq_gaps);
    sb_decoder_reset_sequence(&d);
    t_feed_all(&d, buf, drive_frame(1000, buf), &f, 1);
    EXPECT(d.counters.seq_gaps == 1u, "the first frame after a reset sets the reference");
    t_feed_all(&d, buf, drive_frame(1001, buf), &f, 1);
    EXPECT(d.counters.seq_gaps == 1u, "in order after the reset");
    t_end();
}

static void test_saturation(void)
{
    uint8_t frame[SB_MAX_WIRE];
    sb_decoder_t d;
    sb_frame_t f;
    size_t n = drive_frame(1, frame);
    long i;

    t_begin("counters_saturate");
    { /* a CRC error every time: flip a payload bit under the COBS layer */
        uint8_t body[SB_MAX_DECODED];
        size_t body_n = 0;
        sb_cobs_decode(frame, n - 1u, body, sizeof body, &body_n);
        body[SB_HEADER_LEN] ^= 0x01;
        n = sb_cobs_encode(body, body_n, frame, sizeof frame - 1u);
        frame[n++] = 0;
    }
    sb_decoder_init(&d, SB_PROTO_VERSION);
    for (i = 0; i < 70000L; i++) {
        t_feed_all(&d, frame, n, &f, 1);
    }
    EXPECT(d.counters.crc_errors == 0xFFFFu && d.counters.resyncs == 0xFFFFu,
           "crc_errors %u resyncs %u", d.counters.crc_errors, d.counters.resyncs);
    t_end();
}

static void test_decoder_version(void)
{
    uint8_t buf[SB_MAX_WIRE];
    sb_decoder_t d;
    sb_frame_t f;
    size_t n = drive_frame(1, buf);

    t_begin("decoder_version");
    sb_decoder_init(&d, 2); /* a version-2 receiver drops version-1 DRIVEs */
    EXPECT(t_feed_all(&d, buf, n, &f, 1) == 0u && d.counters.version_errors == 1u,
           "version 1 DRIVE at a version 2 receiver");
    t_end();
}

void test_codec(void)
{
    test_crc();
    test_cobs();
    test_limits();
    test_sequence();
    test_saturation();
    test_decoder_version();
}
