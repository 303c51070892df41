/*
 * fuzz_flow.c — workflow definitions under arbitrary input.
 *
 * Input: the bytes of a definition, parsed with the action specs the unit
 * tests use (tests/flow/support.h), under the default limits and under
 * small ones (so that the count and nesting limits are reached too).
 *
 * Invariants (CHECK, which aborts):
 *  - a parse either succeeds, and then every invariant flow.h promises
 *    holds (checked by support_invariants, written apart from src/flow/),
 *    or fails with CF_E_INVALID or CF_E_TOO_LARGE, no flow, and at least
 *    one problem whose path and message are NUL-terminated in their
 *    fields; the formatted list is terminated at every capacity;
 *  - the verdict and the problems depend only on the bytes: parsing again
 *    gives the same;
 *  - nothing leaks (ASan's leak check at exit).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/flow/support.h"
#include "flow/flow.h"
#include "fuzz.h"

static void check_problems(const flow_problems *p) {
  CHECK(p->count >= 1 && p->count <= FLOW_MAX_PROBLEMS);
  for (int i = 0; i < p->count; i++) {
    CHECK(strnlen(p->items[i].path, sizeof p->items[i].path) < sizeof p->items[i].path);
    CHECK(strnlen(p->items[i].message, sizeof p->items[i].message) < sizeof p->items[i].message);
    CHECK(p->items[i].message[0] != '\0');
  }
  /* Cut at several capacities, each exactly that large for ASan. */
  static const size_t caps[] = {1, 7, 100, 4096};
  for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
    char *buf = malloc(caps[i]);
    CHECK(buf != NULL);
    flow_problems_format(p, buf, caps[i]);
    CHECK(strnlen(buf, caps[i]) < caps[i]);
    free(buf);
  }
}

static void same_problems(const flow_problems *a, const flow_problems *b) {
  CHECK(a->count == b->count && a->truncated == b->truncated);
  for (int i = 0; i < a->count; i++) {
    CHECK(strcmp(a->items[i].path, b->items[i].path) == 0);
    CHECK(strcmp(a->items[i].message, b->items[i].message) == 0);
  }
}

static void run(const char *text, size_t len, const flow_limits *lim) {
  flow *f = NULL;
  flow_problems p;
  cf_err rc = flow_parse(text, len, lim, support_actions, SUPPORT_N_ACTIONS, &f, &p);
  if (rc == CF_OK) {
    char why[256];
    CHECK(f != NULL);
    if (!support_invariants(f, why, sizeof why)) {
      fprintf(stderr, "invariant: %s\n", why);
      CHECK(!"a parsed flow keeps every invariant");
    }
    flow_free(f);
  } else {
    CHECK(rc == CF_E_INVALID || rc == CF_E_TOO_LARGE);
    CHECK(f == NULL);
    check_problems(&p);
  }
  flow *again = NULL;
  flow_problems q;
  CHECK(flow_parse(text, len, lim, support_actions, SUPPORT_N_ACTIONS, &again, &q) == rc);
  if (rc == CF_OK)
    flow_free(again);
  else
    same_problems(&p, &q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: the parser must not read past len, nor need a
   * terminating NUL. */
  char *text = malloc(size ? size : 1);
  if (!text)
    return 0;
  if (size)
    memcpy(text, data, size);
  run(text, size, NULL);
  flow_limits small = {.max_bytes = 2048, .max_nodes = 4, .max_edges = 4, .max_json_depth = 6};
  run(text, size, &small);
  free(text);
  return 0;
}
