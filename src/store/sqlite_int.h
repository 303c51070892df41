/*
 * sqlite_int.h — what the SQLite backend's files share (internal to
 * store/): connections with their prepared statements, the writer's job
 * queue, and small helpers. sqlite.c owns the connections, the writer and
 * the syncer threads and the execution queue; sqlite_*.c files add the
 * other tables' operations through the same writer and reader pool.
 *
 * Prepared statements are kept per connection in numbered slots; each file
 * owns a range of slots (SQ_SLOT_*), so no two statements ever share one.
 */
#ifndef CF_STORE_SQLITE_INT_H
#define CF_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/types.h>

#include "store/store_int.h"

/* Statement slot ranges, one per file. */
enum {
  SQ_SLOT_QUEUE = 0,          /* sqlite.c */
  SQ_SLOT_WORKFLOWS = 40,     /* sqlite_defs.c: workflows, versions, logs */
  SQ_SLOT_SCHEDULES = 80,     /* sqlite_sched.c: schedules and the tick ledger */
  SQ_SLOT_API = 120,          /* listings and the rest */
  SQ_SLOT_INTEGRATIONS = 192, /* sqlite_creds.c: credentials, e-mail templates and log */
  SQ_SLOTS = 224
};

#define POOL_MAX 8

typedef struct sqlite_store sqlite_store;

typedef struct conn {
  sqlite3 *db;
  sqlite3_stmt *stmts[SQ_SLOTS];
  sqlite_store *writer_of; /* set on the writer's connection only */
} conn;

typedef struct job {
  cf_err (*fn)(sqlite_store *s, conn *c, void *arg);
  void *arg;
  bool exclusive;        /* runs alone, managing its own transactions */
  bool wakes;            /* may make work claimable: wake waiting workers */
  bool volatile_ok;      /* a lease-only write: need not be fsynced (see run_batch) */
  bool one_write;        /* changes rows with one statement: needs no savepoint */
  bool frees;            /* an execution's outcome: a local worker slot is free */
  store_done_fn done_fn; /* asynchronous: called after the commit, then freed */
  void *done_ctx;
  bool done;
  cf_err result;
  struct job *next;
} job;

struct sqlite_store {
  char *path;
  int busy_ms, batch_max;
  conn writer;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t job_cv, done_cv, work_cv;
  job *head, *tail;
  bool stopping;
  /* Group commit, pipelined: the writer commits without syncing; the
   * syncer fsyncs the WAL and only then acknowledges durable writes. */
  pthread_t syncer;
  bool syncer_started, syncer_stop;
  pthread_cond_t sync_cv;
  job *sync_head, *sync_tail;            /* committed, waiting for a sync */
  int wal_fd;                            /* our own descriptor on the -wal file */
  sqlite3 *checkpointer;                 /* the syncer's connection for checkpoints */
  _Atomic int wal_frames;                /* frames in the WAL after the writer's last commit */
  int checkpoint_frames, restart_frames; /* see checkpoint_if_due */
  int ckpt_frames;                       /* frames copied by the syncer's last checkpoint */
  int tail_asked;                        /* WAL frames when the writer was last asked */
  bool ckpt_tail;                        /* the WAL is long: the writer finishes a checkpoint */
  cf_err sync_failed;                    /* once set, every later write fails with it */
  uint64_t work_seq;
  /* The local claimer (store_set_claimer), its owner copied; claimer_busy
   * counts writer-thread calls into it in progress. */
  store_claimer claimer;
  bool has_claimer;
  char claimer_owner[160];
  int claimer_busy;
  /* Running executions asked to cancel by the batch in progress (writer
   * thread only); told to the claimer after the commit. */
  int64_t *cancels;
  size_t n_cancels, cap_cancels;
  int64_t step_seq; /* the last execution_steps.seq given (writer thread only) */
  /* The batch in progress made a held execution due (writer thread only):
   * claim and wake as for an enqueue. */
  bool released_work;
  pthread_mutex_t pool_lock;
  conn *idle[POOL_MAX];
  size_t nidle;
};

