/* The harness behind test_util.h. */
#include "test_util.h"

#include <stdarg.h>
#include <stdio.h>

#define MAX_LINES_PER_CASE 10

static const char *g_case = "(none)";
static int g_case_failures;
static int g_passed, g_failed;

void t_begin(const char *name)
{
    g_case = name;
    g_case_failures = 0;
}

void t_end(void)
{
    if (g_case_failures == 0) {
        g_passed++;
    } else {
        g_failed++;
        if (g_case_failures > MAX_LINES_PER_CASE) {
            printf("FAIL %s: ... and %d more failures\n", g_case,
                   g_case_failures - MAX_LINES_PER_CASE);
        }
    }
    g_case = "(none)";
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    g_case_failures++;
    if (g_case_failures > MAX_LINES_PER_CASE) {
        return; /* one broken loop must not bury the other cases' lines */
    }
    printf("FAIL %s: %s:%d: ", g_case, file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

int t_summary(void)
{
    printf("%d passed, %d failed\n", g_passed, g_failed);
    fflush(stdout);
    return g_failed == 0 ? 0 : 1;
}

uint64_t t_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t t_rand_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(t_rand(s) % n);
}

size_t t_feed_all(sb_decoder_t *d, const uint8_t *data, size_t n, sb_frame_t *out, size_t max)
{
    size_t frames = 0;
    sb_frame_t scratch;
    while (n > 0u) {
        int got;
        sb_frame_t *dst = frames < max ? &out[frames] : &scratch;
        size_t used = sb_decoder_feed(d, data, n, dst, &got);
        data += used;
        n -= used;
        frames += got ? 1u : 0u;
    }
    return frames;
}
