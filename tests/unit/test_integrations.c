/*
 * test_integrations.c — the credential and e-mail endpoints' logic
 * (api/integrations.h) on a real store: data checked per type, responses
 * without values, rotation, another master key refused, templates, and
 * previews that escape HTML unless raw().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/integrations.h"

static char dir[64], path[128];
static store *st;

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cronflow-integ-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/t.db", dir);
  store_config cfg = {.url = path};
  char err[256];
  if (store_open(&cfg, &st, err, sizeof err) || store_migrate(st, NULL, NULL, err, sizeof err))
    return -1;
  unsigned char key[STORE_KEY_BYTES];
  store_master_key_random(key);
  store_set_master_key(st, key);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  store_close(st);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static json_t *parse(const char *text) {
  json_t *v = json_loads(text, 0, NULL);
  assert_non_null(v);
  return v;
}

static const char *message_of(const json_t *out) {
  return json_string_value(json_object_get(json_object_get(out, "error"), "message"));
}

static void test_credentials(void **state) {
  (void)state;
  json_t *out, *body = parse("{\"name\": \"mail\", \"type\": \"smtp\", \"data\": {\"host\": "
                             "\"smtp.example.com\", \"port\": 587, \"password\": \"hunter2-pw\"}}");
  assert_int_equal(api_credential_create(st, 0, body, 1000, &out), 201);
  char *text = json_dumps(out, JSON_COMPACT);
  assert_null(strstr(text, "hunter2-pw"));
  assert_non_null(strstr(text, "\"fields\":[\"host\",\"port\",\"password\"]"));
  free(text);
  json_decref(out);
  assert_int_equal(api_credential_create(st, 0, body, 1000, &out), 409);
  json_decref(out);
  json_decref(body);

  /* The sealed data opens to what was given. */
  store_credential *items;
  size_t n;
  assert_int_equal(store_credential_open_all(st, 0, &items, &n), CF_OK);
  assert_int_equal(n, 1);
  assert_non_null(strstr(items[0].data, "hunter2-pw"));
  store_credentials_free(items, n);

  body = parse("{\"data\": {\"host\": \"smtp2.example.com\", \"password\": \"new-pw-42\"}}");
  assert_int_equal(api_credential_rotate(st, 0, "mail", body, 2000, &out), 200);
  assert_int_equal(json_integer_value(json_object_get(out, "updated_at")), 2000);
  json_decref(out);
  json_decref(body);
  assert_int_equal(store_credential_open_all(st, 0, &items, &n), CF_OK);
  assert_non_null(strstr(items[0].data, "new-pw-42"));
  assert_null(strstr(items[0].data, "hunter2-pw"));
  store_credentials_free(items, n);

  /* Another key cannot open them. */
  unsigned char other[STORE_KEY_BYTES];
  store_master_key_random(other);
  store_set_master_key(st, other);
  assert_int_equal(store_credential_open_all(st, 0, &items, &n), CF_E_KEY);

  assert_int_equal(api_credential_list(st, 0, &out), 200);
  assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
  json_decref(out);
  assert_int_equal(api_credential_delete(st, 0, "mail", &out), 204);
  assert_int_equal(api_credential_get(st, 0, "mail", &out), 404);
  json_decref(out);
}

static void test_credential_checks(void **state) {
  (void)state;
  static const struct {
    const char *body, *message;
  } cases[] = {
      {"{\"name\": \"a b\", \"type\": \"smtp\", \"data\": {\"host\": \"h\"}}", "name:"},
      {"{\"name\": \"x\", \"type\": \"ftp\", \"data\": {}}", "type: must be one of"},
      {"{\"name\": \"x\", \"type\": \"smtp\", \"data\": {\"hots\": \"h\"}}",
       "data.hots: not a field of a smtp credential"},
      {"{\"name\": \"x\", \"type\": \"smtp\", \"data\": {\"host\": \"h\", \"port\": 70000}}",
       "data.port: must be an integer"},
      {"{\"name\": \"x\", \"type\": \"smtp\", \"data\": {\"host\": \"h\", \"security\": \"ssl\"}}",
       "data.security"},
      {"{\"name\": \"x\", \"type\": \"slack\", \"data\": {}}", "webhook_url or token"},
      {"{\"name\": \"x\", \"type\": \"postgres\", \"data\": {\"url\": \"mysql://x\"}}",
       "data.url: must be a postgres://"},
      {"{\"name\": \"x\", \"type\": \"basic\", \"data\": {\"username\": \"u\"}}",
       "data.password: required"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *out, *body = parse(cases[i].body);
    assert_int_equal(api_credential_create(st, 0, body, 1, &out), 400);
    assert_non_null(strstr(message_of(out), cases[i].message));
    json_decref(out);
    json_decref(body);
  }
}

static void test_templates_and_preview(void **state) {
  (void)state;
  json_t *out, *body = parse("{\"name\": \"welcome\", \"subject\": \"Hi {{ vars.name }}\", "
                             "\"text\": \"Hello {{ vars.name }}\", \"html\": \"<p>{{ vars.name "
                             "}}</p>{{ raw(vars.extra) }}\"}");
  assert_int_equal(api_email_template_create(st, 0, body, 5, &out), 201);
  json_decref(out);
  json_decref(body);
  body = parse("{\"template\": \"welcome\", \"data\": {\"vars\": {\"name\": \"<b>Ann</b> & co\", "
               "\"extra\": \"<hr>\"}}}");
  assert_int_equal(api_email_preview(st, 0, body, NULL, 0, &out), 200);
  assert_string_equal(json_string_value(json_object_get(out, "subject")), "Hi <b>Ann</b> & co");
  assert_string_equal(json_string_value(json_object_get(out, "html")),
                      "<p>&lt;b&gt;Ann&lt;/b&gt; &amp; co</p><hr>");
  json_decref(out);
  json_decref(body);
  body = parse("{\"subject\": \"{{ 1 + }}\"}");
  assert_int_equal(api_email_preview(st, 0, body, NULL, 0, &out), 400);
  assert_non_null(strstr(message_of(out), "subject: column"));
  json_decref(out);
  json_decref(body);
  assert_int_equal(api_email_template_list(st, 0, &out), 200);
  assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
  json_decref(out);
  assert_int_equal(api_email_template_delete(st, 0, "welcome", &out), 204);
  assert_int_equal(api_email_template_get(st, 0, "welcome", &out), 404);
  json_decref(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credential_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_templates_and_preview, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
