/*
 * The firmware core's safety behaviour against a fake HAL with a fake clock
 * (core_rig.h): the watchdog, ESTOP / CLEAR with their ACKs and dedup, and
 * the link counters it reports. Part of test_core(); nothing sleeps.
 */
#include "core_rig.h"

#include <string.h>

/* ---- cases ---- */

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

void test_core_safety(void)
{
    test_watchdog();
    test_commands();
    test_counters_reported();
    test_core_order();
}
