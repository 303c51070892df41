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

/* cronflow tz list|show ... */
int cli_tz(int argc, char **argv);

/* cronflow bench fire ... (bench_fire.c) */
int cli_bench_fire(int argc, char **argv);

/* cronflow schedule add|list|show|enable|disable|delete|ticks ... */
int cli_schedule(int argc, char **argv);

/* cronflow workflow add --db PATH FILE.json */
int cli_workflow(int argc, char **argv);

#endif
