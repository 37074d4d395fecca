/*
 * fuzz_config.c — the configuration parser: arbitrary bytes as imgated.ini,
 * then a plugin's declared keys checked against it. Whatever the bytes,
 * loading either succeeds or fails with "FILE:LINE: reason", and never
 * crashes or leaks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "plugin_config.h"

static const imgate_config_key keys[] = {
    {"limit", IMGATE_CFG_INT, 1, 10, "5", NULL},     {"size", IMGATE_CFG_SIZE, 1024, 1048576, "64k", NULL},
    {"flag", IMGATE_CFG_BOOL, 0, 0, "no", NULL},     {"mode", IMGATE_CFG_ENUM, 0, 0, "fast", "fast|safe"},
    {"name", IMGATE_CFG_STRING, 0, 16, "x", NULL},   {NULL, 0, 0, 0, NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-ini", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[1024];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    config *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL) {
        if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
            __builtin_trap(); /* every refusal names the file (and a line) */
    } else {
        plugin_config_check(cfg, "kit", keys, err, sizeof err);
        for (size_t i = 0; i < cfg->n_entries; i++)
            config_lookup(cfg, cfg->entries[i].section, cfg->entries[i].key);
        config_free(cfg);
    }
    close(fd);
    return 0;
}
