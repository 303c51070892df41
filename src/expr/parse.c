/*
 * parse.c — template text to a compiled expr_tmpl: the lexer, the
 * recursive-descent parser of `{{ }}` expressions and the template's parts.
 *
 * The end of an expression is found by the parser on tokens, never by
 * searching the text for "}}": strings and object literals may hold braces.
 * Every error names the 1-based byte column in the whole template and says
 * what was expected. The parser never reads past `len`, refuses text that
 * is not UTF-8 (so that every string it builds is a valid JSON string), and
 * bounds both its own recursion and the height of the tree it builds by the
 * depth limit. Unknown names, unknown functions and wrong argument counts
 * are caught here, before anything runs.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

static const char *const root_names[] = {"trigger", "nodes",   "item",     "index",
                                         "vars",    "secrets", "execution"};
#define ROOT_COUNT (sizeof root_names / sizeof *root_names)

typedef enum tkind { T_END, T_INT, T_REAL, T_STRING, T_IDENT, T_PUNCT } tkind;

typedef struct token {
  tkind kind;
  size_t start, end; /* byte offsets in the text */
  int op;            /* T_PUNCT */
  json_int_t i;
  double d;
  char *s; /* T_STRING: decoded bytes, owned by the token */
  size_t slen;
} token;

typedef struct parser {
  const char *text;
  size_t len;
  size_t pos; /* where the next token starts */
  token tok;
  expr_error *err;
  int depth, max_depth;
  cf_err rc;    /* set by fail() so that callers can pass the code along */
  bool hit_end; /* an error was about running into the end of the text */
} parser;

__attribute__((format(printf, 4, 5))) static cf_err fail_at(parser *p, cf_err rc, size_t offset,
                                                            const char *fmt, ...) {
  if (p->rc != CF_OK) /* the first error is the one to report */
    return p->rc;
  p->rc = rc;
  if (!p->err)
    return rc;
  char detail[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  p->err->column = offset + 1;
  snprintf(p->err->message, sizeof p->err->message, "column %zu: %s", offset + 1, detail);
  expr_message_clean(p->err->message);
  return rc;
}

#define fail(p, offset, ...) fail_at(p, CF_E_INVALID, offset, __VA_ARGS__)

/* A short, printable view of a token for messages. */
static const char *show_token(parser *p, const token *t, char buf[40]) {
  if (t->kind == T_END) {
    p->hit_end = true;
    return "the end of the text";
  }
  size_t n = t->end - t->start;
  if (n > 20)
    n = 20;
  const char *s = p->text + t->start;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 32 || s[i] == 127) {
      snprintf(buf, 40, "byte 0x%02X", (unsigned char)s[i]);
      return buf;
    }
  snprintf(buf, 40, "'%.*s'%s", (int)n, s, t->end - t->start > 20 ? "..." : "");
  return buf;
}

/* ------------------------------------------------------------------ lexer */

