/*
 * expr_int.h — the compiled form of a template and what the parser
 * (parse.c), the evaluator (eval.c), the functions (funcs.c) and templated
 * JSON (json.c) share. Not for other modules.
 *
 * A compiled template is a list of parts: literal text, or the syntax tree
 * of one `{{ }}` expression. Trees are immutable after parsing; every
 * evaluation keeps its state in an expr_ctx on its own stack, so one tree
 * may be evaluated by many threads at once. Literal values in the tree are
 * jansson values that are only ever read and json_incref'd, never changed.
 *
 * Each node records its height, which the parser keeps within the depth
 * limit: the evaluator's recursion is bounded by it.
 */
#ifndef CF_EXPR_EXPR_INT_H
#define CF_EXPR_EXPR_INT_H

#include <stdarg.h>

#include "expr/expr.h"

#define EXPR_DEFAULT_TEXT  65536
#define EXPR_DEFAULT_DEPTH 64
#define EXPR_DEFAULT_STEPS 1000000
#define EXPR_DEFAULT_VALUE (16u * 1024 * 1024)
/* However deep the caller allows, recursion stays far from the stack's end. */
#define EXPR_HARD_DEPTH 1000
/* Bytes of a string that count as one evaluation step. */
#define EXPR_BYTES_PER_STEP 64
/* The estimated bytes of one array element or object member. */
#define EXPR_BYTES_PER_ELEMENT 16

typedef enum expr_kind {
  EXPR_LITERAL, /* value */
  EXPR_ROOT,    /* name: one of the root names */
  EXPR_MEMBER,  /* kids[0].value, value is the key (a string) */
  EXPR_INDEX,   /* kids[0][kids[1]] */
  EXPR_UNARY,   /* op kids[0] */
  EXPR_BINARY,  /* kids[0] op kids[1], including && || ?? */
  EXPR_COND,    /* kids[0] ? kids[1] : kids[2] */
  EXPR_ARRAY,   /* [kids...] */
  EXPR_OBJECT,  /* {kids[0]: kids[1], ...}: keys are string literals */
  EXPR_CALL,    /* func(kids...) */
} expr_kind;

/* Operators: single-character ones are their character. */
enum {
  EXPR_OP_EQ = 256,
  EXPR_OP_NE,
  EXPR_OP_LE,
  EXPR_OP_GE,
  EXPR_OP_AND,
  EXPR_OP_OR,
  EXPR_OP_COALESCE,
};

typedef struct expr_ctx expr_ctx;
typedef struct expr_node expr_node;

/* A built-in function: its arguments are evaluated first (new references,
 * still owned by the caller); *out receives a new reference. */
typedef cf_err (*expr_builtin)(expr_ctx *c, const expr_node *call, json_t *const *args,
                               size_t nargs, json_t **out);

typedef struct expr_func {
  const char *name;
  size_t min_args, max_args; /* max SIZE_MAX: any number */
  expr_builtin run;
} expr_func;

struct expr_node {
  expr_kind kind;
  int op;
  int height;    /* 1 for a leaf */
  size_t column; /* 1-based, in the template text */
  json_t *value;
  const char *name;
  const expr_func *func;
  size_t nkids;
  expr_node **kids;
};

typedef struct expr_part {
  json_t *text;    /* literal text (a string), or NULL */
  expr_node *expr; /* or an expression */
} expr_part;

struct expr_tmpl {
  size_t nparts;
  expr_part *parts;
  /* Exactly one expression with only white space around it: the value
   * keeps its type. */
  bool single;
};

/* The state of one evaluation. */
struct expr_ctx {
  const expr_env *env;
  expr_error *err;
  uint64_t steps, max_steps;
  size_t max_value;
};

/* A growing byte buffer capped at the evaluation's value size. */
typedef struct expr_buf {
  char *data;
  size_t len, cap;
} expr_buf;

/* ---- parse.c */
/* Offset of the first byte that is not well-formed UTF-8, or len. */
size_t expr_utf8_invalid_at(const char *s, size_t len);
/* Replaces the bytes of a message that are not UTF-8 (a quote of the
 * input cut mid-character) with '?', so that it fits in JSON. */
void expr_message_clean(char *msg);
const expr_func *expr_func_find(const char *name, size_t len);
void expr_node_free(expr_node *n);
/* expr_tmpl_node_refs that says whether fn asked to stop (false). */
bool expr_tmpl_refs_walk(const expr_tmpl *t, bool (*fn)(void *ctx, const char *id), void *ctx);

/* ---- eval.c */
void expr_ctx_init(expr_ctx *c, const expr_env *env, expr_error *err);
cf_err expr_eval_node(expr_ctx *c, const expr_node *n, json_t **out);
__attribute__((format(printf, 3, 4))) cf_err expr_fail(expr_ctx *c, size_t column, const char *fmt,
                                                       ...);
__attribute__((format(printf, 3, 4))) cf_err expr_too_large(expr_ctx *c, size_t column,
                                                            const char *fmt, ...);
cf_err expr_nomem(expr_ctx *c);
/* Charges n steps; fails once the budget is spent. */
cf_err expr_step(expr_ctx *c, size_t column, uint64_t n);
/* Fails when a value of `bytes` would pass the value size limit. */
cf_err expr_check_size(expr_ctx *c, size_t column, size_t bytes);

cf_err expr_buf_add(expr_ctx *c, size_t column, expr_buf *b, const char *s, size_t n);
/* Appends v as interpolation writes it (strings bare, null empty). */
cf_err expr_buf_add_text(expr_ctx *c, size_t column, expr_buf *b, const json_t *v);
/* Appends v as compact JSON. */
cf_err expr_buf_add_json(expr_ctx *c, size_t column, expr_buf *b, const json_t *v);
/* Hands the bytes over as a new string value; frees the buffer. */
cf_err expr_buf_take(expr_ctx *c, expr_buf *b, json_t **out);
void expr_buf_free(expr_buf *b);

/* Deep equality where 1 == 1.0. */
bool expr_equal(const json_t *a, const json_t *b);
/* "null", "boolean", "number", "string", "array", "object". */
const char *expr_type_name(const json_t *v);
/* "a number", "an object"... for messages. */
const char *expr_type_article(const json_t *v);
/* Adds two numbers keeping integers exact; divides likewise. */
cf_err expr_add_numbers(expr_ctx *c, size_t column, const json_t *a, const json_t *b, json_t **out);
cf_err expr_divide(expr_ctx *c, size_t column, const json_t *a, const json_t *b, json_t **out);
/* A real result, or an error when it is not finite. */
cf_err expr_real(expr_ctx *c, size_t column, double d, json_t **out);
/* Number of code points in a UTF-8 string of n bytes. */
size_t expr_utf8_count(const char *s, size_t n);
/* Byte offset of code point index i (i <= count). */
size_t expr_utf8_offset(const char *s, size_t n, size_t i);

/* ---- funcs.c */
extern const expr_func expr_funcs[];
extern const size_t expr_nfuncs;

#endif
