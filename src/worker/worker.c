/*
 * worker.c — the worker pool: a dispatcher thread that claims executions in
 * batches for the runners that are free, runner threads that run them, a
 * heartbeat thread that renews every lease in flight (and prunes old
 * executions when retention is set), and the shutdown sequence.
 *
 * Invariants: an execution is in the in-flight list exactly while a runner
 * works on it; every outcome write names the claim's lease token, so a
 * runner that lost its lease can never overwrite the new owner's work; an
 * outcome that cannot be written (the disk is full, the database is locked)
 * is retried, and if it still cannot be written the lease simply expires
 * and another worker runs the execution again — never lost, at worst run
 * twice, which is what step checkpoints and idempotency keys are for.
 */
#include "worker/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct worker_exec {
  worker_pool *pool;
  const store_claim *claim;
  atomic_bool lease_lost;
  atomic_bool cancel_requested;
  struct worker_exec *next, *prev;
  /* Asynchronous runners: the exec owns its claim and lives on the heap
   * until worker_exec_done. */
  store_claim owned;
  uint64_t rng;
};

/* An outcome on its way to the store: tracked until committed, its lease
 * renewed meanwhile, re-sent by the heartbeat if the write failed. */
typedef struct finishing {
  worker_pool *pool;
  int64_t id, token;
  worker_outcome outcome;
  int64_t run_at; /* for a retry */
  char *error, *result;
  bool resend;
  struct finishing *next, *prev;
} finishing;

/* A claimed execution waiting for a runner thread. */
typedef struct ready_item {
  store_claim claim; /* strings owned here */
  struct ready_item *next;
} ready_item;

struct worker_pool {
  worker_config cfg;
  char owner[160];
  pthread_t *runners;
  int nrunners;
  pthread_t dispatcher;
  bool dispatcher_started;
  pthread_t heartbeat;
  ready_item *ready, *ready_tail; /* claimed, not yet started */
  int ready_len;
  int busy;                /* runners working on an execution */
  pthread_cond_t ready_cv; /* an item was queued, or stopping */
  pthread_cond_t slot_cv;  /* a runner became free, or stopping */
  finishing *finishing;    /* outcomes not yet committed */
  int outstanding;         /* asynchronous writes whose callback is due */
  pthread_mutex_t lock;
  pthread_cond_t changed; /* in-flight list or running-thread count changed */
  pthread_cond_t tick;    /* wakes the heartbeat early on stop */
  worker_exec *inflight;
  int running_threads;
  atomic_bool stopping;     /* claim nothing more */
  atomic_bool interrupting; /* grace is over: runners should stop */
  bool detached;            /* stop returned with runners still running */
  int store_users;          /* runner calls into the store in progress */
  bool heartbeat_stop;
  uint64_t async_rng; /* the dispatcher's, for asynchronous runners */
  /* Asynchronous runners with the store's local claimer: slots freed by an
   * outcome are refilled by the outcome's own commit, so the dispatcher
   * claims only when its poll comes round, when a retry this pool queued
   * comes due (retry_due), when a slot was freed without an outcome write
   * (claim_now), or while it finds a backlog. */
  bool local_claims;
  bool claim_now;
  int64_t retry_due; /* the earliest retry this pool queued, not yet claimed (0: none) */
  /* Asynchronous runs whose outcome is with the store but whose
   * worker_exec_done has not yet returned: their slots count as free for
   * claims, while `busy` keeps the pool from looking idle to
   * worker_pool_stop until the call is over. */
  int releasing;
};

int64_t worker_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t worker_backoff_ms(int64_t base, int64_t cap, int attempt, double random) {
  if (base <= 0)
    base = 1;
  int64_t delay = base;
  for (int i = 1; i < attempt && delay < cap; i++)
    delay = delay > INT64_MAX / 2 ? INT64_MAX : delay * 2;
  if (cap > 0 && delay > cap)
    delay = cap;
  int64_t half = delay / 2;
  return half + (int64_t)((double)(delay - half) * random);
}

const store_claim *worker_exec_claim(const worker_exec *x) {
  return x->claim;
}

