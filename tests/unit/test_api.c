/*
 * test_api.c — the pure pieces of the HTTP core: the path router
 * (patterns with {parameters}), the pagination cursor codec, the JSON
 * depth scan, and the OpenAPI document against the route tables: every
 * route is documented with the access it really has, and every documented
 * operation exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_int.h"

static void test_router_literal(void **state) {
  (void)state;
  assert_true(api_path_match("/api/workflows", "/api/workflows", NULL));
  assert_false(api_path_match("/api/workflows", "/api/workflows/", NULL));
  assert_false(api_path_match("/api/workflows", "/api/workflow", NULL));
  assert_false(api_path_match("/api/workflows", "/api/workflowsx", NULL));
  assert_false(api_path_match("/healthz", "/", NULL));
}

static void test_router_params(void **state) {
  (void)state;
  api_request req = {0};
  assert_true(api_path_match("/api/workflows/{id}/versions/{version}",
                             "/api/workflows/12/versions/3", &req));
  assert_int_equal(req.n_params, 2);
  assert_string_equal(api_param(&req, "id"), "12");
  assert_string_equal(api_param(&req, "version"), "3");
  assert_null(api_param(&req, "nope"));
  /* A parameter is one non-empty segment. */
  assert_false(api_path_match("/api/workflows/{id}", "/api/workflows/", NULL));
  assert_false(api_path_match("/api/workflows/{id}", "/api/workflows/1/2", NULL));
  assert_false(api_path_match("/api/workflows/{id}/run", "/api/workflows/1", NULL));
  assert_false(api_path_match("/api/workflows/{id}/run", "/api/workflows//run", NULL));
  assert_true(api_path_match("/hooks/{secret}", "/hooks/abc", NULL));
  /* Over-long segments do not match (they cannot be ids or secrets). */
  char path[400];
  memset(path, 'a', sizeof path);
  memcpy(path, "/hooks/", 7);
  path[7 + API_PARAM_LEN_MAX] = '\0';
  assert_true(api_path_match("/hooks/{secret}", path, &req));
  assert_int_equal(strlen(api_param(&req, "secret")), API_PARAM_LEN_MAX);
  path[7 + API_PARAM_LEN_MAX] = 'a';
  path[8 + API_PARAM_LEN_MAX] = '\0';
  assert_false(api_path_match("/hooks/{secret}", path, NULL));
}

static void test_param_id(void **state) {
  (void)state;
  api_request req = {0};
  api_response res = {0};
  int64_t id = 0;
  assert_true(api_path_match("/x/{id}", "/x/42", &req));
  assert_true(api_param_id(&req, &res, "id", "thing", &id));
  assert_int_equal(id, 42);
  const char *bad[] = {"/x/0", "/x/-1", "/x/1e3", "/x/abc", "/x/9999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_true(api_path_match("/x/{id}", bad[i], &req));
    assert_false(api_param_id(&req, &res, "id", "thing", &id));
    assert_int_equal(res.status, 404);
    json_decref(res.json);
    res.json = NULL;
  }
}

static void test_cursor_roundtrip(void **state) {
  (void)state;
  const int64_t keys[] = {1, 2, 3, 99, 1000, 123456789, INT64_MAX, (int64_t)1 << 40};
  char text[API_CURSOR_LEN], other[API_CURSOR_LEN];
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    api_cursor_encode(keys[i], text);
    assert_true(strlen(text) < API_CURSOR_LEN);
    int64_t back = 0;
    assert_true(api_cursor_decode(text, &back));
    assert_int_equal(back, keys[i]);
  }
  /* Neighbouring keys do not look alike (opaque, not a counter). */
  api_cursor_encode(1000, text);
  api_cursor_encode(1001, other);
  int same = 0;
  for (size_t i = 0; text[i]; i++)
    same += text[i] == other[i];
  assert_true(same < 6);
}

