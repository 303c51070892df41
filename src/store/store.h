/*
 * store.h — cronflow's durable state behind one interface: schema
 * migrations, and executions as a queue (enqueue, claim with a lease,
 * renew, checkpoint steps, finish, retry later, release).
 *
 * A store is opened from a URL: "sqlite:PATH" or a plain path selects the
 * embedded SQLite backend (sqlite.c); PostgreSQL joins behind the same
 * table of operations (store_int.h). Every function is thread-safe. Times
 * are milliseconds since the Unix epoch (UTC), passed in by the caller so
 * that tests can drive a clock.
 *
 * Write operations are durable when they return CF_OK: the backend has
 * committed them (SQLite: fsync of the WAL, many writes per fsync under
 * load — group commit). An error return means nothing of that operation
 * was kept — except CF_E_IO, which means the outcome is unknown: the disk
 * failed to sync after the commit. After that the store refuses every
 * write (restart once the disk is healthy).
 *
 * Claims are fenced: every claim of an execution raises its lease_token,
 * and every later write about that execution names the token it holds. A
 * worker whose lease expired and was claimed again gets CF_E_LEASE_LOST and
 * must stop touching the execution.
 */
#ifndef CF_STORE_STORE_H
#define CF_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct store store;

typedef struct store_config {
  const char *url;      /* "sqlite:PATH" or PATH */
  int busy_timeout_ms;  /* waiting for another process's lock; 0 = 5000 */
  int group_commit_max; /* writes per transaction at most; 0 = 512 */
  /* SQLite: WAL frames (pages) between background checkpoints (0 = 256)
   * and the WAL's length at which it starts again from the top (0 = 16384,
   * about 64 MB); see sqlite.c. */
  int checkpoint_frames, wal_restart_frames;
} store_config;

/*
 * Opens a store. Refuses a database whose schema is newer than this build
 * (CF_E_STORE_TOO_NEW). Does not migrate: call store_migrate. On error a
 * message for people goes to err (when not NULL). Returns
 * CF_E_STORE_CANTOPEN, CF_E_STORE_READONLY, CF_E_STORE_BUSY,
 * CF_E_STORE_CORRUPT, CF_E_INVALID (bad URL), CF_E_NOMEM.
 */
CF_MUST_CHECK cf_err store_open(const store_config *cfg, store **out, char *err, size_t err_cap);

/* Waits for writes in flight, then closes. NULL is a no-op. */
void store_close(store *s);

/* "sqlite" (or "postgres"). */
const char *store_backend_name(const store *s);

/*
 * Applies pending migrations, each in its own transaction, each once.
 * *applied (may be NULL) counts them; *version (may be NULL) is the schema
 * version afterwards.
 */
CF_MUST_CHECK cf_err store_migrate(store *s, int *applied, int *version, char *err, size_t err_cap);

/* The schema version of the database and the latest this build knows. */
CF_MUST_CHECK cf_err store_schema_version(store *s, int *current, int *latest);

/* CF_OK when the database answers and its schema is current. */
CF_MUST_CHECK cf_err store_ping(store *s);

/* ------------------------------------------------------------ executions */

typedef enum store_exec_status {
  STORE_EXEC_QUEUED,
  STORE_EXEC_RUNNING,
  STORE_EXEC_SUCCEEDED,
  STORE_EXEC_FAILED,
  STORE_EXEC_CANCELLED,
  STORE_EXEC_TIMED_OUT,
} store_exec_status;

/* "queued", "running", ...; NULL for an unknown value. */
const char *store_exec_status_name(store_exec_status status);
/* The status named `name`; false if there is none. */
bool store_exec_status_parse(const char *name, store_exec_status *out);

typedef struct store_exec_new {
  int64_t org_id; /* 0 = the default organization (1) */
  int64_t workflow_id;
  int32_t workflow_version;
  int64_t schedule_id;      /* 0 = not scheduled */
  int64_t scheduled_at;     /* with schedule_id: the fire instant */
  const char *trigger_kind; /* "manual", "schedule", "webhook", "rerun", "api" */
  const char *trigger_data; /* JSON object text; NULL = {} */
  int32_t priority;         /* higher first */
  int64_t run_at;           /* not before; 0 = now */
  int32_t max_attempts;     /* 0 = 1 */
  int64_t backoff_ms;       /* first retry delay; 0 = 1000 */
  int64_t backoff_max_ms;   /* 0 = 300000 */
  int64_t timeout_ms;       /* 0 = none */
} store_exec_new;

/*
 * Enqueues one execution, durably. CF_E_CONFLICT when (schedule_id,
 * scheduled_at) already has one; CF_E_INVALID for bad JSON or a bad kind.
 */
CF_MUST_CHECK cf_err store_exec_enqueue(store *s, const store_exec_new *e, int64_t now,
                                        int64_t *id);

/*
 * Enqueues n executions in one transaction: all of them or, on any error
 * (CF_E_CONFLICT for a fire that already has its execution), none. ids (may
 * be NULL) receives their ids in order.
 */
CF_MUST_CHECK cf_err store_exec_enqueue_batch(store *s, const store_exec_new *items, size_t n,
                                              int64_t now, int64_t *ids);

