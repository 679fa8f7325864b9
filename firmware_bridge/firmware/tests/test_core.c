/*
 * The firmware core against a fake HAL with a fake clock (core_rig.h):
 * handshake, DRIVE and its TELEMETRY echo, periodic frames. The watchdog,
 * ESTOP / CLEAR and the link counters are in test_core_safety.c.
 */
#include "core_rig.h"

#include <string.h>

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

void test_core(void)
{
    test_handshake_ok();
    test_handshake_mismatch();
    test_drive();
    test_periodic();
    test_core_safety(); /* test_core_safety.c */
}
