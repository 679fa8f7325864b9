/*
 * The shared vectors file (../vectors/frames.txt) as the C tests read it.
 *
 * The message layouts, as the vectors name them, are written out in
 * vector_file.c independently of the codec, so that decoding, encoding and the
 * schema hash are each checked against something else (test_firmware.c).
 */
#ifndef VECTOR_FILE_H
#define VECTOR_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "../sb_protocol.h"

/* ---- the message layouts, as the vectors name them ---- */

typedef enum { T_U8, T_U16, T_U32, T_I16, T_I32, T_CHAR16, T_TEXT } ftype_t;

typedef struct {
    uint8_t msg_id;
    const char *name;
    ftype_t type;
    size_t offset; /* into sb_message_t */
} field_t;

typedef struct {
    const char *name;
    uint8_t msg_id;
} message_name_t;

typedef struct {
    const char *name;
    size_t offset; /* into sb_link_counters_t */
} counter_name_t;

/* Every field of every message, in schema order. */
extern const field_t FIELDS[];
extern const size_t N_FIELDS;
/* Every message, in schema order. */
extern const message_name_t MESSAGES[];
extern const size_t N_MESSAGES;
/* The schema's name of each ftype_t. */
extern const char *TYPE_NAMES[];
/* The decoder's link counters, as the error vectors name them. */
extern const counter_name_t COUNTERS[];
extern const size_t N_COUNTERS;

/* The value of COUNTERS[i] in c. */
uint16_t counter(const sb_link_counters_t *c, size_t i);
/* Compare one field; on a difference describe it in buf. */
int field_equal(const sb_message_t *a, const sb_message_t *b, const field_t *f, char *buf,
                size_t cap);

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

/* Strip blanks from both ends and the line end, in place; returns the start. */
char *trim(char *s);
/* One "name | expect | meaning | hex" line into *v; 0 (and why) if malformed. */
int parse_line(char *line, vector_t *v, char *why, size_t cap);

#endif /* VECTOR_FILE_H */
