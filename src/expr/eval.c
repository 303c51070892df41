/*
 * eval.c — evaluates compiled templates: operators, member access, text
 * conversion and the compact JSON writer shared with the functions.
 *
 * Every evaluation carries an expr_ctx on the caller's stack: the step
 * counter, the size cap and where to write an error. Each node evaluated
 * costs a step, and functions charge for the elements and bytes they touch,
 * so an evaluation always ends within its budget; recursion is bounded by
 * the tree's height, which the parser capped. Values are jansson values;
 * every function here returns a new reference through *out and, on error,
 * leaves *out NULL and owns nothing. Nothing here writes to a value it did
 * not create in the same call, so shared templates and environments stay
 * untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

/* Values nest at most this deep when written as text (jansson's own parser
 * stops at 2048; the rest is for literals wrapped around them). */
#define WRITE_DEPTH_MAX 4096

void expr_ctx_init(expr_ctx *c, const expr_env *env, expr_error *err) {
  const expr_limits *lim = env ? env->lim : NULL;
  c->env = env;
  c->err = err;
  c->steps = 0;
  c->max_steps = lim && lim->max_steps ? lim->max_steps : EXPR_DEFAULT_STEPS;
  c->max_value = lim && lim->max_value_size ? lim->max_value_size : EXPR_DEFAULT_VALUE;
  if (err) {
    err->column = 0;
    err->message[0] = '\0';
  }
}

__attribute__((format(printf, 4, 0))) static cf_err vfail(expr_ctx *c, cf_err rc, size_t column,
                                                          const char *fmt, va_list ap) {
  if (!c->err)
    return rc;
  char detail[200];
  vsnprintf(detail, sizeof detail, fmt, ap);
  c->err->column = column;
  if (column)
    snprintf(c->err->message, sizeof c->err->message, "column %zu: %s", column, detail);
  else
    snprintf(c->err->message, sizeof c->err->message, "%s", detail);
  expr_message_clean(c->err->message);
  return rc;
}

cf_err expr_fail(expr_ctx *c, size_t column, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cf_err rc = vfail(c, CF_E_INVALID, column, fmt, ap);
  va_end(ap);
  return rc;
}

cf_err expr_too_large(expr_ctx *c, size_t column, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cf_err rc = vfail(c, CF_E_TOO_LARGE, column, fmt, ap);
  va_end(ap);
  return rc;
}

cf_err expr_nomem(expr_ctx *c) {
  if (c->err) {
    c->err->column = 0;
    snprintf(c->err->message, sizeof c->err->message, "out of memory");
  }
  return CF_E_NOMEM;
}

cf_err expr_step(expr_ctx *c, size_t column, uint64_t n) {
  if (n > c->max_steps - c->steps || c->steps + n > c->max_steps) {
    c->steps = c->max_steps;
    return expr_too_large(c, column, "the evaluation takes more than %llu steps",
                          (unsigned long long)c->max_steps);
  }
  c->steps += n;
  return CF_OK;
}

cf_err expr_check_size(expr_ctx *c, size_t column, size_t bytes) {
  if (bytes > c->max_value)
    return expr_too_large(c, column, "the value would be larger than %zu bytes", c->max_value);
  return CF_OK;
}

/* ---------------------------------------------------------------- buffers */

cf_err expr_buf_add(expr_ctx *c, size_t column, expr_buf *b, const char *s, size_t n) {
  if (n == 0)
    return CF_OK;
  if (n > c->max_value || b->len > c->max_value - n)
    return expr_check_size(c, column, c->max_value + 1);
  cf_err rc = expr_step(c, column, n / EXPR_BYTES_PER_STEP);
  if (rc != CF_OK)
    return rc;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
      return expr_nomem(c);
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return CF_OK;
}

cf_err expr_buf_take(expr_ctx *c, expr_buf *b, json_t **out) {
  /* Every byte came from valid UTF-8 strings cut at code points. */
  *out = json_stringn_nocheck(b->data ? b->data : "", b->len);
  expr_buf_free(b);
  return *out ? CF_OK : expr_nomem(c);
}

