/*
 * The firmware core against a fake HAL with a fake clock: handshake, DRIVE
 * and its TELEMETRY echo, periodic frames, the watchdog, ESTOP / CLEAR.
 * Time only moves when a test says so; nothing sleeps.
 */
#include "test_util.h"

#include <string.h>

#include "../sb_core.h"

#define MAX_FRAMES 512

typedef struct {
    uint32_t now;
    int16_t left, right;     /* last setpoints the core gave */
    unsigned motor_calls;
    uint8_t out[1u << 15];   /* bytes the core wrote, not yet decoded */
    size_t out_len;
} fake_hal_t;

typedef struct {
    fake_hal_t hal;
    sb_core_t core;
    sb_decoder_t host_rx; /* the host's view of what the MCU sent */
    uint16_t host_seq;
    sb_frame_t frames[MAX_FRAMES]; /* received since the last forget() */
    size_t n_frames;
} rig_t;

static uint32_t fake_millis(void *ctx) { return ((fake_hal_t *)ctx)->now; }

static void fake_set_motors(void *ctx, int16_t left, int16_t right)
{
    fake_hal_t *h = ctx;
    h->left = left;
    h->right = right;
    h->motor_calls++;
}

static void fake_read_sensors(void *ctx, sb_sensors_t *s)
{
    fake_hal_t *h = ctx;
    s->left_mm_s = h->left; /* perfect wheels */
    s->right_mm_s = h->right;
    s->left_ticks = 1234;
    s->right_ticks = -1234;
    s->battery_mv = 12345;
    s->range_mm = SB_RANGE_NONE;
    s->accel_mg[0] = 1;
    s->accel_mg[1] = -2;
    s->accel_mg[2] = 1000;
    s->gyro_cdps[0] = 0;
    s->gyro_cdps[1] = 0;
    s->gyro_cdps[2] = -4500;
}

static void fake_serial_write(void *ctx, const uint8_t *data, size_t n)
{
    fake_hal_t *h = ctx;
    if (n <= sizeof h->out - h->out_len) {
        memcpy(h->out + h->out_len, data, n);
        h->out_len += n;
    }
}

/* Decode what the core wrote into r->frames. */
static void collect(rig_t *r)
{
    size_t got = t_feed_all(&r->host_rx, r->hal.out, r->hal.out_len, r->frames + r->n_frames,
                            MAX_FRAMES - r->n_frames);
    r->n_frames += got < MAX_FRAMES - r->n_frames ? got : MAX_FRAMES - r->n_frames;
    r->hal.out_len = 0;
}

static void forget(rig_t *r)
{
    collect(r);
    r->n_frames = 0;
}

static void rig_init(rig_t *r, const sb_config_t *config)
{
    sb_hal_t hal;
    memset(r, 0, sizeof *r);
    r->hal.now = 100000; /* not 0: nothing may rely on the clock starting there */
    r->hal.left = r->hal.right = 999; /* so that init's stop is visible */
    hal.millis = fake_millis;
    hal.set_motors = fake_set_motors;
    hal.read_sensors = fake_read_sensors;
    hal.serial_write = fake_serial_write;
    hal.ctx = &r->hal;
    sb_core_init(&r->core, &hal, config);
    sb_decoder_init(&r->host_rx, SB_PROTO_VERSION);
}

/* Move the fake clock forward, ticking every millisecond like a main loop. */
static void advance(rig_t *r, uint32_t ms)
{
    while (ms--) {
        r->hal.now++;
        sb_core_tick(&r->core);
    }
    collect(r);
}

static uint16_t send_as(rig_t *r, uint8_t version, const sb_message_t *m)
{
    uint8_t buf[SB_MAX_WIRE];
    uint16_t seq = r->host_seq++;
    size_t n = sb_encode_message(version, seq, m, buf, sizeof buf);
    sb_core_rx(&r->core, buf, n);
    collect(r);
    return seq;
}

static uint16_t send(rig_t *r, const sb_message_t *m) { return send_as(r, SB_PROTO_VERSION, m); }

static uint16_t send_hello(rig_t *r, uint8_t version, uint32_t hash)
{
    sb_message_t m;
    m.msg_id = SB_MSG_HELLO;
    m.u.hello.proto_version = version;
    m.u.hello.schema_hash = hash;
    return send_as(r, version, &m);
}

static uint16_t send_drive(rig_t *r, int16_t left, int16_t right)
{
    sb_message_t m;
    m.msg_id = SB_MSG_DRIVE;
    m.u.drive.left_mm_s = left;
    m.u.drive.right_mm_s = right;
    return send(r, &m);
}

