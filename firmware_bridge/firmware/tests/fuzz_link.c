/*
 * Fuzz harness for the MCU's receive path: the streaming decoder and the core
 * behind it, under AddressSanitizer and UBSan.
 *
 *   fuzz_link CORPUS_DIR [--runs N] [--seed S]     the built-in driver (make test)
 *   clang -fsanitize=fuzzer,address,undefined ...   libFuzzer, where clang is
 *
 * One input is a byte stream as a host (or a noisy line) might send it. It is
 * fed to a fresh decoder in chunks whose sizes the input itself chooses, and
 * to a fresh core on a fake clock; every frame the decoder accepts must be a
 * frame (a known id, the right length, a CRC that checks, unpackable), and
 * the core must never drive the motors while it says they are held (e-stop,
 * watchdog, awaiting a fresh DRIVE, or before a handshake). Any violation
 * aborts, and so does any memory error the sanitizers see.
 *
 * The built-in driver needs no clang: it mutates the committed corpus (flips,
 * inserts, deletes, splices, extra delimiters) with a seeded generator, so a
 * run is reproducible from its seed.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sb_core.h"

#define MAX_INPUT 4096u
#define MAX_CORPUS 256u

/* ---- the fake HAL ---- */
typedef struct {
    uint32_t now;
    int16_t left, right;
} hal_t;

static uint32_t h_millis(void *ctx) { return ((hal_t *)ctx)->now; }
static void h_motors(void *ctx, int16_t l, int16_t r)
{
    ((hal_t *)ctx)->left = l;
    ((hal_t *)ctx)->right = r;
}
static void h_sensors(void *ctx, sb_sensors_t *s)
{
    (void)ctx;
    memset(s, 0, sizeof *s);
}
static void h_write(void *ctx, const uint8_t *d, size_t n)
{
    (void)ctx;
    (void)d;
    (void)n;
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_link: %s\n", what);
    abort();
}

static void check_frame(const sb_frame_t *f)
{
    sb_message_t m;
    uint8_t wire[SB_MAX_WIRE], body[SB_MAX_DECODED];
    size_t n, body_n;
    uint16_t crc;

    if (!sb_payload_len_ok(f->msg_id, f->len)) {
        fail("accepted a frame with an unknown id or a wrong length");
    }
    if (!sb_unpack(f->msg_id, f->payload, f->len, &m)) {
        fail("accepted a frame that does not unpack");
    }
    /* Independently: its encoding decodes back to a body whose CRC checks. */
    n = sb_encode_frame(f->version, f->msg_id, f->seq, f->payload, f->len, wire, sizeof wire);
    if (n == 0u || !sb_cobs_decode(wire, n - 1u, body, sizeof body, &body_n) ||
        body_n != SB_HEADER_LEN + f->len + SB_CRC_LEN) {
        fail("an accepted frame does not re-encode");
    }
    crc = sb_crc16(SB_CRC_INIT, body, body_n - SB_CRC_LEN);
    if ((uint16_t)(body[body_n - 2u] | (body[body_n - 1u] << 8)) != crc) {
        fail("an accepted frame's CRC does not check");
    }
}

static void check_motors(const sb_core_t *core, const hal_t *hal)
{
    uint8_t held = SB_STATE_ESTOPPED | SB_STATE_WATCHDOG_STOPPED | SB_STATE_AWAIT_DRIVE;
    int moving = hal->left != 0 || hal->right != 0;
    if (moving && ((core->state & held) || !(core->state & SB_STATE_HANDSHAKEN))) {
        fail("motors moving while the core holds them");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sb_core_t core;
    hal_t hal = {1000u, 0, 0};
    sb_hal_t h = {h_millis, h_motors, h_sensors, h_write, NULL};
    sb_decoder_t d;
    sb_frame_t f;
    size_t pos = 0;
    uint8_t step;

    if (size == 0u) {
        return 0;
    }
    h.ctx = &hal;
    step = (uint8_t)(data[0] % 17u + 1u); /* the input chooses how it arrives */
    sb_decoder_init(&d, SB_PROTO_VERSION);
    sb_core_init(&core, &h, NULL);
    while (pos < size) {
        size_t chunk = size - pos < step ? size - pos : step;
        size_t off = 0;
        while (off < chunk) {
            int got = 0;
            off += sb_decoder_feed(&d, data + pos + off, chunk - off, &f, &got);
            if (got) {
                check_frame(&f);
            }
        }
        sb_core_rx(&core, data + pos, chunk);
        check_motors(&core, &hal);
        hal.now += (uint32_t)(data[pos] & 0x3Fu); /* time moves: the watchdog fires too */
        sb_core_tick(&core);
        check_motors(&core, &hal);
        pos += chunk;
    }
    return 0;
}

#ifndef SB_LIBFUZZER
/* ---- the built-in driver ---- */
typedef struct {
    uint8_t *data;
    size_t n;
} entry_t;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t load_corpus(const char *dir, entry_t *out)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    size_t count = 0;
    char path[1024];
    if (dp == NULL) {
        perror(dir);
        exit(2);
    }
    while ((e = readdir(dp)) != NULL && count < MAX_CORPUS) {
        FILE *fp;
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fp = fopen(path, "rb");
        if (fp == NULL) {
            continue;
        }
        out[count].data = malloc(MAX_INPUT);
        out[count].n = fread(out[count].data, 1, MAX_INPUT, fp);
        fclose(fp);
        count++;
    }
    closedir(dp);
    return count;
}