/* Room for strings copied after a job's arguments. */
typedef struct sq_arena {
  char *next, *end;
} sq_arena;

const char *sq_arena_copy(sq_arena *a, const char *text);
size_t sq_text_size(const char *text);

/* SQLite result code (extended) → cf_err. */
cf_err sq_map_rc(int rc);

/* The statement in `slot` of this connection, prepared from `sql` on first
 * use; NULL on error (see sqlite3_errcode). Reset and unbind it with
 * sq_done_with after use. */
sqlite3_stmt *sq_stmt(conn *c, int slot, const char *sql);
void sq_done_with(sqlite3_stmt *st);

/* Steps a statement expected to change rows; its error, or CF_OK. */
cf_err sq_step_done(conn *c, sqlite3_stmt *st);

void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *v);
void sq_bind_int_or_null(sqlite3_stmt *st, int i, int64_t v); /* 0 = NULL */
char *sq_column_dup(sqlite3_stmt *st, int i);                 /* NULL for NULL */

/* Appends one zeroed item of `size` bytes to a growing array (*items, with
 * *count items in room for *cap) and returns it; NULL when out of memory
 * (the array is left as it was). For the row functions of listings. */
void *sq_append(void **items, size_t *count, size_t *cap, size_t size);

/* Runs fn on the writer thread inside a group-commit transaction (under a
 * savepoint of its own) and waits for the durable commit. */
cf_err sq_write_job(sqlite_store *s, cf_err (*fn)(sqlite_store *, conn *, void *), void *arg,
                    bool wakes);

/* Queues a heap job without waiting (see sqlite.c). */
cf_err sq_submit_async(sqlite_store *s, job *j);
void sq_async_ignore(void *ctx, cf_err result);

/* A read-only connection from the pool, and giving it back. */
cf_err sq_reader_get(sqlite_store *s, conn **out);
void sq_reader_put(sqlite_store *s, conn *c);

/* One prepared read on a pooled connection: bind(st, ctx) — or, without
 * bind, `key` as ?1 when it is not 0 — then row() for each row until it
 * returns an error. The one reader of the backend's files. */
typedef struct read_one {
  int slot;
  const char *sql;
  void (*bind)(sqlite3_stmt *st, const void *ctx);
  cf_err (*row)(sqlite3_stmt *st, void *ctx);
  void *ctx;
  int64_t key;
} read_one;
cf_err sq_run_read(sqlite_store *s, const read_one *r);

/* A read_one row function for one integer column into *(int64_t *)ctx;
 * CF_E_NOT_FOUND when it is NULL. */
cf_err sq_int_row(sqlite3_stmt *st, void *ctx);

#define SQ_STMT_OR_FAIL(var, c, slot, sql)                                                         \
  sqlite3_stmt *var = sq_stmt(c, slot, sql);                                                       \
  if (!var)                                                                                        \
  return sq_map_rc(sqlite3_extended_errcode((c)->db))

/* The columns sq_exec_row reads, in its order, and the reader itself
 * (sqlite.c): one row into *out (strings owned by it). */
#define SQ_EXEC_COLUMNS                                                                            \
  "id, org_id, workflow_id, workflow_version, coalesce(schedule_id, 0), "                          \
  "coalesce(scheduled_at, 0), status, attempt, max_attempts, run_at, created_at, "                 \
  "coalesce(started_at, 0), coalesce(finished_at, 0), lease_token, trigger_kind, "                 \
  "trigger_data, error, result"
cf_err sq_exec_row(sqlite3_stmt *st, store_exec *out);

/* The same for workflows (sqlite_defs.c). */
#define SQ_WORKFLOW_COLUMNS                                                                        \
  "id, org_id, name, description, current_version, created_at, updated_at, "                       \
  "webhook_secret IS NOT NULL"
cf_err sq_workflow_row(sqlite3_stmt *st, store_workflow *w);