static void test_cursor_rejects(void **state) {
  (void)state;
  int64_t key;
  assert_false(api_cursor_decode("", &key));
  assert_false(api_cursor_decode("1000", &key));
  assert_false(api_cursor_decode("AAAAAAAAAAAAAA", &key));
  assert_false(api_cursor_decode("!!!!!!!!!!!!!!", &key));
  assert_false(api_cursor_decode(NULL, &key));
  /* Any edit of a real cursor is refused (the check catches it). */
  char text[API_CURSOR_LEN];
  api_cursor_encode(4242, text);
  int refused = 0, total = 0;
  for (size_t i = 0; i < strlen(text); i++)
    for (const char *c = "AZaz09-_Q"; *c; c++) {
      if (text[i] == *c)
        continue;
      char edited[API_CURSOR_LEN];
      strcpy(edited, text);
      edited[i] = *c;
      total++;
      int64_t k = 0;
      refused += !api_cursor_decode(edited, &k) || k == 4242;
    }
  assert_true(refused >= total - 2);
  /* Zero and negative keys are never made into cursors by the API. */
  api_cursor_encode(-5, text);
  assert_false(api_cursor_decode(text, &key));
}

static void test_json_depth(void **state) {
  (void)state;
  assert_int_equal(api_json_depth("{}", 2, 64), 1);
  assert_int_equal(api_json_depth("{\"a\":[[1]]}", 11, 64), 3);
  assert_int_equal(api_json_depth("\"[[[[\"", 6, 64), 0);
  assert_int_equal(api_json_depth("{\"a\\\"[[\":1}", 11, 64), 1);
  char deep[2001];
  memset(deep, '[', 2000);
  deep[2000] = '\0';
  /* The scan stops past the limit instead of walking the rest. */
  assert_int_equal(api_json_depth(deep, 2000, 64), 65);
}

/* The OpenAPI document and the route tables say the same thing. */
static const char *access_name(api_access a) {
  switch (a) {
  case API_PUBLIC: return "public";
  case API_READ: return "read";
  case API_WRITE: return "write";
  case API_ADMIN: return "admin";
  }
  return "?";
}

static void test_openapi_matches_routes(void **state) {
  (void)state;
  assert_int_equal(api_docs_count, 1);
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)api_docs[0].data, api_docs[0].len, 0, &jerr);
  if (!doc)
    fail_msg("openapi.json does not parse: %s (line %d)", jerr.text, jerr.line);
  json_t *paths = json_object_get(doc, "paths");
  assert_non_null(paths);
  size_t routes = 0;
  for (size_t t = 0; api_route_tables[t]; t++)
    for (const api_route *r = api_route_tables[t]; r->path; r++) {
      routes++;
      char method[16];
      size_t i = 0;
      for (; r->method[i] && i < sizeof method - 1; i++)
        method[i] = (char)(r->method[i] - 'A' + 'a');
      method[i] = '\0';
      json_t *op = json_object_get(json_object_get(paths, r->path), method);
      if (!op)
        fail_msg("route %s %s is not in openapi.json", r->method, r->path);
      const char *access = json_string_value(json_object_get(op, "x-access"));
      if (!access || strcmp(access, access_name(r->access)) != 0)
        fail_msg("route %s %s is %s, openapi.json says %s", r->method, r->path,
                 access_name(r->access), access ? access : "nothing");
      json_t *security = json_object_get(op, "security");
      bool open = security && json_array_size(security) == 0;
      if (open != (r->access == API_PUBLIC))
        fail_msg("route %s %s: security in openapi.json disagrees", r->method, r->path);
    }
  size_t documented = 0;
  const char *path;
  json_t *item;
  json_object_foreach(paths, path, item) {
    const char *method;
    json_t *op;
    json_object_foreach(item, method, op) {
      documented++;
      char upper[16];
      size_t i = 0;
      for (; method[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(method[i] - 'a' + 'A');
      upper[i] = '\0';
      bool found = false;
      for (size_t t = 0; api_route_tables[t] && !found; t++)
        for (const api_route *r = api_route_tables[t]; r->path && !found; r++)
          found = strcmp(r->path, path) == 0 && strcmp(r->method, upper) == 0;
      if (!found)
        fail_msg("openapi.json documents %s %s, which no route serves", upper, path);
    }
  }
  assert_int_equal(routes, documented);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_router_literal),
      cmocka_unit_test(test_router_params),
      cmocka_unit_test(test_param_id),
      cmocka_unit_test(test_cursor_roundtrip),
      cmocka_unit_test(test_cursor_rejects),
      cmocka_unit_test(test_json_depth),
      cmocka_unit_test(test_openapi_matches_routes),
  };
  return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
