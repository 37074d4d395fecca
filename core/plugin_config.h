/*
 * plugin_config.h — a plugin's declared configuration keys (imgate_config_key)
 * checked against its [plugin.NAME] section, and the parsed values the typed
 * getters return. Pure functions over a loaded config: the generation builder,
 * `imgated -t` and the unit tests use them.
 */
#ifndef IMGATE_PLUGIN_CONFIG_H
#define IMGATE_PLUGIN_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "imgate/plugin.h"

/* Checks every key of [plugin.NAME] against `keys` (NULL-name terminated).
 * Returns 0, or -1 with "FILE:LINE: reason" in err. */
int plugin_config_check(const config *cfg, const char *plugin_name, const imgate_config_key *keys, char *err,
                        size_t errlen);

/* The declaration of `name` in `keys`, or NULL. */
const imgate_config_key *plugin_config_find(const imgate_config_key *keys, const char *name);

/* Parses `value` as `k` declares it. Returns 0 with the number in *out (INT, SIZE, BOOL; ENUM: the
 * index of the choice), or -1 with the expectation ("a number from 1 to 10") in why. */
int plugin_config_parse(const imgate_config_key *k, const char *value, long long *out, char *why, size_t whylen);

#endif
