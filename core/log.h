/*
 * log.h — levelled, one-line-per-event logging with key=value fields.
 * Safe from any thread (each line is written with a single locked stdio call).
 */
#ifndef IMGATE_LOG_H
#define IMGATE_LOG_H

#include <stdarg.h>

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Opens `path` for appending (NULL or "" = stderr) and sets the threshold.
 * Returns 0, or -1 with errno when the file cannot be opened. */
int log_open(const char *path, int level);
void log_set_level(int level);
int log_level(void);
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_close(void);

/* One line: `ts=... level=... comp=<component> <fields>`. */
void log_write(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_vwrite(int level, const char *component, const char *fmt, va_list ap);

/*
 * Lines a client or an outage can trigger at will go through log_limited: at
 * most `per_second` lines per second for `key` (a static token naming the
 * event) across the node and, when `source` (a client address) is given, at
 * most LOG_PER_SOURCE_PER_SECOND of them per source. A line that gets
 * through after others were dropped ends with suppressed=N; every dropped
 * line is counted in imgate_log_suppressed_total{key="..."}.
 */
#define LOG_PER_SOURCE_PER_SECOND 2
void log_limited(int level, const char *component, const char *key, const char *source, int per_second,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void log_vlimited(int level, const char *component, const char *key, const char *source, int per_second,
                  const char *fmt, va_list ap);

#define log_error(...) log_write(LOG_ERROR, "core", __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, "core", __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, "core", __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, "core", __VA_ARGS__)

#endif
