/*
 * A simulated differential-drive robot for the virtual MCU: what the motors,
 * encoders, battery, range sensor and IMU of a small robot would report.
 * Plain physics, no randomness, so the virtual MCU's telemetry is repeatable.
 */
#ifndef SIM_ROBOT_H
#define SIM_ROBOT_H

#include "../sb_core.h"

typedef struct {
    double set_left, set_right;     /* wheel setpoints, mm/s */
    double left, right;             /* measured wheel speeds, mm/s */
    double left_mm, right_mm;       /* distance rolled by each wheel, mm */
    double x, y, heading;           /* pose in the room: mm, mm, rad */
    double forward_accel;           /* mm/s^2, for the IMU */
    double battery_mv;              /* open-circuit voltage */
} sim_robot_t;

void sim_robot_init(sim_robot_t *r);
void sim_robot_set(sim_robot_t *r, int16_t left_mm_s, int16_t right_mm_s);
/* Advance the physics by dt_ms milliseconds. */
void sim_robot_step(sim_robot_t *r, double dt_ms);
void sim_robot_read(const sim_robot_t *r, sb_sensors_t *out);

#endif /* SIM_ROBOT_H */