static void send_heartbeat(rig_t *r)
{
    sb_message_t m;
    m.msg_id = SB_MSG_HEARTBEAT;
    m.u.heartbeat.uptime_ms = r->hal.now;
    m.u.heartbeat.state = 0;
    send(r, &m);
}

static void send_command(rig_t *r, uint8_t msg_id, uint16_t cmd_id)
{
    sb_message_t m;
    m.msg_id = msg_id;
    if (msg_id == SB_MSG_ESTOP) {
        m.u.estop.cmd_id = cmd_id;
        m.u.estop.reason = 1;
    } else {
        m.u.clear.cmd_id = cmd_id;
    }
    send(r, &m);
}

static size_t count(const rig_t *r, uint8_t msg_id)
{
    size_t i, n = 0;
    for (i = 0; i < r->n_frames; i++) {
        n += r->frames[i].msg_id == msg_id;
    }
    return n;
}

/* The last frame of this kind received, unpacked; 0 (and *m zeroed) if none. */
static int last(const rig_t *r, uint8_t msg_id, sb_message_t *m)
{
    size_t i = r->n_frames;
    memset(m, 0, sizeof *m);
    while (i-- > 0) {
        if (r->frames[i].msg_id == msg_id) {
            return sb_unpack(msg_id, r->frames[i].payload, r->frames[i].len, m);
        }
    }
    return 0;
}

static void handshake(rig_t *r)
{
    sb_message_t ack;
    send_hello(r, SB_PROTO_VERSION, SB_SCHEMA_HASH);
    EXPECT(last(r, SB_MSG_HELLO_ACK, &ack) && ack.u.hello_ack.status == SB_HELLO_OK,
           "handshake failed");
    forget(r);
}

/* Every test ends here: the MCU's own frames must have come out clean and in
 * sequence, whatever it was put through. */
static void rig_done(rig_t *r)
{
    collect(r);
    EXPECT(r->host_rx.counters.seq_gaps == 0u && r->host_rx.counters.resyncs == 0u,
           "MCU output: seq_gaps %u resyncs %u", r->host_rx.counters.seq_gaps,
           r->host_rx.counters.resyncs);
}

/* ---- cases ---- */

static void test_handshake_ok(void)
{
    static rig_t r;
    sb_message_t m;
    t_begin("core_handshake_ok");
    rig_init(&r, NULL);
    EXPECT(r.hal.left == 0 && r.hal.right == 0, "init must stop the motors");
    advance(&r, 1);
    EXPECT(last(&r, SB_MSG_HEARTBEAT, &m) && m.u.heartbeat.state == 0u,
           "a HEARTBEAT with state 0 right after start");
    forget(&r);
    send_hello(&r, SB_PROTO_VERSION, SB_SCHEMA_HASH);
    EXPECT(r.n_frames == 1u && last(&r, SB_MSG_HELLO_ACK, &m), "exactly one HELLO_ACK");
    EXPECT(m.u.hello_ack.status == SB_HELLO_OK, "status %u", m.u.hello_ack.status);
    EXPECT(m.u.hello_ack.proto_version == SB_PROTO_VERSION, "version");
    EXPECT(m.u.hello_ack.schema_hash == SB_SCHEMA_HASH, "hash");
    EXPECT(m.u.hello_ack.watchdog_ms == SB_DEFAULT_WATCHDOG_MS, "watchdog_ms %u",
           m.u.hello_ack.watchdog_ms);
    EXPECT(strcmp(m.u.hello_ack.firmware_id, SB_DEFAULT_FIRMWARE_ID) == 0, "firmware_id '%s'",
           m.u.hello_ack.firmware_id);
    EXPECT(r.frames[0].version == SB_PROTO_VERSION, "header version");
    EXPECT(sb_core_state(&r.core) == (SB_STATE_HANDSHAKEN | SB_STATE_AWAIT_DRIVE), "state 0x%x",
           sb_core_state(&r.core));
    EXPECT(r.hal.left == 0 && r.hal.right == 0, "motors stay at zero until a DRIVE");
    advance(&r, 100);
    EXPECT(last(&r, SB_MSG_HEARTBEAT, &m) &&
               m.u.heartbeat.state == (SB_STATE_HANDSHAKEN | SB_STATE_AWAIT_DRIVE),
           "HEARTBEAT state after handshake");
    rig_done(&r);
    t_end();
}

