/*
 * sched.c — the scheduler's thread (see sched.h for what it promises).
 *
 * State: one compact record per enabled schedule (its parsed cron, a
 * shared zone pointer, policies, the cursor and the next due instant), an
 * id → record hash table, and a binary min-heap of records by (due,
 * insertion order). Only the scheduler's thread touches them; the mutex
 * guards what other threads may set (stop, notify, wake, settle) and the
 * counters. The thread never holds the mutex during store calls.
 *
 * Invariants: a record is in the heap exactly when it has a next instant
 * within its bounds; its `cursor` is the next_fire_at the store holds as
 * far as this process knows (0 = reset, start from the anchor), which is
 * what each fire's compare-and-set names.
 */
#include "sched/sched.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/civil.h"
#include "cron/cron.h"

/* No further instant: past year 9999. */
#define NEVER_MS        INT64_C(253402300800000)
#define NOT_IN_HEAP     UINT32_MAX
#define ONTIME_MAX      1000    /* on-time instants per fire at most */
#define COUNT_MISSED_TO 1000000 /* counting missed instants stops here */
#define PRUNE_EVERY_MS  (10 * 60 * 1000)
/* Fires queued and not yet durable, at most: in a burst, the first
 * transactions commit (and workers start on them) while later ones are
 * written; in steady traffic, a slow sync or checkpoint holds up many small
 * transactions without holding up the fires behind them. */
#define FIRES_INFLIGHT_MAX 1024

typedef struct entry {
  int64_t id, revision;
  int64_t cursor;  /* next_fire_at as stored; 0 = reset */
  int64_t fire_at; /* the next cron instant to account for (ms); NEVER_MS = none */
  int64_t due;     /* fire_at + jitter */
  int64_t starts_at, ends_at, grace_ms;
  uint64_t seq; /* insertion order, for equal deadlines */
  cron_expr *cron;
  const tz_zone *zone; /* shared: owned by the tz_db */
  int32_t jitter;      /* fixed offset, ms */
  int32_t misfire_limit;
  int32_t offset; /* the zone's offset at fire_at */
  uint32_t heap_index;
  uint8_t misfire, overlap;
  bool dst_shifted; /* fire_at is a DST-shifted wall time */
  /* Out of the heap in a fire transaction still in flight: the batch
   * points at it, so a change read meanwhile is not applied (nor the
   * record freed) but noted, and applied when the batch comes back. */
  bool in_flight, reload;
} entry;

/* One planned instant; `local` is what store_fire_instant points at. */
typedef struct plan_instant {
  int64_t at;
  store_fire_kind kind;
  bool late, dst_shifted;
  char local[40];
  char *detail; /* malloc'd or NULL */
} plan_instant;

struct sched {
  store *store;
  tz_db *zones;
  sched_options opt;
  sched_clock clock;
  bool real_clock;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv, settled_cv;
  /* guarded by mu */
  bool stop, check_now;
  uint64_t wake_seq, settle_req, settled;
  sched_stats stats;
  int inflight;                 /* fire transactions queued, not yet applied */
  size_t inflight_fires;        /* the fires in them */
  struct fire_batch *completed; /* transactions the store has answered */
  /* the thread's own */
  entry **heap;
  size_t heap_n, heap_cap;
  entry **table; /* open addressing, linear probing; NULL = empty */
  size_t table_cap, table_n;
  uint64_t insert_seq;
  int64_t seen_change_seq;
  int64_t last_clock_offset; /* CLOCK_REALTIME - CLOCK_MONOTONIC, ms */
  int64_t next_check_mono, next_prune_mono;
};

/* ------------------------------------------------------------ clocks */

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on cv for at most wait_ns of real time. */
static void wait_real_ns(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t wait_ns) {
  if (wait_ns <= 0)
    return;
  int64_t until = mono_ns() + wait_ns;
  struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
  (void)pthread_cond_timedwait(cv, mu, &ts);
}

static int64_t real_now(void *ctx) {
  (void)ctx;
  return real_ms();
}

static void real_wait(void *ctx, pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms,
                      int64_t max_real_ms) {
  (void)ctx;
  int64_t wait_ms = max_real_ms;
  if (deadline_ms < INT64_MAX && deadline_ms - real_ms() < wait_ms)
    wait_ms = deadline_ms - real_ms();
  wait_real_ns(cv, mu, wait_ms * 1000000);
}

