/*
 * virtual_mcu: the real firmware core behind a pseudo-terminal, driving a
 * simulated robot, so the host side (spikebox.firmware_bridge) can be run and
 * tested end to end with no board attached.
 *
 *   virtual_mcu --link /tmp/spikebox-mcu
 *   → READY /dev/pts/7      (then open /tmp/spikebox-mcu like a serial port)
 *
 * The host opens the --link path (a symlink to the pty's slave side); this
 * process holds the master side, feeds what it reads to sb_core_rx at once
 * and calls sb_core_tick every millisecond.
 */
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname */
#define _DEFAULT_SOURCE   /* cfmakeraw (glibc) */
#define _DARWIN_C_SOURCE  /* cfmakeraw (macOS) */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../sb_core.h"
#include "pty.h"
#include "vmcu_options.h"
#include "sim_robot.h"

typedef struct {
    vpty_t pty;
    struct timespec t0;
    sim_robot_t robot;
    uint64_t rng;
    double rx_fault_rate;
    unsigned long tx_dropped; /* bytes thrown away because nobody was reading */
    unsigned long tx_flushes; /* stale pty contents discarded for the same reason */
    unsigned long rx_faults;
} vmcu_t;

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- fault injection: a noisy UART in front of the core ---- */

static uint64_t rng_next(uint64_t *s) /* splitmix64: small, seedable, good enough */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

/* With probability p per byte: drop it, flip one of its bits, or insert a
 * random byte before it. out has room for 2 * n bytes. */
static size_t corrupt(vmcu_t *v, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        if (rng_unit(&v->rng) >= v->rx_fault_rate) {
            out[o++] = in[i];
            continue;
        }
        v->rx_faults++;
        switch (rng_next(&v->rng) % 3u) {
        case 0: /* dropped */
            break;
        case 1:
            out[o++] = (uint8_t)(in[i] ^ (1u << (rng_next(&v->rng) % 8u)));
            break;
        default:
            out[o++] = (uint8_t)rng_next(&v->rng);
            out[o++] = in[i];
            break;
        }
    }
    return o;
}

/* ---- HAL ---- */

static uint32_t hal_millis(void *ctx)
{
    vmcu_t *v = ctx;
    struct timespec t;
    int64_t ns;
    clock_gettime(CLOCK_MONOTONIC, &t);
    ns = (int64_t)(t.tv_sec - v->t0.tv_sec) * 1000000000 + (t.tv_nsec - v->t0.tv_nsec);
    return (uint32_t)(ns / 1000000); /* wraps after 49 days, as millis() does */
}

static void hal_set_motors(void *ctx, int16_t left_mm_s, int16_t right_mm_s)
{
    vmcu_t *v = ctx;
    sim_robot_set(&v->robot, left_mm_s, right_mm_s);
}

static void hal_read_sensors(void *ctx, sb_sensors_t *out)
{
    vmcu_t *v = ctx;
    sim_robot_read(&v->robot, out);
}

static void hal_serial_write(void *ctx, const uint8_t *data, size_t n)
{
    vmcu_t *v = ctx;
    int flushed = 0;
    while (n > 0u) {
        ssize_t w = write(v->pty.master, data, n);
        if (w > 0) {
            data += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN && !flushed) {
            /* The pty is full: nobody has read for a while. A UART with no
             * listener loses its bytes; throw the stale ones away so that a
             * host opening the port later reads fresh frames, not old ones. */
            tcflush(v->pty.slave, TCIFLUSH);
            v->tx_flushes++;
            flushed = 1;
        } else {
            v->tx_dropped += (unsigned long)n;
            return;
        }
    }
}

/* ---- main loop ---- */

