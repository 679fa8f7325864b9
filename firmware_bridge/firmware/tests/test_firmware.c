/*
 * C tests of the reference firmware: the shared vectors (this file; the file
 * is read by vector_file.c), the codec's building blocks (test_codec.c), the
 * core's behaviour (test_core.c, test_core_safety.c) and its robustness
 * against garbage (test_robustness.c).
 *
 *   test_firmware ../vectors/frames.txt [seed]
 *
 * Prints one line per failure and ends with "N passed, N failed".
 */
#include "test_util.h"
#include "vector_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checking one vector ---- */

static void check_ok_vector(const vector_t *v)
{
    sb_decoder_t d;
    sb_frame_t frames[2];
    sb_message_t got;
    uint8_t out[SB_MAX_WIRE];
    size_t n, i, k;
    uint8_t version;
    char why[256];

    /* decode: whole chunk, then byte by byte */
    sb_decoder_init(&d, SB_PROTO_VERSION);
    n = t_feed_all(&d, v->wire, v->wire_len, frames, 2);
    EXPECT(n == 1u, "%s: decoded %zu frames, expected 1", v->name, n);
    for (k = 0; k < N_COUNTERS; k++) {
        EXPECT(counter(&d.counters, k) == 0u, "%s: %s = %u", v->name, COUNTERS[k].name,
               counter(&d.counters, k));
    }
    if (n == 1u) {
        EXPECT(frames[0].msg_id == v->message.msg_id, "%s: msg_id 0x%02x", v->name,
               frames[0].msg_id);
        EXPECT(frames[0].seq == v->seq, "%s: seq %u != %u", v->name, frames[0].seq, v->seq);
        EXPECT(sb_unpack(frames[0].msg_id, frames[0].payload, frames[0].len, &got),
               "%s: payload does not unpack", v->name);
        for (i = 0; i < N_FIELDS; i++) {
            if (FIELDS[i].msg_id == v->message.msg_id) {
                EXPECT(field_equal(&got, &v->message, &FIELDS[i], why, sizeof why),
                       "%s: decoded %s", v->name, why);
            }
        }
    }
    sb_decoder_init(&d, SB_PROTO_VERSION);
    for (i = 0, n = 0; i < v->wire_len; i++) {
        n += (size_t)sb_decoder_feed_byte(&d, v->wire[i], &frames[0]);
    }
    EXPECT(n == 1u, "%s: byte by byte decoded %zu frames", v->name, n);

    /* encode: HELLO and HELLO_ACK carry their sender's version, and a sender
     * puts its own version in the header too; everything else is version 1. */
    version = (uint8_t)SB_PROTO_VERSION;
    if (v->message.msg_id == SB_MSG_HELLO) {
        version = v->message.u.hello.proto_version;
    } else if (v->message.msg_id == SB_MSG_HELLO_ACK) {
        version = v->message.u.hello_ack.proto_version;
    }
    n = sb_encode_message(version, v->seq, &v->message, out, sizeof out);
    EXPECT(n == v->wire_len && memcmp(out, v->wire, n) == 0, "%s: encoded bytes differ",
           v->name);
}

static void check_error_vector(const vector_t *v)
{
    sb_decoder_t d;
    sb_frame_t frame;
    size_t n, k, named = N_COUNTERS;

    for (k = 0; k < N_COUNTERS; k++) {
        if (strcmp(COUNTERS[k].name, v->expect) == 0) {
            named = k;
        }
    }
    EXPECT(named < N_COUNTERS, "%s: unknown counter '%s'", v->name, v->expect);
    sb_decoder_init(&d, SB_PROTO_VERSION);
    n = t_feed_all(&d, v->wire, v->wire_len, &frame, 1);
    EXPECT(n == 0u, "%s: a frame came out", v->name);
    for (k = 0; k < N_COUNTERS; k++) {
        /* every drop also counts one resync (PROTOCOL.md) */
        unsigned want = (k == named || strcmp(COUNTERS[k].name, "resyncs") == 0) ? 1u : 0u;
        EXPECT(counter(&d.counters, k) == want, "%s: %s = %u, expected %u", v->name,
               COUNTERS[k].name, counter(&d.counters, k), want);
    }
}

/* All vectors back to back, cut at random places: the decoder's output must
 * not depend on how the bytes were split up. */
