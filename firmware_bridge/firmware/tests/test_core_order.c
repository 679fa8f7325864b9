/*
 * Order on the link: the firmware core applies ESTOP / CLEAR in the order the
 * host issued them (cmd_id, serial-number arithmetic across the u16 wrap) and
 * never applies a setpoint sent before the last one, the last CLEAR or the
 * handshake. Each case replays a way a lossy, multi-threaded link delivers
 * frames late; all against the fake HAL of core_rig.h, nothing sleeps.
 */
#include "core_rig.h"

static uint8_t ack_result(rig_t *r, uint16_t cmd_id)
{
    sb_message_t m;
    if (!last(r, SB_MSG_ACK, &m) || m.u.ack.cmd_id != cmd_id) {
        return 0xFFu;
    }
    return m.u.ack.result;
}

/* The bug this file was written for: thread A's CLEAR (cmd 5) loses its ACK,
 * thread B's ESTOP (cmd 6) is applied, then A's retry of cmd 5 arrives. */
static void test_retried_clear_cannot_lift_newer_estop(void)
{
    static rig_t r;

    t_begin("order_retried_clear_after_newer_estop_refused");
    rig_init(&r, NULL);
    handshake(&r);
    send_command(&r, SB_MSG_ESTOP, 4);
    send_command(&r, SB_MSG_CLEAR, 5); /* applied; its ACK is lost on the way back */
    send_drive(&r, 200, 200);
    send_command(&r, SB_MSG_ESTOP, 6);
    EXPECT(r.hal.left == 0, "ESTOP 6 stops");
    forget(&r);
    send_command(&r, SB_MSG_CLEAR, 5); /* the retry, in a new frame */
    EXPECT(ack_result(&r, 5) == SB_ACK_STALE, "retried CLEAR 5 acked stale (%u)",
           ack_result(&r, 5));
    EXPECT(sb_core_state(&r.core) & SB_STATE_ESTOPPED, "still ESTOPPED");
    send_drive(&r, 300, 300);
    EXPECT(r.hal.left == 0 && r.hal.right == 0, "motors stay at zero");
    EXPECT(r.core.stale_frames == 1u, "stale_frames %u", r.core.stale_frames);
    forget(&r);
    send_command(&r, SB_MSG_CLEAR, 7); /* a CLEAR issued after the ESTOP lifts it */
    EXPECT(ack_result(&r, 7) == SB_ACK_APPLIED, "CLEAR 7 applied");
    send_drive(&r, 120, 130);
    EXPECT(r.hal.left == 120 && r.hal.right == 130, "a fresh DRIVE moves");
    rig_done(&r);
    t_end();

    t_begin("order_older_estop_after_newer_clear_refused");
    rig_init(&r, NULL);
    handshake(&r);
    send_command(&r, SB_MSG_ESTOP, 10);
    send_command(&r, SB_MSG_CLEAR, 12);
    send_drive(&r, 90, 90);
    forget(&r);
    send_command(&r, SB_MSG_ESTOP, 11); /* issued before CLEAR 12: already lifted by it */
    EXPECT(ack_result(&r, 11) == SB_ACK_STALE, "ESTOP 11 acked stale");
    EXPECT(r.hal.left == 90, "the newer CLEAR stands");
    rig_done(&r);
    t_end();
}

