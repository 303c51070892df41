/*
 * slack_message.c — a message to Slack, through the loop's curl client.
 *
 * Two modes, chosen by what the step is given:
 *  - incoming webhook: `webhook_url` (a param, or a `slack` credential's
 *    webhook_url): POST the message as JSON to it; Slack answers "ok" or
 *    an HTTP error whose body names the problem (invalid_payload, ...).
 *  - bot token: a `slack` credential's `token`: POST to chat.postMessage
 *    (under the credential's `api_base`, default https://slack.com/api)
 *    with `Authorization: Bearer`; Slack answers {"ok": true, "channel",
 *    "ts"} or {"ok": false, "error": "channel_not_found"}, which fails the
 *    step with Slack's reason.
 * Params: credential | webhook_url, channel (required with a token), text,
 * blocks (an array, or its JSON text), thread_ts, username, icon_emoji,
 * icon_url, timeout_ms (default 30 s).
 *
 * HTTP 429 is retryable and tells the engine to wait Retry-After seconds
 * before the next attempt. The token never appears in errors or output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions/action.h"

#define DEFAULT_API_BASE   "https://slack.com/api"
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_RESPONSE       (256 * 1024)
#define MAX_HEADERS        (32 * 1024)
#define MAX_TEXT           40000 /* Slack truncates longer messages */

typedef struct slack_state {
  action_call *call;
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  cf_buf response, header_text;
  bool token_mode;
  char errbuf[CURL_ERROR_SIZE];
} slack_state;

static void state_free(void *p) {
  slack_state *st = p;
  if (!st)
    return;
  if (st->easy)
    curl_easy_cleanup(st->easy);
  curl_slist_free_all(st->headers);
  free(st->body);
  free(st->response.data);
  free(st->header_text.data);
  free(st);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
  slack_state *st = ctx;
  return cf_buf_add(&st->response, data, size * n) ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx) {
  slack_state *st = ctx;
  return cf_buf_add(&st->header_text, data, size * n) ? size * n : 0;
}

/* The value of header `name` in the received header text, into out. */
static bool header_value(const cf_buf *h, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name);
  for (const char *line = h->data; line && *line;) {
    const char *end = strstr(line, "\r\n");
    if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
      const char *v = line + nlen + 1;
      size_t len = end ? (size_t)(end - v) : strlen(v);
      snprintf(out, cap, "%.*s", (int)len, v);
      return true;
    }
    line = end ? end + 2 : NULL;
  }
  return false;
}

static void check(const json_t *params, const char *path, flow_problems *problems) {
  const json_t *cred = json_object_get(params, "credential");
  const json_t *hook = json_object_get(params, "webhook_url");
  if (!cred && !hook)
    flow_problem_add(problems, path, "credential or webhook_url is required");
  if (hook && json_is_string(hook) && !action_is_template(hook) &&
      strncmp(json_string_value(hook), "https://", 8) != 0 &&
      strncmp(json_string_value(hook), "http://", 7) != 0)
    flow_problem_add(problems, path, "webhook_url: must start with https:// or http://");
  const json_t *blocks = json_object_get(params, "blocks");
  if (blocks && !json_is_array(blocks) && !json_is_string(blocks))
    flow_problem_add(problems, path, "blocks: must be an array of Slack blocks");
  if (!json_object_get(params, "text") && !blocks)
    flow_problem_add(problems, path, "text or blocks is required");
}