void expr_buf_free(expr_buf *b) {
  free(b->data);
  *b = (expr_buf){0};
}

/* The shortest text that reads back as the same double, JSON-shaped. */
static size_t format_real(double d, char buf[40]) {
  int n = 0;
  for (int prec = 1; prec <= 17; prec++) {
    n = snprintf(buf, 40, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  if (!strpbrk(buf, ".eE")) {
    memcpy(buf + n, ".0", 3);
    n += 2;
  }
  return (size_t)n;
}

static cf_err add_scalar_text(expr_ctx *c, size_t column, expr_buf *b, const json_t *v) {
  char num[40];
  switch (json_typeof(v)) {
  case JSON_TRUE: return expr_buf_add(c, column, b, "true", 4);
  case JSON_FALSE: return expr_buf_add(c, column, b, "false", 5);
  case JSON_NULL: return expr_buf_add(c, column, b, "null", 4);
  case JSON_INTEGER: {
    int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return expr_buf_add(c, column, b, num, (size_t)n);
  }
  case JSON_REAL: return expr_buf_add(c, column, b, num, format_real(json_real_value(v), num));
  default: return CF_OK;
  }
}

static cf_err add_json_string(expr_ctx *c, size_t column, expr_buf *b, const char *s, size_t n) {
  cf_err rc = expr_buf_add(c, column, b, "\"", 1);
  size_t run = 0; /* bytes copied as they are, pending */
  for (size_t i = 0; i < n && rc == CF_OK; i++) {
    unsigned char u = (unsigned char)s[i];
    if (u >= 0x20 && u != '"' && u != '\\')
      continue;
    rc = expr_buf_add(c, column, b, s + run, i - run);
    run = i + 1;
    char esc[8];
    const char *short_form = u == '"'    ? "\\\""
                             : u == '\\' ? "\\\\"
                             : u == '\n' ? "\\n"
                             : u == '\t' ? "\\t"
                             : u == '\r' ? "\\r"
                                         : NULL;
    if (!short_form) {
      snprintf(esc, sizeof esc, "\\u%04x", u);
      short_form = esc;
    }
    if (rc == CF_OK)
      rc = expr_buf_add(c, column, b, short_form, strlen(short_form));
  }
  if (rc == CF_OK)
    rc = expr_buf_add(c, column, b, s + run, n - run);
  if (rc == CF_OK)
    rc = expr_buf_add(c, column, b, "\"", 1);
  return rc;
}

static cf_err add_json(expr_ctx *c, size_t column, expr_buf *b, const json_t *v, int depth) {
  if (depth > WRITE_DEPTH_MAX)
    return expr_too_large(c, column, "the value nests more than %d levels deep", WRITE_DEPTH_MAX);
  cf_err rc = expr_step(c, column, 1);
  if (rc != CF_OK)
    return rc;
  if (json_is_string(v))
    return add_json_string(c, column, b, json_string_value(v), json_string_length(v));
  if (json_is_array(v)) {
    rc = expr_buf_add(c, column, b, "[", 1);
    for (size_t i = 0; i < json_array_size(v) && rc == CF_OK; i++) {
      if (i)
        rc = expr_buf_add(c, column, b, ",", 1);
      if (rc == CF_OK)
        rc = add_json(c, column, b, json_array_get(v, i), depth + 1);
    }
    return rc == CF_OK ? expr_buf_add(c, column, b, "]", 1) : rc;
  }
  if (json_is_object(v)) {
    rc = expr_buf_add(c, column, b, "{", 1);
    const char *key;
    size_t key_len;
    json_t *member;
    bool first = true;
    json_object_keylen_foreach((json_t *)v, key, key_len, member) {
      if (rc != CF_OK)
        break;
      if (!first)
        rc = expr_buf_add(c, column, b, ",", 1);
      first = false;
      if (rc == CF_OK)
        rc = add_json_string(c, column, b, key, key_len);
      if (rc == CF_OK)
        rc = expr_buf_add(c, column, b, ":", 1);
      if (rc == CF_OK)
        rc = add_json(c, column, b, member, depth + 1);
    }
    return rc == CF_OK ? expr_buf_add(c, column, b, "}", 1) : rc;
  }
  return add_scalar_text(c, column, b, v);
}

cf_err expr_buf_add_json(expr_ctx *c, size_t column, expr_buf *b, const json_t *v) {
  return add_json(c, column, b, v, 0);
}

cf_err expr_buf_add_text(expr_ctx *c, size_t column, expr_buf *b, const json_t *v) {
  if (json_is_string(v))
    return expr_buf_add(c, column, b, json_string_value(v), json_string_length(v));
  if (json_is_null(v))
    return CF_OK;
  return add_json(c, column, b, v, 0);
}

/* ------------------------------------------------------------------ values */

const char *expr_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER:
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

const char *expr_type_article(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  default: return "null";
  }
}

bool expr_truthy(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_FALSE:
  case JSON_NULL: return false;
  case JSON_INTEGER: return json_integer_value(v) != 0;
  case JSON_REAL: return json_real_value(v) != 0.0;
  case JSON_STRING: return json_string_length(v) != 0;
  default: return v != NULL;
  }
}