static void test_handshake_mismatch(void)
{
    static rig_t r;
    sb_message_t m;
    sb_config_t cfg;

    t_begin("core_handshake_version_mismatch");
    rig_init(&r, NULL);
    send_hello(&r, 2, SB_SCHEMA_HASH); /* a version-2 host: HELLO is version-free */
    EXPECT(last(&r, SB_MSG_HELLO_ACK, &m) && m.u.hello_ack.status == SB_HELLO_VERSION_MISMATCH,
           "status 1 expected");
    EXPECT(m.u.hello_ack.proto_version == SB_PROTO_VERSION &&
               m.u.hello_ack.schema_hash == SB_SCHEMA_HASH,
           "the MCU must announce its own version and hash");
    EXPECT(!(sb_core_state(&r.core) & SB_STATE_HANDSHAKEN), "must stay un-handshaken");
    forget(&r);
    send_drive(&r, 100, 100);
    EXPECT(r.hal.left == 0 && count(&r, SB_MSG_TELEMETRY) == 0u, "DRIVE after a failed HELLO");
    rig_done(&r);
    t_end();

    t_begin("core_handshake_schema_mismatch");
    rig_init(&r, NULL);
    send_hello(&r, SB_PROTO_VERSION, 0xDEADBEEFu);
    EXPECT(last(&r, SB_MSG_HELLO_ACK, &m) && m.u.hello_ack.status == SB_HELLO_SCHEMA_MISMATCH,
           "status 2 expected");
    EXPECT(m.u.hello_ack.schema_hash == SB_SCHEMA_HASH, "own hash in the ack");
    EXPECT(!(sb_core_state(&r.core) & SB_STATE_HANDSHAKEN), "must stay un-handshaken");
    rig_done(&r);
    t_end();

    t_begin("core_configured_as_other_version");
    sb_config_default(&cfg);
    cfg.proto_version = 2;
    cfg.schema_hash = 0x12345678u;
    cfg.firmware_id = "a-much-too-long-firmware-id";
    rig_init(&r, &cfg);
    send_hello(&r, SB_PROTO_VERSION, SB_SCHEMA_HASH);
    EXPECT(last(&r, SB_MSG_HELLO_ACK, &m) && m.u.hello_ack.status == SB_HELLO_VERSION_MISMATCH,
           "status 1 expected");
    EXPECT(m.u.hello_ack.proto_version == 2u && m.u.hello_ack.schema_hash == 0x12345678u,
           "announces the configured version and hash");
    EXPECT(r.n_frames == 1u && r.frames[0].version == 2u, "header carries version 2");
    EXPECT(strcmp(m.u.hello_ack.firmware_id, "a-much-too-long-") == 0,
           "firmware_id cut to 16 chars: '%s'", m.u.hello_ack.firmware_id);
    t_end();
}

static void test_drive(void)
{
    static rig_t r;
    sb_message_t m;
    uint16_t seq;
    unsigned calls;

    t_begin("core_drive_before_handshake_ignored");
    rig_init(&r, NULL);
    forget(&r);
    calls = r.hal.motor_calls;
    send_drive(&r, 200, 200);
    EXPECT(r.hal.motor_calls == calls && r.hal.left == 0, "motors touched");
    EXPECT(r.n_frames == 0u, "nothing must answer a DRIVE before the handshake");
    advance(&r, 300);
    EXPECT(count(&r, SB_MSG_TELEMETRY) == 0u, "no TELEMETRY before the handshake");
    EXPECT(count(&r, SB_MSG_HEARTBEAT) == 3u, "HEARTBEAT every 100 ms, got %zu",
           count(&r, SB_MSG_HEARTBEAT));
    EXPECT(r.core.timeouts == 0u, "no watchdog before the handshake");
    rig_done(&r);
    t_end();

    t_begin("core_drive_applied_and_echoed");
    rig_init(&r, NULL);
    handshake(&r);
    r.host_seq = 4242;
    seq = send_drive(&r, 250, -120);
    EXPECT(r.hal.left == 250 && r.hal.right == -120, "motors %d %d", r.hal.left, r.hal.right);
    /* answered inside sb_core_rx, before any tick */
    EXPECT(r.n_frames == 1u && last(&r, SB_MSG_TELEMETRY, &m), "one TELEMETRY at once");
    EXPECT(m.u.telemetry.last_drive_seq == seq, "last_drive_seq %u != %u",
           m.u.telemetry.last_drive_seq, seq);
    EXPECT(m.u.telemetry.state == SB_STATE_HANDSHAKEN, "state 0x%x", m.u.telemetry.state);
    EXPECT(m.u.telemetry.mcu_time_ms == r.hal.now, "mcu_time_ms");
    EXPECT(m.u.telemetry.left_mm_s == 250 && m.u.telemetry.battery_mv == 12345 &&
               m.u.telemetry.gyro_z_cdps == -4500 && m.u.telemetry.range_mm == SB_RANGE_NONE,
           "sensor fields");
    EXPECT(m.u.telemetry.watchdog_stop_ms == SB_WATCHDOG_NEVER, "watchdog never stopped yet");
    forget(&r);
    seq = send_drive(&r, 10, 20);
    EXPECT(last(&r, SB_MSG_TELEMETRY, &m) && m.u.telemetry.last_drive_seq == seq,
           "second echo");
    rig_done(&r);
    t_end();
}

