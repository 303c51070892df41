/*
 * cli.h — the command-line subcommands. Each takes the arguments after its
 * name and returns the process exit status: 0 success, 1 a runtime failure,
 * 2 bad usage or invalid input. Output goes to stdout, errors to stderr.
 */
#ifndef CF_CLI_CLI_H
#define CF_CLI_CLI_H

#include <stdbool.h>

#include "store/store.h"

/* cronflow cron next|validate|describe ... */
int cli_cron(int argc, char **argv);

/* cronflow serve [--listen HOST:PORT] [--db PATH] */
int cli_serve(int argc, char **argv);

/* cronflow bench queue ... */
int cli_bench(int argc, char **argv);

/* cronflow bench engine ... (bench_engine.c) */
int cli_bench_engine(int argc, char **argv);

/* cronflow migrate [--db PATH] */
int cli_migrate(int argc, char **argv);

/* Opens (and with `migrate`, migrates) the store at db_path, creating its
 * directory; prints any error; returns an exit status, 0 on success. */
int cli_open_store(const char *db_path, bool migrate, store **out);

/* cronflow run FILE.json [--input JSON] [--db PATH] [--quiet] */
int cli_run(int argc, char **argv);

/* cronflow token create ... / cronflow user create ... (auth_cmd.c) */
int cli_token(int argc, char **argv);
int cli_user(int argc, char **argv);

/* cronflow validate FILE.json */
int cli_validate(int argc, char **argv);

/* cronflow credential add|rotate|list|delete ... (credential_cmd.c) */
int cli_credential(int argc, char **argv);

/* Gives the store its master key: CRONFLOW_MASTER_KEY, or key_file, or
 * cronflow.key beside db_path (created on first use, mode 0600). Prints
 * any error; returns an exit status. */
int cli_master_key(store *s, const char *db_path, const char *key_file);

/* Creates (or rotates) the credentials of a JSON file {name: {type, data,
 * read_only}} in the default organization. Returns an exit status. */
int cli_load_credentials(store *s, const char *file);

/* Makes a new private directory (mode 0700) under $TMPDIR or /tmp whose
 * name starts with prefix; its path in out. 0, or -1 with errno. */
int cli_make_temp_dir(const char *prefix, char *out, size_t cap);

/* cronflow tz list|show ... */
int cli_tz(int argc, char **argv);

/* cronflow bench fire ... (bench_fire.c) */
int cli_bench_fire(int argc, char **argv);

/* cronflow schedule add|list|show|enable|disable|delete|ticks ... */
int cli_schedule(int argc, char **argv);

/* cronflow workflow add --db PATH FILE.json */
int cli_workflow(int argc, char **argv);

#endif
