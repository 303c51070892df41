/*
 * email_send.c — an e-mail over SMTP through the loop's curl client.
 *
 * The server comes from an `smtp` credential: host, port, security
 * ("none", "starttls": STARTTLS required, "tls": implicit TLS), username
 * and password (AUTH when a username is set), optional from (the default
 * sender), ca_file (a PEM file of CAs to trust) and tls_verify (default
 * true). Params: credential, from, to (a list or a comma-separated
 * string), cc, bcc, reply_to, subject, text, html, attachments ([{filename,
 * content_type, content (text) | content_base64}]), template (a saved
 * template's name: its subject, text and html are rendered in the step's
 * scope; params given override them), timeout_ms (default 60 s).
 *
 * The message: multipart/mixed holding a multipart/alternative of the text
 * and HTML parts (quoted-printable, UTF-8) and the attachments (base64);
 * From, To, Cc (never Bcc), Reply-To, Subject with RFC 2047 encoded words
 * for anything not ASCII (display names too), Date and a Message-ID built
 * from the step's idempotency key, so a retried step sends the same id.
 *
 * Every message sent or refused gets a row in the e-mail log with the
 * server's last answer. The server's answers are kept up to a cap; the
 * password never appears in errors, output or the log.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions/action.h"

#define DEFAULT_TIMEOUT_MS (60 * 1000)
#define MAX_RECIPIENTS     100
#define MAX_ADDRESS        254
#define MAX_NAME           200
#define MAX_SUBJECT        900
#define MAX_BODY           (10 * 1024 * 1024)
#define MAX_ATTACHMENTS    (25 * 1024 * 1024) /* decoded bytes, all together */
#define MAX_SERVER_TEXT    (8 * 1024)

typedef struct address {
  char name[MAX_NAME + 1];
  char addr[MAX_ADDRESS + 1];
} address;

typedef struct address_list {
  address *items;
  size_t n;
} address_list;

typedef struct email_state {
  action_call *call;
  CURL *easy;
  curl_mime *mime;
  struct curl_slist *headers, *rcpt;
  char *envelope_from;
  char message_id[400];
  char *subject, *sender;
  json_t *recipients; /* for the output and the log */
  cf_buf server;      /* the server's answers */
  char last_line[512];
  char refusal[512]; /* the last 4xx or 5xx answer */
  char errbuf[CURL_ERROR_SIZE];
} email_state;

static void state_free(void *p) {
  email_state *st = p;
  if (!st)
    return;
  if (st->easy)
    curl_easy_cleanup(st->easy);
  curl_mime_free(st->mime);
  curl_slist_free_all(st->headers);
  curl_slist_free_all(st->rcpt);
  free(st->envelope_from);
  free(st->subject);
  free(st->sender);
  json_decref(st->recipients);
  free(st->server.data);
  free(st);
}

/* ------------------------------------------------------------ addresses */

static bool addr_ok(const char *a) {
  const char *at = strchr(a, '@');
  if (!at || at == a || !at[1] || strchr(at + 1, '@'))
    return false;
  for (const unsigned char *p = (const unsigned char *)a; *p; p++)
    if (*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == '"' || *p == '(' || *p == ')' ||
        *p == ';' || *p == '\\' || *p == 0x7f)
      return false;
  return true;
}

static void trim_into(char *dst, size_t cap, const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    s++;
    n -= 2;
  }
  snprintf(dst, cap, "%.*s", (int)n, s);
}

/* Parses "Name <a@b>" or "a@b" into one address; a message on failure. */
static const char *parse_address(const char *s, size_t n, address *out) {
  if (n > MAX_ADDRESS + MAX_NAME + 10)
    return "an address is too long";
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n')
      return "an address holds a line break";
  const char *lt = memchr(s, '<', n);
  if (lt) {
    const char *gt = memchr(lt, '>', n - (size_t)(lt - s));
    if (!gt)
      return "an address has '<' without '>'";
    trim_into(out->name, sizeof out->name, s, (size_t)(lt - s));
    trim_into(out->addr, sizeof out->addr, lt + 1, (size_t)(gt - lt - 1));
  } else {
    out->name[0] = '\0';
    trim_into(out->addr, sizeof out->addr, s, n);
  }
  return addr_ok(out->addr) ? NULL : "not an e-mail address";
}