static void test_periodic(void)
{
    static rig_t r;
    uint32_t last_tel = 0, last_hb = 0, t;
    size_t i;
    int first_tel = 1, first_hb = 1;

    t_begin("core_periodic_telemetry_and_heartbeat");
    rig_init(&r, NULL);
    handshake(&r);
    for (t = 0; t < 1000; t += 100) {
        send_heartbeat(&r); /* keep the watchdog quiet */
        advance(&r, 100);
    }
    for (i = 0; i < r.n_frames; i++) {
        sb_message_t m;
        sb_unpack(r.frames[i].msg_id, r.frames[i].payload, r.frames[i].len, &m);
        if (m.msg_id == SB_MSG_TELEMETRY) {
            EXPECT(first_tel || m.u.telemetry.mcu_time_ms - last_tel <= SB_TELEMETRY_PERIOD_MS,
                   "TELEMETRY gap %u ms", (unsigned)(m.u.telemetry.mcu_time_ms - last_tel));
            last_tel = m.u.telemetry.mcu_time_ms;
            first_tel = 0;
        } else if (m.msg_id == SB_MSG_HEARTBEAT) {
            EXPECT(first_hb || m.u.heartbeat.uptime_ms - last_hb == SB_HEARTBEAT_PERIOD_MS,
                   "HEARTBEAT gap %u ms", (unsigned)(m.u.heartbeat.uptime_ms - last_hb));
            last_hb = m.u.heartbeat.uptime_ms;
            first_hb = 0;
        }
    }
    EXPECT(count(&r, SB_MSG_TELEMETRY) >= 19u, "%zu TELEMETRY in 1 s",
           count(&r, SB_MSG_TELEMETRY));
    EXPECT(count(&r, SB_MSG_HEARTBEAT) == 10u, "%zu HEARTBEAT in 1 s",
           count(&r, SB_MSG_HEARTBEAT));
    rig_done(&r);
    t_end();
}

/* Drive, then stay silent: when do the motors stop? Returns the silence in ms. */
static uint32_t silence_until_stop(rig_t *r, uint32_t limit_ms)
{
    uint32_t t0 = r->hal.now, waited = 0;
    while (r->hal.left != 0 && waited < limit_ms) {
        advance(r, 1);
        waited++;
    }
    return r->hal.now - t0;
}

