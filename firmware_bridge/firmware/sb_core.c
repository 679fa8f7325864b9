/*
 * spikebox firmware core: protocol behaviour on top of the codec.
 * See sb_core.h for the API and ../PROTOCOL.md for the rules followed here.
 */
#include "sb_core.h"

static void bump(uint16_t *counter)
{
    if (*counter != 0xFFFFu) {
        (*counter)++;
    }
}

static uint32_t now_ms(sb_core_t *c) { return c->hal.millis(c->hal.ctx); }

/* Serial-number order (RFC 1982) of two u16 counters that wrap: a is newer
 * than b when it is 1 … 32767 steps ahead. Exactly half the ring away is
 * neither, so a frame that old is never taken for a new one. */
static int newer(uint16_t a, uint16_t b)
{
    uint16_t ahead = (uint16_t)(a - b);
    return ahead != 0u && ahead < 0x8000u;
}

static void send(sb_core_t *c, const sb_message_t *m)
{
    /* Frames go out with the version the MCU announces, so an MCU configured
     * as another version is that version through and through. */
    size_t n = sb_encode_message(c->config.proto_version, c->tx_seq, m, c->tx, sizeof c->tx);
    if (n > 0u) {
        c->tx_seq++;
        c->hal.serial_write(c->hal.ctx, c->tx, n);
    }
}

static void set_motors(sb_core_t *c, int16_t left, int16_t right)
{
    c->motor_left_mm_s = left;
    c->motor_right_mm_s = right;
    c->hal.set_motors(c->hal.ctx, left, right);
}

static void send_telemetry(sb_core_t *c, uint32_t now)
{
    sb_message_t m;
    sb_telemetry_t *t = &m.u.telemetry;
    sb_sensors_t s;
    const sb_link_counters_t *k = &c->rx.counters;

    c->hal.read_sensors(c->hal.ctx, &s);
    m.msg_id = SB_MSG_TELEMETRY;
    t->mcu_time_ms = now;
    t->last_drive_seq = c->last_drive_seq;
    t->state = c->state;
    t->left_mm_s = s.left_mm_s;
    t->right_mm_s = s.right_mm_s;
    t->left_ticks = s.left_ticks;
    t->right_ticks = s.right_ticks;
    t->battery_mv = s.battery_mv;
    t->range_mm = s.range_mm;
    t->accel_x_mg = s.accel_mg[0];
    t->accel_y_mg = s.accel_mg[1];
    t->accel_z_mg = s.accel_mg[2];
    t->gyro_x_cdps = s.gyro_cdps[0];
    t->gyro_y_cdps = s.gyro_cdps[1];
    t->gyro_z_cdps = s.gyro_cdps[2];
    t->watchdog_stop_ms = c->watchdog_stop_ms;
    t->crc_errors = k->crc_errors;
    t->seq_gaps = k->seq_gaps;
    t->resyncs = k->resyncs;
    t->oversize = k->oversize;
    t->unknown_ids = k->unknown_ids;
    t->timeouts = c->timeouts;
    t->framing_errors = k->framing_errors;
    t->version_errors = k->version_errors;
    t->stale_frames = c->stale_frames;
    send(c, &m);
    c->last_telemetry_ms = now;
}

static void send_heartbeat(sb_core_t *c, uint32_t now)
{
    sb_message_t m;
    m.msg_id = SB_MSG_HEARTBEAT;
    m.u.heartbeat.uptime_ms = now;
    m.u.heartbeat.state = c->state;
    send(c, &m);
    c->last_heartbeat_ms = now;
}

static void send_ack(sb_core_t *c, uint16_t cmd_id, uint8_t acked_msg_id, uint8_t result)
{
    sb_message_t m;
    m.msg_id = SB_MSG_ACK;
    m.u.ack.cmd_id = cmd_id;
    m.u.ack.acked_msg_id = acked_msg_id;
    m.u.ack.result = result;
    send(c, &m);
}

/* A LOG from pieces: text, an unsigned number, text (no printf on an AVR). */
static void send_log(sb_core_t *c, uint8_t level, const char *head, uint16_t value,
                     const char *tail)
{
    sb_message_t m;
    sb_log_t *l = &m.u.log;
    char digits[5];
    uint8_t nd = 0;

    m.msg_id = SB_MSG_LOG;
    l->level = level;
    l->text_len = 0;
    while (*head && l->text_len < SB_LOG_TEXT_MAX) {
        l->text[l->text_len++] = *head++;
    }
    do {
        digits[nd++] = (char)('0' + value % 10u);
        value = (uint16_t)(value / 10u);
    } while (value != 0u);
    while (nd > 0u && l->text_len < SB_LOG_TEXT_MAX) {
        l->text[l->text_len++] = digits[--nd];
    }
    while (*tail && l->text_len < SB_LOG_TEXT_MAX) {
        l->text[l->text_len++] = *tail++;
    }
    send(c, &m);
}