bool expr_equal(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b)) {
    if (json_is_integer(a) && json_is_integer(b))
      return json_integer_value(a) == json_integer_value(b);
    return json_number_value(a) == json_number_value(b);
  }
  if (json_typeof(a) != json_typeof(b))
    return false;
  if (json_is_string(a))
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b))
      return false;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!expr_equal(json_array_get(a, i), json_array_get(b, i)))
        return false;
    return true;
  }
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b))
      return false;
    const char *key;
    size_t key_len;
    json_t *member;
    json_object_keylen_foreach((json_t *)a, key, key_len, member) {
      json_t *other = json_object_getn(b, key, key_len);
      if (!other || !expr_equal(member, other))
        return false;
    }
    return true;
  }
  return true; /* true, false, null */
}

size_t expr_utf8_count(const char *s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    count += ((unsigned char)s[i] & 0xC0) != 0x80;
  return count;
}

size_t expr_utf8_offset(const char *s, size_t n, size_t index) {
  size_t i = 0;
  for (size_t seen = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80 && seen++ == index)
      return i;
  return n;
}

/* ------------------------------------------------------------------ numbers */

cf_err expr_real(expr_ctx *c, size_t column, double d, json_t **out) {
  if (!isfinite(d))
    return expr_fail(c, column, "the result is not a finite number");
  *out = json_real(d);
  return *out ? CF_OK : expr_nomem(c);
}

static cf_err integer(expr_ctx *c, json_int_t i, json_t **out) {
  *out = json_integer(i);
  return *out ? CF_OK : expr_nomem(c);
}

cf_err expr_add_numbers(expr_ctx *c, size_t column, const json_t *a, const json_t *b,
                        json_t **out) {
  long long sum;
  if (json_is_integer(a) && json_is_integer(b) &&
      !__builtin_add_overflow(json_integer_value(a), json_integer_value(b), &sum))
    return integer(c, sum, out);
  return expr_real(c, column, json_number_value(a) + json_number_value(b), out);
}

cf_err expr_divide(expr_ctx *c, size_t column, const json_t *a, const json_t *b, json_t **out) {
  if (json_number_value(b) == 0.0)
    return expr_fail(c, column, "division by zero");
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    /* INT64_MIN / -1 does not fit; the real division below handles it. */
    if (!(y == -1 && x == INT64_MIN) && x % y == 0)
      return integer(c, x / y, out);
  }
  return expr_real(c, column, json_number_value(a) / json_number_value(b), out);
}

