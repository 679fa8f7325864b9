/*
 * The firmware core as a shared library, so a host program can load the very
 * same C code in-process (Python's ctypes: spikebox.firmware_bridge.core_lib)
 * and watch every motor command it gives, where a pty between two processes
 * would hide the order of events. The simulated robot (sim_robot.c) comes
 * along, so the demo world moves its robot with the virtual MCU's own
 * kinematics rather than a copy. Only sizes and accessors are added here;
 * the behaviour is sb_core.c's and sim_robot.c's.
 */
#include "../sb_core.h"
#include "sim_robot.h"

size_t sbl_core_size(void) { return sizeof(sb_core_t); }
size_t sbl_sensors_size(void) { return sizeof(sb_sensors_t); }
uint8_t sbl_core_state(const sb_core_t *core) { return sb_core_state(core); }
uint16_t sbl_core_stale_frames(const sb_core_t *core) { return core->stale_frames; }

size_t sbl_robot_size(void) { return sizeof(sim_robot_t); }

/* out[0..2] = x mm, y mm, heading rad */
void sbl_robot_pose(const sim_robot_t *r, double *out)
{
    out[0] = r->x;
    out[1] = r->y;
    out[2] = r->heading;
}

/* out[0..3] = measured left, right mm/s; setpoints left, right mm/s */
void sbl_robot_wheels(const sim_robot_t *r, double *out)
{
    out[0] = r->left;
    out[1] = r->right;
    out[2] = r->set_left;
    out[3] = r->set_right;
}
