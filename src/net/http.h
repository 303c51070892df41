/*
 * http.h — an HTTP client on a libuv loop: libcurl's multi-socket
 * interface driven by the loop's poll handles and one timer, so thousands
 * of transfers wait on the network at once without a thread each.
 *
 * One http_client per loop, used only from that loop's thread. The caller
 * prepares a CURL easy handle (URL, method, headers, callbacks) and hands
 * it over with http_client_add; `done` is called on the loop thread once
 * the transfer ends, with curl's result. http_client_remove aborts a
 * transfer at once (timeouts, cancellation): its `done` is never called.
 * The easy handle stays the caller's in both cases.
 */
#ifndef CF_NET_HTTP_H
#define CF_NET_HTTP_H

#include <curl/curl.h>
#include <uv.h>

#include "base/error.h"

typedef struct http_client http_client;

typedef void (*http_done_fn)(void *ctx, CURL *easy, CURLcode result);

/* Creates a client on `loop`. CF_E_NOMEM. */
CF_MUST_CHECK cf_err http_client_new(uv_loop_t *loop, http_client **out);

/* Aborts every transfer (no callbacks) and closes the client's handles;
 * the loop must run once more to finish closing them. NULL is a no-op. */
void http_client_free(http_client *c);

/* Starts a transfer. CF_E_NOMEM or CF_E_INVALID (curl refused the
 * handle): done is then never called. */
CF_MUST_CHECK cf_err http_client_add(http_client *c, CURL *easy, http_done_fn done, void *ctx);

/* Aborts a transfer started with http_client_add; done is not called. */
void http_client_remove(http_client *c, CURL *easy);

/* Transfers in flight. */
size_t http_client_active(const http_client *c);

/* Once per process, before any thread starts: curl_global_init. */
CF_MUST_CHECK cf_err http_global_init(void);

#endif