static void check_stream(const vector_t *vs, size_t nv, size_t n_ok)
{
    static uint8_t stream[MAX_VECTORS * MAX_WIRE];
    static sb_frame_t ref[MAX_VECTORS], got[MAX_VECTORS];
    sb_decoder_t d;
    size_t len = 0, i, n_ref, round;
    uint64_t rng = 42;

    for (i = 0; i < nv; i++) {
        memcpy(stream + len, vs[i].wire, vs[i].wire_len);
        len += vs[i].wire_len;
    }
    sb_decoder_init(&d, SB_PROTO_VERSION);
    n_ref = t_feed_all(&d, stream, len, ref, MAX_VECTORS);
    EXPECT(n_ref == n_ok, "stream: %zu frames, expected %zu", n_ref, n_ok);
    for (round = 0; round < 200; round++) {
        sb_decoder_t d2;
        size_t pos = 0, n = 0;
        sb_decoder_init(&d2, SB_PROTO_VERSION);
        while (pos < len) {
            size_t chunk = 1u + t_rand_below(&rng, 64);
            if (chunk > len - pos) {
                chunk = len - pos;
            }
            n += t_feed_all(&d2, stream + pos, chunk, n < MAX_VECTORS ? &got[n] : got,
                            n < MAX_VECTORS ? MAX_VECTORS - n : 0);
            pos += chunk;
        }
        EXPECT(n == n_ref, "stream round %zu: %zu frames", round, n);
        EXPECT(memcmp(&d2.counters, &d.counters, sizeof d.counters) == 0,
               "stream round %zu: counters differ", round);
        for (i = 0; i < n && i < n_ref; i++) {
            EXPECT(got[i].msg_id == ref[i].msg_id && got[i].seq == ref[i].seq &&
                       got[i].len == ref[i].len &&
                       memcmp(got[i].payload, ref[i].payload, ref[i].len) == 0,
                   "stream round %zu: frame %zu differs", round, i);
        }
    }
}

/* The schema string of PROTOCOL.md built from the layout table (vector_file.c):
 * proves the table (names, types, order) is the Python one, and SB_SCHEMA_HASH
 * right. */
static void check_schema_hash(void)
{
    char s[2048];
    size_t len = 0, m, i;
    uint32_t h = 0x811C9DC5u;

    t_begin("schema_hash");
    for (m = 0; m < N_MESSAGES; m++) {
        int first = 1;
        len += (size_t)snprintf(s + len, sizeof s - len, "%s=%u:", MESSAGES[m].name,
                                MESSAGES[m].msg_id);
        for (i = 0; i < N_FIELDS; i++) {
            if (FIELDS[i].msg_id == MESSAGES[m].msg_id) {
                len += (size_t)snprintf(s + len, sizeof s - len, "%s%s %s", first ? "" : ",",
                                        FIELDS[i].name, TYPE_NAMES[FIELDS[i].type]);
                first = 0;
            }
        }
        len += (size_t)snprintf(s + len, sizeof s - len, ";");
    }
    for (i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x01000193u;
    }
    EXPECT(h == SB_SCHEMA_HASH, "FNV-1a of the layouts is 0x%08x, SB_SCHEMA_HASH is 0x%08x",
           (unsigned)h, (unsigned)SB_SCHEMA_HASH);
    t_end();
}

void test_vectors(const char *path)
{
    static vector_t vs[MAX_VECTORS];
    static char line[8192];
    size_t nv = 0, n_ok = 0, n_err = 0, i;
    int header_seen = 0;
    FILE *f = fopen(path, "r");

    t_begin("vectors_file");
    EXPECT(f != NULL, "cannot open %s", path);
    if (f == NULL) {
        t_end();
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char why[200] = "";
        char *hash = strstr(line, "schema_hash=0x");
        if (line[0] == '#') {
            unsigned version;
            if (hash != NULL && sscanf(line, "# spikebox serial protocol %u", &version) == 1) {
                unsigned long h = strtoul(hash + strlen("schema_hash="), NULL, 16);
                header_seen = 1;
                EXPECT(h == SB_SCHEMA_HASH, "vectors schema_hash 0x%08lx != SB_SCHEMA_HASH", h);
                EXPECT(version == SB_PROTO_VERSION, "vectors are for version %u", version);
            }
            continue;
        }
        if (trim(line)[0] == '\0') {
            continue;
        }
        EXPECT(nv < MAX_VECTORS, "more than %d vectors", MAX_VECTORS);
        if (nv >= MAX_VECTORS) {
            break;
        }
        if (!parse_line(line, &vs[nv], why, sizeof why)) {
            EXPECT(0, "cannot parse line for '%s': %s", vs[nv].name, why);
            continue;
        }
        nv++;
    }
    fclose(f);
    EXPECT(header_seen, "no header line with the schema hash");
    t_end();

    for (i = 0; i < nv; i++) {
        char name[96];
        snprintf(name, sizeof name, "vector %s", vs[i].name);
        t_begin(name);
        if (strcmp(vs[i].expect, "ok") == 0) {
            EXPECT(vs[i].has_message, "%s: ok vector without a message", vs[i].name);
            check_ok_vector(&vs[i]);
            n_ok++;
        } else {
            check_error_vector(&vs[i]);
            n_err++;
        }
        t_end();
    }
    t_begin("vectors_present");
    EXPECT(n_ok >= 10u && n_err >= 5u, "only %zu ok and %zu error vectors", n_ok, n_err);
    t_end();
    t_begin("vectors_as_one_stream");
    check_stream(vs, nv, n_ok);
    t_end();
    check_schema_hash();
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    setvbuf(stdout, NULL, _IOLBF, 0); /* failure lines survive a sanitizer abort */
    if (argc < 2) {
        fprintf(stderr, "usage: %s VECTORS_FILE [SEED]\n", argv[0]);
        return 2;
    }
    if (argc > 2) {
        seed = strtoull(argv[2], NULL, 10);
    }
    test_vectors(argv[1]);
    test_codec();
    test_core();
    test_robustness(seed);
    return t_summary();
}
