/*
 * http_request.c — an HTTP(S) call through the loop's curl multi client.
 *
 * Params: method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS; default
 * GET), url (http or https only), query (object, added to the URL,
 * escaped), headers (object), body (a string is sent as is; any other JSON
 * value is sent as JSON), timeout_ms (the transfer's own limit; default 5
 * minutes), follow_redirects (default true, at most 10), max_response_bytes
 * (default 10 MiB, at most 100 MiB), fail_on_status (default true: a 4xx
 * or 5xx answer fails the step; 5xx, 408 and 429 may be retried),
 * idempotency_key (default true: POST and PATCH carry an Idempotency-Key
 * header, stable across retries, unless the headers set one).
 *
 * Output: {status, headers (lower-case names; repeated ones joined with
 * ", "), body (parsed when the answer is JSON, else text; binary answers
 * give null with "binary": true), url (after redirects), size}.
 *
 * TLS certificates are verified; header values with line breaks are
 * refused (no header injection); the response is capped while it streams.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/action.h"
#include "base/buf.h"

#define DEFAULT_TIMEOUT_MS (5LL * 60 * 1000)
#define MAX_TIMEOUT_MS     (24LL * 3600 * 1000)
#define DEFAULT_MAX_BYTES  (10LL * 1024 * 1024)
#define MAX_MAX_BYTES      (100LL * 1024 * 1024)
#define MAX_HEADER_BYTES   (64 * 1024)
#define MAX_URL_BYTES      (64 * 1024)

#ifndef CRONFLOW_VERSION
#define CRONFLOW_VERSION "0"
#endif

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

typedef struct http_state {
  action_call *call;
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  cf_buf response;
  cf_buf header_text;
  int64_t max_bytes;
  bool fail_on_status;
  char errbuf[CURL_ERROR_SIZE];
} http_state;

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
  http_state *st = ctx;
  return cf_buf_add(&st->response, data, size * n) ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx) {
  http_state *st = ctx;
  size_t len = size * n;
  /* A new status line starts a new response (redirects, 100 Continue):
   * keep only the last response's headers. */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
    st->header_text.len = 0;
  return cf_buf_add(&st->header_text, data, len) ? len : 0;
}

static bool method_ok(const char *m) {
  for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
    if (strcmp(m, methods[i]) == 0)
      return true;
  return false;
}

static bool is_template(const char *s) {
  return strstr(s, "{{") != NULL;
}

static void check(const json_t *params, const char *path, flow_problems *problems) {
  const json_t *m = json_object_get(params, "method");
  if (m && (!json_is_string(m) ||
            (!is_template(json_string_value(m)) && !method_ok(json_string_value(m)))))
    flow_problem_add(problems, path,
                     "method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD, "
                     "OPTIONS");
  const json_t *u = json_object_get(params, "url");
  if (u && !json_is_string(u))
    flow_problem_add(problems, path, "url: must be a string");
  else if (u && !is_template(json_string_value(u)) &&
           strncmp(json_string_value(u), "http://", 7) != 0 &&
           strncmp(json_string_value(u), "https://", 8) != 0)
    flow_problem_add(problems, path, "url: must start with http:// or https://");
  const json_t *h = json_object_get(params, "headers");
  if (h && !json_is_object(h) && !json_is_string(h))
    flow_problem_add(problems, path, "headers: must be an object of names and values");
  const json_t *q = json_object_get(params, "query");
  if (q && !json_is_object(q) && !json_is_string(q))
    flow_problem_add(problems, path, "query: must be an object of names and values");
}

static void state_free(void *p) {
  http_state *st = p;
  if (!st)
    return;
  if (st->easy)
    curl_easy_cleanup(st->easy);
  curl_slist_free_all(st->headers);
  free(st->body);
  cf_buf_clear(&st->response);
  cf_buf_clear(&st->header_text);
  free(st);
}

/* A value as header/query text: strings as they are, others as JSON. */
static char *value_text(const json_t *v) {
  if (json_is_string(v))
    return strdup(json_string_value(v));
  if (json_is_null(v))
    return strdup("");
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static bool has_line_break(const char *s) {
  return strpbrk(s, "\r\n") != NULL;
}

/* Case-insensitive: does the header list already set `name`? */
static bool headers_have(const json_t *headers, const char *name) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)headers, key, v) {
    (void)v;
    if (strcasecmp(key, name) == 0)
      return true;
  }
  return false;
}

/* Builds the URL with its query; NULL with *why on failure. */
static char *build_url(CURL *easy, const char *url, const json_t *query, const char **why) {
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
    *why = "url must start with http:// or https://";
    return NULL;
  }
  cf_buf b = {.max = MAX_URL_BYTES};
  if (!cf_buf_add(&b, url, strlen(url))) {
    *why = "url is too long";
    free(b.data);
    return NULL;
  }
  if (query && json_is_object(query) && json_object_size(query) > 0) {
    bool first = !strchr(url, '?');
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)query, key, v) {
      char *text = value_text(v);
      char *k = curl_easy_escape(easy, key, 0);
      char *val = text ? curl_easy_escape(easy, text, 0) : NULL;
      bool ok = k && val && cf_buf_add(&b, first ? "?" : "&", 1) && cf_buf_add(&b, k, strlen(k)) &&
                cf_buf_add(&b, "=", 1) && cf_buf_add(&b, val, strlen(val));
      first = false;
      curl_free(k);
      curl_free(val);
      free(text);
      if (!ok) {
        *why = b.too_big ? "url with its query is too long" : "out of memory";
        free(b.data);
        return NULL;
      }
    }
  }
  return b.data;
}

