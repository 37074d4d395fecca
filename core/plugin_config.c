/* plugin_config.c — see plugin_config.h. */
#include "plugin_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const imgate_config_key *plugin_config_find(const imgate_config_key *keys, const char *name)
{
    for (const imgate_config_key *k = keys; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

static int parse_number(const char *s, int allow_suffix, long long *out)
{
    if (s == NULL || *s == '\0' || !(isdigit((unsigned char)*s) || *s == '-'))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    /* A size is never negative; k and m must not overflow (a wrapped value could pass the range). */
    if (allow_suffix && (*end == 'k' || *end == 'K' || *end == 'm' || *end == 'M')) {
        long long unit = (*end == 'k' || *end == 'K') ? 1024 : 1024 * 1024;
        if (v < 0 || v > LLONG_MAX / unit)
            return -1;
        v *= unit;
        end++;
    }
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* The index of `value` among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *value)
{
    size_t vl = strlen(value);
    int i = 0;
    for (const char *p = choices; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vl && strncmp(p, value, len) == 0)
            return i;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    return -1;
}

int plugin_config_parse(const imgate_config_key *k, const char *value, long long *out, char *why, size_t whylen)
{
    long long v;
    switch (k->type) {
    case IMGATE_CFG_INT:
    case IMGATE_CFG_SIZE:
        if (parse_number(value, k->type == IMGATE_CFG_SIZE, &v) != 0 || v < k->min || v > k->max) {
            snprintf(why, whylen, "expected a number from %lld to %lld%s", k->min, k->max,
                     k->type == IMGATE_CFG_SIZE ? " (k/m suffixes allowed)" : "");
            return -1;
        }
        *out = v;
        return 0;
    case IMGATE_CFG_BOOL:
        if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1"))
            *out = 1;
        else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0"))
            *out = 0;
        else {
            snprintf(why, whylen, "expected yes or no");
            return -1;
        }
        return 0;
    case IMGATE_CFG_STRING:
        if (k->max > 0 && (long long)strlen(value) > k->max) {
            snprintf(why, whylen, "expected at most %lld bytes", k->max);
            return -1;
        }
        *out = 0;
        return 0;
    case IMGATE_CFG_ENUM: {
        int i = choice_index(k->choices, value);
        if (i < 0) {
            snprintf(why, whylen, "expected %s", k->choices ? k->choices : "(no choices declared)");
            return -1;
        }
        *out = i;
        return 0;
    }
    default:
        snprintf(why, whylen, "the plugin declares an unknown type %d", k->type);
        return -1;
    }
}

int plugin_config_check(const config *cfg, const char *plugin_name, const imgate_config_key *keys, char *err,
                        size_t errlen)
{
    char section[80];
    snprintf(section, sizeof section, "plugin.%s", plugin_name);
    for (size_t i = 0; i < cfg->n_entries; i++) {
        const config_entry *e = &cfg->entries[i];
        if (strcmp(e->section, section) != 0)
            continue;
        const imgate_config_key *k = plugin_config_find(keys, e->key);
        if (k == NULL) {
            snprintf(err, errlen, "%s:%d: unknown key '%s' in [%s]", cfg->path, e->line, e->key, section);
            return -1;
        }
        long long v;
        char why[160];
        if (plugin_config_parse(k, e->value, &v, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d: [%s] %s: %s, got '%s'", cfg->path, e->line, section, e->key, why,
                     e->value);
            return -1;
        }
    }
    return 0;
}