static cf_err arithmetic(expr_ctx *c, const expr_node *n, const json_t *a, const json_t *b,
                         json_t **out) {
  if (n->op == '+')
    return expr_add_numbers(c, n->column, a, b, out);
  if (n->op == '/')
    return expr_divide(c, n->column, a, b, out);
  bool ints = json_is_integer(a) && json_is_integer(b);
  json_int_t x = json_integer_value(a), y = json_integer_value(b);
  long long r;
  if (n->op == '-') {
    if (ints && !__builtin_sub_overflow(x, y, &r))
      return integer(c, r, out);
    return expr_real(c, n->column, json_number_value(a) - json_number_value(b), out);
  }
  if (n->op == '*') {
    if (ints && !__builtin_mul_overflow(x, y, &r))
      return integer(c, r, out);
    return expr_real(c, n->column, json_number_value(a) * json_number_value(b), out);
  }
  /* '%': the sign of the dividend, as in JavaScript. */
  if (json_number_value(b) == 0.0)
    return expr_fail(c, n->column, "modulo by zero");
  if (ints)
    return integer(c, y == -1 ? 0 : x % y, out);
  return expr_real(c, n->column, fmod(json_number_value(a), json_number_value(b)), out);
}

/* <0, 0, >0 for two numbers or two strings; *ok false for other pairs. */
static int compare(const json_t *a, const json_t *b, bool *ok) {
  *ok = true;
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return (x > y) - (x < y);
  }
  if (json_is_number(a) && json_is_number(b)) {
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
  }
  if (json_is_string(a) && json_is_string(b)) {
    size_t la = json_string_length(a), lb = json_string_length(b);
    int r = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    return r ? r : (la > lb) - (la < lb);
  }
  *ok = false;
  return 0;
}

static const char *op_text(int op, char buf[4]) {
  switch (op) {
  case EXPR_OP_LE: return "<=";
  case EXPR_OP_GE: return ">=";
  default: buf[0] = (char)op, buf[1] = '\0'; return buf;
  }
}

static cf_err concat_arrays(expr_ctx *c, size_t column, const json_t *a, const json_t *b,
                            json_t **out) {
  size_t n = json_array_size(a) + json_array_size(b);
  cf_err rc = expr_check_size(c, column, n * EXPR_BYTES_PER_ELEMENT);
  if (rc == CF_OK)
    rc = expr_step(c, column, n);
  if (rc != CF_OK)
    return rc;
  json_t *r = json_array();
  if (!r || json_array_extend(r, (json_t *)a) || json_array_extend(r, (json_t *)b)) {
    json_decref(r);
    return expr_nomem(c);
  }
  *out = r;
  return CF_OK;
}

static cf_err plus(expr_ctx *c, const expr_node *n, const json_t *a, const json_t *b,
                   json_t **out) {
  if (json_is_string(a) || json_is_string(b)) {
    expr_buf buf = {0};
    cf_err rc = expr_buf_add_text(c, n->column, &buf, a);
    if (rc == CF_OK)
      rc = expr_buf_add_text(c, n->column, &buf, b);
    if (rc != CF_OK) {
      expr_buf_free(&buf);
      return rc;
    }
    return expr_buf_take(c, &buf, out);
  }
  if (json_is_number(a) && json_is_number(b))
    return expr_add_numbers(c, n->column, a, b, out);
  if (json_is_array(a) && json_is_array(b))
    return concat_arrays(c, n->column, a, b, out);
  return expr_fail(c, n->column, "cannot add %s and %s", expr_type_article(a),
                   expr_type_article(b));
}

static cf_err apply_binary(expr_ctx *c, const expr_node *n, const json_t *a, const json_t *b,
                           json_t **out) {
  char buf[4];
  bool ok;
  int r;
  switch (n->op) {
  case '+': return plus(c, n, a, b, out);
  case '-':
  case '*':
  case '/':
  case '%':
    if (!json_is_number(a) || !json_is_number(b))
      return expr_fail(c, n->column, "cannot apply '%s' to %s and %s", op_text(n->op, buf),
                       expr_type_article(a), expr_type_article(b));
    return arithmetic(c, n, a, b, out);
  case EXPR_OP_EQ: *out = json_boolean(expr_equal(a, b)); return CF_OK;
  case EXPR_OP_NE: *out = json_boolean(!expr_equal(a, b)); return CF_OK;
  default:
    r = compare(a, b, &ok);
    if (!ok)
      return expr_fail(c, n->column, "cannot compare %s with %s", expr_type_article(a),
                       expr_type_article(b));
    *out = json_boolean(n->op == '<'          ? r < 0
                        : n->op == '>'        ? r > 0
                        : n->op == EXPR_OP_LE ? r <= 0
                                              : r >= 0);
    return CF_OK;
  }
}

