/*
 * database_query.c — one parameterized SQL statement against a
 * credential's PostgreSQL or SQLite database, without blocking the loop.
 *
 * Params: credential (a `postgres` credential with `url`, or a `sqlite`
 * one with `path`), sql (one statement), params (a list bound to $1, $2...
 * or ?; values are always bound, never put into the text), max_rows
 * (default 1000, at most 100000), timeout_ms (default 30 s).
 * Output: {rows: [{column: value}], row_count, affected_rows, truncated,
 * columns}. Rows past max_rows are read and dropped (truncated: true);
 * each cell is capped at 1 MiB and the whole result at 16 MiB.
 *
 * PostgreSQL: libpq's asynchronous API (PQconnectStartParams +
 * PQconnectPoll, PQsendQueryParams in single-row mode) driven by a
 * uv_poll on the connection's socket; statement_timeout is set for the
 * session, and a read-only credential runs with
 * default_transaction_read_only, so every statement is in a READ ONLY
 * transaction. A local timer backs the server's timeout up.
 * SQLite: on the libuv thread pool (uv_queue_work): opened read-only for
 * a read-only credential, a progress handler enforces the timeout and
 * cancellation.
 *
 * Values: integers and floats as numbers, booleans as booleans, json and
 * jsonb parsed, numeric as text (exact), NULL as null, everything else as
 * text; SQLite blobs as base64 text.
 */
#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions/action.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_ROWS   1000
#define MAX_MAX_ROWS       100000
#define MAX_CELL           (1024 * 1024)
#define MAX_RESULT         (16 * 1024 * 1024)
#define MAX_PARAMS         1000
#define LOCAL_GRACE_MS     2000

typedef struct db_state db_state;

typedef struct poll_box {
  uv_poll_t poll;
  db_state *st;
} poll_box;

