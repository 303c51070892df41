/*
 * funcs.c — the built-in functions of the expression language, one table.
 *
 * Each function receives its evaluated arguments (borrowed) and returns a
 * new reference. Functions are pure and deterministic: the only inputs
 * besides their arguments are the environment's clock value (now,
 * timestamp) and its time-zone database (format_time). Every function that
 * walks an array or a string charges the evaluation's step budget for it,
 * and every value built is checked against the size cap before it is
 * built, so no argument can make a function run long or allocate without
 * bound. Strings are UTF-8 and are cut only at code points; indexes into
 * strings count code points. Errors name the function and the call's
 * column.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/civil.h"
#include "expr/expr_int.h"
#include "tz/tz.h"

#define FN(name)                                                                                   \
  static cf_err fn_##name(expr_ctx *c, const expr_node *call, json_t *const *args, size_t nargs,   \
                          json_t **out)

/* Doubles beyond this magnitude are not converted back to integers. */
#define INT_SAFE 9.2e18

/* ---------------------------------------------------------------- helpers */

static cf_err want_type(expr_ctx *c, const expr_node *call, json_t *const *args, size_t i,
                        json_type type, const char *want) {
  if (json_typeof(args[i]) == type)
    return CF_OK;
  return expr_fail(c, call->column, "%s expects %s as argument %zu, not %s", call->func->name, want,
                   i + 1, expr_type_article(args[i]));
}

static cf_err want_string(expr_ctx *c, const expr_node *call, json_t *const *args, size_t i) {
  return want_type(c, call, args, i, JSON_STRING, "a string");
}

static cf_err want_array(expr_ctx *c, const expr_node *call, json_t *const *args, size_t i) {
  return want_type(c, call, args, i, JSON_ARRAY, "an array");
}

static cf_err want_int(expr_ctx *c, const expr_node *call, json_t *const *args, size_t i,
                       long long *out) {
  const json_t *v = args[i];
  double d = json_real_value(v);
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return CF_OK;
  }
  if (json_is_real(v) && d == floor(d) && fabs(d) < INT_SAFE) {
    *out = (long long)d;
    return CF_OK;
  }
  return expr_fail(c, call->column, "%s expects a whole number as argument %zu, not %s",
                   call->func->name, i + 1, json_is_real(v) ? "a fraction" : expr_type_article(v));
}

static cf_err set(expr_ctx *c, json_t *v, json_t **out) {
  *out = v;
  return v ? CF_OK : expr_nomem(c);
}

/* Charges for walking a string of n bytes. */
static cf_err charge_bytes(expr_ctx *c, const expr_node *call, size_t n) {
  return expr_step(c, call->column, 1 + n / EXPR_BYTES_PER_STEP);
}

/* Checks and charges for an array or object of n elements about to be built. */
static cf_err charge_elements(expr_ctx *c, const expr_node *call, size_t n) {
  cf_err rc = expr_check_size(c, call->column, n * EXPR_BYTES_PER_ELEMENT);
  return rc == CF_OK ? expr_step(c, call->column, n) : rc;
}

static cf_err new_array(expr_ctx *c, json_t **out) {
  return set(c, json_array(), out);
}

/* Appends (taking v); frees the array on failure. */
static cf_err push(expr_ctx *c, json_t **arr, json_t *v) {
  if (v && json_array_append_new(*arr, v) == 0)
    return CF_OK;
  json_decref(*arr);
  *arr = NULL;
  return expr_nomem(c);
}

static cf_err substring_of(expr_ctx *c, const char *s, size_t from, size_t to, json_t **out) {
  return set(c, json_stringn_nocheck(s + from, to - from), out);
}

/* An index from JavaScript's slice(): negative counts from the end,
 * then clamped to [0, len]. */
static size_t slice_index(long long i, size_t len) {
  if (i < 0)
    i += (long long)len;
  if (i < 0)
    return 0;
  return (unsigned long long)i > len ? len : (size_t)i;
}

/* ---------------------------------------------------------------- strings */

FN(length) {
  (void)nargs;
  const json_t *v = args[0];
  if (json_is_string(v)) {
    cf_err rc = charge_bytes(c, call, json_string_length(v));
    if (rc != CF_OK)
      return rc;
    return set(
        c, json_integer((json_int_t)expr_utf8_count(json_string_value(v), json_string_length(v))),
        out);
  }
  if (json_is_array(v))
    return set(c, json_integer((json_int_t)json_array_size(v)), out);
  if (json_is_object(v))
    return set(c, json_integer((json_int_t)json_object_size(v)), out);
  if (json_is_null(v))
    return set(c, json_integer(0), out);
  return expr_fail(c, call->column, "length expects a string, an array or an object, not %s",
                   expr_type_article(v));
}

static cf_err change_case(expr_ctx *c, const expr_node *call, json_t *const *args, bool upper,
                          json_t **out) {
  cf_err rc = want_string(c, call, args, 0);
  if (rc != CF_OK)
    return rc;
  size_t n = json_string_length(args[0]);
  rc = charge_bytes(c, call, n);
  char *copy = rc == CF_OK ? malloc(n + 1) : NULL;
  if (rc != CF_OK)
    return rc;
  if (!copy)
    return expr_nomem(c);
  const char *s = json_string_value(args[0]);
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (upper && ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 'a' + 'A');
    else if (!upper && ch >= 'A' && ch <= 'Z')
      ch = (char)(ch - 'A' + 'a');
    copy[i] = ch;
  }
  *out = json_stringn_nocheck(copy, n);
  free(copy);
  return *out ? CF_OK : expr_nomem(c);
}