bool worker_exec_should_stop(const worker_exec *x) {
  return atomic_load(&x->lease_lost) || atomic_load(&x->pool->interrupting);
}

bool worker_exec_cancel_requested(const worker_exec *x) {
  return atomic_load(&x->cancel_requested);
}

/* A runner's way into the store: refused once stop has returned without
 * it (the caller may have closed the store). */
static bool store_enter(worker_pool *p) {
  pthread_mutex_lock(&p->lock);
  bool ok = !p->detached;
  if (ok)
    p->store_users++;
  pthread_mutex_unlock(&p->lock);
  return ok;
}

static void store_leave(worker_pool *p) {
  pthread_mutex_lock(&p->lock);
  p->store_users--;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
}

cf_err worker_exec_steps(worker_exec *x, store_step **steps, size_t *count) {
  if (!store_enter(x->pool))
    return CF_E_STORE_CLOSED;
  cf_err rc = store_step_list(x->pool->cfg.store, x->claim->id, steps, count);
  store_leave(x->pool);
  return rc;
}

cf_err worker_exec_checkpoint_async(worker_exec *x, const store_step *step, store_done_fn done,
                                    void *ctx) {
  if (!store_enter(x->pool))
    return CF_E_STORE_CLOSED;
  cf_err rc = store_step_save_async(x->pool->cfg.store, x->claim->id, x->claim->lease_token, step,
                                    done, ctx);
  store_leave(x->pool);
  return rc;
}

cf_err worker_exec_log(worker_exec *x, const char *node_id, const char *level,
                       const char *message) {
  if (!store_enter(x->pool))
    return CF_E_STORE_CLOSED;
  cf_err rc = store_log_add_async(x->pool->cfg.store, x->claim->id, node_id, level, message,
                                  worker_now_ms(), NULL, NULL);
  store_leave(x->pool);
  return rc;
}

cf_err worker_exec_checkpoint(worker_exec *x, const store_step *step) {
  if (!store_enter(x->pool))
    return CF_E_STORE_CLOSED;
  cf_err rc = store_step_save(x->pool->cfg.store, x->claim->id, x->claim->lease_token, step);
  store_leave(x->pool);
  if (rc == CF_E_LEASE_LOST)
    atomic_store(&x->lease_lost, true);
  return rc;
}

