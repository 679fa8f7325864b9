/* One activator frame in C: Lava's bit-accurate Dense + LIF (lava-nc 0.10), with work that
 * grows with the input spikes, not with inputs x timesteps x units.
 *
 * Loaded with ctypes by kernel.py (no Python C-API is used; the module init below only lets
 * setuptools build this file as an extension of the package). fixed_point.py states Lava's
 * arithmetic line by line; this file computes the same numbers in another order:
 *
 *   Dense   acc[t, u] = sum_i w_eff[i, u] * s[t, i], with w_eff = (code + offset_u) << shift_u
 *           = ((sum_{i active at t} code[i, u]) + offset_u * n_active[t]) << shift_u.
 *           Only the rows of inputs that spiked are read, each once per frame: its timesteps
 *           are a bit mask, and the row (int8, one byte a synapse) is added to each of them.
 *           Units are taken in blocks so the block's T x UNIT_BLOCK accumulators stay in L1.
 *   then    (acc << weight_exp) or (acc >> -weight_exp) in int64, wrapped to int32 (the
 *           channel), delivered one timestep later (the Dense buffer, carried across frames).
 *   LIF     u = wrap24(decay(u, du + 1) + (a_in << 6)); v = clip(decay(v, dv) + u + bias);
 *           spike if v > vth << 6, then v = 0. int32 sums wrap as Lava's int32 arrays do: they
 *           are done in uint32 here, where wrapping is defined behaviour in C.
 *
 * Exactness bounds, checked by the caller (kernel.py): n_inputs < 2**23, so a block sum of
 * int8 codes plus offset * n_active fits int32; code shifts <= 8.
 */
#include <stdint.h>
#include <string.h>

#define UNIT_BLOCK 512
#define PREFETCH_AHEAD 4          /* active inputs ahead whose row segment is fetched early */
#define MAX_UV (1 << 23)

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define SB_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SB_CLONES
#endif

static inline int32_t wrap_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}


/* int16 sums of int8 codes: 255 additions of |code| <= 128 stay within int16 (32640), so a
 * timestep's int16 row is flushed into its int32 row every FLUSH_EVERY additions. Half the
 * width of int32 accumulators: twice the lanes a vector instruction adds. */
#define FLUSH_EVERY 255

static inline void add_row(int16_t *restrict acc, const int8_t *restrict row, int n) {
    for (int k = 0; k < n; k++)
        acc[k] += row[k];
}

static inline void flush_row(int32_t *restrict acc, int16_t *restrict part, int n) {
    for (int k = 0; k < n; k++) {
        acc[k] += part[k];
        part[k] = 0;
    }
}

