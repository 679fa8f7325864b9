/*
 * Simulated differential-drive robot behind the virtual MCU (see sim_robot.h).
 *
 * The numbers are those of a plausible small robot, not a calibrated one:
 * what matters is that telemetry moves the way a real robot's would (lagging
 * wheels, integrating encoders, a sagging battery, a wall that comes closer).
 */
#include "sim_robot.h"

#include <math.h>

#define PI 3.14159265358979323846

#define WHEEL_TAU_MS 30.0     /* first-order lag of a wheel's speed behind its setpoint */
/* A 65 mm wheel (204.2 mm round) with a 408-count-per-revolution encoder:
 * 408 / 204.2 = 2.0 ticks per mm. */
#define TICKS_PER_MM 2.0
#define WHEELBASE_MM 150.0
#define ROOM_MM 4000.0        /* the default room: walls at 0 and ROOM_MM on both axes */
#define RANGE_MAX_MM 2000.0   /* beyond this the range sensor sees nothing */
#define BATTERY_FULL_MV 12600.0
#define BATTERY_EMPTY_MV 10000.0
#define BATTERY_IDLE_MV_PER_S 0.05        /* electronics alone */
#define BATTERY_LOAD_MV_PER_S_PER_MM_S 0.001
#define BATTERY_SAG_MV_PER_MM_S 0.3       /* voltage drop under load (internal resistance) */
#define MM_S2_PER_G 9806.65
/* A wheel this close to its setpoint is at it: the exponential lag would
 * otherwise creep forever, and a stopped robot must stand exactly still. */
#define SETTLED_MM_S 0.01

static int16_t clamp_i16(double v)
{
    if (v > 32767.0) {
        return 32767;
    }
    if (v < -32768.0) {
        return -32768;
    }
    return (int16_t)lround(v);
}

void sim_robot_init(sim_robot_t *r)
{
    r->set_left = r->set_right = 0.0;
    r->left = r->right = 0.0;
    r->left_mm = r->right_mm = 0.0;
    r->room_w_mm = r->room_h_mm = ROOM_MM;
    r->x = r->y = ROOM_MM / 2.0;
    r->heading = 0.0;
    r->forward_accel = 0.0;
    r->battery_mv = BATTERY_FULL_MV;
    r->world_range_mm = -1.0;
}

void sim_robot_set(sim_robot_t *r, int16_t left_mm_s, int16_t right_mm_s)
{
    r->set_left = left_mm_s;
    r->set_right = right_mm_s;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static double settle(double speed, double setpoint, double k)
{
    speed += (setpoint - speed) * k;
    return fabs(setpoint - speed) < SETTLED_MM_S ? setpoint : speed;
}

void sim_robot_step(sim_robot_t *r, double dt_ms)
{
    double dt_s = dt_ms / 1000.0;
    /* Exact discretisation of the first-order lag, stable for any dt. */
    double k = 1.0 - exp(-dt_ms / WHEEL_TAU_MS);
    double old_forward = (r->left + r->right) / 2.0;
    double forward, omega;

    if (dt_ms <= 0.0) {
        return;
    }
    r->left = settle(r->left, r->set_left, k);
    r->right = settle(r->right, r->set_right, k);
    r->left_mm += r->left * dt_s;
    r->right_mm += r->right * dt_s;

    forward = (r->left + r->right) / 2.0;
    omega = (r->right - r->left) / WHEELBASE_MM;
    r->forward_accel = (forward - old_forward) / dt_s;
    r->heading = fmod(r->heading + omega * dt_s, 2.0 * PI);
    /* The walls stop the robot; its wheels (and encoders) keep turning. */
    r->x = clamp(r->x + forward * cos(r->heading) * dt_s, 0.0, r->room_w_mm);
    r->y = clamp(r->y + forward * sin(r->heading) * dt_s, 0.0, r->room_h_mm);

    r->battery_mv -= (BATTERY_IDLE_MV_PER_S +
                      BATTERY_LOAD_MV_PER_S_PER_MM_S * (fabs(r->left) + fabs(r->right))) * dt_s;
    if (r->battery_mv < BATTERY_EMPTY_MV) {
        r->battery_mv = BATTERY_EMPTY_MV;
    }
}

/* Distance along the heading to the nearest wall of the room. */
static double wall_distance(const sim_robot_t *r)
{
    double c = cos(r->heading), s = sin(r->heading);
    double best = 1e9;
    if (c > 1e-9) {
        best = fmin(best, (r->room_w_mm - r->x) / c);
    } else if (c < -1e-9) {
        best = fmin(best, -r->x / c);
    }
    if (s > 1e-9) {
        best = fmin(best, (r->room_h_mm - r->y) / s);
    } else if (s < -1e-9) {
        best = fmin(best, -r->y / s);
    }
    return best;
}

void sim_robot_read(const sim_robot_t *r, sb_sensors_t *out)
{
    double omega = (r->right - r->left) / WHEELBASE_MM; /* rad/s */
    double forward = (r->left + r->right) / 2.0;
    double range = r->world_range_mm >= 0.0 ? r->world_range_mm : wall_distance(r);
    double sag = BATTERY_SAG_MV_PER_MM_S * (fabs(r->left) + fabs(r->right)) / 2.0;

    out->left_mm_s = clamp_i16(r->left);
    out->right_mm_s = clamp_i16(r->right);
    out->left_ticks = (int32_t)floor(r->left_mm * TICKS_PER_MM);
    out->right_ticks = (int32_t)floor(r->right_mm * TICKS_PER_MM);
    out->battery_mv = (uint16_t)lround(clamp(r->battery_mv - sag, 0.0, 65535.0));
    out->range_mm = range > RANGE_MAX_MM ? (uint16_t)SB_RANGE_NONE : (uint16_t)lround(range);
    out->accel_mg[0] = clamp_i16(r->forward_accel / MM_S2_PER_G * 1000.0);
    out->accel_mg[1] = clamp_i16(forward * omega / MM_S2_PER_G * 1000.0); /* centripetal */
    out->accel_mg[2] = 1000; /* gravity, level floor */
    out->gyro_cdps[0] = 0;
    out->gyro_cdps[1] = 0;
    out->gyro_cdps[2] = clamp_i16(omega * 180.0 / PI * 100.0);
}

void sim_robot_place(sim_robot_t *r, double x_mm, double y_mm, double heading_rad)
{
    r->x = clamp(x_mm, 0.0, r->room_w_mm);
    r->y = clamp(y_mm, 0.0, r->room_h_mm);
    r->heading = fmod(heading_rad, 2.0 * PI);
}

void sim_robot_halt_wheels(sim_robot_t *r)
{
    r->left = r->right = 0.0;
    r->forward_accel = 0.0;
}

void sim_robot_set_room(sim_robot_t *r, double w_mm, double h_mm)
{
    r->room_w_mm = w_mm > 0.0 ? w_mm : ROOM_MM;
    r->room_h_mm = h_mm > 0.0 ? h_mm : ROOM_MM;
    r->x = clamp(r->x, 0.0, r->room_w_mm);
    r->y = clamp(r->y, 0.0, r->room_h_mm);
}

void sim_robot_set_range(sim_robot_t *r, double range_mm) { r->world_range_mm = range_mm; }

double sim_robot_wheelbase_mm(void) { return WHEELBASE_MM; }

double sim_robot_range_max_mm(void) { return RANGE_MAX_MM; }
