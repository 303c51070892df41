/*
 * routes_util.c — health probes, the zone list, and cron validation with a
 * preview of the next fire instants (the original system's
 * POST /api/utils/validate-cron, kept at its path).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "base/civil.h"
#include "cron/cron.h"

/* The most instants validate-cron previews. */
#define PREVIEW_MAX 100

static void healthz(const api_request *req, api_response *res) {
  (void)req;
  res->json = json_pack("{s:s,s:s}", "status", "ok", "version", CRONFLOW_VERSION);
}

static void openapi(const api_request *req, api_response *res) {
  (void)req;
  res->content_type = "application/json";
  res->body = api_docs[0].data;
  res->body_len = api_docs[0].len;
  res->cache_control = "no-cache";
}

static void readyz(const api_request *req, api_response *res) {
  const char *why = req->cfg->ready ? req->cfg->ready(req->cfg->ready_ctx) : NULL;
  if (why) {
    res->status = 503;
    res->json = json_pack("{s:s,s:s}", "status", "not_ready", "reason", why);
  } else {
    res->json = json_pack("{s:s}", "status", "ready");
  }
}

static void timezones(const api_request *req, api_response *res) {
  const char *const *names;
  size_t n;
  if (tz_db_list(req->cfg->zones, &names, &n) != CF_OK) {
    api_error(res, 500, "tzdata_unreadable", "the system's time zone database cannot be read");
    return;
  }
  json_t *items = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(items, json_string(names[i]));
  res->json = json_pack("{s:o}", "items", items);
}

static const char *const field_names[] = {"second",       "minute", "hour",
                                          "day_of_month", "month",  "day_of_week"};

static void invalid(api_response *res, const char *message, const char *field, int column) {
  json_t *err = json_pack("{s:s}", "message", message);
  if (field)
    json_object_set_new(err, "field", json_string(field));
  if (column > 0)
    json_object_set_new(err, "column", json_integer(column));
  res->json = json_pack("{s:b,s:o}", "valid", 0, "error", err);
}

static void validate_cron(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res);
  if (!body)
    return;
  json_t *jexpr = json_object_get(body, "expression");
  json_t *jtz = json_object_get(body, "timezone");
  json_t *jcount = json_object_get(body, "count");
  json_t *jseed = json_object_get(body, "seed");
  json_t *jfrom = json_object_get(body, "from");
  if (!json_is_string(jexpr)) {
    api_error(res, 400, "invalid_request",
              "expression: required, a string such as \"0 9 * * 1-5\"");
  } else if (jtz && !json_is_null(jtz) && !json_is_string(jtz)) {
    api_error(res, 400, "invalid_request", "timezone: must be a string such as \"Europe/London\"");
  } else if (jcount && !(json_is_integer(jcount) && json_integer_value(jcount) >= 0 &&
                         json_integer_value(jcount) <= PREVIEW_MAX)) {
    api_error(res, 400, "invalid_request", "count: must be a whole number from 0 to 100");
  } else if (jseed && !(json_is_integer(jseed) && json_integer_value(jseed) >= 0)) {
    api_error(res, 400, "invalid_request", "seed: must be a whole number, 0 or more");
  } else if (jfrom && !json_is_string(jfrom)) {
    api_error(res, 400, "invalid_request", "from: must be an ISO-8601 date-time string");
  }
  if (res->json) {
    json_decref(body);
    return;
  }
  const char *tz_name = json_is_string(jtz) ? json_string_value(jtz) : "UTC";
  json_int_t count = jcount ? json_integer_value(jcount) : 5;
  uint64_t seed = jseed ? (uint64_t)json_integer_value(jseed) : 0;
  const tz_zone *zone;
  cron_expr *expr = NULL;
  cron_error perr;
  cf_err err = tz_db_zone(req->cfg->zones, tz_name, &zone);
  if (err == CF_E_TZ_UNKNOWN) {
    char msg[200];
    snprintf(msg, sizeof msg, "unknown time zone '%.100s' (IANA names such as Europe/London)",
             tz_name);
    invalid(res, msg, "timezone", 0);
  } else if (err) {
    api_error(res, 500, "tzdata_unreadable", cf_strerror(err));
  } else if ((err = cron_parse(json_string_value(jexpr), seed, &expr, &perr)) == CF_E_NOMEM) {
    api_error(res, 500, "internal", "out of memory");
  } else if (err) {
    invalid(res, perr.message, perr.field >= 0 ? field_names[perr.field] : NULL, perr.column);
  }
  int64_t t = 0;
  if (!res->json && jfrom) {
    int32_t nanos;
    bool has_offset;
    char why[200];
    if (civil_parse_iso(json_string_value(jfrom), &t, &nanos, &has_offset, why, sizeof why)) {
      char msg[260];
      snprintf(msg, sizeof msg, "from: %s", why);
      api_error(res, 400, "invalid_request", msg);
    } else if (!has_offset) {
      tz_local_info li;
      tz_zone_resolve(zone, t, &li);
      t = li.earliest;
    }
  } else if (!res->json) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t = now.tv_sec;
  }
  if (!res->json) {
    char *text = cron_describe_alloc(expr);
    json_t *runs = json_array();
    for (json_int_t i = 0; i < count; i++) {
      cron_fire f;
      if (cron_next(expr, zone, t, &f) != CF_OK)
        break;
      char utc[40], local[40];
      civil_format_utc(f.at, utc, sizeof utc);
      civil_format_iso(f.at, f.offset, local, sizeof local);
      json_array_append_new(runs,
                            json_pack("{s:s,s:s,s:b,s:b}", "utc", utc, "local", local,
                                      "dst_shifted", f.dst_shifted, "dst_repeat", f.fold_repeat));
      t = f.at;
    }
    res->json =
        json_pack("{s:b,s:s,s:s,s:s,s:b,s:o}", "valid", 1, "expression", json_string_value(jexpr),
                  "timezone", tz_zone_name(zone), "description", text ? text : "", "has_seconds",
                  cron_has_seconds(expr), "next_runs", runs);
    free(text);
  }
  cron_free(expr);
  json_decref(body);
}

const api_route api_util_routes[] = {
    {"GET", "/healthz", API_PUBLIC, healthz},
    {"GET", "/readyz", API_PUBLIC, readyz},
    {"GET", "/api/openapi.json", API_PUBLIC, openapi},
    {"GET", "/api/timezones", API_READ, timezones},
    {"POST", "/api/utils/validate-cron", API_READ, validate_cron},
    {NULL, NULL, 0, NULL},
};
