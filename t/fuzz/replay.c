/*
 * replay.c — runs a fuzz target over its corpus directory, one TAP line per
 * input: t/fuzz/corpus/FUZZ_TARGET/ under $top_srcdir. An input that crashes
 * (or trips a sanitizer in a sanitizer build) kills the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tap.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"name\""
#endif

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void)
{
    const char *top = getenv("top_srcdir");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/t/fuzz/corpus/%s", top ? top : ".", FUZZ_TARGET);
    DIR *d = opendir(dir);
    if (d == NULL)
        tap_bail("no corpus at %s", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    tap_ok(n > 0, "the %s corpus has %zu inputs", FUZZ_TARGET, n);
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        int c;
        while (f && (c = fgetc(f)) != EOF) {
            if (len == cap)
                buf = realloc(buf, cap = cap ? cap * 2 : 256);
            buf[len++] = (uint8_t)c;
        }
        if (f)
            fclose(f);
        LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *)"", len);
        tap_ok(1, "%s/%s", FUZZ_TARGET, names[i]);
        free(buf);
        free(names[i]);
    }
    free(names);
    return tap_done();
}
