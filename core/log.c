/* log.c — see log.h. */
#include "log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "metrics.h"

static FILE *log_stream;
static int log_threshold = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_open(const char *path, int level)
{
    log_threshold = level;
    if (path == NULL || path[0] == '\0') {
        log_stream = NULL;
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    if (log_stream != NULL)
        fclose(log_stream);
    log_stream = f;
    return 0;
}

void log_set_level(int level) { log_threshold = level; }
int log_level(void) { return log_threshold; }

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void log_close(void)
{
    if (log_stream != NULL)
        fclose(log_stream);
    log_stream = NULL;
}

void log_vwrite(int level, const char *component, const char *fmt, va_list ap)
{
    if (level > log_threshold)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s comp=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level < 0 ? 0 : level > 3 ? 3 : level], component);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* One call per line: stdio locks the stream, so lines from threads never interleave. */
    fprintf(log_stream != NULL ? log_stream : stderr, "%s\n", line);
}

void log_write(int level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, component, fmt, ap);
    va_end(ap);
}

/* --- rate-limited lines ------------------------------------------------------------------------ */

#define KEY_SLOTS 256
#define SOURCE_SLOTS 4096

typedef struct key_window {
    char key[48];
    time_t second;
    int count;
    uint64_t suppressed;       /* dropped since the last line written */
    metric_series *dropped;    /* imgate_log_suppressed_total{key=...} */
} key_window;

typedef struct source_window {
    uint32_t hash;
    time_t second;
    int count;
} source_window;

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static key_window keys[KEY_SLOTS];
/* Bounded whatever the number of sources: colliding sources share a slot (and a budget). */
static source_window sources[SOURCE_SLOTS];

static uint32_t fnv(const char *s, uint32_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Caller holds limit_lock. NULL when the table is full (then the key is not limited). */
static key_window *key_slot(const char *key)
{
    uint32_t h = fnv(key, 2166136261u);
    for (unsigned i = 0; i < KEY_SLOTS; i++) {
        key_window *k = &keys[(h + i) % KEY_SLOTS];
        if (k->key[0] == '\0') {
            snprintf(k->key, sizeof k->key, "%s", key);
            char labels[80];
            snprintf(labels, sizeof labels, "key=\"%s\"", k->key);
            k->dropped = metrics_counter("imgate_log_suppressed_total", labels);
            return k;
        }
        if (strncmp(k->key, key, sizeof k->key - 1) == 0)
            return k;
    }
    return NULL;
}

/* 1 when the line may be written; *suppressed = lines of this key dropped before it. */
static int allow(const char *key, const char *source, int per_second, uint64_t *suppressed)
{
    time_t now = time(NULL);
    int ok = 1;
    *suppressed = 0;
    pthread_mutex_lock(&limit_lock);
    key_window *k = key_slot(key);
    if (k != NULL) {
        if (k->second != now) {
            k->second = now;
            k->count = 0;
        }
        if (k->count >= per_second)
            ok = 0;
        if (ok && source != NULL) {
            source_window *s = &sources[fnv(source, fnv(key, 2166136261u)) % SOURCE_SLOTS];
            uint32_t sh = fnv(source, 0);
            if (s->hash != sh || s->second != now) {
                s->hash = sh;
                s->second = now;
                s->count = 0;
            }
            if (s->count >= LOG_PER_SOURCE_PER_SECOND)
                ok = 0;
            else
                s->count++;
        }
        if (ok) {
            k->count++;
            *suppressed = k->suppressed;
            k->suppressed = 0;
        } else {
            k->suppressed++;
            metrics_inc(k->dropped, 1);
        }
    }
    pthread_mutex_unlock(&limit_lock);
    return ok;
}

void log_vlimited(int level, const char *component, const char *key, const char *source, int per_second,
                  const char *fmt, va_list ap)
{
    if (level > log_threshold)
        return;
    uint64_t suppressed;
    if (!allow(key, source, per_second < 1 ? 1 : per_second, &suppressed))
        return;
    if (suppressed == 0) {
        log_vwrite(level, component, fmt, ap);
        return;
    }
    char body[1800];
    vsnprintf(body, sizeof body, fmt, ap);
    log_write(level, component, "%s suppressed=%llu", body, (unsigned long long)suppressed);
}

void log_limited(int level, const char *component, const char *key, const char *source, int per_second,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vlimited(level, component, key, source, per_second, fmt, ap);
    va_end(ap);
}