typedef struct store_claim {
  int64_t id;
  int64_t workflow_id;
  int32_t workflow_version;
  int32_t attempt; /* 1 for the first attempt */
  int32_t max_attempts;
  int64_t backoff_ms, backoff_max_ms, timeout_ms;
  int64_t lease_token; /* name it in every later write */
  int64_t lease_expires_at;
  int64_t schedule_id, scheduled_at;
  int32_t resumes; /* how often it was claimed again after a lost lease */
  int32_t priority;
  int64_t run_at;
  int64_t created_at; /* when it was enqueued */
  int64_t org_id;     /* the organization it runs for */
  char *trigger_kind; /* owned by the claim array */
  char *trigger_data;
} store_claim;

/*
 * Claims up to `max` executions that are due (queued with run_at <= now,
 * highest priority first, then oldest) or whose lease expired (running
 * with lease_expires_at <= now), for `owner`, until now + lease_ms.
 * *claims is an array of *count entries (possibly 0); free it with
 * store_claims_free. Lost leases come first, then due work in claim order.
 */
CF_MUST_CHECK cf_err store_exec_claim(store *s, const char *owner, int64_t now, int64_t lease_ms,
                                      int max, store_claim **claims, size_t *count);
void store_claims_free(store_claim *claims, size_t count);

/* Extends a lease to now + lease_ms. CF_E_LEASE_LOST if fenced out;
 * CF_E_CANCELLED (lease extended) when somebody asked to cancel it. */
CF_MUST_CHECK cf_err store_exec_renew(store *s, int64_t id, int64_t lease_token, int64_t now,
                                      int64_t lease_ms);

/*
 * Ends an execution: succeeded, failed (no retry left), cancelled or
 * timed_out, with an error message and a JSON result (each may be NULL).
 */
CF_MUST_CHECK cf_err store_exec_finish(store *s, int64_t id, int64_t lease_token,
                                       store_exec_status status, const char *error,
                                       const char *result, int64_t now);

/* Records a failed attempt and queues the next one at run_at. */
CF_MUST_CHECK cf_err store_exec_retry(store *s, int64_t id, int64_t lease_token, const char *error,
                                      int64_t run_at, int64_t now);

/*
 * Asynchronous writes. Each copies what it needs and returns at once
 * (CF_OK: queued; CF_E_STORE_CLOSED, CF_E_NOMEM: not queued, `done` never
 * called). Writes are committed in the order they were queued, in the same
 * transactions as everybody else's, and `done(ctx, result)` then runs on the
 * store's writer thread with what a synchronous call would have returned.
 * `done` must be quick and must not call a synchronous store function (the
 * writer would wait for itself); queuing another asynchronous write is fine.
 * `done` may be NULL when nobody needs the result.
 */
typedef void (*store_done_fn)(void *ctx, cf_err result);

CF_MUST_CHECK cf_err store_exec_finish_async(store *s, int64_t id, int64_t lease_token,
                                             store_exec_status status, const char *error,
                                             const char *result, int64_t now, store_done_fn done,
                                             void *ctx);
CF_MUST_CHECK cf_err store_exec_retry_async(store *s, int64_t id, int64_t lease_token,
                                            const char *error, int64_t run_at, int64_t now,
                                            store_done_fn done, void *ctx);

/* Gives an execution back (graceful shutdown): queued again at once, the
 * attempt not counted. */
CF_MUST_CHECK cf_err store_exec_release(store *s, int64_t id, int64_t lease_token, int64_t now);

/*
 * Runs a finished execution that did not succeed (failed, timed_out,
 * cancelled) once more: queued again as a new attempt with one more
 * allowed, its history and step checkpoints kept, so it resumes from the
 * step that failed. CF_E_NOT_FOUND; CF_E_CONFLICT when it is queued,
 * running or succeeded.
 */
CF_MUST_CHECK cf_err store_exec_rerun_failed(store *s, int64_t id, int64_t now);

typedef struct store_exec {
  int64_t id, org_id, workflow_id;
  int32_t workflow_version;
  int64_t schedule_id, scheduled_at;
  store_exec_status status;
  int32_t attempt, max_attempts;
  int64_t run_at, created_at, started_at, finished_at; /* 0 = not yet */
  int64_t lease_token;
  char *trigger_kind, *trigger_data, *error, *result; /* owned; NULL = none */
} store_exec;

/* One execution; CF_E_NOT_FOUND. Free with store_exec_clear. */
CF_MUST_CHECK cf_err store_exec_get(store *s, int64_t id, store_exec *out);
void store_exec_clear(store_exec *e);

/* How many executions are in each status (indexed by store_exec_status). */
CF_MUST_CHECK cf_err store_exec_counts(store *s, int64_t counts[6]);

/* How many executions are queued or running (cheap: from the indexes). */
CF_MUST_CHECK cf_err store_exec_pending(store *s, int64_t *count);

/* The earliest run_at among queued executions; CF_E_NOT_FOUND if none. */
CF_MUST_CHECK cf_err store_exec_next_due(store *s, int64_t *run_at);

/*
 * Wake-ups for workers. store_work_seq returns a counter that goes up each
 * time an execution may have become claimable (an enqueue, retry or release
 * committed through this store). Read it before claiming; if nothing was
 * claimed, store_wait_work(s, seen, timeout) sleeps until the counter moves
 * past `seen` or timeout_ms passes, so no wake-up between the two is lost.
 * Other processes' writes are seen when the caller's timeout comes round.
 */