sched_clock sched_clock_real(void) {
  return (sched_clock){real_now, real_wait, NULL};
}

void sched_scaled_clock_init(sched_scaled_clock *c, int64_t start_ms, double speed) {
  c->start_ms = start_ms;
  c->mono_start_ns = mono_ns();
  c->speed = speed > 0 ? speed : 1;
}

static int64_t scaled_now(void *ctx) {
  sched_scaled_clock *c = ctx;
  return c->start_ms + (int64_t)((double)(mono_ns() - c->mono_start_ns) * c->speed / 1e6);
}

static void scaled_wait(void *ctx, pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms,
                        int64_t max_real_ms) {
  sched_scaled_clock *c = ctx;
  int64_t wait_ns = max_real_ms * 1000000;
  if (deadline_ms < INT64_MAX) {
    double ns = (double)(deadline_ms - scaled_now(c)) * 1e6 / c->speed;
    if (ns < (double)wait_ns)
      wait_ns = ns < 1000 ? 1000 : (int64_t)ns + 1000;
  }
  wait_real_ns(cv, mu, wait_ns);
}

sched_clock sched_clock_scaled(sched_scaled_clock *c) {
  return (sched_clock){scaled_now, scaled_wait, c};
}

/* ------------------------------------------------------------ small helpers */

static uint64_t splitmix64(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

int64_t sched_jitter_offset(int64_t schedule_id, int64_t jitter_ms) {
  if (jitter_ms <= 0)
    return 0;
  return (int64_t)(splitmix64((uint64_t)schedule_id ^ UINT64_C(0x6a09e667f3bcc909)) %
                   (uint64_t)jitter_ms);
}

static void logf_(sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(sched *s, const char *fmt, ...) {
  if (s->opt.quiet)
    return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "cronflow sched: %s\n", line);
}

/* ------------------------------------------------------------ heap */

static bool heap_less(const entry *a, const entry *b) {
  return a->due != b->due ? a->due < b->due : a->seq < b->seq;
}

static void heap_place(sched *s, size_t i, entry *e) {
  s->heap[i] = e;
  e->heap_index = (uint32_t)i;
}

static void heap_up(sched *s, size_t i) {
  entry *e = s->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!heap_less(e, s->heap[parent]))
      break;
    heap_place(s, i, s->heap[parent]);
    i = parent;
  }
  heap_place(s, i, e);
}

static void heap_down(sched *s, size_t i) {
  entry *e = s->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= s->heap_n)
      break;
    if (child + 1 < s->heap_n && heap_less(s->heap[child + 1], s->heap[child]))
      child++;
    if (!heap_less(s->heap[child], e))
      break;
    heap_place(s, i, s->heap[child]);
    i = child;
  }
  heap_place(s, i, e);
}

static cf_err heap_push(sched *s, entry *e) {
  if (s->heap_n == s->heap_cap) {
    size_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
    entry **h = realloc(s->heap, cap * sizeof *h);
    if (!h)
      return CF_E_NOMEM;
    s->heap = h;
    s->heap_cap = cap;
  }
  e->seq = s->insert_seq++;
  heap_place(s, s->heap_n++, e);
  heap_up(s, s->heap_n - 1);
  return CF_OK;
}

static void heap_remove(sched *s, entry *e) {
  size_t i = e->heap_index;
  if (i == NOT_IN_HEAP)
    return;
  e->heap_index = NOT_IN_HEAP;
  entry *last = s->heap[--s->heap_n];
  if (i == s->heap_n)
    return;
  heap_place(s, i, last);
  heap_up(s, i);
  heap_down(s, last->heap_index);
}

/* ------------------------------------------------------------ id table */

static size_t slot_of(const sched *s, int64_t id) {
  return (size_t)splitmix64((uint64_t)id) & (s->table_cap - 1);
}

static entry *table_get(const sched *s, int64_t id) {
  if (!s->table_cap)
    return NULL;
  for (size_t i = slot_of(s, id);; i = (i + 1) & (s->table_cap - 1)) {
    if (!s->table[i] || s->table[i]->id == id)
      return s->table[i];
  }
}