struct db_state {
  action_call *call;
  uv_loop_t *loop;
  bool read_only, cancelled_pg;
  int64_t max_rows, timeout_ms;
  char *sql, *target; /* target: the URL or the path */
  char **values;      /* bound parameters as text (NULL = SQL NULL) */
  int nvalues;
  /* the result */
  json_t *rows, *columns;
  int64_t affected;
  bool truncated;
  size_t bytes;
  char error[700];
  bool failed, retryable;
  /* PostgreSQL */
  PGconn *pg;
  poll_box *poll;
  int poll_fd;
  bool querying;
  uv_timer_t timer;
  bool timer_open;
  int handles; /* open handles: the state is freed when the last closes */
  bool finished;
  /* SQLite */
  uv_work_t work;
  atomic_bool stop;
  int64_t deadline_ms;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void state_free(db_state *st) {
  for (int i = 0; i < st->nvalues; i++)
    free(st->values[i]);
  free(st->values);
  free(st->sql);
  if (st->target) {
    sodium_memzero(st->target, strlen(st->target));
    free(st->target);
  }
  json_decref(st->rows);
  json_decref(st->columns);
  free(st);
}

static void fail(db_state *st, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(db_state *st, bool retryable, const char *fmt, ...) {
  if (st->failed)
    return;
  st->failed = true;
  st->retryable = retryable;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->error, sizeof st->error, fmt, ap);
  va_end(ap);
  /* libpq's messages end with a line break. */
  size_t n = strlen(st->error);
  while (n && (st->error[n - 1] == '\n' || st->error[n - 1] == ' '))
    st->error[--n] = '\0';
}

/* Adds a cell to the current row, counting its bytes against the caps. */
static bool add_cell(db_state *st, json_t *row, const char *name, json_t *v, size_t size) {
  st->bytes += size + strlen(name) + 16;
  if (size > MAX_CELL || st->bytes > MAX_RESULT) {
    json_decref(v);
    fail(st, false, "the result is larger than %s (a cell 1 MiB, all rows 16 MiB): select less",
         "the limits");
    return false;
  }
  json_object_set_new(row, name, v ? v : json_null());
  return true;
}

static json_t *output(db_state *st) {
  size_t n = json_array_size(st->rows);
  return json_pack("{s:O, s:I, s:I, s:b, s:O}", "rows", st->rows, "row_count", (json_int_t)n,
                   "affected_rows", (json_int_t)st->affected, "truncated", st->truncated, "columns",
                   st->columns ? st->columns : json_array());
}

/* ------------------------------------------------------------ PostgreSQL */

static void pg_poll_cb(uv_poll_t *h, int status, int events);

static void handle_closed(uv_handle_t *h) {
  db_state *st = h->data;
  if (h->type == UV_POLL)
    free(h);
  if (--st->handles == 0 && st->finished)
    state_free(st);
}

/* Closes the socket watch (the socket may change while connecting). */
static void pg_unwatch(db_state *st) {
  if (!st->poll)
    return;
  uv_poll_stop(&st->poll->poll);
  uv_close((uv_handle_t *)&st->poll->poll, handle_closed);
  st->poll = NULL;
}

static bool pg_watch(db_state *st, int events) {
  int fd = PQsocket(st->pg);
  if (fd < 0) {
    fail(st, true, "PostgreSQL: the connection has no socket%s", "");
    return false;
  }
  if (st->poll && st->poll_fd != fd)
    pg_unwatch(st);
  if (!st->poll) {
    poll_box *b = calloc(1, sizeof *b);
    if (!b || uv_poll_init(st->loop, &b->poll, fd) != 0) {
      free(b);
      fail(st, true, "cannot watch the PostgreSQL socket%s", "");
      return false;
    }
    b->poll.data = st;
    b->st = st;
    st->poll = b;
    st->poll_fd = fd;
    st->handles++;
  }
  uv_poll_start(&st->poll->poll, events, pg_poll_cb);
  return true;
}

/* Ends the step: closes the connection and the handles, then completes
 * (unless cancelled). */
static void pg_finish(db_state *st) {
  action_call *call = st->call;
  pg_unwatch(st);
  if (st->timer_open) {
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, handle_closed);
    st->timer_open = false;
  }
  if (st->pg) {
    PQfinish(st->pg);
    st->pg = NULL;
  }
  json_t *out = NULL;
  char error[sizeof st->error];
  bool failed = st->failed, retryable = st->retryable, cancelled = st->cancelled_pg;
  snprintf(error, sizeof error, "%s", st->error);
  if (!failed && !cancelled)
    out = output(st);
  st->finished = true;
  if (st->handles == 0)
    state_free(st);
  if (cancelled)
    return;
  call->state = NULL;
  if (failed)
    call->complete(call, NULL, error, retryable);
  else
    call->complete(call, out, out ? NULL : "out of memory", true);
}

static json_t *pg_value(const PGresult *res, int row, int col) {
  if (PQgetisnull(res, row, col))
    return json_null();
  const char *v = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  char *end;
  switch (PQftype(res, col)) {
  case 16: return json_boolean(v[0] == 't');
  case 20:
  case 21:
  case 23:
  case 26: {
    long long n = strtoll(v, &end, 10);
    return *end ? json_stringn(v, (size_t)len) : json_integer(n);
  }
  case 700:
  case 701: {
    double d = strtod(v, &end);
    return *end ? json_stringn(v, (size_t)len) : json_real(d);
  }
  case 114:
  case 3802: {
    json_t *j = json_loadb(v, (size_t)len, JSON_DECODE_ANY, NULL);
    return j ? j : json_stringn(v, (size_t)len);
  }
  default: return json_stringn(v, (size_t)len);
  }
}

static void pg_columns(db_state *st, const PGresult *res) {
  if (st->columns)
    return;
  st->columns = json_array();
  for (int c = 0; c < PQnfields(res); c++)
    json_array_append_new(st->columns, json_string(PQfname(res, c)));
}