uint64_t store_work_seq(store *s);
void store_wait_work(store *s, uint64_t seen, int64_t timeout_ms);

/*
 * The local claimer: a worker pool in this process that wants due work
 * handed over in the same transaction that made it due. After a batch of
 * writes that enqueue (or retry, release, fire) executions, the store asks
 * `capacity` how many the pool can take, claims up to that many for
 * `owner` inside the same transaction, and after the commit hands them to
 * `deliver` (which takes ownership of the array: store_claims_free). This
 * saves the pool a claim round trip per wake-up; the pool still claims on
 * its own for work from other processes and for expired leases.
 *
 * capacity and deliver run on the store's writer thread with no store lock
 * held; they must be quick and must not call synchronous store functions
 * (asynchronous ones are fine). store_set_claimer(s, NULL) returns once no
 * call to them is in progress.
 */
typedef struct store_claimer {
  const char *owner; /* copied */
  int64_t lease_ms;
  int (*capacity)(void *ctx);
  void (*deliver)(void *ctx, store_claim *claims, size_t count);
  /* A running execution was asked to cancel (store_exec_cancel, or a fire
   * that replaces it), told after the commit; may be NULL. */
  void (*cancelled)(void *ctx, int64_t execution_id);
  void *ctx;
} store_claimer;

void store_set_claimer(store *s, const store_claimer *claimer);

/* Deletes up to `limit` finished executions (with their steps, logs and
 * attempts) that finished before `before`. */
CF_MUST_CHECK cf_err store_exec_prune(store *s, int64_t before, int limit, int64_t *deleted);

/* ------------------------------------------------------------ attempts */

typedef struct store_attempt {
  int32_t attempt;
  char *lease_owner, *status, *error; /* owned; NULL = none */
  int64_t started_at, finished_at, backoff_ms;
} store_attempt;

CF_MUST_CHECK cf_err store_attempt_list(store *s, int64_t execution_id, store_attempt **out,
                                        size_t *count);
void store_attempts_free(store_attempt *a, size_t count);

/* ------------------------------------------------------------ steps */

typedef struct store_step {
  const char *node_id;
  int64_t iteration;  /* nested loops: outer index * 2^20 + inner index */
  const char *status; /* "running", "succeeded", "failed", ... */
  int32_t attempts;
  const char *input, *output, *error; /* JSON, JSON, text; NULL = none */
  int64_t started_at, finished_at;
} store_step;

/* Saves (inserts or replaces) one step's checkpoint, fenced by the lease. */
CF_MUST_CHECK cf_err store_step_save(store *s, int64_t execution_id, int64_t lease_token,
                                     const store_step *step);

/* store_step_save, asynchronously (see store_exec_finish_async). */
CF_MUST_CHECK cf_err store_step_save_async(store *s, int64_t execution_id, int64_t lease_token,
                                           const store_step *step, store_done_fn done, void *ctx);

/* The checkpoints of an execution, in start order. Free with
 * store_steps_free (the strings belong to the array). */
CF_MUST_CHECK cf_err store_step_list(store *s, int64_t execution_id, store_step **out,
                                     size_t *count);
void store_steps_free(store_step *steps, size_t count);

/* ------------------------------------------------------------ workflows */

/*
 * Workflows have immutable versions: create makes version 1, every update
 * a new version, and executions name the version they ran. Definitions are
 * JSON text, stored as given (the caller validates them: flow/). org_id 0
 * means the default organization.
 */
typedef struct store_workflow {
  int64_t id, org_id;
  char *name, *description; /* owned */
  int32_t current_version;
  int64_t created_at, updated_at;
  bool has_webhook;
} store_workflow;

/* Creates a workflow with its first version. CF_E_INVALID for a definition
 * that is not JSON. */
CF_MUST_CHECK cf_err store_workflow_create(store *s, int64_t org_id, const char *name,
                                           const char *description, const char *definition,
                                           int64_t now, int64_t *id);

/* Adds a version (the new current one) and renames. CF_E_NOT_FOUND for a
 * missing or deleted workflow; *version (may be NULL) gets its number. */
CF_MUST_CHECK cf_err store_workflow_update(store *s, int64_t org_id, int64_t id, const char *name,
                                           const char *description, const char *definition,
                                           int64_t now, int32_t *version);

/* Marks it deleted (kept for its executions' history) and disables its
 * schedules. CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_workflow_delete(store *s, int64_t org_id, int64_t id, int64_t now);

/* A workflow that is not deleted. CF_E_NOT_FOUND. Free with
 * store_workflow_clear. */
CF_MUST_CHECK cf_err store_workflow_get(store *s, int64_t org_id, int64_t id, store_workflow *out);
void store_workflow_clear(store_workflow *w);

/* A version's definition (malloc'd JSON text), version 0 = the current
 * one; *version_out (may be NULL) tells which. Deleted workflows' versions
 * stay readable. CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_workflow_version_get(store *s, int64_t workflow_id, int32_t version,
                                                char **definition, int32_t *version_out);

/* Up to `limit` workflows of an organization (not deleted) with id >
 * after_id, by id. Free with store_workflows_free. */
CF_MUST_CHECK cf_err store_workflow_list(store *s, int64_t org_id, int64_t after_id, int limit,
                                         store_workflow **out, size_t *count);
