/*
 * C tests of the reference firmware: the shared vectors (this file), the
 * codec's building blocks, the core's behaviour (test_core.c) and its
 * robustness against garbage (test_robustness.c).
 *
 *   test_firmware ../vectors/frames.txt [seed]
 *
 * Prints one line per failure and ends with "N passed, N failed".
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the message layouts, as the vectors name them ----
 * Written out here independently of the codec, so that decoding, encoding
 * and the schema hash are each checked against something else. */

typedef enum { T_U8, T_U16, T_U32, T_I16, T_I32, T_CHAR16, T_TEXT } ftype_t;

typedef struct {
    uint8_t msg_id;
    const char *name;
    ftype_t type;
    size_t offset; /* into sb_message_t */
} field_t;

#define F(id, type, msg, field) { id, #field, type, offsetof(sb_message_t, u.msg.field) }

static const field_t FIELDS[] = {
    F(SB_MSG_HELLO, T_U8, hello, proto_version),
    F(SB_MSG_HELLO, T_U32, hello, schema_hash),
    F(SB_MSG_HELLO_ACK, T_U8, hello_ack, status),
    F(SB_MSG_HELLO_ACK, T_U8, hello_ack, proto_version),
    F(SB_MSG_HELLO_ACK, T_U32, hello_ack, schema_hash),
    F(SB_MSG_HELLO_ACK, T_U16, hello_ack, watchdog_ms),
    F(SB_MSG_HELLO_ACK, T_CHAR16, hello_ack, firmware_id),
    F(SB_MSG_HEARTBEAT, T_U32, heartbeat, uptime_ms),
    F(SB_MSG_HEARTBEAT, T_U8, heartbeat, state),
    F(SB_MSG_DRIVE, T_I16, drive, left_mm_s),
    F(SB_MSG_DRIVE, T_I16, drive, right_mm_s),
    F(SB_MSG_ESTOP, T_U16, estop, cmd_id),
    F(SB_MSG_ESTOP, T_U8, estop, reason),
    F(SB_MSG_CLEAR, T_U16, clear, cmd_id),
    F(SB_MSG_ACK, T_U16, ack, cmd_id),
    F(SB_MSG_ACK, T_U8, ack, acked_msg_id),
    F(SB_MSG_ACK, T_U8, ack, result),
    F(SB_MSG_TELEMETRY, T_U32, telemetry, mcu_time_ms),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, last_drive_seq),
    F(SB_MSG_TELEMETRY, T_U8, telemetry, state),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, left_mm_s),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, right_mm_s),
    F(SB_MSG_TELEMETRY, T_I32, telemetry, left_ticks),
    F(SB_MSG_TELEMETRY, T_I32, telemetry, right_ticks),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, battery_mv),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, range_mm),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, accel_x_mg),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, accel_y_mg),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, accel_z_mg),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, gyro_x_cdps),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, gyro_y_cdps),
    F(SB_MSG_TELEMETRY, T_I16, telemetry, gyro_z_cdps),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, watchdog_stop_ms),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, crc_errors),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, seq_gaps),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, resyncs),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, oversize),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, unknown_ids),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, timeouts),
    F(SB_MSG_LOG, T_U8, log, level),
    F(SB_MSG_LOG, T_TEXT, log, text),
};
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const struct {
    const char *name;
    uint8_t msg_id;
} MESSAGES[] = {
    {"HELLO", SB_MSG_HELLO},         {"HELLO_ACK", SB_MSG_HELLO_ACK},
    {"HEARTBEAT", SB_MSG_HEARTBEAT}, {"DRIVE", SB_MSG_DRIVE},
    {"ESTOP", SB_MSG_ESTOP},         {"CLEAR", SB_MSG_CLEAR},
    {"ACK", SB_MSG_ACK},             {"TELEMETRY", SB_MSG_TELEMETRY},
    {"LOG", SB_MSG_LOG},
};
#define N_MESSAGES (sizeof MESSAGES / sizeof MESSAGES[0])

static const char *TYPE_NAMES[] = {"u8", "u16", "u32", "i16", "i32", "char[16]", "u8[0..80]"};