static cf_err table_put(sched *s, entry *e) {
  if ((s->table_n + 1) * 4 > s->table_cap * 3) {
    size_t cap = s->table_cap ? s->table_cap * 2 : 1024;
    entry **old = s->table;
    size_t old_cap = s->table_cap;
    s->table = calloc(cap, sizeof *s->table);
    if (!s->table) {
      s->table = old;
      return CF_E_NOMEM;
    }
    s->table_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
      if (old[i]) {
        size_t k = slot_of(s, old[i]->id);
        while (s->table[k])
          k = (k + 1) & (cap - 1);
        s->table[k] = old[i];
      }
    free(old);
  }
  size_t k = slot_of(s, e->id);
  while (s->table[k])
    k = (k + 1) & (s->table_cap - 1);
  s->table[k] = e;
  s->table_n++;
  return CF_OK;
}

/* Removal with backward shifting, so probing never needs tombstones. */
static void table_del(sched *s, int64_t id) {
  if (!s->table_cap)
    return;
  size_t mask = s->table_cap - 1, i = slot_of(s, id);
  while (s->table[i] && s->table[i]->id != id)
    i = (i + 1) & mask;
  if (!s->table[i])
    return;
  s->table[i] = NULL;
  s->table_n--;
  for (size_t j = (i + 1) & mask; s->table[j]; j = (j + 1) & mask) {
    size_t home = slot_of(s, s->table[j]->id);
    /* Move j back into the hole unless its home lies cyclically in (i, j]. */
    bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      s->table[i] = s->table[j];
      s->table[j] = NULL;
      i = j;
    }
  }
}

/* ------------------------------------------------------------ records */

static void entry_free(entry *e) {
  if (e) {
    cron_free(e->cron);
    free(e);
  }
}

static void entry_drop(sched *s, int64_t id) {
  entry *e = table_get(s, id);
  if (!e)
    return;
  if (e->in_flight) {
    e->reload = true;
    return;
  }
  heap_remove(s, e);
  table_del(s, id);
  entry_free(e);
}

/* The first instant strictly after after_ms; false when there is none. */
static bool next_after(const entry *e, int64_t after_ms, cron_fire *f) {
  if (after_ms >= NEVER_MS)
    return false;
  return cron_next(e->cron, e->zone, civil_floor_div(after_ms, 1000), f) == CF_OK;
}

static void entry_set_fire(entry *e, const cron_fire *f) {
  e->fire_at = f->at * 1000;
  e->offset = f->offset;
  e->dst_shifted = f->dst_shifted;
  e->due = e->fire_at + e->jitter;
}

static void entry_set_never(entry *e) {
  e->fire_at = e->due = NEVER_MS;
  e->offset = 0;
  e->dst_shifted = false;
}

/* Positions a record at its cursor (or, reset, at the first instant after
 * `anchor` and not before starts_at) and files it in the heap if it has an
 * instant within its bounds. */
static cf_err entry_position(sched *s, entry *e, int64_t anchor) {
  heap_remove(s, e);
  cron_fire f;
  if (e->cursor >= NEVER_MS) {
    entry_set_never(e);
  } else if (e->cursor) {
    /* The cursor is an instant of this expression (written by a fire);
     * look it up again for its offset and DST flag. */
    if (next_after(e, e->cursor - 1000, &f) && f.at * 1000 == e->cursor) {
      entry_set_fire(e, &f);
    } else {
      e->fire_at = e->cursor;
      e->offset = tz_zone_offset(e->zone, civil_floor_div(e->cursor, 1000));
      e->dst_shifted = false;
      e->due = e->fire_at + e->jitter;
    }
  } else {
    int64_t lower = anchor;
    if (e->starts_at && e->starts_at - 1 > lower)
      lower = e->starts_at - 1;
    if (next_after(e, lower, &f))
      entry_set_fire(e, &f);
    else
      entry_set_never(e);
  }
  if (e->fire_at >= NEVER_MS || (e->ends_at && e->fire_at > e->ends_at))
    return CF_OK;
  return heap_push(s, e);
}

