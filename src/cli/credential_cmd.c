/*
 * credential_cmd.c — `cronflow credential add|rotate|list|delete`, and
 * the master key and credentials file that `serve` and `run` load.
 *
 * The data is checked exactly as the API checks it (api/integrations.h).
 * Values given on the command line end up in the shell's history: prefer
 * `--data -` to read the JSON from standard input. Nothing here prints a
 * value.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/integrations.h"
#include "cli/cli.h"
#include "worker/worker.h"

#define MAX_FILE (1024 * 1024)

static const char usage[] =
    "usage: cronflow credential add --db PATH --name NAME --type TYPE --data JSON|- [--read-only]\n"
    "       cronflow credential rotate --db PATH --name NAME --data JSON|- [--read-only]\n"
    "       cronflow credential list --db PATH\n"
    "       cronflow credential delete --db PATH --name NAME\n"
    "  types: smtp slack http_header bearer basic postgres sqlite (docs/integrations.md)\n"
    "  --key-file PATH  the master key (default: cronflow.key beside the database;\n"
    "                   CRONFLOW_MASTER_KEY, the base64 of 32 bytes, wins when set)\n";

int cli_master_key(store *s, const char *db_path, const char *key_file) {
  char path[1024];
  if (!key_file) {
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", db_path);
    snprintf(path, sizeof path, "%s/cronflow.key", dirname(copy));
    key_file = path;
  }
  unsigned char key[STORE_KEY_BYTES];
  char err[600];
  if (store_master_key_load(key_file, key, err, sizeof err) != CF_OK) {
    fprintf(stderr, "cronflow: %s\n", err);
    return 1;
  }
  store_set_master_key(s, key);
  memset(key, 0, sizeof key);
  return 0;
}

/* Prints an API-shaped error; returns the exit status for `status`. */
static int report(unsigned status, json_t *out) {
  if (status < 300) {
    json_decref(out);
    return 0;
  }
  const char *msg = json_string_value(json_object_get(json_object_get(out, "error"), "message"));
  fprintf(stderr, "cronflow: %s\n", msg ? msg : "failed");
  json_decref(out);
  return status >= 500 ? 1 : 2;
}

int cli_load_credentials(store *s, const char *file) {
  json_error_t jerr;
  json_t *all = json_load_file(file, 0, &jerr);
  if (!json_is_object(all)) {
    fprintf(stderr, "cronflow: %s: %s\n", file,
            all ? "must be an object of name -> {type, data}" : jerr.text);
    json_decref(all);
    return 2;
  }
  const char *name;
  json_t *entry;
  int rc = 0;
  json_object_foreach(all, name, entry) {
    json_t *body = json_pack("{s:s, s:O?, s:O?, s:O?}", "name", name, "type",
                             json_object_get(entry, "type"), "data", json_object_get(entry, "data"),
                             "read_only", json_object_get(entry, "read_only"));
    json_t *out = NULL;
    unsigned status = api_credential_create(s, 0, body, worker_now_ms(), &out);
    if (status == 409) {
      json_decref(out);
      status = api_credential_rotate(s, 0, name, body, worker_now_ms(), &out);
    }
    json_decref(body);
    if (status >= 300)
      fprintf(stderr, "cronflow: %s: credential '%s':\n", file, name);
    rc = report(status, out);
    if (rc)
      break;
  }
  json_decref(all);
  return rc;
}

static json_t *read_data(const char *arg) {
  json_error_t jerr;
  json_t *v = strcmp(arg, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_loads(arg, 0, &jerr);
  if (!v)
    fprintf(stderr, "cronflow: --data is not JSON: column %d: %s\n", jerr.column, jerr.text);
  return v;
}

int cli_credential(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "--help") == 0) {
    fputs(usage, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  const char *cmd = argv[0], *db = NULL, *name = NULL, *type = NULL, *data = NULL, *key = NULL;
  bool read_only = false;
  for (int i = 1; i < argc; i++) {
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--read-only") == 0) {
      read_only = true;
      continue;
    }
    const char **slot = strcmp(argv[i], "--db") == 0         ? &db
                        : strcmp(argv[i], "--name") == 0     ? &name
                        : strcmp(argv[i], "--type") == 0     ? &type
                        : strcmp(argv[i], "--data") == 0     ? &data
                        : strcmp(argv[i], "--key-file") == 0 ? &key
                                                             : NULL;
    if (!slot || !val) {
      fprintf(stderr, "cronflow: unexpected argument '%s'\n%s", argv[i], usage);
      return 2;
    }
    *slot = val;
    i++;
  }
  bool add = strcmp(cmd, "add") == 0, rotate = strcmp(cmd, "rotate") == 0;
  bool list = strcmp(cmd, "list") == 0, del = strcmp(cmd, "delete") == 0;
  if (!db || !(add || rotate || list || del) || ((add || rotate) && (!name || !data)) ||
      (add && !type) || (del && !name)) {
    fputs(usage, stderr);
    return 2;
  }
  store *s;
  int rc = cli_open_store(db, true, &s);
  if (rc)
    return rc;
  if ((rc = cli_master_key(s, db, key)) != 0) {
    store_close(s);
    return rc;
  }
  json_t *out = NULL;
  unsigned status;
  if (list) {
    status = api_credential_list(s, 0, &out);
    if (status == 200) {
      size_t i;
      json_t *c;
      json_array_foreach(json_object_get(out, "items"), i, c) {
        char *fields = json_dumps(json_object_get(c, "fields"), JSON_COMPACT);
        printf("%s\t%s\t%s%s\n", json_string_value(json_object_get(c, "name")),
               json_string_value(json_object_get(c, "type")), fields ? fields : "[]",
               json_is_true(json_object_get(c, "read_only")) ? "\tread-only" : "");
        free(fields);
      }
    }
  } else if (del) {
    status = api_credential_delete(s, 0, name, &out);
  } else {
    json_t *d = read_data(data);
    if (!d) {
      store_close(s);
      return 2;
    }
    json_t *body = json_pack("{s:s, s:s?, s:o}", "name", name, "type", type, "data", d);
    if (read_only)
      json_object_set_new(body, "read_only", json_true());
    status = add ? api_credential_create(s, 0, body, worker_now_ms(), &out)
                 : api_credential_rotate(s, 0, name, body, worker_now_ms(), &out);
    json_decref(body);
    if (status < 300)
      printf("%s %s\n", add ? "added" : "rotated", name);
  }
  rc = report(status, out);
  store_close(s);
  return rc;
}