static const char *add_address(address_list *l, const char *s, size_t n, char *why, size_t cap) {
  while (n && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  if (n == 0)
    return NULL;
  if (l->n >= MAX_RECIPIENTS) {
    snprintf(why, cap, "more than %d recipients", MAX_RECIPIENTS);
    return why;
  }
  address *grown = realloc(l->items, (l->n + 1) * sizeof *l->items);
  if (!grown)
    return "out of memory";
  l->items = grown;
  const char *err = parse_address(s, n, &l->items[l->n]);
  if (err) {
    snprintf(why, cap, "%s: '%.*s'", err, (int)(n > 120 ? 120 : n), s);
    return why;
  }
  l->n++;
  return NULL;
}

/* A list param: an array of strings, or one string of comma-separated
 * addresses (commas inside quotes are part of a name). */
static const char *parse_list(const json_t *v, const char *param, address_list *l, char *why,
                              size_t cap) {
  if (!v || json_is_null(v))
    return NULL;
  if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      if (!json_is_string(x)) {
        snprintf(why, cap, "%s: every item must be an address string", param);
        return why;
      }
      const char *err = add_address(l, json_string_value(x), json_string_length(x), why, cap);
      if (err)
        return err;
    }
    return NULL;
  }
  if (!json_is_string(v)) {
    snprintf(why, cap, "%s: must be a list of addresses or a comma-separated string", param);
    return why;
  }
  const char *s = json_string_value(v), *start = s;
  bool quoted = false;
  for (const char *p = s;; p++) {
    if (*p == '"')
      quoted = !quoted;
    if ((*p == ',' && !quoted) || !*p) {
      const char *err = add_address(l, start, (size_t)(p - start), why, cap);
      if (err)
        return err;
      start = p + 1;
    }
    if (!*p)
      break;
  }
  return NULL;
}

/* ------------------------------------------------------------ encoding */

static bool plain_ascii(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      return false;
  return strstr(s, "=?") == NULL;
}

/* RFC 2047: UTF-8 text as B encoded words of at most 45 bytes of text each
 * (never splitting a character), separated by spaces. */