void store_workflows_free(store_workflow *items, size_t count);

typedef struct store_version_info {
  int32_t version;
  int64_t created_at;
} store_version_info;

/* Up to `limit` versions of an organization's workflow (not deleted),
 * newest first, below before_version (0 = from the newest).
 * CF_E_NOT_FOUND for a workflow that is not the organization's. Free the
 * array with free(). */
CF_MUST_CHECK cf_err store_workflow_versions(store *s, int64_t org_id, int64_t workflow_id,
                                             int32_t before_version, int limit,
                                             store_version_info **out, size_t *count);

/* The hash of a webhook secret: a SHA-256 of the secret URL part. */
#define STORE_HASH_BYTES 32

/* Sets (hash) or removes (NULL) a workflow's webhook secret; the old one
 * stops working in the same transaction. CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_workflow_webhook_set(store *s, int64_t org_id, int64_t id,
                                                const unsigned char *hash, int64_t now);

/* The workflow (not deleted) whose webhook secret has this hash.
 * CF_E_NOT_FOUND. Free with store_workflow_clear. */
CF_MUST_CHECK cf_err store_workflow_by_webhook(store *s, const unsigned char *hash,
                                               store_workflow *out);

/* The id of a workflow's schedule (not deleted; the oldest if several),
 * for the API's one-schedule-per-workflow paths. CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_workflow_schedule(store *s, int64_t org_id, int64_t workflow_id,
                                             int64_t *schedule_id);

/* --------------------------------------- organizations, users, tokens, sessions */

/* The API's roles, weakest first: a role may do what the weaker ones may. */
typedef enum store_role { STORE_ROLE_VIEWER, STORE_ROLE_EDITOR, STORE_ROLE_ADMIN } store_role;

/* "viewer", "editor", "admin"; the parser takes those (false otherwise). */
const char *store_role_name(store_role r);
bool store_role_parse(const char *name, store_role *out);

/* The organization named `name`; with `create`, made when missing
 * (*created says so; may be NULL). CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_org_find(store *s, const char *name, bool create, int64_t now,
                                    int64_t *id, bool *created);

/* An organization's name (malloc'd). CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_org_name(store *s, int64_t id, char **name);

typedef struct store_user {
  int64_t id, org_id;
  char *email, *name, *password_hash; /* owned; password_hash NULL = cannot log in */
  store_role role;
  int64_t created_at;
  bool disabled;
} store_user;

/* Creates a user; password_hash is an argon2id string (the caller hashes).
 * CF_E_CONFLICT when the e-mail address is taken (in any organization). */
CF_MUST_CHECK cf_err store_user_create(store *s, int64_t org_id, const char *email,
                                       const char *name, const char *password_hash, store_role role,
                                       int64_t now, int64_t *id);

/* The user with this e-mail address (any organization, case-insensitive)
 * or, by id, of this organization. CF_E_NOT_FOUND. Free with
 * store_user_clear. */
CF_MUST_CHECK cf_err store_user_by_email(store *s, const char *email, store_user *out);
CF_MUST_CHECK cf_err store_user_get(store *s, int64_t org_id, int64_t id, store_user *out);
void store_user_clear(store_user *u);

/* A change to a user; what it leaves NULL or -1 stays as it is. */
typedef struct store_user_change {
  const char *name; /* NULL: unchanged */
  int role;         /* a store_role, or -1: unchanged */
  int disabled;     /* 1 disables, 0 enables again, -1: unchanged */
} store_user_change;

/*
 * Changes a user of the organization in one transaction: the row and, when
 * the change disables the user, the deletion of every session of theirs
 * (their tokens stay, but no lookup finds them while the user is
 * disabled). A change that would take the last enabled admin of the
 * organization away (demoting or disabling an enabled admin when no other
 * is left) changes nothing and returns CF_E_CONFLICT. Making an "owner" of
 * version 1 an admin keeps the owner. *out (may be NULL) receives the user
 * as changed; free it with store_user_clear. CF_E_NOT_FOUND for a user who
 * is not the organization's; CF_E_INVALID for a role that is not one.
 */
CF_MUST_CHECK cf_err store_user_update(store *s, int64_t org_id, int64_t id,
                                       const store_user_change *change, int64_t now,
                                       store_user *out);

/*
 * Replaces an enabled user's password hash (argon2id; the caller hashes)
 * and ends every session of the user except keep_session_id (0: every
 * one), in one transaction. expected_hash is the hash the caller checked
 * the current password against: when the stored one differs (the password
 * changed meanwhile) nothing changes and the result is CF_E_CONFLICT.
 * CF_E_NOT_FOUND for a user who is not the organization's or is disabled.
 */
CF_MUST_CHECK cf_err store_user_set_password(store *s, int64_t org_id, int64_t id,
                                             const char *expected_hash, const char *new_hash,
                                             int64_t keep_session_id);

/* How many users exist in all organizations. */
CF_MUST_CHECK cf_err store_user_count(store *s, int64_t *count);

/* Up to `limit` users of an organization with id > after_id, by id. Free
 * with store_users_free. */
CF_MUST_CHECK cf_err store_user_list(store *s, int64_t org_id, int64_t after_id, int limit,
                                     store_user **out, size_t *count);
void store_users_free(store_user *items, size_t count);