static const struct {
    const char *name;
    size_t offset;
} COUNTERS[] = {
    {"crc_errors", offsetof(sb_link_counters_t, crc_errors)},
    {"framing_errors", offsetof(sb_link_counters_t, framing_errors)},
    {"seq_gaps", offsetof(sb_link_counters_t, seq_gaps)},
    {"resyncs", offsetof(sb_link_counters_t, resyncs)},
    {"oversize", offsetof(sb_link_counters_t, oversize)},
    {"unknown_ids", offsetof(sb_link_counters_t, unknown_ids)},
    {"version_errors", offsetof(sb_link_counters_t, version_errors)},
};
#define N_COUNTERS (sizeof COUNTERS / sizeof COUNTERS[0])

static uint16_t counter(const sb_link_counters_t *c, size_t i)
{
    uint16_t v;
    memcpy(&v, (const char *)c + COUNTERS[i].offset, sizeof v);
    return v;
}

static int message_id(const char *name, uint8_t *id)
{
    size_t i;
    for (i = 0; i < N_MESSAGES; i++) {
        if (strcmp(MESSAGES[i].name, name) == 0) {
            *id = MESSAGES[i].msg_id;
            return 1;
        }
    }
    return 0;
}

static const field_t *find_field(uint8_t msg_id, const char *name)
{
    size_t i;
    for (i = 0; i < N_FIELDS; i++) {
        if (FIELDS[i].msg_id == msg_id && strcmp(FIELDS[i].name, name) == 0) {
            return &FIELDS[i];
        }
    }
    return NULL;
}

static int64_t get_int(const sb_message_t *m, const field_t *f)
{
    const char *p = (const char *)m + f->offset;
    switch (f->type) {
    case T_U8: return *(const uint8_t *)p;
    case T_U16: return *(const uint16_t *)p;
    case T_U32: return *(const uint32_t *)p;
    case T_I16: return *(const int16_t *)p;
    case T_I32: return *(const int32_t *)p;
    default: return 0;
    }
}

/* Set a field from its text on a vector line; 0 if the value does not fit. */
static int set_field(sb_message_t *m, const field_t *f, const char *value)
{
    char *p = (char *)m + f->offset;
    char *end;
    long long v;
    size_t n = strlen(value);

    if (f->type == T_CHAR16) {
        if (n > SB_FIRMWARE_ID_LEN) {
            return 0;
        }
        memset(p, 0, SB_FIRMWARE_ID_LEN + 1);
        memcpy(p, value, n);
        return 1;
    }
    if (f->type == T_TEXT) {
        if (n > SB_LOG_TEXT_MAX) {
            return 0;
        }
        m->u.log.text_len = (uint8_t)n;
        memcpy(m->u.log.text, value, n);
        return 1;
    }
    v = strtoll(value, &end, 10);
    if (*value == '\0' || *end != '\0') {
        return 0;
    }
    switch (f->type) {
    case T_U8: if (v < 0 || v > 0xFF) return 0; *(uint8_t *)p = (uint8_t)v; return 1;
    case T_U16: if (v < 0 || v > 0xFFFF) return 0; *(uint16_t *)p = (uint16_t)v; return 1;
    case T_U32: if (v < 0 || v > 0xFFFFFFFFll) return 0; *(uint32_t *)p = (uint32_t)v; return 1;
    case T_I16: if (v < -32768 || v > 32767) return 0; *(int16_t *)p = (int16_t)v; return 1;
    case T_I32:
        if (v < -2147483647ll - 1 || v > 2147483647ll) return 0;
        *(int32_t *)p = (int32_t)v;
        return 1;
    default: return 0;
    }
}