static void test_watchdog(void)
{
    static rig_t r;
    sb_message_t m;
    sb_config_t cfg;
    uint32_t silent;
    char text[SB_LOG_TEXT_MAX + 1];

    t_begin("core_watchdog_stops_motors");
    rig_init(&r, NULL);
    handshake(&r);
    send_drive(&r, 300, 300);
    forget(&r);
    silent = silence_until_stop(&r, 1000);
    EXPECT(silent >= 200u && silent <= 201u, "motors stopped after %u ms of silence", silent);
    EXPECT(sb_core_state(&r.core) & SB_STATE_WATCHDOG_STOPPED, "WATCHDOG_STOPPED not set");
    EXPECT(last(&r, SB_MSG_TELEMETRY, &m), "no TELEMETRY after the stop");
    EXPECT(m.u.telemetry.watchdog_stop_ms == silent, "watchdog_stop_ms %u, silence %u",
           m.u.telemetry.watchdog_stop_ms, silent);
    EXPECT(m.u.telemetry.timeouts == 1u, "timeouts %u", m.u.telemetry.timeouts);
    EXPECT(m.u.telemetry.state & SB_STATE_WATCHDOG_STOPPED, "state in TELEMETRY");
    EXPECT(last(&r, SB_MSG_LOG, &m) && m.u.log.level == SB_LOG_WARNING, "no LOG at level 30");
    memcpy(text, m.u.log.text, m.u.log.text_len);
    text[m.u.log.text_len] = '\0';
    EXPECT(strcmp(text, silent == 200u ? "watchdog:host_silent_200_ms,motors_stopped"
                                       : "watchdog:host_silent_201_ms,motors_stopped") == 0,
           "LOG text '%s'", text);
    forget(&r);
    advance(&r, 1000);
    EXPECT(r.core.timeouts == 1u && count(&r, SB_MSG_LOG) == 0u, "one stop per silence");
    send_drive(&r, 50, 60);
    EXPECT(r.hal.left == 50 && r.hal.right == 60, "the next DRIVE moves again");
    EXPECT(!(sb_core_state(&r.core) & SB_STATE_WATCHDOG_STOPPED), "DRIVE clears the bit");
    rig_done(&r);
    t_end();

    t_begin("core_watchdog_heartbeat_keeps_alive");
    rig_init(&r, NULL);
    handshake(&r);
    send_drive(&r, 300, 300);
    {
        int i;
        for (i = 0; i < 20; i++) { /* 3 s of HEARTBEATs only, 150 ms apart */
            advance(&r, 150);
            send_heartbeat(&r);
        }
    }
    EXPECT(r.hal.left == 300 && r.core.timeouts == 0u, "HEARTBEAT alone must feed the watchdog");
    silent = silence_until_stop(&r, 1000);
    EXPECT(silent >= 200u && silent <= 201u, "after the last HEARTBEAT: stop at %u ms", silent);
    rig_done(&r);
    t_end();

    t_begin("core_watchdog_configured");
    sb_config_default(&cfg);
    cfg.watchdog_ms = 75;
    rig_init(&r, &cfg);
    send_hello(&r, SB_PROTO_VERSION, SB_SCHEMA_HASH);
    EXPECT(last(&r, SB_MSG_HELLO_ACK, &m) && m.u.hello_ack.watchdog_ms == 75u,
           "HELLO_ACK.watchdog_ms");
    send_drive(&r, 100, 100);
    silent = silence_until_stop(&r, 1000);
    EXPECT(silent >= 75u && silent <= 76u, "stop at %u ms", silent);
    rig_done(&r);
    t_end();
}