FN(lower) {
  (void)nargs;
  return change_case(c, call, args, false, out);
}

FN(upper) {
  (void)nargs;
  return change_case(c, call, args, true, out);
}

static bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

FN(trim) {
  (void)nargs;
  cf_err rc = want_string(c, call, args, 0);
  if (rc != CF_OK)
    return rc;
  const char *s = json_string_value(args[0]);
  size_t from = 0, to = json_string_length(args[0]);
  while (from < to && is_space(s[from]))
    from++;
  while (to > from && is_space(s[to - 1]))
    to--;
  return substring_of(c, s, from, to, out);
}

/* Where needle first occurs in hay at or after `from`, or SIZE_MAX. */
static size_t find(const json_t *hay, size_t from, const json_t *needle) {
  const char *h = json_string_value(hay), *n = json_string_value(needle);
  size_t hl = json_string_length(hay), nl = json_string_length(needle);
  if (from > hl)
    return SIZE_MAX;
  const char *at = memmem(h + from, hl - from, n, nl);
  return at ? (size_t)(at - h) : SIZE_MAX;
}

FN(contains) {
  (void)nargs;
  const json_t *hay = args[0], *x = args[1];
  cf_err rc = CF_OK;
  bool found = false;
  if (json_is_string(hay)) {
    rc = want_string(c, call, args, 1);
    if (rc == CF_OK)
      rc = charge_bytes(c, call, json_string_length(hay));
    found = rc == CF_OK && find(hay, 0, x) != SIZE_MAX;
  } else if (json_is_array(hay)) {
    for (size_t i = 0; i < json_array_size(hay) && rc == CF_OK && !found; i++) {
      rc = expr_step(c, call->column, 1);
      found = rc == CF_OK && expr_equal(json_array_get(hay, i), x);
    }
  } else if (json_is_object(hay)) {
    rc = want_string(c, call, args, 1);
    found = rc == CF_OK && json_object_getn(hay, json_string_value(x), json_string_length(x));
  } else {
    rc = expr_fail(c, call->column, "contains expects a string, an array or an object, not %s",
                   expr_type_article(hay));
  }
  if (rc != CF_OK)
    return rc;
  return set(c, json_boolean(found), out);
}

static cf_err affix(expr_ctx *c, const expr_node *call, json_t *const *args, bool at_end,
                    json_t **out) {
  cf_err rc = want_string(c, call, args, 0);
  if (rc == CF_OK)
    rc = want_string(c, call, args, 1);
  if (rc != CF_OK)
    return rc;
  size_t hl = json_string_length(args[0]), nl = json_string_length(args[1]);
  const char *h = json_string_value(args[0]);
  bool yes = nl <= hl && memcmp(at_end ? h + hl - nl : h, json_string_value(args[1]), nl) == 0;
  return set(c, json_boolean(yes), out);
}

FN(starts_with) {
  (void)nargs;
  return affix(c, call, args, false, out);
}

FN(ends_with) {
  (void)nargs;
  return affix(c, call, args, true, out);
}

FN(join) {
  (void)nargs;
  cf_err rc = want_array(c, call, args, 0);
  if (rc == CF_OK)
    rc = want_string(c, call, args, 1);
  if (rc != CF_OK)
    return rc;
  expr_buf b = {0};
  const json_t *sep = args[1];
  for (size_t i = 0; i < json_array_size(args[0]) && rc == CF_OK; i++) {
    rc = expr_step(c, call->column, 1);
    if (rc == CF_OK && i)
      rc = expr_buf_add(c, call->column, &b, json_string_value(sep), json_string_length(sep));
    if (rc == CF_OK)
      rc = expr_buf_add_text(c, call->column, &b, json_array_get(args[0], i));
  }
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(c, &b, out);
}

