/*
 * A minimal test harness for the firmware tests: named cases, one printed
 * line per failure, a deterministic random generator. No framework needed on
 * a machine that only has a C compiler.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../sb_protocol.h"

/* Start a named case; its checks report under this name until t_end(). */
void t_begin(const char *name);
/* Close the case: it passed if no check failed since t_begin(). */
void t_end(void);
void t_fail(const char *file, int line, const char *fmt, ...);
/* Prints "N passed, N failed"; returns the process exit status. */
int t_summary(void);

#define EXPECT(cond, ...)                                   \
    do {                                                    \
        if (!(cond)) {                                      \
            t_fail(__FILE__, __LINE__, __VA_ARGS__);        \
        }                                                   \
    } while (0)

/* splitmix64: fixed seeds keep every run the same. */
uint64_t t_rand(uint64_t *state);
/* Uniform in [0, n). */
uint32_t t_rand_below(uint64_t *state, uint32_t n);

/* Feed all n bytes to d; store up to max frames in out; return how many
 * frames came out (counting those beyond max). */
size_t t_feed_all(sb_decoder_t *d, const uint8_t *data, size_t n, sb_frame_t *out, size_t max);

/* The test suites, each in its own file. */
void test_vectors(const char *vectors_path);
void test_codec(void);
void test_core(void);
void test_robustness(uint64_t seed);

#endif /* TEST_UTIL_H */