static bool encode_words(cf_buf *b, const char *s) {
  size_t n = strlen(s), at = 0;
  bool ok = true;
  while (ok && at < n) {
    size_t take = n - at > 45 ? 45 : n - at;
    while (at + take < n && take > 0 && ((unsigned char)s[at + take] & 0xC0) == 0x80)
      take--;
    char enc[sodium_base64_ENCODED_LEN(45, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(enc, sizeof enc, (const unsigned char *)s + at, take,
                      sodium_base64_VARIANT_ORIGINAL);
    ok = (at == 0 || cf_buf_add(b, " ", 1)) && cf_buf_add(b, "=?UTF-8?B?", 10) &&
         cf_buf_add(b, enc, strlen(enc)) && cf_buf_add(b, "?=", 2);
    at += take;
  }
  return ok;
}

/* "Name <addr>" for a header, the name quoted or encoded. */
static bool format_address(cf_buf *b, const address *a) {
  bool ok = true;
  if (a->name[0]) {
    if (plain_ascii(a->name)) {
      ok = cf_buf_add(b, "\"", 1);
      for (const char *p = a->name; ok && *p; p++) {
        if (*p == '"' || *p == '\\')
          ok = cf_buf_add(b, "\\", 1);
        ok = ok && cf_buf_add(b, p, 1);
      }
      ok = ok && cf_buf_add(b, "\"", 1);
    } else {
      ok = encode_words(b, a->name);
    }
    ok = ok && cf_buf_add(b, " ", 1);
  }
  return ok && cf_buf_add(b, "<", 1) && cf_buf_add(b, a->addr, strlen(a->addr)) &&
         cf_buf_add(b, ">", 1);
}

static const char *add_header(email_state *st, const char *line) {
  struct curl_slist *l = curl_slist_append(st->headers, line);
  if (!l)
    return "out of memory";
  st->headers = l;
  return NULL;
}

static const char *address_header(email_state *st, const char *name, const address_list *l) {
  if (l->n == 0)
    return NULL;
  cf_buf b = {.max = 64 * 1024};
  bool ok = cf_buf_add(&b, name, strlen(name)) && cf_buf_add(&b, ": ", 2);
  for (size_t i = 0; ok && i < l->n; i++)
    ok = (i == 0 || cf_buf_add(&b, ", ", 2)) && format_address(&b, &l->items[i]);
  const char *err = ok ? add_header(st, b.data) : "the address list is too long";
  free(b.data);
  return err;
}

/* RFC 5322 date in UTC, with English names whatever the locale. */
static void format_date(char *out, size_t cap) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  snprintf(out, cap, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static json_t *address_json(const address_list *l) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < l->n; i++)
    json_array_append_new(a, json_string(l->items[i].addr));
  return a;
}

/* ------------------------------------------------------------ the body */

/* A param, or the template's rendered part when the param is absent. */
static const char *body_part(email_state *st, const json_t *tpl_parts, const char *key, char *why,
                             size_t cap) {
  bool bad = false;
  const char *v = action_param_string(st->call->params, key, &bad);
  if (bad) {
    snprintf(why, cap, "%s must be a string", key);
    return NULL;
  }
  if (!v && tpl_parts)
    v = json_string_value(json_object_get(tpl_parts, key));
  return v ? v : "";
}

/* Renders a saved template's parts in the step's scope. */
static const char *render_template(email_state *st, const char *name, json_t **parts, char *why,
                                   size_t cap) {
  action_call *call = st->call;
  if (!call->store) {
    snprintf(why, cap, "templates need the store");
    return why;
  }
  store_email_template t;
  cf_err rc = store_email_template_get(call->store, call->org_id, name, &t);
  if (rc) {
    snprintf(why, cap,
             rc == CF_E_NOT_FOUND ? "no e-mail template named '%.100s'"
                                  : "cannot read the e-mail template '%.100s'",
             name);
    return why;
  }
  json_t *out = json_object();
  const struct {
    const char *key, *text;
    bool html;
  } p[] = {{"subject", t.subject, false}, {"text", t.text, false}, {"html", t.html, true}};
  const char *err = NULL;
  for (size_t i = 0; !err && i < 3; i++) {
    char e[300];
    json_t *v = call->render(call, p[i].text, p[i].html, e, sizeof e);
    if (!v) {
      snprintf(why, cap, "template '%.60s', %s: %s", name, p[i].key, e);
      err = why;
    } else if (!json_is_string(v)) {
      char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      json_object_set_new(out, p[i].key, json_string(text ? text : ""));
      free(text);
      json_decref(v);
    } else {
      json_object_set_new(out, p[i].key, v);
    }
  }
  store_email_template_clear(&t);
  if (err) {
    json_decref(out);
    return err;
  }
  *parts = out;
  return NULL;
}

static const char *add_text_part(curl_mime *alt, const char *text, const char *type) {
  curl_mimepart *part = curl_mime_addpart(alt);
  if (!part || curl_mime_data(part, text, CURL_ZERO_TERMINATED) != CURLE_OK ||
      curl_mime_type(part, type) != CURLE_OK ||
      curl_mime_encoder(part, "quoted-printable") != CURLE_OK)
    return "out of memory";
  return NULL;
}

static const char *add_attachments(email_state *st, const json_t *list, char *why, size_t cap) {
  if (!list || json_is_null(list))
    return NULL;
  if (!json_is_array(list))
    return "attachments must be a list of {filename, content_type, content | content_base64}";
  size_t total = 0, i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *filename = json_string_value(json_object_get(a, "filename"));
    const char *type = json_string_value(json_object_get(a, "content_type"));
    const json_t *text = json_object_get(a, "content");
    const json_t *b64 = json_object_get(a, "content_base64");
    if (!json_is_object(a) || !filename || !filename[0] || strpbrk(filename, "\r\n\"") ||
        (type && strpbrk(type, "\r\n")) || (!json_is_string(text) && !json_is_string(b64))) {
      snprintf(why, cap,
               "attachments[%zu]: needs a filename (no quotes or line breaks) and content or "
               "content_base64",
               i);
      return why;
    }
    unsigned char *bytes;
    size_t n;
    if (json_is_string(b64)) {
      size_t len = json_string_length(b64);
      bytes = malloc(len / 4 * 3 + 3);
      if (!bytes)
        return "out of memory";
      if (sodium_base642bin(bytes, len / 4 * 3 + 3, json_string_value(b64), len, " \r\n\t", &n,
                            NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(bytes);
        snprintf(why, cap, "attachments[%zu].content_base64 is not base64", i);
        return why;
      }
    } else {
      n = json_string_length(text);
      bytes = malloc(n ? n : 1);
      if (!bytes)
        return "out of memory";
      memcpy(bytes, json_string_value(text), n);
    }
    total += n;
    curl_mimepart *part = total <= MAX_ATTACHMENTS ? curl_mime_addpart(st->mime) : NULL;
    bool ok =
        part && curl_mime_data(part, (const char *)bytes, n) == CURLE_OK &&
        curl_mime_filename(part, filename) == CURLE_OK &&
        curl_mime_type(part, type && type[0] ? type : "application/octet-stream") == CURLE_OK &&
        curl_mime_encoder(part, "base64") == CURLE_OK;
    free(bytes);
    if (!ok) {
      if (total > MAX_ATTACHMENTS)
        snprintf(why, cap, "the attachments are larger than %d bytes", MAX_ATTACHMENTS);
      return total > MAX_ATTACHMENTS ? why : "out of memory";
    }
  }
  return NULL;
}

/* ------------------------------------------------------------ the transfer */

/* Keeps the server's answers (capped) and its last line. */
static int on_debug(CURL *e, curl_infotype type, char *data, size_t size, void *ctx) {
  (void)e;
  email_state *st = ctx;
  if (type != CURLINFO_HEADER_IN)
    return 0;
  cf_buf_add(&st->server, data, size);
  size_t n = size;
  while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
    n--;
  if (n)
    snprintf(st->last_line, sizeof st->last_line, "%.*s", (int)n, data);
  if (n && (data[0] == '4' || data[0] == '5'))
    snprintf(st->refusal, sizeof st->refusal, "%.*s", (int)n, data);
  return 0;
}

static void log_row(email_state *st, const char *status, const char *error) {
  action_call *call = st->call;
  if (!call->store)
    return;
  char *recipients = json_dumps(st->recipients, JSON_COMPACT);
  store_email_log row = {.org_id = call->org_id,
                         .execution_id = call->execution_id,
                         .node_id = (char *)call->node_id,
                         .status = (char *)status,
                         .sender = st->sender,
                         .recipients = recipients,
                         .subject = st->subject,
                         .message_id = st->message_id,
                         .smtp_response = st->refusal[0]     ? st->refusal
                                          : st->last_line[0] ? st->last_line
                                                             : NULL,
                         .error = (char *)error,
                         .at = (int64_t)time(NULL) * 1000};
  if (store_email_log_add_async(call->store, &row, NULL, NULL) != CF_OK)
    call->log(call, "warn", "the e-mail log row could not be written");
  free(recipients);
}

static void on_done(void *ctx, CURL *easy, CURLcode result) {
  email_state *st = ctx;
  action_call *call = st->call;
  call->state = NULL;
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  if (result != CURLE_OK) {
    char error[900];
    snprintf(error, sizeof error, "SMTP: %s%s%s%s%s", curl_easy_strerror(result),
             st->errbuf[0] ? " (" : "", st->errbuf, st->errbuf[0] ? ")" : "",
             st->refusal[0] ? "; the server said: " : "");
    strncat(error, st->refusal, sizeof error - strlen(error) - 1);
    log_row(st, "failed", error);
    /* 5xx answers are permanent (a refused recipient, a refused login);
     * connection trouble and 4xx may pass. */
    bool retry = !(code >= 500 && code < 600) && result != CURLE_LOGIN_DENIED &&
                 result != CURLE_URL_MALFORMAT && result != CURLE_UNSUPPORTED_PROTOCOL;
    state_free(st);
    call->complete(call, NULL, error, retry);
    return;
  }
  log_row(st, "sent", NULL);
  json_t *out = json_pack("{s:s, s:O, s:s, s:i}", "message_id", st->message_id, "recipients",
                          st->recipients, "response", st->last_line, "smtp_code", (int)code);
  state_free(st);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

typedef struct smtp_server {
  const char *host, *security, *username, *password, *from, *ca_file;
  int64_t port;
  bool verify;
} smtp_server;

static const char *read_server(action_call *call, smtp_server *srv, char *why, size_t cap) {
  bool bad = false;
  const char *name = action_param_string(call->params, "credential", &bad);
  if (bad || !name)
    return "credential is required: the name of an smtp credential";
  const json_t *cred = call->credential(call, name, why, cap);
  if (!cred)
    return why;
  const char *type = json_string_value(json_object_get(cred, "type"));
  if (!type || strcmp(type, "smtp") != 0) {
    snprintf(why, cap, "credential '%.100s' is of type %s, not smtp", name,
             type ? type : "unknown");
    return why;
  }
  const json_t *d = json_object_get(cred, "data");
  srv->host = action_param_string(d, "host", &bad);
  srv->security = action_param_string(d, "security", &bad);
  srv->username = action_param_string(d, "username", &bad);
  srv->password = action_param_string(d, "password", &bad);
  srv->from = action_param_string(d, "from", &bad);
  srv->ca_file = action_param_string(d, "ca_file", &bad);
  if (!srv->security)
    srv->security = "starttls";
  bool tls = strcmp(srv->security, "tls") == 0;
  srv->port = action_param_int(d, "port", tls ? 465 : 587, 1, 65535, &bad);
  const json_t *verify = json_object_get(d, "tls_verify");
  srv->verify = !json_is_false(verify);
  if (bad || !srv->host || !srv->host[0] || strpbrk(srv->host, "/@?# \r\n"))
    return "the smtp credential needs a host name, a port from 1 to 65535 and string fields";
  if (strcmp(srv->security, "none") != 0 && strcmp(srv->security, "starttls") != 0 && !tls)
    return "the smtp credential's security must be none, starttls or tls";
  return NULL;
}

static const char *prepare(email_state *st, char *why, size_t cap) {
  action_call *call = st->call;
  const json_t *p = call->params;
  smtp_server srv;
  const char *err = read_server(call, &srv, why, cap);
  if (err)
    return err;
  bool bad = false;
  const char *tpl_name = action_param_string(p, "template", &bad);
  int64_t timeout =
      action_param_int(p, "timeout_ms", DEFAULT_TIMEOUT_MS, 1, 24LL * 3600 * 1000, &bad);
  if (bad)
    return "template must be a name and timeout_ms a positive integer";
  json_t *tpl = NULL;
  if (tpl_name && (err = render_template(st, tpl_name, &tpl, why, cap)))
    return err;

  address_list from = {0}, to = {0}, cc = {0}, bcc = {0}, reply = {0};
  const json_t *from_v = json_object_get(p, "from");
  json_t *cred_from = !from_v && srv.from ? json_string(srv.from) : NULL;
  if (!err)
    err = parse_list(from_v ? from_v : cred_from, "from", &from, why, cap);
  json_decref(cred_from);
  if (!err && from.n != 1)
    err = "from is required: one address (a param, or the smtp credential's from)";
  if (!err)
    err = parse_list(json_object_get(p, "to"), "to", &to, why, cap);
  if (!err)
    err = parse_list(json_object_get(p, "cc"), "cc", &cc, why, cap);
  if (!err)
    err = parse_list(json_object_get(p, "bcc"), "bcc", &bcc, why, cap);
  if (!err)
    err = parse_list(json_object_get(p, "reply_to"), "reply_to", &reply, why, cap);
  if (!err && to.n + cc.n + bcc.n == 0)
    err = "no recipients: give to, cc or bcc";
  if (!err && to.n + cc.n + bcc.n > MAX_RECIPIENTS)
    err = "more than 100 recipients";

  const char *subject = NULL, *text = NULL, *html = NULL;
  if (!err && !(subject = body_part(st, tpl, "subject", why, cap)))
    err = why;
  if (!err && !(text = body_part(st, tpl, "text", why, cap)))
    err = why;
  if (!err && !(html = body_part(st, tpl, "html", why, cap)))
    err = why;
  if (!err && (strlen(subject) > MAX_SUBJECT || strpbrk(subject, "\r\n")))
    err = "subject must be one line of at most 900 bytes";
  if (!err && strlen(text) + strlen(html) > MAX_BODY)
    err = "text and html are larger than 10 MiB";
  if (!err && !text[0] && !html[0])
    err = "the message has no text and no html";

  CURL *e = NULL;
  if (!err) {
    e = st->easy = curl_easy_init();
    st->mime = e ? curl_mime_init(e) : NULL;
    if (!e || !st->mime)
      err = "out of memory";
  }
  /* The body: the alternative of text and HTML, then the attachments. */
  if (!err && text[0] && html[0]) {
    curl_mime *alt = curl_mime_init(e);
    curl_mimepart *part = curl_mime_addpart(st->mime);
    err = !alt || !part ? "out of memory" : NULL;
    if (!err)
      err = add_text_part(alt, text, "text/plain; charset=utf-8");
    if (!err)
      err = add_text_part(alt, html, "text/html; charset=utf-8");
    if (part && alt && curl_mime_subparts(part, alt) != CURLE_OK) {
      curl_mime_free(alt);
      err = "out of memory";
    }
    if (!err && curl_mime_type(part, "multipart/alternative") != CURLE_OK)
      err = "out of memory";
  } else if (!err) {
    err = html[0] ? add_text_part(st->mime, html, "text/html; charset=utf-8")
                  : add_text_part(st->mime, text, "text/plain; charset=utf-8");
  }
  if (!err)
    err = add_attachments(st, json_object_get(p, "attachments"), why, cap);

  /* Headers. */
  if (!err) {
    const char *at = strchr(from.items[0].addr, '@');
    snprintf(st->message_id, sizeof st->message_id, "<cronflow.%s@%s>",
             call->idempotency_key ? call->idempotency_key : "message", at + 1);
    st->subject = strdup(subject);
    cf_buf b = {.max = MAX_ADDRESS + MAX_NAME * 4 + 16};
    bool ok = format_address(&b, &from.items[0]);
    st->sender = ok ? b.data : NULL;
    if (!ok)
      free(b.data);
    st->recipients = json_pack("{s:o, s:o, s:o}", "to", address_json(&to), "cc", address_json(&cc),
                               "bcc", address_json(&bcc));
    if (!st->subject || !st->sender || !st->recipients)
      err = "out of memory";
  }
  if (!err)
    err = address_header(st, "From", &from);
  if (!err)
    err = address_header(st, "To", &to);
  if (!err)
    err = address_header(st, "Cc", &cc);
  if (!err)
    err = address_header(st, "Reply-To", &reply);
  if (!err) {
    cf_buf b = {.max = 8 * 1024};
    bool ok = cf_buf_add(&b, "Subject: ", 9) &&
              (plain_ascii(subject) ? cf_buf_add(&b, subject, strlen(subject))
                                    : encode_words(&b, subject));
    err = ok ? add_header(st, b.data) : "out of memory";
    free(b.data);
  }
  char line[512];
  if (!err) {
    format_date(line, sizeof line);
    err = add_header(st, line);
  }
  if (!err) {
    snprintf(line, sizeof line, "Message-ID: %s", st->message_id);
    err = add_header(st, line);
  }
  /* The envelope: the sender and every recipient, Bcc included. */
  const address_list *lists[] = {&to, &cc, &bcc};
  for (size_t k = 0; !err && k < 3; k++)
    for (size_t i = 0; !err && i < lists[k]->n; i++) {
      snprintf(line, sizeof line, "<%s>", lists[k]->items[i].addr);
      struct curl_slist *l = curl_slist_append(st->rcpt, line);
      if (!l)
        err = "out of memory";
      else
        st->rcpt = l;
    }
  if (!err) {
    snprintf(line, sizeof line, "<%s>", from.items[0].addr);
    st->envelope_from = strdup(line);
    if (!st->envelope_from)
      err = "out of memory";
  }
  if (!err) {
    bool tls = strcmp(srv.security, "tls") == 0;
    snprintf(line, sizeof line, "%s://%s:%lld", tls ? "smtps" : "smtp", srv.host,
             (long long)srv.port);
    curl_easy_setopt(e, CURLOPT_URL, line);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     strcmp(srv.security, "starttls") == 0 ? (long)CURLUSESSL_ALL
                                                           : (long)CURLUSESSL_NONE);
    if (srv.ca_file && srv.ca_file[0])
      curl_easy_setopt(e, CURLOPT_CAINFO, srv.ca_file);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, srv.verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, srv.verify ? 2L : 0L);
    if (srv.username && srv.username[0]) {
      curl_easy_setopt(e, CURLOPT_USERNAME, srv.username);
      curl_easy_setopt(e, CURLOPT_PASSWORD, srv.password ? srv.password : "");
    }
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, st->envelope_from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, st->rcpt);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->headers);
    curl_easy_setopt(e, CURLOPT_MIMEPOST, st->mime);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    /* The server's answers come through the debug callback only. */
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, st);
    st->server.max = MAX_SERVER_TEXT;
  }
  free(from.items);
  free(to.items);
  free(cc.items);
  free(bcc.items);
  free(reply.items);
  json_decref(tpl);
  return err;
}

