/*
 * api.c — the HTTP core: libmicrohttpd daemon, request bodies read into a
 * capped buffer, dispatch through the route tables, JSON responses, the
 * embedded UI for everything outside /api/.
 *
 * Every request body is capped at API_BODY_MAX (413 past it); every
 * response carries nosniff and no-frame headers; handlers never see a
 * partial body.
 */
#include "api/api_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct api_server {
  struct MHD_Daemon *daemon;
  api_config cfg;
  uint16_t port;
};

typedef struct body_buffer {
  char *data;
  size_t len, cap;
  bool too_big;
} body_buffer;

static const api_route *const route_tables[] = {api_util_routes};

void api_error(api_response *res, unsigned status, const char *code, const char *message) {
  json_decref(res->json);
  res->status = status;
  res->json = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

json_t *api_body_object(const api_request *req, api_response *res) {
  json_error_t jerr;
  json_t *v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!v) {
    char msg[300];
    snprintf(msg, sizeof msg, "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
             jerr.line, jerr.column);
    api_error(res, 400, "invalid_json", msg);
    return NULL;
  }
  if (!json_is_object(v)) {
    json_decref(v);
    api_error(res, 400, "invalid_json", "the body must be a JSON object");
    return NULL;
  }
  return v;
}

static bool append(body_buffer *b, const char *data, size_t n) {
  if (b->too_big || n > API_BODY_MAX - b->len) {
    b->too_big = true;
    return true;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
      return false;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return true;
}

static const char *content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
  };
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i].ext) == 0)
      return types[i].type;
  return "application/octet-stream";
}

static void serve_asset(const api_request *req, api_response *res) {
  const char *path = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
  for (size_t i = 0; i < web_files_count; i++)
    if (path[0] == '/' && strcmp(web_files[i].name, path + 1) == 0) {
      res->status = 200;
      res->content_type = content_type(web_files[i].name);
      res->body = web_files[i].data;
      res->body_len = web_files[i].len;
      res->cache_control = "no-cache";
      return;
    }
  api_error(res, 404, "not_found", "no such page");
}

static void dispatch(const api_request *req, api_response *res) {
  bool path_known = false;
  for (size_t t = 0; t < sizeof route_tables / sizeof *route_tables; t++)
    for (const api_route *r = route_tables[t]; r->path; r++) {
      if (strcmp(r->path, req->path) != 0)
        continue;
      path_known = true;
      if (strcmp(r->method, req->method) == 0) {
        r->handler(req, res);
        return;
      }
    }
  if (path_known) {
    api_error(res, 405, "method_not_allowed", "this path does not take that method");
    return;
  }
  bool is_api = strncmp(req->path, "/api/", 5) == 0 || strcmp(req->path, "/api") == 0;
  if (!is_api && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)) {
    serve_asset(req, res);
    return;
  }
  api_error(res, 404, "not_found", "no such endpoint");
}

static enum MHD_Result send_response(struct MHD_Connection *conn, api_response *res) {
  struct MHD_Response *r;
  if (res->json) {
    char *text = json_dumps(res->json, JSON_COMPACT);
    json_decref(res->json);
    res->json = NULL;
    if (!text)
      return MHD_NO;
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r)
      MHD_add_response_header(r, "Content-Type", "application/json");
  } else {
    r = MHD_create_response_from_buffer(res->body_len, (void *)res->body, MHD_RESPMEM_PERSISTENT);
    if (r && res->content_type)
      MHD_add_response_header(r, "Content-Type", res->content_type);
  }
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "Cache-Control", res->cache_control ? res->cache_control : "no-store");
  if (res->content_type && strncmp(res->content_type, "text/html", 9) == 0)
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; object-src 'none'; frame-ancestors 'none'");
  enum MHD_Result ok = MHD_queue_response(conn, res->status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **state) {
  (void)version;
  api_server *srv = cls;
  body_buffer *b = *state;
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b)
      return MHD_NO;
    *state = b;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (!append(b, upload_data, *upload_data_size))
      return MHD_NO;
    *upload_data_size = 0;
    return MHD_YES;
  }
  api_response res = {.status = 200};
  if (b->too_big) {
    char msg[100];
    snprintf(msg, sizeof msg, "the request body is larger than %d bytes", API_BODY_MAX);
    api_error(&res, 413, "body_too_large", msg);
  } else {
    api_request req = {method, url, b->data ? b->data : "", b->len, &srv->cfg};
    dispatch(&req, &res);
  }
  if (!res.json && !res.body)
    api_error(&res, 500, "internal", "the server could not build a response");
  return send_response(conn, &res);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code) {
  (void)cls;
  (void)conn;
  (void)code;
  body_buffer *b = *state;
  if (b) {
    free(b->data);
    free(b);
    *state = NULL;
  }
}

cf_err api_server_start(const api_config *cfg, api_server **out) {
  *out = NULL;
  struct sockaddr_in in4 = {0};
  struct sockaddr_in6 in6 = {0};
  struct sockaddr *addr;
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD;
  if (inet_pton(AF_INET, cfg->host, &in4.sin_addr) == 1) {
    in4.sin_family = AF_INET;
    in4.sin_port = htons(cfg->port);
    addr = (struct sockaddr *)&in4;
  } else if (inet_pton(AF_INET6, cfg->host, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(cfg->port);
    addr = (struct sockaddr *)&in6;
    flags |= MHD_USE_IPv6;
  } else {
    return CF_E_INVALID;
  }
  api_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return CF_E_NOMEM;
  srv->cfg = *cfg;
  srv->daemon =
      MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, addr,
                       MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : 2),
                       MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 1024u,
                       MHD_OPTION_PER_IP_CONNECTION_LIMIT, 256u, MHD_OPTION_NOTIFY_COMPLETED,
                       on_completed, srv, MHD_OPTION_END);
  if (!srv->daemon) {
    free(srv);
    return CF_E_IO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  srv->port = info ? info->port : cfg->port;
  *out = srv;
  return CF_OK;
}

uint16_t api_server_port(const api_server *server) {
  return server->port;
}

void api_server_stop(api_server *server) {
  if (!server)
    return;
  MHD_stop_daemon(server->daemon);
  free(server);
}