static void pg_error(db_state *st, const PGresult *res) {
  const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *msg = PQresultErrorMessage(res);
  if (code && strcmp(code, "57014") == 0) {
    char text[120];
    snprintf(text, sizeof text, "%lld ms", (long long)st->timeout_ms);
    fail(st, true, "PostgreSQL: the statement took longer than timeout_ms (%s)", text);
  } else if (code && strcmp(code, "25006") == 0) {
    fail(st, false, "PostgreSQL: the credential is read-only: %s", msg);
  } else {
    /* Connection trouble, serialization failures, deadlocks, resources
     * may pass; syntax, constraints and permissions will not. */
    bool transient = code && (strncmp(code, "08", 2) == 0 || strncmp(code, "40", 2) == 0 ||
                              strncmp(code, "53", 2) == 0 || strncmp(code, "57", 2) == 0);
    fail(st, transient, "PostgreSQL: %s", msg);
  }
}

static void pg_result(db_state *st, PGresult *res) {
  switch (PQresultStatus(res)) {
  case PGRES_SINGLE_TUPLE:
    pg_columns(st, res);
    if (st->failed)
      break;
    if ((int64_t)json_array_size(st->rows) >= st->max_rows) {
      st->truncated = true;
      break;
    }
    {
      json_t *row = json_object();
      for (int c = 0; row && c < PQnfields(res); c++)
        if (!add_cell(st, row, PQfname(res, c), pg_value(res, 0, c),
                      (size_t)PQgetlength(res, 0, c)))
          break;
      json_array_append_new(st->rows, row);
    }
    break;
  case PGRES_TUPLES_OK:
  case PGRES_COMMAND_OK: {
    pg_columns(st, res);
    const char *status = PQcmdStatus(res);
    if (strncmp(status, "SELECT", 6) != 0)
      st->affected = strtoll(PQcmdTuples(res), NULL, 10);
    break;
  }
  case PGRES_EMPTY_QUERY: fail(st, false, "sql is empty%s", ""); break;
  default: pg_error(st, res); break;
  }
  PQclear(res);
}

static void pg_send(db_state *st) {
  if (!PQsendQueryParams(st->pg, st->sql, st->nvalues, NULL, (const char *const *)st->values, NULL,
                         NULL, 0)) {
    fail(st, true, "PostgreSQL: %s", PQerrorMessage(st->pg));
    pg_finish(st);
    return;
  }
  PQsetSingleRowMode(st->pg);
  st->querying = true;
  int flushed = PQflush(st->pg);
  if (flushed < 0) {
    fail(st, true, "PostgreSQL: %s", PQerrorMessage(st->pg));
    pg_finish(st);
    return;
  }
  if (!pg_watch(st, UV_READABLE | (flushed ? UV_WRITABLE : 0)))
    pg_finish(st);
}

static void pg_connect_step(db_state *st) {
  switch (PQconnectPoll(st->pg)) {
  case PGRES_POLLING_READING:
    if (!pg_watch(st, UV_READABLE))
      pg_finish(st);
    return;
  case PGRES_POLLING_WRITING:
    if (!pg_watch(st, UV_WRITABLE))
      pg_finish(st);
    return;
  case PGRES_POLLING_OK:
    if (PQsetnonblocking(st->pg, 1) != 0) {
      fail(st, true, "PostgreSQL: %s", PQerrorMessage(st->pg));
      pg_finish(st);
      return;
    }
    pg_send(st);
    return;
  default:
    fail(st, true, "cannot connect to PostgreSQL: %s", PQerrorMessage(st->pg));
    pg_finish(st);
    return;
  }
}