FN(split) {
  (void)nargs;
  cf_err rc = want_string(c, call, args, 0);
  if (rc == CF_OK)
    rc = want_string(c, call, args, 1);
  if (rc == CF_OK)
    rc = new_array(c, out);
  if (rc != CF_OK)
    return rc;
  const char *s = json_string_value(args[0]);
  size_t len = json_string_length(args[0]), sep_len = json_string_length(args[1]);
  size_t from = 0;
  while (rc == CF_OK) {
    size_t at;
    if (sep_len == 0) /* every code point on its own */
      at = from >= len ? SIZE_MAX : expr_utf8_offset(s + from, len - from, 1) + from;
    else
      at = find(args[0], from, args[1]);
    if (sep_len == 0 && at == SIZE_MAX)
      break;
    size_t to = at == SIZE_MAX ? len : at;
    rc = expr_check_size(c, call->column, (json_array_size(*out) + 1) * EXPR_BYTES_PER_ELEMENT);
    if (rc == CF_OK)
      rc = expr_step(c, call->column, 1 + (to - from) / EXPR_BYTES_PER_STEP);
    if (rc == CF_OK)
      rc = push(c, out, json_stringn_nocheck(s + from, to - from));
    if (at == SIZE_MAX)
      break;
    from = at + sep_len;
  }
  if (rc != CF_OK) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

FN(replace) {
  (void)nargs;
  cf_err rc = CF_OK;
  for (size_t i = 0; i < 3 && rc == CF_OK; i++)
    rc = want_string(c, call, args, i);
  if (rc != CF_OK)
    return rc;
  if (json_string_length(args[1]) == 0)
    return expr_fail(c, call->column, "replace cannot look for an empty string");
  expr_buf b = {0};
  const char *s = json_string_value(args[0]);
  size_t from = 0, len = json_string_length(args[0]);
  while (rc == CF_OK) {
    size_t at = find(args[0], from, args[1]);
    size_t to = at == SIZE_MAX ? len : at;
    rc = expr_step(c, call->column, 1);
    if (rc == CF_OK)
      rc = expr_buf_add(c, call->column, &b, s + from, to - from);
    if (at == SIZE_MAX || rc != CF_OK)
      break;
    rc = expr_buf_add(c, call->column, &b, json_string_value(args[2]), json_string_length(args[2]));
    from = at + json_string_length(args[1]);
  }
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(c, &b, out);
}

FN(substring) {
  cf_err rc = want_string(c, call, args, 0);
  long long start = 0, end = 0;
  if (rc == CF_OK)
    rc = want_int(c, call, args, 1, &start);
  if (rc == CF_OK && nargs > 2)
    rc = want_int(c, call, args, 2, &end);
  const char *s = json_string_value(args[0]);
  size_t len = json_string_length(args[0]);
  if (rc == CF_OK)
    rc = charge_bytes(c, call, len);
  if (rc != CF_OK)
    return rc;
  size_t count = expr_utf8_count(s, len);
  /* JavaScript's substring: clamp both ends, then order them. */
  size_t a = start < 0 ? 0 : (unsigned long long)start > count ? count : (size_t)start;
  size_t b = nargs < 3                         ? count
             : end < 0                         ? 0
             : (unsigned long long)end > count ? count
                                               : (size_t)end;
  if (a > b) {
    size_t t = a;
    a = b;
    b = t;
  }
  return substring_of(c, s, expr_utf8_offset(s, len, a), expr_utf8_offset(s, len, b), out);
}

/* ---------------------------------------------------------- conversions */

FN(default) {
  (void)c, (void)call, (void)nargs;
  const json_t *v = args[0];
  bool empty = json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
  *out = json_incref(empty ? args[1] : args[0]);
  return CF_OK;
}

FN(json) {
  (void)nargs;
  expr_buf b = {0};
  cf_err rc = expr_buf_add_json(c, call->column, &b, args[0]);
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(c, &b, out);
}

FN(parse_json) {
  (void)nargs;
  cf_err rc = want_string(c, call, args, 0);
  if (rc == CF_OK)
    rc = charge_bytes(c, call, json_string_length(args[0]));
  if (rc != CF_OK)
    return rc;
  json_error_t jerr;
  *out = json_loadb(json_string_value(args[0]), json_string_length(args[0]),
                    JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
  if (!*out)
    return expr_fail(c, call->column, "parse_json: %.100s at character %d", jerr.text,
                     jerr.position);
  return CF_OK;
}

FN(to_string) {
  (void)nargs;
  if (json_is_string(args[0])) {
    *out = json_incref(args[0]);
    return CF_OK;
  }
  expr_buf b = {0};
  cf_err rc = expr_buf_add_text(c, call->column, &b, args[0]);
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(c, &b, out);
}

/* Decimal text: [+-] digits [. digits] [e [+-] digits], at least one digit
 * before or after the point. No hex, no inf, no nan. */
static bool is_decimal(const char *s, size_t n, bool *integral) {
  size_t i = 0, digits = 0;
  *integral = true;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++, digits++;
  if (i < n && s[i] == '.') {
    *integral = false;
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, digits++;
  }
  if (!digits)
    return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    *integral = false;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t exp = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, exp++;
    if (!exp)
      return false;
  }
  return i == n;
}

FN(to_number) {
  (void)nargs;
  const json_t *v = args[0];
  if (json_is_number(v)) {
    *out = json_incref(args[0]);
    return CF_OK;
  }
  if (json_is_boolean(v))
    return set(c, json_integer(json_is_true(v)), out);
  if (!json_is_string(v))
    return expr_fail(c, call->column, "to_number expects a string, not %s", expr_type_article(v));
  const char *s = json_string_value(v);
  size_t from = 0, to = json_string_length(v);
  while (from < to && is_space(s[from]))
    from++;
  while (to > from && is_space(s[to - 1]))
    to--;
  char text[128];
  bool integral;
  if (to - from >= sizeof text || !is_decimal(s + from, to - from, &integral))
    return expr_fail(c, call->column, "to_number: '%.40s' is not a number", s);
  memcpy(text, s + from, to - from);
  text[to - from] = '\0';
  if (integral) {
    errno = 0;
    long long i = strtoll(text, NULL, 10);
    if (errno == 0)
      return set(c, json_integer(i), out);
  }
  return expr_real(c, call->column, strtod(text, NULL), out);
}

FN(to_bool) {
  (void)call, (void)nargs;
  const json_t *v = args[0];
  /* Form fields and query strings say "false" and "0". */
  if (json_is_string(v) &&
      (strcmp(json_string_value(v), "false") == 0 || strcmp(json_string_value(v), "0") == 0)) {
    *out = json_false();
    return CF_OK;
  }
  return set(c, json_boolean(expr_truthy(v)), out);
}

FN(is_empty) {
  (void)call, (void)nargs;
  const json_t *v = args[0];
  bool empty = json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
               (json_is_array(v) && json_array_size(v) == 0) ||
               (json_is_object(v) && json_object_size(v) == 0);
  return set(c, json_boolean(empty), out);
}

FN(type_of) {
  (void)call, (void)nargs;
  return set(c, json_string(expr_type_name(args[0])), out);
}

/* ---------------------------------------------------------------- objects */

static cf_err keys_or_values(expr_ctx *c, const expr_node *call, json_t *const *args, bool keys,
                             json_t **out) {
  cf_err rc = want_type(c, call, args, 0, JSON_OBJECT, "an object");
  if (rc == CF_OK)
    rc = charge_elements(c, call, json_object_size(args[0]));
  if (rc == CF_OK)
    rc = new_array(c, out);
  const char *key;
  size_t key_len;
  json_t *member;
  if (rc == CF_OK)
    json_object_keylen_foreach(args[0], key, key_len, member) {
      rc = push(c, out, keys ? json_stringn_nocheck(key, key_len) : json_incref(member));
      if (rc != CF_OK)
        break;
    }
  return rc;
}

FN(keys) {
  (void)nargs;
  return keys_or_values(c, call, args, true, out);
}

FN(values) {
  (void)nargs;
  return keys_or_values(c, call, args, false, out);
}

/* ---------------------------------------------------------------- numbers */

static cf_err want_number(expr_ctx *c, const expr_node *call, json_t *const *args, size_t i) {
  if (json_is_number(args[i]))
    return CF_OK;
  return expr_fail(c, call->column, "%s expects a number as argument %zu, not %s", call->func->name,
                   i + 1, expr_type_article(args[i]));
}

/* A whole double as an integer when it fits, else as a real. */
static cf_err whole(expr_ctx *c, const expr_node *call, double d, json_t **out) {
  if (fabs(d) < INT_SAFE)
    return set(c, json_integer((json_int_t)d), out);
  return expr_real(c, call->column, d, out);
}

FN(round) {
  cf_err rc = want_number(c, call, args, 0);
  long long digits = 0;
  if (rc == CF_OK && nargs > 1)
    rc = want_int(c, call, args, 1, &digits);
  if (rc != CF_OK)
    return rc;
  if (digits < -15 || digits > 15)
    return expr_fail(c, call->column, "round takes -15 to 15 digits, not %lld", digits);
  if (json_is_integer(args[0]) && digits >= 0) {
    *out = json_incref(args[0]);
    return CF_OK;
  }
  double d = json_number_value(args[0]);
  if (digits == 0)
    return whole(c, call, round(d), out);
  double scale = pow(10.0, (double)(digits < 0 ? -digits : digits));
  if (digits < 0)
    return whole(c, call, round(d / scale) * scale, out);
  return expr_real(c, call->column, round(d * scale) / scale, out);
}

static cf_err floor_or_ceil(expr_ctx *c, const expr_node *call, json_t *const *args, bool up,
                            json_t **out) {
  cf_err rc = want_number(c, call, args, 0);
  if (rc != CF_OK)
    return rc;
  if (json_is_integer(args[0])) {
    *out = json_incref(args[0]);
    return CF_OK;
  }
  double d = json_real_value(args[0]);
  return whole(c, call, up ? ceil(d) : floor(d), out);
}

FN(floor) {
  (void)nargs;
  return floor_or_ceil(c, call, args, false, out);
}

FN(ceil) {
  (void)nargs;
  return floor_or_ceil(c, call, args, true, out);
}

FN(abs) {
  (void)nargs;
  cf_err rc = want_number(c, call, args, 0);
  if (rc != CF_OK)
    return rc;
  json_int_t i = json_integer_value(args[0]);
  if (json_is_integer(args[0]) && i != INT64_MIN)
    return set(c, json_integer(i < 0 ? -i : i), out);
  return expr_real(c, call->column, fabs(json_number_value(args[0])), out);
}

/* The numbers min, max, sum and avg work on: one array, or the arguments. */
static cf_err numbers(expr_ctx *c, const expr_node *call, json_t *const *args, size_t nargs,
                      json_t *const **list, size_t *n, json_t **holder) {
  *holder = NULL;
  if (nargs == 1 && json_is_array(args[0])) {
    *holder = args[0];
    *n = json_array_size(args[0]);
    *list = NULL;
  } else {
    *list = args;
    *n = nargs;
  }
  cf_err rc = expr_step(c, call->column, *n);
  for (size_t i = 0; i < *n && rc == CF_OK; i++) {
    const json_t *v = *holder ? json_array_get(*holder, i) : args[i];
    if (!json_is_number(v))
      rc = expr_fail(c, call->column, "%s expects numbers, but item %zu is %s", call->func->name,
                     i + 1, expr_type_article(v));
  }
  return rc;
}

static const json_t *number_at(json_t *const *list, const json_t *holder, size_t i) {
  return holder ? json_array_get(holder, i) : list[i];
}

static cf_err extreme(expr_ctx *c, const expr_node *call, json_t *const *args, size_t nargs,
                      bool want_max, json_t **out) {
  json_t *const *list;
  json_t *holder;
  size_t n;
  cf_err rc = numbers(c, call, args, nargs, &list, &n, &holder);
  if (rc != CF_OK)
    return rc;
  const json_t *best = NULL;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = number_at(list, holder, i);
    double d = json_number_value(v), b = best ? json_number_value(best) : 0;
    bool better;
    if (best && json_is_integer(v) && json_is_integer(best))
      better = want_max ? json_integer_value(v) > json_integer_value(best)
                        : json_integer_value(v) < json_integer_value(best);
    else
      better = !best || (want_max ? d > b : d < b);
    if (better)
      best = v;
  }
  *out = best ? json_incref((json_t *)best) : json_null();
  return CF_OK;
}

