#ifndef SPIKEBOX_VMCU_PTY_H
#define SPIKEBOX_VMCU_PTY_H

#include <limits.h>

typedef struct {
    int master;
    int slave; /* held open so the master never sees EIO/HUP between host sessions */
    char slave_path[PATH_MAX];
} vpty_t;

/* Open a raw pty; the master non-blocking. Returns 0 (with a message) on failure. */
int vpty_open(vpty_t *v);
/* Point `link` at `target`, replacing an old link atomically. Returns 0 on failure. */
int vpty_link(const char *link, const char *target);
/* Remove `link` only if it still points at `target` (a newer virtual MCU may own it). */
void vpty_unlink(const char *link, const char *target);

#endif