static void pg_poll_cb(uv_poll_t *h, int status, int events) {
  db_state *st = h->data;
  (void)status;
  if (!st->querying) {
    pg_connect_step(st);
    return;
  }
  if (events & UV_WRITABLE) {
    int flushed = PQflush(st->pg);
    if (flushed < 0) {
      fail(st, true, "PostgreSQL: %s", PQerrorMessage(st->pg));
      pg_finish(st);
      return;
    }
    if (!flushed)
      uv_poll_start(&st->poll->poll, UV_READABLE, pg_poll_cb);
  }
  if (!(events & UV_READABLE) && status >= 0)
    return;
  if (!PQconsumeInput(st->pg)) {
    fail(st, true, "PostgreSQL: %s", PQerrorMessage(st->pg));
    pg_finish(st);
    return;
  }
  while (!PQisBusy(st->pg)) {
    PGresult *res = PQgetResult(st->pg);
    if (!res) {
      pg_finish(st);
      return;
    }
    pg_result(st, res);
  }
}

static void pg_timeout(uv_timer_t *t) {
  db_state *st = t->data;
  char text[40];
  snprintf(text, sizeof text, "%lld ms", (long long)st->timeout_ms);
  fail(st, true, "PostgreSQL did not answer within timeout_ms (%s)", text);
  pg_finish(st);
}

static void pg_start(db_state *st) {
  char options[160];
  snprintf(options, sizeof options, "-c statement_timeout=%lld%s", (long long)st->timeout_ms,
           st->read_only ? " -c default_transaction_read_only=on" : "");
  char connect_timeout[24];
  snprintf(connect_timeout, sizeof connect_timeout, "%lld",
           (long long)(st->timeout_ms / 1000 > 2 ? st->timeout_ms / 1000 : 2));
  const char *const keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
  const char *const vals[] = {st->target, connect_timeout, options, "cronflow", NULL};
  st->pg = PQconnectStartParams(keys, vals, 1);
  uv_timer_init(st->loop, &st->timer);
  st->timer.data = st;
  st->timer_open = true;
  st->handles++;
  uv_timer_start(&st->timer, pg_timeout, (uint64_t)(st->timeout_ms + LOCAL_GRACE_MS), 0);
  if (!st->pg || PQstatus(st->pg) == CONNECTION_BAD) {
    fail(st, false, "cannot connect to PostgreSQL: %s",
         st->pg ? PQerrorMessage(st->pg) : "out of memory");
    pg_finish(st);
    return;
  }
  pg_connect_step(st);
}

/* ------------------------------------------------------------ SQLite */

static int sq_progress(void *ctx) {
  db_state *st = ctx;
  return atomic_load(&st->stop) || mono_ms() > st->deadline_ms;
}

static json_t *sq_value(sqlite3_stmt *stmt, int col, size_t *size) {
  *size = (size_t)sqlite3_column_bytes(stmt, col);
  switch (sqlite3_column_type(stmt, col)) {
  case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(stmt, col));
  case SQLITE_FLOAT: return json_real(sqlite3_column_double(stmt, col));
  case SQLITE_NULL: return json_null();
  case SQLITE_TEXT: {
    json_t *s = json_stringn((const char *)sqlite3_column_text(stmt, col), *size);
    return s ? s : json_string("(text that is not UTF-8)");
  }
  default: {
    if (*size > MAX_CELL)
      return NULL;
    size_t cap = sodium_base64_ENCODED_LEN(*size, sodium_base64_VARIANT_ORIGINAL);
    char *enc = malloc(cap);
    if (!enc)
      return NULL;
    sodium_bin2base64(enc, cap, sqlite3_column_blob(stmt, col), *size,
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *s = json_string(enc);
    free(enc);
    return s;
  }
  }
}