/* ------------------------------------------------------------- evaluation */

static cf_err eval_binary(expr_ctx *c, const expr_node *n, json_t **out) {
  json_t *a, *b;
  cf_err rc = expr_eval_node(c, n->kids[0], &a);
  if (rc != CF_OK)
    return rc;
  /* && || ?? give one of their operands, evaluating the right one only
   * when it decides. */
  bool left_decides = n->op == EXPR_OP_AND        ? !expr_truthy(a)
                      : n->op == EXPR_OP_OR       ? expr_truthy(a)
                      : n->op == EXPR_OP_COALESCE ? !json_is_null(a)
                                                  : false;
  if (left_decides) {
    *out = a;
    return CF_OK;
  }
  if (n->op == EXPR_OP_AND || n->op == EXPR_OP_OR || n->op == EXPR_OP_COALESCE) {
    json_decref(a);
    return expr_eval_node(c, n->kids[1], out);
  }
  rc = expr_eval_node(c, n->kids[1], &b);
  if (rc != CF_OK) {
    json_decref(a);
    return rc;
  }
  rc = apply_binary(c, n, a, b, out);
  json_decref(a);
  json_decref(b);
  return rc;
}

static cf_err eval_unary(expr_ctx *c, const expr_node *n, json_t **out) {
  json_t *v;
  cf_err rc = expr_eval_node(c, n->kids[0], &v);
  if (rc != CF_OK)
    return rc;
  if (n->op == '!') {
    *out = json_boolean(!expr_truthy(v));
  } else if (json_is_integer(v) && json_integer_value(v) != INT64_MIN) {
    rc = integer(c, -json_integer_value(v), out);
  } else if (json_is_number(v)) {
    rc = expr_real(c, n->column, -json_number_value(v), out);
  } else {
    rc = expr_fail(c, n->column, "cannot negate %s", expr_type_article(v));
  }
  json_decref(v);
  return rc;
}

static json_t *borrowed(json_t *v) {
  return v ? json_incref(v) : json_null();
}

/* The length of an array (elements) or a string (code points). */
static json_t *length_of(const json_t *v) {
  if (json_is_array(v))
    return json_integer((json_int_t)json_array_size(v));
  return json_integer((json_int_t)expr_utf8_count(json_string_value(v), json_string_length(v)));
}

static cf_err eval_member(expr_ctx *c, const expr_node *n, json_t **out) {
  json_t *v;
  cf_err rc = expr_eval_node(c, n->kids[0], &v);
  if (rc != CF_OK)
    return rc;
  const char *key = json_string_value(n->value);
  size_t key_len = json_string_length(n->value);
  if (json_is_object(v)) {
    *out = borrowed(json_object_getn(v, key, key_len));
  } else if ((json_is_array(v) || json_is_string(v)) && strcmp(key, "length") == 0) {
    *out = length_of(v);
  } else if (json_is_array(v) || json_is_string(v) || json_is_null(v)) {
    *out = json_null();
  } else {
    rc = expr_fail(c, n->column, "cannot read '%.40s' of %s", key, expr_type_article(v));
  }
  json_decref(v);
  if (rc == CF_OK && !*out)
    rc = expr_nomem(c);
  return rc;
}

/* An integral number as an index; false for anything else. */
static bool as_index(const json_t *v, long long *out) {
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return true;
  }
  double d = json_real_value(v);
  if (json_is_real(v) && d == floor(d) && fabs(d) < 9e15) {
    *out = (long long)d;
    return true;
  }
  return false;
}

static json_t *index_value(const json_t *v, long long i) {
  size_t n = json_is_array(v) ? json_array_size(v)
                              : expr_utf8_count(json_string_value(v), json_string_length(v));
  if (i < 0)
    i += (long long)n;
  if (i < 0 || (unsigned long long)i >= n)
    return json_null();
  if (json_is_array(v))
    return json_incref(json_array_get(v, (size_t)i));
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  size_t from = expr_utf8_offset(s, len, (size_t)i);
  size_t to = expr_utf8_offset(s, len, (size_t)i + 1);
  return json_stringn_nocheck(s + from, to - from);
}

