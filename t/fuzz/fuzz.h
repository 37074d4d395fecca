/*
 * fuzz.h — the one entry point every fuzz target defines (libFuzzer's), and
 * what the corpus replayer needs to know about the target.
 *
 * Each target is built twice: with clang and -fsanitize=fuzzer by
 * scripts/fuzz, to search for new inputs; and with the normal compiler,
 * linked with replay.c, as a `make check` test that runs every input of the
 * target's corpus (t/fuzz/corpus/<name>/): a crash once found stays fixed.
 */
#ifndef IMGATE_FUZZ_H
#define IMGATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
