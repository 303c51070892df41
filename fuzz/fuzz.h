/*
 * fuzz.h — the entry point every fuzz target defines, and its CHECK.
 *
 * Each fuzz/fuzz_<name>.c is linked twice: with libFuzzer (clang
 * -fsanitize=fuzzer, `make fuzz`) to search for crashes, and with
 * replay_main.c (gcc ASan+UBSan, `make test`) to replay its checked-in corpus
 * fuzz/corpus/<name>/ as part of the normal test run. A target reports a
 * broken invariant with CHECK, which aborts; it must never exit, print on
 * success, or keep state that changes its verdict on a later input.
 */
#ifndef CF_FUZZ_FUZZ_H
#define CF_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; returns 0 (libFuzzer's contract). Aborts on a defect. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops on a broken invariant, saying which one (gcc's abort() alone
 * leaves no trace of where it came from). */
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#endif