static bool is_ident_start(char c) {
  return isalpha((unsigned char)c) || c == '_';
}
static bool is_ident_char(char c) {
  return isalnum((unsigned char)c) || c == '_';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static size_t utf8_put(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Reads the four hex digits of a \u escape at `at`; -1 if malformed. */
static long read_hex4(const parser *p, size_t at) {
  if (at + 4 > p->len)
    return -1;
  long v = 0;
  for (size_t i = 0; i < 4; i++) {
    int h = hex_value(p->text[at + i]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

/* A \u escape starting at the backslash `at`; the code point and the
 * bytes of text it spans (a surrogate pair spans twelve). */
static cf_err read_unicode(parser *p, size_t at, unsigned long *cp, size_t *span) {
  long hi = read_hex4(p, at + 2);
  if (hi < 0)
    return fail(p, at, "\\u must be followed by four hex digits");
  *span = 6;
  if (hi >= 0xDC00 && hi <= 0xDFFF)
    return fail(p, at, "\\u%04lX is half of a surrogate pair without its first half", hi);
  if (hi >= 0xD800 && hi <= 0xDBFF) {
    long lo = -1;
    if (at + 7 < p->len && p->text[at + 6] == '\\' && p->text[at + 7] == 'u')
      lo = read_hex4(p, at + 8);
    if (lo < 0xDC00 || lo > 0xDFFF)
      return fail(p, at, "\\u%04lX must be followed by the second half of its surrogate pair", hi);
    *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
    *span = 12;
    return CF_OK;
  }
  *cp = (unsigned long)hi;
  return CF_OK;
}

static cf_err lex_string(parser *p, token *t) {
  char quote = p->text[p->pos];
  size_t i = p->pos + 1;
  /* Decoded text is never longer than its source. */
  char *out = malloc(p->len - p->pos + 1);
  if (!out)
    return fail_at(p, CF_E_NOMEM, p->pos, "out of memory");
  size_t n = 0;
  for (;;) {
    if (i >= p->len) {
      free(out);
      return fail(p, p->pos, "this string has no closing %c", quote);
    }
    char c = p->text[i];
    if (c == quote)
      break;
    if (c != '\\') {
      out[n++] = c;
      i++;
      continue;
    }
    if (i + 1 >= p->len) {
      free(out);
      return fail(p, p->pos, "this string has no closing %c", quote);
    }
    char e = p->text[i + 1];
    char plain = 0;
    switch (e) {
    case 'n': plain = '\n'; break;
    case 't': plain = '\t'; break;
    case 'r': plain = '\r'; break;
    case 'b': plain = '\b'; break;
    case 'f': plain = '\f'; break;
    case '"':
    case '\'':
    case '\\':
    case '/': plain = e; break;
    default: break;
    }
    if (plain) {
      out[n++] = plain;
      i += 2;
      continue;
    }
    if (e == 'u') {
      unsigned long cp = 0;
      size_t span = 0;
      if (read_unicode(p, i, &cp, &span) != CF_OK) {
        free(out);
        return p->rc;
      }
      n += utf8_put(out + n, cp);
      i += span;
      continue;
    }
    free(out);
    if (e > 32 && e < 127)
      return fail(p, i,
                  "unknown escape \\%c (use \\n \\t \\r \\\" \\' \\\\ or \\u and 4 hex digits)", e);
    return fail(p, i, "a backslash must start an escape such as \\n or \\u00e9");
  }
  t->kind = T_STRING;
  t->s = out;
  t->slen = n;
  t->end = i + 1;
  return CF_OK;
}

static cf_err lex_number(parser *p, token *t) {
  size_t i = p->pos;
  bool real = false;
  while (i < p->len && isdigit((unsigned char)p->text[i]))
    i++;
  if (i + 1 < p->len && p->text[i] == '.' && isdigit((unsigned char)p->text[i + 1])) {
    real = true;
    i++;
    while (i < p->len && isdigit((unsigned char)p->text[i]))
      i++;
  }
  if (i < p->len && (p->text[i] == 'e' || p->text[i] == 'E')) {
    size_t j = i + 1;
    if (j < p->len && (p->text[j] == '+' || p->text[j] == '-'))
      j++;
    if (j < p->len && isdigit((unsigned char)p->text[j])) {
      real = true;
      i = j;
      while (i < p->len && isdigit((unsigned char)p->text[i]))
        i++;
    }
  }
  if (i < p->len && is_ident_char(p->text[i]))
    return fail(p, p->pos, "'%.*s' is not a number",
                (int)(i - p->pos + 1 > 20 ? 20 : i - p->pos + 1), p->text + p->pos);
  char buf[400];
  size_t n = i - p->pos;
  if (n >= sizeof buf)
    return fail(p, p->pos, "this number has too many digits");
  memcpy(buf, p->text + p->pos, n);
  buf[n] = '\0';
  t->end = i;
  if (!real) {
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == 0) {
      t->kind = T_INT;
      t->i = (json_int_t)v;
      return CF_OK;
    }
  }
  t->kind = T_REAL;
  t->d = strtod(buf, NULL);
  if (!isfinite(t->d))
    return fail(p, p->pos, "this number is too large");
  return CF_OK;
}

static const struct {
  const char *text;
  int op;
} two_char_ops[] = {
    {"==", EXPR_OP_EQ},  {"!=", EXPR_OP_NE}, {"<=", EXPR_OP_LE},       {">=", EXPR_OP_GE},
    {"&&", EXPR_OP_AND}, {"||", EXPR_OP_OR}, {"??", EXPR_OP_COALESCE},
};

/* Reads the token at p->pos into p->tok (freeing the previous one). */
static cf_err advance(parser *p) {
  free(p->tok.s);
  p->tok = (token){0};
  while (p->pos < p->len && isspace((unsigned char)p->text[p->pos]))
    p->pos++;
  token *t = &p->tok;
  t->start = t->end = p->pos;
  if (p->pos >= p->len) {
    t->kind = T_END;
    return CF_OK;
  }
  char c = p->text[p->pos];
  cf_err rc = CF_OK;
  if (c == '"' || c == '\'') {
    rc = lex_string(p, t);
  } else if (isdigit((unsigned char)c)) {
    rc = lex_number(p, t);
  } else if (is_ident_start(c)) {
    size_t i = p->pos;
    while (i < p->len && is_ident_char(p->text[i]))
      i++;
    t->kind = T_IDENT;
    t->end = i;
  } else {
    t->kind = T_PUNCT;
    for (size_t k = 0; k < sizeof two_char_ops / sizeof *two_char_ops; k++)
      if (p->pos + 1 < p->len && memcmp(p->text + p->pos, two_char_ops[k].text, 2) == 0) {
        t->op = two_char_ops[k].op;
        t->end = p->pos + 2;
      }
    if (!t->op) {
      if (!strchr("()[]{},.:?!<>+-*/%", c) || c == '\0') {
        char buf[40];
        token bad = {.kind = T_PUNCT, .start = p->pos, .end = p->pos + 1};
        if (c == '=')
          return fail(p, p->pos, "unexpected '=' (use '==' to compare)");
        if (c == '&' || c == '|')
          return fail(p, p->pos, "unexpected '%c' (use '%c%c')", c, c, c);
        if ((unsigned char)c >= 0x80)
          return fail(p, p->pos, "unexpected character outside a string");
        return fail(p, p->pos, "unexpected %s", show_token(p, &bad, buf));
      }
      t->op = c;
      t->end = p->pos + 1;
    }
  }
  if (rc == CF_OK)
    p->pos = t->end;
  return rc;
}

static bool is_op(const parser *p, int op) {
  return p->tok.kind == T_PUNCT && p->tok.op == op;
}

static bool is_word(const parser *p, const char *word) {
  size_t n = strlen(word);
  return p->tok.kind == T_IDENT && p->tok.end - p->tok.start == n &&
         memcmp(p->text + p->tok.start, word, n) == 0;
}

/* The closing "}}" of an expression: two adjacent braces. */
static bool at_close(const parser *p) {
  return is_op(p, '}') && p->tok.start + 1 < p->len && p->text[p->tok.start + 1] == '}';
}

/* ------------------------------------------------------------------ nodes */

void expr_node_free(expr_node *n) {
  if (!n)
    return;
  for (size_t i = 0; i < n->nkids; i++)
    expr_node_free(n->kids[i]);
  free(n->kids);
  json_decref(n->value);
  free(n);
}

static expr_node *node_new(parser *p, expr_kind kind, size_t offset) {
  expr_node *n = calloc(1, sizeof *n);
  if (!n) {
    fail_at(p, CF_E_NOMEM, offset, "out of memory");
    return NULL;
  }
  n->kind = kind;
  n->column = offset + 1;
  n->height = 1;
  return n;
}

/* Adds a child (taking it); frees both on failure. */
static expr_node *add_kid(parser *p, expr_node *n, expr_node *kid) {
  if (!n || !kid) {
    expr_node_free(n);
    expr_node_free(kid);
    return NULL;
  }
  expr_node **grown = realloc(n->kids, (n->nkids + 1) * sizeof *grown);
  if (!grown) {
    expr_node_free(n);
    expr_node_free(kid);
    fail_at(p, CF_E_NOMEM, n->column - 1, "out of memory");
    return NULL;
  }
  n->kids = grown;
  n->kids[n->nkids++] = kid;
  if (kid->height + 1 > n->height)
    n->height = kid->height + 1;
  if (n->height > p->max_depth) {
    fail_at(p, CF_E_TOO_LARGE, n->column - 1, "the expression nests more than %d levels deep",
            p->max_depth);
    expr_node_free(n);
    return NULL;
  }
  return n;
}

static expr_node *literal(parser *p, size_t offset, json_t *v) {
  if (!v) {
    fail_at(p, CF_E_NOMEM, offset, "out of memory");
    return NULL;
  }
  expr_node *n = node_new(p, EXPR_LITERAL, offset);
  if (!n) {
    json_decref(v);
    return NULL;
  }
  n->value = v;
  return n;
}

/* ----------------------------------------------------------------- parser */

static expr_node *parse_expr(parser *p);

static bool enter(parser *p) {
  if (++p->depth > p->max_depth) {
    fail_at(p, CF_E_TOO_LARGE, p->tok.start, "the expression nests more than %d levels deep",
            p->max_depth);
    return false;
  }
  return true;
}

static expr_node *expect(parser *p, expr_node *n, int op, const char *what) {
  if (!n)
    return NULL;
  if (!is_op(p, op)) {
    char buf[40];
    fail(p, p->tok.start, "expected '%c' %s, found %s", op, what, show_token(p, &p->tok, buf));
    expr_node_free(n);
    return NULL;
  }
  if (advance(p) != CF_OK) {
    expr_node_free(n);
    return NULL;
  }
  return n;
}

/* One `key: value` member of an object literal, added to n. */
static expr_node *parse_member(parser *p, expr_node *n) {
  expr_node *key;
  if (p->tok.kind == T_STRING) {
    key = literal(p, p->tok.start, json_stringn(p->tok.s, p->tok.slen));
  } else if (p->tok.kind == T_IDENT) {
    key = literal(p, p->tok.start, json_stringn(p->text + p->tok.start, p->tok.end - p->tok.start));
  } else {
    char buf[40];
    fail(p, p->tok.start, "expected a key (a name or a string) in the object, found %s",
         show_token(p, &p->tok, buf));
    expr_node_free(n);
    return NULL;
  }
  n = add_kid(p, n, key);
  if (n && advance(p) != CF_OK) {
    expr_node_free(n);
    return NULL;
  }
  n = expect(p, n, ':', "after the key");
  return n ? add_kid(p, n, parse_expr(p)) : NULL;
}

/* The items of a call, an array or an object, separated by commas (one
 * may trail) up to `close`; the opening token is the current one. */
static expr_node *parse_list(parser *p, expr_node *n, int close, const char *what) {
  if (!n || advance(p) != CF_OK) {
    expr_node_free(n);
    return NULL;
  }
  while (!is_op(p, close)) {
    n = n->kind == EXPR_OBJECT ? parse_member(p, n) : add_kid(p, n, parse_expr(p));
    if (!n)
      return NULL;
    if (!is_op(p, ','))
      break;
    if (advance(p) != CF_OK) {
      expr_node_free(n);
      return NULL;
    }
  }
  return expect(p, n, close, what);
}

static expr_node *parse_call(parser *p, size_t name_at, size_t name_len) {
  const expr_func *f = expr_func_find(p->text + name_at, name_len);
  if (!f) {
    fail(p, name_at, "unknown function '%.*s'", (int)(name_len > 40 ? 40 : name_len),
         p->text + name_at);
    return NULL;
  }
  expr_node *n = node_new(p, EXPR_CALL, name_at);
  if (n)
    n->func = f;
  char what[64];
  snprintf(what, sizeof what, "after the arguments of %s", f->name);
  n = parse_list(p, n, ')', what);
  if (!n)
    return NULL;
  if (n->nkids < f->min_args || n->nkids > f->max_args) {
    size_t got = n->nkids;
    expr_node_free(n);
    if (f->max_args == SIZE_MAX)
      fail(p, name_at, "%s takes at least %zu argument%s, not %zu", f->name, f->min_args,
           f->min_args == 1 ? "" : "s", got);
    else if (f->min_args == f->max_args)
      fail(p, name_at, "%s takes %zu argument%s, not %zu", f->name, f->min_args,
           f->min_args == 1 ? "" : "s", got);
    else
      fail(p, name_at, "%s takes %zu to %zu arguments, not %zu", f->name, f->min_args, f->max_args,
           got);
    return NULL;
  }
  return n;
}

static expr_node *parse_primary(parser *p) {
  token *t = &p->tok;
  size_t at = t->start;
  expr_node *n = NULL;
  switch (t->kind) {
  case T_INT: n = literal(p, at, json_integer(t->i)); break;
  case T_REAL: n = literal(p, at, json_real(t->d)); break;
  case T_STRING: n = literal(p, at, json_stringn(t->s, t->slen)); break;
  case T_IDENT: {
    size_t len = t->end - t->start;
    const char *word = p->text + at;
    if (is_word(p, "true") || is_word(p, "false")) {
      n = literal(p, at, json_boolean(is_word(p, "true")));
      break;
    }
    if (is_word(p, "null")) {
      n = literal(p, at, json_null());
      break;
    }
    /* A name followed by '(' is a call. */
    size_t after = t->end;
    while (after < p->len && isspace((unsigned char)p->text[after]))
      after++;
    if (after < p->len && p->text[after] == '(') {
      if (advance(p) != CF_OK)
        return NULL;
      return parse_call(p, at, len);
    }
    for (size_t i = 0; i < ROOT_COUNT; i++)
      if (strlen(root_names[i]) == len && memcmp(root_names[i], word, len) == 0) {
        n = node_new(p, EXPR_ROOT, at);
        if (n)
          n->name = root_names[i];
      }
    if (!n && p->rc == CF_OK)
      fail(p, at, "unknown name '%.*s' (use trigger, nodes, item, index, vars, secrets, execution)",
           (int)(len > 40 ? 40 : len), word);
    break;
  }
  case T_PUNCT:
    if (t->op == '(') {
      if (advance(p) != CF_OK)
        return NULL;
      return expect(p, parse_expr(p), ')', "to close the '('");
    }
    if (t->op == '[')
      return parse_list(p, node_new(p, EXPR_ARRAY, at), ']', "after the items of an array");
    if (t->op == '{')
      return parse_list(p, node_new(p, EXPR_OBJECT, at), '}', "after the members of an object");
    break;
  case T_END: break;
  }
  if (!n && p->rc == CF_OK) {
    char buf[40];
    fail(p, at, "expected a value, found %s", show_token(p, t, buf));
  }
  if (n && advance(p) != CF_OK) {
    expr_node_free(n);
    return NULL;
  }
  return n;
}

static expr_node *parse_postfix(parser *p) {
  expr_node *n = parse_primary(p);
  while (n && (is_op(p, '.') || is_op(p, '['))) {
    size_t at = p->tok.start;
    if (is_op(p, '.')) {
      if (advance(p) != CF_OK) {
        expr_node_free(n);
        return NULL;
      }
      if (p->tok.kind != T_IDENT) {
        char buf[40];
        fail(p, p->tok.start, "expected a name after '.', found %s", show_token(p, &p->tok, buf));
        expr_node_free(n);
        return NULL;
      }
      expr_node *m = node_new(p, EXPR_MEMBER, at);
      if (m) {
        m->value = json_stringn(p->text + p->tok.start, p->tok.end - p->tok.start);
        if (!m->value) {
          fail_at(p, CF_E_NOMEM, at, "out of memory");
          expr_node_free(m);
          m = NULL;
        }
      }
      n = add_kid(p, m, n);
      if (n && advance(p) != CF_OK) {
        expr_node_free(n);
        return NULL;
      }
    } else {
      if (advance(p) != CF_OK) {
        expr_node_free(n);
        return NULL;
      }
      n = add_kid(p, node_new(p, EXPR_INDEX, at), n);
      if (n)
        n = add_kid(p, n, parse_expr(p));
      n = expect(p, n, ']', "after the index");
    }
  }
  return n;
}

static expr_node *parse_unary(parser *p) {
  if (!is_op(p, '!') && !is_op(p, '-'))
    return parse_postfix(p);
  if (!enter(p))
    return NULL;
  int op = p->tok.op;
  size_t at = p->tok.start;
  if (advance(p) != CF_OK)
    return NULL;
  expr_node *kid = parse_unary(p);
  p->depth--;
  if (!kid)
    return NULL;
  /* -5 is a literal, so that it reads as one in the tree. */
  if (op == '-' && kid->kind == EXPR_LITERAL && json_is_integer(kid->value) &&
      json_integer_value(kid->value) != INT64_MIN) {
    json_integer_set(kid->value, -json_integer_value(kid->value));
    kid->column = at + 1;
    return kid;
  }
  if (op == '-' && kid->kind == EXPR_LITERAL && json_is_real(kid->value)) {
    json_real_set(kid->value, -json_real_value(kid->value));
    kid->column = at + 1;
    return kid;
  }
  expr_node *n = node_new(p, EXPR_UNARY, at);
  if (n)
    n->op = op;
  return add_kid(p, n, kid);
}

/* Binary levels, loosest first; each is left-associative. */
static const int levels[][5] = {
    {EXPR_OP_COALESCE},
    {EXPR_OP_OR},
    {EXPR_OP_AND},
    {EXPR_OP_EQ, EXPR_OP_NE},
    {'<', '>', EXPR_OP_LE, EXPR_OP_GE},
    {'+', '-'},
    {'*', '/', '%'},
};
#define LEVELS (int)(sizeof levels / sizeof *levels)

static expr_node *parse_level(parser *p, int level) {
  if (level == LEVELS)
    return parse_unary(p);
  expr_node *n = parse_level(p, level + 1);
  for (;;) {
    if (!n || p->tok.kind != T_PUNCT)
      return n;
    int op = 0;
    for (int k = 0; k < 5 && levels[level][k]; k++)
      if (p->tok.op == levels[level][k])
        op = p->tok.op;
    if (!op)
      return n;
    size_t at = p->tok.start;
    if (advance(p) != CF_OK) {
      expr_node_free(n);
      return NULL;
    }
    expr_node *b = node_new(p, EXPR_BINARY, at);
    if (b)
      b->op = op;
    n = add_kid(p, b, n);
    if (n)
      n = add_kid(p, n, parse_level(p, level + 1));
  }
}

static expr_node *parse_expr(parser *p) {
  if (!enter(p))
    return NULL;
  expr_node *n = parse_level(p, 0);
  if (n && is_op(p, '?')) {
    size_t at = p->tok.start;
    if (advance(p) != CF_OK) {
      expr_node_free(n);
      return NULL;
    }
    n = add_kid(p, node_new(p, EXPR_COND, at), n);
    if (n)
      n = add_kid(p, n, parse_expr(p));
    n = expect(p, n, ':', "between the branches of '?'");
    if (n)
      n = add_kid(p, n, parse_expr(p));
  }
  p->depth--;
  return n;
}

/* --------------------------------------------------------------- template */

bool expr_text_has_template(const char *text, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (text[i] == '{' && text[i + 1] == '{')
      return true;
  return false;
}

size_t expr_utf8_invalid_at(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned char c = u[i];
    size_t need;
    unsigned long cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      need = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      need = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (len - i <= need)
      return i;
    for (size_t k = 1; k <= need; k++) {
      if ((u[i + k] & 0xC0) != 0x80)
        return i;
      cp = cp << 6 | (u[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += need + 1;
  }
  return len;
}

void expr_message_clean(char *msg) {
  size_t len = strlen(msg), at;
  while ((at = expr_utf8_invalid_at(msg, len)) < len)
    msg[at] = '?';
}

void expr_tmpl_free(expr_tmpl *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->nparts; i++) {
    json_decref(t->parts[i].text);
    expr_node_free(t->parts[i].expr);
  }
  free(t->parts);
  free(t);
}

static cf_err add_part(parser *p, expr_tmpl *t, json_t *text, expr_node *e, size_t at) {
  expr_part *grown = realloc(t->parts, (t->nparts + 1) * sizeof *grown);
  if (!grown || (!text && !e)) {
    json_decref(text);
    expr_node_free(e);
    if (grown)
      t->parts = grown;
    return fail_at(p, CF_E_NOMEM, at, "out of memory");
  }
  t->parts = grown;
  t->parts[t->nparts++] = (expr_part){text, e};
  return CF_OK;
}

static bool all_space(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i]))
      return false;
  return true;
}

/* Parses one `{{ expr }}` whose "{{" is at `open`; p->pos ends after "}}". */
static expr_node *parse_part(parser *p, size_t open) {
  p->pos = open + 2;
  if (advance(p) != CF_OK)
    return NULL;
  if (at_close(p)) {
    fail(p, open, "empty '{{ }}' (write an expression inside)");
    return NULL;
  }
  expr_node *e = parse_expr(p);
  if (!e && p->hit_end && p->rc == CF_E_INVALID) {
    /* Whatever was missing, the cause is most likely the missing "}}". */
    p->rc = CF_OK;
    fail(p, open, "this '{{' has no closing '}}'");
  }
  if (!e)
    return NULL;
  if (!at_close(p)) {
    char buf[40];
    if (p->tok.kind == T_END)
      fail(p, open, "this '{{' has no closing '}}'");
    else
      fail(p, p->tok.start, "expected '}}' after the expression, found %s",
           show_token(p, &p->tok, buf));
    expr_node_free(e);
    return NULL;
  }
  p->pos = p->tok.start + 2;
  free(p->tok.s);
  p->tok = (token){0};
  return e;
}

static int effective_depth(const expr_limits *lim) {
  int d = lim && lim->max_depth > 0 ? lim->max_depth : EXPR_DEFAULT_DEPTH;
  return d > EXPR_HARD_DEPTH ? EXPR_HARD_DEPTH : d;
}

cf_err expr_tmpl_parse(const char *text, size_t len, const expr_limits *lim, expr_tmpl **out,
                       expr_error *err) {
  *out = NULL;
  if (err) {
    err->column = 0;
    err->message[0] = '\0';
  }
  if (!text)
    text = "";
  parser p = {.text = text, .len = len, .err = err, .max_depth = effective_depth(lim)};
  size_t max_text = lim && lim->max_text ? lim->max_text : EXPR_DEFAULT_TEXT;
  if (len > max_text) {
    if (err)
      snprintf(err->message, sizeof err->message, "the template is longer than %zu bytes",
               max_text);
    return CF_E_TOO_LARGE;
  }
  size_t bad = expr_utf8_invalid_at(text, len);
  if (bad < len)
    return fail(&p, bad, "the text is not valid UTF-8");
  expr_tmpl *t = calloc(1, sizeof *t);
  if (!t)
    return fail_at(&p, CF_E_NOMEM, 0, "out of memory");
  size_t pos = 0, exprs = 0;
  bool space_only = true;
  while (pos < len) {
    size_t open = pos;
    while (open + 1 < len && !(text[open] == '{' && text[open + 1] == '{'))
      open++;
    if (open + 1 >= len)
      open = len;
    if (open > pos) {
      space_only = space_only && all_space(text + pos, open - pos);
      if (add_part(&p, t, json_stringn(text + pos, open - pos), NULL, pos) != CF_OK)
        break;
    }
    if (open == len) {
      pos = len;
      break;
    }
    expr_node *e = parse_part(&p, open);
    if (!e || add_part(&p, t, NULL, e, open) != CF_OK)
      break;
    exprs++;
    pos = p.pos;
  }
  free(p.tok.s);
  if (pos < len || p.rc != CF_OK) {
    expr_tmpl_free(t);
    return p.rc != CF_OK ? p.rc : CF_E_INVALID;
  }
  t->single = exprs == 1 && space_only;
  *out = t;
  return CF_OK;
}

bool expr_tmpl_is_constant(const expr_tmpl *t) {
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].expr)
      return false;
  return true;
}