/* The backend's table entries of sqlite_api.c (defined there). */
#define SQ_API_OPS                                                                                 \
  .workflow_list = sq_workflow_list, .workflow_versions = sq_workflow_versions,                    \
  .workflow_webhook_set = sq_workflow_webhook_set, .workflow_by_webhook = sq_workflow_by_webhook,  \
  .workflow_schedule = sq_workflow_schedule, .org_find = sq_org_find, .org_name = sq_org_name,     \
  .user_create = sq_user_create, .user_by_email = sq_user_by_email, .user_get = sq_user_get,       \
  .user_update = sq_user_update, .user_set_password = sq_user_set_password,                        \
  .user_count = sq_user_count, .user_list = sq_user_list, .token_create = sq_token_create,         \
  .token_lookup = sq_token_lookup, .token_list = sq_token_list, .token_revoke = sq_token_revoke,   \
  .token_touch_async = sq_token_touch_async, .session_create = sq_session_create,                  \
  .session_lookup = sq_session_lookup, .session_delete = sq_session_delete,                        \
  .exec_list = sq_exec_list, .exec_rerun = sq_exec_rerun
cf_err sq_workflow_list(void *impl, int64_t org_id, int64_t after_id, int limit,
                        store_workflow **out, size_t *count);
cf_err sq_workflow_versions(void *impl, int64_t org_id, int64_t workflow_id, int32_t before_version,
                            int limit, store_version_info **out, size_t *count);
cf_err sq_workflow_webhook_set(void *impl, int64_t org_id, int64_t id, const unsigned char *hash,
                               int64_t now);
cf_err sq_workflow_by_webhook(void *impl, const unsigned char *hash, store_workflow *out);
cf_err sq_workflow_schedule(void *impl, int64_t org_id, int64_t workflow_id, int64_t *schedule_id);
cf_err sq_org_find(void *impl, const char *name, bool create, int64_t now, int64_t *id,
                   bool *created);
cf_err sq_org_name(void *impl, int64_t id, char **name);
cf_err sq_user_create(void *impl, int64_t org_id, const char *email, const char *name,
                      const char *password_hash, store_role role, int64_t now, int64_t *id);
cf_err sq_user_by_email(void *impl, const char *email, store_user *out);
cf_err sq_user_get(void *impl, int64_t org_id, int64_t id, store_user *out);
cf_err sq_user_update(void *impl, int64_t org_id, int64_t id, const store_user_change *change,
                      int64_t now, store_user *out);
cf_err sq_user_set_password(void *impl, int64_t org_id, int64_t id, const char *expected_hash,
                            const char *new_hash, int64_t keep_session_id);
cf_err sq_user_count(void *impl, int64_t *count);
cf_err sq_user_list(void *impl, int64_t org_id, int64_t after_id, int limit, store_user **out,
                    size_t *count);
cf_err sq_token_create(void *impl, const store_token_new *t, int64_t now, int64_t *id);
cf_err sq_token_lookup(void *impl, const unsigned char *hash, int64_t now, store_token *out);
cf_err sq_token_list(void *impl, int64_t org_id, int64_t after_id, int limit, store_token **out,
                     size_t *count);
cf_err sq_token_revoke(void *impl, int64_t org_id, int64_t id, int64_t user_id, int64_t now);
cf_err sq_token_touch_async(void *impl, int64_t id, int64_t now);
cf_err sq_session_create(void *impl, const unsigned char *hash, int64_t user_id,
                         const char *csrf_token, int64_t now, int64_t expires_at);
cf_err sq_session_lookup(void *impl, const unsigned char *hash, int64_t now, store_session *out);
cf_err sq_session_delete(void *impl, const unsigned char *hash, int64_t now);
cf_err sq_exec_list(void *impl, const store_exec_filter *f, store_exec **out, size_t *count);
cf_err sq_exec_rerun(void *impl, int64_t org_id, int64_t id, int64_t now, int64_t *new_id);

/* On the writer's connection: notes that running execution `id` was asked
 * to cancel in the transaction in progress. */
void sq_note_cancel(conn *c, int64_t id);