/* Returns 0, or -1 on sizes it cannot take. */
SB_CLONES
int sb_activator_frame(
    int T, int N, int U,
    const uint8_t *spikes,        /* (T, N) 0/1 */
    const int8_t *codes,          /* (N, U) int8, input-major: row i is input i's synapses */
    const int32_t *offset,        /* (U,) */
    const int32_t *shift,         /* (U,) 0..8 */
    const int32_t *weight_exp,    /* (U,) */
    const double *u_scale,        /* (U,) (4096 - (du + 1)) / 4096 */
    const double *v_scale,        /* (U,) (4096 - dv) / 4096 */
    const int32_t *bias,          /* (U,) bias_mant << bias_exp */
    const int32_t *vth_scaled,    /* (U,) vth << 6 */
    int32_t *u_state, int32_t *v_state, int32_t *dense_buffer,   /* (U,) in and out */
    uint8_t *out_spikes,          /* (T, U) */
    int32_t *spike_count,         /* (U,) out: spikes of each unit this frame */
    uint64_t *masks,              /* scratch (chunks, N) */
    int32_t *active,              /* scratch (chunks, N) */
    int32_t *n_active_at,         /* scratch (T,) */
    int32_t *acc,                 /* scratch (T, UNIT_BLOCK) */
    int16_t *part,                /* scratch (T, UNIT_BLOCK) */
    int32_t *part_count)          /* scratch (T,) */
{
    if (T < 1 || N < 1 || U < 0)
        return -1;
    memset(spike_count, 0, sizeof(int32_t) * (size_t)U);
    int chunks = (T + 63) / 64;
    int n_act[chunks];
    memset(n_active_at, 0, sizeof(int32_t) * (size_t)T);
    for (int c = 0; c < chunks; c++) {
        uint64_t *m = masks + (size_t)c * N;
        memset(m, 0, sizeof(uint64_t) * (size_t)N);
        int t_end = (c + 1) * 64 < T ? (c + 1) * 64 : T;
        for (int t = c * 64; t < t_end; t++) {      /* branch-free: vectorises */
            const uint8_t *s = spikes + (size_t)t * N;
            int shift_t = t - c * 64, count = 0;
            for (int i = 0; i < N; i++) {
                m[i] |= (uint64_t)(s[i] != 0) << shift_t;
                count += s[i] != 0;
            }
            n_active_at[t] = count;
        }
        int32_t *a = active + (size_t)c * N;
        int k = 0;
        for (int i = 0; i < N; i++)
            if (m[i])
                a[k++] = i;
        n_act[c] = k;
    }

    for (int b0 = 0; b0 < U; b0 += UNIT_BLOCK) {
        int nb = U - b0 < UNIT_BLOCK ? U - b0 : UNIT_BLOCK;
        memset(acc, 0, sizeof(int32_t) * (size_t)T * UNIT_BLOCK);
        memset(part, 0, sizeof(int16_t) * (size_t)T * UNIT_BLOCK);
        memset(part_count, 0, sizeof(int32_t) * (size_t)T);
        for (int c = 0; c < chunks; c++) {
            const uint64_t *m = masks + (size_t)c * N;
            const int32_t *a = active + (size_t)c * N;
            for (int k = 0; k < n_act[c]; k++) {
                int i = a[k];
                const int8_t *row = codes + (size_t)i * U + b0;
                if (k + PREFETCH_AHEAD < n_act[c]) {   /* the rows are sparse: no hardware
                                                          prefetcher guesses the next one */
                    const char *next = (const char *)(codes + (size_t)a[k + PREFETCH_AHEAD] * U + b0);
                    for (int line = 0; line < nb; line += 64)
                        __builtin_prefetch(next + line, 0, 0);
                }
                for (uint64_t bits = m[i]; bits; bits &= bits - 1) {
                    int t = c * 64 + __builtin_ctzll(bits);
                    add_row(part + (size_t)t * UNIT_BLOCK, row, nb);
                    if (++part_count[t] == FLUSH_EVERY) {
                        flush_row(acc + (size_t)t * UNIT_BLOCK, part + (size_t)t * UNIT_BLOCK, nb);
                        part_count[t] = 0;
                    }
                }
            }
        }
        for (int t = 0; t < T; t++)
            if (part_count[t])
                flush_row(acc + (size_t)t * UNIT_BLOCK, part + (size_t)t * UNIT_BLOCK, nb);
        /* The activation Dense sends at t (reaching the LIF at t + 1), wrapped to int32. Its
         * low 32 bits depend only on sum's low 32 bits when shifting left: the common case,
         * in uint32, vectorised; a right shift needs the int64. */
        for (int t = 0; t < T; t++) {
            int32_t *row = acc + (size_t)t * UNIT_BLOCK;
            int32_t n_t = n_active_at[t];
            for (int j = 0; j < nb; j++) {
                int unit = b0 + j;
                int e = weight_exp[unit];
                uint32_t sum = (uint32_t)row[j] + (uint32_t)offset[unit] * (uint32_t)n_t;
                int left = shift[unit] + (e > 0 ? e : 0);
                if (e >= 0) {
                    row[j] = left < 32 ? (int32_t)(sum << left) : 0;
                } else {
                    int64_t x = ((int64_t)row[j] + (int64_t)offset[unit] * n_t) << shift[unit];
                    row[j] = (int32_t)(uint32_t)(uint64_t)(x >> -e);
                }
            }
        }
        /* The LIF, timestep by timestep over the block's units (vectorised). Decay as Lava's
         * sign(p) * (|p| >> 12), p = x * (4096 - d): x * ((4096 - d) / 4096) in double is exact
         * (a dyadic factor, < 53 significant bits) and the cast truncates toward zero. */
        int32_t *restrict u = u_state + b0, *restrict v = v_state + b0;
        int32_t *restrict a_prev = dense_buffer + b0;
        for (int t = 0; t < T; t++) {
            const int32_t *a_out = acc + (size_t)t * UNIT_BLOCK;
            uint8_t *fired_at = out_spikes + (size_t)t * U + b0;
            for (int j = 0; j < nb; j++) {
                int unit = b0 + j;
                int32_t act = (int32_t)((uint32_t)a_prev[j] << 6);
                int32_t du = (int32_t)((double)u[j] * u_scale[unit]);
                int32_t uu = wrap_add(du, act);
                uu = uu > MAX_UV ? uu - 2 * MAX_UV : uu;
                uu = uu <= -MAX_UV ? uu + 2 * MAX_UV : uu;
                int32_t dv = (int32_t)((double)v[j] * v_scale[unit]);
                int32_t nv = wrap_add(wrap_add(dv, uu), bias[unit]);
                nv = nv > MAX_UV - 1 ? MAX_UV - 1 : nv;
                nv = nv < -MAX_UV + 1 ? -MAX_UV + 1 : nv;
                int32_t fired = nv > vth_scaled[unit];
                fired_at[j] = (uint8_t)fired;
                spike_count[unit] += fired;
                v[j] = fired ? 0 : nv;
                u[j] = uu;
                a_prev[j] = a_out[j];
            }
        }
    }
    return 0;
}

/* Lets setuptools build this file as an extension module; kernel.py never imports it. */
#include <Python.h>
static struct PyModuleDef sb_module = {PyModuleDef_HEAD_INIT, "_frame_kernel",
                                       "Loaded with ctypes by kernel.py.", -1, NULL, NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit__frame_kernel(void) { return PyModule_Create(&sb_module); }