/* --------------------------------------------------------------- node refs */

static bool node_refs(const expr_node *n, bool (*fn)(void *ctx, const char *id), void *ctx) {
  if (!n)
    return true;
  if ((n->kind == EXPR_MEMBER || n->kind == EXPR_INDEX) && n->kids[0]->kind == EXPR_ROOT &&
      strcmp(n->kids[0]->name, "nodes") == 0) {
    const json_t *key = n->kind == EXPR_MEMBER             ? n->value
                        : n->kids[1]->kind == EXPR_LITERAL ? n->kids[1]->value
                                                           : NULL;
    /* An id with a NUL byte cannot be named to a C callback. */
    if (json_is_string(key) && strlen(json_string_value(key)) == json_string_length(key) &&
        !fn(ctx, json_string_value(key)))
      return false;
  }
  for (size_t i = 0; i < n->nkids; i++)
    if (!node_refs(n->kids[i], fn, ctx))
      return false;
  return true;
}

bool expr_tmpl_refs_walk(const expr_tmpl *t, bool (*fn)(void *ctx, const char *id), void *ctx) {
  for (size_t i = 0; i < t->nparts; i++)
    if (!node_refs(t->parts[i].expr, fn, ctx))
      return false;
  return true;
}

void expr_tmpl_node_refs(const expr_tmpl *t, bool (*fn)(void *ctx, const char *id), void *ctx) {
  if (t)
    (void)expr_tmpl_refs_walk(t, fn, ctx);
}

const expr_func *expr_func_find(const char *name, size_t len) {
  for (size_t i = 0; i < expr_nfuncs; i++)
    if (strlen(expr_funcs[i].name) == len && memcmp(expr_funcs[i].name, name, len) == 0)
      return &expr_funcs[i];
  return NULL;
}