typedef struct store_token {
  int64_t id, org_id, user_id; /* user_id 0 = made by the CLI, for the organization */
  char *name, *prefix;         /* owned */
  store_role role;             /* capped by its user's role when it has one */
  int64_t created_at, last_used_at, expires_at, revoked_at; /* 0 = never */
} store_token;

typedef struct store_token_new {
  int64_t org_id, user_id;
  const char *name, *prefix;
  const unsigned char *hash; /* STORE_HASH_BYTES: the token is never stored */
  store_role role;
  int64_t expires_at; /* 0 = never */
} store_token_new;

/* Creates an API token. CF_E_CONFLICT for a hash that exists. */
CF_MUST_CHECK cf_err store_token_create(store *s, const store_token_new *t, int64_t now,
                                        int64_t *id);

/* The token with this hash, if it is neither revoked nor expired at `now`.
 * CF_E_NOT_FOUND. Free with store_token_clear. */
CF_MUST_CHECK cf_err store_token_lookup(store *s, const unsigned char *hash, int64_t now,
                                        store_token *out);
void store_token_clear(store_token *t);

/* Up to `limit` tokens of an organization (revoked ones included) with id
 * > after_id, by id. Free with store_tokens_free. */
CF_MUST_CHECK cf_err store_token_list(store *s, int64_t org_id, int64_t after_id, int limit,
                                      store_token **out, size_t *count);
void store_tokens_free(store_token *items, size_t count);

/* Revokes a token of the organization; with user_id > 0 only one that
 * user made. CF_E_NOT_FOUND (also for one already revoked). */
CF_MUST_CHECK cf_err store_token_revoke(store *s, int64_t org_id, int64_t id, int64_t user_id,
                                        int64_t now);

/* Records a use (last_used_at) without waiting; best effort. */
cf_err store_token_touch_async(store *s, int64_t id, int64_t now);

typedef struct store_session {
  int64_t id, user_id, org_id;
  store_role role;
  char *csrf_token, *email; /* owned */
  int64_t expires_at;
} store_session;

/* Creates a session of a user, keyed by the hash of its cookie. */
CF_MUST_CHECK cf_err store_session_create(store *s, const unsigned char *hash, int64_t user_id,
                                          const char *csrf_token, int64_t now, int64_t expires_at);

/* The live session (not expired, user not disabled) with this hash.
 * CF_E_NOT_FOUND. Free with store_session_clear. */
CF_MUST_CHECK cf_err store_session_lookup(store *s, const unsigned char *hash, int64_t now,
                                          store_session *out);
void store_session_clear(store_session *x);

/* Ends a session, and every session that expired before `now`. */
CF_MUST_CHECK cf_err store_session_delete(store *s, const unsigned char *hash, int64_t now);

/* --------------------------------------------------- execution listings */

typedef struct store_exec_filter {
  int64_t org_id;
  int64_t workflow_id, schedule_id; /* 0 = any */
  int status;                       /* a store_exec_status, or -1 = any */
  int64_t since, until;             /* created_at in [since, until); 0 = unbounded */
  int64_t before_id;                /* id < before_id (the cursor); 0 = from the newest */
  int limit;                        /* 1..1000 */
} store_exec_filter;

/* Executions matching the filter, newest (highest id) first. Free with
 * store_execs_free. */
CF_MUST_CHECK cf_err store_exec_list(store *s, const store_exec_filter *f, store_exec **out,
                                     size_t *count);
void store_execs_free(store_exec *items, size_t count);

/* Runs a finished execution of the organization again from the start: a
 * new execution (trigger_kind "rerun", rerun_of = id) of the same workflow
 * version with the same trigger data and limits. CF_E_NOT_FOUND;
 * CF_E_CONFLICT while it is queued or running. */
CF_MUST_CHECK cf_err store_exec_rerun(store *s, int64_t org_id, int64_t id, int64_t now,
                                      int64_t *new_id);

/* ------------------------------------------------------------ logs */

typedef struct store_log {
  int64_t id;
  char *node_id; /* NULL for the execution's own lines */
  char *level;   /* "debug", "info", "warn", "error" */
  char *message;
  int64_t at;
} store_log;

/* Appends a log line of an execution without waiting (see
 * store_exec_finish_async). Messages over 64 KiB are cut. */
CF_MUST_CHECK cf_err store_log_add_async(store *s, int64_t execution_id, const char *node_id,
                                         const char *level, const char *message, int64_t at,
                                         store_done_fn done, void *ctx);

/* An execution's log lines in order. Free with store_logs_free. */
CF_MUST_CHECK cf_err store_log_list(store *s, int64_t execution_id, store_log **out, size_t *count);
void store_logs_free(store_log *logs, size_t count);

/* ------------------------------------------------------------ credentials */

/*
 * Credentials are named per organization and kept encrypted: each one's
 * data (a JSON object) is sealed with libsodium's secretbox (XSalsa20-
 * Poly1305, a fresh random nonce per write) under the master key given
 * with store_set_master_key. The backend only ever sees nonces and
 * ciphertexts; listings carry names, types and which fields are set, never
 * values. Decrypted data is handed out only by store_credential_open_all,
 * and store_credentials_free wipes it.
 */
#define STORE_KEY_BYTES 32

