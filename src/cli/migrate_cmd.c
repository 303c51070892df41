/*
 * migrate_cmd.c — `cronflow migrate`: applies the database's pending
 * migrations and reports the schema version, without starting anything.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_migrate(int argc, char **argv) {
  const char *db_path = "data/cronflow.db";
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
      db_path = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0) {
      puts("usage: cronflow migrate [--db PATH]");
      return 0;
    } else {
      fprintf(stderr, "cronflow: unexpected argument '%s'\nusage: cronflow migrate [--db PATH]\n",
              argv[i]);
      return 2;
    }
  }
  store *s;
  int rc = cli_open_store(db_path, false, &s);
  if (rc)
    return rc;
  int applied = 0, version = 0;
  char err[512] = "";
  cf_err e = store_migrate(s, &applied, &version, err, sizeof err);
  store_close(s);
  if (e) {
    fprintf(stderr, "cronflow: %s\n", err[0] ? err : cf_strerror(e));
    return 1;
  }
  printf("%s: schema version %d (%d migration%s applied)\n", db_path, version, applied,
         applied == 1 ? "" : "s");
  return 0;
}
