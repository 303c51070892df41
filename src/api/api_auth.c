/*
 * api_auth.c — who is calling: API tokens (Authorization: Bearer), the
 * UI's session cookie with its CSRF token, password hashing (argon2id),
 * the first admin, and the login rate limiter.
 *
 * Secrets (tokens, session cookies, webhook URLs) are random (libsodium),
 * shown once and stored only as SHA-256 hashes: they carry 160 bits or
 * more, so a fast hash is enough; passwords, chosen by people, get
 * argon2id. Authenticated callers are cached by hash for CACHE_TTL_MS so
 * that a busy client costs one hash and one table probe per request, not
 * a database read; revocations, logouts, disabled users and password
 * changes made through this server empty the cache (or the user's
 * entries) at once, those made elsewhere (the CLI, another node) take
 * effect within CACHE_TTL_MS. Every emptying raises a generation number,
 * and a lookup stores what it read only if the generation is the one it
 * started under: a read that raced with a change cannot put the caller
 * back as it was before. last_used_at is written at most once
 * a minute per token, without waiting.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api_int.h"

#define CACHE_SLOTS    1024 /* a power of two */
#define CACHE_TTL_MS   5000
#define TOUCH_EVERY_MS 60000

#define LIMIT_SLOTS     1024 /* a power of two */
#define LIMIT_PROBE     8
#define LIMIT_WINDOW_MS (5 * 60 * 1000)
#define LIMIT_PER_EMAIL 5
#define LIMIT_PER_IP    20
#define SESSION_COOKIE  "cronflow_session"
#define SECRET_TEXT_MAX 128

typedef struct cache_entry {
  unsigned char hash[STORE_HASH_BYTES];
  bool used, session;
  api_principal who;
  int64_t fetched_ms, touched_ms;
} cache_entry;

typedef struct limit_entry {
  uint64_t key;
  int64_t window_start;
  int count;
} limit_entry;