const char *worker_pool_owner(const worker_pool *pool) {
  return pool->owner;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

double worker_random(uint64_t *state) {
  /* xorshift64*: jitter only, not security. */
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return (double)((x * UINT64_C(2685821657736338717)) >> 11) / 9007199254740992.0;
}

static void on_outcome_written(void *ctx, cf_err rc);

/* Queues the outcome write; called with p->lock held. */
static void send_outcome(worker_pool *p, finishing *f) {
  store *s = p->cfg.store;
  int64_t now = worker_now_ms();
  cf_err rc;
  f->resend = false;
  switch (f->outcome) {
  case WORKER_SUCCEEDED:
    rc = store_exec_finish_async(s, f->id, f->token, STORE_EXEC_SUCCEEDED, NULL, f->result, now,
                                 on_outcome_written, f);
    break;
  case WORKER_FAILED:
    rc =
        store_exec_retry_async(s, f->id, f->token, f->error, f->run_at, now, on_outcome_written, f);
    break;
  case WORKER_FAILED_FINAL:
    rc = store_exec_finish_async(s, f->id, f->token, STORE_EXEC_FAILED, f->error, f->result, now,
                                 on_outcome_written, f);
    break;
  case WORKER_CANCELLED:
    rc = store_exec_finish_async(s, f->id, f->token, STORE_EXEC_CANCELLED, f->error, f->result, now,
                                 on_outcome_written, f);
    break;
  default:
    rc = store_exec_finish_async(s, f->id, f->token, STORE_EXEC_TIMED_OUT, f->error, f->result, now,
                                 on_outcome_written, f);
    break;
  }
  if (rc == CF_OK)
    p->outstanding++;
  else
    f->resend = rc != CF_E_STORE_CLOSED;
}

static void finishing_free(worker_pool *p, finishing *f) {
  if (f->prev)
    f->prev->next = f->next;
  else
    p->finishing = f->next;
  if (f->next)
    f->next->prev = f->prev;
  free(f->error);
  free(f->result);
  free(f);
}

/* Runs on the store's writer thread after the outcome's commit. */
static void on_outcome_written(void *ctx, cf_err rc) {
  finishing *f = ctx;
  worker_pool *p = f->pool;
  pthread_mutex_lock(&p->lock);
  p->outstanding--;
  if (rc == CF_OK || rc == CF_E_LEASE_LOST || rc == CF_E_STORE_CLOSED) {
    finishing_free(p, f);
  } else if (rc == CF_E_INVALID && f->result) {
    /* Refused for good (the result is not JSON): record the outcome without it. */
    fprintf(stderr, "cronflow worker: execution %lld: its result is not valid JSON; not kept\n",
            (long long)f->id);
    free(f->result);
    f->result = NULL;
    f->resend = true;
  } else if (rc == CF_E_INVALID || rc == CF_E_CONFLICT || rc == CF_E_TOO_LARGE) {
    fprintf(stderr, "cronflow worker: execution %lld: outcome refused: %s\n", (long long)f->id,
            cf_strerror(rc));
    finishing_free(p, f); /* its lease expires; it runs again (max_resumes bounds it) */
  } else {
    /* The heartbeat sends it again; the lease is renewed meanwhile, and if
     * it cannot be, another worker runs the execution again. */
    fprintf(stderr, "cronflow worker: execution %lld: cannot record the outcome: %s; retrying\n",
            (long long)f->id, cf_strerror(rc));
    f->resend = true;
  }
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
}

/* Hands an outcome to the store; the runner does not wait for the commit.
 * With `slot`, an asynchronous runner's slot counts as free (releasing)
 * once the outcome is tracked (true returned), before its write is queued:
 * the batch that commits the outcome then claims new work for that slot
 * in the same transaction (the store's local claimer). */
static bool record_outcome(worker_pool *p, const store_claim *c, worker_result *r, uint64_t *rng,
                           bool slot) {
  if (r->outcome == WORKER_INTERRUPTED) {
    /* Shutdown past grace: give it back so another worker resumes it. */
    cf_err rc = store_exec_release(p->cfg.store, c->id, c->lease_token, worker_now_ms());
    if (rc && rc != CF_E_LEASE_LOST && rc != CF_E_STORE_CLOSED)
      fprintf(stderr,
              "cronflow worker: execution %lld: cannot give it back (%s); its lease will "
              "expire and another worker will run it\n",
              (long long)c->id, cf_strerror(rc));
    return false;
  }
  finishing *f = calloc(1, sizeof *f);
  if (!f) {
    fprintf(stderr,
            "cronflow worker: execution %lld: out of memory recording its outcome; it "
            "will run again when its lease expires\n",
            (long long)c->id);
    return false;
  }
  f->pool = p;
  f->id = c->id;
  f->token = c->lease_token;
  f->outcome = r->outcome;
  f->error = r->error[0] ? strdup(r->error) : NULL;
  f->result = r->result;
  r->result = NULL;
  if (f->outcome == WORKER_FAILED) {
    if (c->attempt < c->max_attempts)
      f->run_at = worker_now_ms() + worker_backoff_ms(c->backoff_ms, c->backoff_max_ms, c->attempt,
                                                      worker_random(rng));
    else
      f->outcome = WORKER_FAILED_FINAL;
  }
  pthread_mutex_lock(&p->lock);
  f->next = p->finishing;
  if (p->finishing)
    p->finishing->prev = f;
  p->finishing = f;
  if (slot)
    p->releasing++;
  if (f->outcome == WORKER_FAILED && (!p->retry_due || f->run_at < p->retry_due)) {
    /* Due later: no commit will claim it then, so the dispatcher looks. */
    p->retry_due = f->run_at;
    pthread_cond_signal(&p->slot_cv);
  }
  send_outcome(p, f);
  pthread_mutex_unlock(&p->lock);
  return slot;
}

/* False (and the outcome recorded) when the execution's workers died too
 * often: it is failed instead of being run again. */
static bool may_run(worker_pool *p, const store_claim *c, uint64_t *rng) {
  int max_resumes = p->cfg.max_resumes > 0 ? p->cfg.max_resumes : 20;
  if (c->resumes <= max_resumes)
    return true;
  worker_result r = {.outcome = WORKER_FAILED_FINAL};
  snprintf(r.error, sizeof r.error,
           "the worker running this execution stopped %d times without finishing it; "
           "giving up",
           c->resumes);
  (void)record_outcome(p, c, &r, rng, false);
  return false;
}

static void inflight_add(worker_pool *p, worker_exec *x) {
  pthread_mutex_lock(&p->lock);
  x->prev = NULL;
  x->next = p->inflight;
  if (p->inflight)
    p->inflight->prev = x;
  p->inflight = x;
  pthread_mutex_unlock(&p->lock);
}

static void inflight_remove(worker_pool *p, worker_exec *x) {
  pthread_mutex_lock(&p->lock);
  if (x->prev)
    x->prev->next = x->next;
  else
    p->inflight = x->next;
  if (x->next)
    x->next->prev = x->prev;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
}

/* The end of a run: the outcome goes to the store unless the lease is gone.
 * True when the run's slot was freed on the way (see record_outcome). */
static bool conclude(worker_pool *p, worker_exec *x, worker_result *r, uint64_t *rng, bool slot) {
  inflight_remove(p, x);
  bool freed = false;
  if (!atomic_load(&x->lease_lost) && store_enter(p)) {
    freed = record_outcome(p, x->claim, r, rng, slot);
    store_leave(p);
  }
  free(r->result);
  r->result = NULL;
  return freed;
}

static void run_one(worker_pool *p, const store_claim *c, uint64_t *rng) {
  if (!may_run(p, c, rng))
    return;
  worker_exec x = {.pool = p, .claim = c};
  atomic_init(&x.lease_lost, false);
  atomic_init(&x.cancel_requested, false);
  worker_result r = {.outcome = WORKER_FAILED_FINAL};
  inflight_add(p, &x);
  p->cfg.run(p->cfg.run_ctx, &x, &r);
  (void)conclude(p, &x, &r, rng, false);
}

/* Asynchronous runners: hands the claim (moved into the exec) to start. */
static void start_one(worker_pool *p, store_claim *c) {
  worker_exec *x = calloc(1, sizeof *x);
  if (!x || !may_run(p, c, &p->async_rng)) {
    /* Out of memory: its lease expires and it runs later. */
    free(c->trigger_kind);
    free(c->trigger_data);
    free(x);
    return;
  }
  x->pool = p;
  x->owned = *c;
  x->claim = &x->owned;
  x->rng = p->async_rng ^ (uint64_t)c->id * 0x9E3779B97F4A7C15u;
  atomic_init(&x->lease_lost, false);
  atomic_init(&x->cancel_requested, false);
  pthread_mutex_lock(&p->lock);
  p->busy++;
  pthread_mutex_unlock(&p->lock);
  inflight_add(p, x);
  p->cfg.start(p->cfg.run_ctx, x);
}

void worker_exec_done(worker_exec *x, worker_result *r) {
  worker_pool *p = x->pool;
  bool freed = conclude(p, x, r, &x->rng, true);
  free(x->owned.trigger_kind);
  free(x->owned.trigger_data);
  free(x);
  pthread_mutex_lock(&p->lock);
  p->busy--;
  if (freed) {
    p->releasing--;
  } else {
    /* No outcome write will claim for this slot: the dispatcher does. */
    p->claim_now = true;
    pthread_cond_signal(&p->slot_cv);
  }
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
}

/* Queues claimed executions for the runner threads. */
static void queue_ready(worker_pool *p, store_claim *claims, size_t n) {
  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < n; i++) {
    ready_item *it = malloc(sizeof *it);
    if (!it) {
      /* Cannot hand it over: its lease will expire and it runs later. */
      free(claims[i].trigger_kind);
      free(claims[i].trigger_data);
      continue;
    }
    it->claim = claims[i];
    it->next = NULL;
    if (p->ready_tail)
      p->ready_tail->next = it;
    else
      p->ready = it;
    p->ready_tail = it;
    p->ready_len++;
    /* One runner per item: a broadcast would wake every idle runner. */
    pthread_cond_signal(&p->ready_cv);
  }
  pthread_mutex_unlock(&p->lock);
}

