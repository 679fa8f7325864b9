/*
 * The rig of the core tests (test_core.c, test_core_safety.c): the firmware
 * core on a fake HAL with a fake clock, and the host's side of the link that
 * decodes what the core sends. Time only moves when a test says so; nothing
 * sleeps.
 */
#ifndef CORE_RIG_H
#define CORE_RIG_H

#include "test_util.h"

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

/* Start the core on a fresh rig; config NULL → defaults. */
void rig_init(rig_t *r, const sb_config_t *config);
/* Collect what the core wrote, then drop every frame received so far. */
void forget(rig_t *r);
/* Move the fake clock forward, ticking every millisecond like a main loop. */
void advance(rig_t *r, uint32_t ms);

/* Host → core, each frame with the next host seq (returned where tests need it). */
uint16_t send_hello(rig_t *r, uint8_t version, uint32_t hash);
uint16_t send_drive(rig_t *r, int16_t left, int16_t right);
void send_heartbeat(rig_t *r);
/* An ESTOP (reason 1) or a CLEAR; returns its frame's seq. */
uint16_t send_command(rig_t *r, uint8_t msg_id, uint16_t cmd_id);

/* How many frames of this kind were received. */
size_t count(const rig_t *r, uint8_t msg_id);
/* The last frame of this kind received, unpacked; 0 (and *m zeroed) if none. */
int last(const rig_t *r, uint8_t msg_id, sb_message_t *m);
/* A successful HELLO / HELLO_ACK, then forget(). */
void handshake(rig_t *r);
/* Every test ends here: the MCU's own frames must have come out clean and in
 * sequence, whatever it was put through. */
void rig_done(rig_t *r);

/* The second half of test_core(): watchdog, ESTOP / CLEAR, link counters
 * (test_core_safety.c). */
void test_core_safety(void);
/* Commands and setpoints applied in the order the host issued them
 * (test_core_order.c), called from test_core_safety(). */
void test_core_order(void);

#endif /* CORE_RIG_H */