/*
 * The master key: from the environment variable CRONFLOW_MASTER_KEY (the
 * base64 of 32 bytes) when it is set, else from the key file at `path`,
 * which is created with 32 random bytes (base64, mode 0600) when it does
 * not exist. CF_E_KEY (a bad variable or file; err says which), CF_E_IO.
 * The key never appears in err. Thread-safe.
 */
CF_MUST_CHECK cf_err store_master_key_load(const char *path, unsigned char key[STORE_KEY_BYTES],
                                           char *err, size_t err_cap);

/* A random key, for a temporary store that dies with the process. */
void store_master_key_random(unsigned char key[STORE_KEY_BYTES]);

/* Gives the store its master key (copied; wiped at store_close). Call
 * before any credential operation, from one thread. */
void store_set_master_key(store *s, const unsigned char key[STORE_KEY_BYTES]);

typedef struct store_credential {
  char *name, *type; /* owned */
  char *fields;      /* JSON array of the names of the fields set */
  bool read_only;
  int64_t created_at, updated_at;
  char *data; /* store_credential_open_all only: the decrypted JSON object */
} store_credential;

/*
 * Creates a credential. `data` is a JSON object's text. CF_E_CONFLICT when
 * the organization has one by that name; CF_E_INVALID for data that is not
 * a JSON object or a type the schema refuses; CF_E_KEY without a key.
 */
CF_MUST_CHECK cf_err store_credential_create(store *s, int64_t org_id, const char *name,
                                             const char *type, const char *data, bool read_only,
                                             int64_t now);

/* Replaces a credential's data (rotation); read_only -1 keeps the flag,
 * 0 or 1 sets it. Running executions keep what they read. CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_credential_rotate(store *s, int64_t org_id, const char *name,
                                             const char *data, int read_only, int64_t now);

/* CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_credential_delete(store *s, int64_t org_id, const char *name);

/* Metadata of every credential of an organization (data NULL), by name.
 * Free with store_credentials_free. */
CF_MUST_CHECK cf_err store_credential_list(store *s, int64_t org_id, store_credential **out,
                                           size_t *count);

/* Metadata of one (data NULL). CF_E_NOT_FOUND. Free with
 * store_credential_clear. */
CF_MUST_CHECK cf_err store_credential_get(store *s, int64_t org_id, const char *name,
                                          store_credential *out);

/* Every credential of an organization with its data decrypted. CF_E_KEY
 * when one cannot be decrypted (another key). */
CF_MUST_CHECK cf_err store_credential_open_all(store *s, int64_t org_id, store_credential **out,
                                               size_t *count);

/* Frees (wiping decrypted data). NULL is a no-op. */
void store_credentials_free(store_credential *items, size_t count);
void store_credential_clear(store_credential *c);

/* ------------------------------------------------------------ e-mail */

typedef struct store_email_template {
  char *name, *subject, *text, *html; /* owned; "" when not set */
  int64_t created_at, updated_at;
} store_email_template;

/* Saves a template: create (CF_E_CONFLICT when the name is taken) or
 * replace (CF_E_NOT_FOUND when it is not). NULL parts are "". */
CF_MUST_CHECK cf_err store_email_template_put(store *s, int64_t org_id, bool create,
                                              const store_email_template *t, int64_t now);
/* CF_E_NOT_FOUND. Free with store_email_template_clear. */
CF_MUST_CHECK cf_err store_email_template_get(store *s, int64_t org_id, const char *name,
                                              store_email_template *out);
CF_MUST_CHECK cf_err store_email_template_list(store *s, int64_t org_id, store_email_template **out,
                                               size_t *count);
CF_MUST_CHECK cf_err store_email_template_delete(store *s, int64_t org_id, const char *name);
void store_email_template_clear(store_email_template *t);
void store_email_templates_free(store_email_template *items, size_t count);

typedef struct store_email_log {
  int64_t id, org_id, execution_id;                   /* execution_id 0 = none */
  char *node_id;                                      /* may be NULL */
  char *status;                                       /* "sent" or "failed" */
  char *sender, *recipients;                          /* recipients: JSON {"to", "cc", "bcc"} */
  char *subject, *message_id, *smtp_response, *error; /* may be NULL */
  int64_t at;
} store_email_log;

/* Appends a log row without waiting (see store_exec_finish_async). */
CF_MUST_CHECK cf_err store_email_log_add_async(store *s, const store_email_log *e,
                                               store_done_fn done, void *ctx);

/* The newest rows first: those with id < before_id (0 = from the newest),
 * of one execution when execution_id > 0, at most limit (1..1000). Free
 * with store_email_logs_free. */
CF_MUST_CHECK cf_err store_email_log_list(store *s, int64_t org_id, int64_t execution_id,
                                          int64_t before_id, int limit, store_email_log **out,
                                          size_t *count);
void store_email_logs_free(store_email_log *items, size_t count);

/* ------------------------------------------------ schedules and the tick ledger */

/*
 * A schedule fires a workflow at the instants of a cron expression in an
 * IANA zone. The store keeps definitions, the cursor (next_fire_at: the
 * next instant to be accounted for) and the tick ledger; the cron and zone
 * arithmetic is the scheduler's (sched/). org_id 0 means the default
 * organization. Deleted schedules stay as tombstones: they never fire
 * again and their ledger stays readable.
 *
 * Every change of a definition (create, update, enable, disable, delete)
 * bumps `revision`, resets the cursor (the schedule starts over from the
 * change) and gets a new `change_seq`, so schedulers reload just what
 * changed (store_sched_changed); each is recorded in the ledger.
 */