static void sq_run(db_state *st, sqlite3 *db) {
  sqlite3_stmt *stmt = NULL;
  const char *tail = NULL;
  if (sqlite3_prepare_v2(db, st->sql, -1, &stmt, &tail) != SQLITE_OK || !stmt) {
    fail(st, false, stmt ? "SQLite: %s" : "SQLite: %s (or sql is empty)", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return;
  }
  while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';'))
    tail++;
  if (tail && *tail) {
    fail(st, false, "sql must be one statement%s", "");
  } else if (sqlite3_bind_parameter_count(stmt) != st->nvalues) {
    char text[80];
    snprintf(text, sizeof text, "%d placeholders but %d params", sqlite3_bind_parameter_count(stmt),
             st->nvalues);
    fail(st, false, "the statement has %s", text);
  } else if (st->read_only && !sqlite3_stmt_readonly(stmt)) {
    fail(st, false, "SQLite: the credential is read-only and the statement would write%s", "");
  }
  for (int i = 0; !st->failed && i < st->nvalues; i++)
    sqlite3_bind_text(stmt, i + 1, st->values[i], -1, SQLITE_STATIC);
  int cols = sqlite3_column_count(stmt);
  st->columns = json_array();
  for (int c = 0; c < cols; c++)
    json_array_append_new(st->columns, json_string(sqlite3_column_name(stmt, c)));
  int rc = SQLITE_DONE;
  while (!st->failed && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if ((int64_t)json_array_size(st->rows) >= st->max_rows) {
      st->truncated = true;
      continue;
    }
    json_t *row = json_object();
    for (int c = 0; row && c < cols; c++) {
      size_t size;
      json_t *v = sq_value(stmt, c, &size);
      if (!add_cell(st, row, sqlite3_column_name(stmt, c), v, size))
        break;
    }
    json_array_append_new(st->rows, row);
  }
  if (!st->failed && rc == SQLITE_INTERRUPT) {
    char text[40];
    snprintf(text, sizeof text, "%lld ms", (long long)st->timeout_ms);
    fail(st, true, "SQLite: the statement took longer than timeout_ms (%s)", text);
  } else if (!st->failed && rc != SQLITE_DONE) {
    int code = sqlite3_errcode(db);
    fail(st, code == SQLITE_BUSY || code == SQLITE_LOCKED, "SQLite: %s", sqlite3_errmsg(db));
  }
  if (!st->failed && !sqlite3_stmt_readonly(stmt))
    st->affected = sqlite3_changes64(db);
  sqlite3_finalize(stmt);
}

