/*
 * The virtual MCU's serial port: a pseudo-terminal in raw mode, and a stable
 * symlink to its slave side that a restarted virtual MCU re-points atomically
 * (like a udev /dev/serial/by-id link when a board is re-plugged).
 */
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname */
#define _DEFAULT_SOURCE   /* cfmakeraw (glibc) */
#define _DARWIN_C_SOURCE  /* cfmakeraw (macOS) */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "pty.h"

int vpty_open(vpty_t *v)
{
    struct termios tio;
    const char *name;
    int flags;

    v->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (v->master < 0 || grantpt(v->master) != 0 || unlockpt(v->master) != 0 ||
        (name = ptsname(v->master)) == NULL) {
        perror("virtual_mcu: pseudo-terminal");
        return 0;
    }
    if (strlen(name) >= sizeof v->slave_path) {
        fprintf(stderr, "virtual_mcu: pty name too long\n");
        return 0;
    }
    strcpy(v->slave_path, name);
    v->slave = open(v->slave_path, O_RDWR | O_NOCTTY);
    if (v->slave < 0) {
        perror("virtual_mcu: open pty slave");
        return 0;
    }
    /* Raw: no echo (the host would read its own frames back), no line
     * discipline rewriting 0x0A/0x0D/0x03 in binary frames. */
    if (tcgetattr(v->slave, &tio) != 0) {
        perror("virtual_mcu: tcgetattr");
        return 0;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    if (tcsetattr(v->slave, TCSANOW, &tio) != 0) {
        perror("virtual_mcu: tcsetattr");
        return 0;
    }
    flags = fcntl(v->master, F_GETFL);
    if (flags < 0 || fcntl(v->master, F_SETFL, flags | O_NONBLOCK) != 0) {
        perror("virtual_mcu: fcntl");
        return 0;
    }
    return 1;
}

/* Point link at the slave, replacing an old link atomically (a host
 * re-opening the path never finds it missing or half made). */
int vpty_link(const char *link, const char *target)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", link, (long)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "virtual_mcu: --link path too long\n");
        return 0;
    }
    unlink(tmp);
    if (symlink(target, tmp) != 0) {
        perror("virtual_mcu: symlink");
        return 0;
    }
    if (rename(tmp, link) != 0) {
        perror("virtual_mcu: rename link");
        unlink(tmp);
        return 0;
    }
    return 1;
}

/* Remove the link only if it is still ours: a newer virtual MCU may own it. */
void vpty_unlink(const char *link, const char *target)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n >= 0) {
        buf[n] = '\0';
        if (strcmp(buf, target) == 0) {
            unlink(link);
        }
    }
}
