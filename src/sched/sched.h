/*
 * sched.h — the scheduler: turns every enabled schedule's cron instants
 * into executions, exactly once each, on time, in the schedule's zone, and
 * accounts in the tick ledger for every instant it did not run.
 *
 * One thread keeps each enabled schedule's next due instant (the cron
 * instant plus the schedule's fixed jitter) in an in-memory min-heap and
 * sleeps on a condition variable until the earliest. Due fires found on
 * one wake-up are written together, up to SCHED_BATCH_MAX per transaction
 * (store_sched_fire), each a compare-and-set on the schedule's cursor, so
 * any number of schedulers on one database never double-fire: a scheduler
 * that lost the race reloads the schedule and carries on from the cursor
 * the winner wrote.
 *
 * Changes arrive two ways: sched_notify (this process changed a schedule:
 * wakes the thread at once) and a periodic check, every
 * options.reload_check_ms of real time (default 1 s), of the store's
 * highest change_seq — one index lookup; when it moved, only the schedules
 * changed since are reloaded. The same wake-up notices wall-clock jumps
 * (CLOCK_REALTIME against CLOCK_MONOTONIC): deadlines are absolute
 * instants, so a jump only changes how long to sleep; it is logged and the
 * sleep recomputed, and fires a forward jump made late go through the
 * misfire rules like any other late fire.
 *
 * Misfires: an instant is missed when the scheduler reaches it more than
 * the schedule's grace (default 60 s) after it was due. Missed instants
 * follow the schedule's misfire policy (skip: ledger only; once: the most
 * recent runs as a catch-up; all: the most recent misfire_limit run, oldest
 * first); instants within grace run normally, marked late when more than a
 * second late. docs/scheduling.md tells the whole story.
 *
 * Does not include worker/ or engine/: it only writes executions.
 */
#ifndef CF_SCHED_SCHED_H
#define CF_SCHED_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "store/store.h"
#include "tz/tz.h"

/* Fires written per transaction at most. */
#define SCHED_BATCH_MAX 256

/*
 * The scheduler's clock. now_ms: milliseconds since the Unix epoch on this
 * clock. wait_until: called with `mu` held, blocks on `cv` (as
 * pthread_cond_timedwait; `cv` uses CLOCK_MONOTONIC) until the clock
 * reaches deadline_ms or max_real_ms of real time pass or `cv` is
 * signalled; spurious returns are fine. Both are called on the scheduler's
 * thread only. Leases, run_at and recorded_at never use this clock: they
 * stay on the real one.
 */
typedef struct sched_clock {
  int64_t (*now_ms)(void *ctx);
  void (*wait_until)(void *ctx, pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms,
                     int64_t max_real_ms);
  void *ctx;
} sched_clock;

/* The real clock (CLOCK_REALTIME). */
sched_clock sched_clock_real(void);

/* A clock that reads start_ms when initialised and runs `speed` times as
 * fast as real time from then on. The caller owns the struct and keeps it
 * alive while the clock is in use. */
typedef struct sched_scaled_clock {
  int64_t start_ms;
  int64_t mono_start_ns;
  double speed;
} sched_scaled_clock;
void sched_scaled_clock_init(sched_scaled_clock *c, int64_t start_ms, double speed);
sched_clock sched_clock_scaled(sched_scaled_clock *c);

typedef struct sched_options {
  int64_t default_grace_ms;  /* for schedules stored with a negative grace; 0 = 60000 */
  int64_t tick_retention_ms; /* ledger rows older are pruned; 0 = 30 days, < 0 = keep */
  int missed_record_cap;     /* missed instants listed one by one per catch-up; 0 = 100 */
  int64_t reload_check_ms;   /* how often to look for other processes' changes; 0 = 1000 */
  /* The clock; NULL members = the real clock. With any other clock, a
   * schedule whose cursor was reset (new, changed, re-enabled) starts from
   * the scheduler's clock when it is loaded rather than from its change
   * time, which is on the real clock. */
  sched_clock clock;
  bool quiet; /* no log lines on stderr */
} sched_options;

typedef struct sched sched;

/*
 * Loads every enabled schedule and starts the thread. `st` and `zones`
 * must outlive the scheduler. Returns CF_E_NOMEM, or a store error from the
 * first load. Schedules whose cron or zone no longer parse are logged and
 * left out. The caller owns *out and frees it with sched_stop.
 */
CF_MUST_CHECK cf_err sched_start(store *st, tz_db *zones, const sched_options *opt, sched **out);

/* Stops the thread (waiting for a fire transaction in flight) and frees
 * everything. NULL is a no-op. */
void sched_stop(sched *s);

/* A schedule was created, changed, enabled, disabled or deleted in this
 * process (the change is committed): reload changes now. Thread-safe,
 * never blocks on the store. */
void sched_notify(sched *s, int64_t schedule_id);

/* Look at the clock again now (for clocks whose time moved without the
 * scheduler waiting on them). Thread-safe. */
void sched_wake(sched *s);

/* Blocks until the scheduler has gone once through its loop after this
 * call (reloaded what was notified, written every fire due at its clock's
 * time) and is about to sleep. For tests and tools. Thread-safe. */
void sched_settle(sched *s);

typedef struct sched_stats {
  int64_t loaded;       /* schedules in memory */
  int64_t fires;        /* schedule fires written (a fire may hold several instants) */
  int64_t executions;   /* executions enqueued */
  int64_t stale;        /* fires refused because the schedule had moved on */
  int64_t transactions; /* fire transactions committed */
  int64_t clock_jumps;  /* wall-clock jumps noticed */
  int64_t errors;       /* fire transactions that failed (retried) */
} sched_stats;

/* A snapshot of the counters. Thread-safe. */
void sched_get_stats(sched *s, sched_stats *out);

/* The fixed jitter offset of a schedule: in [0, jitter_ms), from its id.
 * Pure. */
int64_t sched_jitter_offset(int64_t schedule_id, int64_t jitter_ms);

#endif
