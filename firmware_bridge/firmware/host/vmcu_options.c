/*
 * virtual_mcu's command line (vmcu_options.h).
 */
#include "vmcu_options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../sb_core.h"

/* ---- command line ---- */

void vmcu_usage(FILE *to)
{
    fprintf(to,
            "usage: virtual_mcu --link PATH [--watchdog-ms N] [--firmware-id S]\n"
            "                   [--proto-version N] [--schema-hash HEX]\n"
            "                   [--rx-fault-rate P] [--seed N] [--exit-after-ms N]\n"
            "                   [--parent-pid N]\n"
            "Creates a pseudo-terminal running the spikebox firmware core, links PATH\n"
            "to it, prints 'READY <pty path>' and serves until SIGTERM/SIGINT.\n");
}

static int parse_ul(const char *s, int base, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    if (s == NULL || *s == '\0' || *s == '-') {
        return 0;
    }
    errno = 0;
    v = strtoul(s, &end, base);
    if (errno != 0 || *end != '\0' || v > max) {
        return 0;
    }
    *out = v;
    return 1;
}

/* Accepts "--name value" and "--name=value". Returns 0 on a usage error. */
int vmcu_parse_args(int argc, char **argv, options_t *o)
{
    int i;
    o->link = NULL;
    o->watchdog_ms = SB_DEFAULT_WATCHDOG_MS;
    o->firmware_id = DEFAULT_FIRMWARE_ID;
    o->proto_version = SB_PROTO_VERSION;
    o->schema_hash = SB_SCHEMA_HASH;
    o->rx_fault_rate = 0.0;
    o->seed = 1;
    o->exit_after_ms = -1;
    o->parent_pid = 0;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = NULL;
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        unsigned long u;
        char name[32];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            vmcu_usage(stdout);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0 || name_len >= sizeof name) {
            fprintf(stderr, "virtual_mcu: unexpected argument '%s'\n", arg);
            return 0;
        }
        memcpy(name, arg, name_len);
        name[name_len] = '\0';
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "virtual_mcu: %s needs a value\n", name);
            return 0;
        }

        if (strcmp(name, "--link") == 0) {
            o->link = val;
        } else if (strcmp(name, "--watchdog-ms") == 0) {
            if (!parse_ul(val, 10, 65535ul, &u) || u == 0ul) {
                goto bad;
            }
            o->watchdog_ms = (uint16_t)u;
        } else if (strcmp(name, "--firmware-id") == 0) {
            if (strlen(val) > SB_FIRMWARE_ID_LEN) {
                fprintf(stderr, "virtual_mcu: --firmware-id is at most %u chars\n",
                        (unsigned)SB_FIRMWARE_ID_LEN);
                return 0;
            }
            o->firmware_id = val;
        } else if (strcmp(name, "--proto-version") == 0) {
            if (!parse_ul(val, 10, 255ul, &u)) {
                goto bad;
            }
            o->proto_version = (uint8_t)u;
        } else if (strcmp(name, "--schema-hash") == 0) {
            if (!parse_ul(val, 16, 0xFFFFFFFFul, &u)) { /* strtoul takes an 0x prefix */
                goto bad;
            }
            o->schema_hash = (uint32_t)u;
        } else if (strcmp(name, "--rx-fault-rate") == 0) {
            char *end;
            double p = strtod(val, &end);
            if (*val == '\0' || *end != '\0' || !(p >= 0.0 && p <= 1.0)) {
                goto bad;
            }
            o->rx_fault_rate = p;
        } else if (strcmp(name, "--seed") == 0) {
            if (!parse_ul(val, 10, ULONG_MAX, &u)) {
                goto bad;
            }
            o->seed = (uint64_t)u;
        } else if (strcmp(name, "--parent-pid") == 0) {
            if (!parse_ul(val, 10, 0x7FFFFFFFul, &u) || u == 0ul) {
                fprintf(stderr, "virtual_mcu: --parent-pid takes a process id\n");
                return 0;
            }
            o->parent_pid = (long)u;
        } else if (strcmp(name, "--exit-after-ms") == 0) {
            if (!parse_ul(val, 10, (unsigned long)LONG_MAX, &u)) {
                goto bad;
            }
            o->exit_after_ms = (long)u;
        } else {
            fprintf(stderr, "virtual_mcu: unknown option %s\n", name);
            return 0;
        }
        continue;
    bad:
        fprintf(stderr, "virtual_mcu: bad value '%s' for %s\n", val, name);
        return 0;
    }
    if (o->link == NULL || *o->link == '\0') {
        fprintf(stderr, "virtual_mcu: --link PATH is required\n");
        return 0;
    }
    return 1;
}