/* The most executions claimed in one go. */
#define CLAIM_BATCH 256

/* Claims work for the free runner slots and queues it for the runners. */
static void *dispatcher_main(void *arg) {
  worker_pool *p = arg;
  pthread_setname_np(pthread_self(), "cf-dispatch");
  store *s = p->cfg.store;
  int64_t next_poll = 0; /* with local claims: when to look again anyway */
  while (!atomic_load(&p->stopping)) {
    pthread_mutex_lock(&p->lock);
    int free_slots = p->cfg.concurrency - p->busy - p->ready_len;
    int64_t wait_ms = 1000;
    bool idle = free_slots <= 0;
    if (!idle && p->local_claims && !p->claim_now) {
      int64_t now = worker_now_ms(), wake_at = next_poll;
      if (p->retry_due && p->retry_due < wake_at)
        wake_at = p->retry_due;
      idle = now < wake_at;
      wait_ms = wake_at - now;
    }
    if (idle) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += (time_t)(wait_ms / 1000);
      until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&p->slot_cv, &p->lock, &until);
      pthread_mutex_unlock(&p->lock);
      continue;
    }
    p->claim_now = false;
    if (p->retry_due && p->retry_due <= worker_now_ms())
      p->retry_due = 0;
    bool local = p->local_claims;
    pthread_mutex_unlock(&p->lock);
    uint64_t seen = store_work_seq(s);
    store_claim *claims;
    size_t n;
    int64_t now = worker_now_ms();
    int want = free_slots < CLAIM_BATCH ? free_slots : CLAIM_BATCH;
    cf_err rc = store_exec_claim(s, p->owner, now, p->cfg.lease_ms, want, &claims, &n);
    if (rc) {
      if (rc == CF_E_STORE_CLOSED)
        break;
      fprintf(stderr, "cronflow worker: cannot claim work: %s\n", cf_strerror(rc));
      sleep_ms(p->cfg.poll_ms);
      continue;
    }
    if (n == 0) {
      int64_t wait = p->cfg.poll_ms, due;
      if (store_exec_next_due(s, &due) == CF_OK && due - now < wait)
        wait = due > now ? due - now : 1;
      if (local)
        next_poll = now + wait; /* this process's new work is claimed as it commits */
      else
        store_wait_work(s, seen, wait);
      continue;
    }
    /* A full batch: more may be waiting, look again at once. */
    next_poll = n < (size_t)want ? now + p->cfg.poll_ms : 0;
    if (p->cfg.start) {
      for (size_t i = 0; i < n; i++)
        start_one(p, &claims[i]);
      free(claims);
      continue;
    }
    queue_ready(p, claims, n);
    free(claims); /* the strings moved into the ready items */
  }
  pthread_mutex_lock(&p->lock);
  pthread_cond_broadcast(&p->ready_cv);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static void *runner_main(void *arg) {
  worker_pool *p = arg;
  pthread_setname_np(pthread_self(), "cf-runner");
  uint64_t rng = (uint64_t)worker_now_ms() ^ (uint64_t)(uintptr_t)&rng ^ 0x9E3779B97F4A7C15u;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->ready && !atomic_load(&p->stopping))
      pthread_cond_wait(&p->ready_cv, &p->lock);
    if (!p->ready || atomic_load(&p->stopping))
      break; /* queued items not started are given back by worker_pool_stop */
    ready_item *it = p->ready;
    p->ready = it->next;
    if (!p->ready)
      p->ready_tail = NULL;
    p->ready_len--;
    p->busy++;
    pthread_mutex_unlock(&p->lock);
    run_one(p, &it->claim, &rng);
    free(it->claim.trigger_kind);
    free(it->claim.trigger_data);
    free(it);
    pthread_mutex_lock(&p->lock);
    p->busy--;
    pthread_cond_signal(&p->slot_cv);
  }
  p->running_threads--;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