static void test_wraparound(void)
{
    static rig_t r;
    uint16_t first;

    t_begin("order_cmd_id_wraps");
    rig_init(&r, NULL);
    handshake(&r);
    send_command(&r, SB_MSG_ESTOP, 0xFFFEu);
    send_command(&r, SB_MSG_CLEAR, 0xFFFFu);
    EXPECT(ack_result(&r, 0xFFFFu) == SB_ACK_APPLIED, "CLEAR 0xFFFF applied");
    send_command(&r, SB_MSG_ESTOP, 0x0001u); /* 2 steps past the wrap: newer */
    EXPECT(ack_result(&r, 1) == SB_ACK_APPLIED, "ESTOP 1 after 0xFFFF applied");
    forget(&r);
    send_command(&r, SB_MSG_CLEAR, 0xFFFFu);
    EXPECT(ack_result(&r, 0xFFFFu) == SB_ACK_STALE, "CLEAR 0xFFFF after ESTOP 1: stale");
    send_command(&r, SB_MSG_CLEAR, 0x8001u); /* exactly half the ring away: never newer */
    EXPECT(ack_result(&r, 0x8001u) == SB_ACK_STALE, "half a ring away: stale");
    EXPECT(sb_core_state(&r.core) & SB_STATE_ESTOPPED, "still ESTOPPED");
    send_command(&r, SB_MSG_CLEAR, 0x8000u);
    EXPECT(ack_result(&r, 0x8000u) == SB_ACK_APPLIED, "0x7FFF steps ahead: newer");
    rig_done(&r);
    t_end();

    t_begin("order_drive_seq_wraps");
    rig_init(&r, NULL);
    r.host_seq = 0xFFFDu;
    handshake(&r);
    first = send_drive(&r, 10, 10); /* 0xFFFE */
    send_drive(&r, 20, 20);         /* 0xFFFF */
    send_drive(&r, 30, 30);         /* 0x0000 */
    EXPECT(first == 0xFFFEu && r.hal.left == 30, "setpoints across the wrap apply (%d)",
           r.hal.left);
    r.host_seq = 0xFFFFu; /* a late copy of the 0xFFFF setpoint */
    send_drive(&r, 20, 20);
    EXPECT(r.hal.left == 30 && r.core.stale_frames == 1u, "an older setpoint is not resumed");
    r.host_seq = 1u;
    send_drive(&r, 40, 40);
    EXPECT(r.hal.left == 40, "the next one applies");
    rig_done(&r);
    t_end();
}

static void test_late_setpoints(void)
{
    static rig_t r;
    uint16_t before_estop, after_clear;

    t_begin("order_drive_sent_before_clear_never_moves");
    rig_init(&r, NULL);
    handshake(&r);
    send_drive(&r, 100, 100);
    before_estop = r.host_seq; /* a setpoint sent now is held up in a buffer ... */
    r.host_seq++;
    send_command(&r, SB_MSG_ESTOP, 1);
    after_clear = send_command(&r, SB_MSG_CLEAR, 2);
    send_heartbeat(&r);
    {
        uint16_t resume = r.host_seq;
        r.host_seq = before_estop; /* ... and arrives after the CLEAR */
        send_drive(&r, 250, 250);
        r.host_seq = resume;
    }
    EXPECT(r.hal.left == 0 && (sb_core_state(&r.core) & SB_STATE_AWAIT_DRIVE),
           "a DRIVE sent before the CLEAR must not resume the motors");
    EXPECT(r.core.drive_floor_seq == after_clear, "floor is the CLEAR's frame");
    send_drive(&r, 60, 70);
    EXPECT(r.hal.left == 60 && r.hal.right == 70, "a DRIVE sent after the CLEAR moves");
    rig_done(&r);
    t_end();

    t_begin("order_frames_from_an_earlier_session_refused");
    rig_init(&r, NULL);
    handshake(&r);
    send_drive(&r, 100, 100);
    {
        uint16_t old_clear = r.host_seq++; /* a CLEAR and a DRIVE held up ... */
        uint16_t old_drive = r.host_seq++;
        send_command(&r, SB_MSG_ESTOP, 3);
        handshake(&r); /* ... the host reconnects: a new session */
        forget(&r);
        r.host_seq = old_clear;
        send_command(&r, SB_MSG_CLEAR, 4);
        EXPECT(ack_result(&r, 4) == SB_ACK_STALE, "CLEAR from before the HELLO: stale");
        EXPECT(sb_core_state(&r.core) & SB_STATE_ESTOPPED, "still ESTOPPED");
        r.host_seq = old_drive;
        send_drive(&r, 100, 100);
        EXPECT(r.hal.left == 0, "DRIVE from before the HELLO ignored");
        r.host_seq = (uint16_t)(old_drive + 10u);
    }
    send_command(&r, SB_MSG_CLEAR, 1); /* the new session counts from 1 */
    EXPECT(ack_result(&r, 1) == SB_ACK_APPLIED, "the new session's CLEAR applies");
    send_drive(&r, 55, 55);
    EXPECT(r.hal.left == 55, "and its DRIVE moves");
    rig_done(&r);
    t_end();
}

void test_core_order(void)
{
    test_retried_clear_cannot_lift_newer_estop();
    test_wraparound();
    test_late_setpoints();
}
