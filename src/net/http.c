/*
 * http.c — libcurl's multi-socket API on a libuv loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to call
 * it back (timer callback); the loop tells curl when a socket is ready or
 * the timer fired (curl_multi_socket_action), and we collect finished
 * transfers after each call. A socket's poll handle lives in a small
 * struct registered with curl_multi_assign and is closed asynchronously.
 *
 * Invariant: every easy handle in the multi has a `transfer` as its
 * CURLOPT_PRIVATE, and a transfer's `done` is called at most once — never
 * after http_client_remove.
 */
#include "net/http.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct transfer {
  CURL *easy;
  http_done_fn done;
  void *ctx;
  struct transfer *prev, *next;
} transfer;

struct http_client {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  size_t active;
  transfer *transfers; /* in flight */
};

static void unlink_transfer(http_client *c, transfer *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    c->transfers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  c->active--;
}

typedef struct socket_watch {
  uv_poll_t poll;
  curl_socket_t fd;
  http_client *client;
} socket_watch;

static void check_finished(http_client *c) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(c->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    transfer *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    curl_multi_remove_handle(c->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    unlink_transfer(c, t);
    http_done_fn done = t->done;
    void *ctx = t->ctx;
    free(t);
    done(ctx, easy, result);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  socket_watch *w = h->data;
  http_client *c = w->client;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(c->multi, w->fd, flags, &running);
  check_finished(c);
}

static void on_timer(uv_timer_t *h) {
  http_client *c = h->data;
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_finished(c);
}

static void free_watch(uv_handle_t *h) {
  free(h->data);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  http_client *c = userp;
  socket_watch *w = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      curl_multi_assign(c->multi, fd, NULL);
      uv_poll_stop(&w->poll);
      uv_close((uv_handle_t *)&w->poll, free_watch);
    }
    return 0;
  }
  if (!w) {
    w = calloc(1, sizeof *w);
    if (!w)
      return -1;
    w->fd = fd;
    w->client = c;
    if (uv_poll_init_socket(c->loop, &w->poll, fd) != 0) {
      free(w);
      return -1;
    }
    w->poll.data = w;
    curl_multi_assign(c->multi, fd, w);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  uv_poll_start(&w->poll, events, on_poll);
  return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  http_client *c = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else
    /* 0 means "at once": let the loop call us on its next turn. */
    uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

cf_err http_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? CF_OK : CF_E_NOMEM;
}

cf_err http_client_new(uv_loop_t *loop, http_client **out) {
  *out = NULL;
  http_client *c = calloc(1, sizeof *c);
  if (!c)
    return CF_E_NOMEM;
  c->loop = loop;
  c->multi = curl_multi_init();
  if (!c->multi) {
    free(c);
    return CF_E_NOMEM;
  }
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  /* Reuse connections to the same host, a bounded number of them. */
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 256L);
  *out = c;
  return CF_OK;
}

static void free_client(uv_handle_t *h) {
  free(h->data);
}

void http_client_free(http_client *c) {
  if (!c)
    return;
  /* Abort what is still running; their owners were told to stop first. */
  while (c->transfers) {
    transfer *t = c->transfers;
    curl_multi_remove_handle(c->multi, t->easy);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
    unlink_transfer(c, t);
    free(t);
  }
  curl_multi_cleanup(c->multi);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, free_client);
}

cf_err http_client_add(http_client *c, CURL *easy, http_done_fn done, void *ctx) {
  transfer *t = malloc(sizeof *t);
  if (!t)
    return CF_E_NOMEM;
  *t = (transfer){.easy = easy, .done = done, .ctx = ctx, .next = c->transfers};
  curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
  if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    free(t);
    return CF_E_INVALID;
  }
  if (c->transfers)
    c->transfers->prev = t;
  c->transfers = t;
  c->active++;
  return CF_OK;
}

void http_client_remove(http_client *c, CURL *easy) {
  transfer *t = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
  if (!t)
    return;
  curl_multi_remove_handle(c->multi, easy);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
  unlink_transfer(c, t);
  free(t);
}

size_t http_client_active(const http_client *c) {
  return c->active;
}