typedef struct lease_ref {
  worker_exec *x;
  int64_t id, token;
} lease_ref;

/* The leases in flight (and, with `finishing`, those whose outcome is on
 * its way), copied so the store can be called without the pool's lock.
 * Called with p->lock held; the caller frees the array. */
static lease_ref *snapshot_leases(worker_pool *p, bool finishing_too, size_t *count) {
  size_t n = 0;
  for (worker_exec *x = p->inflight; x; x = x->next)
    n++;
  for (finishing *f = p->finishing; finishing_too && f; f = f->next)
    n++;
  lease_ref *refs = n ? malloc(n * sizeof *refs) : NULL;
  size_t k = 0;
  for (worker_exec *x = p->inflight; refs && x; x = x->next)
    refs[k++] = (lease_ref){x, x->claim->id, x->claim->lease_token};
  for (finishing *f = p->finishing; refs && finishing_too && f; f = f->next)
    refs[k++] = (lease_ref){NULL, f->id, f->token};
  *count = k;
  return refs;
}

/* Tells the runner behind `ref` its lease is gone, if it is still on that
 * execution (matched by id and token: runners reuse their handles). */
static void mark_lost(worker_pool *p, const lease_ref *ref) {
  if (!ref->x)
    return;
  pthread_mutex_lock(&p->lock);
  for (worker_exec *x = p->inflight; x; x = x->next)
    if (x == ref->x && x->claim->id == ref->id && x->claim->lease_token == ref->token)
      atomic_store(&x->lease_lost, true);
  pthread_mutex_unlock(&p->lock);
}

