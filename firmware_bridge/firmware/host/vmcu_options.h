/*
 * virtual_mcu's command line: its options, their defaults and checks.
 */
#ifndef VMCU_OPTIONS_H
#define VMCU_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#define DEFAULT_FIRMWARE_ID "spikebox-vmcu/1"

typedef struct {
    const char *link;
    uint16_t watchdog_ms;
    const char *firmware_id;
    uint8_t proto_version;
    uint32_t schema_hash;
    double rx_fault_rate; /* per received byte */
    uint64_t seed;
    long exit_after_ms;   /* < 0: run until signalled */
    long parent_pid;      /* > 0: exit when this process is no longer our parent */
} options_t;

/* Prints the usage text to `to`. */
void vmcu_usage(FILE *to);

/* Fills `o` from argv ("--name value" or "--name=value"); --help prints the usage and
 * exits 0. Returns 0 on a usage error (said on stderr), else 1. */
int vmcu_parse_args(int argc, char **argv, options_t *o);

#endif