/* An execution of schedule `schedule_id` reached final `status` at `now`:
 * counts it in the schedule's counters and lets the oldest execution held
 * behind it (queue_one) run. Part of the caller's transaction. */
cf_err sq_schedule_exec_ended(sqlite_store *s, conn *c, int64_t schedule_id, const char *status,
                              int64_t now);

/* Operations of sqlite_defs.c, in the backend's table (store_int.h). */
cf_err sq_workflow_create(void *impl, int64_t org_id, const char *name, const char *description,
                          const char *definition, int64_t now, int64_t *id);
cf_err sq_workflow_update(void *impl, int64_t org_id, int64_t id, const char *name,
                          const char *description, const char *definition, int64_t now,
                          int32_t *version);
cf_err sq_workflow_delete(void *impl, int64_t org_id, int64_t id, int64_t now);
cf_err sq_workflow_get(void *impl, int64_t org_id, int64_t id, store_workflow *out);
cf_err sq_workflow_version_get(void *impl, int64_t workflow_id, int32_t version, char **definition,
                               int32_t *version_out);
cf_err sq_log_add_async(void *impl, int64_t execution_id, const char *node_id, const char *level,
                        const char *message, int64_t at, store_done_fn done, void *ctx);
cf_err sq_log_list(void *impl, int64_t execution_id, store_log **out, size_t *count);

/* Operations of sqlite_creds.c. */
cf_err sq_cred_put(void *impl, int64_t org_id, const store_cred_row *row, bool create,
                   int read_only, int64_t now);
cf_err sq_cred_delete(void *impl, int64_t org_id, const char *name);
cf_err sq_cred_list(void *impl, int64_t org_id, const char *name, store_cred_row **out,
                    size_t *count);
cf_err sq_email_template_put(void *impl, int64_t org_id, bool create, const store_email_template *t,
                             int64_t now);
cf_err sq_email_template_list(void *impl, int64_t org_id, const char *name,
                              store_email_template **out, size_t *count);
cf_err sq_email_template_delete(void *impl, int64_t org_id, const char *name);
cf_err sq_email_log_add_async(void *impl, const store_email_log *e, store_done_fn done, void *ctx);
cf_err sq_email_log_list(void *impl, int64_t org_id, int64_t execution_id, int64_t before_id,
                         int limit, store_email_log **out, size_t *count);
/* Operations of sqlite_sched.c: schedules and the tick ledger. */
cf_err sq_sched_create_batch(void *impl, const store_schedule_new *items, size_t n, int64_t now,
                             int64_t *ids);
cf_err sq_sched_update(void *impl, int64_t org_id, int64_t id, const store_schedule_new *n,
                       int64_t now);
cf_err sq_sched_set_enabled(void *impl, int64_t org_id, int64_t id, bool enabled, int64_t now);
cf_err sq_sched_delete(void *impl, int64_t org_id, int64_t id, int64_t now);
cf_err sq_sched_get(void *impl, int64_t org_id, int64_t id, store_schedule *out);
cf_err sq_sched_load(void *impl, int64_t id, store_schedule *out);
cf_err sq_sched_list(void *impl, int64_t org_id, int64_t after_id, int limit, store_schedule **out,
                     size_t *count);
cf_err sq_sched_changed(void *impl, int64_t since, int limit, store_schedule **out, size_t *count);
cf_err sq_sched_change_seq(void *impl, int64_t *seq);
cf_err sq_sched_fire(void *impl, store_fire *fires, size_t n, int64_t now);
cf_err sq_sched_fire_async(void *impl, store_fire *fires, size_t n, int64_t now, store_done_fn done,
                           void *ctx);
cf_err sq_exec_cancel(void *impl, int64_t id, int64_t now);
cf_err sq_sched_ticks(void *impl, int64_t schedule_id, int64_t before_id, int limit,
                      store_tick **out, size_t *count);
cf_err sq_sched_ticks_prune(void *impl, int64_t before, int limit, int64_t *deleted);

#endif
