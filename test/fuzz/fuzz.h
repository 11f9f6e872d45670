/*
 * fuzz.h: the entry point every fuzz target defines (libFuzzer's), so that
 * the same target file links with libFuzzer (script/fuzz) or with
 * test/fuzz/replay.c, which feeds it the committed seeds and regression
 * inputs under make check.
 */
#ifndef CONDUIT_FUZZ_H
#define CONDUIT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
