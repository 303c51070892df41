/*
 * store_int.h — the table of operations a store backend provides (internal
 * to store/). One backend per file; store.c picks one by URL and forwards
 * every call, so callers never see which backend they talk to.
 */
#ifndef CF_STORE_STORE_INT_H
#define CF_STORE_STORE_INT_H

#include "store/store.h"

/* A credential as a backend keeps it: metadata and the sealed data. */
typedef struct store_cred_row {
  char *name, *type, *fields;
  bool read_only;
  int64_t created_at, updated_at;
  unsigned char *nonce; /* STORE_NONCE_BYTES */
  unsigned char *sealed;
  size_t sealed_len;
} store_cred_row;

#define STORE_NONCE_BYTES 24

void store_cred_rows_free(store_cred_row *rows, size_t count);

typedef struct store_backend {
  const char *name;
  /* The URL prefix that selects the backend ("sqlite:"); NULL = the
   * default for plain paths. */
  const char *scheme;
  cf_err (*open)(const store_config *cfg, const char *location, void **impl, char *err,
                 size_t err_cap);
  void (*close)(void *impl);
  cf_err (*migrate)(void *impl, int *applied, int *version, char *err, size_t err_cap);
  cf_err (*schema_version)(void *impl, int *current, int *latest);
  cf_err (*ping)(void *impl);

  cf_err (*exec_enqueue)(void *impl, const store_exec_new *e, int64_t now, int64_t *id);
  cf_err (*exec_enqueue_batch)(void *impl, const store_exec_new *items, size_t n, int64_t now,
                               int64_t *ids);
  cf_err (*exec_claim)(void *impl, const char *owner, int64_t now, int64_t lease_ms, int max,
                       store_claim **claims, size_t *count);
  cf_err (*exec_renew)(void *impl, int64_t id, int64_t token, int64_t now, int64_t lease_ms);
  cf_err (*exec_finish)(void *impl, int64_t id, int64_t token, store_exec_status status,
                        const char *error, const char *result, int64_t now);
  cf_err (*exec_retry)(void *impl, int64_t id, int64_t token, const char *error, int64_t run_at,
                       int64_t now);
  cf_err (*exec_finish_async)(void *impl, int64_t id, int64_t token, store_exec_status status,
                              const char *error, const char *result, int64_t now,
                              store_done_fn done, void *ctx);
  cf_err (*exec_retry_async)(void *impl, int64_t id, int64_t token, const char *error,
                             int64_t run_at, int64_t now, store_done_fn done, void *ctx);
  cf_err (*step_save_async)(void *impl, int64_t execution_id, int64_t token, const store_step *step,
                            store_done_fn done, void *ctx);
  cf_err (*exec_release)(void *impl, int64_t id, int64_t token, int64_t now);
  cf_err (*exec_rerun_failed)(void *impl, int64_t id, int64_t now);
  cf_err (*exec_get)(void *impl, int64_t id, store_exec *out);
  /* the REST API's tables and listings (sqlite_api.c) */
  cf_err (*workflow_list)(void *impl, int64_t org_id, int64_t after_id, int limit,
                          store_workflow **out, size_t *count);
  cf_err (*workflow_versions)(void *impl, int64_t org_id, int64_t workflow_id,
                              int32_t before_version, int limit, store_version_info **out,
                              size_t *count);
  cf_err (*workflow_webhook_set)(void *impl, int64_t org_id, int64_t id, const unsigned char *hash,
                                 int64_t now);
  cf_err (*workflow_by_webhook)(void *impl, const unsigned char *hash, store_workflow *out);
  cf_err (*workflow_schedule)(void *impl, int64_t org_id, int64_t workflow_id,
                              int64_t *schedule_id);
  cf_err (*org_find)(void *impl, const char *name, bool create, int64_t now, int64_t *id,
                     bool *created);
  cf_err (*org_name)(void *impl, int64_t id, char **name);
  cf_err (*user_create)(void *impl, int64_t org_id, const char *email, const char *name,
                        const char *password_hash, store_role role, int64_t now, int64_t *id);
  cf_err (*user_by_email)(void *impl, const char *email, store_user *out);
  cf_err (*user_get)(void *impl, int64_t org_id, int64_t id, store_user *out);
  cf_err (*user_update)(void *impl, int64_t org_id, int64_t id, const store_user_change *change,
                        int64_t now, store_user *out);
  cf_err (*user_set_password)(void *impl, int64_t org_id, int64_t id, const char *expected_hash,
                              const char *new_hash, int64_t keep_session_id);
  cf_err (*user_count)(void *impl, int64_t *count);
  cf_err (*user_list)(void *impl, int64_t org_id, int64_t after_id, int limit, store_user **out,
                      size_t *count);
  cf_err (*token_create)(void *impl, const store_token_new *t, int64_t now, int64_t *id);
  cf_err (*token_lookup)(void *impl, const unsigned char *hash, int64_t now, store_token *out);
  cf_err (*token_list)(void *impl, int64_t org_id, int64_t after_id, int limit, store_token **out,
                       size_t *count);
  cf_err (*token_revoke)(void *impl, int64_t org_id, int64_t id, int64_t user_id, int64_t now);
  cf_err (*token_touch_async)(void *impl, int64_t id, int64_t now);
  cf_err (*session_create)(void *impl, const unsigned char *hash, int64_t user_id,
                           const char *csrf_token, int64_t now, int64_t expires_at);
  cf_err (*session_lookup)(void *impl, const unsigned char *hash, int64_t now, store_session *out);
  cf_err (*session_delete)(void *impl, const unsigned char *hash, int64_t now);
  cf_err (*exec_list)(void *impl, const store_exec_filter *f, store_exec **out, size_t *count);
  cf_err (*exec_rerun)(void *impl, int64_t org_id, int64_t id, int64_t now, int64_t *new_id);
  cf_err (*exec_counts)(void *impl, int64_t counts[6]);
  cf_err (*exec_next_due)(void *impl, int64_t *run_at);
  cf_err (*exec_pending)(void *impl, int64_t *count);
  uint64_t (*work_seq)(void *impl);
  void (*wait_work)(void *impl, uint64_t seen, int64_t timeout_ms);
  cf_err (*exec_prune)(void *impl, int64_t before, int limit, int64_t *deleted);
  cf_err (*attempt_list)(void *impl, int64_t execution_id, store_attempt **out, size_t *count);
  cf_err (*step_save)(void *impl, int64_t execution_id, int64_t token, const store_step *step);
  cf_err (*step_list)(void *impl, int64_t execution_id, store_step **out, size_t *count);

  cf_err (*workflow_create)(void *impl, int64_t org_id, const char *name, const char *description,
                            const char *definition, int64_t now, int64_t *id);
  cf_err (*workflow_update)(void *impl, int64_t org_id, int64_t id, const char *name,
                            const char *description, const char *definition, int64_t now,
                            int32_t *version);
  cf_err (*workflow_delete)(void *impl, int64_t org_id, int64_t id, int64_t now);
  cf_err (*workflow_get)(void *impl, int64_t org_id, int64_t id, store_workflow *out);
  cf_err (*workflow_version_get)(void *impl, int64_t workflow_id, int32_t version,
                                 char **definition, int32_t *version_out);
  cf_err (*log_add_async)(void *impl, int64_t execution_id, const char *node_id, const char *level,
                          const char *message, int64_t at, store_done_fn done, void *ctx);
  cf_err (*log_list)(void *impl, int64_t execution_id, store_log **out, size_t *count);

  /* Credentials: the backend stores sealed blobs, never plaintext. */
  cf_err (*cred_put)(void *impl, int64_t org_id, const store_cred_row *row, bool create,
                     int read_only, int64_t now);
  cf_err (*cred_delete)(void *impl, int64_t org_id, const char *name);
  cf_err (*cred_list)(void *impl, int64_t org_id, const char *name, store_cred_row **out,
                      size_t *count);
  cf_err (*email_template_put)(void *impl, int64_t org_id, bool create,
                               const store_email_template *t, int64_t now);
  cf_err (*email_template_list)(void *impl, int64_t org_id, const char *name,
                                store_email_template **out, size_t *count);
  cf_err (*email_template_delete)(void *impl, int64_t org_id, const char *name);
  cf_err (*email_log_add_async)(void *impl, const store_email_log *e, store_done_fn done,
                                void *ctx);
  cf_err (*email_log_list)(void *impl, int64_t org_id, int64_t execution_id, int64_t before_id,
                           int limit, store_email_log **out, size_t *count);

  /* schedules and the tick ledger (sqlite_sched.c) */
  cf_err (*sched_create_batch)(void *impl, const store_schedule_new *items, size_t n, int64_t now,
                               int64_t *ids);
  cf_err (*sched_update)(void *impl, int64_t org_id, int64_t id, const store_schedule_new *n,
                         int64_t now);
  cf_err (*sched_set_enabled)(void *impl, int64_t org_id, int64_t id, bool enabled, int64_t now);
  cf_err (*sched_delete)(void *impl, int64_t org_id, int64_t id, int64_t now);
  cf_err (*sched_get)(void *impl, int64_t org_id, int64_t id, store_schedule *out);
  cf_err (*sched_load)(void *impl, int64_t id, store_schedule *out);
  cf_err (*sched_list)(void *impl, int64_t org_id, int64_t after_id, int limit,
                       store_schedule **out, size_t *count);
  cf_err (*sched_changed)(void *impl, int64_t since, int limit, store_schedule **out,
                          size_t *count);
  cf_err (*sched_change_seq)(void *impl, int64_t *seq);
  cf_err (*sched_fire)(void *impl, store_fire *fires, size_t n, int64_t now);
  cf_err (*sched_fire_async)(void *impl, store_fire *fires, size_t n, int64_t now,
                             store_done_fn done, void *ctx);
  cf_err (*exec_cancel)(void *impl, int64_t id, int64_t now);
  cf_err (*sched_ticks)(void *impl, int64_t schedule_id, int64_t before_id, int limit,
                        store_tick **out, size_t *count);
  cf_err (*sched_ticks_prune)(void *impl, int64_t before, int limit, int64_t *deleted);
  void (*set_claimer)(void *impl, const store_claimer *claimer);
} store_backend;

extern const store_backend store_sqlite_backend;

/* The handle callers hold (store.c forwards; store_creds.c seals). */
struct store {
  const store_backend *backend;
  void *impl;
  unsigned char *key; /* the master key in guarded memory, or NULL */
};

/* Wipes and frees the master key (store_close). */
void store_forget_key(store *s);

#endif
