/*
 * spikebox serial protocol: message payloads, packed and unpacked field by
 * field in the order and types of PROTOCOL.md's message table.
 * See sb_protocol.h for the API.
 */
#include "sb_protocol.h"
#include "sb_bytes.h"

int sb_payload_len_ok(uint8_t msg_id, uint8_t len)
{
    switch (msg_id) {
    case SB_MSG_HELLO: return len == SB_LEN_HELLO;
    case SB_MSG_HELLO_ACK: return len == SB_LEN_HELLO_ACK;
    case SB_MSG_HEARTBEAT: return len == SB_LEN_HEARTBEAT;
    case SB_MSG_DRIVE: return len == SB_LEN_DRIVE;
    case SB_MSG_ESTOP: return len == SB_LEN_ESTOP;
    case SB_MSG_CLEAR: return len == SB_LEN_CLEAR;
    case SB_MSG_ACK: return len == SB_LEN_ACK;
    case SB_MSG_TELEMETRY: return len == SB_LEN_TELEMETRY;
    case SB_MSG_LOG: return len >= SB_LEN_LOG_HEAD && len <= SB_LEN_LOG_HEAD + SB_LOG_TEXT_MAX;
    default: return 0;
    }
}

static int pack_telemetry(const sb_telemetry_t *t, uint8_t *p)
{
    put_u32(p + 0, t->mcu_time_ms);
    put_u16(p + 4, t->last_drive_seq);
    p[6] = t->state;
    put_i16(p + 7, t->left_mm_s);
    put_i16(p + 9, t->right_mm_s);
    put_i32(p + 11, t->left_ticks);
    put_i32(p + 15, t->right_ticks);
    put_u16(p + 19, t->battery_mv);
    put_u16(p + 21, t->range_mm);
    put_i16(p + 23, t->accel_x_mg);
    put_i16(p + 25, t->accel_y_mg);
    put_i16(p + 27, t->accel_z_mg);
    put_i16(p + 29, t->gyro_x_cdps);
    put_i16(p + 31, t->gyro_y_cdps);
    put_i16(p + 33, t->gyro_z_cdps);
    put_u16(p + 35, t->watchdog_stop_ms);
    put_u16(p + 37, t->crc_errors);
    put_u16(p + 39, t->seq_gaps);
    put_u16(p + 41, t->resyncs);
    put_u16(p + 43, t->oversize);
    put_u16(p + 45, t->unknown_ids);
    put_u16(p + 47, t->timeouts);
    put_u16(p + 49, t->framing_errors);
    put_u16(p + 51, t->version_errors);
    put_u16(p + 53, t->stale_frames);
    return (int)SB_LEN_TELEMETRY;
}

static void unpack_telemetry(const uint8_t *p, sb_telemetry_t *t)
{
    t->mcu_time_ms = get_u32(p + 0);
    t->last_drive_seq = get_u16(p + 4);
    t->state = p[6];
    t->left_mm_s = get_i16(p + 7);
    t->right_mm_s = get_i16(p + 9);
    t->left_ticks = get_i32(p + 11);
    t->right_ticks = get_i32(p + 15);
    t->battery_mv = get_u16(p + 19);
    t->range_mm = get_u16(p + 21);
    t->accel_x_mg = get_i16(p + 23);
    t->accel_y_mg = get_i16(p + 25);
    t->accel_z_mg = get_i16(p + 27);
    t->gyro_x_cdps = get_i16(p + 29);
    t->gyro_y_cdps = get_i16(p + 31);
    t->gyro_z_cdps = get_i16(p + 33);
    t->watchdog_stop_ms = get_u16(p + 35);
    t->crc_errors = get_u16(p + 37);
    t->seq_gaps = get_u16(p + 39);
    t->resyncs = get_u16(p + 41);
    t->oversize = get_u16(p + 43);
    t->unknown_ids = get_u16(p + 45);
    t->timeouts = get_u16(p + 47);
    t->framing_errors = get_u16(p + 49);
    t->version_errors = get_u16(p + 51);
    t->stale_frames = get_u16(p + 53);
}