/* Tells the runner behind `ref` that somebody asked to cancel it. */
static void mark_cancelled(worker_pool *p, const lease_ref *ref) {
  if (!ref->x)
    return;
  pthread_mutex_lock(&p->lock);
  for (worker_exec *x = p->inflight; x; x = x->next)
    if (x == ref->x && x->claim->id == ref->id && x->claim->lease_token == ref->token)
      atomic_store(&x->cancel_requested, true);
  pthread_mutex_unlock(&p->lock);
}

/* Renews every lease in flight or finishing; marks the ones lost; sends
 * again the outcomes whose write failed. */
static void renew_all(worker_pool *p) {
  pthread_mutex_lock(&p->lock);
  for (finishing *f = p->finishing; f; f = f->next)
    if (f->resend)
      send_outcome(p, f);
  size_t k;
  lease_ref *refs = snapshot_leases(p, true, &k);
  pthread_mutex_unlock(&p->lock);
  for (size_t i = 0; i < k; i++) {
    cf_err rc =
        store_exec_renew(p->cfg.store, refs[i].id, refs[i].token, worker_now_ms(), p->cfg.lease_ms);
    if (rc == CF_E_LEASE_LOST)
      mark_lost(p, &refs[i]);
    else if (rc == CF_E_CANCELLED)
      mark_cancelled(p, &refs[i]);
  }
  free(refs);
}

