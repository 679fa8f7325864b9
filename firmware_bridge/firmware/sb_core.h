/*
 * spikebox firmware core: the MCU's half of the serial protocol.
 *
 * Host bytes in (sb_core_rx), motor setpoints and frames out, through a small
 * HAL the platform provides: the Arduino sketch (arduino/), the virtual MCU
 * on a pseudo-terminal (host/virtual_mcu.c) and the tests' fake HAL are three
 * implementations of the same struct. Behaviour follows ../PROTOCOL.md:
 * handshake, DRIVE → TELEMETRY echo, periodic TELEMETRY and HEARTBEAT, the
 * watchdog that stops the motors when the host goes silent, ESTOP / CLEAR
 * with acks, applied in the order the host issued them (an older command is
 * never applied after a newer one, so a retried CLEAR cannot lift a later
 * ESTOP), and setpoints that never go back in time.
 *
 * No dynamic allocation; all state lives in sb_core_t, which the platform
 * allocates (statically, on an MCU).
 */
#ifndef SB_CORE_H
#define SB_CORE_H

#include "sb_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_DEFAULT_WATCHDOG_MS 200u
#define SB_DEFAULT_FIRMWARE_ID "spikebox-ref/1"
#define SB_TELEMETRY_PERIOD_MS 50u /* at most this long between TELEMETRY frames */
#define SB_HEARTBEAT_PERIOD_MS 100u

/* What the robot's sensors say right now. */
typedef struct {
    int16_t left_mm_s, right_mm_s;     /* measured wheel speeds */
    int32_t left_ticks, right_ticks;   /* encoder counts */
    uint16_t battery_mv;
    uint16_t range_mm;                 /* SB_RANGE_NONE: nothing in range */
    int16_t accel_mg[3];               /* x, y, z, milli-g */
    int16_t gyro_cdps[3];              /* x, y, z, centi-degrees/s */
} sb_sensors_t;

/* The platform's side of the boundary. Every function gets ctx back. */
typedef struct {
    /* Monotonic milliseconds; may wrap at 2^32 (the core subtracts). */
    uint32_t (*millis)(void *ctx);
    /* New wheel setpoints in mm/s; 0, 0 means stop now. */
    void (*set_motors)(void *ctx, int16_t left_mm_s, int16_t right_mm_s);
    void (*read_sensors)(void *ctx, sb_sensors_t *out);
    /* Queue bytes for the host; must not block for long (drop if it must). */
    void (*serial_write)(void *ctx, const uint8_t *data, size_t n);
    void *ctx;
} sb_hal_t;

typedef struct {
    uint16_t watchdog_ms;       /* host silence before the motors stop; 0 → default */
    const char *firmware_id;    /* ASCII, ≤16 chars (longer is cut), copied at init */
    /* What the MCU announces and accepts. Normally SB_PROTO_VERSION and
     * SB_SCHEMA_HASH; tests override them to play a mismatching MCU. */
    uint8_t proto_version;
    uint32_t schema_hash;
} sb_config_t;

typedef struct {
    sb_hal_t hal;
    sb_config_t config;
    char firmware_id[SB_FIRMWARE_ID_LEN + 1];
    sb_decoder_t rx;
    uint16_t tx_seq;             /* header seq of the next frame sent */
    uint8_t state;               /* SB_STATE_* bits */
    uint8_t have_cmd;            /* last_cmd_id is valid (reset by a handshake) */
    uint16_t last_cmd_id;        /* last ESTOP/CLEAR applied: order and dedup */
    uint16_t session_seq;        /* header seq of the HELLO that began this session */
    uint16_t drive_floor_seq;    /* a DRIVE must be newer: last DRIVE, CLEAR or HELLO applied */
    uint16_t stale_frames;       /* DRIVE/ESTOP/CLEAR refused as older than that, saturating */
    uint16_t last_drive_seq;
    int16_t motor_left_mm_s;     /* the setpoints last given to the HAL */
    int16_t motor_right_mm_s;
    uint32_t last_host_ms;       /* last DRIVE or HEARTBEAT from the host */
    uint32_t last_telemetry_ms;
    uint32_t last_heartbeat_ms;
    uint16_t watchdog_stop_ms;   /* SB_WATCHDOG_NEVER until the first stop */
    uint16_t timeouts;           /* watchdog stops, saturating */
    uint8_t tx[SB_MAX_WIRE];     /* one encoded frame on its way out */
} sb_core_t;

/* Fill *config with the defaults: 200 ms, "spikebox-ref/1", real version and hash. */
void sb_config_default(sb_config_t *config);

/* config may be NULL for the defaults. Stops the motors. */
void sb_core_init(sb_core_t *core, const sb_hal_t *hal, const sb_config_t *config);

/* Bytes from the host, any amount, as they arrive. Frames are acted on at
 * once (a DRIVE's TELEMETRY is written before this returns). */
void sb_core_rx(sb_core_t *core, const uint8_t *bytes, size_t n);

/* Call from the main loop about every millisecond: watchdog, periodic
 * TELEMETRY and HEARTBEAT. */
void sb_core_tick(sb_core_t *core);

static inline uint8_t sb_core_state(const sb_core_t *core) { return core->state; }

#ifdef __cplusplus
}
#endif

#endif /* SB_CORE_H */