/* Compare one field; on a difference describe it in buf. */
static int field_equal(const sb_message_t *a, const sb_message_t *b, const field_t *f,
                       char *buf, size_t cap)
{
    if (f->type == T_CHAR16) {
        const char *x = (const char *)a + f->offset, *y = (const char *)b + f->offset;
        snprintf(buf, cap, "%s: '%s' != '%s'", f->name, x, y);
        return strcmp(x, y) == 0;
    }
    if (f->type == T_TEXT) {
        snprintf(buf, cap, "%s: '%.*s' != '%.*s'", f->name, (int)a->u.log.text_len,
                 a->u.log.text, (int)b->u.log.text_len, b->u.log.text);
        return a->u.log.text_len == b->u.log.text_len &&
               memcmp(a->u.log.text, b->u.log.text, a->u.log.text_len) == 0;
    }
    snprintf(buf, cap, "%s: %lld != %lld", f->name, (long long)get_int(a, f),
             (long long)get_int(b, f));
    return get_int(a, f) == get_int(b, f);
}

/* ---- reading the vectors file ---- */

#define MAX_VECTORS 64
#define MAX_WIRE 1024

typedef struct {
    char name[64];
    char expect[32];
    int has_message;
    uint16_t seq;
    sb_message_t message;
    uint8_t wire[MAX_WIRE];
    size_t wire_len;
} vector_t;

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "MSG seq=N field=value ..." → v->message; every field of MSG must appear. */
static int parse_meaning(char *text, vector_t *v, char *why, size_t cap)
{
    char *tok = strtok(text, " ");
    int seen[N_FIELDS] = {0};
    int have_seq = 0;
    size_t i;

    if (tok == NULL || !message_id(tok, &v->message.msg_id)) {
        snprintf(why, cap, "unknown message '%s'", tok ? tok : "");
        return 0;
    }
    while ((tok = strtok(NULL, " ")) != NULL) {
        char *eq = strchr(tok, '=');
        const field_t *f;
        if (eq == NULL) {
            snprintf(why, cap, "no '=' in '%s'", tok);
            return 0;
        }
        *eq = '\0';
        if (strcmp(tok, "seq") == 0) {
            long s = strtol(eq + 1, NULL, 10);
            v->seq = (uint16_t)s;
            have_seq = s >= 0 && s <= 0xFFFF;
            continue;
        }
        f = find_field(v->message.msg_id, tok);
        if (f == NULL || !set_field(&v->message, f, eq + 1)) {
            snprintf(why, cap, "bad field '%s=%s'", tok, eq + 1);
            return 0;
        }
        seen[f - FIELDS] = 1;
    }
    for (i = 0; i < N_FIELDS; i++) {
        if (FIELDS[i].msg_id == v->message.msg_id && !seen[i] && FIELDS[i].type != T_TEXT &&
            FIELDS[i].type != T_CHAR16) {
            snprintf(why, cap, "field %s missing", FIELDS[i].name);
            return 0;
        }
    }
    if (!have_seq) {
        snprintf(why, cap, "no valid seq");
        return 0;
    }
    return 1;
}

static int parse_line(char *line, vector_t *v, char *why, size_t cap)
{
    char *parts[4];
    char *rest = line;
    size_t i, n;

    for (i = 0; i < 4; i++) {
        char *bar = i < 3 ? strchr(rest, '|') : NULL;
        if (i < 3 && bar == NULL) {
            snprintf(why, cap, "expected 4 '|'-separated parts");
            return 0;
        }
        if (bar) {
            *bar = '\0';
        }
        parts[i] = trim(rest);
        rest = bar ? bar + 1 : rest;
    }
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", parts[0]);
    snprintf(v->expect, sizeof v->expect, "%s", parts[1]);

    n = strlen(parts[3]);
    if (n % 2u != 0u || n / 2u > MAX_WIRE) {
        snprintf(why, cap, "bad hex length");
        return 0;
    }
    for (i = 0; i < n / 2u; i++) {
        int hi = hex_nibble(parts[3][2 * i]), lo = hex_nibble(parts[3][2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, cap, "bad hex digit");
            return 0;
        }
        v->wire[i] = (uint8_t)(hi << 4 | lo);
    }
    v->wire_len = n / 2u;

    if (strcmp(parts[2], "-") == 0) {
        return 1;
    }
    v->has_message = 1;
    return parse_meaning(parts[2], v, why, cap);
}

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

/* The schema string of PROTOCOL.md built from the table above: proves the
 * table (names, types, order) is the Python one, and SB_SCHEMA_HASH right. */
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