static json_t *parse_headers(const cf_buf *text) {
  json_t *h = json_object();
  if (!h || !text->data)
    return h;
  char *line = text->data;
  while (line && *line) {
    char *end = strstr(line, "\r\n");
    size_t len = end ? (size_t)(end - line) : strlen(line);
    char *colon = memchr(line, ':', len);
    if (colon && strncmp(line, "HTTP/", 5) != 0) {
      size_t nlen = (size_t)(colon - line);
      char name[256];
      if (nlen < sizeof name) {
        for (size_t i = 0; i < nlen; i++)
          name[i] = (char)tolower((unsigned char)line[i]);
        name[nlen] = '\0';
        const char *v = colon + 1;
        size_t vlen = len - nlen - 1;
        while (vlen && (*v == ' ' || *v == '\t')) {
          v++;
          vlen--;
        }
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
          vlen--;
        json_t *old = json_object_get(h, name);
        if (old && json_is_string(old)) {
          size_t olen = json_string_length(old);
          char *joined = malloc(olen + 2 + vlen + 1);
          if (joined) {
            memcpy(joined, json_string_value(old), olen);
            memcpy(joined + olen, ", ", 2);
            memcpy(joined + olen + 2, v, vlen);
            joined[olen + 2 + vlen] = '\0';
            json_t *s = json_string(joined);
            if (s)
              json_object_set_new(h, name, s);
            free(joined);
          }
        } else {
          json_t *s = json_stringn(v, vlen);
          if (s) /* NULL for bytes that are not UTF-8: such a header is left out */
            json_object_set_new(h, name, s);
        }
      }
    }
    line = end ? end + 2 : NULL;
  }
  return h;
}

static json_t *response_body(http_state *st, const char *content_type, bool *binary) {
  *binary = false;
  if (st->response.len == 0)
    return json_string("");
  if (content_type && strstr(content_type, "json")) {
    json_t *v = json_loadb(st->response.data, st->response.len, JSON_DECODE_ANY, NULL);
    if (v)
      return v;
  }
  json_t *s = json_stringn(st->response.data, st->response.len);
  if (s)
    return s;
  *binary = true;
  return json_null();
}

static void on_done(void *ctx, CURL *easy, CURLcode result) {
  http_state *st = ctx;
  action_call *call = st->call;
  call->state = NULL;
  char error[600];
  if (result != CURLE_OK) {
    if (st->response.too_big || result == CURLE_FILESIZE_EXCEEDED)
      snprintf(error, sizeof error, "the response is larger than max_response_bytes (%lld)",
               (long long)st->max_bytes);
    else if (st->header_text.too_big)
      snprintf(error, sizeof error, "the response headers are larger than %d bytes",
               MAX_HEADER_BYTES);
    else
      snprintf(error, sizeof error, "%s%s%s", curl_easy_strerror(result), st->errbuf[0] ? ": " : "",
               st->errbuf);
    state_free(st);
    /* Network trouble and timeouts may pass; a bad URL will not. */
    bool retryable = result != CURLE_URL_MALFORMAT && result != CURLE_UNSUPPORTED_PROTOCOL &&
                     result != CURLE_WRITE_ERROR && result != CURLE_FILESIZE_EXCEEDED;
    call->complete(call, NULL, error, retryable);
    return;
  }
  long status = 0;
  char *final_url = NULL, *content_type = NULL;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &final_url);
  curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type);
  bool binary;
  json_t *body = response_body(st, content_type, &binary);
  json_t *out = json_object();
  if (out) {
    json_object_set_new(out, "status", json_integer(status));
    json_object_set_new(out, "headers", parse_headers(&st->header_text));
    json_object_set_new(out, "body", body ? body : json_null());
    json_object_set_new(out, "url", json_string(final_url ? final_url : ""));
    json_object_set_new(out, "size", json_integer((json_int_t)st->response.len));
    if (binary)
      json_object_set_new(out, "binary", json_true());
  } else {
    json_decref(body);
  }
  if (out && st->fail_on_status && status >= 400) {
    char snippet[201] = "";
    if (st->response.data && !binary) {
      snprintf(snippet, sizeof snippet, "%s", st->response.data);
      for (char *p = snippet; *p; p++)
        if (*p == '\n' || *p == '\r')
          *p = ' ';
    }
    snprintf(error, sizeof error, "HTTP %ld from %s%s%s", status, final_url ? final_url : "",
             snippet[0] ? ": " : "", snippet);
    bool retryable = status >= 500 || status == 408 || status == 429;
    state_free(st);
    json_decref(out);
    call->complete(call, NULL, error, retryable);
    return;
  }
  state_free(st);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