int main(int argc, char **argv)
{
    static vmcu_t v; /* static: large-ish, and the HAL ctx must outlive everything */
    options_t opt;
    sb_config_t cfg;
    sb_hal_t hal;
    static sb_core_t core;
    struct sigaction sa;
    uint32_t last_tick;
    const uint8_t flush_byte = 0;

    if (!vmcu_parse_args(argc, argv, &opt)) {
        vmcu_usage(stderr);
        return 2;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() must wake up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    v.pty.master = v.pty.slave = -1;
    if (!vpty_open(&v.pty)) {
        return 1;
    }
    /* Before anything else: a lone delimiter ends whatever partial chunk a
     * host's decoder may hold, so our first frame is read cleanly. */
    if (write(v.pty.master, &flush_byte, 1) != 1) {
        v.tx_dropped++;
    }
    if (!vpty_link(opt.link, v.pty.slave_path)) {
        return 1;
    }
    printf("READY %s\n", v.pty.slave_path);
    fflush(stdout);

    clock_gettime(CLOCK_MONOTONIC, &v.t0);
    sim_robot_init(&v.robot);
    v.rng = opt.seed;
    v.rx_fault_rate = opt.rx_fault_rate;

    sb_config_default(&cfg);
    cfg.watchdog_ms = opt.watchdog_ms;
    cfg.firmware_id = opt.firmware_id;
    cfg.proto_version = opt.proto_version;
    cfg.schema_hash = opt.schema_hash;
    hal.millis = hal_millis;
    hal.set_motors = hal_set_motors;
    hal.read_sensors = hal_read_sensors;
    hal.serial_write = hal_serial_write;
    hal.ctx = &v;
    sb_core_init(&core, &hal, &cfg);
    last_tick = hal_millis(&v);

    while (!g_stop) {
        struct pollfd pfd;
        uint32_t now = hal_millis(&v);
        int r;

        if (now != last_tick) {
            sim_robot_step(&v.robot, (double)(uint32_t)(now - last_tick));
            sb_core_tick(&core);
            last_tick = now;
        }
        if (opt.exit_after_ms >= 0 && (long)now >= opt.exit_after_ms) {
            break;
        }
        /* A parent that crashed never stops us: we notice within a millisecond,
         * since an orphan is re-parented and the id changes. (Not
         * PR_SET_PDEATHSIG: it fires when the *thread* that forked us ends.) */
        if (opt.parent_pid > 0 && (long)getppid() != opt.parent_pid) {
            fprintf(stderr, "virtual_mcu: parent %ld is gone; exiting\n", opt.parent_pid);
            break;
        }
        /* ≤1 ms: bytes are handled the moment they arrive (the host measures
         * DRIVE → TELEMETRY), and the core is ticked every millisecond. */
        pfd.fd = v.pty.master;
        pfd.events = POLLIN;
        pfd.revents = 0;
        r = poll(&pfd, 1, 1);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("virtual_mcu: poll");
            break;
        }
        if (r > 0 && (pfd.revents & POLLIN)) {
            uint8_t buf[4096];
            static uint8_t noisy[2 * sizeof buf];
            ssize_t n = read(v.pty.master, buf, sizeof buf);
            if (n > 0) {
                if (v.rx_fault_rate > 0.0) {
                    sb_core_rx(&core, noisy, corrupt(&v, buf, (size_t)n, noisy));
                } else {
                    sb_core_rx(&core, buf, (size_t)n);
                }
            }
        } else if (r > 0) {
            /* HUP/ERR should not happen while we hold the slave open; do not spin. */
            struct timespec ms = {0, 1000000L};
            nanosleep(&ms, NULL);
        }
    }

    vpty_unlink(opt.link, v.pty.slave_path);
    fprintf(stderr,
            "virtual_mcu: exit; rx crc_errors=%u framing_errors=%u seq_gaps=%u resyncs=%u "
            "oversize=%u unknown_ids=%u version_errors=%u; watchdog stops=%u; "
            "rx faults injected=%lu; tx bytes dropped=%lu, pty flushes=%lu\n",
            core.rx.counters.crc_errors, core.rx.counters.framing_errors,
            core.rx.counters.seq_gaps, core.rx.counters.resyncs, core.rx.counters.oversize,
            core.rx.counters.unknown_ids, core.rx.counters.version_errors, core.timeouts,
            v.rx_faults, v.tx_dropped, v.tx_flushes);
    close(v.pty.slave);
    close(v.pty.master);
    return 0;
}