FN(min) {
  return extreme(c, call, args, nargs, false, out);
}

FN(max) {
  return extreme(c, call, args, nargs, true, out);
}

static cf_err total(expr_ctx *c, const expr_node *call, json_t *const *args, size_t *count,
                    json_t **out) {
  json_t *const *list;
  json_t *holder;
  *out = NULL;
  cf_err rc = want_array(c, call, args, 0);
  if (rc == CF_OK)
    rc = numbers(c, call, args, 1, &list, count, &holder);
  if (rc == CF_OK)
    rc = set(c, json_integer(0), out);
  for (size_t i = 0; i < *count && rc == CF_OK; i++) {
    json_t *next;
    rc = expr_add_numbers(c, call->column, *out, number_at(list, holder, i), &next);
    json_decref(*out);
    *out = rc == CF_OK ? next : NULL;
  }
  return rc;
}

FN(sum) {
  (void)nargs;
  size_t n;
  return total(c, call, args, &n, out);
}

FN(avg) {
  (void)nargs;
  size_t n = 0;
  json_t *sum = NULL;
  cf_err rc = total(c, call, args, &n, &sum);
  if (rc != CF_OK || n == 0) {
    json_decref(sum);
    return rc == CF_OK ? set(c, json_null(), out) : rc;
  }
  json_t *count = json_integer((json_int_t)n);
  rc = count ? expr_divide(c, call->column, sum, count, out) : expr_nomem(c);
  json_decref(count);
  json_decref(sum);
  return rc;
}