void sb_config_default(sb_config_t *config)
{
    config->watchdog_ms = SB_DEFAULT_WATCHDOG_MS;
    config->firmware_id = SB_DEFAULT_FIRMWARE_ID;
    config->proto_version = SB_PROTO_VERSION;
    config->schema_hash = SB_SCHEMA_HASH;
}

void sb_core_init(sb_core_t *core, const sb_hal_t *hal, const sb_config_t *config)
{
    uint8_t i;
    const char *id;
    uint32_t now;

    core->hal = *hal;
    if (config != NULL) {
        core->config = *config;
    } else {
        sb_config_default(&core->config);
    }
    if (core->config.watchdog_ms == 0u) {
        core->config.watchdog_ms = SB_DEFAULT_WATCHDOG_MS;
    }
    /* Copy the id so the caller's string need not outlive init. */
    id = core->config.firmware_id != NULL ? core->config.firmware_id : "";
    for (i = 0; i < SB_FIRMWARE_ID_LEN && id[i] != '\0'; i++) {
        core->firmware_id[i] = id[i];
    }
    for (; i <= SB_FIRMWARE_ID_LEN; i++) {
        core->firmware_id[i] = '\0';
    }
    core->config.firmware_id = core->firmware_id;

    sb_decoder_init(&core->rx, core->config.proto_version);
    core->tx_seq = 0;
    core->state = 0;
    core->have_cmd = 0;
    core->last_cmd_id = 0;
    core->session_seq = 0;
    core->drive_floor_seq = 0;
    core->stale_frames = 0;
    core->last_drive_seq = 0;
    core->watchdog_stop_ms = SB_WATCHDOG_NEVER;
    core->timeouts = 0;

    now = now_ms(core);
    core->last_host_ms = now;
    core->last_telemetry_ms = now;
    /* Due at once: the first tick tells the host the MCU (re)started. */
    core->last_heartbeat_ms = now - SB_HEARTBEAT_PERIOD_MS;
    set_motors(core, 0, 0);
}

static void on_hello(sb_core_t *c, uint16_t seq, const sb_hello_t *hello, uint32_t now)
{
    sb_message_t m;
    sb_hello_ack_t *a = &m.u.hello_ack;
    uint8_t i;

    m.msg_id = SB_MSG_HELLO_ACK;
    if (hello->proto_version != c->config.proto_version) {
        a->status = SB_HELLO_VERSION_MISMATCH;
    } else if (hello->schema_hash != c->config.schema_hash) {
        a->status = SB_HELLO_SCHEMA_MISMATCH;
    } else {
        a->status = SB_HELLO_OK;
    }
    /* Always our own version and hash, so the host can name both in its error. */
    a->proto_version = c->config.proto_version;
    a->schema_hash = c->config.schema_hash;
    a->watchdog_ms = c->config.watchdog_ms;
    for (i = 0; i <= SB_FIRMWARE_ID_LEN; i++) {
        a->firmware_id[i] = c->firmware_id[i];
    }

    if (a->status == SB_HELLO_OK) {
        /* A new session: the host's seq and cmd_id counters start afresh, and
         * nothing it asked of an earlier session is resumed. ESTOPPED stays:
         * only a CLEAR lifts an e-stop. */
        sb_decoder_reset_sequence(&c->rx);
        c->have_cmd = 0;
        /* Frames the host sent before this HELLO belong to a session that is
         * over: a late copy of one must not drive or command this one. */
        c->session_seq = seq;
        c->drive_floor_seq = seq;
        c->state = (uint8_t)((c->state | SB_STATE_HANDSHAKEN | SB_STATE_AWAIT_DRIVE) &
                             ~SB_STATE_WATCHDOG_STOPPED);
        c->last_host_ms = now;
        c->last_telemetry_ms = now;
    } else {
        /* Whoever is on the line now cannot talk to us: no session. */
        c->state = (uint8_t)(c->state & ~SB_STATE_HANDSHAKEN);
    }
    set_motors(c, 0, 0);
    send(c, &m);
}

static void on_drive(sb_core_t *c, uint16_t seq, const sb_drive_t *drive, uint32_t now)
{
    if (!(c->state & SB_STATE_HANDSHAKEN)) {
        return; /* a host that has not handshaken may not be speaking our layout */
    }
    if (!newer(seq, c->drive_floor_seq)) {
        /* Sent before the last setpoint, CLEAR or handshake applied: a
         * setpoint from the past is never resumed (and is no sign of life). */
        bump(&c->stale_frames);
        return;
    }
    c->last_host_ms = now;
    if (c->state & SB_STATE_ESTOPPED) {
        return;
    }
    c->state = (uint8_t)(c->state & ~(SB_STATE_AWAIT_DRIVE | SB_STATE_WATCHDOG_STOPPED));
    c->drive_floor_seq = seq;
    c->last_drive_seq = seq;
    set_motors(c, drive->left_mm_s, drive->right_mm_s);
    /* Answer at once: this is what the host's round-trip time measures. */
    send_telemetry(c, now);
}