/* Builds the message body; a message for people on failure. */
static const char *build_message(const json_t *params, bool with_channel, json_t **out) {
  bool bad = false;
  const char *text = action_param_string(params, "text", &bad);
  if (bad)
    return "text must be a string";
  if (text && strlen(text) > MAX_TEXT)
    return "text is longer than Slack's 40000 characters";
  const json_t *blocks = json_object_get(params, "blocks");
  json_t *parsed = NULL;
  if (json_is_string(blocks)) {
    parsed = json_loads(json_string_value(blocks), 0, NULL);
    if (!json_is_array(parsed)) {
      json_decref(parsed);
      return "blocks must be an array of Slack blocks (or its JSON text)";
    }
    blocks = parsed;
  } else if (blocks && !json_is_null(blocks) && !json_is_array(blocks)) {
    return "blocks must be an array of Slack blocks";
  }
  if (!blocks || json_is_null(blocks))
    blocks = NULL;
  if (!text && !blocks)
    return "text or blocks is required";
  const char *channel = action_param_string(params, "channel", &bad);
  if (bad)
    return "channel must be a string";
  if (with_channel && (!channel || !channel[0])) {
    json_decref(parsed);
    return "channel is required when posting with a bot token";
  }
  json_t *msg = json_object();
  if (channel && channel[0])
    json_object_set_new(msg, "channel", json_string(channel));
  if (text)
    json_object_set_new(msg, "text", json_string(text));
  if (blocks)
    json_object_set(msg, "blocks", (json_t *)blocks);
  static const char *const extra[] = {"thread_ts", "username", "icon_emoji", "icon_url"};
  for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
    const char *v = action_param_string(params, extra[i], &bad);
    if (v && v[0])
      json_object_set_new(msg, extra[i], json_string(v));
  }
  json_decref(parsed);
  if (bad) {
    json_decref(msg);
    return "thread_ts, username, icon_emoji and icon_url must be strings";
  }
  *out = msg;
  return NULL;
}

static bool retryable_slack_error(const char *code) {
  static const char *const transient[] = {"ratelimited", "internal_error", "fatal_error",
                                          "service_unavailable", "request_timeout"};
  for (size_t i = 0; code && i < sizeof transient / sizeof *transient; i++)
    if (strcmp(code, transient[i]) == 0)
      return true;
  return false;
}