/* ----------------------------------------------------------------- arrays */

static cf_err end_item(expr_ctx *c, const expr_node *call, json_t *const *args, bool last,
                       json_t **out) {
  cf_err rc = want_array(c, call, args, 0);
  if (rc != CF_OK)
    return rc;
  size_t n = json_array_size(args[0]);
  json_t *v = n ? json_array_get(args[0], last ? n - 1 : 0) : NULL;
  return set(c, v ? json_incref(v) : json_null(), out);
}

FN(first) {
  (void)nargs;
  return end_item(c, call, args, false, out);
}

FN(last) {
  (void)nargs;
  return end_item(c, call, args, true, out);
}

/* Copies items [from, to) of an array, or in reverse. */
static cf_err copy_items(expr_ctx *c, const expr_node *call, const json_t *a, size_t from,
                         size_t to, bool reversed, json_t **out) {
  cf_err rc = charge_elements(c, call, to - from);
  if (rc == CF_OK)
    rc = new_array(c, out);
  for (size_t i = from; i < to && rc == CF_OK; i++)
    rc = push(c, out, json_incref(json_array_get(a, reversed ? to - 1 - (i - from) : i)));
  return rc;
}

FN(slice) {
  long long start = 0, end = 0;
  cf_err rc = want_int(c, call, args, 1, &start);
  if (rc == CF_OK && nargs > 2)
    rc = want_int(c, call, args, 2, &end);
  if (rc != CF_OK)
    return rc;
  const json_t *v = args[0];
  if (json_is_array(v)) {
    size_t n = json_array_size(v);
    size_t a = slice_index(start, n), b = nargs > 2 ? slice_index(end, n) : n;
    return copy_items(c, call, v, a, b > a ? b : a, false, out);
  }
  if (!json_is_string(v))
    return expr_fail(c, call->column, "slice expects an array or a string, not %s",
                     expr_type_article(v));
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  rc = charge_bytes(c, call, len);
  if (rc != CF_OK)
    return rc;
  size_t count = expr_utf8_count(s, len);
  size_t a = slice_index(start, count), b = nargs > 2 ? slice_index(end, count) : count;
  if (b < a)
    b = a;
  return substring_of(c, s, expr_utf8_offset(s, len, a), expr_utf8_offset(s, len, b), out);
}

