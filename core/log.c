/* log.c — see log.h. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

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
