/*
 * The shared vectors file as the C tests read it (vector_file.h): the message
 * layouts as the vectors name them, and a parser for one line of the file.
 */
#include "vector_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the message layouts, as the vectors name them ----
 * Written out here independently of the codec, so that decoding, encoding
 * and the schema hash are each checked against something else. */

#define F(id, type, msg, field) { id, #field, type, offsetof(sb_message_t, u.msg.field) }

const field_t FIELDS[] = {
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
    F(SB_MSG_TELEMETRY, T_U16, telemetry, framing_errors),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, version_errors),
    F(SB_MSG_TELEMETRY, T_U16, telemetry, stale_frames),
    F(SB_MSG_LOG, T_U8, log, level),
    F(SB_MSG_LOG, T_TEXT, log, text),
};
const size_t N_FIELDS = sizeof FIELDS / sizeof FIELDS[0];

const message_name_t MESSAGES[] = {
    {"HELLO", SB_MSG_HELLO},         {"HELLO_ACK", SB_MSG_HELLO_ACK},
    {"HEARTBEAT", SB_MSG_HEARTBEAT}, {"DRIVE", SB_MSG_DRIVE},
    {"ESTOP", SB_MSG_ESTOP},         {"CLEAR", SB_MSG_CLEAR},
    {"ACK", SB_MSG_ACK},             {"TELEMETRY", SB_MSG_TELEMETRY},
    {"LOG", SB_MSG_LOG},
};
const size_t N_MESSAGES = sizeof MESSAGES / sizeof MESSAGES[0];

const char *TYPE_NAMES[] = {"u8", "u16", "u32", "i16", "i32", "char[16]", "u8[0..80]"};

const counter_name_t COUNTERS[] = {
    {"crc_errors", offsetof(sb_link_counters_t, crc_errors)},
    {"framing_errors", offsetof(sb_link_counters_t, framing_errors)},
    {"seq_gaps", offsetof(sb_link_counters_t, seq_gaps)},
    {"resyncs", offsetof(sb_link_counters_t, resyncs)},
    {"oversize", offsetof(sb_link_counters_t, oversize)},
    {"unknown_ids", offsetof(sb_link_counters_t, unknown_ids)},
    {"version_errors", offsetof(sb_link_counters_t, version_errors)},
};
const size_t N_COUNTERS = sizeof COUNTERS / sizeof COUNTERS[0];

uint16_t counter(const sb_link_counters_t *c, size_t i)
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
int field_equal(const sb_message_t *a, const sb_message_t *b, const field_t *f, char *buf,
                size_t cap)
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

char *trim(char *s)
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
    int seen[sizeof FIELDS / sizeof FIELDS[0]] = {0};
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

int parse_line(char *line, vector_t *v, char *why, size_t cap)
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