FN(reverse) {
  (void)nargs;
  const json_t *v = args[0];
  if (json_is_array(v))
    return copy_items(c, call, v, 0, json_array_size(v), true, out);
  if (!json_is_string(v))
    return expr_fail(c, call->column, "reverse expects an array or a string, not %s",
                     expr_type_article(v));
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  cf_err rc = charge_bytes(c, call, n);
  char *r = rc == CF_OK ? malloc(n + 1) : NULL;
  if (rc != CF_OK)
    return rc;
  if (!r)
    return expr_nomem(c);
  /* Code point by code point from the end, each kept in its byte order. */
  size_t w = 0, end = n;
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
      start--;
    memcpy(r + w, s + start, end - start);
    w += end - start;
    end = start;
  }
  *out = json_stringn_nocheck(r, n);
  free(r);
  return *out ? CF_OK : expr_nomem(c);
}

typedef struct sort_item {
  const json_t *v;
  size_t index;
} sort_item;

static int compare_items(const void *pa, const void *pb) {
  const sort_item *a = pa, *b = pb;
  int r;
  if (json_is_string(a->v)) {
    size_t la = json_string_length(a->v), lb = json_string_length(b->v);
    r = memcmp(json_string_value(a->v), json_string_value(b->v), la < lb ? la : lb);
    if (!r)
      r = (la > lb) - (la < lb);
  } else if (json_is_integer(a->v) && json_is_integer(b->v)) {
    json_int_t x = json_integer_value(a->v), y = json_integer_value(b->v);
    r = (x > y) - (x < y);
  } else {
    double x = json_number_value(a->v), y = json_number_value(b->v);
    r = (x > y) - (x < y);
  }
  /* Equal items keep their order, so the result is the same everywhere. */
  return r ? r : (a->index > b->index) - (a->index < b->index);
}

FN(sort) {
  (void)nargs;
  cf_err rc = want_array(c, call, args, 0);
  if (rc != CF_OK)
    return rc;
  size_t n = json_array_size(args[0]);
  uint64_t log = 1;
  while (log < 64 && (UINT64_C(1) << log) < n)
    log++;
  rc = charge_elements(c, call, n);
  if (rc == CF_OK)
    rc = expr_step(c, call->column, n * log);
  if (rc != CF_OK)
    return rc;
  bool strings = n && json_is_string(json_array_get(args[0], 0));
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(args[0], i);
    if (strings ? !json_is_string(v) : !json_is_number(v))
      return expr_fail(c, call->column,
                       "sort expects only numbers or only strings, but item %zu is %s", i + 1,
                       expr_type_article(v));
  }
  sort_item *items = malloc((n ? n : 1) * sizeof *items);
  if (!items)
    return expr_nomem(c);
  for (size_t i = 0; i < n; i++)
    items[i] = (sort_item){json_array_get(args[0], i), i};
  qsort(items, n, sizeof *items, compare_items);
  rc = new_array(c, out);
  for (size_t i = 0; i < n && rc == CF_OK; i++)
    rc = push(c, out, json_incref((json_t *)items[i].v));
  free(items);
  return rc;
}

FN(unique) {
  (void)nargs;
  cf_err rc = want_array(c, call, args, 0);
  size_t n = json_array_size(args[0]);
  if (rc == CF_OK)
    rc = charge_elements(c, call, n);
  if (rc == CF_OK)
    rc = new_array(c, out);
  for (size_t i = 0; i < n && rc == CF_OK; i++) {
    const json_t *v = json_array_get(args[0], i);
    size_t kept = json_array_size(*out);
    /* Quadratic, but every comparison is charged to the step budget. */
    rc = expr_step(c, call->column, kept);
    bool seen = false;
    for (size_t k = 0; k < kept && rc == CF_OK && !seen; k++)
      seen = expr_equal(json_array_get(*out, k), v);
    if (rc == CF_OK && !seen)
      rc = push(c, out, json_incref((json_t *)v));
  }
  if (rc != CF_OK) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

FN(flatten) {
  (void)nargs;
  cf_err rc = want_array(c, call, args, 0);
  size_t n = 0;
  for (size_t i = 0; rc == CF_OK && i < json_array_size(args[0]); i++) {
    const json_t *v = json_array_get(args[0], i);
    n += json_is_array(v) ? json_array_size(v) : 1;
  }
  if (rc == CF_OK)
    rc = charge_elements(c, call, n);
  if (rc == CF_OK)
    rc = new_array(c, out);
  for (size_t i = 0; rc == CF_OK && i < json_array_size(args[0]); i++) {
    json_t *v = json_array_get(args[0], i);
    if (!json_is_array(v))
      rc = push(c, out, json_incref(v));
    else if (json_array_extend(*out, v)) {
      json_decref(*out);
      *out = NULL;
      rc = expr_nomem(c);
    }
  }
  return rc;
}

FN(range) {
  long long from = 0, to = 0;
  cf_err rc = want_int(c, call, args, 0, nargs > 1 ? &from : &to);
  if (rc == CF_OK && nargs > 1)
    rc = want_int(c, call, args, 1, &to);
  if (rc != CF_OK)
    return rc;
  /* Compared before subtracting, which could overflow. */
  size_t n = 0;
  if (to > from) {
    unsigned long long span = (unsigned long long)to - (unsigned long long)from;
    if (span > SIZE_MAX / EXPR_BYTES_PER_ELEMENT)
      return expr_check_size(c, call->column, SIZE_MAX);
    n = (size_t)span;
  }
  rc = charge_elements(c, call, n);
  if (rc == CF_OK)
    rc = new_array(c, out);
  for (size_t i = 0; i < n && rc == CF_OK; i++)
    rc = push(c, out, json_integer((json_int_t)(from + (long long)i)));
  return rc;
}

/* ------------------------------------------------------------------ time */

FN(timestamp) {
  (void)call, (void)args, (void)nargs;
  return set(c, json_integer(c->env ? c->env->now_ms : 0), out);
}

static const char *const weekday_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};