typedef enum store_misfire {
  STORE_MISFIRE_SKIP, /* record missed fires, run none */
  STORE_MISFIRE_ONCE, /* run the most recent missed fire once (default) */
  STORE_MISFIRE_ALL,  /* run each missed fire, up to misfire_limit */
} store_misfire;

typedef enum store_overlap {
  STORE_OVERLAP_SKIP,      /* no new run while one is queued or running (default) */
  STORE_OVERLAP_ALLOW,     /* always run */
  STORE_OVERLAP_QUEUE_ONE, /* at most one waiting behind the running one */
  STORE_OVERLAP_REPLACE,   /* cancel the queued or running one, run the new one */
} store_overlap;

/* "skip", "once", "all" / "skip", "allow", "queue_one", "replace"; NULL
 * for an unknown value. The parsers return false for an unknown name. */
const char *store_misfire_name(store_misfire p);
bool store_misfire_parse(const char *name, store_misfire *out);
const char *store_overlap_name(store_overlap p);
bool store_overlap_parse(const char *name, store_overlap *out);

/* The run_at of an execution held back by queue_one until the running one
 * ends (the last millisecond of year 9999). */
#define STORE_RUN_AT_HELD INT64_C(253402300799999)

typedef struct store_schedule_new {
  int64_t org_id; /* 0 = the default organization */
  int64_t workflow_id;
  const char *cron;     /* validated by the caller (cron_parse) */
  const char *timezone; /* validated by the caller; NULL = "UTC" */
  bool enabled;
  store_misfire misfire;
  int32_t misfire_limit; /* the cap for STORE_MISFIRE_ALL; 0 = 100 */
  store_overlap overlap;
  int64_t grace_ms;           /* < 0 = 60000 */
  int64_t jitter_ms;          /* 0 = none */
  int64_t starts_at, ends_at; /* 0 = unbounded */
  const char *input;          /* JSON object text; NULL = {} */
} store_schedule_new;

typedef struct store_schedule {
  int64_t id, org_id, workflow_id;
  char *cron, *timezone, *input; /* owned */
  char *last_status;             /* owned; NULL = no run finished yet */
  bool enabled, deleted;
  store_misfire misfire;
  int32_t misfire_limit;
  store_overlap overlap;
  int64_t grace_ms, jitter_ms, starts_at, ends_at; /* 0 = unbounded */
  int64_t next_fire_at;                            /* the cursor; 0 = start over */
  int64_t last_fire_at;                            /* 0 = never fired */
  int64_t total_runs, succeeded_runs, failed_runs;
  int64_t revision, change_seq, created_at, updated_at, deleted_at;
} store_schedule;

/*
 * Creates a schedule (with an 'enabled' or 'disabled' tick saying
 * "created"). CF_E_INVALID for input that is not a JSON object, a
 * workflow that does not exist or is deleted, bounds that end before they
 * start, negative numbers.
 */
CF_MUST_CHECK cf_err store_sched_create(store *s, const store_schedule_new *n, int64_t now,
                                        int64_t *id);

/* Creates n schedules in one transaction, all or none; ids (may be NULL)
 * receives their ids. For bulk loads and benchmarks. */
CF_MUST_CHECK cf_err store_sched_create_batch(store *s, const store_schedule_new *items, size_t n,
                                              int64_t now, int64_t *ids);

/* Replaces a schedule's definition (workflow_id included); records
 * 'changed', and 'enabled'/'disabled' when that flag flips. CF_E_NOT_FOUND
 * for a missing or deleted schedule. */
CF_MUST_CHECK cf_err store_sched_update(store *s, int64_t org_id, int64_t id,
                                        const store_schedule_new *n, int64_t now);

/* Enables or disables; records the tick. Setting the state it already has
 * changes and records nothing. CF_E_NOT_FOUND. */
CF_MUST_CHECK cf_err store_sched_set_enabled(store *s, int64_t org_id, int64_t id, bool enabled,
                                             int64_t now);

/* Deletes (a tombstone: never fires again) and records 'deleted'.
 * CF_E_NOT_FOUND for a missing or already deleted schedule. */
CF_MUST_CHECK cf_err store_sched_delete(store *s, int64_t org_id, int64_t id, int64_t now);

/* A schedule that is not deleted; CF_E_NOT_FOUND. Free with
 * store_schedule_clear. */
CF_MUST_CHECK cf_err store_sched_get(store *s, int64_t org_id, int64_t id, store_schedule *out);
void store_schedule_clear(store_schedule *sc);

/* A schedule of any organization, deleted or not (see `deleted`): what a
 * scheduler reloads. CF_E_NOT_FOUND only for an id never created. */
CF_MUST_CHECK cf_err store_sched_load(store *s, int64_t id, store_schedule *out);

/* Up to `limit` schedules of an organization that are not deleted, with
 * id > after_id, by id. Free with store_schedules_free. */
CF_MUST_CHECK cf_err store_sched_list(store *s, int64_t org_id, int64_t after_id, int limit,
                                      store_schedule **out, size_t *count);