struct api_auth {
  pthread_mutex_t lock;
  uint64_t generation; /* raised by every api_auth_forget* */
  cache_entry cache[CACHE_SLOTS];
  limit_entry limits[LIMIT_SLOTS];
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cf_err api_init(void) {
  return sodium_init() < 0 ? CF_E_IO : CF_OK;
}

cf_err api_auth_new(api_auth **out) {
  api_auth *a = calloc(1, sizeof *a);
  if (!a)
    return CF_E_NOMEM;
  pthread_mutex_init(&a->lock, NULL);
  *out = a;
  return CF_OK;
}

void api_auth_free(api_auth *a) {
  if (!a)
    return;
  pthread_mutex_destroy(&a->lock);
  free(a);
}

void api_auth_forget(api_auth *a) {
  pthread_mutex_lock(&a->lock);
  for (size_t i = 0; i < CACHE_SLOTS; i++)
    a->cache[i].used = false;
  a->generation++;
  pthread_mutex_unlock(&a->lock);
}

void api_auth_forget_user(api_auth *a, int64_t org_id, int64_t user_id) {
  pthread_mutex_lock(&a->lock);
  for (size_t i = 0; i < CACHE_SLOTS; i++) {
    cache_entry *e = &a->cache[i];
    if (e->used && e->who.org_id == org_id && e->who.user_id == user_id)
      e->used = false;
  }
  a->generation++;
  pthread_mutex_unlock(&a->lock);
}

/* ------------------------------------------------------------ secrets */

void api_secret_hash(const char *secret, unsigned char hash[STORE_HASH_BYTES]) {
  crypto_hash_sha256(hash, (const unsigned char *)secret, strlen(secret));
}

void api_secret_new(const char *prefix, size_t bytes, char *out, size_t cap) {
  unsigned char raw[64];
  if (bytes > sizeof raw)
    bytes = sizeof raw;
  randombytes_buf(raw, bytes);
  size_t n = strlen(prefix);
  if (cap < n + bytes * 2 + 1) {
    out[0] = '\0';
    return;
  }
  memcpy(out, prefix, n);
  sodium_bin2hex(out + n, cap - n, raw, bytes);
  sodium_memzero(raw, sizeof raw);
}

void api_token_generate(char *token, size_t cap, unsigned char hash[STORE_HASH_BYTES],
                        char prefix[16]) {
  api_secret_new("cft_", 20, token, cap);
  api_secret_hash(token, hash);
  snprintf(prefix, 16, "%.12s", token);
}

cf_err api_password_hash(const char *password, char *out, size_t cap) {
  if (!password || !*password)
    return CF_E_INVALID;
  if (cap < crypto_pwhash_STRBYTES)
    return CF_E_INVALID;
  if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return CF_E_NOMEM;
  return CF_OK;
}

cf_err api_bootstrap_admin(store *s, FILE *out) {
  int64_t users;
  cf_err rc = store_user_count(s, &users);
  if (rc || users > 0)
    return rc;
  rc = api_init();
  if (rc)
    return rc;
  char password[40], hash[crypto_pwhash_STRBYTES];
  api_secret_new("", 12, password, sizeof password);
  if ((rc = api_password_hash(password, hash, sizeof hash)) != CF_OK)
    return rc;
  rc = store_user_create(s, 1, "admin@localhost", "Administrator", hash, STORE_ROLE_ADMIN, now_ms(),
                         NULL);
  if (rc == CF_E_CONFLICT)
    return CF_OK; /* another process made it first */
  if (rc)
    return rc;
  fprintf(out,
          "cronflow: first start: created the admin of organization 'default'\n"
          "  e-mail:   admin@localhost\n"
          "  password: %s\n"
          "  (shown only now; sign in at /, or make API tokens with `cronflow token create`)\n",
          password);
  fflush(out);
  sodium_memzero(password, sizeof password);
  return CF_OK;
}

/* ------------------------------------------------------------ the cache */

static cache_entry *cache_slot(api_auth *a, const unsigned char *hash) {
  size_t i = ((size_t)hash[0] | (size_t)hash[1] << 8) & (CACHE_SLOTS - 1);
  return &a->cache[i];
}

/* A cached caller for this hash, fresh enough; touch says whether its
 * last_used_at is due to be written. On a miss, *generation is the cache's
 * generation, for cache_put. */
static bool cache_get(api_auth *a, const unsigned char *hash, bool session, int64_t now,
                      api_principal *who, bool *touch, uint64_t *generation) {
  pthread_mutex_lock(&a->lock);
  *generation = a->generation;
  cache_entry *e = cache_slot(a, hash);
  bool hit = e->used && e->session == session && now - e->fetched_ms < CACHE_TTL_MS &&
             sodium_memcmp(e->hash, hash, STORE_HASH_BYTES) == 0;
  if (hit) {
    *who = e->who;
    *touch = !session && now - e->touched_ms >= TOUCH_EVERY_MS;
    if (*touch)
      e->touched_ms = now;
  }
  pthread_mutex_unlock(&a->lock);
  return hit;
}

/* Keeps what a lookup read, unless the cache was emptied since the lookup
 * began (`generation`): then the read may predate the change that emptied
 * it. */
static void cache_put(api_auth *a, const unsigned char *hash, bool session, int64_t now,
                      const api_principal *who, uint64_t generation) {
  pthread_mutex_lock(&a->lock);
  if (a->generation != generation) {
    pthread_mutex_unlock(&a->lock);
    return;
  }
  cache_entry *e = cache_slot(a, hash);
  memcpy(e->hash, hash, STORE_HASH_BYTES);
  e->used = true;
  e->session = session;
  e->who = *who;
  e->fetched_ms = now;
  e->touched_ms = now;
  pthread_mutex_unlock(&a->lock);
}

/* ------------------------------------------------------------ authenticate */

static unsigned unauthenticated(api_response *res, const char *code, const char *message) {
  api_header_add(res, "WWW-Authenticate", "Bearer realm=\"cronflow\"");
  api_error(res, 401, code, message);
  return 401;
}

static bool state_changing(const char *method) {
  return strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
}

static cf_err token_from_store(api_request *req, const unsigned char *hash, int64_t now,
                               bool *touch) {
  store_token t;
  cf_err rc = store_token_lookup(req->cfg->store, hash, now, &t);
  if (rc)
    return rc;
  req->auth =
      (api_principal){.org_id = t.org_id, .user_id = t.user_id, .token_id = t.id, .role = t.role};
  *touch = now - t.last_used_at >= TOUCH_EVERY_MS;
  store_token_clear(&t);
  return CF_OK;
}

static cf_err session_from_store(api_request *req, const unsigned char *hash, int64_t now) {
  store_session x;
  cf_err rc = store_session_lookup(req->cfg->store, hash, now, &x);
  if (rc)
    return rc;
  req->auth =
      (api_principal){.org_id = x.org_id, .user_id = x.user_id, .session_id = x.id, .role = x.role};
  snprintf(req->auth.csrf, sizeof req->auth.csrf, "%s", x.csrf_token);
  store_session_clear(&x);
  return CF_OK;
}

/* Fills req->auth for a token or session secret, from the cache or the
 * store: 0, or the status of the error response. */
static unsigned lookup(api_request *req, api_response *res, const char *secret, bool session,
                       int64_t now, bool *touch) {
  api_auth *a = api_server_auth(req->server);
  const char *code = session ? "invalid_session" : "invalid_token";
  *touch = false;
  if (strlen(secret) > SECRET_TEXT_MAX)
    return unauthenticated(res, code, "the credentials are not valid");
  unsigned char hash[STORE_HASH_BYTES];
  api_secret_hash(secret, hash);
  uint64_t generation;
  if (cache_get(a, hash, session, now, &req->auth, touch, &generation))
    return 0;
  cf_err rc =
      session ? session_from_store(req, hash, now) : token_from_store(req, hash, now, touch);
  if (rc == CF_E_NOT_FOUND)
    return unauthenticated(res, code,
                           session ? "the session ended: sign in again"
                                   : "the token is not valid, revoked or expired");
  if (rc) {
    api_store_error(res, rc, session ? "session" : "token");
    return res->status;
  }
  cache_put(a, hash, session, now, &req->auth, generation);
  return 0;
}

static unsigned by_token(api_request *req, api_response *res, const char *token, int64_t now) {
  bool touch;
  unsigned status = lookup(req, res, token, false, now, &touch);
  if (!status && touch)
    (void)store_token_touch_async(req->cfg->store, req->auth.token_id, now);
  return status;
}

static unsigned by_session(api_request *req, api_response *res, const char *cookie, int64_t now) {
  bool touch;
  unsigned status = lookup(req, res, cookie, true, now, &touch);
  if (status || !state_changing(req->method))
    return status;
  const char *sent = api_header(req, "X-CSRF-Token");
  size_t n = strlen(req->auth.csrf);
  if (!sent || strlen(sent) != n || n == 0 || sodium_memcmp(sent, req->auth.csrf, n) != 0) {
    api_error(res, 403, "csrf_failed",
              "a request with the session cookie must repeat its CSRF token in X-CSRF-Token");
    return 403;
  }
  return 0;
}

unsigned api_authenticate(api_request *req, api_response *res) {
  int64_t now = now_ms();
  const char *h = api_header(req, "Authorization");
  if (h) {
    if (strncasecmp(h, "Bearer ", 7) != 0)
      return unauthenticated(res, "invalid_token", "Authorization must be 'Bearer TOKEN'");
    h += 7;
    while (*h == ' ')
      h++;
    return by_token(req, res, h, now);
  }
  const char *cookie = api_cookie(req, SESSION_COOKIE);
  if (cookie)
    return by_session(req, res, cookie, now);
  return unauthenticated(res, "unauthenticated",
                         "sign in, or send an API token as 'Authorization: Bearer TOKEN'");
}

/* ------------------------------------------------------------ login limits */

static uint64_t limit_key(const char *kind, const char *value) {
  /* FNV-1a over kind and value, case-folded (e-mail addresses). */
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (const char *s = kind; *s; s++)
    h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
  for (const char *s = value ? value : ""; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    h = (h ^ c) * UINT64_C(0x100000001b3);
  }
  return h | 1; /* never 0: 0 marks a free slot */
}

/* The entry for key: found, or (with create) a free or the stalest slot
 * of its probe sequence. Called with the lock held. */
static limit_entry *limit_find(api_auth *a, uint64_t key, bool create, int64_t now) {
  limit_entry *stalest = NULL;
  for (int i = 0; i < LIMIT_PROBE; i++) {
    limit_entry *e = &a->limits[(key + (uint64_t)i) & (LIMIT_SLOTS - 1)];
    if (e->key == key)
      return e;
    if (!stalest || (stalest->key != 0 && (e->key == 0 || e->window_start < stalest->window_start)))
      stalest = e;
  }
  if (!create)
    return NULL;
  *stalest = (limit_entry){key, now, 0};
  return stalest;
}

static int64_t blocked_for(api_auth *a, uint64_t key, int limit, int64_t now) {
  limit_entry *e = limit_find(a, key, false, now);
  if (!e || e->count < limit || now - e->window_start >= LIMIT_WINDOW_MS)
    return 0;
  return (e->window_start + LIMIT_WINDOW_MS - now + 999) / 1000;
}

int64_t api_login_blocked(api_auth *a, const char *ip, const char *email) {
  int64_t now = now_ms();
  pthread_mutex_lock(&a->lock);
  int64_t by_ip = blocked_for(a, limit_key("ip", ip), LIMIT_PER_IP, now);
  int64_t by_email = blocked_for(a, limit_key("email", email), LIMIT_PER_EMAIL, now);
  pthread_mutex_unlock(&a->lock);
  return by_ip > by_email ? by_ip : by_email;
}

static void count_failure(api_auth *a, uint64_t key, int64_t now) {
  limit_entry *e = limit_find(a, key, true, now);
  if (now - e->window_start >= LIMIT_WINDOW_MS) {
    e->window_start = now;
    e->count = 0;
  }
  e->count++;
}

void api_login_failed(api_auth *a, const char *ip, const char *email) {
  int64_t now = now_ms();
  pthread_mutex_lock(&a->lock);
  count_failure(a, limit_key("ip", ip), now);
  count_failure(a, limit_key("email", email), now);
  pthread_mutex_unlock(&a->lock);
}

void api_login_succeeded(api_auth *a, const char *email) {
  pthread_mutex_lock(&a->lock);
  limit_entry *e = limit_find(a, limit_key("email", email), false, 0);
  if (e)
    e->count = 0;
  pthread_mutex_unlock(&a->lock);
}