/* Applies a stored schedule: drops, refreshes or (re)builds its record. */
static void apply_row(sched *s, const store_schedule *row, int64_t clock_now) {
  entry *e = table_get(s, row->id);
  if (e && e->in_flight) {
    e->reload = true; /* see entry */
    return;
  }
  if (row->deleted || !row->enabled) {
    entry_drop(s, row->id);
    return;
  }
  int64_t anchor = row->updated_at;
  if (!s->real_clock)
    anchor = clock_now;
  if (row->last_fire_at > anchor)
    anchor = row->last_fire_at;
  if (e && e->revision == row->revision) {
    /* The same definition: only the cursor can have moved (another
     * scheduler fired it). */
    if (e->cursor != row->next_fire_at) {
      e->cursor = row->next_fire_at;
      if (entry_position(s, e, anchor) != CF_OK)
        entry_drop(s, row->id);
    }
    return;
  }
  const tz_zone *zone;
  cron_expr *cron;
  cron_error why;
  cf_err rc = tz_db_zone(s->zones, row->timezone, &zone);
  if (rc) {
    logf_(s, "schedule %lld left out: time zone '%s': %s", (long long)row->id, row->timezone,
          cf_strerror(rc));
    entry_drop(s, row->id);
    return;
  }
  rc = cron_parse(row->cron, (uint64_t)row->id, &cron, &why);
  if (rc) {
    logf_(s, "schedule %lld left out: cron '%s': %s", (long long)row->id, row->cron,
          rc == CF_E_NOMEM ? cf_strerror(rc) : why.message);
    entry_drop(s, row->id);
    return;
  }
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e || table_put(s, (e->id = row->id, e)) != CF_OK) {
      free(e);
      cron_free(cron);
      logf_(s, "schedule %lld left out: out of memory", (long long)row->id);
      return;
    }
    e->heap_index = NOT_IN_HEAP;
  }
  cron_free(e->cron);
  e->cron = cron;
  e->zone = zone;
  e->revision = row->revision;
  e->cursor = row->next_fire_at;
  e->starts_at = row->starts_at;
  e->ends_at = row->ends_at;
  e->grace_ms = row->grace_ms >= 0 ? row->grace_ms : s->opt.default_grace_ms;
  int64_t jitter = sched_jitter_offset(row->id, row->jitter_ms);
  e->jitter = (int32_t)(jitter > INT32_MAX ? INT32_MAX : jitter);
  e->misfire_limit = row->misfire_limit > 0 ? row->misfire_limit : 1;
  e->misfire = (uint8_t)row->misfire;
  e->overlap = (uint8_t)row->overlap;
  if (entry_position(s, e, anchor) != CF_OK)
    entry_drop(s, row->id);
}

/* Reloads schedules changed since the last change seen. */
static cf_err load_changes(sched *s) {
  int64_t seq;
  cf_err rc = store_sched_change_seq(s->store, &seq);
  if (rc || seq <= s->seen_change_seq)
    return rc;
  for (;;) {
    store_schedule *rows;
    size_t n;
    rc = store_sched_changed(s->store, s->seen_change_seq, 1000, &rows, &n);
    if (rc)
      return rc;
    int64_t now = s->clock.now_ms(s->clock.ctx);
    for (size_t i = 0; i < n; i++) {
      apply_row(s, &rows[i], now);
      s->seen_change_seq = rows[i].change_seq;
    }
    store_schedules_free(rows, n);
    if (n < 1000)
      return CF_OK;
  }
}

/* Reloads one schedule whose fire was refused. */
static void reload_one(sched *s, int64_t id) {
  store_schedule row;
  cf_err rc = store_sched_load(s->store, id, &row);
  if (rc == CF_E_NOT_FOUND) {
    entry_drop(s, id);
    return;
  }
  if (rc) {
    /* Keep it; the next attempt reloads again. */
    entry *e = table_get(s, id);
    if (e) {
      e->due = s->clock.now_ms(s->clock.ctx) + 1000;
      (void)heap_push(s, e);
    }
    return;
  }
  apply_row(s, &row, s->clock.now_ms(s->clock.ctx));
  store_schedule_clear(&row);
}

/* ------------------------------------------------------------ planning */

/* One fire transaction in flight: what it writes (the store reads the
 * arrays until `done`) and the records it took out of the heap. */
typedef struct pending_fire {
  entry *e;
  size_t first, count; /* in the batch's instants */
  cron_fire next;
  bool has_next;
} pending_fire;

typedef struct fire_batch {
  struct fire_batch *next; /* on the completed list */
  sched *s;
  size_t n, cap;
  store_fire *fires;
  pending_fire *pend;
  plan_instant *inst;
  size_t inst_n, inst_cap;
  store_fire_instant *sinst;
  cf_err result;
  int64_t clock_now;
} fire_batch;