static cf_err eval_index(expr_ctx *c, const expr_node *n, json_t **out) {
  json_t *v, *k;
  cf_err rc = expr_eval_node(c, n->kids[0], &v);
  if (rc != CF_OK)
    return rc;
  rc = expr_eval_node(c, n->kids[1], &k);
  if (rc != CF_OK) {
    json_decref(v);
    return rc;
  }
  long long i;
  *out = NULL;
  if (json_is_null(v)) {
    *out = json_null();
  } else if (json_is_object(v)) {
    if (json_is_string(k))
      *out = borrowed(json_object_getn(v, json_string_value(k), json_string_length(k)));
    else if (json_is_null(k))
      *out = json_null();
    else
      rc = expr_fail(c, n->column, "an object's keys are strings, not %s", expr_type_name(k));
  } else if (json_is_array(v) || json_is_string(v)) {
    if (json_is_string(v))
      rc = expr_step(c, n->column, json_string_length(v) / EXPR_BYTES_PER_STEP);
    if (rc == CF_OK)
      *out = as_index(k, &i) ? index_value(v, i) : json_null();
  } else {
    rc = expr_fail(c, n->column, "cannot index into %s", expr_type_article(v));
  }
  json_decref(v);
  json_decref(k);
  if (rc == CF_OK && !*out)
    rc = expr_nomem(c);
  return rc;
}

/* Array literals; object literals, whose kids alternate key and value. */
static cf_err eval_literal_container(expr_ctx *c, const expr_node *n, json_t **out) {
  bool object = n->kind == EXPR_OBJECT;
  size_t stride = object ? 2 : 1;
  cf_err rc = expr_check_size(c, n->column, n->nkids / stride * EXPR_BYTES_PER_ELEMENT);
  json_t *r = rc != CF_OK ? NULL : object ? json_object() : json_array();
  if (rc == CF_OK && !r)
    rc = expr_nomem(c);
  for (size_t i = stride - 1; i < n->nkids && rc == CF_OK; i += stride) {
    json_t *v;
    const json_t *key = object ? n->kids[i - 1]->value : NULL;
    rc = expr_eval_node(c, n->kids[i], &v);
    if (rc == CF_OK &&
        (key ? json_object_setn_new_nocheck(r, json_string_value(key), json_string_length(key), v)
             : json_array_append_new(r, v)))
      rc = expr_nomem(c);
  }
  if (rc != CF_OK) {
    json_decref(r);
    return rc;
  }
  *out = r;
  return CF_OK;
}

static cf_err eval_call(expr_ctx *c, const expr_node *n, json_t **out) {
  json_t *local[8];
  json_t **args = n->nkids <= 8 ? local : calloc(n->nkids, sizeof *args);
  if (!args)
    return expr_nomem(c);
  size_t done = 0;
  cf_err rc = CF_OK;
  for (; done < n->nkids && rc == CF_OK; done++)
    rc = expr_eval_node(c, n->kids[done], &args[done]);
  if (rc != CF_OK)
    done--; /* the failed one holds nothing */
  else
    rc = n->func->run(c, n, args, n->nkids, out);
  for (size_t i = 0; i < done; i++)
    json_decref(args[i]);
  if (args != local)
    free(args);
  return rc;
}

static cf_err eval_root(expr_ctx *c, const expr_node *n, json_t **out) {
  json_t *v = NULL;
  if (c->env && c->env->lookup)
    v = c->env->lookup(c->env->ctx, n->name);
  *out = borrowed(v);
  return CF_OK;
}