void store_schedules_free(store_schedule *items, size_t count);

/*
 * For schedulers: up to `limit` schedules of every organization whose
 * change_seq is above `since`, in change_seq order, deleted and disabled
 * ones included (so they can be dropped), with their cursors. Loading
 * everything is since = 0, repeated from the last change_seq returned.
 */
CF_MUST_CHECK cf_err store_sched_changed(store *s, int64_t since, int limit, store_schedule **out,
                                         size_t *count);

/* The highest change_seq: a cheap "did any schedule change?" (one index
 * lookup). 0 when there are none. */
CF_MUST_CHECK cf_err store_sched_change_seq(store *s, int64_t *seq);

/* What to do with one instant in a fire. */
typedef enum store_fire_kind {
  STORE_FIRE_RUN,      /* a fire on time (or late within grace) */
  STORE_FIRE_CATCH_UP, /* a missed fire run by the misfire policy */
  STORE_FIRE_MISSED,   /* a missed fire the policy does not run: a tick only */
} store_fire_kind;

typedef struct store_fire_instant {
  int64_t at;        /* the cron instant (ms) */
  const char *local; /* it in ISO-8601 with the zone's offset */
  store_fire_kind kind;
  bool late;          /* RUN: more than a second after the instant */
  bool dst_shifted;   /* the wall time fell in a DST gap and moved later */
  const char *detail; /* ledger detail (MISSED: why); NULL = none */
} store_fire_instant;

typedef enum store_fire_result {
  STORE_FIRED, /* accounted for: executions, ticks and cursor written */
  /* Nothing written: the schedule is gone, disabled, changed (revision) or
   * its cursor moved (another scheduler fired it). Reload it. */
  STORE_FIRE_STALE,
} store_fire_result;

typedef struct store_fire {
  int64_t schedule_id;
  int64_t revision;                   /* as loaded */
  int64_t expect_cursor;              /* next_fire_at as loaded (0 = NULL): compare-and-set */
  int64_t new_cursor;                 /* next_fire_at afterwards */
  const store_fire_instant *instants; /* oldest first */
  size_t count;
  /* out */
  store_fire_result result;
  int32_t enqueued;          /* executions created */
  int64_t last_execution_id; /* the last of them, 0 = none */
} store_fire;

/*
 * Accounts for fires of n schedules in ONE transaction (group commit for
 * bursts), each fire all-or-nothing: checks the schedule (exists, enabled,
 * revision, cursor == expect_cursor), then for every instant applies the
 * schedule's overlap policy, enqueues the execution (trigger_kind
 * "schedule"; trigger data {schedule_id, scheduled_at (UTC, ms, Z),
 * scheduled_local, timezone, late, catch_up, input}; run_at = now; the
 * workflow's current version), writes the tick (fired, missed_fired,
 * missed, skipped_overlap, queued, replaced; a DST shift in the detail) and
 * finally moves the cursor to new_cursor and counts total_runs. A fire
 * whose execution already exists ((schedule_id, scheduled_at) is unique)
 * is taken as already fired. Per-fire outcomes go to fires[i].result. The
 * return is the transaction's error (then nothing was written). `now` is
 * the real clock (run_at, recorded_at).
 */
CF_MUST_CHECK cf_err store_sched_fire(store *s, store_fire *fires, size_t n, int64_t now);

/*
 * store_sched_fire without waiting: returns at once (CF_OK: queued;
 * CF_E_STORE_CLOSED, CF_E_NOMEM: not queued, `done` never called) and
 * `done(ctx, result)` runs on the store's writer or syncer thread once the
 * transaction is durable (see store_exec_finish_async for what `done` may
 * do). `fires` and everything it points to must stay valid until then; the
 * per-fire outcomes are filled in before `done` runs and mean nothing when
 * result is not CF_OK. Workers can claim the executions as soon as they
 * are committed, before they are durable.
 */
CF_MUST_CHECK cf_err store_sched_fire_async(store *s, store_fire *fires, size_t n, int64_t now,
                                            store_done_fn done, void *ctx);

/*
 * Cancels an execution: a queued one becomes cancelled now; a running one
 * gets cancel_requested (its runner stops at its next check). CF_OK also
 * when it had finished already (nothing to do); CF_E_NOT_FOUND.
 */
CF_MUST_CHECK cf_err store_exec_cancel(store *s, int64_t id, int64_t now);

typedef struct store_tick {
  int64_t id, schedule_id;
  int64_t scheduled_at; /* 0 for events (enabled, changed, ...) */
  char *outcome;        /* "fired", "missed", ...; owned */
  int64_t execution_id; /* 0 = none */
  char *detail;         /* owned; "" when none */
  int64_t recorded_at;
} store_tick;

/* A schedule's ledger, newest first: up to `limit` ticks with id <
 * before_id (0 = from the newest). Deleted schedules' ledgers included.
 * Free with store_ticks_free. */
CF_MUST_CHECK cf_err store_sched_ticks(store *s, int64_t schedule_id, int64_t before_id, int limit,
                                       store_tick **out, size_t *count);
void store_ticks_free(store_tick *ticks, size_t count);

/* Deletes up to `limit` ticks recorded before `before`. */
CF_MUST_CHECK cf_err store_sched_ticks_prune(store *s, int64_t before, int limit, int64_t *deleted);

#endif