/* Milliseconds since the epoch from a number or an ISO-8601 string. */
static cf_err instant_arg(expr_ctx *c, const expr_node *call, const json_t *v, int64_t *ms) {
  if (json_is_integer(v)) {
    *ms = json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = floor(json_real_value(v));
    if (!(fabs(d) < INT_SAFE))
      return expr_fail(c, call->column, "%s: the time is outside years 1 to 9999",
                       call->func->name);
    *ms = (int64_t)d;
  } else if (json_is_string(v)) {
    int64_t seconds;
    int32_t nanos;
    bool has_offset;
    char why[160];
    if (strlen(json_string_value(v)) != json_string_length(v) ||
        civil_parse_iso(json_string_value(v), &seconds, &nanos, &has_offset, why, sizeof why) !=
            CF_OK)
      return expr_fail(c, call->column, "%s: '%.40s' is not an ISO-8601 date-time",
                       call->func->name, json_string_value(v));
    /* Without an offset the time is read as UTC. */
    *ms = seconds * 1000 + nanos / 1000000;
  } else {
    return expr_fail(c, call->column,
                     "%s expects milliseconds since 1970 or an ISO-8601 string, not %s",
                     call->func->name, expr_type_article(v));
  }
  int64_t s = civil_floor_div(*ms, 1000);
  /* A day of margin each side keeps every zone's local time in range. */
  if (s < CIVIL_MIN_SECONDS + CIVIL_SECONDS_PER_DAY ||
      s > CIVIL_MAX_SECONDS - CIVIL_SECONDS_PER_DAY)
    return expr_fail(c, call->column, "%s: the time is outside years 1 to 9999", call->func->name);
  return CF_OK;
}

static cf_err iso_utc(expr_ctx *c, int64_t ms, json_t **out) {
  civil_time t;
  civil_from_seconds(civil_floor_div(ms, 1000), &t);
  char buf[40];
  snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)t.year, t.month,
           t.day, t.hour, t.minute, t.second, (int)civil_floor_mod(ms, 1000));
  return set(c, json_string(buf), out);
}

FN(now) {
  (void)args, (void)nargs;
  json_t *ms = json_integer(c->env ? c->env->now_ms : 0);
  if (!ms)
    return expr_nomem(c);
  int64_t at;
  cf_err rc = instant_arg(c, call, ms, &at);
  json_decref(ms);
  return rc == CF_OK ? iso_utc(c, at, out) : rc;
}

static cf_err find_zone(expr_ctx *c, const expr_node *call, const json_t *name,
                        const tz_zone **zone) {
  const char *s = json_string_value(name);
  if (strcmp(s, "UTC") == 0) {
    *zone = tz_utc();
    return CF_OK;
  }
  tz_db *db = c->env ? c->env->tz : NULL;
  if (!db)
    return expr_fail(c, call->column,
                     "format_time: time zone '%.60s' is not available here (only UTC is)", s);
  if (strlen(s) != json_string_length(name) || tz_db_zone(db, s, zone) != CF_OK)
    return expr_fail(c, call->column, "format_time: unknown time zone '%.60s'", s);
  return CF_OK;
}

/* Writes one %-conversion; false when it is not one of ours. */
static bool conversion(char k, const civil_time *t, int ms, const tz_period *per, char *buf,
                       size_t cap) {
  int64_t yday =
      civil_days_from_date(t->year, t->month, t->day) - civil_days_from_date(t->year, 1, 1) + 1;
  int32_t off = per->offset < 0 ? -per->offset : per->offset;
  switch (k) {
  case 'Y': snprintf(buf, cap, "%04lld", (long long)t->year); break;
  case 'm': snprintf(buf, cap, "%02d", t->month); break;
  case 'd': snprintf(buf, cap, "%02d", t->day); break;
  case 'H': snprintf(buf, cap, "%02d", t->hour); break;
  case 'M': snprintf(buf, cap, "%02d", t->minute); break;
  case 'S': snprintf(buf, cap, "%02d", t->second); break;
  case 'L': snprintf(buf, cap, "%03d", ms); break;
  case 'j': snprintf(buf, cap, "%03lld", (long long)yday); break;
  case 'a':
    snprintf(buf, cap, "%.3s",
             weekday_names[civil_weekday(civil_days_from_date(t->year, t->month, t->day))]);
    break;
  case 'A':
    snprintf(buf, cap, "%s",
             weekday_names[civil_weekday(civil_days_from_date(t->year, t->month, t->day))]);
    break;
  case 'b': snprintf(buf, cap, "%.3s", month_names[t->month - 1]); break;
  case 'B': snprintf(buf, cap, "%s", month_names[t->month - 1]); break;
  case 'Z': snprintf(buf, cap, "%.20s", per->abbr ? per->abbr : "UTC"); break;
  case 'z':
    snprintf(buf, cap, "%c%02d%02d", per->offset < 0 ? '-' : '+', (int)(off / 3600),
             (int)(off / 60 % 60));
    break;
  case '%': snprintf(buf, cap, "%%"); break;
  default: return false;
  }
  return true;
}