cf_err expr_eval_node(expr_ctx *c, const expr_node *n, json_t **out) {
  *out = NULL;
  cf_err rc = expr_step(c, n->column, 1);
  if (rc != CF_OK)
    return rc;
  switch (n->kind) {
  case EXPR_LITERAL: *out = json_incref(n->value); return CF_OK;
  case EXPR_ROOT: return eval_root(c, n, out);
  case EXPR_MEMBER: return eval_member(c, n, out);
  case EXPR_INDEX: return eval_index(c, n, out);
  case EXPR_UNARY: return eval_unary(c, n, out);
  case EXPR_BINARY: return eval_binary(c, n, out);
  case EXPR_COND: {
    json_t *cond;
    rc = expr_eval_node(c, n->kids[0], &cond);
    if (rc != CF_OK)
      return rc;
    bool yes = expr_truthy(cond);
    json_decref(cond);
    return expr_eval_node(c, n->kids[yes ? 1 : 2], out);
  }
  case EXPR_ARRAY:
  case EXPR_OBJECT: return eval_literal_container(c, n, out);
  case EXPR_CALL: return eval_call(c, n, out);
  }
  return expr_fail(c, n->column, "unknown kind of expression");
}

cf_err expr_tmpl_eval(const expr_tmpl *t, const expr_env *env, json_t **out, expr_error *err) {
  expr_ctx c;
  expr_ctx_init(&c, env, err);
  *out = NULL;
  if (t->single) {
    for (size_t i = 0; i < t->nparts; i++)
      if (t->parts[i].expr)
        return expr_eval_node(&c, t->parts[i].expr, out);
  }
  if (t->nparts == 1 && t->parts[0].text) {
    *out = json_incref(t->parts[0].text);
    return CF_OK;
  }
  expr_buf b = {0};
  cf_err rc = CF_OK;
  for (size_t i = 0; i < t->nparts && rc == CF_OK; i++) {
    const expr_part *part = &t->parts[i];
    if (part->text) {
      rc = expr_buf_add(&c, 0, &b, json_string_value(part->text), json_string_length(part->text));
      continue;
    }
    json_t *v;
    rc = expr_eval_node(&c, part->expr, &v);
    if (rc == CF_OK) {
      rc = expr_buf_add_text(&c, part->expr->column, &b, v);
      json_decref(v);
    }
  }
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(&c, &b, out);
}

/* Adds text with the five characters HTML gives meaning to escaped. */
static cf_err add_html_escaped(expr_ctx *c, size_t column, expr_buf *b, const char *s, size_t n) {
  cf_err rc = CF_OK;
  size_t run = 0;
  for (size_t i = 0; i < n && rc == CF_OK; i++) {
    const char *esc = s[i] == '&'    ? "&amp;"
                      : s[i] == '<'  ? "&lt;"
                      : s[i] == '>'  ? "&gt;"
                      : s[i] == '"'  ? "&quot;"
                      : s[i] == '\'' ? "&#39;"
                                     : NULL;
    if (!esc)
      continue;
    rc = expr_buf_add(c, column, b, s + run, i - run);
    if (rc == CF_OK)
      rc = expr_buf_add(c, column, b, esc, strlen(esc));
    run = i + 1;
  }
  return rc == CF_OK ? expr_buf_add(c, column, b, s + run, n - run) : rc;
}

cf_err expr_tmpl_eval_html(const expr_tmpl *t, const expr_env *env, json_t **out, expr_error *err) {
  expr_ctx c;
  expr_ctx_init(&c, env, err);
  *out = NULL;
  expr_buf b = {0};
  cf_err rc = CF_OK;
  for (size_t i = 0; i < t->nparts && rc == CF_OK; i++) {
    const expr_part *part = &t->parts[i];
    if (part->text) {
      rc = expr_buf_add(&c, 0, &b, json_string_value(part->text), json_string_length(part->text));
      continue;
    }
    json_t *v;
    rc = expr_eval_node(&c, part->expr, &v);
    if (rc != CF_OK)
      break;
    const expr_node *n = part->expr;
    if (n->kind == EXPR_CALL && n->func && strcmp(n->func->name, "raw") == 0) {
      rc = expr_buf_add_text(&c, n->column, &b, v);
    } else {
      expr_buf plain = {0};
      rc = expr_buf_add_text(&c, n->column, &plain, v);
      if (rc == CF_OK)
        rc = add_html_escaped(&c, n->column, &b, plain.data ? plain.data : "", plain.len);
      expr_buf_free(&plain);
    }
    json_decref(v);
  }
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(&c, &b, out);
}