static void sq_work(uv_work_t *w) {
  db_state *st = w->data;
  sqlite3 *db = NULL;
  int flags = (st->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX |
              SQLITE_OPEN_PRIVATECACHE;
  if (sqlite3_open_v2(st->target, &db, flags, NULL) != SQLITE_OK) {
    fail(st, false, "cannot open the SQLite database: %s", db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return;
  }
  sqlite3_busy_timeout(db, (int)(st->timeout_ms < 5000 ? st->timeout_ms : 5000));
  sqlite3_progress_handler(db, 1000, sq_progress, st);
  sq_run(st, db);
  sqlite3_close(db);
}

static void sq_after(uv_work_t *w, int status) {
  db_state *st = w->data;
  if (atomic_load(&st->stop) || status == UV_ECANCELED) {
    state_free(st); /* cancelled: complete is not called */
    return;
  }
  action_call *call = st->call;
  call->state = NULL;
  if (st->failed) {
    char error[sizeof st->error];
    snprintf(error, sizeof error, "%s", st->error);
    bool retry = st->retryable;
    state_free(st);
    call->complete(call, NULL, error, retry);
    return;
  }
  json_t *out = output(st);
  state_free(st);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

/* ------------------------------------------------------------ the step */

static char *param_text(const json_t *v) {
  if (json_is_null(v))
    return NULL;
  if (json_is_string(v))
    return strdup(json_string_value(v));
  if (json_is_true(v))
    return strdup("true");
  if (json_is_false(v))
    return strdup("false");
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static const char *prepare(db_state *st, const char **kind, char *why, size_t cap) {
  action_call *call = st->call;
  const json_t *p = call->params;
  bool bad = false;
  const char *name = action_param_string(p, "credential", &bad);
  const char *sql = action_param_string(p, "sql", &bad);
  st->max_rows = action_param_int(p, "max_rows", DEFAULT_MAX_ROWS, 0, MAX_MAX_ROWS, &bad);
  st->timeout_ms = action_param_int(p, "timeout_ms", DEFAULT_TIMEOUT_MS, 1, 3600 * 1000, &bad);
  if (bad || !name || !sql || !sql[0])
    return "credential and sql are required strings; max_rows 0 to 100000; timeout_ms 1 to "
           "3600000";
  const json_t *params = json_object_get(p, "params");
  if (params && !json_is_null(params) && !json_is_array(params))
    return "params must be a list of values for $1, $2, ... (or ?)";
  if (json_array_size(params) > MAX_PARAMS)
    return "params has more than 1000 values";
  const json_t *cred = call->credential(call, name, why, cap);
  if (!cred)
    return why;
  *kind = json_string_value(json_object_get(cred, "type"));
  const json_t *data = json_object_get(cred, "data");
  const char *target = NULL;
  if (*kind && strcmp(*kind, "postgres") == 0)
    target = json_string_value(json_object_get(data, "url"));
  else if (*kind && strcmp(*kind, "sqlite") == 0)
    target = json_string_value(json_object_get(data, "path"));
  else {
    snprintf(why, cap, "credential '%.100s' is of type %s, not postgres or sqlite", name,
             *kind ? *kind : "unknown");
    return why;
  }
  if (!target || !target[0])
    return "the credential has no url (postgres) or path (sqlite)";
  st->read_only = json_is_true(json_object_get(cred, "read_only")) ||
                  json_is_true(json_object_get(data, "read_only"));
  st->sql = strdup(sql);
  st->target = strdup(target);
  st->rows = json_array();
  st->nvalues = (int)json_array_size(params);
  st->values = calloc((size_t)st->nvalues + 1, sizeof *st->values);
  if (!st->sql || !st->target || !st->rows || !st->values)
    return "out of memory";
  for (int i = 0; i < st->nvalues; i++) {
    const json_t *v = json_array_get(params, (size_t)i);
    st->values[i] = param_text(v);
    if (!st->values[i] && !json_is_null(v))
      return "out of memory";
  }
  return NULL;
}

static void start(action_call *call) {
  db_state *st = calloc(1, sizeof *st);
  if (!st) {
    call->complete(call, NULL, "out of memory", true);
    return;
  }
  st->call = call;
  st->loop = call->loop;
  char why[300];
  const char *kind = NULL;
  const char *err = prepare(st, &kind, why, sizeof why);
  if (err) {
    char copy[300];
    snprintf(copy, sizeof copy, "%s", err);
    state_free(st);
    call->complete(call, NULL, copy, false);
    return;
  }
  call->state = st;
  if (strcmp(kind, "postgres") == 0) {
    pg_start(st);
    return;
  }
  st->deadline_ms = mono_ms() + st->timeout_ms;
  st->work.data = st;
  if (uv_queue_work(call->loop, &st->work, sq_work, sq_after) != 0) {
    call->state = NULL;
    state_free(st);
    call->complete(call, NULL, "cannot queue the query", true);
  }
}

static void cancel(action_call *call) {
  db_state *st = call->state;
  if (!st)
    return;
  call->state = NULL;
  if (st->target && !st->pg && !st->timer_open) {
    /* SQLite: stop the statement; sq_after frees the state. */
    atomic_store(&st->stop, true);
    uv_cancel((uv_req_t *)&st->work);
    return;
  }
  st->cancelled_pg = true;
  pg_finish(st);
}

static void check(const json_t *params, const char *path, flow_problems *problems) {
  const json_t *p = json_object_get(params, "params");
  if (p && !json_is_array(p) && !action_is_template(p))
    flow_problem_add(problems, path, "params: must be a list of values for $1, $2, ... (or ?)");
  const json_t *sql = json_object_get(params, "sql");
  if (sql && !json_is_string(sql))
    flow_problem_add(problems, path, "sql: must be a string");
}

static const char *const required[] = {"credential", "sql", NULL};

const action_def action_database_query = {
    .name = "database_query",
    .required = required,
    .check = check,
    .start = start,
    .cancel = cancel,
};