static plan_instant *plan_push(fire_batch *b, int64_t at, int32_t offset, bool dst,
                               store_fire_kind kind) {
  if (b->inst_n == b->inst_cap) {
    size_t cap = b->inst_cap ? b->inst_cap * 2 : 256;
    plan_instant *p = realloc(b->inst, cap * sizeof *p);
    if (!p)
      return NULL;
    b->inst = p;
    b->inst_cap = cap;
  }
  plan_instant *p = &b->inst[b->inst_n++];
  p->at = at;
  p->kind = kind;
  p->late = kind == STORE_FIRE_CATCH_UP;
  p->dst_shifted = dst;
  p->detail = NULL;
  civil_format_iso(civil_floor_div(at, 1000), offset, p->local, sizeof p->local);
  return p;
}

static void format_utc(int64_t ms, char *buf, size_t cap) {
  civil_format_utc(civil_floor_div(ms, 1000), buf, cap);
}

/*
 * Plans the fire of a due record at clock time `now`: appends its instants
 * (missed ones by the misfire policy, then those within grace) to b->inst
 * and sets *new_cursor and *next (the instant after the last one
 * planned). Returns false when out of memory.
 */
static bool plan_fire(sched *s, fire_batch *b, entry *e, int64_t now, int64_t *new_cursor,
                      cron_fire *next, bool *has_next) {
  int64_t limit_end = e->ends_at ? e->ends_at : NEVER_MS - 1;
  int64_t miss_before = now - e->jitter - e->grace_ms; /* earlier instants are missed */
  cron_fire f = {.at = e->fire_at / 1000, .offset = e->offset, .dst_shifted = e->dst_shifted};
  bool have = true;
  if (e->fire_at < miss_before) {
    int cap = s->opt.missed_record_cap;
    int keep = e->misfire == STORE_MISFIRE_ALL && e->misfire_limit > cap ? e->misfire_limit : cap;
    /* The newest `keep` missed instants, walking back from the boundary. */
    cron_fire *newest = malloc((size_t)keep * sizeof *newest);
    if (!newest)
      return false;
    int64_t before = miss_before < limit_end + 1 ? miss_before : limit_end + 1;
    int64_t t = -civil_floor_div(-before, 1000); /* ceil: instants < before */
    int got = 0;
    cron_fire p;
    while (got < keep && cron_prev(e->cron, e->zone, t, &p) == CF_OK && p.at * 1000 >= e->fire_at) {
      newest[got++] = p;
      t = p.at;
    }
    int64_t older = 0; /* missed instants not listed one by one */
    bool at_least = false;
    if (got == keep && keep > 0) {
      cron_fire c = f;
      while (c.at < newest[got - 1].at && older < COUNT_MISSED_TO) {
        older++;
        if (cron_next(e->cron, e->zone, c.at, &c) != CF_OK)
          break;
      }
      at_least = older >= COUNT_MISSED_TO;
    }
    if (older > 0) {
      plan_instant *sum = plan_push(b, e->fire_at, e->offset, false, STORE_FIRE_MISSED);
      char from[32], to[32], text[200];
      format_utc(e->fire_at, from, sizeof from);
      format_utc(got ? newest[got - 1].at * 1000 - 1000 : e->fire_at, to, sizeof to);
      snprintf(text, sizeof text,
               "%s%lld missed fires from %s up to %s, summarised in this one entry",
               at_least ? "at least " : "", (long long)older, from, to);
      if (!sum || !(sum->detail = strdup(text))) {
        free(newest);
        return false;
      }
    }
    int run_from = got; /* newest[0 .. run_from) run, the rest are missed */
    if (e->misfire == STORE_MISFIRE_ONCE)
      run_from = got ? 1 : 0;
    else if (e->misfire == STORE_MISFIRE_ALL)
      run_from = got < e->misfire_limit ? got : e->misfire_limit;
    else
      run_from = 0;
    for (int i = got - 1; i >= 0; i--) {
      bool runs = i < run_from;
      plan_instant *pi = plan_push(b, newest[i].at * 1000, newest[i].offset, newest[i].dst_shifted,
                                   runs ? STORE_FIRE_CATCH_UP : STORE_FIRE_MISSED);
      if (!pi) {
        free(newest);
        return false;
      }
      if (!runs && e->misfire == STORE_MISFIRE_ALL) {
        char text[80];
        snprintf(text, sizeof text, "over the misfire limit of %d", (int)e->misfire_limit);
        pi->detail = strdup(text);
      } else if (!runs && e->misfire == STORE_MISFIRE_ONCE) {
        pi->detail = strdup("misfire policy once: only the most recent missed fire runs");
      }
    }
    if (got > 0)
      have = cron_next(e->cron, e->zone, newest[0].at, &f) == CF_OK;
    else
      have = next_after(e, before - 1, &f);
    free(newest);
  }
  /* Instants within grace: due now or earlier. */
  int ontime = 0;
  while (have && f.at * 1000 + e->jitter <= now && f.at * 1000 <= limit_end &&
         ontime < ONTIME_MAX) {
    plan_instant *pi = plan_push(b, f.at * 1000, f.offset, f.dst_shifted, STORE_FIRE_RUN);
    if (!pi)
      return false;
    pi->late = now - f.at * 1000 - e->jitter > 1000;
    ontime++;
    have = cron_next(e->cron, e->zone, f.at, &f) == CF_OK;
  }
  *has_next = have;
  *next = f;
  *new_cursor = have ? f.at * 1000 : NEVER_MS;
  return true;
}