/* Sets up the transfer; an error message for people, or NULL. */
static const char *prepare(http_state *st, const json_t *params, const char *idempotency_key) {
  bool bad = false;
  const char *method = action_param_string(params, "method", &bad);
  if (bad || (method && !method_ok(method)))
    return "method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";
  if (!method)
    method = "GET";
  const char *url = action_param_string(params, "url", &bad);
  if (bad || !url || !url[0])
    return "url is required (a string)";
  int64_t timeout =
      action_param_int(params, "timeout_ms", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, &bad);
  if (bad)
    return "timeout_ms must be an integer from 1 to 86400000";
  st->max_bytes =
      action_param_int(params, "max_response_bytes", DEFAULT_MAX_BYTES, 0, MAX_MAX_BYTES, &bad);
  if (bad)
    return "max_response_bytes must be an integer from 0 to 104857600";
  const json_t *follow = json_object_get(params, "follow_redirects");
  const json_t *fail = json_object_get(params, "fail_on_status");
  const json_t *idem = json_object_get(params, "idempotency_key");
  if ((follow && !json_is_boolean(follow)) || (fail && !json_is_boolean(fail)) ||
      (idem && !json_is_boolean(idem)))
    return "follow_redirects, fail_on_status and idempotency_key must be true or false";
  st->fail_on_status = !fail || json_is_true(fail);
  const json_t *query = json_object_get(params, "query");
  if (query && !json_is_object(query) && !json_is_null(query))
    return "query must be an object of names and values";
  const json_t *headers = json_object_get(params, "headers");
  if (headers && !json_is_object(headers) && !json_is_null(headers))
    return "headers must be an object of names and values";

  st->response.max = (size_t)st->max_bytes;
  st->header_text.max = MAX_HEADER_BYTES;
  CURL *e = st->easy = curl_easy_init();
  if (!e)
    return "out of memory";
  const char *why = NULL;
  char *full = build_url(e, url, query, &why);
  if (!full)
    return why;
  curl_easy_setopt(e, CURLOPT_URL, full);
  free(full);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow && json_is_false(follow) ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "cronflow/" CRONFLOW_VERSION);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, st);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)st->max_bytes);
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);

  const char *key;
  json_t *v;
  json_object_foreach((json_t *)headers, key, v) {
    char *text = value_text(v);
    if (!text)
      return "out of memory";
    if (has_line_break(key) || has_line_break(text) || strchr(key, ':') || !key[0]) {
      free(text);
      return "headers: names and values must not contain line breaks, and names no ':'";
    }
    size_t n = strlen(key) + strlen(text) + 3;
    char *line = malloc(n);
    if (!line) {
      free(text);
      return "out of memory";
    }
    /* "Name;" is curl's way of sending a header with an empty value. */
    if (text[0])
      snprintf(line, n, "%s: %s", key, text);
    else
      snprintf(line, n, "%s;", key);
    free(text);
    struct curl_slist *l = curl_slist_append(st->headers, line);
    free(line);
    if (!l)
      return "out of memory";
    st->headers = l;
  }
  const json_t *body = json_object_get(params, "body");
  bool sends_body =
      body && !json_is_null(body) && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
  if (sends_body) {
    if (json_is_string(body)) {
      st->body = strdup(json_string_value(body));
    } else {
      st->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
      if (!headers_have(headers, "Content-Type")) {
        struct curl_slist *l = curl_slist_append(st->headers, "Content-Type: application/json");
        if (!l)
          return "out of memory";
        st->headers = l;
      }
    }
    if (!st->body)
      return "out of memory";
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, st->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(st->body));
  }
  bool wants_key = !idem || json_is_true(idem);
  if (wants_key && idempotency_key &&
      (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) &&
      !headers_have(headers, "Idempotency-Key")) {
    char line[300];
    snprintf(line, sizeof line, "Idempotency-Key: %s", idempotency_key);
    struct curl_slist *l = curl_slist_append(st->headers, line);
    if (!l)
      return "out of memory";
    st->headers = l;
  }
  /* No "Expect: 100-continue" round trip for bodies. */
  struct curl_slist *l = curl_slist_append(st->headers, "Expect:");
  if (!l)
    return "out of memory";
  st->headers = l;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->headers);
  return NULL;
}

static void start(action_call *call) {
  http_state *st = calloc(1, sizeof *st);
  if (!st) {
    call->complete(call, NULL, "out of memory", true);
    return;
  }
  st->call = call;
  const char *why = prepare(st, call->params, call->idempotency_key);
  action_transfer_begin(call, why, st->easy, on_done, st, state_free);
}

static void cancel(action_call *call) {
  http_state *st = call->state;
  if (!st)
    return;
  call->state = NULL;
  http_client_remove(call->http, st->easy);
  state_free(st);
}

static const char *const required[] = {"url", NULL};

const action_def action_http_request = {
    .name = "http_request",
    .required = required,
    .check = check,
    .start = start,
    .cancel = cancel,
};