static void finish_token_mode(slack_state *st, action_call *call, long status) {
  char error[400];
  json_t *answer = st->response.data ? json_loads(st->response.data, 0, NULL) : NULL;
  if (!json_is_object(answer)) {
    json_decref(answer);
    snprintf(error, sizeof error, "Slack answered HTTP %ld without a JSON body", status);
    state_free(st);
    call->complete(call, NULL, error, status >= 500 || status == 0);
    return;
  }
  if (!json_is_true(json_object_get(answer, "ok"))) {
    const char *code = json_string_value(json_object_get(answer, "error"));
    const char *warning = json_string_value(json_object_get(answer, "warning"));
    snprintf(error, sizeof error, "Slack refused the message: %.100s%s%.100s",
             code ? code : "unknown error", warning ? " (warning: " : "", warning ? warning : "");
    if (warning)
      strncat(error, ")", sizeof error - strlen(error) - 1);
    bool retry = retryable_slack_error(code);
    json_decref(answer);
    state_free(st);
    call->complete(call, NULL, error, retry);
    return;
  }
  json_t *out = json_pack("{s:b, s:s, s:O?, s:O?}", "ok", 1, "mode", "token", "channel",
                          json_object_get(answer, "channel"), "ts", json_object_get(answer, "ts"));
  json_decref(answer);
  state_free(st);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

static void on_done(void *ctx, CURL *easy, CURLcode result) {
  slack_state *st = ctx;
  action_call *call = st->call;
  call->state = NULL;
  char error[400];
  if (result != CURLE_OK) {
    if (st->response.too_big)
      snprintf(error, sizeof error, "Slack's answer is larger than %d bytes", MAX_RESPONSE);
    else
      snprintf(error, sizeof error, "cannot reach Slack: %s", curl_easy_strerror(result));
    bool retry = result != CURLE_URL_MALFORMAT && result != CURLE_UNSUPPORTED_PROTOCOL;
    state_free(st);
    call->complete(call, NULL, error, retry);
    return;
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (status == 429) {
    char value[64] = "";
    header_value(&st->header_text, "Retry-After", value, sizeof value);
    call->retry_after_ms = action_retry_after_ms(value, 1000);
    snprintf(error, sizeof error, "Slack is rate limiting (HTTP 429); retry after %lld ms",
             (long long)call->retry_after_ms);
    state_free(st);
    call->complete(call, NULL, error, true);
    return;
  }
  if (st->token_mode && status < 400) {
    finish_token_mode(st, call, status);
    return;
  }
  if (status >= 300 || status < 200) {
    char snippet[160] = "";
    if (st->response.data)
      snprintf(snippet, sizeof snippet, "%s", st->response.data);
    for (char *p = snippet; *p; p++)
      if (*p == '\r' || *p == '\n')
        *p = ' ';
    snprintf(error, sizeof error, "Slack answered HTTP %ld%s%s", status, snippet[0] ? ": " : "",
             snippet);
    state_free(st);
    call->complete(call, NULL, error, status >= 500);
    return;
  }
  json_t *out = json_pack("{s:b, s:s, s:i, s:s}", "ok", 1, "mode", "webhook", "status", (int)status,
                          "response", st->response.data ? st->response.data : "");
  state_free(st);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

/* Chooses the endpoint and the authorization from the params and the
 * credential; sets up the transfer. A message for people on failure. */
static const char *prepare(slack_state *st, action_call *call, char *why, size_t cap) {
  const json_t *params = call->params;
  bool bad = false;
  const char *cred_name = action_param_string(params, "credential", &bad);
  const char *webhook = action_param_string(params, "webhook_url", &bad);
  int64_t timeout =
      action_param_int(params, "timeout_ms", DEFAULT_TIMEOUT_MS, 1, 24LL * 3600 * 1000, &bad);
  if (bad)
    return "credential and webhook_url must be strings, timeout_ms a positive integer";
  const char *token = NULL, *api_base = NULL;
  if (cred_name) {
    const json_t *cred = call->credential(call, cred_name, why, cap);
    if (!cred)
      return why;
    const char *type = json_string_value(json_object_get(cred, "type"));
    if (!type || strcmp(type, "slack") != 0) {
      snprintf(why, cap, "credential '%.100s' is of type %s, not slack", cred_name,
               type ? type : "unknown");
      return why;
    }
    const json_t *data = json_object_get(cred, "data");
    token = json_string_value(json_object_get(data, "token"));
    api_base = json_string_value(json_object_get(data, "api_base"));
    if (!webhook)
      webhook = json_string_value(json_object_get(data, "webhook_url"));
  }
  st->token_mode = token && token[0];
  if (!st->token_mode && (!webhook || !webhook[0]))
    return "no webhook_url and no bot token: give a webhook_url or a slack credential";
  json_t *msg;
  const char *err = build_message(params, st->token_mode, &msg);
  if (err)
    return err;
  st->body = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  if (!st->body)
    return "out of memory";

  char url[2048];
  if (st->token_mode) {
    const char *base = api_base && api_base[0] ? api_base : DEFAULT_API_BASE;
    size_t n = strlen(base);
    snprintf(url, sizeof url, "%.*s/chat.postMessage", (int)(n && base[n - 1] == '/' ? n - 1 : n),
             base);
  } else {
    snprintf(url, sizeof url, "%s", webhook);
  }
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
    return "the Slack URL must start with https:// or http://";
  CURL *e = st->easy = curl_easy_init();
  if (!e)
    return "out of memory";
  st->response.max = MAX_RESPONSE;
  st->header_text.max = MAX_HEADERS;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "cronflow/" CRONFLOW_VERSION);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, st);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, st->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(st->body));
  const char *lines[] = {"Content-Type: application/json; charset=utf-8", "Expect:"};
  for (size_t i = 0; i < 2; i++) {
    struct curl_slist *l = curl_slist_append(st->headers, lines[i]);
    if (!l)
      return "out of memory";
    st->headers = l;
  }
  if (st->token_mode) {
    if (strpbrk(token, "\r\n"))
      return "the slack credential's token holds a line break";
    size_t n = strlen(token) + 32;
    char *auth = malloc(n);
    if (!auth)
      return "out of memory";
    snprintf(auth, n, "Authorization: Bearer %s", token);
    struct curl_slist *l = curl_slist_append(st->headers, auth);
    free(auth);
    if (!l)
      return "out of memory";
    st->headers = l;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->headers);
  return NULL;
}

static void start(action_call *call) {
  slack_state *st = calloc(1, sizeof *st);
  if (!st) {
    call->complete(call, NULL, "out of memory", true);
    return;
  }
  st->call = call;
  char why[300];
  const char *err = prepare(st, call, why, sizeof why);
  action_transfer_begin(call, err, st->easy, on_done, st, state_free);
}

static void cancel(action_call *call) {
  slack_state *st = call->state;
  if (!st)
    return;
  call->state = NULL;
  http_client_remove(call->http, st->easy);
  state_free(st);
}

const action_def action_slack_message = {
    .name = "slack_message",
    .check = check,
    .start = start,
    .cancel = cancel,
};
