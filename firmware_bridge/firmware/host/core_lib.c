/*
 * The firmware core as a shared library, so a host program can load the very
 * same C code in-process (Python's ctypes: spikebox.firmware_bridge.core_lib)
 * and watch every motor command it gives, where a pty between two processes
 * would hide the order of events. Only sizes and accessors are added here;
 * the behaviour is sb_core.c's.
 */
#include "../sb_core.h"

size_t sbl_core_size(void) { return sizeof(sb_core_t); }
size_t sbl_sensors_size(void) { return sizeof(sb_sensors_t); }
uint8_t sbl_core_state(const sb_core_t *core) { return sb_core_state(core); }
uint16_t sbl_core_stale_frames(const sb_core_t *core) { return core->stale_frames; }