/* ------------------------------------------------------------ firing */

static void batch_free(fire_batch *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->inst_n; i++)
    free(b->inst[i].detail);
  free(b->inst);
  free(b->sinst);
  free(b->fires);
  free(b->pend);
  free(b);
}

/* The store's callback (writer or syncer thread): hand the batch back. */
static void fire_done(void *ctx, cf_err result) {
  fire_batch *b = ctx;
  sched *s = b->s;
  b->result = result;
  pthread_mutex_lock(&s->mu);
  b->next = s->completed;
  s->completed = b;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* Applies a finished transaction's outcomes to the records it took. */
static void batch_apply(sched *s, fire_batch *b) {
  int64_t enqueued = 0, stale = 0;
  cf_err rc = b->result;
  for (size_t i = 0; i < b->n; i++) {
    entry *e = b->pend[i].e;
    const store_fire *f = &b->fires[i];
    e->in_flight = false;
    bool reload = e->reload;
    e->reload = false;
    if (rc) {
      e->due = b->clock_now + 1000; /* try again in a second */
      (void)heap_push(s, e);
    } else if (f->result == STORE_FIRED) {
      enqueued += f->enqueued;
      e->cursor = f->new_cursor;
      const cron_fire *nx = &b->pend[i].next;
      if (b->pend[i].has_next && (!e->ends_at || nx->at * 1000 <= e->ends_at)) {
        entry_set_fire(e, nx);
        (void)heap_push(s, e);
      } else {
        entry_set_never(e);
      }
    } else {
      stale++;
      reload = true;
    }
    /* Last: reloading may free the record. */
    if (reload)
      reload_one(s, e->id);
  }
  if (rc)
    logf_(s, "could not write %zu fires: %s; retrying in a second", b->n, cf_strerror(rc));
  pthread_mutex_lock(&s->mu);
  if (rc) {
    s->stats.errors++;
  } else {
    s->stats.transactions++;
    s->stats.fires += (int64_t)b->n - stale;
    s->stats.executions += enqueued;
    s->stats.stale += stale;
  }
  s->inflight--;
  s->inflight_fires -= b->n;
  pthread_mutex_unlock(&s->mu);
  batch_free(b);
}

/* Handles every transaction that came back. */
static void take_completed(sched *s) {
  pthread_mutex_lock(&s->mu);
  fire_batch *list = s->completed;
  s->completed = NULL;
  pthread_mutex_unlock(&s->mu);
  while (list) {
    fire_batch *next = list->next;
    batch_apply(s, list);
    list = next;
  }
}

static bool fire_slots_full(sched *s) {
  pthread_mutex_lock(&s->mu);
  bool full = s->inflight_fires >= FIRES_INFLIGHT_MAX;
  pthread_mutex_unlock(&s->mu);
  return full;
}

/* Takes up to SCHED_BATCH_MAX records due at `now` out of the heap, plans
 * their fires and queues them as one transaction without waiting for it.
 * Returns true if it queued one. */
static bool fire_due(sched *s, int64_t now) {
  if (!s->heap_n || s->heap[0]->due > now || fire_slots_full(s))
    return false;
  fire_batch *b = calloc(1, sizeof *b);
  if (!b)
    return false;
  b->s = s;
  b->clock_now = now;
  /* inflight_fires changes on this thread only */
  size_t room = FIRES_INFLIGHT_MAX - s->inflight_fires;
  size_t most = room < SCHED_BATCH_MAX ? room : SCHED_BATCH_MAX;
  while (s->heap_n && s->heap[0]->due <= now && b->n < most) {
    if (b->n == b->cap) {
      size_t cap = b->cap ? b->cap * 4 : 16;
      store_fire *f = realloc(b->fires, cap * sizeof *f);
      if (f)
        b->fires = f;
      pending_fire *pf = f ? realloc(b->pend, cap * sizeof *pf) : NULL;
      if (!pf)
        break;
      b->pend = pf;
      b->cap = cap;
    }
    entry *e = s->heap[0];
    heap_remove(s, e);
    pending_fire *p = &b->pend[b->n];
    p->e = e;
    p->first = b->inst_n;
    int64_t new_cursor;
    if (!plan_fire(s, b, e, now, &new_cursor, &p->next, &p->has_next)) {
      e->due = now + 1000;
      (void)heap_push(s, e);
      break;
    }
    e->in_flight = true;
    p->count = b->inst_n - p->first;
    b->fires[b->n++] = (store_fire){.schedule_id = e->id,
                                    .revision = e->revision,
                                    .expect_cursor = e->cursor,
                                    .new_cursor = new_cursor};
  }
  cf_err rc = b->n ? CF_OK : CF_E_NOMEM;
  if (!rc && !(b->sinst = malloc((b->inst_n ? b->inst_n : 1) * sizeof *b->sinst)))
    rc = CF_E_NOMEM;
  for (size_t i = 0; !rc && i < b->n; i++) {
    for (size_t k = 0; k < b->pend[i].count; k++) {
      const plan_instant *pi = &b->inst[b->pend[i].first + k];
      b->sinst[b->pend[i].first + k] = (store_fire_instant){.at = pi->at,
                                                            .local = pi->local,
                                                            .kind = pi->kind,
                                                            .late = pi->late,
                                                            .dst_shifted = pi->dst_shifted,
                                                            .detail = pi->detail};
    }
    b->fires[i].instants = &b->sinst[b->pend[i].first];
    b->fires[i].count = b->pend[i].count;
  }
  pthread_mutex_lock(&s->mu);
  s->inflight++;
  s->inflight_fires += b->n;
  pthread_mutex_unlock(&s->mu);
  if (!rc)
    rc = store_sched_fire_async(s->store, b->fires, b->n, real_ms(), fire_done, b);
  if (rc) {
    b->result = rc;
    batch_apply(s, b); /* every record back into the heap, due in a second */
    return false;
  }
  return true;
}

/* ------------------------------------------------------------ the thread */

static void notice_clock_jump(sched *s) {
  if (!s->real_clock)
    return;
  int64_t offset = real_ms() - mono_ns() / 1000000;
  int64_t moved = offset - s->last_clock_offset;
  if (s->last_clock_offset && (moved > 1000 || moved < -1000)) {
    logf_(s, "the wall clock jumped by %+.1f s; deadlines recomputed", (double)moved / 1000);
    pthread_mutex_lock(&s->mu);
    s->stats.clock_jumps++;
    pthread_mutex_unlock(&s->mu);
  }
  s->last_clock_offset = offset;
}

static void prune_ticks(sched *s) {
  if (s->opt.tick_retention_ms < 0)
    return;
  int64_t before = real_ms() - s->opt.tick_retention_ms, deleted = 0;
  do {
    if (store_sched_ticks_prune(s->store, before, 1000, &deleted) != CF_OK)
      return;
  } while (deleted == 1000);
}

static void *sched_main(void *arg) {
  sched *s = arg;
  pthread_setname_np(pthread_self(), "cf-sched");
  pthread_mutex_lock(&s->mu);
  for (;;) {
    if (s->stop && s->inflight == 0)
      break;
    uint64_t wake_seen = s->wake_seq, settle_target = s->settle_req;
    bool check = s->check_now, stopping = s->stop;
    s->check_now = false;
    pthread_mutex_unlock(&s->mu);

    take_completed(s);
    bool worked = false;
    if (!stopping) {
      int64_t mono_ms = mono_ns() / 1000000;
      notice_clock_jump(s);
      if (check || mono_ms >= s->next_check_mono) {
        cf_err rc = load_changes(s);
        if (rc)
          logf_(s, "could not reload schedules: %s", cf_strerror(rc));
        s->next_check_mono = mono_ms + s->opt.reload_check_ms;
      }
      if (mono_ms >= s->next_prune_mono) {
        prune_ticks(s);
        s->next_prune_mono = mono_ms + PRUNE_EVERY_MS;
      }
      worked = fire_due(s, s->clock.now_ms(s->clock.ctx));
    }

    pthread_mutex_lock(&s->mu);
    s->stats.loaded = (int64_t)s->table_n;
    if (s->completed || (s->stop && !stopping))
      continue;
    if (worked && s->heap_n && s->heap[0]->due <= s->clock.now_ms(s->clock.ctx))
      continue; /* more due than one batch */
    if (s->wake_seq != wake_seen || s->check_now)
      continue;
    if (s->inflight == 0) {
      s->settled = settle_target;
      pthread_cond_broadcast(&s->settled_cv);
    }
    /* With every transaction slot taken, the next wake-up is a commit. */
    int64_t deadline = s->heap_n && !s->stop && s->inflight_fires < FIRES_INFLIGHT_MAX
                           ? s->heap[0]->due
                           : INT64_MAX;
    int64_t max_real = s->next_check_mono - mono_ns() / 1000000;
    if (max_real < 1)
      max_real = 1;
    s->clock.wait_until(s->clock.ctx, &s->cv, &s->mu, deadline, max_real);
  }
  s->settled = UINT64_MAX;
  pthread_cond_broadcast(&s->settled_cv);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ------------------------------------------------------------ public */

cf_err sched_start(store *st, tz_db *zones, const sched_options *opt, sched **out) {
  *out = NULL;
  sched *s = calloc(1, sizeof *s);
  if (!s)
    return CF_E_NOMEM;
  s->store = st;
  s->zones = zones;
  if (opt)
    s->opt = *opt;
  if (!s->opt.default_grace_ms)
    s->opt.default_grace_ms = 60000;
  if (!s->opt.tick_retention_ms)
    s->opt.tick_retention_ms = INT64_C(30) * 24 * 3600 * 1000;
  if (s->opt.missed_record_cap <= 0)
    s->opt.missed_record_cap = 100;
  if (s->opt.reload_check_ms <= 0)
    s->opt.reload_check_ms = 1000;
  s->real_clock = !s->opt.clock.now_ms || s->opt.clock.now_ms == real_now;
  s->clock = s->opt.clock.now_ms ? s->opt.clock : sched_clock_real();
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_cond_init(&s->settled_cv, &ca);
  pthread_condattr_destroy(&ca);
  cf_err rc = load_changes(s);
  s->next_check_mono = mono_ns() / 1000000 + s->opt.reload_check_ms;
  s->stats.loaded = (int64_t)s->table_n;
  if (!rc && pthread_create(&s->thread, NULL, sched_main, s) != 0)
    rc = CF_E_NOMEM;
  if (rc) {
    s->stop = true;
    sched_stop(s);
    return rc;
  }
  *out = s;
  return CF_OK;
}

void sched_stop(sched *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  bool running = !s->stop;
  s->stop = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (running)
    pthread_join(s->thread, NULL);
  for (size_t i = 0; i < s->table_cap; i++)
    entry_free(s->table[i]);
  free(s->table);
  free(s->heap);
  pthread_cond_destroy(&s->cv);
  pthread_cond_destroy(&s->settled_cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void sched_notify(sched *s, int64_t schedule_id) {
  (void)schedule_id; /* a change check finds it, with any others */
  pthread_mutex_lock(&s->mu);
  s->check_now = true;
  s->wake_seq++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void sched_wake(sched *s) {
  pthread_mutex_lock(&s->mu);
  s->wake_seq++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void sched_settle(sched *s) {
  pthread_mutex_lock(&s->mu);
  uint64_t want = ++s->settle_req;
  s->wake_seq++;
  pthread_cond_broadcast(&s->cv);
  while (s->settled < want)
    pthread_cond_wait(&s->settled_cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

void sched_get_stats(sched *s, sched_stats *out) {
  pthread_mutex_lock(&s->mu);
  *out = s->stats;
  pthread_mutex_unlock(&s->mu);
}
