/* The rig behind core_rig.h: a fake HAL, and the host's end of the link. */
#include "core_rig.h"

#include <string.h>

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

void forget(rig_t *r)
{
    collect(r);
    r->n_frames = 0;
}

void rig_init(rig_t *r, const sb_config_t *config)
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
void advance(rig_t *r, uint32_t ms)
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

uint16_t send_hello(rig_t *r, uint8_t version, uint32_t hash)
{
    sb_message_t m;
    m.msg_id = SB_MSG_HELLO;
    m.u.hello.proto_version = version;
    m.u.hello.schema_hash = hash;
    return send_as(r, version, &m);
}

uint16_t send_drive(rig_t *r, int16_t left, int16_t right)
{
    sb_message_t m;
    m.msg_id = SB_MSG_DRIVE;
    m.u.drive.left_mm_s = left;
    m.u.drive.right_mm_s = right;
    return send(r, &m);
}

void send_heartbeat(rig_t *r)
{
    sb_message_t m;
    m.msg_id = SB_MSG_HEARTBEAT;
    m.u.heartbeat.uptime_ms = r->hal.now;
    m.u.heartbeat.state = 0;
    send(r, &m);
}

uint16_t send_command(rig_t *r, uint8_t msg_id, uint16_t cmd_id)
{
    sb_message_t m;
    m.msg_id = msg_id;
    if (msg_id == SB_MSG_ESTOP) {
        m.u.estop.cmd_id = cmd_id;
        m.u.estop.reason = 1;
    } else {
        m.u.clear.cmd_id = cmd_id;
    }
    return send(r, &m);
}

size_t count(const rig_t *r, uint8_t msg_id)
{
    size_t i, n = 0;
    for (i = 0; i < r->n_frames; i++) {
        n += r->frames[i].msg_id == msg_id;
    }
    return n;
}

/* The last frame of this kind received, unpacked; 0 (and *m zeroed) if none. */
int last(const rig_t *r, uint8_t msg_id, sb_message_t *m)
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

void handshake(rig_t *r)
{
    sb_message_t ack;
    send_hello(r, SB_PROTO_VERSION, SB_SCHEMA_HASH);
    EXPECT(last(r, SB_MSG_HELLO_ACK, &ack) && ack.u.hello_ack.status == SB_HELLO_OK,
           "handshake failed");
    forget(r);
}

/* Every test ends here: the MCU's own frames must have come out clean and in
 * sequence, whatever it was put through. */
void rig_done(rig_t *r)
{
    collect(r);
    EXPECT(r->host_rx.counters.seq_gaps == 0u && r->host_rx.counters.resyncs == 0u,
           "MCU output: seq_gaps %u resyncs %u", r->host_rx.counters.seq_gaps,
           r->host_rx.counters.resyncs);
}