FN(format_time) {
  int64_t ms;
  const tz_zone *zone = tz_utc();
  cf_err rc = instant_arg(c, call, args[0], &ms);
  if (rc == CF_OK)
    rc = want_string(c, call, args, 1);
  if (rc == CF_OK && nargs > 2)
    rc = want_string(c, call, args, 2);
  if (rc == CF_OK && nargs > 2)
    rc = find_zone(c, call, args[2], &zone);
  if (rc != CF_OK)
    return rc;
  int64_t seconds = civil_floor_div(ms, 1000);
  tz_period per;
  tz_zone_period(zone, seconds, &per);
  civil_time t;
  civil_from_seconds(seconds + per.offset, &t);
  const char *f = json_string_value(args[1]);
  size_t n = json_string_length(args[1]);
  expr_buf b = {0};
  size_t i = 0;
  while (i < n && rc == CF_OK) {
    size_t run = i;
    while (i < n && f[i] != '%')
      i++;
    rc = expr_buf_add(c, call->column, &b, f + run, i - run);
    if (i >= n || rc != CF_OK)
      break;
    char piece[48];
    if (i + 1 >= n ||
        !conversion(f[i + 1], &t, (int)civil_floor_mod(ms, 1000), &per, piece, sizeof piece)) {
      rc = expr_fail(c, call->column,
                     "format_time: unknown conversion '%%%c' (use %%Y %%m %%d %%H %%M %%S %%L "
                     "%%j %%a %%A %%b %%B %%Z %%z %%%%)",
                     i + 1 < n && f[i + 1] > 32 && f[i + 1] < 127 ? f[i + 1] : '?');
      break;
    }
    rc = expr_buf_add(c, call->column, &b, piece, strlen(piece));
    i += 2;
  }
  if (rc != CF_OK) {
    expr_buf_free(&b);
    return rc;
  }
  return expr_buf_take(c, &b, out);
}

/* raw(v): v itself. In an HTML template (expr_tmpl_eval_html) a part that
 * is a call to raw is written without escaping. */
static cf_err fn_raw(expr_ctx *c, const expr_node *call, json_t *const *args, size_t nargs,
                     json_t **out) {
  (void)c;
  (void)call;
  (void)nargs;
  *out = json_incref(args[0]);
  return CF_OK;
}

/* ------------------------------------------------------------------ table */

#define ANY SIZE_MAX

const expr_func expr_funcs[] = {
    {"abs", 1, 1, fn_abs},
    {"avg", 1, 1, fn_avg},
    {"ceil", 1, 1, fn_ceil},
    {"contains", 2, 2, fn_contains},
    {"default", 2, 2, fn_default},
    {"ends_with", 2, 2, fn_ends_with},
    {"first", 1, 1, fn_first},
    {"flatten", 1, 1, fn_flatten},
    {"floor", 1, 1, fn_floor},
    {"format_time", 2, 3, fn_format_time},
    {"is_empty", 1, 1, fn_is_empty},
    {"join", 2, 2, fn_join},
    {"json", 1, 1, fn_json},
    {"keys", 1, 1, fn_keys},
    {"last", 1, 1, fn_last},
    {"length", 1, 1, fn_length},
    {"lower", 1, 1, fn_lower},
    {"max", 1, ANY, fn_max},
    {"min", 1, ANY, fn_min},
    {"now", 0, 0, fn_now},
    {"parse_json", 1, 1, fn_parse_json},
    {"range", 1, 2, fn_range},
    {"raw", 1, 1, fn_raw},
    {"replace", 3, 3, fn_replace},
    {"reverse", 1, 1, fn_reverse},
    {"round", 1, 2, fn_round},
    {"slice", 2, 3, fn_slice},
    {"sort", 1, 1, fn_sort},
    {"split", 2, 2, fn_split},
    {"starts_with", 2, 2, fn_starts_with},
    {"substring", 2, 3, fn_substring},
    {"sum", 1, 1, fn_sum},
    {"timestamp", 0, 0, fn_timestamp},
    {"to_bool", 1, 1, fn_to_bool},
    {"to_number", 1, 1, fn_to_number},
    {"to_string", 1, 1, fn_to_string},
    {"trim", 1, 1, fn_trim},
    {"type_of", 1, 1, fn_type_of},
    {"unique", 1, 1, fn_unique},
    {"upper", 1, 1, fn_upper},
    {"values", 1, 1, fn_values},
};

const size_t expr_nfuncs = sizeof expr_funcs / sizeof *expr_funcs;
