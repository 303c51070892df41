/*
 * buf.h — a growable byte buffer with a cap, for everything fed by input
 * (request bodies, responses, headers): appending past the cap refuses the
 * bytes and remembers it (too_big), so the caller can say which limit was
 * hit instead of failing vaguely. The data is always NUL-terminated.
 */
#ifndef CF_BASE_BUF_H
#define CF_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cf_buf {
  char *data; /* NULL until the first byte */
  size_t len, cap;
  size_t max;   /* the cap on len */
  bool too_big; /* an append was refused for the cap */
} cf_buf;

/* Appends n bytes. false when they would pass max (too_big is then set)
 * or memory ran out. */
bool cf_buf_add(cf_buf *b, const void *data, size_t n);

/* Frees the data; the buffer is empty again (max kept). */
void cf_buf_clear(cf_buf *b);

#endif
