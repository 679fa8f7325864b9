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
    double room_w_mm, room_h_mm;    /* the room's walls stand at 0 and these, on x and y */
    double world_range_mm;          /* < 0: the range sensor sees the room's walls; else what
                                       a world with its own map measured (sim_robot_set_range) */
} sim_robot_t;

void sim_robot_init(sim_robot_t *r);
void sim_robot_set(sim_robot_t *r, int16_t left_mm_s, int16_t right_mm_s);
/* Advance the physics by dt_ms milliseconds. */
void sim_robot_step(sim_robot_t *r, double dt_ms);
void sim_robot_read(const sim_robot_t *r, sb_sensors_t *out);

/* For a world that owns the map (spikebox's sim, through libsbcore): put the
 * robot somewhere (a reset, or back to its last free pose after a collision),
 * stop its wheels where it stands (a collision: setpoints stay, speeds go to
 * zero) and size the room the pose is kept in. */
void sim_robot_place(sim_robot_t *r, double x_mm, double y_mm, double heading_rad);
void sim_robot_halt_wheels(sim_robot_t *r);
void sim_robot_set_room(sim_robot_t *r, double w_mm, double h_mm);
/* What the range sensor reads from now on, mm (a world that owns the map casts it);
 * beyond the sensor's reach reads as SB_RANGE_NONE; < 0 goes back to the room's walls. */
void sim_robot_set_range(sim_robot_t *r, double range_mm);
/* The distance between the wheels, mm: what turns wheel speeds into a turn rate. */
double sim_robot_wheelbase_mm(void);
/* The range sensor's reach, mm: farther reads as SB_RANGE_NONE. */
double sim_robot_range_max_mm(void);

#endif /* SIM_ROBOT_H */