static void start(action_call *call) {
  email_state *st = calloc(1, sizeof *st);
  if (!st) {
    call->complete(call, NULL, "out of memory", true);
    return;
  }
  st->call = call;
  char why[400];
  const char *err = prepare(st, why, sizeof why);
  action_transfer_begin(call, err, st->easy, on_done, st, state_free);
}

static void cancel(action_call *call) {
  email_state *st = call->state;
  if (!st)
    return;
  call->state = NULL;
  http_client_remove(call->http, st->easy);
  log_row(st, "failed", "cancelled before the server accepted the message");
  state_free(st);
}

static void check(const json_t *params, const char *path, flow_problems *problems) {
  if (!json_object_get(params, "to") && !json_object_get(params, "cc") &&
      !json_object_get(params, "bcc"))
    flow_problem_add(problems, path, "to, cc or bcc is required");
  const json_t *att = json_object_get(params, "attachments");
  if (att && !json_is_array(att) && !action_is_template(att))
    flow_problem_add(problems, path, "attachments: must be a list");
}

static const char *const required[] = {"credential", NULL};
static const char *const html_params[] = {"html", NULL};

const action_def action_email_send = {
    .name = "email_send",
    .required = required,
    .check = check,
    .start = start,
    .cancel = cancel,
    .html_params = html_params,
};