static void *heartbeat_main(void *arg) {
  worker_pool *p = arg;
  pthread_setname_np(pthread_self(), "cf-heartbeat");
  int64_t every = p->cfg.lease_ms / 3 > 0 ? p->cfg.lease_ms / 3 : 1;
  int64_t next_prune = worker_now_ms();
  pthread_mutex_lock(&p->lock);
  while (!p->heartbeat_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(every / 1000);
    until.tv_nsec += (long)(every % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->tick, &p->lock, &until);
    if (p->heartbeat_stop)
      break;
    pthread_mutex_unlock(&p->lock);
    renew_all(p);
    int64_t now = worker_now_ms();
    if (p->cfg.retention_ms > 0 && now >= next_prune) {
      int64_t deleted = 0;
      cf_err rc = store_exec_prune(p->cfg.store, now - p->cfg.retention_ms, 500, &deleted);
      /* Small batches, so claims never wait long behind a prune; go on
       * at once while there is more. */
      next_prune = rc == CF_OK && deleted == 500 ? now : now + 60000;
    }
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* ---- the store's local claimer: work handed over in the transaction that
 * made it due, and cancel requests told at once ---- */

static int claimer_capacity(void *ctx) {
  worker_pool *p = ctx;
  if (atomic_load(&p->stopping))
    return 0;
  pthread_mutex_lock(&p->lock);
  int free_slots = p->cfg.concurrency - p->busy - p->ready_len + p->releasing;
  pthread_mutex_unlock(&p->lock);
  return free_slots > 0 ? free_slots : 0;
}

static void claimer_deliver(void *ctx, store_claim *claims, size_t n) {
  worker_pool *p = ctx;
  if (p->cfg.start) {
    for (size_t i = 0; i < n; i++)
      start_one(p, &claims[i]);
  } else {
    queue_ready(p, claims, n);
  }
  free(claims); /* the strings moved on with each claim */
}

static void claimer_cancelled(void *ctx, int64_t id) {
  worker_pool *p = ctx;
  pthread_mutex_lock(&p->lock);
  for (worker_exec *x = p->inflight; x; x = x->next)
    if (x->claim->id == id)
      atomic_store(&x->cancel_requested, true);
  pthread_mutex_unlock(&p->lock);
}

cf_err worker_pool_start(const worker_config *cfg, worker_pool **out) {
  *out = NULL;
  if (!cfg->store || !cfg->run == !cfg->start)
    return CF_E_INVALID;
  worker_pool *p = calloc(1, sizeof *p);
  if (!p)
    return CF_E_NOMEM;
  p->cfg = *cfg;
  if (p->cfg.concurrency <= 0)
    p->cfg.concurrency = 4;
  if (p->cfg.lease_ms <= 0)
    p->cfg.lease_ms = 10000;
  if (p->cfg.grace_ms <= 0)
    p->cfg.grace_ms = 30000;
  if (p->cfg.poll_ms <= 0)
    p->cfg.poll_ms = 500;
  if (cfg->owner) {
    snprintf(p->owner, sizeof p->owner, "%s", cfg->owner);
  } else {
    char host[64] = "host";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    unsigned r = (unsigned)(worker_now_ms() ^ (int64_t)getpid() * 2654435761u);
    snprintf(p->owner, sizeof p->owner, "%s:%d:%08x", host, (int)getpid(), r);
  }
  p->cfg.owner = p->owner;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->changed, NULL);
  pthread_cond_init(&p->tick, NULL);
  pthread_cond_init(&p->ready_cv, NULL);
  pthread_cond_init(&p->slot_cv, NULL);
  atomic_init(&p->stopping, false);
  atomic_init(&p->interrupting, false);
  p->runners = calloc((size_t)p->cfg.concurrency, sizeof *p->runners);
  if (!p->runners) {
    free(p);
    return CF_E_NOMEM;
  }
  if (pthread_create(&p->heartbeat, NULL, heartbeat_main, p) != 0) {
    free(p->runners);
    free(p);
    return CF_E_NOMEM;
  }
  p->async_rng = (uint64_t)worker_now_ms() ^ (uint64_t)(uintptr_t)p ^ 0x9E3779B97F4A7C15u;
  for (int i = 0; p->cfg.run && i < p->cfg.concurrency; i++) {
    pthread_mutex_lock(&p->lock);
    p->running_threads++;
    pthread_mutex_unlock(&p->lock);
    if (pthread_create(&p->runners[i], NULL, runner_main, p) != 0) {
      pthread_mutex_lock(&p->lock);
      p->running_threads--;
      pthread_mutex_unlock(&p->lock);
      break;
    }
    p->nrunners++;
  }
  if ((p->nrunners > 0 || p->cfg.start) &&
      pthread_create(&p->dispatcher, NULL, dispatcher_main, p) == 0)
    p->dispatcher_started = true;
  if (!p->dispatcher_started) {
    worker_pool_stop(p);
    return CF_E_NOMEM;
  }
  store_claimer cl = {.owner = p->owner,
                      .lease_ms = p->cfg.lease_ms,
                      .capacity = claimer_capacity,
                      .deliver = claimer_deliver,
                      .cancelled = claimer_cancelled,
                      .ctx = p};
  store_set_claimer(p->cfg.store, &cl);
  pthread_mutex_lock(&p->lock);
  p->local_claims = p->cfg.start != NULL;
  pthread_cond_signal(&p->slot_cv);
  pthread_mutex_unlock(&p->lock);
  *out = p;
  return CF_OK;
}

/* Waits until every runner thread has returned or `ms` passes. */
static bool wait_runners(worker_pool *p, int64_t ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(ms / 1000);
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->lock);
  /* Asynchronous runners have no threads: wait for their executions. */
  while (p->running_threads > 0 || (p->cfg.start && p->busy > 0))
    if (pthread_cond_timedwait(&p->changed, &p->lock, &until) == ETIMEDOUT)
      break;
  bool all = p->running_threads == 0 && !(p->cfg.start && p->busy > 0);
  pthread_mutex_unlock(&p->lock);
  return all;
}

