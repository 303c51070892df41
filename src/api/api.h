/*
 * api.h — the HTTP server: JSON under /api/, health probes, and the browser
 * UI's static files, on libmicrohttpd.
 *
 * Routes are a const table of (method, path pattern, handler); handlers get
 * a request with the body already read (capped at API_BODY_MAX) and fill a
 * response. The server owns no global state: everything it needs comes in
 * api_config, and the pointers there must outlive the server.
 */
#ifndef CF_API_API_H
#define CF_API_API_H

#include <stdint.h>

#include <stdio.h>

#include "base/error.h"
#include "store/store.h"
#include "tz/tz.h"

/* The largest request body accepted, in bytes; larger ones get 413. */
#define API_BODY_MAX (1024 * 1024)

typedef struct api_server api_server;
typedef struct sched sched;

typedef struct api_config {
  const char *host; /* "127.0.0.1"; an IPv4 or IPv6 literal */
  uint16_t port;    /* 0 picks a free port (see api_server_port) */
  unsigned threads; /* worker threads; 0 means 2 */
  tz_db *zones;     /* shared, thread-safe */
  /* Readiness: returns NULL when ready, else a reason. May be NULL. */
  const char *(*ready)(void *ctx);
  void *ready_ctx;
  store *store;    /* definitions, executions, users, tokens; shared */
  sched *sched;    /* told about schedule changes; may be NULL */
  int64_t wait_ms; /* the longest ?wait=true of a webhook; 0 = 30000 */
} api_config;

/*
 * Starts serving in background threads. Returns CF_E_INVALID for a bad host,
 * CF_E_IO when the address cannot be bound (in use, no permission),
 * CF_E_NOMEM. The caller owns *out and stops it with api_server_stop.
 */
CF_MUST_CHECK cf_err api_server_start(const api_config *cfg, api_server **out);

/* The port actually bound. */
uint16_t api_server_port(const api_server *server);

/* Stops accepting, finishes requests in flight, frees. NULL is a no-op. */
void api_server_stop(api_server *server);

/*
 * For the CLI and the first start (api_auth.c). sodium_init() must have
 * succeeded (api_init does it).
 */
CF_MUST_CHECK cf_err api_init(void);

/* A new API token in `token` (cap >= API_TOKEN_LEN): 160 random bits as
 * "cft_" + 40 hex digits; its hash (what the store keeps) and its prefix
 * (the first 12 characters, shown to tell tokens apart). */
#define API_TOKEN_LEN 48
void api_token_generate(char *token, size_t cap, unsigned char hash[STORE_HASH_BYTES],
                        char prefix[16]);

/* An argon2id hash string of a password (libsodium's crypto_pwhash_str,
 * interactive limits) into out (cap >= 128). CF_E_NOMEM when the hash's
 * memory cannot be had; CF_E_INVALID for an empty password. */
CF_MUST_CHECK cf_err api_password_hash(const char *password, char *out, size_t cap);

/* On a store with no user at all, creates the admin of organization
 * "default" (admin@localhost) with a random password and prints both to
 * `out` once. CF_OK also when there were users already. */
CF_MUST_CHECK cf_err api_bootstrap_admin(store *s, FILE *out);

#endif