int sb_pack(const sb_message_t *m, uint8_t *p)
{
    uint8_t i;
    switch (m->msg_id) {
    case SB_MSG_HELLO:
        p[0] = m->u.hello.proto_version;
        put_u32(p + 1, m->u.hello.schema_hash);
        return (int)SB_LEN_HELLO;
    case SB_MSG_HELLO_ACK: {
        const sb_hello_ack_t *a = &m->u.hello_ack;
        uint8_t ended = 0; /* NUL-pad after the id's end */
        p[0] = a->status;
        p[1] = a->proto_version;
        put_u32(p + 2, a->schema_hash);
        put_u16(p + 6, a->watchdog_ms);
        for (i = 0; i < SB_FIRMWARE_ID_LEN; i++) {
            if (a->firmware_id[i] == '\0') {
                ended = 1;
            }
            p[8 + i] = ended ? 0u : (uint8_t)a->firmware_id[i];
        }
        return (int)SB_LEN_HELLO_ACK;
    }
    case SB_MSG_HEARTBEAT:
        put_u32(p, m->u.heartbeat.uptime_ms);
        p[4] = m->u.heartbeat.state;
        return (int)SB_LEN_HEARTBEAT;
    case SB_MSG_DRIVE:
        put_i16(p, m->u.drive.left_mm_s);
        put_i16(p + 2, m->u.drive.right_mm_s);
        return (int)SB_LEN_DRIVE;
    case SB_MSG_ESTOP:
        put_u16(p, m->u.estop.cmd_id);
        p[2] = m->u.estop.reason;
        return (int)SB_LEN_ESTOP;
    case SB_MSG_CLEAR:
        put_u16(p, m->u.clear.cmd_id);
        return (int)SB_LEN_CLEAR;
    case SB_MSG_ACK:
        put_u16(p, m->u.ack.cmd_id);
        p[2] = m->u.ack.acked_msg_id;
        p[3] = m->u.ack.result;
        return (int)SB_LEN_ACK;
    case SB_MSG_TELEMETRY:
        return pack_telemetry(&m->u.telemetry, p);
    case SB_MSG_LOG: {
        uint8_t n = m->u.log.text_len > SB_LOG_TEXT_MAX ? (uint8_t)SB_LOG_TEXT_MAX
                                                        : m->u.log.text_len;
        p[0] = m->u.log.level;
        for (i = 0; i < n; i++) {
            p[1 + i] = (uint8_t)m->u.log.text[i];
        }
        return (int)(SB_LEN_LOG_HEAD + n);
    }
    default:
        return -1;
    }
}

int sb_unpack(uint8_t msg_id, const uint8_t *p, uint8_t len, sb_message_t *m)
{
    uint8_t i;
    if (!sb_payload_len_ok(msg_id, len)) {
        return 0;
    }
    m->msg_id = msg_id;
    switch (msg_id) {
    case SB_MSG_HELLO:
        m->u.hello.proto_version = p[0];
        m->u.hello.schema_hash = get_u32(p + 1);
        break;
    case SB_MSG_HELLO_ACK:
        m->u.hello_ack.status = p[0];
        m->u.hello_ack.proto_version = p[1];
        m->u.hello_ack.schema_hash = get_u32(p + 2);
        m->u.hello_ack.watchdog_ms = get_u16(p + 6);
        for (i = 0; i < SB_FIRMWARE_ID_LEN; i++) {
            m->u.hello_ack.firmware_id[i] = (char)p[8 + i];
        }
        m->u.hello_ack.firmware_id[SB_FIRMWARE_ID_LEN] = '\0';
        break;
    case SB_MSG_HEARTBEAT:
        m->u.heartbeat.uptime_ms = get_u32(p);
        m->u.heartbeat.state = p[4];
        break;
    case SB_MSG_DRIVE:
        m->u.drive.left_mm_s = get_i16(p);
        m->u.drive.right_mm_s = get_i16(p + 2);
        break;
    case SB_MSG_ESTOP:
        m->u.estop.cmd_id = get_u16(p);
        m->u.estop.reason = p[2];
        break;
    case SB_MSG_CLEAR:
        m->u.clear.cmd_id = get_u16(p);
        break;
    case SB_MSG_ACK:
        m->u.ack.cmd_id = get_u16(p);
        m->u.ack.acked_msg_id = p[2];
        m->u.ack.result = p[3];
        break;
    case SB_MSG_TELEMETRY:
        unpack_telemetry(p, &m->u.telemetry);
        break;
    default: /* SB_MSG_LOG, the only one left after sb_payload_len_ok */
        m->u.log.level = p[0];
        m->u.log.text_len = (uint8_t)(len - SB_LEN_LOG_HEAD);
        for (i = 0; i < m->u.log.text_len; i++) {
            m->u.log.text[i] = (char)p[1 + i];
        }
        break;
    }
    return 1;
}