static void test_commands(void)
{
    static rig_t r;
    sb_message_t m;
    unsigned calls;

    t_begin("core_estop_ack_and_duplicate");
    rig_init(&r, NULL);
    handshake(&r);
    send_drive(&r, 300, 300);
    forget(&r);
    send_command(&r, SB_MSG_ESTOP, 7);
    EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.cmd_id == 7u &&
               m.u.ack.acked_msg_id == SB_MSG_ESTOP && m.u.ack.result == SB_ACK_APPLIED,
           "ACK(7, ESTOP, applied)");
    EXPECT(r.hal.left == 0 && r.hal.right == 0, "ESTOP stops the motors");
    EXPECT(sb_core_state(&r.core) & SB_STATE_ESTOPPED, "ESTOPPED");
    forget(&r);
    calls = r.hal.motor_calls;
    send_command(&r, SB_MSG_ESTOP, 7);
    EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.cmd_id == 7u && m.u.ack.result == SB_ACK_DUPLICATE,
           "duplicate ESTOP: ACK result 1");
    EXPECT(r.hal.motor_calls == calls, "a duplicate is not re-applied");
    forget(&r);
    send_drive(&r, 100, 100);
    EXPECT(r.hal.left == 0 && count(&r, SB_MSG_TELEMETRY) == 0u, "DRIVE while ESTOPPED ignored");
    rig_done(&r);
    t_end();

    t_begin("core_estop_before_handshake");
    rig_init(&r, NULL);
    forget(&r);
    send_command(&r, SB_MSG_ESTOP, 1);
    EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.result == SB_ACK_APPLIED, "ESTOP obeyed");
    EXPECT(sb_core_state(&r.core) == SB_STATE_ESTOPPED, "state 0x%x", sb_core_state(&r.core));
    handshake(&r);
    EXPECT(sb_core_state(&r.core) & SB_STATE_ESTOPPED, "a handshake does not lift an e-stop");
    send_drive(&r, 100, 100);
    EXPECT(r.hal.left == 0, "DRIVE after handshake while ESTOPPED");
    rig_done(&r);
    t_end();

    t_begin("core_clear_waits_for_fresh_drive");
    rig_init(&r, NULL);
    handshake(&r);
    send_drive(&r, 300, 300);
    send_command(&r, SB_MSG_ESTOP, 1);
    forget(&r);
    send_command(&r, SB_MSG_CLEAR, 2);
    EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.cmd_id == 2u &&
               m.u.ack.acked_msg_id == SB_MSG_CLEAR && m.u.ack.result == SB_ACK_APPLIED,
           "ACK(2, CLEAR, applied)");
    EXPECT(sb_core_state(&r.core) == (SB_STATE_HANDSHAKEN | SB_STATE_AWAIT_DRIVE), "state 0x%x",
           sb_core_state(&r.core));
    send_heartbeat(&r);
    advance(&r, 150);
    EXPECT(r.hal.left == 0 && r.hal.right == 0, "the pre-e-stop setpoint must not resume");
    send_drive(&r, 80, 90);
    EXPECT(r.hal.left == 80 && r.hal.right == 90, "a fresh DRIVE moves");
    EXPECT(sb_core_state(&r.core) == SB_STATE_HANDSHAKEN, "AWAIT_DRIVE cleared");
    forget(&r);
    send_command(&r, SB_MSG_CLEAR, 2);
    EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.result == SB_ACK_DUPLICATE, "duplicate CLEAR");
    EXPECT(r.hal.left == 80 && sb_core_state(&r.core) == SB_STATE_HANDSHAKEN,
           "a duplicate CLEAR is not re-applied");
    rig_done(&r);
    t_end();

    t_begin("core_clear_before_handshake_refused");
    rig_init(&r, NULL);
    send_command(&r, SB_MSG_ESTOP, 1);
    forget(&r);
    send_command(&r, SB_MSG_CLEAR, 2);
    EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.cmd_id == 2u && m.u.ack.result == SB_ACK_REFUSED,
           "ACK result 2");
    EXPECT(sb_core_state(&r.core) == SB_STATE_ESTOPPED, "still ESTOPPED");
    rig_done(&r);
    t_end();

    t_begin("core_handshake_resets_dedup_and_seq");
    rig_init(&r, NULL);
    handshake(&r);
    send_command(&r, SB_MSG_CLEAR, 1);
    r.host_seq = 500; /* the new session's HELLO is a gap; what follows is not */
    handshake(&r);
    r.host_seq = 0;
    {
        uint16_t gaps = r.core.rx.counters.seq_gaps;
        send_command(&r, SB_MSG_CLEAR, 1);
        EXPECT(last(&r, SB_MSG_ACK, &m) && m.u.ack.result == SB_ACK_APPLIED,
               "cmd_id 1 of a new session is new");
        EXPECT(r.core.rx.counters.seq_gaps == gaps, "the first frame after HELLO sets the reference");
    }
    rig_done(&r);
    t_end();
}

static void test_counters_reported(void)
{
    static rig_t r;
    sb_message_t m;
    uint8_t buf[SB_MAX_WIRE], body[SB_MAX_WIRE];
    size_t n, body_n = 0;

    t_begin("core_reports_link_counters");
    rig_init(&r, NULL);
    handshake(&r);
    send_heartbeat(&r); /* sets the seq reference */
    m.msg_id = SB_MSG_DRIVE;
    m.u.drive.left_mm_s = 1;
    m.u.drive.right_mm_s = 1;
    n = sb_encode_message(SB_PROTO_VERSION, r.host_seq++, &m, body, sizeof body);
    /* damage a payload bit under the COBS layer: a CRC error, and a lost seq */
    sb_cobs_decode(body, n - 1u, body, sizeof body, &body_n);
    body[SB_HEADER_LEN] ^= 0x40;
    n = sb_cobs_encode(body, body_n, buf, sizeof buf);
    buf[n++] = 0;
    sb_core_rx(&r.core, buf, n);
    EXPECT(r.hal.left == 0, "a damaged DRIVE must not move the motors");
    send_drive(&r, 5, 5);
    EXPECT(last(&r, SB_MSG_TELEMETRY, &m) && m.u.telemetry.crc_errors == 1u &&
               m.u.telemetry.resyncs == 1u && m.u.telemetry.seq_gaps == 1u,
           "TELEMETRY counters crc %u resyncs %u gaps %u", m.u.telemetry.crc_errors,
           m.u.telemetry.resyncs, m.u.telemetry.seq_gaps);
    rig_done(&r);
    t_end();
}

void test_core(void)
{
    test_handshake_ok();
    test_handshake_mismatch();
    test_drive();
    test_periodic();
    test_watchdog();
    test_commands();
    test_counters_reported();
}