/* ESTOP and CLEAR: applied once per cmd_id and in cmd_id order, acked every
 * time. The host numbers commands in the order it issues them, so a CLEAR
 * that was issued before an ESTOP but reaches us after it (a retry that
 * crossed it, a frame held up in a buffer) is older and is refused: only a
 * CLEAR issued after an ESTOP can lift it. */
static void on_command(sb_core_t *c, uint8_t msg_id, uint16_t seq, uint16_t cmd_id)
{
    if (msg_id == SB_MSG_CLEAR && !(c->state & SB_STATE_HANDSHAKEN)) {
        send_ack(c, cmd_id, msg_id, SB_ACK_REFUSED);
        return;
    }
    if (c->have_cmd && cmd_id == c->last_cmd_id) {
        send_ack(c, cmd_id, msg_id, SB_ACK_DUPLICATE);
        return;
    }
    if ((c->state & SB_STATE_HANDSHAKEN) && !newer(seq, c->session_seq)) {
        /* From a session before the current handshake. */
        bump(&c->stale_frames);
        send_ack(c, cmd_id, msg_id, SB_ACK_STALE);
        return;
    }
    if (c->have_cmd && !newer(cmd_id, c->last_cmd_id)) {
        bump(&c->stale_frames);
        send_ack(c, cmd_id, msg_id, SB_ACK_STALE);
        return;
    }
    if (msg_id == SB_MSG_ESTOP) {
        /* Obeyed even before a handshake: stopping is always allowed. */
        c->state |= SB_STATE_ESTOPPED;
    } else {
        /* The setpoint from before the e-stop is never resumed: wait for a
         * DRIVE sent after this CLEAR. */
        c->state = (uint8_t)((c->state & ~SB_STATE_ESTOPPED) | SB_STATE_AWAIT_DRIVE);
        c->drive_floor_seq = seq; /* only a DRIVE sent after this CLEAR moves */
    }
    set_motors(c, 0, 0);
    c->have_cmd = 1;
    c->last_cmd_id = cmd_id;
    send_ack(c, cmd_id, msg_id, SB_ACK_APPLIED);
}

static void on_frame(sb_core_t *c, const sb_frame_t *f)
{
    sb_message_t m;
    uint32_t now = now_ms(c);

    if (!sb_unpack(f->msg_id, f->payload, f->len, &m)) {
        return; /* cannot happen: the decoder checked the length */
    }
    switch (f->msg_id) {
    case SB_MSG_HELLO:
        on_hello(c, f->seq, &m.u.hello, now);
        break;
    case SB_MSG_HEARTBEAT:
        c->last_host_ms = now;
        break;
    case SB_MSG_DRIVE:
        on_drive(c, f->seq, &m.u.drive, now);
        break;
    case SB_MSG_ESTOP:
        on_command(c, SB_MSG_ESTOP, f->seq, m.u.estop.cmd_id);
        break;
    case SB_MSG_CLEAR:
        on_command(c, SB_MSG_CLEAR, f->seq, m.u.clear.cmd_id);
        break;
    default:
        break; /* MCU → host messages echoed back at us: nothing to do */
    }
}

void sb_core_rx(sb_core_t *core, const uint8_t *bytes, size_t n)
{
    sb_frame_t frame;
    int got;
    while (n > 0u) {
        size_t used = sb_decoder_feed(&core->rx, bytes, n, &frame, &got);
        bytes += used;
        n -= used;
        if (got) {
            on_frame(core, &frame);
        }
    }
}

static void watchdog(sb_core_t *c, uint32_t now)
{
    uint32_t silent_ms = now - c->last_host_ms;
    if (!(c->state & SB_STATE_HANDSHAKEN) || (c->state & SB_STATE_WATCHDOG_STOPPED) ||
        silent_ms < c->config.watchdog_ms) {
        return;
    }
    set_motors(c, 0, 0);
    c->state |= SB_STATE_WATCHDOG_STOPPED;
    bump(&c->timeouts);
    /* 0xFFFF means "never", so a real silence that long reads 0xFFFE. */
    c->watchdog_stop_ms = silent_ms < SB_WATCHDOG_NEVER ? (uint16_t)silent_ms
                                                        : (uint16_t)(SB_WATCHDOG_NEVER - 1u);
    send_log(c, SB_LOG_WARNING, "watchdog:host_silent_", c->watchdog_stop_ms,
             "_ms,motors_stopped");
    send_telemetry(c, now); /* tell the host now, not up to 50 ms later */
}

void sb_core_tick(sb_core_t *core)
{
    uint32_t now = now_ms(core);
    watchdog(core, now);
    if ((core->state & SB_STATE_HANDSHAKEN) &&
        now - core->last_telemetry_ms >= SB_TELEMETRY_PERIOD_MS) {
        send_telemetry(core, now);
    }
    if (now - core->last_heartbeat_ms >= SB_HEARTBEAT_PERIOD_MS) {
        send_heartbeat(core, now);
    }
}
