/*
 * buf.c — the capped growable buffer (buf.h). Capacity doubles from 4 KiB,
 * so appending n bytes in any pieces costs O(n).
 */
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

bool cf_buf_add(cf_buf *b, const void *data, size_t n) {
  if (n > b->max || b->len > b->max - n) {
    b->too_big = true;
    return false;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
      return false;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return true;
}

void cf_buf_clear(cf_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->too_big = false;
}
