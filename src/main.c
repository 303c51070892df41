/*
 * main.c — cronflow's entry point: dispatches to a subcommand. It wires
 * modules together and holds no logic of its own.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "cronflow " CRONFLOW_VERSION " — a workflow scheduler\n"
    "\n"
    "usage: cronflow COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  cron next EXPR [--tz ZONE] [--from TIME] [--count N] [--prev] [--seed N]\n"
    "                      print the instants a cron expression fires at\n"
    "  cron validate EXPR [--tz ZONE]\n"
    "                      check an expression; print what it means\n"
    "  cron describe EXPR  print what an expression means\n"
    "  run FILE.json [--input JSON] [--db PATH] [--credentials FILE.json] [--quiet]\n"
    "                      run a workflow once; print the execution as JSON\n"
    "  validate FILE.json  check a workflow definition; list every problem\n"
    "  token create [--db PATH] [--org NAME] [--role ROLE] [--name NAME]\n"
    "                      make an API token; print it (last line), once\n"
    "  user create [--db PATH] --email E --password P [--org NAME] [--role ROLE]\n"
    "                      add a user (and the organization if it is new)\n"
    "  serve [--listen HOST:PORT] [--db PATH] [--clock TIME [--clock-speed N]]\n"
    "                      serve the HTTP API and the web UI (default 127.0.0.1:8080)\n"
    "  credential add|rotate|list|delete --db PATH ...\n"
    "                      manage the encrypted credentials workflows use\n"
    "  migrate [--db PATH] apply the database's pending migrations and exit\n"
    "  bench queue [--executions N] [--workers W] [--db PATH]\n"
    "                      measure the execution queue; print one JSON line\n"
    "  workflow add --db PATH FILE.json\n"
    "                      store a workflow definition; print its id\n"
    "  schedule add|list|show|enable|disable|delete|ticks --db PATH ...\n"
    "                      manage schedules and read their tick ledger (JSON)\n"
    "  bench fire [--schedules N] [--burst N] [--spread-seconds S]\n"
    "                      measure the scheduler's fire latency and memory; print JSON\n"
    "  tz list             print every IANA time zone name\n"
    "  tz show ZONE [--at TIME]\n"
    "                      print a zone's offset and DST period at a time\n"
    "  --help, --version\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    puts("cronflow " CRONFLOW_VERSION);
    return 0;
  }
  if (strcmp(cmd, "cron") == 0)
    return cli_cron(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0)
    return cli_run(argc - 2, argv + 2);
  if (strcmp(cmd, "validate") == 0)
    return cli_validate(argc - 2, argv + 2);
  if (strcmp(cmd, "token") == 0)
    return cli_token(argc - 2, argv + 2);
  if (strcmp(cmd, "user") == 0)
    return cli_user(argc - 2, argv + 2);
  if (strcmp(cmd, "serve") == 0)
    return cli_serve(argc - 2, argv + 2);
  if (strcmp(cmd, "bench") == 0)
    return cli_bench(argc - 2, argv + 2);
  if (strcmp(cmd, "migrate") == 0)
    return cli_migrate(argc - 2, argv + 2);
  if (strcmp(cmd, "credential") == 0)
    return cli_credential(argc - 2, argv + 2);
  if (strcmp(cmd, "tz") == 0)
    return cli_tz(argc - 2, argv + 2);
  if (strcmp(cmd, "schedule") == 0)
    return cli_schedule(argc - 2, argv + 2);
  if (strcmp(cmd, "workflow") == 0)
    return cli_workflow(argc - 2, argv + 2);
  fprintf(stderr, "cronflow: unknown command '%s'\n\n%s", cmd, usage);
  return 2;
}