/* One of a few mutations, applied in place; returns the new length. */
static size_t mutate(uint64_t *s, uint8_t *buf, size_t n, const entry_t *corpus, size_t nc)
{
    size_t at = n ? (size_t)(rnd(s) % n) : 0u;
    switch (rnd(s) % 7u) {
    case 0: /* flip a bit */
        if (n) buf[at] ^= (uint8_t)(1u << (rnd(s) % 8u));
        return n;
    case 1: /* set a byte, often to a delimiter */
        if (n) buf[at] = (rnd(s) % 3u) ? 0u : (uint8_t)rnd(s);
        return n;
    case 2: /* insert a byte */
        if (n < MAX_INPUT) {
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (uint8_t)rnd(s);
            return n + 1u;
        }
        return n;
    case 3: /* delete a run */
        if (n) {
            size_t k = 1u + (size_t)(rnd(s) % 8u);
            if (k > n - at) k = n - at;
            memmove(buf + at, buf + at + k, n - at - k);
            return n - k;
        }
        return n;
    case 4: { /* splice in part of another corpus entry */
        const entry_t *o = &corpus[rnd(s) % nc];
        size_t k = o->n ? (size_t)(rnd(s) % o->n) + 1u : 0u;
        if (n + k > MAX_INPUT) k = MAX_INPUT - n;
        memmove(buf + at + k, buf + at, n - at);
        memcpy(buf + at, o->data, k);
        return n + k;
    }
    case 5: /* duplicate a run (a retried or echoed frame) */
        if (n && n < MAX_INPUT / 2u) {
            size_t k = 1u + (size_t)(rnd(s) % (n - at));
            memmove(buf + at + k, buf + at, n - at);
            return n + k;
        }
        return n;
    default: /* random garbage run */
    {
        size_t k = (size_t)(rnd(s) % 32u), i;
        if (n + k > MAX_INPUT) k = MAX_INPUT - n;
        memmove(buf + at + k, buf + at, n - at);
        for (i = 0; i < k; i++) buf[at + i] = (uint8_t)rnd(s);
        return n + k;
    }
    }
}

int main(int argc, char **argv)
{
    static entry_t corpus[MAX_CORPUS];
    static uint8_t buf[MAX_INPUT];
    unsigned long runs = 100000ul, i;
    uint64_t seed = 1;
    size_t nc;
    int a;

    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_link CORPUS_DIR [--runs N] [--seed S]\n");
        return 2;
    }
    for (a = 2; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--runs") == 0) {
            runs = strtoul(argv[a + 1], NULL, 10);
        } else if (strcmp(argv[a], "--seed") == 0) {
            seed = strtoull(argv[a + 1], NULL, 10) | 1u;
        }
    }
    nc = load_corpus(argv[1], corpus);
    if (nc == 0u) {
        fprintf(stderr, "fuzz_link: no corpus files in %s\n", argv[1]);
        return 2;
    }
    for (i = 0; i < nc; i++) {
        LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].n);
    }
    for (i = 0; i < runs; i++) {
        const entry_t *e = &corpus[rnd(&seed) % nc];
        size_t n = e->n, k, muts = 1u + (size_t)(rnd(&seed) % 6u);
        memcpy(buf, e->data, n);
        for (k = 0; k < muts; k++) {
            n = mutate(&seed, buf, n, corpus, nc);
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_link: %lu inputs (%zu corpus files), 0 crashes\n", runs + nc, nc);
    for (i = 0; i < nc; i++) {
        free(corpus[i].data);
    }
    return 0;
}
#endif