/* Gives back executions claimed but not started. */
static void release_ready(worker_pool *p) {
  pthread_mutex_lock(&p->lock);
  ready_item *it = p->ready;
  p->ready = p->ready_tail = NULL;
  p->ready_len = 0;
  pthread_mutex_unlock(&p->lock);
  while (it) {
    ready_item *next = it->next;
    cf_err rc =
        store_exec_release(p->cfg.store, it->claim.id, it->claim.lease_token, worker_now_ms());
    if (rc && rc != CF_E_LEASE_LOST)
      fprintf(stderr,
              "cronflow worker: execution %lld: cannot give it back (%s); its lease will "
              "expire and another worker will run it\n",
              (long long)it->claim.id, cf_strerror(rc));
    free(it->claim.trigger_kind);
    free(it->claim.trigger_data);
    free(it);
    it = next;
  }
}

void worker_pool_stop(worker_pool *p) {
  if (!p)
    return;
  atomic_store(&p->stopping, true);
  /* No more hand-overs from the store's writer (waits for one in progress). */
  store_set_claimer(p->cfg.store, NULL);
  pthread_mutex_lock(&p->lock);
  pthread_cond_broadcast(&p->ready_cv);
  pthread_cond_broadcast(&p->slot_cv);
  pthread_mutex_unlock(&p->lock);
  if (p->dispatcher_started)
    pthread_join(p->dispatcher, NULL);
  release_ready(p);
  /* Runners between executions notice within poll_ms; running ones get
   * the grace period to finish. */
  bool done = wait_runners(p, p->cfg.grace_ms + p->cfg.poll_ms);
  if (!done) {
    atomic_store(&p->interrupting, true);
    done = wait_runners(p, 5000);
  }
  if (!done) {
    /* A runner ignores the interruption: give its execution back so another
     * worker resumes it now; the late runner is fenced out by the token. */
    pthread_mutex_lock(&p->lock);
    size_t k;
    lease_ref *refs = snapshot_leases(p, false, &k);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < k; i++)
      if (store_exec_release(p->cfg.store, refs[i].id, refs[i].token, worker_now_ms()) == CF_OK)
        mark_lost(p, &refs[i]);
    free(refs);
  }
  /* Let queued outcome writes commit (the heartbeat keeps their leases and
   * re-sends failed ones), within the grace period. */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(p->cfg.grace_ms / 1000) + 1;
  pthread_mutex_lock(&p->lock);
  while (p->finishing)
    if (pthread_cond_timedwait(&p->changed, &p->lock, &until) == ETIMEDOUT)
      break;
  p->heartbeat_stop = true;
  pthread_cond_broadcast(&p->tick);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->heartbeat, NULL);
  /* Callbacks of writes already queued still point here: wait for them
   * (the store always answers). Unsent outcomes are dropped: their leases
   * expire and the executions run again. */
  pthread_mutex_lock(&p->lock);
  while (p->outstanding > 0)
    pthread_cond_wait(&p->changed, &p->lock);
  while (p->finishing)
    finishing_free(p, p->finishing);
  if (!done) {
    /* Stuck runner threads still point at the pool: keep it, but let them
     * no longer reach the store, which the caller is about to close. */
    p->detached = true;
    while (p->store_users > 0)
      pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return;
  }
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->nrunners; i++)
    pthread_join(p->runners[i], NULL);
  pthread_cond_destroy(&p->changed);
  pthread_cond_destroy(&p->tick);
  pthread_cond_destroy(&p->ready_cv);
  pthread_cond_destroy(&p->slot_cv);
  pthread_mutex_destroy(&p->lock);
  free(p->runners);
  free(p);
}
